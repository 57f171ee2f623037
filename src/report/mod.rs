//! The result of a run, as one versioned, serialisable model, and one formatter per output format
//! (table, JSON, CSV). The store saves this model and `chaperone report --run ID` prints it again.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::control::{Control, Status};
use crate::platform::CollectFailure;
use crate::session::{Lock, PlatformKind};

/// Bumped on any breaking change to the JSON output. Documented in README ("JSON schema").
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// Read and evaluate only; never writes to a platform.
    Check,
    /// Check, then fix, verify by read-back, and record.
    Sweep,
    /// One session, triggered by a platform event.
    Webhook,
}

impl RunKind {
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Check => "check",
            RunKind::Sweep => "sweep",
            RunKind::Webhook => "webhook",
        }
    }
}

/// Everything one run found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub run_id: String,
    pub tenant: String,
    pub kind: RunKind,
    /// A dry run writes nothing to any platform.
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub sessions: Vec<SessionReport>,
    /// Parts of a platform that could not be read (a host's meeting list, ...).
    pub failures: Vec<CollectFailure>,
}

/// One session's findings and the changes made to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    pub platform: PlatformKind,
    pub session_id: String,
    pub topic: String,
    pub host_email: String,
    pub start: Option<DateTime<Utc>>,
    /// The profile that governs the session.
    pub profile: String,
    pub findings: Vec<Finding>,
    pub changes: Vec<ChangeRecord>,
    /// A passcode was added: the join link changed and the host must re-send it.
    pub join_link_changed: bool,
}

/// The status of one control on one session, with what was seen and what is wanted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub control: Control,
    pub status: Status,
    /// The level read from the platform, when there was one.
    pub observed: Option<String>,
    /// The least strict level the profile accepts.
    pub wanted: Option<String>,
    /// Plain words: why this status, and what a person must do where software cannot.
    pub detail: String,
    /// Where the setting is locked above the host, when it is.
    pub lock: Option<Lock>,
}

/// A write chaperone made, with the values before and after and whether the read-back proved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub control: Control,
    pub before: Option<String>,
    pub after: String,
    /// True only when the read-back showed the wanted value.
    pub verified: bool,
}

/// A run's counts, added up as each session is recorded, so an unattended sweep of a whole
/// account needs no list of every session in memory (the store keeps each one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTally {
    pub sessions: usize,
    /// Sessions with at least one change written.
    pub changed_sessions: usize,
    /// Findings by status.
    pub by_status: BTreeMap<Status, usize>,
    /// Findings by control, then status.
    pub by_control: BTreeMap<Control, BTreeMap<Status, usize>>,
}

impl RunTally {
    /// Counts one more session.
    pub fn add(&mut self, session: &SessionReport) {
        self.sessions += 1;
        if !session.changes.is_empty() {
            self.changed_sessions += 1;
        }
        for f in &session.findings {
            *self.by_status.entry(f.status).or_insert(0) += 1;
            *self
                .by_control
                .entry(f.control)
                .or_default()
                .entry(f.status)
                .or_insert(0) += 1;
        }
    }

    /// The counts of sessions already in memory.
    pub fn of(sessions: &[SessionReport]) -> RunTally {
        let mut tally = RunTally::default();
        for s in sessions {
            tally.add(s);
        }
        tally
    }

    /// `fixed 3, compliant 7, needs-human 1` (statuses with no finding left out).
    pub fn describe(&self) -> String {
        if self.by_status.is_empty() {
            return format!("{} sessions, no findings", self.sessions);
        }
        self.by_status
            .iter()
            .map(|(s, n)| format!("{} {n}", s.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl SessionReport {
    /// Whether anything on this session is still open: drift, a person's action, or an error.
    pub fn is_open(&self) -> bool {
        self.findings
            .iter()
            .any(|f| matches!(f.status, Status::Drift | Status::NeedsHuman | Status::Error))
    }
}

impl RunReport {
    /// Puts sessions in report order: by start time (sessions with no fixed time first), then id.
    /// One order everywhere, so a run printed again from the store reads the same.
    pub fn sort_sessions(&mut self) {
        self.sessions
            .sort_by(|a, b| (a.start, &a.session_id).cmp(&(b.start, &b.session_id)));
    }

    /// How many findings have each status.
    pub fn totals(&self) -> BTreeMap<Status, usize> {
        let mut totals = BTreeMap::new();
        for f in self.sessions.iter().flat_map(|s| &s.findings) {
            *totals.entry(f.status).or_insert(0) += 1;
        }
        totals
    }

    /// The exit code for `check`: 0 all compliant, 1 drift or needs-human, 2 errors.
    pub fn exit_code(&self) -> i32 {
        let totals = self.totals();
        let has = |s: Status| totals.get(&s).copied().unwrap_or(0) > 0;
        if has(Status::Error) || !self.failures.is_empty() {
            2
        } else if has(Status::Drift) || has(Status::NeedsHuman) {
            1
        } else {
            0
        }
    }
}

pub mod csv;
pub mod json;
pub mod table;

/// An output format of `check`, `sweep`, `demo` and `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

impl RunReport {
    /// Renders the report in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => table::render(self),
            Format::Json => json::render(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")),
            Format::Csv => csv::render(self),
        }
    }
}

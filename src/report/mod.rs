//! The result of a run, as one versioned, serialisable model, and one formatter per output format
//! (table, JSON, CSV). The store saves this model and `chaperone report --run ID` prints it again.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::ser::SerializeStruct;
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

/// Everything one run found and did. Serialised with its [`RunStatus`] as `status` (derived from
/// the failures, so it can never disagree with them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// What each of the platform's rate-limit budgets allowed while the run read and wrote: the
    /// limit is shared with every other app on the account, so it can be far below what
    /// chaperone was configured with.
    #[serde(default)]
    pub rates: Vec<RateAllowed>,
}

/// The rate one of a platform's rate-limit budgets allowed, as chaperone's pacing found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateAllowed {
    pub platform: String,
    /// The budget: Zoom `light`/`medium`, Graph `tenant`/`mailbox`.
    pub budget: String,
    /// Requests a second chaperone was configured to send.
    pub configured_per_second: f64,
    /// The rate it paced at when the run ended: what the platform allowed, as far as it found.
    pub reached_per_second: f64,
    /// The lowest rate it slowed to.
    pub lowest_per_second: f64,
    pub requests: u64,
    /// Requests the platform answered 429 (over its per-second limit).
    pub throttled: u64,
}

impl RateAllowed {
    /// Whether the platform allowed less than chaperone was configured with.
    pub fn was_throttled(&self) -> bool {
        self.throttled > 0
    }

    /// One line for a table: `zoom light: 3.3/s (configured 30/s, lowest 1.7/s), 57 of 553 answered 429`.
    pub fn line(&self) -> String {
        format!(
            "{} {}: {:.1}/s (configured {:.0}/s, lowest {:.1}/s), {} of {} requests answered 429",
            self.platform,
            self.budget,
            self.reached_per_second,
            self.configured_per_second,
            self.lowest_per_second,
            self.throttled,
            self.requests
        )
    }
}

impl Serialize for RunReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Destructured in full: a new field fails to compile until it is written here too.
        let RunReport {
            schema_version,
            run_id,
            tenant,
            kind,
            dry_run,
            started_at,
            finished_at,
            sessions,
            failures,
            rates,
        } = self;
        let mut s = serializer.serialize_struct("RunReport", 11)?;
        s.serialize_field("schema_version", schema_version)?;
        s.serialize_field("run_id", run_id)?;
        s.serialize_field("tenant", tenant)?;
        s.serialize_field("kind", kind)?;
        s.serialize_field("status", &self.status())?;
        s.serialize_field("dry_run", dry_run)?;
        s.serialize_field("started_at", started_at)?;
        s.serialize_field("finished_at", finished_at)?;
        s.serialize_field("sessions", sessions)?;
        s.serialize_field("failures", failures)?;
        s.serialize_field("rates", rates)?;
        s.end()
    }
}

/// Whether a run did its job: a run that could not sign in or read part of a platform failed,
/// whatever its sessions say (their absence proves nothing). Alerts and exit codes key on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Everything in the window was read and judged (findings may still be open).
    Completed,
    /// Something could not be read or handled (sign-in, a host's meetings, a host's task).
    Failed,
    /// Not finished: still running, or its process died.
    Unfinished,
}

impl RunStatus {
    /// The word shown in reports, lists and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Unfinished => "unfinished",
        }
    }

    /// The status of a run from what the store keeps of it.
    pub fn of(finished: bool, failures: usize) -> RunStatus {
        if failures > 0 {
            RunStatus::Failed
        } else if finished {
            RunStatus::Completed
        } else {
            RunStatus::Unfinished
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Text that came from a platform (topics, host and group names, a server's error message) made
/// safe for a terminal, a spreadsheet or an email: control characters are shown as visible
/// symbols instead of being obeyed (a topic carrying `ESC[2J` cleared the screen of whoever ran
/// `check`). C0 controls become their Unicode control pictures (`ESC` → `␛`, a line break → `␊`),
/// DEL `␡`, C1 controls and bidirectional overrides `�`. JSON output keeps the exact text.
pub fn printable(text: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\0'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
                '\u{7f}' => '\u{2421}',
                c if unsafe_char(c) => '\u{fffd}',
                c => c,
            })
            .collect(),
    )
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
    /// The report of `session` under `profile` before anything is judged: no findings, no
    /// changes.
    pub fn of(session: &crate::session::Session, profile: &str) -> SessionReport {
        SessionReport {
            platform: session.platform,
            session_id: session.id.clone(),
            topic: session.topic.clone(),
            host_email: session.host.email.clone(),
            start: session.start,
            profile: profile.to_string(),
            findings: Vec::new(),
            changes: Vec::new(),
            join_link_changed: false,
        }
    }

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

    /// Whether the run did its job; see [`RunStatus`].
    pub fn status(&self) -> RunStatus {
        RunStatus::of(self.finished_at.is_some(), self.failures.len())
    }

    /// The exit code for `check`: 0 all compliant, 1 drift or needs-human, 2 errors or a failed
    /// run.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_shows_terminal_escapes_instead_of_obeying_them() {
        assert_eq!(printable("Drop-in\u{1b}[2J"), "Drop-in\u{241b}[2J");
        assert_eq!(printable("a\nb\rc\u{7}"), "a\u{240a}b\u{240d}c\u{2407}");
        assert_eq!(printable("x\u{9b}31m\u{202e}y"), "x\u{fffd}31m\u{fffd}y");
        assert!(matches!(printable("Café [youth] Über"), Cow::Borrowed(_)));
    }
}

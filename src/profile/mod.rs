//! Safeguarding profiles: what a youth session must look like. Profiles are TOML files written by
//! safeguarding leads; this module holds the resolved, validated form the engine works with.
//! Reading files and `extends` live in [`load`], checking one file in `check` (a file per
//! table), laying a file over its parent in `merge`, and the `file:line:column` errors in `error`.

mod check;
mod error;
pub mod load;
mod merge;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use crate::control::{CloudRecordingPolicy, Control, Level};

pub use error::{LoadError, ProfileError};
pub use load::{load_dir, load_file};

/// A resolved profile (its `extends` chain already merged).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// The profile's name: its file stem (`youth-group`).
    pub name: String,
    /// The file it came from, for error messages and reports.
    pub source: PathBuf,
    pub description: String,
    /// Which sessions this profile governs. A profile with an empty selector matches nothing (a
    /// base such as `baseline` that others extend).
    pub selector: Selector,
    /// The least strict level accepted, per ordinal control. A control absent here is not asked
    /// for by this profile (`not-applicable`).
    pub controls: BTreeMap<Control, Level>,
    /// Cloud recording is per profile: forbidden, allowed or required. `None` means not asked.
    pub cloud_recording: Option<CloudRecordingPolicy>,
    pub staff: Staff,
    pub cover_hours: Option<CoverHours>,
    pub remediation: Remediation,
    /// Things software cannot enforce, repeated to the host in every notification.
    pub reminders: Vec<String>,
    pub waivers: Vec<Waiver>,
    /// Who hears about this profile's sessions besides their hosts (`[notify]`).
    pub notify: ProfileNotify,
}

/// `[notify]`: the safeguarding leads of a kind of session, and when they are told.
///
/// A `needs-human` item (no second staff member, outside cover hours) that is still open
/// `escalate_hours_before` a session starts is escalated once to the leads, with the host named.
/// Empty parts fall back to the tenant's `[tenants.notify]` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProfileNotify {
    /// Safeguarding leads' email addresses.
    pub leads: Vec<String>,
    /// How many hours before the start an open item is escalated; `None`: the tenant's default.
    pub escalate_hours_before: Option<u32>,
    /// Names of the tenant's webhooks (Slack, Teams, JSON) that receive this profile's
    /// escalations instead of the tenant's `escalation_channels`.
    pub channels: Vec<String>,
}

/// How a profile picks its sessions. Any one criterion matching is enough.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selector {
    /// Platform group names the host belongs to (Zoom group, Entra group, Google group).
    pub host_groups: Vec<String>,
    /// Exact host emails (compared case-insensitively).
    pub host_emails: Vec<String>,
    /// Host email domains (`youth.example.org`).
    pub host_domains: Vec<String>,
    /// A tag that appears in the topic (`[youth]`, compared case-insensitively).
    pub topic_tags: Vec<String>,
    /// A tracking field with this value.
    pub tracking_fields: Vec<TrackingField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackingField {
    pub field: String,
    pub value: String,
}

/// Who counts as staff for the "second staff member" control, and whom to assign when missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Staff {
    pub groups: Vec<String>,
    pub domains: Vec<String>,
    pub emails: Vec<String>,
    /// Staff who may be assigned as alternative host when a session has none. Empty: the host is
    /// asked instead (`needs-human`).
    pub duty_pool: Vec<String>,
}

/// When the safeguarding service can be reached. Sessions must be inside these windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverHours {
    pub timezone: Tz,
    pub windows: Vec<CoverWindow>,
}

/// One weekly window: on these days, from `start` to `end` local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverWindow {
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// Whether chaperone fixes drift or only reports it, and its safety belt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remediation {
    pub mode: RemediationMode,
    /// At most this many sessions are changed in one run; the rest stay `drift` for the next run.
    pub max_changes_per_run: u32,
    /// Whether a session in progress may be changed (DESIGN: never, unless the profile says so).
    pub change_in_progress: bool,
}

impl Default for Remediation {
    fn default() -> Self {
        Remediation {
            mode: RemediationMode::Enforce,
            max_changes_per_run: 200,
            change_in_progress: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemediationMode {
    Enforce,
    Report,
}

/// An approved exception: this control need not meet the profile for this session or host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    pub applies_to: WaiverTarget,
    pub control: Control,
    pub reason: String,
    pub approver: String,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum WaiverTarget {
    /// A session id on the platform.
    Session(String),
    /// A host email.
    Host(String),
}

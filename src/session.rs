//! The platform-neutral snapshot of one scheduled session: what the collect stage hands to the
//! engine. Adapters map into it; the engine never sees a platform's own types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::control::{Control, Level, Scope};

/// Which platform a session lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformKind {
    Zoom,
    Teams,
    Meet,
    Webex,
}

impl PlatformKind {
    pub fn name(self) -> &'static str {
        match self {
            PlatformKind::Zoom => "zoom",
            PlatformKind::Teams => "teams",
            PlatformKind::Meet => "meet",
            PlatformKind::Webex => "webex",
        }
    }
}

impl std::fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The person who hosts (organises) a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// The platform's own id for the user (Zoom user id, Entra object id, ...).
    pub id: String,
    pub email: String,
    /// Display name, for notifications.
    pub name: String,
    /// Names of the platform groups the host belongs to (Zoom group names, Entra group names).
    pub groups: Vec<String>,
}

/// One occurrence of a recurring session. Cover hours are judged per occurrence, and so are the
/// settings a platform keeps per occurrence (Zoom: waiting room, join before host, auto
/// recording), since an occurrence edited on its own can be weaker than its series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    pub id: String,
    pub start: DateTime<Utc>,
    pub duration_minutes: u32,
    /// The occurrence's own effective readings, for the controls the platform keeps per
    /// occurrence, when the occurrence was read on its own (those inside the run's window).
    /// Empty when it was not read: then the series' readings are all that is known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub readings: BTreeMap<Control, Reading>,
}

impl Occurrence {
    /// The occurrence's start as people read it: in the session's own time zone when known.
    pub fn label(&self, timezone: Option<&str>) -> String {
        match timezone.and_then(|t| t.parse::<chrono_tz::Tz>().ok()) {
            Some(tz) => self
                .start
                .with_timezone(&tz)
                .format("%a %-d %b %Y %H:%M")
                .to_string(),
            None => self.start.format("%a %-d %b %Y %H:%M UTC").to_string(),
        }
    }
}

/// Where a setting is locked above the host, so the host (and a host-level write) cannot change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "level", rename_all = "kebab-case")]
pub enum Lock {
    Group {
        id: String,
        name: String,
    },
    Account,
    /// The platform itself lets no API write change the value (Teams fixes a meeting's passcode
    /// requirement when the meeting is created). No admin can unlock it, so a weaker value needs a
    /// person (recreate the session); `reason` says what they must do.
    Platform {
        reason: String,
    },
}

impl std::fmt::Display for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lock::Group { name, .. } => write!(f, "group \"{name}\""),
            Lock::Account => f.write_str("account"),
            Lock::Platform { .. } => f.write_str("platform"),
        }
    }
}

/// What an adapter read for one control of one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reading {
    /// The platform told us the value.
    Value {
        level: Level,
        /// Where the value is kept on the platform (session or host).
        scope: Scope,
        /// Set when the value is locked above the host: a host-level write cannot change it.
        locked: Option<Lock>,
    },
    /// The platform offers no way to set or read this control; `reason` says what a person must
    /// check by hand instead.
    Unsupported { reason: String },
    /// The platform could not be read. Never drift, never compliant.
    Error { reason: String },
}

impl Reading {
    pub fn value(level: Level, scope: Scope) -> Self {
        Reading::Value {
            level,
            scope,
            locked: None,
        }
    }
}

/// A snapshot of one session with the settings that matter to safeguarding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub platform: PlatformKind,
    /// The platform's id for the session, as text (Zoom's ids are 64-bit integers).
    pub id: String,
    pub topic: String,
    pub host: Host,
    /// The start of the next (or only) occurrence.
    pub start: Option<DateTime<Utc>>,
    pub duration_minutes: u32,
    /// The session's own time zone as the platform reports it (IANA name), if any.
    pub timezone: Option<String>,
    /// Occurrences of a recurring session; empty for a one-off session.
    pub occurrences: Vec<Occurrence>,
    /// Whether the session is running now (DESIGN: never change a session in progress).
    pub in_progress: bool,
    pub join_url: Option<String>,
    /// Tracking fields / labels: (field, value).
    pub tracking_fields: Vec<(String, String)>,
    /// Emails of the people other than the host who can run the session (Zoom alternative hosts,
    /// Teams co-organizers).
    pub co_hosts: Vec<String>,
    /// One reading per control that the platform speaks to. A control missing here is reported
    /// as unsupported by the engine.
    pub readings: BTreeMap<Control, Reading>,
    /// Set when the session itself could not be read; every control is then `error`.
    pub read_error: Option<String>,
}

impl Session {
    /// Every start of this session that the engine should judge: each occurrence, or the start.
    pub fn starts(&self) -> Vec<(DateTime<Utc>, u32)> {
        if self.occurrences.is_empty() {
            self.start
                .map(|s| vec![(s, self.duration_minutes)])
                .unwrap_or_default()
        } else {
            self.occurrences
                .iter()
                .map(|o| (o.start, o.duration_minutes))
                .collect()
        }
    }
}

//! Platform adapters, one module per platform behind one trait. An adapter collects sessions into
//! the neutral [`Session`] snapshot, writes changes the engine planned, and reads back. It makes no
//! safeguarding decisions: those belong to the engine.

pub(crate) mod http_util;
mod tasks;
pub mod teams;
mod token;
pub mod zoom;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::control::{Control, Level};
use crate::session::{Host, PlatformKind, Session};

/// The span of time a sweep looks at: sessions starting inside it are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// What a collect found. A host or session that could not be read is a failure, not a gap: the
/// run reports it as `error` and goes on with the rest.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub sessions: Vec<Session>,
    pub failures: Vec<CollectFailure>,
    /// Every user seen, lower-cased email → platform group names. The engine needs it to decide
    /// whether an alternative host is staff (a profile may name staff by group).
    pub directory: Directory,
}

/// Lower-cased email → the names of the platform groups the user belongs to.
pub type Directory = std::collections::BTreeMap<String, Vec<String>>;

/// A part of the platform that could not be read during collect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectFailure {
    /// What could not be read ("meetings of host a@b.org", "user list").
    pub what: String,
    pub host_email: Option<String>,
    pub error: String,
}

/// One planned change to one control. Always towards stricter (the engine guarantees it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub control: Control,
    /// The level read before the change, when there was one.
    pub from: Option<Level>,
    pub to: Target,
}

/// What a change sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// Move the control to this level. For `passcode` → `required` the adapter generates a
    /// passcode that meets the platform's passcode rules.
    Level { level: Level },
    /// Add this staff member as alternative host / co-organizer (keeping the existing ones).
    AddCoHost { email: String },
}

/// What an apply did, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Requests that wrote to the platform (0, 1 or 2).
    pub write_requests: u32,
}

/// Errors from a platform. They keep the server's answer so an admin can act on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    #[error(
        "could not obtain an access token from {platform}: {message}. Check the tenant's client id, secret and account id"
    )]
    Auth {
        platform: PlatformKind,
        message: String,
    },
    #[error("{platform} answered {status} to {method} {path}: {message}")]
    Api {
        platform: PlatformKind,
        method: String,
        path: String,
        status: u16,
        /// The platform's own error code, where it gives one (Zoom's `code`).
        code: Option<i64>,
        message: String,
    },
    #[error("{platform} rate limit reached ({category}); retry after {retry_after:?}")]
    RateLimited {
        platform: PlatformKind,
        category: String,
        retry_after: Option<Duration>,
    },
    #[error(
        "daily update budget for host {host} is used up ({limit} updates a day); the change waits for the next run"
    )]
    DailyBudgetExhausted { host: String, limit: u32 },
    #[error("{platform} sent an answer to {path} that chaperone could not read: {message}")]
    Decode {
        platform: PlatformKind,
        path: String,
        message: String,
    },
    #[error("could not reach {platform} at {path}: {message}")]
    Transport {
        platform: PlatformKind,
        path: String,
        message: String,
    },
    #[error("chaperone did not write to {platform}: {reason}")]
    Refused {
        platform: PlatformKind,
        reason: String,
    },
    #[error("{what} no longer exists on {platform}")]
    NotFound {
        platform: PlatformKind,
        what: String,
    },
}

impl PlatformError {
    /// Whether a write that ended in this error may still have been applied (its answer was
    /// lost or unreadable), so only a read-back can tell.
    pub fn write_may_have_applied(&self) -> bool {
        matches!(
            self,
            PlatformError::Transport { .. } | PlatformError::Decode { .. }
        )
    }
}

/// One video platform, seen through the neutral vocabulary.
#[async_trait]
pub trait Platform: Send + Sync {
    fn kind(&self) -> PlatformKind;

    /// Reads hosts and the sessions starting inside `window`, with the settings that matter.
    async fn collect(&self, window: &Window) -> Result<Collected, PlatformError>;

    /// Reads one session again (the read-back after a write).
    async fn read_session(&self, session: &Session) -> Result<Session, PlatformError>;

    /// Reads one session knowing only its platform id (a webhook names just the id).
    /// `Ok(None)` when it no longer exists.
    async fn fetch_session(&self, id: &str) -> Result<Option<Session>, PlatformError>;

    /// Users' group memberships, for judging a single session outside a sweep (a webhook):
    /// whether an alternative host is staff may depend on their groups.
    async fn directory(&self) -> Result<Directory, PlatformError>;

    /// Writes the changes planned for one session: the session-level ones in one request (Zoom
    /// allows about 100 updates per host per day), the host-level ones (settings shared by all of
    /// the host's sessions) in one more. The caller proves the result with [`Platform::read_session`].
    async fn apply(&self, session: &Session, changes: &[Change]) -> Result<Applied, PlatformError>;

    /// Tells the adapter how many session updates the store recorded for this host today, so a
    /// platform's per-host daily budget (Zoom: 100 a day) holds across runs and restarts.
    fn note_updates_today(&self, _host: &Host, _count: u32) {}
}

//! Platform adapters, one module per platform behind one trait. An adapter collects sessions into
//! the neutral [`Session`] snapshot, writes changes the engine planned, and reads back. It makes no
//! safeguarding decisions: those belong to the engine.

pub(crate) mod http_util;
pub mod pacing;
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

/// One host's sessions from a streamed collect, or why that host could not be read.
pub type HostBatch = Result<Vec<Session>, CollectFailure>;

/// How many host batches a streamed collect reads ahead of the sweep that consumes them. With the
/// adapter's own hosts in flight, this bounds how many sessions are in memory at once, however
/// large the account.
pub const HOST_BATCHES_AHEAD: usize = 16;

/// A collect in progress: the directory (read first, since judging any session needs it), then
/// each host's sessions as soon as they are read. A sweep judges and fixes a host while later
/// hosts are still being read, so a whole account is never held in memory at once.
pub struct CollectStream {
    pub directory: Directory,
    /// Every host's sessions arrive in exactly one batch (the sweep relies on it: a host's
    /// sessions are handled in order and its digest is closed with its last session).
    pub hosts: tokio::sync::mpsc::Receiver<HostBatch>,
    /// The task reading the hosts. When `hosts` ends, awaiting it tells whether the collect
    /// finished or stopped early (a panic), so a missing host is reported, never just absent.
    pub done: tokio::task::JoinHandle<()>,
}

impl CollectStream {
    /// An adapter's streamed collect: in a task of its own, the `failures` found before any host
    /// was read go first, then `read(ctx, host)` runs for each of `hosts`, at most `limit` at a
    /// time, and each host's batch is sent as soon as it is ready. The reader waits while the
    /// consumer is [`HOST_BATCHES_AHEAD`] batches behind; a reader that panics ends the stream
    /// early, which [`CollectStream::stopped_early`] reports.
    pub(crate) fn read_hosts<C, I, F, Fut>(
        platform: &'static str,
        directory: Directory,
        failures: Vec<CollectFailure>,
        ctx: C,
        limit: usize,
        hosts: Vec<I>,
        read: F,
    ) -> CollectStream
    where
        C: Clone + Send + Sync + 'static,
        I: Send + 'static,
        F: Fn(C, I) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = HostBatch> + Send + 'static,
    {
        use tracing::Instrument as _;
        let (tx, batches) = tokio::sync::mpsc::channel(HOST_BATCHES_AHEAD);
        let done = tokio::spawn(
            async move {
                for failure in failures {
                    if tx.send(Err(failure)).await.is_err() {
                        return;
                    }
                }
                let count = hosts.len();
                tasks::send_each_bounded(&ctx, limit, platform, hosts, read, tx).await;
                tracing::info!(platform, hosts = count, "collect done");
            }
            .in_current_span(),
        );
        CollectStream {
            directory,
            hosts: batches,
            done,
        }
    }

    /// Streams a collect that was read whole: its failures first, then one batch per host.
    pub fn from_collected(collected: Collected) -> CollectStream {
        let mut by_host: std::collections::BTreeMap<String, Vec<Session>> =
            std::collections::BTreeMap::new();
        for s in collected.sessions {
            by_host.entry(s.host.id.clone()).or_default().push(s);
        }
        let (tx, hosts) = tokio::sync::mpsc::channel(HOST_BATCHES_AHEAD);
        let failures = collected.failures;
        let done = tokio::spawn(async move {
            let batches = failures
                .into_iter()
                .map(Err)
                .chain(by_host.into_values().map(Ok));
            for batch in batches {
                if tx.send(batch).await.is_err() {
                    return;
                }
            }
        });
        CollectStream {
            directory: collected.directory,
            hosts,
            done,
        }
    }

    /// Reads the whole stream into one [`Collected`] (for callers that want every session).
    pub async fn drain(mut self) -> Collected {
        let mut out = Collected {
            directory: std::mem::take(&mut self.directory),
            ..Collected::default()
        };
        while let Some(batch) = self.hosts.recv().await {
            match batch {
                Ok(mut sessions) => out.sessions.append(&mut sessions),
                Err(f) => out.failures.push(f),
            }
        }
        if let Some(f) = self.stopped_early().await {
            out.failures.push(f);
        }
        out
    }

    /// After `hosts` has ended: a failure to report when the reading task did not finish.
    pub async fn stopped_early(self) -> Option<CollectFailure> {
        match self.done.await {
            Ok(()) => None,
            Err(e) => Some(CollectFailure {
                what: "the rest of the hosts".into(),
                host_email: None,
                error: format!(
                    "the collect stopped early ({e}); hosts not yet read were not checked. Run the sweep again"
                ),
            }),
        }
    }
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
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Requests that wrote to the platform (a meeting, the host's settings, occurrences).
    pub write_requests: u32,
    /// Set when the apply stopped after some writes (a used-up daily budget, an occurrence that
    /// went live): what was written is still read back and recorded; the rest waits, for this
    /// reason.
    pub stopped: Option<PlatformError>,
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
    #[error("{platform} rate limit reached ({category}); {}", retry_text(*retry_after))]
    RateLimited {
        platform: PlatformKind,
        category: String,
        retry_after: Option<Duration>,
    },
    #[error("{}", daily_text(host, *limit, platform_said.as_deref()))]
    DailyBudgetExhausted {
        host: String,
        /// The limit in force: the one Zoom's answer named, else `daily_updates_per_host`.
        limit: u32,
        /// Zoom's own words when Zoom refused (zoom.md §5: "You have exceeded the daily rate
        /// limit (100) …"), quoted in the message; `None` when chaperone's count refused first.
        platform_said: Option<String>,
    },
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
    /// The read just before a write found the session running, though it was not when the run
    /// planned the change (DESIGN: never change a session in progress). Nothing was written.
    #[error(
        "{what} started during this run, so it was not changed (a change now could alter the join link of a live session); it is changed after it ends"
    )]
    StartedDuringRun {
        platform: PlatformKind,
        what: String,
    },
    /// The platform kept answering 429 until the run's deadline (src/platform/pacing.rs): the
    /// request was not sent, and the message says what rate the platform allowed.
    #[error(
        "{platform} kept answering that chaperone was over its rate limit ({budget}): {detail}. Other apps on the account may be using most of the limit; run again later, or raise run_deadline_secs"
    )]
    Throttled {
        platform: PlatformKind,
        /// The rate-limit bucket: `light`, `medium`, `tenant`, `mailbox:<id>`.
        budget: String,
        detail: String,
    },
    /// A read failed after its retries: no answer came, or every answer was garbled. A read
    /// changes nothing, so this is never taken for a write whose answer was lost.
    #[error("could not read {path} from {platform}: {message}")]
    ReadFailed {
        platform: PlatformKind,
        path: String,
        message: String,
    },
}

/// The daily-cap message: Zoom's answer quoted when Zoom refused (so the limit shown is the one
/// Zoom applied, not a setting), or chaperone's own count and the setting it enforces.
fn daily_text(host: &str, limit: u32, platform_said: Option<&str>) -> String {
    match platform_said.map(str::trim) {
        Some(said) if !said.is_empty() => {
            let said: String = said.chars().take(300).collect();
            format!(
                "daily update budget for host {host} is used up: Zoom answered \"{said}\"; the \
                 change waits for the next run (Zoom resets it at 00:00 UTC)"
            )
        }
        Some(_) => format!(
            "daily update budget for host {host} is used up: Zoom answered 429 for its daily \
             limit without naming it (chaperone's daily_updates_per_host is {limit}); the change \
             waits for the next run (Zoom resets it at 00:00 UTC)"
        ),
        None => format!(
            "daily update budget for host {host} is used up: chaperone has made {limit} meeting \
             updates for this host today, the daily_updates_per_host setting; the change waits for \
             the next run"
        ),
    }
}

/// "retry after 1.8 s", or that the platform said nothing: never Rust's `Some(1.79s)`.
fn retry_text(after: Option<Duration>) -> String {
    match after {
        Some(d) => format!("retry after {:.1} s", d.as_secs_f64()),
        None => "the platform did not say when to retry".into(),
    }
}

impl PlatformError {
    /// Marks an error met while reading (before a write, or anywhere else) as a failed read, so
    /// it never counts as a write whose answer was lost: `Transport` and `Decode` become
    /// [`PlatformError::ReadFailed`]; every other error is returned as it is. Reads through the
    /// adapters' `Http::get` already come back this way; use it for a read decoded elsewhere:
    /// `inner.read(..).await.map_err(PlatformError::into_read_failure)?`.
    pub fn into_read_failure(self) -> PlatformError {
        match self {
            PlatformError::Transport {
                platform,
                path,
                message,
            } => PlatformError::ReadFailed {
                platform,
                path,
                message: format!("no answer ({message})"),
            },
            PlatformError::Decode {
                platform,
                path,
                message,
            } => PlatformError::ReadFailed {
                platform,
                path,
                message: format!("the answer could not be read ({message})"),
            },
            other => other,
        }
    }

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

    /// The same as [`Platform::collect`], host by host as each is read, so a sweep of a large
    /// account starts fixing at once and holds only the hosts in flight. An error here means
    /// nothing could be collected (the user list could not be read). Adapters that read a host
    /// at a time override it; the default streams a whole collect.
    async fn collect_stream(&self, window: &Window) -> Result<CollectStream, PlatformError> {
        Ok(CollectStream::from_collected(self.collect(window).await?))
    }

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

    /// What each of the adapter's rate-limit budgets reached so far: the rate the platform
    /// allowed (its limit is shared with every other app on the account) and its 429s.
    fn rate_reports(&self) -> Vec<pacing::BudgetReport> {
        Vec::new()
    }
}

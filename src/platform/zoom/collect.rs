//! Reading sessions: the sweep's streamed collect (lists first, then host by host), and the
//! single-session reads of a read-back and a webhook. Each occurrence that may differ from its
//! series is read on its own here.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use tracing::Instrument;

use super::map::{self, GroupLocks, Keep};
use super::meetings::host_id_of;
use super::models::{LockSettings, User};
use super::users::{directory_of, named_group};
use super::{Inner, meeting_id};
use crate::platform::{CollectFailure, CollectStream, PlatformError, Window};
use crate::session::{Occurrence, PlatformKind, Reading, Session};

/// Requests in flight at once while fetching many meetings or hosts. The governor limiters set
/// the pace; this only bounds memory and sockets.
const CONCURRENCY: usize = 16;

/// How far ahead a single-meeting read (a webhook) reads a recurring meeting's occurrences on
/// their own; a sweep reads those inside its window.
const OCCURRENCE_HORIZON: chrono::Duration = chrono::Duration::days(31);

/// Whether an occurrence runs at some time inside the window.
fn occurs_in(o: &Occurrence, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>) -> bool {
    o.start < to && o.start + chrono::Duration::minutes(i64::from(o.duration_minutes)) > from
}

/// Runs `f` for each item with at most [`CONCURRENCY`] in flight, keeping input order.
async fn for_each<I, T, F, Fut>(inner: &Arc<Inner>, items: Vec<I>, f: F) -> Vec<T>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(Arc<Inner>, I) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    crate::platform::tasks::for_each_bounded(inner, CONCURRENCY, "Zoom", items, f).await
}

impl Inner {
    /// Reads on its own each occurrence `which` picks and keeps its effective readings on the
    /// session, so an occurrence edited by itself is judged on what it really has. An
    /// occurrence that cannot be read makes those controls `error`, never the series' value.
    async fn read_occurrences(
        &self,
        id: u64,
        session: &mut Session,
        ctx: &map::HostContext,
        which: impl Fn(&Occurrence) -> bool,
    ) {
        for o in session.occurrences.iter_mut().filter(|o| which(o)) {
            let span = tracing::debug_span!("zoom.occurrence", session = id, occurrence = %o.id);
            o.readings = match self.occurrence(id, &o.id).instrument(span).await {
                Ok(m) => map::occurrence_readings(&m, ctx),
                Err(e) => map::OCCURRENCE_CONTROLS
                    .iter()
                    .map(|c| {
                        (
                            *c,
                            Reading::Error {
                                reason: format!("the occurrence could not be read: {e}"),
                            },
                        )
                    })
                    .collect(),
            };
        }
    }
}

/// Reads a session again after a write: the meeting, the host's settings (cached unless written)
/// and the occurrences that were judged on their own before.
pub(super) async fn read_session(
    inner: &Inner,
    session: &Session,
) -> Result<Session, PlatformError> {
    let id = meeting_id(session)?;
    let m = inner.meeting(id).await?;
    let host_id = host_id_of(&m, session);
    let mut host = session.host.clone();
    if host.id.is_empty() {
        host.id = host_id.clone();
    }
    let ctx = inner.host_context_of(&host_id).await;
    if let Some(names) = ctx
        .groups
        .iter()
        .map(|(g, _)| (!g.id.is_empty()).then(|| g.name.clone()))
        .collect::<Option<Vec<_>>>()
    {
        host.groups = names;
    }
    // The occurrences judged on their own before are read on their own again: a fix is
    // proven on every occurrence it was meant for.
    let read_before: HashSet<&str> = session
        .occurrences
        .iter()
        .filter(|o| !o.readings.is_empty())
        .map(|o| o.id.as_str())
        .collect();
    let mut after = map::session(&m, &host, &ctx);
    inner
        .read_occurrences(id, &mut after, &ctx, |o| {
            read_before.contains(o.id.as_str())
        })
        .await;
    Ok(after)
}

/// Reads one session by its Zoom meeting id (a webhook names it): `None` when Zoom has no such
/// meeting. Occurrences within [`OCCURRENCE_HORIZON`] are read on their own.
pub(super) async fn fetch_session(
    inner: &Inner,
    id: &str,
) -> Result<Option<Session>, PlatformError> {
    let Ok(meeting_id) = id.trim().parse::<u64>() else {
        return Err(PlatformError::NotFound {
            platform: PlatformKind::Zoom,
            what: format!("`{id}` (not a Zoom meeting id)"),
        });
    };
    let m = match inner.meeting(meeting_id).await {
        Err(PlatformError::NotFound { .. }) => return Ok(None),
        other => other?,
    };
    let host_id = m.host_id.clone().unwrap_or_default();
    let (group_names, users) = inner.listed_directory().await?;
    let user = match users.into_iter().find(|u| u.id == host_id) {
        Some(u) => u,
        // A host created since the list was read: `GET /users/{userId}` (LIGHT).
        None => inner.user(&host_id).await?,
    };
    let host = Inner::host_of(&user, &group_names);
    let ctx = inner.host_context_of(&host_id).await;
    let mut session = map::session(&m, &host, &ctx);
    let now = Utc::now();
    inner
        .read_occurrences(meeting_id, &mut session, &ctx, |o| {
            occurs_in(o, now, now + OCCURRENCE_HORIZON)
        })
        .await;
    Ok(Some(session))
}

/// Streams the collect: the lists every session hangs on are read first (without them no session
/// can be judged, so they fail the collect rather than leaving sessions silently out of scope),
/// then a task reads host by host and sends each host's sessions on as soon as they are mapped.
pub(super) async fn collect_stream(
    inner: &Arc<Inner>,
    window: &Window,
) -> Result<CollectStream, PlatformError> {
    let group_names = Arc::new(inner.groups().await?);
    let users = inner.users().await?;
    inner.remember_directory(&group_names, &users);
    let directory = directory_of(&users, &group_names);

    // Locks above the hosts: every group's once, the account's once (MEDIUM each).
    let group_ids: Vec<String> = {
        let mut seen = HashSet::new();
        users
            .iter()
            .flat_map(|u| u.group_ids.iter().cloned())
            .filter(|g| seen.insert(g.clone()))
            .collect()
    };
    let account = inner.account_locks().await.map_err(|e| e.to_string());
    let group_locks: Arc<HashMap<String, Result<LockSettings, String>>> = Arc::new(
        for_each(inner, group_ids, |inner, id: String| async move {
            let locks = inner.group_locks(&id).await.map_err(|e| e.to_string());
            (id, locks)
        })
        .await
        .into_iter()
        .collect(),
    );

    // Host by host, a few hosts at a time: list the host's upcoming meetings (MEDIUM), read each
    // kept one (LIGHT), then the host's settings (MEDIUM), and map at once. The two budgets are
    // used side by side from the first list on, so a sweep runs close to its floor, and only
    // neutral sessions of the hosts in flight are in memory, never the raw answers.
    let window = *window;
    Ok(CollectStream::read_hosts(
        "Zoom",
        directory,
        Vec::new(),
        inner.clone(),
        CONCURRENCY,
        users,
        move |inner, user: User| {
            let group_names = group_names.clone();
            let group_locks = group_locks.clone();
            let account = account.clone();
            async move {
                let span = tracing::debug_span!("zoom.host", host = %user.email);
                collect_host(&inner, &user, &window, &group_names, &group_locks, account)
                    .instrument(span)
                    .await
            }
        },
    ))
}

/// One host's sessions in the window. A failure listing the host's meetings is that host's
/// [`CollectFailure`]; a meeting that cannot be read stays, as a session with `read_error`.
async fn collect_host(
    inner: &Arc<Inner>,
    user: &User,
    window: &Window,
    group_names: &HashMap<String, String>,
    group_locks: &HashMap<String, Result<LockSettings, String>>,
    account: Result<LockSettings, String>,
) -> Result<Vec<Session>, CollectFailure> {
    let items = inner.meetings_of(&user.id).await.map_err(|e| {
        tracing::warn!(host = %user.email, error = %e, "could not list a host's meetings");
        CollectFailure {
            what: format!("meetings of host {}", user.email),
            host_email: Some(user.email.clone()),
            error: e.to_string(),
        }
    })?;
    let mut kept = Vec::new();
    for item in items {
        let keep = map::keep(&item, window);
        if keep == Keep::No {
            continue;
        }
        let span = tracing::debug_span!("zoom.meeting", session = item.id);
        let result = inner.meeting(item.id).instrument(span).await;
        // Recurring meetings are kept only if an occurrence falls in the window.
        let keep_it = match (&result, keep) {
            (Ok(m), Keep::IfAnOccurrenceIs) => map::meeting_in_window(m, window),
            _ => true,
        };
        if keep_it {
            kept.push((item, result));
        }
    }
    if kept.is_empty() {
        return Ok(Vec::new());
    }
    let groups: Vec<GroupLocks> = user
        .group_ids
        .iter()
        .map(|g| {
            let locks = group_locks
                .get(g)
                .cloned()
                .unwrap_or_else(|| Err("not read".into()));
            (named_group(g, group_names), locks)
        })
        .collect();
    let ctx = inner.host_context(&user.id, groups, account).await;
    inner.remember_host(&user.id, &ctx);
    let host = Inner::host_of(user, group_names);
    let mut sessions = Vec::with_capacity(kept.len());
    for (item, result) in kept {
        sessions.push(match result {
            Ok(m) => {
                let mut session = map::session(&m, &host, &ctx);
                // Every occurrence in the window is judged on its own settings (LIGHT each).
                inner
                    .read_occurrences(m.id, &mut session, &ctx, |o| {
                        occurs_in(o, window.from, window.to)
                    })
                    .await;
                session
            }
            Err(e) => {
                tracing::warn!(session = item.id, error = %e, "could not read a meeting");
                map::unreadable_session(&item, &host, &e.to_string())
            }
        });
    }
    Ok(sessions)
}

//! Workers: claim stored webhook events and act on them.
//!
//! - `meeting.created`, `meeting.updated`: read the meeting again (the event's own copy may be
//!   partial: `meeting.updated` carries only the changed fields), and when a profile selects it,
//!   evaluate and fix that one session at once: the same plan, write, read-back and record as a
//!   sweep (`sweep::run_sessions`, kind `webhook`). Chaperone's own write makes Zoom send a
//!   `meeting.updated`; processing it reads a session that is now compliant and writes nothing,
//!   so there is no loop (tests/serve.rs proves it by counting writes).
//! - `user.settings_updated`, `group.lock_settings_updated`, `account.lock_settings_updated`:
//!   re-check the whole tenant (a run of kind `webhook` over a fresh collect). The collect, which
//!   reads every host's settings and locks, is most of a run's cost whether one host or all are
//!   judged, and one tenant-wide run covers every event received before it started: an admin who
//!   changes forty users' settings causes at most two runs, not forty. These runs, and scheduled
//!   sweeps, hold the tenant's `whole_tenant` lock, so they never overlap; a worker that finds it
//!   held puts the event back for a few seconds instead of waiting, so meeting events keep
//!   flowing.
//! - `meeting.deleted`: recorded (the row is the record), nothing else: chaperone never acts on a
//!   deleted session.
//! - Anything else: recorded as ignored.
//!
//! Teams change notifications (platform `teams`, stored by [`super::teams`]):
//! - `event.created`, `event.updated` (object: the `Users/{id}/Events/{id}` resource): the same as
//!   a Zoom meeting event, on the tenant's Teams platform: `fetch_session(resource)`, then
//!   `sweep::run_sessions` (kind `webhook`). Chaperone's own PATCH changes the online meeting, not
//!   the calendar event, so it causes no notification and there is no loop either way.
//! - `event.deleted`: recorded.
//! - `lifecycle.reauthorizationRequired` (object: the subscription id): the subscription is
//!   renewed. `lifecycle.subscriptionRemoved`: subscribed again, then the tenant's Teams meetings
//!   are re-checked; `lifecycle.missed`: re-checked. The adapter reads calendars per tenant, so
//!   "re-read the organizer" is a Teams re-check under the `whole_tenant` lock, and one covers
//!   every lifecycle event received before it started.
//!
//! Platform errors put the event back with an increasing delay; after [`MAX_ATTEMPTS`] it is
//! marked failed with the last error, for an admin to see.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::Instrument;

use super::AppState;
use super::metrics;
use super::teams::{self, TeamsEvent};
use super::tenant::Tenant;
use crate::control::Status;
use crate::engine;
use crate::platform::teams::notifications::LifecycleEvent;
use crate::platform::{Platform, PlatformError};
use crate::report::{RunKind, RunTally};
use crate::session::PlatformKind;
use crate::store::StoreError;
use crate::store::leases::Lease;
use crate::store::webhooks::{EventState, WebhookEvent};
use crate::sweep::{self, RunOptions};

/// Claims of one event before it is marked failed.
pub const MAX_ATTEMPTS: u32 = 5;

/// How an event's processing ended.
#[derive(Debug)]
enum Outcome {
    /// Finished: done (or failed for good), with what happened and the run that recorded it.
    Finished {
        state: EventState,
        outcome: String,
        run_id: Option<String>,
    },
    /// Try again after `after`: counts as an attempt.
    Retry { outcome: String, after: Duration },
    /// Wait for the tenant's running sweep, then take it again: not an attempt.
    Wait { outcome: String, after: Duration },
}

fn done(outcome: impl Into<String>, run_id: Option<String>) -> Outcome {
    Outcome::Finished {
        state: EventState::Done,
        outcome: outcome.into(),
        run_id,
    }
}

/// Runs one worker until shutdown. The event in flight is finished before the worker returns.
pub(crate) async fn run(state: Arc<AppState>, n: usize, mut shutdown: watch::Receiver<bool>) {
    let worker = format!("{}/{}", state.instance, n);
    loop {
        if *shutdown.borrow() {
            return;
        }
        if !state.options.worker_delay.is_zero() {
            // Test-only (CHAPERONE_TEST_WORKER_DELAY_MS): leave stored events unclaimed for a
            // while, so a test can kill the process between the 200 and the processing.
            tokio::select! {
                _ = tokio::time::sleep(state.options.worker_delay) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
        match state
            .store
            .claim_webhook_event(&worker, Utc::now(), state.options.lease)
            .await
        {
            Ok(Some(event)) => {
                if let Some(previous) = &event.taken_over_from {
                    tracing::warn!(
                        event_id = event.id,
                        tenant = %event.tenant,
                        event = %event.event,
                        previous_holder = %previous,
                        attempts = event.attempts,
                        "took over a webhook event whose claim ran out: the process that held it stopped while processing it"
                    );
                }
                state.claimed(event.id, true);
                renewing_claim(
                    &state,
                    &worker,
                    event.id,
                    process(&state, &worker, event.clone()),
                )
                .await;
                state.claimed(event.id, false);
            }
            Ok(None) => {
                tokio::select! {
                    _ = state.wake.notified() => {}
                    _ = tokio::time::sleep(state.options.poll) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "could not claim a webhook event");
                tokio::select! {
                    _ = tokio::time::sleep(state.options.poll) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        }
    }
}

/// Runs `work` while renewing `worker`'s claim on event `id` every third of the claim's lease,
/// so a live worker keeps its event however long it takes, and a dead one loses it within one
/// lease.
async fn renewing_claim(
    state: &Arc<AppState>,
    worker: &str,
    id: i64,
    work: impl std::future::Future<Output = ()>,
) {
    let every = (state.options.lease / 3).max(Duration::from_millis(50));
    let renew = async {
        loop {
            tokio::time::sleep(every).await;
            match state
                .store
                .renew_webhook_claim(id, worker, Utc::now())
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        event_id = id,
                        "the claim on this event was lost while it was processed; another worker may take it"
                    );
                    std::future::pending::<()>().await;
                }
                Err(e) => {
                    tracing::warn!(event_id = id, error = %e, "could not renew the claim on a webhook event; trying again")
                }
            }
        }
    };
    tokio::pin!(work);
    tokio::select! {
        () = &mut work => {}
        () = renew => {}
    }
}

async fn process(state: &Arc<AppState>, worker: &str, event: WebhookEvent) {
    let span = tracing::info_span!(
        "webhook_event",
        tenant = %event.tenant,
        platform = %event.platform,
        event = %event.event,
        event_id = event.id,
        session = event.object_id.as_deref().unwrap_or(""),
    );
    async {
        let outcome = match state.tenants.get(&event.tenant) {
            Some(tenant) => act(state, tenant, &event).await,
            None => Outcome::Finished {
                state: EventState::Failed,
                outcome: format!(
                    "tenant `{}` is no longer configured; the event was not processed",
                    event.tenant
                ),
                run_id: None,
            },
        };
        let now = Utc::now();
        let label = metric_platform(&event.platform);
        let stored = match outcome {
            Outcome::Finished {
                state: end,
                outcome,
                run_id,
            } => {
                metrics::webhook(
                    label,
                    &event.event,
                    if end == EventState::Done {
                        "processed"
                    } else {
                        "failed"
                    },
                );
                tracing::info!(outcome = %outcome, "webhook event processed");
                state
                    .store
                    .finish_webhook_event(event.id, worker, end, &outcome, run_id.as_deref(), now)
                    .await
            }
            Outcome::Retry { outcome, after } if event.attempts < MAX_ATTEMPTS => {
                metrics::webhook(label, &event.event, "retried");
                tracing::warn!(outcome = %outcome, retry_in_secs = after.as_secs_f64(), "webhook event will be tried again");
                let at = now + chrono::Duration::from_std(after).unwrap_or_default();
                state
                    .store
                    .release_webhook_event(event.id, worker, &outcome, at, true)
                    .await
            }
            Outcome::Wait { outcome, after } => {
                tracing::debug!(outcome = %outcome, "webhook event waits its turn");
                let at = now + chrono::Duration::from_std(after).unwrap_or_default();
                state
                    .store
                    .release_webhook_event(event.id, worker, &outcome, at, false)
                    .await
            }
            Outcome::Retry { outcome, .. } => {
                metrics::webhook(label, &event.event, "failed");
                let outcome = format!("given up after {} attempts: {outcome}", event.attempts);
                tracing::error!(outcome = %outcome, "webhook event failed");
                state
                    .store
                    .finish_webhook_event(event.id, worker, EventState::Failed, &outcome, None, now)
                    .await
            }
        };
        match stored {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "the claim on this event ran out before it was finished; another worker has it"
            ),
            Err(e) => tracing::error!(error = %e, "could not record how a webhook event ended"),
        }
    }
    .instrument(span)
    .await
}

/// Back-off before attempt `attempts + 1`: 5 s, 10 s, 20 s, 40 s.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << attempts.saturating_sub(1).min(6)))
}

/// The metrics label of a stored event's platform.
fn metric_platform(platform: &str) -> &'static str {
    match platform {
        teams::PLATFORM => teams::PLATFORM,
        _ => "zoom",
    }
}

fn failed(outcome: impl Into<String>) -> Outcome {
    Outcome::Finished {
        state: EventState::Failed,
        outcome: outcome.into(),
        run_id: None,
    }
}

async fn act(state: &Arc<AppState>, tenant: &Arc<Tenant>, event: &WebhookEvent) -> Outcome {
    if event.platform == teams::PLATFORM {
        return act_teams(state, tenant, event).await;
    }
    let Some(zoom) = tenant.platform(PlatformKind::Zoom).cloned() else {
        return failed(
            "the tenant has no [tenants.zoom] table any more; the Zoom event was not processed",
        );
    };
    match event.event.as_str() {
        "meeting.created" | "meeting.updated" => match &event.object_id {
            // Zoom meeting ids are integers (`meetingId`, int64, in meetings.openapi.json): any
            // other id cannot name a meeting, and asking again cannot change that.
            Some(id) if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) => {
                failed(format!(
                    "permanent: the event names meeting id `{}`, which cannot be a Zoom meeting id \
                 (they are whole numbers); check what sent it",
                    id.chars().take(64).collect::<String>().escape_debug()
                ))
            }
            Some(id) => harden_meeting(state, tenant, &zoom, event, id).await,
            None => done("ignored: the event names no meeting id", None),
        },
        "meeting.deleted" => done("recorded", None),
        "user.settings_updated"
        | "group.lock_settings_updated"
        | "account.lock_settings_updated" => {
            recheck_tenant(state, tenant, &zoom, event.received_at).await
        }
        other => done(
            format!(
                "ignored: chaperone does not act on `{other}`; remove it from the Zoom app's event subscription"
            ),
            None,
        ),
    }
}

/// A stored Teams change notification.
async fn act_teams(state: &Arc<AppState>, tenant: &Arc<Tenant>, event: &WebhookEvent) -> Outcome {
    let Some(platform) = tenant.platform(PlatformKind::Teams).cloned() else {
        return failed(
            "the tenant has no [tenants.teams] table any more; the notification was not processed",
        );
    };
    match TeamsEvent::parse(&event.event) {
        Some(TeamsEvent::Changed(change)) if change == "deleted" => done("recorded", None),
        Some(TeamsEvent::Changed(_)) => match &event.object_id {
            Some(resource) => harden_meeting(state, tenant, &platform, event, resource).await,
            None => done("ignored: the notification names no resource", None),
        },
        Some(TeamsEvent::Lifecycle(lifecycle)) => match &event.object_id {
            Some(subscription) => {
                teams_lifecycle(state, tenant, &platform, event, subscription, lifecycle).await
            }
            None => done("ignored: the notification names no subscription", None),
        },
        None => done(
            format!("ignored: chaperone does not act on `{}`", event.event),
            None,
        ),
    }
}

/// Renews or re-creates a subscription, and re-checks the tenant's Teams meetings when
/// notifications may have been lost.
async fn teams_lifecycle(
    state: &Arc<AppState>,
    tenant: &Arc<Tenant>,
    platform: &Arc<dyn Platform>,
    event: &WebhookEvent,
    subscription: &str,
    lifecycle: LifecycleEvent,
) -> Outcome {
    let Some(hook) = tenant.teams_notifications.as_ref() else {
        return done(
            "ignored: change notifications are no longer configured for this tenant",
            None,
        );
    };
    let retry = |e: &dyn std::fmt::Display| Outcome::Retry {
        outcome: format!("could not act on the lifecycle event: {e}"),
        after: backoff(event.attempts),
    };
    if lifecycle == LifecycleEvent::ReauthorizationRequired {
        return match hook
            .subscriptions
            .on_lifecycle(&hook.platform, subscription, lifecycle, Utc::now())
            .await
        {
            Ok(_) => done("renewed the subscription", None),
            Err(e) => retry(&e),
        };
    }
    // The lock first: waiting after re-subscribing would subscribe twice when the event is
    // taken again.
    let Ok(mut last) = tenant.whole_tenant.try_lock() else {
        return Outcome::Wait {
            outcome: "waiting for the tenant's running sweep".into(),
            after: Duration::from_secs(2),
        };
    };
    // `None` for a subscription this process did not make (a previous process's, before a
    // restart): it was ours (the clientState matched), so its organizer is re-read all the same.
    if let Err(e) = hook
        .subscriptions
        .on_lifecycle(&hook.platform, subscription, lifecycle, Utc::now())
        .await
    {
        return retry(&e);
    }
    recheck_locked(state, tenant, platform, &mut last, event.received_at).await
}

/// Options of a run a webhook asks for; `hosts`: hosts worked on at once (1 for one meeting, as
/// many as a scheduled sweep for a tenant re-check).
fn run_options(tenant: &Tenant, now: DateTime<Utc>, hosts: usize) -> RunOptions {
    RunOptions {
        kind: RunKind::Webhook,
        dry_run: false,
        now,
        window: tenant.window(now),
        progress: false,
        host_concurrency: hosts,
    }
}

/// Evaluates and fixes one meeting now. `meeting_id`: a Zoom meeting id, or a Teams event
/// resource (`Users/{id}/Events/{id}`) which the Teams adapter resolves to its online meeting.
async fn harden_meeting(
    state: &Arc<AppState>,
    tenant: &Arc<Tenant>,
    platform: &Arc<dyn Platform>,
    event: &WebhookEvent,
    meeting_id: &str,
) -> Outcome {
    let retry = |what: &str, e: &dyn std::fmt::Display| Outcome::Retry {
        outcome: format!("{what}: {e}"),
        after: backoff(event.attempts),
    };
    let session = match platform.fetch_session(meeting_id).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return done(
                "gone: the meeting no longer exists (or the event is not an online meeting)",
                None,
            );
        }
        // The platform refused the id itself: asking again cannot change that.
        Err(
            e @ PlatformError::Api {
                status: 400 | 404 | 422,
                ..
            },
        ) => {
            return failed(format!("permanent: could not read the meeting: {e}"));
        }
        Err(e) => return retry("could not read the meeting", &e),
    };
    let lease = match writer_lease(state, tenant, platform).await {
        Ok(lease) => lease,
        Err(waiting) => return waiting,
    };
    if engine::select_profile(&tenant.profiles, &session).is_none() {
        return done("out of scope: no profile selects this meeting", None);
    }
    // A write a stopped process left unrecorded is settled before the session is written again
    // (its open intent would refuse the write).
    if let Err(e) = crate::intents::settle_open(
        &tenant.id,
        platform.as_ref(),
        &tenant.profiles,
        &state.store,
        Utc::now(),
    )
    .await
    {
        return retry("could not settle open write intents", &e);
    }
    let directory = match platform.directory().await {
        Ok(d) => d,
        Err(e) => return retry("could not read the user directory", &e),
    };
    let started = Instant::now();
    let report = match sweep::run_sessions(
        &tenant.id,
        platform.clone(),
        tenant.profiles.clone(),
        state.store.clone(),
        run_options(tenant, Utc::now(), 1),
        vec![session],
        directory,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            metrics::run_failed(&tenant.id, RunKind::Webhook.name());
            return retry("could not record the run", &e);
        }
    };
    lease.release().await;
    let tally = RunTally::of(&report.sessions);
    metrics::run_finished(&report, &tally, started.elapsed());
    let fixed = count(&tally, Status::Fixed);
    if fixed > 0 {
        let since = (Utc::now() - event.received_at)
            .to_std()
            .unwrap_or_default();
        metrics::hardened(since);
    }
    let summary = tally.describe();
    if count(&tally, Status::Error) > 0 {
        // A write or read-back failed: the run is recorded; try the session again later.
        return Outcome::Retry {
            outcome: format!("errors in run {}: {summary}", report.run_id),
            after: backoff(event.attempts),
        };
    }
    done(summary, Some(report.run_id))
}

/// Re-checks one platform of the tenant after a settings or lock change, unless a run of it that
/// started after the event arrived already did.
async fn recheck_tenant(
    state: &Arc<AppState>,
    tenant: &Arc<Tenant>,
    platform: &Arc<dyn Platform>,
    received_at: DateTime<Utc>,
) -> Outcome {
    let Ok(mut last) = tenant.whole_tenant.try_lock() else {
        return Outcome::Wait {
            outcome: "waiting for the tenant's running sweep".into(),
            after: Duration::from_secs(2),
        };
    };
    recheck_locked(state, tenant, platform, &mut last, received_at).await
}

/// A re-check of one platform of the tenant, with the `whole_tenant` lock held by the caller;
/// nothing to do when a run of that platform started after the event arrived (`received_at`).
async fn recheck_locked(
    state: &Arc<AppState>,
    tenant: &Arc<Tenant>,
    platform: &Arc<dyn Platform>,
    last: &mut BTreeMap<PlatformKind, DateTime<Utc>>,
    received_at: DateTime<Utc>,
) -> Outcome {
    if let Some(at) = last.get(&platform.kind())
        && *at >= received_at
    {
        return done(
            format!(
                "covered by the {} run that started at {}",
                platform.kind(),
                at.to_rfc3339()
            ),
            None,
        );
    }
    let lease = match writer_lease(state, tenant, platform).await {
        Ok(lease) => lease,
        Err(waiting) => return waiting,
    };
    let now = Utc::now();
    let started = Instant::now();
    let result = sweep::run_unattended(
        &tenant.id,
        platform.clone(),
        tenant.profiles.clone(),
        state.store.clone(),
        run_options(tenant, now, super::SWEEP_HOST_CONCURRENCY),
        sweep::Keep::Counts,
    )
    .await;
    lease.release().await;
    match result {
        Ok(sweep::RunOutcome { report, tally }) => {
            last.insert(platform.kind(), now);
            metrics::run_finished(&report, &tally, started.elapsed());
            done(
                format!("re-checked the tenant: {}", tally.describe()),
                Some(report.run_id),
            )
        }
        Err(e) => {
            metrics::run_failed(&tenant.id, RunKind::Webhook.name());
            Outcome::Retry {
                outcome: format!("could not record the re-check: {e}"),
                after: Duration::from_secs(30),
            }
        }
    }
}

/// The writer lease of the tenant's platform (shared by this process's workers and schedule),
/// or the outcome to give when another process holds it: wait for its sweep, which is not an
/// attempt.
async fn writer_lease(
    state: &Arc<AppState>,
    tenant: &Tenant,
    platform: &Arc<dyn Platform>,
) -> Result<Lease, Outcome> {
    match state.store.take_lease(&tenant.id, platform.kind()).await {
        Ok(lease) => Ok(lease),
        Err(StoreError::LeaseHeld { holder, until, .. }) => Err(Outcome::Wait {
            outcome: format!(
                "waiting for another chaperone process ({holder}) writing {} of this tenant, \
                 until {} unless it renews its lease",
                platform.kind(),
                until.format("%H:%M:%S UTC")
            ),
            after: Duration::from_secs(5),
        }),
        Err(e) => Err(Outcome::Retry {
            outcome: format!("could not take the writer lease: {e}"),
            after: Duration::from_secs(10),
        }),
    }
}

fn count(tally: &RunTally, status: Status) -> usize {
    tally.by_status.get(&status).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_five_seconds() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(4), Duration::from_secs(40));
    }
}

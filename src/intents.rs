//! Settling write intents left open by a process that stopped between a write and its record
//! (issue 11, item 5; the store side is `store::intents`).
//!
//! A sweep records an intent before each write and closes it with the session's record. An intent
//! still open when the next writer of the tenant's platform starts (it holds the writer lease, so
//! the process that opened it is gone) may be a write that happened with nobody told: a passcode
//! added, a join link changed. [`settle_open`] reads each such session back, judges the planned
//! changes against what the platform now shows (the same `engine::settle` as a sweep's read-back),
//! and records the session in the run that opened the intent, with each change as applied or not,
//! an `intent.settled` audit event and the host's digest item carrying the new join link.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::control::{Control, Status};
use crate::engine::{self, Context};
use crate::notify;
use crate::platform::{Change, Platform, PlatformError};
use crate::profile::Profile;
use crate::report::{Finding, RunKind, SessionReport};
use crate::session::Session;
use crate::store::intents::{NewIntent, OpenIntent, Settlement};
use crate::store::{Store, StoreError};

/// The intent of one session's write in run `(tenant, run_id)`: the session as read, the planned
/// changes and each planned control's value before, as the run's findings observed it.
pub fn new_intent<'a>(
    (tenant, run_id): (&'a str, &'a str),
    session: &'a Session,
    profile: &'a Profile,
    changes: &'a [Change],
    findings: &[Finding],
) -> NewIntent<'a> {
    NewIntent {
        tenant,
        run_id,
        session,
        profile: &profile.name,
        changes,
        before: findings
            .iter()
            .filter(|f| changes.iter().any(|c| c.control == f.control))
            .map(|f| (f.control.name().to_string(), f.observed.clone()))
            .collect(),
    }
}

/// Settles every open write intent of `tenant`'s platform that another process left (intents of
/// this store's own writers are live, and left alone). Returns how many were settled. A session
/// that cannot be read back now stays open for the next run; only a store failure is an error.
pub async fn settle_open(
    tenant: &str,
    platform: &dyn Platform,
    profiles: &[Profile],
    store: &Store,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let open: Vec<OpenIntent> = store
        .open_write_intents(tenant, platform.kind())
        .await?
        .into_iter()
        .filter(|i| i.holder != store.holder())
        .collect();
    if open.is_empty() {
        return Ok(0);
    }
    warn!(
        tenant,
        platform = %platform.kind(),
        intents = open.len(),
        "writes left unrecorded by a process that stopped: reading them back"
    );
    let directory = match platform.directory().await {
        Ok(d) => d,
        Err(e) => {
            warn!(error = %e, "could not read the user directory; the open write intents wait for the next run");
            return Ok(0);
        }
    };
    let ctx = Context {
        now,
        directory: &directory,
    };
    let mut settled = 0;
    for intent in &open {
        if settle_one(tenant, platform, profiles, store, &ctx, intent).await? {
            settled += 1;
        }
    }
    Ok(settled)
}

async fn settle_one(
    tenant: &str,
    platform: &dyn Platform,
    profiles: &[Profile],
    store: &Store,
    ctx: &Context<'_>,
    intent: &OpenIntent,
) -> Result<bool, StoreError> {
    let (session, changes) = match (&intent.session, &intent.changes) {
        (Ok(s), Ok(c)) => (s, c),
        (Err(e), _) | (_, Err(e)) => {
            let settlement = Settlement {
                intent,
                outcome: "unreadable",
                detail: format!(
                    "the intent was written by another version of chaperone and cannot be read \
                     ({e}); check session {} on {} by hand",
                    intent.session_id, intent.platform
                ),
            };
            warn!(intent = intent.id, session = %intent.session_id, detail = %settlement.detail, "write intent closed unread");
            return store.close_write_intent(&settlement).await;
        }
    };
    // The profile chosen again, as a sweep would; the one that planned the change when the
    // session no longer matches any (the write, if it happened, was that profile's).
    let Some(profile) = engine::select_profile(profiles, session)
        .or_else(|| profiles.iter().find(|p| p.name == intent.profile))
    else {
        let settlement = Settlement {
            intent,
            outcome: "no-profile",
            detail: format!(
                "profile `{}` that planned the change is no longer configured; check session {} \
                 on {} by hand",
                intent.profile, intent.session_id, intent.platform
            ),
        };
        warn!(intent = intent.id, session = %intent.session_id, detail = %settlement.detail, "write intent closed unjudged");
        return store.close_write_intent(&settlement).await;
    };
    let mut report = SessionReport::of(session, &profile.name);
    let mut new_join_url = None;
    let (outcome, detail) = match platform.read_session(session).await {
        Ok(after) => {
            let judged = engine::evaluate(profile, &after, ctx);
            let read: Vec<String> = judged.iter().map(|f| f.detail.clone()).collect();
            let (mut findings, records) = engine::settle(changes, judged);
            for (f, read) in findings.iter_mut().zip(read) {
                if f.status == Status::Drift && changes.iter().any(|c| c.control == f.control) {
                    f.detail = format!(
                        "not changed: chaperone stopped before this change was confirmed, and the \
                         read-back shows it was not made ({read}); the next sweep changes it"
                    );
                }
            }
            if records
                .iter()
                .any(|r| r.verified && r.control == Control::Passcode)
            {
                report.join_link_changed = true;
                new_join_url.clone_from(&after.join_url);
            }
            let shown = records.iter().filter(|r| r.verified).count();
            let outcome = match shown {
                0 => "not-applied",
                n if n == records.len() => "applied",
                _ => "partly-applied",
            };
            report.findings = findings;
            report.changes = records;
            (
                outcome,
                format!(
                    "read back after the process that wrote it stopped: {shown} of {} planned \
                     changes shown",
                    changes.len()
                ),
            )
        }
        Err(e @ PlatformError::NotFound { .. }) => ("gone", format!("read back: {e}")),
        Err(e) => {
            warn!(intent = intent.id, session = %intent.session_id, error = %e, "could not read back a session with an open write intent; it is tried again next run");
            return Ok(false);
        }
    };
    let item = notify::digest_item(profile, &session.host, &report, new_join_url);
    let settlement = Settlement {
        intent,
        outcome,
        detail,
    };
    let recorded = match store
        .record_settled_intent(&intent.run_id, &report, item.as_ref(), &settlement)
        .await
    {
        // The run that opened it finished (its record of the session failed) or already has
        // the session: the settlement gets a run of its own.
        Err(StoreError::RunFinished { .. } | StoreError::SessionAlreadyRecorded { .. }) => {
            let started = Utc::now();
            let run = store
                .start_run(tenant, RunKind::Sweep, false, started)
                .await?;
            let recorded = store
                .record_settled_intent(&run, &report, item.as_ref(), &settlement)
                .await?;
            store.finish_run(&run, Utc::now().max(started)).await?;
            recorded
        }
        other => other?,
    };
    if recorded {
        info!(intent = intent.id, session = %intent.session_id, run_id = %intent.run_id, outcome, join_link_changed = report.join_link_changed, "write intent settled");
    }
    Ok(recorded)
}

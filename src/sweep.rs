//! One run over one tenant's platform: collect → evaluate → plan → apply → verify → record.
//!
//! `check` stops after evaluate and writes nothing to the platform. `sweep` fixes what the engine
//! planned, one write per session, and counts a control as fixed only when the read-back shows it.
//! Every session's result is recorded as soon as it is known, so a crash loses nothing already
//! done. Sessions of one host are handled in order (host-level settings are shared, and Zoom
//! budgets updates per host); different hosts run concurrently, within the adapter's rate limits.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::control::{Control, Scope, Status};
use crate::engine::{self, Context};
use crate::notify;
use crate::platform::{Change, Collected, Directory, Platform, PlatformError, Window};
use crate::profile::Profile;
use crate::report::{Finding, RunKind, RunReport, SCHEMA_VERSION, SessionReport};
use crate::session::{Reading, Session};
use crate::store::{Store, StoreError};

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub kind: RunKind,
    /// Plan but write nothing to the platform (a `sweep --dry-run`). `check` is always dry.
    pub dry_run: bool,
    /// The instant the run judges against.
    pub now: DateTime<Utc>,
    pub window: Window,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// How many hosts are worked on at once.
    pub host_concurrency: usize,
}

/// A run could not be recorded. Platform trouble is not an error of the run: it is reported
/// per session as `error` and the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs check or sweep for one tenant and returns what it found and did.
pub async fn run(
    tenant: &str,
    platform: Arc<dyn Platform>,
    profiles: Arc<Vec<Profile>>,
    store: Store,
    opts: RunOptions,
) -> Result<RunReport, RunError> {
    execute(tenant, platform, profiles, store, opts, None).await
}

/// Runs check or sweep on sessions already read (a webhook's session) instead of collecting:
/// the same evaluation, plan, write, read-back and record as a sweep.
pub async fn run_sessions(
    tenant: &str,
    platform: Arc<dyn Platform>,
    profiles: Arc<Vec<Profile>>,
    store: Store,
    opts: RunOptions,
    sessions: Vec<Session>,
    directory: Directory,
) -> Result<RunReport, RunError> {
    let given = Collected {
        sessions,
        failures: Vec::new(),
        directory,
    };
    execute(tenant, platform, profiles, store, opts, Some(given)).await
}

async fn execute(
    tenant: &str,
    platform: Arc<dyn Platform>,
    profiles: Arc<Vec<Profile>>,
    store: Store,
    opts: RunOptions,
    given: Option<Collected>,
) -> Result<RunReport, RunError> {
    let dry_run = opts.dry_run || opts.kind == RunKind::Check;
    // The store keeps microseconds (PostgreSQL's precision); keep the report identical to what
    // `report --run` loads back.
    let started_at = opts.now.trunc_subsecs(6);
    let run_id = store
        .start_run(tenant, opts.kind, dry_run, started_at)
        .await?;
    let span = info_span!("run", tenant, platform = %platform.kind(), run_id = %run_id, kind = opts.kind.name());
    async move {
        let mut report = RunReport {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.clone(),
            tenant: tenant.to_string(),
            kind: opts.kind,
            dry_run,
            started_at,
            finished_at: None,
            sessions: Vec::new(),
            failures: Vec::new(),
        };
        let collected = match given {
            Some(c) => Ok(c),
            None => platform.collect(&opts.window).await,
        };
        let collected = match collected {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "could not collect sessions");
                report.failures.push(crate::platform::CollectFailure {
                    what: format!("sessions on {}", platform.kind()),
                    host_email: None,
                    error: e.to_string(),
                });
                store.record_failures(&run_id, &report.failures).await?;
                let finished = Utc::now().trunc_subsecs(6).max(started_at);
                store.finish_run(&run_id, finished).await?;
                report.finished_at = Some(finished);
                return Ok(report);
            }
        };
        report.failures = collected.failures.clone();
        store.record_failures(&run_id, &report.failures).await?;

        // Group in-scope sessions by host, keeping the platform's order within a host.
        let mut by_host: BTreeMap<String, Vec<(Session, usize)>> = BTreeMap::new();
        let mut in_scope = 0usize;
        for session in collected.sessions {
            if let Some(chosen) = engine::select_profile(&profiles, &session)
                && let Some(idx) = profiles.iter().position(|p| std::ptr::eq(p, chosen))
            {
                in_scope += 1;
                by_host
                    .entry(session.host.id.clone())
                    .or_default()
                    .push((session, idx));
            }
        }
        info!(sessions = in_scope, hosts = by_host.len(), "collected");

        let progress = progress_bar(opts.progress, in_scope as u64);
        let shared = Arc::new(Shared {
            platform,
            profiles,
            store,
            tenant: tenant.to_string(),
            run_id: run_id.clone(),
            directory: collected.directory,
            now: opts.now,
            dry_run,
            changed_per_profile: Mutex::new(HashMap::new()),
            progress: progress.clone(),
        });
        let limit = Arc::new(Semaphore::new(opts.host_concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for (_, sessions) in by_host {
            let shared = shared.clone();
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                shared.run_host(sessions).await
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(mut sessions)) => report.sessions.append(&mut sessions),
                Ok(Err(e)) => return Err(e),
                Err(e) => warn!(error = %e, "a host's task failed"),
            }
        }
        progress.finish_and_clear();
        report.sort_sessions();
        let finished = Utc::now().trunc_subsecs(6).max(started_at);
        shared.store.finish_run(&run_id, finished).await?;
        report.finished_at = Some(finished);
        info!(totals = ?report.totals(), "run finished");
        Ok(report)
    }
    .instrument(span)
    .await
}

fn progress_bar(show: bool, len: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos}/{len} sessions [{bar:30}] {elapsed} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// What the tasks of one run share.
struct Shared {
    platform: Arc<dyn Platform>,
    profiles: Arc<Vec<Profile>>,
    store: Store,
    tenant: String,
    run_id: String,
    directory: Directory,
    now: DateTime<Utc>,
    dry_run: bool,
    /// Sessions changed so far per profile, for the profile's ceiling.
    changed_per_profile: Mutex<HashMap<String, u32>>,
    progress: ProgressBar,
}

impl Shared {
    async fn run_host(
        &self,
        sessions: Vec<(Session, usize)>,
    ) -> Result<Vec<SessionReport>, RunError> {
        let mut reports = Vec::with_capacity(sessions.len());
        if !self.dry_run
            && let Some((first, _)) = sessions.first()
        {
            // Zoom's 100 updates a day per host hold across runs: tell the adapter what the
            // store already recorded today.
            let today = self.now.date_naive();
            let done = self
                .store
                .updates_today(&self.tenant, &first.host.email, today)
                .await?;
            self.platform.note_updates_today(&first.host, done);
        }
        // Host-level controls fixed (and proven) earlier in this run for this host.
        let mut host_fixed: BTreeSet<Control> = BTreeSet::new();
        let last = sessions.len().saturating_sub(1);
        for (n, (session, idx)) in sessions.into_iter().enumerate() {
            let profile = &self.profiles[idx];
            let span = info_span!("session", session = %session.id, host = %session.host.email, profile = %profile.name);
            let host = session.host.clone();
            // The read-back's join link, when a passcode was added: for the host's digest only.
            let mut new_join_url = None;
            let report = self
                .run_session(profile, session, &mut host_fixed, &mut new_join_url)
                .instrument(span)
                .await;
            // Only runs that may write notify (docs/notifications.md); the host's digest item
            // is recorded in the same transaction as the session.
            let item = (!self.dry_run)
                .then(|| notify::digest_item(profile, &host, &report, new_join_url))
                .flatten();
            self.store
                .record_session_with_outbox(
                    &self.run_id,
                    &report,
                    item.as_ref(),
                    !self.dry_run && n == last,
                )
                .await?;
            self.progress.inc(1);
            reports.push(report);
        }
        Ok(reports)
    }

    async fn run_session(
        &self,
        profile: &Profile,
        session: Session,
        host_fixed: &mut BTreeSet<Control>,
        new_join_url: &mut Option<String>,
    ) -> SessionReport {
        let ctx = Context {
            now: self.now,
            directory: &self.directory,
        };
        let mut findings = engine::evaluate(profile, &session, &ctx);
        // A host-level setting already fixed for this host earlier in the run: the snapshot is
        // older than the fix, so take the proven result instead of writing again.
        for f in findings.iter_mut() {
            if f.status == Status::Drift && host_fixed.contains(&f.control) {
                f.status = Status::Fixed;
                f.detail = "fixed on the host's settings (shared by all their sessions) earlier in this run".into();
            }
        }
        let mut report = SessionReport {
            platform: session.platform,
            session_id: session.id.clone(),
            topic: session.topic.clone(),
            host_email: session.host.email.clone(),
            start: session.start,
            profile: profile.name.clone(),
            findings: Vec::new(),
            changes: Vec::new(),
            join_link_changed: false,
        };
        let changes = engine::plan(profile, &session, &findings);
        if changes.is_empty() {
            report.findings = findings;
            return report;
        }
        if self.dry_run {
            for f in findings.iter_mut() {
                if let Some(c) = changes.iter().find(|c| c.control == f.control) {
                    f.detail = format!("{}; dry run: would {}", f.detail, describe_change(c));
                }
            }
            report.findings = findings;
            return report;
        }
        if !self.take_ceiling(profile) {
            for f in findings.iter_mut().filter(|f| f.status == Status::Drift) {
                f.detail = format!(
                    "{}; not changed: the ceiling of {} changed sessions per run for profile `{}` was reached",
                    f.detail, profile.remediation.max_changes_per_run, profile.name
                );
            }
            report.findings = findings;
            return report;
        }

        let lost_answer = match self.platform.apply(&session, &changes).await {
            Ok(applied) => {
                info!(
                    changes = changes.len(),
                    writes = applied.write_requests,
                    "applied"
                );
                None
            }
            // The write may have been applied: the read-back decides, it is not sent again.
            Err(e) if e.write_may_have_applied() => {
                warn!(error = %e, "the answer to a write was lost; reading back");
                Some(e)
            }
            Err(e) => {
                warn!(error = %e, "could not apply");
                mark_changes(&mut findings, &changes, &e);
                report.findings = findings;
                return report;
            }
        };
        let after = match self.platform.read_session(&session).await {
            Ok(after) => after,
            Err(e) => {
                warn!(error = %e, "read-back failed");
                for f in findings.iter_mut() {
                    if changes.iter().any(|c| c.control == f.control) {
                        f.status = Status::Error;
                        f.detail = format!(
                            "a change was sent but the read-back failed, so it is not confirmed: {e}"
                        );
                    }
                }
                report.findings = findings;
                return report;
            }
        };
        let after_findings = engine::evaluate(profile, &after, &ctx);
        let (mut settled, records) = engine::settle(&changes, after_findings);
        if let Some(e) = &lost_answer {
            for f in settled.iter_mut().filter(|f| f.status == Status::Drift) {
                if changes.iter().any(|c| c.control == f.control) {
                    f.status = Status::Error;
                    f.detail = format!(
                        "the answer to the write was lost ({e}) and the read-back does not show the change"
                    );
                }
            }
        }
        // Controls already reported as fixed on the host earlier keep that status.
        for f in settled.iter_mut() {
            if host_fixed.contains(&f.control) && f.status == Status::Compliant {
                f.status = Status::Fixed;
                f.detail = "fixed on the host's settings (shared by all their sessions) earlier in this run".into();
            }
        }
        for r in records.iter().filter(|r| r.verified) {
            if matches!(
                after.readings.get(&r.control),
                Some(Reading::Value {
                    scope: Scope::Host,
                    ..
                })
            ) {
                host_fixed.insert(r.control);
            }
            if r.control == Control::Passcode {
                report.join_link_changed = true;
                new_join_url.clone_from(&after.join_url);
            }
        }
        report.findings = settled;
        report.changes = records;
        report
    }

    /// Counts one more changed session against the profile's ceiling; false when it is reached.
    fn take_ceiling(&self, profile: &Profile) -> bool {
        let Ok(mut counts) = self.changed_per_profile.lock() else {
            return false;
        };
        let n = counts.entry(profile.name.clone()).or_insert(0);
        if *n >= profile.remediation.max_changes_per_run {
            return false;
        }
        *n += 1;
        true
    }
}

fn describe_change(c: &Change) -> String {
    match &c.to {
        crate::platform::Target::Level { level } => {
            format!("set {} to `{}`", c.control, c.control.level_name(*level))
        }
        crate::platform::Target::AddCoHost { email } => format!("add {email} as alternative host"),
    }
}

/// A write that failed: the budget case waits for the next run (still drift); anything else is
/// an `error` (DESIGN: the platform could not be written).
fn mark_changes(findings: &mut [Finding], changes: &[Change], e: &PlatformError) {
    for f in findings.iter_mut() {
        if !changes.iter().any(|c| c.control == f.control) {
            continue;
        }
        if matches!(e, PlatformError::DailyBudgetExhausted { .. }) {
            f.detail = format!("{}; not changed: {e}", f.detail);
        } else {
            f.status = Status::Error;
            f.detail = format!("could not be changed: {e}");
        }
    }
}

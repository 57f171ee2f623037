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
use crate::platform::{
    Change, CollectFailure, CollectStream, Collected, Directory, Platform, PlatformError, Window,
};
use crate::profile::Profile;
use crate::report::{
    Finding, RateAllowed, RunKind, RunReport, RunTally, SCHEMA_VERSION, SessionReport,
};
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

/// Which sessions' reports a run keeps in memory for its caller. Every session is recorded in
/// the store either way, and counted in the run's [`RunTally`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every session (a report printed at the end of a `check` or `sweep` command).
    Every,
    /// None: the counts are enough (a re-check asked for by a webhook).
    Counts,
    /// Only sessions with something still open that start by this instant (what the admin
    /// summary lists as at risk): an unattended sweep of a large account stays small in memory.
    OpenStartingBy(DateTime<Utc>),
}

impl Keep {
    fn keeps(self, session: &SessionReport) -> bool {
        match self {
            Keep::Every => true,
            Keep::Counts => false,
            Keep::OpenStartingBy(by) => session.start.is_some_and(|s| s <= by) && session.is_open(),
        }
    }
}

/// What a run found and did: the report (its `sessions` are those the run's [`Keep`] kept) and
/// the counts over every session.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub report: RunReport,
    pub tally: RunTally,
}

/// Runs check or sweep for one tenant and returns what it found and did, every session included.
pub async fn run(
    tenant: &str,
    platform: Arc<dyn Platform>,
    profiles: Arc<Vec<Profile>>,
    store: Store,
    opts: RunOptions,
) -> Result<RunReport, RunError> {
    execute(tenant, platform, profiles, store, opts, None, Keep::Every)
        .await
        .map(|o| o.report)
}

/// Runs check or sweep keeping in memory only the sessions `keep` asks for: the scheduled sweep
/// and the benchmark, where an account may have tens of thousands of sessions. Sessions are
/// collected, judged and fixed host by host as they are read.
pub async fn run_unattended(
    tenant: &str,
    platform: Arc<dyn Platform>,
    profiles: Arc<Vec<Profile>>,
    store: Store,
    opts: RunOptions,
    keep: Keep,
) -> Result<RunOutcome, RunError> {
    execute(tenant, platform, profiles, store, opts, None, keep).await
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
    execute(
        tenant,
        platform,
        profiles,
        store,
        opts,
        Some(given),
        Keep::Every,
    )
    .await
    .map(|o| o.report)
}

async fn execute(
    tenant: &str,
    platform: Arc<dyn Platform>,
    profiles: Arc<Vec<Profile>>,
    store: Store,
    opts: RunOptions,
    given: Option<Collected>,
    keep: Keep,
) -> Result<RunOutcome, RunError> {
    let dry_run = opts.dry_run || opts.kind == RunKind::Check;
    // The store keeps microseconds (PostgreSQL's precision); keep the report identical to what
    // `report --run` loads back.
    let started_at = opts.now.trunc_subsecs(6);
    if !dry_run && given.is_none() {
        // Writes a stopped process left unrecorded are settled before anything else is read.
        crate::intents::settle_open(tenant, platform.as_ref(), &profiles, &store, opts.now).await?;
    }
    let run_id = store
        .start_run(tenant, opts.kind, dry_run, started_at)
        .await?;
    let span = info_span!("run", tenant, platform = %platform.kind(), run_id = %run_id, kind = opts.kind.name());
    async move {
        let mut outcome = RunOutcome {
            report: RunReport {
                schema_version: SCHEMA_VERSION,
                run_id: run_id.clone(),
                tenant: tenant.to_string(),
                kind: opts.kind,
                dry_run,
                started_at,
                finished_at: None,
                sessions: Vec::new(),
                failures: Vec::new(),
                rates: Vec::new(),
            },
            tally: RunTally::default(),
        };
        let stream = match given {
            Some(c) => Ok(CollectStream::from_collected(c)),
            None => platform.collect_stream(&opts.window).await,
        };
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "could not collect sessions: the run failed");
                let failure = CollectFailure {
                    what: format!("sessions on {}", platform.kind()),
                    host_email: None,
                    error: e.to_string(),
                };
                store.record_failures(&run_id, std::slice::from_ref(&failure)).await?;
                outcome.report.failures.push(failure);
                let finished = Utc::now().trunc_subsecs(6).max(started_at);
                outcome.report.rates = rates_allowed(platform.as_ref());
                store.record_rates(&run_id, &outcome.report.rates).await?;
                store.finish_run(&run_id, finished).await?;
                outcome.report.finished_at = Some(finished);
                return Ok(outcome);
            }
        };

        let progress = progress_bar(opts.progress);
        let shared = Arc::new(Shared {
            platform,
            profiles,
            store,
            tenant: tenant.to_string(),
            run_id: run_id.clone(),
            directory: std::mem::take(&mut stream.directory),
            now: opts.now,
            dry_run,
            changed_per_profile: Mutex::new(HashMap::new()),
            progress: progress.clone(),
        });
        // Each host's sessions are judged and fixed as soon as the host is read. A host waits
        // for a place before it is started, so the collect is held back while `host_concurrency`
        // hosts are being fixed, and memory stays bounded by the hosts in flight.
        let places = Arc::new(Semaphore::new(opts.host_concurrency.max(1)));
        let mut tasks = JoinSet::new();
        // The host each task handles, so a task that fails is reported by name.
        let mut host_of_task = HashMap::new();
        let mut hosts = 0usize;
        while let Some(batch) = stream.hosts.recv().await {
            let sessions = match batch {
                Ok(sessions) => sessions,
                Err(failure) => {
                    tracing::error!(what = %failure.what, error = %failure.error, "could not read");
                    shared.store.record_failures(&run_id, std::slice::from_ref(&failure)).await?;
                    outcome.report.failures.push(failure);
                    continue;
                }
            };
            for (_, in_scope) in shared.in_scope_by_host(sessions) {
                hosts += 1;
                progress.inc_length(in_scope.len() as u64);
                let Ok(place) = places.clone().acquire_owned().await else {
                    break;
                };
                let host = in_scope
                    .first()
                    .map(|(s, _)| s.host.email.clone())
                    .unwrap_or_default();
                let runner = shared.clone();
                let task = tasks.spawn(async move {
                    let result = runner.run_host(in_scope).await;
                    drop(place);
                    result
                });
                host_of_task.insert(task.id(), host);
                while let Some(joined) = tasks.try_join_next_with_id() {
                    take_host(&mut outcome, &mut host_of_task, joined, keep, &shared).await?;
                }
            }
        }
        while let Some(joined) = tasks.join_next_with_id().await {
            take_host(&mut outcome, &mut host_of_task, joined, keep, &shared).await?;
        }
        if let Some(failure) = stream.stopped_early().await {
            tracing::error!(error = %failure.error, "the collect stopped early");
            shared.store.record_failures(&run_id, std::slice::from_ref(&failure)).await?;
            outcome.report.failures.push(failure);
        }
        progress.finish_and_clear();
        outcome.report.sort_sessions();
        let finished = Utc::now().trunc_subsecs(6).max(started_at);
        outcome.report.rates = rates_allowed(shared.platform.as_ref());
        shared.store.record_rates(&run_id, &outcome.report.rates).await?;
        shared.store.finish_run(&run_id, finished).await?;
        outcome.report.finished_at = Some(finished);
        if outcome.report.failures.is_empty() {
            info!(sessions = outcome.tally.sessions, hosts, totals = %outcome.tally.describe(), "run finished");
        } else {
            tracing::error!(sessions = outcome.tally.sessions, hosts, failures = outcome.report.failures.len(), totals = %outcome.tally.describe(), "run failed: part of the platform could not be read");
        }
        Ok(outcome)
    }
    .instrument(span)
    .await
}

/// What the platform's rate-limit budgets allowed, for the report; a budget the platform held
/// below what chaperone was configured with is also logged, since the run took longer for it.
fn rates_allowed(platform: &dyn Platform) -> Vec<RateAllowed> {
    let rates: Vec<RateAllowed> = platform
        .rate_reports()
        .into_iter()
        .filter(|r| r.sent > 0)
        .map(|r| RateAllowed {
            platform: r.platform.to_string(),
            budget: r.budget,
            configured_per_second: r.configured,
            reached_per_second: r.rate,
            lowest_per_second: r.lowest,
            requests: r.sent,
            throttled: r.throttled,
        })
        .collect();
    for r in rates.iter().filter(|r| r.was_throttled()) {
        warn!(rate = %r.line(), "the platform allowed less than chaperone was configured to send");
    }
    rates
}

/// Folds one host's finished task into the outcome: counted always, kept as `keep` says. A
/// store failure ends the run (nothing more could be recorded). A task that panicked (a bug) is
/// recorded as a failure naming the host, like a host that could not be read: its sessions were
/// not all judged, so the run is never reported all clear.
async fn take_host(
    outcome: &mut RunOutcome,
    host_of_task: &mut HashMap<tokio::task::Id, String>,
    joined: Result<(tokio::task::Id, Result<Vec<SessionReport>, RunError>), tokio::task::JoinError>,
    keep: Keep,
    shared: &Shared,
) -> Result<(), RunError> {
    match joined {
        Ok((id, result)) => {
            host_of_task.remove(&id);
            for s in result? {
                outcome.tally.add(&s);
                if keep.keeps(&s) {
                    outcome.report.sessions.push(s);
                }
            }
        }
        Err(e) => {
            let host = host_of_task.remove(&e.id()).unwrap_or_default();
            tracing::error!(host = %host, error = %e, "a host's task failed");
            let failure = CollectFailure {
                what: format!("sessions of host {host}"),
                host_email: Some(host.clone()).filter(|h| !h.is_empty()),
                error: format!(
                    "chaperone stopped while handling them ({}); any of them may be unchecked \
                     or half fixed: run a sweep again, and report this as a bug with the log",
                    e
                ),
            };
            shared
                .store
                .record_failures(&shared.run_id, std::slice::from_ref(&failure))
                .await?;
            outcome.report.failures.push(failure);
            // Sessions of the host recorded before its task stopped are in the store, with
            // their changes, audit events and digest items: the report shows them too, so the
            // report, `report --run` and the host's digest agree. (A rare path: reading the run
            // back costs one query.)
            if !host.is_empty() {
                let recorded = shared.store.load_run(&shared.run_id).await?;
                for s in recorded
                    .sessions
                    .into_iter()
                    .filter(|s| s.host_email == host)
                {
                    outcome.tally.add(&s);
                    if keep.keeps(&s) {
                        outcome.report.sessions.push(s);
                    }
                }
            }
        }
    }
    Ok(())
}

/// A progress bar whose length grows as hosts are read.
fn progress_bar(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
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
    /// The sessions a profile governs, grouped by host in the platform's order, each with the
    /// index of its profile.
    fn in_scope_by_host(&self, sessions: Vec<Session>) -> BTreeMap<String, Vec<(Session, usize)>> {
        let mut by_host: BTreeMap<String, Vec<(Session, usize)>> = BTreeMap::new();
        for session in sessions {
            if let Some(chosen) = engine::select_profile(&self.profiles, &session)
                && let Some(idx) = self.profiles.iter().position(|p| std::ptr::eq(p, chosen))
            {
                by_host
                    .entry(session.host.id.clone())
                    .or_default()
                    .push((session, idx));
            }
        }
        by_host
    }

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
        let mut report = SessionReport::of(&session, &profile.name);
        let changes = engine::plan(profile, &session, &findings, self.now);
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

        // The intent is committed before the write and closed with the session's record: a
        // process that stops in between leaves it for the next writer to settle (crate::intents).
        let intent = crate::intents::new_intent(
            (&self.tenant, &self.run_id),
            &session,
            profile,
            &changes,
            &findings,
        );
        if let Err(e) = self.store.open_write_intent(&intent).await {
            warn!(error = %e, "could not record the write intent; nothing was written");
            let refused = PlatformError::Refused {
                platform: session.platform,
                reason: e.to_string(),
            };
            mark_changes(&mut findings, &changes, &refused);
            report.findings = findings;
            return report;
        }
        // Why part of the changes may not be on the platform: a lost answer, or an apply that
        // stopped after some writes. Either way the read-back decides what was done.
        let unfinished = match self.platform.apply(&session, &changes).await {
            Ok(applied) => {
                info!(
                    changes = changes.len(),
                    writes = applied.write_requests,
                    "applied"
                );
                if let Some(e) = &applied.stopped {
                    warn!(error = %e, "the apply stopped part way; reading back what was written");
                }
                applied.stopped
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
        let (mut settled, mut records) = engine::settle(&changes, after_findings);
        // A change made for an occurrence with settings of its own names that occurrence, in
        // the report and in the host's digest.
        for r in records.iter_mut() {
            if let Some(when) = engine::judged_occurrence(profile, &session, self.now, r.control) {
                let before = r.before.take().unwrap_or_else(|| "weaker".into());
                r.before = Some(format!("{before} on the occurrence of {when}"));
            }
        }
        if let Some(e) = &unfinished {
            let unproven: Vec<Change> = changes
                .iter()
                .filter(|c| {
                    settled
                        .iter()
                        .any(|f| f.control == c.control && f.status == Status::Drift)
                })
                .cloned()
                .collect();
            if e.write_may_have_applied() {
                for f in settled.iter_mut().filter(|f| f.status == Status::Drift) {
                    if unproven.iter().any(|c| c.control == f.control) {
                        f.status = Status::Error;
                        f.detail = format!(
                            "the answer to the write was lost ({e}) and the read-back does not show the change"
                        );
                    }
                }
            } else {
                mark_changes(&mut settled, &unproven, e);
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

/// A write that failed: a used-up budget or a session that went live waits for a later run (still
/// drift); anything else is an `error` (DESIGN: the platform could not be written).
fn mark_changes(findings: &mut [Finding], changes: &[Change], e: &PlatformError) {
    for f in findings.iter_mut() {
        if !changes.iter().any(|c| c.control == f.control) {
            continue;
        }
        if matches!(
            e,
            PlatformError::DailyBudgetExhausted { .. } | PlatformError::StartedDuringRun { .. }
        ) {
            // Still drift, and so in the host's digest: it is changed by a later run.
            f.detail = format!("{}; not changed: {e}", f.detail);
        } else {
            f.status = Status::Error;
            f.detail = format!("could not be changed: {e}");
        }
    }
}

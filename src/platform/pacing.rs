//! Adaptive pacing shared by every adapter's HTTP layer: one [`Budget`] per rate-limit bucket of
//! the platform (Zoom: per account and label, zoom.md §5; Graph: per app and tenant, and per app
//! and mailbox, teams-webex-meet.md §1.6), and one [`RunClock`] per adapter for the run deadline.
//!
//! Why adaptive: a platform's limit is shared with every other app on the account or tenant, so
//! the rate chaperone is configured with is only a ceiling. A 429 slows the whole budget it
//! belongs to, not just the request that met it:
//! - the rate is cut to 70% (TCP CUBIC's factor; halving cut a Zoom budget allowed 3/s down to
//!   0.9/s in the benchmark) and the number of requests in flight halved (multiplicative decrease),
//!   once per "generation": the 429s of requests sent before the cut do not cut again;
//! - no request of that budget leaves before the answer's `Retry-After` (or a short fallback);
//! - every success adds a little back (additive increase: about 2% of the configured rate per
//!   second of successes, five times slower within 20% of the rate the last 429 came at, and one
//!   more request in flight per window of successes), up to the configured rate and
//!   concurrency, never above.
//!
//! A throttled request is retried for as long as the run's deadline allows, not a fixed number of
//! times: a run finishes at whatever rate the platform allows. When the deadline has passed (or a
//! `Retry-After` points past it), requests fail with [`PlatformError::Throttled`], which says what
//! rate the platform allowed.
//!
//! What each budget reached is kept for the run's log line, the benchmark and `/metrics`:
//! `chaperone_platform_rate_allowed{platform, budget}` (gauge, requests per second the budget is
//! pacing at) and `chaperone_platform_throttled_total{platform, budget}` (counter of 429s).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::platform::PlatformError;
use crate::session::PlatformKind;

/// How much of the rate a 429 leaves (multiplicative decrease).
const CUT: f64 = 0.7;
/// How much of the configured rate comes back per second of successes (additive increase).
const RECOVERY_PER_SECOND: f64 = 0.02;
/// Within this fraction of the rate the last 429 came at, the rate comes back at [`CREEP`] of its
/// usual speed.
const NEAR: f64 = 0.8;
/// How much slower the rate comes back near the rate of the last 429.
const CREEP: f64 = 0.2;
/// The slowest a budget paces at, in requests per second. Slower than this, the run deadline
/// decides.
const MIN_RATE: f64 = 0.05;
/// A pause with no request in flight longer than this ends a run: the next request starts a new
/// one (and its deadline). ASSUMPTION: a sweep never pauses a whole minute between requests.
const IDLE_GAP: Duration = Duration::from_secs(60);
/// The default run deadline: long enough for a 50,000-session sweep at a tenth of Pro limits.
pub const DEFAULT_RUN_DEADLINE: Duration = Duration::from_secs(6 * 3600);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a budget has seen, for logs, the benchmark and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetReport {
    /// The platform's name (`zoom`, `teams`).
    pub platform: &'static str,
    /// The bucket: `light`, `medium`, `tenant`, `mailbox`.
    pub budget: String,
    /// The rate chaperone was configured with (requests per second).
    pub configured: f64,
    /// The rate the budget paces at now: what the platform allowed, as far as chaperone found.
    pub rate: f64,
    /// The lowest rate the budget was cut to.
    pub lowest: f64,
    /// 429 answers (per-second limits; daily limits are not pacing).
    pub throttled: u64,
    /// Requests sent.
    pub sent: u64,
}

impl BudgetReport {
    /// One line for a log or a report: `light 2.9/s (configured 30/s, lowest 1.9/s), 57 429s`.
    pub fn line(&self) -> String {
        format!(
            "{} {} {:.1}/s (configured {:.0}/s, lowest {:.1}/s), {} requests, {} answered 429",
            self.platform,
            self.budget,
            self.rate,
            self.configured,
            self.lowest,
            self.sent,
            self.throttled
        )
    }
}

/// Every budget's report in this process, merged by platform and budget kind (all of a tenant's
/// mailboxes are one `mailbox` line: mailbox ids are not metric labels). For the benchmark.
static REGISTRY: OnceLock<Mutex<BTreeMap<(&'static str, String), BudgetReport>>> = OnceLock::new();

fn registry() -> MutexGuard<'static, BTreeMap<(&'static str, String), BudgetReport>> {
    lock(REGISTRY.get_or_init(|| Mutex::new(BTreeMap::new())))
}

/// What every budget of this process reached so far (platform and budget kind, merged).
pub fn reports() -> Vec<BudgetReport> {
    registry().values().cloned().collect()
}

struct State {
    rate: f64,
    lowest: f64,
    /// When the next request may leave (pacing, one at a time).
    next_at: Instant,
    /// No request leaves before this (the last `Retry-After`).
    blocked_until: Instant,
    /// Bumped on every cut; a 429 to a request sent before the cut does not cut again.
    generation: u64,
    in_flight: usize,
    concurrency: usize,
    successes_since_growth: usize,
    /// The rate the budget was pacing at when the last 429 came (0 before any).
    last_429_rate: f64,
    throttled: u64,
    sent: u64,
}

/// One rate-limit bucket: a pace, a limit on requests in flight, and a block until `Retry-After`.
pub(crate) struct Budget {
    platform: PlatformKind,
    name: String,
    configured: f64,
    max_concurrency: usize,
    /// Factor on the interval between requests (1.05 = 5% under the rate).
    headroom: f64,
    /// Fallback wait after a 429 without a usable `Retry-After`.
    fallback_wait: Duration,
    state: Mutex<State>,
    freed: Notify,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("name", &self.name)
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

impl Budget {
    /// A budget paced at `per_second` (the configured ceiling), at most `max_concurrency`
    /// requests in flight, with `headroom` on the interval between requests.
    pub(crate) fn new(
        platform: PlatformKind,
        name: &str,
        per_second: f64,
        max_concurrency: usize,
        headroom: f64,
    ) -> Budget {
        let configured = per_second.max(MIN_RATE);
        let now = Instant::now();
        let budget = Budget {
            platform,
            name: name.to_string(),
            configured,
            max_concurrency: max_concurrency.max(1),
            headroom: headroom.max(1.0),
            fallback_wait: Duration::from_secs(1),
            state: Mutex::new(State {
                rate: configured,
                lowest: configured,
                next_at: now,
                blocked_until: now,
                generation: 0,
                in_flight: 0,
                concurrency: max_concurrency.max(1),
                successes_since_growth: 0,
                last_429_rate: 0.0,
                throttled: 0,
                sent: 0,
            }),
            freed: Notify::new(),
        };
        budget.publish(&lock(&budget.state), 0, 0);
        budget
    }

    /// The wait after a 429 that gave no usable `Retry-After` (for tests; adapters pass their
    /// own backoff).
    #[cfg(test)]
    pub(crate) fn with_fallback_wait(mut self, wait: Duration) -> Budget {
        self.fallback_wait = wait;
        self
    }

    fn platform_name(&self) -> &'static str {
        self.platform.name()
    }

    /// The budget kind in metrics: a mailbox budget is named `mailbox:<id>`, reported as `mailbox`.
    fn kind(&self) -> &str {
        self.name.split(':').next().unwrap_or(&self.name)
    }

    /// Updates the process-wide report and the metrics with this budget's state and the counts
    /// just added.
    fn publish(&self, s: &State, sent: u64, throttled: u64) {
        let platform = self.platform_name();
        let kind = self.kind().to_string();
        metrics::gauge!("chaperone_platform_rate_allowed", "platform" => platform, "budget" => kind.clone())
            .set(s.rate);
        if throttled > 0 {
            metrics::counter!("chaperone_platform_throttled_total", "platform" => platform, "budget" => kind.clone())
                .increment(throttled);
        }
        let mut reg = registry();
        let entry = reg
            .entry((platform, kind.clone()))
            .or_insert_with(|| BudgetReport {
                platform,
                budget: kind,
                configured: self.configured,
                rate: s.rate,
                lowest: s.lowest,
                throttled: 0,
                sent: 0,
            });
        entry.configured = self.configured;
        entry.rate = s.rate;
        entry.lowest = entry.lowest.min(s.lowest);
        entry.throttled += throttled;
        entry.sent += sent;
    }

    /// This budget's figures.
    pub(crate) fn report(&self) -> BudgetReport {
        let s = lock(&self.state);
        BudgetReport {
            platform: self.platform_name(),
            budget: self.kind().to_string(),
            configured: self.configured,
            rate: s.rate,
            lowest: s.lowest,
            throttled: s.throttled,
            sent: s.sent,
        }
    }

    /// Waits for this budget's turn: after any `Retry-After`, with a place among the requests in
    /// flight, and at the budget's pace. Fails with [`PlatformError::Throttled`] when the turn
    /// would come after `deadline`.
    pub(crate) async fn acquire(
        &self,
        deadline: Instant,
        run_deadline: Duration,
    ) -> Result<Permit<'_>, PlatformError> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let start = {
                let mut s = lock(&self.state);
                let now = Instant::now();
                if s.blocked_until > now {
                    Err(Some(s.blocked_until))
                } else if s.in_flight >= s.concurrency {
                    Err(None)
                } else {
                    let start = now.max(s.next_at);
                    s.next_at = start + Duration::from_secs_f64(self.headroom / s.rate);
                    s.in_flight += 1;
                    Ok((start, s.generation))
                }
            };
            match start {
                Ok((start, generation)) => {
                    let permit = Permit {
                        budget: self,
                        generation,
                    };
                    if start > deadline {
                        return Err(self.past_deadline(run_deadline));
                    }
                    tokio::time::sleep_until(start).await;
                    // A `Retry-After` may have come in while this request waited for its slot.
                    if lock(&self.state).blocked_until > Instant::now() {
                        drop(permit);
                        continue;
                    }
                    let mut s = lock(&self.state);
                    s.sent += 1;
                    self.publish(&s, 1, 0);
                    drop(s);
                    return Ok(permit);
                }
                Err(Some(until)) => {
                    if until > deadline {
                        return Err(self.past_deadline(run_deadline));
                    }
                    tokio::time::sleep_until(until).await;
                }
                Err(None) => {
                    if tokio::time::timeout_at(deadline, freed).await.is_err() {
                        return Err(self.past_deadline(run_deadline));
                    }
                }
            }
        }
    }

    /// The error of a request that cannot be sent within the run's deadline.
    pub(crate) fn past_deadline(&self, run_deadline: Duration) -> PlatformError {
        let r = self.report();
        PlatformError::Throttled {
            platform: self.platform,
            budget: self.name.clone(),
            detail: format!(
                "the run's deadline of {} (run_deadline_secs) comes before it would take this request; it answered 429 {} {} and chaperone had slowed to {:.1} requests a second of the {:.0} configured",
                shown_duration(run_deadline),
                r.throttled,
                if r.throttled == 1 { "time" } else { "times" },
                r.rate,
                r.configured
            ),
        }
    }
}

/// `6 h`, `90 s`: a duration for people.
pub(crate) fn shown_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A place among a budget's requests in flight, for one try. Dropping it frees the place;
/// [`Permit::succeeded`] and [`Permit::throttled`] also tell the budget how the try went.
pub(crate) struct Permit<'a> {
    budget: &'a Budget,
    generation: u64,
}

impl Permit<'_> {
    /// A success: a little of the rate comes back (additive increase).
    pub(crate) fn succeeded(self) {
        let b = self.budget;
        let mut s = lock(&b.state);
        if s.generation == self.generation && s.rate < b.configured {
            // Near the rate the last 429 came at, creep: each 429 costs a whole Retry-After of
            // the budget's time. Past it (the other app may have stopped), grow as before.
            let near = s.last_429_rate > 0.0
                && s.rate >= NEAR * s.last_429_rate
                && s.rate < s.last_429_rate;
            let creep = if near { CREEP } else { 1.0 };
            let step = creep * b.configured * RECOVERY_PER_SECOND / s.rate;
            s.rate = (s.rate + step).min(b.configured);
            b.publish(&s, 0, 0);
        }
        if s.concurrency < b.max_concurrency {
            s.successes_since_growth += 1;
            if s.successes_since_growth >= s.concurrency {
                s.successes_since_growth = 0;
                s.concurrency += 1;
                b.freed.notify_waiters();
            }
        }
    }

    /// A 429: the budget slows (once per generation) and waits `retry_after` (or the fallback)
    /// before any of its requests leaves. Returns the wait.
    pub(crate) fn throttled(self, retry_after: Option<Duration>) -> Duration {
        let b = self.budget;
        let wait = retry_after
            .filter(|w| !w.is_zero())
            .unwrap_or(b.fallback_wait);
        let mut s = lock(&b.state);
        s.throttled += 1;
        if s.generation == self.generation {
            s.generation += 1;
            s.last_429_rate = s.rate;
            s.rate = (s.rate * CUT).max(MIN_RATE);
            s.lowest = s.lowest.min(s.rate);
            s.concurrency = (s.concurrency / 2).max(1);
            s.successes_since_growth = 0;
            tracing::info!(
                platform = b.platform_name(),
                budget = %b.name,
                rate = format!("{:.2}", s.rate),
                concurrency = s.concurrency,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "the platform answered 429; this budget slows down"
            );
        }
        let until = Instant::now() + wait;
        if until > s.blocked_until {
            s.blocked_until = until;
        }
        if s.blocked_until > s.next_at {
            s.next_at = s.blocked_until;
        }
        b.publish(&s, 0, 1);
        wait
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = lock(&self.budget.state);
        s.in_flight = s.in_flight.saturating_sub(1);
        drop(s);
        self.budget.freed.notify_waiters();
    }
}

struct Run {
    started: Instant,
    in_flight: usize,
    last_end: Instant,
}

/// The run a request belongs to, for its deadline. A run is a stretch of requests with no pause
/// longer than [`IDLE_GAP`] with nothing in flight: a sweep is one run, a webhook's reads in
/// `serve` another. Its deadline is `run_deadline` after its first request.
pub(crate) struct RunClock {
    run_deadline: Duration,
    state: Mutex<Run>,
}

impl std::fmt::Debug for RunClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunClock")
            .field("run_deadline", &self.run_deadline)
            .finish_non_exhaustive()
    }
}

/// One request's membership of a run; dropping it marks the request done.
pub(crate) struct RunGuard<'a> {
    clock: &'a RunClock,
    /// No try of this request starts after this.
    pub deadline: Instant,
}

impl RunClock {
    pub(crate) fn new(run_deadline: Duration) -> RunClock {
        let now = Instant::now();
        RunClock {
            run_deadline,
            state: Mutex::new(Run {
                started: now,
                in_flight: 0,
                last_end: now,
            }),
        }
    }

    /// The configured deadline of a run.
    pub(crate) fn run_deadline(&self) -> Duration {
        self.run_deadline
    }

    /// Changes the deadline (settings, tests).
    pub(crate) fn set_run_deadline(&mut self, d: Duration) {
        self.run_deadline = d;
    }

    /// Joins (or starts) the current run for one request.
    pub(crate) fn begin(&self) -> RunGuard<'_> {
        let mut r = lock(&self.state);
        let now = Instant::now();
        if r.in_flight == 0 && now.saturating_duration_since(r.last_end) > IDLE_GAP {
            r.started = now;
        }
        r.in_flight += 1;
        RunGuard {
            clock: self,
            deadline: r.started + self.run_deadline,
        }
    }
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let mut r = lock(&self.clock.state);
        r.in_flight = r.in_flight.saturating_sub(1);
        r.last_end = Instant::now();
    }
}

/// Logs one line per budget that met a 429: what the platform allowed during this adapter's life
/// (a `check` or `sweep` builds its adapter for the run, so this is the end of the run).
pub(crate) fn log_summary(platform: &'static str, budgets: &[BudgetReport]) {
    let throttled: Vec<String> = budgets
        .iter()
        .filter(|b| b.throttled > 0 || b.lowest < b.configured)
        .map(BudgetReport::line)
        .collect();
    if throttled.is_empty() {
        let sent: u64 = budgets.iter().map(|b| b.sent).sum();
        if sent > 0 {
            tracing::info!(
                platform,
                requests = sent,
                "platform rate limits: no request was answered 429"
            );
        }
    } else {
        tracing::info!(platform, rates = %throttled.join("; "), "platform rate limits: the platform allowed less than configured");
    }
}

/// Merges per-mailbox budgets into one line per budget kind.
pub(crate) fn merge(reports: impl IntoIterator<Item = BudgetReport>) -> Vec<BudgetReport> {
    let mut by_kind: BTreeMap<String, BudgetReport> = BTreeMap::new();
    for r in reports {
        match by_kind.get_mut(&r.budget) {
            Some(m) => {
                m.rate = m.rate.min(r.rate);
                m.lowest = m.lowest.min(r.lowest);
                m.throttled += r.throttled;
                m.sent += r.sent;
            }
            None => {
                by_kind.insert(r.budget.clone(), r);
            }
        }
    }
    by_kind.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[tokio::test]
    async fn a_429_cuts_the_rate_once_per_generation_and_success_brings_it_back_slowly() {
        let b = Budget::new(PlatformKind::Zoom, "light", 100.0, 8, 1.0)
            .with_fallback_wait(Duration::from_millis(1));
        let p1 = b.acquire(far(), DEFAULT_RUN_DEADLINE).await.expect("p1");
        let p2 = b.acquire(far(), DEFAULT_RUN_DEADLINE).await.expect("p2");
        p1.throttled(None);
        // The second request was sent before the cut: its 429 does not cut again.
        p2.throttled(None);
        let r = b.report();
        assert!((r.rate - 70.0).abs() < 1e-9, "{}", r.rate);
        assert_eq!(r.throttled, 2);
        let p = b.acquire(far(), DEFAULT_RUN_DEADLINE).await.expect("p3");
        p.succeeded();
        let after = b.report().rate;
        // About 2% of the configured rate per second of successes (one success at 70/s).
        assert!(after > 70.0 && after < 70.1, "{after}");
    }

    #[tokio::test]
    async fn no_request_of_a_budget_leaves_before_retry_after() {
        let b = Budget::new(PlatformKind::Zoom, "medium", 1000.0, 8, 1.0);
        let p = b.acquire(far(), DEFAULT_RUN_DEADLINE).await.expect("p");
        let throttled_at = Instant::now();
        p.throttled(Some(Duration::from_millis(300)));
        let _next = b.acquire(far(), DEFAULT_RUN_DEADLINE).await.expect("next");
        assert!(throttled_at.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_retry_after_past_the_deadline_fails_at_once_as_throttled() {
        let b = Budget::new(PlatformKind::Teams, "tenant", 10.0, 4, 1.0);
        let p = b.acquire(far(), DEFAULT_RUN_DEADLINE).await.expect("p");
        p.throttled(Some(Duration::from_secs(3600)));
        let soon = Instant::now() + Duration::from_millis(50);
        let err = b
            .acquire(soon, Duration::from_secs(90))
            .await
            .err()
            .expect("past the deadline");
        let text = err.to_string();
        assert!(matches!(err, PlatformError::Throttled { .. }), "{text}");
        assert!(text.contains("1.5 min") || text.contains("90"), "{text}");
        assert!(!text.contains("Some("), "{text}");
    }

    #[tokio::test]
    async fn concurrency_is_halved_by_a_429_and_grows_back() {
        let b = Budget::new(PlatformKind::Teams, "mailbox:x", 1000.0, 4, 1.0)
            .with_fallback_wait(Duration::from_millis(1));
        let p = b.acquire(far(), DEFAULT_RUN_DEADLINE).await.expect("p");
        p.throttled(None);
        assert_eq!(lock(&b.state).concurrency, 2);
        for _ in 0..20 {
            b.acquire(far(), DEFAULT_RUN_DEADLINE)
                .await
                .expect("p")
                .succeeded();
        }
        assert_eq!(lock(&b.state).concurrency, 4);
        assert_eq!(b.report().budget, "mailbox");
    }

    #[test]
    fn a_run_starts_again_after_an_idle_gap_only() {
        let clock = RunClock::new(Duration::from_secs(10));
        let a = clock.begin();
        let b = clock.begin();
        assert_eq!(a.deadline, b.deadline);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(shown_duration(Duration::from_secs(6 * 3600)), "6 h");
        assert_eq!(shown_duration(Duration::from_secs(120)), "2 min");
        assert_eq!(shown_duration(Duration::from_millis(1500)), "1.5 s");
    }
}

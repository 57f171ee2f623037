//! Each tenant's sweep schedule: a standard 5-field crontab in the tenant's time zone.
//!
//! Why `croner` and not `cron` (research/rust-stack.md §3): `cron` 0.17 rejects 5-field crontab,
//! numbers weekdays from Sunday = 1, and on Europe/London's change nights skips a 01:30 job in
//! spring and runs it twice in autumn. `croner` 4 parses the crontab an admin writes (POSIX
//! weekdays, `@daily`), and follows Vixie cron / OCPS on daylight-saving nights: a fixed-time job
//! whose time does not exist that night runs at the first valid time after the gap; one whose time
//! happens twice runs once, at the first. Tests below pin both nights of 2026.
//!
//! The decision "when does the next sweep start" is the pure function [`Schedule::next_fire`] of
//! (expression, time zone, last fire, now), so it is tested with any clock. The loop ([`run`]) runs
//! each sweep to its end before it looks for the next fire, so sweeps of one tenant never
//! overlap, and fires missed while a sweep ran long (or while the process was down) collapse into
//! one catch-up sweep, not a burst.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use tokio::sync::watch;

/// A schedule that cannot be used; the message names the tenant and the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "tenant `{tenant}`: `schedule = \"{expression}\"` is not a 5-field crontab ({message}). \
         Write minute hour day-of-month month day-of-week in the tenant's time zone, for example \
         \"0 2 * * *\" for 02:00 every night or \"30 1 * * 1-5\" for 01:30 on weekdays"
    )]
    Invalid {
        tenant: String,
        expression: String,
        message: String,
    },
    #[error(
        "tenant `{tenant}`: `schedule = \"{expression}\"` never fires (no date matches it); check the day and month fields"
    )]
    NeverFires { tenant: String, expression: String },
}

/// A tenant's parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
    tz: Tz,
}

impl Schedule {
    /// Parses a 5-field crontab (`0 2 * * *`, `@daily`) for `tenant`, read in `tz`.
    pub fn parse(tenant: &str, expression: &str, tz: Tz) -> Result<Schedule, ScheduleError> {
        let invalid = |message: String| ScheduleError::Invalid {
            tenant: tenant.to_string(),
            expression: expression.to_string(),
            message,
        };
        let fields = expression.split_whitespace().count();
        if !expression.trim_start().starts_with('@') && fields != 5 {
            return Err(invalid(format!("it has {fields} fields, not 5")));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| invalid(e.to_string()))?;
        let schedule = Schedule {
            expression: expression.to_string(),
            cron,
            tz,
        };
        if schedule.next_after(Utc::now()).is_none() {
            return Err(ScheduleError::NeverFires {
                tenant: tenant.to_string(),
                expression: expression.to_string(),
            });
        }
        Ok(schedule)
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone the expression is read in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first fire strictly after `t`, or `None` when the expression never matches again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// When the next sweep should start, given when the last one fired (`None`: never) and the
    /// time now. A fire that fell between the last one and now was missed (the process was down,
    /// or the last sweep ran past it): the answer is `now`, once, since the sweep that then runs
    /// becomes the last fire. A tenant that never had a sweep gets one at once: a service that
    /// has just started should not leave sessions unprotected until the first fire.
    pub fn next_fire(&self, last_fire: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
        let Some(last) = last_fire else {
            return now;
        };
        match self.next_after(last) {
            Some(next) if next <= now => now,
            Some(next) => next,
            None => DateTime::<Utc>::MAX_UTC,
        }
    }
}

/// The time source of the scheduler loop, so tests can drive it with a controllable clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Returns at `t` (or soon after).
    fn sleep_until(&self, t: DateTime<Utc>) -> impl Future<Output = ()> + Send;
}

/// The system clock. Sleeps in steps of at most a minute and looks at the wall clock again after
/// each, so a clock corrected by NTP or a suspended machine does not shift the fire time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        loop {
            let left = t - Utc::now();
            let Ok(left) = left.to_std() else { return };
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(Duration::from_secs(60))).await;
        }
    }
}

/// Runs `job` at each fire of `schedule` until `shutdown` turns true. `last_fire` is when the
/// last sweep started (from the store), for the catch-up after downtime. Each job is awaited to
/// its end before the next fire is computed: sweeps never overlap. `job` gets the fire instant.
pub async fn run<C, F, Fut>(
    schedule: &Schedule,
    clock: &C,
    mut last_fire: Option<DateTime<Utc>>,
    mut shutdown: watch::Receiver<bool>,
    mut job: F,
) where
    C: Clock,
    F: FnMut(DateTime<Utc>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        if *shutdown.borrow() {
            return;
        }
        let next = schedule.next_fire(last_fire, clock.now());
        if next == DateTime::<Utc>::MAX_UTC {
            tracing::warn!(
                schedule = schedule.expression(),
                "the schedule never fires again"
            );
            let _ = shutdown.wait_for(|stop| *stop).await;
            return;
        }
        tracing::debug!(schedule = schedule.expression(), next = %next, "next scheduled sweep");
        tokio::select! {
            _ = clock.sleep_until(next) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let started = clock.now().max(next);
        job(next).await;
        last_fire = Some(started);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::London;
    use std::sync::{Arc, Mutex};

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn fires(s: &Schedule, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = from;
        for _ in 0..n {
            t = s.next_after(t).unwrap();
            out.push(t);
        }
        out
    }

    #[test]
    fn a_bad_expression_is_an_error_naming_the_tenant_and_the_expression() {
        for bad in ["0 2 * *", "0 0 2 * * *", "61 2 * * *", "every night"] {
            let err = Schedule::parse("riverside", bad, London).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("riverside"), "{text}");
            assert!(text.contains(bad), "{text}");
            assert!(text.contains("0 2 * * *"), "says what to write: {text}");
        }
        let never = Schedule::parse("riverside", "0 0 31 2 *", London).unwrap_err();
        assert!(never.to_string().contains("never fires"), "{never}");
    }

    #[test]
    fn weekdays_are_numbered_as_in_crontab_with_monday_1() {
        let s = Schedule::parse("t", "0 2 * * 1", London).unwrap();
        // 2026-11-20 is a Friday; the next Monday is the 23rd.
        let next = s.next_after(utc(2026, 11, 20, 12, 0)).unwrap();
        assert_eq!(next, utc(2026, 11, 23, 2, 0));
    }

    #[test]
    fn a_1_30_sweep_in_london_fires_once_on_the_spring_change_night_at_the_first_valid_time() {
        let s = Schedule::parse("t", "30 1 * * *", London).unwrap();
        // Clocks go from 01:00 GMT to 02:00 BST on 29 March 2026: 01:30 does not exist.
        let got = fires(&s, utc(2026, 3, 27, 12, 0), 3);
        assert_eq!(
            got,
            vec![
                utc(2026, 3, 28, 1, 30), // 01:30 GMT
                utc(2026, 3, 29, 1, 0),  // 02:00 BST, the first valid time after the gap
                utc(2026, 3, 30, 0, 30), // 01:30 BST
            ]
        );
    }

    #[test]
    fn a_1_30_sweep_in_london_fires_once_on_the_autumn_change_night() {
        let s = Schedule::parse("t", "30 1 * * *", London).unwrap();
        // Clocks go from 02:00 BST back to 01:00 GMT on 25 October 2026: 01:30 happens twice.
        let got = fires(&s, utc(2026, 10, 23, 12, 0), 3);
        assert_eq!(
            got,
            vec![
                utc(2026, 10, 24, 0, 30), // 01:30 BST
                utc(2026, 10, 25, 0, 30), // 01:30 BST, the first of the two; not again at 01:30 GMT
                utc(2026, 10, 26, 1, 30), // 01:30 GMT
            ]
        );
    }

    #[test]
    fn next_fire_runs_a_missed_fire_at_once_and_only_once() {
        let s = Schedule::parse("t", "0 2 * * *", London).unwrap();
        let last = utc(2026, 11, 18, 2, 0);
        // Down from the 18th to the 20th at 12:00: two fires missed, one catch-up now.
        let now = utc(2026, 11, 20, 12, 0);
        assert_eq!(s.next_fire(Some(last), now), now);
        // After the catch-up, the next is the next regular fire.
        assert_eq!(s.next_fire(Some(now), now), utc(2026, 11, 21, 2, 0));
        // Nothing missed: wait for the next fire.
        let recent = utc(2026, 11, 20, 2, 0);
        assert_eq!(s.next_fire(Some(recent), now), utc(2026, 11, 21, 2, 0));
        // Never swept: sweep now.
        assert_eq!(s.next_fire(None, now), now);
    }

    /// A clock that jumps to whatever time the scheduler sleeps until; jobs advance it too.
    #[derive(Clone)]
    struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

    impl ManualClock {
        fn advance_to(&self, t: DateTime<Utc>) {
            let mut now = self.0.lock().unwrap();
            if t > *now {
                *now = t;
            }
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
        async fn sleep_until(&self, t: DateTime<Utc>) {
            self.advance_to(t);
            tokio::task::yield_now().await;
        }
    }

    /// Drives [`run`] with a manual clock; each job takes `job_takes` of clock time. Stops after
    /// `n` fires. Returns (fire instants, most jobs running at once).
    async fn drive(
        s: &Schedule,
        start: DateTime<Utc>,
        last: Option<DateTime<Utc>>,
        job_takes: chrono::Duration,
        n: usize,
    ) -> (Vec<DateTime<Utc>>, usize) {
        let clock = ManualClock(Arc::new(Mutex::new(start)));
        let (tx, rx) = watch::channel(false);
        let fired = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(Mutex::new((0usize, 0usize)));
        run(s, &clock, last, rx, |_at| {
            let clock = clock.clone();
            let fired = fired.clone();
            let running = running.clone();
            let tx = tx.clone();
            async move {
                let now = clock.now();
                {
                    let mut r = running.lock().unwrap();
                    r.0 += 1;
                    r.1 = r.1.max(r.0);
                }
                tokio::task::yield_now().await;
                clock.advance_to(now + job_takes);
                running.lock().unwrap().0 -= 1;
                let mut f = fired.lock().unwrap();
                f.push(now);
                if f.len() >= n {
                    let _ = tx.send(true);
                }
            }
        })
        .await;
        let fired = fired.lock().unwrap().clone();
        let peak = running.lock().unwrap().1;
        (fired, peak)
    }

    #[tokio::test]
    async fn the_loop_fires_at_the_right_instants_across_both_2026_change_nights() {
        let s = Schedule::parse("t", "30 1 * * *", London).unwrap();
        let (spring, _) = drive(
            &s,
            utc(2026, 3, 28, 12, 0),
            Some(utc(2026, 3, 28, 1, 30)),
            chrono::Duration::minutes(5),
            2,
        )
        .await;
        assert_eq!(
            spring,
            vec![utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]
        );
        let (autumn, _) = drive(
            &s,
            utc(2026, 10, 24, 12, 0),
            Some(utc(2026, 10, 24, 0, 30)),
            chrono::Duration::minutes(5),
            2,
        )
        .await;
        assert_eq!(
            autumn,
            vec![utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
        );
    }

    #[tokio::test]
    async fn sweeps_never_overlap_and_a_sweep_longer_than_the_period_is_followed_by_one_catch_up() {
        let s = Schedule::parse("t", "0 * * * *", London).unwrap();
        // Hourly, but each sweep takes 2.5 hours.
        let (fired, peak) = drive(
            &s,
            utc(2026, 6, 1, 0, 30),
            Some(utc(2026, 6, 1, 0, 0)),
            chrono::Duration::minutes(150),
            3,
        )
        .await;
        assert_eq!(peak, 1, "two sweeps of one tenant ran at once");
        assert_eq!(
            fired,
            vec![
                utc(2026, 6, 1, 1, 0),
                utc(2026, 6, 1, 3, 30), // missed 02:00 and 03:00: one catch-up when free
                utc(2026, 6, 1, 6, 0),  // missed 04:00..06:00 again: one catch-up at 06:00
            ]
        );
    }

    #[tokio::test]
    async fn a_fire_missed_while_the_process_was_down_runs_once_on_start_up() {
        let s = Schedule::parse("t", "0 2 * * *", London).unwrap();
        let start = utc(2026, 11, 20, 9, 15);
        let (fired, _) = drive(
            &s,
            start,
            Some(utc(2026, 11, 18, 2, 0)),
            chrono::Duration::minutes(10),
            2,
        )
        .await;
        assert_eq!(fired, vec![start, utc(2026, 11, 21, 2, 0)]);
    }

    #[tokio::test]
    async fn no_catch_up_when_the_last_sweep_is_recent() {
        let s = Schedule::parse("t", "0 2 * * *", London).unwrap();
        let (fired, _) = drive(
            &s,
            utc(2026, 11, 20, 9, 15),
            Some(utc(2026, 11, 20, 2, 0)),
            chrono::Duration::minutes(10),
            1,
        )
        .await;
        assert_eq!(fired, vec![utc(2026, 11, 21, 2, 0)]);
    }
}

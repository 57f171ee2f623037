//! Per-account, per-category requests-per-second limits (research/zoom.md §5: Pro Light 30/s,
//! Medium 20/s; limits are shared by every app on the account and each label has its own budget).
//!
//! "A second, unseen app": because the limits are the account's and every app on the account
//! draws from them (zoom.md §5, "Limits apply to the account and are shared by all apps on it"),
//! a client may be allowed only part of its plan's rate. [`RateLimiter::set_allowed_fraction`]
//! leaves the client that fraction of each category's limit (at least one request a second):
//! the rest is taken by another app the client cannot see. The 429s still carry the plan's
//! limit in `X-RateLimit-Limit` (the account's figure, which is all Zoom can say), so a client
//! that trusts its configuration or that header keeps going over; only slowing down on 429 helps.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How the one-second budget is counted. Zoom does not document its algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateWindow {
    /// At most `limit` requests in any interval of one second (the strict reading, and the
    /// default: a client that passes this passes any fixed-window server too).
    #[default]
    Sliding,
    /// At most `limit` requests per whole second counted from the simulator's start.
    Fixed,
}

#[derive(Default)]
struct Category {
    log: VecDeque<Instant>,
    fixed_second: u64,
    fixed_count: u32,
    peak: u64,
}

/// Admission decision.
pub(crate) enum Admit {
    /// Allowed; requests remaining in the current window (None when unlimited).
    Yes(Option<u32>),
    /// Over the limit.
    No,
}

pub(crate) struct RateLimiter {
    window: RateWindow,
    started: Instant,
    categories: HashMap<&'static str, Category>,
    /// The part of each limit left to the client (1.0 = all of it; see the module doc).
    allowed_fraction: f64,
}

impl RateLimiter {
    pub fn new(window: RateWindow) -> Self {
        RateLimiter {
            window,
            started: Instant::now(),
            categories: HashMap::new(),
            allowed_fraction: 1.0,
        }
    }

    /// Another app on the account uses all but `fraction` (0 < fraction <= 1) of every
    /// category's limit from now on; at least one request a second is always left.
    pub fn set_allowed_fraction(&mut self, fraction: f64) {
        self.allowed_fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            1.0
        };
    }

    /// The per-second limit left to the client of a category whose plan limit is `limit`.
    pub fn allowed(&self, limit: u32) -> u32 {
        // Truncation is intended: the other app's share is whole requests.
        let left = (f64::from(limit) * self.allowed_fraction).floor() as u32;
        left.clamp(1, limit.max(1))
    }

    /// Try to admit one request of `category` under `limit` per second (None = unlimited).
    /// Only admitted requests count towards the budget and the peak.
    pub fn admit(&mut self, category: &'static str, limit: Option<u32>, now: Instant) -> Admit {
        let limit = limit.map(|l| self.allowed(l));
        let second = now.saturating_duration_since(self.started).as_secs();
        let c = self.categories.entry(category).or_default();
        while let Some(front) = c.log.front() {
            if now.saturating_duration_since(*front) >= Duration::from_secs(1) {
                c.log.pop_front();
            } else {
                break;
            }
        }
        if c.fixed_second != second {
            c.fixed_second = second;
            c.fixed_count = 0;
        }
        let used = match self.window {
            RateWindow::Sliding => c.log.len() as u64,
            RateWindow::Fixed => u64::from(c.fixed_count),
        };
        if let Some(limit) = limit
            && used >= u64::from(limit)
        {
            return Admit::No;
        }
        c.log.push_back(now);
        c.fixed_count += 1;
        c.peak = c.peak.max(c.log.len() as u64);
        Admit::Yes(limit.map(|l| l.saturating_sub(u32::try_from(used + 1).unwrap_or(u32::MAX))))
    }

    /// Highest number of admitted requests seen in any one-second interval, by category.
    pub fn peaks(&self) -> BTreeMap<String, u64> {
        self.categories
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.peak))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_never_admits_more_than_the_limit_in_any_second() {
        let mut rl = RateLimiter::new(RateWindow::Sliding);
        let t0 = Instant::now();
        let mut admitted = 0;
        for i in 0..10 {
            if matches!(
                rl.admit("Light", Some(3), t0 + Duration::from_millis(i * 10)),
                Admit::Yes(_)
            ) {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 3);
        assert!(matches!(
            rl.admit("Light", Some(3), t0 + Duration::from_millis(1001)),
            Admit::Yes(_)
        ));
        assert_eq!(rl.peaks()["Light"], 3);
    }

    #[test]
    fn another_app_leaves_the_client_a_tenth_of_the_limit() {
        let mut rl = RateLimiter::new(RateWindow::Sliding);
        rl.set_allowed_fraction(0.1);
        let t0 = Instant::now();
        let admitted = (0..30)
            .filter(|_| matches!(rl.admit("Light", Some(30), t0), Admit::Yes(_)))
            .count();
        assert_eq!(admitted, 3);
        // Never less than one a second.
        assert_eq!(rl.allowed(2), 1);
    }

    #[test]
    fn unlimited_still_records_the_peak() {
        let mut rl = RateLimiter::new(RateWindow::Sliding);
        let t0 = Instant::now();
        for _ in 0..50 {
            assert!(matches!(rl.admit("Medium", None, t0), Admit::Yes(None)));
        }
        assert_eq!(rl.peaks()["Medium"], 50);
    }
}

//! Per-account, per-category requests-per-second limits (research/zoom.md §5: Pro Light 30/s,
//! Medium 20/s; limits are shared by every app on the account and each label has its own budget).

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
}

impl RateLimiter {
    pub fn new(window: RateWindow) -> Self {
        RateLimiter {
            window,
            started: Instant::now(),
            categories: HashMap::new(),
        }
    }

    /// Try to admit one request of `category` under `limit` per second (None = unlimited).
    /// Only admitted requests count towards the budget and the peak.
    pub fn admit(&mut self, category: &'static str, limit: Option<u32>, now: Instant) -> Admit {
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
    fn unlimited_still_records_the_peak() {
        let mut rl = RateLimiter::new(RateWindow::Sliding);
        let t0 = Instant::now();
        for _ in 0..50 {
            assert!(matches!(rl.admit("Medium", None, t0), Admit::Yes(None)));
        }
        assert_eq!(rl.peaks()["Medium"], 50);
    }
}

//! Injectable faults for the Graph simulator, and "a second, unseen app": a per-second limit on
//! the whole app in this tenant, lower than what the client is configured for.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The requests a second Graph leaves to the app in this tenant, when other apps of the tenant
/// (or Graph's own load) take the rest. teams-webex-meet.md §1.6: throttled requests get `429`
/// with `Retry-After` in seconds, and Graph keeps counting requests while an app is throttled
/// (so refused requests count here too). ASSUMPTION: counted over any one-second interval (Graph
/// does not say how it counts); the error code `TooManyRequests` is the one in Graph's
/// throttling guidance (`concepts/throttling.md`), and the message names no mailbox.
#[derive(Debug, Default)]
pub(crate) struct AppRateLimit {
    per_second: Option<u32>,
    log: VecDeque<Instant>,
}

impl AppRateLimit {
    /// Sets the limit (`None` = no app-wide limit).
    pub fn set(&mut self, per_second: Option<u32>) {
        self.per_second = per_second.map(|n| n.max(1));
        self.log.clear();
    }

    /// Counts one request; `Err(retry_after_secs)` when it is over the limit.
    pub fn admit(&mut self, now: Instant) -> Result<(), u64> {
        let Some(limit) = self.per_second else {
            return Ok(());
        };
        while self
            .log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.log.pop_front();
        }
        let over = self.log.len() >= limit as usize;
        // Graph keeps counting while an app is throttled (§1.6).
        self.log.push_back(now);
        if over { Err(1) } else { Ok(()) }
    }
}

/// What goes wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GraphFaultKind {
    /// Answer with this status and a Graph error body; nothing changes.
    Status { status: u16 },
    /// Answer 429 with `Retry-After: {retry_after_secs}` (0 = header "0").
    Throttle { retry_after_secs: u64 },
    /// Wait before processing normally.
    Delay { ms: u64 },
    /// Process normally, then answer 200 with truncated JSON.
    MalformedJson,
    /// Invalidate every issued token (an action).
    RevokeTokens,
}

/// Which requests a fault applies to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphFaultTarget {
    /// Every request, the token endpoint included (not `/_sim/`).
    #[default]
    All,
    /// `"METHOD template"` or a bare template, as in the stats.
    Route(String),
    /// Requests about this onlineMeeting id (by path, or a join-URL lookup that finds it).
    Meeting(String),
}

/// A fault: what, for which requests, how many times (`None` = until cleared; actions: once).
///
/// JSON form: `{"kind":"throttle","retry_after_secs":1,"target":{"route":"GET /v1.0/users/{id}/calendarView"},"times":2}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphFault {
    #[serde(flatten)]
    pub kind: GraphFaultKind,
    #[serde(default)]
    pub target: GraphFaultTarget,
    #[serde(default)]
    pub times: Option<u32>,
}

impl GraphFault {
    fn of(kind: GraphFaultKind) -> Self {
        GraphFault {
            kind,
            target: GraphFaultTarget::All,
            times: None,
        }
    }

    pub fn status(status: u16) -> Self {
        Self::of(GraphFaultKind::Status { status })
    }

    pub fn throttle(retry_after_secs: u64) -> Self {
        Self::of(GraphFaultKind::Throttle { retry_after_secs })
    }

    pub fn delay(ms: u64) -> Self {
        Self::of(GraphFaultKind::Delay { ms })
    }

    pub fn malformed_json() -> Self {
        Self::of(GraphFaultKind::MalformedJson)
    }

    pub fn revoke_tokens() -> Self {
        Self::of(GraphFaultKind::RevokeTokens)
    }

    pub fn on_route(mut self, route: &str) -> Self {
        self.target = GraphFaultTarget::Route(route.into());
        self
    }

    pub fn on_meeting(mut self, id: &str) -> Self {
        self.target = GraphFaultTarget::Meeting(id.into());
        self
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub(crate) fn is_action(&self) -> bool {
        matches!(self.kind, GraphFaultKind::RevokeTokens)
    }

    pub(crate) fn matches(&self, method: &str, template: &str, meeting: Option<&str>) -> bool {
        match &self.target {
            GraphFaultTarget::All => true,
            GraphFaultTarget::Meeting(id) => meeting == Some(id.as_str()),
            GraphFaultTarget::Route(route) => match route.split_once(' ') {
                Some((m, t)) => m.eq_ignore_ascii_case(method) && t == template,
                None => route == template,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_limit_counts_refused_requests_too() {
        let mut l = AppRateLimit::default();
        let t0 = Instant::now();
        assert!(l.admit(t0).is_ok(), "no limit set");
        l.set(Some(2));
        assert!(l.admit(t0).is_ok());
        assert!(l.admit(t0).is_ok());
        assert_eq!(l.admit(t0), Err(1));
        // Still three counted in this second: the next one a little later is refused too.
        assert_eq!(l.admit(t0 + Duration::from_millis(500)), Err(1));
        assert!(l.admit(t0 + Duration::from_millis(1600)).is_ok());
    }

    #[test]
    fn json_form_round_trips() {
        let f = GraphFault::throttle(1)
            .on_route("GET /v1.0/users/{id}/calendarView")
            .times(2);
        let text = serde_json::to_string(&f).expect("json");
        assert_eq!(serde_json::from_str::<GraphFault>(&text).expect("back"), f);
        assert!(f.matches("GET", "/v1.0/users/{id}/calendarView", None));
        assert!(!f.matches("PATCH", "/v1.0/users/{id}/calendarView", None));
    }
}

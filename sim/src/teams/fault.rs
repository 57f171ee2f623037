//! Injectable faults for the Graph simulator.

use serde::{Deserialize, Serialize};

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

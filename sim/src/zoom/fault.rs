//! Injectable faults, so tests can prove how a client behaves when the platform misbehaves.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What goes wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this HTTP status (typically 5xx) and a JSON error body; the request is not
    /// processed, so nothing changes.
    Status {
        /// HTTP status code.
        status: u16,
    },
    /// Wait this long before processing the request normally.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// Process the request normally (side effects happen), then hold the answer this long: a
    /// write that reached the platform while its client is still waiting for the answer (a kill
    /// in that moment leaves a change applied that the client never saw confirmed). Zoom applies
    /// a `PATCH /meetings/{meetingId}` on its side and answers `204` (research/zoom.md §0 item 3,
    /// §2); nothing on its side depends on the client reading that answer.
    DelayAnswer {
        /// Milliseconds.
        ms: u64,
    },
    /// Process the request normally (side effects happen) but answer 200 with truncated,
    /// unparsable JSON: the nasty case where a write may have applied and the client cannot tell.
    MalformedJson,
    /// Answer a read (GET) normally, but with only the first half of its JSON body: a
    /// well-framed `200` whose body was cut short, as a proxy or a dropped connection behind
    /// one leaves it. Nothing but HTTP: the status and headers are the normal answer's, and
    /// `Content-Length` is that of what is sent. A read changes nothing, so repeating it is safe.
    /// Applies to GET requests only.
    TruncatedBody,
    /// Invalidate every issued access token (next use → 401 code 124).
    RevokeTokens,
    /// Invalidate every pagination token (next use → 400 code 300).
    ExpirePageTokens,
    /// Delete this meeting (404 code 3001 afterwards), e.g. between a list and a get.
    DeleteMeeting {
        /// Meeting id.
        id: u64,
    },
}

/// Which requests a fault applies to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// Every request, including the token endpoint (not the `/_sim/` admin endpoints).
    #[default]
    All,
    /// One route, as `"METHOD template"` (`"GET /v2/meetings/{meetingId}"`) or just the
    /// template (any method). Templates are the ones in [`super::SimStats::requests`].
    Route(String),
    /// Requests whose path names this meeting id.
    Meeting(u64),
}

/// A fault: what goes wrong, for which requests, how many times.
///
/// `Status`, `Delay` and `MalformedJson` apply to every matching request until cleared, unless
/// `times` is set. `RevokeTokens`, `ExpirePageTokens` and `DeleteMeeting` are actions: with
/// target `All` and no `times` they happen at once when injected; otherwise they happen just
/// before the next `times` (default 1) matching requests are processed.
///
/// JSON form (for `POST /_sim/faults`):
/// `{"kind":"status","status":503,"target":{"route":"GET /v2/users"},"times":2}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// What goes wrong.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Which requests.
    #[serde(default)]
    pub target: FaultTarget,
    /// How many matching requests it affects; `None` = until cleared (actions: once).
    #[serde(default)]
    pub times: Option<u32>,
    /// Matching requests to let through untouched before the fault starts (e.g. the collect's
    /// read of a meeting, so the fault hits the read just before a write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u32>,
}

impl Fault {
    fn of(kind: FaultKind) -> Self {
        Fault {
            kind,
            target: FaultTarget::All,
            times: None,
            after: None,
        }
    }

    /// Answer every matching request with this status.
    pub fn status(status: u16) -> Self {
        Self::of(FaultKind::Status { status })
    }

    /// Delay every matching request.
    pub fn delay(delay: Duration) -> Self {
        Self::of(FaultKind::Delay {
            ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Process matching requests, then hold their answers for `delay`.
    pub fn delay_answer(delay: Duration) -> Self {
        Self::of(FaultKind::DelayAnswer {
            ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Answer matching requests with broken JSON (after processing them).
    pub fn malformed_json() -> Self {
        Self::of(FaultKind::MalformedJson)
    }

    /// Answer requests about one meeting with broken JSON (shorthand for
    /// `malformed_json().on_meeting(id)`).
    pub fn malformed_json_for_meeting(id: u64) -> Self {
        Self::malformed_json().on_meeting(id)
    }

    /// Answer matching reads with their body cut short (see [`FaultKind::TruncatedBody`]).
    pub fn truncated_body() -> Self {
        Self::of(FaultKind::TruncatedBody)
    }

    /// Revoke all access tokens.
    pub fn revoke_tokens() -> Self {
        Self::of(FaultKind::RevokeTokens)
    }

    /// Expire all pagination tokens.
    pub fn expire_page_tokens() -> Self {
        Self::of(FaultKind::ExpirePageTokens)
    }

    /// Delete a meeting.
    pub fn delete_meeting(id: u64) -> Self {
        Self::of(FaultKind::DeleteMeeting { id })
    }

    /// Limit to one route (`"GET /v2/meetings/{meetingId}"` or a bare template).
    pub fn on_route(mut self, route: &str) -> Self {
        self.target = FaultTarget::Route(route.into());
        self
    }

    /// Limit to requests about one meeting.
    pub fn on_meeting(mut self, id: u64) -> Self {
        self.target = FaultTarget::Meeting(id);
        self
    }

    /// Let the first `n` matching requests through untouched.
    pub fn after(mut self, n: u32) -> Self {
        self.after = Some(n);
        self
    }

    /// Affect only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub(crate) fn is_action(&self) -> bool {
        matches!(
            self.kind,
            FaultKind::RevokeTokens | FaultKind::ExpirePageTokens | FaultKind::DeleteMeeting { .. }
        )
    }

    pub(crate) fn matches(&self, method: &str, template: &str, meeting_id: Option<u64>) -> bool {
        if self.kind == FaultKind::TruncatedBody && !method.eq_ignore_ascii_case("GET") {
            return false;
        }
        match &self.target {
            FaultTarget::All => true,
            FaultTarget::Meeting(id) => meeting_id == Some(*id),
            FaultTarget::Route(route) => match route.split_once(' ') {
                Some((m, t)) => m.eq_ignore_ascii_case(method) && t == template,
                None => route == template,
            },
        }
    }
}

/// A fault with its remaining count.
#[derive(Clone, Debug)]
pub(crate) struct ActiveFault {
    pub fault: Fault,
    pub remaining: Option<u32>,
    /// Matching requests still to let through before the fault starts.
    pub skip: u32,
}

impl ActiveFault {
    pub fn new(fault: Fault) -> Self {
        let remaining = match fault.times {
            Some(n) => Some(n),
            None if fault.is_action() => Some(1),
            None => None,
        };
        let skip = fault.after.unwrap_or(0);
        ActiveFault {
            fault,
            remaining,
            skip,
        }
    }

    /// For a matching request: whether it is one of those let through before the fault starts
    /// (counting it).
    pub fn lets_through(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return true;
        }
        false
    }
}

/// A body cut to its first half (on a character boundary): see [`FaultKind::TruncatedBody`].
pub(crate) fn cut_short(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let keep = text.len() / 2;
    let cut = (0..=keep)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    text.as_bytes().get(..cut).unwrap_or_default().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_round_trips() {
        let f = Fault::status(503).on_route("GET /v2/users").times(2);
        let s = serde_json::to_string(&f).unwrap();
        assert_eq!(
            s,
            r#"{"kind":"status","status":503,"target":{"route":"GET /v2/users"},"times":2}"#
        );
        assert_eq!(serde_json::from_str::<Fault>(&s).unwrap(), f);
        let minimal: Fault = serde_json::from_str(r#"{"kind":"malformed_json"}"#).unwrap();
        assert_eq!(minimal, Fault::malformed_json());
    }

    #[test]
    fn a_truncated_body_is_a_valid_prefix_and_only_for_reads() {
        let body = br#"{"meetings":[{"id":1},{"id":2}],"next_page_token":""}"#;
        let cut = cut_short(body);
        assert!(body.starts_with(&cut) && cut.len() == body.len() / 2);
        assert!(serde_json::from_slice::<serde_json::Value>(&cut).is_err());
        let f = Fault::truncated_body().after(1);
        assert!(f.matches("GET", "/v2/users/{userId}/meetings", None));
        assert!(!f.matches("PATCH", "/v2/meetings/{meetingId}", Some(1)));
        let mut active = ActiveFault::new(f);
        assert!(active.lets_through());
        assert!(!active.lets_through());
    }

    #[test]
    fn route_targets_match_with_or_without_method() {
        let f = Fault::status(500).on_route("/v2/meetings/{meetingId}");
        assert!(f.matches("PATCH", "/v2/meetings/{meetingId}", Some(1)));
        let f = Fault::status(500).on_route("GET /v2/meetings/{meetingId}");
        assert!(!f.matches("PATCH", "/v2/meetings/{meetingId}", Some(1)));
    }
}

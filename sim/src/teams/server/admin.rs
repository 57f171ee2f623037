//! The simulator's own admin requests under `/_sim/` (no authentication, local testing only):
//! info, stats, faults, token revocation, the app-wide limit and an organizer's own changes to a
//! meeting. They drive a simulator running in another process the way `TeamsSim`'s methods drive
//! one in this process; they are not Graph and are never counted in its stats.

use axum::http::Method;
use serde_json::{Value, json};

use super::super::fault::GraphFault;
use super::super::state::State;
use super::reply::Reply;

/// Answers one `/_sim/…` request, given the decoded path segments after `_sim`.
pub(crate) fn admin(state: &State, method: &Method, parts: &[&str], body: &[u8]) -> Reply {
    match (method.as_str(), parts) {
        ("GET", ["info"]) => Reply::json(200, serde_json::to_value(state.info()).unwrap_or_default()),
        ("GET", ["stats"]) => Reply::json(200, serde_json::to_value(state.stats()).unwrap_or_default()),
        ("POST", ["faults"]) => match serde_json::from_slice::<GraphFault>(body) {
            Ok(f) => {
                state.inject(f);
                Reply::empty(204)
            }
            Err(e) => Reply::error(400, "BadRequest", &e.to_string()),
        },
        // `{"per_second": 4}` (or null): another app leaves this one that many requests a second.
        ("POST", ["app_limit"]) => {
            match serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("per_second").cloned())
            {
                Some(Value::Null) => {
                    state.set_app_rate_limit(None);
                    Reply::empty(204)
                }
                Some(v) if v.as_u64().is_some_and(|n| n > 0) => {
                    let n = v.as_u64().and_then(|n| u32::try_from(n).ok());
                    state.set_app_rate_limit(n);
                    Reply::empty(204)
                }
                _ => Reply::error(400, "BadRequest", "Expected {\"per_second\": a positive number, or null}"),
            }
        }
        ("DELETE", ["faults"]) => {
            state.clear_faults();
            Reply::empty(204)
        }
        ("POST", ["revoke"]) => {
            state.revoke_tokens();
            Reply::empty(204)
        }
        ("GET", ["meetings"]) => Reply::json(
            200,
            json!(state
                .meeting_list()
                .into_iter()
                .map(|(id, organizer, subject)| json!({"id": id, "organizer": organizer, "subject": subject}))
                .collect::<Vec<_>>()),
        ),
        ("GET", ["meetings", id]) => {
            match state.meeting_value(id) {
                Some(v) => Reply::json(200, v),
                None => Reply::error(404, "NotFound", "no such meeting"),
            }
        }
        ("POST", ["meetings", id, "start"]) => {
            if state.start_now(id) {
                Reply::empty(204)
            } else {
                Reply::error(404, "NotFound", "no such meeting, or no occurrence left to start")
            }
        }
        ("PATCH", ["meetings", id]) => {
            let Ok(change) = serde_json::from_slice::<Value>(body) else {
                return Reply::error(400, "BadRequest", "expected {\"property\": …, \"value\": …}");
            };
            let Some(property) = change["property"].as_str() else {
                return Reply::error(400, "BadRequest", "missing property");
            };
            if state.set_property(id, property, change["value"].clone()) {
                Reply::empty(204)
            } else {
                Reply::error(404, "NotFound", "no such meeting")
            }
        }
        _ => Reply::error(404, "NotFound", "unknown admin request"),
    }
}

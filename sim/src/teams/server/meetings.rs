//! The onlineMeeting endpoints: a meeting found by join URL, GET and PATCH of one meeting, and
//! the evolvable-enum rule applied to every answer. From the CSDL
//! (`shared/specs/teams/onlineMeeting-excerpt.v1.0.csdl.xml`, onlineMeetingBase) and
//! `shared/research/teams-webex-meet.md` §1.1 (lookup by `JoinWebUrl`), §1.2 (updatable
//! properties), §1.4 (application access policy) and its "Corrections" (403 without a policy,
//! read-only properties are 400, `participants.attendees` replaces the list, evolvable enums).
//! Kept apart because this is where chaperone writes: the PATCH rules live in one file.

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::super::lock;
use super::super::scenario::TeamsUser;
use super::super::seed::identity;
use super::super::state::State;
use super::reply::{Reply, param};

/// Properties `PATCH onlineMeeting` accepts (api/onlinemeeting-update.md, research §1.2).
const UPDATABLE: [&str; 24] = [
    "startDateTime",
    "endDateTime",
    "subject",
    "participants",
    "isEntryExitAnnounced",
    "lobbyBypassSettings",
    "allowedPresenters",
    "allowAttendeeToEnableCamera",
    "allowAttendeeToEnableMic",
    "allowMeetingChat",
    "allowTeamworkReactions",
    "allowedLobbyAdmitters",
    "allowRecording",
    "allowTranscription",
    "recordAutomatically",
    "allowBreakoutRooms",
    "allowPowerPointSharing",
    "allowWhiteboard",
    "allowLiveShare",
    "allowCopyingAndSharingMeetingContent",
    "shareMeetingChatHistoryDefault",
    "chatRestrictions",
    "watermarkProtection",
    "meetingSpokenLanguageTag",
];

/// CSDL enum members, in order; those after `unknownFutureValue` are evolvable.
const LOBBY_SCOPES: [&str; 7] = [
    "organizer",
    "organization",
    "organizationAndFederated",
    "everyone",
    "unknownFutureValue",
    "invited",
    "organizationExcludingGuests",
];
const PRESENTERS: [&str; 4] = ["everyone", "organization", "roleIsPresenter", "organizer"];
const CHAT_MODES: [&str; 3] = ["enabled", "disabled", "limited"];
const ADMITTERS: [&str; 2] = [
    "organizerAndCoOrganizersAndPresenters",
    "organizerAndCoOrganizers",
];
const ROLES: [&str; 5] = [
    "attendee",
    "presenter",
    "unknownFutureValue",
    "producer",
    "coorganizer",
];

/// The organizer a `/users/{id}/onlineMeetings…` path names: 404 when there is no such user,
/// 403 when the app has no application access policy for them (§1.4 "Corrections": current
/// docs give 403 with this message).
pub(crate) fn organizer(state: &State, u: &str) -> Result<TeamsUser, Reply> {
    let Some(user) = lock(&state.data).user(u).cloned() else {
        return Err(Reply::error(
            404,
            "NotFound",
            &format!("The user '{u}' was not found."),
        ));
    };
    if !user.access_policy {
        return Err(Reply::error(
            403,
            "Forbidden",
            "No application access policy found for this app.",
        ));
    }
    Ok(user)
}

fn meeting_not_found() -> Reply {
    Reply::error(
        404,
        "NotFound",
        "The requested online meeting was not found.",
    )
}

/// The id of the meeting a `$filter=JoinWebUrl eq '…'` names, for faults aimed at one meeting.
pub(crate) fn filtered_meeting(state: &State, pairs: &[(String, String)]) -> Option<String> {
    let url = param(pairs, "$filter").and_then(join_url_filter)?;
    lock(&state.data)
        .meetings
        .iter()
        .find(|(_, m)| m.value["joinWebUrl"].as_str() == Some(url.as_str()))
        .map(|(id, _)| id.clone())
}

/// `GET /v1.0/users/{id}/onlineMeetings?$filter=JoinWebUrl eq '…'`: the organizer's meeting with
/// that join URL (given encoded or not); without the filter, 400 (§1.1: there is no bare list).
pub(crate) fn find_by_join_url(
    state: &State,
    user: &TeamsUser,
    pairs: &[(String, String)],
) -> Reply {
    let Some(url) = param(pairs, "$filter").and_then(join_url_filter) else {
        return Reply::error(
            400,
            "InvalidArgument",
            "A filter on JoinWebUrl or joinMeetingIdSettings/joinMeetingId is required to list online meetings.",
        );
    };
    let decoded = percent_encoding::percent_decode_str(&url)
        .decode_utf8_lossy()
        .into_owned();
    let d = lock(&state.data);
    let value: Vec<Value> = d
        .meetings
        .values()
        .filter(|m| m.organizer == user.id)
        .filter(|m| {
            let stored = m.value["joinWebUrl"].as_str();
            stored == Some(url.as_str()) || stored == Some(decoded.as_str())
        })
        .map(|m| m.value.clone())
        .collect();
    Reply::json(
        200,
        json!({"@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{}')/onlineMeetings", user.id), "value": value}),
    )
}

/// `GET /v1.0/users/{id}/onlineMeetings/{meetingId}`: only the organizer's own meeting.
pub(crate) fn get(state: &State, user: &TeamsUser, id: &str) -> Reply {
    let d = lock(&state.data);
    match d.meetings.get(id).filter(|m| m.organizer == user.id) {
        Some(m) => Reply::json(200, m.value.clone()),
        None => meeting_not_found(),
    }
}

fn enum_ok(value: &Value, members: &[&str]) -> bool {
    value
        .as_str()
        .is_some_and(|v| members.contains(&v) && v != "unknownFutureValue")
}

fn bad(message: &str) -> Reply {
    Reply::error(400, "BadRequest", message)
}

/// Checks a PATCH body's properties and values, before any is applied (§1.2, "Corrections").
fn check_change(change: &Map<String, Value>) -> Result<(), Reply> {
    for key in change.keys() {
        if !UPDATABLE.contains(&key.as_str()) {
            return Err(bad(&format!(
                "Property '{key}' cannot be updated: it is read-only or not an updatable property of onlineMeeting."
            )));
        }
    }
    if change.contains_key("startDateTime") != change.contains_key("endDateTime") {
        return Err(bad(
            "startDateTime and endDateTime must be updated together.",
        ));
    }
    for (key, members) in [
        ("allowedPresenters", &PRESENTERS[..]),
        ("allowMeetingChat", &CHAT_MODES[..]),
        ("allowedLobbyAdmitters", &ADMITTERS[..]),
    ] {
        if let Some(v) = change.get(key)
            && !enum_ok(v, members)
        {
            return Err(bad(&format!("Invalid value '{v}' for property '{key}'.")));
        }
    }
    for key in [
        "allowRecording",
        "recordAutomatically",
        "allowTranscription",
        "isEntryExitAnnounced",
    ] {
        if let Some(v) = change.get(key)
            && !v.is_boolean()
        {
            return Err(bad(&format!("Property '{key}' must be a boolean.")));
        }
    }
    if let Some(scope) = change
        .get("lobbyBypassSettings")
        .and_then(|l| l.get("scope"))
        && !enum_ok(scope, &LOBBY_SCOPES)
    {
        return Err(bad(&format!(
            "Invalid value '{scope}' for lobbyBypassSettings.scope."
        )));
    }
    Ok(())
}

/// The attendee list a PATCH of `participants` sets (it replaces the whole list), each attendee
/// resolved to a user of the tenant; `None` when the PATCH leaves participants alone.
fn new_attendees(state: &State, change: &Map<String, Value>) -> Result<Option<Vec<Value>>, Reply> {
    let Some(p) = change.get("participants") else {
        return Ok(None);
    };
    let Some(p) = p.as_object() else {
        return Err(bad("participants must be an object."));
    };
    if p.contains_key("organizer") {
        return Err(bad("The organizer of an online meeting cannot be changed."));
    }
    let Some(list) = p.get("attendees").and_then(Value::as_array) else {
        return Err(bad("participants.attendees must be a list."));
    };
    let users = lock(&state.data).users.clone();
    let mut out = Vec::new();
    for a in list {
        let role = a.get("role").cloned().unwrap_or(json!("attendee"));
        if !enum_ok(&role, &ROLES) {
            return Err(bad(&format!("Invalid attendee role {role}.")));
        }
        let by_id = a.pointer("/identity/user/id").and_then(Value::as_str);
        let by_upn = a.get("upn").and_then(Value::as_str);
        let Some(u) = users.iter().find(|u| {
            by_id.is_some_and(|i| i.eq_ignore_ascii_case(&u.id))
                || by_upn.is_some_and(|e| e.eq_ignore_ascii_case(&u.email))
        }) else {
            return Err(bad(
                "An attendee is not a user of this tenant (identity.user.id or upn).",
            ));
        };
        out.push(json!({"upn": u.email, "role": role, "identity": identity(u, &state.tenant_id)}));
    }
    Ok(Some(out))
}

/// `PATCH /users/{id}/onlineMeetings/{meetingId}` (research §1.2 and "Corrections"): 200 with the
/// whole meeting; a property tenant policy holds is accepted and ignored.
pub(crate) fn patch(state: &State, user: &TeamsUser, id: &str, body: &[u8]) -> Reply {
    let Ok(Value::Object(change)) = serde_json::from_slice::<Value>(body) else {
        return bad(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        );
    };
    if let Err(r) = check_change(&change) {
        return r;
    }
    let mut attendees = match new_attendees(state, &change) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if change.get("allowedPresenters").and_then(Value::as_str) == Some("roleIsPresenter")
        && attendees.is_none()
    {
        return bad(
            "allowedPresenters 'roleIsPresenter' requires the full attendee list with roles.",
        );
    }
    let mut d = lock(&state.data);
    let Some(m) = d.meetings.get_mut(id).filter(|m| m.organizer == user.id) else {
        return meeting_not_found();
    };
    let held = m.policy_held.clone();
    let Some(stored) = m.value.as_object_mut() else {
        return Reply::error(500, "InternalServerError", "corrupt meeting");
    };
    for (key, value) in change {
        if held.contains(&key) {
            continue;
        }
        match key.as_str() {
            "participants" => {
                if let Some(list) = attendees.take() {
                    stored
                        .entry("participants")
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .map(|p| p.insert("attendees".into(), Value::Array(list)));
                }
            }
            "lobbyBypassSettings" => {
                let entry = stored
                    .entry("lobbyBypassSettings")
                    .or_insert_with(|| json!({}));
                if let (Some(e), Some(v)) = (entry.as_object_mut(), value.as_object()) {
                    for (k, x) in v {
                        e.insert(k.clone(), x.clone());
                    }
                }
            }
            _ => {
                stored.insert(key, value);
            }
        }
    }
    Reply::json(200, Value::Object(stored.clone()))
}

/// `JoinWebUrl eq '…'` → the literal, with `''` undoubled.
fn join_url_filter(filter: &str) -> Option<String> {
    let rest = filter.trim();
    let (prop, rest) = rest.split_once(' ')?;
    if !prop.eq_ignore_ascii_case("JoinWebUrl") {
        return None;
    }
    let literal = rest.trim_start().strip_prefix("eq")?.trim();
    let inner = literal.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

/// Replaces evolvable enum members with `unknownFutureValue` (Graph does this unless the client
/// sends `Prefer: include-unknown-enum-members`).
pub(crate) fn hide_evolvable(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(scope) = o
                .get_mut("lobbyBypassSettings")
                .and_then(|l| l.get_mut("scope"))
                && matches!(
                    scope.as_str(),
                    Some("invited" | "organizationExcludingGuests")
                )
            {
                *scope = json!("unknownFutureValue");
            }
            if let Some(Value::Array(list)) = o
                .get_mut("participants")
                .and_then(|p| p.get_mut("attendees"))
            {
                for a in list {
                    if let Some(role) = a.get_mut("role")
                        && matches!(role.as_str(), Some("coorganizer" | "producer"))
                    {
                        *role = json!("unknownFutureValue");
                    }
                }
            }
            for child in o.values_mut() {
                hide_evolvable(child);
            }
        }
        Value::Array(list) => list.iter_mut().for_each(hide_evolvable),
        _ => {}
    }
}

/// Whether the client sent `Prefer: include-unknown-enum-members`.
pub(crate) fn wants_evolvable(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',').any(|p| {
                p.trim()
                    .eq_ignore_ascii_case("include-unknown-enum-members")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_url_filters_are_parsed() {
        assert_eq!(
            join_url_filter("JoinWebUrl eq 'https://x/a''b'").as_deref(),
            Some("https://x/a'b")
        );
        assert_eq!(join_url_filter("subject eq 'x'"), None);
    }

    #[test]
    fn evolvable_members_are_hidden() {
        let mut v = json!({"value": [{"lobbyBypassSettings": {"scope": "invited"},
            "participants": {"attendees": [{"role": "coorganizer"}, {"role": "attendee"}]}}]});
        hide_evolvable(&mut v);
        assert_eq!(
            v["value"][0]["lobbyBypassSettings"]["scope"],
            "unknownFutureValue"
        );
        assert_eq!(
            v["value"][0]["participants"]["attendees"][0]["role"],
            "unknownFutureValue"
        );
        assert_eq!(
            v["value"][0]["participants"]["attendees"][1]["role"],
            "attendee"
        );
    }
}

//! The directory and calendar reads: a group's members, a user, a user's groups, a calendarView
//! window and one event, with OData paging (`@odata.nextLink`, `Prefer: odata.maxpagesize`).
//! From `shared/research/teams-webex-meet.md` §1.1 (the listing pattern) and its "Corrections"
//! (calendarView returns occurrences, never the series master). Kept apart from the meeting
//! endpoints because these never write and never answer the access-policy 403.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::super::lock;
use super::super::scenario::{TeamsUser, object_id};
use super::super::state::{State, StoredEvent};
use super::reply::{Reply, param};

/// Where a request is and how it was asked: what paging needs to build the next link.
pub(crate) struct Listing<'a> {
    pub path: &'a str,
    pub pairs: &'a [(String, String)],
    pub headers: &'a HeaderMap,
}

impl Listing<'_> {
    /// One page of a collection with an `@odata.nextLink` when more remain (ASSUMPTION, module
    /// docs: the next link carries an opaque `$skiptoken`).
    fn page(&self, state: &State, items: Vec<Value>, page_size: usize) -> Reply {
        let skip = param(self.pairs, "$skiptoken")
            .and_then(|t| t.strip_prefix("o"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let end = (skip + page_size).min(items.len());
        let value: Vec<Value> = items
            .get(skip..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let mut body = json!({
            "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{}", self.path.trim_start_matches("/v1.0/")),
            "value": value,
        });
        if end < items.len() {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in self.pairs.iter().filter(|(k, _)| k != "$skiptoken") {
                q.append_pair(k, v);
            }
            q.append_pair("$skiptoken", &format!("o{end}"));
            body["@odata.nextLink"] =
                json!(format!("http://{}{}?{}", state.addr, self.path, q.finish()));
        }
        Reply::json(200, body)
    }

    /// `Prefer: odata.maxpagesize=N`.
    fn max_page(&self) -> Option<usize> {
        let prefer = self.headers.get("prefer")?.to_str().ok()?;
        prefer.split(',').find_map(|p| {
            p.trim()
                .strip_prefix("odata.maxpagesize=")
                .and_then(|n| n.trim().parse::<usize>().ok())
        })
    }
}

fn user_json(u: &TeamsUser) -> Value {
    json!({"@odata.type": "#microsoft.graph.user", "id": u.id, "displayName": u.display_name, "mail": u.email, "userPrincipalName": u.email})
}

/// The directory's 404 for a group or user that does not exist.
fn no_such_object(id: &str) -> Reply {
    Reply::error(
        404,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

/// `GET /v1.0/groups/{id}/members`: directory pages, `odata.maxpagesize` only makes them smaller.
pub(crate) fn group_members(state: &State, at: &Listing<'_>, g: &str) -> Reply {
    let d = lock(&state.data);
    let Some(group) = d.groups.iter().find(|x| x.id.eq_ignore_ascii_case(g)) else {
        return no_such_object(g);
    };
    let items: Vec<Value> = group
        .members
        .iter()
        .filter_map(|e| d.user(e))
        .map(user_json)
        .collect();
    drop(d);
    let size = at
        .max_page()
        .unwrap_or(state.config.directory_page)
        .min(state.config.directory_page.max(1));
    at.page(state, items, size)
}

/// `GET /v1.0/users/{id | userPrincipalName}`.
pub(crate) fn user(state: &State, u: &str) -> Reply {
    match lock(&state.data).user(u) {
        Some(user) => Reply::json(200, user_json(user)),
        None => no_such_object(u),
    }
}

/// `GET /v1.0/users/{id}/memberOf`: the user's groups (and a directory role for one demo user).
pub(crate) fn member_of(state: &State, at: &Listing<'_>, u: &str) -> Reply {
    let d = lock(&state.data);
    let Some(user) = d.user(u) else {
        return Reply::error(
            404,
            "Request_ResourceNotFound",
            &format!("Resource '{u}' does not exist."),
        );
    };
    let items: Vec<Value> = d
        .groups
        .iter()
        .filter(|g| g.members.contains(&user.email))
        .map(|g| json!({"@odata.type": "#microsoft.graph.group", "id": g.id, "displayName": g.display_name, "securityEnabled": true}))
        .chain(std::iter::once(json!({"@odata.type": "#microsoft.graph.directoryRole", "id": object_id("role", "reader"), "displayName": "Directory Readers"})).filter(|_| user.email.starts_with("rachel")))
        .collect();
    drop(d);
    at.page(state, items, state.config.directory_page)
}

/// `GET /v1.0/users/{id}/calendarView`: occurrences overlapping the window, earliest first; both
/// ends of the window are required.
pub(crate) fn calendar_view(state: &State, at: &Listing<'_>, u: &str) -> Reply {
    let parse = |name: &str| {
        param(at.pairs, name).and_then(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                        .ok()
                        .map(|n| n.and_utc())
                })
        })
    };
    let (Some(from), Some(to)) = (parse("startDateTime"), parse("endDateTime")) else {
        return Reply::error(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        );
    };
    let d = lock(&state.data);
    let Some(user) = d.user(u) else {
        return Reply::error(
            404,
            "ErrorInvalidUser",
            &format!("The requested user '{u}' is invalid."),
        );
    };
    let mut found: Vec<&StoredEvent> = d
        .events
        .iter()
        .filter(|e| e.owner == user.id && e.start < to && e.end > from)
        .collect();
    found.sort_by_key(|e| e.start);
    let items: Vec<Value> = found.into_iter().map(|e| e.value.clone()).collect();
    drop(d);
    let size = at
        .max_page()
        .unwrap_or(state.config.calendar_page)
        .clamp(1, 1000);
    at.page(state, items, size)
}

/// `GET /v1.0/users/{id}/events/{eventId}`: one event in that user's calendar.
pub(crate) fn event(state: &State, u: &str, e: &str) -> Reply {
    let d = lock(&state.data);
    let owner = d.user(u).map(|x| x.id.clone()).unwrap_or_default();
    match d
        .events
        .iter()
        .find(|x| x.owner == owner && x.value["id"].as_str() == Some(e))
    {
        Some(ev) => Reply::json(200, ev.value.clone()),
        None => Reply::error(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        ),
    }
}

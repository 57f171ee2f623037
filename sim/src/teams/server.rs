//! The Graph simulator's HTTP front: one dispatcher that parses the route, counts the request,
//! applies faults, checks the bearer token, admits it under the app and per-mailbox limits, runs
//! the endpoint and hides evolvable enum members unless the client asked for them. The endpoints
//! live one resource a file below `server/`; what they share (state) is in `state.rs`. Written
//! from `shared/specs/teams/` and `shared/research/teams-webex-meet.md` (sections cited in each
//! file).

mod admin;
mod limits;
mod meetings;
mod reply;
mod subscriptions;
mod token;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

use super::lock;
use super::state::State;
use reply::{Reply, query_pairs};
use users::Listing;

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// The routes served, with path parameters.
enum Route {
    Token(String),
    GroupMembers(String),
    User(String),
    MemberOf(String),
    CalendarView(String),
    Event(String, String),
    Meetings(String),
    Meeting(String, String),
    Subscriptions,
    Subscription(String),
}

/// A path's segments, each percent-decoded.
fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

impl Route {
    fn parse(s: &[&str]) -> Option<Route> {
        Some(match s {
            [tenant, "oauth2", "v2.0", "token"] => Route::Token((*tenant).into()),
            ["v1.0", "groups", g, "members"] => Route::GroupMembers((*g).into()),
            ["v1.0", "users", u] => Route::User((*u).into()),
            ["v1.0", "users", u, "memberOf"] => Route::MemberOf((*u).into()),
            ["v1.0", "users", u, "calendarView"] => Route::CalendarView((*u).into()),
            ["v1.0", "users", u, "events", e] => Route::Event((*u).into(), (*e).into()),
            ["v1.0", "users", u, "onlineMeetings"] => Route::Meetings((*u).into()),
            ["v1.0", "users", u, "onlineMeetings", m] => Route::Meeting((*u).into(), (*m).into()),
            ["v1.0", "subscriptions"] => Route::Subscriptions,
            ["v1.0", "subscriptions", id] => Route::Subscription((*id).into()),
            _ => return None,
        })
    }

    fn template(&self) -> &'static str {
        match self {
            Route::Token(_) => "/{tenant}/oauth2/v2.0/token",
            Route::GroupMembers(_) => "/v1.0/groups/{id}/members",
            Route::User(_) => "/v1.0/users/{id}",
            Route::MemberOf(_) => "/v1.0/users/{id}/memberOf",
            Route::CalendarView(_) => "/v1.0/users/{id}/calendarView",
            Route::Event(..) => "/v1.0/users/{id}/events/{eventId}",
            Route::Meetings(_) => "/v1.0/users/{id}/onlineMeetings",
            Route::Meeting(..) => "/v1.0/users/{id}/onlineMeetings/{meetingId}",
            Route::Subscriptions => "/v1.0/subscriptions",
            Route::Subscription(_) => "/v1.0/subscriptions/{id}",
        }
    }

    /// The user whose mailbox the request touches.
    fn mailbox(&self) -> Option<&str> {
        match self {
            Route::MemberOf(u)
            | Route::CalendarView(u)
            | Route::Event(u, _)
            | Route::Meetings(u)
            | Route::Meeting(u, _) => Some(u),
            _ => None,
        }
    }
}

async fn dispatch(
    AxumState(state): AxumState<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let segs = segments(&path);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    if let ["_sim", rest @ ..] = segs.as_slice()
        && path.starts_with("/_sim/")
    {
        return admin::admin(&state, &method, rest, &body).into_response(false);
    }
    let Some(route) = Route::parse(&segs) else {
        return Reply::error(
            404,
            "BadRequest",
            &format!("Resource not found for the segment '{path}'."),
        )
        .into_response(false);
    };
    let pairs = query_pairs(&uri);
    let template = route.template();
    {
        let mut st = lock(&state.stats);
        st.total_requests += 1;
        *st.requests
            .entry(format!("{method} {template}"))
            .or_default() += 1;
        if method != Method::GET && !matches!(route, Route::Token(_)) {
            st.writes += 1;
        }
    }
    // The meeting a request is about, for faults aimed at one meeting.
    let meeting_ref = match &route {
        Route::Meeting(_, m) => Some(m.clone()),
        Route::Meetings(_) => meetings::filtered_meeting(&state, &pairs),
        _ => None,
    };
    let malformed = match limits::apply_fault(
        &state,
        method.as_str(),
        template,
        meeting_ref.as_deref(),
    )
    .await
    {
        Ok(malformed) => malformed,
        Err(reply) => return reply.into_response(false),
    };
    if let Route::Token(tenant) = &route {
        return token::token(&state, tenant, &body).into_response(malformed);
    }
    if let Some(reply) = token::authorize(&state, &headers).or_else(|| limits::admit_app(&state)) {
        return reply.into_response(false);
    }
    let mailbox = route.mailbox().map(|u| {
        lock(&state.data)
            .user(u)
            .map_or_else(|| u.to_ascii_lowercase(), |x| x.id.clone())
    });
    if let Some(mb) = &mailbox
        && let Some(reply) = limits::admit(&state, mb)
    {
        return reply.into_response(false);
    }
    if mailbox.is_some() && !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let at = Listing {
        path: &path,
        pairs: &pairs,
        headers: &headers,
    };
    let mut reply = handle(&state, &method, &route, &at, &body).await;
    if let Some(mb) = &mailbox {
        limits::release(&state, mb);
    }
    if method != Method::GET && (200..300).contains(&reply.status) {
        lock(&state.stats).writes_applied += 1;
    }
    if !meetings::wants_evolvable(&headers)
        && let Some(b) = reply.body.as_mut()
    {
        meetings::hide_evolvable(b);
    }
    reply.into_response(malformed)
}

/// Runs the endpoint of an admitted, authorized request.
async fn handle(
    state: &State,
    method: &Method,
    route: &Route,
    at: &Listing<'_>,
    body: &[u8],
) -> Reply {
    match (method.as_str(), route) {
        ("GET", Route::GroupMembers(g)) => users::group_members(state, at, g),
        ("GET", Route::User(u)) => users::user(state, u),
        ("GET", Route::MemberOf(u)) => users::member_of(state, at, u),
        ("GET", Route::CalendarView(u)) => users::calendar_view(state, at, u),
        ("GET", Route::Event(u, e)) => users::event(state, u, e),
        (_, Route::Meetings(u) | Route::Meeting(u, _)) => {
            let user = match meetings::organizer(state, u) {
                Ok(user) => user,
                Err(reply) => return reply,
            };
            match (method.as_str(), route) {
                ("GET", Route::Meetings(_)) => meetings::find_by_join_url(state, &user, at.pairs),
                ("GET", Route::Meeting(_, id)) => meetings::get(state, &user, id),
                ("PATCH", Route::Meeting(_, id)) => meetings::patch(state, &user, id, body),
                _ => method_not_allowed(),
            }
        }
        ("POST", Route::Subscriptions) => subscriptions::create(state, body).await,
        ("PATCH", Route::Subscription(id)) => subscriptions::renew(state, id, body),
        ("DELETE", Route::Subscription(id)) => subscriptions::delete(state, id),
        _ => method_not_allowed(),
    }
}

fn method_not_allowed() -> Reply {
    Reply::error(405, "MethodNotAllowed", "Method not allowed.")
}

//! HTTP front of the simulator: one dispatcher that, for every request, counts it, applies
//! faults, checks the bearer token, applies the per-second limit of the route's category, runs
//! the endpoint and adds Zoom's rate-limit headers. Doing it in one place keeps the order of
//! those steps explicit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use chrono::Utc;
use serde_json::{Value, json};

use super::fault::{Fault, FaultKind};
use super::ratelimit::Admit;
use super::state::{ApiError, ApiResult, TokenCheck};
use super::{Shared, lock};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

/// The routes the simulator serves, with their path parameters.
enum Route {
    Token,
    Users,
    User(String),
    UserMeetings(String),
    UserSettings(String),
    Groups,
    GroupMembers(String),
    GroupSettings(String),
    GroupLocks(String),
    Meeting(String),
    AccountSettings(String),
    AccountLocks(String),
}

const LIGHT: &str = "Light";
const MEDIUM: &str = "Medium";

impl Route {
    fn parse(path: &str) -> Option<Route> {
        if path == "/oauth/token" {
            return Some(Route::Token);
        }
        let rest = path.strip_prefix("/v2/")?;
        let seg: Vec<String> = rest
            .trim_end_matches('/')
            .split('/')
            .map(path_decode)
            .collect();
        let s: Vec<&str> = seg.iter().map(String::as_str).collect();
        Some(match s.as_slice() {
            ["users"] => Route::Users,
            ["users", u] => Route::User((*u).into()),
            ["users", u, "meetings"] => Route::UserMeetings((*u).into()),
            ["users", u, "settings"] => Route::UserSettings((*u).into()),
            ["groups"] => Route::Groups,
            ["groups", g, "members"] => Route::GroupMembers((*g).into()),
            ["groups", g, "settings"] => Route::GroupSettings((*g).into()),
            ["groups", g, "lock_settings"] => Route::GroupLocks((*g).into()),
            ["meetings", m] => Route::Meeting((*m).into()),
            ["accounts", a, "settings"] => Route::AccountSettings((*a).into()),
            ["accounts", a, "lock_settings"] => Route::AccountLocks((*a).into()),
            _ => return None,
        })
    }

    /// The spec's path template, used in stats and fault targets.
    fn template(&self) -> &'static str {
        match self {
            Route::Token => "/oauth/token",
            Route::Users => "/v2/users",
            Route::User(_) => "/v2/users/{userId}",
            Route::UserMeetings(_) => "/v2/users/{userId}/meetings",
            Route::UserSettings(_) => "/v2/users/{userId}/settings",
            Route::Groups => "/v2/groups",
            Route::GroupMembers(_) => "/v2/groups/{groupId}/members",
            Route::GroupSettings(_) => "/v2/groups/{groupId}/settings",
            Route::GroupLocks(_) => "/v2/groups/{groupId}/lock_settings",
            Route::Meeting(_) => "/v2/meetings/{meetingId}",
            Route::AccountSettings(_) => "/v2/accounts/{accountId}/settings",
            Route::AccountLocks(_) => "/v2/accounts/{accountId}/lock_settings",
        }
    }

    /// Rate Limit Label from each operation's description in the spec.
    fn category(&self) -> &'static str {
        match self {
            Route::Meeting(_) | Route::User(_) => LIGHT,
            _ => MEDIUM,
        }
    }
}

/// A response before it becomes HTTP, so faults can mangle it.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn no_content() -> Self {
        Reply {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    fn from_result(r: ApiResult<Value>) -> Self {
        match r {
            Ok(v) => Reply::json(200, v),
            Err(e) => Reply::from(e),
        }
    }

    fn from_unit(r: ApiResult<()>) -> Self {
        match r {
            Ok(()) => Reply::no_content(),
            Err(e) => Reply::from(e),
        }
    }

    fn into_response(self, malformed: bool) -> Response {
        let (status, bytes) = match (&self.body, malformed) {
            (Some(v), false) => (self.status, serde_json::to_vec(v).unwrap_or_default()),
            (Some(v), true) => {
                let mut text = serde_json::to_string(v).unwrap_or_default();
                let keep = text.len() / 2;
                let cut = (0..=keep)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                text.truncate(cut);
                text.push_str("\u{0}<!-- upstream");
                (200, text.into_bytes())
            }
            (None, true) => (200, b"{\"code\":".to_vec()),
            (None, false) => (self.status, Vec::new()),
        };
        let mut resp = Response::new(Body::from(bytes));
        *resp.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        if self.body.is_some() || malformed {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json;charset=UTF-8"),
            );
        }
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        resp
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Reply::json(e.status, e.body)
    }
}

/// Decode `%XX` escapes and `+` (form encoding) in a query value.
fn percent_decode(s: &str) -> String {
    decode(s, true)
}

/// Decode `%XX` escapes in a path segment (`+` stays literal, as in `a+b@example.org`).
fn path_decode(s: &str) -> String {
    decode(s, false)
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(s: Option<&str>) -> HashMap<String, String> {
    s.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    )
}

/// Faults that apply to this request, with their counts consumed.
#[derive(Default)]
struct FaultEffects {
    status: Option<u16>,
    delay: Option<Duration>,
    delay_answer: Option<Duration>,
    malformed: bool,
    /// Cut a read's 2xx body short (fault.rs `TruncatedBody`).
    truncated: bool,
    actions: Vec<FaultKind>,
    fired: bool,
}

fn take_faults(
    shared: &Shared,
    method: &str,
    template: &str,
    meeting_id: Option<u64>,
) -> FaultEffects {
    let mut fx = FaultEffects::default();
    let mut faults = lock(&shared.faults);
    for f in faults.iter_mut() {
        if f.remaining == Some(0)
            || !f.fault.matches(method, template, meeting_id)
            || f.lets_through()
        {
            continue;
        }
        if let Some(n) = f.remaining.as_mut() {
            *n -= 1;
        }
        fx.fired = true;
        match &f.fault.kind {
            FaultKind::Status { status } => {
                fx.status.get_or_insert(*status);
            }
            FaultKind::Delay { ms } => {
                fx.delay = Some(fx.delay.unwrap_or_default() + Duration::from_millis(*ms))
            }
            FaultKind::DelayAnswer { ms } => {
                fx.delay_answer =
                    Some(fx.delay_answer.unwrap_or_default() + Duration::from_millis(*ms))
            }
            FaultKind::MalformedJson => fx.malformed = true,
            FaultKind::TruncatedBody => fx.truncated = true,
            other => fx.actions.push(other.clone()),
        }
    }
    faults.retain(|f| f.remaining != Some(0));
    fx
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if let Some(rest) = path.strip_prefix("/_sim/") {
        return admin(&shared, &method, rest, &body).into_response(false);
    }
    let query = parse_form(uri.query());
    let route = Route::parse(&path);
    let template = route.as_ref().map_or("UNKNOWN", Route::template);
    let meeting_id = match &route {
        Some(Route::Meeting(id)) => id.parse::<u64>().ok(),
        _ => None,
    };
    {
        let mut st = lock(&shared.stats);
        st.total_requests += 1;
        *st.requests
            .entry(format!("{method} {template}"))
            .or_default() += 1;
        if is_write(&method) && path.starts_with("/v2/") {
            st.writes += 1;
        }
    }

    let fx = take_faults(&shared, method.as_str(), template, meeting_id);
    if fx.fired {
        lock(&shared.stats).faults_fired += 1;
    }
    for action in &fx.actions {
        shared.apply_action(action);
    }
    if let Some(delay) = fx.delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = fx.status {
        let mut reply = Reply::json(
            status,
            json!({"code": status, "message": "Simulated fault."}),
        );
        if status == 429 {
            reply.headers.push(("retry-after", "1".into()));
            reply.headers.push(("x-ratelimit-type", "QPS".into()));
        }
        return reply.into_response(false);
    }

    let reply = match route {
        Some(Route::Token) => token(&shared, &method, &query, &headers, &body),
        _ => api(&shared, &method, route, &query, &headers, &body),
    };
    if is_write(&method) && path.starts_with("/v2/") && (200..300).contains(&reply.status) {
        let mut st = lock(&shared.stats);
        st.writes_applied += 1;
        if let Some(id) = meeting_id {
            // An occurrence's own write (`?occurrence_id=`, zoom.md §2) is a write of that
            // occurrence, counted apart from its series'.
            let key = match query.get("occurrence_id") {
                Some(occurrence) => format!("{id}?occurrence_id={occurrence}"),
                None => id.to_string(),
            };
            *st.meeting_writes_applied.entry(key).or_default() += 1;
        }
    }
    if let Some(delay) = fx.delay_answer {
        tokio::time::sleep(delay).await;
    }
    if fx.truncated && (200..300).contains(&reply.status) {
        return cut_short_response(reply.into_response(fx.malformed)).await;
    }
    reply.into_response(fx.malformed)
}

/// The same answer with its body cut short (fault.rs `TruncatedBody`).
async fn cut_short_response(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(super::fault::cut_short(&bytes)))
}

fn oauth_error(status: u16, error: &str, reason: &str) -> Reply {
    Reply::json(status, json!({ "reason": reason, "error": error }))
}

/// `POST /oauth/token?grant_type=account_credentials&account_id=…` with
/// `Authorization: Basic base64(client_id:client_secret)`; the form-body variant is accepted too
/// (research/zoom.md §4.1). Error bodies follow Zoom's `{reason, error}` form; the exact
/// reason texts are assumptions.
fn token(
    shared: &Shared,
    method: &Method,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    lock(&shared.stats).token_requests += 1;
    if *method != Method::POST {
        return oauth_error(405, "invalid_request", "Method not allowed; use POST.");
    }
    let mut params = query.clone();
    if let Ok(text) = std::str::from_utf8(body) {
        for (k, v) in parse_form(Some(text)) {
            params.entry(k).or_insert(v);
        }
    }
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let ok = creds
        .as_deref()
        .and_then(|c| c.split_once(':'))
        .is_some_and(|(id, secret)| {
            id == shared.config.client_id && secret == shared.config.client_secret
        });
    if !ok {
        return oauth_error(401, "invalid_client", "Invalid client_id or client_secret");
    }
    match params.get("grant_type").map(String::as_str) {
        Some("account_credentials") => {}
        Some(_) => return oauth_error(400, "unsupported_grant_type", "unsupported grant type"),
        None => return oauth_error(400, "invalid_request", "Missing grant type"),
    }
    if params.get("account_id").map(String::as_str) != Some(shared.account_id.as_str()) {
        return oauth_error(
            400,
            "invalid_request",
            "Invalid request : Account does not exist or does not belong to you.",
        );
    }
    let ttl = shared.config.token_ttl;
    let token = lock(&shared.state).issue_token(ttl, Instant::now());
    lock(&shared.stats).tokens_issued += 1;
    Reply::json(
        200,
        json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": ttl.as_secs(),
            "scope": "meeting:read:admin meeting:write:admin user:read:admin user:write:admin group:read:admin group:write:admin account:read:admin",
            "api_url": format!("http://{}", shared.addr),
        }),
    )
}

fn unauthorized(shared: &Shared, message: &str) -> Reply {
    lock(&shared.stats).unauthorized += 1;
    Reply::json(401, json!({"code": 124, "message": message}))
}

fn page_size(query: &HashMap<String, String>, max: usize) -> ApiResult<usize> {
    match query.get("page_size") {
        None => Ok(30),
        Some(s) => match s.parse::<usize>() {
            // Values above the maximum are capped (assumption: Zoom caps rather than rejects).
            Ok(n) if n >= 1 => Ok(n.min(max)),
            _ => Err(ApiError::validation(vec![
                json!({"field": "page_size", "message": "Invalid field."}),
            ])),
        },
    }
}

fn api(
    shared: &Shared,
    method: &Method,
    route: Option<Route>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    // 1. Authentication.
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(bearer) = bearer else {
        return unauthorized(shared, "Invalid access token.");
    };
    match lock(&shared.state).check_token(bearer, Instant::now()) {
        TokenCheck::Valid => {}
        TokenCheck::Expired => return unauthorized(shared, "Access token is expired."),
        TokenCheck::Invalid => return unauthorized(shared, "Invalid access token."),
    }
    let Some(route) = route else {
        return Reply::json(
            404,
            json!({"code": 2300, "message": "This API endpoint is not recognized."}),
        );
    };

    // 2. Per-second limit of the route's category.
    let category = route.category();
    let limit = if category == LIGHT {
        shared.config.light_per_second
    } else {
        shared.config.medium_per_second
    };
    *lock(&shared.stats)
        .by_category
        .entry(category.into())
        .or_default() += 1;
    let admitted = lock(&shared.limiter).admit(category, limit, Instant::now());
    let remaining = match admitted {
        Admit::Yes(r) => r,
        Admit::No => {
            *lock(&shared.stats)
                .rate_limited
                .entry(category.into())
                .or_default() += 1;
            let mut reply = Reply::json(
                429,
                json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."}),
            );
            // Retry-After in seconds (Zoom's docs show an HTTP timestamp for daily limits; for a
            // one-second window, "1" is the honest answer and a client must accept both forms).
            reply.headers = vec![
                ("x-ratelimit-category", category.into()),
                ("x-ratelimit-type", "QPS".into()),
                ("x-ratelimit-limit", limit.unwrap_or(0).to_string()),
                ("x-ratelimit-remaining", "0".into()),
                ("retry-after", "1".into()),
            ];
            return reply;
        }
    };

    // 3. The endpoint.
    let mut reply = endpoint(shared, method, route, query, body);
    if reply.status == 429 {
        // Per-host daily limit: seen in the wild with only the category header (research §5).
        lock(&shared.stats).daily_limited += 1;
        reply
            .headers
            .push(("x-ratelimit-category", category.into()));
        return reply;
    }
    reply
        .headers
        .push(("x-ratelimit-category", category.into()));
    if let (Some(limit), Some(rem)) = (limit, remaining) {
        reply.headers.push(("x-ratelimit-limit", limit.to_string()));
        reply
            .headers
            .push(("x-ratelimit-remaining", rem.to_string()));
    }
    reply
}

fn endpoint(
    shared: &Shared,
    method: &Method,
    route: Route,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Reply {
    let ttl = shared.config.page_token_ttl;
    let now = Instant::now();
    let wall = Utc::now();
    let q = |k: &str| query.get(k).map(String::as_str);
    let mut st = lock(&shared.state);
    let not_allowed = || Reply::json(405, json!({"code": 405, "message": "Method not allowed."}));
    match (method.clone(), route) {
        (Method::GET, Route::Users) => match page_size(query, 2000) {
            Ok(n) => Reply::from_result(st.list_users(
                q("status").unwrap_or("active"),
                n,
                q("next_page_token"),
                ttl,
                now,
            )),
            Err(e) => e.into(),
        },
        (Method::GET, Route::User(u)) => Reply::from_result(st.get_user(&u)),
        (Method::GET, Route::UserMeetings(u)) => match page_size(query, 300) {
            Ok(n) => Reply::from_result(st.list_meetings(
                &u,
                q("type").unwrap_or("scheduled"),
                n,
                q("next_page_token"),
                ttl,
                now,
                wall,
            )),
            Err(e) => e.into(),
        },
        (Method::GET, Route::UserSettings(u)) => {
            Reply::from_result(st.get_user_settings(&u, q("option"), q("custom_query_fields")))
        }
        (Method::PATCH, Route::UserSettings(u)) => {
            Reply::from_unit(st.patch_user_settings(&u, q("option"), body))
        }
        (Method::GET, Route::Groups) => match page_size(query, 300) {
            Ok(n) => Reply::from_result(st.list_groups(n, q("next_page_token"), ttl, now)),
            Err(e) => e.into(),
        },
        (Method::GET, Route::GroupMembers(g)) => match page_size(query, 2000) {
            Ok(n) => {
                Reply::from_result(st.list_group_members(&g, n, q("next_page_token"), ttl, now))
            }
            Err(e) => e.into(),
        },
        (Method::GET, Route::GroupSettings(g)) => {
            Reply::from_result(st.get_group_settings(&g, q("option")))
        }
        (Method::PATCH, Route::GroupSettings(g)) => {
            Reply::from_unit(st.patch_group_settings(&g, body))
        }
        (Method::GET, Route::GroupLocks(g)) => {
            Reply::from_result(st.get_group_locks(&g, q("option")))
        }
        (Method::PATCH, Route::GroupLocks(g)) => Reply::from_unit(st.patch_group_locks(&g, body)),
        // `meetingId` is `integer` (`int64`) in meetings.openapi.json (GET/PATCH
        // /meetings/{meetingId}), so a path that is not one fails validation.
        // ASSUMPTION: Zoom's answer is 400 with code 300 (its code for an invalid parameter); the
        // spec lists no response for it.
        (_, Route::Meeting(m)) if m.parse::<u64>().is_err() => Reply::json(
            400,
            json!({"code": 300, "message": format!("Invalid meeting id: {m}.")}),
        ),
        (Method::GET, Route::Meeting(m)) => {
            Reply::from_result(st.get_meeting(&m, q("occurrence_id")))
        }
        (Method::PATCH, Route::Meeting(m)) => Reply::from_unit(st.patch_meeting(
            &m,
            q("occurrence_id"),
            body,
            shared.config.meeting_updates_per_host_per_day,
            wall.date_naive(),
            wall,
        )),
        (Method::GET, Route::AccountSettings(a)) => {
            Reply::from_result(st.get_account_settings(&a, q("option")))
        }
        (Method::PATCH, Route::AccountSettings(a)) => {
            Reply::from_unit(st.patch_account_settings(&a, body))
        }
        (Method::GET, Route::AccountLocks(a)) => {
            Reply::from_result(st.get_account_locks(&a, q("option")))
        }
        (Method::PATCH, Route::AccountLocks(a)) => {
            Reply::from_unit(st.patch_account_locks(&a, body))
        }
        _ => not_allowed(),
    }
}

/// `/_sim/` admin requests (see the module docs of `zoom`).
fn admin(shared: &Shared, method: &Method, rest: &str, body: &[u8]) -> Reply {
    let parts: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(path_decode)
        .collect();
    let p: Vec<&str> = parts.iter().map(String::as_str).collect();
    let bad = |m: String| Reply::json(400, json!({"code": 400, "message": m}));
    match (method.clone(), p.as_slice()) {
        (Method::GET, ["info"]) => Reply::json(
            200,
            json!({
                "api_base_url": format!("http://{}/v2", shared.addr),
                "token_url": format!("http://{}/oauth/token", shared.addr),
                "account_id": shared.account_id,
                "client_id": shared.config.client_id,
                "client_secret": shared.config.client_secret,
            }),
        ),
        (Method::GET, ["stats"]) => match serde_json::to_value(shared.stats()) {
            Ok(v) => Reply::json(200, v),
            Err(e) => Reply::json(500, json!({"code": 500, "message": e.to_string()})),
        },
        (Method::POST, ["faults"]) => match serde_json::from_slice::<Fault>(body) {
            Ok(f) => {
                shared.inject(f);
                Reply::no_content()
            }
            Err(e) => bad(format!("Invalid fault: {e}")),
        },
        // A second, unseen app on the account takes all but this fraction of every limit
        // (ratelimit.rs): `{"allowed_fraction": 0.1}`.
        (Method::POST, ["other_app"]) => {
            match serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("allowed_fraction").and_then(Value::as_f64))
            {
                Some(f) if f > 0.0 && f <= 1.0 => {
                    lock(&shared.limiter).set_allowed_fraction(f);
                    Reply::no_content()
                }
                _ => bad("Expected {\"allowed_fraction\": a number above 0 and at most 1}".into()),
            }
        }
        (Method::DELETE, ["faults"]) => {
            lock(&shared.faults).clear();
            Reply::no_content()
        }
        (Method::POST, ["revoke"]) => {
            lock(&shared.state).revoke_tokens();
            Reply::no_content()
        }
        (Method::POST, ["reset_daily"]) => {
            lock(&shared.state).reset_daily_limits();
            Reply::no_content()
        }
        (Method::GET, ["meetings", id]) => {
            match id
                .parse::<u64>()
                .ok()
                .and_then(|n| lock(&shared.state).meeting_value(n))
            {
                Some(v) => Reply::json(200, v),
                None => Reply::json(
                    404,
                    json!({"code": 3001, "message": format!("Meeting does not exist: {id}.")}),
                ),
            }
        }
        (Method::PATCH, ["meetings", id]) => {
            let Ok(n) = id.parse::<u64>() else {
                return bad(format!("Invalid meeting id: {id}"));
            };
            let Ok(v) = serde_json::from_slice::<Value>(body) else {
                return bad("Body must be {\"pointer\": ..., \"value\": ...}".into());
            };
            let Some(pointer) = v.get("pointer").and_then(Value::as_str) else {
                return bad("Missing pointer".into());
            };
            let value = v.get("value").cloned().unwrap_or(Value::Null);
            if lock(&shared.state).set_meeting_field(n, pointer, value) {
                Reply::no_content()
            } else {
                Reply::json(
                    404,
                    json!({"code": 3001, "message": format!("Meeting does not exist: {id}.")}),
                )
            }
        }
        (Method::GET, ["users", u, "settings"]) => match lock(&shared.state).user_settings_value(u)
        {
            Some(v) => Reply::json(200, v),
            None => Reply::json(
                404,
                json!({"code": 1001, "message": format!("User does not exist: {u}.")}),
            ),
        },
        _ => Reply::json(
            404,
            json!({"code": 404, "message": "Unknown simulator admin request."}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_emails_and_plus() {
        assert_eq!(percent_decode("a%40b.org"), "a@b.org");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn routes_map_to_spec_templates_and_labels() {
        let r = Route::parse("/v2/meetings/9007199254740993").unwrap();
        assert_eq!(r.template(), "/v2/meetings/{meetingId}");
        assert_eq!(r.category(), LIGHT);
        let r = Route::parse("/v2/users/me/settings").unwrap();
        assert_eq!(r.category(), MEDIUM);
        assert!(Route::parse("/v2/nope").is_none());
    }
}

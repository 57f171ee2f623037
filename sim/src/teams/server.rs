//! The Graph simulator's state and HTTP front: one dispatcher that counts each request, applies
//! faults, checks the bearer token, admits it under the per-mailbox limits, runs the endpoint and
//! hides evolvable enum members unless the client asked for them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::fault::{AppRateLimit, GraphFault, GraphFaultKind};
use super::scenario::{TeamsGroup, TeamsScenario, TeamsUser, digest, meeting_id, object_id};
use super::{GraphSimStats, TeamsSimConfig, TeamsSimInfo, lock};

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

/// Longest subscription lifetime for Outlook events: 10,080 minutes (§1.5, ASSUMPTION: the
/// current figure of the secondary sources).
const MAX_SUBSCRIPTION_MINUTES: i64 = 10_080;

struct StoredMeeting {
    organizer: String,
    value: Value,
    policy_held: Vec<String>,
}

struct StoredEvent {
    owner: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    value: Value,
}

struct Data {
    users: Vec<TeamsUser>,
    groups: Vec<TeamsGroup>,
    meetings: BTreeMap<String, StoredMeeting>,
    events: Vec<StoredEvent>,
    tokens: HashMap<String, Instant>,
    subscriptions: BTreeMap<String, Value>,
    counter: u64,
}

impl Data {
    fn user(&self, id_or_upn: &str) -> Option<&TeamsUser> {
        self.users.iter().find(|u| {
            u.id.eq_ignore_ascii_case(id_or_upn) || u.email.eq_ignore_ascii_case(id_or_upn)
        })
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

/// Everything the handlers share.
pub(crate) struct State {
    pub addr: SocketAddr,
    pub config: TeamsSimConfig,
    pub tenant_id: String,
    pub staff_group: String,
    data: Mutex<Data>,
    stats: Mutex<GraphSimStats>,
    faults: Mutex<Vec<(GraphFault, Option<u32>)>>,
    in_flight: Mutex<HashMap<String, u64>>,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Requests a second left to this app in the tenant (fault.rs `AppRateLimit`).
    app_limit: Mutex<AppRateLimit>,
    client: reqwest::Client,
}

fn graph_time(t: DateTime<Utc>) -> String {
    // Graph writes seven fractional digits (`2026-11-24T17:00:00.0000000`).
    format!(
        "{}.{:07}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        chrono::Timelike::nanosecond(&t) / 100
    )
}

fn identity(u: &TeamsUser, tenant: &str) -> Value {
    json!({"user": {"id": u.id, "displayName": u.display_name, "tenantId": tenant}})
}

fn build(scenario: &TeamsScenario) -> Data {
    let tenant = &scenario.tenant_id;
    let mut meetings = BTreeMap::new();
    let mut events = Vec::new();
    for m in &scenario.meetings {
        let Some(org) = scenario.users.iter().find(|u| u.email == m.organizer) else {
            tracing::warn!(organizer = %m.organizer, "meeting organizer is not a user; skipped");
            continue;
        };
        let id = meeting_id(&org.id, &m.subject);
        let thread = format!("19:meeting_{:016x}@thread.v2", digest(4, &id));
        let join_url = format!(
            "https://teams.microsoft.com/l/meetup-join/{}/0?context=%7b%22Tid%22%3a%22{tenant}%22%2c%22Oid%22%3a%22{}%22%7d",
            thread.replace(':', "%3a").replace('@', "%40"),
            org.id
        );
        let end = m.start + chrono::Duration::minutes(i64::from(m.minutes));
        let attendees: Vec<Value> = m
            .attendees
            .iter()
            .filter_map(|(email, role)| {
                let u = scenario.users.iter().find(|u| &u.email == email)?;
                Some(json!({"upn": u.email, "role": role, "identity": identity(u, tenant)}))
            })
            .collect();
        let mut value = json!({
            "@odata.type": "#microsoft.graph.onlineMeeting",
            "id": id,
            "creationDateTime": (m.start - chrono::Duration::days(14)).to_rfc3339(),
            "startDateTime": m.start.to_rfc3339(),
            "endDateTime": end.to_rfc3339(),
            "expiryDateTime": (m.start + chrono::Duration::days(60 + 7 * i64::from(m.weekly))).to_rfc3339(),
            "joinWebUrl": join_url,
            "subject": m.subject,
            "meetingType": if m.weekly > 1 { "recurring" } else { "scheduled" },
            "isBroadcast": false,
            "isEntryExitAnnounced": true,
            "allowedPresenters": "everyone",
            "allowMeetingChat": "enabled",
            "allowTeamworkReactions": true,
            "allowAttendeeToEnableCamera": true,
            "allowAttendeeToEnableMic": true,
            // Recording and transcription are allowed unless someone turns them off: the CSDL
            // (`specs/teams/onlineMeeting-excerpt.v1.0.csdl.xml`, onlineMeetingBase) types
            // `allowRecording`, `allowTranscription` and `recordAutomatically` as Edm.Boolean
            // without a default; research §1.2 "Recording" and §1.3 (tenant policy
            // `AllowCloudRecording`/`AllowTranscription`) describe Teams as allowing both unless
            // a policy or the organizer turns them off. ASSUMPTION: a meeting created without
            // them reads back `true`, `true`, `false`.
            "allowRecording": true,
            "recordAutomatically": false,
            "allowTranscription": true,
            "allowedLobbyAdmitters": "organizerAndCoOrganizersAndPresenters",
            "allowBreakoutRooms": true,
            "allowPowerPointSharing": true,
            "allowWhiteboard": true,
            "allowLiveShare": "enabled",
            "allowCopyingAndSharingMeetingContent": true,
            "allowParticipantsToChangeName": false,
            "shareMeetingChatHistoryDefault": "all",
            "lobbyBypassSettings": {"scope": "organization", "isDialInBypassEnabled": false},
            "chatRestrictions": {"allowTextOnly": false},
            "chatInfo": {"threadId": thread, "messageId": "0", "replyChainMessageId": null},
            "participants": {
                "organizer": {"upn": org.email, "role": "presenter", "identity": identity(org, tenant)},
                "attendees": attendees,
            },
        });
        if let Some(required) = m.passcode_required {
            value["joinMeetingIdSettings"] = json!({
                "isPasscodeRequired": required,
                "joinMeetingId": format!("{}", 300_000_000_000u64 + digest(5, &id) % 99_999_999_999),
                "passcode": if required { Value::from(format!("{:06x}", digest(6, &id) % 0xff_ffff)) } else { Value::Null },
            });
        }
        if let (Some(o), Some(extra)) = (value.as_object_mut(), m.settings.as_object()) {
            for (k, v) in extra {
                o.insert(k.clone(), v.clone());
            }
        }
        let series = (m.weekly > 1).then(|| format!("AAMkAGs{:x}", digest(7, &id)));
        for k in 0..m.weekly {
            let start = m.start + chrono::Duration::days(7 * i64::from(k));
            let end = start + chrono::Duration::minutes(i64::from(m.minutes));
            let owners: Vec<(&TeamsUser, bool)> = std::iter::once((org, true))
                .chain(m.attendees.iter().filter_map(|(email, _)| {
                    scenario
                        .users
                        .iter()
                        .find(|u| &u.email == email)
                        .map(|u| (u, false))
                }))
                .collect();
            for (owner, is_organizer) in owners {
                let event_id = format!("AAMkAGe{:x}", digest(8, &format!("{id}{k}{}", owner.id)));
                events.push(StoredEvent {
                    owner: owner.id.clone(),
                    start,
                    end,
                    value: json!({
                        "id": event_id,
                        "subject": m.subject,
                        "start": {"dateTime": graph_time(start), "timeZone": "UTC"},
                        "end": {"dateTime": graph_time(end), "timeZone": "UTC"},
                        "isOnlineMeeting": true,
                        "onlineMeetingProvider": "teamsForBusiness",
                        "onlineMeeting": {"joinUrl": value["joinWebUrl"].clone(), "conferenceId": "123456789"},
                        "isOrganizer": is_organizer,
                        "isCancelled": false,
                        "type": if series.is_some() { "occurrence" } else { "singleInstance" },
                        "seriesMasterId": series.clone(),
                        "organizer": {"emailAddress": {"name": org.display_name, "address": org.email}},
                    }),
                });
            }
        }
        // Something that is not a Teams meeting in the organizer's calendar.
        let lunch = m.start - chrono::Duration::hours(3);
        events.push(StoredEvent {
            owner: org.id.clone(),
            start: lunch,
            end: lunch + chrono::Duration::hours(1),
            value: json!({
                "id": format!("AAMkAGl{:x}", digest(9, &id)),
                "subject": "Lunch",
                "start": {"dateTime": graph_time(lunch), "timeZone": "UTC"},
                "end": {"dateTime": graph_time(lunch + chrono::Duration::hours(1)), "timeZone": "UTC"},
                "isOnlineMeeting": false,
                "onlineMeetingProvider": "unknown",
                "onlineMeeting": null,
                "isOrganizer": true,
                "type": "singleInstance",
            }),
        });
        meetings.insert(
            id,
            StoredMeeting {
                organizer: org.id.clone(),
                value,
                policy_held: m.policy_held.clone(),
            },
        );
    }
    Data {
        users: scenario.users.clone(),
        groups: scenario.groups.clone(),
        meetings,
        events,
        tokens: HashMap::new(),
        subscriptions: BTreeMap::new(),
        counter: 0,
    }
}

impl State {
    pub(crate) fn new(addr: SocketAddr, config: TeamsSimConfig, scenario: TeamsScenario) -> State {
        State {
            addr,
            tenant_id: scenario.tenant_id.clone(),
            staff_group: scenario.staff_group.clone(),
            data: Mutex::new(build(&scenario)),
            config,
            stats: Mutex::new(GraphSimStats::default()),
            faults: Mutex::new(Vec::new()),
            in_flight: Mutex::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
            app_limit: Mutex::new(AppRateLimit::default()),
            client: reqwest::Client::new(),
        }
    }

    pub(crate) fn stats(&self) -> GraphSimStats {
        lock(&self.stats).clone()
    }

    pub(crate) fn inject(&self, fault: GraphFault) {
        if fault.is_action() && fault.times.is_none() {
            self.revoke_tokens();
            return;
        }
        let times = fault.times;
        lock(&self.faults).push((fault, times));
    }

    /// Another app of the tenant leaves this one `per_second` requests a second (`None`: no
    /// app-wide limit).
    pub(crate) fn set_app_rate_limit(&self, per_second: Option<u32>) {
        lock(&self.app_limit).set(per_second);
    }

    pub(crate) fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    pub(crate) fn revoke_tokens(&self) {
        lock(&self.data).tokens.clear();
    }

    pub(crate) fn meeting_list(&self) -> Vec<(String, String, String)> {
        let d = lock(&self.data);
        d.meetings
            .iter()
            .map(|(id, m)| {
                let email = d
                    .user(&m.organizer)
                    .map(|u| u.email.clone())
                    .unwrap_or_default();
                let subject = m.value["subject"].as_str().unwrap_or_default().to_string();
                (id.clone(), email, subject)
            })
            .collect()
    }

    pub(crate) fn meeting_value(&self, id: &str) -> Option<Value> {
        lock(&self.data).meetings.get(id).map(|m| m.value.clone())
    }

    pub(crate) fn set_property(&self, id: &str, property: &str, value: Value) -> bool {
        let mut d = lock(&self.data);
        match d.meetings.get_mut(id).and_then(|m| m.value.as_object_mut()) {
            Some(o) => {
                o.insert(property.into(), value);
                true
            }
            None => false,
        }
    }

    /// The meeting's next occurrence (the first that has not ended) now started a minute ago,
    /// keeping its length, in the onlineMeeting's times (a one-off meeting) and in every
    /// calendar's copy of the event: what the world looks like when a meeting starts after a
    /// collect read it. Graph has no "started" status on an onlineMeeting (CSDL), only times.
    pub(crate) fn start_now(&self, id: &str) -> bool {
        let mut d = lock(&self.data);
        let now = Utc::now();
        let Some(m) = d.meetings.get_mut(id) else {
            return false;
        };
        let join = m.value["joinWebUrl"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let series = m.value["meetingType"].as_str() == Some("recurring");
        let next = d
            .events
            .iter()
            .filter(|e| e.value["onlineMeeting"]["joinUrl"].as_str() == Some(join.as_str()))
            .filter(|e| e.end > now)
            .map(|e| (e.start, e.end))
            .min();
        let Some((start, end)) = next else {
            return false;
        };
        let new_start = now - chrono::Duration::minutes(1);
        let new_end = new_start + (end - start);
        if !series && let Some(m) = d.meetings.get_mut(id) {
            m.value["startDateTime"] = json!(new_start.to_rfc3339());
            m.value["endDateTime"] = json!(new_end.to_rfc3339());
        }
        for e in d.events.iter_mut().filter(|e| {
            e.start == start && e.value["onlineMeeting"]["joinUrl"].as_str() == Some(join.as_str())
        }) {
            e.start = new_start;
            e.end = new_end;
            e.value["start"] = json!({"dateTime": graph_time(new_start), "timeZone": "UTC"});
            e.value["end"] = json!({"dateTime": graph_time(new_end), "timeZone": "UTC"});
        }
        true
    }

    pub(crate) fn subscription_list(&self) -> Vec<Value> {
        lock(&self.data).subscriptions.values().cloned().collect()
    }

    fn info(&self) -> TeamsSimInfo {
        TeamsSimInfo {
            graph_base_url: format!("http://{}/v1.0", self.addr),
            token_url: format!("http://{}/{}/oauth2/v2.0/token", self.addr, self.tenant_id),
            tenant_id: self.tenant_id.clone(),
            client_id: self.config.client_id.clone(),
            client_secret: self.config.client_secret.clone(),
            staff_group_id: self.staff_group.clone(),
        }
    }

    /// Takes the first fault matching the request, counting it down.
    fn take_fault(
        &self,
        method: &str,
        template: &str,
        meeting: Option<&str>,
    ) -> Option<GraphFaultKind> {
        let mut faults = lock(&self.faults);
        let i = faults
            .iter()
            .position(|(f, _)| f.matches(method, template, meeting))?;
        let kind = faults[i].0.kind.clone();
        if let Some(n) = faults[i].1.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                faults.remove(i);
            }
        }
        lock(&self.stats).faults_fired += 1;
        Some(kind)
    }
}

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

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let segs: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        Some(match s.as_slice() {
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

struct Reply {
    status: u16,
    body: Option<Value>,
    text: Option<String>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            text: None,
            headers: Vec::new(),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            text: None,
            headers: Vec::new(),
        }
    }

    fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"error": {
                "code": code,
                "message": message,
                "innerError": {"date": Utc::now().to_rfc3339(), "request-id": "00000000-0000-0000-0000-000000000000"}
            }}),
        )
    }

    fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    fn into_response(self, malformed: bool) -> Response {
        let (status, bytes, content_type) = match (&self.body, &self.text, malformed) {
            (Some(v), _, true) => {
                let text = v.to_string();
                let cut = (0..=text.len() / 2)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                (
                    200,
                    format!("{}\u{0}<!--", &text[..cut]).into_bytes(),
                    Some("application/json"),
                )
            }
            (Some(v), _, false) => (
                self.status,
                v.to_string().into_bytes(),
                Some(
                    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
                ),
            ),
            (None, Some(t), _) => (self.status, t.clone().into_bytes(), Some("text/plain")),
            (None, None, true) => (200, b"{\"value\":[".to_vec(), Some("application/json")),
            (None, None, false) => (self.status, Vec::new(), None),
        };
        let mut resp = Response::new(Body::from(bytes));
        *resp.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        if let Some(ct) = content_type
            && let Ok(v) = HeaderValue::from_str(ct)
        {
            h.insert(header::CONTENT_TYPE, v);
        }
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        resp
    }
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
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
fn hide_evolvable(v: &mut Value) {
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

/// One page of a collection with an `@odata.nextLink` when more remain.
fn page(
    state: &State,
    path: &str,
    pairs: &[(String, String)],
    items: Vec<Value>,
    page_size: usize,
) -> Reply {
    let skip = param(pairs, "$skiptoken")
        .and_then(|t| t.strip_prefix("o"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (skip + page_size).min(items.len());
    let value: Vec<Value> = items
        .get(skip..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{}", path.trim_start_matches("/v1.0/")),
        "value": value,
    });
    if end < items.len() {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "$skiptoken") {
            q.append_pair(k, v);
        }
        q.append_pair("$skiptoken", &format!("o{end}"));
        body["@odata.nextLink"] = json!(format!("http://{}{path}?{}", state.addr, q.finish()));
    }
    Reply::json(200, body)
}

fn max_page(headers: &HeaderMap) -> Option<usize> {
    let prefer = headers.get("prefer")?.to_str().ok()?;
    prefer.split(',').find_map(|p| {
        p.trim()
            .strip_prefix("odata.maxpagesize=")
            .and_then(|n| n.trim().parse::<usize>().ok())
    })
}

fn wants_evolvable(headers: &HeaderMap) -> bool {
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

async fn dispatch(
    AxumState(state): AxumState<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if let Some(rest) = path.strip_prefix("/_sim/") {
        return admin(&state, &method, rest, &body).into_response(false);
    }
    let Some(route) = Route::parse(&path) else {
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
        Route::Meetings(_) => param(&pairs, "$filter")
            .and_then(join_url_filter)
            .and_then(|url| {
                lock(&state.data)
                    .meetings
                    .iter()
                    .find(|(_, m)| m.value["joinWebUrl"].as_str() == Some(url.as_str()))
                    .map(|(id, _)| id.clone())
            }),
        _ => None,
    };
    let mut malformed = false;
    match state.take_fault(method.as_str(), template, meeting_ref.as_deref()) {
        Some(GraphFaultKind::Status { status }) => {
            return Reply::error(status, "UnknownError", "Simulated failure.").into_response(false);
        }
        Some(GraphFaultKind::Throttle { retry_after_secs }) => {
            lock(&state.stats).throttled += 1;
            return Reply::error(429, "TooManyRequests", "Too many requests (simulated).")
                .with_header("retry-after", retry_after_secs.to_string())
                .into_response(false);
        }
        Some(GraphFaultKind::Delay { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Some(GraphFaultKind::MalformedJson) => malformed = true,
        Some(GraphFaultKind::RevokeTokens) => state.revoke_tokens(),
        None => {}
    }
    if let Route::Token(tenant) = &route {
        return token(&state, tenant, &body).into_response(malformed);
    }
    // Bearer token.
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let valid = bearer.is_some_and(|t| {
        lock(&state.data)
            .tokens
            .get(t)
            .is_some_and(|exp| *exp > Instant::now())
    });
    if !valid {
        lock(&state.stats).unauthorized += 1;
        return Reply::error(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        )
        .into_response(false);
    }
    // The app's limit in this tenant (another app takes the rest; fault.rs `AppRateLimit`).
    if let Err(wait) = lock(&state.app_limit).admit(Instant::now()) {
        lock(&state.stats).throttled += 1;
        return Reply::error(429, "TooManyRequests", "Please retry again later.")
            .with_header("retry-after", wait.to_string())
            .into_response(false);
    }
    // Per-mailbox limits.
    let mailbox = route.mailbox().map(|u| {
        lock(&state.data)
            .user(u)
            .map_or_else(|| u.to_ascii_lowercase(), |x| x.id.clone())
    });
    if let Some(mb) = &mailbox
        && let Some(reply) = admit(&state, mb)
    {
        return reply.into_response(false);
    }
    if mailbox.is_some() && !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let mut reply = handle(&state, &method, &route, &path, &pairs, &headers, &body).await;
    if let Some(mb) = &mailbox {
        let mut f = lock(&state.in_flight);
        if let Some(n) = f.get_mut(mb) {
            *n = n.saturating_sub(1);
        }
    }
    if method != Method::GET && (200..300).contains(&reply.status) {
        lock(&state.stats).writes_applied += 1;
    }
    if !wants_evolvable(&headers)
        && let Some(b) = reply.body.as_mut()
    {
        hide_evolvable(b);
    }
    reply.into_response(malformed)
}

/// Admits a request to a mailbox, or answers 429 (§1.6: 4 concurrent, N per window).
fn admit(state: &State, mailbox: &str) -> Option<Reply> {
    let throttled = |message: &str, wait: u64| {
        lock(&state.stats).throttled += 1;
        Some(
            Reply::error(429, "ApplicationThrottled", message)
                .with_header("retry-after", wait.max(1).to_string()),
        )
    };
    if let Some((limit, window)) = state.config.mailbox_requests {
        let mut windows = lock(&state.windows);
        let q = windows.entry(mailbox.to_string()).or_default();
        let now = Instant::now();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            let wait = q.front().map_or(1, |t| {
                (window.saturating_sub(now.duration_since(*t)))
                    .as_secs_f64()
                    .ceil() as u64
            });
            return throttled("Application is over its MailboxRequests limit.", wait);
        }
        q.push_back(now);
    }
    let mut f = lock(&state.in_flight);
    let n = f.entry(mailbox.to_string()).or_default();
    if let Some(limit) = state.config.mailbox_concurrency
        && *n >= limit as u64
    {
        drop(f);
        return throttled("Application is over its MailboxConcurrency limit.", 1);
    }
    *n += 1;
    let now_in = *n;
    drop(f);
    let mut st = lock(&state.stats);
    st.peak_mailbox_concurrency = st.peak_mailbox_concurrency.max(now_in);
    None
}

fn admin(state: &State, method: &Method, rest: &str, body: &[u8]) -> Reply {
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
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
            let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
            match state.meeting_value(&id) {
                Some(v) => Reply::json(200, v),
                None => Reply::error(404, "NotFound", "no such meeting"),
            }
        }
        ("POST", ["meetings", id, "start"]) => {
            let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
            if state.start_now(&id) {
                Reply::empty(204)
            } else {
                Reply::error(404, "NotFound", "no such meeting, or no occurrence left to start")
            }
        }
        ("PATCH", ["meetings", id]) => {
            let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
            let Ok(change) = serde_json::from_slice::<Value>(body) else {
                return Reply::error(400, "BadRequest", "expected {\"property\": …, \"value\": …}");
            };
            let Some(property) = change["property"].as_str() else {
                return Reply::error(400, "BadRequest", "missing property");
            };
            if state.set_property(&id, property, change["value"].clone()) {
                Reply::empty(204)
            } else {
                Reply::error(404, "NotFound", "no such meeting")
            }
        }
        _ => Reply::error(404, "NotFound", "unknown admin request"),
    }
}

/// `POST /{tenant}/oauth2/v2.0/token` (client credentials, §1.4).
fn token(state: &State, tenant: &str, body: &[u8]) -> Reply {
    lock(&state.stats).token_requests += 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let oauth = |status: u16, error: &str, description: &str| {
        Reply::json(
            status,
            json!({"error": error, "error_description": description, "error_codes": [], "timestamp": Utc::now().to_rfc3339()}),
        )
    };
    if !tenant.eq_ignore_ascii_case(&state.tenant_id) {
        return oauth(400, "invalid_request", "AADSTS90002: Tenant not found.");
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth(
            400,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if form.get("client_id") != Some(&state.config.client_id) {
        return oauth(
            400,
            "unauthorized_client",
            "AADSTS700016: Application was not found in the directory.",
        );
    }
    if form.get("scope").map(String::as_str) != Some("https://graph.microsoft.com/.default") {
        return oauth(
            400,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
        );
    }
    let by_certificate = match (form.get("client_secret"), form.get("client_assertion")) {
        (Some(s), None) if *s == state.config.client_secret => false,
        (Some(_), None) => {
            return oauth(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
            );
        }
        (None, Some(assertion)) => {
            if form.get("client_assertion_type").map(String::as_str)
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                return oauth(
                    400,
                    "invalid_request",
                    "AADSTS50027: client_assertion_type is missing or wrong.",
                );
            }
            if let Err(why) = verify_assertion(state, assertion) {
                return oauth(
                    401,
                    "invalid_client",
                    &format!("AADSTS700027: Client assertion failed signature validation. {why}"),
                );
            }
            true
        }
        _ => {
            return oauth(
                400,
                "invalid_request",
                "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
    };
    let mut d = lock(&state.data);
    let n = d.next();
    let token = format!(
        "eyJ0eXAiOiJKV1Qi.sim{n:08}.{:x}",
        digest(10, &format!("{n}"))
    );
    d.tokens
        .insert(token.clone(), Instant::now() + state.config.token_ttl);
    drop(d);
    let mut st = lock(&state.stats);
    st.tokens_issued += 1;
    if by_certificate {
        st.assertions_accepted += 1;
    }
    Reply::json(
        200,
        json!({
            "token_type": "Bearer",
            "expires_in": state.config.token_ttl.as_secs(),
            "ext_expires_in": state.config.token_ttl.as_secs(),
            "access_token": token,
        }),
    )
}

/// Checks a certificate client assertion: header thumbprint, claims and signature (§1.4).
fn verify_assertion(state: &State, assertion: &str) -> Result<(), String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let cert = state
        .config
        .certificate
        .as_ref()
        .ok_or("no certificate is registered for the app")?;
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| e.to_string())?;
    let b64 = |hex: &str| {
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let thumb_ok = match (header.alg, &header.x5t, &header.x5t_s256) {
        (Algorithm::PS256, _, Some(t)) => cert.sha256_hex.as_deref().map(b64).as_ref() == Some(t),
        (Algorithm::RS256, Some(t), _) => cert.sha1_hex.as_deref().map(b64).as_ref() == Some(t),
        _ => false,
    };
    if !thumb_ok {
        return Err(
            "the header's alg and x5t/x5t#S256 do not name the registered certificate".into(),
        );
    }
    let key =
        DecodingKey::from_rsa_pem(cert.public_key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut v = Validation::new(header.alg);
    let aud = format!(
        "http://{}/{}/oauth2/v2.0/token",
        state.addr, state.tenant_id
    );
    v.set_audience(&[aud]);
    v.set_issuer(std::slice::from_ref(&state.config.client_id));
    v.sub = Some(state.config.client_id.clone());
    v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(assertion, &key, &v).map_err(|e| e.to_string())?;
    Ok(())
}

async fn handle(
    state: &State,
    method: &Method,
    route: &Route,
    path: &str,
    pairs: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let tenant = state.tenant_id.clone();
    match (method.as_str(), route) {
        ("GET", Route::GroupMembers(g)) => {
            let d = lock(&state.data);
            let Some(group) = d.groups.iter().find(|x| x.id.eq_ignore_ascii_case(g)) else {
                return Reply::error(
                    404,
                    "Request_ResourceNotFound",
                    &format!(
                        "Resource '{g}' does not exist or one of its queried reference-property objects are not present."
                    ),
                );
            };
            let items: Vec<Value> = group
                .members
                .iter()
                .filter_map(|e| d.user(e))
                .map(user_json)
                .collect();
            drop(d);
            let size = max_page(headers)
                .unwrap_or(state.config.directory_page)
                .min(state.config.directory_page.max(1));
            page(state, path, pairs, items, size)
        }
        ("GET", Route::User(u)) => match lock(&state.data).user(u) {
            Some(user) => Reply::json(200, user_json(user)),
            None => Reply::error(
                404,
                "Request_ResourceNotFound",
                &format!(
                    "Resource '{u}' does not exist or one of its queried reference-property objects are not present."
                ),
            ),
        },
        ("GET", Route::MemberOf(u)) => {
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
            page(state, path, pairs, items, state.config.directory_page)
        }
        ("GET", Route::CalendarView(u)) => {
            let parse = |name: &str| {
                param(pairs, name).and_then(|t| {
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
            let size = max_page(headers)
                .unwrap_or(state.config.calendar_page)
                .clamp(1, 1000);
            page(state, path, pairs, items, size)
        }
        ("GET", Route::Event(u, e)) => {
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
        (_, Route::Meetings(u)) | (_, Route::Meeting(u, _)) => {
            let d = lock(&state.data);
            let Some(user) = d.user(u).cloned() else {
                return Reply::error(404, "NotFound", &format!("The user '{u}' was not found."));
            };
            drop(d);
            if !user.access_policy {
                // §1.4 "Corrections": current docs give 403 with this message.
                return Reply::error(
                    403,
                    "Forbidden",
                    "No application access policy found for this app.",
                );
            }
            match (method.as_str(), route) {
                ("GET", Route::Meetings(_)) => {
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
                ("GET", Route::Meeting(_, id)) => {
                    let d = lock(&state.data);
                    match d
                        .meetings
                        .get(id.as_str())
                        .filter(|m| m.organizer == user.id)
                    {
                        Some(m) => Reply::json(200, m.value.clone()),
                        None => Reply::error(
                            404,
                            "NotFound",
                            "The requested online meeting was not found.",
                        ),
                    }
                }
                ("PATCH", Route::Meeting(_, id)) => patch_meeting(state, &user, id, body, &tenant),
                _ => Reply::error(405, "MethodNotAllowed", "Method not allowed."),
            }
        }
        ("POST", Route::Subscriptions) => create_subscription(state, body).await,
        ("PATCH", Route::Subscription(id)) => {
            let Ok(change) = serde_json::from_slice::<Value>(body) else {
                return Reply::error(400, "BadRequest", "Unable to read JSON request payload.");
            };
            let exp = match expiration(&change) {
                Ok(e) => e,
                Err(r) => return r,
            };
            let mut d = lock(&state.data);
            match d.subscriptions.get_mut(id.as_str()) {
                Some(s) => {
                    s["expirationDateTime"] = json!(exp.to_rfc3339());
                    Reply::json(200, s.clone())
                }
                None => Reply::error(404, "ResourceNotFound", "The object was not found."),
            }
        }
        ("DELETE", Route::Subscription(id)) => {
            match lock(&state.data).subscriptions.remove(id.as_str()) {
                Some(_) => Reply::empty(204),
                None => Reply::error(404, "ResourceNotFound", "The object was not found."),
            }
        }
        _ => Reply::error(405, "MethodNotAllowed", "Method not allowed."),
    }
}

fn user_json(u: &TeamsUser) -> Value {
    json!({"@odata.type": "#microsoft.graph.user", "id": u.id, "displayName": u.display_name, "mail": u.email, "userPrincipalName": u.email})
}

fn enum_ok(value: &Value, members: &[&str]) -> bool {
    value
        .as_str()
        .is_some_and(|v| members.contains(&v) && v != "unknownFutureValue")
}

/// `PATCH /users/{id}/onlineMeetings/{meetingId}` (research §1.2 and "Corrections").
fn patch_meeting(state: &State, user: &TeamsUser, id: &str, body: &[u8], tenant: &str) -> Reply {
    let bad = |m: &str| Reply::error(400, "BadRequest", m);
    let Ok(Value::Object(change)) = serde_json::from_slice::<Value>(body) else {
        return bad(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        );
    };
    for key in change.keys() {
        if !UPDATABLE.contains(&key.as_str()) {
            return bad(&format!(
                "Property '{key}' cannot be updated: it is read-only or not an updatable property of onlineMeeting."
            ));
        }
    }
    if change.contains_key("startDateTime") != change.contains_key("endDateTime") {
        return bad("startDateTime and endDateTime must be updated together.");
    }
    for (key, members) in [
        ("allowedPresenters", &PRESENTERS[..]),
        ("allowMeetingChat", &CHAT_MODES[..]),
        ("allowedLobbyAdmitters", &ADMITTERS[..]),
    ] {
        if let Some(v) = change.get(key)
            && !enum_ok(v, members)
        {
            return bad(&format!("Invalid value '{v}' for property '{key}'."));
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
            return bad(&format!("Property '{key}' must be a boolean."));
        }
    }
    if let Some(scope) = change
        .get("lobbyBypassSettings")
        .and_then(|l| l.get("scope"))
        && !enum_ok(scope, &LOBBY_SCOPES)
    {
        return bad(&format!(
            "Invalid value '{scope}' for lobbyBypassSettings.scope."
        ));
    }
    let d = lock(&state.data);
    let users = d.users.clone();
    drop(d);
    let mut attendees: Option<Vec<Value>> = None;
    if let Some(p) = change.get("participants") {
        let Some(p) = p.as_object() else {
            return bad("participants must be an object.");
        };
        if p.contains_key("organizer") {
            return bad("The organizer of an online meeting cannot be changed.");
        }
        let Some(list) = p.get("attendees").and_then(Value::as_array) else {
            return bad("participants.attendees must be a list.");
        };
        let mut out = Vec::new();
        for a in list {
            let role = a.get("role").cloned().unwrap_or(json!("attendee"));
            if !enum_ok(&role, &ROLES) {
                return bad(&format!("Invalid attendee role {role}."));
            }
            let by_id = a.pointer("/identity/user/id").and_then(Value::as_str);
            let by_upn = a.get("upn").and_then(Value::as_str);
            let Some(u) = users.iter().find(|u| {
                by_id.is_some_and(|i| i.eq_ignore_ascii_case(&u.id))
                    || by_upn.is_some_and(|e| e.eq_ignore_ascii_case(&u.email))
            }) else {
                return bad("An attendee is not a user of this tenant (identity.user.id or upn).");
            };
            out.push(json!({"upn": u.email, "role": role, "identity": identity(u, tenant)}));
        }
        attendees = Some(out);
    }
    if change.get("allowedPresenters").and_then(Value::as_str) == Some("roleIsPresenter")
        && attendees.is_none()
    {
        return bad(
            "allowedPresenters 'roleIsPresenter' requires the full attendee list with roles.",
        );
    }
    let mut d = lock(&state.data);
    let Some(m) = d.meetings.get_mut(id).filter(|m| m.organizer == user.id) else {
        return Reply::error(
            404,
            "NotFound",
            "The requested online meeting was not found.",
        );
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

fn expiration(body: &Value) -> Result<DateTime<Utc>, Reply> {
    let exp = body["expirationDateTime"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Reply::error(400, "InvalidRequest", "expirationDateTime is required."))?;
    let now = Utc::now();
    if exp <= now {
        return Err(Reply::error(
            400,
            "InvalidRequest",
            "Subscription expiration must be in the future.",
        ));
    }
    if exp > now + chrono::Duration::minutes(MAX_SUBSCRIPTION_MINUTES) {
        return Err(Reply::error(
            400,
            "InvalidRequest",
            &format!(
                "Subscription expiration can only be {MAX_SUBSCRIPTION_MINUTES} minutes in the future."
            ),
        ));
    }
    Ok(exp)
}

/// Sends the validation request and checks the echo (§1.5: 200, text/plain, the decoded token).
async fn validate_url(state: &State, url: &str) -> Result<(), String> {
    let token = "Validation: Testing client application reachability for subscription Request-Id: 6f4b6d52-0000-0000-0000-000000000000";
    lock(&state.stats).validations_sent += 1;
    let answer = state
        .client
        .post(url)
        .query(&[("validationToken", token)])
        .header(header::CONTENT_TYPE, "text/plain")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    let text = answer.text().await.map_err(|e| e.to_string())?;
    if status != 200 || text != token {
        return Err(format!(
            "answered {status} with a body that is not the validation token"
        ));
    }
    Ok(())
}

async fn create_subscription(state: &State, body: &[u8]) -> Reply {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return Reply::error(400, "BadRequest", "Unable to read JSON request payload.");
    };
    let exp = match expiration(&req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let (Some(url), Some(resource), Some(change_type)) = (
        req["notificationUrl"].as_str(),
        req["resource"].as_str(),
        req["changeType"].as_str(),
    ) else {
        return Reply::error(
            400,
            "InvalidRequest",
            "notificationUrl, resource and changeType are required.",
        );
    };
    if req["clientState"]
        .as_str()
        .is_some_and(|c| c.chars().count() > 128)
    {
        return Reply::error(
            400,
            "InvalidRequest",
            "clientState must be at most 128 characters.",
        );
    }
    let parts: Vec<&str> = resource.trim_matches('/').split('/').collect();
    let user_ok = match parts.as_slice() {
        [u, user, e] if u.eq_ignore_ascii_case("users") && e.eq_ignore_ascii_case("events") => {
            lock(&state.data).user(user).is_some()
        }
        _ => false,
    };
    if !user_ok {
        return Reply::error(
            400,
            "ExtensionError",
            "Resource is not supported or the user does not exist; use /users/{id}/events.",
        );
    }
    for u in std::iter::once(url).chain(req["lifecycleNotificationUrl"].as_str()) {
        if let Err(why) = validate_url(state, u).await {
            return Reply::error(
                400,
                "ValidationError",
                &format!(
                    "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({why})"
                ),
            );
        }
    }
    let mut d = lock(&state.data);
    let n = d.next();
    let id = object_id("subscription", &format!("{n}"));
    let mut sub = Map::new();
    sub.insert(
        "@odata.context".into(),
        json!("https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"),
    );
    sub.insert("id".into(), json!(id));
    sub.insert("resource".into(), json!(resource));
    sub.insert("applicationId".into(), json!(state.config.client_id));
    sub.insert("changeType".into(), json!(change_type));
    sub.insert("clientState".into(), req["clientState"].clone());
    sub.insert("notificationUrl".into(), json!(url));
    sub.insert(
        "lifecycleNotificationUrl".into(),
        req["lifecycleNotificationUrl"].clone(),
    );
    sub.insert("expirationDateTime".into(), json!(exp.to_rfc3339()));
    sub.insert(
        "creatorId".into(),
        json!(object_id("sp", &state.config.client_id)),
    );
    sub.insert("latestSupportedTlsVersion".into(), json!("v1_2"));
    let sub = Value::Object(sub);
    d.subscriptions.insert(id, sub.clone());
    Reply::json(201, sub)
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

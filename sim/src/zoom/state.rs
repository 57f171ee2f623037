//! The simulator's mutable state and the behaviour of each endpoint, independent of HTTP.
//!
//! Every operation returns either a JSON body or an [`ApiError`] carrying the HTTP status and
//! Zoom's `{code, message}` body, so the server module only translates to HTTP.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::model::{
    SECURITY_ALIASES, encrypted_password, join_url, locks_for_setting, meeting_uuid, merge,
    numeric_password, random_alnum, set_pointer, settings_enum, settings_int_enum, type_name,
};
use super::passcode;
use super::scenario::{Scenario, SimAccount, SimGroup, SimMeeting, SimUser};
use super::schema::{self, MEETING_PATCH, OCCURRENCE_FIELDS, OCCURRENCE_SETTINGS, Ty, ZoomTime};

/// An error answer: HTTP status plus Zoom's JSON error body.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: u16, code: i64, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({ "code": code, "message": message.into() }),
        }
    }

    /// 400 code 300 "Validation Failed." with the field errors, Zoom's form for schema errors.
    pub fn validation(errors: Vec<Value>) -> Self {
        ApiError {
            status: 400,
            body: json!({ "code": 300, "message": "Validation Failed.", "errors": errors }),
        }
    }

    fn invalid_json() -> Self {
        Self::new(400, 300, "Request Body should be a valid JSON object.")
    }

    fn user_not_found(id: &str) -> Self {
        Self::new(404, 1001, format!("User does not exist: {id}."))
    }

    fn meeting_not_found(id: &str) -> Self {
        Self::new(404, 3001, format!("Meeting does not exist: {id}."))
    }

    fn group_not_found(id: &str) -> Self {
        Self::new(404, 4130, format!("A group with this {id} does not exist."))
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// A stored meeting: the full GET object plus per-occurrence overrides.
pub(crate) struct MeetingRec {
    pub value: Value,
    pub host_id: String,
    /// occurrence_id → fields changed for that occurrence only.
    pub occurrence_overrides: BTreeMap<String, Value>,
}

struct PageToken {
    scope: String,
    items: Arc<Vec<Value>>,
    offset: usize,
    expires: Instant,
}

/// Outcome of checking a bearer token.
pub(crate) enum TokenCheck {
    Valid,
    Expired,
    Invalid,
}

pub(crate) struct SimState {
    pub account: SimAccount,
    users: Vec<SimUser>,
    by_id: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
    groups: Vec<SimGroup>,
    meetings: HashMap<u64, MeetingRec>,
    host_meetings: HashMap<String, Vec<u64>>,
    tokens: HashMap<String, Instant>,
    page_tokens: HashMap<String, PageToken>,
    daily: HashMap<String, (NaiveDate, u32)>,
    rng: StdRng,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_ts(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Default `settings` of a meeting as GET returns it (spec defaults where given).
fn default_meeting_settings() -> Value {
    json!({
        "host_video": false,
        "participant_video": false,
        "cn_meeting": false,
        "in_meeting": false,
        "join_before_host": false,
        "jbh_time": 0,
        "mute_upon_entry": false,
        "watermark": false,
        "use_pmi": false,
        "approval_type": 2,
        "audio": "both",
        "auto_recording": "none",
        "enforce_login": false,
        "enforce_login_domains": "",
        "alternative_hosts": "",
        "alternative_hosts_email_notification": true,
        "close_registration": false,
        "show_share_button": false,
        "allow_multiple_devices": false,
        "registrants_confirmation_email": true,
        "waiting_room": false,
        "waiting_room_options": { "mode": "follow_setting" },
        "request_permission_to_unmute_participants": false,
        "global_dial_in_countries": ["GB"],
        "registrants_email_notification": true,
        "meeting_authentication": false,
        "encryption_type": "enhanced_encryption",
        "approved_or_denied_countries_or_regions": { "enable": false },
        "breakout_room": { "enable": false },
        "internal_meeting": false,
        "continuous_meeting_chat": { "enable": false, "auto_add_invited_external_users": false },
        "participant_focused_meeting": false,
        "push_change_to_calendar": false,
        "auto_start_meeting_summary": false,
        "auto_start_ai_companion_questions": false,
        "device_testing": false,
        "email_notification": true,
        "private_meeting": false,
        "host_save_video_order": false,
        "email_in_attendee_report": false
    })
}

/// Occurrence ids are the occurrence's start in epoch milliseconds, as in the spec's example
/// (`"1648194360000"`).
fn occurrence_id(t: DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

impl SimState {
    pub fn new(scenario: Scenario) -> Self {
        let mut rng = StdRng::seed_from_u64(scenario.seed);
        let mut by_id = HashMap::new();
        let mut by_email = HashMap::new();
        for (i, u) in scenario.users.iter().enumerate() {
            by_id.insert(u.id.clone(), i);
            by_email.insert(u.email.to_ascii_lowercase(), i);
        }
        let mut state = SimState {
            account: scenario.account,
            users: scenario.users,
            by_id,
            by_email,
            groups: scenario.groups,
            meetings: HashMap::with_capacity(scenario.meetings.len()),
            host_meetings: HashMap::new(),
            tokens: HashMap::new(),
            page_tokens: HashMap::new(),
            daily: HashMap::new(),
            rng: StdRng::seed_from_u64(0),
        };
        for m in &scenario.meetings {
            let Some(&idx) = state.by_email.get(&m.host_email.to_ascii_lowercase()) else {
                tracing::warn!(meeting = m.id, host = %m.host_email, "scenario meeting host is not a user; skipped");
                continue;
            };
            let rec = state.build_meeting(m, idx, &mut rng);
            state
                .host_meetings
                .entry(rec.host_id.clone())
                .or_default()
                .push(m.id);
            state.meetings.insert(m.id, rec);
        }
        for ids in state.host_meetings.values_mut() {
            ids.sort_by_key(|id| {
                let start = state
                    .meetings
                    .get(id)
                    .and_then(|r| parse_ts(&r.value["start_time"]));
                (start.is_none(), start, *id)
            });
        }
        state.rng = rng;
        state
    }

    fn build_meeting(&self, m: &SimMeeting, host_idx: usize, rng: &mut StdRng) -> MeetingRec {
        let host = &self.users[host_idx];
        let mut settings = default_meeting_settings();
        merge(&mut settings, &m.settings);
        let mut v = json!({
            "uuid": meeting_uuid(rng),
            "id": m.id,
            "host_id": host.id,
            "host_email": host.email,
            "assistant_id": "",
            "topic": m.topic,
            "type": m.meeting_type,
            "status": if m.started { "started" } else { "waiting" },
            "duration": m.duration,
            "timezone": m.timezone,
            "agenda": m.agenda,
            "created_at": ts(m.created_at),
            "start_url": format!("https://us06web.zoom.us/s/{}?zak=sim-zak-{}", m.id, random_alnum(rng, 12)),
            "pre_schedule": false,
            "creation_source": "web_portal",
            "settings": settings,
        });
        if let Some(start) = m.start_time {
            v["start_time"] = json!(ts(start));
        }
        if !m.tracking_fields.is_empty() {
            v["tracking_fields"] = m
                .tracking_fields
                .iter()
                .map(|(f, val)| json!({"field": f, "value": val, "visible": true}))
                .collect();
        }
        if m.meeting_type == 8 {
            if let Some(r) = &m.recurrence {
                v["recurrence"] = r.clone();
            }
            v["occurrences"] = m
                .occurrences
                .iter()
                .map(|t| {
                    json!({"occurrence_id": occurrence_id(*t), "start_time": ts(*t), "duration": m.duration, "status": "available"})
                })
                .collect();
        }
        let occurrence_overrides = m
            .occurrence_settings
            .iter()
            .filter_map(|(i, settings)| {
                let t = m.occurrences.get(*i)?;
                Some((occurrence_id(*t), json!({ "settings": settings })))
            })
            .collect();
        let mut rec = MeetingRec {
            value: v,
            host_id: host.id.clone(),
            occurrence_overrides,
        };
        Self::set_password(&mut rec.value, &m.password, rng);
        let embed = self.embed_password(host_idx);
        Self::refresh_join_url(&mut rec.value, embed);
        rec
    }

    /// Store a passcode and the values Zoom derives from it. With no passcode the
    /// passcode fields are absent from GET (assumption: Zoom omits them rather than sending "").
    fn set_password(v: &mut Value, password: &str, rng: &mut StdRng) {
        let Some(obj) = v.as_object_mut() else { return };
        if password.is_empty() {
            for k in [
                "password",
                "encrypted_password",
                "h323_password",
                "pstn_password",
            ] {
                obj.remove(k);
            }
        } else {
            obj.insert("password".into(), json!(password));
            obj.insert("encrypted_password".into(), json!(encrypted_password(rng)));
            let digits = numeric_password(rng);
            obj.insert("h323_password".into(), json!(digits));
            obj.insert("pstn_password".into(), json!(digits));
        }
    }

    fn refresh_join_url(v: &mut Value, embed: bool) {
        let id = v["id"].as_u64().unwrap_or_default();
        let enc = v["encrypted_password"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        v["join_url"] = json!(join_url(id, &enc, embed));
    }

    fn embed_password(&self, user_idx: usize) -> bool {
        self.users[user_idx].settings["schedule_meeting"]["embed_password_in_join_link"]
            .as_bool()
            .unwrap_or(true)
    }

    // ----- tokens -------------------------------------------------------------------------

    pub fn issue_token(&mut self, ttl: Duration, now: Instant) -> String {
        self.tokens.retain(|_, exp| *exp > now);
        let token = format!("sim.{}", random_alnum(&mut self.rng, 48));
        self.tokens.insert(token.clone(), now + ttl);
        token
    }

    pub fn check_token(&self, token: &str, now: Instant) -> TokenCheck {
        match self.tokens.get(token) {
            Some(exp) if *exp > now => TokenCheck::Valid,
            Some(_) => TokenCheck::Expired,
            None => TokenCheck::Invalid,
        }
    }

    pub fn revoke_tokens(&mut self) {
        self.tokens.clear();
    }

    pub fn expire_page_tokens(&mut self) {
        self.page_tokens.clear();
    }

    // ----- pagination ---------------------------------------------------------------------

    /// Serve one page. The first request snapshots the result set; `next_page_token` walks that
    /// snapshot (so a list is consistent while it is paged) and expires after `ttl`
    /// ("This token's expiration period is 15 minutes", spec). On the last page
    /// `next_page_token` is `""` (assumption from common client code; clients must treat an empty
    /// token as the end).
    #[allow(clippy::too_many_arguments)]
    fn page(
        &mut self,
        scope: &str,
        token: Option<&str>,
        page_size: usize,
        ttl: Duration,
        now: Instant,
        build: impl FnOnce(&Self) -> Vec<Value>,
    ) -> ApiResult<(Vec<Value>, usize, String, usize)> {
        self.page_tokens.retain(|_, t| t.expires > now);
        let (items, offset) = match token.filter(|t| !t.is_empty()) {
            Some(t) => match self.page_tokens.remove(t) {
                Some(pt) if pt.scope == scope => (pt.items, pt.offset),
                _ => {
                    return Err(ApiError::new(
                        400,
                        300,
                        "The next page token is invalid or expired.",
                    ));
                }
            },
            None => (Arc::new(build(self)), 0),
        };
        let total = items.len();
        let end = (offset + page_size).min(total);
        let page: Vec<Value> = items
            .get(offset..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let next = if end < total {
            let t = random_alnum(&mut self.rng, 35);
            self.page_tokens.insert(
                t.clone(),
                PageToken {
                    scope: scope.into(),
                    items,
                    offset: end,
                    expires: now + ttl,
                },
            );
            t
        } else {
            String::new()
        };
        Ok((page, total, next, offset / page_size.max(1) + 1))
    }

    // ----- users and groups ---------------------------------------------------------------

    /// Resolve a `userId` path value: id, email, or `me` (the account owner, as for an S2S app
    /// created by the owner).
    fn user_idx(&self, user_id: &str) -> ApiResult<usize> {
        if user_id == "me" {
            return self
                .users
                .iter()
                .position(|u| u.role_id == "0")
                .or(if self.users.is_empty() { None } else { Some(0) })
                .ok_or_else(|| ApiError::user_not_found(user_id));
        }
        self.by_id
            .get(user_id)
            .or_else(|| self.by_email.get(&user_id.to_ascii_lowercase()))
            .copied()
            .ok_or_else(|| ApiError::user_not_found(user_id))
    }

    fn user_item(u: &SimUser) -> Value {
        json!({
            "id": u.id,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "display_name": format!("{} {}", u.first_name, u.last_name),
            "email": u.email,
            "type": u.user_type,
            "pmi": u.pmi,
            "timezone": u.timezone,
            "verified": 1,
            "dept": u.dept,
            "created_at": "2023-09-01T09:00:00Z",
            "user_created_at": "2023-09-01T09:00:00Z",
            "last_login_time": "2026-01-12T08:30:00Z",
            "last_client_version": "6.3.5.4560(mac)",
            "language": "en-GB",
            "status": u.status,
            "role_id": u.role_id,
            "group_ids": u.group_ids,
        })
    }

    /// `GET /users` (users.openapi.json `paths./users.get`).
    pub fn list_users(
        &mut self,
        status: &str,
        page_size: usize,
        token: Option<&str>,
        ttl: Duration,
        now: Instant,
    ) -> ApiResult<Value> {
        if !["active", "inactive", "pending"].contains(&status) {
            return Err(ApiError::validation(vec![
                json!({"field": "status", "message": "Invalid field."}),
            ]));
        }
        let scope = format!("users:{status}");
        let (page, total, next, page_number) =
            self.page(&scope, token, page_size, ttl, now, |s| {
                s.users
                    .iter()
                    .filter(|u| u.status == status)
                    .map(Self::user_item)
                    .collect()
            })?;
        Ok(json!({
            "page_count": total.div_ceil(page_size.max(1)),
            "page_number": page_number,
            "page_size": page_size,
            "total_records": total,
            "next_page_token": next,
            "users": page,
        }))
    }

    /// `GET /users/{userId}` (LIGHT).
    pub fn get_user(&self, user_id: &str) -> ApiResult<Value> {
        let idx = self.user_idx(user_id)?;
        Ok(Self::user_item(&self.users[idx]))
    }

    fn group_idx(&self, group_id: &str) -> ApiResult<usize> {
        self.groups
            .iter()
            .position(|g| g.id == group_id)
            .ok_or_else(|| ApiError::group_not_found(group_id))
    }

    /// `GET /groups` (users.openapi.json `paths./groups.get`).
    pub fn list_groups(
        &mut self,
        page_size: usize,
        token: Option<&str>,
        ttl: Duration,
        now: Instant,
    ) -> ApiResult<Value> {
        let (page, total, next, _) = self.page("groups", token, page_size, ttl, now, |s| {
            s.groups
                .iter()
                .map(|g| {
                    let n = s
                        .users
                        .iter()
                        .filter(|u| u.group_ids.contains(&g.id))
                        .count();
                    json!({"id": g.id, "name": g.name, "total_members": n})
                })
                .collect()
        })?;
        Ok(json!({ "groups": page, "total_records": total, "next_page_token": next }))
    }

    /// `GET /groups/{groupId}/members`.
    pub fn list_group_members(
        &mut self,
        group_id: &str,
        page_size: usize,
        token: Option<&str>,
        ttl: Duration,
        now: Instant,
    ) -> ApiResult<Value> {
        let g = self.group_idx(group_id)?;
        let gid = self.groups[g].id.clone();
        let scope = format!("members:{gid}");
        let (page, total, next, page_number) = self.page(&scope, token, page_size, ttl, now, |s| {
            s.users
                .iter()
                .filter(|u| u.group_ids.contains(&gid))
                .map(|u| {
                    json!({"id": u.id, "email": u.email, "first_name": u.first_name, "last_name": u.last_name,
                        "type": u.user_type, "primary_group": u.group_ids.first() == Some(&gid)})
                })
                .collect()
        })?;
        Ok(json!({
            "members": page, "page_count": total.div_ceil(page_size.max(1)), "page_number": page_number,
            "page_size": page_size, "total_records": total, "next_page_token": next
        }))
    }

    // ----- meetings -----------------------------------------------------------------------

    fn meeting_end(v: &Value) -> Option<DateTime<Utc>> {
        let duration = chrono::Duration::minutes(v["duration"].as_i64().unwrap_or(60));
        match v["type"].as_u64() {
            Some(3) => None,
            Some(8) => v["occurrences"]
                .as_array()
                .and_then(|o| o.iter().filter_map(|x| parse_ts(&x["start_time"])).max())
                .map(|t| t + duration),
            _ => parse_ts(&v["start_time"]).map(|t| t + duration),
        }
    }

    /// Start time shown in the list: for a series the next occurrence that has not ended.
    fn list_start(v: &Value, now: DateTime<Utc>) -> Option<String> {
        if v["type"].as_u64() == Some(8) {
            let duration = chrono::Duration::minutes(v["duration"].as_i64().unwrap_or(60));
            if let Some(next) = v["occurrences"].as_array().and_then(|o| {
                o.iter()
                    .filter_map(|x| parse_ts(&x["start_time"]))
                    .find(|t| *t + duration > now)
            }) {
                return Some(ts(next));
            }
        }
        v["start_time"].as_str().map(str::to_string)
    }

    /// `GET /users/{userId}/meetings` (meetings.openapi.json `paths./users/{userId}/meetings.get`):
    /// list items carry only uuid, id, host_id, topic, type, start_time, duration, timezone,
    /// agenda (cut to 250 characters), created_at, join_url (and pmi when PMI is used).
    /// A recurring meeting appears once (assumption; research/zoom.md §3.2 UNCONFIRMED).
    #[allow(clippy::too_many_arguments)]
    pub fn list_meetings(
        &mut self,
        user_id: &str,
        kind: &str,
        page_size: usize,
        token: Option<&str>,
        ttl: Duration,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> ApiResult<Value> {
        if ![
            "scheduled",
            "live",
            "upcoming",
            "upcoming_meetings",
            "previous_meetings",
        ]
        .contains(&kind)
        {
            return Err(ApiError::validation(vec![
                json!({"field": "type", "message": "Invalid field."}),
            ]));
        }
        let idx = self.user_idx(user_id)?;
        let uid = self.users[idx].id.clone();
        let scope = format!("meetings:{uid}:{kind}");
        let kind = kind.to_string();
        let (page, total, next, page_number) = self.page(&scope, token, page_size, ttl, now, |s| {
            let ids = s.host_meetings.get(&uid).map(Vec::as_slice).unwrap_or_default();
            ids.iter()
                .filter_map(|id| s.meetings.get(id))
                .filter(|r| {
                    let started = r.value["status"] == "started";
                    let ended = !started && Self::meeting_end(&r.value).is_some_and(|e| e <= wall);
                    match kind.as_str() {
                        "live" => started,
                        "upcoming" | "upcoming_meetings" => !ended,
                        "previous_meetings" => ended,
                        _ => true,
                    }
                })
                .map(|r| {
                    let v = &r.value;
                    let agenda: String = v["agenda"].as_str().unwrap_or_default().chars().take(250).collect();
                    let mut item = json!({
                        "uuid": v["uuid"], "id": v["id"], "host_id": v["host_id"], "topic": v["topic"],
                        "type": v["type"], "duration": v["duration"], "timezone": v["timezone"],
                        "agenda": agenda, "created_at": v["created_at"], "join_url": v["join_url"],
                    });
                    if let Some(start) = Self::list_start(v, wall) {
                        item["start_time"] = json!(start);
                    }
                    if v["settings"]["use_pmi"] == true {
                        item["pmi"] = json!(s.users.get(s.by_id.get(&r.host_id).copied().unwrap_or(0)).map(|u| u.pmi.to_string()));
                    }
                    item
                })
                .collect()
        })?;
        Ok(json!({
            "page_count": total.div_ceil(page_size.max(1)),
            "page_number": page_number,
            "page_size": page_size,
            "total_records": total,
            "next_page_token": next,
            "meetings": page,
        }))
    }

    fn meeting_rec(&self, id: &str) -> ApiResult<(u64, &MeetingRec)> {
        let n: u64 = id.parse().map_err(|_| ApiError::meeting_not_found(id))?;
        self.meetings
            .get(&n)
            .map(|r| (n, r))
            .ok_or_else(|| ApiError::meeting_not_found(id))
    }

    /// `GET /meetings/{meetingId}[?occurrence_id=]` (meetings.openapi.json
    /// `paths./meetings/{meetingId}.get`). With an occurrence id the occurrence's start,
    /// duration and per-occurrence overrides are shown.
    pub fn get_meeting(&self, id: &str, occurrence: Option<&str>) -> ApiResult<Value> {
        let (_, rec) = self.meeting_rec(id)?;
        let Some(occ) = occurrence.filter(|o| !o.is_empty()) else {
            return Ok(rec.value.clone());
        };
        let mut v = rec.value.clone();
        let found = v["occurrences"]
            .as_array()
            .and_then(|o| o.iter().find(|x| x["occurrence_id"] == occ).cloned())
            .ok_or_else(|| ApiError::new(404, 3001, format!("Meeting does not exist: {id}.")))?;
        v["start_time"] = found["start_time"].clone();
        v["duration"] = found["duration"].clone();
        v["occurrences"] = json!([found]);
        if let Some(ov) = rec.occurrence_overrides.get(occ) {
            merge(&mut v, ov);
        }
        Ok(v)
    }

    /// The stored meeting for tests (`ZoomSim::meeting`).
    pub fn meeting_value(&self, id: u64) -> Option<Value> {
        self.meetings.get(&id).map(|r| r.value.clone())
    }

    pub fn delete_meeting(&mut self, id: u64) -> bool {
        match self.meetings.remove(&id) {
            Some(rec) => {
                if let Some(ids) = self.host_meetings.get_mut(&rec.host_id) {
                    ids.retain(|x| *x != id);
                }
                true
            }
            None => false,
        }
    }

    /// Count a meeting create/update against the host's daily budget (100 per host per UTC day,
    /// research/zoom.md §5). Every request for an existing meeting counts, even one that then
    /// fails validation (assumption: the harder case).
    fn count_daily(
        &mut self,
        host_id: &str,
        limit: Option<u32>,
        today: NaiveDate,
    ) -> ApiResult<()> {
        let entry = self.daily.entry(host_id.to_string()).or_insert((today, 0));
        if entry.0 != today {
            *entry = (today, 0);
        }
        if let Some(limit) = limit
            && entry.1 >= limit
        {
            return Err(ApiError::new(
                429,
                429,
                format!(
                    "You have exceeded the daily rate limit ({limit}) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."
                ),
            ));
        }
        entry.1 += 1;
        Ok(())
    }

    pub fn reset_daily_limits(&mut self) {
        self.daily.clear();
    }

    /// Check `alternative_hosts` ("semicolon-separated list of the meeting's alternative hosts'
    /// email addresses or IDs"): each must be an active, licensed (type 2) user of this account
    /// other than the host (research/zoom.md §9.7). Returns the emails to store.
    /// Assumption: the error is 400 code 1114 (the spec lists no code for this case).
    fn resolve_alternative_hosts(&self, raw: &str, host_id: &str) -> ApiResult<String> {
        let mut emails = Vec::new();
        for part in raw
            .split([';', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let user = self
                .by_id
                .get(part)
                .or_else(|| self.by_email.get(&part.to_ascii_lowercase()))
                .map(|i| &self.users[*i]);
            match user {
                Some(u) if u.id == host_id => {
                    return Err(ApiError::new(
                        400,
                        1114,
                        format!("Invalid alternative host: {part} is the meeting host."),
                    ));
                }
                Some(u) if u.user_type == 2 && u.status == "active" => {
                    if !emails.contains(&u.email) {
                        emails.push(u.email.clone());
                    }
                }
                Some(_) => {
                    return Err(ApiError::new(
                        400,
                        1114,
                        format!(
                            "Invalid alternative host: {part} must be a licensed user in the same account."
                        ),
                    ));
                }
                None => {
                    return Err(ApiError::new(
                        400,
                        1114,
                        format!("Invalid alternative host: {part} is not a user in this account."),
                    ));
                }
            }
        }
        Ok(emails.join(";"))
    }

    /// `PATCH /meetings/{meetingId}[?occurrence_id=]` → 204 (meetings.openapi.json
    /// `paths./meetings/{meetingId}.patch`).
    ///
    /// - Only the spec's fields are applied; unknown fields are ignored.
    /// - Types, enums and maxLength are validated first (400 code 300 "Validation Failed.").
    /// - `password` must meet the spec's character rules and the host's
    ///   `meeting_password_requirement` (400 code 300); a new passcode regenerates
    ///   `encrypted_password`, the dial-in passcodes and the `pwd=` of `join_url`.
    /// - `waiting_room: true` turns `join_before_host` off (POST `waiting_room` description).
    /// - With `occurrence_id`, only agenda, start_time, duration and settings {host_video,
    ///   participant_video, join_before_host, mute_upon_entry, waiting_room, watermark,
    ///   auto_recording} apply; other fields (passcode, alternative hosts) are silently ignored
    ///   with 204 (assumption: the harder case; the spec only lists what is supported).
    /// - `start_time` in the past is ignored (spec: "the API ignores this value").
    /// - `type` and `recurrence` changes are ignored except a full `recurrence` object on a type 8
    ///   series, which replaces the stored one without regenerating occurrences.
    /// - Zoom's rewrite of requests that would leave no security option is not modelled.
    /// - A meeting in progress can be updated (chaperone must not; the platform allows it).
    #[allow(clippy::too_many_arguments)]
    pub fn patch_meeting(
        &mut self,
        id: &str,
        occurrence: Option<&str>,
        body: &[u8],
        daily_limit: Option<u32>,
        today: NaiveDate,
        wall: DateTime<Utc>,
    ) -> ApiResult<()> {
        let (n, host_id) = {
            let (n, rec) = self.meeting_rec(id)?;
            (n, rec.host_id.clone())
        };
        self.count_daily(&host_id, daily_limit, today)?;
        let patch: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
        if !patch.is_object() {
            return Err(ApiError::invalid_json());
        }
        let mut errors = Vec::new();
        schema::validate(&Ty::Obj(MEETING_PATCH), &patch, "", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        let patch = schema::filter_known(MEETING_PATCH, &patch);
        let host_idx = self
            .by_id
            .get(&host_id)
            .copied()
            .ok_or_else(|| ApiError::meeting_not_found(id))?;

        if let Some(occ) = occurrence.filter(|o| !o.is_empty()) {
            return self.patch_occurrence(n, occ, &patch, wall);
        }

        // Validate everything before changing anything.
        let new_password = patch
            .get("password")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(pw) = &new_password {
            if pw.is_empty() {
                let required = self.users[host_idx].settings["schedule_meeting"]["require_password_for_scheduled_meetings"]
                    .as_bool()
                    .unwrap_or(false);
                if required {
                    return Err(ApiError::new(
                        400,
                        300,
                        "A passcode is required for scheduled meetings.",
                    ));
                }
            } else {
                let req = &self.users[host_idx].settings["schedule_meeting"]["meeting_password_requirement"];
                passcode::check(pw, req).map_err(|m| ApiError::new(400, 300, m))?;
            }
        }
        let alt_hosts = match patch
            .pointer("/settings/alternative_hosts")
            .and_then(Value::as_str)
        {
            Some(raw) => Some(self.resolve_alternative_hosts(raw, &host_id)?),
            None => None,
        };
        if let Some(s) = patch.get("schedule_for").and_then(Value::as_str) {
            let host = &self.users[host_idx];
            if !(s.eq_ignore_ascii_case(&host.email) || s == host.id) {
                return Err(ApiError::new(
                    400,
                    3000,
                    format!("You cannot schedule a meeting for {s}"),
                ));
            }
        }

        let embed = self.embed_password(host_idx);
        let mut rng = std::mem::replace(&mut self.rng, StdRng::seed_from_u64(0));
        let Some(rec) = self.meetings.get_mut(&n) else {
            self.rng = rng;
            return Err(ApiError::meeting_not_found(id));
        };
        let v = &mut rec.value;
        for key in ["topic", "agenda", "duration", "timezone"] {
            if let Some(x) = patch.get(key) {
                v[key] = x.clone();
            }
        }
        if let Some(start) = patch.get("start_time").and_then(Value::as_str) {
            let tz = patch
                .get("timezone")
                .or(v.get("timezone"))
                .and_then(Value::as_str)
                .unwrap_or("UTC");
            if let Some(t) = resolve_start(start, tz)
                && t > wall
            {
                v["start_time"] = json!(ts(t));
            }
        }
        if let Some(fields) = patch.get("tracking_fields").and_then(Value::as_array) {
            v["tracking_fields"] = fields
                .iter()
                .map(|f| json!({"field": f["field"], "value": f["value"], "visible": true}))
                .collect();
        }
        if let Some(r) = patch.get("recurrence")
            && v["type"] == 8
            && r.get("type").is_some()
        {
            v["recurrence"] = r.clone();
        }
        if let Some(settings) = patch.get("settings") {
            let mut settings = settings.clone();
            if let Some(a) = &alt_hosts {
                settings["alternative_hosts"] = json!(a);
            }
            merge(&mut v["settings"], &settings);
        }
        if v["settings"]["waiting_room"] == true {
            v["settings"]["join_before_host"] = json!(false);
        }
        if let Some(pw) = new_password
            && v.get("password")
                .and_then(Value::as_str)
                .unwrap_or_default()
                != pw
        {
            Self::set_password(v, &pw, &mut rng);
            Self::refresh_join_url(v, embed);
        }
        self.rng = rng;
        Ok(())
    }

    fn patch_occurrence(
        &mut self,
        n: u64,
        occ: &str,
        patch: &Value,
        wall: DateTime<Utc>,
    ) -> ApiResult<()> {
        let Some(rec) = self.meetings.get_mut(&n) else {
            return Err(ApiError::meeting_not_found(&n.to_string()));
        };
        let exists = rec.value["occurrences"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x["occurrence_id"] == occ));
        if !exists {
            return Err(ApiError::new(
                400,
                300,
                format!("Invalid occurrence_id: {occ}."),
            ));
        }
        let ov = rec
            .occurrence_overrides
            .entry(occ.to_string())
            .or_insert_with(|| json!({}));
        for key in OCCURRENCE_FIELDS {
            if let Some(x) = patch.get(*key) {
                if *key == "start_time" {
                    let tz = rec.value["timezone"].as_str().unwrap_or("UTC");
                    if let Some(t) = x.as_str().and_then(|s| resolve_start(s, tz))
                        && t > wall
                    {
                        ov["start_time"] = json!(ts(t));
                    }
                } else {
                    ov[*key] = x.clone();
                }
            }
        }
        if let Some(settings) = patch.get("settings").and_then(Value::as_object) {
            for key in OCCURRENCE_SETTINGS {
                if let Some(x) = settings.get(*key) {
                    set_pointer(ov, &format!("/settings/{key}"), x.clone());
                }
            }
        }
        let wr = ov
            .pointer("/settings/waiting_room")
            .or(rec.value.pointer("/settings/waiting_room"))
            == Some(&json!(true));
        if wr {
            set_pointer(ov, "/settings/join_before_host", json!(false));
        }
        Ok(())
    }

    /// Test hook: set a field of a stored meeting as a host would in the web portal. Setting
    /// `/password` also regenerates the derived passcode fields and join URL.
    pub fn set_meeting_field(&mut self, id: u64, pointer: &str, value: Value) -> bool {
        let Some(host_idx) = self
            .meetings
            .get(&id)
            .and_then(|r| self.by_id.get(&r.host_id).copied())
        else {
            return false;
        };
        let embed = self.embed_password(host_idx);
        let mut rng = std::mem::replace(&mut self.rng, StdRng::seed_from_u64(0));
        let ok = match self.meetings.get_mut(&id) {
            Some(rec) if pointer == "/password" => {
                Self::set_password(&mut rec.value, value.as_str().unwrap_or_default(), &mut rng);
                Self::refresh_join_url(&mut rec.value, embed);
                true
            }
            Some(rec) => set_pointer(&mut rec.value, pointer, value),
            None => false,
        };
        self.rng = rng;
        ok
    }

    // ----- settings and locks -------------------------------------------------------------

    /// Where a setting is locked above the user: `Some("account")` or `Some("group <name>")`.
    fn locked_by(&self, user: &SimUser, lock_paths: &[String]) -> Option<String> {
        for p in lock_paths {
            if self.account.lock_settings.pointer(p) == Some(&Value::Bool(true)) {
                return Some("account".into());
            }
        }
        for g in self
            .groups
            .iter()
            .filter(|g| user.group_ids.contains(&g.id))
        {
            for p in lock_paths {
                if g.lock_settings.pointer(p) == Some(&Value::Bool(true)) {
                    return Some(format!("group {}", g.name));
                }
            }
        }
        None
    }

    fn security_view(settings: &Value, own: &Value) -> Value {
        let mut ms = own.clone();
        for (key, main_path) in SECURITY_ALIASES {
            if let Some(v) = settings.pointer(main_path) {
                ms[*key] = v.clone();
            }
        }
        ms
    }

    /// `GET /users/{userId}/settings[?option=][&custom_query_fields=]`.
    pub fn get_user_settings(
        &self,
        user_id: &str,
        option: Option<&str>,
        fields: Option<&str>,
    ) -> ApiResult<Value> {
        let u = &self.users[self.user_idx(user_id)?];
        let v = match option.filter(|o| !o.is_empty()) {
            None => u.settings.clone(),
            Some("meeting_security") => {
                json!({ "meeting_security": Self::security_view(&u.settings, &u.meeting_security) })
            }
            Some("meeting_authentication") => {
                json!({ "meeting_authentication": false, "authentication_options": [] })
            }
            Some("recording_authentication") => {
                json!({ "recording_authentication": false, "authentication_options": [] })
            }
            Some(other) => {
                return Err(ApiError::validation(vec![
                    json!({"field": "option", "message": format!("Invalid field: {other}.")}),
                ]));
            }
        };
        Ok(match fields.filter(|f| !f.is_empty()) {
            Some(f) => filter_fields(&v, &f.split(',').map(str::trim).collect::<Vec<_>>())
                .unwrap_or(json!({})),
            None => v,
        })
    }

    pub fn user_settings_value(&self, user_id: &str) -> Option<Value> {
        self.user_idx(user_id)
            .ok()
            .map(|i| self.users[i].settings.clone())
    }

    /// `PATCH /users/{userId}/settings[?option=meeting_security]` → 204.
    ///
    /// Values are checked against the stored tree's types and the spec's enums (400 code 300);
    /// fields the simulator does not hold are ignored. A field locked in the account's or one
    /// of the user's groups' lock_settings is **silently ignored with 204**: Zoom's docs do not
    /// say whether it ignores or rejects such a change (research/zoom.md §9.4, §10), and the
    /// simulator takes the harder case, which only a read-back exposes.
    pub fn patch_user_settings(
        &mut self,
        user_id: &str,
        option: Option<&str>,
        body: &[u8],
    ) -> ApiResult<()> {
        let idx = self.user_idx(user_id)?;
        let patch: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
        let Some(patch_obj) = patch.as_object() else {
            return Err(ApiError::invalid_json());
        };
        match option.filter(|o| !o.is_empty()) {
            None => {
                let mut errors = Vec::new();
                validate_tree(&self.users[idx].settings, &patch, "", &mut errors);
                if !errors.is_empty() {
                    return Err(ApiError::validation(errors));
                }
                let mut changes = Vec::new();
                for (section, inner) in patch_obj {
                    let Some(inner) = inner.as_object() else {
                        continue;
                    };
                    for (key, value) in inner {
                        if self.users[idx]
                            .settings
                            .pointer(&format!("/{section}/{key}"))
                            .is_none()
                        {
                            continue;
                        }
                        if let Some(by) =
                            self.locked_by(&self.users[idx], &locks_for_setting(section, key))
                        {
                            tracing::debug!(user = %self.users[idx].email, %section, %key, %by, "locked setting ignored");
                            continue;
                        }
                        changes.push((format!("/{section}/{key}"), value.clone()));
                    }
                }
                let settings = &mut self.users[idx].settings;
                for (p, v) in changes {
                    apply_at(settings, &p, &v);
                }
                Ok(())
            }
            Some("meeting_security") => {
                let Some(ms) = patch_obj.get("meeting_security").and_then(Value::as_object) else {
                    return Ok(());
                };
                let u = &self.users[idx];
                let view = json!({ "meeting_security": Self::security_view(&u.settings, &u.meeting_security) });
                let mut errors = Vec::new();
                validate_tree(&view, &patch, "", &mut errors);
                if !errors.is_empty() {
                    return Err(ApiError::validation(errors));
                }
                let mut main_changes = Vec::new();
                let mut own_changes = Vec::new();
                for (key, value) in ms {
                    let alias = SECURITY_ALIASES
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, p)| *p);
                    let mut locks = vec![format!("/meeting_security/{key}")];
                    if let Some(main) = alias
                        && let Some((section, k)) = main.trim_start_matches('/').split_once('/')
                    {
                        locks.extend(locks_for_setting(section, k));
                    }
                    if key == "meeting_password_requirement" {
                        locks.push("/meeting_security/meeting_password".into());
                    }
                    if self.locked_by(u, &locks).is_some() {
                        continue;
                    }
                    match alias {
                        Some(main) => main_changes.push((main.to_string(), value.clone())),
                        None if u.meeting_security.get(key).is_some() => {
                            own_changes.push((format!("/{key}"), value.clone()))
                        }
                        None => {}
                    }
                }
                let u = &mut self.users[idx];
                for (p, v) in main_changes {
                    apply_at(&mut u.settings, &p, &v);
                }
                for (p, v) in own_changes {
                    apply_at(&mut u.meeting_security, &p, &v);
                }
                Ok(())
            }
            Some(_) => Ok(()),
        }
    }

    /// `GET /groups/{groupId}/settings[?option=meeting_security]`.
    pub fn get_group_settings(&self, group_id: &str, option: Option<&str>) -> ApiResult<Value> {
        let g = &self.groups[self.group_idx(group_id)?];
        Ok(match option {
            Some("meeting_security") => {
                json!({ "meeting_security": Self::security_view(&g.settings, &json!({})) })
            }
            _ => g.settings.clone(),
        })
    }

    /// `PATCH /groups/{groupId}/settings` → 204; fields locked at account level are ignored.
    /// Group changes are not pushed down to members (Zoom's propagation rules are not modelled).
    pub fn patch_group_settings(&mut self, group_id: &str, body: &[u8]) -> ApiResult<()> {
        let gi = self.group_idx(group_id)?;
        let patch: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
        let mut errors = Vec::new();
        validate_tree(&self.groups[gi].settings, &patch, "", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        let mut changes = Vec::new();
        for (section, inner) in patch.as_object().into_iter().flatten() {
            for (key, value) in inner.as_object().into_iter().flatten() {
                let locked = locks_for_setting(section, key)
                    .iter()
                    .any(|p| self.account.lock_settings.pointer(p) == Some(&Value::Bool(true)));
                if !locked
                    && self.groups[gi]
                        .settings
                        .pointer(&format!("/{section}/{key}"))
                        .is_some()
                {
                    changes.push((format!("/{section}/{key}"), value.clone()));
                }
            }
        }
        for (p, v) in changes {
            apply_at(&mut self.groups[gi].settings, &p, &v);
        }
        Ok(())
    }

    /// `GET /groups/{groupId}/lock_settings[?option=meeting_security]`: every leaf a bool
    /// meaning "locked".
    pub fn get_group_locks(&self, group_id: &str, option: Option<&str>) -> ApiResult<Value> {
        let g = &self.groups[self.group_idx(group_id)?];
        Ok(lock_view(&g.lock_settings, option))
    }

    /// `PATCH /groups/{groupId}/lock_settings` → 204.
    pub fn patch_group_locks(&mut self, group_id: &str, body: &[u8]) -> ApiResult<()> {
        let gi = self.group_idx(group_id)?;
        let patch: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
        let mut errors = Vec::new();
        validate_tree(&self.groups[gi].lock_settings, &patch, "", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        merge_known(&mut self.groups[gi].lock_settings, &patch);
        Ok(())
    }

    fn check_account(&self, account_id: &str) -> ApiResult<()> {
        if account_id == "me" || account_id == self.account.id {
            Ok(())
        } else {
            Err(ApiError::new(
                400,
                2001,
                format!("Account does not exist: {account_id}."),
            ))
        }
    }

    /// `GET /accounts/{accountId}/settings` (`me` accepted).
    pub fn get_account_settings(&self, account_id: &str, option: Option<&str>) -> ApiResult<Value> {
        self.check_account(account_id)?;
        Ok(match option {
            Some("meeting_security") => {
                json!({ "meeting_security": Self::security_view(&self.account.settings, &json!({})) })
            }
            _ => self.account.settings.clone(),
        })
    }

    /// `PATCH /accounts/{accountId}/settings` → 204.
    pub fn patch_account_settings(&mut self, account_id: &str, body: &[u8]) -> ApiResult<()> {
        self.check_account(account_id)?;
        let patch: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
        let mut errors = Vec::new();
        validate_tree(&self.account.settings, &patch, "", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        merge_known(&mut self.account.settings, &patch);
        Ok(())
    }

    /// `GET /accounts/{accountId}/lock_settings` (`me` accepted).
    pub fn get_account_locks(&self, account_id: &str, option: Option<&str>) -> ApiResult<Value> {
        self.check_account(account_id)?;
        Ok(lock_view(&self.account.lock_settings, option))
    }

    /// `PATCH /accounts/{accountId}/lock_settings` → 204.
    pub fn patch_account_locks(&mut self, account_id: &str, body: &[u8]) -> ApiResult<()> {
        self.check_account(account_id)?;
        let patch: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
        let mut errors = Vec::new();
        validate_tree(&self.account.lock_settings, &patch, "", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        merge_known(&mut self.account.lock_settings, &patch);
        Ok(())
    }
}

/// Resolve a PATCH `start_time` (GMT with `Z`, or local time in `tz`).
fn resolve_start(s: &str, tz: &str) -> Option<DateTime<Utc>> {
    match schema::parse_zoom_time(s)? {
        ZoomTime::Utc(t) => Some(t),
        ZoomTime::Local(naive) => {
            let zone: chrono_tz::Tz = tz.parse().unwrap_or(chrono_tz::UTC);
            zone.from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

fn lock_view(locks: &Value, option: Option<&str>) -> Value {
    match option {
        Some("meeting_security") => json!({ "meeting_security": locks["meeting_security"] }),
        _ => {
            let mut v = locks.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("meeting_security");
            }
            v
        }
    }
}

/// Set or merge `value` at `pointer`.
fn apply_at(root: &mut Value, pointer: &str, value: &Value) {
    match root.pointer_mut(pointer) {
        Some(existing) if existing.is_object() && value.is_object() => merge(existing, value),
        _ => {
            set_pointer(root, pointer, value.clone());
        }
    }
}

/// Merge only keys that already exist in `target`.
fn merge_known(target: &mut Value, patch: &Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            if let Some(existing) = t.get_mut(k) {
                if existing.is_object() && v.is_object() {
                    merge_known(existing, v);
                } else {
                    *existing = v.clone();
                }
            }
        }
    }
}

/// Validate a settings patch against the types of the stored tree and the spec's enums.
fn validate_tree(current: &Value, patch: &Value, path: &str, errors: &mut Vec<Value>) {
    let (Some(cur), Some(p)) = (current.as_object(), patch.as_object()) else {
        if path.is_empty() {
            errors.push(json!({"field": "body", "message": "Invalid field: expected object."}));
        }
        return;
    };
    for (k, v) in p {
        let child = format!("{path}/{k}");
        let Some(existing) = cur.get(k) else { continue };
        let field = child.trim_start_matches('/').replace('/', ".");
        let same_type = match (existing, v) {
            (Value::Number(_), Value::Number(_)) => existing.is_f64() || v.is_i64() || v.is_u64(),
            _ => type_name(existing) == type_name(v),
        };
        if !same_type {
            errors.push(json!({"field": field, "message": format!("Invalid field: expected {}, got {}.", type_name(existing), type_name(v))}));
            continue;
        }
        if v.is_object() {
            validate_tree(existing, v, &child, errors);
            continue;
        }
        if let (Some(allowed), Some(s)) = (settings_enum(&child), v.as_str())
            && !allowed.contains(&s)
        {
            errors.push(json!({"field": field, "message": format!("Invalid field: must be one of {}.", allowed.join(", "))}));
        }
        if let (Some(allowed), Some(n)) = (settings_int_enum(&child), v.as_i64())
            && !allowed.contains(&n)
        {
            errors.push(json!({"field": field, "message": format!("Invalid field: must be one of {allowed:?}.")}));
        }
        if child.ends_with("/meeting_password_requirement/length")
            && !(0..=10).contains(&v.as_i64().unwrap_or(-1))
        {
            errors.push(
                json!({"field": field, "message": "Invalid field: must be between 0 and 10."}),
            );
        }
    }
}

/// `custom_query_fields`: keep only leaves whose name is listed, with their parents.
fn filter_fields(v: &Value, names: &[&str]) -> Option<Value> {
    let obj = v.as_object()?;
    let mut out = Map::new();
    for (k, child) in obj {
        if names.contains(&k.as_str()) {
            out.insert(k.clone(), child.clone());
        } else if let Some(sub) = filter_fields(child, names)
            && sub.as_object().is_some_and(|m| !m.is_empty())
        {
            out.insert(k.clone(), sub);
        }
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoom::scenario::{SimMeeting, SimUser};

    fn state() -> SimState {
        let start = Utc::now() + chrono::Duration::days(2);
        SimState::new(
            Scenario::empty()
                .user(SimUser::new("host@example.org", "H", "Ost"))
                .user(SimUser::new("colleague@example.org", "C", "Olleague"))
                .user(SimUser::new("basic@example.org", "B", "Asic").basic())
                .meeting(SimMeeting::scheduled(
                    5,
                    "host@example.org",
                    "[youth] x",
                    start,
                    60,
                )),
        )
    }

    fn today() -> NaiveDate {
        Utc::now().date_naive()
    }

    #[test]
    fn waiting_room_turns_join_before_host_off() {
        let mut s = state();
        s.set_meeting_field(5, "/settings/join_before_host", json!(true));
        s.patch_meeting(
            "5",
            None,
            br#"{"settings":{"waiting_room":true}}"#,
            Some(100),
            today(),
            Utc::now(),
        )
        .unwrap();
        let m = s.meeting_value(5).unwrap();
        assert_eq!(m["settings"]["join_before_host"], false);
    }

    #[test]
    fn alternative_hosts_must_be_licensed_account_users() {
        let mut s = state();
        let e = s
            .patch_meeting(
                "5",
                None,
                br#"{"settings":{"alternative_hosts":"basic@example.org"}}"#,
                Some(100),
                today(),
                Utc::now(),
            )
            .unwrap_err();
        assert_eq!(e.body["code"], 1114);
        let e = s
            .patch_meeting(
                "5",
                None,
                br#"{"settings":{"alternative_hosts":"nobody@else.org"}}"#,
                Some(100),
                today(),
                Utc::now(),
            )
            .unwrap_err();
        assert_eq!(e.body["code"], 1114);
        s.patch_meeting(
            "5",
            None,
            br#"{"settings":{"alternative_hosts":"COLLEAGUE@example.org"}}"#,
            Some(100),
            today(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(
            s.meeting_value(5).unwrap()["settings"]["alternative_hosts"],
            "colleague@example.org"
        );
    }

    #[test]
    fn occurrence_patch_ignores_series_only_fields() {
        let first = Utc::now() + chrono::Duration::days(1);
        let mut s = SimState::new(
            Scenario::empty()
                .user(SimUser::new("host@example.org", "H", "Ost"))
                .meeting(SimMeeting::weekly(
                    9,
                    "host@example.org",
                    "[youth] w",
                    first,
                    60,
                    3,
                )),
        );
        let occ = s.meeting_value(9).unwrap()["occurrences"][1]["occurrence_id"]
            .as_str()
            .unwrap()
            .to_string();
        s.patch_meeting(
            "9",
            Some(&occ),
            br#"{"password":"Abc123","settings":{"waiting_room":true}}"#,
            Some(100),
            today(),
            Utc::now(),
        )
        .unwrap();
        let series = s.meeting_value(9).unwrap();
        assert!(series.get("password").is_none());
        assert_eq!(series["settings"]["waiting_room"], false);
        let one = s.get_meeting("9", Some(&occ)).unwrap();
        assert_eq!(one["settings"]["waiting_room"], true);
        assert_eq!(one["settings"]["join_before_host"], false);
    }
}

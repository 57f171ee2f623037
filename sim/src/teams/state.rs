//! What the Graph simulator holds between requests: the directory, meetings, calendar events,
//! issued tokens, subscriptions, counters, faults and throttling windows. Kept apart from the HTTP
//! front so the in-process test API (`TeamsSim`) and the `/_sim/` admin requests change state the
//! same way. Written from `shared/specs/teams/` and `shared/research/teams-webex-meet.md`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::fault::{AppRateLimit, GraphFault, GraphFaultKind};
use super::scenario::{TeamsGroup, TeamsScenario, TeamsUser};
use super::seed::{build, date_time_tz};
use super::{GraphSimStats, TeamsSimConfig, TeamsSimInfo, lock};

/// An onlineMeeting as stored: its organizer's id, its JSON as GET returns it (all enum members
/// shown) and the properties tenant policy holds (a PATCH of them is accepted and ignored).
pub(crate) struct StoredMeeting {
    pub organizer: String,
    pub value: Value,
    pub policy_held: Vec<String>,
}

/// One calendar's copy of an event occurrence, with its times parsed for calendarView.
pub(crate) struct StoredEvent {
    pub owner: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub value: Value,
}

/// The tenant's data, under one lock.
pub(crate) struct Data {
    pub users: Vec<TeamsUser>,
    pub groups: Vec<TeamsGroup>,
    pub meetings: BTreeMap<String, StoredMeeting>,
    pub events: Vec<StoredEvent>,
    /// Issued access tokens and when they expire.
    pub tokens: HashMap<String, Instant>,
    pub subscriptions: BTreeMap<String, Value>,
    pub counter: u64,
}

impl Data {
    /// A user by object id or UPN, as Graph's `/users/{id | userPrincipalName}` accepts.
    pub fn user(&self, id_or_upn: &str) -> Option<&TeamsUser> {
        self.users.iter().find(|u| {
            u.id.eq_ignore_ascii_case(id_or_upn) || u.email.eq_ignore_ascii_case(id_or_upn)
        })
    }

    /// A fresh number for ids and tokens.
    pub fn next(&mut self) -> u64 {
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
    pub data: Mutex<Data>,
    pub stats: Mutex<GraphSimStats>,
    pub faults: Mutex<Vec<(GraphFault, Option<u32>)>>,
    /// Requests in flight per mailbox (server/limits.rs).
    pub in_flight: Mutex<HashMap<String, u64>>,
    /// Request times per mailbox in the current window (server/limits.rs).
    pub windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Requests a second left to this app in the tenant (fault.rs `AppRateLimit`).
    pub app_limit: Mutex<AppRateLimit>,
    /// Sends subscription validation requests.
    pub client: reqwest::Client,
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

    /// `http://127.0.0.1:PORT/v1.0` (Graph: `https://graph.microsoft.com/v1.0`).
    pub(crate) fn graph_base_url(&self) -> String {
        format!("http://{}/v1.0", self.addr)
    }

    /// `http://127.0.0.1:PORT/{tenant}/oauth2/v2.0/token`: also the audience an assertion names.
    pub(crate) fn token_url(&self) -> String {
        format!("http://{}/{}/oauth2/v2.0/token", self.addr, self.tenant_id)
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
            e.value["start"] = date_time_tz(new_start);
            e.value["end"] = date_time_tz(new_end);
        }
        true
    }

    pub(crate) fn subscription_list(&self) -> Vec<Value> {
        lock(&self.data).subscriptions.values().cloned().collect()
    }

    /// What `GET /_sim/info` answers.
    pub(crate) fn info(&self) -> TeamsSimInfo {
        TeamsSimInfo {
            graph_base_url: self.graph_base_url(),
            token_url: self.token_url(),
            tenant_id: self.tenant_id.clone(),
            client_id: self.config.client_id.clone(),
            client_secret: self.config.client_secret.clone(),
            staff_group_id: self.staff_group.clone(),
        }
    }

    /// Takes the first fault matching the request, counting it down.
    pub(crate) fn take_fault(
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

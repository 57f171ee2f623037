//! A stateful simulator of the Zoom REST API v2 and its Server-to-Server OAuth token endpoint,
//! written from Zoom's OpenAPI documents in `shared/specs/zoom/` and the notes in
//! `shared/research/zoom.md`.
//!
//! It serves real HTTP on 127.0.0.1 so chaperone's Zoom adapter can be tested end to end:
//! paginated lists, 204-on-update, settings locked above the host (ignored silently), tokens that
//! expire or are revoked, per-second and per-host-per-day rate limits with Zoom's headers and
//! messages, 64-bit meeting ids beyond 2^53, and injectable faults.
//!
//! Besides the `/v2` API and `/oauth/token`, the simulator answers admin requests under `/_sim/`
//! (no authentication; local testing only) so that a separately started process
//! (`chaperone sim zoom`) can be driven by tests:
//!
//! | request | effect |
//! |---|---|
//! | `GET /_sim/info` | base URLs, account id and the simulator's (test-only) client credentials |
//! | `GET /_sim/stats` | [`SimStats`] as JSON |
//! | `POST /_sim/faults` | inject a [`Fault`] given as JSON → 204 |
//! | `DELETE /_sim/faults` | clear faults → 204 |
//! | `POST /_sim/revoke` | revoke every access token → 204 |
//! | `POST /_sim/reset_daily` | reset the per-host daily update counters → 204 |
//! | `POST /_sim/other_app` | `{"allowed_fraction": 0.1}`: another app takes the rest of every per-second limit → 204 |
//! | `GET /_sim/meetings/{id}` | the stored meeting |
//! | `PATCH /_sim/meetings/{id}` | `{"pointer": "/settings/waiting_room", "value": false}`: a host's own change → 204 |
//! | `GET /_sim/users/{userId}/settings` | the stored main settings tree |
//!
//! # Assumptions (where the spec and research leave a gap, the harder case is taken)
//! - A PATCH to a user setting locked at group or account level answers 204 and changes nothing.
//! - `in_meeting.screen_sharing` locks `who_can_share_screen` (and the other sharing options);
//!   `in_meeting.chat` locks `allow_participants_chat_with`, `allow_users_save_chats` and
//!   `auto_saving_chat`; a lock in any of the user's groups applies.
//! - `meeting_security.{waiting_room, embed_password_in_join_link, meeting_password_requirement,
//!   require_password_for_scheduled_meeting, meeting_password}` are the same settings as their
//!   main-tree counterparts (`in_meeting.waiting_room`, `schedule_meeting.*`).
//! - Invalid alternative hosts (not an active licensed user of the account, or the host) → 400
//!   code 1114; the spec lists no code for this.
//! - Schema errors → 400 `{"code":300,"message":"Validation Failed.","errors":[{field,message}]}`;
//!   passcode rule violations → 400 code 300 with a message naming the rule.
//! - Fields the spec does not list are ignored (no `additionalProperties: false` in the spec).
//! - An occurrence keeps what was set on it alone (`PATCH ?occurrence_id=`): a later series PATCH
//!   does not reach those settings (the spec does not say whether it does; the harder case), and
//!   only `GET ?occurrence_id=` shows them, merged over the series'.
//! - Per-occurrence PATCH silently ignores fields that are not per-occurrence (passcode,
//!   alternative hosts) with 204.
//! - Every PATCH of an existing meeting counts towards the host's daily budget, even if it then
//!   fails validation; the daily 429 carries only `X-RateLimit-Category`.
//! - Per-second 429s carry `Retry-After` in seconds ("1"); only admitted requests use budget;
//!   the default window is sliding (at most N in any one-second interval).
//! - `page_size` above the maximum is capped, not rejected; the last page has
//!   `next_page_token: ""`; a page token walks a snapshot taken at the first page.
//! - A meeting without a passcode has no `password`/`encrypted_password` keys in GET, and its
//!   `join_url` has no `pwd=`.
//! - A recurring (type 8) meeting appears once in the list, with its next occurrence's start.
//! - Zoom's rewrite of requests that leave no security option on is not modelled; changes to
//!   group or account settings are not pushed down to users' stored values.

mod fault;
mod model;
mod passcode;
mod ratelimit;
mod scenario;
mod schema;
mod server;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use fault::{Fault, FaultKind, FaultTarget};
pub use ratelimit::RateWindow;
pub use scenario::{
    DEMO_DOMAIN, FIRST_UNSAFE_ID, Scenario, SimAccount, SimGroup, SimMeeting, SimUser,
};

use fault::ActiveFault;
use ratelimit::RateLimiter;
use state::SimState;

/// Simulator knobs: credentials, token lifetimes and rate limits.
#[derive(Clone, Debug)]
pub struct ZoomSimConfig {
    /// OAuth client id the token endpoint accepts.
    pub client_id: String,
    /// OAuth client secret the token endpoint accepts (a test value, not a secret).
    pub client_secret: String,
    /// Access-token lifetime (`expires_in`); Zoom documents 3600 s.
    pub token_ttl: Duration,
    /// Lifetime of a `next_page_token`; the spec says 15 minutes.
    pub page_token_ttl: Duration,
    /// LIGHT requests per second per account (GET/PATCH meeting, GET user); `None` = unlimited.
    pub light_per_second: Option<u32>,
    /// MEDIUM requests per second per account (lists, settings, locks); `None` = unlimited.
    pub medium_per_second: Option<u32>,
    /// Meeting create/update requests per host per UTC day; `None` = unlimited.
    pub meeting_updates_per_host_per_day: Option<u32>,
    /// How the one-second budget is counted.
    pub rate_window: RateWindow,
}

impl Default for ZoomSimConfig {
    fn default() -> Self {
        Self::pro()
    }
}

impl ZoomSimConfig {
    /// Pro plan limits: Light 30/s, Medium 20/s, 100 meeting updates per host per day.
    pub fn pro() -> Self {
        ZoomSimConfig {
            client_id: "sim-client-id".into(),
            client_secret: "sim-client-secret".into(),
            token_ttl: Duration::from_secs(3600),
            page_token_ttl: Duration::from_secs(15 * 60),
            light_per_second: Some(30),
            medium_per_second: Some(20),
            meeting_updates_per_host_per_day: Some(100),
            rate_window: RateWindow::Sliding,
        }
    }

    /// Business+ limits: Light 80/s, Medium 60/s.
    pub fn business() -> Self {
        ZoomSimConfig {
            light_per_second: Some(80),
            medium_per_second: Some(60),
            ..Self::pro()
        }
    }

    /// No per-second limits (fast tests); the per-host daily limit stays at 100.
    pub fn unlimited() -> Self {
        ZoomSimConfig {
            light_per_second: None,
            medium_per_second: None,
            ..Self::pro()
        }
    }

    /// Set the per-second limits.
    pub fn with_rate_limits(mut self, light: Option<u32>, medium: Option<u32>) -> Self {
        self.light_per_second = light;
        self.medium_per_second = medium;
        self
    }

    /// Set the per-host daily update limit.
    pub fn with_daily_limit(mut self, limit: Option<u32>) -> Self {
        self.meeting_updates_per_host_per_day = limit;
        self
    }

    /// Set the access-token lifetime.
    pub fn with_token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Set the page-token lifetime.
    pub fn with_page_token_ttl(mut self, ttl: Duration) -> Self {
        self.page_token_ttl = ttl;
        self
    }

    /// Set the rate window.
    pub fn with_rate_window(mut self, window: RateWindow) -> Self {
        self.rate_window = window;
        self
    }
}

/// What the simulator has seen, so tests and benchmarks can check call counts and that a client
/// never went over the limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    /// Every request except `/_sim/` admin requests.
    pub total_requests: u64,
    /// Requests by `"METHOD template"`, e.g. `"GET /v2/meetings/{meetingId}"`,
    /// `"POST /oauth/token"`; unmatched paths count as `"METHOD UNKNOWN"`.
    pub requests: BTreeMap<String, u64>,
    /// Authenticated API requests by rate-limit category (`"Light"`, `"Medium"`), including
    /// those then refused with 429.
    pub by_category: BTreeMap<String, u64>,
    /// PATCH/POST/PUT/DELETE requests to `/v2` (whatever their outcome).
    pub writes: u64,
    /// Writes answered 2xx.
    pub writes_applied: u64,
    /// Writes answered 2xx per meeting id (as text: JSON object keys), so a test can prove no
    /// change was applied to a meeting twice; an occurrence's own writes are counted under
    /// `ID?occurrence_id=OCC`.
    pub meeting_writes_applied: BTreeMap<String, u64>,
    /// Per-second 429s by category.
    pub rate_limited: BTreeMap<String, u64>,
    /// Per-host daily-limit 429s.
    pub daily_limited: u64,
    /// Requests to the token endpoint.
    pub token_requests: u64,
    /// Tokens issued.
    pub tokens_issued: u64,
    /// 401 answers (missing, unknown, expired or revoked token).
    pub unauthorized: u64,
    /// Requests a fault applied to.
    pub faults_fired: u64,
    /// Most admitted requests in any one-second interval, by category.
    pub peak_per_second: BTreeMap<String, u64>,
}

impl SimStats {
    /// Requests seen for one route, e.g. `requests_for("PATCH", "/v2/meetings/{meetingId}")`.
    pub fn requests_for(&self, method: &str, template: &str) -> u64 {
        self.requests
            .get(&format!("{method} {template}"))
            .copied()
            .unwrap_or(0)
    }

    /// All 429s (per-second and daily).
    pub fn total_429s(&self) -> u64 {
        self.rate_limited.values().sum::<u64>() + self.daily_limited
    }
}

/// State shared by the HTTP handlers and the [`ZoomSim`] handle.
pub(crate) struct Shared {
    pub config: ZoomSimConfig,
    pub addr: SocketAddr,
    pub account_id: String,
    pub state: Mutex<SimState>,
    pub limiter: Mutex<RateLimiter>,
    pub stats: Mutex<SimStats>,
    pub faults: Mutex<Vec<ActiveFault>>,
}

/// Lock a mutex, recovering the data if a panicking thread poisoned it (the simulator's
/// state stays usable for the remaining test).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub fn stats(&self) -> SimStats {
        let mut s = lock(&self.stats).clone();
        s.peak_per_second = lock(&self.limiter).peaks();
        s
    }

    /// Add a fault; actions aimed at everything with no count happen at once.
    pub fn inject(&self, fault: Fault) {
        if fault.is_action() && fault.target == FaultTarget::All && fault.times.is_none() {
            self.apply_action(&fault.kind);
        } else {
            lock(&self.faults).push(ActiveFault::new(fault));
        }
    }

    pub fn apply_action(&self, kind: &FaultKind) {
        let mut st = lock(&self.state);
        match kind {
            FaultKind::RevokeTokens => st.revoke_tokens(),
            FaultKind::ExpirePageTokens => st.expire_page_tokens(),
            FaultKind::DeleteMeeting { id } => {
                st.delete_meeting(*id);
            }
            _ => {}
        }
    }
}

/// A running Zoom simulator. Dropping it stops the server; [`ZoomSim::shutdown`] also waits.
pub struct ZoomSim {
    shared: Arc<Shared>,
    shutdown_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ZoomSim {
    /// Start on 127.0.0.1 with an OS-chosen port.
    pub async fn start(config: ZoomSimConfig, scenario: Scenario) -> std::io::Result<ZoomSim> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config, scenario).await
    }

    /// Start on a given address (for `chaperone sim zoom`).
    pub async fn start_on(
        addr: SocketAddr,
        config: ZoomSimConfig,
        scenario: Scenario,
    ) -> std::io::Result<ZoomSim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            limiter: Mutex::new(RateLimiter::new(config.rate_window)),
            config,
            addr,
            account_id: scenario.account.id.clone(),
            state: Mutex::new(SimState::new(scenario)),
            stats: Mutex::new(SimStats::default()),
            faults: Mutex::new(Vec::new()),
        });
        let (tx, rx) = oneshot::channel::<()>();
        let app = server::router(shared.clone());
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "zoom simulator stopped with an error");
            }
        });
        tracing::info!(%addr, "zoom simulator listening");
        Ok(ZoomSim {
            shared,
            shutdown_tx: Some(tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// API base, e.g. `http://127.0.0.1:PORT/v2` (Zoom: `https://api.zoom.us/v2`).
    pub fn api_base_url(&self) -> String {
        format!("http://{}/v2", self.shared.addr)
    }

    /// Token endpoint, e.g. `http://127.0.0.1:PORT/oauth/token` (Zoom: `https://zoom.us/oauth/token`).
    pub fn token_url(&self) -> String {
        format!("http://{}/oauth/token", self.shared.addr)
    }

    /// The account id the token endpoint expects.
    pub fn account_id(&self) -> &str {
        &self.shared.account_id
    }

    /// The client id the token endpoint accepts.
    pub fn client_id(&self) -> &str {
        &self.shared.config.client_id
    }

    /// The client secret the token endpoint accepts.
    pub fn client_secret(&self) -> &str {
        &self.shared.config.client_secret
    }

    /// Counters so far.
    pub fn stats(&self) -> SimStats {
        self.shared.stats()
    }

    /// Inject a fault (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        self.shared.inject(fault);
    }

    /// A second, unseen app on the account uses all but `fraction` of every per-second limit from
    /// now on (zoom.md §5: limits are the account's, shared by all its apps); `POST
    /// /_sim/other_app` does the same for a separate process.
    pub fn set_allowed_fraction(&self, fraction: f64) {
        lock(&self.shared.limiter).set_allowed_fraction(fraction);
    }

    /// Remove all pending faults.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Invalidate every issued access token: the next API call gets 401 code 124.
    pub fn revoke_tokens(&self) {
        lock(&self.shared.state).revoke_tokens();
    }

    /// Reset the per-host daily meeting-update counters (as at 00:00 UTC).
    pub fn reset_daily_limits(&self) {
        lock(&self.shared.state).reset_daily_limits();
    }

    /// The stored meeting as `GET /meetings/{id}` would return it.
    pub fn meeting(&self, id: u64) -> Option<Value> {
        lock(&self.shared.state).meeting_value(id)
    }

    /// One occurrence as `GET /meetings/{id}?occurrence_id=` would return it: its own settings
    /// merged over the series'.
    pub fn occurrence(&self, id: u64, occurrence_id: &str) -> Option<Value> {
        lock(&self.shared.state)
            .get_meeting(&id.to_string(), Some(occurrence_id))
            .ok()
    }

    /// A user's main settings tree (user id or email).
    pub fn user_settings(&self, user_id: &str) -> Option<Value> {
        lock(&self.shared.state).user_settings_value(user_id)
    }

    /// Change a stored meeting as its host would in the web portal (a JSON pointer into the GET
    /// object, e.g. `"/settings/join_before_host"`). Setting `/password` regenerates the
    /// derived passcode fields and `join_url`. Unknown meeting ids are ignored.
    pub fn set_meeting_field(&self, id: u64, json_pointer: &str, value: Value) {
        if !lock(&self.shared.state).set_meeting_field(id, json_pointer, value) {
            tracing::warn!(id, json_pointer, "set_meeting_field did not apply");
        }
    }

    /// Delete a meeting (later requests get 404 code 3001).
    pub fn delete_meeting(&self, id: u64) -> bool {
        lock(&self.shared.state).delete_meeting(id)
    }

    /// Stop serving and wait for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ZoomSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
    }
}

//! A stateful simulator of the Microsoft Graph v1.0 subset chaperone's Teams adapter uses, and of
//! the Microsoft identity platform token endpoint. Written from `shared/specs/teams/` (the
//! onlineMeeting excerpt of the v1.0 CSDL) and `shared/research/teams-webex-meet.md`; it shares no
//! code with chaperone's client.
//!
//! Served on 127.0.0.1 over real HTTP:
//!
//! | request | behaviour |
//! |---|---|
//! | `POST /{tenant}/oauth2/v2.0/token` | client credentials with `client_secret` or a certificate `client_assertion` (RS256 + `x5t` or PS256 + `x5t#S256`, verified) |
//! | `GET /v1.0/groups/{id}/members` | users, paged by `@odata.nextLink` |
//! | `GET /v1.0/users/{id}` / `…/memberOf` | a user (id or UPN) / their groups, paged |
//! | `GET /v1.0/users/{id}/calendarView` | occurrences overlapping `startDateTime`–`endDateTime` (both required), paged (`Prefer: odata.maxpagesize`) |
//! | `GET /v1.0/users/{id}/events/{eventId}` | one event |
//! | `GET /v1.0/users/{id}/onlineMeetings?$filter=JoinWebUrl eq '…'` | the meeting with that join URL (a bare list is 400) |
//! | `GET`/`PATCH /v1.0/users/{id}/onlineMeetings/{meetingId}` | one meeting; PATCH takes only updatable properties, answers 200 with the whole object |
//! | `POST /v1.0/subscriptions`, `PATCH`/`DELETE /v1.0/subscriptions/{id}` | subscriptions, with the `validationToken` handshake |
//!
//! Quirks modelled: evolvable enum members (`invited`, `organizationExcludingGuests`,
//! `coorganizer`, `producer`) read as `unknownFutureValue` without `Prefer:
//! include-unknown-enum-members`; 403 "No application access policy found for this app." for users
//! without the policy; read-only properties in a PATCH are 400; `participants.attendees` replaces
//! the whole list; a property held by tenant policy accepts a write and ignores it; per-mailbox
//! limits (4 concurrent requests, N per window) answer 429 with `Retry-After`.
//!
//! Admin requests under `/_sim/` (no authentication, local testing only):
//! `GET /_sim/info`, `GET /_sim/stats`, `POST`/`DELETE /_sim/faults`, `POST /_sim/revoke`,
//! `GET /_sim/meetings` (id, organizer, subject of each), `GET /_sim/meetings/{id}`,
//! `PATCH /_sim/meetings/{id}` (`{"property": "allowMeetingChat", "value": "limited"}`: an
//! organizer's own change in Teams), `POST /_sim/meetings/{id}/start` (the meeting's next
//! occurrence starts now: Graph has no meeting status, so "live" is only its times).
//!
//! Files: `state.rs` (what the simulator holds) and `seed.rs` (the scenario as stored Graph JSON);
//! `server.rs` parses and dispatches each request, one file a resource under `server/` answers it
//! (`token`, `users`, `meetings`, `subscriptions`, `admin`), with `limits` (faults and 429s) and
//! `reply` (answer shapes) shared by all.
//!
//! # Assumptions (where the CSDL and research leave a gap, the harder case is taken)
//! - Updatable properties are those of `api/onlinemeeting-update.md` as summarised in §1.2; any
//!   other property in a PATCH answers 400 `BadRequest`.
//! - A PATCH of `lobbyBypassSettings` merges the fields given into the stored ones.
//! - Co-organizers and attendees given by `identity.user.id` or `upn` must be users of the tenant.
//! - Default page size 10 (calendarView) and 100 (directory), `odata.maxpagesize` honoured up to
//!   1000; the next link carries an opaque `$skiptoken`.
//! - The per-mailbox limits count every `/users/{id}/…` request against that user's mailbox.
//! - Throttled answers carry `Retry-After` in seconds and Graph's error body
//!   (`ApplicationThrottled`, "MailboxConcurrency").

mod fault;
mod scenario;
mod seed;
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

pub use fault::{GraphFault, GraphFaultKind, GraphFaultTarget};
pub use scenario::{TEAMS_DEMO_DOMAIN, TeamsGroup, TeamsMeeting, TeamsScenario, TeamsUser};

use state::State;

/// The certificate a client may sign its assertion with: its public key and thumbprints.
#[derive(Clone, Debug)]
pub struct SimCertificate {
    /// PEM public key (`BEGIN PUBLIC KEY`) or RSA public key.
    pub public_key_pem: String,
    /// SHA-1 thumbprint, hex.
    pub sha1_hex: Option<String>,
    /// SHA-256 thumbprint, hex.
    pub sha256_hex: Option<String>,
}

/// Simulator knobs.
#[derive(Clone, Debug)]
pub struct TeamsSimConfig {
    pub client_id: String,
    /// A test value, not a secret.
    pub client_secret: String,
    pub certificate: Option<SimCertificate>,
    /// `expires_in` of issued tokens.
    pub token_ttl: Duration,
    /// Requests in flight at once per mailbox before 429 (Outlook: 4, §1.6); `None` = no limit.
    pub mailbox_concurrency: Option<usize>,
    /// Requests per window per mailbox before 429 (Outlook: 10,000 per 10 minutes).
    pub mailbox_requests: Option<(u32, Duration)>,
    /// Added to every mailbox request, so overlapping requests are observable.
    pub latency: Duration,
    /// Default page size of directory lists and calendarView.
    pub directory_page: usize,
    pub calendar_page: usize,
}

impl Default for TeamsSimConfig {
    fn default() -> Self {
        TeamsSimConfig {
            client_id: "sim-teams-client-id".into(),
            client_secret: "sim-teams-client-secret".into(),
            certificate: None,
            token_ttl: Duration::from_secs(3599),
            mailbox_concurrency: Some(4),
            mailbox_requests: Some((10_000, Duration::from_secs(600))),
            latency: Duration::ZERO,
            directory_page: 100,
            calendar_page: 10,
        }
    }
}

impl TeamsSimConfig {
    /// Small pages everywhere, so paging is exercised.
    pub fn with_page_sizes(mut self, directory: usize, calendar: usize) -> Self {
        self.directory_page = directory.max(1);
        self.calendar_page = calendar.max(1);
        self
    }

    pub fn with_mailbox_limits(
        mut self,
        concurrency: Option<usize>,
        requests: Option<(u32, Duration)>,
    ) -> Self {
        self.mailbox_concurrency = concurrency;
        self.mailbox_requests = requests;
        self
    }

    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    pub fn with_certificate(mut self, cert: SimCertificate) -> Self {
        self.certificate = Some(cert);
        self
    }

    pub fn with_token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }
}

/// What the simulator has seen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphSimStats {
    /// Every request except `/_sim/` admin requests.
    pub total_requests: u64,
    /// By `"METHOD template"`, e.g. `"PATCH /v1.0/users/{id}/onlineMeetings/{meetingId}"`.
    pub requests: BTreeMap<String, u64>,
    /// POST/PATCH/DELETE to `/v1.0` (whatever their outcome).
    pub writes: u64,
    /// Writes answered 2xx.
    pub writes_applied: u64,
    /// 429 answers.
    pub throttled: u64,
    pub token_requests: u64,
    pub tokens_issued: u64,
    /// Tokens issued for a certificate assertion.
    pub assertions_accepted: u64,
    pub unauthorized: u64,
    pub faults_fired: u64,
    /// Most requests in flight at once for any one mailbox.
    pub peak_mailbox_concurrency: u64,
    /// Validation requests sent to notification URLs.
    pub validations_sent: u64,
}

impl GraphSimStats {
    /// Requests seen for one route.
    pub fn requests_for(&self, method: &str, template: &str) -> u64 {
        self.requests
            .get(&format!("{method} {template}"))
            .copied()
            .unwrap_or(0)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running Graph simulator. Dropping it stops the server.
pub struct TeamsSim {
    shared: Arc<State>,
    shutdown_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TeamsSim {
    /// Start on 127.0.0.1 with an OS-chosen port.
    pub async fn start(config: TeamsSimConfig, scenario: TeamsScenario) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config, scenario).await
    }

    /// Start on a given address (for `chaperone sim teams`).
    pub async fn start_on(
        addr: SocketAddr,
        config: TeamsSimConfig,
        scenario: TeamsScenario,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(State::new(addr, config, scenario));
        let (tx, rx) = oneshot::channel::<()>();
        let app = server::router(shared.clone());
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "graph simulator stopped with an error");
            }
        });
        tracing::info!(%addr, "graph simulator listening");
        Ok(TeamsSim {
            shared,
            shutdown_tx: Some(tx),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT/v1.0` (Graph: `https://graph.microsoft.com/v1.0`).
    pub fn graph_base_url(&self) -> String {
        self.shared.graph_base_url()
    }

    /// `http://127.0.0.1:PORT/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        self.shared.token_url()
    }

    pub fn tenant_id(&self) -> &str {
        &self.shared.tenant_id
    }

    pub fn client_id(&self) -> &str {
        &self.shared.config.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.shared.config.client_secret
    }

    /// The id of the scenario's staff group.
    pub fn staff_group_id(&self) -> &str {
        &self.shared.staff_group
    }

    pub fn stats(&self) -> GraphSimStats {
        self.shared.stats()
    }

    pub fn inject(&self, fault: GraphFault) {
        self.shared.inject(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Invalidate every issued token: the next call gets 401.
    pub fn revoke_tokens(&self) {
        self.shared.revoke_tokens();
    }

    /// `(id, organizer email, subject)` of every meeting.
    pub fn meetings(&self) -> Vec<(String, String, String)> {
        self.shared.meeting_list()
    }

    /// The id of the meeting with this subject.
    pub fn meeting_id(&self, subject: &str) -> Option<String> {
        self.meetings()
            .into_iter()
            .find(|(_, _, s)| s == subject)
            .map(|(id, _, _)| id)
    }

    /// The stored meeting as GET would return it (all enum members shown).
    pub fn meeting(&self, id: &str) -> Option<Value> {
        self.shared.meeting_value(id)
    }

    /// The meeting's next occurrence starts now (it began a minute ago, same length): for a run
    /// that collected the meeting before it started and writes after. See `POST
    /// /_sim/meetings/{id}/start`. False when there is no such meeting or nothing left to start.
    pub fn start_meeting_now(&self, id: &str) -> bool {
        self.shared.start_now(id)
    }

    /// A second, unseen app of the tenant leaves this one `per_second` requests a second from
    /// now on (429 with `Retry-After` beyond it, teams-webex-meet.md §1.6); `None` lifts it.
    /// `POST /_sim/app_limit` does the same for a separate process.
    pub fn set_app_rate_limit(&self, per_second: Option<u32>) {
        self.shared.set_app_rate_limit(per_second);
    }

    /// Change a property as the organizer would in Teams.
    pub fn set_meeting_property(&self, id: &str, property: &str, value: Value) -> bool {
        self.shared.set_property(id, property, value)
    }

    /// Active subscriptions as JSON.
    pub fn subscriptions(&self) -> Vec<Value> {
        self.shared.subscription_list()
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TeamsSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
    }
}

/// The admin endpoint's `POST /_sim/faults` body and the info endpoint's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TeamsSimInfo {
    pub graph_base_url: String,
    pub token_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub staff_group_id: String,
}

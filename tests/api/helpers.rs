//! `spawn_app()`: the Zoom simulator on a loopback port, and `chaperone serve`'s `Application`
//! built from a settings file pointing at it, on port 0, with a fresh SQLite store.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use chaperone::server::signature;
use chaperone::server::{Application, ServeOptions, ShutdownHandle};
use chaperone::settings::Settings;
use chaperone::store::Store;
use chaperone::store::webhooks::{EventState, WebhookEvent};
use chaperone_sim::{FIRST_UNSAFE_ID, Scenario, SimMeeting, ZoomSim, ZoomSimConfig};
use chrono::Utc;
use serde_json::{Value, json};

pub const TENANT: &str = "riverside-youth";
/// The tenant's webhook secret token (a test value).
pub const SECRET: &str = "test-webhook-secret-token-3f9a";
/// A meeting of the bench scenario: `[youth]` topic, host in Youth Workers, drifted.
pub const DRIFTED: u64 = FIRST_UNSAFE_ID;
/// A meeting no profile selects (added by [`scenario`]).
pub const STAFF_ONLY: u64 = 81_000_000_001;
const PATCH_MEETING: (&str, &str) = ("PATCH", "/v2/meetings/{meetingId}");

pub fn repo_profiles() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

/// Two youth workers with three drifted `[youth]` meetings each, and one staff meeting.
pub fn scenario() -> Scenario {
    let start = Utc::now() + chrono::Duration::days(3);
    Scenario::bench(2, 3).meeting(SimMeeting::scheduled(
        STAFF_ONLY,
        &format!("duty.officer@{}", chaperone_sim::DEMO_DOMAIN),
        "Staff planning",
        start,
        60,
    ))
}

/// A settings file for one tenant on `sim`, listening on `listen`, storing in `dir`.
pub fn write_settings(dir: &Path, sim: &ZoomSim, listen: &str, client_secret: &str) -> PathBuf {
    let text = format!(
        r#"
[store]
url = "sqlite://{db}"

[server]
listen = "{listen}"

[[tenants]]
id = "{TENANT}"
timezone = "Europe/London"
profiles_dir = "{profiles}"

[tenants.zoom]
account_id = "{account}"
client_id = "{client}"
client_secret = "{client_secret}"
api_base_url = "{api}"
token_url = "{token}"
webhook_secret_token = "{SECRET}"

[tenants.zoom.rate_limits]
light_per_second = 1000
medium_per_second = 1000
"#,
        db = dir.join("chaperone.db").display(),
        profiles = repo_profiles().display(),
        account = sim.account_id(),
        client = sim.client_id(),
        api = sim.api_base_url(),
        token = sim.token_url(),
    );
    let path = dir.join("chaperone.toml");
    std::fs::write(&path, text).expect("settings written");
    path
}

pub struct TestApp {
    pub address: String,
    pub sim: ZoomSim,
    pub store: Store,
    pub client: reqwest::Client,
    pub shutdown: ShutdownHandle,
    pub server: tokio::task::JoinHandle<Result<(), chaperone::server::ServeError>>,
    pub dir: tempfile::TempDir,
}

pub fn test_options() -> ServeOptions {
    ServeOptions {
        workers: 4,
        poll: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(5),
        scheduler: false,
        ..ServeOptions::default()
    }
}

/// `chaperone serve`'s `Application` built from the settings file at `path` with `options`,
/// running in this process on the port the file names; `sim` and `dir` live as long as it.
pub async fn serve_settings(
    path: &Path,
    options: ServeOptions,
    sim: ZoomSim,
    dir: tempfile::TempDir,
) -> TestApp {
    let settings = Settings::load(Some(path), Some(Default::default())).expect("settings load");
    let app = Application::build_with(settings, options)
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    let shutdown = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        sim,
        store,
        client: reqwest::Client::new(),
        shutdown,
        server,
        dir,
    }
}

/// A port nobody listens on now, for a settings file (`serve` binds it later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(ZoomSimConfig::unlimited(), None).await
}

/// `client_secret`: a wrong one makes the tenant's credentials fail.
pub async fn spawn_app_with(config: ZoomSimConfig, client_secret: Option<&str>) -> TestApp {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = ZoomSim::start(config, scenario())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = client_secret.unwrap_or(sim.client_secret()).to_string();
    let path = write_settings(dir.path(), &sim, "127.0.0.1:0", &secret);
    serve_settings(&path, test_options(), sim, dir).await
}

/// A Zoom event body as Zoom sends it.
pub fn event(name: &str, object: Value) -> Value {
    json!({
        "event": name,
        "event_ts": Utc::now().timestamp_millis(),
        "payload": { "account_id": "bench-acct", "operator": "admin@example.org", "object": object }
    })
}

pub fn meeting_event(name: &str, id: u64) -> Value {
    event(
        name,
        json!({ "id": id, "uuid": format!("uuid-{id}"), "topic": "[youth] Session" }),
    )
}

impl TestApp {
    /// The body of a GET of `path` (e.g. `/metrics`) on the server.
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/webhooks/zoom/{TENANT}", self.address)
    }

    /// Posts `body` signed with the tenant's secret at `timestamp`.
    pub async fn post_signed_at(&self, body: &[u8], timestamp: i64) -> reqwest::Response {
        let ts = timestamp.to_string();
        self.client
            .post(self.webhook_url())
            .header("content-type", "application/json")
            .header("x-zm-request-timestamp", &ts)
            .header(
                "x-zm-signature",
                signature::sign(SECRET.as_bytes(), &ts, body),
            )
            .body(body.to_vec())
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_signed(&self, body: &Value) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).expect("json");
        self.post_signed_at(&bytes, Utc::now().timestamp()).await
    }

    /// Waits until event `id` is done or failed.
    pub async fn processed(&self, id: i64) -> WebhookEvent {
        wait_processed(&self.store, id).await
    }

    pub fn meeting_patches(&self) -> u64 {
        self.sim
            .stats()
            .requests_for(PATCH_MEETING.0, PATCH_MEETING.1)
    }

    pub async fn stop(self) {
        self.shutdown.shutdown();
        let ended = tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("serve stops within the grace period");
        ended.expect("task joins").expect("serve stops cleanly");
    }
}

pub fn patches(sim: &ZoomSim) -> u64 {
    sim.stats().requests_for(PATCH_MEETING.0, PATCH_MEETING.1)
}

pub async fn wait_processed(store: &Store, id: i64) -> WebhookEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let events = store.webhook_events(None).await.expect("events listed");
        if let Some(e) = events.iter().find(|e| e.id == id)
            && matches!(e.state, EventState::Done | EventState::Failed)
        {
            return e.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "event {id} was not processed in time: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The `id` of a 200 answer to a stored event.
pub async fn accepted_id(response: reqwest::Response) -> (String, i64) {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json answer");
    (
        body["status"].as_str().unwrap_or_default().to_string(),
        body["id"].as_i64().expect("an event id"),
    )
}

/// Waits until every stored webhook event is finished (done or failed): the service has nothing
/// left to do, so a test can then check that something did *not* happen, without a fixed sleep.
pub async fn wait_quiet(store: &Store) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let events = store.webhook_events(None).await.expect("events read");
        if events
            .iter()
            .all(|e| matches!(e.state, EventState::Done | EventState::Failed))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "events still unfinished: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

//! Microsoft Teams tenants in `chaperone serve`, over real HTTP against the Graph simulator: a
//! Teams-only tenant starts, subscribes its organizers (the simulator validates the notification
//! URL first) and is ready; change notifications are stored, deduplicated and turned into a
//! fixed, verified meeting; a forged `clientState` is refused; a tenant with Zoom and Teams gets
//! a scheduled sweep of both.

use std::time::Duration;

use chaperone::report::RunKind;
use chaperone::store::webhooks::{EventState, WebhookEvent};
use chaperone_sim::{TeamsScenario, TeamsSim, TeamsSimConfig, ZoomSim, ZoomSimConfig};
use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::{
    SECRET, TENANT, TestApp, free_port, repo_profiles, scenario, serve_settings, test_options,
};

/// The tenant's Teams `clientState` (a test value).
const STATE: &str = "riverside-teams-client-state-51c2";
const FORUM: &str = "[youth] Youth Forum";
const PATCH_ONLINE_MEETING: (&str, &str) = ("PATCH", "/v1.0/users/{id}/onlineMeetings/{meetingId}");

struct TeamsApp {
    app: TestApp,
    teams: TeamsSim,
}

/// A loopback port free right now: the notification URL must name the port before the server
/// is built (Graph, and the simulator, call it back).
fn teams_table(teams: &TeamsSim, port: u16) -> String {
    format!(
        r#"
[tenants.teams]
tenant_id = "{tenant_id}"
client_id = "{client}"
client_secret = "{secret}"
staff_group_id = "{group}"
graph_base_url = "{base}"
token_url = "{token}"
requests_per_second = 1000

[tenants.teams.change_notifications]
notification_url = "http://127.0.0.1:{port}/webhooks/teams/{TENANT}"
client_state = "{STATE}"
"#,
        tenant_id = teams.tenant_id(),
        client = teams.client_id(),
        secret = teams.client_secret(),
        group = teams.staff_group_id(),
        base = teams.graph_base_url(),
        token = teams.token_url(),
    )
}

fn zoom_table(zoom: &ZoomSim) -> String {
    format!(
        r#"
[tenants.zoom]
account_id = "{account}"
client_id = "{client}"
client_secret = "{secret}"
api_base_url = "{api}"
token_url = "{token}"
webhook_secret_token = "{SECRET}"

[tenants.zoom.rate_limits]
light_per_second = 1000
medium_per_second = 1000
"#,
        account = zoom.account_id(),
        client = zoom.client_id(),
        secret = zoom.client_secret(),
        api = zoom.api_base_url(),
        token = zoom.token_url(),
    )
}

/// `serve` with one tenant on the Graph simulator, and on the Zoom simulator too when `with_zoom`
/// (the Zoom simulator runs either way: [`TestApp`] holds one). `scheduler`: run the schedule,
/// whose first sweep starts at once (the tenant never had one).
async fn spawn_teams(with_zoom: bool, scheduler: bool) -> TeamsApp {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let zoom = ZoomSim::start(ZoomSimConfig::unlimited(), scenario())
        .await
        .expect("zoom simulator starts");
    let teams = TeamsSim::start(TeamsSimConfig::default(), TeamsScenario::demo())
        .await
        .expect("graph simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut text = format!(
        r#"
[store]
url = "sqlite://{db}"

[server]
listen = "127.0.0.1:{port}"

[[tenants]]
id = "{TENANT}"
timezone = "Europe/London"
profiles_dir = "{profiles}"
schedule = "0 2 * * *"
"#,
        db = dir.path().join("chaperone.db").display(),
        profiles = repo_profiles().display(),
    );
    if with_zoom {
        text.push_str(&zoom_table(&zoom));
    }
    text.push_str(&teams_table(&teams, port));
    let path = dir.path().join("chaperone.toml");
    std::fs::write(&path, text).expect("settings written");
    let app = serve_settings(
        &path,
        chaperone::server::ServeOptions {
            scheduler,
            ..test_options()
        },
        zoom,
        dir,
    )
    .await;
    TeamsApp { app, teams }
}

impl TeamsApp {
    fn url(&self) -> String {
        format!("{}/webhooks/teams/{TENANT}", self.app.address)
    }

    fn meeting_patches(&self) -> u64 {
        self.teams
            .stats()
            .requests_for(PATCH_ONLINE_MEETING.0, PATCH_ONLINE_MEETING.1)
    }

    async fn post(&self, body: &Value) -> reqwest::Response {
        self.app
            .client
            .post(self.url())
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    async fn teams_events(&self) -> Vec<WebhookEvent> {
        self.app
            .store
            .webhook_events(None)
            .await
            .expect("events listed")
            .into_iter()
            .filter(|e| e.platform == "teams")
            .collect()
    }

    /// Asks Graph (the simulator) for the `Users/{id}/Events/{id}` resource of the organizer's
    /// first occurrence of `subject`, as a change notification names it.
    async fn event_resource(&self, organizer: &str, subject: &str) -> String {
        let http = reqwest::Client::new();
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", self.teams.client_id())
            .append_pair("client_secret", self.teams.client_secret())
            .append_pair("scope", "https://graph.microsoft.com/.default")
            .finish();
        let token: Value = http
            .post(self.teams.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        let bearer = format!(
            "Bearer {}",
            token["access_token"].as_str().expect("access token")
        );
        let base = self.teams.graph_base_url();
        let user: Value = http
            .get(format!("{base}/users/{organizer}"))
            .header("authorization", &bearer)
            .send()
            .await
            .expect("user")
            .json()
            .await
            .expect("user json");
        let user_id = user["id"].as_str().expect("user id").to_string();
        let now = Utc::now();
        let mut next = Some(format!(
            "{base}/users/{user_id}/calendarView?startDateTime={}&endDateTime={}",
            (now - chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:%SZ"),
            (now + chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ"),
        ));
        while let Some(url) = next {
            let page: Value = http
                .get(&url)
                .header("authorization", &bearer)
                .send()
                .await
                .expect("calendar")
                .json()
                .await
                .expect("calendar json");
            if let Some(event) = page["value"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["subject"] == subject)
            {
                let id = event["id"].as_str().expect("event id");
                return format!("Users/{user_id}/Events/{id}");
            }
            next = page["@odata.nextLink"].as_str().map(String::from);
        }
        panic!("no event `{subject}` in {organizer}'s calendar");
    }
}

fn changed(resource: &str, client_state: &str) -> Value {
    json!({"value": [{
        "subscriptionId": "7f1e0c2a-0000-4000-8000-000000000001",
        "subscriptionExpirationDateTime": "2026-12-01T00:00:00Z",
        "clientState": client_state,
        "changeType": "updated",
        "resource": resource,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": resource,
            "@odata.etag": "W/\"DwAAABYAAAB1\"",
            "id": resource.rsplit('/').next().unwrap_or_default()
        },
        "tenantId": "00000000-0000-0000-0000-000000000000"
    }]})
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_teams_only_tenant_starts_subscribes_its_organizers_and_is_ready() {
    let t = spawn_teams(false, false).await;
    let response = t
        .app
        .client
        .get(format!("{}/readyz", t.app.address))
        .send()
        .await
        .expect("readyz");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["tenants"][TENANT], "ok", "{body}");
    // The start-up round subscribed every organizer; the simulator validated our URL first.
    wait_until("organizers subscribed", async || {
        !t.teams.subscriptions().is_empty()
    })
    .await;
    let subs = t.teams.subscriptions();
    assert!(subs.iter().all(|s| {
        s["clientState"] == STATE
            && s["notificationUrl"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("/webhooks/teams/{TENANT}")))
    }));
    assert!(t.teams.stats().validations_sent >= subs.len() as u64);
    // The Zoom URL of a Teams-only tenant is not configured.
    let zoom = t
        .app
        .client
        .post(format!("{}/webhooks/zoom/{TENANT}", t.app.address))
        .json(&json!({}))
        .send()
        .await
        .expect("zoom");
    assert_eq!(zoom.status(), 404);
    t.app.stop().await;
}

#[tokio::test]
async fn graphs_validation_request_is_answered_with_the_token() {
    let t = spawn_teams(false, false).await;
    let token =
        "Validation: Testing client application reachability for subscription Request-Id: 1";
    let answer = t
        .app
        .client
        .post(t.url())
        .query(&[("validationToken", token)])
        .header("content-type", "text/plain")
        .send()
        .await
        .expect("validation");
    assert_eq!(answer.status(), 200);
    assert!(
        answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    assert_eq!(answer.text().await.expect("text"), token);
    // Another tenant's URL is not served.
    let other = t
        .app
        .client
        .post(format!("{}/webhooks/teams/elsewhere", t.app.address))
        .query(&[("validationToken", token)])
        .send()
        .await
        .expect("other");
    assert_eq!(other.status(), 404);
    t.app.stop().await;
}

#[tokio::test]
async fn a_change_notification_fixes_and_verifies_the_drifted_meeting_once() {
    let t = spawn_teams(false, false).await;
    let id = t.teams.meeting_id(FORUM).expect("forum");
    assert_eq!(
        t.teams.meeting(&id).expect("meeting")["allowedPresenters"],
        "everyone"
    );
    let resource = t
        .event_resource("alex.morgan@riverside.example.org", FORUM)
        .await;
    let body = changed(&resource, STATE);
    let answer = t.post(&body).await;
    assert_eq!(answer.status(), 202);

    // Stored before the answer: the row exists now, whatever the workers have done.
    let events = t.teams_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event, "event.updated");
    assert_eq!(events[0].object_id.as_deref(), Some(resource.as_str()));
    assert!(
        !events[0].payload.contains(STATE),
        "the clientState is not stored"
    );
    let event = t.app.processed(events[0].id).await;
    assert_eq!(event.state, EventState::Done, "{event:?}");
    let outcome = event.outcome.clone().unwrap_or_default();
    assert!(outcome.contains("fixed"), "{outcome}");
    assert!(event.run_id.is_some());
    // One PATCH of the meeting, and the read-back proved it.
    assert_eq!(t.meeting_patches(), 1);
    let meeting = t.teams.meeting(&id).expect("meeting");
    assert_ne!(meeting["allowedPresenters"], "everyone", "{meeting}");
    let report = t
        .app
        .store
        .load_run(event.run_id.as_deref().unwrap_or_default())
        .await
        .expect("run");
    assert_eq!(report.kind, RunKind::Webhook);
    assert!(
        report
            .sessions
            .iter()
            .flat_map(|s| &s.findings)
            .any(|f| f.status == chaperone::control::Status::Fixed)
    );

    // Graph delivers the same notification again: nothing new is stored, nothing is written.
    let again = t.post(&body).await;
    assert_eq!(again.status(), 202);
    crate::helpers::wait_quiet(&t.app.store).await;
    assert_eq!(t.teams_events().await.len(), 1);
    assert_eq!(t.meeting_patches(), 1);
    t.app.stop().await;
}

#[tokio::test]
async fn a_notification_with_a_wrong_client_state_is_refused_and_nothing_happens() {
    let t = spawn_teams(false, false).await;
    let resource = t
        .event_resource("alex.morgan@riverside.example.org", FORUM)
        .await;
    let answer = t.post(&changed(&resource, "guessed-client-state")).await;
    assert_eq!(answer.status(), 403);
    let text = answer.text().await.expect("text");
    assert!(!text.contains(STATE));
    crate::helpers::wait_quiet(&t.app.store).await;
    assert!(t.teams_events().await.is_empty());
    assert_eq!(t.meeting_patches(), 0);
    // Not a notification collection at all.
    let garbage = t
        .app
        .client
        .post(t.url())
        .body("{\"value\": [")
        .send()
        .await
        .expect("garbage");
    assert_eq!(garbage.status(), 400);
    t.app.stop().await;
}

#[tokio::test]
async fn a_tenant_with_zoom_and_teams_gets_a_scheduled_sweep_of_both() {
    let t = spawn_teams(true, true).await;
    // The tenant never had a sweep: the first one starts at once, Zoom then Teams.
    let mut runs = Vec::new();
    wait_until("a finished sweep of each platform", async || {
        runs = t
            .app
            .store
            .list_runs(20)
            .await
            .expect("runs")
            .into_iter()
            .filter(|r| r.kind == RunKind::Sweep && r.finished_at.is_some())
            .collect();
        runs.len() >= 2
    })
    .await;
    let mut platforms = Vec::new();
    for r in &runs {
        let report = t.app.store.load_run(&r.run_id).await.expect("run");
        platforms.extend(report.sessions.iter().map(|s| s.platform));
    }
    platforms.sort();
    platforms.dedup();
    assert_eq!(
        platforms,
        vec![
            chaperone::session::PlatformKind::Zoom,
            chaperone::session::PlatformKind::Teams
        ]
    );
    assert!(crate::helpers::patches(&t.app.sim) > 0, "Zoom drift fixed");
    assert!(t.meeting_patches() > 0, "Teams drift fixed");
    let ready: Value = t
        .app
        .client
        .get(format!("{}/readyz", t.app.address))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["tenants"][TENANT], "ok", "{ready}");
    t.app.stop().await;
}

fn lifecycle(subscription: &str, event: &str) -> Value {
    json!({"value": [{
        "subscriptionId": subscription,
        "subscriptionExpirationDateTime": "2026-12-01T00:00:00Z",
        "clientState": STATE,
        "lifecycleEvent": event,
        "tenantId": "00000000-0000-0000-0000-000000000000"
    }]})
}

#[tokio::test]
async fn lifecycle_notifications_renew_and_re_check() {
    let t = spawn_teams(false, false).await;
    wait_until("organizers subscribed", async || {
        !t.teams.subscriptions().is_empty()
    })
    .await;
    // Let the start-up round finish (each subscription waits for its validation).
    let mut seen = 0;
    wait_until("the start-up round is over", async || {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = t.teams.subscriptions().len();
        let stable = now == seen;
        seen = now;
        stable
    })
    .await;
    let subscription = t.teams.subscriptions()[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let renewals = || {
        t.teams
            .stats()
            .requests_for("PATCH", "/v1.0/subscriptions/{id}")
    };
    assert_eq!(renewals(), 0);

    let answer = t
        .post(&lifecycle(&subscription, "reauthorizationRequired"))
        .await;
    assert_eq!(answer.status(), 202);
    let stored = t.teams_events().await;
    assert_eq!(stored[0].event, "lifecycle.reauthorizationRequired");
    let event = t.app.processed(stored[0].id).await;
    assert_eq!(event.state, EventState::Done, "{event:?}");
    assert_eq!(renewals(), 1);

    // Notifications were lost: the tenant's Teams meetings are re-checked (and fixed).
    let answer = t.post(&lifecycle(&subscription, "missed")).await;
    assert_eq!(answer.status(), 202);
    let stored = t.teams_events().await;
    let missed = stored
        .iter()
        .find(|e| e.event == "lifecycle.missed")
        .expect("stored");
    let event = t.app.processed(missed.id).await;
    assert_eq!(event.state, EventState::Done, "{event:?}");
    let outcome = event.outcome.clone().unwrap_or_default();
    assert!(outcome.starts_with("re-checked"), "{outcome}");
    let report = t
        .app
        .store
        .load_run(event.run_id.as_deref().expect("a run"))
        .await
        .expect("run");
    assert_eq!(report.kind, RunKind::Webhook);
    assert!(
        report
            .sessions
            .iter()
            .all(|s| s.platform == chaperone::session::PlatformKind::Teams)
    );
    assert!(t.meeting_patches() > 0);
    t.app.stop().await;
}

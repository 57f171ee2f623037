//! `/healthz`, `/readyz`, `/metrics` and an orderly stop.

use chaperone_sim::ZoomSimConfig;
use serde_json::Value;

use crate::helpers::{DRIFTED, accepted_id, meeting_event, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_answers_200_while_the_process_runs() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_ready_when_the_store_answers_and_a_token_can_be_had() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["store"], "ok");
    assert_eq!(body["tenants"]["riverside-youth"], "ok");
    assert!(app.sim.stats().tokens_issued >= 1);
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_not_ready_when_the_platform_refuses_the_credentials() {
    let app = spawn_app_with(ZoomSimConfig::unlimited(), Some("wrong-client-secret")).await;
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    let tenant = body["tenants"]["riverside-youth"].as_str().unwrap();
    assert!(tenant.contains("access token"), "{tenant}");
    assert!(!tenant.contains("wrong-client-secret"), "{tenant}");
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_webhook_outcomes_findings_platform_calls_and_time_to_harden() {
    let app = spawn_app().await;
    let (_, id) = accepted_id(
        app.post_signed(&meeting_event("meeting.created", DRIFTED))
            .await,
    )
    .await;
    app.processed(id).await;
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "chaperone_webhook_events_total{platform=\"zoom\",event=\"meeting.created\",outcome=\"accepted\"}",
        "chaperone_webhook_events_total{platform=\"zoom\",event=\"meeting.created\",outcome=\"processed\"}",
        "chaperone_findings_total{status=\"fixed\"",
        "chaperone_sweeps_total{tenant=\"riverside-youth\",kind=\"webhook\",result=\"finished\"}",
        "chaperone_platform_requests_total{platform=\"zoom\",category=\"light\",outcome=\"ok\"}",
        "chaperone_time_to_harden_seconds_bucket{le=\"2\"}",
        "chaperone_webhook_backlog",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_shutdown_stops_taking_work_and_returns_ok() {
    let app = spawn_app().await;
    let address = app.address.clone();
    let client = app.client.clone();
    app.stop().await;
    assert!(
        client
            .get(format!("{address}/healthz"))
            .send()
            .await
            .is_err(),
        "the listener is closed after shutdown"
    );
}

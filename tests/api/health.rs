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
    let text = app.get_text("/metrics").await;
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

#[tokio::test]
async fn a_scheduled_sweep_that_cannot_sign_in_is_counted_failed_and_its_token_request_is_in_the_request_metric()
 {
    use crate::helpers::{scenario, serve_settings, test_options, write_settings};
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = chaperone_sim::ZoomSim::start(ZoomSimConfig::unlimited(), scenario())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    // A secret the simulator's token endpoint refuses (as Zoom does a revoked one), and a
    // schedule: with no sweep on record, the scheduler runs one at once.
    let path = write_settings(dir.path(), &sim, "127.0.0.1:0", "a-revoked-secret");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "timezone = \"Europe/London\"",
        "timezone = \"Europe/London\"\nschedule = \"0 2 * * *\"",
    );
    std::fs::write(&path, text).unwrap();
    let app = serve_settings(
        &path,
        chaperone::server::ServeOptions {
            scheduler: true,
            ..test_options()
        },
        sim,
        dir,
    )
    .await;
    let failed =
        "chaperone_sweeps_total{tenant=\"riverside-youth\",kind=\"sweep\",result=\"failed\"}";
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let text = loop {
        let text = app.get_text("/metrics").await;
        if text.contains(failed) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed sweep counted:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        !text.contains(
            "chaperone_sweeps_total{tenant=\"riverside-youth\",kind=\"sweep\",result=\"finished\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "chaperone_platform_requests_total{platform=\"zoom\",category=\"token\",outcome=\"unauthorized\"}"
        ),
        "the refused token request is counted:\n{text}"
    );
    let runs = app.store.list_runs(5).await.unwrap();
    assert!(
        runs.iter().any(|r| r.failures > 0),
        "the run is recorded with its failure"
    );
    app.shutdown.shutdown();
    let _ = app.server.await;
}

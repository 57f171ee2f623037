//! Webhook claims (issue 11, item 7): a claim is a short lease renewed while its event is
//! processed, so an event whose process died is taken again within the lease (not after ten
//! minutes) and says whose claim it took, a slow event is never taken from a live worker, and an
//! event naming a meeting id that cannot exist fails at once as permanent.

use std::time::Duration;

use chaperone::server::{Application, ServeOptions};
use chaperone::settings::Settings;
use chaperone::store::Store;
use chaperone::store::webhooks::{EventState, NewWebhookEvent, Received};
use chaperone_sim::{Fault, ZoomSim, ZoomSimConfig};
use chrono::Utc;
use serde_json::json;

use crate::stores::TestStore;

use crate::helpers::{
    DRIFTED, TENANT, accepted_id, event, meeting_event, scenario, spawn_app, test_options,
    wait_processed, write_settings,
};

/// A stored `meeting.created` for `meeting`, as the webhook handler stores it.
async fn store_event(store: &Store, meeting: u64, received_at: chrono::DateTime<Utc>) -> i64 {
    let body = serde_json::to_string(&meeting_event("meeting.created", meeting)).unwrap();
    let id = meeting.to_string();
    let key = format!("test-{}", uuid::Uuid::new_v4());
    let received = store
        .receive_webhook_event(&NewWebhookEvent {
            tenant: TENANT,
            platform: "zoom",
            dedupe_key: &key,
            event: "meeting.created",
            object_id: Some(&id),
            received_at,
            payload: &body,
        })
        .await
        .unwrap();
    match received {
        Received::New { id } => id,
        other => panic!("{other:?}"),
    }
}

/// `chaperone serve` on `sim` with `options`, its store in `dir`.
async fn serve_on(
    sim: &ZoomSim,
    dir: &std::path::Path,
    options: ServeOptions,
) -> (Store, chaperone::server::ShutdownHandle) {
    let path = write_settings(dir, sim, "127.0.0.1:0", sim.client_secret());
    let settings = Settings::load(Some(&path), Some(Default::default())).unwrap();
    let app = Application::build_with(settings, options).await.unwrap();
    let (store, shutdown) = (app.store(), app.shutdown_handle());
    tokio::spawn(app.run_until_stopped());
    (store, shutdown)
}

#[tokio::test]
async fn an_event_left_processing_by_a_worker_on_another_machine_is_taken_within_the_short_lease_and_names_it()
 {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = ZoomSim::start(ZoomSimConfig::unlimited(), scenario())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("chaperone.db").display());
    // A worker of a process on another machine claimed the event 40 s ago and was never heard
    // of again (its machine died): it renews nothing.
    let before = Store::connect(&db).await.unwrap();
    let id = store_event(&before, DRIFTED, Utc::now() - chrono::Duration::seconds(60)).await;
    let dead = "other-machine:4242:0badf00d/3";
    let claimed = before
        .claim_webhook_event(
            dead,
            Utc::now() - chrono::Duration::seconds(40),
            Duration::from_secs(30),
        )
        .await
        .unwrap()
        .expect("the event is claimed");
    assert_eq!(claimed.id, id);

    let (store, shutdown) = serve_on(&sim, dir.path(), test_options()).await;
    let done = wait_processed(&store, id).await;
    assert_eq!(done.state, EventState::Done, "{done:?}");
    assert_eq!(done.taken_over_from.as_deref(), Some(dead));
    assert_eq!(done.attempts, 2, "the dead claim and this one");
    shutdown.shutdown();
}

#[tokio::test]
async fn an_event_that_takes_longer_than_the_lease_is_never_taken_from_its_live_worker() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = ZoomSim::start(ZoomSimConfig::unlimited(), scenario())
        .await
        .unwrap();
    // Reading the meeting takes five leases.
    sim.inject(Fault::delay(Duration::from_millis(1500)).on_route("GET /v2/meetings/{meetingId}"));
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        lease: Duration::from_millis(300),
        ..test_options()
    };
    let (store, shutdown) = serve_on(&sim, dir.path(), options).await;
    let id = store_event(&store, DRIFTED, Utc::now()).await;
    let done = wait_processed(&store, id).await;
    assert_eq!(done.state, EventState::Done, "{done:?}");
    assert_eq!(done.attempts, 1, "claimed once: {done:?}");
    assert_eq!(done.taken_over_from, None);
    let webhook_runs = store
        .list_runs(20)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == chaperone::report::RunKind::Webhook)
        .count();
    assert_eq!(webhook_runs, 1, "processed by one worker only");
    shutdown.shutdown();
}

#[tokio::test]
async fn an_event_naming_a_meeting_id_that_cannot_exist_fails_at_once_as_permanent() {
    let app = spawn_app().await;
    let body = event(
        "meeting.created",
        json!({ "id": "abc", "uuid": "uuid-abc", "topic": "[youth] Session" }),
    );
    let (_, id) = accepted_id(app.post_signed(&body).await).await;
    let failed = app.processed(id).await;
    assert_eq!(failed.state, EventState::Failed, "{failed:?}");
    assert_eq!(failed.attempts, 1, "not retried: {failed:?}");
    let outcome = failed.outcome.unwrap_or_default();
    assert!(outcome.contains("permanent"), "{outcome}");
    assert!(outcome.contains("abc"), "{outcome}");
    assert_eq!(app.meeting_patches(), 0);
    app.stop().await;
}

#[tokio::test]
async fn zoom_refuses_a_meeting_id_that_is_not_an_integer() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = ZoomSim::start(ZoomSimConfig::unlimited(), scenario())
        .await
        .unwrap();
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "{}?grant_type=account_credentials&account_id={}",
            sim.token_url(),
            sim.account_id()
        ))
        .basic_auth(sim.client_id(), Some(sim.client_secret()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answer = reqwest::Client::new()
        .get(format!("{}/meetings/abc", sim.api_base_url()))
        .bearer_auth(token["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(status, 400, "{body} {:?}", sim.stats().requests);
    assert_eq!(body["code"], 300);
}

#[tokio::test]
async fn a_renewed_claim_is_kept_and_a_claim_that_ran_out_is_taken_naming_its_holder_on_both_backends()
 {
    let stores = crate::stores::stores("api::claims (its PostgreSQL part)", "c.db", "claims").await;
    let lease = Duration::from_secs(30);
    for TestStore { store, .. } in stores {
        let t0 = Utc::now() - chrono::Duration::seconds(120);
        let id = store_event(&store, DRIFTED, t0).await;
        let first = store
            .claim_webhook_event("a:1:x/0", t0, lease)
            .await
            .unwrap()
            .expect("claimed");
        assert_eq!((first.id, first.taken_over_from), (id, None));
        // Renewed 20 s later: at 40 s it is still inside its lease.
        assert!(
            store
                .renew_webhook_claim(id, "a:1:x/0", t0 + chrono::Duration::seconds(20))
                .await
                .unwrap()
        );
        let at_40 = t0 + chrono::Duration::seconds(40);
        assert!(
            store
                .claim_webhook_event("b:2:y/0", at_40, lease)
                .await
                .unwrap()
                .is_none()
        );
        // Not renewed again: at 60 s it has run out and is taken, naming its holder.
        let at_60 = t0 + chrono::Duration::seconds(60);
        let taken = store
            .claim_webhook_event("b:2:y/0", at_60, lease)
            .await
            .unwrap()
            .expect("taken over");
        assert_eq!(taken.taken_over_from.as_deref(), Some("a:1:x/0"));
        assert_eq!(taken.attempts, 2);
        // The old holder can neither renew nor finish it.
        assert!(
            !store
                .renew_webhook_claim(id, "a:1:x/0", at_60)
                .await
                .unwrap()
        );
        store.close().await;
    }
}

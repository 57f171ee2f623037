//! Zoom webhooks end to end: signature, replay, URL validation, hardening one session, no loop.

use chaperone::control::Status;
use chaperone::report::RunKind;
use chaperone::server::signature;
use chaperone::store::webhooks::EventState;
use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::{
    DRIFTED, SECRET, STAFF_ONLY, TENANT, accepted_id, event, meeting_event, spawn_app,
};

#[tokio::test]
async fn a_signed_meeting_created_for_a_drifted_youth_session_is_fixed_and_verified() {
    let app = spawn_app().await;
    let before = app.sim.meeting(DRIFTED).expect("meeting exists");
    assert_eq!(before["settings"]["waiting_room"], json!(false));

    let (status, id) = accepted_id(
        app.post_signed(&meeting_event("meeting.created", DRIFTED))
            .await,
    )
    .await;
    assert_eq!(status, "accepted");
    let done = app.processed(id).await;
    assert_eq!(done.state, EventState::Done, "{done:?}");

    let run_id = done.run_id.expect("a run recorded the session");
    let report = app.store.load_run(&run_id).await.expect("run loads");
    assert_eq!(report.kind, RunKind::Webhook);
    assert_eq!(report.sessions.len(), 1);
    let session = &report.sessions[0];
    assert_eq!(session.session_id, DRIFTED.to_string());
    assert!(
        session.findings.iter().any(|f| f.status == Status::Fixed),
        "{session:?}"
    );
    assert!(!session.changes.is_empty());
    assert!(session.changes.iter().all(|c| c.verified), "{session:?}");
    let after = app.sim.meeting(DRIFTED).expect("meeting exists");
    assert_eq!(after["settings"]["waiting_room"], json!(true));
    assert_eq!(after["settings"]["join_before_host"], json!(false));
    assert_eq!(app.meeting_patches(), 1, "one write for the session");
    app.stop().await;
}

#[tokio::test]
async fn a_forged_signature_gets_401_and_nothing_is_stored_or_written() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&meeting_event("meeting.created", DRIFTED)).unwrap();
    let ts = Utc::now().timestamp().to_string();
    let forged = signature::sign(b"not-the-secret", &ts, &body);
    for sig in [forged.as_str(), "v0=00", "garbage"] {
        let response = app
            .client
            .post(app.webhook_url())
            .header("content-type", "application/json")
            .header("x-zm-request-timestamp", &ts)
            .header("x-zm-signature", sig)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{sig}");
    }
    let unsigned = app
        .client
        .post(app.webhook_url())
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    crate::helpers::wait_quiet(&app.store).await;
    assert!(app.store.webhook_events(None).await.unwrap().is_empty());
    assert_eq!(app.sim.stats().writes, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_timestamp_older_than_five_minutes_gets_401_even_when_correctly_signed() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&meeting_event("meeting.created", DRIFTED)).unwrap();
    let response = app
        .post_signed_at(&body, Utc::now().timestamp() - 6 * 60)
        .await;
    assert_eq!(response.status(), 401);
    let text = response.text().await.unwrap();
    assert!(text.contains("5 minutes"), "{text}");
    assert!(app.store.webhook_events(None).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_event_does_nothing_the_second_time() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&meeting_event("meeting.created", DRIFTED)).unwrap();
    let ts = Utc::now().timestamp();
    let (first, id) = accepted_id(app.post_signed_at(&body, ts).await).await;
    assert_eq!(first, "accepted");
    app.processed(id).await;
    let writes = app.sim.stats().writes;
    let requests = app.sim.stats().total_requests;

    let (second, same) = accepted_id(app.post_signed_at(&body, ts).await).await;
    assert_eq!(second, "duplicate");
    assert_eq!(same, id);
    crate::helpers::wait_quiet(&app.store).await;
    assert_eq!(app.store.webhook_events(None).await.unwrap().len(), 1);
    assert_eq!(app.sim.stats().writes, writes);
    assert_eq!(
        app.sim.stats().total_requests,
        requests,
        "a replay reads nothing either"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_url_validation_challenge_gets_the_right_encrypted_token() {
    let app = spawn_app().await;
    let body = json!({
        "event": "endpoint.url_validation",
        "payload": { "plainToken": "qgg8vlvZRS6UYooatFL8Aw" },
        "event_ts": 1654503849680i64
    });
    let response = app.post_signed(&body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        answer["encryptedToken"],
        signature::url_validation_token(SECRET.as_bytes(), "qgg8vlvZRS6UYooatFL8Aw")
    );
    assert_eq!(answer["encryptedToken"].as_str().unwrap().len(), 64);
    assert!(
        app.store.webhook_events(None).await.unwrap().is_empty(),
        "a validation is answered, not stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unsigned_url_validation_is_refused_so_the_endpoint_is_no_signing_oracle() {
    let app = spawn_app().await;
    // Asking for the HMAC of a signature message would yield a valid signature for any body.
    let body = json!({
        "event": "endpoint.url_validation",
        "payload": { "plainToken": "v0:1700000000:{\"event\":\"meeting.created\"}" }
    });
    let response = app
        .client
        .post(app.webhook_url())
        .header("content-type", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn chaperones_own_meeting_updated_does_not_start_a_loop() {
    let app = spawn_app().await;
    let (_, id) = accepted_id(
        app.post_signed(&meeting_event("meeting.created", DRIFTED))
            .await,
    )
    .await;
    app.processed(id).await;
    let writes = app.sim.stats().writes;
    assert!(writes >= 1);

    // The update Zoom reports after chaperone's own PATCH.
    let update = event(
        "meeting.updated",
        json!({ "id": DRIFTED, "settings": { "waiting_room": true, "join_before_host": false } }),
    );
    let (_, id) = accepted_id(app.post_signed(&update).await).await;
    let done = app.processed(id).await;
    assert_eq!(done.state, EventState::Done, "{done:?}");
    assert_eq!(
        app.sim.stats().writes,
        writes,
        "no write for a compliant session"
    );
    let report = app
        .store
        .load_run(done.run_id.as_deref().unwrap())
        .await
        .unwrap();
    assert!(report.sessions[0].changes.is_empty());
    assert!(
        !report.sessions[0]
            .findings
            .iter()
            .any(|f| f.status == Status::Drift && f.lock.is_none()),
        "{:?}",
        report.sessions[0].findings
    );
    // And nothing more is queued: the loop ends here (the simulator sends no webhooks, so
    // only this test could queue one; wait until the service is idle, not a fixed time).
    crate::helpers::wait_quiet(&app.store).await;
    assert_eq!(app.store.webhook_backlog().await.unwrap(), 0);
    assert_eq!(app.sim.stats().writes, writes);
    app.stop().await;
}

#[tokio::test]
async fn a_host_who_loosens_a_meeting_gets_it_hardened_again_by_meeting_updated() {
    let app = spawn_app().await;
    let (_, id) = accepted_id(
        app.post_signed(&meeting_event("meeting.created", DRIFTED))
            .await,
    )
    .await;
    app.processed(id).await;
    // The host turns the waiting room off in the portal; Zoom sends meeting.updated.
    app.sim
        .set_meeting_field(DRIFTED, "/settings/waiting_room", json!(false));
    let update = event(
        "meeting.updated",
        json!({ "id": DRIFTED, "settings": { "waiting_room": false } }),
    );
    let (_, id) = accepted_id(app.post_signed(&update).await).await;
    let done = app.processed(id).await;
    assert!(
        done.outcome.as_deref().unwrap_or("").contains("fixed"),
        "{done:?}"
    );
    assert_eq!(
        app.sim.meeting(DRIFTED).unwrap()["settings"]["waiting_room"],
        json!(true)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_meeting_deleted_event_is_recorded_and_nothing_else() {
    let app = spawn_app().await;
    let (_, id) = accepted_id(
        app.post_signed(&meeting_event("meeting.deleted", DRIFTED))
            .await,
    )
    .await;
    let done = app.processed(id).await;
    assert_eq!(done.state, EventState::Done);
    assert_eq!(done.outcome.as_deref(), Some("recorded"));
    assert_eq!(
        done.object_id.as_deref(),
        Some(DRIFTED.to_string().as_str())
    );
    assert!(done.run_id.is_none());
    assert_eq!(app.sim.stats().total_requests, 0, "no platform call at all");
    app.stop().await;
}

#[tokio::test]
async fn a_meeting_no_profile_selects_is_left_alone() {
    let app = spawn_app().await;
    let (_, id) = accepted_id(
        app.post_signed(&meeting_event("meeting.created", STAFF_ONLY))
            .await,
    )
    .await;
    let done = app.processed(id).await;
    assert!(
        done.outcome
            .as_deref()
            .unwrap_or("")
            .starts_with("out of scope"),
        "{done:?}"
    );
    assert_eq!(app.sim.stats().writes, 0);
    assert!(
        app.store.list_runs(10).await.unwrap().is_empty(),
        "no run recorded"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_meeting_named_by_meeting_created_is_gone_not_an_error() {
    let app = spawn_app().await;
    app.sim.delete_meeting(DRIFTED);
    let (_, id) = accepted_id(
        app.post_signed(&meeting_event("meeting.created", DRIFTED))
            .await,
    )
    .await;
    let done = app.processed(id).await;
    assert_eq!(done.state, EventState::Done);
    assert!(
        done.outcome.as_deref().unwrap_or("").starts_with("gone"),
        "{done:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_user_settings_event_rechecks_the_tenant_and_fixes_host_settings() {
    let app = spawn_app().await;
    let host = format!("worker00000@{}", chaperone_sim::DEMO_DOMAIN);
    let before = app.sim.user_settings(&host).unwrap();
    assert_eq!(before["in_meeting"]["file_transfer"], json!(true));

    let changed = event(
        "user.settings_updated",
        json!({ "id": "u0", "settings": {} }),
    );
    let (_, id) = accepted_id(app.post_signed(&changed).await).await;
    let done = app.processed(id).await;
    assert_eq!(done.state, EventState::Done, "{done:?}");
    assert!(
        done.outcome
            .as_deref()
            .unwrap_or("")
            .starts_with("re-checked"),
        "{done:?}"
    );
    let after = app.sim.user_settings(&host).unwrap();
    assert_eq!(after["in_meeting"]["file_transfer"], json!(false));
    let runs = app.store.list_runs(10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].kind, RunKind::Webhook);
    assert!(runs[0].sessions >= 6, "the whole tenant: {:?}", runs[0]);
    app.stop().await;
}

#[tokio::test]
async fn a_burst_of_settings_events_costs_at_most_two_tenant_runs() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (i, name) in [
        "user.settings_updated",
        "user.settings_updated",
        "group.lock_settings_updated",
        "account.lock_settings_updated",
        "user.settings_updated",
    ]
    .iter()
    .enumerate()
    {
        let body = event(name, json!({ "id": format!("obj{i}"), "settings": {} }));
        ids.push(accepted_id(app.post_signed(&body).await).await.1);
    }
    for id in ids {
        let done = app.processed(id).await;
        assert_eq!(done.state, EventState::Done, "{done:?}");
        assert_eq!(done.attempts, 1, "waiting is not an attempt: {done:?}");
    }
    let runs = app.store.list_runs(10).await.unwrap();
    assert!((1..=2).contains(&runs.len()), "{} tenant runs", runs.len());
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_json_gets_415_and_an_oversized_body_gets_413() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.webhook_url())
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let huge = vec![b' '; 2 * 1024 * 1024];
    let response = app
        .client
        .post(app.webhook_url())
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_tenant_gets_404() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/webhooks/zoom/someone-else", app.address))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn secrets_never_appear_in_answers_metrics_or_readiness() {
    let app = spawn_app().await;
    let client_secret = app.sim.client_secret().to_string();
    let (_, id) = accepted_id(
        app.post_signed(&meeting_event("meeting.created", DRIFTED))
            .await,
    )
    .await;
    app.processed(id).await;
    let mut seen = String::new();
    for path in ["/healthz", "/readyz", "/metrics"] {
        seen += &app.get_text(path).await;
    }
    let forged = app
        .client
        .post(app.webhook_url())
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", Utc::now().timestamp().to_string())
        .header("x-zm-signature", "v0=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    seen += &forged.text().await.unwrap();
    let events = app.store.webhook_events(Some(TENANT)).await.unwrap();
    seen += &format!("{events:?}");
    assert!(!seen.contains(SECRET), "webhook secret leaked");
    assert!(!seen.contains(&client_secret), "client secret leaked");
    app.stop().await;
}

//! Teams change notifications over real HTTP: chaperone's webhook routes served on a loopback
//! port, subscriptions created and renewed against the Graph simulator, which validates the
//! notification URL with the `validationToken` handshake before it accepts a subscription.

use std::sync::Arc;

use async_trait::async_trait;
use chaperone::platform::teams::TeamsPlatform;
use chaperone::platform::teams::notifications::{
    Delivered, LifecycleEvent, Notification, NotificationSettings, NotificationSink, SinkError,
    Subscriptions, routes,
};
use chaperone::platform::teams::sim::teams_settings_for;
use chaperone_sim::{TeamsScenario, TeamsSim, TeamsSimConfig};
use chrono::{Duration, Utc};
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::mpsc;

const STATE: &str = "riverside-teams-client-state-7f3a";

struct ChannelSink(mpsc::UnboundedSender<Notification>);

#[async_trait]
impl NotificationSink for ChannelSink {
    async fn accept(&self, items: Vec<Delivered>) -> Result<(), SinkError> {
        for d in items {
            let _ = self.0.send(d.notification);
        }
        Ok(())
    }
}

/// Serves [`routes`] on a loopback port; returns its URL and the notifications it passes on.
async fn serve_hook() -> (String, mpsc::UnboundedReceiver<Notification>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = routes(SecretString::from(STATE), Arc::new(ChannelSink(tx)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/"), rx)
}

fn settings(url: &str) -> NotificationSettings {
    serde_json::from_value(json!({
        "notification_url": url,
        "client_state": STATE,
        "lifetime_minutes": 4200,
        "renew_before_minutes": 120
    }))
    .expect("settings")
}

#[tokio::test]
async fn organizers_are_subscribed_validated_renewed_and_resubscribed() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = TeamsSim::start(TeamsSimConfig::default(), TeamsScenario::demo())
        .await
        .expect("sim");
    let platform =
        TeamsPlatform::from_settings("riverside", &teams_settings_for(&sim)).expect("platform");
    let (url, _rx) = serve_hook().await;
    let subs = Subscriptions::new(settings(&url), SecretString::from(STATE));
    let now = Utc::now();
    let failures = subs.maintain(&platform, now).await.expect("maintain");
    assert!(failures.is_empty(), "{failures:?}");
    let organizers = platform.organizer_ids().await.expect("ids");
    let stored = sim.subscriptions();
    assert_eq!(stored.len(), organizers.len());
    assert!(stored.iter().all(|s| {
        s["clientState"] == STATE
            && s["resource"]
                .as_str()
                .is_some_and(|r| r.ends_with("/events"))
    }));
    assert_eq!(sim.stats().validations_sent, 2 * organizers.len() as u64);

    // Nothing is due yet: no request.
    let before = sim.stats().total_requests;
    subs.maintain(&platform, now + Duration::minutes(60))
        .await
        .expect("maintain");
    let patches = |sim: &TeamsSim| {
        sim.stats()
            .requests_for("PATCH", "/v1.0/subscriptions/{id}")
    };
    assert_eq!(patches(&sim), 0);
    assert!(
        sim.stats().total_requests - before <= 3,
        "only the member list is read"
    );

    // Close to expiry: each is renewed.
    subs.maintain(&platform, now + Duration::minutes(4200 - 60))
        .await
        .expect("renew");
    assert_eq!(patches(&sim), organizers.len() as u64);

    // Lifecycle: reauthorization renews; removal subscribes again and asks for a re-read.
    let first = subs.current().await.into_iter().next().expect("one");
    let resync = subs
        .on_lifecycle(
            &platform,
            &first.id,
            LifecycleEvent::ReauthorizationRequired,
            now,
        )
        .await
        .expect("renewed");
    assert_eq!(resync, None);
    assert_eq!(patches(&sim), organizers.len() as u64 + 1);
    let posts = sim.stats().requests_for("POST", "/v1.0/subscriptions");
    let resync = subs
        .on_lifecycle(
            &platform,
            &first.id,
            LifecycleEvent::SubscriptionRemoved,
            now,
        )
        .await
        .expect("recreated");
    assert_eq!(resync.as_deref(), Some(first.organizer.as_str()));
    assert_eq!(
        sim.stats().requests_for("POST", "/v1.0/subscriptions"),
        posts + 1
    );
    let missed = subs.current().await.into_iter().next().expect("one");
    assert!(
        subs.on_lifecycle(&platform, &missed.id, LifecycleEvent::Missed, now)
            .await
            .expect("missed")
            .is_some()
    );
}

#[tokio::test]
async fn the_hook_echoes_validation_and_passes_on_only_genuine_notifications() {
    let (url, mut rx) = serve_hook().await;
    let client = reqwest::Client::new();
    let token = "Validation: Testing client application reachability & more";
    let answer = client
        .post(&url)
        .query(&[("validationToken", token)])
        .send()
        .await
        .expect("validation");
    assert_eq!(answer.status(), 200);
    assert!(
        answer
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("text/plain"))
    );
    assert_eq!(answer.text().await.expect("text"), token);

    let body = json!({"value": [
        {"subscriptionId": "s1", "clientState": STATE, "changeType": "updated",
         "resource": "Users/u1/Events/AAMk1", "tenantId": "t",
         "subscriptionExpirationDateTime": "2026-11-30T00:00:00Z"},
        {"subscriptionId": "s1", "clientState": "forged", "changeType": "deleted",
         "resource": "Users/u1/Events/AAMk2", "tenantId": "t",
         "subscriptionExpirationDateTime": "2026-11-30T00:00:00Z"}
    ]});
    let answer = client.post(&url).json(&body).send().await.expect("post");
    assert_eq!(answer.status(), 202);
    let got = rx.recv().await.expect("one notification");
    assert_eq!(
        got,
        Notification::Changed {
            subscription_id: "s1".into(),
            change_type: "updated".into(),
            resource: "Users/u1/Events/AAMk1".into()
        }
    );
    // The endpoint hands every genuine item to the sink before it answers 202, so anything the
    // forged item could have produced would already be in the channel: no wait needed.
    assert!(
        rx.try_recv().is_err(),
        "the forged notification was dropped"
    );
    let garbage = client
        .post(&url)
        .body("{\"value\": [")
        .send()
        .await
        .expect("post");
    assert_eq!(garbage.status(), 400);
}

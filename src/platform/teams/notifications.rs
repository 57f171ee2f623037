//! Graph change notifications for organizers' calendars, for `chaperone serve` to mount.
//!
//! What Graph does (teams-webex-meet.md §1.5):
//! - a subscription is created with `POST /subscriptions` on `/users/{id}/events` (one per
//!   mailbox) and lives at most 10,080 minutes for events; it is renewed with `PATCH
//!   /subscriptions/{id}` before it expires;
//! - Graph first POSTs `{notificationUrl}?validationToken=…` and wants the decoded token back as
//!   `text/plain` within 10 s;
//! - notifications are a `changeNotificationCollection` (`value[]` of `subscriptionId`,
//!   `clientState`, `changeType`, `resource`, `lifecycleEvent`, …) answered with 2xx within 3 s;
//!   `clientState` must be compared in constant time;
//! - lifecycle events: `reauthorizationRequired` (renew), `subscriptionRemoved` (create again),
//!   `missed` (notifications were lost: re-read the mailbox).
//!
//! How it is wired (docs/teams.md §6): `chaperone serve` nests [`routes`] at
//! `/webhooks/teams/{tenant}`, with a [`NotificationSink`] that stores each genuine item in the
//! webhook event table before Graph gets its 202; a worker then turns a changed event into
//! `platform.fetch_session(resource)` + `sweep::run_sessions`, and a lifecycle event into
//! [`Subscriptions::on_lifecycle`]. A task calls [`Subscriptions::maintain`] at start-up and
//! hourly.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use super::TeamsPlatform;
use super::models::Subscription;
use crate::platform::PlatformError;
use crate::platform::http_util::decode_json;
use crate::session::PlatformKind;

/// Longest lifetime Graph allows for an Outlook event subscription (§1.5: 10,080 minutes per the
/// current secondary sources; the older doc says 4,230). ASSUMPTION: the default stays under
/// both, so a subscription is never refused for its lifetime.
const DEFAULT_LIFETIME_MINUTES: u32 = 4_200;

/// Where Graph sends change notifications for this tenant, and the shared `clientState`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// The public HTTPS URL [`routes`] is served at.
    pub notification_url: String,
    /// Where lifecycle notifications go; default the same URL (the handler tells them apart).
    #[serde(default)]
    pub lifecycle_notification_url: Option<String>,
    /// The `clientState` secret Graph echoes in every notification (at most 128 characters).
    /// Prefer `client_state_env`.
    #[serde(default)]
    pub client_state: Option<SecretString>,
    /// The name of an environment variable holding the `clientState` secret.
    #[serde(default)]
    pub client_state_env: Option<String>,
    /// How long a subscription is asked to live, in minutes.
    #[serde(default = "default_lifetime")]
    pub lifetime_minutes: u32,
    /// How long before expiry a subscription is renewed, in minutes.
    #[serde(default = "default_renew_before")]
    pub renew_before_minutes: u32,
}

fn default_lifetime() -> u32 {
    DEFAULT_LIFETIME_MINUTES
}
fn default_renew_before() -> u32 {
    120
}

/// Notification settings that cannot be used; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationSetupError {
    #[error(
        "[tenants.teams.change_notifications] needs `client_state_env` (the name of an environment variable) or `client_state`"
    )]
    NoClientState,
    #[error("the environment variable `{0}` named by `client_state_env` is not set")]
    MissingEnv(String),
    #[error("`client_state` must be 1 to 128 characters (Graph's limit)")]
    ClientStateLength,
}

impl NotificationSettings {
    /// The `clientState` secret, from the setting or the named environment variable.
    pub fn client_state_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<SecretString, NotificationSetupError> {
        let secret = match (&self.client_state, &self.client_state_env) {
            (Some(s), _) => s.clone(),
            (None, Some(name)) => env(name)
                .filter(|v| !v.is_empty())
                .map(SecretString::from)
                .ok_or_else(|| NotificationSetupError::MissingEnv(name.clone()))?,
            (None, None) => return Err(NotificationSetupError::NoClientState),
        };
        let n = secret.expose_secret().chars().count();
        if n == 0 || n > 128 {
            return Err(NotificationSetupError::ClientStateLength);
        }
        Ok(secret)
    }
}

/// The lifecycle events of the CSDL's `lifecycleEventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    Missed,
    SubscriptionRemoved,
    ReauthorizationRequired,
}

/// One item of a notification collection, after its `clientState` was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// An event was created, updated or deleted: `resource` is `Users/{id}/Events/{id}`, which
    /// [`crate::platform::Platform::fetch_session`] of the Teams adapter accepts.
    Changed {
        subscription_id: String,
        change_type: String,
        resource: String,
    },
    Lifecycle {
        subscription_id: String,
        event: LifecycleEvent,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNotification {
    #[serde(default)]
    subscription_id: String,
    #[serde(default)]
    client_state: Option<String>,
    #[serde(default)]
    change_type: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    lifecycle_event: Option<LifecycleEvent>,
}

#[derive(Deserialize)]
struct RawCollection {
    #[serde(default)]
    value: Vec<serde_json::Value>,
}

/// One genuine item of a delivery: what it says, and the item as Graph sent it with its
/// `clientState` taken out (so a sink may store or hash it without keeping the secret). Graph
/// puts the event's `@odata.etag` in `resourceData`, so two changes of one event differ here
/// while a redelivery of the same change is byte-for-byte the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub notification: Notification,
    pub item: serde_json::Value,
}

/// Compares two secrets in constant time (for equal lengths; a length difference is not secret:
/// Graph's limit is public).
pub fn client_state_matches(expected: &SecretString, got: Option<&str>) -> bool {
    use subtle::ConstantTimeEq;
    let Some(got) = got else { return false };
    bool::from(expected.expose_secret().as_bytes().ct_eq(got.as_bytes()))
}

/// Parses a notification collection and keeps the items whose `clientState` matches; the rest
/// are dropped (Graph's advice: discard, they did not come from our subscription). Returns the
/// kept items, each with its raw item (without `clientState`), and how many were dropped.
pub fn parse_delivery(
    body: &[u8],
    client_state: &SecretString,
) -> Result<(Vec<Delivered>, usize), PlatformError> {
    let raw: RawCollection = decode_json(PlatformKind::Teams, "(change notification)", body)?;
    let mut kept = Vec::new();
    let mut dropped = 0;
    for mut item in raw.value {
        let Ok(n) = serde_json::from_value::<RawNotification>(item.clone()) else {
            dropped += 1;
            continue;
        };
        if !client_state_matches(client_state, n.client_state.as_deref()) {
            dropped += 1;
            continue;
        }
        if let Some(object) = item.as_object_mut() {
            object.remove("clientState");
        }
        let notification = match (n.lifecycle_event, n.resource, n.change_type) {
            (Some(event), _, _) => Notification::Lifecycle {
                subscription_id: n.subscription_id,
                event,
            },
            (None, Some(resource), Some(change_type)) => Notification::Changed {
                subscription_id: n.subscription_id,
                change_type,
                resource,
            },
            _ => {
                dropped += 1;
                continue;
            }
        };
        kept.push(Delivered { notification, item });
    }
    Ok((kept, dropped))
}

/// [`parse_delivery`] without the raw items.
pub fn parse_notifications(
    body: &[u8],
    client_state: &SecretString,
) -> Result<(Vec<Notification>, usize), PlatformError> {
    let (kept, dropped) = parse_delivery(body, client_state)?;
    Ok((kept.into_iter().map(|d| d.notification).collect(), dropped))
}

/// A sink could not keep a delivery; Graph is answered 503 and delivers it again later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the change notifications could not be kept ({0}); Graph will deliver them again")]
pub struct SinkError(pub String);

/// What the server does with notifications. [`NotificationSink::accept`] runs on the request
/// path, before Graph gets its answer, so a sink that stores the items there loses nothing if
/// the process dies after the 202. It must be quick (Graph wants 2xx within 3 s, §1.5): store,
/// do not process.
#[async_trait]
pub trait NotificationSink: Send + Sync {
    /// Takes the genuine items of one delivery. `Err` answers 503 so Graph delivers again.
    async fn accept(&self, items: Vec<Delivered>) -> Result<(), SinkError>;
}

struct Hook {
    client_state: SecretString,
    sink: Arc<dyn NotificationSink>,
}

/// The webhook endpoint: `POST /` answers Graph's validation request (echo of `validationToken`)
/// and accepts notification collections: 202 once the sink has taken the genuine items, 403 when
/// none is genuine (wrong `clientState`), 503 when the sink could not keep them, 400 for a body
/// that is not a collection.
pub fn routes(client_state: SecretString, sink: Arc<dyn NotificationSink>) -> Router {
    Router::new()
        .route("/", post(receive))
        .with_state(Arc::new(Hook { client_state, sink }))
}

async fn receive(
    State(hook): State<Arc<Hook>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    // Validation: the decoded token back, as text/plain (Query has already URL-decoded it).
    if let Some(token) = query.get("validationToken") {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            token.clone(),
        )
            .into_response();
    }
    match parse_delivery(&body, &hook.client_state) {
        Ok((items, dropped)) => {
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    platform = "teams",
                    "dropped change notifications whose clientState did not match"
                );
            }
            if items.is_empty() {
                // Every item forged (or a client state rotated under a live subscription):
                // refused, so it shows as a failure on the sender's side. Nothing is kept.
                return if dropped > 0 {
                    StatusCode::FORBIDDEN.into_response()
                } else {
                    StatusCode::ACCEPTED.into_response()
                };
            }
            match hook.sink.accept(items).await {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(e) => {
                    tracing::error!(error = %e, platform = "teams", "change notifications not kept");
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, platform = "teams", "unreadable change notification");
            StatusCode::BAD_REQUEST.into_response()
        }
    }
}

/// The subscription of one organizer's calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    pub id: String,
    pub organizer: String,
    pub expires: DateTime<Utc>,
}

/// Whether a subscription expiring at `expires` must be renewed at `now`.
pub fn renewal_due(expires: DateTime<Utc>, now: DateTime<Utc>, renew_before: Duration) -> bool {
    now + renew_before >= expires
}

/// The tenant's subscriptions: created for each organizer, renewed before expiry, recreated when
/// Graph removed them.
pub struct Subscriptions {
    settings: NotificationSettings,
    client_state: SecretString,
    by_organizer: Mutex<HashMap<String, Subscribed>>,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions")
            .field("notification_url", &self.settings.notification_url)
            .field("client_state", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Subscriptions {
    pub fn new(settings: NotificationSettings, client_state: SecretString) -> Subscriptions {
        Subscriptions {
            settings,
            client_state,
            by_organizer: Mutex::new(HashMap::new()),
        }
    }

    /// The subscriptions held now.
    pub async fn current(&self) -> Vec<Subscribed> {
        self.by_organizer.lock().await.values().cloned().collect()
    }

    fn expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::minutes(i64::from(self.settings.lifetime_minutes.max(1)))
    }

    async fn create(
        &self,
        platform: &TeamsPlatform,
        organizer: &str,
        now: DateTime<Utc>,
    ) -> Result<Subscribed, PlatformError> {
        let body = json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": self.settings.notification_url,
            "lifecycleNotificationUrl": self
                .settings
                .lifecycle_notification_url
                .as_deref()
                .unwrap_or(&self.settings.notification_url),
            "resource": format!("/users/{organizer}/events"),
            "expirationDateTime": self.expiry(now).to_rfc3339(),
            "clientState": self.client_state.expose_secret(),
        });
        let answer = platform
            .http()
            .write(Method::POST, "/subscriptions".into(), &body, None)
            .await?;
        let sub: Subscription = decode_json(PlatformKind::Teams, "/subscriptions", &answer)?;
        tracing::debug!(subscription = %sub.id, resource = %sub.resource, "subscribed");
        Ok(Subscribed {
            id: sub.id,
            organizer: organizer.to_string(),
            expires: sub.expiration_date_time,
        })
    }

    async fn renew(
        &self,
        platform: &TeamsPlatform,
        sub: &Subscribed,
        now: DateTime<Utc>,
    ) -> Result<Subscribed, PlatformError> {
        let body = json!({"expirationDateTime": self.expiry(now).to_rfc3339()});
        let path = format!("/subscriptions/{}", sub.id);
        match platform
            .http()
            .write(Method::PATCH, path.clone(), &body, None)
            .await
        {
            Ok(answer) => {
                let renewed: Subscription = decode_json(PlatformKind::Teams, &path, &answer)?;
                Ok(Subscribed {
                    expires: renewed.expiration_date_time,
                    ..sub.clone()
                })
            }
            // Graph removed it (expired, or `subscriptionRemoved`): subscribe again.
            Err(PlatformError::Api { status: 404, .. }) => {
                self.create(platform, &sub.organizer, now).await
            }
            Err(e) => Err(e),
        }
    }

    /// Subscribes every organizer not yet subscribed and renews what expires within
    /// `renew_before_minutes`. Returns the failures (one organizer's failure does not stop the
    /// rest).
    pub async fn maintain(
        &self,
        platform: &TeamsPlatform,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, PlatformError)>, PlatformError> {
        let organizers = platform.organizer_ids().await?;
        let renew_before = Duration::minutes(i64::from(self.settings.renew_before_minutes));
        let mut failures = Vec::new();
        for organizer in organizers {
            let existing = self.by_organizer.lock().await.get(&organizer).cloned();
            let result = match existing {
                Some(sub) if !renewal_due(sub.expires, now, renew_before) => continue,
                Some(sub) => self.renew(platform, &sub, now).await,
                None => self.create(platform, &organizer, now).await,
            };
            match result {
                Ok(sub) => {
                    self.by_organizer.lock().await.insert(organizer, sub);
                }
                Err(e) => {
                    tracing::warn!(organizer = %organizer, error = %e, "could not subscribe");
                    failures.push((organizer, e));
                }
            }
        }
        Ok(failures)
    }

    /// Acts on a lifecycle event: renews on `reauthorizationRequired`, subscribes again on
    /// `subscriptionRemoved`. Returns the organizer whose calendar must be re-read (every event
    /// but a successful renewal: after `missed` notifications were lost, and after a removal
    /// changes may have gone unseen).
    pub async fn on_lifecycle(
        &self,
        platform: &TeamsPlatform,
        subscription_id: &str,
        event: LifecycleEvent,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, PlatformError> {
        let Some(sub) = self
            .by_organizer
            .lock()
            .await
            .values()
            .find(|s| s.id == subscription_id)
            .cloned()
        else {
            return Ok(None);
        };
        let (result, resync) = match event {
            LifecycleEvent::ReauthorizationRequired => {
                (self.renew(platform, &sub, now).await, false)
            }
            LifecycleEvent::SubscriptionRemoved => {
                (self.create(platform, &sub.organizer, now).await, true)
            }
            LifecycleEvent::Missed => return Ok(Some(sub.organizer)),
        };
        let fresh = result?;
        self.by_organizer
            .lock()
            .await
            .insert(sub.organizer.clone(), fresh);
        Ok(resync.then_some(sub.organizer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("riverside-4c1f-state")
    }

    #[test]
    fn client_state_is_compared_exactly() {
        assert!(client_state_matches(
            &secret(),
            Some("riverside-4c1f-state")
        ));
        assert!(!client_state_matches(
            &secret(),
            Some("riverside-4c1f-statf")
        ));
        assert!(!client_state_matches(&secret(), Some("")));
        assert!(!client_state_matches(&secret(), None));
    }

    #[test]
    fn a_collection_is_parsed_and_forged_items_are_dropped() {
        // Shaped as the CSDL's changeNotificationCollection.
        let body = json!({"value": [
            {"subscriptionId": "s1", "clientState": "riverside-4c1f-state", "changeType": "updated",
             "resource": "Users/u1/Events/AAMk1", "tenantId": "t",
             "subscriptionExpirationDateTime": "2026-11-30T00:00:00Z",
             "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": "AAMk1"}},
            {"subscriptionId": "s1", "clientState": "guess", "changeType": "updated",
             "resource": "Users/u1/Events/AAMk2", "tenantId": "t",
             "subscriptionExpirationDateTime": "2026-11-30T00:00:00Z"},
            {"subscriptionId": "s2", "clientState": "riverside-4c1f-state",
             "lifecycleEvent": "reauthorizationRequired", "tenantId": "t",
             "subscriptionExpirationDateTime": "2026-11-30T00:00:00Z"}
        ]});
        let (kept, dropped) =
            parse_notifications(body.to_string().as_bytes(), &secret()).expect("parses");
        assert_eq!(dropped, 1);
        assert_eq!(
            kept,
            vec![
                Notification::Changed {
                    subscription_id: "s1".into(),
                    change_type: "updated".into(),
                    resource: "Users/u1/Events/AAMk1".into()
                },
                Notification::Lifecycle {
                    subscription_id: "s2".into(),
                    event: LifecycleEvent::ReauthorizationRequired
                }
            ]
        );
        assert!(parse_notifications(b"{\"value\": [", &secret()).is_err());
    }

    #[test]
    fn a_delivered_item_keeps_everything_but_the_client_state() {
        let body = json!({"value": [
            {"subscriptionId": "s1", "clientState": "riverside-4c1f-state", "changeType": "updated",
             "resource": "Users/u1/Events/AAMk1",
             "resourceData": {"@odata.etag": "W/\"1\"", "id": "AAMk1"}},
            {"subscriptionId": "s1", "clientState": "riverside-4c1f-state"}
        ]});
        let (kept, dropped) =
            parse_delivery(body.to_string().as_bytes(), &secret()).expect("parses");
        assert_eq!(
            dropped, 1,
            "an item that is neither a change nor a lifecycle event"
        );
        assert_eq!(kept.len(), 1);
        assert!(kept[0].item.get("clientState").is_none());
        assert_eq!(kept[0].item["resourceData"]["@odata.etag"], "W/\"1\"");
        assert!(!kept[0].item.to_string().contains("riverside-4c1f-state"));
    }

    #[test]
    fn renewal_is_due_before_expiry() {
        let now: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().expect("t");
        let margin = Duration::minutes(120);
        assert!(!renewal_due(now + Duration::minutes(121), now, margin));
        assert!(renewal_due(now + Duration::minutes(120), now, margin));
        assert!(renewal_due(now - Duration::minutes(1), now, margin));
    }

    #[test]
    fn the_client_state_comes_from_settings_or_the_environment() {
        let s: NotificationSettings = serde_json::from_value(json!({
            "notification_url": "https://chaperone.example.org/webhooks/teams/riverside",
            "client_state_env": "RIVERSIDE_TEAMS_STATE"
        }))
        .expect("settings");
        assert_eq!(s.lifetime_minutes, DEFAULT_LIFETIME_MINUTES);
        let got = s
            .client_state_with(|n| (n == "RIVERSIDE_TEAMS_STATE").then(|| "abc".into()))
            .expect("from env");
        assert_eq!(got.expose_secret(), "abc");
        assert_eq!(
            s.client_state_with(|_| None).unwrap_err(),
            NotificationSetupError::MissingEnv("RIVERSIDE_TEAMS_STATE".into())
        );
        let long = NotificationSettings {
            client_state: Some(SecretString::from("x".repeat(129))),
            ..s
        };
        assert_eq!(
            long.client_state_with(|_| None).unwrap_err(),
            NotificationSetupError::ClientStateLength
        );
    }
}

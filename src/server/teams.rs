//! Microsoft Teams change notifications in `chaperone serve`: `POST /webhooks/teams/{tenant}`
//! and the task that keeps the tenant's Graph subscriptions alive.
//!
//! Graph wants a 2xx within 3 s, and answers nothing it does not get back as lost: it retries a
//! failed delivery for a few hours, then drops it. So, as for Zoom, the endpoint persists and
//! answers, and a worker ([`super::worker`]) processes from the store:
//! - [`StoreSink`] stores every genuine item (its `clientState` checked by
//!   `platform::teams::notifications::routes`, and taken out before anything is stored) as a
//!   webhook event of platform `teams` before Graph gets its 202. A crash after the 202 loses
//!   nothing; a store that fails answers 503 so Graph delivers again.
//! - The dedupe key is the SHA-256 of the item as sent (without `clientState`): Graph redelivers
//!   the same bytes, while two changes of one event differ in `resourceData.@odata.etag`, so a
//!   redelivery is dropped and a new change is not.
//! - Event names: `event.{changeType}` with the `Users/{id}/Events/{id}` resource as object id,
//!   and `lifecycle.{lifecycleEvent}` with the subscription id as object id.
//!
//! [`maintain_subscriptions`] subscribes every organizer at start-up and renews hourly. The
//! subscriptions are held in memory: after a restart, new ones are made, and the previous
//! process's lapse at their expiry (notifications they send until then carry the same
//! `clientState` and are processed like any other; processing is idempotent).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tracing::Instrument;

use super::AppState;
use super::metrics;
use super::tenant::Tenant;
use crate::platform::teams::notifications::{
    Delivered, LifecycleEvent, Notification, NotificationSink, SinkError,
};
use crate::store::webhooks::{NewWebhookEvent, Received};

/// The `platform` of Teams events in the webhook event table.
pub(crate) const PLATFORM: &str = "teams";

/// What a stored Teams event asks for, from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TeamsEvent {
    /// `event.{changeType}`: `created`, `updated` or `deleted`.
    Changed(String),
    Lifecycle(LifecycleEvent),
}

fn lifecycle_name(event: LifecycleEvent) -> &'static str {
    match event {
        LifecycleEvent::Missed => "missed",
        LifecycleEvent::SubscriptionRemoved => "subscriptionRemoved",
        LifecycleEvent::ReauthorizationRequired => "reauthorizationRequired",
    }
}

impl TeamsEvent {
    /// The stored name and object id of a notification.
    fn of(n: &Notification) -> (String, &str) {
        match n {
            Notification::Changed {
                change_type,
                resource,
                ..
            } => (format!("event.{change_type}"), resource),
            Notification::Lifecycle {
                subscription_id,
                event,
            } => (
                format!("lifecycle.{}", lifecycle_name(*event)),
                subscription_id,
            ),
        }
    }

    /// The stored name read back; `None` for a name chaperone does not know.
    pub(crate) fn parse(name: &str) -> Option<TeamsEvent> {
        if let Some(change) = name.strip_prefix("event.") {
            return Some(TeamsEvent::Changed(change.to_string()));
        }
        let event = match name.strip_prefix("lifecycle.")? {
            "missed" => LifecycleEvent::Missed,
            "subscriptionRemoved" => LifecycleEvent::SubscriptionRemoved,
            "reauthorizationRequired" => LifecycleEvent::ReauthorizationRequired,
            _ => return None,
        };
        Some(TeamsEvent::Lifecycle(event))
    }
}

/// Stores each genuine notification as a webhook event before Graph is answered.
pub(crate) struct StoreSink {
    pub state: Arc<AppState>,
    pub tenant: String,
}

#[async_trait]
impl NotificationSink for StoreSink {
    async fn accept(&self, items: Vec<Delivered>) -> Result<(), SinkError> {
        let span =
            tracing::info_span!("teams_notification", tenant = %self.tenant, platform = PLATFORM);
        async {
            for d in items {
                let (event, object) = TeamsEvent::of(&d.notification);
                let payload = d.item.to_string();
                let dedupe_key = hex::encode(Sha256::digest(payload.as_bytes()));
                let stored = self
                    .state
                    .store
                    .receive_webhook_event(&NewWebhookEvent {
                        tenant: &self.tenant,
                        platform: PLATFORM,
                        dedupe_key: &dedupe_key,
                        event: &event,
                        object_id: Some(object),
                        received_at: Utc::now(),
                        payload: &payload,
                    })
                    .await;
                match stored {
                    Ok(Received::New { id }) => {
                        metrics::webhook(PLATFORM, &event, "accepted");
                        tracing::info!(event = %event, session = %object, event_id = id, "change notification stored");
                        self.state.wake.notify_one();
                    }
                    Ok(Received::Duplicate { id }) => {
                        metrics::webhook(PLATFORM, &event, "duplicate");
                        tracing::info!(event = %event, event_id = id, "change notification seen before; ignored");
                    }
                    Err(e) => {
                        metrics::webhook(PLATFORM, &event, "store-failed");
                        tracing::error!(error = %e, "could not store a change notification; Graph will deliver it again");
                        return Err(SinkError("the store could not be written".into()));
                    }
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// Subscribes the tenant's organizers at start-up, then renews (and subscribes new organizers)
/// every `interval`, until shutdown. Failures are logged and tried again at the next round; the
/// nightly sweep covers whatever notifications could not.
pub(crate) async fn maintain_subscriptions(
    tenant: Arc<Tenant>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(hook) = tenant.teams_notifications.as_ref() else {
        return;
    };
    let span = tracing::info_span!("teams_subscriptions", tenant = %tenant.id, platform = PLATFORM);
    async {
        loop {
            let result = tokio::select! {
                result = hook.subscriptions.maintain(&hook.platform, Utc::now()) => result,
                _ = wait_stop(&mut shutdown) => return,
            };
            match result {
                Ok(failures) if failures.is_empty() => {
                    let subscriptions = hook.subscriptions.current().await.len();
                    tracing::info!(
                        subscriptions,
                        "Teams change-notification subscriptions are current"
                    );
                }
                Ok(failures) => tracing::warn!(
                    failed = failures.len(),
                    "some organizers could not be subscribed (see above); tried again at the next round"
                ),
                Err(e) => tracing::error!(
                    error = %e,
                    "could not list the organizers to subscribe; tried again at the next round"
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = wait_stop(&mut shutdown) => return,
            }
        }
    }
    .instrument(span)
    .await
}

/// Resolves once the shutdown signal is given (the watch guard is not kept across an await).
async fn wait_stop(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await.map(|_| ());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_read_back() {
        for n in [
            Notification::Changed {
                subscription_id: "s".into(),
                change_type: "updated".into(),
                resource: "Users/u/Events/e".into(),
            },
            Notification::Lifecycle {
                subscription_id: "s".into(),
                event: LifecycleEvent::SubscriptionRemoved,
            },
        ] {
            let (name, _) = TeamsEvent::of(&n);
            let parsed = TeamsEvent::parse(&name).expect("known");
            match (n, parsed) {
                (Notification::Changed { change_type, .. }, TeamsEvent::Changed(c)) => {
                    assert_eq!(change_type, c)
                }
                (Notification::Lifecycle { event, .. }, TeamsEvent::Lifecycle(l)) => {
                    assert_eq!(event, l)
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(TeamsEvent::parse("meeting.updated"), None);
        assert_eq!(TeamsEvent::parse("lifecycle.other"), None);
    }
}

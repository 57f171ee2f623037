//! A tenant as `serve` holds it: its platform adapters (Zoom, Teams or both), profiles,
//! schedule, Zoom webhook secret and Teams change-notification state, built once at start-up so
//! a bad setting stops the service before it takes traffic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use secrecy::SecretString;
use tokio::sync::Mutex;

use super::ServeError;
use crate::app;
use crate::platform::teams::TeamsPlatform;
use crate::platform::teams::notifications::Subscriptions;
use crate::platform::{Platform, Window};
use crate::profile::Profile;
use crate::scheduler::Schedule;
use crate::session::PlatformKind;
use crate::settings::{TenantSettings, ZoomSettings};
use crate::store::leases::Lease;
use crate::store::{Store, StoreError};

/// How often a scheduled sweep asks again for a writer lease another process holds.
const LEASE_POLL: Duration = Duration::from_secs(5);

/// A tenant's Teams change notifications: the endpoint's secret and the subscriptions that make
/// Graph call it. Present only when `[tenants.teams.change_notifications]` is set.
pub struct TeamsNotifications {
    /// The concrete adapter ([`Subscriptions`] writes `/subscriptions` through its client); the
    /// same client, caches and rate limits as the tenant's Teams platform.
    pub platform: TeamsPlatform,
    /// The `clientState` every genuine notification carries. Never logged.
    pub client_state: SecretString,
    pub subscriptions: Subscriptions,
}

/// One organisation, ready to serve.
pub struct Tenant {
    pub id: String,
    /// The tenant's settings as configured (notifications read them after each sweep).
    pub settings: TenantSettings,
    pub timezone: Tz,
    pub window_days: u32,
    /// Every platform the tenant has, Zoom first, then Teams (the order `chaperone sweep` uses):
    /// scheduled sweeps run each in turn.
    pub platforms: Vec<Arc<dyn Platform>>,
    pub profiles: Arc<Vec<Profile>>,
    pub schedule: Option<Schedule>,
    /// The Zoom app's webhook secret token; `None`: the tenant's Zoom webhook URL answers 404.
    pub webhook_secret: Option<SecretString>,
    /// `None`: the tenant's Teams notification URL answers 404.
    pub teams_notifications: Option<TeamsNotifications>,
    /// Held by whatever reads a whole platform of the tenant (a scheduled sweep, a re-check after
    /// a settings or lifecycle event), so two of them never run at once. Holds when the last one
    /// of each platform started: a re-check asked for by an event received before then is
    /// already covered.
    pub whole_tenant: Mutex<BTreeMap<PlatformKind, DateTime<Utc>>>,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .field("timezone", &self.timezone)
            .field(
                "platforms",
                &self.platforms.iter().map(|p| p.kind()).collect::<Vec<_>>(),
            )
            .field("schedule", &self.schedule.as_ref().map(|s| s.expression()))
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "teams_notifications",
                &self.teams_notifications.as_ref().map(|_| "[configured]"),
            )
            .finish_non_exhaustive()
    }
}

impl Tenant {
    /// Builds a tenant from its settings: time zone, profiles, schedule, platforms and secrets.
    /// A tenant needs at least one of `[tenants.zoom]` and `[tenants.teams]`.
    pub fn build(t: &TenantSettings) -> Result<Tenant, ServeError> {
        Self::build_with(t, |name| std::env::var(name).ok())
    }

    /// [`Tenant::build`] with the environment lookup passed in (for tests).
    pub fn build_with(
        t: &TenantSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Tenant, ServeError> {
        let invalid = |message: String| ServeError::Tenant {
            tenant: t.id.clone(),
            message,
        };
        let timezone: Tz = t.timezone.parse().map_err(|_| {
            invalid(format!(
                "unknown time zone `{}`; use an IANA name such as Europe/London",
                t.timezone
            ))
        })?;
        let schedule = t
            .schedule
            .as_deref()
            .map(|expr| Schedule::parse(&t.id, expr, timezone))
            .transpose()?;
        let profiles =
            app::load_profiles(&t.profiles_dir, timezone).map_err(|e| invalid(format!("{e:#}")))?;
        if t.zoom.is_none() && t.teams.is_none() {
            return Err(invalid(
                "no platform is configured: add a [tenants.zoom] or a [tenants.teams] table".into(),
            ));
        }
        let mut platforms: Vec<Arc<dyn Platform>> = Vec::new();
        let mut webhook_secret = None;
        if let Some(zoom) = &t.zoom {
            platforms.push(app::zoom_platform(&t.id, zoom).map_err(|e| invalid(format!("{e:#}")))?);
            webhook_secret = self::webhook_secret(&t.id, zoom, &env)?;
        }
        let mut teams_notifications = None;
        if let Some(teams) = &t.teams {
            let platform = TeamsPlatform::from_settings_with(&t.id, teams, &env)
                .map_err(|e| invalid(e.to_string()))?;
            if let Some(n) = &teams.change_notifications {
                // The id becomes a path segment the router matches literally.
                if t.id.is_empty()
                    || !t
                        .id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                {
                    return Err(invalid(
                        "a tenant with Teams change notifications needs an id of letters, digits, `-`, `_` and `.` only: it is part of the notification URL".into(),
                    ));
                }
                let client_state = n
                    .client_state_with(&env)
                    .map_err(|e| invalid(e.to_string()))?;
                if url::Url::parse(&n.notification_url).is_err() {
                    return Err(invalid(format!(
                        "`notification_url = \"{}\"` is not a URL: write the public HTTPS address of /webhooks/teams/{}",
                        n.notification_url, t.id
                    )));
                }
                teams_notifications = Some(TeamsNotifications {
                    platform: platform.clone(),
                    subscriptions: Subscriptions::new(n.clone(), client_state.clone()),
                    client_state,
                });
            }
            platforms.push(Arc::new(platform));
        }
        Ok(Tenant {
            id: t.id.clone(),
            settings: t.clone(),
            timezone,
            window_days: t.window_days,
            platforms,
            profiles: Arc::new(profiles),
            schedule,
            webhook_secret,
            teams_notifications,
            whole_tenant: Mutex::new(BTreeMap::new()),
        })
    }

    /// The tenant's adapter for `kind`, if it has that platform.
    pub fn platform(&self, kind: PlatformKind) -> Option<&Arc<dyn Platform>> {
        self.platforms.iter().find(|p| p.kind() == kind)
    }

    /// The writer lease of one of the tenant's platforms for a scheduled sweep, waiting while
    /// another process holds it (its sweep is doing this work). `None` when `stopping` is set
    /// while waiting.
    pub async fn wait_for_writer_lease(
        &self,
        store: &Store,
        platform: PlatformKind,
        stopping: &AtomicBool,
    ) -> Result<Option<Lease>, StoreError> {
        let mut told = false;
        loop {
            match store.take_lease(&self.id, platform).await {
                Ok(lease) => return Ok(Some(lease)),
                Err(StoreError::LeaseHeld { holder, until, .. }) => {
                    if !told {
                        tracing::info!(tenant = %self.id, platform = %platform, holder = %holder, until = %until.format("%Y-%m-%d %H:%M:%S UTC"), "another chaperone process is writing this platform; the scheduled sweep waits for it");
                        told = true;
                    }
                }
                Err(e) => return Err(e),
            }
            if stopping.load(Ordering::SeqCst) {
                return Ok(None);
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    /// Settles the write intents other processes left open on each of the tenant's platforms
    /// (writes that may have happened with no record), under each platform's writer lease. A
    /// platform whose lease another process holds is left to that process.
    pub async fn settle_open_intents(&self, store: &Store) {
        for platform in &self.platforms {
            let lease = match store.take_lease(&self.id, platform.kind()).await {
                Ok(lease) => lease,
                Err(StoreError::LeaseHeld { .. }) => continue,
                Err(e) => {
                    tracing::error!(tenant = %self.id, platform = %platform.kind(), error = %e, "could not take the writer lease to settle open write intents; the next sweep settles them");
                    continue;
                }
            };
            match crate::intents::settle_open(
                &self.id,
                platform.as_ref(),
                &self.profiles,
                store,
                Utc::now(),
            )
            .await
            {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(tenant = %self.id, platform = %platform.kind(), settled = n, "settled the writes a stopped process left unrecorded")
                }
                Err(e) => {
                    tracing::error!(tenant = %self.id, platform = %platform.kind(), error = %e, "could not settle open write intents; the next sweep tries again")
                }
            }
            lease.release().await;
        }
    }

    /// The span of time a run of this tenant looks at.
    pub fn window(&self, now: DateTime<Utc>) -> Window {
        Window {
            from: now - chrono::Duration::hours(2),
            to: now + chrono::Duration::days(i64::from(self.window_days)),
        }
    }
}

/// The webhook secret token from the setting or the environment variable it names. A named
/// variable that is unset is an error (a typo would otherwise switch webhooks off silently).
pub fn webhook_secret(
    tenant: &str,
    zoom: &ZoomSettings,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<SecretString>, ServeError> {
    use secrecy::ExposeSecret;
    if let Some(s) = &zoom.webhook_secret_token {
        if s.expose_secret().is_empty() {
            return Err(ServeError::Tenant {
                tenant: tenant.into(),
                message: "`webhook_secret_token` is empty: paste the Secret Token from the Zoom app's Feature page, or remove the setting".into(),
            });
        }
        return Ok(Some(s.clone()));
    }
    if let Some(name) = &zoom.webhook_secret_token_env {
        return match env(name).filter(|v| !v.is_empty()) {
            Some(v) => Ok(Some(SecretString::from(v))),
            None => Err(ServeError::Tenant {
                tenant: tenant.into(),
                message: format!(
                    "the environment variable `{name}` named by `webhook_secret_token_env` is not set"
                ),
            }),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(extra: serde_json::Value) -> TenantSettings {
        let mut t = json!({
            "id": "riverside-youth",
            "profiles_dir": concat!(env!("CARGO_MANIFEST_DIR"), "/profiles"),
        });
        if let (Some(t), Some(extra)) = (t.as_object_mut(), extra.as_object()) {
            t.extend(extra.clone());
        }
        serde_json::from_value(t).expect("tenant settings")
    }

    fn teams(notifications: serde_json::Value) -> serde_json::Value {
        json!({"teams": {
            "tenant_id": "00000000-0000-0000-0000-000000000001",
            "client_id": "00000000-0000-0000-0000-000000000002",
            "client_secret": "test-secret",
            "staff_group_id": "00000000-0000-0000-0000-000000000003",
            "change_notifications": notifications,
        }})
    }

    #[test]
    fn a_teams_only_tenant_builds_with_its_notifications() {
        let t = Tenant::build_with(
            &settings(teams(json!({
                "notification_url": "https://chaperone.example.org/webhooks/teams/riverside-youth",
                "client_state_env": "STATE"
            }))),
            |name| (name == "STATE").then(|| "a-client-state".to_string()),
        )
        .expect("builds");
        assert_eq!(t.platforms.len(), 1);
        assert!(t.platform(PlatformKind::Teams).is_some());
        assert!(t.platform(PlatformKind::Zoom).is_none());
        assert!(t.webhook_secret.is_none());
        assert!(t.teams_notifications.is_some());
        assert!(!format!("{t:?}").contains("a-client-state"));
    }

    #[test]
    fn a_tenant_needs_a_platform_and_a_client_state_to_be_told_what_to_add() {
        let none = Tenant::build_with(&settings(json!({})), |_| None).unwrap_err();
        assert!(none.to_string().contains("[tenants.teams]"), "{none}");
        let unset = Tenant::build_with(
            &settings(teams(json!({
                "notification_url": "https://chaperone.example.org/webhooks/teams/riverside-youth",
                "client_state_env": "UNSET_STATE"
            }))),
            |_| None,
        )
        .unwrap_err();
        assert!(unset.to_string().contains("UNSET_STATE"), "{unset}");
    }
}

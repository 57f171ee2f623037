//! A tenant as `serve` holds it: its platform adapter, profiles, schedule and webhook secret,
//! built once at start-up so a bad setting stops the service before it takes traffic.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use secrecy::SecretString;
use tokio::sync::Mutex;

use super::ServeError;
use crate::app;
use crate::platform::{Platform, Window};
use crate::profile::Profile;
use crate::scheduler::Schedule;
use crate::settings::{TenantSettings, ZoomSettings};

/// One organisation, ready to serve.
pub struct Tenant {
    pub id: String,
    /// The tenant's settings as configured (notifications read them after each sweep).
    pub settings: TenantSettings,
    pub timezone: Tz,
    pub window_days: u32,
    pub platform: Arc<dyn Platform>,
    pub profiles: Arc<Vec<Profile>>,
    pub schedule: Option<Schedule>,
    /// The Zoom app's webhook secret token; `None`: the tenant's webhook URL answers 404.
    pub webhook_secret: Option<SecretString>,
    /// Held by whatever reads the whole tenant (a scheduled sweep, a re-check after a settings
    /// event), so two of them never run at once. Holds when the last one started: a re-check
    /// asked for by an event received before then is already covered.
    pub whole_tenant: Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .field("timezone", &self.timezone)
            .field("schedule", &self.schedule.as_ref().map(|s| s.expression()))
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl Tenant {
    /// Builds a tenant from its settings: time zone, profiles, schedule, platform and secret.
    pub fn build(t: &TenantSettings) -> Result<Tenant, ServeError> {
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
        let zoom = t.zoom.as_ref().ok_or_else(|| {
            invalid(
                "no platform is configured: add a [tenants.zoom] table (serve handles Zoom tenants)"
                    .into(),
            )
        })?;
        let platform = app::zoom_platform(&t.id, zoom).map_err(|e| invalid(format!("{e:#}")))?;
        let webhook_secret = webhook_secret(&t.id, zoom, |name| std::env::var(name).ok())?;
        Ok(Tenant {
            id: t.id.clone(),
            settings: t.clone(),
            timezone,
            window_days: t.window_days,
            platform,
            profiles: Arc::new(profiles),
            schedule,
            webhook_secret,
            whole_tenant: Mutex::new(None),
        })
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

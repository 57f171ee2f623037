//! Service settings: a TOML file plus `CHAPERONE__…` environment overrides (the `config` crate).
//! Secrets are held in `secrecy` types so they cannot be printed by accident; they may also be
//! read from a file (`client_secret_file`), which suits Kubernetes and systemd credentials.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

/// Everything chaperone needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub log: LogSettings,
    /// The service (`chaperone serve`): where it listens for webhooks, health and metrics.
    #[serde(default)]
    pub server: ServerSettings,
    /// The organisations this instance looks after.
    #[serde(default)]
    pub tenants: Vec<TenantSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://path/to/chaperone.db` (created if missing) or `postgres://…`.
    #[serde(default = "default_store_url")]
    pub url: SecretString,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            url: default_store_url(),
        }
    }
}

fn default_store_url() -> SecretString {
    SecretString::from("sqlite://chaperone.db")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` (default in a terminal), `json` (default otherwise) or `auto`.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// A tracing filter such as `info` or `chaperone=debug`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

fn default_log_format() -> String {
    "auto".into()
}
fn default_log_level() -> String {
    "info".into()
}

/// `chaperone serve`'s HTTP listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address for webhooks, `/healthz`, `/readyz` and `/metrics`.
    #[serde(default = "default_listen")]
    pub listen: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> String {
    "0.0.0.0:8080".into()
}

/// One organisation: its platforms, time zone and profiles.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// A short id used in logs, reports and webhook URLs (`riverside-youth`).
    pub id: String,
    /// The organisation's IANA time zone (`Europe/London`).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// The folder of profile TOML files.
    #[serde(default = "default_profiles_dir")]
    pub profiles_dir: PathBuf,
    /// How many days ahead a sweep looks for scheduled sessions.
    #[serde(default = "default_window_days")]
    pub window_days: u32,
    /// When the nightly sweep runs, as a standard 5-field crontab in the tenant's time zone
    /// (`0 2 * * *`). Used by `chaperone serve`.
    #[serde(default)]
    pub schedule: Option<String>,
    pub zoom: Option<ZoomSettings>,
    /// Microsoft Teams (Graph onlineMeetings) for the same organisation.
    #[serde(default)]
    pub teams: Option<crate::platform::teams::TeamsSettings>,
    /// Where notifications to hosts and safeguarding leads go.
    #[serde(default)]
    pub notify: Option<crate::notify::NotifySettings>,
}

fn default_timezone() -> String {
    "Europe/London".into()
}
fn default_profiles_dir() -> PathBuf {
    PathBuf::from("profiles")
}
fn default_window_days() -> u32 {
    30
}

/// A Zoom Server-to-Server OAuth app of the organisation's Zoom account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoomSettings {
    pub account_id: String,
    pub client_id: String,
    /// The app's client secret. Prefer `client_secret_env` or `client_secret_file` to writing it
    /// in the settings file.
    pub client_secret: Option<SecretString>,
    /// The name of an environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A file holding the client secret (trailing newline ignored).
    pub client_secret_file: Option<PathBuf>,
    /// Zoom's REST base URL. Zoom for Government and test servers use other hosts.
    #[serde(default = "default_zoom_api_base")]
    pub api_base_url: String,
    /// Zoom's OAuth token URL.
    #[serde(default = "default_zoom_token_url")]
    pub token_url: String,
    /// Requests per second chaperone allows itself, per Zoom rate-limit label. Defaults are the
    /// Pro plan's (Light 30/s, Medium 20/s); Business and above may raise them (80/s, 60/s).
    #[serde(default)]
    pub rate_limits: ZoomRateLimits,
    /// Meeting updates allowed per host per day (Zoom: 100, reset at 00:00 UTC).
    #[serde(default = "default_daily_updates")]
    pub daily_updates_per_host: u32,
    /// Seconds before a request is abandoned.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// The Zoom app's webhook secret token, for `POST /webhooks/zoom/{tenant}` (`serve`).
    #[serde(default)]
    pub webhook_secret_token: Option<SecretString>,
    /// The name of an environment variable holding the webhook secret token.
    #[serde(default)]
    pub webhook_secret_token_env: Option<String>,
}

fn default_zoom_api_base() -> String {
    "https://api.zoom.us/v2".into()
}
fn default_zoom_token_url() -> String {
    "https://zoom.us/oauth/token".into()
}
fn default_daily_updates() -> u32 {
    100
}
fn default_timeout_secs() -> u64 {
    30
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoomRateLimits {
    pub light_per_second: u32,
    pub medium_per_second: u32,
}

impl Default for ZoomRateLimits {
    fn default() -> Self {
        ZoomRateLimits {
            light_per_second: 30,
            medium_per_second: 20,
        }
    }
}

/// Settings could not be loaded; the message names the file or variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("could not read settings from {path}: {source}")]
    Load {
        path: String,
        #[source]
        source: config::ConfigError,
    },
    #[error("tenant `{tenant}`: {message}")]
    Invalid { tenant: String, message: String },
    #[error("tenant `{tenant}`: could not read the secret file {path}: {source}")]
    SecretFile {
        tenant: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Settings {
    /// Loads `path` (when given) and the `CHAPERONE__…` environment. `env` replaces the process
    /// environment in tests (edition 2024 makes `set_var` unsafe).
    pub fn load(
        path: Option<&Path>,
        env: Option<config::Map<String, String>>,
    ) -> Result<Settings, SettingsError> {
        let mut builder = config::Config::builder();
        if let Some(path) = path {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        // With separator "__" the prefix separator also defaults to "__":
        // CHAPERONE__STORE__URL (research/rust-stack.md, "config").
        builder = builder.add_source(
            config::Environment::with_prefix("CHAPERONE")
                .separator("__")
                .try_parsing(false)
                .source(env),
        );
        let shown = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the environment".into());
        let settings: Settings =
            builder
                .build()
                .and_then(|c| c.try_deserialize())
                .map_err(|source| SettingsError::Load {
                    path: shown,
                    source,
                })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        for t in &self.tenants {
            if t.timezone.parse::<chrono_tz::Tz>().is_err() {
                return Err(SettingsError::Invalid {
                    tenant: t.id.clone(),
                    message: format!(
                        "`timezone = \"{}\"` is not an IANA time zone name (for example Europe/London)",
                        t.timezone
                    ),
                });
            }
            if let Some(z) = &t.zoom {
                let given = [
                    z.client_secret.is_some(),
                    z.client_secret_env.is_some(),
                    z.client_secret_file.is_some(),
                ];
                if given.iter().filter(|g| **g).count() != 1 {
                    return Err(SettingsError::Invalid {
                        tenant: t.id.clone(),
                        message: "[tenants.zoom] needs exactly one of `client_secret_env` (the name of an environment variable), `client_secret_file` or `client_secret`".into(),
                    });
                }
            }
        }
        Ok(())
    }
}

impl ZoomSettings {
    /// The client secret, from the setting, the named environment variable or the secret file.
    pub fn secret(&self, tenant: &str) -> Result<SecretString, SettingsError> {
        self.secret_with(tenant, |name| std::env::var(name).ok())
    }

    /// [`ZoomSettings::secret`] with the environment lookup passed in (for tests).
    pub fn secret_with(
        &self,
        tenant: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<SecretString, SettingsError> {
        resolve_secret(
            tenant,
            "zoom",
            SecretSource {
                value: self.client_secret.as_ref(),
                env_name: self.client_secret_env.as_deref(),
                file: self.client_secret_file.as_deref(),
            },
            env,
        )
    }
}

/// Where a secret setting may come from: the value itself, an environment variable named by
/// `client_secret_env`, or a file named by `client_secret_file` (shared by every platform's
/// settings so they behave alike).
#[derive(Debug, Clone, Copy)]
pub struct SecretSource<'a> {
    pub value: Option<&'a SecretString>,
    pub env_name: Option<&'a str>,
    pub file: Option<&'a Path>,
}

/// Reads a secret from the first of value, named environment variable, file; `platform` names the
/// settings table in the message when none is given.
pub fn resolve_secret(
    tenant: &str,
    platform: &str,
    source: SecretSource<'_>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<SecretString, SettingsError> {
    if let Some(s) = source.value {
        return Ok(s.clone());
    }
    if let Some(name) = source.env_name {
        return env(name)
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
            .ok_or_else(|| SettingsError::Invalid {
                tenant: tenant.into(),
                message: format!(
                    "the environment variable `{name}` named by `client_secret_env` is not set"
                ),
            });
    }
    let path = source.file.ok_or_else(|| SettingsError::Invalid {
        tenant: tenant.into(),
        message: format!(
            "{platform} needs `client_secret_env`, `client_secret_file` or `client_secret`"
        ),
    })?;
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::SecretFile {
        tenant: tenant.into(),
        path: path.to_path_buf(),
        source,
    })?;
    Ok(SecretString::from(text.trim_end().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("chaperone.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    const BASE: &str = r#"
[store]
url = "sqlite://x.db"

[[tenants]]
id = "riverside"

[tenants.zoom]
account_id = "acct"
client_id = "cid"
client_secret = "from-file"
"#;

    #[test]
    fn a_settings_file_loads_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(Some(&write(dir.path(), BASE)), Some(Default::default())).unwrap();
        let zoom = s.tenants[0].zoom.as_ref().unwrap();
        assert_eq!(zoom.api_base_url, "https://api.zoom.us/v2");
        assert_eq!(zoom.rate_limits.light_per_second, 30);
        assert_eq!(s.tenants[0].timezone, "Europe/London");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let env = config::Map::from([(
            "CHAPERONE__STORE__URL".to_string(),
            "postgres://db/x".to_string(),
        )]);
        let s = Settings::load(Some(&write(dir.path(), BASE)), Some(env)).unwrap();
        assert_eq!(s.store.url.expose_secret(), "postgres://db/x");
    }

    #[test]
    fn a_secret_can_come_from_a_named_environment_variable() {
        let dir = tempfile::tempdir().unwrap();
        let text = BASE.replace(
            "client_secret = \"from-file\"",
            "client_secret_env = \"RIVERSIDE_ZOOM_SECRET\"",
        );
        let s = Settings::load(Some(&write(dir.path(), &text)), Some(Default::default())).unwrap();
        let zoom = s.tenants[0].zoom.as_ref().unwrap();
        let secret = zoom
            .secret_with("riverside", |n| {
                (n == "RIVERSIDE_ZOOM_SECRET").then(|| "from-env".into())
            })
            .unwrap();
        assert_eq!(secret.expose_secret(), "from-env");
        let missing = zoom.secret_with("riverside", |_| None).unwrap_err();
        assert!(
            missing.to_string().contains("RIVERSIDE_ZOOM_SECRET"),
            "{missing}"
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &format!("{BASE}\nunexpected = 1\n"));
        let err = Settings::load(Some(&path), Some(Default::default())).unwrap_err();
        assert!(err.to_string().contains("chaperone.toml"), "{err}");
        assert!(err.to_string().contains("unexpected"), "{err}");
    }

    #[test]
    fn a_secret_is_never_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(Some(&write(dir.path(), BASE)), Some(Default::default())).unwrap();
        assert!(!format!("{s:?}").contains("from-file"));
    }

    #[test]
    fn a_bad_time_zone_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = BASE.replace(
            "id = \"riverside\"",
            "id = \"riverside\"\ntimezone = \"Europe/Londn\"",
        );
        let err =
            Settings::load(Some(&write(dir.path(), &text)), Some(Default::default())).unwrap_err();
        assert!(err.to_string().contains("Europe/Londn"), "{err}");
    }
}

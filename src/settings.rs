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

/// The rates chaperone allows itself per Zoom label: ceilings, not promises. Other apps on the
/// account share Zoom's limits, so a 429 slows chaperone down to what Zoom allows
/// (src/platform/pacing.rs) until `run_deadline_secs`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoomRateLimits {
    pub light_per_second: u32,
    pub medium_per_second: u32,
    /// How long a run may take when Zoom allows less than the configured rates: past it,
    /// requests still throttled fail with an error that says what rate Zoom allowed. Default 6
    /// hours (a 50,000-session sweep at a tenth of Pro limits).
    #[serde(default = "default_run_deadline_secs")]
    pub run_deadline_secs: u64,
}

fn default_run_deadline_secs() -> u64 {
    crate::platform::pacing::DEFAULT_RUN_DEADLINE.as_secs()
}

impl ZoomRateLimits {
    /// The run deadline (at least a second).
    pub fn run_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.run_deadline_secs.max(1))
    }
}

impl Default for ZoomRateLimits {
    fn default() -> Self {
        ZoomRateLimits {
            light_per_second: 30,
            medium_per_second: 20,
            run_deadline_secs: default_run_deadline_secs(),
        }
    }
}

/// Settings could not be loaded; the message names the file or variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or parsed; `message` says where (`file:line:column` when the
    /// file is TOML chaperone can point into) and what. Said once: no `source` repeats it.
    #[error("could not read settings from {path}: {message}")]
    Load { path: String, message: String },
    #[error("tenant `{tenant}`: {message}")]
    Invalid { tenant: String, message: String },
    /// A value that parses but cannot work, with the file and field to change.
    #[error("settings {path}: `{field}`: {message}")]
    Field {
        path: String,
        field: String,
        message: String,
    },
    #[error("tenant `{tenant}`: could not read the secret file {path}: {source}")]
    SecretFile {
        tenant: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The characters a tenant id may use: it is a path segment of the webhook URLs
/// (`/webhooks/zoom/{tenant}`), a metric label and a log field, so only what needs no escaping
/// anywhere.
pub const TENANT_ID_CHARS: &str = "lower-case letters a-z, digits 0-9, `-` and `_`";

/// Whether `id` can name a tenant: 1 to 64 of [`TENANT_ID_CHARS`].
pub fn is_valid_tenant_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
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
                .map_err(|e| SettingsError::Load {
                    message: path
                        .and_then(locate_in_file)
                        .unwrap_or_else(|| e.to_string()),
                    path: shown.clone(),
                })?;
        settings.validate(&shown)?;
        Ok(settings)
    }

    fn validate(&self, path: &str) -> Result<(), SettingsError> {
        let field = |field: String, message: String| SettingsError::Field {
            path: path.to_string(),
            field,
            message,
        };
        let mut seen = std::collections::HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if !is_valid_tenant_id(&t.id) {
                return Err(field(
                    format!("tenants[{i}].id"),
                    format!(
                        "`id = \"{}\"` cannot be used: a tenant id is part of its webhook URLs \
                         (/webhooks/zoom/{{tenant}}), so it may only use {TENANT_ID_CHARS}, 1 to \
                         64 of them (for example \"riverside-youth\")",
                        t.id.escape_default()
                    ),
                ));
            }
            if !seen.insert(t.id.as_str()) {
                return Err(field(
                    format!("tenants[{i}].id"),
                    format!(
                        "`id = \"{}\"` is used by more than one [[tenants]] entry; give each \
                         tenant its own id (runs, webhooks and notifications are kept apart by it)",
                        t.id
                    ),
                ));
            }
            if t.window_days == 0 {
                return Err(field(
                    format!("tenants[{i}].window_days"),
                    format!(
                        "tenant `{}`: `window_days = 0` would look at no sessions at all; give the \
                         number of days ahead to check (default 30)",
                        t.id
                    ),
                ));
            }
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
        if let Some(folder) = sqlite_folder(secrecy::ExposeSecret::expose_secret(&self.store.url))
            && !folder.is_dir()
        {
            return Err(field(
                "store.url".into(),
                format!(
                    "the folder {} for the SQLite store does not exist; create it, or point \
                     `url` at an existing folder (sqlite://path/to/chaperone.db)",
                    folder.display()
                ),
            ));
        }
        Ok(())
    }
}

/// The folder a `sqlite:` store URL puts its database in, when it names one (not for
/// `sqlite::memory:` or a file in the working directory). Only the path is returned, so a
/// PostgreSQL URL with a password is never looked at.
fn sqlite_folder(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or_default();
    if file.is_empty() || file.starts_with(":memory:") {
        return None;
    }
    let parent = Path::new(file).parent()?;
    (!parent.as_os_str().is_empty()).then(|| parent.to_path_buf())
}

/// Parses the settings file on its own to point at the line of a mistake (the `config` crate's
/// error loses it): `line L, column C: unknown field …`. `None` when the file alone parses (the
/// mistake came from the environment) or cannot be read.
fn locate_in_file(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let err = toml::from_str::<Settings>(&text).err()?;
    let message = err.message().trim_end().to_string();
    match err.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(&text);
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            Some(format!("{}:{line}:{column}: {message}", path.display()))
        }
        None => Some(message),
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
    fn an_unknown_key_is_reported_once_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = BASE.replace("id = \"riverside\"", "id = \"riverside\"\nwindow_dayz = 7");
        let path = write(dir.path(), &text);
        let err = Settings::load(Some(&path), Some(Default::default())).unwrap_err();
        // Shown as main shows it: with the chain of sources.
        let shown = format!("{:#}", anyhow::Error::from(err));
        assert_eq!(shown.matches("window_dayz").count(), 1, "{shown}");
        let line = text
            .lines()
            .position(|l| l.starts_with("window_dayz"))
            .unwrap()
            + 1;
        assert!(
            shown.contains(&format!("chaperone.toml:{line}:1")),
            "{shown}"
        );
    }

    fn load_err(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let text = text.replace(
            "sqlite://x.db",
            &format!("sqlite://{}/x.db", dir.path().display()),
        );
        let err =
            Settings::load(Some(&write(dir.path(), &text)), Some(Default::default())).unwrap_err();
        format!("{:#}", anyhow::Error::from(err))
    }

    #[test]
    fn a_tenant_id_used_twice_is_an_error_naming_the_field() {
        let second = BASE.split_once("[[tenants]]").unwrap().1;
        let err = load_err(&format!("{BASE}\n[[tenants]]{second}"));
        assert!(err.contains("chaperone.toml"), "{err}");
        assert!(err.contains("tenants[1].id"), "{err}");
        assert!(err.contains("more than one"), "{err}");
    }

    #[test]
    fn a_tenant_id_no_webhook_url_can_route_is_an_error_saying_what_is_allowed() {
        for bad in [
            "River Side",
            "riverside/youth",
            "Riverside",
            "",
            "caf\u{e9}",
        ] {
            let err = load_err(&BASE.replace("id = \"riverside\"", &format!("id = \"{bad}\"")));
            assert!(err.contains("tenants[0].id"), "{err}");
            assert!(err.contains("a-z, digits 0-9"), "{err}");
        }
        assert!(is_valid_tenant_id("riverside-youth_2"));
    }

    #[test]
    fn a_window_of_zero_days_is_an_error() {
        let err =
            load_err(&BASE.replace("id = \"riverside\"", "id = \"riverside\"\nwindow_days = 0"));
        assert!(err.contains("tenants[0].window_days"), "{err}");
        assert!(err.contains("chaperone.toml"), "{err}");
    }

    #[test]
    fn a_store_folder_that_does_not_exist_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder");
        let text = BASE.replace(
            "sqlite://x.db",
            &format!("sqlite://{}/chaperone.db", missing.display()),
        );
        let err = Settings::load(Some(&write(dir.path(), &text)), Some(Default::default()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("store.url"), "{err}");
        assert!(err.contains("no-such-folder"), "{err}");
        assert_eq!(sqlite_folder("sqlite::memory:"), None);
        assert_eq!(sqlite_folder("sqlite://chaperone.db"), None);
        assert_eq!(sqlite_folder("postgres://u:p@h/db"), None);
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

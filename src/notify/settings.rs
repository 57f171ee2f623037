//! `[tenants.notify]`: where a tenant's notifications go and how they are delivered.
//!
//! Secrets (the SMTP password, webhook URLs that embed a token, the JSON webhook's signing secret)
//! are read from a named environment variable or a file, held in `secrecy` types, and never
//! printed: `Debug` of these settings shows only the variable or file name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::NotifyError;

/// Where and how a tenant's notifications go.
///
/// ```toml
/// [tenants.notify]
/// leads = ["dsl@riverside.example.org"]          # when a profile names no safeguarding lead
/// admins = ["safeguarding-admin@riverside.example.org"]
/// admin_channels = ["safeguarding-teams"]
///
/// [tenants.notify.email]
/// host = "smtp.riverside.example.org"
/// tls = "starttls"
/// username = "chaperone"
/// password_env = "RIVERSIDE_SMTP_PASSWORD"
/// from = "chaperone <chaperone@riverside.example.org>"
///
/// [[tenants.notify.webhooks]]
/// name = "safeguarding-teams"
/// kind = "teams"
/// url_env = "RIVERSIDE_TEAMS_WEBHOOK_URL"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// Send each host one digest per run about their own sessions (by email, to the address the
    /// platform has for them). Default true.
    #[serde(default = "default_true")]
    pub host_digests: bool,
    /// Safeguarding leads' emails, used for escalations when a profile names none.
    #[serde(default)]
    pub leads: Vec<String>,
    /// Webhooks (by `name`) that also receive escalations when a profile names no channels.
    #[serde(default)]
    pub escalation_channels: Vec<String>,
    /// How long before a session an open `needs-human` item is escalated, when a profile does
    /// not say (`[notify] escalate-hours-before`).
    #[serde(default = "default_escalate_hours")]
    pub escalate_hours_before: u32,
    /// Emails that receive the admin summary after each scheduled sweep.
    #[serde(default)]
    pub admins: Vec<String>,
    /// Webhooks (by `name`) that receive the admin summary.
    #[serde(default)]
    pub admin_channels: Vec<String>,
    /// The SMTP server. Without it, email messages wait in the outbox (and the log says why).
    #[serde(default)]
    pub email: Option<EmailSettings>,
    /// Slack, Microsoft Teams and signed JSON webhooks, referred to by name.
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
    #[serde(default)]
    pub delivery: DeliverySettings,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            host_digests: true,
            leads: Vec::new(),
            escalation_channels: Vec::new(),
            escalate_hours_before: default_escalate_hours(),
            admins: Vec::new(),
            admin_channels: Vec::new(),
            email: None,
            webhooks: Vec::new(),
            delivery: DeliverySettings::default(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_escalate_hours() -> u32 {
    24
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587). STARTTLS is required, never skipped.
    Starttls,
    /// TLS from the first byte ("SMTPS", port 465).
    Tls,
    /// No encryption at all: only for a local relay or a test server on the same machine.
    None,
}

/// An SMTP server and the sender address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub host: String,
    /// Default: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    /// The SMTP user name; without it chaperone does not authenticate.
    #[serde(default)]
    pub username: Option<String>,
    /// The name of an environment variable holding the SMTP password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A file holding the SMTP password (trailing newline ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The From address, e.g. `chaperone <chaperone@riverside.example.org>`.
    pub from: String,
    /// Where replies go (the safeguarding team, not chaperone).
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_tls() -> SmtpTls {
    SmtpTls::Starttls
}
fn default_timeout_secs() -> u64 {
    30
}

impl EmailSettings {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }

    /// The SMTP password, when a user name is set.
    pub fn password(&self, tenant: &str) -> Result<Option<SecretString>, NotifyError> {
        if self.username.is_none() {
            return Ok(None);
        }
        secret(
            tenant,
            "email password",
            None,
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        )
        .map(Some)
    }
}

/// What an incoming webhook expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookKind {
    /// A Slack incoming webhook (`{"text": ...}`).
    Slack,
    /// A Microsoft Teams incoming webhook / Workflows webhook (an Adaptive Card).
    Teams,
    /// chaperone's own JSON, signed with HMAC-SHA256 (docs/notifications.md, "Verifying").
    Json,
}

/// One webhook destination, referred to by `name` from the settings and from profiles.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub name: String,
    pub kind: WebhookKind,
    /// The URL. Slack and Teams URLs carry a token: prefer `url_env` or `url_file`.
    #[serde(default)]
    pub url: Option<SecretString>,
    #[serde(default)]
    pub url_env: Option<String>,
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// For `kind = "json"`: the name of an environment variable holding the signing secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// For `kind = "json"`: a file holding the signing secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl WebhookSettings {
    pub fn url(&self, tenant: &str) -> Result<SecretString, NotifyError> {
        secret(
            tenant,
            &format!("webhook `{}` url", self.name),
            self.url.as_ref(),
            self.url_env.as_deref(),
            self.url_file.as_deref(),
        )
    }

    /// The signing secret of a JSON webhook (`None` for Slack and Teams).
    pub fn signing_secret(&self, tenant: &str) -> Result<Option<SecretString>, NotifyError> {
        if self.kind != WebhookKind::Json {
            return Ok(None);
        }
        secret(
            tenant,
            &format!("webhook `{}` signing secret", self.name),
            None,
            self.secret_env.as_deref(),
            self.secret_file.as_deref(),
        )
        .map(Some)
    }
}

/// Retries, backoff and the delivery worker's pace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Attempts before a message is given up (and logged as an error). Default 12: with the
    /// default backoff, that is about a day of trying.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles with each failure.
    #[serde(default = "default_backoff_base")]
    pub backoff_base_secs: u64,
    /// The longest wait between two attempts.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_secs: u64,
    /// How long a worker holds a claimed message before another worker may take it over (a
    /// worker that died mid-send). Must be longer than one send takes.
    #[serde(default = "default_lease")]
    pub lease_secs: u64,
    /// How often the worker looks for work.
    #[serde(default = "default_poll")]
    pub poll_secs: u64,
    /// An unfinished run with nothing recorded for this long is taken as dead, and its digests
    /// are assembled from what it recorded.
    #[serde(default = "default_stale_run")]
    pub stale_run_minutes: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            max_attempts: default_max_attempts(),
            backoff_base_secs: default_backoff_base(),
            backoff_max_secs: default_backoff_max(),
            lease_secs: default_lease(),
            poll_secs: default_poll(),
            stale_run_minutes: default_stale_run(),
        }
    }
}

fn default_max_attempts() -> u32 {
    12
}
fn default_backoff_base() -> u64 {
    30
}
fn default_backoff_max() -> u64 {
    3 * 3600
}
fn default_lease() -> u64 {
    120
}
fn default_poll() -> u64 {
    5
}
fn default_stale_run() -> u64 {
    30
}

impl DeliverySettings {
    /// The wait before attempt `attempts + 1`, after `attempts` failures: base × 2^(n−1), capped.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let secs = self
            .backoff_base_secs
            .saturating_mul(1u64 << exp)
            .min(self.backoff_max_secs);
        Duration::from_secs(secs)
    }
}

impl NotifySettings {
    /// The webhook called `name`.
    pub fn webhook(&self, name: &str) -> Option<&WebhookSettings> {
        self.webhooks.iter().find(|w| w.name == name)
    }

    /// Checks names and addresses, so a typo is found at start-up rather than at 2 a.m.
    pub fn validate(&self, tenant: &str) -> Result<(), NotifyError> {
        let invalid = |message: String| NotifyError::Settings {
            tenant: tenant.to_string(),
            message,
        };
        let mut names: Vec<&str> = Vec::new();
        for w in &self.webhooks {
            if names.contains(&w.name.as_str()) {
                return Err(invalid(format!(
                    "two webhooks are called `{}`: give each a different `name`",
                    w.name
                )));
            }
            names.push(&w.name);
            let given = [w.url.is_some(), w.url_env.is_some(), w.url_file.is_some()];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(invalid(format!(
                    "webhook `{}` needs exactly one of `url_env`, `url_file` or `url`",
                    w.name
                )));
            }
            let secrets = [w.secret_env.is_some(), w.secret_file.is_some()];
            let n = secrets.iter().filter(|g| **g).count();
            if w.kind == WebhookKind::Json && n != 1 {
                return Err(invalid(format!(
                    "webhook `{}` is signed (kind = \"json\") and needs exactly one of \
                     `secret_env` or `secret_file`",
                    w.name
                )));
            }
            if w.kind != WebhookKind::Json && n != 0 {
                return Err(invalid(format!(
                    "webhook `{}`: Slack and Teams webhooks are not signed; remove `secret_env` / \
                     `secret_file`, or use kind = \"json\"",
                    w.name
                )));
            }
        }
        for name in self.escalation_channels.iter().chain(&self.admin_channels) {
            self.check_channel(tenant, name)?;
        }
        for address in self.leads.iter().chain(&self.admins) {
            if address.parse::<lettre::Address>().is_err() {
                return Err(invalid(format!(
                    "`{address}` is not an email address (in `leads` or `admins`)"
                )));
            }
        }
        if let Some(email) = &self.email {
            if email.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(invalid(format!(
                    "email `from = \"{}\"` is not an address such as `chaperone <chaperone@example.org>`",
                    email.from
                )));
            }
            if email.username.is_some()
                && [email.password_env.is_some(), email.password_file.is_some()]
                    .iter()
                    .filter(|g| **g)
                    .count()
                    != 1
            {
                return Err(invalid(
                    "email has a `username` and needs exactly one of `password_env` (the name of \
                     an environment variable) or `password_file`"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// An error naming the known webhooks when `name` is not one of them.
    pub fn check_channel(&self, tenant: &str, name: &str) -> Result<(), NotifyError> {
        if self.webhook(name).is_some() {
            return Ok(());
        }
        let known: Vec<&str> = self.webhooks.iter().map(|w| w.name.as_str()).collect();
        Err(NotifyError::Settings {
            tenant: tenant.to_string(),
            message: format!(
                "no webhook called `{name}`; add a [[tenants.notify.webhooks]] with name = \
                 \"{name}\" (known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        })
    }
}

/// Reads a secret from the inline setting, the named environment variable or the file.
fn secret(
    tenant: &str,
    what: &str,
    inline: Option<&SecretString>,
    env: Option<&str>,
    file: Option<&Path>,
) -> Result<SecretString, NotifyError> {
    if let Some(s) = inline {
        return Ok(s.clone());
    }
    if let Some(name) = env {
        return std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
            .ok_or_else(|| NotifyError::Settings {
                tenant: tenant.to_string(),
                message: format!("the environment variable `{name}` for the {what} is not set"),
            });
    }
    if let Some(path) = file {
        return std::fs::read_to_string(path)
            .map(|t| SecretString::from(t.trim_end().to_string()))
            .map_err(|e| NotifyError::Settings {
                tenant: tenant.to_string(),
                message: format!("cannot read the {what} from {}: {e}", path.display()),
            });
    }
    Err(NotifyError::Settings {
        tenant: tenant.to_string(),
        message: format!("the {what} is not configured: set its `_env` or `_file` setting"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let d = DeliverySettings {
            backoff_base_secs: 10,
            backoff_max_secs: 100,
            ..DeliverySettings::default()
        };
        let waits: Vec<u64> = (1..=6).map(|n| d.backoff(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 100, 100]);
    }

    fn parse(text: &str) -> Result<NotifySettings, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn an_empty_table_has_safe_defaults() {
        let n = parse("").unwrap();
        assert!(n.host_digests);
        assert_eq!(n.escalate_hours_before, 24);
        assert!(n.email.is_none() && n.webhooks.is_empty());
        assert_eq!(n.delivery.max_attempts, 12);
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let err = parse("admin = [\"a@b.org\"]").unwrap_err();
        assert!(err.to_string().contains("admin"), "{err}");
    }

    #[test]
    fn email_defaults_to_starttls_on_587_and_needs_a_password_source_with_a_user() {
        let n = parse(
            "[email]\nhost = \"smtp.example.org\"\nusername = \"c\"\nfrom = \"c@example.org\"\n",
        )
        .unwrap();
        let email = n.email.as_ref().unwrap();
        assert_eq!((email.tls, email.port()), (SmtpTls::Starttls, 587));
        let err = n.validate("t").unwrap_err().to_string();
        assert!(err.contains("password_env"), "{err}");
    }

    #[test]
    fn a_channel_name_must_be_a_configured_webhook() {
        let n = parse(
            "admin_channels = [\"teamz\"]\n[[webhooks]]\nname = \"teams\"\nkind = \"teams\"\nurl_env = \"X\"\n",
        )
        .unwrap();
        let err = n.validate("t").unwrap_err().to_string();
        assert!(
            err.contains("no webhook called `teamz`") && err.contains("known: teams"),
            "{err}"
        );
    }

    #[test]
    fn a_json_webhook_must_be_signed() {
        let n = parse("[[webhooks]]\nname = \"j\"\nkind = \"json\"\nurl_env = \"X\"\n").unwrap();
        let err = n.validate("t").unwrap_err().to_string();
        assert!(err.contains("secret_env"), "{err}");
    }

    #[test]
    fn a_missing_password_variable_is_named_and_no_value_is_shown() {
        let e = EmailSettings {
            host: "h".into(),
            port: None,
            tls: SmtpTls::Tls,
            username: Some("u".into()),
            password_env: Some("CHAPERONE_TEST_SURELY_UNSET_VAR".into()),
            password_file: None,
            from: "c@example.org".into(),
            reply_to: None,
            timeout_secs: 5,
        };
        let err = e.password("t").unwrap_err().to_string();
        assert!(err.contains("CHAPERONE_TEST_SURELY_UNSET_VAR"), "{err}");
        assert_eq!(e.port(), 465);
    }

    #[test]
    fn a_webhook_url_is_never_in_debug_output() {
        let w = WebhookSettings {
            name: "s".into(),
            kind: WebhookKind::Slack,
            url: Some(SecretString::from(
                "https://hooks.example/T0/B0/very-secret",
            )),
            url_env: None,
            url_file: None,
            secret_env: None,
            secret_file: None,
            timeout_secs: 5,
        };
        assert!(!format!("{w:?}").contains("very-secret"));
    }
}

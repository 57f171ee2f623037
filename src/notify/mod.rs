//! Notifications: the youth worker's digest, escalations to safeguarding leads, and the admin
//! summary, delivered through an outbox (DESIGN.md, "notify"; docs/notifications.md).
//!
//! The flow:
//! 1. The sweep builds a [`DigestItem`] per session that has something to tell its host (it still
//!    holds the read-back session with the new join link) and the store records it in the same
//!    transaction as the session ([`crate::store::Store::record_session_with_outbox`]).
//! 2. [`Notifier::assemble`] turns a host's items into one digest per host per run, as soon as
//!    the host's last session is recorded, the run finished, or the run died. In the same
//!    transaction it escalates `needs-human` items still open shortly before their session.
//! 3. [`Notifier::deliver_due`] claims messages one by one and sends them over SMTP or a webhook,
//!    marking each sent only after the channel accepted it; failures are retried with backoff.
//!
//! Only sweeps that may write (not `check`, not `--dry-run`) notify: a check repeated every hour
//! must not flood youth workers.

mod channel;
mod digest;
mod settings;
mod summary;
pub mod text;
mod worker;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

pub use channel::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_webhook};
pub use digest::{
    DigestItem, Escalated, EscalationRoute, JoinLink, OpenItem, Rendered, by_host, digest_item,
    render_escalation, render_host_digest,
};
pub use settings::{
    DeliverySettings, EmailSettings, NotifySettings, SmtpTls, WebhookKind, WebhookSettings,
};
pub use summary::{
    AdminSummary, admin_summary, at_risk_until, build_admin_summary, render_admin_summary,
};
pub use worker::{
    AssembleStats, DeliveryStats, Notifier, TEST_DELAY_ENV, deliver, render_demo_digests,
};

/// What went wrong while notifying, and what to do about it. Never holds a secret: SMTP
/// passwords, webhook URLs and signing secrets are left out of every message.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("tenant `{tenant}`: [tenants.notify]: {message}")]
    Settings { tenant: String, message: String },

    #[error(
        "tenant `{tenant}` has no [tenants.notify.email] server, so email to {recipient} waits in \
         the outbox: add the SMTP settings and it will be sent"
    )]
    NoEmailServer { tenant: String, recipient: String },

    #[error(
        "tenant `{tenant}` has no webhook called `{name}`, so a message for it waits in the outbox: \
         add a [[tenants.notify.webhooks]] with that name"
    )]
    NoWebhook { tenant: String, name: String },

    #[error("tenant `{tenant}` is not configured here, so its messages wait in the outbox")]
    UnknownTenant { tenant: String },

    #[error("`{address}` is not an email address chaperone can send to: {detail}")]
    BadAddress { address: String, detail: String },

    #[error(
        "email to {recipient} could not be sent through {server}: {detail}. Check host, port, tls, \
         username and password in [tenants.notify.email]; chaperone tries again later"
    )]
    Smtp {
        recipient: String,
        server: String,
        detail: String,
    },

    #[error(
        "webhook `{name}` could not be reached: {detail}. Check its URL and that the receiver is \
         up; chaperone tries again later"
    )]
    Webhook { name: String, detail: String },

    #[error(
        "webhook `{name}` refused the message with HTTP {status}; chaperone tries again later. \
         A 4xx usually means a wrong or revoked URL or signing secret"
    )]
    WebhookStatus { name: String, status: u16 },

    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageKind {
    /// One host's digest of one run.
    HostDigest,
    /// Open `needs-human` items shortly before a session, to safeguarding leads.
    Escalation,
    /// Counts and risks after a scheduled sweep, to the tenant's admins.
    AdminSummary,
}

impl MessageKind {
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::HostDigest => "host-digest",
            MessageKind::Escalation => "escalation",
            MessageKind::AdminSummary => "admin-summary",
        }
    }
}

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// To an email address over the tenant's SMTP server.
    Email,
    /// To a webhook of the tenant's settings, by name (its URL is a secret and is not stored).
    Webhook,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

/// A message about to be queued.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Unique per message and destination; sent along as `Message-ID` / `Idempotency-Key`.
    pub idempotency_key: String,
    pub tenant: String,
    pub run_id: Option<String>,
    pub kind: MessageKind,
    pub channel: Channel,
    /// The email address, or the webhook's name.
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    /// The same content as data, for JSON webhooks.
    pub data: serde_json::Value,
}

/// A message in the outbox, with its delivery state.
#[derive(Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub idempotency_key: String,
    pub tenant: String,
    pub run_id: Option<String>,
    pub kind: MessageKind,
    pub channel: Channel,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Set when the last attempt failed and chaperone gave up.
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Leaves the bodies out: a digest body holds a host's new join link, which must not reach logs.
impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("idempotency_key", &self.idempotency_key)
            .field("tenant", &self.tenant)
            .field("kind", &self.kind)
            .field("channel", &self.channel)
            .field("recipient", &self.recipient)
            .field("attempts", &self.attempts)
            .field("sent_at", &self.sent_at)
            .field("failed_at", &self.failed_at)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

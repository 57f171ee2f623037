//! Sending one message: email over SMTP (lettre), Slack and Teams incoming webhooks, and
//! chaperone's signed JSON webhook.
//!
//! The idempotency key travels with every message, so a receiver can drop the duplicate of a
//! send that completed just before a crash: as the email's `Message-ID`, and as the
//! `Idempotency-Key` header of a webhook request.
//!
//! JSON webhook signature: `X-Chaperone-Timestamp: <unix seconds>` and
//! `X-Chaperone-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`. A receiver
//! recomputes it over the raw body, compares in constant time, and refuses timestamps more than
//! five minutes from its clock (replays). See docs/notifications.md.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::settings::{EmailSettings, NotifySettings, SmtpTls, WebhookKind, WebhookSettings};
use super::{Channel, NotifyError, OutboxMessage};

/// The header with the JSON webhook's signature.
pub const SIGNATURE_HEADER: &str = "X-Chaperone-Signature";
/// The header with the Unix time the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Chaperone-Timestamp";

/// The signature header value of a JSON webhook body sent at `timestamp` (Unix seconds).
pub fn sign_webhook(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A ready SMTP connection (pool) and the sender.
struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// `host:port`, for error messages.
    server: String,
}

/// The channels of one tenant, built once from its settings.
pub(super) struct Channels {
    tenant: String,
    settings: NotifySettings,
    /// The SMTP server, or why it cannot be used (shown with each email that waits).
    smtp: Option<Result<Smtp, String>>,
    http: reqwest::Client,
}

impl Channels {
    pub(super) fn new(tenant: &str, settings: NotifySettings) -> Channels {
        let smtp = settings
            .email
            .as_ref()
            .map(|e| smtp(tenant, e).map_err(|err| err.to_string()));
        if let Some(Err(e)) = &smtp {
            tracing::error!(tenant, error = %e, "email cannot be sent until the settings are fixed");
        }
        Channels {
            tenant: tenant.to_string(),
            settings,
            smtp,
            http: reqwest::Client::new(),
        }
    }

    pub(super) fn settings(&self) -> &NotifySettings {
        &self.settings
    }

    /// Sends one message. Returns once the channel accepted it.
    pub(super) async fn send(&self, msg: &OutboxMessage) -> Result<(), NotifyError> {
        match msg.channel {
            Channel::Email => self.send_email(msg).await,
            Channel::Webhook => {
                let hook = self.settings.webhook(&msg.recipient).ok_or_else(|| {
                    NotifyError::NoWebhook {
                        tenant: self.tenant.clone(),
                        name: msg.recipient.clone(),
                    }
                })?;
                self.send_webhook(hook, msg).await
            }
        }
    }

    async fn send_email(&self, msg: &OutboxMessage) -> Result<(), NotifyError> {
        let smtp = match &self.smtp {
            None => {
                return Err(NotifyError::NoEmailServer {
                    tenant: self.tenant.clone(),
                    recipient: msg.recipient.clone(),
                });
            }
            Some(Err(why)) => {
                return Err(NotifyError::Settings {
                    tenant: self.tenant.clone(),
                    message: why.clone(),
                });
            }
            Some(Ok(smtp)) => smtp,
        };
        let to: Mailbox = msg
            .recipient
            .parse()
            .map_err(|e: lettre::address::AddressError| NotifyError::BadAddress {
                address: msg.recipient.clone(),
                detail: e.to_string(),
            })?;
        let domain = smtp.from.email.domain().to_string();
        let mut builder = Message::builder()
            .from(smtp.from.clone())
            .to(to)
            .subject(msg.subject.clone())
            .message_id(Some(message_id(&msg.idempotency_key, &domain)));
        if let Some(r) = &smtp.reply_to {
            builder = builder.reply_to(r.clone());
        }
        let email = match &msg.body_html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                msg.body_text.clone(),
                html.clone(),
            )),
            None => builder.body(msg.body_text.clone()),
        }
        .map_err(|e| NotifyError::BadAddress {
            address: msg.recipient.clone(),
            detail: e.to_string(),
        })?;
        smtp.transport
            .send(email)
            .await
            .map_err(|e| NotifyError::Smtp {
                recipient: msg.recipient.clone(),
                server: smtp.server.clone(),
                detail: error_chain(&e),
            })?;
        Ok(())
    }

    async fn send_webhook(
        &self,
        hook: &WebhookSettings,
        msg: &OutboxMessage,
    ) -> Result<(), NotifyError> {
        let url = hook.url(&self.tenant)?;
        let payload = match hook.kind {
            WebhookKind::Slack => json!({
                "text": format!("*{}*\n{}", slack_escape(&msg.subject), slack_escape(&msg.body_text)),
            }),
            WebhookKind::Teams => teams_card(&msg.subject, &msg.body_text),
            WebhookKind::Json => json!({
                "id": msg.idempotency_key,
                "kind": msg.kind,
                "tenant": msg.tenant,
                "run_id": msg.run_id,
                "subject": msg.subject,
                "text": msg.body_text,
                "data": msg.data,
            }),
        };
        let body = serde_json::to_vec(&payload).map_err(|e| NotifyError::Webhook {
            name: hook.name.clone(),
            detail: format!("the message could not be encoded: {e}"),
        })?;
        let mut request = self
            .http
            .post(url.expose_secret())
            .timeout(Duration::from_secs(hook.timeout_secs.max(1)))
            .header("content-type", "application/json")
            .header("Idempotency-Key", &msg.idempotency_key);
        if let Some(secret) = hook.signing_secret(&self.tenant)? {
            let ts = chrono::Utc::now().timestamp();
            request = request.header(TIMESTAMP_HEADER, ts.to_string()).header(
                SIGNATURE_HEADER,
                sign_webhook(secret.expose_secret().as_bytes(), ts, &body),
            );
        }
        let response = request
            .body(body)
            .send()
            .await
            // The URL of a Slack or Teams webhook is a secret: keep it out of the error.
            .map_err(|e| NotifyError::Webhook {
                name: hook.name.clone(),
                detail: error_chain(&e.without_url()),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(NotifyError::WebhookStatus {
                name: hook.name.clone(),
                status: status.as_u16(),
            });
        }
        Ok(())
    }
}

fn smtp(tenant: &str, e: &EmailSettings) -> Result<Smtp, NotifyError> {
    let invalid = |message: String| NotifyError::Settings {
        tenant: tenant.to_string(),
        message,
    };
    let from: Mailbox = e
        .from
        .parse()
        .map_err(|err| invalid(format!("email `from = \"{}\"`: {err}", e.from)))?;
    let reply_to = match &e.reply_to {
        Some(r) => Some(
            r.parse::<Mailbox>()
                .map_err(|err| invalid(format!("email `reply_to = \"{r}\"`: {err}")))?,
        ),
        None => None,
    };
    let builder = match e.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&e.host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&e.host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &e.host,
        )),
    }
    .map_err(|err| invalid(format!("email host `{}`: {}", e.host, error_chain(&err))))?;
    let mut builder = builder
        .port(e.port())
        .timeout(Some(Duration::from_secs(e.timeout_secs.max(1))));
    if let (Some(user), Some(password)) = (&e.username, e.password(tenant)?) {
        builder = builder.credentials(Credentials::new(user.clone(), password_string(&password)));
    }
    Ok(Smtp {
        transport: builder.build(),
        from,
        reply_to,
        server: format!("{}:{}", e.host, e.port()),
    })
}

fn password_string(p: &SecretString) -> String {
    p.expose_secret().to_string()
}

/// `<hash-of-key@sender-domain>`: the same key always gives the same Message-ID.
fn message_id(key: &str, domain: &str) -> String {
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    format!("<{}.chaperone@{domain}>", &hash[..32])
}

/// An error with its causes, `a: b: c`, for a log line that says what really failed.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; everything else is literal.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Teams incoming-webhook (Workflows) message: one Adaptive Card with a title and the text.
/// Adaptive Card text is plain (with a little Markdown), never HTML.
fn teams_card(subject: &str, text: &str) -> serde_json::Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": true},
                    {"type": "TextBlock", "text": text, "wrap": true}
                ]
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign_webhook(b"secret", 1_700_000_000, br#"{"a":1}"#),
            "v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }

    #[test]
    fn a_message_id_depends_only_on_the_key() {
        let a = message_id("digest:run:host", "example.org");
        assert_eq!(a, message_id("digest:run:host", "example.org"));
        assert_ne!(a, message_id("digest:run:other", "example.org"));
        assert!(a.starts_with('<') && a.ends_with("@example.org>"));
    }

    #[test]
    fn slack_text_cannot_inject_links_or_mentions() {
        assert_eq!(
            slack_escape("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
    }
}

//! `POST /webhooks/zoom/{tenant}`: verify, persist, answer. Processing happens later, from the
//! store ([`super::worker`]), so Zoom gets its answer in milliseconds and a crash after the 200
//! loses nothing.
//!
//! Order of checks: tenant known and webhooks configured (404) → JSON content type (415) →
//! signature over the raw bytes (401) → timestamp within five minutes (401) → body readable (400)
//! → URL validation answered, or the event stored (200; 500 when the store fails, so Zoom retries).
//! Nothing is stored and nothing is logged of a delivery that fails a check but the reason.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::AppState;
use super::metrics;
use super::signature::{self, SignatureError};
use crate::store::webhooks::{NewWebhookEvent, Received};

const PLATFORM: &str = "zoom";

/// The envelope of every Zoom event (research/zoom.md §6).
#[derive(Debug, Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    payload: Value,
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Response {
    answer(status, json!({ "error": message.to_string() }))
}

/// The id of the object an event is about: a meeting id (kept as text: Zoom ids exceed 2^53,
/// and serde_json keeps integers exact), a user id, a group id or the account id.
pub(crate) fn object_id(event: &str, payload: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let object = payload.get("object");
    match event {
        e if e.starts_with("account.") => payload
            .get("account_id")
            .and_then(text)
            .or_else(|| object.and_then(|o| o.get("id")).and_then(text)),
        _ => object.and_then(|o| o.get("id")).and_then(text),
    }
}

pub(crate) async fn zoom(
    State(state): State<Arc<AppState>>,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let span = tracing::info_span!("webhook", tenant = %tenant_id, platform = PLATFORM);
    receive(state, tenant_id, headers, body)
        .instrument(span)
        .await
}

async fn receive(
    state: Arc<AppState>,
    tenant_id: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(tenant) = state.tenants.get(&tenant_id) else {
        metrics::webhook(PLATFORM, "unknown", "unknown-tenant");
        return refuse(
            StatusCode::NOT_FOUND,
            "no webhook receiver here: check the tenant id in the event notification endpoint URL",
        );
    };
    let Some(secret) = tenant.webhook_secret.as_ref() else {
        metrics::webhook(PLATFORM, "unknown", "not-configured");
        return refuse(
            StatusCode::NOT_FOUND,
            "webhooks are not configured for this tenant: set `webhook_secret_token_env` in its [tenants.zoom] settings",
        );
    };
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        metrics::webhook(PLATFORM, "unknown", "rejected-content-type");
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the event as `Content-Type: application/json`",
        );
    }
    let header_text = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(SignatureError::MissingHeader(name))
    };
    let verified = header_text("x-zm-request-timestamp").and_then(|ts| {
        let sig = header_text("x-zm-signature")?;
        signature::verify(secret.expose_secret().as_bytes(), ts, &body, sig)?;
        signature::check_timestamp(ts, Utc::now())
    });
    if let Err(e) = verified {
        let outcome = match e {
            SignatureError::Stale { .. } | SignatureError::BadTimestamp => "rejected-stale",
            _ => "rejected-signature",
        };
        tracing::warn!(reason = %e, "refused a webhook delivery");
        metrics::webhook(PLATFORM, "unknown", outcome);
        return refuse(StatusCode::UNAUTHORIZED, e);
    }
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            metrics::webhook(PLATFORM, "unknown", "rejected-malformed");
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("the body is not a Zoom event (`event` and `payload`): {e}"),
            );
        }
    };

    if envelope.event == "endpoint.url_validation" {
        let Some(plain) = envelope.payload.get("plainToken").and_then(Value::as_str) else {
            metrics::webhook(PLATFORM, &envelope.event, "rejected-malformed");
            return refuse(
                StatusCode::BAD_REQUEST,
                "endpoint.url_validation without payload.plainToken",
            );
        };
        let encrypted = signature::url_validation_token(secret.expose_secret().as_bytes(), plain);
        metrics::webhook(PLATFORM, &envelope.event, "url-validation");
        tracing::info!("answered Zoom's URL validation");
        return answer(
            StatusCode::OK,
            json!({ "plainToken": plain, "encryptedToken": encrypted }),
        );
    }

    let Ok(text) = std::str::from_utf8(&body) else {
        metrics::webhook(PLATFORM, &envelope.event, "rejected-malformed");
        return refuse(StatusCode::BAD_REQUEST, "the body is not UTF-8 JSON");
    };
    let dedupe_key = hex::encode(Sha256::digest(&body));
    let object = object_id(&envelope.event, &envelope.payload);
    let stored = state
        .store
        .receive_webhook_event(&NewWebhookEvent {
            tenant: &tenant.id,
            platform: PLATFORM,
            dedupe_key: &dedupe_key,
            event: &envelope.event,
            object_id: object.as_deref(),
            received_at: Utc::now(),
            payload: text,
        })
        .await;
    match stored {
        Ok(Received::New { id }) => {
            metrics::webhook(PLATFORM, &envelope.event, "accepted");
            tracing::info!(event = %envelope.event, object = object.as_deref().unwrap_or(""), event_id = id, "webhook event stored");
            state.wake.notify_one();
            answer(StatusCode::OK, json!({ "status": "accepted", "id": id }))
        }
        Ok(Received::Duplicate { id }) => {
            metrics::webhook(PLATFORM, &envelope.event, "duplicate");
            tracing::info!(event = %envelope.event, event_id = id, "webhook event seen before; ignored");
            answer(StatusCode::OK, json!({ "status": "duplicate", "id": id }))
        }
        Err(e) => {
            metrics::webhook(PLATFORM, &envelope.event, "store-failed");
            tracing::error!(error = %e, "could not store a webhook event; Zoom will retry it");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the event could not be stored; it is safe to send it again",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_ids_beyond_2_pow_53_are_kept_exactly() {
        let payload: Value =
            serde_json::from_str(r#"{"object":{"id":9007199254740993,"uuid":"x"}}"#).unwrap();
        assert_eq!(
            object_id("meeting.created", &payload).as_deref(),
            Some("9007199254740993")
        );
    }

    #[test]
    fn account_events_are_about_the_account() {
        let payload: Value =
            serde_json::from_str(r#"{"account_id":"acct-1","object":{"settings":{}}}"#).unwrap();
        assert_eq!(
            object_id("account.lock_settings_updated", &payload).as_deref(),
            Some("acct-1")
        );
    }
}

//! Change-notification subscriptions: create (with the `validationToken` handshake sent to each
//! notification URL), renew and delete, as `shared/research/teams-webex-meet.md` §1.5 describes.
//! The simulator keeps subscriptions and validates their URLs; it sends no change notifications
//! (chaperone's tests post those to its endpoint themselves). Kept apart because it is the only
//! endpoint that calls out to the client.

use std::time::Duration;

use axum::http::header;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::super::lock;
use super::super::scenario::object_id;
use super::super::state::State;
use super::reply::Reply;

/// Longest subscription lifetime for Outlook events: 10,080 minutes (§1.5, ASSUMPTION: the
/// current figure of the secondary sources).
const MAX_SUBSCRIPTION_MINUTES: i64 = 10_080;

/// A subscription body and its `expirationDateTime`, which must lie in the future and within the
/// longest lifetime.
fn read_expiring(body: &[u8]) -> Result<(Value, DateTime<Utc>), Reply> {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Err(Reply::error(
            400,
            "BadRequest",
            "Unable to read JSON request payload.",
        ));
    };
    let exp = expiration(&body)?;
    Ok((body, exp))
}

fn expiration(body: &Value) -> Result<DateTime<Utc>, Reply> {
    let exp = body["expirationDateTime"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Reply::error(400, "InvalidRequest", "expirationDateTime is required."))?;
    let now = Utc::now();
    if exp <= now {
        return Err(Reply::error(
            400,
            "InvalidRequest",
            "Subscription expiration must be in the future.",
        ));
    }
    if exp > now + chrono::Duration::minutes(MAX_SUBSCRIPTION_MINUTES) {
        return Err(Reply::error(
            400,
            "InvalidRequest",
            &format!(
                "Subscription expiration can only be {MAX_SUBSCRIPTION_MINUTES} minutes in the future."
            ),
        ));
    }
    Ok(exp)
}

/// Sends the validation request and checks the echo (§1.5: 200, text/plain, the decoded token).
async fn validate_url(state: &State, url: &str) -> Result<(), String> {
    let token = "Validation: Testing client application reachability for subscription Request-Id: 6f4b6d52-0000-0000-0000-000000000000";
    lock(&state.stats).validations_sent += 1;
    let answer = state
        .client
        .post(url)
        .query(&[("validationToken", token)])
        .header(header::CONTENT_TYPE, "text/plain")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    let text = answer.text().await.map_err(|e| e.to_string())?;
    if status != 200 || text != token {
        return Err(format!(
            "answered {status} with a body that is not the validation token"
        ));
    }
    Ok(())
}

/// `POST /v1.0/subscriptions`: validates every notification URL first (§1.5: no subscription
/// unless each answers the handshake), then stores it and answers 201.
pub(crate) async fn create(state: &State, body: &[u8]) -> Reply {
    let (req, exp) = match read_expiring(body) {
        Ok(read) => read,
        Err(r) => return r,
    };
    let (Some(url), Some(resource), Some(change_type)) = (
        req["notificationUrl"].as_str(),
        req["resource"].as_str(),
        req["changeType"].as_str(),
    ) else {
        return Reply::error(
            400,
            "InvalidRequest",
            "notificationUrl, resource and changeType are required.",
        );
    };
    if req["clientState"]
        .as_str()
        .is_some_and(|c| c.chars().count() > 128)
    {
        return Reply::error(
            400,
            "InvalidRequest",
            "clientState must be at most 128 characters.",
        );
    }
    let parts: Vec<&str> = resource.trim_matches('/').split('/').collect();
    let user_ok = match parts.as_slice() {
        [u, user, e] if u.eq_ignore_ascii_case("users") && e.eq_ignore_ascii_case("events") => {
            lock(&state.data).user(user).is_some()
        }
        _ => false,
    };
    if !user_ok {
        return Reply::error(
            400,
            "ExtensionError",
            "Resource is not supported or the user does not exist; use /users/{id}/events.",
        );
    }
    for u in std::iter::once(url).chain(req["lifecycleNotificationUrl"].as_str()) {
        if let Err(why) = validate_url(state, u).await {
            return Reply::error(
                400,
                "ValidationError",
                &format!(
                    "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({why})"
                ),
            );
        }
    }
    let mut d = lock(&state.data);
    let n = d.next();
    let id = object_id("subscription", &format!("{n}"));
    let mut sub = Map::new();
    sub.insert(
        "@odata.context".into(),
        json!("https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"),
    );
    sub.insert("id".into(), json!(id));
    sub.insert("resource".into(), json!(resource));
    sub.insert("applicationId".into(), json!(state.config.client_id));
    sub.insert("changeType".into(), json!(change_type));
    sub.insert("clientState".into(), req["clientState"].clone());
    sub.insert("notificationUrl".into(), json!(url));
    sub.insert(
        "lifecycleNotificationUrl".into(),
        req["lifecycleNotificationUrl"].clone(),
    );
    sub.insert("expirationDateTime".into(), json!(exp.to_rfc3339()));
    sub.insert(
        "creatorId".into(),
        json!(object_id("sp", &state.config.client_id)),
    );
    sub.insert("latestSupportedTlsVersion".into(), json!("v1_2"));
    let sub = Value::Object(sub);
    d.subscriptions.insert(id, sub.clone());
    Reply::json(201, sub)
}

fn no_such_subscription() -> Reply {
    Reply::error(404, "ResourceNotFound", "The object was not found.")
}

/// `PATCH /v1.0/subscriptions/{id}` with `{expirationDateTime}`: renewal.
pub(crate) fn renew(state: &State, id: &str, body: &[u8]) -> Reply {
    let exp = match read_expiring(body) {
        Ok((_, exp)) => exp,
        Err(r) => return r,
    };
    let mut d = lock(&state.data);
    match d.subscriptions.get_mut(id) {
        Some(s) => {
            s["expirationDateTime"] = json!(exp.to_rfc3339());
            Reply::json(200, s.clone())
        }
        None => no_such_subscription(),
    }
}

/// `DELETE /v1.0/subscriptions/{id}`.
pub(crate) fn delete(state: &State, id: &str) -> Reply {
    match lock(&state.data).subscriptions.remove(id) {
        Some(_) => Reply::empty(204),
        None => no_such_subscription(),
    }
}

//! The Microsoft identity platform's token endpoint and the bearer check every Graph request
//! passes: client credentials with a secret or a certificate assertion (RS256 + `x5t` or PS256 +
//! `x5t#S256`, verified), as `shared/research/teams-webex-meet.md` §1.4 describes. Kept apart
//! because it is the only endpoint answering in OAuth's error shape, not Graph's.

use std::collections::HashMap;
use std::time::Instant;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use chrono::Utc;
use serde_json::{Value, json};

use super::super::lock;
use super::super::scenario::digest;
use super::super::state::State;
use super::reply::Reply;

/// Answers 401 unless the request carries a bearer token this simulator issued and that has not
/// expired.
pub(crate) fn authorize(state: &State, headers: &HeaderMap) -> Option<Reply> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let valid = bearer.is_some_and(|t| {
        lock(&state.data)
            .tokens
            .get(t)
            .is_some_and(|exp| *exp > Instant::now())
    });
    if valid {
        return None;
    }
    lock(&state.stats).unauthorized += 1;
    Some(Reply::error(
        401,
        "InvalidAuthenticationToken",
        "Access token has expired or is not yet valid.",
    ))
}

/// `POST /{tenant}/oauth2/v2.0/token` (client credentials, §1.4).
pub(crate) fn token(state: &State, tenant: &str, body: &[u8]) -> Reply {
    lock(&state.stats).token_requests += 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match check_client(state, tenant, &form) {
        Ok(by_certificate) => issue(state, by_certificate),
        Err(refused) => refused,
    }
}

/// The identity platform's error body (OAuth's, not Graph's).
fn oauth(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": error, "error_description": description, "error_codes": [], "timestamp": Utc::now().to_rfc3339()}),
    )
}

/// Checks tenant, grant, client, scope and credential; `Ok(true)` when the client signed in
/// with a certificate assertion, `Ok(false)` with its secret.
fn check_client(
    state: &State,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Result<bool, Reply> {
    if !tenant.eq_ignore_ascii_case(&state.tenant_id) {
        return Err(oauth(
            400,
            "invalid_request",
            "AADSTS90002: Tenant not found.",
        ));
    }
    for (field, expected, error, description) in [
        (
            "grant_type",
            "client_credentials",
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        ),
        (
            "client_id",
            state.config.client_id.as_str(),
            "unauthorized_client",
            "AADSTS700016: Application was not found in the directory.",
        ),
        (
            "scope",
            "https://graph.microsoft.com/.default",
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
        ),
    ] {
        if form.get(field).map(String::as_str) != Some(expected) {
            return Err(oauth(400, error, description));
        }
    }
    match (form.get("client_secret"), form.get("client_assertion")) {
        (Some(s), None) if *s == state.config.client_secret => Ok(false),
        (Some(_), None) => Err(oauth(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        )),
        (None, Some(assertion)) => {
            if form.get("client_assertion_type").map(String::as_str)
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                return Err(oauth(
                    400,
                    "invalid_request",
                    "AADSTS50027: client_assertion_type is missing or wrong.",
                ));
            }
            verify_assertion(state, assertion).map_err(|why| {
                oauth(
                    401,
                    "invalid_client",
                    &format!("AADSTS700027: Client assertion failed signature validation. {why}"),
                )
            })?;
            Ok(true)
        }
        _ => Err(oauth(
            400,
            "invalid_request",
            "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
    }
}

/// Issues an access token that expires after the configured TTL.
fn issue(state: &State, by_certificate: bool) -> Reply {
    let mut d = lock(&state.data);
    let n = d.next();
    let token = format!(
        "eyJ0eXAiOiJKV1Qi.sim{n:08}.{:x}",
        digest(10, &format!("{n}"))
    );
    d.tokens
        .insert(token.clone(), Instant::now() + state.config.token_ttl);
    drop(d);
    let mut st = lock(&state.stats);
    st.tokens_issued += 1;
    if by_certificate {
        st.assertions_accepted += 1;
    }
    Reply::json(
        200,
        json!({
            "token_type": "Bearer",
            "expires_in": state.config.token_ttl.as_secs(),
            "ext_expires_in": state.config.token_ttl.as_secs(),
            "access_token": token,
        }),
    )
}

/// Checks a certificate client assertion: header thumbprint, claims and signature (§1.4).
fn verify_assertion(state: &State, assertion: &str) -> Result<(), String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let cert = state
        .config
        .certificate
        .as_ref()
        .ok_or("no certificate is registered for the app")?;
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| e.to_string())?;
    let b64 = |hex: &str| {
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let thumb_ok = match (header.alg, &header.x5t, &header.x5t_s256) {
        (Algorithm::PS256, _, Some(t)) => cert.sha256_hex.as_deref().map(b64).as_ref() == Some(t),
        (Algorithm::RS256, Some(t), _) => cert.sha1_hex.as_deref().map(b64).as_ref() == Some(t),
        _ => false,
    };
    if !thumb_ok {
        return Err(
            "the header's alg and x5t/x5t#S256 do not name the registered certificate".into(),
        );
    }
    let key =
        DecodingKey::from_rsa_pem(cert.public_key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[state.token_url()]);
    v.set_issuer(std::slice::from_ref(&state.config.client_id));
    v.sub = Some(state.config.client_id.clone());
    v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(assertion, &key, &v).map_err(|e| e.to_string())?;
    Ok(())
}

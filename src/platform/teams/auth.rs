//! Microsoft identity platform client-credentials tokens for Graph, cached per tenant.
//!
//! `POST https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token` with
//! `grant_type=client_credentials`, `client_id`, `scope=https://graph.microsoft.com/.default`
//! and either `client_secret` or a certificate assertion (`client_assertion_type=
//! urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, `client_assertion=<JWT>`)
//! (teams-webex-meet.md §1.4). The answer carries `access_token` and `expires_in` (~1 h) and no
//! refresh token, so the cache fetches a new token [`REFRESH_MARGIN`] before expiry; one fetch
//! runs at a time (the lock is held across it).
//!
//! The certificate assertion (teams-webex-meet.md §1.4 and §4): header `alg` PS256 with
//! `x5t#S256` (base64url SHA-256 thumbprint, the current doc) or RS256 with `x5t` (SHA-1, the
//! older doc), chosen by the length of the configured thumbprint; claims `aud` = the token URL,
//! `iss` = `sub` = client id, `jti`, `nbf`, `iat`, `exp` (ten minutes later: "5–10 minutes
//! after nbf").
//!
//! Secrets (client secret, private key, tokens) are never printed: `Debug` is written by hand,
//! and messages from the server are scrubbed of the secret before they go into an error.

use std::sync::Once;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::models::{TokenError, TokenResponse};
use crate::platform::PlatformError;
use crate::platform::token::TokenSlot;
use crate::session::PlatformKind;

/// How long before expiry a token is replaced.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// Token lifetime when the answer does not say. ASSUMPTION: Entra documents about an hour.
const DEFAULT_LIFETIME_SECS: u64 = 3600;

/// Lifetime of a client assertion (teams-webex-meet.md §1.4: exp "5–10 minutes after nbf").
const ASSERTION_LIFETIME_SECS: i64 = 600;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the app proves who it is.
pub(crate) enum Credential {
    Secret(SecretString),
    Certificate {
        key: EncodingKey,
        thumbprint: Thumbprint,
    },
}

/// A certificate thumbprint, base64url as the JWT header wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Thumbprint {
    /// SHA-1 (40 hex digits, what the Entra portal shows): RS256 + `x5t`.
    Sha1(String),
    /// SHA-256 (64 hex digits): PS256 + `x5t#S256`.
    Sha256(String),
}

/// A thumbprint setting that is not a SHA-1 or SHA-256 hex digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`certificate_thumbprint` must be the certificate's SHA-1 (40 hex digits, as the Entra portal shows) or SHA-256 (64 hex digits) thumbprint"
)]
pub struct BadThumbprint;

impl Thumbprint {
    /// Parses a hex thumbprint (colons and spaces allowed, any case).
    pub(crate) fn from_hex(text: &str) -> Result<Thumbprint, BadThumbprint> {
        let digits: Vec<u8> = text.bytes().filter(|b| !matches!(b, b':' | b' ')).collect();
        if !digits.len().is_multiple_of(2) {
            return Err(BadThumbprint);
        }
        let mut bytes = Vec::with_capacity(digits.len() / 2);
        for pair in digits.chunks(2) {
            let text = std::str::from_utf8(pair).map_err(|_| BadThumbprint)?;
            bytes.push(u8::from_str_radix(text, 16).map_err(|_| BadThumbprint)?);
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        match bytes.len() {
            20 => Ok(Thumbprint::Sha1(b64)),
            32 => Ok(Thumbprint::Sha256(b64)),
            _ => Err(BadThumbprint),
        }
    }
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// jsonwebtoken 11 needs a process-wide crypto provider: with none installed it panics at the
/// first signature (rust-stack.md §2.4). Installed once, before the first assertion.
fn install_jwt_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first: that one is used.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    });
}

pub(crate) use crate::platform::token::Token;

/// One tenant's app registration and its current Graph token.
pub(crate) struct TokenCache {
    token_url: String,
    client_id: String,
    scope: String,
    credential: Credential,
    slot: TokenSlot,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let credential = match &self.credential {
            Credential::Secret(_) => "client secret [redacted]".to_string(),
            Credential::Certificate { thumbprint, .. } => {
                format!("certificate {thumbprint:?}, private key [redacted]")
            }
        };
        f.debug_struct("TokenCache")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("credential", &credential)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    pub(crate) fn new(
        token_url: &str,
        client_id: &str,
        scope: &str,
        credential: Credential,
    ) -> TokenCache {
        TokenCache {
            token_url: token_url.to_string(),
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            credential,
            slot: TokenSlot::new(REFRESH_MARGIN),
        }
    }

    /// Tokens fetched so far (for tests).
    pub(crate) fn fetches(&self) -> u64 {
        self.slot.fetches()
    }

    /// A token valid for at least [`REFRESH_MARGIN`], fetched when needed.
    pub(crate) async fn token(&self, http: &reqwest::Client) -> Result<Token, PlatformError> {
        self.slot.get(|| self.fetch(http)).await
    }

    /// Forgets the token of `generation` after Graph answered 401 to it; a newer one is kept.
    pub(crate) async fn invalidate(&self, generation: u64) {
        self.slot.invalidate(generation).await;
    }

    /// The signed client assertion (see the module docs).
    pub(crate) fn assertion(&self, now: chrono::DateTime<chrono::Utc>) -> Result<String, String> {
        let Credential::Certificate { key, thumbprint } = &self.credential else {
            return Err("no certificate is configured".into());
        };
        install_jwt_provider();
        let mut header = match thumbprint {
            Thumbprint::Sha256(t) => {
                let mut h = Header::new(Algorithm::PS256);
                h.x5t_s256 = Some(t.clone());
                h
            }
            Thumbprint::Sha1(t) => {
                let mut h = Header::new(Algorithm::RS256);
                h.x5t = Some(t.clone());
                h
            }
        };
        header.typ = Some("JWT".into());
        let iat = now.timestamp();
        let claims = AssertionClaims {
            aud: &self.token_url,
            iss: &self.client_id,
            sub: &self.client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: iat,
            iat,
            exp: iat + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| format!("could not sign the client assertion: {e}"))
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
    ) -> Result<(SecretString, Duration), PlatformError> {
        let auth = |message: String| PlatformError::Auth {
            platform: PlatformKind::Teams,
            message: self.scrub(&message),
        };
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
        ];
        match &self.credential {
            Credential::Secret(s) => form.push(("client_secret", s.expose_secret().to_string())),
            Credential::Certificate { .. } => {
                form.push(("client_assertion_type", ASSERTION_TYPE.into()));
                form.push((
                    "client_assertion",
                    self.assertion(chrono::Utc::now()).map_err(auth)?,
                ));
            }
        }
        let mut attempt = 0u32;
        let response = loop {
            attempt += 1;
            match http.post(&self.token_url).form(&form).send().await {
                Ok(r) if r.status().is_server_error() && attempt < 3 => {}
                Ok(r) => break r,
                Err(e) if attempt < 3 => {
                    tracing::debug!(error = %e.without_url(), "token request failed, retrying");
                }
                Err(e) => {
                    return Err(PlatformError::Transport {
                        platform: PlatformKind::Teams,
                        path: self.token_url.clone(),
                        message: self.scrub(&e.without_url().to_string()),
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        };
        let status = response.status();
        crate::server::metrics::token_request("teams", status.as_u16());
        tracing::debug!(status = status.as_u16(), "graph token request");
        let body = response
            .bytes()
            .await
            .map_err(|e| PlatformError::Transport {
                platform: PlatformKind::Teams,
                path: self.token_url.clone(),
                message: self.scrub(&e.without_url().to_string()),
            })?;
        if !status.is_success() {
            let why: TokenError = serde_json::from_slice(&body).unwrap_or_default();
            let reason = match (why.error, why.error_description) {
                (Some(e), Some(d)) => format!("{e}: {d}"),
                (Some(e), None) => e,
                (None, Some(d)) => d,
                (None, None) => "no reason given".into(),
            };
            return Err(auth(format!(
                "the Microsoft identity platform answered {}: {reason}. Check tenant_id, client_id and the client secret or certificate (and that the app has admin consent)",
                status.as_u16()
            )));
        }
        // Only the error's position is reported: the body holds the token.
        let parsed: TokenResponse =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body))
                .map_err(|e| {
                    auth(format!(
                        "the token answer could not be read at `{}`",
                        e.path()
                    ))
                })?;
        if parsed.access_token.is_empty() {
            return Err(auth("the token answer had no access_token".into()));
        }
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(DEFAULT_LIFETIME_SECS));
        Ok((SecretString::from(parsed.access_token), lifetime))
    }

    /// Removes the client secret from a message, in case a server or library echoes it.
    pub(crate) fn scrub(&self, message: &str) -> String {
        match &self.credential {
            Credential::Secret(s) if !s.expose_secret().is_empty() => {
                message.replace(s.expose_secret(), "[redacted]")
            }
            _ => message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_choose_the_header_field() {
        let sha1 = "5F:2B:9A:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:01";
        assert!(matches!(
            Thumbprint::from_hex(sha1),
            Ok(Thumbprint::Sha1(_))
        ));
        let sha256 = "ab".repeat(32);
        match Thumbprint::from_hex(&sha256) {
            Ok(Thumbprint::Sha256(b64)) => assert_eq!(b64.len(), 43),
            other => panic!("{other:?}"),
        }
        assert_eq!(Thumbprint::from_hex("abc"), Err(BadThumbprint));
        assert_eq!(
            Thumbprint::from_hex("zz".repeat(20).as_str()),
            Err(BadThumbprint)
        );
        assert_eq!(
            Thumbprint::from_hex("ab".repeat(16).as_str()),
            Err(BadThumbprint)
        );
    }

    #[test]
    fn debug_and_scrub_never_show_the_secret() {
        let cache = TokenCache::new(
            "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            "client",
            "https://graph.microsoft.com/.default",
            Credential::Secret(SecretString::from("s3cr3t~value")),
        );
        let shown = format!("{cache:?}");
        assert!(!shown.contains("s3cr3t~value"), "{shown}");
        assert_eq!(cache.scrub("bad s3cr3t~value!"), "bad [redacted]!");
    }
}

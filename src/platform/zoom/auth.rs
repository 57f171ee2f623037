//! Server-to-Server OAuth token cache, one per tenant.
//!
//! `POST {token_url}?grant_type=account_credentials&account_id=…` with HTTP Basic
//! `client_id:client_secret`; the answer's token lives an hour and there is no refresh token
//! (zoom.md §4.1). The cache holds one token and fetches a new one 60 s before it expires, so a
//! request never starts with a token about to lapse mid-flight. Only one fetch runs at a time (the
//! lock is held across it): a single token holder is safe whether or not a new token invalidates
//! the old one, which zoom.md §4.1 could not settle.
//!
//! The client secret and the token live in `SecretString`s; `Debug` is written by hand and prints
//! neither, and no error built here contains either.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::models::{TokenError, TokenResponse};
use crate::platform::PlatformError;
use crate::session::PlatformKind;

/// How long before expiry a token is replaced.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Token lifetime when Zoom does not say (zoom.md §4.1: 3600 s). ASSUMPTION for a missing field.
const DEFAULT_LIFETIME_SECS: u64 = 3600;

use crate::platform::token::TokenSlot;

/// The tenant's credentials and its current access token.
pub(crate) struct TokenCache {
    token_url: String,
    account_id: String,
    client_id: String,
    secret: SecretString,
    slot: TokenSlot,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.slot.describe();
        f.debug_struct("TokenCache")
            .field("token_url", &self.token_url)
            .field("account_id", &self.account_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("cached", &cached)
            .finish()
    }
}

pub(crate) use crate::platform::token::Token;

impl TokenCache {
    pub(crate) fn new(
        token_url: &str,
        account_id: &str,
        client_id: &str,
        secret: SecretString,
    ) -> TokenCache {
        TokenCache {
            token_url: token_url.to_string(),
            account_id: account_id.to_string(),
            client_id: client_id.to_string(),
            secret,
            slot: TokenSlot::new(REFRESH_MARGIN),
        }
    }

    /// How many tokens this cache has fetched (for tests).
    pub(crate) fn fetches(&self) -> u64 {
        self.slot.fetches()
    }

    /// A token valid for at least [`REFRESH_MARGIN`], fetched when needed.
    pub(crate) async fn token(&self, http: &reqwest::Client) -> Result<Token, PlatformError> {
        self.slot.get(|| self.fetch(http)).await
    }

    /// Forgets the token of `generation` after Zoom answered 401 to it (revoked, or the app was
    /// deactivated). A newer token fetched meanwhile by another request is kept.
    pub(crate) async fn invalidate(&self, generation: u64) {
        self.slot.invalidate(generation).await;
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
    ) -> Result<(SecretString, Duration), PlatformError> {
        let auth = |message: String| PlatformError::Auth {
            platform: PlatformKind::Zoom,
            message: self.scrub(&message),
        };
        let mut attempt = 0u32;
        let response = loop {
            attempt += 1;
            let sent = http
                .post(&self.token_url)
                .query(&[
                    ("grant_type", "account_credentials"),
                    ("account_id", self.account_id.as_str()),
                ])
                .basic_auth(&self.client_id, Some(self.secret.expose_secret()))
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_server_error() && attempt < 3 => {}
                Ok(r) => break r,
                Err(e) if attempt < 3 => {
                    tracing::debug!(error = %e.without_url(), "token request failed, retrying");
                }
                Err(e) => {
                    return Err(PlatformError::Transport {
                        platform: PlatformKind::Zoom,
                        path: self.token_url.clone(),
                        message: self.scrub(&e.without_url().to_string()),
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        };
        let status = response.status();
        crate::server::metrics::token_request("zoom", status.as_u16());
        tracing::debug!(
            method = "POST",
            path = "/oauth/token",
            status = status.as_u16(),
            "token request"
        );
        let body = response
            .bytes()
            .await
            .map_err(|e| PlatformError::Transport {
                platform: PlatformKind::Zoom,
                path: self.token_url.clone(),
                message: self.scrub(&e.without_url().to_string()),
            })?;
        if !status.is_success() {
            let why: TokenError = serde_json::from_slice(&body).unwrap_or_default();
            let reason = match (why.reason, why.error) {
                (Some(r), Some(e)) => format!("{r} ({e})"),
                (Some(r), None) => r,
                (None, Some(e)) => e,
                (None, None) => "no reason given".into(),
            };
            return Err(auth(format!("Zoom answered {}: {reason}", status.as_u16())));
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
    fn scrub(&self, message: &str) -> String {
        let secret = self.secret.expose_secret();
        if secret.is_empty() {
            message.to_string()
        } else {
            message.replace(secret, "[redacted]")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::http_util::needs_refresh;
    use tokio::time::Instant;

    #[test]
    fn a_token_is_replaced_sixty_seconds_before_it_expires() {
        let now = Instant::now();
        let expires = now + Duration::from_secs(3600);
        assert!(!needs_refresh(expires, now, REFRESH_MARGIN));
        assert!(!needs_refresh(
            expires,
            now + Duration::from_secs(3539),
            REFRESH_MARGIN
        ));
        assert!(needs_refresh(
            expires,
            now + Duration::from_secs(3540),
            REFRESH_MARGIN
        ));
        assert!(needs_refresh(
            expires,
            now + Duration::from_secs(4000),
            REFRESH_MARGIN
        ));
        // A token shorter-lived than the margin is always refreshed.
        assert!(needs_refresh(
            now + Duration::from_secs(30),
            now,
            REFRESH_MARGIN
        ));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let cache = TokenCache::new(
            "https://zoom.us/oauth/token",
            "acc",
            "client",
            SecretString::from("s3cr3t-value"),
        );
        let shown = format!("{cache:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn scrub_removes_the_secret_from_messages() {
        let cache = TokenCache::new("u", "a", "c", SecretString::from("hunter2"));
        assert_eq!(cache.scrub("bad hunter2!"), "bad [redacted]!");
    }
}

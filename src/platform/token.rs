//! The cached access token of one tenant on one platform, shared by the adapters' auth modules:
//! fetched when missing or within a margin of expiry, one fetch at a time, and dropped only for
//! the generation a platform refused (a newer token fetched meanwhile is kept).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::platform::PlatformError;
use crate::platform::http_util::needs_refresh;

struct Cached {
    token: SecretString,
    expires_at: Instant,
    /// Bumped on every fetch, so a 401 only discards the token it was sent with.
    generation: u64,
}

/// A token handed to one request, with the generation to name when the platform refuses it.
pub(crate) struct Token {
    pub secret: SecretString,
    pub generation: u64,
}

/// The slot holding a tenant's current token.
pub(crate) struct TokenSlot {
    margin: Duration,
    state: Mutex<Option<Cached>>,
    fetches: AtomicU64,
}

impl TokenSlot {
    /// A slot that replaces its token `margin` before it expires.
    pub(crate) fn new(margin: Duration) -> TokenSlot {
        TokenSlot {
            margin,
            state: Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// Tokens fetched so far (for tests).
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A token valid for at least the margin; `fetch` (returning the token and its lifetime) runs
    /// only when needed, and never twice at once.
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<Token, PlatformError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(SecretString, Duration), PlatformError>>,
    {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref()
            && !needs_refresh(c.expires_at, Instant::now(), self.margin)
        {
            return Ok(Token {
                secret: c.token.clone(),
                generation: c.generation,
            });
        }
        let generation = state.as_ref().map_or(1, |c| c.generation + 1);
        let (token, lifetime) = fetch().await?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        *state = Some(Cached {
            token: token.clone(),
            expires_at: Instant::now() + lifetime,
            generation,
        });
        Ok(Token {
            secret: token,
            generation,
        })
    }

    /// Forgets the token of `generation` after the platform answered 401 to it (revoked, or the
    /// app deactivated). A newer token fetched meanwhile by another request is kept.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_mut()
            && c.generation == generation
        {
            c.expires_at = Instant::now();
        }
    }

    /// For `Debug`: whether a token is held and how long it lasts, never the token.
    pub(crate) fn describe(&self) -> String {
        match self.state.try_lock() {
            Ok(guard) => match guard.as_ref() {
                Some(c) => format!(
                    "token [redacted], expires in {}s",
                    c.expires_at
                        .saturating_duration_since(Instant::now())
                        .as_secs()
                ),
                None => "no token".into(),
            },
            Err(_) => "busy".into(),
        }
    }
}

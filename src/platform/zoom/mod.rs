//! The Zoom adapter: reads an account's scheduled meetings into neutral [`Session`]s, writes the
//! changes the engine planned, and reads back.
//!
//! Layout, after octocrab's: one handler per Zoom resource over the shared `http` client (rate
//! limits, retries, errors that keep Zoom's body): `meetings` (a host's meetings, one meeting or
//! occurrence, their PATCHes), `users` (users, groups, settings, lock settings, the directory
//! cache), `hosts` (a host's settings and locks, cached with a spread TTL), `pages` (paged
//! lists); the work over them: `collect` (the sweep's collect, single-session reads) and
//! `apply` (writes and the daily budget); beside them `models` (serde types for the Zoom JSON
//! used), `auth` (the S2S OAuth token cache), `map` (pure Zoom ⇄ neutral mapping) and
//! `passcode` (generation). This file holds the adapter type and the [`Platform`] impl that
//! delegates to them. Facts about Zoom cite `shared/research/zoom.md` (§ numbers) or the vendor
//! spec paths.
//!
//! Call budget of a collect, for `H` active users, `K` of them hosting `M` meetings in the window,
//! in `G` groups: LIGHT `M` (GET meeting); MEDIUM `groups pages + user pages + H×meeting pages +
//! 2K (settings, meeting_security) + G (group locks) + 1 (account locks)`.

mod apply;
mod auth;
mod collect;
mod hosts;
mod http;
mod map;
mod meetings;
mod models;
mod pages;
mod passcode;
mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::NaiveDate;
use secrecy::SecretString;
use tracing::Instrument;

use self::auth::TokenCache;
use self::http::Http;
use self::map::HostContext;
use self::models::{LockSettings, Meeting, SecuritySettings, UserSettings};
use crate::platform::{Applied, Change, CollectStream, Collected, Platform, PlatformError, Window};
use crate::session::{Host, PlatformKind, Session};
use crate::settings::ZoomSettings;

/// The Zoom adapter of one tenant (one Zoom account, one Server-to-Server OAuth app).
#[derive(Clone)]
pub struct ZoomPlatform {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ZoomPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoomPlatform")
            .field("tenant", &self.inner.tenant)
            .field("http", &self.inner.http)
            .field("daily_updates_per_host", &self.inner.daily_limit)
            .finish_non_exhaustive()
    }
}

/// What the resource handlers share: the HTTP client, the daily budget and the caches.
struct Inner {
    tenant: String,
    http: Http,
    daily_limit: u32,
    /// Meeting writes per host id per UTC day (zoom.md §5: 100 a day, reset 00:00 UTC).
    daily: Mutex<HashMap<String, (NaiveDate, u32)>>,
    /// Group ids of hosts and names of groups seen in the last collect, so a read-back does not
    /// need the user and group lists again. Membership changes rarely; locks are always re-read.
    directory: Mutex<users::Directory>,
    /// Host settings and locks read recently, by host id. A read-back after a meeting-only write
    /// reuses them instead of spending four MEDIUM calls per session (for 10,000 sessions that is
    /// the difference between minutes and most of an hour at 20/s). A host-settings write drops
    /// the host's entry, so a read-back after one always reads again; entries expire after
    /// [`hosts::HOST_CACHE_TTL`] so a long-running service never judges on old settings.
    host_cache: Mutex<HashMap<String, (Instant, HostContext)>>,
    /// [`hosts::HOST_CACHE_TTL`], except in tests that need entries to expire.
    host_cache_base: Duration,
}

impl ZoomPlatform {
    /// Builds the adapter. No request is made until the first call.
    pub fn new(
        tenant: &str,
        settings: &ZoomSettings,
        secret: SecretString,
    ) -> Result<ZoomPlatform, PlatformError> {
        for (what, value) in [
            ("api_base_url", &settings.api_base_url),
            ("token_url", &settings.token_url),
        ] {
            if url::Url::parse(value).is_err() {
                return Err(PlatformError::Transport {
                    platform: PlatformKind::Zoom,
                    path: value.clone(),
                    message: format!("`{what}` is not a URL"),
                });
            }
        }
        let auth = TokenCache::new(
            &settings.token_url,
            &settings.account_id,
            &settings.client_id,
            secret,
        );
        let http = Http::new(
            &settings.api_base_url,
            auth,
            settings.rate_limits.light_per_second,
            settings.rate_limits.medium_per_second,
            Duration::from_secs(settings.timeout_secs.max(1)),
        )?
        .with_run_deadline(settings.rate_limits.run_deadline());
        Ok(ZoomPlatform {
            inner: Arc::new(Inner {
                tenant: tenant.to_string(),
                http,
                daily_limit: settings.daily_updates_per_host,
                daily: Mutex::new(HashMap::new()),
                directory: Mutex::new(users::Directory::default()),
                host_cache: Mutex::new(HashMap::new()),
                host_cache_base: hosts::HOST_CACHE_TTL,
            }),
        })
    }

    /// How long host settings are trusted before they are read again (at least; spread per
    /// host up to twice as long). For tests that need the cache to expire within a run; call it
    /// on a new adapter, before it is shared.
    #[doc(hidden)]
    pub fn with_host_cache_ttl(mut self, ttl: Duration) -> ZoomPlatform {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.host_cache_base = ttl;
        }
        self
    }

    /// Write requests this client has sent (every PATCH on the wire, retries included).
    pub fn write_requests(&self) -> u64 {
        self.inner.http.writes()
    }

    /// Tokens fetched so far (for tests: a revoked token is replaced exactly once).
    pub fn tokens_fetched(&self) -> u64 {
        self.inner.http.auth.fetches()
    }

    /// Tells the adapter how many meeting updates `host_id` already used today (UTC), for example
    /// from the store after a restart. The larger of this and the adapter's own count is kept.
    pub fn seed_daily_updates(&self, host_id: &str, count: u32) {
        self.inner.seed_daily(host_id, count);
    }

    /// Meeting updates counted today for `host_id`.
    pub fn daily_updates(&self, host_id: &str) -> u32 {
        self.inner.daily_count(host_id)
    }
}

/// Percent-encodes one path segment (user ids are URL-safe, but an email may be used as an id).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn meeting_id(session: &Session) -> Result<u64, PlatformError> {
    session
        .id
        .parse::<u64>()
        .map_err(|_| PlatformError::NotFound {
            platform: PlatformKind::Zoom,
            what: format!("Zoom meeting `{}` (not a Zoom meeting id)", session.id),
        })
}

#[async_trait]
impl Platform for ZoomPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Zoom
    }

    async fn collect(&self, window: &Window) -> Result<Collected, PlatformError> {
        Ok(self.collect_stream(window).await?.drain().await)
    }

    async fn collect_stream(&self, window: &Window) -> Result<CollectStream, PlatformError> {
        let span =
            tracing::info_span!("zoom.collect", tenant = %self.inner.tenant, platform = "zoom");
        collect::collect_stream(&self.inner, window)
            .instrument(span)
            .await
    }

    async fn read_session(&self, session: &Session) -> Result<Session, PlatformError> {
        let span = tracing::info_span!("zoom.read_session", tenant = %self.inner.tenant, platform = "zoom", session = %session.id);
        collect::read_session(&self.inner, session)
            .instrument(span)
            .await
    }

    async fn fetch_session(&self, id: &str) -> Result<Option<Session>, PlatformError> {
        let span = tracing::info_span!("zoom.fetch_session", tenant = %self.inner.tenant, platform = "zoom", session = %id);
        collect::fetch_session(&self.inner, id)
            .instrument(span)
            .await
    }

    async fn directory(&self) -> Result<crate::platform::Directory, PlatformError> {
        let (group_names, users) = self.inner.listed_directory().await?;
        Ok(users::directory_of(&users, &group_names))
    }

    fn note_updates_today(&self, host: &Host, count: u32) {
        self.seed_daily_updates(&host.id, count);
    }

    fn rate_reports(&self) -> Vec<crate::platform::pacing::BudgetReport> {
        self.inner.http.rate_reports()
    }

    async fn apply(&self, session: &Session, changes: &[Change]) -> Result<Applied, PlatformError> {
        let span = tracing::info_span!("zoom.apply", tenant = %self.inner.tenant, platform = "zoom", session = %session.id);
        apply::apply(&self.inner, session, changes)
            .instrument(span)
            .await
    }
}

/// Fuzzing entry point (`fuzz/`): decodes `body` as Zoom's answers to `GET /meetings/{id}` and
/// `GET /users/{id}/settings` and maps them as a collect would. It must never panic.
#[doc(hidden)]
pub fn fuzz_decode_answers(body: &[u8]) {
    use crate::platform::http_util::decode_json;
    let host = Host {
        id: "fuzz".into(),
        email: "fuzz@example.org".into(),
        name: "Fuzz".into(),
        groups: Vec::new(),
    };
    let settings: Result<UserSettings, _> =
        decode_json(PlatformKind::Zoom, "/users/fuzz/settings", body);
    let security: Result<SecuritySettings, _> =
        decode_json(PlatformKind::Zoom, "/users/fuzz/settings", body);
    let locks: Result<LockSettings, _> =
        decode_json(PlatformKind::Zoom, "/accounts/me/lock_settings", body);
    let ctx = HostContext {
        settings: settings.map_err(|e| e.to_string()),
        security: security.map_err(|e| e.to_string()),
        groups: Vec::new(),
        account_locks: locks.map_err(|e| e.to_string()),
    };
    if let Ok(meeting) = decode_json::<Meeting>(PlatformKind::Zoom, "/meetings/fuzz", body) {
        let _ = map::session(&meeting, &host, &ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ZoomSettings {
        // Through serde, so fields added later with defaults need no change here.
        serde_json::from_value(serde_json::json!({
            "account_id": "acc",
            "client_id": "cid",
            "api_base_url": "http://127.0.0.1:9/v2",
            "token_url": "http://127.0.0.1:9/oauth/token",
            "daily_updates_per_host": 3,
            "timeout_secs": 5
        }))
        .expect("settings")
    }

    #[test]
    fn the_daily_budget_refuses_before_zoom_would() {
        let z = ZoomPlatform::new("t", &settings(), SecretString::from("x")).expect("new");
        for _ in 0..3 {
            z.inner.reserve_update("h1", "a@b").expect("within budget");
        }
        assert!(matches!(
            z.inner.reserve_update("h1", "a@b"),
            Err(PlatformError::DailyBudgetExhausted { limit: 3, .. })
        ));
        z.inner.reserve_update("h2", "c@d").expect("another host");
        z.seed_daily_updates("h3", 3);
        assert!(z.inner.reserve_update("h3", "e@f").is_err());
        z.seed_daily_updates("h2", 0);
        assert_eq!(z.daily_updates("h2"), 1, "a seed never lowers the count");
    }

    #[test]
    fn debug_output_has_no_secret() {
        let z =
            ZoomPlatform::new("t", &settings(), SecretString::from("sup3rs3cret")).expect("new");
        let shown = format!("{z:?}");
        assert!(!shown.contains("sup3rs3cret"), "{shown}");
    }

    #[test]
    fn a_bad_base_url_is_refused() {
        let mut s = settings();
        s.api_base_url = "not a url".into();
        assert!(ZoomPlatform::new("t", &s, SecretString::from("x")).is_err());
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(segment("KDcuGIm1QgePTO8WbOqwIQ"), "KDcuGIm1QgePTO8WbOqwIQ");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}

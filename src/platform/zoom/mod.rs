//! The Zoom adapter: reads an account's scheduled meetings into neutral [`Session`]s, writes the
//! changes the engine planned, and reads back.
//!
//! Layout, after octocrab's: [`models`] (serde types for the Zoom JSON used), [`auth`] (the S2S
//! OAuth token cache), [`http`] (rate limits, retries, errors that keep Zoom's body), [`map`] (pure
//! Zoom ⇄ neutral mapping) and [`passcode`] (generation). Facts about Zoom cite
//! `shared/research/zoom.md` (§ numbers) or the vendor spec paths.
//!
//! Call budget of a collect, for `H` active users, `K` of them hosting `M` meetings in the window,
//! in `G` groups: LIGHT `M` (GET meeting); MEDIUM `groups pages + user pages + H×meeting pages +
//! 2K (settings, meeting_security) + G (group locks) + 1 (account locks)`.

mod auth;
mod http;
mod map;
mod models;
mod passcode;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use secrecy::SecretString;
use tracing::Instrument;

use self::auth::TokenCache;
use self::http::{Http, Label};
use self::map::{GroupLocks, HostContext, Keep};
use self::models::{
    Group, GroupList, LockSettings, Meeting, MeetingList, MeetingSummary, PasswordRequirement,
    SecuritySettings, User, UserList, UserSettings,
};
use crate::control::Control;
use crate::platform::{
    Applied, Change, CollectFailure, CollectStream, Collected, Platform, PlatformError, Window,
};
use crate::session::{Host, Occurrence, PlatformKind, Reading, Session};
use crate::settings::ZoomSettings;

/// Requests in flight at once while fetching many meetings or hosts. The governor limiters set
/// the pace; this only bounds memory and sockets.
const CONCURRENCY: usize = 16;

/// Largest page Zoom allows on the lists used: `GET /users/{userId}/meetings` `page_size` max 300
/// (meetings.openapi.json); `GET /groups` max 300; `GET /users` max 2000, 300 is used as asked.
const PAGE_SIZE: &str = "300";

/// How far ahead a single-meeting read (a webhook) reads a recurring meeting's occurrences on
/// their own; a sweep reads those inside its window.
const OCCURRENCE_HORIZON: chrono::Duration = chrono::Duration::days(31);

/// Whether an occurrence runs at some time inside the window.
fn occurs_in(o: &Occurrence, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>) -> bool {
    o.start < to && o.start + chrono::Duration::minutes(i64::from(o.duration_minutes)) > from
}

/// A guard against a server that keeps handing out `next_page_token`s.
const MAX_PAGES: usize = 10_000;

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

struct Inner {
    tenant: String,
    http: Http,
    daily_limit: u32,
    /// Meeting writes per host id per UTC day (zoom.md §5: 100 a day, reset 00:00 UTC).
    daily: Mutex<HashMap<String, (NaiveDate, u32)>>,
    /// Group ids of hosts and names of groups seen in the last collect, so a read-back does not
    /// need the user and group lists again. Membership changes rarely; locks are always re-read.
    directory: Mutex<Directory>,
    /// Host settings and locks read recently, by host id. A read-back after a meeting-only write
    /// reuses them instead of spending four MEDIUM calls per session (for 10,000 sessions that is
    /// the difference between minutes and most of an hour at 20/s). A host-settings write drops
    /// the host's entry, so a read-back after one always reads again; entries expire after
    /// [`HOST_CACHE_TTL`] so a long-running service never judges on old settings.
    host_cache: Mutex<HashMap<String, (Instant, HostContext)>>,
    /// [`HOST_CACHE_TTL`], except in tests that need entries to expire.
    host_cache_base: Duration,
}

/// How long host settings read by chaperone are trusted without reading them again, at least.
const HOST_CACHE_TTL: Duration = Duration::from_secs(300);

/// `base` plus up to as much again, spread by host id: hosts read together by a sweep do not all
/// expire in the same second, which would queue every host's re-read behind Zoom's MEDIUM limit
/// and hold up the webhooks waiting on them.
fn host_cache_ttl(base: Duration, host_id: &str) -> Duration {
    let spread = host_id
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % base.as_secs().max(1);
    base + Duration::from_secs(spread)
}

#[derive(Default)]
struct Directory {
    host_groups: HashMap<String, Vec<String>>,
    group_names: HashMap<String, String>,
    /// Active users by id, from the last full user list.
    users: HashMap<String, User>,
    /// When the user and group lists were last read in full.
    listed_at: Option<Instant>,
}

/// How long the user and group lists are trusted for a single-session read (a webhook) before
/// they are read again. A sweep always reads them afresh.
const DIRECTORY_TTL: Duration = Duration::from_secs(600);

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
                directory: Mutex::new(Directory::default()),
                host_cache: Mutex::new(HashMap::new()),
                host_cache_base: HOST_CACHE_TTL,
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
        let today = Utc::now().date_naive();
        if let Ok(mut daily) = self.inner.daily.lock() {
            let entry = daily.entry(host_id.to_string()).or_insert((today, 0));
            if entry.0 != today {
                *entry = (today, 0);
            }
            entry.1 = entry.1.max(count);
        }
    }

    /// Meeting updates counted today for `host_id`.
    pub fn daily_updates(&self, host_id: &str) -> u32 {
        let today = Utc::now().date_naive();
        self.inner
            .daily
            .lock()
            .ok()
            .and_then(|d| {
                d.get(host_id)
                    .filter(|(day, _)| *day == today)
                    .map(|(_, n)| *n)
            })
            .unwrap_or(0)
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

impl Inner {
    /// Reads every page of a list. Zoom's `next_page_token` expires after 15 minutes (zoom.md §3):
    /// when a token is refused mid-list, the list is read again from the first page, once, and
    /// the partial pages are dropped so nothing is counted twice.
    async fn pages<T>(
        &self,
        path: &str,
        query: &[(&'static str, &str)],
        next: impl Fn(&T) -> Option<String>,
    ) -> Result<Vec<T>, PlatformError>
    where
        T: serde::de::DeserializeOwned,
    {
        let mut restarted = false;
        'list: loop {
            let mut pages = Vec::new();
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let mut q: Vec<(&'static str, String)> =
                    query.iter().map(|(k, v)| (*k, v.to_string())).collect();
                if let Some(t) = &token {
                    q.push(("next_page_token", t.clone()));
                }
                let page: T = match self.http.get(Label::Medium, path.to_string(), q).await {
                    Err(PlatformError::Api {
                        status: 400,
                        message,
                        ..
                    }) if token.is_some()
                        && !restarted
                        && message.to_ascii_lowercase().contains("page token") =>
                    {
                        tracing::info!(path, "a page token expired; reading the list again");
                        restarted = true;
                        continue 'list;
                    }
                    other => other?,
                };
                token = next(&page).filter(|t| !t.is_empty());
                pages.push(page);
                if token.is_none() {
                    return Ok(pages);
                }
            }
            return Err(PlatformError::Decode {
                platform: PlatformKind::Zoom,
                path: path.to_string(),
                message: format!("more than {MAX_PAGES} pages; stopped"),
            });
        }
    }

    /// `GET /groups` → id → name (users.openapi.json `paths./groups.get`, MEDIUM).
    async fn groups(&self) -> Result<HashMap<String, String>, PlatformError> {
        let pages = self
            .pages("/groups", &[("page_size", PAGE_SIZE)], |p: &GroupList| {
                p.next_page_token.clone()
            })
            .await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.groups)
            .map(|g| (g.id, g.name))
            .collect())
    }

    /// `GET /users?status=active` (users.openapi.json `paths./users.get`, MEDIUM).
    async fn users(&self) -> Result<Vec<User>, PlatformError> {
        let pages = self
            .pages(
                "/users",
                &[("status", "active"), ("page_size", PAGE_SIZE)],
                |p: &UserList| p.next_page_token.clone(),
            )
            .await?;
        Ok(pages.into_iter().flat_map(|p| p.users).collect())
    }

    /// `GET /users/{userId}/meetings?type=upcoming` (meetings.openapi.json, MEDIUM).
    async fn meetings_of(&self, user_id: &str) -> Result<Vec<MeetingSummary>, PlatformError> {
        let pages = self
            .pages(
                &format!("/users/{}/meetings", segment(user_id)),
                &[("type", "upcoming"), ("page_size", PAGE_SIZE)],
                |p: &MeetingList| p.next_page_token.clone(),
            )
            .await?;
        Ok(pages.into_iter().flat_map(|p| p.meetings).collect())
    }

    /// `GET /meetings/{meetingId}` (LIGHT). A 404 becomes `NotFound`.
    async fn meeting(&self, id: u64) -> Result<Meeting, PlatformError> {
        match self
            .http
            .get(Label::Light, format!("/meetings/{id}"), Vec::new())
            .await
        {
            Err(PlatformError::Api { status: 404, .. }) => Err(PlatformError::NotFound {
                platform: PlatformKind::Zoom,
                what: format!("Zoom meeting {id}"),
            }),
            other => other,
        }
    }

    /// `GET /meetings/{meetingId}?occurrence_id=` (LIGHT): one occurrence, with the settings it
    /// keeps on its own merged over the series' (meetings.openapi.json `occurrence_id`
    /// parameter). A 404 becomes `NotFound`.
    async fn occurrence(&self, id: u64, occurrence_id: &str) -> Result<Meeting, PlatformError> {
        match self
            .http
            .get(
                Label::Light,
                format!("/meetings/{id}"),
                vec![("occurrence_id", occurrence_id.to_string())],
            )
            .await
        {
            Err(PlatformError::Api { status: 404, .. }) => Err(PlatformError::NotFound {
                platform: PlatformKind::Zoom,
                what: format!("occurrence {occurrence_id} of Zoom meeting {id}"),
            }),
            other => other,
        }
    }

    /// Reads on its own each occurrence `which` picks and keeps its effective readings on the
    /// session, so an occurrence edited by itself is judged on what it really has. An
    /// occurrence that cannot be read makes those controls `error`, never the series' value.
    async fn read_occurrences(
        &self,
        id: u64,
        session: &mut Session,
        ctx: &HostContext,
        which: impl Fn(&Occurrence) -> bool,
    ) {
        for o in session.occurrences.iter_mut().filter(|o| which(o)) {
            let span = tracing::debug_span!("zoom.occurrence", session = id, occurrence = %o.id);
            o.readings = match self.occurrence(id, &o.id).instrument(span).await {
                Ok(m) => map::occurrence_readings(&m, ctx),
                Err(e) => map::OCCURRENCE_CONTROLS
                    .iter()
                    .map(|c| {
                        (
                            *c,
                            Reading::Error {
                                reason: format!("the occurrence could not be read: {e}"),
                            },
                        )
                    })
                    .collect(),
            };
        }
    }

    /// `GET /users/{userId}/settings` (MEDIUM).
    async fn user_settings(&self, user_id: &str) -> Result<UserSettings, PlatformError> {
        let path = format!("/users/{}/settings", segment(user_id));
        self.http.get(Label::Medium, path, Vec::new()).await
    }

    /// `GET /users/{userId}/settings?option=meeting_security` (MEDIUM).
    async fn security_settings(&self, user_id: &str) -> Result<SecuritySettings, PlatformError> {
        let path = format!("/users/{}/settings", segment(user_id));
        self.http
            .get(
                Label::Medium,
                path,
                vec![("option", "meeting_security".into())],
            )
            .await
    }

    /// `GET /groups/{groupId}/lock_settings` (MEDIUM).
    async fn group_locks(&self, group_id: &str) -> Result<LockSettings, PlatformError> {
        let path = format!("/groups/{}/lock_settings", segment(group_id));
        self.http.get(Label::Medium, path, Vec::new()).await
    }

    /// `GET /accounts/me/lock_settings` (accounts.openapi.json, MEDIUM; `me` = own account,
    /// zoom.md §2).
    async fn account_locks(&self) -> Result<LockSettings, PlatformError> {
        self.http
            .get(
                Label::Medium,
                "/accounts/me/lock_settings".into(),
                Vec::new(),
            )
            .await
    }

    /// Host settings and security settings, read together.
    async fn host_context(
        &self,
        user_id: &str,
        groups: Vec<GroupLocks>,
        account_locks: Result<LockSettings, String>,
    ) -> HostContext {
        let (settings, security) =
            tokio::join!(self.user_settings(user_id), self.security_settings(user_id));
        HostContext {
            settings: settings.map_err(|e| e.to_string()),
            security: security.map_err(|e| e.to_string()),
            groups,
            account_locks,
        }
    }

    fn host_of(user: &User, group_names: &HashMap<String, String>) -> Host {
        Host {
            id: user.id.clone(),
            email: user.email.clone(),
            name: user.name(),
            // ASSUMPTION: a group id missing from `GET /groups` is shown as its id.
            groups: user
                .group_ids
                .iter()
                .map(|g| group_names.get(g).cloned().unwrap_or_else(|| g.clone()))
                .collect(),
        }
    }

    /// Reserves one meeting update of `host_id` for today, or refuses before Zoom would.
    fn reserve_update(&self, host_id: &str, shown: &str) -> Result<(), PlatformError> {
        let today = Utc::now().date_naive();
        let mut daily = self
            .daily
            .lock()
            .map_err(|_| PlatformError::DailyBudgetExhausted {
                host: shown.to_string(),
                limit: self.daily_limit,
                platform_said: None,
            })?;
        let entry = daily.entry(host_id.to_string()).or_insert((today, 0));
        if entry.0 != today {
            *entry = (today, 0);
        }
        if entry.1 >= self.daily_limit {
            return Err(PlatformError::DailyBudgetExhausted {
                host: shown.to_string(),
                limit: self.daily_limit,
                platform_said: None,
            });
        }
        entry.1 += 1;
        Ok(())
    }

    fn exhaust_budget(&self, host_id: &str) {
        let today = Utc::now().date_naive();
        if let Ok(mut daily) = self.daily.lock() {
            daily.insert(host_id.to_string(), (today, self.daily_limit));
        }
    }

    /// The host's groups with fresh lock settings, for a read-back.
    async fn fresh_groups(&self, host_id: &str) -> Vec<GroupLocks> {
        let known = self.directory.lock().ok().and_then(|d| {
            d.host_groups.get(host_id).map(|ids| {
                ids.iter()
                    .map(|id| Group {
                        id: id.clone(),
                        name: d.group_names.get(id).cloned().unwrap_or_else(|| id.clone()),
                    })
                    .collect::<Vec<_>>()
            })
        });
        let groups = match known {
            Some(g) => g,
            None => match self.lookup_groups(host_id).await {
                Ok(g) => g,
                Err(e) => {
                    return vec![(
                        Group {
                            id: String::new(),
                            name: "(the host's groups)".into(),
                        },
                        Err(e.to_string()),
                    )];
                }
            },
        };
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let locks = self.group_locks(&g.id).await.map_err(|e| e.to_string());
            out.push((g, locks));
        }
        out
    }

    /// `GET /users/{userId}` (LIGHT, zoom.md §5) for `group_ids`, and `GET /groups` for names.
    async fn lookup_groups(&self, host_id: &str) -> Result<Vec<Group>, PlatformError> {
        let user: User = self
            .http
            .get(
                Label::Light,
                format!("/users/{}", segment(host_id)),
                Vec::new(),
            )
            .await?;
        let names = if user.group_ids.is_empty() {
            HashMap::new()
        } else {
            self.groups().await?
        };
        if let Ok(mut d) = self.directory.lock() {
            d.host_groups
                .insert(host_id.to_string(), user.group_ids.clone());
            d.group_names.extend(names.clone());
        }
        Ok(user
            .group_ids
            .iter()
            .map(|id| Group {
                id: id.clone(),
                name: names.get(id).cloned().unwrap_or_else(|| id.clone()),
            })
            .collect())
    }

    /// The passcode rules of the host: `meeting_security.meeting_password_requirement`, else
    /// `schedule_meeting.meeting_password_requirement` (zoom.md §2.1 row 1a), else none.
    /// Keeps the user and group lists of a full read for later single-session reads.
    fn remember_directory(&self, group_names: &HashMap<String, String>, users: &[User]) {
        if let Ok(mut d) = self.directory.lock() {
            d.group_names = group_names.clone();
            d.host_groups = users
                .iter()
                .map(|u| (u.id.clone(), u.group_ids.clone()))
                .collect();
            d.users = users.iter().map(|u| (u.id.clone(), u.clone())).collect();
            d.listed_at = Some(Instant::now());
        }
    }

    /// The user and group lists, from the last full read when recent enough, else read again.
    async fn listed_directory(
        &self,
    ) -> Result<(HashMap<String, String>, Vec<User>), PlatformError> {
        if let Ok(d) = self.directory.lock()
            && d.listed_at.is_some_and(|at| at.elapsed() < DIRECTORY_TTL)
        {
            return Ok((d.group_names.clone(), d.users.values().cloned().collect()));
        }
        let group_names = self.groups().await?;
        let users = self.users().await?;
        self.remember_directory(&group_names, &users);
        Ok((group_names, users))
    }

    /// The host's settings and locks: cached when recent, else read (and cached).
    async fn host_context_of(&self, host_id: &str) -> HostContext {
        if let Some(ctx) = self.cached_host(host_id) {
            return ctx;
        }
        let (groups, account) = tokio::join!(self.fresh_groups(host_id), self.account_locks());
        let ctx = self
            .host_context(host_id, groups, account.map_err(|e| e.to_string()))
            .await;
        self.remember_host(host_id, &ctx);
        ctx
    }

    /// The host's settings and locks from the cache, when read within [`HOST_CACHE_TTL`] and
    /// fully readable.
    fn cached_host(&self, host_id: &str) -> Option<HostContext> {
        let cache = self.host_cache.lock().ok()?;
        let (at, ctx) = cache.get(host_id)?;
        (at.elapsed() < host_cache_ttl(self.host_cache_base, host_id)).then(|| ctx.clone())
    }

    /// Remembers a host's settings and locks, when every part of them was read.
    fn remember_host(&self, host_id: &str, ctx: &HostContext) {
        let complete = ctx.settings.is_ok()
            && ctx.security.is_ok()
            && ctx.account_locks.is_ok()
            && ctx.groups.iter().all(|(_, l)| l.is_ok());
        if let Ok(mut cache) = self.host_cache.lock() {
            if complete {
                cache.insert(host_id.to_string(), (Instant::now(), ctx.clone()));
            } else {
                cache.remove(host_id);
            }
        }
    }

    /// Forgets a host's settings after chaperone wrote them, so the read-back reads them again.
    fn forget_host(&self, host_id: &str) {
        if let Ok(mut cache) = self.host_cache.lock() {
            cache.remove(host_id);
        }
    }

    async fn passcode_rules(&self, host_id: &str) -> Result<PasswordRequirement, PlatformError> {
        if let Some(r) = self
            .cached_host(host_id)
            .and_then(|c| c.security.ok())
            .and_then(|s| s.meeting_security.meeting_password_requirement)
        {
            return Ok(r);
        }
        let security = self.security_settings(host_id).await?;
        if let Some(r) = security.meeting_security.meeting_password_requirement {
            return Ok(r);
        }
        let settings = self.user_settings(host_id).await?;
        Ok(settings
            .schedule_meeting
            .meeting_password_requirement
            .unwrap_or_default())
    }
}

/// Runs `f` for each item with at most [`CONCURRENCY`] in flight, keeping input order.
async fn for_each<I, T, F, Fut>(inner: &Arc<Inner>, items: Vec<I>, f: F) -> Vec<T>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(Arc<Inner>, I) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    crate::platform::tasks::for_each_bounded(inner, CONCURRENCY, "Zoom", items, f).await
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
        collect_stream(&self.inner, window).instrument(span).await
    }

    async fn read_session(&self, session: &Session) -> Result<Session, PlatformError> {
        let span = tracing::info_span!("zoom.read_session", tenant = %self.inner.tenant, platform = "zoom", session = %session.id);
        async {
            let inner = &self.inner;
            let id = meeting_id(session)?;
            let m = inner.meeting(id).await?;
            let host_id = m
                .host_id
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| session.host.id.clone());
            let mut host = session.host.clone();
            if host.id.is_empty() {
                host.id = host_id.clone();
            }
            let ctx = inner.host_context_of(&host_id).await;
            if let Some(names) = ctx
                .groups
                .iter()
                .map(|(g, _)| (!g.id.is_empty()).then(|| g.name.clone()))
                .collect::<Option<Vec<_>>>()
            {
                host.groups = names;
            }
            // The occurrences judged on their own before are read on their own again: a fix is
            // proven on every occurrence it was meant for.
            let read_before: HashSet<&str> = session
                .occurrences
                .iter()
                .filter(|o| !o.readings.is_empty())
                .map(|o| o.id.as_str())
                .collect();
            let mut after = map::session(&m, &host, &ctx);
            inner
                .read_occurrences(id, &mut after, &ctx, |o| {
                    read_before.contains(o.id.as_str())
                })
                .await;
            Ok(after)
        }
        .instrument(span)
        .await
    }

    async fn fetch_session(&self, id: &str) -> Result<Option<Session>, PlatformError> {
        let span = tracing::info_span!("zoom.fetch_session", tenant = %self.inner.tenant, platform = "zoom", session = %id);
        async {
            let inner = &self.inner;
            let Ok(meeting_id) = id.trim().parse::<u64>() else {
                return Err(PlatformError::NotFound {
                    platform: PlatformKind::Zoom,
                    what: format!("`{id}` (not a Zoom meeting id)"),
                });
            };
            let m = match inner.meeting(meeting_id).await {
                Err(PlatformError::NotFound { .. }) => return Ok(None),
                other => other?,
            };
            let host_id = m.host_id.clone().unwrap_or_default();
            let (group_names, users) = inner.listed_directory().await?;
            let user = match users.into_iter().find(|u| u.id == host_id) {
                Some(u) => u,
                // A host created since the list was read: `GET /users/{userId}` (LIGHT).
                None => {
                    inner
                        .http
                        .get(
                            Label::Light,
                            format!("/users/{}", segment(&host_id)),
                            Vec::new(),
                        )
                        .await?
                }
            };
            let host = Inner::host_of(&user, &group_names);
            let ctx = inner.host_context_of(&host_id).await;
            let mut session = map::session(&m, &host, &ctx);
            let now = Utc::now();
            inner
                .read_occurrences(meeting_id, &mut session, &ctx, |o| {
                    occurs_in(o, now, now + OCCURRENCE_HORIZON)
                })
                .await;
            Ok(Some(session))
        }
        .instrument(span)
        .await
    }

    async fn directory(&self) -> Result<crate::platform::Directory, PlatformError> {
        let (group_names, users) = self.inner.listed_directory().await?;
        Ok(directory_of(&users, &group_names))
    }

    fn note_updates_today(&self, host: &Host, count: u32) {
        self.seed_daily_updates(&host.id, count);
    }

    fn rate_reports(&self) -> Vec<crate::platform::pacing::BudgetReport> {
        self.inner.http.rate_reports()
    }

    async fn apply(&self, session: &Session, changes: &[Change]) -> Result<Applied, PlatformError> {
        let span = tracing::info_span!("zoom.apply", tenant = %self.inner.tenant, platform = "zoom", session = %session.id);
        async { apply(&self.inner, session, changes).await }
            .instrument(span)
            .await
    }
}

/// Streams the collect: the lists every session hangs on are read first (without them no session
/// can be judged, so they fail the collect rather than leaving sessions silently out of scope),
/// then a task reads host by host and sends each host's sessions on as soon as they are mapped.
async fn collect_stream(
    inner: &Arc<Inner>,
    window: &Window,
) -> Result<CollectStream, PlatformError> {
    let group_names = Arc::new(inner.groups().await?);
    let users = inner.users().await?;
    inner.remember_directory(&group_names, &users);
    let directory = directory_of(&users, &group_names);

    // Locks above the hosts: every group's once, the account's once (MEDIUM each).
    let group_ids: Vec<String> = {
        let mut seen = HashSet::new();
        users
            .iter()
            .flat_map(|u| u.group_ids.iter().cloned())
            .filter(|g| seen.insert(g.clone()))
            .collect()
    };
    let account = inner.account_locks().await.map_err(|e| e.to_string());
    let group_locks: Arc<HashMap<String, Result<LockSettings, String>>> = Arc::new(
        for_each(inner, group_ids, |inner, id: String| async move {
            let locks = inner.group_locks(&id).await.map_err(|e| e.to_string());
            (id, locks)
        })
        .await
        .into_iter()
        .collect(),
    );

    // Host by host, a few hosts at a time: list the host's upcoming meetings (MEDIUM), read each
    // kept one (LIGHT), then the host's settings (MEDIUM), and map at once. The two budgets are
    // used side by side from the first list on, so a sweep runs close to its floor, and only
    // neutral sessions of the hosts in flight are in memory, never the raw answers.
    let window = *window;
    Ok(CollectStream::read_hosts(
        "Zoom",
        directory,
        Vec::new(),
        inner.clone(),
        CONCURRENCY,
        users,
        move |inner, user: User| {
            let group_names = group_names.clone();
            let group_locks = group_locks.clone();
            let account = account.clone();
            async move {
                let span = tracing::debug_span!("zoom.host", host = %user.email);
                collect_host(&inner, &user, &window, &group_names, &group_locks, account)
                    .instrument(span)
                    .await
            }
        },
    ))
}

/// One host's sessions in the window. A failure listing the host's meetings is that host's
/// [`CollectFailure`]; a meeting that cannot be read stays, as a session with `read_error`.
async fn collect_host(
    inner: &Arc<Inner>,
    user: &User,
    window: &Window,
    group_names: &HashMap<String, String>,
    group_locks: &HashMap<String, Result<LockSettings, String>>,
    account: Result<LockSettings, String>,
) -> Result<Vec<Session>, CollectFailure> {
    let items = inner.meetings_of(&user.id).await.map_err(|e| {
        tracing::warn!(host = %user.email, error = %e, "could not list a host's meetings");
        CollectFailure {
            what: format!("meetings of host {}", user.email),
            host_email: Some(user.email.clone()),
            error: e.to_string(),
        }
    })?;
    let mut kept = Vec::new();
    for item in items {
        let keep = map::keep(&item, window);
        if keep == Keep::No {
            continue;
        }
        let span = tracing::debug_span!("zoom.meeting", session = item.id);
        let result = inner.meeting(item.id).instrument(span).await;
        // Recurring meetings are kept only if an occurrence falls in the window.
        let keep_it = match (&result, keep) {
            (Ok(m), Keep::IfAnOccurrenceIs) => map::meeting_in_window(m, window),
            _ => true,
        };
        if keep_it {
            kept.push((item, result));
        }
    }
    if kept.is_empty() {
        return Ok(Vec::new());
    }
    let groups: Vec<GroupLocks> = user
        .group_ids
        .iter()
        .map(|g| {
            let group = Group {
                id: g.clone(),
                name: group_names.get(g).cloned().unwrap_or_else(|| g.clone()),
            };
            let locks = group_locks
                .get(g)
                .cloned()
                .unwrap_or_else(|| Err("not read".into()));
            (group, locks)
        })
        .collect();
    let ctx = inner.host_context(&user.id, groups, account).await;
    inner.remember_host(&user.id, &ctx);
    let host = Inner::host_of(user, group_names);
    let mut sessions = Vec::with_capacity(kept.len());
    for (item, result) in kept {
        sessions.push(match result {
            Ok(m) => {
                let mut session = map::session(&m, &host, &ctx);
                // Every occurrence in the window is judged on its own settings (LIGHT each).
                inner
                    .read_occurrences(m.id, &mut session, &ctx, |o| {
                        occurs_in(o, window.from, window.to)
                    })
                    .await;
                session
            }
            Err(e) => {
                tracing::warn!(session = item.id, error = %e, "could not read a meeting");
                map::unreadable_session(&item, &host, &e.to_string())
            }
        });
    }
    Ok(sessions)
}

/// Every user, lower-cased email → group names: the engine's "is this alternative host staff?".
fn directory_of(
    users: &[User],
    group_names: &HashMap<String, String>,
) -> crate::platform::Directory {
    users
        .iter()
        .map(|u| {
            (
                u.email.to_lowercase(),
                Inner::host_of(u, group_names).groups,
            )
        })
        .collect()
}

/// Removes from a host-settings PATCH body the leaves `current` already holds; true when nothing
/// is left to write.
fn drop_settled_host_fields(body: &mut serde_json::Value, current: &UserSettings) -> bool {
    use serde_json::Value;
    let held = |section: &str, key: &str| -> Option<Value> {
        match (section, key) {
            ("in_meeting", "who_can_share_screen") => current
                .in_meeting
                .who_can_share_screen
                .clone()
                .map(Value::String),
            ("in_meeting", "file_transfer") => current.in_meeting.file_transfer.map(Value::Bool),
            ("in_meeting", "auto_saving_chat") => {
                current.in_meeting.auto_saving_chat.map(Value::Bool)
            }
            ("in_meeting", "private_chat") => current.in_meeting.private_chat.map(Value::Bool),
            ("recording", "local_recording") => current.recording.local_recording.map(Value::Bool),
            _ => None,
        }
    };
    let Some(sections) = body.as_object_mut() else {
        return false;
    };
    for (section, leaves) in sections.iter_mut() {
        if let Some(leaves) = leaves.as_object_mut() {
            leaves.retain(|key, wanted| held(section, key).as_ref() != Some(wanted));
        }
    }
    sections.retain(|_, leaves| leaves.as_object().is_none_or(|l| !l.is_empty()));
    sections.is_empty()
}

/// Whether a change is written on the meeting.
fn is_meeting_change(c: &Change) -> bool {
    matches!(
        c.control,
        Control::Passcode
            | Control::WaitingRoom
            | Control::JoinBeforeHost
            | Control::LocalRecording
            | Control::CloudRecording
            | Control::SecondStaff
    )
}

async fn apply(
    inner: &Arc<Inner>,
    session: &Session,
    changes: &[Change],
) -> Result<Applied, PlatformError> {
    if changes.is_empty() {
        return Ok(Applied::default());
    }
    let id = meeting_id(session)?;
    // The freshest read before any write, always: a session that went live since the collect is
    // left alone (DESIGN: never change a session in progress; a new passcode would change the
    // join link of a live session). It also gives the values a change depends on: alternative
    // hosts are appended to what is there now, a passcode is only added where there is none now,
    // recording is set from its current mode, and a waiting room for everyone is never written
    // over with one for outsiders.
    let current = inner.meeting(id).await?;
    refuse_if_started(session, &current)?;
    let host_id = current
        .host_id
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| session.host.id.clone());
    let shown_host = if session.host.email.is_empty() {
        host_id.clone()
    } else {
        session.host.email.clone()
    };
    let new_passcode = if map::wants_new_passcode(session, &current, changes) {
        let rules = inner.passcode_rules(&host_id).await?;
        Some(
            passcode::generate(&rules).map_err(|e| PlatformError::Refused {
                platform: PlatformKind::Zoom,
                reason: format!(
                    "no passcode can meet the host's passcode rules ({}); fix the rules in Zoom's passcode settings",
                    e.0
                ),
            })?,
        )
    } else {
        None
    };
    let mut patches = map::plan(session, &current, changes, new_passcode);
    // What the series already holds is not written again (an occurrence may be the one that
    // differs).
    if let Some(body) = patches.meeting.as_mut()
        && map::drop_settled_meeting_fields(body, &current)
    {
        patches.meeting = None;
    }
    // Host settings are shared by all the host's sessions: when this run already wrote and read
    // them back, drop what that read shows is already as wanted (no second write per host). When
    // the cached read has expired (a host with many sessions in a long sweep), read them again
    // rather than write blind: the read costs what the write's read-back would, and the
    // read-back of this session then finds them cached.
    if let Some(body) = patches.host.as_mut()
        && let Ok(settings) = &inner.host_context_of(&host_id).await.settings
        && drop_settled_host_fields(body, settings)
    {
        patches.host = None;
    }
    for (control, why) in &patches.skipped {
        tracing::warn!(control = %control, reason = %why, "change not written");
    }
    let mut writes = 0u32;
    if let Some(body) = &patches.meeting {
        inner.reserve_update(&host_id, &shown_host)?;
        // Series level for recurring meetings: no `occurrence_id` (zoom.md §2.1, "Occurrence PATCH
        // limits": passcode and alternative hosts cannot be set per occurrence). ASSUMPTION: a
        // settings-only PATCH of a type-8 series needs no `recurrence` object.
        let controls: Vec<&str> = changes
            .iter()
            .filter(|c| is_meeting_change(c))
            .map(|c| c.control.name())
            .collect();
        let span = tracing::info_span!("zoom.patch_meeting", control = %controls.join(","));
        let result = inner
            .http
            .patch(
                Label::Light,
                format!("/meetings/{id}"),
                body,
                Some(&shown_host),
            )
            .instrument(span)
            .await;
        match result {
            Ok(()) => writes += 1,
            Err(e @ PlatformError::DailyBudgetExhausted { .. }) => {
                return Err(budget_or(inner, &host_id, e));
            }
            Err(PlatformError::Api { status: 404, .. }) => {
                return Err(PlatformError::NotFound {
                    platform: PlatformKind::Zoom,
                    what: format!("Zoom meeting {id}"),
                });
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(body) = &patches.host {
        let controls: Vec<&str> = changes
            .iter()
            .filter(|c| !is_meeting_change(c) || c.control == Control::LocalRecording)
            .map(|c| c.control.name())
            .collect();
        let span = tracing::info_span!("zoom.patch_host", control = %controls.join(","));
        // `PATCH /users/{userId}/settings` → 204 (users.openapi.json, MEDIUM).
        let result = inner
            .http
            .patch(
                Label::Medium,
                format!("/users/{}/settings", segment(&host_id)),
                body,
                None,
            )
            .instrument(span)
            .await;
        // Whatever the answer, the cached settings may no longer be what Zoom holds.
        inner.forget_host(&host_id);
        match result {
            Ok(()) => writes += 1,
            // The meeting was written: it is still read back and recorded.
            Err(e) if writes > 0 => {
                return Ok(Applied {
                    write_requests: writes,
                    stopped: Some(e),
                });
            }
            Err(e) => return Err(e),
        }
    }
    let (occurrence_writes, stopped) =
        apply_to_occurrences(inner, session, id, changes, &host_id, &shown_host).await;
    writes += occurrence_writes;
    match stopped {
        // Nothing was written: the error is the apply's.
        Some(e) if writes == 0 => Err(e),
        stopped => Ok(Applied {
            write_requests: writes,
            stopped,
        }),
    }
}

/// Refuses to write when the freshest read shows the meeting live though the plan was made on a
/// snapshot where it was not. A session that was live at the collect was planned for only when
/// the profile allows changing a session in progress.
fn refuse_if_started(session: &Session, current: &Meeting) -> Result<(), PlatformError> {
    if current.status.as_deref() == Some("started") && !session.in_progress {
        return Err(PlatformError::StartedDuringRun {
            platform: PlatformKind::Zoom,
            what: format!("Zoom meeting {}", session.id),
        });
    }
    Ok(())
}

/// Writes the per-occurrence controls on each occurrence read on its own whose snapshot differs
/// from what the changes want: Zoom keeps them per occurrence, and a series write is not known to
/// reach an occurrence with its own value (ASSUMPTION, see docs: the spec does not say; the
/// read-back of each occurrence decides). Each occurrence is read just before its write (live
/// meetings are left alone, settled values are not written) and each write counts against the
/// host's daily budget. Returns the writes made, and why it stopped early if it did.
async fn apply_to_occurrences(
    inner: &Arc<Inner>,
    session: &Session,
    id: u64,
    changes: &[Change],
    host_id: &str,
    shown_host: &str,
) -> (u32, Option<PlatformError>) {
    let mut writes = 0;
    let stopped = write_occurrences(
        inner,
        session,
        id,
        changes,
        host_id,
        shown_host,
        &mut writes,
    )
    .await
    .err();
    (writes, stopped)
}

async fn write_occurrences(
    inner: &Arc<Inner>,
    session: &Session,
    id: u64,
    changes: &[Change],
    host_id: &str,
    shown_host: &str,
    writes: &mut u32,
) -> Result<(), PlatformError> {
    let per_occurrence: Vec<Change> = changes
        .iter()
        .filter(|c| map::OCCURRENCE_CONTROLS.contains(&c.control))
        .cloned()
        .collect();
    if per_occurrence.is_empty() {
        return Ok(());
    }
    for o in session
        .occurrences
        .iter()
        .filter(|o| differs_from_changes(o, &per_occurrence))
    {
        let current = inner.occurrence(id, &o.id).await?;
        refuse_if_started(session, &current)?;
        let Some(mut body) = map::plan(session, &current, &per_occurrence, None)
            .meeting
            .as_ref()
            .and_then(map::occurrence_body)
        else {
            continue;
        };
        if map::drop_settled_meeting_fields(&mut body, &current) {
            continue;
        }
        inner.reserve_update(host_id, shown_host)?;
        let span = tracing::info_span!("zoom.patch_occurrence", occurrence = %o.id);
        let result = inner
            .http
            .send(http::Request {
                method: reqwest::Method::PATCH,
                label: Label::Light,
                path: format!("/meetings/{id}"),
                query: vec![("occurrence_id", o.id.clone())],
                body: Some(&body),
                budget_host: Some(shown_host),
            })
            .instrument(span)
            .await;
        match result {
            Ok(_) => *writes += 1,
            Err(e) => return Err(budget_or(inner, host_id, e)),
        }
    }
    Ok(())
}

/// A meeting write's error, with a daily-budget answer from Zoom also remembered by the adapter
/// (no more writes for the host today) and given the limit in force.
fn budget_or(inner: &Inner, host_id: &str, e: PlatformError) -> PlatformError {
    match e {
        PlatformError::DailyBudgetExhausted {
            host,
            limit,
            platform_said,
        } => {
            inner.exhaust_budget(host_id);
            PlatformError::DailyBudgetExhausted {
                host,
                limit: if limit == 0 { inner.daily_limit } else { limit },
                platform_said,
            }
        }
        other => other,
    }
}

/// Whether an occurrence read on its own has a per-occurrence control other than the changes
/// want.
fn differs_from_changes(o: &Occurrence, changes: &[Change]) -> bool {
    changes
        .iter()
        .any(|c| match (&c.to, o.readings.get(&c.control)) {
            (crate::platform::Target::Level { level }, Some(Reading::Value { level: now, .. })) => {
                now != level
            }
            _ => false,
        })
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

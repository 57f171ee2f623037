//! The Microsoft Teams adapter: reads an organisation's Teams meetings through Microsoft Graph
//! v1.0 into neutral [`Session`]s, writes the changes the engine planned in one PATCH per
//! meeting, and reads back.
//!
//! Layout as for Zoom: [`models`] (serde types per the Graph CSDL), [`auth`] (client-credentials
//! token cache, secret or certificate), [`http`] (pace, per-mailbox concurrency, retries, Graph's
//! error code and message), [`map`] (pure Graph ⇄ neutral mapping), [`notifications`] (change
//! notifications for `chaperone serve`). Graph facts cite `shared/research/teams-webex-meet.md`
//! (§ numbers) or `shared/specs/teams/`.
//!
//! Graph has no list of a tenant's online meetings (§1.1), so a collect goes:
//! 1. `GET /groups/{staff_group_id}/members`: the organizers (paged by `@odata.nextLink`);
//! 2. per organizer, `GET /users/{id}/memberOf` (their group names, for profiles and the engine's
//!    "is this co-organizer staff?") and `GET /users/{id}/calendarView` over the window: the Teams
//!    meetings they organise (`isOnlineMeeting`, `onlineMeetingProvider = teamsForBusiness`,
//!    `isOrganizer`);
//! 3. per distinct join URL (a series shares one, §1.1), `GET /users/{id}/onlineMeetings?$filter=
//!    JoinWebUrl eq '…'`: the meeting and its settings.
//!
//! Call budget for `N` organizers with `M` distinct meetings: `1 + N` member/memberOf pages,
//! `N` calendarView pages (more for busy calendars), `M` meeting lookups; a fixed session costs a
//! fresh GET, a calendarView of the present second (has it gone live since the collect?), one
//! PATCH and a read-back GET. A co-organizer outside the staff group costs one `GET /users/{id}`
//! per run.

mod auth;
mod http;
mod map;
mod models;
pub mod notifications;
pub mod sim;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use tokio::task::JoinSet;
use tracing::Instrument;

use self::auth::{Credential, Thumbprint, TokenCache};
use self::http::Http;
use self::map::NewCoOrganizer;
use self::models::{DirectoryObject, Event, OnlineMeeting};
use crate::control::Control;
use crate::platform::{
    Applied, Change, CollectFailure, CollectStream, Collected, Directory, Platform, PlatformError,
    Target, Window,
};
use crate::session::{Host, Occurrence, PlatformKind, Session};
use crate::settings::{SecretSource, SettingsError, resolve_secret};

pub use self::auth::BadThumbprint;

/// A Microsoft Entra app registration of the organisation's tenant, with the Graph permissions
/// and the Teams application access policy described in docs/teams.md.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSettings {
    /// The Entra tenant (directory) id, a GUID (or a verified domain).
    pub tenant_id: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    /// A client secret of the app. Prefer `client_secret_env`, `client_secret_file` or a
    /// certificate to writing it here.
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// The name of an environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A file holding the client secret (trailing newline ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The PEM file (PKCS#8 or PKCS#1 RSA private key) of a certificate uploaded to the app
    /// registration: chaperone signs a client assertion with it instead of sending a secret.
    #[serde(default)]
    pub certificate_key_file: Option<PathBuf>,
    /// That certificate's thumbprint in hex: SHA-1 (as the Entra portal shows) or SHA-256.
    #[serde(default)]
    pub certificate_thumbprint: Option<String>,
    /// The Entra group whose members organise youth sessions: their calendars are read.
    pub staff_group_id: String,
    /// Graph's base URL. National clouds use other hosts (`https://graph.microsoft.us/v1.0`,
    /// `https://microsoftgraph.chinacloudapi.cn/v1.0`).
    #[serde(default = "default_graph_base")]
    pub graph_base_url: String,
    /// The token URL; default `https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The token scope; default `https://graph.microsoft.com/.default` (national clouds differ).
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Requests per second chaperone allows itself for the whole tenant. ASSUMPTION: 50/s stays
    /// far inside Graph's app limit (130,000 per 10 s) and Outlook's per-mailbox limit (10,000
    /// per 10 minutes) for sweeps that spread over many mailboxes (§1.6).
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// Requests in flight at once per mailbox; Outlook allows 4 (§1.6), which is also the maximum.
    #[serde(default = "default_per_mailbox")]
    pub max_concurrent_per_mailbox: usize,
    /// Seconds before a request is abandoned.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// How long a run may take when Graph allows less than `requests_per_second` (other apps of
    /// the tenant share its limits): past it, requests still throttled fail with an error that
    /// says what rate Graph allowed (src/platform/pacing.rs). Default 6 hours.
    #[serde(default = "default_run_deadline")]
    pub run_deadline_secs: u64,
    /// Change notifications for `chaperone serve` (see [`notifications`]).
    #[serde(default)]
    pub change_notifications: Option<notifications::NotificationSettings>,
}

fn default_graph_base() -> String {
    "https://graph.microsoft.com/v1.0".into()
}
fn default_scope() -> String {
    "https://graph.microsoft.com/.default".into()
}
fn default_rps() -> u32 {
    50
}
fn default_run_deadline() -> u64 {
    crate::platform::pacing::DEFAULT_RUN_DEADLINE.as_secs()
}
fn default_per_mailbox() -> usize {
    4
}
fn default_timeout() -> u64 {
    30
}

impl TeamsSettings {
    /// The token URL: the setting, else the worldwide Entra endpoint of the tenant (§1.4).
    pub fn token_url(&self) -> String {
        self.token_url.clone().unwrap_or_else(|| {
            format!(
                "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                self.tenant_id
            )
        })
    }
}

/// The Teams settings of a tenant cannot be used; the message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum TeamsSetupError {
    /// Boxed: `SettingsError` carries the config crate's large error.
    #[error(transparent)]
    Settings(Box<SettingsError>),
    #[error(
        "tenant `{tenant}`: [tenants.teams] needs exactly one way to sign in: one of `client_secret`, `client_secret_env`, `client_secret_file`, or `certificate_key_file` with `certificate_thumbprint`"
    )]
    Credentials { tenant: String },
    #[error("tenant `{tenant}`: {source}")]
    Thumbprint {
        tenant: String,
        #[source]
        source: BadThumbprint,
    },
    #[error(
        "tenant `{tenant}`: could not use the certificate key {path}: {message}. It must be the PEM RSA private key of the certificate uploaded to the app registration"
    )]
    Key {
        tenant: String,
        path: PathBuf,
        message: String,
    },
    #[error("tenant `{tenant}`: `{what}` is not a URL: {value}")]
    Url {
        tenant: String,
        what: &'static str,
        value: String,
    },
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl From<SettingsError> for TeamsSetupError {
    fn from(e: SettingsError) -> Self {
        TeamsSetupError::Settings(Box::new(e))
    }
}

/// How long the staff group and its members' groups are trusted for a single-session read (a
/// webhook) before they are read again. A sweep always reads them afresh.
const DIRECTORY_TTL: Duration = Duration::from_secs(600);

/// Organizers worked on at once during a collect (each is further held to the per-mailbox limit).
const CONCURRENCY: usize = 16;

/// Page size asked for calendarView (`Prefer: odata.maxpagesize`, §1.1).
const CALENDAR_PAGE: &str = "odata.maxpagesize=50";

/// A staff-group member, with the names of their groups.
#[derive(Debug, Clone)]
struct Member {
    id: String,
    email: String,
    name: String,
    groups: Vec<String>,
}

impl Member {
    fn host(&self) -> Host {
        Host {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            groups: self.groups.clone(),
        }
    }
}

#[derive(Default)]
struct DirectoryCache {
    members: Vec<Member>,
    listed_at: Option<Instant>,
}

/// The Teams adapter of one tenant (one Entra app registration).
#[derive(Clone)]
pub struct TeamsPlatform {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TeamsPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsPlatform")
            .field("tenant", &self.inner.tenant)
            .field("http", &self.inner.http)
            .finish_non_exhaustive()
    }
}

struct Inner {
    tenant: String,
    http: Http,
    staff_group_id: String,
    directory: Mutex<DirectoryCache>,
    /// People looked up to be added as co-organizer (a duty officer outside the staff group),
    /// by lower-cased email: looked up once per run, not once per meeting. `None` = no such user.
    /// Emptied whenever the staff group is read again (every sweep starts with that read).
    people: Mutex<HashMap<String, PersonSlot>>,
}

/// One person's lookup, shared by every meeting of a run that adds them (concurrent applies
/// wait for the first lookup instead of each sending their own).
type PersonSlot = Arc<tokio::sync::OnceCell<Option<NewCoOrganizer>>>;

fn read_key(
    tenant: &str,
    path: &std::path::Path,
) -> Result<jsonwebtoken::EncodingKey, TeamsSetupError> {
    let key_error = |message: String| TeamsSetupError::Key {
        tenant: tenant.to_string(),
        path: path.to_path_buf(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| key_error(e.to_string()))?;
    // The parse error says nothing of the key's content.
    jsonwebtoken::EncodingKey::from_rsa_pem(&pem).map_err(|e| key_error(e.to_string()))
}

impl TeamsPlatform {
    /// Builds the adapter from settings: reads the secret (value, environment variable or file)
    /// or the certificate key. No request is made until the first call.
    pub fn from_settings(
        tenant: &str,
        settings: &TeamsSettings,
    ) -> Result<TeamsPlatform, TeamsSetupError> {
        Self::from_settings_with(tenant, settings, |name| std::env::var(name).ok())
    }

    /// [`TeamsPlatform::from_settings`] with the environment lookup passed in (for tests).
    pub fn from_settings_with(
        tenant: &str,
        settings: &TeamsSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<TeamsPlatform, TeamsSetupError> {
        let secrets = [
            settings.client_secret.is_some(),
            settings.client_secret_env.is_some(),
            settings.client_secret_file.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        let certificate = (
            &settings.certificate_key_file,
            &settings.certificate_thumbprint,
        );
        let credential = match (secrets, certificate) {
            (1, (None, None)) => Credential::Secret(resolve_secret(
                tenant,
                "teams",
                SecretSource {
                    value: settings.client_secret.as_ref(),
                    env_name: settings.client_secret_env.as_deref(),
                    file: settings.client_secret_file.as_deref(),
                },
                env,
            )?),
            (0, (Some(path), Some(thumbprint))) => Credential::Certificate {
                key: read_key(tenant, path)?,
                thumbprint: Thumbprint::from_hex(thumbprint).map_err(|source| {
                    TeamsSetupError::Thumbprint {
                        tenant: tenant.to_string(),
                        source,
                    }
                })?,
            },
            _ => {
                return Err(TeamsSetupError::Credentials {
                    tenant: tenant.to_string(),
                });
            }
        };
        let token_url = settings.token_url();
        for (what, value) in [
            ("graph_base_url", &settings.graph_base_url),
            ("token_url", &token_url),
        ] {
            if url::Url::parse(value).is_err() {
                return Err(TeamsSetupError::Url {
                    tenant: tenant.to_string(),
                    what,
                    value: value.clone(),
                });
            }
        }
        let auth = TokenCache::new(&token_url, &settings.client_id, &settings.scope, credential);
        let http = Http::new(
            &settings.graph_base_url,
            auth,
            settings.requests_per_second,
            settings.max_concurrent_per_mailbox,
            Duration::from_secs(settings.timeout_secs.max(1)),
        )?
        .with_run_deadline(Duration::from_secs(settings.run_deadline_secs.max(1)));
        Ok(TeamsPlatform {
            inner: Arc::new(Inner {
                tenant: tenant.to_string(),
                http,
                staff_group_id: settings.staff_group_id.clone(),
                directory: Mutex::new(DirectoryCache::default()),
                people: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Write requests this client has sent (every PATCH/POST on the wire, retries included).
    pub fn write_requests(&self) -> u64 {
        self.inner.http.writes()
    }

    /// Tokens fetched so far (for tests: a revoked token is replaced exactly once).
    pub fn tokens_fetched(&self) -> u64 {
        self.inner.http.auth.fetches()
    }

    /// Shortens the retry waits (for tests of throttling and faults).
    #[doc(hidden)]
    pub fn with_fast_retries(self) -> TeamsPlatform {
        // Only possible before the adapter is shared: tests build it and call this at once.
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.http.policy.backoff = Duration::from_millis(20);
                TeamsPlatform {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => TeamsPlatform { inner },
        }
    }
}

/// The adapter of a tenant as the sweep takes it.
pub fn teams_platform(
    tenant: &str,
    settings: &TeamsSettings,
) -> Result<Arc<dyn Platform>, TeamsSetupError> {
    Ok(Arc::new(TeamsPlatform::from_settings(tenant, settings)?))
}

/// Percent-encodes one path segment (object ids are GUIDs; an email may be used as a user id).
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// An OData string literal: `'` doubled (§1.1).
fn odata_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Inner {
    /// `GET /groups/{id}/members` (users only), every page.
    async fn staff_members(&self) -> Result<Vec<DirectoryObject>, PlatformError> {
        let members: Vec<DirectoryObject> = self
            .http
            .pages(
                &format!("/groups/{}/members", segment(&self.staff_group_id)),
                vec![(
                    "$select",
                    "id,displayName,mail,userPrincipalName".to_string(),
                )],
                None,
                None,
            )
            .await?;
        Ok(members.into_iter().filter(|m| m.is_user()).collect())
    }

    /// `GET /users/{id}/memberOf` → the names of the user's groups.
    async fn group_names(&self, user_id: &str) -> Result<Vec<String>, PlatformError> {
        let objects: Vec<DirectoryObject> = self
            .http
            .pages(
                &format!("/users/{}/memberOf", segment(user_id)),
                vec![("$select", "id,displayName".to_string())],
                None,
                None,
            )
            .await?;
        Ok(objects
            .into_iter()
            .filter(DirectoryObject::is_group)
            .filter_map(|g| g.display_name)
            .collect())
    }

    /// `GET /users/{id}/calendarView?startDateTime&endDateTime` (§1.1), every page.
    async fn calendar(&self, user_id: &str, window: &Window) -> Result<Vec<Event>, PlatformError> {
        let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        self.http
            .pages(
                &format!("/users/{}/calendarView", segment(user_id)),
                vec![
                    ("startDateTime", fmt(window.from)),
                    ("endDateTime", fmt(window.to)),
                    (
                        "$select",
                        "subject,start,end,isOrganizer,isOnlineMeeting,onlineMeetingProvider,onlineMeeting,isCancelled,seriesMasterId,type".to_string(),
                    ),
                ],
                Some(user_id),
                Some(CALENDAR_PAGE),
            )
            .await
    }

    /// `GET /users/{id}/onlineMeetings?$filter=JoinWebUrl eq '…'` (§1.1): exactly one meeting.
    async fn meeting_by_join_url(
        &self,
        user_id: &str,
        join_url: &str,
    ) -> Result<OnlineMeeting, PlatformError> {
        let path = format!("/users/{}/onlineMeetings", segment(user_id));
        // ASSUMPTION: the literal is the join URL as the event gives it; reqwest encodes the
        // whole query value once, which is the "URL-encoded" form of the docs' example.
        let page: models::Page<OnlineMeeting> = self
            .http
            .get(
                path.clone(),
                vec![(
                    "$filter",
                    format!("JoinWebUrl eq {}", odata_literal(join_url)),
                )],
                Some(user_id),
            )
            .await?;
        page.value
            .into_iter()
            .next()
            .ok_or_else(|| PlatformError::NotFound {
                platform: PlatformKind::Teams,
                what: "the online meeting of a calendar event (no meeting has its join URL)".into(),
            })
    }

    /// `GET /users/{id}/onlineMeetings/{meetingId}`; 404 becomes `NotFound`.
    async fn meeting(&self, user_id: &str, id: &str) -> Result<OnlineMeeting, PlatformError> {
        let path = format!("/users/{}/onlineMeetings/{}", segment(user_id), segment(id));
        match self.http.get(path, Vec::new(), Some(user_id)).await {
            Err(PlatformError::Api { status: 404, .. }) => Err(PlatformError::NotFound {
                platform: PlatformKind::Teams,
                what: format!("Teams meeting {id}"),
            }),
            other => other,
        }
    }

    /// Whether the meeting is live at this moment, from fresh reads: Graph's onlineMeeting has no
    /// status (CSDL `onlineMeetingBase`/`onlineMeeting`), so a meeting is live when now is within
    /// one of its calendar occurrences, read again here (`calendarView` over this instant, §1.1:
    /// an occurrence moved since the collect is seen), or, for a one-off meeting, within the
    /// meeting's own `startDateTime`/`endDateTime`.
    ///
    /// ASSUMPTIONS (docs/teams.md §8): a meeting is live exactly between its scheduled start and
    /// end (Graph cannot tell whether anyone has joined, or whether a meeting ran over); a
    /// series is live only through an occurrence, since its onlineMeeting's own times are not
    /// documented for recurring meetings; an event's `onlineMeeting.joinUrl` and the meeting's
    /// `joinWebUrl` are the same text, up to the case of percent escapes.
    async fn live_now(
        &self,
        session: &Session,
        current: &OnlineMeeting,
    ) -> Result<bool, PlatformError> {
        let now = Utc::now();
        let around_now = Window {
            from: now - chrono::Duration::seconds(1),
            to: now + chrono::Duration::seconds(1),
        };
        let events = self.calendar(&session.host.id, &around_now).await?;
        let join_urls: Vec<&str> = [current.join_web_url.as_deref(), session.join_url.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let own: Vec<&Event> = events
            .iter()
            .filter(|e| map::is_own_teams_meeting(e))
            .filter(|e| {
                e.online_meeting
                    .as_ref()
                    .and_then(|o| o.join_url.as_deref())
                    .is_some_and(|u| join_urls.iter().any(|j| j.eq_ignore_ascii_case(u)))
            })
            .collect();
        let live = |o: &Occurrence| {
            o.start <= now
                && now < o.start + chrono::Duration::minutes(i64::from(o.duration_minutes))
        };
        if map::occurrences(&own).iter().any(live) {
            return Ok(true);
        }
        if session.occurrences.len() > 1 {
            return Ok(false);
        }
        Ok(map::session(current, &session.host, None, Vec::new(), now).in_progress)
    }

    /// The staff group with each member's groups. A member whose groups cannot be read keeps an
    /// empty list and is reported as a failure (profiles may still select by topic tag).
    async fn list_directory(
        self: &Arc<Self>,
    ) -> Result<(Vec<Member>, Vec<CollectFailure>), PlatformError> {
        let objects = self.staff_members().await?;
        let results = for_each(self, objects, |inner, o: DirectoryObject| async move {
            let groups = inner.group_names(&o.id).await;
            (o, groups)
        })
        .await;
        let mut members = Vec::with_capacity(results.len());
        let mut failures = Vec::new();
        for (o, groups) in results {
            let email = o.email();
            let groups = groups.unwrap_or_else(|e| {
                failures.push(CollectFailure {
                    what: format!("groups of organizer {email}"),
                    host_email: Some(email.clone()),
                    error: e.to_string(),
                });
                Vec::new()
            });
            members.push(Member {
                name: o.display_name.clone().unwrap_or_else(|| email.clone()),
                id: o.id,
                email,
                groups,
            });
        }
        if let Ok(mut d) = self.directory.lock() {
            d.members = members.clone();
            d.listed_at = Some(Instant::now());
        }
        if let Ok(mut people) = self.people.lock() {
            people.clear();
        }
        Ok((members, failures))
    }

    /// The staff group from the last read when recent, else read again.
    async fn members(self: &Arc<Self>) -> Result<Vec<Member>, PlatformError> {
        if let Ok(d) = self.directory.lock()
            && d.listed_at.is_some_and(|at| at.elapsed() < DIRECTORY_TTL)
        {
            return Ok(d.members.clone());
        }
        Ok(self.list_directory().await?.0)
    }

    /// The person to add as co-organizer: from the staff group, else `GET /users/{email}`
    /// (once per run); `None` when the tenant has no such user.
    async fn person(
        self: &Arc<Self>,
        email: &str,
    ) -> Result<Option<NewCoOrganizer>, PlatformError> {
        if let Some(m) = self
            .members()
            .await?
            .into_iter()
            .find(|m| m.email.eq_ignore_ascii_case(email))
        {
            return Ok(Some(NewCoOrganizer {
                email: m.email,
                user_id: m.id,
                display_name: Some(m.name),
            }));
        }
        let slot: PersonSlot = match self.people.lock() {
            Ok(mut people) => people.entry(email.to_lowercase()).or_default().clone(),
            Err(_) => PersonSlot::default(),
        };
        // Only an answer is kept (the user, or "no such user"): a failed lookup is tried again.
        let found = slot.get_or_try_init(|| self.look_up_person(email)).await?;
        Ok(found.clone())
    }

    /// `GET /users/{email}`: the person's object id; `None` when Graph has no such user.
    async fn look_up_person(&self, email: &str) -> Result<Option<NewCoOrganizer>, PlatformError> {
        let found: Result<DirectoryObject, PlatformError> = self
            .http
            .get(
                format!("/users/{}", segment(email)),
                vec![(
                    "$select",
                    "id,displayName,mail,userPrincipalName".to_string(),
                )],
                None,
            )
            .await;
        match found {
            Ok(o) => Ok(Some(NewCoOrganizer {
                email: email.to_lowercase(),
                user_id: o.id,
                display_name: o.display_name,
            })),
            Err(PlatformError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn directory_of(members: &[Member]) -> Directory {
    members
        .iter()
        .map(|m| (m.email.to_lowercase(), m.groups.clone()))
        .collect()
}

/// Runs `f` for each item with at most [`CONCURRENCY`] in flight, keeping input order.
async fn for_each<I, T, F, Fut>(inner: &Arc<Inner>, items: Vec<I>, f: F) -> Vec<T>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(Arc<Inner>, I) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    crate::platform::tasks::for_each_bounded(inner, CONCURRENCY, "Teams", items, f).await
}

/// The meetings one organizer organises in the window, one entry per join URL.
struct Found {
    join_url: String,
    topic: String,
    first_event: String,
    occurrences: Vec<Occurrence>,
}

fn group_events(events: &[Event]) -> Vec<Found> {
    let mut by_url: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events.iter().filter(|e| map::is_own_teams_meeting(e)) {
        if let Some(url) = e
            .online_meeting
            .as_ref()
            .and_then(|o| o.join_url.as_deref())
        {
            by_url.entry(url).or_default().push(e);
        }
    }
    let mut found: Vec<Found> = by_url
        .into_iter()
        .map(|(url, events)| Found {
            join_url: url.to_string(),
            topic: events
                .iter()
                .find_map(|e| e.subject.clone())
                .unwrap_or_default(),
            first_event: events
                .iter()
                .find_map(|e| e.series_master_id.clone())
                .or_else(|| events.first().map(|e| e.id.clone()))
                .unwrap_or_default(),
            occurrences: map::occurrences(&events),
        })
        .collect();
    found.sort_by_key(|f| f.occurrences.first().map(|o| o.start));
    found
}

/// Streams the collect: the organizers are listed first (without them nothing can be judged, so
/// that failure fails the collect rather than leaving every session silently out of scope), then
/// a task reads organizer by organizer and sends each one's sessions on as soon as they are
/// mapped, so a sweep holds only the organizers in flight, not the tenant.
async fn collect_stream(
    inner: &Arc<Inner>,
    window: &Window,
) -> Result<CollectStream, PlatformError> {
    let (members, failures) = inner.list_directory().await?;
    let directory = directory_of(&members);
    let window = *window;
    Ok(CollectStream::read_hosts(
        "Teams",
        directory,
        failures,
        inner.clone(),
        CONCURRENCY,
        members,
        move |inner, m: Member| {
            let span = tracing::info_span!("teams.organizer", host = %m.email);
            collect_organizer(inner, m, window).instrument(span)
        },
    ))
}

/// One organizer's sessions in the window. A calendar that cannot be read is that organizer's
/// [`CollectFailure`]; a meeting that cannot be looked up stays, as a session with `read_error`.
async fn collect_organizer(
    inner: Arc<Inner>,
    m: Member,
    window: Window,
) -> Result<Vec<Session>, CollectFailure> {
    let events = inner.calendar(&m.id, &window).await.map_err(|e| {
        tracing::warn!(host = %m.email, error = %e, "could not read an organizer's calendar");
        CollectFailure {
            what: format!("calendar of organizer {}", m.email),
            host_email: Some(m.email.clone()),
            error: e.to_string(),
        }
    })?;
    // An organizer's meetings are looked up together: the per-mailbox semaphore in `Http` keeps
    // them to `max_concurrent_per_mailbox` in flight (§1.6).
    let mut lookups = JoinSet::new();
    for (i, found) in group_events(&events).into_iter().enumerate() {
        let inner = inner.clone();
        let host = m.host();
        lookups.spawn(
            async move {
                let result = inner.meeting_by_join_url(&host.id, &found.join_url).await;
                let session = match result {
                    Ok(meeting) => map::session(
                        &meeting,
                        &host,
                        Some(&found.topic),
                        found.occurrences,
                        Utc::now(),
                    ),
                    Err(e) => {
                        tracing::warn!(topic = %crate::report::printable(&found.topic), error = %e, "could not read a meeting");
                        map::unreadable_session(
                            &format!("event:{}", found.first_event),
                            &host,
                            &found.topic,
                            Some(&found.join_url),
                            found.occurrences,
                            &e.to_string(),
                        )
                    }
                };
                (i, session)
            }
            .in_current_span(),
        );
    }
    let mut sessions: Vec<(usize, Session)> = Vec::new();
    while let Some(joined) = lookups.join_next().await {
        match joined {
            Ok(done) => sessions.push(done),
            // A lookup that panicked (a bug) would leave its session silently out: the
            // organizer's task panics too, and the collect is reported as stopped early.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => tracing::error!(error = %e, "a Teams lookup was cancelled"),
        }
    }
    sessions.sort_by_key(|(i, _)| *i);
    Ok(sessions.into_iter().map(|(_, s)| s).collect())
}

/// The occurrences a session was collected with, so a read-back judges the same times.
fn occurrences_of(session: &Session) -> Vec<Occurrence> {
    if !session.occurrences.is_empty() {
        return session.occurrences.clone();
    }
    session
        .start
        .map(|start| {
            vec![Occurrence {
                id: session.id.clone(),
                start,
                duration_minutes: session.duration_minutes,
                readings: Default::default(),
            }]
        })
        .unwrap_or_default()
}

/// A session id that names a meeting (not a calendar event whose meeting could not be read).
fn meeting_id(session: &Session) -> Result<&str, PlatformError> {
    if session.id.is_empty() || session.id.starts_with("event:") {
        return Err(PlatformError::NotFound {
            platform: PlatformKind::Teams,
            what: format!(
                "the online meeting of \"{}\" (it could not be read at collect)",
                session.topic
            ),
        });
    }
    Ok(&session.id)
}

/// A Graph change-notification resource, `Users/{userId}/Events/{eventId}` (§1.5).
fn event_resource(id: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [u, user, e, event]
            if u.eq_ignore_ascii_case("users") && e.eq_ignore_ascii_case("events") =>
        {
            Some((user, event))
        }
        _ => None,
    }
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
    let organizer = &session.host.id;
    // A fresh read: the attendee list is sent back whole, and nothing is written that the
    // meeting already meets (or that would loosen it).
    let current = inner.meeting(organizer, id).await?;
    // "In progress" is judged on this fresh read, not on the collect: a meeting that started
    // since is left alone (a profile that allows changing a live session planned this write
    // knowing the session was live, and `session.in_progress` says so).
    if !session.in_progress && inner.live_now(session, &current).await? {
        return Err(PlatformError::StartedDuringRun {
            platform: PlatformKind::Teams,
            what: format!("Teams meeting \"{}\"", session.topic),
        });
    }
    let person = match changes.iter().find_map(|c| match &c.to {
        Target::AddCoHost { email } => Some(email),
        Target::Level { .. } => None,
    }) {
        Some(email) => Some(
            inner
                .person(email)
                .await?
                .ok_or_else(|| PlatformError::NotFound {
                    platform: PlatformKind::Teams,
                    what: format!("the user {email} (to add as co-organizer)"),
                })?,
        ),
        None => None,
    };
    let patch = map::plan(&current, changes, person.as_ref());
    for (control, why) in &patch.skipped {
        tracing::warn!(control = %control, reason = %why, "change not written");
    }
    let Some(body) = patch.body else {
        return Ok(Applied::default());
    };
    let controls: Vec<&str> = changes
        .iter()
        .filter(|c| c.control != Control::Passcode)
        .map(|c| c.control.name())
        .collect();
    let span = tracing::info_span!("teams.patch_meeting", control = %controls.join(","));
    let path = format!(
        "/users/{}/onlineMeetings/{}",
        segment(organizer),
        segment(id)
    );
    match inner
        .http
        .write(Method::PATCH, path, &body, Some(organizer))
        .instrument(span)
        .await
    {
        Ok(_) => Ok(Applied {
            write_requests: 1,
            ..Applied::default()
        }),
        Err(PlatformError::Api { status: 404, .. }) => Err(PlatformError::NotFound {
            platform: PlatformKind::Teams,
            what: format!("Teams meeting \"{}\"", session.topic),
        }),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl Platform for TeamsPlatform {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Teams
    }

    fn rate_reports(&self) -> Vec<crate::platform::pacing::BudgetReport> {
        self.inner.http.rate_reports()
    }

    async fn collect(&self, window: &Window) -> Result<Collected, PlatformError> {
        Ok(self.collect_stream(window).await?.drain().await)
    }

    async fn collect_stream(&self, window: &Window) -> Result<CollectStream, PlatformError> {
        let span =
            tracing::info_span!("teams.collect", tenant = %self.inner.tenant, platform = "teams");
        collect_stream(&self.inner, window).instrument(span).await
    }

    async fn read_session(&self, session: &Session) -> Result<Session, PlatformError> {
        let span = tracing::info_span!("teams.read_session", tenant = %self.inner.tenant, platform = "teams", session = %session.id);
        async {
            let id = meeting_id(session)?;
            let m = self.inner.meeting(&session.host.id, id).await?;
            Ok(map::session(
                &m,
                &session.host,
                Some(&session.topic),
                occurrences_of(session),
                Utc::now(),
            ))
        }
        .instrument(span)
        .await
    }

    /// `id` is what a Graph change notification names (`Users/{userId}/Events/{eventId}`), or an
    /// onlineMeeting id, looked for in each staff member's meetings.
    async fn fetch_session(&self, id: &str) -> Result<Option<Session>, PlatformError> {
        let span = tracing::info_span!("teams.fetch_session", tenant = %self.inner.tenant, platform = "teams", session = %id);
        async {
            let inner = &self.inner;
            let members = inner.members().await?;
            if let Some((user, event_id)) = event_resource(id) {
                let Some(member) = members.iter().find(|m| m.id.eq_ignore_ascii_case(user)) else {
                    return Ok(None);
                };
                let path = format!(
                    "/users/{}/events/{}",
                    segment(&member.id),
                    segment(event_id)
                );
                let event: Event = match inner.http.get(path, Vec::new(), Some(&member.id)).await {
                    Err(PlatformError::Api { status: 404, .. }) => return Ok(None),
                    other => other?,
                };
                let Some(found) = group_events(std::slice::from_ref(&event)).pop() else {
                    return Ok(None);
                };
                let meeting = inner
                    .meeting_by_join_url(&member.id, &found.join_url)
                    .await?;
                return Ok(Some(map::session(
                    &meeting,
                    &member.host(),
                    Some(&found.topic),
                    found.occurrences,
                    Utc::now(),
                )));
            }
            for member in &members {
                match inner.meeting(&member.id, id).await {
                    Ok(m) => {
                        return Ok(Some(map::session(
                            &m,
                            &member.host(),
                            None,
                            Vec::new(),
                            Utc::now(),
                        )));
                    }
                    Err(PlatformError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(None)
        }
        .instrument(span)
        .await
    }

    async fn directory(&self) -> Result<Directory, PlatformError> {
        Ok(directory_of(&self.inner.members().await?))
    }

    async fn apply(&self, session: &Session, changes: &[Change]) -> Result<Applied, PlatformError> {
        let span = tracing::info_span!("teams.apply", tenant = %self.inner.tenant, platform = "teams", session = %session.id);
        apply(&self.inner, session, changes).instrument(span).await
    }
}

impl TeamsPlatform {
    /// The HTTP client and token of this adapter, for the change-notification subscriptions.
    pub(crate) fn http(&self) -> &Http {
        &self.inner.http
    }

    /// The staff group's member ids (whose calendars are subscribed to).
    pub async fn organizer_ids(&self) -> Result<Vec<String>, PlatformError> {
        Ok(self
            .inner
            .members()
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> TeamsSettings {
        serde_json::from_value(json!({
            "tenant_id": "contoso.onmicrosoft.com",
            "client_id": "cid",
            "client_secret": "sup3r~secret",
            "staff_group_id": "g1",
        }))
        .expect("settings")
    }

    #[test]
    fn defaults_point_at_worldwide_graph() {
        let s = settings();
        assert_eq!(s.graph_base_url, "https://graph.microsoft.com/v1.0");
        assert_eq!(
            s.token_url(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(s.max_concurrent_per_mailbox, 4);
        assert!(!format!("{s:?}").contains("sup3r~secret"));
    }

    #[test]
    fn exactly_one_credential_is_required() {
        let mut s = settings();
        s.certificate_key_file = Some("/nope.pem".into());
        s.certificate_thumbprint = Some("ab".repeat(20));
        let err = TeamsPlatform::from_settings_with("t", &s, |_| None).unwrap_err();
        assert!(err.to_string().contains("exactly one way"), "{err}");
        s.client_secret = None;
        let err = TeamsPlatform::from_settings_with("t", &s, |_| None).unwrap_err();
        assert!(err.to_string().contains("/nope.pem"), "{err}");
        assert!(!err.to_string().contains("sup3r"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<TeamsSettings, _> = serde_json::from_value(json!({
            "tenant_id": "t", "client_id": "c", "staff_group_id": "g", "clientsecret": "x"
        }));
        assert!(r.is_err());
    }

    #[test]
    fn debug_output_has_no_secret() {
        let p = TeamsPlatform::from_settings_with("t", &settings(), |_| None).expect("builds");
        assert!(!format!("{p:?}").contains("sup3r~secret"));
    }

    #[test]
    fn literals_segments_and_resources() {
        assert_eq!(odata_literal("a'b"), "'a''b'");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(
            event_resource("Users/u-1/Events/AAMk="),
            Some(("u-1", "AAMk="))
        );
        assert_eq!(event_resource("MSo1N2Y5"), None);
    }
}

//! The Graph HTTP layer: one reqwest client, an adaptive budget for the app in this tenant and one
//! per mailbox (src/platform/pacing.rs), the retry classifier, `@odata.nextLink` paging, and
//! errors that keep Graph's own `error.code` and `error.message`.
//!
//! Limits (teams-webex-meet.md §1.6): Outlook allows 4 concurrent requests per app and mailbox
//! and 10,000 requests per 10 minutes; the app as a whole 130,000 per 10 s, and other apps of the
//! tenant share what Graph gives it. Every request is paced by the tenant budget (at most
//! `requests_per_second`); a request about a mailbox also holds a place in that mailbox's budget
//! (at most `max_concurrent_per_mailbox`, never more than 4) while it is on the wire. A 429 slows
//! the budget it belongs to: the mailbox's when Graph names a mailbox limit, else the tenant's.
//!
//! Retry classification: 429 (and 503 with `Retry-After`) slows the budget and waits for
//! `Retry-After` in seconds, or backs off exponentially when it is missing or 0 (§1.6: "can be
//! missing or 0"), and is retried until the run's deadline; other 5xx, timeouts and connection
//! failures back off exponentially, three tries, except a write whose answer was lost, which is
//! never sent again (the caller's read-back decides); a read whose 2xx answer cannot be decoded
//! is asked for again, three tries; 401 fetches a new token once; every other status is final with
//! Graph's code and message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;

use super::auth::TokenCache;
use super::models::{GraphErrorBody, Page};
use crate::platform::PlatformError;
use crate::platform::http_util::{decode_json, header, parse_retry_after, status_text};
use crate::platform::pacing::{
    Budget, BudgetReport, DEFAULT_RUN_DEADLINE, RunClock, log_summary, merge,
};
use crate::session::PlatformKind;

/// Graph's evolvable enums: without this preference, members after `unknownFutureValue` (lobby
/// scope `invited`, `organizationExcludingGuests`; role `coorganizer`) come back as
/// `unknownFutureValue`, and a co-organizer set by chaperone would read back as drift forever
/// (teams-webex-meet.md "Corrections", `concepts/best-practices-concept.md`).
const PREFER_ENUMS: &str = "include-unknown-enum-members";

/// A guard against a server that keeps handing out next links.
const MAX_PAGES: usize = 10_000;

/// How hard to retry. Fixed in production; tests shorten the waits. 429s are not counted here:
/// a throttled request is retried for as long as the run's deadline allows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub server_error_tries: u32,
    /// Tries in all of a read whose 2xx answer cannot be decoded: reads are safe to repeat.
    pub garbled_tries: u32,
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            server_error_tries: 3,
            garbled_tries: 3,
            backoff: Duration::from_millis(250),
        }
    }
}

/// Requests in flight at once for the whole tenant. ASSUMPTION: Graph documents no concurrency
/// limit per app and tenant besides the per-mailbox 4 (§1.6); a 429 halves it.
const TENANT_IN_FLIGHT: usize = 64;

/// What to do with one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    Unauthorized {
        message: String,
    },
    /// Wait (when Graph said how long) and try again.
    Throttled {
        wait: Option<Duration>,
    },
    ServerError {
        message: String,
    },
    Failed {
        message: String,
    },
}

/// Graph's `error.code` and `error.message` as one text (`"Forbidden: No application access
/// policy found for this app."`), else the status's reason phrase.
pub(crate) fn error_text(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<GraphErrorBody>(body) {
        Ok(GraphErrorBody { error }) => match (error.code, error.message) {
            (Some(c), Some(m)) if !m.is_empty() => format!("{c}: {m}"),
            (Some(c), _) => c,
            (None, Some(m)) if !m.is_empty() => m,
            _ => status_text(status),
        },
        Err(_) => status_text(status),
    }
}

/// Classifies one answer. Pure: the clock is read by the caller for `Retry-After` dates.
pub(crate) fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        401 => Verdict::Unauthorized {
            message: error_text(status, body),
        },
        429 => Verdict::Throttled {
            wait: retry_after.filter(|w| !w.is_zero()),
        },
        503 if retry_after.is_some() => Verdict::Throttled {
            wait: retry_after.filter(|w| !w.is_zero()),
        },
        500..=599 => Verdict::ServerError {
            message: error_text(status, body),
        },
        _ => Verdict::Failed {
            message: error_text(status, body),
        },
    }
}

/// One request: the parts that are the same on every try.
pub(crate) struct Request<'a> {
    pub method: Method,
    /// A path below the Graph base (`/users/…`), or an absolute `@odata.nextLink`.
    pub target: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<&'a serde_json::Value>,
    /// The mailbox (user object id) the request reads or writes, for the concurrency limit.
    pub mailbox: Option<&'a str>,
    /// Extra `Prefer` values (`odata.maxpagesize=50`).
    pub prefer: Option<&'static str>,
}

/// The one client of a tenant's Teams adapter.
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    pub(crate) auth: TokenCache,
    requests_per_second: u32,
    tenant: Budget,
    per_mailbox: usize,
    mailboxes: Mutex<HashMap<String, Arc<Budget>>>,
    run: RunClock,
    writes: AtomicU64,
    pub(crate) policy: RetryPolicy,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .field("per_mailbox", &self.per_mailbox)
            .finish_non_exhaustive()
    }
}

impl Drop for Http {
    /// The adapter of a `check` or `sweep` lives as long as its run: say what Graph allowed.
    fn drop(&mut self) {
        log_summary("teams", &self.rate_reports());
    }
}

impl Http {
    pub(crate) fn new(
        base: &str,
        auth: TokenCache,
        requests_per_second: u32,
        per_mailbox: usize,
        timeout: Duration,
    ) -> Result<Http, PlatformError> {
        let client = crate::platform::http_util::http_client(PlatformKind::Teams, base, timeout)?;
        let rate = requests_per_second.max(1);
        Ok(Http {
            client,
            base: base.trim_end_matches('/').to_string(),
            auth,
            requests_per_second: rate,
            // Burst of one: requests leave evenly spaced.
            tenant: Budget::new(
                PlatformKind::Teams,
                "tenant",
                f64::from(rate),
                TENANT_IN_FLIGHT,
                1.0,
            ),
            // Outlook allows 4 concurrent requests per mailbox (§1.6): never more.
            per_mailbox: per_mailbox.clamp(1, 4),
            mailboxes: Mutex::new(HashMap::new()),
            run: RunClock::new(DEFAULT_RUN_DEADLINE),
            writes: AtomicU64::new(0),
            policy: RetryPolicy::default(),
        })
    }

    /// How long a run may take before throttled requests fail (`run_deadline_secs`).
    pub(crate) fn with_run_deadline(mut self, deadline: Duration) -> Http {
        self.run.set_run_deadline(deadline);
        self
    }

    /// What the tenant's budget and the mailboxes' (merged) reached: the rate Graph allowed and
    /// its 429s.
    pub(crate) fn rate_reports(&self) -> Vec<BudgetReport> {
        let mailboxes: Vec<BudgetReport> =
            lock(&self.mailboxes).values().map(|b| b.report()).collect();
        let mut out = vec![self.tenant.report()];
        out.extend(merge(mailboxes));
        out
    }

    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn mailbox(&self, id: &str) -> Arc<Budget> {
        let key = id.to_ascii_lowercase();
        lock(&self.mailboxes)
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Budget::new(
                    PlatformKind::Teams,
                    &format!("mailbox:{key}"),
                    f64::from(self.requests_per_second),
                    self.per_mailbox,
                    1.0,
                ))
            })
            .clone()
    }

    /// The URL of a request: a path below the base, or a next link. A next link must point at
    /// the configured Graph base, so the token is never sent to another host.
    fn url(&self, target: &str) -> Result<String, PlatformError> {
        if target.starts_with('/') {
            return Ok(format!("{}{target}", self.base));
        }
        if target.starts_with(&format!("{}/", self.base)) {
            return Ok(target.to_string());
        }
        Err(PlatformError::Decode {
            platform: PlatformKind::Teams,
            path: shown_path(target),
            message: format!(
                "a next link points outside the Graph base URL {}; not followed",
                self.base
            ),
        })
    }

    /// One GET, decoded. A 2xx answer that cannot be decoded (cut short, garbled) is asked for
    /// again, with backoff, up to `garbled_tries` in all: a read is safe to repeat. Any failure
    /// comes back as a failed read ([`PlatformError::ReadFailed`]), never as a lost write.
    async fn read<T: DeserializeOwned>(
        &self,
        target: &str,
        query: Vec<(&'static str, String)>,
        mailbox: Option<&str>,
        prefer: Option<&'static str>,
    ) -> Result<T, PlatformError> {
        let shown = shown_path(target);
        let mut garbled = 0u32;
        loop {
            let body = self
                .send(Request {
                    method: Method::GET,
                    target: target.to_string(),
                    query: query.clone(),
                    body: None,
                    mailbox,
                    prefer,
                })
                .await
                .map_err(PlatformError::into_read_failure)?;
            match decode_json(PlatformKind::Teams, &shown, &body) {
                Ok(value) => return Ok(value),
                Err(e) => {
                    garbled += 1;
                    metrics::counter!("chaperone_platform_requests_total", "platform" => "teams", "category" => "graph", "outcome" => "garbled").increment(1);
                    if garbled >= self.policy.garbled_tries.max(1) {
                        return Err(e.into_read_failure());
                    }
                    tracing::debug!(path = %shown, try_no = garbled, error = %e, "graph answered a read with a body that cannot be decoded; asking again");
                    tokio::time::sleep(self.backoff(garbled)).await;
                }
            }
        }
    }

    /// GET and decode.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: String,
        query: Vec<(&'static str, String)>,
        mailbox: Option<&str>,
    ) -> Result<T, PlatformError> {
        self.read(&path, query, mailbox, None).await
    }

    /// Every page of a collection, following `@odata.nextLink` (its query is used as given).
    pub(crate) async fn pages<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Vec<(&'static str, String)>,
        mailbox: Option<&str>,
        prefer: Option<&'static str>,
    ) -> Result<Vec<T>, PlatformError> {
        let mut out = Vec::new();
        let mut target = path.to_string();
        let mut query = query;
        for _ in 0..MAX_PAGES {
            let page: Page<T> = self
                .read(&target, std::mem::take(&mut query), mailbox, prefer)
                .await?;
            out.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => target = next,
                None => return Ok(out),
            }
        }
        Err(PlatformError::ReadFailed {
            platform: PlatformKind::Teams,
            path: path.to_string(),
            message: format!("more than {MAX_PAGES} pages; stopped"),
        })
    }

    /// A write with a JSON body; returns the answer's body (Graph answers PATCH onlineMeeting
    /// with 200 and the whole object, §1.2).
    pub(crate) async fn write(
        &self,
        method: Method,
        path: String,
        body: &serde_json::Value,
        mailbox: Option<&str>,
    ) -> Result<Vec<u8>, PlatformError> {
        self.send(Request {
            method,
            target: path,
            query: Vec::new(),
            body: Some(body),
            mailbox,
            prefer: None,
        })
        .await
    }

    /// Sends with pacing, the per-mailbox limit, token handling and retries; returns the body of
    /// a 2xx answer. A 429 slows the budget it belongs to and is retried until the run's
    /// deadline.
    pub(crate) async fn send(&self, req: Request<'_>) -> Result<Vec<u8>, PlatformError> {
        let url = self.url(&req.target)?;
        let shown = shown_path(&req.target);
        let mailbox = req.mailbox.map(|m| self.mailbox(m));
        let prefer = match req.prefer {
            Some(extra) => format!("{PREFER_ENUMS}, {extra}"),
            None => PREFER_ENUMS.to_string(),
        };
        let run = self.run.begin();
        let run_deadline = self.run.run_deadline();
        let (mut throttled, mut failed, mut refreshed) = (0u32, 0u32, false);
        loop {
            // The mailbox's place first (held only while the request is on the wire, never while
            // waiting to retry), then the tenant's pace.
            let mailbox_permit = match &mailbox {
                Some(b) => Some(b.acquire(run.deadline, run_deadline).await?),
                None => None,
            };
            let tenant_permit = self.tenant.acquire(run.deadline, run_deadline).await?;
            // A token that could not be fetched means nothing was sent: never a lost write.
            let token = self
                .auth
                .token(&self.client)
                .await
                .map_err(PlatformError::into_read_failure)?;
            let mut builder = self
                .client
                .request(req.method.clone(), &url)
                .bearer_auth(token.secret.expose_secret())
                .header("Prefer", &prefer);
            if !req.query.is_empty() {
                builder = builder.query(&req.query);
            }
            if let Some(body) = req.body {
                builder = builder.json(body);
            }
            if req.method != Method::GET {
                self.writes.fetch_add(1, Ordering::Relaxed);
            }
            let outcome = match builder.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    response
                        .bytes()
                        .await
                        .map(|b| (status, headers, b.to_vec()))
                }
                Err(e) => Err(e),
            };
            let (status, headers, body) = match outcome {
                Ok(parts) => parts,
                Err(e) => {
                    drop((mailbox_permit, tenant_permit));
                    failed += 1;
                    let never_connected = e.is_connect();
                    let message = e.without_url().to_string();
                    metrics::counter!("chaperone_platform_requests_total", "platform" => "teams", "category" => "graph", "outcome" => "transport").increment(1);
                    // A write that timed out or broke mid-answer may have been applied: it is
                    // never sent again blind; the caller's read-back decides (as for Zoom).
                    if req.method != Method::GET && !never_connected {
                        return Err(PlatformError::Transport {
                            platform: PlatformKind::Teams,
                            path: shown,
                            message: format!(
                                "{message} (the write may or may not have been applied; it is not sent again)"
                            ),
                        });
                    }
                    tracing::debug!(method = %req.method, path = %shown, try_no = failed, error = %message, "graph request failed");
                    if failed >= self.policy.server_error_tries {
                        return Err(PlatformError::Transport {
                            platform: PlatformKind::Teams,
                            path: shown,
                            message,
                        });
                    }
                    tokio::time::sleep(self.backoff(failed)).await;
                    continue;
                }
            };
            let retry_after =
                header(&headers, "retry-after").and_then(|v| parse_retry_after(v, Utc::now()));
            let verdict = classify(status, retry_after, &body);
            let outcome = match &verdict {
                Verdict::Success => "ok",
                Verdict::Unauthorized { .. } => "unauthorized",
                Verdict::Throttled { .. } => "throttled",
                Verdict::ServerError { .. } => "server-error",
                Verdict::Failed { .. } => "failed",
            };
            tracing::debug!(method = %req.method, path = %shown, status, "graph request");
            metrics::counter!("chaperone_platform_requests_total", "platform" => "teams", "category" => "graph", "outcome" => outcome).increment(1);
            match verdict {
                Verdict::Success => {
                    if let Some(p) = mailbox_permit {
                        p.succeeded();
                    }
                    tenant_permit.succeeded();
                    return Ok(body);
                }
                Verdict::Unauthorized { message } => {
                    drop((mailbox_permit, tenant_permit));
                    if refreshed {
                        return Err(PlatformError::Auth {
                            platform: PlatformKind::Teams,
                            message: format!(
                                "Graph refused a fresh access token on {} {shown} ({message}); the app may lack admin consent for its Graph permissions",
                                req.method
                            ),
                        });
                    }
                    refreshed = true;
                    self.auth.invalidate(token.generation).await;
                }
                Verdict::Throttled { wait } => {
                    throttled += 1;
                    metrics::counter!("chaperone_platform_rate_limited_total", "platform" => "teams", "category" => "graph").increment(1);
                    let wait = Some(wait.unwrap_or_else(|| self.backoff(throttled)));
                    // ASSUMPTION: Graph names the mailbox limits in its message
                    // ("MailboxConcurrency", "MailboxRequests"); any other 429 is the app's
                    // limit in the tenant, shared by every mailbox.
                    let text = error_text(status, &body);
                    let wait = match mailbox_permit {
                        Some(p) if text.to_ascii_lowercase().contains("mailbox") => {
                            drop(tenant_permit);
                            p.throttled(wait)
                        }
                        other => {
                            drop(other);
                            tenant_permit.throttled(wait)
                        }
                    };
                    tracing::debug!(path = %shown, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "graph throttled; waiting");
                    if tokio::time::Instant::now() + wait > run.deadline {
                        let budget = match &mailbox {
                            Some(b) if text.to_ascii_lowercase().contains("mailbox") => b.as_ref(),
                            _ => &self.tenant,
                        };
                        return Err(budget.past_deadline(run_deadline));
                    }
                }
                Verdict::ServerError { message } => {
                    drop((mailbox_permit, tenant_permit));
                    failed += 1;
                    if failed >= self.policy.server_error_tries {
                        return Err(api_error(&req.method, &shown, status, message));
                    }
                    tokio::time::sleep(self.backoff(failed)).await;
                }
                Verdict::Failed { message } => {
                    return Err(api_error(&req.method, &shown, status, message));
                }
            }
        }
    }

    fn backoff(&self, tries: u32) -> Duration {
        self.policy
            .backoff
            .saturating_mul(2u32.saturating_pow(tries.saturating_sub(1)))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A path for messages: a next link without scheme, host and query (query strings of Graph next
/// links hold opaque skip tokens that say nothing to a reader).
pub(crate) fn shown_path(target: &str) -> String {
    let no_query = target.split('?').next().unwrap_or(target);
    match no_query.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map_or_else(|| "/".to_string(), |i| rest[i..].to_string()),
        None => no_query.to_string(),
    }
}

fn api_error(method: &Method, path: &str, status: u16, message: String) -> PlatformError {
    PlatformError::Api {
        platform: PlatformKind::Teams,
        method: method.to_string(),
        path: path.to_string(),
        status,
        code: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_errors_keep_code_and_message() {
        let body = br#"{"error":{"code":"Forbidden","message":"No application access policy found for this app.","innerError":{"request-id":"x"}}}"#;
        assert_eq!(
            classify(403, None, body),
            Verdict::Failed {
                message: "Forbidden: No application access policy found for this app.".into()
            }
        );
        assert_eq!(
            classify(400, None, b"<html>"),
            Verdict::Failed {
                message: "Bad Request".into()
            }
        );
    }

    #[test]
    fn throttling_and_server_errors_are_retried() {
        assert_eq!(
            classify(429, Some(Duration::from_secs(3)), b"{}"),
            Verdict::Throttled {
                wait: Some(Duration::from_secs(3))
            }
        );
        // Missing or 0: back off instead (§1.6).
        assert_eq!(
            classify(429, Some(Duration::ZERO), b"{}"),
            Verdict::Throttled { wait: None }
        );
        assert_eq!(
            classify(503, Some(Duration::from_secs(1)), b"{}"),
            Verdict::Throttled {
                wait: Some(Duration::from_secs(1))
            }
        );
        assert!(matches!(
            classify(503, None, b"{}"),
            Verdict::ServerError { .. }
        ));
        assert!(matches!(
            classify(401, None, br#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired."}}"#),
            Verdict::Unauthorized { message } if message.contains("InvalidAuthenticationToken")
        ));
        assert_eq!(classify(200, None, b"{}"), Verdict::Success);
    }

    #[test]
    fn next_links_are_shown_without_host_and_query() {
        assert_eq!(
            shown_path("https://graph.microsoft.com/v1.0/groups/g/members?$skiptoken=abc"),
            "/v1.0/groups/g/members"
        );
        assert_eq!(shown_path("/users/u/calendarView"), "/users/u/calendarView");
    }
}

//! The Graph HTTP layer: one reqwest client, a pace for the whole app, at most four requests in
//! flight per mailbox, the retry classifier, `@odata.nextLink` paging, and errors that keep
//! Graph's own `error.code` and `error.message`.
//!
//! Limits (teams-webex-meet.md §1.6): Outlook allows 4 concurrent requests per app and mailbox
//! and 10,000 requests per 10 minutes; the app as a whole 130,000 per 10 s. chaperone holds a
//! semaphore of `max_concurrent_per_mailbox` (at most 4) per mailbox for the time a request is on
//! the wire, and paces every request through one limiter at `requests_per_second`.
//!
//! Retry classification: 429 (and 503 with `Retry-After`) waits for `Retry-After` in seconds, or
//! backs off exponentially when it is missing or 0 (§1.6: "can be missing or 0"), up to five
//! tries; other 5xx, timeouts and connection failures back off exponentially, three tries; 401
//! fetches a new token once; every other status is final with Graph's code and message.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use super::auth::TokenCache;
use super::models::{GraphErrorBody, Page};
use crate::platform::PlatformError;
use crate::platform::http_util::{decode_json, header, parse_retry_after, status_text};
use crate::session::PlatformKind;

/// Graph's evolvable enums: without this preference, members after `unknownFutureValue` (lobby
/// scope `invited`, `organizationExcludingGuests`; role `coorganizer`) come back as
/// `unknownFutureValue`, and a co-organizer set by chaperone would read back as drift forever
/// (teams-webex-meet.md "Corrections", `concepts/best-practices-concept.md`).
const PREFER_ENUMS: &str = "include-unknown-enum-members";

/// A guard against a server that keeps handing out next links.
const MAX_PAGES: usize = 10_000;

/// How hard to retry. Fixed in production; tests shorten the waits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub throttled_tries: u32,
    pub server_error_tries: u32,
    pub backoff: Duration,
    /// A `Retry-After` longer than this is not waited for inside one request. ASSUMPTION: a
    /// minute, as for Zoom.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            throttled_tries: 5,
            server_error_tries: 3,
            backoff: Duration::from_millis(250),
            max_wait: Duration::from_secs(60),
        }
    }
}

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
    pace: DefaultDirectRateLimiter,
    per_mailbox: usize,
    mailboxes: Mutex<HashMap<String, Arc<Semaphore>>>,
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

impl Http {
    pub(crate) fn new(
        base: &str,
        auth: TokenCache,
        requests_per_second: u32,
        per_mailbox: usize,
        timeout: Duration,
    ) -> Result<Http, PlatformError> {
        let client = crate::platform::http_util::http_client(PlatformKind::Teams, base, timeout)?;
        let rate = NonZeroU32::new(requests_per_second).unwrap_or(NonZeroU32::MIN);
        Ok(Http {
            client,
            base: base.trim_end_matches('/').to_string(),
            auth,
            // Burst of one: requests leave evenly spaced.
            pace: RateLimiter::direct(Quota::per_second(rate).allow_burst(NonZeroU32::MIN)),
            // Outlook allows 4 concurrent requests per mailbox (§1.6): never more.
            per_mailbox: per_mailbox.clamp(1, 4),
            mailboxes: Mutex::new(HashMap::new()),
            writes: AtomicU64::new(0),
            policy: RetryPolicy::default(),
        })
    }

    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn mailbox(&self, id: &str) -> Arc<Semaphore> {
        let mut map = self
            .mailboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(id.to_ascii_lowercase())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_mailbox)))
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

    /// GET and decode.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: String,
        query: Vec<(&'static str, String)>,
        mailbox: Option<&str>,
    ) -> Result<T, PlatformError> {
        let body = self
            .send(Request {
                method: Method::GET,
                target: path.clone(),
                query,
                body: None,
                mailbox,
                prefer: None,
            })
            .await?;
        decode_json(PlatformKind::Teams, &path, &body)
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
            let body = self
                .send(Request {
                    method: Method::GET,
                    target: target.clone(),
                    query: std::mem::take(&mut query),
                    body: None,
                    mailbox,
                    prefer,
                })
                .await?;
            let page: Page<T> = decode_json(PlatformKind::Teams, &shown_path(&target), &body)?;
            out.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => target = next,
                None => return Ok(out),
            }
        }
        Err(PlatformError::Decode {
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
    /// a 2xx answer.
    pub(crate) async fn send(&self, req: Request<'_>) -> Result<Vec<u8>, PlatformError> {
        let url = self.url(&req.target)?;
        let shown = shown_path(&req.target);
        let mailbox = req.mailbox.map(|m| self.mailbox(m));
        let prefer = match req.prefer {
            Some(extra) => format!("{PREFER_ENUMS}, {extra}"),
            None => PREFER_ENUMS.to_string(),
        };
        let (mut throttled, mut failed, mut refreshed) = (0u32, 0u32, false);
        loop {
            self.pace.until_ready().await;
            let token = self.auth.token(&self.client).await?;
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
            let outcome = {
                // Held only while the request is on the wire, never while waiting to retry.
                let _permit = match &mailbox {
                    Some(s) => s.clone().acquire_owned().await.ok(),
                    None => None,
                };
                match builder.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let headers = response.headers().clone();
                        response
                            .bytes()
                            .await
                            .map(|b| (status, headers, b.to_vec()))
                    }
                    Err(e) => Err(e),
                }
            };
            let (status, headers, body) = match outcome {
                Ok(parts) => parts,
                Err(e) => {
                    failed += 1;
                    let message = e.without_url().to_string();
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
            tracing::debug!(method = %req.method, path = %shown, status, "graph request");
            match verdict {
                Verdict::Success => return Ok(body),
                Verdict::Unauthorized { message } => {
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
                    let wait = wait.unwrap_or_else(|| self.backoff(throttled));
                    if throttled >= self.policy.throttled_tries || wait > self.policy.max_wait {
                        return Err(PlatformError::RateLimited {
                            platform: PlatformKind::Teams,
                            category: format!(
                                "{}{}",
                                req.mailbox
                                    .map(|m| format!("mailbox {m}: "))
                                    .unwrap_or_default(),
                                error_text(status, &body)
                            ),
                            retry_after: Some(wait),
                        });
                    }
                    tracing::debug!(path = %shown, wait_ms = wait.as_millis() as u64, "graph throttled; waiting");
                    tokio::time::sleep(wait).await;
                }
                Verdict::ServerError { message } => {
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

//! The HTTP layer: one reqwest client, client-side rate limits per Zoom label, the retry
//! classifier, and errors that keep Zoom's own `code` and `message`.
//!
//! Rate limits are per account and per label (zoom.md §5): LIGHT for GET/PATCH meeting, MEDIUM for
//! lists, user settings, groups and lock settings, shared with every other app on the account.
//! Each label has its own adaptive budget (src/platform/pacing.rs) with a burst of one, so
//! requests are spaced evenly at the configured rate at most: a sweep runs at the floor (calls ÷
//! rate) and never above it. A 429 slows the label's whole budget to what Zoom allows.
//!
//! Retry classification (in the spirit of lychee's): 429 slows the budget, waits for
//! `Retry-After` (seconds, an HTTP-date or an ISO timestamp; zoom.md §5 shows the timestamp form)
//! and is retried until the run's deadline, except Zoom's daily limits, which no wait inside a
//! sweep can fix; 5xx, timeouts and connection failures back off exponentially, three tries; a
//! read whose 2xx answer cannot be decoded is asked for again, three tries; 401 refreshes the
//! token once; any other 4xx is final and keeps Zoom's body.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;

use super::auth::TokenCache;
use super::models::ApiError;
use crate::platform::PlatformError;
use crate::platform::http_util::{decode_json, header, parse_retry_after, status_text};
use crate::platform::pacing::{Budget, BudgetReport, DEFAULT_RUN_DEADLINE, RunClock, log_summary};
use crate::session::PlatformKind;

/// Zoom's rate-limit labels used by chaperone (zoom.md §5, "Labels of the endpoints the bot uses").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    Light,
    Medium,
}

impl Label {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Label::Light => "light",
            Label::Medium => "medium",
        }
    }
}

/// How hard to retry. Fixed in production; tests shorten the waits. 429s are not counted here:
/// a throttled request is retried for as long as the run's deadline allows (src/platform/pacing.rs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Tries in all on 5xx, timeouts and connection failures.
    pub server_error_tries: u32,
    /// Tries in all of a read whose 2xx answer cannot be decoded (cut short or garbled): reads
    /// are safe to repeat.
    pub garbled_tries: u32,
    /// First backoff after a 5xx or a garbled answer; doubled on each further try.
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

/// What to do with one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    /// 401: the token was refused; fetch a new one and try once more.
    Unauthorized {
        code: Option<i64>,
        message: String,
    },
    /// 429 under the per-second limits: wait this long, then try again.
    Throttled {
        wait: Duration,
    },
    /// A daily limit (the 100 meeting updates per host, or a label's daily budget): do not retry.
    DailyLimit {
        limit: Option<u32>,
        retry_after: Option<Duration>,
        message: String,
    },
    /// 5xx: back off and try again.
    ServerError {
        code: Option<i64>,
        message: String,
    },
    /// Any other status: final, with Zoom's code and message.
    Failed {
        code: Option<i64>,
        message: String,
    },
}

/// Classifies one answer. Pure: the clock is passed in.
///
/// Daily limits are recognised by the message (zoom.md §5: "You have exceeded the daily rate limit
/// (100) of Meeting Create/Update API requests…", sent without `X-RateLimit-Type`) or by
/// `X-RateLimit-Type: Daily-limit` (the documented header example).
pub(crate) fn classify(
    status: u16,
    retry_after: Option<&str>,
    limit_type: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Verdict {
    if (200..300).contains(&status) {
        return Verdict::Success;
    }
    let (code, message) = error_body(status, body);
    match status {
        401 => Verdict::Unauthorized { code, message },
        429 => {
            let wait = retry_after.and_then(|v| parse_retry_after(v, now));
            let daily_message = message.to_ascii_lowercase().contains("daily rate limit");
            let daily_header = limit_type.is_some_and(|t| t.eq_ignore_ascii_case("daily-limit"));
            if daily_message || daily_header {
                Verdict::DailyLimit {
                    limit: parse_limit(&message),
                    retry_after: wait,
                    message,
                }
            } else {
                // Missing or unreadable Retry-After: one second (the per-second window).
                Verdict::Throttled {
                    wait: wait.unwrap_or(Duration::from_secs(1)),
                }
            }
        }
        500..=599 => Verdict::ServerError { code, message },
        _ => Verdict::Failed { code, message },
    }
}

/// Zoom's `{code, message}`, or the status text when the body is not that shape.
fn error_body(status: u16, body: &[u8]) -> (Option<i64>, String) {
    let parsed: Option<ApiError> = serde_json::from_slice(body).ok();
    match parsed {
        Some(ApiError {
            code,
            message: Some(m),
        }) if !m.is_empty() => (code, m),
        Some(ApiError { code, .. }) => (code, status_text(status)),
        None => (None, status_text(status)),
    }
}

/// The number in "the daily rate limit (100)".
fn parse_limit(message: &str) -> Option<u32> {
    let start = message.find('(')? + 1;
    let end = start + message.get(start..)?.find(')')?;
    message.get(start..end)?.trim().parse().ok()
}

/// The one client a tenant's adapter uses.
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    pub(crate) auth: TokenCache,
    light: Budget,
    medium: Budget,
    run: RunClock,
    writes: AtomicU64,
    pub(crate) policy: RetryPolicy,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .field("writes", &self.writes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Drop for Http {
    /// The adapter of a `check` or `sweep` lives as long as its run: say what Zoom allowed.
    fn drop(&mut self) {
        log_summary("zoom", &self.rate_reports());
    }
}

/// One request: the parts that are the same on every try.
pub(crate) struct Request<'a> {
    pub method: Method,
    pub label: Label,
    /// Path below the API base, starting with `/`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<&'a serde_json::Value>,
    /// The host a meeting write counts against, for `DailyBudgetExhausted`.
    pub budget_host: Option<&'a str>,
}

/// Headroom on the configured rate: requests leave evenly spaced, but arrive at Zoom with some
/// jitter, and Zoom may count any one-second interval (zoom.md §5 does not say how it counts).
/// 5% slower than the limit keeps arrivals under it: at 2% the 10,000-session benchmark saw 9
/// requests over the limit on a busy 2-core machine (docs/benchmarks.md).
const RATE_HEADROOM: f64 = 1.05;

/// Requests in flight at once per label. ASSUMPTION: Zoom documents no concurrency limit for
/// the labels chaperone uses (zoom.md §5: "exact numbers are UNCONFIRMED"); 32 is far above what
/// the pace needs at Business+ rates, and a 429 halves it.
const MAX_IN_FLIGHT: usize = 32;

/// A label's budget, paced at `per_second` at most (burst of one).
fn budget(label: Label, per_second: u32) -> Budget {
    Budget::new(
        PlatformKind::Zoom,
        label.name(),
        f64::from(per_second.max(1)),
        MAX_IN_FLIGHT,
        RATE_HEADROOM,
    )
}

impl Http {
    pub(crate) fn new(
        base: &str,
        auth: TokenCache,
        light_per_second: u32,
        medium_per_second: u32,
        timeout: Duration,
    ) -> Result<Http, PlatformError> {
        let client = crate::platform::http_util::http_client(PlatformKind::Zoom, base, timeout)?;
        Ok(Http {
            client,
            base: base.trim_end_matches('/').to_string(),
            auth,
            light: budget(Label::Light, light_per_second),
            medium: budget(Label::Medium, medium_per_second),
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

    /// What each label's budget reached: the rate Zoom allowed and its 429s.
    pub(crate) fn rate_reports(&self) -> Vec<BudgetReport> {
        vec![self.light.report(), self.medium.report()]
    }

    /// Write requests sent (every PATCH put on the wire, retries included: Zoom counts those too).
    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn budget(&self, label: Label) -> &Budget {
        match label {
            Label::Light => &self.light,
            Label::Medium => &self.medium,
        }
    }

    /// GET and decode. A 2xx answer that cannot be decoded (cut short, garbled) is asked for
    /// again, with backoff, up to `garbled_tries` in all: a read is safe to repeat. Any failure
    /// comes back as a failed read ([`PlatformError::ReadFailed`]), never as a lost write.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        label: Label,
        path: String,
        query: Vec<(&'static str, String)>,
    ) -> Result<T, PlatformError> {
        let mut garbled = 0u32;
        loop {
            let body = self
                .send(Request {
                    method: Method::GET,
                    label,
                    path: path.clone(),
                    query: query.clone(),
                    body: None,
                    budget_host: None,
                })
                .await
                .map_err(PlatformError::into_read_failure)?;
            match decode(&path, &body.0) {
                Ok(value) => return Ok(value),
                Err(e) => {
                    garbled += 1;
                    metrics::counter!("chaperone_platform_requests_total", "platform" => "zoom", "category" => label.name(), "outcome" => "garbled").increment(1);
                    if garbled >= self.policy.garbled_tries.max(1) {
                        return Err(e.into_read_failure());
                    }
                    tracing::debug!(path = %path, try_no = garbled, error = %e, "zoom answered a read with a body that cannot be decoded; asking again");
                    tokio::time::sleep(self.backoff(garbled)).await;
                }
            }
        }
    }

    /// PATCH; Zoom answers 204 with no body (zoom.md §0 item 3).
    pub(crate) async fn patch(
        &self,
        label: Label,
        path: String,
        body: &serde_json::Value,
        budget_host: Option<&str>,
    ) -> Result<(), PlatformError> {
        self.send(Request {
            method: Method::PATCH,
            label,
            path,
            query: Vec::new(),
            body: Some(body),
            budget_host,
        })
        .await
        .map(|_| ())
    }

    /// Sends with pacing, token handling and retries; returns the body of a 2xx answer. A 429
    /// slows the label's whole budget and is retried until the run's deadline.
    pub(crate) async fn send(&self, req: Request<'_>) -> Result<Body, PlatformError> {
        let url = format!("{}{}", self.base, req.path);
        let budget = self.budget(req.label);
        let run = self.run.begin();
        let mut failed = 0u32;
        let mut refreshed = false;
        loop {
            let permit = budget
                .acquire(run.deadline, self.run.run_deadline())
                .await?;
            // A token that could not be fetched means nothing was sent: never a lost write.
            let token = self
                .auth
                .token(&self.client)
                .await
                .map_err(PlatformError::into_read_failure)?;
            let mut builder = self
                .client
                .request(req.method.clone(), &url)
                .bearer_auth(token.secret.expose_secret());
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
                    match response.bytes().await {
                        Ok(bytes) => Ok((status, headers, bytes.to_vec())),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let (status, headers, body) = match outcome {
                Ok(parts) => parts,
                Err(e) => {
                    drop(permit);
                    failed += 1;
                    // A write that timed out or broke mid-answer may have been applied: sending
                    // it again could apply it twice (and spend another of the host's 100 daily
                    // updates). Only a write that never connected is retried; otherwise the
                    // caller's read-back decides what happened.
                    let ambiguous_write = req.method != Method::GET && !e.is_connect();
                    let message = e.without_url().to_string();
                    if ambiguous_write {
                        return Err(PlatformError::Transport {
                            platform: PlatformKind::Zoom,
                            path: req.path.clone(),
                            message: format!(
                                "{message} (the write may or may not have been applied; it is not sent again)"
                            ),
                        });
                    }
                    tracing::debug!(method = %req.method, path = %req.path, category = "transport", try_no = failed, error = %message, "zoom request failed");
                    metrics::counter!("chaperone_platform_requests_total", "platform" => "zoom", "category" => req.label.name(), "outcome" => "transport").increment(1);
                    if failed >= self.policy.server_error_tries {
                        return Err(PlatformError::Transport {
                            platform: PlatformKind::Zoom,
                            path: req.path.clone(),
                            message,
                        });
                    }
                    tokio::time::sleep(self.backoff(failed)).await;
                    continue;
                }
            };
            let verdict = classify(
                status,
                header(&headers, "retry-after"),
                header(&headers, "x-ratelimit-type"),
                &body,
                Utc::now(),
            );
            let category = match &verdict {
                Verdict::Success => "ok",
                Verdict::Unauthorized { .. } => "unauthorized",
                Verdict::Throttled { .. } => "throttled",
                Verdict::DailyLimit { .. } => "daily-limit",
                Verdict::ServerError { .. } => "server-error",
                Verdict::Failed { .. } => "failed",
            };
            tracing::debug!(method = %req.method, path = %req.path, status, category, label = req.label.name(), "zoom request");
            // Prometheus (`serve`'s /metrics; a no-op without a recorder): calls and 429s per
            // Zoom rate-limit label.
            metrics::counter!("chaperone_platform_requests_total", "platform" => "zoom", "category" => req.label.name(), "outcome" => category).increment(1);
            if status == 429 {
                metrics::counter!("chaperone_platform_rate_limited_total", "platform" => "zoom", "category" => req.label.name()).increment(1);
            }
            match verdict {
                Verdict::Success => {
                    permit.succeeded();
                    return Ok(Body(body));
                }
                Verdict::Unauthorized { code, message } => {
                    drop(permit);
                    if refreshed {
                        return Err(PlatformError::Auth {
                            platform: PlatformKind::Zoom,
                            message: format!(
                                "Zoom refused a fresh access token on {} {} ({}{message}); the app may be deactivated or lack a scope",
                                req.method,
                                req.path,
                                code.map(|c| format!("code {c}: ")).unwrap_or_default()
                            ),
                        });
                    }
                    refreshed = true;
                    self.auth.invalidate(token.generation).await;
                }
                Verdict::Throttled { wait } => {
                    // The whole label slows down and waits; this request waits its turn again.
                    let wait = permit.throttled(Some(wait));
                    if tokio::time::Instant::now() + wait > run.deadline {
                        return Err(budget.past_deadline(self.run.run_deadline()));
                    }
                }
                Verdict::DailyLimit {
                    limit,
                    retry_after,
                    message,
                } => {
                    drop(permit);
                    return Err(match req.budget_host {
                        Some(host) => PlatformError::DailyBudgetExhausted {
                            host: host.to_string(),
                            limit: limit.unwrap_or(0),
                            platform_said: Some(message),
                        },
                        None => PlatformError::RateLimited {
                            platform: PlatformKind::Zoom,
                            category: format!(
                                "{} daily limit: {message}",
                                header(&headers, "x-ratelimit-category")
                                    .unwrap_or(req.label.name())
                            ),
                            retry_after,
                        },
                    });
                }
                Verdict::ServerError { code, message } => {
                    drop(permit);
                    failed += 1;
                    if failed >= self.policy.server_error_tries {
                        return Err(api_error(&req, status, code, message));
                    }
                    tokio::time::sleep(self.backoff(failed)).await;
                }
                Verdict::Failed { code, message } => {
                    drop(permit);
                    return Err(api_error(&req, status, code, message));
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

fn api_error(req: &Request<'_>, status: u16, code: Option<i64>, message: String) -> PlatformError {
    PlatformError::Api {
        platform: PlatformKind::Zoom,
        method: req.method.to_string(),
        path: req.path.clone(),
        status,
        code,
        message,
    }
}

/// Decodes a JSON body, naming the request path and the JSON path of the first bad value.
pub(crate) fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, PlatformError> {
    decode_json(PlatformKind::Zoom, path, body)
}

/// Raw bytes of a 2xx answer (a newtype so callers cannot mistake it for an error body).
#[derive(Debug)]
pub(crate) struct Body(pub Vec<u8>);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2020, 5, 30, 23, 59, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn retry_after_in_seconds_dates_and_timestamps() {
        assert_eq!(parse_retry_after("3", now()), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        // zoom.md §5: the docs' example is an ISO timestamp.
        assert_eq!(
            parse_retry_after("2020-05-31T00:00:00Z", now()),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 31 May 2020 00:00:00 GMT", now()),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("2020-05-01T00:00:00Z", now()),
            Some(Duration::ZERO),
            "a past time means now"
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-5", now()), None);
    }

    #[test]
    fn a_429_without_retry_after_waits_one_second() {
        let body = br#"{"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."}"#;
        assert_eq!(
            classify(429, None, None, body, now()),
            Verdict::Throttled {
                wait: Duration::from_secs(1)
            }
        );
        assert_eq!(
            classify(429, Some("2"), None, b"", now()),
            Verdict::Throttled {
                wait: Duration::from_secs(2)
            }
        );
    }

    #[test]
    fn the_per_host_daily_limit_is_not_retried() {
        // zoom.md §5, forum 18928: the body Zoom sends, without X-RateLimit-Type.
        let body = br#"{"code":429,"message":"You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."}"#;
        match classify(429, None, None, body, now()) {
            Verdict::DailyLimit { limit, .. } => assert_eq!(limit, Some(100)),
            other => panic!("{other:?}"),
        }
        match classify(
            429,
            Some("2020-05-31T00:00:00Z"),
            Some("Daily-limit"),
            b"{}",
            now(),
        ) {
            Verdict::DailyLimit { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(60)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(200, None, None, b"{}", now()), Verdict::Success);
        assert_eq!(classify(204, None, None, b"", now()), Verdict::Success);
        assert!(matches!(
            classify(
                401,
                None,
                None,
                br#"{"code":124,"message":"Invalid access token."}"#,
                now()
            ),
            Verdict::Unauthorized {
                code: Some(124),
                ..
            }
        ));
        assert!(matches!(
            classify(503, None, None, b"<html>", now()),
            Verdict::ServerError { code: None, .. }
        ));
        assert_eq!(
            classify(
                404,
                None,
                None,
                br#"{"code":3001,"message":"Meeting does not exist: 85746065."}"#,
                now()
            ),
            Verdict::Failed {
                code: Some(3001),
                message: "Meeting does not exist: 85746065.".into()
            }
        );
        assert_eq!(
            classify(400, None, None, b"not json", now()),
            Verdict::Failed {
                code: None,
                message: "Bad Request".into()
            }
        );
    }

    #[test]
    fn decode_errors_name_the_json_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            meetings: Vec<Inner>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            id: u64,
        }
        let err = decode::<Outer>(
            "/users/x/meetings",
            br#"{"meetings":[{"id":1},{"id":"x"}]}"#,
        )
        .expect_err("bad id");
        let text = err.to_string();
        assert!(text.contains("/users/x/meetings"), "{text}");
        assert!(text.contains("meetings[1].id"), "{text}");
        assert!(decode::<Outer>("/p", b"").is_err());
        assert!(decode::<Outer>("/p", b"{\"meetings\": [").is_err());
    }

    #[tokio::test]
    async fn a_label_budget_spaces_requests_just_under_the_configured_rate() {
        let b = budget(Label::Light, 50);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
        let start = std::time::Instant::now();
        for _ in 0..26 {
            b.acquire(deadline, DEFAULT_RUN_DEADLINE)
                .await
                .expect("in time")
                .succeeded();
        }
        // 25 gaps of 1.05 / 50 s each.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(520), "{took:?}");
    }

    #[test]
    fn ids_above_two_to_the_53_survive_decoding() {
        #[derive(serde::Deserialize)]
        struct M {
            id: u64,
        }
        let m: M = decode("/m", br#"{"id": 9007199254740993}"#).expect("u64");
        assert_eq!(m.id, 9_007_199_254_740_993);
    }
}

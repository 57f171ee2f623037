//! Throttling and injected faults, in the order the dispatcher meets them: a fault aimed at the
//! request, the app's share of the tenant (fault.rs `AppRateLimit`), then the per-mailbox limits
//! of `shared/research/teams-webex-meet.md` §1.6 (4 concurrent requests, N per window). Kept in
//! one place so every 429 is counted and shaped alike: `Retry-After` in seconds and Graph's error
//! body.

use std::time::{Duration, Instant};

use super::super::fault::GraphFaultKind;
use super::super::lock;
use super::super::state::State;
use super::reply::Reply;

/// A 429 with `Retry-After`, counted in the stats.
fn throttled(state: &State, code: &str, message: &str, retry_after_secs: u64) -> Reply {
    lock(&state.stats).throttled += 1;
    Reply::error(429, code, message).with_header("retry-after", retry_after_secs.to_string())
}

/// Fires the first fault aimed at this request: `Err` is the answer that replaces the request's,
/// `Ok(true)` means answer with malformed JSON after processing it.
pub(crate) async fn apply_fault(
    state: &State,
    method: &str,
    template: &str,
    meeting: Option<&str>,
) -> Result<bool, Reply> {
    match state.take_fault(method, template, meeting) {
        Some(GraphFaultKind::Status { status }) => {
            Err(Reply::error(status, "UnknownError", "Simulated failure."))
        }
        Some(GraphFaultKind::Throttle { retry_after_secs }) => Err(throttled(
            state,
            "TooManyRequests",
            "Too many requests (simulated).",
            retry_after_secs,
        )),
        Some(GraphFaultKind::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(false)
        }
        Some(GraphFaultKind::MalformedJson) => Ok(true),
        Some(GraphFaultKind::RevokeTokens) => {
            state.revoke_tokens();
            Ok(false)
        }
        None => Ok(false),
    }
}

/// Admits a request under the app's limit in this tenant (another app takes the rest), or
/// answers 429.
pub(crate) fn admit_app(state: &State) -> Option<Reply> {
    let wait = lock(&state.app_limit).admit(Instant::now()).err()?;
    Some(throttled(
        state,
        "TooManyRequests",
        "Please retry again later.",
        wait,
    ))
}

/// Admits a request to a mailbox, or answers 429 (§1.6: 4 concurrent, N per window). An admitted
/// request is in flight until [`release`].
pub(crate) fn admit(state: &State, mailbox: &str) -> Option<Reply> {
    if let Some((limit, window)) = state.config.mailbox_requests {
        let mut windows = lock(&state.windows);
        let q = windows.entry(mailbox.to_string()).or_default();
        let now = Instant::now();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            let wait = q.front().map_or(1, |t| {
                (window.saturating_sub(now.duration_since(*t)))
                    .as_secs_f64()
                    .ceil() as u64
            });
            drop(windows);
            return Some(throttled(
                state,
                "ApplicationThrottled",
                "Application is over its MailboxRequests limit.",
                wait.max(1),
            ));
        }
        q.push_back(now);
    }
    let mut f = lock(&state.in_flight);
    let n = f.entry(mailbox.to_string()).or_default();
    if let Some(limit) = state.config.mailbox_concurrency
        && *n >= limit as u64
    {
        drop(f);
        return Some(throttled(
            state,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            1,
        ));
    }
    *n += 1;
    let now_in = *n;
    drop(f);
    let mut st = lock(&state.stats);
    st.peak_mailbox_concurrency = st.peak_mailbox_concurrency.max(now_in);
    None
}

/// The request admitted to this mailbox has been answered.
pub(crate) fn release(state: &State, mailbox: &str) {
    let mut f = lock(&state.in_flight);
    if let Some(n) = f.get_mut(mailbox) {
        *n = n.saturating_sub(1);
    }
}

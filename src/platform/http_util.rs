//! HTTP helpers every platform adapter needs in the same form: reading `Retry-After`, reading a
//! header, naming a status, deciding when a cached token must be replaced, and decoding a JSON
//! body with the path of the first bad value. Kept here so the adapters share one tested copy.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::platform::PlatformError;
use crate::session::PlatformKind;

/// Parses `Retry-After` as delta-seconds, an HTTP-date (RFC 7231, via RFC 2822) or an ISO 8601 /
/// RFC 3339 timestamp (the form in Zoom's docs, zoom.md §5; Graph sends seconds,
/// teams-webex-meet.md §1.6). A time in the past means "now".
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_rfc2822(value))
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// A header's value as text, if present and printable.
pub(crate) fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The canonical reason phrase of a status, for errors whose body says nothing readable.
pub(crate) fn status_text(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no message")
        .to_string()
}

/// Whether a token expiring at `expires_at` must be replaced at `now`: a request never starts
/// with a token that could lapse while it is in flight.
pub(crate) fn needs_refresh(expires_at: Instant, now: Instant, margin: Duration) -> bool {
    now + margin >= expires_at
}

/// Decodes a JSON body, naming the request path and the JSON path of the first bad value.
pub(crate) fn decode_json<T: DeserializeOwned>(
    platform: PlatformKind,
    path: &str,
    body: &[u8],
) -> Result<T, PlatformError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| PlatformError::Decode {
        platform,
        path: path.to_string(),
        message: format!("at `{}`: {}", e.path(), e.inner()),
    })
}

/// The one reqwest client an adapter uses: its timeout and chaperone's user agent.
pub(crate) fn http_client(
    platform: PlatformKind,
    base: &str,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, PlatformError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("chaperone/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PlatformError::Transport {
            platform,
            path: base.to_string(),
            message: format!("could not build the HTTP client: {e}"),
        })
}

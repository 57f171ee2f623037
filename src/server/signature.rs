//! Zoom webhook signatures and the URL-validation answer (research/zoom.md §6.2, §6.3).
//!
//! - `x-zm-signature` = `v0=` + hex(HMAC-SHA256(secret token, `v0:{timestamp}:{raw body}`)).
//!   Computed over the raw bytes as received (re-serialised JSON would not match) and compared in
//!   constant time (`Mac::verify_slice`), so the answer's timing says nothing about the secret.
//! - `x-zm-request-timestamp` is Unix seconds; a delivery more than five minutes from our clock is
//!   refused, so a captured delivery cannot be replayed later (the store's dedupe key covers
//!   replays inside the window).
//! - `endpoint.url_validation` is answered with hex(HMAC-SHA256(secret token, plainToken)). That
//!   answer is an HMAC oracle: a caller who could choose `plainToken` freely could ask for
//!   `v0:{ts}:{body}` and get a valid signature for a body of their own. So the validation
//!   request itself must carry a valid signature before it is answered.
//!
//! Pure functions: the clock is passed in.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a delivery's timestamp may be from our clock, either way.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

/// Why a delivery's signature was refused. The messages go back to the caller: they name what
/// is wrong without revealing anything about the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the `{0}` header is missing: this URL only accepts signed Zoom webhook deliveries")]
    MissingHeader(&'static str),
    #[error(
        "the `x-zm-signature` header is not of the form `v0=<hex>`: check that the request comes from Zoom"
    )]
    Malformed,
    #[error(
        "the signature does not match: check that the tenant's webhook secret token is the one shown in the Zoom app's Feature page"
    )]
    Mismatch,
    #[error("the `x-zm-request-timestamp` header is not a Unix time in seconds")]
    BadTimestamp,
    #[error(
        "the delivery's timestamp is {age_secs} s from this server's clock (more than 5 minutes): a replayed delivery, or a server clock that needs NTP"
    )]
    Stale { age_secs: i64 },
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail; an empty key is refused earlier
    // (a tenant without a secret token has no webhook URL).
    match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

/// The `x-zm-signature` value Zoom sends for `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(b"v0:");
    m.update(timestamp.as_bytes());
    m.update(b":");
    m.update(body);
    format!("v0={}", hex::encode(m.finalize().into_bytes()))
}

/// Checks a delivery's signature over the raw body, in constant time.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
) -> Result<(), SignatureError> {
    let given = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or(SignatureError::Malformed)?;
    let given = hex::decode(given).map_err(|_| SignatureError::Malformed)?;
    let mut m = mac(secret);
    m.update(b"v0:");
    m.update(timestamp.as_bytes());
    m.update(b":");
    m.update(body);
    m.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// Checks that `timestamp` (Unix seconds) is within [`TIMESTAMP_TOLERANCE_SECS`] of `now`.
pub fn check_timestamp(timestamp: &str, now: DateTime<Utc>) -> Result<(), SignatureError> {
    let secs: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let age = now.timestamp() - secs;
    if age.abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(SignatureError::Stale { age_secs: age });
    }
    Ok(())
}

/// The `encryptedToken` of the answer to `endpoint.url_validation`.
pub fn url_validation_token(secret: &[u8], plain_token: &str) -> String {
    let mut m = mac(secret);
    m.update(plain_token.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &[u8] = b"test-secret-token";

    #[test]
    fn a_signature_made_with_the_secret_verifies_and_any_change_breaks_it() {
        let body = br#"{"event":"meeting.created","payload":{}}"#;
        let sig = sign(SECRET, "1700000000", body);
        assert!(sig.starts_with("v0="));
        assert_eq!(verify(SECRET, "1700000000", body, &sig), Ok(()));
        assert_eq!(
            verify(SECRET, "1700000001", body, &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", "1700000000", body, &sig),
            Err(SignatureError::Mismatch)
        );
        let mut tampered = body.to_vec();
        tampered[3] ^= 1;
        assert_eq!(
            verify(SECRET, "1700000000", &tampered, &sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signature_without_the_v0_prefix_or_with_bad_hex_is_malformed() {
        assert_eq!(
            verify(SECRET, "1", b"{}", "abc"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, "1", b"{}", "v0=zz"),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn the_signature_matches_an_independent_hmac_sha256_of_the_documented_message() {
        // HMAC-SHA256 test vector 2 of RFC 4231 (key "Jefe"), with the message built the way
        // Zoom documents it: the signature is over the bytes `v0:{ts}:{body}`.
        let message = "what do ya want for nothing?";
        let (ts, body) = message.split_at(0);
        let mut m = mac(b"Jefe");
        m.update(ts.as_bytes());
        m.update(body.as_bytes());
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            url_validation_token(b"Jefe", message),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn timestamps_more_than_five_minutes_away_are_stale() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let t = now.timestamp();
        assert_eq!(check_timestamp(&t.to_string(), now), Ok(()));
        assert_eq!(check_timestamp(&(t - 300).to_string(), now), Ok(()));
        assert_eq!(
            check_timestamp(&(t - 301).to_string(), now),
            Err(SignatureError::Stale { age_secs: 301 })
        );
        assert_eq!(
            check_timestamp(&(t + 301).to_string(), now),
            Err(SignatureError::Stale { age_secs: -301 })
        );
        assert_eq!(
            check_timestamp("yesterday", now),
            Err(SignatureError::BadTimestamp)
        );
    }
}

//! Shared answer helpers of the Graph simulator: the `Reply` every endpoint returns (JSON, empty,
//! Graph's error body, the malformed-JSON fault) and the query-string readers, so every endpoint
//! answers in one shape. The error body `{"error": {"code", "message"}}` is the one
//! `shared/research/teams-webex-meet.md` §1.4 quotes.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

/// An answer before it becomes HTTP: the dispatcher still reads its status (writes applied) and
/// rewrites its body (evolvable enum members) after the endpoint ran.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    /// An answer without a body (204 and the like).
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Graph's error body: `{"error": {"code", "message", "innerError"}}`.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"error": {
                "code": code,
                "message": message,
                "innerError": {"date": Utc::now().to_rfc3339(), "request-id": "00000000-0000-0000-0000-000000000000"}
            }}),
        )
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The HTTP answer; `malformed` (a fault) cuts the JSON in half and answers 200.
    pub fn into_response(self, malformed: bool) -> Response {
        let (status, bytes, content_type) = match (&self.body, malformed) {
            (Some(v), true) => {
                let text = v.to_string();
                let cut = (0..=text.len() / 2)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                (
                    200,
                    format!("{}\u{0}<!--", &text[..cut]).into_bytes(),
                    Some("application/json"),
                )
            }
            (Some(v), false) => (
                self.status,
                v.to_string().into_bytes(),
                Some(
                    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
                ),
            ),
            (None, true) => (200, b"{\"value\":[".to_vec(), Some("application/json")),
            (None, false) => (self.status, Vec::new(), None),
        };
        let mut resp = Response::new(Body::from(bytes));
        *resp.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        if let Some(ct) = content_type
            && let Ok(v) = HeaderValue::from_str(ct)
        {
            h.insert(header::CONTENT_TYPE, v);
        }
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        resp
    }
}

/// The query string's pairs, decoded, in order.
pub(crate) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A query parameter by name (OData system options are case-insensitive).
pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

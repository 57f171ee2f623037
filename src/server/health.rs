//! `/healthz`, `/readyz` and `/metrics`.
//!
//! - `/healthz`: the process answers HTTP. Nothing else, so a slow database or platform never
//!   makes an orchestrator restart a process that is fine (liveness).
//! - `/readyz`: the service can do its work: not shutting down, the store answers, and each
//!   platform of each tenant (Zoom, Teams) gives a token for its credentials. Only a refused credential counts against the
//!   platform (`PlatformError::Auth`); a platform that is slow or rate-limiting us is reported but
//!   does not take the replica out of service, since every replica would see the same. Platform
//!   checks are cached for a minute, and go through the adapter's own caches, so probes cost
//!   Zoom almost nothing.
//! - `/metrics`: Prometheus text, with the webhook backlog read from the store at scrape time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::metrics;
use crate::platform::PlatformError;

/// How long a tenant's platform check is trusted.
const PLATFORM_CHECK_TTL: Duration = Duration::from_secs(60);
/// How long a probe waits for the store or a platform.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn healthz() -> Response {
    (StatusCode::OK, Json(json!({ "status": "alive" }))).into_response()
}

pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.stopping.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "stopping" })),
        )
            .into_response();
    }
    let mut ready = true;
    let store = match tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => {
            ready = false;
            e.to_string()
        }
        Err(_) => {
            ready = false;
            format!(
                "the store did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            )
        }
    };
    let mut tenants = Map::new();
    for (id, tenant) in &state.tenants {
        let (ok, text) = platform_check(&state, id, tenant).await;
        ready &= ok;
        tenants.insert(id.clone(), Value::String(text));
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not ready" },
            "store": store,
            "tenants": tenants,
        })),
    )
        .into_response()
}

/// (counts as ready, what to show) for one tenant, from the cache when fresh.
async fn platform_check(
    state: &AppState,
    id: &str,
    tenant: &super::tenant::Tenant,
) -> (bool, String) {
    if let Ok(cache) = state.readiness.lock()
        && let Some((at, ok, text)) = cache.get(id)
        && at.elapsed() < PLATFORM_CHECK_TTL
    {
        return (*ok, text.clone());
    }
    // Each platform in turn; a tenant is ready when none refuses the credentials.
    let mut checks = Vec::new();
    for platform in &tenant.platforms {
        let (ok, text) = match tokio::time::timeout(PROBE_TIMEOUT, platform.directory()).await {
            Ok(Ok(_)) => (true, "ok".to_string()),
            Ok(Err(e @ PlatformError::Auth { .. })) => (false, e.to_string()),
            Ok(Err(e)) => (true, format!("degraded: {e}")),
            Err(_) => (
                true,
                format!(
                    "degraded: the platform did not answer within {} s",
                    PROBE_TIMEOUT.as_secs()
                ),
            ),
        };
        checks.push((platform.kind(), ok, text));
    }
    let ok = checks.iter().all(|(_, ok, _)| *ok);
    // One platform: its text as it is; several: "ok" when all are, else each named.
    let text = match checks.as_slice() {
        [(_, _, text)] => text.clone(),
        all if all.iter().all(|(_, _, t)| t == "ok") => "ok".to_string(),
        all => all
            .iter()
            .map(|(kind, _, t)| format!("{kind}: {t}"))
            .collect::<Vec<_>>()
            .join("; "),
    };
    if let Ok(mut cache) = state.readiness.lock() {
        cache.insert(id.to_string(), (Instant::now(), ok, text.clone()));
    }
    (ok, text)
}

pub(crate) async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    if let Ok(Ok(n)) = tokio::time::timeout(PROBE_TIMEOUT, state.store.webhook_backlog()).await {
        metrics::gauge_backlog(n);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

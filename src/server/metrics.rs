//! Prometheus metrics: one recorder for the process, rendered by the `/metrics` route (no second
//! listener: `metrics-exporter-prometheus` is built without its HTTP features).
//!
//! Names and labels are listed in docs/serve.md. Labels only ever take values chaperone chose
//! (tenant ids from the settings, control and status names, event names from verified deliveries),
//! so an outsider cannot grow the number of series.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::report::{RunReport, RunStatus, RunTally};

pub const SWEEPS: &str = "chaperone_sweeps_total";
pub const SWEEP_SECONDS: &str = "chaperone_sweep_duration_seconds";
pub const FINDINGS: &str = "chaperone_findings_total";
pub const WEBHOOK_EVENTS: &str = "chaperone_webhook_events_total";
pub const TIME_TO_HARDEN: &str = "chaperone_time_to_harden_seconds";
pub const WEBHOOK_BACKLOG: &str = "chaperone_webhook_backlog";

/// Webhook received → fix verified: most should land in the first buckets.
const HARDEN_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];
/// A sweep of a large account takes minutes (the platform's rate limits set the floor).
const SWEEP_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the global recorder on first use. Several
/// `Application`s in one process (tests) share it.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = builder
                .set_buckets_for_metric(Matcher::Full(TIME_TO_HARDEN.into()), HARDEN_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(SWEEP_SECONDS.into()), SWEEP_BUCKETS)
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "another metrics recorder is installed; /metrics will show only what reaches this one"
                );
            }
            // Histograms are kept in windows that need draining now and then.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(SWEEPS, "Runs finished, by tenant, kind and result");
    metrics::describe_histogram!(SWEEP_SECONDS, "Wall time of a run, by tenant and kind");
    metrics::describe_counter!(
        FINDINGS,
        "Findings recorded by runs of `serve`, by status and control"
    );
    metrics::describe_counter!(
        WEBHOOK_EVENTS,
        "Webhook deliveries and their processing, by platform, event and outcome"
    );
    metrics::describe_histogram!(
        TIME_TO_HARDEN,
        "Seconds from a webhook's arrival to the read-back that proved its session's fix"
    );
    metrics::describe_gauge!(
        WEBHOOK_BACKLOG,
        "Webhook events stored but not yet processed"
    );
    metrics::describe_counter!(
        "chaperone_platform_requests_total",
        "Requests to a platform's API, by platform, rate-limit category and outcome"
    );
    metrics::describe_counter!(
        "chaperone_platform_rate_limited_total",
        "429 answers from a platform, by platform and rate-limit category"
    );
    metrics::describe_gauge!(
        "chaperone_platform_rate_allowed",
        "Requests a second a platform's rate-limit budget paces at: what the platform allowed, \
         as far as chaperone found (the limit is shared with other apps on the account)"
    );
    metrics::describe_counter!(
        "chaperone_platform_throttled_total",
        "429 answers that slowed a rate-limit budget, by platform and budget"
    );
}

/// Counts one webhook delivery or processing outcome.
pub fn webhook(platform: &'static str, event: &str, outcome: &'static str) {
    counter!(WEBHOOK_EVENTS, "platform" => platform, "event" => event.to_string(), "outcome" => outcome)
        .increment(1);
}

/// Counts a run that ran to its end, and its findings. A run that could not sign in or read part
/// of a platform is counted as `result="failed"`, not `finished`: an empty result from a revoked
/// secret must fire the same alert as a run that crashed.
pub fn run_finished(report: &RunReport, tally: &RunTally, elapsed: Duration) {
    let kind = report.kind.name();
    let result = match report.status() {
        RunStatus::Failed => "failed",
        RunStatus::Completed | RunStatus::Unfinished => "finished",
    };
    counter!(SWEEPS, "tenant" => report.tenant.clone(), "kind" => kind, "result" => result)
        .increment(1);
    histogram!(SWEEP_SECONDS, "tenant" => report.tenant.clone(), "kind" => kind)
        .record(elapsed.as_secs_f64());
    for (control, statuses) in &tally.by_control {
        for (status, n) in statuses {
            counter!(FINDINGS, "status" => status.name(), "control" => control.name())
                .increment(*n as u64);
        }
    }
}

/// Counts a run that could not be recorded.
pub fn run_failed(tenant: &str, kind: &'static str) {
    counter!(SWEEPS, "tenant" => tenant.to_string(), "kind" => kind, "result" => "failed")
        .increment(1);
}

/// Counts one request for an access token (Zoom's `/oauth/token`, Entra's token endpoint) in the
/// request metric, under the category `token`: a refused secret shows up as `unauthorized`.
pub fn token_request(platform: &'static str, status: u16) {
    let outcome = match status {
        200..=299 => "ok",
        400 | 401 | 403 => "unauthorized",
        429 => "throttled",
        500..=599 => "server-error",
        _ => "failed",
    };
    counter!("chaperone_platform_requests_total", "platform" => platform, "category" => "token", "outcome" => outcome)
        .increment(1);
}

/// Records one time-to-harden observation.
pub fn hardened(elapsed: Duration) {
    histogram!(TIME_TO_HARDEN).record(elapsed.as_secs_f64());
}

/// Sets the webhook backlog gauge (read from the store at scrape time).
pub fn gauge_backlog(n: u32) {
    metrics::gauge!(WEBHOOK_BACKLOG).set(f64::from(n));
}

//! `chaperone serve`: one process running each tenant's sweep schedule, the Zoom webhook receiver,
//! the Teams change-notification endpoint and subscriptions, `/healthz`, `/readyz`, `/metrics` and
//! the webhook workers, under one shutdown signal. A tenant may have Zoom, Teams or both: its
//! scheduled sweeps run each platform in turn.
//!
//! Shaped as in *Zero to Production*: `main` only loads settings and calls [`run`]; the library's
//! [`Application::build`] binds the listener (port 0 in tests) and checks every tenant's settings
//! before anything is served, and [`Application::run_until_stopped`] runs until SIGTERM or
//! SIGINT. Then it stops taking work (readiness fails, the listener closes, workers claim
//! nothing new), lets the event and the sweep in flight finish for up to a grace period (one
//! PATCH is never cut in half: a request is either sent whole or not at all), puts any claim
//! still open back in the queue for the next process, closes the store, and returns.
//!
//! See docs/serve.md for running it, the Zoom event subscription, Teams change notifications
//! (also docs/teams.md §6) and the metrics.

mod health;
pub mod metrics;
pub mod signature;
mod teams;
pub mod tenant;
mod webhook;
mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::report::RunKind;
use crate::scheduler::{self, ScheduleError, SystemClock};
use crate::settings::Settings;
use crate::store::{Store, StoreError};
use crate::sweep::{self, RunOptions};
use tenant::Tenant;

/// Hosts a tenant-wide run works on at once (as `chaperone sweep`); the adapter's rate limits
/// set the pace.
const SWEEP_HOST_CONCURRENCY: usize = 16;

/// Why the service could not start; each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "no tenants are configured: add a [[tenants]] table to the settings file (README, \"Connect a real Zoom account\")"
    )]
    NoTenants,
    #[error("tenant `{tenant}`: {message}")]
    Tenant { tenant: String, message: String },
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("could not open the store: {0}")]
    Store(#[from] StoreError),
    #[error(
        "`[server] listen = \"{addr}\"` is not an address: write HOST:PORT, for example 0.0.0.0:8080"
    )]
    BadListen { addr: String },
    #[error(
        "could not listen on {addr}: {source}. Choose another `[server] listen` address (or CHAPERONE__SERVER__LISTEN), or stop what uses the port"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("the HTTP server stopped with an error: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
}

/// Knobs of the service. Defaults suit production; tests shorten the waits.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Webhook workers (events processed at once). The platform's rate limits, not this, set
    /// the pace; a few workers keep one slow meeting from holding up the rest.
    pub workers: usize,
    /// Test-only: each worker waits this long before each claim
    /// (`CHAPERONE_TEST_WORKER_DELAY_MS`), so a test can kill the process between the 200 and the
    /// processing. Zero in production.
    pub worker_delay: Duration,
    /// How long a claim holds without renewal before another worker may take the event (the
    /// claimant died); renewed every third of it while the event is processed.
    pub lease: Duration,
    /// How often idle workers look at the store (events stored by other replicas, retries).
    pub poll: Duration,
    /// How long the event and the sweep in flight may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// The largest webhook body accepted (Zoom's events are a few KiB).
    pub body_limit: usize,
    /// The longest an HTTP request may take.
    pub request_timeout: Duration,
    /// Run the tenants' schedules (tests of webhooks turn it off).
    pub scheduler: bool,
    /// How often each Teams tenant's change-notification subscriptions are renewed (and new
    /// organizers subscribed), after a first round at start-up. Renewal happens
    /// `renew_before_minutes` before expiry, so this only has to be well below that.
    pub subscription_interval: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            workers: 8,
            worker_delay: Duration::ZERO,
            // Renewed every third of it while the event is processed (worker.rs): a claim whose
            // process died is taken again within this.
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(25),
            body_limit: 256 * 1024,
            request_timeout: Duration::from_secs(10),
            scheduler: true,
            subscription_interval: Duration::from_secs(3600),
        }
    }
}

impl ServeOptions {
    /// Defaults, plus the test-only worker delay from `CHAPERONE_TEST_WORKER_DELAY_MS`.
    pub fn from_env() -> ServeOptions {
        let worker_delay = std::env::var("CHAPERONE_TEST_WORKER_DELAY_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or_default();
        if !worker_delay.is_zero() {
            tracing::warn!(
                delay_ms = worker_delay.as_millis() as u64,
                "CHAPERONE_TEST_WORKER_DELAY_MS is set: webhook events wait before processing (test only)"
            );
        }
        ServeOptions {
            worker_delay,
            ..ServeOptions::default()
        }
    }
}

/// What the handlers, workers and schedulers share.
pub(crate) struct AppState {
    pub tenants: BTreeMap<String, Arc<Tenant>>,
    pub store: Store,
    /// Woken when an event is stored, so a worker picks it up at once.
    pub wake: Notify,
    pub metrics: PrometheusHandle,
    /// Set on the shutdown signal: readiness fails from then on.
    pub stopping: AtomicBool,
    /// This process's id in the store's claims.
    pub instance: String,
    pub options: ServeOptions,
    /// Events claimed by this process and not yet finished, put back on an abandoned shutdown.
    pub in_flight: Mutex<HashSet<i64>>,
    /// Tenant id → (checked at, counts as ready, text), for `/readyz`.
    pub readiness: Mutex<HashMap<String, (Instant, bool, String)>>,
    /// Assembles host digests and delivers the outbox, beside the webhook workers.
    pub notifier: crate::notify::Notifier,
}

impl AppState {
    fn claimed(&self, id: i64, held: bool) {
        if let Ok(mut set) = self.in_flight.lock() {
            if held {
                set.insert(id);
            } else {
                set.remove(&id);
            }
        }
    }
}

/// Stops a running [`Application`] as a signal would (tests).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// The service, built and bound, not yet running.
pub struct Application {
    listener: tokio::net::TcpListener,
    port: u16,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
}

impl Application {
    /// Checks the settings, opens the store, builds every tenant and binds the listener.
    pub async fn build(settings: Settings) -> Result<Application, ServeError> {
        Application::build_with(settings, ServeOptions::from_env()).await
    }

    /// [`Application::build`] with explicit options.
    pub async fn build_with(
        settings: Settings,
        options: ServeOptions,
    ) -> Result<Application, ServeError> {
        if settings.tenants.is_empty() {
            return Err(ServeError::NoTenants);
        }
        let mut tenants = BTreeMap::new();
        for t in &settings.tenants {
            let tenant = Tenant::build(t)?;
            if t.zoom.is_some() && tenant.webhook_secret.is_none() {
                tracing::info!(tenant = %t.id, platform = "zoom", "no webhook secret token: the tenant's Zoom webhook URL answers 404");
            }
            if t.teams.is_some() && tenant.teams_notifications.is_none() {
                tracing::info!(tenant = %t.id, platform = "teams", "no [tenants.teams.change_notifications]: the tenant's Teams notification URL answers 404");
            }
            tenants.insert(t.id.clone(), Arc::new(tenant));
        }
        let store = Store::connect(settings.store.url.expose_secret()).await?;
        let notifier = crate::notify::Notifier::new(store.clone(), &settings.tenants)?;
        let addr: SocketAddr =
            settings
                .server
                .listen
                .parse()
                .map_err(|_| ServeError::BadListen {
                    addr: settings.server.listen.clone(),
                })?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| ServeError::Bind {
                addr: addr.to_string(),
                source,
            })?
            .port();
        let (shutdown, _) = watch::channel(false);
        let instance = store.holder().to_string();
        let state = Arc::new(AppState {
            tenants,
            store,
            wake: Notify::new(),
            metrics: metrics::handle(),
            stopping: AtomicBool::new(false),
            // `hostname:pid:random`: a later process on this machine can tell this one's claims
            // are orphaned as soon as it has stopped.
            instance,
            options,
            in_flight: Mutex::new(HashSet::new()),
            readiness: Mutex::new(HashMap::new()),
            notifier,
        });
        Ok(Application {
            listener,
            port,
            state,
            shutdown,
        })
    }

    /// The port bound (the one the OS chose when the settings say port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store the service writes to (tests look at it).
    pub fn store(&self) -> Store {
        self.state.store.clone()
    }

    /// A handle that stops the service as SIGTERM would.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    fn router(state: Arc<AppState>) -> Router {
        let options = state.options.clone();
        let mut router = Router::new()
            .route("/webhooks/zoom/{tenant}", post(webhook::zoom))
            // Tenants without Teams notifications; the configured ones are nested below and
            // take precedence (a static path wins over a parameter).
            .route("/webhooks/teams/{tenant}", post(teams_not_configured))
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .route("/metrics", get(health::metrics_text))
            .with_state(state.clone());
        for tenant in state.tenants.values() {
            if let Some(hook) = &tenant.teams_notifications {
                let sink = Arc::new(teams::StoreSink {
                    state: state.clone(),
                    tenant: tenant.id.clone(),
                });
                router = router.nest(
                    &format!("/webhooks/teams/{}", tenant.id),
                    crate::platform::teams::notifications::routes(hook.client_state.clone(), sink),
                );
            }
        }
        router
            .layer(RequestBodyLimitLayer::new(options.body_limit))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                options.request_timeout,
            ))
            .layer(TraceLayer::new_for_http())
    }

    /// Serves until SIGTERM, SIGINT or [`ShutdownHandle::shutdown`], then shuts down in order.
    pub async fn run_until_stopped(self) -> Result<(), ServeError> {
        let Application {
            listener,
            port,
            state,
            shutdown,
        } = self;
        let mut stop = shutdown.subscribe();
        let signals = tokio::spawn(forward_signals(shutdown.clone()));

        match state.store.expire_orphaned_claims().await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(
                    claims = n,
                    "webhook events claimed by a chaperone process on this machine that stopped are taken again now"
                )
            }
            Err(e) => {
                tracing::error!(error = %e, "could not look for webhook events claimed by stopped processes; their claims run out on their own")
            }
        }
        let mut work = JoinSet::new();
        for tenant in state.tenants.values() {
            // Writes a stopped process left unrecorded: read back and recorded at start.
            let (store, tenant) = (state.store.clone(), tenant.clone());
            work.spawn(async move { tenant.settle_open_intents(&store).await });
        }
        for n in 0..state.options.workers.max(1) {
            work.spawn(worker::run(state.clone(), n, shutdown.subscribe()));
        }
        {
            // The outbox: digests and escalations reach people even while no sweep runs.
            let state = state.clone();
            let mut stop = shutdown.subscribe();
            work.spawn(async move {
                state
                    .notifier
                    .run(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            });
        }
        for tenant in state.tenants.values() {
            if tenant.teams_notifications.is_some() {
                work.spawn(teams::maintain_subscriptions(
                    tenant.clone(),
                    state.options.subscription_interval,
                    shutdown.subscribe(),
                ));
            }
        }
        if state.options.scheduler {
            for tenant in state.tenants.values() {
                if tenant.schedule.is_some() {
                    work.spawn(schedule_tenant(
                        state.clone(),
                        tenant.clone(),
                        shutdown.subscribe(),
                    ));
                }
            }
        }
        tracing::info!(
            port,
            tenants = state.tenants.len(),
            "chaperone serve is listening"
        );

        let stopping = {
            let state = state.clone();
            async move {
                let _ = stop.wait_for(|s| *s).await;
                state.stopping.store(true, Ordering::SeqCst);
                tracing::info!("shutdown signal: no new work is taken");
            }
        };
        let served = axum::serve(listener, Self::router(state.clone()))
            .with_graceful_shutdown(stopping)
            .await;
        // However the server ended, stop everything else too.
        shutdown.send_replace(true);
        state.stopping.store(true, Ordering::SeqCst);
        signals.abort();

        let grace = state.options.shutdown_grace;
        let finished =
            tokio::time::timeout(grace, async { while work.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "work still running after the grace period is abandoned; unfinished runs stay recorded as not finished"
            );
            work.abort_all();
            while work.join_next().await.is_some() {}
            let abandoned: Vec<i64> = state
                .in_flight
                .lock()
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            for id in abandoned {
                // Put the event back so the next process takes it at once, not after the lease.
                if let Err(e) = state.store.requeue_abandoned(id, &state.instance).await {
                    tracing::error!(event_id = id, error = %e, "could not put an abandoned event back");
                }
            }
        }
        state.store.close().await;
        tracing::info!("chaperone serve stopped");
        served.map_err(ServeError::Serve)
    }
}

/// Turns SIGTERM and SIGINT into the shutdown signal.
async fn forward_signals(shutdown: watch::Sender<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the service");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    shutdown.send_replace(true);
}

/// Runs one tenant's schedule until shutdown.
async fn schedule_tenant(
    state: Arc<AppState>,
    tenant: Arc<Tenant>,
    shutdown: watch::Receiver<bool>,
) {
    let Some(schedule) = tenant.schedule.clone() else {
        return;
    };
    let span =
        tracing::info_span!("schedule", tenant = %tenant.id, schedule = schedule.expression());
    async {
        let last = match state
            .store
            .last_run_started(&tenant.id, RunKind::Sweep)
            .await
        {
            Ok(last) => last,
            Err(e) => {
                tracing::error!(error = %e, "could not read the last sweep; assuming none");
                None
            }
        };
        tracing::info!(
            timezone = %schedule.timezone(),
            last_sweep = %last.map_or_else(|| "none".to_string(), |t| t.to_rfc3339()),
            "schedule started"
        );
        scheduler::run(&schedule, &SystemClock, last, shutdown, |fire| {
            let state = state.clone();
            let tenant = tenant.clone();
            async move { scheduled_sweep(&state, &tenant, fire).await }
        })
        .await;
    }
    .instrument(span)
    .await
}

/// One scheduled sweep: each of the tenant's platforms in turn (Zoom, then Teams), one run each,
/// under the `whole_tenant` lock, so it waits for a re-check that is running, never runs beside
/// it, and covers re-checks asked for before each platform's run started.
async fn scheduled_sweep(state: &AppState, tenant: &Tenant, fire: chrono::DateTime<chrono::Utc>) {
    let mut last = tenant.whole_tenant.lock().await;
    tracing::info!(fire = %fire, platforms = tenant.platforms.len(), "scheduled sweep starts");
    for platform in &tenant.platforms {
        let span = tracing::info_span!("platform_sweep", platform = %platform.kind());
        if state.stopping.load(Ordering::SeqCst) {
            // The run in flight finishes; a platform not begun waits for the next fire.
            tracing::info!(parent: &span, "shutting down: this platform waits for the next scheduled sweep");
            break;
        }
        // One writer per tenant and platform across processes (a `chaperone sweep`, a replica).
        let lease = match tenant
            .wait_for_writer_lease(&state.store, platform.kind(), &state.stopping)
            .await
        {
            Ok(Some(lease)) => lease,
            Ok(None) => break,
            Err(e) => {
                tracing::error!(parent: &span, error = %e, "could not take the writer lease; this platform waits for the next scheduled sweep");
                continue;
            }
        };
        let now = chrono::Utc::now();
        let started = Instant::now();
        // Only the sessions the admin summary may list as at risk are kept in memory; every
        // session is recorded in the store as it is done.
        let summary_at = now;
        let result = sweep::run_unattended(
            &tenant.id,
            platform.clone(),
            tenant.profiles.clone(),
            state.store.clone(),
            RunOptions {
                kind: RunKind::Sweep,
                dry_run: false,
                now,
                window: tenant.window(now),
                progress: false,
                host_concurrency: SWEEP_HOST_CONCURRENCY,
            },
            sweep::Keep::OpenStartingBy(crate::notify::at_risk_until(summary_at)),
        )
        .instrument(span.clone())
        .await;
        lease.release().await;
        last.insert(platform.kind(), now);
        match result {
            Ok(sweep::RunOutcome { report, tally }) => {
                metrics::run_finished(&report, &tally, started.elapsed());
                tracing::info!(parent: &span, run_id = %report.run_id, totals = %tally.describe(), "scheduled sweep finished");
                // One summary per run: each platform's run has its own findings and run id.
                let summary = crate::notify::admin_summary(
                    &state.store,
                    &tenant.settings,
                    &tenant.profiles,
                    &report,
                    &tally,
                    summary_at,
                )
                .instrument(span.clone())
                .await;
                if let Err(e) = summary {
                    tracing::error!(parent: &span, error = %e, "the admin summary could not be queued; the sweep itself is recorded");
                }
            }
            Err(e) => {
                metrics::run_failed(&tenant.id, RunKind::Sweep.name());
                tracing::error!(parent: &span, error = %e, "scheduled sweep could not be recorded");
            }
        }
    }
}

/// `POST /webhooks/teams/{tenant}` for a tenant without Teams change notifications.
async fn teams_not_configured(
    axum::extract::Path(tenant): axum::extract::Path<String>,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    tracing::debug!(tenant = %tenant, platform = "teams", "notification for a tenant without Teams change notifications");
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "error": "Teams change notifications are not configured for this tenant: check the tenant id in the notification URL, or add [tenants.teams.change_notifications]"
        })),
    )
}

/// `chaperone serve`: builds the service from the settings and runs it until a shutdown signal.
/// Exit code 0 after an orderly shutdown.
pub async fn run(settings: Settings) -> anyhow::Result<i32> {
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    Ok(0)
}

/// Fuzzing entry point (`fuzz/`): any bytes as a webhook delivery. The first line is the
/// timestamp header, the second the signature header, the rest the raw body. Verification and
/// the event's parsing must never panic, a correct signature over any body must verify, and a
/// signature for another body must not.
#[doc(hidden)]
pub fn fuzz_webhook(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let timestamp = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let given = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let secret = b"fuzz-secret-token";
    let _ = signature::verify(secret, &timestamp, body, &given);
    let _ = signature::check_timestamp(&timestamp, chrono::Utc::now());
    let good = signature::sign(secret, &timestamp, body);
    assert!(signature::verify(secret, &timestamp, body, &good).is_ok());
    let mut other = body.to_vec();
    other.push(b' ');
    assert!(signature::verify(secret, &timestamp, &other, &good).is_err());
    if let Ok(event) = serde_json::from_slice::<serde_json::Value>(body) {
        let name = event.get("event").and_then(|e| e.as_str()).unwrap_or("");
        let payload = event.get("payload").cloned().unwrap_or_default();
        let _ = webhook::object_id(name, &payload);
    }
}

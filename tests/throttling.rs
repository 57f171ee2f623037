//! Throttling below what chaperone was told, and garbled answers to reads (issue 11, items 3
//! and 4), end to end over real HTTP against the project's simulators.
//!
//! The simulators model "a second, unseen app" on the account or tenant: Zoom's limits are the
//! account's, shared by all its apps (zoom.md §5), and Graph's are per app and tenant and per
//! mailbox (teams-webex-meet.md §1.6), so chaperone may be allowed far less than it is configured
//! for. A sweep must then slow down to what the platform allows and still fix everything.

mod common;

use std::sync::Arc;

use chaperone::control::Status;
use chaperone::platform::teams::TeamsPlatform;
use chaperone::platform::teams::sim::teams_settings_for;
use chaperone::platform::{Platform, Window};
use chaperone::report::{RunKind, RunReport};
use chaperone::sweep::{self, RunOptions};
use chaperone_sim::{
    Fault, GraphFault, Scenario, TeamsScenario, TeamsSim, TeamsSimConfig, ZoomSimConfig,
};
use common::{TENANT, TestApp, count, spawn_app_with};

/// Every fixable control fixed: no error, and no drift left but a lock above the host, a change
/// held back on purpose, or one the platform accepted and ignored (a policy above the meeting:
/// the read-back says so).
fn assert_all_fixed(report: &RunReport) {
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    for s in &report.sessions {
        for f in &s.findings {
            assert!(
                f.status != Status::Error,
                "{}: {} is an error: {}",
                s.topic,
                f.control,
                f.detail
            );
            assert!(
                f.status != Status::Drift
                    || f.lock.is_some()
                    || f.detail.contains("not changed")
                    || f.detail.contains("read-back still shows"),
                "{}: {} left drifted: {}",
                s.topic,
                f.control,
                f.detail
            );
        }
    }
    assert!(count(report, Status::Fixed) > 0, "nothing was fixed");
}

/// A Zoom app whose client is configured for the Pro plan's rates (30 and 20 a second).
async fn zoom_at_pro_rates(config: ZoomSimConfig, scenario: Scenario) -> TestApp {
    let mut app = spawn_app_with(config, scenario).await;
    app.zoom.rate_limits.light_per_second = 30;
    app.zoom.rate_limits.medium_per_second = 20;
    app.platform = chaperone::app::zoom_platform(TENANT, &app.zoom).expect("client builds");
    app
}

#[tokio::test]
async fn zoom_allowing_a_tenth_of_the_configured_rate_still_gets_every_session_fixed_and_every_host_listed()
 {
    let hosts = 3;
    let per_host = 2;
    let app = zoom_at_pro_rates(ZoomSimConfig::pro(), Scenario::bench(hosts, per_host)).await;
    // Another app on the account leaves chaperone 3 Light and 2 Medium requests a second.
    app.sim.set_allowed_fraction(0.1);
    let swept = app.run(RunKind::Sweep, false).await;
    let stats = app.sim.stats();
    assert!(
        stats.total_429s() > 0,
        "the test must meet the lower limit: {stats:?}"
    );
    assert_eq!(swept.sessions.len(), hosts * per_host, "every host listed");
    assert_all_fixed(&swept);
    // The run's own report says what the platform allowed: a Zoom budget slowed below its
    // configured rate, with its 429s, also in the table a person reads.
    assert!(
        swept.rates.iter().any(|r| r.platform == "zoom"
            && r.throttled > 0
            && r.lowest_per_second < r.configured_per_second),
        "{:?}",
        swept.rates
    );
    let table = swept.render(chaperone::report::Format::Table);
    assert!(
        table.contains("The platform allowed less than chaperone was configured to send"),
        "{table}"
    );
}

#[tokio::test]
async fn a_truncated_meeting_list_is_read_again_and_no_session_of_that_host_is_skipped() {
    let app = zoom_at_pro_rates(ZoomSimConfig::unlimited(), Scenario::bench(2, 3)).await;
    app.sim.inject(
        Fault::truncated_body()
            .on_route("GET /v2/users/{userId}/meetings")
            .times(1),
    );
    let swept = app.run(RunKind::Sweep, false).await;
    assert_eq!(app.sim.stats().faults_fired, 1);
    assert_eq!(swept.sessions.len(), 6, "{:?}", swept.failures);
    assert_all_fixed(&swept);
}

#[tokio::test]
async fn truncated_answers_to_meeting_reads_are_read_again_and_the_sweep_fixes_everything() {
    let app = zoom_at_pro_rates(ZoomSimConfig::unlimited(), Scenario::bench(2, 3)).await;
    app.sim.inject(
        Fault::truncated_body()
            .on_route("GET /v2/meetings/{meetingId}")
            .times(2),
    );
    let swept = app.run(RunKind::Sweep, false).await;
    assert_eq!(app.sim.stats().faults_fired, 2);
    assert_all_fixed(&swept);
}

#[tokio::test]
async fn a_garbled_read_just_before_a_write_is_a_failed_read_not_a_lost_write() {
    // One meeting recording locally: fixing it needs a fresh read of the meeting first.
    let app = zoom_at_pro_rates(ZoomSimConfig::unlimited(), Scenario::bench(1, 1)).await;
    // The collect's read goes through; every later read of the meeting is cut short.
    app.sim.inject(
        Fault::truncated_body()
            .on_route("GET /v2/meetings/{meetingId}")
            .after(1),
    );
    let swept = app.run(RunKind::Sweep, false).await;
    let stats = app.sim.stats();
    assert_eq!(
        stats.requests_for("PATCH", "/v2/meetings/{meetingId}"),
        0,
        "nothing written after a failed read"
    );
    let session = swept.sessions.first().expect("the meeting is listed");
    let errors: Vec<_> = session
        .findings
        .iter()
        .filter(|f| f.status == Status::Error)
        .collect();
    assert!(!errors.is_empty(), "{session:?}");
    for f in errors {
        assert!(
            f.detail.contains("could not read") && !f.detail.contains("lost"),
            "{}: {}",
            f.control,
            f.detail
        );
        assert!(!f.detail.contains("read-back"), "{}", f.detail);
    }
}

/// A sweep of the Teams demo tenant with chaperone configured for `requests_per_second`.
async fn teams_sweep(sim: &TeamsSim, requests_per_second: u32) -> RunReport {
    let mut settings = teams_settings_for(sim);
    settings.requests_per_second = requests_per_second;
    let platform: Arc<dyn Platform> =
        Arc::new(TeamsPlatform::from_settings(TENANT, &settings).expect("client builds"));
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::temp_store(dir.path()).await;
    let profiles = common::shipped_profiles();
    let now = chrono::Utc::now();
    sweep::run(
        TENANT,
        platform,
        Arc::new(profiles),
        store,
        RunOptions {
            kind: RunKind::Sweep,
            dry_run: false,
            now,
            window: Window {
                from: now - chrono::Duration::hours(2),
                to: now + chrono::Duration::days(30),
            },
            progress: false,
            host_concurrency: 8,
        },
    )
    .await
    .expect("run records")
}

#[tokio::test]
async fn graph_allowing_a_tenth_of_the_configured_rate_still_gets_every_meeting_fixed() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = TeamsSim::start(TeamsSimConfig::default(), TeamsScenario::demo())
        .await
        .expect("sim starts");
    // Another app of the tenant leaves chaperone 5 requests a second; it is configured for 50.
    sim.set_app_rate_limit(Some(5));
    let swept = teams_sweep(&sim, 50).await;
    assert!(
        sim.stats().throttled > 0,
        "the test must meet the lower limit"
    );
    assert!(!swept.sessions.is_empty());
    assert_all_fixed(&swept);
    assert!(
        swept.rates.iter().any(|r| r.platform == "teams"
            && r.budget == "tenant"
            && r.throttled > 0
            && r.lowest_per_second < r.configured_per_second),
        "{:?}",
        swept.rates
    );
}

#[tokio::test]
async fn past_the_run_deadline_throttled_requests_fail_with_an_error_that_says_what_zoom_allowed() {
    let mut app = spawn_app_with(ZoomSimConfig::pro(), Scenario::bench(3, 5)).await;
    app.zoom.rate_limits.light_per_second = 30;
    app.zoom.rate_limits.medium_per_second = 20;
    app.zoom.rate_limits.run_deadline_secs = 1;
    app.platform = chaperone::app::zoom_platform(TENANT, &app.zoom).expect("client builds");
    // Far more than a second's worth of calls at the 3 and 2 a second Zoom leaves chaperone.
    app.sim.set_allowed_fraction(0.1);
    let swept = app.run(RunKind::Sweep, false).await;
    let mut texts: Vec<String> = swept.failures.iter().map(|f| f.error.clone()).collect();
    texts.extend(
        swept
            .sessions
            .iter()
            .flat_map(|s| &s.findings)
            .filter(|f| f.status == Status::Error)
            .map(|f| f.detail.clone()),
    );
    let throttled: Vec<&String> = texts
        .iter()
        .filter(|t| t.contains("run_deadline_secs"))
        .collect();
    assert!(!throttled.is_empty(), "{texts:?}");
    for t in throttled {
        assert!(
            t.contains("rate limit") && t.contains("requests a second"),
            "{t}"
        );
        assert!(!t.contains("Some(") && !t.contains("None"), "{t}");
    }
    assert_ne!(swept.exit_code(), 0);
}

#[tokio::test]
async fn a_garbled_calendar_page_from_graph_is_read_again_and_no_organizer_is_skipped() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = TeamsSim::start(TeamsSimConfig::default(), TeamsScenario::demo())
        .await
        .expect("sim starts");
    let clean = teams_sweep(&sim, 200).await;
    let listed = clean.sessions.len();
    let sim = TeamsSim::start(TeamsSimConfig::default(), TeamsScenario::demo())
        .await
        .expect("sim starts");
    sim.inject(
        GraphFault::malformed_json()
            .on_route("GET /v1.0/users/{id}/calendarView")
            .times(1),
    );
    let swept = teams_sweep(&sim, 200).await;
    assert_eq!(sim.stats().faults_fired, 1);
    assert_eq!(swept.sessions.len(), listed, "{:?}", swept.failures);
    assert_all_fixed(&swept);
}

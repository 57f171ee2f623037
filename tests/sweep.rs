//! End to end over real HTTP: chaperone's sweep and check against the Zoom simulator's demo
//! organisation, with the shipped profiles and a real SQLite store.

mod common;

use chaperone::control::{Control, Status};
use chaperone::report::{RunKind, RunReport};
use chaperone_sim::{Fault, Scenario};
use common::{spawn_app, spawn_app_with};

fn findings(
    report: &RunReport,
) -> impl Iterator<
    Item = (
        &chaperone::report::SessionReport,
        &chaperone::report::Finding,
    ),
> {
    report
        .sessions
        .iter()
        .flat_map(|s| s.findings.iter().map(move |f| (s, f)))
}

fn count(report: &RunReport, status: Status) -> usize {
    findings(report).filter(|(_, f)| f.status == status).count()
}

#[tokio::test]
async fn a_sweep_fixes_every_fixable_control_and_a_check_then_finds_no_fixable_drift() {
    let app = spawn_app(Scenario::demo()).await;
    let swept = app.run(RunKind::Sweep, false).await;
    assert!(
        swept.sessions.len() >= 30,
        "demo has youth sessions: {}",
        swept.sessions.len()
    );
    assert!(count(&swept, Status::Fixed) > 0);
    // Every change the sweep reports as fixed was verified by read-back.
    for s in &swept.sessions {
        for c in &s.changes {
            let f = s.findings.iter().find(|f| f.control == c.control).unwrap();
            assert_eq!(
                c.verified,
                f.status == Status::Fixed,
                "{} {}: {:?}",
                s.topic,
                c.control,
                f
            );
        }
    }
    let checked = app.run(RunKind::Check, false).await;
    for (s, f) in findings(&checked) {
        if f.status == Status::Drift {
            // What is left is drift software may not fix: a lock above the host or a session
            // in progress.
            assert!(
                f.lock.is_some() || f.detail.contains("in progress"),
                "unfixed drift in {}: {:?}",
                s.topic,
                f
            );
        }
        assert_ne!(f.status, Status::Error, "{}: {:?}", s.topic, f);
    }
    assert!(count(&checked, Status::Compliant) > count(&swept, Status::Compliant));
}

#[tokio::test]
async fn check_makes_no_write_requests() {
    let app = spawn_app(Scenario::demo()).await;
    let report = app.run(RunKind::Check, false).await;
    assert!(count(&report, Status::Drift) > 0, "the demo is drifted");
    assert_eq!(app.writes(), 0);
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test]
async fn a_dry_run_sweep_writes_nothing_and_says_what_it_would_do() {
    let app = spawn_app(Scenario::demo()).await;
    let report = app.run(RunKind::Sweep, true).await;
    assert_eq!(app.writes(), 0);
    assert!(report.dry_run);
    assert!(findings(&report).any(|(_, f)| f.detail.contains("dry run: would")));
    assert_eq!(count(&report, Status::Fixed), 0);
}

#[tokio::test]
async fn a_setting_locked_above_the_host_is_reported_with_its_lock_and_never_as_fixed() {
    let app = spawn_app(Scenario::demo()).await;
    let swept = app.run(RunKind::Sweep, false).await;
    let locked: Vec<_> = findings(&swept)
        .filter(|(_, f)| f.control == Control::ScreenShare && f.lock.is_some())
        .collect();
    assert!(
        !locked.is_empty(),
        "the demo locks screen sharing for the Volunteers group"
    );
    for (s, f) in locked {
        assert_eq!(f.status, Status::Drift, "{}: {:?}", s.topic, f);
        assert!(f.detail.contains("Volunteers"), "{}", f.detail);
    }
}

#[tokio::test]
async fn needs_human_items_say_what_the_host_must_do() {
    let app = spawn_app(Scenario::demo()).await;
    let swept = app.run(RunKind::Sweep, false).await;
    let staff: Vec<_> = findings(&swept)
        .filter(|(_, f)| f.control == Control::SecondStaff && f.status == Status::NeedsHuman)
        .collect();
    assert!(
        !staff.is_empty(),
        "one-to-one sessions without a colleague need a person"
    );
    assert!(
        staff
            .iter()
            .all(|(_, f)| f.detail.contains("alternative host"))
    );
    let cover: Vec<_> = findings(&swept)
        .filter(|(_, f)| f.control == Control::CoverHours && f.status == Status::NeedsHuman)
        .collect();
    assert!(!cover.is_empty(), "late sessions are outside cover hours");
    assert!(cover.iter().all(|(_, f)| f.detail.contains("cover hours")));
}

#[tokio::test]
async fn garbage_from_the_platform_is_an_error_for_that_session_and_the_run_goes_on() {
    let app = spawn_app(Scenario::demo()).await;
    let before = app.run(RunKind::Check, false).await;
    let victim = before.sessions[0].session_id.clone();
    app.sim
        .inject(Fault::malformed_json().on_meeting(victim.parse().unwrap()));
    let report = app.run(RunKind::Check, false).await;
    let s = report
        .sessions
        .iter()
        .find(|s| s.session_id == victim)
        .expect("still listed");
    assert!(s.findings.iter().all(|f| f.status == Status::Error));
    let others_ok = report
        .sessions
        .iter()
        .filter(|s| s.session_id != victim)
        .all(|s| s.findings.iter().all(|f| f.status != Status::Error));
    assert!(others_ok);
    assert_eq!(report.exit_code(), 2);
}

#[tokio::test]
async fn every_run_is_recorded_and_prints_again_from_the_store() {
    let app = spawn_app(Scenario::demo()).await;
    let swept = app.run(RunKind::Sweep, false).await;
    let loaded = app
        .store
        .load_run(&swept.run_id)
        .await
        .expect("run is stored");
    assert_eq!(loaded, swept);
}

#[tokio::test]
async fn a_session_in_progress_is_left_alone() {
    let app = spawn_app(Scenario::demo()).await;
    let swept = app.run(RunKind::Sweep, false).await;
    let in_progress: Vec<_> = findings(&swept)
        .filter(|(_, f)| f.detail.contains("in progress"))
        .collect();
    assert!(
        !in_progress.is_empty(),
        "the demo has a session in progress"
    );
    for (s, _) in &in_progress {
        assert!(
            s.changes.is_empty(),
            "{} was changed while in progress",
            s.topic
        );
    }
}

#[tokio::test]
async fn the_change_ceiling_stops_a_run_changing_more_sessions() {
    let mut app = spawn_app_with(common::fast_config(), Scenario::demo()).await;
    let mut profiles = (*app.profiles).clone();
    for p in &mut profiles {
        p.remediation.max_changes_per_run = 1;
    }
    app.profiles = std::sync::Arc::new(profiles);
    let swept = app.run(RunKind::Sweep, false).await;
    let mut changed_per_profile = std::collections::HashMap::new();
    for s in swept.sessions.iter().filter(|s| !s.changes.is_empty()) {
        *changed_per_profile.entry(s.profile.clone()).or_insert(0) += 1;
    }
    assert!(
        changed_per_profile.values().all(|n| *n <= 1),
        "{changed_per_profile:?}"
    );
    assert!(findings(&swept).any(|(_, f)| f.detail.contains("ceiling")));
}

#[tokio::test]
async fn a_sweep_reads_host_settings_again_only_after_writing_them() {
    let app = spawn_app(Scenario::demo()).await;
    let swept = app.run(RunKind::Sweep, false).await;
    let stats = app.sim.stats();
    let hosts: std::collections::BTreeSet<&str> = swept
        .sessions
        .iter()
        .map(|s| s.host_email.as_str())
        .collect();
    let host_writes = stats.requests_for("PATCH", "/v2/users/{userId}/settings");
    let host_reads = stats.requests_for("GET", "/v2/users/{userId}/settings");
    // Two reads per host at collect (settings, meeting_security) and two after each host write.
    assert!(host_writes > 0);
    assert!(
        host_reads <= 2 * (hosts.len() as u64 + host_writes) + 2,
        "{host_reads} host-settings reads for {} hosts and {host_writes} host writes",
        hosts.len()
    );
    // Every meeting write is still proven by a read-back of the meeting.
    let meeting_writes = stats.requests_for("PATCH", "/v2/meetings/{meetingId}");
    let meeting_reads = stats.requests_for("GET", "/v2/meetings/{meetingId}");
    assert!(meeting_reads >= swept.sessions.len() as u64 + meeting_writes);
}

#[tokio::test]
async fn the_daily_update_budget_per_host_holds_across_runs() {
    let mut app = spawn_app(Scenario::demo()).await;
    app.zoom.daily_updates_per_host = 1;
    app.platform = chaperone::app::zoom_platform(common::TENANT, &app.zoom).unwrap();
    let first = app.run(RunKind::Sweep, false).await;
    let patches = |app: &common::TestApp| {
        app.sim
            .stats()
            .requests_for("PATCH", "/v2/meetings/{meetingId}")
    };
    let after_first = patches(&app);
    assert!(after_first > 0);
    assert!(findings(&first).any(|(_, f)| f.detail.contains("daily update budget")));
    // A new process (a new client) with the same store: the budget is already spent today.
    app.platform = chaperone::app::zoom_platform(common::TENANT, &app.zoom).unwrap();
    let second = app.run(RunKind::Sweep, false).await;
    assert_eq!(
        patches(&app),
        after_first,
        "no meeting was updated past the budget"
    );
    assert!(findings(&second).any(|(_, f)| f.detail.contains("daily update budget")));
}

#[tokio::test]
async fn an_unattended_run_counts_every_session_but_keeps_only_open_ones_starting_soon() {
    use chaperone::notify::{at_risk_until, build_admin_summary};
    use chaperone::report::RunTally;
    use chaperone::sweep::{self, Keep};
    let app = spawn_app(Scenario::demo()).await;
    let every = app.run(RunKind::Check, false).await;
    let by = at_risk_until(app.now);
    let kept = sweep::run_unattended(
        common::TENANT,
        app.platform.clone(),
        app.profiles.clone(),
        app.store.clone(),
        app.options(RunKind::Check, false),
        Keep::OpenStartingBy(by),
    )
    .await
    .expect("run records");
    assert_eq!(kept.tally, RunTally::of(&every.sessions));
    let expected: Vec<&str> = every
        .sessions
        .iter()
        .filter(|s| s.is_open() && s.start.is_some_and(|t| t <= by))
        .map(|s| s.session_id.as_str())
        .collect();
    let got: Vec<&str> = kept
        .report
        .sessions
        .iter()
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(got, expected);
    // The demo has sessions on both sides of the line, so the test tells keeping from not.
    assert!(!expected.is_empty() && expected.len() < every.sessions.len());
    // The admin summary of the scheduled sweep (built from what was kept) says what one built
    // from every session would.
    let summary =
        |report, tally| build_admin_summary(report, tally, &app.profiles, Vec::new(), app.now);
    let mut from_kept = summary(&kept.report, &kept.tally);
    let mut from_every = summary(&every, &RunTally::of(&every.sessions));
    assert!(!from_every.at_risk.is_empty());
    from_kept.run_id.clear();
    from_every.run_id.clear();
    assert_eq!(from_kept, from_every);
    // What was not kept in memory is still in the store.
    let stored = app
        .store
        .load_run(&kept.report.run_id)
        .await
        .expect("run loads");
    assert_eq!(stored.sessions.len(), every.sessions.len());
}

#[tokio::test]
async fn a_host_is_written_once_per_run_even_when_its_cached_settings_expire_midway() {
    let mut app = spawn_app(Scenario::demo()).await;
    // Host settings read by the collect or a read-back are never trusted again: every later
    // session of the host meets an expired cache, as in a sweep that outlasts the cache.
    let secret = app.zoom.secret(common::TENANT).unwrap();
    app.platform = std::sync::Arc::new(
        chaperone::platform::zoom::ZoomPlatform::new(common::TENANT, &app.zoom, secret)
            .unwrap()
            .with_host_cache_ttl(std::time::Duration::ZERO),
    );
    let swept = app.run(RunKind::Sweep, false).await;
    let hosts: std::collections::BTreeSet<&str> = swept
        .sessions
        .iter()
        .map(|s| s.host_email.as_str())
        .collect();
    let host_writes = app
        .sim
        .stats()
        .requests_for("PATCH", "/v2/users/{userId}/settings");
    assert!(host_writes > 0, "the demo has host settings to fix");
    assert!(
        host_writes <= hosts.len() as u64,
        "{host_writes} host-settings writes for {} hosts",
        hosts.len()
    );
    // And the settings written were proven: the sweep leaves them compliant.
    let again = app.run(RunKind::Check, true).await;
    assert!(
        findings(&again)
            .filter(|(_, f)| f.control.default_scope() == chaperone::control::Scope::Host)
            .all(|(_, f)| f.status != Status::Drift || f.lock.is_some()),
        "host-level drift left after the sweep"
    );
}

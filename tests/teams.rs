//! End to end over real HTTP: chaperone's Teams adapter, the real sweep (`chaperone::sweep::run`)
//! with the shipped profiles and a SQLite store, against the project's Graph simulator
//! (`chaperone_sim::teams`), which is written from the Graph CSDL and shares no code with the
//! client. The same promises as the Zoom end-to-end tests: drift found, fixed and verified; a dry
//! run writes nothing; throttling is honoured; garbage is an `error` and the run goes on.

mod common;
#[path = "common/requires.rs"]
mod requires;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaperone::control::{Control, Status};
use chaperone::platform::teams::sim::teams_settings_for;
use chaperone::platform::teams::{TeamsPlatform, TeamsSettings};
use chaperone::platform::{Platform, PlatformError, Window};
use chaperone::profile::Profile;
use chaperone::report::{Finding, RunKind, RunReport, SessionReport};
use chaperone::store::Store;
use chaperone::sweep::{self, RunOptions};
use chaperone_sim::{
    GraphFault, SimCertificate, TeamsMeeting, TeamsScenario, TeamsSim, TeamsSimConfig, TeamsUser,
};
use chrono::{DateTime, Utc};
use serde_json::json;

use common::TENANT;

struct App {
    sim: TeamsSim,
    settings: TeamsSettings,
    platform: Arc<TeamsPlatform>,
    profiles: Arc<Vec<Profile>>,
    store: Store,
    now: DateTime<Utc>,
    _dir: tempfile::TempDir,
}

async fn spawn(config: TeamsSimConfig, scenario: TeamsScenario) -> App {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = TeamsSim::start(config, scenario).await.expect("sim starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::temp_store(dir.path()).await;
    let profiles = common::shipped_profiles();
    let settings = teams_settings_for(&sim);
    let platform = Arc::new(
        TeamsPlatform::from_settings(TENANT, &settings)
            .expect("client builds")
            .with_fast_retries(),
    );
    App {
        sim,
        settings,
        platform,
        profiles: Arc::new(profiles),
        store,
        now: Utc::now(),
        _dir: dir,
    }
}

async fn demo() -> App {
    spawn(TeamsSimConfig::default(), TeamsScenario::demo()).await
}

impl App {
    fn window(&self) -> Window {
        Window {
            from: self.now - chrono::Duration::hours(2),
            to: self.now + chrono::Duration::days(30),
        }
    }

    async fn run(&self, kind: RunKind, dry_run: bool) -> RunReport {
        sweep::run(
            TENANT,
            self.platform.clone(),
            self.profiles.clone(),
            self.store.clone(),
            RunOptions {
                kind,
                dry_run,
                now: self.now,
                window: self.window(),
                progress: false,
                host_concurrency: 8,
            },
        )
        .await
        .expect("run records")
    }
}

fn findings(report: &RunReport) -> impl Iterator<Item = (&SessionReport, &Finding)> {
    report
        .sessions
        .iter()
        .flat_map(|s| s.findings.iter().map(move |f| (s, f)))
}

fn count(report: &RunReport, status: Status) -> usize {
    findings(report).filter(|(_, f)| f.status == status).count()
}

fn session<'r>(report: &'r RunReport, topic: &str) -> &'r SessionReport {
    report
        .sessions
        .iter()
        .find(|s| s.topic == topic)
        .unwrap_or_else(|| panic!("{topic} is in the report"))
}

fn finding(s: &SessionReport, control: Control) -> &Finding {
    s.findings
        .iter()
        .find(|f| f.control == control)
        .expect("finding")
}

#[tokio::test]
async fn a_sweep_finds_fixes_and_verifies_drift_and_a_check_then_finds_none_left_to_fix() {
    let app = demo().await;
    let swept = app.run(RunKind::Sweep, false).await;
    // Youth, one-to-one and early-years sessions are in scope; "Team Standup" is not.
    assert!(swept.sessions.len() >= 10, "{}", swept.sessions.len());
    assert!(swept.sessions.iter().all(|s| s.topic != "Team Standup"));
    assert!(swept.failures.is_empty(), "{:?}", swept.failures);
    assert!(count(&swept, Status::Fixed) >= 10);
    for s in &swept.sessions {
        for c in &s.changes {
            let f = finding(s, c.control);
            assert_eq!(
                c.verified,
                f.status == Status::Fixed,
                "{} {}: {f:?}",
                s.topic,
                c.control
            );
        }
    }
    // Every control Teams has was fixed on the most drifted meeting, in one PATCH.
    let forum = session(&swept, "[youth] Youth Forum");
    for control in [
        Control::WaitingRoom,
        Control::ScreenShare,
        Control::ChatKept,
        Control::CloudRecording,
        Control::SecondStaff,
    ] {
        assert_eq!(finding(forum, control).status, Status::Fixed, "{control}");
    }
    let stored = app
        .sim
        .meeting(&app.sim.meeting_id("[youth] Youth Forum").expect("id"))
        .expect("meeting");
    assert_eq!(stored["lobbyBypassSettings"]["scope"], "organizer");
    assert_eq!(
        stored["lobbyBypassSettings"]["isDialInBypassEnabled"],
        false
    );
    assert_eq!(stored["allowedPresenters"], "organizer");
    assert_eq!(stored["allowMeetingChat"], "enabled");
    assert_eq!(stored["recordAutomatically"], false);
    assert_eq!(stored["allowRecording"], false);
    assert_eq!(stored["allowTranscription"], false);
    // Controls Teams lacks per meeting are unsupported, with a reason.
    for control in [
        Control::JoinBeforeHost,
        Control::FileTransfer,
        Control::PrivateChat,
    ] {
        let f = finding(forum, control);
        assert_eq!(f.status, Status::Unsupported, "{control}");
        assert!(f.detail.contains("Teams"), "{}", f.detail);
    }

    let patches = app
        .sim
        .stats()
        .requests_for("PATCH", "/v1.0/users/{id}/onlineMeetings/{meetingId}");
    let changed = swept
        .sessions
        .iter()
        .filter(|s| !s.changes.is_empty())
        .count() as u64;
    assert_eq!(patches, changed, "one PATCH per changed session");

    let writes = app.sim.stats().writes;
    let checked = app.run(RunKind::Check, false).await;
    assert_eq!(app.sim.stats().writes, writes, "a check writes nothing");
    for (s, f) in findings(&checked) {
        assert_ne!(f.status, Status::Error, "{}: {f:?}", s.topic);
        if f.status == Status::Drift {
            // Left: the session in progress, and the one whose recording a tenant policy holds.
            assert!(
                f.detail.contains("in progress") || s.topic == "[youth] Music Studio",
                "unfixed drift in {}: {f:?}",
                s.topic
            );
        }
    }
    assert!(count(&checked, Status::Compliant) > count(&swept, Status::Compliant));
}

#[tokio::test]
async fn check_and_dry_run_write_nothing() {
    let app = demo().await;
    let report = app.run(RunKind::Check, false).await;
    assert!(count(&report, Status::Drift) > 0, "the demo is drifted");
    assert_eq!(report.exit_code(), 1);
    let dry = app.run(RunKind::Sweep, true).await;
    assert!(dry.dry_run);
    assert!(findings(&dry).any(|(_, f)| f.detail.contains("dry run: would")));
    assert_eq!(count(&dry, Status::Fixed), 0);
    assert_eq!(app.sim.stats().writes, 0);
    assert_eq!(app.platform.write_requests(), 0);
}

#[tokio::test]
async fn the_passcode_is_reported_and_never_changed() {
    let app = demo().await;
    let id = app.sim.meeting_id("[youth] Youth Forum").expect("id");
    let before = app.sim.meeting(&id).expect("meeting")["joinMeetingIdSettings"].clone();
    let swept = app.run(RunKind::Sweep, false).await;
    let f = finding(session(&swept, "[youth] Youth Forum"), Control::Passcode);
    assert_eq!(f.status, Status::NeedsHuman, "{f:?}");
    assert!(
        f.detail.contains("only when the meeting is created"),
        "{}",
        f.detail
    );
    assert!(
        session(&swept, "[youth] Youth Forum")
            .changes
            .iter()
            .all(|c| c.control != Control::Passcode)
    );
    assert_eq!(
        app.sim.meeting(&id).expect("meeting")["joinMeetingIdSettings"],
        before
    );
    // An older meeting without the field: unsupported, said so.
    let film = finding(session(&swept, "[youth] Film Night"), Control::Passcode);
    assert_eq!(film.status, Status::Unsupported);
    assert!(film.detail.contains("joinMeetingIdSettings"));
}

#[tokio::test]
async fn a_co_organizer_is_added_without_dropping_any_attendee() {
    let app = demo().await;
    let id = app.sim.meeting_id("[youth] Homework Help").expect("id");
    let before = app.sim.meeting(&id).expect("meeting")["participants"]["attendees"]
        .as_array()
        .expect("list")
        .clone();
    assert_eq!(before.len(), 3);
    let swept = app.run(RunKind::Sweep, false).await;
    let s = session(&swept, "[youth] Homework Help");
    assert_eq!(finding(s, Control::SecondStaff).status, Status::Fixed);
    let after = app.sim.meeting(&id).expect("meeting")["participants"]["attendees"]
        .as_array()
        .expect("list")
        .clone();
    for a in &before {
        assert!(after.contains(a), "attendee {a} was dropped: {after:?}");
    }
    assert!(after.iter().any(|a| a["upn"] == "duty.officer@riverside.example.org"
        && a["role"] == "coorganizer"));
    // An existing co-organizer stays: the one-to-one gets no second-staff change (only its
    // recording, which Teams allows by default, is turned off).
    let k = session(&swept, "[1:1] Mentoring – K.");
    assert_eq!(finding(k, Control::SecondStaff).status, Status::Compliant);
    assert!(
        k.changes
            .iter()
            .all(|c| c.control == Control::CloudRecording),
        "{:?}",
        k.changes
    );
    // A one-to-one without a colleague needs a person (no duty pool there).
    let j = session(&swept, "[1:1] Mentoring – J.");
    assert_eq!(finding(j, Control::SecondStaff).status, Status::NeedsHuman);
}

#[tokio::test]
async fn a_write_the_tenant_policy_ignores_is_not_reported_as_fixed() {
    let app = demo().await;
    let swept = app.run(RunKind::Sweep, false).await;
    let f = finding(
        session(&swept, "[youth] Music Studio"),
        Control::CloudRecording,
    );
    assert_eq!(f.status, Status::Drift, "{f:?}");
    assert!(f.detail.contains("read-back still shows"), "{}", f.detail);
}

#[tokio::test]
async fn the_session_in_progress_is_left_alone() {
    let app = demo().await;
    let swept = app.run(RunKind::Sweep, false).await;
    let s = session(&swept, "[youth] Drop-in");
    assert!(s.changes.is_empty());
    assert!(s.findings.iter().any(|f| f.detail.contains("in progress")));
}

#[tokio::test]
async fn four_requests_per_mailbox_at_most_and_no_throttling_provoked() {
    // A slow server makes requests overlap: the client must still never exceed 4 per mailbox.
    let config = TeamsSimConfig::default()
        .with_latency(Duration::from_millis(30))
        .with_page_sizes(2, 1);
    let app = spawn(config, TeamsScenario::demo()).await;
    let swept = app.run(RunKind::Sweep, false).await;
    let stats = app.sim.stats();
    assert!(stats.peak_mailbox_concurrency <= 4, "{stats:?}");
    assert_eq!(stats.throttled, 0, "{stats:?}");
    assert!(count(&swept, Status::Fixed) > 0);
    assert_eq!(count(&swept, Status::Error), 0);
}

#[tokio::test]
async fn retry_after_is_honoured_and_the_run_succeeds() {
    let app = demo().await;
    app.sim.inject(
        GraphFault::throttle(1)
            .on_route("GET /v1.0/users/{id}/calendarView")
            .times(2),
    );
    let started = Instant::now();
    let report = app.run(RunKind::Check, false).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(count(&report, Status::Error), 0);
    assert_eq!(app.sim.stats().throttled, 2);
}

#[tokio::test]
async fn a_mailbox_rate_limit_is_waited_out() {
    // Three requests per second per mailbox: every organizer needs more than that.
    let config = TeamsSimConfig::default()
        .with_mailbox_limits(Some(4), Some((3, Duration::from_secs(1))))
        .with_page_sizes(100, 1);
    let scenario = small(3);
    let app = spawn(config, scenario).await;
    let report = app.run(RunKind::Check, false).await;
    assert_eq!(count(&report, Status::Error), 0, "{report:?}");
    assert_eq!(report.sessions.len(), 3);
    assert!(
        app.sim.stats().throttled > 0,
        "the limit was reached and waited out"
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let app = demo().await;
    app.sim.inject(
        GraphFault::status(503)
            .on_route("GET /v1.0/users/{id}/onlineMeetings")
            .times(2),
    );
    let report = app.run(RunKind::Check, false).await;
    assert_eq!(count(&report, Status::Error), 0);
}

#[tokio::test]
async fn garbage_from_graph_is_an_error_for_that_session_and_the_run_goes_on() {
    let app = demo().await;
    let victim = app.sim.meeting_id("[youth] Gaming Club").expect("id");
    app.sim
        .inject(GraphFault::malformed_json().on_meeting(&victim));
    let report = app.run(RunKind::Sweep, false).await;
    let s = session(&report, "[youth] Gaming Club");
    assert!(
        s.findings.iter().all(|f| f.status == Status::Error),
        "{s:?}"
    );
    assert!(s.changes.is_empty());
    let others_ok = report
        .sessions
        .iter()
        .filter(|s| s.topic != "[youth] Gaming Club")
        .all(|s| s.findings.iter().all(|f| f.status != Status::Error));
    assert!(others_ok);
    assert!(
        count(&report, Status::Fixed) > 0,
        "the rest was still fixed"
    );
    assert_eq!(report.exit_code(), 2);
}

/// One organizer with `n` youth meetings.
fn small(n: usize) -> TeamsScenario {
    let host = "yw@riverside.example.org";
    let mut sc = TeamsScenario::empty()
        .user(TeamsUser::new(host, "Yusuf Worker"))
        .add_member("Staff", host);
    for i in 0..n {
        sc = sc.meeting(
            TeamsMeeting::new(
                host,
                &format!("[youth] Club {i}"),
                Utc::now() + chrono::Duration::hours(24 + i as i64),
                60,
            )
            .lobby("everyone", false),
        );
    }
    sc
}

#[tokio::test]
async fn errors_keep_graphs_code_and_message() {
    let host = "nopolicy@riverside.example.org";
    let scenario = small(1)
        .user(TeamsUser::new(host, "No Policy").without_access_policy())
        .add_member("Staff", host)
        .meeting(TeamsMeeting::new(
            host,
            "[youth] Blocked",
            Utc::now() + chrono::Duration::hours(30),
            60,
        ));
    let app = spawn(TeamsSimConfig::default(), scenario).await;
    let report = app.run(RunKind::Check, false).await;
    let blocked = session(&report, "[youth] Blocked");
    let f = &blocked.findings[0];
    assert_eq!(f.status, Status::Error);
    assert!(
        f.detail
            .contains("Forbidden: No application access policy found for this app."),
        "{}",
        f.detail
    );
    assert_eq!(
        finding(session(&report, "[youth] Club 0"), Control::WaitingRoom).status,
        Status::Drift,
        "the other organizer's meeting was still judged"
    );
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let app = demo().await;
    app.run(RunKind::Check, false).await;
    assert_eq!(app.platform.tokens_fetched(), 1);
    app.sim.revoke_tokens();
    let report = app.run(RunKind::Check, false).await;
    assert_eq!(count(&report, Status::Error), 0);
    assert_eq!(app.platform.tokens_fetched(), 2);
}

#[tokio::test]
async fn small_pages_are_followed_to_the_end() {
    let app = spawn(
        TeamsSimConfig::default().with_page_sizes(2, 1),
        TeamsScenario::demo(),
    )
    .await;
    let paged = app.run(RunKind::Check, false).await;
    let whole = demo().await.run(RunKind::Check, false).await;
    let topics = |r: &RunReport| {
        let mut t: Vec<String> = r.sessions.iter().map(|s| s.topic.clone()).collect();
        t.sort();
        t
    };
    assert_eq!(topics(&paged), topics(&whole));
}

#[tokio::test]
async fn a_wrong_secret_fails_with_an_auth_error_that_never_contains_the_secret() {
    let app = demo().await;
    let mut settings = app.settings.clone();
    settings.client_secret = Some("sup3r-s3cret-value".to_string().into());
    let platform = TeamsPlatform::from_settings(TENANT, &settings).expect("builds");
    let err = platform.collect(&app.window()).await.expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, PlatformError::Auth { .. }), "{err:?}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains("sup3r-s3cret-value"), "{text}");
    assert!(!format!("{err:?}").contains("sup3r-s3cret-value"));
    assert!(!format!("{platform:?}").contains("sup3r-s3cret-value"));
    // Through a whole run: the failure is recorded, without the secret.
    let report = sweep::run(
        TENANT,
        Arc::new(platform),
        app.profiles.clone(),
        app.store.clone(),
        RunOptions {
            kind: RunKind::Check,
            dry_run: false,
            now: app.now,
            window: app.window(),
            progress: false,
            host_concurrency: 4,
        },
    )
    .await
    .expect("recorded");
    assert_eq!(report.failures.len(), 1);
    assert!(!format!("{report:?}").contains("sup3r-s3cret-value"));
}

/// A throwaway key and self-signed certificate made with the `openssl` CLI, with its public key
/// and thumbprints; `None` where openssl is not installed.
fn openssl_certificate(dir: &std::path::Path) -> Option<(PathBuf, SimCertificate)> {
    use std::process::Command;
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=chaperone-test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .ok()?
        .status
        .success();
    if !ok {
        return None;
    }
    let run = |args: &[&str]| -> Option<String> {
        let out = Command::new("openssl")
            .args(args)
            .arg("-in")
            .arg(&cert)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let fingerprint = |digest: &str| -> Option<String> {
        let text = run(&["x509", "-noout", "-fingerprint", digest])?;
        Some(text.split('=').nth(1)?.trim().replace(':', ""))
    };
    Some((
        key,
        SimCertificate {
            public_key_pem: run(&["x509", "-noout", "-pubkey"])?,
            sha1_hex: fingerprint("-sha1"),
            sha256_hex: fingerprint("-sha256"),
        },
    ))
}

#[tokio::test]
async fn a_certificate_signs_the_client_assertion() {
    let dir = tempfile::tempdir().expect("dir");
    if !requires::openssl("teams::a_certificate_signs_the_client_assertion") {
        return;
    }
    let (key, cert) = openssl_certificate(dir.path()).expect("openssl made a key and certificate");
    for thumbprint in [cert.sha256_hex.clone(), cert.sha1_hex.clone()] {
        let app = spawn(
            TeamsSimConfig::default().with_certificate(cert.clone()),
            small(1),
        )
        .await;
        let mut settings = app.settings.clone();
        settings.client_secret = None;
        settings.certificate_key_file = Some(key.clone());
        settings.certificate_thumbprint = thumbprint;
        let platform = TeamsPlatform::from_settings(TENANT, &settings).expect("builds");
        let collected = platform.collect(&app.window()).await.expect("signed in");
        assert_eq!(collected.sessions.len(), 1);
        assert_eq!(app.sim.stats().assertions_accepted, 1);
    }
    // A thumbprint that does not match the registered certificate is refused.
    let app = spawn(
        TeamsSimConfig::default().with_certificate(cert.clone()),
        small(1),
    )
    .await;
    let mut settings = app.settings.clone();
    settings.client_secret = None;
    settings.certificate_key_file = Some(key);
    settings.certificate_thumbprint = Some("ab".repeat(32));
    let platform = TeamsPlatform::from_settings(TENANT, &settings).expect("builds");
    let err = platform.collect(&app.window()).await.expect_err("refused");
    assert!(err.to_string().contains("AADSTS700027"), "{err}");
}

#[tokio::test]
async fn a_webhook_names_an_event_and_fetch_session_finds_its_meeting() {
    let app = demo().await;
    let collected = app.platform.collect(&app.window()).await.expect("collect");
    let forum = collected
        .sessions
        .iter()
        .find(|s| s.topic == "[youth] Youth Forum")
        .expect("forum");
    // By meeting id.
    let by_id = app
        .platform
        .fetch_session(&forum.id)
        .await
        .expect("fetch")
        .expect("found");
    assert_eq!(by_id.readings, forum.readings);
    assert_eq!(by_id.host.email, forum.host.email);
    assert!(
        app.platform
            .fetch_session("nope")
            .await
            .expect("fetch")
            .is_none()
    );
    let directory = app.platform.directory().await.expect("directory");
    assert!(
        directory
            .get("alex.morgan@riverside.example.org")
            .is_some_and(|g| g.iter().any(|g| g == "Youth Workers"))
    );
    let _ = json!({});
}

#[tokio::test]
async fn many_reads_of_one_mailbox_at_once_stay_within_four_in_flight() {
    let config = TeamsSimConfig::default().with_latency(Duration::from_millis(40));
    let app = spawn(config, small(12)).await;
    let collected = app.platform.collect(&app.window()).await.expect("collect");
    assert_eq!(collected.sessions.len(), 12);
    // Twelve read-backs of the same organizer's meetings started at once.
    let mut reads = tokio::task::JoinSet::new();
    for s in collected.sessions {
        let platform = app.platform.clone();
        reads.spawn(async move { platform.read_session(&s).await });
    }
    while let Some(read) = reads.join_next().await {
        assert!(read.expect("task").is_ok());
    }
    let stats = app.sim.stats();
    assert_eq!(stats.throttled, 0, "{stats:?}");
    assert_eq!(
        stats.peak_mailbox_concurrency, 4,
        "the limit is used, never passed"
    );
}

#[tokio::test]
async fn the_collect_streams_one_batch_per_organizer_with_the_same_sessions_as_a_whole_collect() {
    let app = demo().await;
    let whole = app.platform.collect(&app.window()).await.expect("collects");
    let mut stream = app
        .platform
        .collect_stream(&app.window())
        .await
        .expect("collects");
    let mut organizers = std::collections::BTreeSet::new();
    let mut streamed = Vec::new();
    while let Some(batch) = stream.hosts.recv().await {
        let sessions = batch.expect("every calendar of the demo reads");
        let hosts: std::collections::BTreeSet<_> =
            sessions.iter().map(|s| s.host.email.clone()).collect();
        assert!(hosts.len() <= 1, "a batch mixes organizers: {hosts:?}");
        for host in hosts {
            assert!(
                organizers.insert(host.clone()),
                "{host} came in two batches"
            );
        }
        streamed.extend(sessions);
    }
    assert!(stream.stopped_early().await.is_none());
    let ids = |sessions: &[chaperone::session::Session]| {
        let mut ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();
        ids.sort();
        ids
    };
    assert!(!streamed.is_empty());
    assert_eq!(ids(&streamed), ids(&whole.sessions));
    assert!(organizers.len() > 1, "the demo has several organizers");
}

#[tokio::test]
async fn an_organizer_whose_meetings_answer_slowly_does_not_hold_back_the_others() {
    let app = demo().await;
    let whole = app.platform.collect(&app.window()).await.expect("collects");
    let slow = whole.sessions.first().expect("the demo has meetings");
    // One meeting answers after a minute; a collect read whole would hand over nothing until then.
    app.sim
        .inject(chaperone_sim::GraphFault::delay(60_000).on_meeting(&slow.id));
    let first_batch = async {
        let mut stream = app
            .platform
            .collect_stream(&app.window())
            .await
            .expect("collects");
        // The first organizer with meetings (staff without any send an empty batch).
        while let Some(batch) = stream.hosts.recv().await {
            if batch.as_ref().is_ok_and(|b| b.is_empty()) {
                continue;
            }
            return Some(batch);
        }
        None
    };
    let first = tokio::time::timeout(Duration::from_secs(20), first_batch)
        .await
        .expect("another organizer's sessions arrive while the slow one is still read")
        .expect("the stream is open")
        .expect("the calendar reads");
    assert!(first.iter().all(|s| s.host.email != slow.host.email));
}

/// One organizer with youth meetings whose recording properties are set as given:
/// `(recordAutomatically, allowRecording, allowTranscription)`.
fn recording_scenario(settings: &[(bool, bool, bool)]) -> TeamsScenario {
    let host = "yw@riverside.example.org";
    let duty = "duty.officer@riverside.example.org";
    let mut sc = TeamsScenario::empty()
        .user(TeamsUser::new(host, "Yusuf Worker"))
        .user(TeamsUser::new(duty, "Duty Officer"))
        .add_member("Staff", host)
        .add_member("Staff", duty);
    for (i, (auto, rec, tr)) in settings.iter().enumerate() {
        sc = sc.meeting(
            TeamsMeeting::new(
                host,
                &format!("[youth] Club {i}"),
                Utc::now() + chrono::Duration::hours(24 + i as i64),
                60,
            )
            .set("recordAutomatically", json!(auto))
            .set("allowRecording", json!(rec))
            .set("allowTranscription", json!(tr)),
        );
    }
    sc
}

#[tokio::test]
async fn forbidden_recording_turns_off_recording_by_hand_and_transcription_not_only_automatic_recording()
 {
    // Five of ten meetings are not recorded automatically but allow recording by hand (Teams'
    // default), one of the compliant-looking ones still allows transcription.
    let mut settings = vec![(false, true, true); 5];
    settings.extend(vec![(false, false, false); 4]);
    settings.push((false, false, true));
    let app = spawn(TeamsSimConfig::default(), recording_scenario(&settings)).await;
    let checked = app.run(RunKind::Check, false).await;
    for i in 0..5 {
        let f = finding(
            session(&checked, &format!("[youth] Club {i}")),
            Control::CloudRecording,
        );
        assert_eq!(f.status, Status::Drift, "Club {i}: {f:?}");
        assert!(f.detail.contains("recording-allowed"), "{}", f.detail);
    }
    let f = finding(session(&checked, "[youth] Club 9"), Control::CloudRecording);
    assert_eq!(f.status, Status::Drift, "{f:?}");
    assert!(f.detail.contains("transcription-allowed"), "{}", f.detail);

    let swept = app.run(RunKind::Sweep, false).await;
    for (i, _) in settings.iter().enumerate() {
        let topic = format!("[youth] Club {i}");
        let f = finding(session(&swept, &topic), Control::CloudRecording);
        let expected = if (5..9).contains(&i) {
            Status::Compliant
        } else {
            Status::Fixed
        };
        assert_eq!(f.status, expected, "{topic}: {f:?}");
        let stored = app
            .sim
            .meeting(&app.sim.meeting_id(&topic).expect("id"))
            .expect("meeting");
        for property in [
            "recordAutomatically",
            "allowRecording",
            "allowTranscription",
        ] {
            assert_eq!(stored[property], false, "{topic}: {property}");
        }
    }
    // Read back: a check finds every meeting's recording off.
    let again = app.run(RunKind::Check, false).await;
    for (s, f) in findings(&again).filter(|(_, f)| f.control == Control::CloudRecording) {
        assert_eq!(f.status, Status::Compliant, "{}: {f:?}", s.topic);
    }
}

#[tokio::test]
async fn the_duty_officer_is_looked_up_once_per_run_not_once_per_meeting() {
    // The duty officer is a user of the tenant but not in the staff group, so the adapter must
    // look them up (`GET /users/{email}`) to add them as co-organizer.
    let duty = "duty.officer@riverside.example.org";
    let scenario = small(4).user(TeamsUser::new(duty, "Duty Officer"));
    let app = spawn(TeamsSimConfig::default(), scenario).await;
    let swept = app.run(RunKind::Sweep, false).await;
    for i in 0..4 {
        let s = session(&swept, &format!("[youth] Club {i}"));
        assert_eq!(
            finding(s, Control::SecondStaff).status,
            Status::Fixed,
            "{s:?}"
        );
    }
    assert_eq!(
        app.sim.stats().requests_for("GET", "/v1.0/users/{id}"),
        1,
        "one lookup for four meetings"
    );
    // The next run looks again (a person may have left the organisation meanwhile).
    app.sim
        .set_meeting_property(
            &app.sim.meeting_id("[youth] Club 0").expect("id"),
            "participants",
            json!({"attendees": []}),
        )
        .then_some(())
        .expect("meeting exists");
    app.run(RunKind::Sweep, false).await;
    assert_eq!(app.sim.stats().requests_for("GET", "/v1.0/users/{id}"), 2);
}

#[tokio::test]
async fn a_meeting_that_starts_after_the_collect_is_not_written_and_its_host_is_told() {
    let duty = "duty.officer@riverside.example.org";
    let scenario = small(2)
        .user(TeamsUser::new(duty, "Duty Officer"))
        .add_member("Staff", duty);
    let app = spawn(TeamsSimConfig::default(), scenario).await;
    let collected = app.platform.collect(&app.window()).await.expect("collect");
    let club = collected
        .sessions
        .iter()
        .find(|s| s.topic == "[youth] Club 0")
        .expect("club")
        .clone();
    assert!(!club.in_progress, "collected before it starts");
    // The meeting starts between the collect and the write.
    assert!(app.sim.start_meeting_now(&club.id));
    let lobby_before = app.sim.meeting(&club.id).expect("meeting")["lobbyBypassSettings"].clone();
    let report = sweep::run_sessions(
        TENANT,
        app.platform.clone(),
        app.profiles.clone(),
        app.store.clone(),
        RunOptions {
            kind: RunKind::Sweep,
            dry_run: false,
            now: app.now,
            window: app.window(),
            progress: false,
            host_concurrency: 4,
        },
        collected.sessions,
        collected.directory,
    )
    .await
    .expect("run records");
    let s = session(&report, "[youth] Club 0");
    assert!(s.changes.is_empty(), "{s:?}");
    let f = finding(s, Control::WaitingRoom);
    assert_eq!(f.status, Status::Drift, "{f:?}");
    assert!(f.detail.contains("changed after it ends"), "{}", f.detail);
    assert!(!f.detail.contains("Some("), "{}", f.detail);
    // Nothing written to the live meeting; the other meeting was fixed with its one PATCH.
    assert_eq!(
        app.sim.meeting(&club.id).expect("meeting")["lobbyBypassSettings"],
        lobby_before
    );
    assert_eq!(
        app.sim
            .stats()
            .requests_for("PATCH", "/v1.0/users/{id}/onlineMeetings/{meetingId}"),
        1
    );
    assert_eq!(
        finding(session(&report, "[youth] Club 1"), Control::WaitingRoom).status,
        Status::Fixed
    );
    // The host hears that it is changed after it ends.
    let items = app
        .store
        .digest_items(&report.run_id)
        .await
        .expect("digest items");
    let item = items
        .iter()
        .find(|i| i.session_id == s.session_id)
        .expect("a digest item for the live session");
    assert!(
        item.problems
            .iter()
            .any(|p| p.control == Control::WaitingRoom && p.detail.contains("after it ends")),
        "{:?}",
        item.problems
    );
}

#[tokio::test]
async fn the_read_before_a_write_refuses_an_occurrence_that_went_live_unless_the_run_knew_it_was_live()
 {
    let host = "yw@riverside.example.org";
    let scenario = small(0).meeting(
        TeamsMeeting::new(
            host,
            "[youth] Weekly Club",
            Utc::now() + chrono::Duration::hours(30),
            60,
        )
        .weekly(3)
        .lobby("everyone", false),
    );
    let app = spawn(TeamsSimConfig::default(), scenario).await;
    let collected = app.platform.collect(&app.window()).await.expect("collect");
    let club = collected.sessions.first().expect("the series").clone();
    assert!(!club.in_progress);
    let change = chaperone::platform::Change {
        control: Control::WaitingRoom,
        from: None,
        to: chaperone::platform::Target::Level {
            level: Control::WaitingRoom.level("everyone").expect("level"),
        },
    };
    // Its next occurrence starts now: the calendar says so, the series' own times do not.
    assert!(app.sim.start_meeting_now(&club.id));
    let err = app
        .platform
        .apply(&club, std::slice::from_ref(&change))
        .await
        .expect_err("refused");
    assert!(
        matches!(err, PlatformError::StartedDuringRun { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("[youth] Weekly Club"), "{err}");
    assert_eq!(app.sim.stats().writes, 0);
    assert_eq!(app.platform.write_requests(), 0);
    // A run that planned the change knowing the session was live (a profile with
    // change-in-progress) writes as before.
    let mut live = club.clone();
    live.in_progress = true;
    let applied = app.platform.apply(&live, &[change]).await.expect("written");
    assert_eq!(applied.write_requests, 1);
    assert_eq!(app.sim.stats().writes, 1);
}

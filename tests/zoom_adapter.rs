//! The Zoom adapter over real HTTP against the project's Zoom simulator (`chaperone_sim`), which is
//! written independently from Zoom's spec and shares no code with the client.

use std::time::Duration;

use chaperone::control::{Control, Scope};
use chaperone::platform::zoom::ZoomPlatform;
use chaperone::platform::{Change, Platform, PlatformError, Target, Window};
use chaperone::session::{Lock, Reading, Session};
use chaperone::settings::ZoomSettings;
use chaperone_sim::zoom::FIRST_UNSAFE_ID;
use chaperone_sim::{Fault, Scenario, SimGroup, SimMeeting, SimUser, ZoomSim, ZoomSimConfig};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::json;

const HOST: &str = "yw@example.org";
const STAFF: &str = "staff@example.org";

fn settings_for(sim: &ZoomSim, light: u32, medium: u32) -> ZoomSettings {
    serde_json::from_value(json!({
        "account_id": sim.account_id(),
        "client_id": sim.client_id(),
        "api_base_url": sim.api_base_url(),
        "token_url": sim.token_url(),
        "rate_limits": {"light_per_second": light, "medium_per_second": medium},
        "daily_updates_per_host": 100,
        "timeout_secs": 10
    }))
    .expect("zoom settings")
}

async fn start(config: ZoomSimConfig, scenario: Scenario) -> (ZoomSim, ZoomPlatform) {
    let sim = ZoomSim::start(config, scenario).await.expect("sim starts");
    // Generous client limits: most tests run the simulator unlimited.
    let zoom = ZoomPlatform::new(
        "test-tenant",
        &settings_for(&sim, 200, 200),
        SecretString::from(sim.client_secret().to_string()),
    )
    .expect("adapter");
    (sim, zoom)
}

fn window_days(days: i64) -> Window {
    let now = Utc::now();
    Window {
        from: now - chrono::Duration::minutes(1),
        to: now + chrono::Duration::days(days),
    }
}

fn soon(hours: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::hours(hours)
}

/// One youth worker in "Youth Workers", one staff member, one meeting per id given.
fn small(ids: &[u64]) -> Scenario {
    let mut sc = Scenario::empty()
        .group(SimGroup::new("Youth Workers"))
        .group(SimGroup::new("Staff"))
        .user(
            SimUser::new(HOST, "Yusuf", "Worker")
                .in_group("Youth Workers")
                .setting("/in_meeting/file_transfer", json!(true))
                .setting("/in_meeting/who_can_share_screen", json!("all")),
        )
        .user(SimUser::new(STAFF, "Sam", "Staff").in_group("Staff"));
    for (i, id) in ids.iter().enumerate() {
        sc = sc.meeting(SimMeeting::scheduled(
            *id,
            HOST,
            &format!("[youth] Club {i}"),
            soon(24 + i as i64),
            60,
        ));
    }
    sc
}

fn level(s: &Session, c: Control) -> &'static str {
    match s.readings.get(&c) {
        Some(Reading::Value { level, .. }) => c.level_name(*level),
        other => panic!("{c} of {}: {other:?}", s.id),
    }
}

fn lock(s: &Session, c: Control) -> Option<Lock> {
    match s.readings.get(&c) {
        Some(Reading::Value { locked, .. }) => locked.clone(),
        other => panic!("{c}: {other:?}"),
    }
}

fn to(c: Control, name: &str) -> Change {
    Change {
        control: c,
        from: None,
        to: Target::Level {
            level: c.level(name).expect("level"),
        },
    }
}

#[tokio::test]
async fn collect_finds_the_demo_meetings_with_their_readings() {
    let scenario = Scenario::demo();
    let expected: Vec<u64> = scenario.meetings.iter().map(|m| m.id).collect();
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), scenario).await;
    let got = zoom.collect(&window_days(15)).await.expect("collect");
    assert!(got.failures.is_empty(), "{:?}", got.failures);
    assert!(!got.sessions.is_empty());
    for s in &got.sessions {
        assert!(s.read_error.is_none(), "{}: {:?}", s.id, s.read_error);
        let id: u64 = s.id.parse().expect("decimal id");
        assert!(expected.contains(&id), "unknown id {id}");
        assert_eq!(s.platform, chaperone::session::PlatformKind::Zoom);
        for c in [Control::RejoinAfterRemoval, Control::AttendanceRecord] {
            assert!(matches!(
                s.readings.get(&c),
                Some(Reading::Unsupported { .. })
            ));
        }
        assert!(!s.readings.contains_key(&Control::SecondStaff));
        assert!(!s.readings.contains_key(&Control::CoverHours));
    }
    assert!(
        got.sessions
            .iter()
            .any(|s| s.id.parse::<u64>().is_ok_and(|id| id > (1 << 53))),
        "ids above 2^53 survive"
    );
    // The recurring meeting without a fixed time is kept.
    assert!(
        got.sessions
            .iter()
            .any(|s| s.topic.contains("Summer Residential"))
    );
    // Group names, not ids.
    let forum = got
        .sessions
        .iter()
        .find(|s| s.topic == "[youth] Youth Forum")
        .expect("youth forum");
    assert!(
        forum.host.groups.contains(&"Youth Workers".to_string()),
        "{:?}",
        forum.host
    );
    assert_eq!(forum.host.email, "alex.morgan@riverside.example.org");
    // Alex is a drifted host: everyone may share, files may be sent, chat not kept.
    assert_eq!(level(forum, Control::ScreenShare), "all");
    assert_eq!(level(forum, Control::FileTransfer), "on");
    assert_eq!(level(forum, Control::ChatKept), "off");
    assert_eq!(level(forum, Control::LocalRecording), "allowed");
    // Tom is in "Volunteers", which locks screen sharing.
    let homework = got
        .sessions
        .iter()
        .find(|s| s.topic == "[youth] Homework Help")
        .expect("homework help");
    assert!(matches!(
        lock(homework, Control::ScreenShare),
        Some(Lock::Group { name, .. }) if name == "Volunteers"
    ));
    // Megan is the compliant host.
    let megan = got
        .sessions
        .iter()
        .find(|s| s.host.email.starts_with("megan.price"))
        .expect("megan");
    assert_eq!(level(megan, Control::ChatKept), "on");
    assert_eq!(level(megan, Control::PrivateChat), "off");
    // Every readable field agrees with the simulator's own meeting object.
    for s in &got.sessions {
        let id: u64 = s.id.parse().expect("id");
        let m = sim.meeting(id).expect("in sim");
        let has_pw = m["password"].as_str().is_some_and(|p| !p.is_empty());
        assert_eq!(
            level(s, Control::Passcode),
            if has_pw { "required" } else { "optional" }
        );
        let jbh = m["settings"]["join_before_host"].as_bool() == Some(true);
        assert_eq!(
            level(s, Control::JoinBeforeHost),
            if jbh { "on" } else { "off" }
        );
        assert_eq!(s.in_progress, m["status"] == "started");
    }
    // The directory lists every user with group names.
    assert!(got.directory.contains_key("kim.lee@riverside.example.org"));
    let stats = sim.stats();
    assert_eq!(stats.writes, 0, "collect writes nothing");
    assert_eq!(zoom.write_requests(), 0);
}

#[tokio::test]
async fn apply_then_read_back_shows_the_changes() {
    let id = 81_234_567_890;
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), small(&[id])).await;
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    let before = got.sessions.first().expect("one session").clone();
    assert_eq!(level(&before, Control::Passcode), "optional");
    assert_eq!(level(&before, Control::FileTransfer), "on");
    let changes = vec![
        to(Control::Passcode, "required"),
        to(Control::WaitingRoom, "everyone"),
        to(Control::JoinBeforeHost, "off"),
        to(Control::FileTransfer, "off"),
        to(Control::ScreenShare, "host-only"),
        to(Control::ChatKept, "on"),
        to(Control::PrivateChat, "off"),
        Change {
            control: Control::SecondStaff,
            from: None,
            to: Target::AddCoHost {
                email: STAFF.into(),
            },
        },
    ];
    let applied = zoom.apply(&before, &changes).await.expect("apply");
    assert_eq!(
        applied.write_requests, 2,
        "one meeting PATCH, one host PATCH"
    );
    assert_eq!(zoom.write_requests(), 2);
    assert_eq!(sim.stats().writes, 2);
    let after = zoom.read_session(&before).await.expect("read back");
    assert_eq!(level(&after, Control::Passcode), "required");
    assert_eq!(level(&after, Control::WaitingRoom), "everyone");
    assert_eq!(level(&after, Control::JoinBeforeHost), "off");
    assert_eq!(level(&after, Control::FileTransfer), "off");
    assert_eq!(level(&after, Control::ScreenShare), "host-only");
    assert_eq!(level(&after, Control::ChatKept), "on");
    assert_eq!(level(&after, Control::PrivateChat), "off");
    assert_eq!(after.co_hosts, vec![STAFF.to_string()]);
    let m = sim.meeting(id).expect("meeting");
    let pw = m["password"].as_str().expect("password");
    assert_eq!(pw.len(), 10);
    assert!(pw.bytes().all(|c| c.is_ascii_alphanumeric()), "{pw}");
    assert_ne!(after.join_url, None);

    // A second apply of the passcode never replaces it.
    let again = zoom
        .apply(&after, &[to(Control::Passcode, "required")])
        .await
        .expect("apply");
    assert_eq!(again.write_requests, 0);
    assert_eq!(sim.meeting(id).expect("m")["password"].as_str(), Some(pw));
}

#[tokio::test]
async fn a_locked_host_setting_reads_back_unchanged() {
    let id = 81_234_567_891;
    let scenario = Scenario::empty()
        .group(SimGroup::new("Youth Workers").lock("/in_meeting/file_transfer", true))
        .user(
            SimUser::new(HOST, "Yusuf", "Worker")
                .in_group("Youth Workers")
                .setting("/in_meeting/file_transfer", json!(true)),
        )
        .meeting(SimMeeting::scheduled(
            id,
            HOST,
            "[youth] Locked",
            soon(30),
            60,
        ));
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), scenario).await;
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    let before = got.sessions.first().expect("session").clone();
    assert_eq!(level(&before, Control::FileTransfer), "on");
    assert!(
        matches!(lock(&before, Control::FileTransfer), Some(Lock::Group { name, .. }) if name == "Youth Workers")
    );
    let applied = zoom
        .apply(&before, &[to(Control::FileTransfer, "off")])
        .await
        .expect("204 even though locked");
    assert_eq!(applied.write_requests, 1);
    let after = zoom.read_session(&before).await.expect("read back");
    assert_eq!(level(&after, Control::FileTransfer), "on", "the lock wins");
    assert_eq!(sim.stats().writes, 1);
}

#[tokio::test]
async fn a_revoked_token_is_refreshed_once_and_the_call_succeeds() {
    let id = 81_234_567_892;
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), small(&[id])).await;
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    assert_eq!(zoom.tokens_fetched(), 1);
    sim.revoke_tokens();
    let s = got.sessions.first().expect("session");
    let again = zoom.read_session(s).await.expect("refreshed and retried");
    assert_eq!(again.id, s.id);
    assert_eq!(zoom.tokens_fetched(), 2);
    assert_eq!(sim.stats().unauthorized, 1);
}

#[tokio::test]
async fn a_token_that_is_always_refused_is_an_auth_error_after_one_refresh() {
    let id = 81_234_567_893;
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), small(&[id])).await;
    // Every token is revoked before each meeting read.
    sim.inject(
        Fault::revoke_tokens()
            .on_route("GET /v2/meetings/{meetingId}")
            .times(10),
    );
    let fake = fake_session(id);
    let err = zoom.read_session(&fake).await.expect_err("refused");
    assert!(matches!(err, PlatformError::Auth { .. }), "{err:?}");
    assert!(zoom.tokens_fetched() <= 2, "refreshes once, not in a loop");
}

fn fake_session(id: u64) -> Session {
    Session {
        platform: chaperone::session::PlatformKind::Zoom,
        id: id.to_string(),
        topic: String::new(),
        host: chaperone::session::Host {
            id: String::new(),
            email: HOST.into(),
            name: String::new(),
            groups: Vec::new(),
        },
        start: None,
        duration_minutes: 0,
        timezone: None,
        occurrences: Vec::new(),
        in_progress: false,
        join_url: None,
        tracking_fields: Vec::new(),
        co_hosts: Vec::new(),
        readings: Default::default(),
        read_error: None,
    }
}

#[tokio::test]
async fn garbage_json_for_one_meeting_gives_that_session_a_read_error() {
    let ids = [81_234_567_900, 81_234_567_901, 81_234_567_902];
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), small(&ids)).await;
    sim.inject(
        Fault::malformed_json()
            .on_route("GET /v2/meetings/{meetingId}")
            .on_meeting(ids[1]),
    );
    let got = zoom
        .collect(&window_days(3))
        .await
        .expect("collect goes on");
    assert_eq!(got.sessions.len(), 3);
    for s in &got.sessions {
        if s.id == ids[1].to_string() {
            let why = s.read_error.as_deref().expect("read error");
            assert!(why.contains(&format!("/meetings/{}", ids[1])), "{why}");
            assert!(
                s.readings
                    .values()
                    .all(|r| !matches!(r, Reading::Value { .. }))
            );
        } else {
            assert!(s.read_error.is_none());
            assert_eq!(level(s, Control::Passcode), "optional");
        }
    }
}

#[tokio::test]
async fn a_host_whose_meetings_cannot_be_listed_is_a_failure_and_the_rest_goes_on() {
    let id = 81_234_567_910;
    let scenario = small(&[id])
        .user(SimUser::new("other@example.org", "O", "Ther"))
        .meeting(SimMeeting::scheduled(
            id + 1,
            "other@example.org",
            "[youth] Other",
            soon(25),
            60,
        ));
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), scenario).await;
    // Every host's meeting list fails (500 beyond the retry budget): each host is a failure
    // of its own, and collect still answers.
    sim.inject(Fault::status(500).on_route("GET /v2/users/{userId}/meetings"));
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    assert_eq!(got.failures.len(), 3, "{:?}", got.failures);
    assert!(
        got.failures
            .iter()
            .all(|f| f.host_email.is_some() && f.error.contains("500"))
    );
    assert!(got.sessions.is_empty());
}

#[tokio::test]
async fn host_settings_failure_makes_host_readings_errors() {
    let id = 81_234_567_920;
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), small(&[id])).await;
    sim.inject(Fault::status(400).on_route("GET /v2/users/{userId}/settings"));
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    let s = got.sessions.first().expect("session");
    assert!(s.read_error.is_none());
    for c in [
        Control::ScreenShare,
        Control::FileTransfer,
        Control::ChatKept,
        Control::PrivateChat,
    ] {
        assert!(
            matches!(s.readings.get(&c), Some(Reading::Error { .. })),
            "{c}"
        );
    }
    assert_eq!(level(s, Control::Passcode), "optional");
}

#[tokio::test]
async fn rate_limits_are_honoured_and_429s_retried() {
    let ids: Vec<u64> = (0..12).map(|i| 81_234_568_000 + i).collect();
    // The simulator allows 5 light and 5 medium calls a second; the client is told 10, so it
    // must meet 429s and honour Retry-After.
    let sim = ZoomSim::start(
        ZoomSimConfig::pro().with_rate_limits(Some(5), Some(5)),
        small(&ids),
    )
    .await
    .expect("sim");
    let zoom = ZoomPlatform::new(
        "t",
        &settings_for(&sim, 10, 10),
        SecretString::from(sim.client_secret().to_string()),
    )
    .expect("adapter");
    let got = zoom
        .collect(&window_days(30))
        .await
        .expect("collect despite 429s");
    assert_eq!(got.sessions.len(), ids.len());
    assert!(got.sessions.iter().all(|s| s.read_error.is_none()));
    let stats = sim.stats();
    assert!(
        stats.total_429s() > 0,
        "the test must provoke 429s: {stats:?}"
    );
}

#[tokio::test]
async fn the_client_stays_under_the_configured_rate() {
    let ids: Vec<u64> = (0..40).map(|i| 81_234_569_000 + i).collect();
    let sim = ZoomSim::start(
        ZoomSimConfig::pro().with_rate_limits(Some(20), Some(10)),
        small(&ids),
    )
    .await
    .expect("sim");
    let zoom = ZoomPlatform::new(
        "t",
        &settings_for(&sim, 20, 10),
        SecretString::from(sim.client_secret().to_string()),
    )
    .expect("adapter");
    let started = std::time::Instant::now();
    let got = zoom.collect(&window_days(60)).await.expect("collect");
    let took = started.elapsed();
    assert_eq!(got.sessions.len(), ids.len());
    let stats = sim.stats();
    assert_eq!(
        stats.total_429s(),
        0,
        "never over the limit: {:?}",
        stats.rate_limited
    );
    // 40 light calls at 20/s take at least about two seconds (how close to that floor a run
    // gets is measured by `chaperone bench`, not asserted with a wall-clock ceiling here).
    assert!(took >= Duration::from_millis(1900), "{took:?}");
}

#[tokio::test]
async fn injected_429s_are_waited_out() {
    let id = 81_234_567_930;
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), small(&[id])).await;
    sim.inject(
        Fault::status(429)
            .on_route("GET /v2/meetings/{meetingId}")
            .times(2),
    );
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    assert!(got.sessions[0].read_error.is_none());
}

#[tokio::test]
async fn the_per_host_daily_limit_is_not_retried() {
    let ids = [81_234_567_940, 81_234_567_941, 81_234_567_942];
    let sim = ZoomSim::start(
        ZoomSimConfig::unlimited().with_daily_limit(Some(2)),
        small(&ids),
    )
    .await
    .expect("sim");
    let zoom = ZoomPlatform::new(
        "t",
        &settings_for(&sim, 100, 100),
        SecretString::from(sim.client_secret().to_string()),
    )
    .expect("adapter");
    // Drifted, so each apply has something to write (what a meeting holds is not written again).
    for id in ids {
        sim.set_meeting_field(id, "/settings/join_before_host", json!(true));
    }
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    let mut results = Vec::new();
    for s in &got.sessions {
        results.push(zoom.apply(s, &[to(Control::JoinBeforeHost, "off")]).await);
    }
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    assert!(
        matches!(results[2], Err(PlatformError::DailyBudgetExhausted { .. })),
        "{:?}",
        results[2]
    );
    assert_eq!(sim.stats().daily_limited, 1, "asked once, never retried");
    // Once Zoom said so, the client refuses by itself.
    let again = zoom
        .apply(&got.sessions[2], &[to(Control::JoinBeforeHost, "off")])
        .await;
    assert!(matches!(
        again,
        Err(PlatformError::DailyBudgetExhausted { .. })
    ));
    assert_eq!(sim.stats().daily_limited, 1);
}

#[tokio::test]
async fn a_seeded_daily_count_refuses_before_writing() {
    let id = 81_234_567_950;
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), small(&[id])).await;
    sim.set_meeting_field(id, "/settings/join_before_host", json!(true));
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    let s = &got.sessions[0];
    zoom.seed_daily_updates(&s.host.id, 100);
    let err = zoom
        .apply(s, &[to(Control::JoinBeforeHost, "off")])
        .await
        .expect_err("budget");
    assert!(
        matches!(err, PlatformError::DailyBudgetExhausted { limit: 100, .. }),
        "{err:?}"
    );
    assert_eq!(sim.stats().writes, 0);
}

#[tokio::test]
async fn ids_above_two_to_the_53_survive_collect_apply_and_read_back() {
    let id = FIRST_UNSAFE_ID;
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), small(&[id])).await;
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    let s = got.sessions.first().expect("session");
    assert_eq!(s.id, "9007199254740993");
    zoom.apply(
        s,
        &[
            to(Control::JoinBeforeHost, "off"),
            to(Control::WaitingRoom, "everyone"),
        ],
    )
    .await
    .expect("apply");
    let after = zoom.read_session(s).await.expect("read");
    assert_eq!(after.id, "9007199254740993");
    assert_eq!(level(&after, Control::WaitingRoom), "everyone");
    assert_eq!(
        sim.meeting(id).expect("m")["settings"]["waiting_room"],
        json!(true)
    );
}

#[tokio::test]
async fn a_deleted_meeting_reads_back_as_not_found() {
    let id = 81_234_567_960;
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), small(&[id])).await;
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    assert!(sim.delete_meeting(id));
    let err = zoom.read_session(&got.sessions[0]).await.expect_err("gone");
    assert!(matches!(err, PlatformError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn the_secret_never_appears_in_errors() {
    let id = 81_234_567_970;
    let sim = ZoomSim::start(ZoomSimConfig::unlimited(), small(&[id]))
        .await
        .expect("sim");
    let secret = sim.client_secret().to_string();
    // A wrong secret that must not leak either.
    let wrong = "wrong-secret-value-42";
    let bad = ZoomPlatform::new(
        "t",
        &settings_for(&sim, 50, 50),
        SecretString::from(wrong.to_string()),
    )
    .expect("adapter");
    let err = bad.collect(&window_days(3)).await.expect_err("refused");
    assert!(matches!(err, PlatformError::Auth { .. }), "{err:?}");
    let shown = format!("{err} {err:?} {bad:?}");
    assert!(!shown.contains(wrong), "{shown}");

    let good = ZoomPlatform::new(
        "t",
        &settings_for(&sim, 50, 50),
        SecretString::from(secret.clone()),
    )
    .expect("adapter");
    sim.inject(Fault::status(503));
    let err = good.collect(&window_days(3)).await.expect_err("503s");
    sim.clear_faults();
    sim.inject(Fault::status(400).on_route("GET /v2/users"));
    let err2 = good.collect(&window_days(3)).await.expect_err("400");
    let shown = format!("{err} {err:?} {err2} {err2:?} {good:?}");
    assert!(!shown.contains(&secret), "{shown}");
    assert!(!shown.to_lowercase().contains("bearer"), "{shown}");
}

#[tokio::test]
async fn local_recording_is_fixed_on_the_meeting_and_the_host() {
    let id = 81_234_567_980;
    let scenario = Scenario::empty()
        .user(SimUser::new(HOST, "Y", "W").setting("/recording/local_recording", json!(true)))
        .meeting(
            SimMeeting::scheduled(id, HOST, "[youth] Rec", soon(30), 60)
                .setting("/auto_recording", json!("local")),
        );
    let (sim, zoom) = start(ZoomSimConfig::unlimited(), scenario).await;
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    let s = &got.sessions[0];
    assert!(matches!(
        s.readings.get(&Control::LocalRecording),
        Some(Reading::Value {
            scope: Scope::Host,
            ..
        })
    ));
    let applied = zoom
        .apply(s, &[to(Control::LocalRecording, "off")])
        .await
        .expect("apply");
    assert_eq!(applied.write_requests, 2);
    let after = zoom.read_session(s).await.expect("read");
    assert_eq!(level(&after, Control::LocalRecording), "off");
    assert_eq!(
        sim.meeting(id).expect("m")["settings"]["auto_recording"],
        json!("none")
    );
}

#[tokio::test]
async fn recurring_meetings_are_kept_by_their_occurrences() {
    let id = 81_234_567_990;
    let first = Utc::now() - chrono::Duration::days(6);
    let scenario = Scenario::empty()
        .user(SimUser::new(HOST, "Y", "W"))
        .meeting(SimMeeting::weekly(id, HOST, "[youth] Weekly", first, 60, 4));
    let (_sim, zoom) = start(ZoomSimConfig::unlimited(), scenario).await;
    let got = zoom.collect(&window_days(3)).await.expect("collect");
    let s = got
        .sessions
        .first()
        .expect("the series has an occurrence tomorrow");
    assert!(!s.occurrences.is_empty());
}

#[tokio::test]
async fn a_session_can_be_fetched_by_its_id_alone() {
    let (_sim, zoom) = start(ZoomSimConfig::unlimited(), small(&[FIRST_UNSAFE_ID])).await;
    let s = zoom
        .fetch_session(&FIRST_UNSAFE_ID.to_string())
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(s.id, FIRST_UNSAFE_ID.to_string());
    assert_eq!(s.host.email, HOST);
    assert_eq!(s.host.groups, vec!["Youth Workers".to_string()]);
    assert_eq!(level(&s, Control::FileTransfer), "on");
    let dir = zoom.directory().await.expect("directory");
    assert_eq!(dir.get(STAFF), Some(&vec!["Staff".to_string()]));
}

#[tokio::test]
async fn fetching_a_meeting_that_does_not_exist_gives_none() {
    let (_sim, zoom) = start(ZoomSimConfig::unlimited(), small(&[FIRST_UNSAFE_ID])).await;
    assert!(
        zoom.fetch_session("81234567999")
            .await
            .expect("read")
            .is_none()
    );
    assert!(zoom.fetch_session("not-a-number").await.is_err());
}

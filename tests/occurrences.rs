//! Recurring Zoom meetings whose occurrences keep settings of their own, and meetings that go live
//! while a run is working on them, over real HTTP against the Zoom simulator. Zoom keeps waiting
//! room, join before host and auto recording per occurrence (meetings.openapi.json,
//! `occurrence_id` on `GET`/`PATCH /meetings/{meetingId}`; zoom.md §2.1): "fixed" must mean every
//! occurrence in the window, read back.

mod common;

use chaperone::control::{Control, Status};
use chaperone::report::{RunKind, SessionReport};
use chaperone::sweep;
use chaperone_sim::{Scenario, SimGroup, SimMeeting, SimUser};
use chrono::{Duration, Utc};
use common::{TENANT, TestApp, spawn_app};
use serde_json::{Value, json};

const HOST: &str = "yw@example.org";
const STAFF: &str = "staff@example.org";
const CLUB: u64 = 87_000_000_001;

/// A weekly youth club whose series is strict everywhere, except its third occurrence, edited on
/// its own by the host: no waiting room, recorded on the laptop.
fn weekly_club_with_one_weak_occurrence() -> Scenario {
    let first = Utc::now() + Duration::days(1);
    Scenario::empty()
        .group(SimGroup::new("Staff"))
        .user(SimUser::new(HOST, "Yusuf", "Worker").in_group("Staff"))
        .user(SimUser::new(STAFF, "Sam", "Staff").in_group("Staff"))
        .meeting(
            SimMeeting::weekly(CLUB, HOST, "[youth] Weekly Club", first, 60, 4)
                .password("Ab3dE6gH9k")
                .setting("/waiting_room", json!(true))
                .setting(
                    "/waiting_room_options",
                    json!({"mode": "custom", "who_goes_to_waiting_room": "everyone"}),
                )
                .setting("/join_before_host", json!(false))
                .setting("/auto_recording", json!("none"))
                .setting("/alternative_hosts", json!(STAFF))
                .occurrence_setting(2, "/waiting_room", json!(false))
                .occurrence_setting(2, "/auto_recording", json!("local")),
        )
}

fn occurrence_ids(app: &TestApp, id: u64) -> Vec<String> {
    let series = app.sim.meeting(id).expect("the meeting exists");
    series["occurrences"]
        .as_array()
        .expect("a recurring meeting has occurrences")
        .iter()
        .filter_map(|o| o["occurrence_id"].as_str().map(str::to_string))
        .collect()
}

fn setting(v: &Value, key: &str) -> Value {
    v["settings"][key].clone()
}

fn club(report: &[SessionReport]) -> &SessionReport {
    report
        .iter()
        .find(|s| s.session_id == CLUB.to_string())
        .expect("the weekly club is in the report")
}

fn status(s: &SessionReport, c: Control) -> (Status, String) {
    let f = s
        .findings
        .iter()
        .find(|f| f.control == c)
        .expect("a finding for every control");
    (f.status, f.detail.clone())
}

#[tokio::test]
async fn a_check_judges_each_occurrence_on_its_own_settings_and_names_its_date() {
    let app = spawn_app(weekly_club_with_one_weak_occurrence()).await;
    let writes_before = app.writes();
    let checked = app.run(RunKind::Check, false).await;
    let s = club(&checked.sessions);
    for control in [Control::WaitingRoom, Control::LocalRecording] {
        let (st, detail) = status(s, control);
        assert_eq!(st, Status::Drift, "{control}: {detail}");
        assert!(
            detail.contains("on the occurrence of"),
            "the finding names the occurrence: {detail}"
        );
    }
    // The occurrence's date as its host would read it, in the meeting's own time zone.
    let third = app.sim.meeting(CLUB).expect("meeting")["occurrences"][2]["start_time"]
        .as_str()
        .and_then(|t| t.parse::<chrono::DateTime<Utc>>().ok())
        .expect("a start time");
    let day = third
        .with_timezone(&chrono_tz::Europe::London)
        .format("%-d %b %Y")
        .to_string();
    assert!(
        status(s, Control::WaitingRoom).1.contains(&day),
        "names {day}: {}",
        status(s, Control::WaitingRoom).1
    );
    assert_eq!(status(s, Control::JoinBeforeHost).0, Status::Compliant);
    assert_eq!(app.writes(), writes_before, "a check never writes");
}

#[tokio::test]
async fn a_sweep_fixes_the_occurrence_itself_and_proves_it_by_reading_every_occurrence_back() {
    let app = spawn_app(weekly_club_with_one_weak_occurrence()).await;
    let swept = app.run(RunKind::Sweep, false).await;
    let s = club(&swept.sessions);
    for control in [Control::WaitingRoom, Control::LocalRecording] {
        let (st, detail) = status(s, control);
        assert_eq!(st, Status::Fixed, "{control}: {detail}");
        let record = s
            .changes
            .iter()
            .find(|c| c.control == control && c.verified)
            .expect("a verified change record");
        assert!(
            record
                .before
                .as_deref()
                .is_some_and(|b| b.contains("on the occurrence of")),
            "the record names the occurrence it fixed: {record:?}"
        );
    }
    // What Zoom now holds for every occurrence, read as Zoom would show it.
    for occurrence in occurrence_ids(&app, CLUB) {
        let o = app.sim.occurrence(CLUB, &occurrence).expect("occurrence");
        assert_eq!(setting(&o, "waiting_room"), json!(true), "{occurrence}");
        assert_ne!(
            setting(&o, "auto_recording"),
            json!("local"),
            "{occurrence}"
        );
    }
    // The series was strict already: only the occurrence was written (one update of the 100).
    assert_eq!(
        app.sim
            .stats()
            .requests_for("PATCH", "/v2/meetings/{meetingId}"),
        1,
        "one meeting PATCH, on the occurrence"
    );
    let checked = app.run(RunKind::Check, false).await;
    let s = club(&checked.sessions);
    assert_eq!(status(s, Control::WaitingRoom).0, Status::Compliant);
    assert_eq!(status(s, Control::LocalRecording).0, Status::Compliant);
}

#[tokio::test]
async fn the_demo_weekly_drop_in_is_fixed_on_its_edited_evening_too() {
    let app = spawn_app(Scenario::demo()).await;
    let swept = app.run(RunKind::Sweep, false).await;
    let drop_in = swept
        .sessions
        .iter()
        .find(|s| s.topic == "[youth] Thursday Drop-in")
        .expect("the demo has the drop-in");
    let id: u64 = drop_in.session_id.parse().expect("a Zoom id");
    assert_eq!(status(drop_in, Control::WaitingRoom).0, Status::Fixed);
    for occurrence in occurrence_ids(&app, id) {
        let o = app.sim.occurrence(id, &occurrence).expect("occurrence");
        assert_eq!(setting(&o, "waiting_room"), json!(true), "{occurrence}");
        assert_ne!(
            setting(&o, "auto_recording"),
            json!("local"),
            "{occurrence}"
        );
    }
}

#[tokio::test]
async fn a_meeting_that_goes_live_after_the_collect_is_not_written_and_its_host_is_told() {
    // A one-off session with no waiting room and no passcode: the fix would change its join link.
    let start = Utc::now() + Duration::minutes(5);
    let scenario = Scenario::empty()
        .group(SimGroup::new("Staff"))
        .user(SimUser::new(HOST, "Yusuf", "Worker").in_group("Staff"))
        .user(SimUser::new(STAFF, "Sam", "Staff").in_group("Staff"))
        .meeting(
            SimMeeting::scheduled(CLUB, HOST, "[youth] Evening Club", start, 60)
                .setting("/alternative_hosts", json!(STAFF)),
        );
    let app = spawn_app(scenario).await;
    let opts = app.options(RunKind::Sweep, false);
    let collected = app.platform.collect(&opts.window).await.expect("collect");
    let snapshot = collected
        .sessions
        .into_iter()
        .find(|s| s.id == CLUB.to_string())
        .expect("collected");
    assert!(!snapshot.in_progress, "not live when collected");
    // The host starts the session a few minutes early, while the run is working.
    app.sim.set_meeting_field(CLUB, "/status", json!("started"));
    let writes_before = app.writes();
    let report = sweep::run_sessions(
        TENANT,
        app.platform.clone(),
        app.profiles.clone(),
        app.store.clone(),
        opts,
        vec![snapshot],
        collected.directory,
    )
    .await
    .expect("run records");
    assert_eq!(
        app.writes(),
        writes_before,
        "nothing is written to a live session"
    );
    let meeting = app.sim.meeting(CLUB).expect("meeting");
    assert!(
        meeting.get("password").is_none(),
        "the join link is unchanged"
    );
    let s = club(&report.sessions);
    for control in [Control::Passcode, Control::WaitingRoom] {
        let (st, detail) = status(s, control);
        assert_eq!(st, Status::Drift, "{control}: {detail}");
        assert!(detail.contains("changed after it ends"), "{detail}");
    }
    let items = app
        .store
        .digest_items(&report.run_id)
        .await
        .expect("digest items");
    let item = items
        .iter()
        .find(|i| i.session_id == CLUB.to_string())
        .expect("the host is told");
    assert!(
        item.problems
            .iter()
            .any(|p| p.control == Control::Passcode && p.detail.contains("changed after it ends")),
        "{:?}",
        item.problems
    );
}

use std::collections::BTreeMap;

use chrono::{NaiveTime, TimeZone, Weekday};
use proptest::prelude::*;

use super::*;
use crate::control::Scope;
use crate::profile::{CoverHours, CoverWindow, Remediation, Selector, Waiver};
use crate::session::{Host, Lock, PlatformKind};

fn now() -> DateTime<Utc> {
    // Monday 23 November 2026, 12:00 UTC
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

fn strict_profile() -> Profile {
    let controls = Control::ALL
        .into_iter()
        .filter(|c| *c != Control::CloudRecording)
        .map(|c| (c, c.strictest()))
        .collect();
    Profile {
        name: "youth-group".into(),
        source: "profiles/youth-group.toml".into(),
        description: String::new(),
        selector: Selector {
            topic_tags: vec!["[youth]".into()],
            ..Selector::default()
        },
        controls,
        cloud_recording: Some(CloudRecordingPolicy::Forbidden),
        staff: Staff {
            groups: vec!["Staff".into()],
            domains: vec![],
            emails: vec![],
            duty_pool: vec!["duty@example.org".into()],
        },
        cover_hours: Some(CoverHours {
            timezone: chrono_tz::Europe::London,
            windows: vec![CoverWindow {
                days: vec![
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                ],
                start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
            }],
        }),
        remediation: Remediation::default(),
        reminders: vec![],
        notify: Default::default(),
        waivers: vec![],
    }
}

/// A session drifted in every control that has a reading.
fn drifted_session() -> Session {
    let mut readings = BTreeMap::new();
    for c in Control::ALL {
        let scope = c.default_scope();
        match c {
            Control::SecondStaff | Control::CoverHours => {}
            Control::RejoinAfterRemoval => {
                readings.insert(
                    c,
                    Reading::Unsupported {
                        reason: "no API".into(),
                    },
                );
            }
            Control::CloudRecording => {
                readings.insert(c, Reading::value(Level(1), scope));
            }
            _ => {
                readings.insert(c, Reading::value(Level(0), scope));
            }
        }
    }
    Session {
        platform: PlatformKind::Zoom,
        id: "9007199254740993".into(),
        topic: "[youth] Thursday Drop-in".into(),
        host: Host {
            id: "u1".into(),
            email: "alex@example.org".into(),
            name: "Alex".into(),
            groups: vec!["Youth Workers".into()],
        },
        // Tuesday 24 November 2026 18:00 London (= UTC in winter)
        start: Some(Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap()),
        duration_minutes: 90,
        timezone: Some("Europe/London".into()),
        occurrences: vec![],
        in_progress: false,
        join_url: None,
        tracking_fields: vec![],
        co_hosts: vec![],
        readings,
        read_error: None,
    }
}

fn status_of(findings: &[Finding], c: Control) -> Status {
    findings
        .iter()
        .find(|f| f.control == c)
        .map(|f| f.status)
        .unwrap()
}

fn ctx(directory: &Directory) -> Context<'_> {
    Context {
        now: now(),
        directory,
    }
}

/// Applies a plan the way an honest platform would, in memory.
fn apply_in_memory(session: &Session, changes: &[Change]) -> Session {
    let mut s = session.clone();
    for c in changes {
        match &c.to {
            Target::Level { level } => {
                let scope = c.control.default_scope();
                s.readings.insert(c.control, Reading::value(*level, scope));
            }
            Target::AddCoHost { email } => s.co_hosts.push(email.clone()),
        }
    }
    s
}

#[test]
fn a_drifted_session_has_drift_in_every_readable_control() {
    let dir = Directory::new();
    let f = evaluate(&strict_profile(), &drifted_session(), &ctx(&dir));
    for c in [
        Control::Passcode,
        Control::WaitingRoom,
        Control::JoinBeforeHost,
        Control::ScreenShare,
        Control::FileTransfer,
        Control::LocalRecording,
        Control::CloudRecording,
        Control::ChatKept,
        Control::PrivateChat,
        Control::AttendanceRecord,
        Control::SecondStaff,
    ] {
        assert_eq!(status_of(&f, c), Status::Drift, "{c}");
    }
    assert_eq!(
        status_of(&f, Control::RejoinAfterRemoval),
        Status::Unsupported
    );
    assert_eq!(status_of(&f, Control::CoverHours), Status::Compliant);
}

#[test]
fn the_plan_for_a_drifted_session_fixes_it_completely() {
    let dir = Directory::new();
    let profile = strict_profile();
    let session = drifted_session();
    let findings = evaluate(&profile, &session, &ctx(&dir));
    let changes = plan(&profile, &session, &findings, now());
    let after = evaluate(&profile, &apply_in_memory(&session, &changes), &ctx(&dir));
    let (settled, records) = settle(&changes, after);
    assert!(settled.iter().all(|f| f.status != Status::Drift));
    assert_eq!(status_of(&settled, Control::Passcode), Status::Fixed);
    assert_eq!(status_of(&settled, Control::SecondStaff), Status::Fixed);
    assert!(records.iter().all(|r| r.verified));
    assert_eq!(records.len(), changes.len());
}

#[test]
fn a_write_the_platform_ignored_is_not_counted_as_fixed() {
    let dir = Directory::new();
    let profile = strict_profile();
    let session = drifted_session();
    let findings = evaluate(&profile, &session, &ctx(&dir));
    let changes = plan(&profile, &session, &findings, now());
    // The read-back shows nothing changed.
    let after = evaluate(&profile, &session, &ctx(&dir));
    let (settled, records) = settle(&changes, after);
    assert!(settled.iter().all(|f| f.status != Status::Fixed));
    assert!(records.iter().all(|r| !r.verified));
    let wr = settled
        .iter()
        .find(|f| f.control == Control::WaitingRoom)
        .unwrap();
    assert!(wr.detail.contains("read-back still shows"), "{}", wr.detail);
}

#[test]
fn a_host_setting_locked_above_the_host_is_drift_with_the_lock_and_not_planned() {
    let dir = Directory::new();
    let profile = strict_profile();
    let mut session = drifted_session();
    session.readings.insert(
        Control::ScreenShare,
        Reading::Value {
            level: Level(0),
            scope: Scope::Host,
            locked: Some(Lock::Group {
                id: "g1".into(),
                name: "Volunteers".into(),
            }),
        },
    );
    let findings = evaluate(&profile, &session, &ctx(&dir));
    let f = findings
        .iter()
        .find(|f| f.control == Control::ScreenShare)
        .unwrap();
    assert_eq!(f.status, Status::Drift);
    assert!(f.detail.contains("group \"Volunteers\""), "{}", f.detail);
    assert!(
        plan(&profile, &session, &findings, now())
            .iter()
            .all(|c| c.control != Control::ScreenShare)
    );
}

#[test]
fn a_value_the_platform_lets_no_write_change_needs_a_person_and_is_never_planned() {
    let dir = Directory::new();
    let profile = strict_profile();
    let mut session = drifted_session();
    let read_only = |level| Reading::Value {
        level,
        scope: Scope::Session,
        locked: Some(Lock::Platform {
            reason: "set only when the meeting is created: recreate it".into(),
        }),
    };
    session
        .readings
        .insert(Control::Passcode, read_only(Level(0)));
    let findings = evaluate(&profile, &session, &ctx(&dir));
    let f = findings
        .iter()
        .find(|f| f.control == Control::Passcode)
        .unwrap();
    assert_eq!(f.status, Status::NeedsHuman, "{f:?}");
    assert!(f.detail.contains("recreate it"), "{}", f.detail);
    assert!(
        plan(&profile, &session, &findings, now())
            .iter()
            .all(|c| c.control != Control::Passcode)
    );
    // A compliant read-only value is simply compliant.
    session
        .readings
        .insert(Control::Passcode, read_only(Level(1)));
    let findings = evaluate(&profile, &session, &ctx(&dir));
    let f = findings
        .iter()
        .find(|f| f.control == Control::Passcode)
        .unwrap();
    assert_eq!(f.status, Status::Compliant);
}

#[test]
fn a_session_in_progress_is_not_changed_unless_the_profile_allows_it() {
    let dir = Directory::new();
    let mut profile = strict_profile();
    let mut session = drifted_session();
    session.in_progress = true;
    let findings = evaluate(&profile, &session, &ctx(&dir));
    assert!(plan(&profile, &session, &findings, now()).is_empty());
    profile.remediation.change_in_progress = true;
    let findings = evaluate(&profile, &session, &ctx(&dir));
    assert!(!plan(&profile, &session, &findings, now()).is_empty());
}

#[test]
fn report_mode_plans_nothing() {
    let dir = Directory::new();
    let mut profile = strict_profile();
    profile.remediation.mode = RemediationMode::Report;
    let session = drifted_session();
    let findings = evaluate(&profile, &session, &ctx(&dir));
    assert!(plan(&profile, &session, &findings, now()).is_empty());
    assert_eq!(status_of(&findings, Control::Passcode), Status::Drift);
}

#[test]
fn no_duty_pool_means_the_host_is_asked_for_a_second_staff_member() {
    let dir = Directory::new();
    let mut profile = strict_profile();
    profile.staff.duty_pool.clear();
    let f = evaluate(&profile, &drifted_session(), &ctx(&dir));
    assert_eq!(status_of(&f, Control::SecondStaff), Status::NeedsHuman);
}

#[test]
fn an_alternative_host_counts_only_when_staff() {
    let mut dir = Directory::new();
    dir.insert("sam@example.org".into(), vec!["Staff".into()]);
    let mut profile = strict_profile();
    profile.staff.duty_pool.clear();
    let mut session = drifted_session();
    session.co_hosts = vec!["volunteer@elsewhere.net".into()];
    let f = evaluate(&profile, &session, &ctx(&dir));
    assert_eq!(status_of(&f, Control::SecondStaff), Status::NeedsHuman);
    session.co_hosts.push("Sam@Example.org".into());
    let f = evaluate(&profile, &session, &ctx(&dir));
    assert_eq!(status_of(&f, Control::SecondStaff), Status::Compliant);
}

#[test]
fn the_host_as_their_own_alternative_host_does_not_count() {
    let mut dir = Directory::new();
    dir.insert("alex@example.org".into(), vec!["Staff".into()]);
    let mut profile = strict_profile();
    profile.staff.duty_pool.clear();
    let mut session = drifted_session();
    session.co_hosts = vec!["alex@example.org".into()];
    let f = evaluate(&profile, &session, &ctx(&dir));
    assert_eq!(status_of(&f, Control::SecondStaff), Status::NeedsHuman);
}

#[test]
fn a_late_evening_session_is_outside_cover_hours_and_needs_a_human() {
    let dir = Directory::new();
    let mut session = drifted_session();
    // Tuesday 24 November 2026 20:30 London, 90 minutes: ends 22:00, after 21:00.
    session.start = Some(Utc.with_ymd_and_hms(2026, 11, 24, 20, 30, 0).unwrap());
    let f = evaluate(&strict_profile(), &session, &ctx(&dir));
    let cover = f.iter().find(|f| f.control == Control::CoverHours).unwrap();
    assert_eq!(cover.status, Status::NeedsHuman);
    assert!(
        cover.detail.contains("Tue 24 Nov 20:30–22:00"),
        "{}",
        cover.detail
    );
}

#[test]
fn cover_hours_are_judged_in_the_profile_time_zone_across_summer_time() {
    let dir = Directory::new();
    let mut session = drifted_session();
    // 08:30 UTC on a June Tuesday is 09:30 BST: inside; in November it would be 08:30 GMT.
    session.start = Some(Utc.with_ymd_and_hms(2027, 6, 1, 8, 30, 0).unwrap());
    session.duration_minutes = 60;
    let f = evaluate(&strict_profile(), &session, &ctx(&dir));
    assert_eq!(status_of(&f, Control::CoverHours), Status::Compliant);
    session.start = Some(Utc.with_ymd_and_hms(2026, 11, 24, 8, 30, 0).unwrap());
    let f = evaluate(&strict_profile(), &session, &ctx(&dir));
    assert_eq!(status_of(&f, Control::CoverHours), Status::NeedsHuman);
}

#[test]
fn each_occurrence_of_a_series_is_judged_for_cover_hours() {
    let dir = Directory::new();
    let mut session = drifted_session();
    session.occurrences = vec![
        crate::session::Occurrence {
            id: "1".into(),
            start: Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap(),
            duration_minutes: 60,
            readings: Default::default(),
        },
        crate::session::Occurrence {
            id: "2".into(),
            // a Sunday
            start: Utc.with_ymd_and_hms(2026, 11, 29, 18, 0, 0).unwrap(),
            duration_minutes: 60,
            readings: Default::default(),
        },
    ];
    let f = evaluate(&strict_profile(), &session, &ctx(&dir));
    assert_eq!(status_of(&f, Control::CoverHours), Status::NeedsHuman);
}

#[test]
fn an_active_waiver_waives_and_an_expired_one_does_not() {
    let dir = Directory::new();
    let mut profile = strict_profile();
    let session = drifted_session();
    profile.waivers.push(Waiver {
        applies_to: WaiverTarget::Session(session.id.clone()),
        control: Control::CloudRecording,
        reason: "consented recording project".into(),
        approver: "dsl@example.org".into(),
        expires: now() + chrono::Duration::days(1),
    });
    let f = evaluate(&profile, &session, &ctx(&dir));
    assert_eq!(status_of(&f, Control::CloudRecording), Status::Waived);
    assert!(
        plan(&profile, &session, &f, now())
            .iter()
            .all(|c| c.control != Control::CloudRecording)
    );
    profile.waivers[0].expires = now() - chrono::Duration::days(1);
    let f = evaluate(&profile, &session, &ctx(&dir));
    assert_eq!(status_of(&f, Control::CloudRecording), Status::Drift);
}

#[test]
fn a_session_that_could_not_be_read_is_error_in_every_control() {
    let dir = Directory::new();
    let mut session = drifted_session();
    session.read_error = Some("malformed JSON".into());
    let f = evaluate(&strict_profile(), &session, &ctx(&dir));
    assert!(f.iter().all(|f| f.status == Status::Error));
    assert!(plan(&strict_profile(), &session, &f, now()).is_empty());
}

#[test]
fn a_stricter_value_than_asked_is_compliant() {
    let dir = Directory::new();
    let mut profile = strict_profile();
    profile.controls.insert(
        Control::WaitingRoom,
        Control::WaitingRoom.level("outsiders").unwrap(),
    );
    let mut session = drifted_session();
    session.readings.insert(
        Control::WaitingRoom,
        Reading::value(Control::WaitingRoom.strictest(), Scope::Session),
    );
    let f = evaluate(&profile, &session, &ctx(&dir));
    assert_eq!(status_of(&f, Control::WaitingRoom), Status::Compliant);
}

#[test]
fn the_most_specific_profile_wins() {
    let mut by_group = strict_profile();
    by_group.name = "youth-group".into();
    by_group.selector = Selector {
        host_groups: vec!["Youth Workers".into()],
        ..Selector::default()
    };
    let mut by_tag = strict_profile();
    by_tag.name = "youth-one-to-one".into();
    by_tag.selector = Selector {
        topic_tags: vec!["[1:1]".into()],
        ..Selector::default()
    };
    let profiles = vec![by_group, by_tag];
    let mut session = drifted_session();
    session.topic = "[1:1] Mentoring".into();
    assert_eq!(
        select_profile(&profiles, &session).map(|p| p.name.as_str()),
        Some("youth-one-to-one")
    );
    session.topic = "Drop-in".into();
    assert_eq!(
        select_profile(&profiles, &session).map(|p| p.name.as_str()),
        Some("youth-group")
    );
    session.host.groups.clear();
    assert!(select_profile(&profiles, &session).is_none());
}

// ---- property tests: the safety rules of DESIGN.md ----

fn arb_reading(control: Control) -> impl Strategy<Value = Option<Reading>> {
    let n = control.levels().len() as u8;
    prop_oneof![
        4 => (0..n, any::<bool>(), any::<bool>()).prop_map(move |(l, host, locked)| Some(Reading::Value {
            level: Level(l),
            scope: if host { Scope::Host } else { Scope::Session },
            locked: locked.then_some(Lock::Account),
        })),
        1 => Just(Some(Reading::Error { reason: "boom".into() })),
        1 => Just(Some(Reading::Unsupported { reason: "none".into() })),
        1 => Just(None),
    ]
}

fn arb_session() -> impl Strategy<Value = Session> {
    let readings: Vec<_> = Control::ALL.iter().map(|c| arb_reading(*c)).collect();
    (
        readings,
        any::<bool>(),
        proptest::option::of(Just("garbage".to_string())),
        0u32..(14 * 24 * 60),
        prop::collection::vec(
            prop_oneof![
                Just("duty@example.org".to_string()),
                Just("alex@example.org".to_string()),
                Just("stranger@else.net".to_string())
            ],
            0..3,
        ),
    )
        .prop_map(|(rs, in_progress, read_error, offset, co_hosts)| {
            let mut s = drifted_session();
            s.readings = Control::ALL
                .iter()
                .zip(rs)
                .filter_map(|(c, r)| r.map(|r| (*c, r)))
                .collect();
            s.in_progress = in_progress;
            s.read_error = read_error;
            s.start = Some(now() + chrono::Duration::minutes(i64::from(offset)));
            s.co_hosts = co_hosts;
            s
        })
}

fn arb_profile() -> impl Strategy<Value = Profile> {
    let wants: Vec<_> = Control::ALL
        .iter()
        .map(|c| proptest::option::of(0..c.levels().len() as u8))
        .collect();
    (
        wants,
        prop_oneof![
            Just(None),
            Just(Some(CloudRecordingPolicy::Forbidden)),
            Just(Some(CloudRecordingPolicy::Allowed)),
            Just(Some(CloudRecordingPolicy::Required))
        ],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(wants, cloud, report, in_progress_ok, pool)| {
            let mut p = strict_profile();
            p.controls = Control::ALL
                .iter()
                .zip(wants)
                .filter(|(c, _)| **c != Control::CloudRecording)
                .filter_map(|(c, w)| w.map(|w| (*c, Level(w))))
                .collect();
            p.cloud_recording = cloud;
            if report {
                p.remediation.mode = RemediationMode::Report;
            }
            p.remediation.change_in_progress = in_progress_ok;
            if !pool {
                p.staff.duty_pool.clear();
            }
            p
        })
}

proptest! {
    #[test]
    fn a_plan_never_loosens_a_control(profile in arb_profile(), session in arb_session()) {
        let dir = Directory::new();
        let findings = evaluate(&profile, &session, &ctx(&dir));
        for change in plan(&profile, &session, &findings, now()) {
            match change.to {
                Target::Level { level } if change.control.is_ordinal() => {
                    let from = change.from.expect("a level change needs a read level");
                    prop_assert!(level > from, "{:?} loosens", change);
                }
                Target::Level { level } => {
                    // Cloud recording moves only to what the profile states.
                    let expected = match profile.cloud_recording {
                        Some(CloudRecordingPolicy::Forbidden) => Level(0),
                        Some(CloudRecordingPolicy::Required) => Level(1),
                        other => panic!("cloud change under {other:?}"),
                    };
                    prop_assert_eq!(level, expected);
                }
                Target::AddCoHost { email } => {
                    prop_assert!(profile.staff.duty_pool.contains(&email));
                    prop_assert!(!email.eq_ignore_ascii_case(&session.host.email));
                }
            }
        }
    }

    #[test]
    fn applying_a_plan_leaves_no_fixable_drift(profile in arb_profile(), session in arb_session()) {
        let dir = Directory::new();
        let findings = evaluate(&profile, &session, &ctx(&dir));
        let changes = plan(&profile, &session, &findings, now());
        let fixed = apply_in_memory(&session, &changes);
        let after = evaluate(&profile, &fixed, &ctx(&dir));
        prop_assert!(plan(&profile, &fixed, &after, now()).is_empty());
        for f in after.iter().filter(|f| f.status == Status::Drift) {
            prop_assert!(fix_blocker(&profile, &fixed, f).is_some(), "fixable drift left: {:?}", f);
        }
    }

    #[test]
    fn an_error_never_becomes_compliant(profile in arb_profile(), session in arb_session()) {
        let dir = Directory::new();
        let findings = evaluate(&profile, &session, &ctx(&dir));
        for f in &findings {
            let unreadable = session.read_error.is_some()
                || matches!(session.readings.get(&f.control), Some(Reading::Error { .. }));
            if unreadable && f.status != Status::NotApplicable {
                prop_assert_eq!(f.status, Status::Error, "{:?}", f);
            }
        }
        prop_assert!(findings.iter().all(|f| !(session.read_error.is_some() && f.status.is_safe() && f.status != Status::NotApplicable)));
    }

    #[test]
    fn an_occurrence_weaker_than_its_series_is_never_judged_by_the_series(
        profile in arb_profile(),
        session in arb_session(),
        control_index in 0..Control::ALL.len(),
    ) {
        // The series reads as the session says; one upcoming occurrence keeps the weakest level
        // of one control on its own.
        let control = Control::ALL[control_index];
        // Cover hours and the second staff member are judged from times and people, not readings.
        if matches!(control, Control::CoverHours | Control::SecondStaff) {
            return Ok(());
        }
        let mut weak = session.clone();
        let Some(Reading::Value { scope, locked, .. }) = session.readings.get(&control).cloned() else {
            return Ok(());
        };
        let weakest = Reading::Value { level: Level(0), scope, locked };
        let series_only = evaluate(&profile, &session, &ctx(&Directory::new()));
        weak.occurrences = vec![crate::session::Occurrence {
            id: "occ".into(),
            start: now() + chrono::Duration::days(3),
            duration_minutes: 60,
            readings: [(control, weakest.clone())].into_iter().collect(),
        }];
        let mut flat = session.clone();
        flat.readings.insert(control, weakest);
        let dir = Directory::new();
        let with_occurrence = evaluate(&profile, &weak, &ctx(&dir));
        let as_if_series = evaluate(&profile, &flat, &ctx(&dir));
        let status = |fs: &[crate::report::Finding]| fs.iter().find(|f| f.control == control).map(|f| f.status);
        // Judged as harshly as if the series itself were that weak, or as the series is.
        let got = status(&with_occurrence);
        prop_assert!(
            got == status(&as_if_series) || got == status(&series_only) && status(&series_only) != Some(Status::Compliant),
            "{:?}: occurrence-weak {:?}, series-weak {:?}, series {:?}",
            control, got, status(&as_if_series), status(&series_only)
        );
        if status(&as_if_series) != Some(Status::Compliant) {
            prop_assert_ne!(got, Some(Status::Compliant));
        }
        // And what a plan would change for the weak series, it changes for the weak occurrence.
        let planned = |p: Vec<Change>| p.into_iter().map(|c| (c.control, c.to)).collect::<Vec<_>>();
        if got == status(&as_if_series) {
            prop_assert_eq!(
                planned(plan(&profile, &weak, &with_occurrence, now())),
                planned(plan(&profile, &flat, &as_if_series, now()))
            );
        }
    }

    #[test]
    fn a_plan_never_changes_a_session_in_progress_unless_allowed(profile in arb_profile(), mut session in arb_session()) {
        session.in_progress = true;
        let dir = Directory::new();
        let findings = evaluate(&profile, &session, &ctx(&dir));
        if !profile.remediation.change_in_progress {
            prop_assert!(plan(&profile, &session, &findings, now()).is_empty());
        }
    }
}

//! The store's conformance stories, run against every backend.
//!
//! Each story runs against SQLite (a temp file) always, and against PostgreSQL when
//! `CHAPERONE_TEST_PG_URL` is set (`eval "$(.ci/start-postgres)"`). Every PostgreSQL test gets a
//! fresh schema of its own, so the tests run in parallel without seeing each other's runs.

use std::collections::BTreeMap;

use chaperone::control::{Control, Status};
use chaperone::platform::CollectFailure;
use chaperone::report::{ChangeRecord, Finding, RunKind, RunReport, SCHEMA_VERSION, SessionReport};
use chaperone::session::{Lock, PlatformKind};
use chaperone::store::events::kind;
use chaperone::store::{Store, StoreError};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sqlx::Connection;

#[path = "common/requires.rs"]
mod requires;
#[path = "common/stores.rs"]
mod stores;

use stores::PgSchema;

/// A store under test, with the URL it was opened from (to reopen it, or to reach its tables with
/// a plain connection as an attacker or a careless admin would).
struct Harness {
    store: Store,
    url: String,
    backend: &'static str,
    /// Keeps the SQLite file alive for the test.
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL schema to drop when the test passes.
    pg_schema: Option<PgSchema>,
}

impl Harness {
    async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().expect("a temp dir for the test database");
        let url = format!("sqlite://{}", dir.path().join("chaperone.db").display());
        let store = Store::connect(&url).await.expect("open a SQLite store");
        Harness {
            store,
            url,
            backend: "sqlite",
            _dir: Some(dir),
            pg_schema: None,
        }
    }

    /// `None` when no PostgreSQL is configured: the PostgreSQL variant of the test then says
    /// `SKIPPED` (and fails in CI, see tests/common/requires.rs).
    async fn postgres(story: &str) -> Option<Harness> {
        let pg = PgSchema::create(&format!("store::postgres::{story}"), "chaperone_test").await?;
        let url = pg.url.clone();
        let store = Store::connect(&url).await.expect("open a PostgreSQL store");
        Some(Harness {
            store,
            url,
            backend: "postgres",
            _dir: None,
            pg_schema: Some(pg),
        })
    }

    /// Runs a statement over a plain connection, outside the store's API.
    async fn execute_raw(&self, sql: &'static str) -> Result<u64, String> {
        match self.backend {
            "sqlite" => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .map_err(|e| e.to_string())?;
                let result = sqlx::query(sql).execute(&mut conn).await;
                result.map(|r| r.rows_affected()).map_err(|e| e.to_string())
            }
            _ => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .map_err(|e| e.to_string())?;
                let result = sqlx::query(sql).execute(&mut conn).await;
                result.map(|r| r.rows_affected()).map_err(|e| e.to_string())
            }
        }
    }

    /// Drops the PostgreSQL schema. Only on success: a failed test leaves its schema to look at.
    async fn finish(self) {
        self.store.close().await;
        if let Some(pg) = self.pg_schema {
            pg.drop_schema().await;
        }
    }
}

/// Declares each story once per backend: `sqlite::story` and `postgres::story`.
macro_rules! conformance {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $story() {
                    let h = super::Harness::sqlite().await;
                    super::$story(&h).await;
                    h.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $story() {
                    let Some(h) = super::Harness::postgres(stringify!($story)).await else { return };
                    super::$story(&h).await;
                    h.finish().await;
                }
            )*
        }
    };
}

conformance!(
    a_run_round_trips_exactly,
    sessions_recorded_before_a_crash_survive_in_the_unfinished_run,
    audit_events_come_in_the_order_things_happened,
    audit_events_cannot_be_updated_or_deleted,
    updates_today_counts_only_that_host_and_day,
    list_runs_is_newest_first_with_counts,
    an_unknown_run_says_how_to_list_runs,
    a_finished_run_accepts_nothing_more,
    a_session_recorded_twice_is_refused_and_leaves_no_trace,
    sessions_recorded_concurrently_are_all_kept,
    times_are_kept_to_the_microsecond,
    a_writer_lease_has_one_holder_until_it_expires,
    two_stores_on_one_database_never_hold_one_lease_at_once,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn finding(control: Control, status: Status) -> Finding {
    Finding {
        control,
        status,
        observed: None,
        wanted: None,
        detail: format!("{} is {}", control.name(), status.name()),
        lock: None,
    }
}

/// A session with one fixed passcode (a verified change) and a compliant waiting room.
fn fixed_session(session_id: &str, host: &str) -> SessionReport {
    SessionReport {
        platform: PlatformKind::Zoom,
        session_id: session_id.to_string(),
        topic: "[youth] Friday club".into(),
        host_email: host.to_string(),
        start: Some(at(2025, 3, 7, 18, 30)),
        profile: "youth".into(),
        findings: vec![
            finding(Control::Passcode, Status::Fixed),
            finding(Control::WaitingRoom, Status::Compliant),
        ],
        changes: vec![ChangeRecord {
            control: Control::Passcode,
            before: Some("optional".into()),
            after: "required".into(),
            verified: true,
        }],
        join_link_changed: true,
    }
}

/// A session that needed nothing written.
fn compliant_session(session_id: &str, host: &str) -> SessionReport {
    SessionReport {
        changes: Vec::new(),
        join_link_changed: false,
        findings: vec![finding(Control::Passcode, Status::Compliant)],
        ..fixed_session(session_id, host)
    }
}

/// A report that uses every field, every status, both kinds of lock, and text that needs care.
fn full_report() -> RunReport {
    let mut drift = finding(Control::ScreenShare, Status::Drift);
    drift.observed = Some("all".into());
    drift.wanted = Some("host-only".into());
    drift.lock = Some(Lock::Group {
        id: "grp-42".into(),
        name: "Youth \"workers\" ⚽".into(),
    });
    let mut locked = finding(Control::FileTransfer, Status::Error);
    locked.lock = Some(Lock::Account);
    locked.detail = "HTTP 429; retry later\nsecond line".into();
    let statuses: Vec<Finding> = Status::ALL
        .iter()
        .zip(Control::ALL.iter())
        .map(|(s, c)| finding(*c, *s))
        .collect();
    RunReport {
        schema_version: SCHEMA_VERSION,
        run_id: String::new(),
        tenant: "st-marys-youth".into(),
        kind: RunKind::Sweep,
        dry_run: false,
        started_at: at(2025, 3, 1, 2, 0) + Duration::microseconds(123_456),
        finished_at: Some(at(2025, 3, 1, 2, 7) + Duration::microseconds(1)),
        sessions: vec![
            SessionReport {
                platform: PlatformKind::Zoom,
                session_id: "85746065432123".into(),
                topic: "[youth] Café d'été — ünïcödé 🌍".into(),
                host_email: "sam@example.org".into(),
                start: Some(at(2025, 3, 7, 18, 30)),
                profile: "youth-default".into(),
                findings: {
                    let mut all = statuses;
                    all.push(drift);
                    all.push(locked);
                    all
                },
                changes: vec![
                    ChangeRecord {
                        control: Control::Passcode,
                        before: Some("optional".into()),
                        after: "required".into(),
                        verified: true,
                    },
                    ChangeRecord {
                        control: Control::WaitingRoom,
                        before: None,
                        after: "everyone".into(),
                        verified: false,
                    },
                ],
                join_link_changed: true,
            },
            SessionReport {
                platform: PlatformKind::Webex,
                session_id: "a1b2".into(),
                topic: String::new(),
                host_email: "kim@example.org".into(),
                start: None,
                profile: "youth-default".into(),
                findings: Vec::new(),
                changes: Vec::new(),
                join_link_changed: false,
            },
        ],
        failures: vec![
            CollectFailure {
                what: "meetings of host lee@example.org".into(),
                host_email: Some("lee@example.org".into()),
                error: "HTTP 500 from Zoom".into(),
            },
            CollectFailure {
                what: "user list".into(),
                host_email: None,
                error: "timed out".into(),
            },
        ],
        rates: vec![chaperone::report::RateAllowed {
            platform: "zoom".into(),
            budget: "light".into(),
            configured_per_second: 30.0,
            reached_per_second: 3.3000000000000003,
            lowest_per_second: 1.7,
            requests: 553,
            throttled: 57,
        }],
    }
}

/// Records `report` through the store, as a sweep would, and returns the run id.
async fn record(store: &Store, report: &RunReport) -> String {
    let run_id = store
        .start_run(
            &report.tenant,
            report.kind,
            report.dry_run,
            report.started_at,
        )
        .await
        .expect("start the run");
    for session in &report.sessions {
        store
            .record_session(&run_id, session)
            .await
            .expect("record a session");
    }
    store
        .record_failures(&run_id, &report.failures)
        .await
        .expect("record failures");
    store
        .record_rates(&run_id, &report.rates)
        .await
        .expect("record rates");
    if let Some(finished_at) = report.finished_at {
        store
            .finish_run(&run_id, finished_at)
            .await
            .expect("finish the run");
    }
    run_id
}

// ---------------------------------------------------------------------------------------------
// Stories

async fn a_writer_lease_has_one_holder_until_it_expires(h: &Harness) {
    use chaperone::session::PlatformKind::{Teams, Zoom};
    use std::time::Duration;
    let now = at(2025, 3, 1, 2, 0);
    let ttl = Duration::from_secs(60);
    let take = |holder: &'static str, at: DateTime<Utc>| {
        let store = h.store.clone();
        async move {
            store
                .take_lease_as("t", Zoom, holder, at, ttl)
                .await
                .expect("the store answers")
        }
    };
    assert_eq!(take("a:1:x", now).await, Ok(()));
    // Taken again by its holder: renewed, not refused.
    assert_eq!(
        take("a:1:x", now + chrono::Duration::seconds(5)).await,
        Ok(())
    );
    let refused = take("b:2:y", now + chrono::Duration::seconds(30)).await;
    let held = refused.expect_err("held by a");
    assert_eq!(held.holder, "a:1:x");
    assert_eq!(held.expires_at, now + chrono::Duration::seconds(65));
    // Another platform of the tenant is another lease.
    assert_eq!(
        h.store
            .take_lease_as("t", Teams, "b:2:y", now, ttl)
            .await
            .expect("answers"),
        Ok(())
    );
    // Not renewed: expired, and taken over.
    assert_eq!(
        take("b:2:y", now + chrono::Duration::seconds(66)).await,
        Ok(())
    );
    assert!(
        !h.store
            .renew_lease_as("t", Zoom, "a:1:x", now, ttl)
            .await
            .expect("answers"),
        "the old holder can no longer renew it"
    );
    assert_eq!(
        h.store
            .lease_holder("t", Zoom)
            .await
            .expect("answers")
            .map(|l| l.holder),
        Some("b:2:y".to_string())
    );
}

async fn two_stores_on_one_database_never_hold_one_lease_at_once(h: &Harness) {
    use chaperone::session::PlatformKind::Zoom;
    let other = Store::connect(&h.url).await.expect("a second store");
    assert_ne!(h.store.holder(), other.holder());
    let first = h.store.take_lease("t", Zoom).await.expect("free");
    // Shared by the clones of one store (a process's workers).
    let again = h.store.clone().take_lease("t", Zoom).await.expect("ours");
    match other.take_lease("t", Zoom).await {
        Err(StoreError::LeaseHeld { holder, until, .. }) => {
            assert_eq!(holder, h.store.holder());
            assert!(until > Utc::now());
            let message = StoreError::LeaseHeld {
                tenant: "t".into(),
                platform: "zoom".into(),
                holder: holder.clone(),
                until,
            }
            .to_string();
            assert!(
                message.contains(&holder) && message.contains("--wait"),
                "{message}"
            );
        }
        other => panic!("expected LeaseHeld, got {other:?}"),
    }
    first.release().await;
    assert!(
        matches!(
            other.take_lease("t", Zoom).await,
            Err(StoreError::LeaseHeld { .. })
        ),
        "still held by the second user in the first store"
    );
    again.release().await;
    let taken = other.take_lease("t", Zoom).await.expect("free again");
    taken.release().await;
    assert_eq!(other.lease_holder("t", Zoom).await.expect("answers"), None);
    other.close().await;
}

async fn a_run_round_trips_exactly(h: &Harness) {
    let mut expected = full_report();
    let run_id = record(&h.store, &expected).await;
    expected.run_id = run_id.clone();
    // The store gives sessions back in report order, whatever order they were recorded in.
    expected.sort_sessions();

    let loaded = h.store.load_run(&run_id).await.expect("load the run");
    assert_eq!(loaded, expected);
    assert!(
        uuid::Uuid::parse_str(&run_id).is_ok(),
        "run id {run_id} is a UUID"
    );
}

async fn sessions_recorded_before_a_crash_survive_in_the_unfinished_run(h: &Harness) {
    let started = at(2025, 3, 1, 2, 0);
    let run_id = h
        .store
        .start_run("st-marys-youth", RunKind::Sweep, false, started)
        .await
        .expect("start");
    let first = fixed_session("111", "sam@example.org");
    let second = compliant_session("222", "kim@example.org");
    h.store
        .record_session(&run_id, &first)
        .await
        .expect("record");
    h.store
        .record_session(&run_id, &second)
        .await
        .expect("record");
    // The process dies here: no finish_run. A new process opens the same store.
    h.store.close().await;
    let reopened = Store::connect(&h.url).await.expect("reopen the store");

    let loaded = reopened.load_run(&run_id).await.expect("load");
    assert_eq!(loaded.finished_at, None);
    assert_eq!(loaded.started_at, started);
    assert_eq!(loaded.sessions, vec![first, second]);

    let listed = reopened.list_runs(10).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].finished_at, None);
    assert_eq!(listed[0].sessions, 2);

    let kinds: Vec<String> = reopened
        .audit_trail(Some(&run_id))
        .await
        .expect("trail")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(!kinds.iter().any(|k| k == kind::RUN_FINISHED));
    reopened.close().await;
}

async fn audit_events_come_in_the_order_things_happened(h: &Harness) {
    let run_id = h
        .store
        .start_run(
            "st-marys-youth",
            RunKind::Sweep,
            false,
            at(2025, 3, 1, 2, 0),
        )
        .await
        .expect("start");
    let mut session = fixed_session("111", "sam@example.org");
    session
        .findings
        .push(finding(Control::SecondStaff, Status::NeedsHuman));
    session.changes.push(ChangeRecord {
        control: Control::WaitingRoom,
        before: Some("off".into()),
        after: "everyone".into(),
        verified: false,
    });
    h.store
        .record_session_at(&run_id, &session, at(2025, 3, 1, 2, 1))
        .await
        .expect("record");
    h.store
        .finish_run(&run_id, at(2025, 3, 1, 2, 2))
        .await
        .expect("finish");
    // Another tenant's run, to show the per-run trail is only this run's.
    let other = record(&h.store, &full_report()).await;

    let trail = h.store.audit_trail(Some(&run_id)).await.expect("trail");
    let seen: Vec<(&str, &str)> = trail
        .iter()
        .map(|e| (e.kind.as_str(), e.subject.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (kind::RUN_STARTED, run_id.as_str()),
            (kind::SESSION_RECORDED, "zoom:111"),
            (kind::FINDING, "zoom:111/passcode"),
            (kind::FINDING, "zoom:111/second-staff"),
            (kind::CHANGE_APPLIED, "zoom:111/passcode"),
            (kind::CHANGE_VERIFIED, "zoom:111/passcode"),
            (kind::CHANGE_APPLIED, "zoom:111/waiting-room"),
            (kind::CHANGE_NOT_APPLIED, "zoom:111/waiting-room"),
            (kind::RUN_FINISHED, run_id.as_str()),
        ]
    );
    assert!(
        trail
            .windows(2)
            .all(|w| w[0].id < w[1].id && w[0].at <= w[1].at)
    );
    assert!(trail.iter().all(|e| e.tenant == "st-marys-youth"));
    assert!(
        trail
            .iter()
            .all(|e| e.run_id.as_deref() == Some(run_id.as_str()))
    );
    assert_eq!(trail[0].at, at(2025, 3, 1, 2, 0));
    assert_eq!(trail[4].detail["before"], "optional");
    assert_eq!(trail[4].detail["host_email"], "sam@example.org");
    let finished = &trail[8].detail;
    assert_eq!(finished["sessions"], 1);
    assert_eq!(finished["statuses"]["needs-human"], 1);

    let everything = h.store.audit_trail(None).await.expect("whole trail");
    assert_eq!(everything[..trail.len()], trail[..]);
    assert!(
        everything[trail.len()..]
            .iter()
            .all(|e| e.run_id.as_deref() == Some(other.as_str()))
    );
    assert!(everything.iter().any(|e| e.kind == kind::COLLECT_FAILED));
}

async fn audit_events_cannot_be_updated_or_deleted(h: &Harness) {
    let run_id = record(&h.store, &full_report()).await;
    let before = h.store.audit_trail(Some(&run_id)).await.expect("trail");
    assert!(!before.is_empty());

    let update = h
        .execute_raw("UPDATE audit_events SET subject = 'nothing happened'")
        .await;
    let err = update.expect_err("an UPDATE of the audit trail must fail");
    assert!(err.contains("append-only"), "{}: {err}", h.backend);

    let delete = h.execute_raw("DELETE FROM audit_events").await;
    let err = delete.expect_err("a DELETE from the audit trail must fail");
    assert!(err.contains("append-only"), "{}: {err}", h.backend);

    if h.backend == "postgres" {
        let truncate = h.execute_raw("TRUNCATE audit_events").await;
        let err = truncate.expect_err("a TRUNCATE of the audit trail must fail");
        assert!(err.contains("append-only"), "{err}");
    }

    let after = h.store.audit_trail(Some(&run_id)).await.expect("trail");
    assert_eq!(after, before);
}

async fn updates_today_counts_only_that_host_and_day(h: &Harness) {
    let tenant = "st-marys-youth";
    let day = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
    let morning = at(2025, 3, 1, 0, 0);
    let evening = at(2025, 3, 1, 23, 59) + Duration::seconds(59);
    let store = &h.store;

    let run = store
        .start_run(tenant, RunKind::Sweep, false, morning)
        .await
        .expect("start");
    // Counted: two sessions of sam written that day (one write each, however many changes).
    let mut two_changes = fixed_session("1", "sam@example.org");
    two_changes.changes.push(ChangeRecord {
        control: Control::WaitingRoom,
        before: None,
        after: "everyone".into(),
        verified: true,
    });
    store
        .record_session_at(&run, &two_changes, morning)
        .await
        .expect("record");
    store
        .record_session_at(&run, &fixed_session("2", "Sam@Example.org"), evening)
        .await
        .expect("record");
    // Not counted: nothing written, another host.
    store
        .record_session_at(&run, &compliant_session("3", "sam@example.org"), morning)
        .await
        .expect("record");
    store
        .record_session_at(&run, &fixed_session("4", "kim@example.org"), morning)
        .await
        .expect("record");
    // Not counted: the day before and the day after, in another run.
    let later = store
        .start_run(tenant, RunKind::Webhook, false, morning)
        .await
        .expect("start");
    store
        .record_session_at(
            &later,
            &fixed_session("5", "sam@example.org"),
            morning - Duration::microseconds(1),
        )
        .await
        .expect("record");
    store
        .record_session_at(
            &later,
            &fixed_session("6", "sam@example.org"),
            evening + Duration::seconds(1),
        )
        .await
        .expect("record");
    // Counted: a webhook run the same day.
    store
        .record_session_at(
            &later,
            &fixed_session("7", "sam@example.org"),
            at(2025, 3, 1, 12, 0),
        )
        .await
        .expect("record");
    // Not counted: a dry run, and another tenant.
    let dry = store
        .start_run(tenant, RunKind::Sweep, true, morning)
        .await
        .expect("start");
    store
        .record_session_at(&dry, &fixed_session("8", "sam@example.org"), morning)
        .await
        .expect("record");
    let elsewhere = store
        .start_run("other-org", RunKind::Sweep, false, morning)
        .await
        .expect("start");
    store
        .record_session_at(&elsewhere, &fixed_session("9", "sam@example.org"), morning)
        .await
        .expect("record");

    assert_eq!(
        store
            .updates_today(tenant, "sam@example.org", day)
            .await
            .expect("count"),
        3
    );
    assert_eq!(
        store
            .updates_today(tenant, "kim@example.org", day)
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        store
            .updates_today(tenant, "lee@example.org", day)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        store
            .updates_today(tenant, "sam@example.org", day.pred_opt().unwrap())
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        store
            .updates_today("other-org", "sam@example.org", day)
            .await
            .expect("count"),
        1
    );
}

async fn list_runs_is_newest_first_with_counts(h: &Harness) {
    let store = &h.store;
    assert!(store.list_runs(10).await.expect("list").is_empty());

    let oldest = store
        .start_run("a", RunKind::Check, true, at(2025, 3, 1, 2, 0))
        .await
        .expect("start");
    store
        .finish_run(&oldest, at(2025, 3, 1, 2, 5))
        .await
        .expect("finish");
    let newest = record(&h.store, &full_report()).await; // started 2025-03-01 02:00:00.123456
    let middle = store
        .start_run(
            "b",
            RunKind::Webhook,
            false,
            at(2025, 3, 1, 2, 0) + Duration::microseconds(5),
        )
        .await
        .expect("start");
    store
        .record_session(&middle, &fixed_session("1", "sam@example.org"))
        .await
        .expect("record");
    store
        .record_session(&middle, &compliant_session("2", "sam@example.org"))
        .await
        .expect("record");

    let all = store.list_runs(10).await.expect("list");
    let order: Vec<&str> = all.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(
        order,
        vec![newest.as_str(), middle.as_str(), oldest.as_str()]
    );

    let report = full_report();
    let n = &all[0];
    assert_eq!(
        (n.tenant.as_str(), n.kind, n.dry_run),
        ("st-marys-youth", RunKind::Sweep, false)
    );
    assert_eq!(
        (n.started_at, n.finished_at),
        (report.started_at, report.finished_at)
    );
    assert_eq!((n.sessions, n.failures), (2, 2));
    let totals: BTreeMap<Status, u32> = report
        .totals()
        .into_iter()
        .map(|(s, n)| (s, n as u32))
        .collect();
    assert_eq!(n.counts, totals);

    let m = &all[1];
    assert_eq!(
        (m.kind, m.finished_at, m.sessions, m.failures),
        (RunKind::Webhook, None, 2, 0)
    );
    assert_eq!(
        m.counts,
        BTreeMap::from([(Status::Compliant, 2), (Status::Fixed, 1)])
    );

    let o = &all[2];
    assert_eq!((o.kind, o.dry_run, o.sessions), (RunKind::Check, true, 0));
    assert!(o.counts.is_empty());
    assert_eq!(o.finished_at, Some(at(2025, 3, 1, 2, 5)));

    let two = store.list_runs(2).await.expect("list");
    assert_eq!(two, all[..2].to_vec());
}

async fn an_unknown_run_says_how_to_list_runs(h: &Harness) {
    for run_id in [uuid::Uuid::new_v4().to_string(), "last-tuesday".to_string()] {
        let err = h.store.load_run(&run_id).await.expect_err("no such run");
        assert!(matches!(err, StoreError::RunNotFound { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&run_id), "{message}");
        assert!(message.contains("chaperone report --list"), "{message}");
    }
    let ghost = uuid::Uuid::new_v4().to_string();
    let err = h
        .store
        .record_session(&ghost, &fixed_session("1", "sam@example.org"))
        .await
        .expect_err("no such run");
    assert!(matches!(err, StoreError::RunNotFound { .. }), "{err:?}");
    let err = h
        .store
        .finish_run(&ghost, Utc::now())
        .await
        .expect_err("no such run");
    assert!(matches!(err, StoreError::RunNotFound { .. }), "{err:?}");
}

async fn a_finished_run_accepts_nothing_more(h: &Harness) {
    let run_id = record(&h.store, &full_report()).await;
    let err = h
        .store
        .record_session(&run_id, &fixed_session("late", "sam@example.org"))
        .await
        .expect_err("the run is finished");
    assert!(matches!(err, StoreError::RunFinished { .. }), "{err:?}");
    assert!(err.to_string().contains("start a new run"), "{err}");
    let err = h
        .store
        .finish_run(&run_id, Utc::now())
        .await
        .expect_err("finished once");
    assert!(matches!(err, StoreError::RunFinished { .. }), "{err:?}");
    let loaded = h.store.load_run(&run_id).await.expect("load");
    assert_eq!(loaded.sessions.len(), 2);
    assert_eq!(loaded.finished_at, full_report().finished_at);
}

async fn a_session_recorded_twice_is_refused_and_leaves_no_trace(h: &Harness) {
    let run_id = h
        .store
        .start_run("t", RunKind::Sweep, false, at(2025, 3, 1, 2, 0))
        .await
        .expect("start");
    let session = fixed_session("111", "sam@example.org");
    h.store
        .record_session(&run_id, &session)
        .await
        .expect("record");
    let trail = h.store.audit_trail(Some(&run_id)).await.expect("trail");

    let err = h
        .store
        .record_session(&run_id, &session)
        .await
        .expect_err("recorded twice");
    assert!(
        matches!(err, StoreError::SessionAlreadyRecorded { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("zoom:111"), "{err}");

    assert_eq!(
        h.store.audit_trail(Some(&run_id)).await.expect("trail"),
        trail
    );
    assert_eq!(
        h.store.load_run(&run_id).await.expect("load").sessions,
        vec![session]
    );
    assert_eq!(
        h.store
            .updates_today("t", "sam@example.org", Utc::now().date_naive())
            .await
            .expect("count"),
        1
    );
}

async fn sessions_recorded_concurrently_are_all_kept(h: &Harness) {
    let run_id = h
        .store
        .start_run("t", RunKind::Sweep, false, at(2025, 3, 1, 2, 0))
        .await
        .expect("start");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let store = h.store.clone();
        let run_id = run_id.clone();
        tasks.spawn(async move {
            store
                .record_session(&run_id, &fixed_session(&i.to_string(), "sam@example.org"))
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("record concurrently");
    }
    let loaded = h.store.load_run(&run_id).await.expect("load");
    let mut ids: Vec<u32> = loaded
        .sessions
        .iter()
        .map(|s| s.session_id.parse().expect("numeric id"))
        .collect();
    ids.sort();
    assert_eq!(ids, (0..24).collect::<Vec<_>>());
    assert!(
        loaded
            .sessions
            .iter()
            .all(|s| s.findings.len() == 2 && s.changes.len() == 1)
    );
}

async fn times_are_kept_to_the_microsecond(h: &Harness) {
    let started = at(2025, 3, 1, 2, 0) + Duration::nanoseconds(987_654_321);
    let run_id = h
        .store
        .start_run("t", RunKind::Check, true, started)
        .await
        .expect("start");
    let loaded = h.store.load_run(&run_id).await.expect("load");
    assert_eq!(
        loaded.started_at,
        at(2025, 3, 1, 2, 0) + Duration::microseconds(987_654)
    );
}

// ---------------------------------------------------------------------------------------------
// Opening a store

#[tokio::test]
async fn a_store_under_a_file_names_the_path_it_cannot_create() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write a plain file");
    let db = file.join("chaperone.db");
    let err = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect_err("a file cannot hold a directory");
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&db.display().to_string()), "{message}");
    assert!(message.contains("[store] url"), "{message}");
}

#[tokio::test]
async fn a_store_path_that_is_a_directory_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = Store::connect(&format!("sqlite://{}", dir.path().display()))
        .await
        .expect_err("a directory is not a database");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_store_url_lists_the_ones_that_work() {
    let err = Store::connect("mysql://root:hunter2@db/chaperone")
        .await
        .expect_err("not supported");
    let message = err.to_string();
    assert!(
        message.contains("sqlite://PATH") && message.contains("postgres://"),
        "{message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_names_the_server_but_not_the_password() {
    // Port 1 on localhost: nothing listens there, so the connection is refused at once.
    let err = Store::connect("postgres://chaperone:hunter2@127.0.0.1:1/chaperone")
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
}

#[tokio::test]
async fn an_in_memory_store_keeps_what_it_records() {
    let store = Store::connect("sqlite::memory:").await.expect("open");
    store.ping().await.expect("ping");
    let mut expected = full_report();
    let run_id = record(&store, &expected).await;
    expected.run_id = run_id.clone();
    expected.sort_sessions();
    // More than one query in a row: all must see the same private database.
    assert_eq!(store.load_run(&run_id).await.expect("load"), expected);
    assert_eq!(store.list_runs(5).await.expect("list").len(), 1);
}

#[tokio::test]
async fn reopening_a_store_keeps_its_runs_and_does_not_migrate_twice() {
    let h = Harness::sqlite().await;
    let run_id = record(&h.store, &full_report()).await;
    h.store.close().await;
    let again = Store::connect(&h.url).await.expect("reopen");
    again.ping().await.expect("ping");
    assert_eq!(
        again.load_run(&run_id).await.expect("load").sessions.len(),
        2
    );
    again.close().await;
}

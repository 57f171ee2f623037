//! Nothing lost between a write and its record (issue 11, item 5): the real `chaperone sweep`
//! killed with SIGKILL right after its first write reached Zoom, then run again. Every write the
//! simulator applied must then have its change record, its audit events and its host's digest
//! item (with the new join link where a passcode was added) in the store.

mod common;
#[path = "common/requires.rs"]
mod requires;
#[path = "common/stores.rs"]
mod stores;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chaperone::control::{Control, Status};
use chaperone::report::{RunKind, RunReport};
use chaperone::server::{Application, ServeOptions};
use chaperone::settings::Settings;
use chaperone::store::Store;
use chaperone_sim::{Fault, Scenario};
use chrono::Utc;
use common::binary::{
    kill, sqlite_url, sweep_command, sweep_to_the_end, wait_until, write_settings,
};
use common::{TestApp, spawn_app};
use serde_json::Value;
use stores::PgSchema;

/// A settings file for the binary against the simulator, with its store at `store_url` and a
/// `[server]` table (for `serve`).
fn settings_file_with_server(dir: &Path, app: &TestApp, store_url: &str) -> PathBuf {
    let server = "\n[server]\nlisten = \"127.0.0.1:0\"\n";
    write_settings(dir, app, store_url, app.sim.client_secret(), server)
}

/// The meetings Zoom applied a write to.
fn written_meetings(app: &TestApp) -> BTreeSet<String> {
    app.sim
        .stats()
        .meeting_writes_applied
        .into_iter()
        .filter(|(_, n)| *n > 0)
        // An occurrence's writes are counted as `ID?occurrence_id=OCC`: its meeting is ID.
        .map(|(id, _)| id.split('?').next().unwrap_or_default().to_string())
        .collect()
}

/// What the killed sweep left: the meetings Zoom applied its writes to, and the meetings whose
/// passcode the sweep was to add (their join link changed).
struct Killed {
    written: BTreeSet<String>,
    passcode_to_add: BTreeSet<String>,
}

/// Runs the real `chaperone sweep` with `settings` and kills it with SIGKILL right after Zoom
/// applied its first meeting write, before the sweep could hear the answer or record anything.
async fn sweep_killed_after_its_first_write(app: &TestApp, settings: &Path) -> Killed {
    // The meetings whose passcode the sweep is to add (their join link changes).
    let before = app.run(RunKind::Check, false).await;
    let passcode_to_add: BTreeSet<String> = before
        .sessions
        .iter()
        .filter(|s| {
            s.findings
                .iter()
                .any(|f| f.control == Control::Passcode && f.status == Status::Drift)
        })
        .map(|s| s.session_id.clone())
        .collect();
    // Zoom applies each meeting PATCH and holds its answer: the sweep is killed while it waits,
    // after the change was made and before anything about it could be recorded.
    app.sim.inject(
        Fault::delay_answer(Duration::from_secs(300)).on_route("PATCH /v2/meetings/{meetingId}"),
    );
    let mut child = sweep_command(settings, &[])
        .stderr(Stdio::null())
        .spawn()
        .expect("sweep starts");
    wait_until("a meeting write", || !written_meetings(app).is_empty()).await;
    kill(&mut child).await;
    app.sim.clear_faults();
    let written_by_killed = written_meetings(app);
    assert!(!written_by_killed.is_empty());

    Killed {
        written: written_by_killed,
        passcode_to_add,
    }
}

/// The next `chaperone sweep`, run to the end.
async fn next_sweep(settings: &Path) {
    let out = sweep_to_the_end(settings).await;
    let _next: RunReport = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "a JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
}

/// Every write Zoom applied has its change record, its audit events, and its host's digest item
/// (with the new join link where a passcode was added); each write the killed sweep left was
/// settled with an `intent.settled` event.
async fn assert_every_write_recorded(app: &TestApp, store: &Store, killed: &Killed) {
    let (written_by_killed, passcode_to_add) = (&killed.written, &killed.passcode_to_add);
    let mut runs = Vec::new();
    for summary in store.list_runs(50).await.unwrap() {
        runs.push(store.load_run(&summary.run_id).await.unwrap());
    }
    let trail = store.audit_trail(None).await.unwrap();
    let mut items = Vec::new();
    for run in &runs {
        items.extend(store.digest_items(&run.run_id).await.unwrap());
    }
    for id in written_meetings(app) {
        let changed: Vec<_> = runs
            .iter()
            .flat_map(|r| &r.sessions)
            .filter(|s| s.session_id == id && s.changes.iter().any(|c| c.verified))
            .collect();
        assert!(
            !changed.is_empty(),
            "meeting {id} was written and has a change record"
        );
        // Each control is recorded as changed once (a control the killed write did not reach
        // is recorded as not applied, then changed by the next sweep).
        let mut verified = BTreeSet::new();
        for c in changed
            .iter()
            .flat_map(|s| &s.changes)
            .filter(|c| c.verified)
        {
            assert!(
                verified.insert(c.control),
                "meeting {id}: {} recorded as changed twice",
                c.control
            );
        }
        let subject = format!("zoom:{id}/");
        assert!(
            trail
                .iter()
                .any(|e| e.kind == "change.applied" && e.subject.starts_with(&subject)),
            "meeting {id} has a change.applied audit event"
        );
        assert!(
            items
                .iter()
                .any(|i| i.session_id == id && !i.changes.is_empty()),
            "meeting {id} has a digest item for its host"
        );
        if passcode_to_add.contains(&id) {
            assert!(
                changed
                    .iter()
                    .flat_map(|s| &s.changes)
                    .any(|c| c.verified && c.control == Control::Passcode),
                "meeting {id}: the passcode the killed sweep added is recorded"
            );
        }
        if let Some(session) = changed.iter().find(|s| {
            s.changes
                .iter()
                .any(|c| c.verified && c.control == Control::Passcode)
        }) {
            let meeting = app.sim.meeting(id.parse().unwrap()).expect("meeting");
            let link = meeting.pointer("/join_url").and_then(Value::as_str);
            assert!(session.join_link_changed, "meeting {id}: join link changed");
            let item = items
                .iter()
                .find(|i| {
                    i.session_id == id && i.changes.iter().any(|c| c.control == Control::Passcode)
                })
                .unwrap_or_else(|| panic!("meeting {id}: a digest item tells of the passcode"));
            assert_eq!(
                item.new_join_url.as_ref().map(|l| l.0.as_str()),
                link,
                "meeting {id}: the host is sent the new join link"
            );
        }
    }
    // The writes the killed sweep left were settled, each with its own audit event.
    let settled: BTreeSet<String> = trail
        .iter()
        .filter(|e| e.kind == "intent.settled")
        .filter_map(|e| e.subject.strip_prefix("zoom:").map(str::to_string))
        .collect();
    assert!(
        written_by_killed.is_subset(&settled),
        "every write of the killed sweep was settled: {written_by_killed:?} ⊄ {settled:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_killed_right_after_its_first_write_has_every_write_recorded_after_the_next_run() {
    let app = spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "chaperone.db");
    let settings = settings_file_with_server(dir.path(), &app, &url);
    let killed = sweep_killed_after_its_first_write(&app, &settings).await;
    next_sweep(&settings).await;
    let store = Store::connect(&url).await.unwrap();
    assert_every_write_recorded(&app, &store, &killed).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_a_sweep_killed_right_after_its_first_write_has_every_write_recorded_after_the_next_run()
 {
    let Some(pg) = PgSchema::create("write_intents on PostgreSQL", "intents").await else {
        return;
    };
    let url = pg.url.clone();
    let app = spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_file_with_server(dir.path(), &app, &url);
    let killed = sweep_killed_after_its_first_write(&app, &settings).await;
    next_sweep(&settings).await;
    let store = Store::connect(&url).await.unwrap();
    assert_every_write_recorded(&app, &store, &killed).await;
    store.close().await;
    pg.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_settles_at_start_the_writes_a_killed_sweep_left_unrecorded() {
    let app = spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "chaperone.db");
    let settings = settings_file_with_server(dir.path(), &app, &url);
    let killed = sweep_killed_after_its_first_write(&app, &settings).await;

    let loaded = Settings::load(Some(&settings), Some(Default::default())).unwrap();
    let serve = Application::build_with(
        loaded,
        ServeOptions {
            scheduler: false,
            ..ServeOptions::default()
        },
    )
    .await
    .unwrap();
    let stop = serve.shutdown_handle();
    let running = tokio::spawn(serve.run_until_stopped());
    let store = Store::connect(&url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let settled: BTreeSet<String> = store
            .audit_trail(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "intent.settled")
            .filter_map(|e| e.subject.strip_prefix("zoom:").map(str::to_string))
            .collect();
        if killed.written.is_subset(&settled) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "serve never settled {:?} (settled {settled:?})",
            killed.written
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.shutdown();
    let _ = running.await;
    assert_every_write_recorded(&app, &store, &killed).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_another_writer_of_the_process_is_changing_is_not_written_by_a_second_one() {
    use chaperone::store::StoreError;
    use chaperone::store::intents::NewIntent;
    let app = spawn_app(Scenario::demo()).await;
    let check = app.run(RunKind::Check, false).await;
    let drifted = check
        .sessions
        .iter()
        .find(|s| {
            s.findings
                .iter()
                .any(|f| f.control == Control::Passcode && f.status == Status::Drift)
        })
        .expect("a drifted session")
        .session_id
        .clone();
    let session = app
        .platform
        .fetch_session(&drifted)
        .await
        .expect("read")
        .expect("exists");
    // Another writer of this process (a webhook worker beside the schedule, sharing the store
    // and its writer lease) is changing it.
    let run = app
        .store
        .start_run(common::TENANT, RunKind::Webhook, false, Utc::now())
        .await
        .unwrap();
    let intent = NewIntent {
        tenant: common::TENANT,
        run_id: &run,
        session: &session,
        profile: "youth-group",
        changes: &[],
        before: Default::default(),
    };
    app.store
        .open_write_intent(&intent)
        .await
        .expect("first writer");
    match app.store.open_write_intent(&intent).await {
        Err(StoreError::SessionBeingWritten { holder, .. }) => {
            assert_eq!(holder, app.store.holder())
        }
        other => panic!("expected SessionBeingWritten, got {other:?}"),
    }

    let patched_before = app
        .sim
        .stats()
        .meeting_writes_applied
        .get(&drifted)
        .copied();
    let sweep = app.run(RunKind::Sweep, false).await;
    assert_eq!(
        app.sim
            .stats()
            .meeting_writes_applied
            .get(&drifted)
            .copied(),
        patched_before,
        "the second writer left the session alone"
    );
    let report = sweep
        .sessions
        .iter()
        .find(|s| s.session_id == drifted)
        .expect("reported");
    let passcode = report
        .findings
        .iter()
        .find(|f| f.control == Control::Passcode)
        .expect("judged");
    assert!(
        passcode.detail.contains("another chaperone writer"),
        "{}",
        passcode.detail
    );
    assert!(report.changes.is_empty());
    // Every other drifted session was fixed.
    assert!(app.sim.stats().writes_applied > 0);
}

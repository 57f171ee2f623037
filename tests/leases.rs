//! One writer per tenant and platform, across processes (issue 11, item 6): the real
//! `chaperone sweep` binary against one store file. A second sweep while the first writes exits 2
//! naming the holder and writes nothing; `sweep --wait` starts when the holder finishes; a lease
//! whose holder died on another machine is taken over once it expires.

mod common;

use std::process::Stdio;
use std::time::Duration;

use chaperone::session::PlatformKind;
use chaperone::store::Store;
use chaperone_sim::{Fault, Scenario};
use chrono::Utc;
use common::binary::{kill, settings_file, sqlite_url, sweep_command, wait_until};
use common::spawn_app;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sweep_while_the_first_writes_exits_2_naming_it_and_writes_nothing() {
    let app = spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "chaperone.db");
    let settings = settings_file(dir.path(), &app, &url);
    // The first sweep's writes are slow: it is still writing when the second starts.
    app.sim
        .inject(Fault::delay(Duration::from_secs(2)).on_route("PATCH /v2/meetings/{meetingId}"));
    let mut first = sweep_command(&settings, &[])
        .stderr(Stdio::null())
        .spawn()
        .expect("first sweep starts");
    let first_pid = first.id().expect("a pid");
    wait_until("the first sweep's first write", || {
        app.sim.stats().writes > 0
    })
    .await;

    let second = sweep_command(&settings, &[])
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("second sweep runs");
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(":{first_pid}:")),
        "names the first process ({first_pid}): {err}"
    );
    assert!(err.contains("--wait"), "{err}");
    // The second never started a run: it read and wrote nothing.
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        store.list_runs(10).await.unwrap().len(),
        1,
        "only the first sweep's run"
    );
    kill(&mut first).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sweep_wait_starts_writing_when_the_holder_releases_the_lease() {
    let app = spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "chaperone.db");
    let settings = settings_file(dir.path(), &app, &url);
    // Another process (a second store on the same file) holds the lease.
    let holder = Store::connect(&url).await.unwrap();
    let lease = holder
        .take_lease(common::TENANT, PlatformKind::Zoom)
        .await
        .expect("free");

    let mut waiting = sweep_command(&settings, &["--wait"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("sweep --wait starts");
    let mut lines = BufReader::new(waiting.stderr.take().expect("stderr")).lines();
    let told = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("stderr readable") {
            if line.contains("waiting for it to finish") {
                return line;
            }
        }
        panic!("sweep --wait ended without saying it waits");
    })
    .await
    .expect("sweep --wait says it waits");
    assert!(told.contains(holder.holder()), "{told}");
    assert_eq!(app.sim.stats().writes, 0, "nothing written while waiting");

    lease.release().await;
    let status = tokio::time::timeout(Duration::from_secs(120), waiting.wait())
        .await
        .expect("sweep --wait finishes after the release")
        .expect("exit status");
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "swept as usual: {status}"
    );
    assert!(app.sim.stats().writes > 0, "it fixed what drifted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_left_by_a_process_that_died_on_another_machine_is_taken_once_it_expires() {
    let app = spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "chaperone.db");
    let settings = settings_file(dir.path(), &app, &url);
    // Taken two minutes ago for 60 s and never renewed: its holder is gone.
    let store = Store::connect(&url).await.unwrap();
    let taken = store
        .take_lease_as(
            common::TENANT,
            PlatformKind::Zoom,
            "another-machine:4242:deadbeef",
            Utc::now() - chrono::Duration::seconds(120),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(taken, Ok(()));

    let out = sweep_command(&settings, &[])
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("sweep runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    assert!(app.sim.stats().writes > 0, "it fixed what drifted");
    // Released at the end of the sweep.
    assert_eq!(
        store
            .lease_holder(common::TENANT, PlatformKind::Zoom)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_whose_sweep_was_killed_on_this_machine_is_taken_at_once_by_the_next_sweep() {
    let app = spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "chaperone.db");
    let settings = settings_file(dir.path(), &app, &url);
    app.sim
        .inject(Fault::delay(Duration::from_secs(30)).on_route("PATCH /v2/meetings/{meetingId}"));
    let log = std::fs::File::create(dir.path().join("first.log")).unwrap();
    let mut first = sweep_command(&settings, &[])
        .stderr(log)
        .spawn()
        .expect("first sweep starts");
    let first_pid = first.id().expect("a pid");
    let store = Store::connect(&url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while store
        .lease_holder(common::TENANT, PlatformKind::Zoom)
        .await
        .unwrap()
        .is_none()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first sweep never took the lease: {}",
            std::fs::read_to_string(dir.path().join("first.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill(&mut first).await;
    app.sim.clear_faults();
    let held = store
        .lease_holder(common::TENANT, PlatformKind::Zoom)
        .await
        .unwrap()
        .expect("the dead sweep's lease is still there");
    assert!(held.holder.contains(&format!(":{first_pid}:")), "{held:?}");
    assert!(held.expires_at > Utc::now(), "and has not expired");

    let out = sweep_command(&settings, &[])
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("second sweep runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    assert!(
        err.contains("took over the writer lease") && err.contains(&held.holder),
        "{err}"
    );
}

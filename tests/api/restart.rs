//! The real `chaperone serve` binary as a child process: SIGKILL between the 200 and the
//! processing loses nothing and processes the event exactly once after a restart; SIGTERM stops
//! it with exit code 0; a bad schedule stops it at start-up.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chaperone::store::Store;
use chaperone::store::webhooks::EventState;
use chaperone_sim::{ZoomSim, ZoomSimConfig};
use chrono::Utc;

use crate::helpers::{
    DRIFTED, SECRET, free_port, meeting_event, patches, scenario, wait_processed, write_settings,
};

/// A simulator and a settings file for `chaperone serve` on a free port: the simulator, the
/// folder holding the file and the store, the file, the server's base URL, the webhook URL, and a
/// client to post to it.
async fn set_up() -> (
    ZoomSim,
    tempfile::TempDir,
    PathBuf,
    String,
    String,
    reqwest::Client,
) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = ZoomSim::start(ZoomSimConfig::unlimited(), scenario())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_settings(
        dir.path(),
        &sim,
        &format!("127.0.0.1:{port}"),
        sim.client_secret(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let url = format!("{base}/webhooks/zoom/riverside-youth");
    (sim, dir, config, base, url, reqwest::Client::new())
}

/// The store the settings in `dir` point `serve` at (write_settings puts it there).
async fn store_of(dir: &tempfile::TempDir) -> Store {
    Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("chaperone.db").display()
    ))
    .await
    .unwrap()
}

fn serve(config: &Path, delay_ms: u64, stderr: &Path) -> Child {
    let log = std::fs::File::create(stderr).expect("log file");
    Command::new(assert_cmd::cargo::cargo_bin("chaperone"))
        .args(["--log-format", "json", "serve"])
        .arg("--config")
        .arg(config)
        .env("CHAPERONE_TEST_WORKER_DELAY_MS", delay_ms.to_string())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("chaperone serve starts")
}

async fn wait_healthy(client: &reqwest::Client, base: &str, child: &mut Child) {
    for _ in 0..400 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("chaperone serve exited early: {status}");
        }
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("chaperone serve did not become healthy");
}

async fn post(client: &reqwest::Client, url: &str, body: &[u8]) -> reqwest::Response {
    let ts = Utc::now().timestamp().to_string();
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", &ts)
        .header(
            "x-zm-signature",
            chaperone::server::signature::sign(SECRET.as_bytes(), &ts, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn killed_after_the_200_and_before_processing_the_event_is_processed_exactly_once_after_restart()
 {
    let (sim, dir, config, base, url, client) = set_up().await;

    // 1. Workers wait a minute before claiming: the event is stored, answered, not processed.
    let mut first = serve(&config, 60_000, &dir.path().join("first.log"));
    wait_healthy(&client, &base, &mut first).await;
    let body = serde_json::to_vec(&meeting_event("meeting.created", DRIFTED)).unwrap();
    let response = post(&client, &url, &body).await;
    assert_eq!(response.status(), 200);
    first.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    first.wait().unwrap();
    assert_eq!(patches(&sim), 0, "nothing was processed before the kill");

    let store = store_of(&dir).await;
    let events = store.webhook_events(None).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].state,
        EventState::Pending,
        "stored before the 200"
    );

    // 2. Restart without the delay: the stored event is processed, once.
    let mut second = serve(&config, 0, &dir.path().join("second.log"));
    wait_healthy(&client, &base, &mut second).await;
    let done = wait_processed(&store, events[0].id).await;
    assert_eq!(done.state, EventState::Done, "{done:?}");
    assert_eq!(done.attempts, 1);
    // The same delivery again (Zoom retrying) is a duplicate.
    let again = post(&client, &url, &body).await;
    assert_eq!(again.status(), 200);
    crate::helpers::wait_quiet(&store).await;
    assert_eq!(patches(&sim), 1, "exactly one PATCH of the meeting");
    let events = store.webhook_events(None).await.unwrap();
    assert_eq!(events.len(), 1, "exactly one stored event");
    let webhook_runs: Vec<_> = store
        .list_runs(50)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == chaperone::report::RunKind::Webhook)
        .collect();
    assert_eq!(webhook_runs.len(), 1, "exactly one run: {webhook_runs:?}");

    // 3. SIGTERM: an orderly stop with exit code 0.
    let pid = second.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = second.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let status = status.expect("serve stopped after SIGTERM");
    assert!(status.success(), "exit status {status}");

    // Secrets never reach the logs, even at debug level.
    for log in ["first.log", "second.log"] {
        let text = std::fs::read_to_string(dir.path().join(log)).unwrap();
        assert!(text.contains("listening"), "{log}: {text}");
        assert!(!text.contains(SECRET), "{log} shows the webhook secret");
        assert!(
            !text.contains(sim.client_secret()),
            "{log} shows the client secret"
        );
    }
}

#[test]
fn a_bad_schedule_stops_serve_at_start_up_naming_the_tenant_and_the_expression() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chaperone.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n[server]\nlisten = \"127.0.0.1:0\"\n\
             [[tenants]]\nid = \"riverside\"\nschedule = \"0 2 * *\"\nprofiles_dir = \"{}\"\n\
             [tenants.zoom]\naccount_id = \"a\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
            dir.path().join("c.db").display(),
            crate::helpers::repo_profiles().display()
        ),
    )
    .unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("chaperone"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("riverside"), "{err}");
    assert!(err.contains("0 2 * *"), "{err}");
}

#[tokio::test]
async fn a_serve_killed_while_processing_an_event_has_it_taken_over_at_once_by_the_next_serve_which_names_the_dead_claim()
 {
    let (sim, dir, config, base, url, client) = set_up().await;
    // Reading the meeting hangs: the first process dies in the middle of processing the event.
    sim.inject(
        chaperone_sim::Fault::delay(Duration::from_secs(120))
            .on_route("GET /v2/meetings/{meetingId}"),
    );
    let store = store_of(&dir).await;

    let mut first = serve(&config, 0, &dir.path().join("first.log"));
    let first_pid = first.id();
    wait_healthy(&client, &base, &mut first).await;
    let body = serde_json::to_vec(&meeting_event("meeting.created", DRIFTED)).unwrap();
    assert_eq!(post(&client, &url, &body).await.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let id = loop {
        let events = store.webhook_events(None).await.unwrap();
        if let Some(e) = events.iter().find(|e| e.state == EventState::Processing) {
            break e.id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never claimed: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    sim.clear_faults();

    // The next process on this machine can tell the claim's process is gone: it takes the
    // event at once (the test waits far less than the claim's 30 s lease).
    let mut second = serve(&config, 0, &dir.path().join("second.log"));
    wait_healthy(&client, &base, &mut second).await;
    let done = wait_processed(&store, id).await;
    assert_eq!(done.state, EventState::Done, "{done:?}");
    let previous = done.taken_over_from.clone().expect("names the dead claim");
    assert!(
        previous.contains(&format!(":{first_pid}:")),
        "{previous} names process {first_pid}"
    );
    assert_eq!(patches(&sim), 1, "the meeting is fixed once");
    second.kill().expect("SIGKILL");
    second.wait().unwrap();
    let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("took over a webhook event"))
        .unwrap_or_else(|| panic!("serve logs the takeover: {log}"));
    assert!(line.contains(&previous), "{line}");
    assert!(line.contains(&format!("\"event_id\":{id}")), "{line}");
    assert!(line.contains("\"level\":\"WARN\""), "{line}");
}

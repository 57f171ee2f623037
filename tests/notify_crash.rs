//! Exactly once across a crash: `chaperone notify deliver` is killed with SIGKILL in the middle
//! of delivering, then started again; every message reaches the real SMTP server exactly once.

mod common;
mod notify_common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chaperone::control::{Control, Status};
use chaperone::notify::{self, TEST_DELAY_ENV};
use chaperone::report::{ChangeRecord, Finding, RunKind, SessionReport};
use chaperone::session::{Host, PlatformKind};
use chaperone::store::Store;
use chrono::Utc;
use notify_common::{Receiver, SmtpSink, settings_toml};

const HOSTS: usize = 5;
const PASSWORD: &str = "correct horse battery staple";

fn session(n: usize) -> (Host, SessionReport) {
    let email = format!("host{n}@riverside.example.org");
    let host = Host {
        id: format!("u{n}"),
        email: email.clone(),
        name: format!("Host {n}"),
        groups: vec![],
    };
    let report = SessionReport {
        platform: PlatformKind::Zoom,
        session_id: format!("{n}000"),
        topic: format!("[youth] Group {n}"),
        host_email: email,
        start: Some(Utc::now() + chrono::Duration::days(7)),
        profile: "youth-group".into(),
        findings: vec![Finding {
            control: Control::WaitingRoom,
            status: Status::Fixed,
            observed: Some("everyone".into()),
            wanted: Some("everyone".into()),
            detail: "fixed".into(),
            lock: None,
        }],
        changes: vec![ChangeRecord {
            control: Control::WaitingRoom,
            before: Some("off".into()),
            after: "everyone".into(),
            verified: true,
        }],
        join_link_changed: false,
    };
    (host, report)
}

fn deliver(config: &std::path::Path, log: &std::path::Path, delay_ms: Option<u64>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaperone"));
    cmd.args(["--log-format", "json", "--config"])
        .arg(config)
        .args(["notify", "deliver"])
        .env_remove(TEST_DELAY_ENV)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"));
    if let Some(ms) = delay_ms {
        cmd.env(TEST_DELAY_ENV, ms.to_string());
    }
    cmd.spawn().expect("chaperone runs")
}

#[tokio::test]
async fn a_kill_9_mid_delivery_loses_nothing_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let store = Store::connect(&url).await.unwrap();
    let profiles =
        chaperone::profile::load_dir(&common::repo_profiles(), chrono_tz::Europe::London).unwrap();
    let profile = profiles.iter().find(|p| p.name == "youth-group").unwrap();
    let run = store
        .start_run("riverside-youth", RunKind::Sweep, false, Utc::now())
        .await
        .unwrap();
    for n in 0..HOSTS {
        let (host, report) = session(n);
        let item = notify::digest_item(profile, &host, &report, None);
        store
            .record_session_with_outbox(&run, &report, item.as_ref(), true)
            .await
            .unwrap();
    }
    store.finish_run(&run, Utc::now()).await.unwrap();
    store.close().await;

    let sink = SmtpSink::start(Some(("chaperone", PASSWORD)));
    let receiver = Receiver::start().await;
    let config = settings_toml(dir.path(), &url, sink.port, &receiver.base, "");

    // First worker: slow (a test-only delay between claiming and sending), killed once the
    // store says two were sent: it is then waiting on its third claim, which it never sends.
    // (Killing on the SMTP server's count instead could land between the server's 250 and the
    // worker's record of it: a kill there is a duplicate no SMTP client can prevent.)
    let watcher = Store::connect(&url).await.unwrap();
    let sent = || async {
        watcher
            .outbox_messages(None)
            .await
            .unwrap()
            .iter()
            .filter(|m| m.sent_at.is_some())
            .count()
    };
    let log1 = dir.path().join("first.log");
    let mut first = deliver(&config, &log1, Some(1500));
    let until = Instant::now() + Duration::from_secs(60);
    while sent().await < 2 {
        assert!(Instant::now() < until, "the first worker never sent two");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix: no clean-up runs.
    first.wait().unwrap();
    let before_restart = sink.mails().len();
    assert_eq!(
        before_restart, 2,
        "the first worker delivered two before the kill"
    );
    assert!(before_restart < HOSTS, "killed mid-delivery");

    // Second worker: picks up what was left, including the message claimed by the dead one
    // once its lease ran out. It is stopped once the store has every message sent: a worker
    // only sends what is not yet recorded as sent, so nothing can arrive after that.
    let log2 = dir.path().join("second.log");
    let mut second = deliver(&config, &log2, None);
    let until = Instant::now() + Duration::from_secs(60);
    while sent().await < HOSTS {
        assert!(Instant::now() < until, "the second worker never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    watcher.close().await;
    let mails = sink.mails();

    let mut by_id: HashMap<String, usize> = HashMap::new();
    for m in &mails {
        *by_id.entry(m.message_id.clone()).or_default() += 1;
    }
    assert_eq!(by_id.len(), HOSTS, "every message arrived: {by_id:?}");
    assert!(
        by_id.values().all(|n| *n == 1),
        "none arrived twice: {by_id:?}"
    );
    let mut recipients: Vec<String> = mails.iter().map(|m| m.rcpt_tos.join(",")).collect();
    recipients.sort();
    let expected: Vec<String> = (0..HOSTS)
        .map(|n| format!("host{n}@riverside.example.org"))
        .collect();
    assert_eq!(recipients, expected);

    let store = Store::connect(&url).await.unwrap();
    let outbox = store.outbox_messages(None).await.unwrap();
    assert_eq!(outbox.len(), HOSTS);
    assert!(outbox.iter().all(|m| m.sent_at.is_some()), "{outbox:?}");

    // The logs say what happened and never hold the SMTP password or the signing secret.
    let logs = std::fs::read_to_string(&log1).unwrap() + &std::fs::read_to_string(&log2).unwrap();
    assert!(logs.contains("sent"), "{logs}");
    assert!(logs.contains(TEST_DELAY_ENV), "the test delay is announced");
    for secret in [
        PASSWORD,
        "s3cr3t-signing-key",
        "slack-token-XYZ",
        "workflow-token-ABC",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the log");
    }
}

#[test]
fn notify_deliver_once_logs_a_clear_error_for_bad_settings_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bad.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        let profiles =
            chaperone::profile::load_dir(&common::repo_profiles(), chrono_tz::Europe::London)
                .unwrap();
        let profile = profiles.iter().find(|p| p.name == "youth-group").unwrap();
        let run = store
            .start_run("riverside-youth", RunKind::Sweep, false, Utc::now())
            .await
            .unwrap();
        let (host, report) = session(0);
        let item = notify::digest_item(profile, &host, &report, None);
        store
            .record_session_with_outbox(&run, &report, item.as_ref(), true)
            .await
            .unwrap();
        store.finish_run(&run, Utc::now()).await.unwrap();
        store.close().await;
    });
    let dead = notify_common::closed_port();
    let config = settings_toml(dir.path(), &url, dead, "http://127.0.0.1:9", "");
    let out = Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .args(["--log-format", "json", "--config"])
        .arg(&config)
        .args(["notify", "deliver", "--once"])
        .env_remove(TEST_DELAY_ENV)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("delivery failed; will retry"), "{stderr}");
    assert!(
        stderr.contains(&format!("could not be sent through 127.0.0.1:{dead}")),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sent 0, failed 1"), "{stdout}");
}

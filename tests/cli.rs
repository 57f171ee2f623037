//! The `chaperone` binary as a user runs it: exit codes, output formats, and secrets that never
//! reach the output or the logs.

mod common;

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use chaperone_sim::Scenario;

fn chaperone() -> Command {
    Command::cargo_bin("chaperone").expect("binary is built")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the binary off the async runtime (the simulator in this process must keep serving).
async fn run_cli(configure: impl FnOnce(&mut Command) + Send + 'static) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut cmd = chaperone();
        configure(&mut cmd);
        cmd.output().expect("runs")
    })
    .await
    .expect("the command's thread finished")
}

/// Runs `chaperone --config <settings> <args…>` off the async runtime.
async fn run_with_settings(settings: &Path, args: &[&str]) -> Output {
    let settings = settings.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run_cli(move |c| {
        c.arg("--config").arg(&settings).args(&args);
    })
    .await
}

/// As [`run_with_settings`], logging JSON at trace level (where a leaked secret would show).
async fn run_traced_with_settings(settings: &Path, args: &[&str]) -> Output {
    let settings = settings.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run_cli(move |c| {
        c.env("RUST_LOG", "trace")
            .args(["--log-format", "json", "--config"])
            .arg(&settings)
            .args(&args);
    })
    .await
}

/// A settings file for the binary against `app`'s simulator, signing in with `secret`.
fn settings_file(dir: &Path, app: &common::TestApp, secret: &str) -> std::path::PathBuf {
    let url = common::binary::sqlite_url(dir, "c.db");
    common::binary::write_settings(dir, app, &url, secret, "")
}

#[test]
fn the_shipped_profiles_validate() {
    let out = chaperone()
        .args(["profiles", "validate"])
        .arg(common::repo_profiles())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("youth-group.toml"));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_exits_1_on_drift_and_prints_json_with_the_schema_version() {
    let app = common::spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_file(dir.path(), &app, app.sim.client_secret());
    let out = run_with_settings(&settings, &["check", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json["schema_version"], 1);
    assert!(json["sessions"].as_array().is_some_and(|s| !s.is_empty()));
    assert_eq!(app.writes(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_secret_never_reaches_output_or_logs_even_at_trace_level() {
    let app = common::spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let real = app.sim.client_secret().to_string();
    // A working secret: a whole sweep at trace level.
    let settings = settings_file(dir.path(), &app, &real);
    let ok = run_traced_with_settings(&settings, &["sweep", "--format", "csv"]).await;
    let all = text(&ok);
    assert!(ok.status.code().is_some_and(|c| c <= 1), "{all}");
    assert!(!all.contains(&real), "the client secret leaked");
    // A canary secret the platform rejects: the error must not repeat it.
    let canary = "CANARY-7f3a9c1e-secret";
    let dir2 = tempfile::tempdir().unwrap();
    let settings = settings_file(dir2.path(), &app, canary);
    let bad = run_traced_with_settings(&settings, &["check", "--format", "json"]).await;
    let all = text(&bad);
    assert_eq!(bad.status.code(), Some(2), "{all}");
    assert!(!all.contains(canary), "the canary secret leaked:\n{all}");
    assert!(all.contains("token"), "the error says what failed:\n{all}");
}

#[test]
fn a_missing_settings_file_is_a_clear_error() {
    let out = chaperone()
        .args(["--config", "/nonexistent/chaperone.toml", "check"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("/nonexistent/chaperone.toml"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_past_run_prints_again_from_the_store() {
    let app = common::spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_file(dir.path(), &app, app.sim.client_secret());
    let swept = run_with_settings(&settings, &["sweep", "--format", "json"]).await;
    let first: serde_json::Value = serde_json::from_slice(&swept.stdout).expect("JSON");
    let run_id = first["run_id"].as_str().expect("a run id").to_string();
    let again =
        run_with_settings(&settings, &["report", "--run", &run_id, "--format", "json"]).await;
    assert!(again.status.success(), "{}", text(&again));
    let second: serde_json::Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(first, second);
}

#[test]
fn an_unknown_run_id_says_how_to_list_runs() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("c.toml");
    std::fs::write(
        &settings,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n",
            dir.path().join("c.db").display()
        ),
    )
    .unwrap();
    let out = chaperone()
        .arg("--config")
        .arg(&settings)
        .args(["report", "--run", "no-such-run"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--list"), "{}", text(&out));
}

#[test]
fn a_bad_profile_folder_exits_1_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("club.toml"),
        "description = \"x\"\n[select]\ntopic-tags = [\"[youth]\"]\n[controls]\nwaitng-room = \"everyone\"\n",
    )
    .unwrap();
    let out = chaperone()
        .args(["profiles", "validate"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out);
    assert!(all.contains("club.toml:5:1"), "{all}");
    assert!(all.contains("did you mean `waiting-room`"), "{all}");
}

#[test]
fn the_demo_exits_0_when_it_ran_as_intended_though_it_shows_items_for_a_person() {
    let out = chaperone()
        .args(["demo", "--format", "json"])
        .output()
        .expect("runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    // Not an empty demo: its checks do find what only a person can put right.
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let reports = json.as_array().expect("one report per run");
    assert!(reports.len() >= 4, "a sweep and a check per platform");
    assert!(reports.iter().all(|r| r["status"] == "completed"), "{all}");
    assert!(all.contains("needs-human"), "{all}");
}

/// A settings file whose secret the simulator's token endpoint refuses (as Zoom does for a
/// revoked or mistyped client secret).
fn refused_secret_settings(dir: &std::path::Path, app: &common::TestApp) -> std::path::PathBuf {
    settings_file(dir, app, "a-secret-zoom-no-longer-accepts")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_that_could_not_sign_in_is_a_failed_run_in_every_format_and_in_the_run_list() {
    let app = common::spawn_app(Scenario::demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = refused_secret_settings(dir.path(), &app);
    let table = run_with_settings(&settings, &["check"]).await;
    let out = String::from_utf8_lossy(&table.stdout).to_string();
    assert_eq!(table.status.code(), Some(2), "{}", text(&table));
    assert!(
        out.lines()
            .nth(3)
            .is_some_and(|l| l.starts_with("RUN FAILED")),
        "the headline names the failure:\n{out}"
    );
    assert!(
        out.contains("client id and secret"),
        "says what to do:\n{out}"
    );
    assert!(
        !out.contains("No youth sessions found"),
        "a failed sign-in is not an empty account:\n{out}"
    );
    // The log says it at error level.
    let log = String::from_utf8_lossy(&table.stderr).to_string();
    assert!(log.contains("ERROR"), "{log}");
    let json = run_with_settings(&settings, &["check", "--format", "json"]).await;
    assert_eq!(json.status.code(), Some(2), "{}", text(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["status"], "failed", "{report}");
    let csv = run_with_settings(&settings, &["check", "--format", "csv"]).await;
    assert_eq!(csv.status.code(), Some(2), "{}", text(&csv));
    let sheet = String::from_utf8_lossy(&csv.stdout).to_string();
    assert!(sheet.contains(",run,failed,"), "{sheet}");
    let list = run_with_settings(&settings, &["report", "--list"]).await;
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(
        listed.lines().all(|l| l.contains("FAILED")),
        "every run is listed as failed:\n{listed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_with_terminal_escapes_is_shown_neutralised_in_table_and_csv_and_exact_in_json() {
    let app = common::spawn_app(Scenario::demo()).await;
    let check = app.run(chaperone::report::RunKind::Check, false).await;
    let forum = check
        .sessions
        .iter()
        .find(|s| s.topic.contains("Youth Forum"))
        .expect("the demo's youth forum")
        .session_id
        .parse::<u64>()
        .unwrap();
    let hostile = "[youth] Youth Forum\u{1b}[2J\u{1b}]0;owned\u{7}\r";
    app.sim.set_meeting_field(forum, "/topic", hostile.into());
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_file(dir.path(), &app, app.sim.client_secret());
    for format in ["table", "csv"] {
        let out = run_with_settings(&settings, &["check", "--format", format]).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            !stdout.contains(['\u{1b}', '\u{7}'].as_slice()),
            "{format}: a control character reached the terminal: {stdout:?}"
        );
        assert!(
            stdout.contains("Youth Forum\u{241b}[2J"),
            "{format}: {stdout}"
        );
    }
    let json = run_with_settings(&settings, &["check", "--format", "json"]).await;
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert!(
        report["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["topic"] == hostile),
        "JSON keeps the exact topic"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_teams_check_whose_secret_entra_refuses_is_a_failed_run() {
    let sim = chaperone::platform::teams::sim::start_demo_sim()
        .await
        .expect("Graph simulator");
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("chaperone.toml");
    std::fs::write(
        &settings,
        format!(
            "[store]\nurl = \"sqlite://{db}\"\n\n[[tenants]]\nid = \"riverside-youth\"\nprofiles_dir = \"{profiles}\"\n\n[tenants.teams]\ntenant_id = \"{tenant}\"\nclient_id = \"{client}\"\nclient_secret = \"a-secret-entra-no-longer-accepts\"\nstaff_group_id = \"{group}\"\ngraph_base_url = \"{graph}\"\ntoken_url = \"{token}\"\n",
            db = dir.path().join("c.db").display(),
            profiles = common::repo_profiles().display(),
            tenant = sim.tenant_id(),
            client = sim.client_id(),
            group = sim.staff_group_id(),
            graph = sim.graph_base_url(),
            token = sim.token_url(),
        ),
    )
    .unwrap();
    let out = run_with_settings(&settings, &["check", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["status"], "failed", "{report}");
    assert!(
        report["failures"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("access token")),
        "{report}"
    );
    assert!(!text(&out).contains("a-secret-entra-no-longer-accepts"));
    sim.shutdown().await;
}

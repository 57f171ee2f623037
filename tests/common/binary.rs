//! The real `chaperone` binary against a test's simulator: its settings file, a sweep as a child
//! process (to kill), a sweep run to the end, and waiting on what the child does.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use super::{TENANT, TestApp, repo_profiles};

/// The URL of a SQLite store in the file `file` under `dir`.
pub fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

/// Writes `dir/chaperone.toml`: the store at `store_url` and one Zoom tenant against `app`'s
/// simulator signing in with `secret` (a wrong one makes the token endpoint refuse it). `extra` is
/// appended as it is, e.g. a `[server]` table.
pub fn write_settings(
    dir: &Path,
    app: &TestApp,
    store_url: &str,
    secret: &str,
    extra: &str,
) -> PathBuf {
    let path = dir.join("chaperone.toml");
    let text = format!(
        "[store]\nurl = \"{store_url}\"\n\n[[tenants]]\nid = \"{TENANT}\"\nprofiles_dir = \"{profiles}\"\n\n[tenants.zoom]\naccount_id = \"{account}\"\nclient_id = \"{client}\"\nclient_secret = \"{secret}\"\napi_base_url = \"{api}\"\ntoken_url = \"{token}\"\nrate_limits = {{ light_per_second = 500, medium_per_second = 500 }}\n{extra}",
        profiles = repo_profiles().display(),
        account = app.sim.account_id(),
        client = app.sim.client_id(),
        api = app.sim.api_base_url(),
        token = app.sim.token_url(),
    );
    std::fs::write(&path, text).expect("settings file written");
    path
}

/// [`write_settings`] with the simulator's own secret and nothing extra.
pub fn settings_file(dir: &Path, app: &TestApp, store_url: &str) -> PathBuf {
    write_settings(dir, app, store_url, app.sim.client_secret(), "")
}

/// `chaperone --config <settings> --log-format json sweep --format json <extra>` as a child
/// process that dies with its handle; stdout is discarded, stderr is the caller's choice.
pub fn sweep_command(settings: &Path, extra: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(assert_cmd::cargo::cargo_bin("chaperone"));
    cmd.arg("--config")
        .arg(settings)
        .args(["--log-format", "json", "sweep", "--format", "json"])
        .args(extra)
        .stdout(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Kills `child` with SIGKILL (no chance to record anything) and reaps it.
pub async fn kill(child: &mut tokio::process::Child) {
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
}

/// `chaperone --config <settings> sweep --format json`, run to the end off the async runtime (the
/// simulator in this process must keep serving); a generous timeout stops a hung one.
pub async fn sweep_to_the_end(settings: &Path) -> Output {
    let exe = assert_cmd::cargo::cargo_bin("chaperone");
    let settings = settings.to_path_buf();
    tokio::task::spawn_blocking(move || {
        assert_cmd::Command::new(&exe)
            .arg("--config")
            .arg(&settings)
            .args(["sweep", "--format", "json"])
            .timeout(Duration::from_secs(120))
            .output()
    })
    .await
    .expect("the sweep's thread finished")
    .expect("the sweep runs")
}

/// Waits (generously) until `done` holds.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never happened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

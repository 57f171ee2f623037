//! What a test needs from outside the Rust toolchain (a PostgreSQL server, the `openssl` CLI),
//! decided in one place. In CI (`CI` set, as every CI service does) a missing server or tool
//! fails the test: CI must run them for real. Elsewhere the test says `SKIPPED: …` on stderr,
//! loudly, and passes, so `cargo test --workspace` works on a machine with only Rust.
#![allow(dead_code)]

/// The variable that points the PostgreSQL tests at a server (`eval "$(.ci/start-postgres)"`).
pub const PG_URL_VAR: &str = "CHAPERONE_TEST_PG_URL";

/// Whether this is a CI run: `CI` is set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

/// Reports that `test` cannot run because `what` is missing, and how to provide it: a panic in
/// CI, a `SKIPPED:` line elsewhere.
pub fn missing(test: &str, what: &str, how: &str) {
    if in_ci() {
        panic!("{test} needs {what}, which is missing in CI ({how}); CI must run it for real");
    }
    // Written to the process's stderr directly, not through `eprintln!`, which the test harness
    // captures and hides for a passing test: a skip must be seen.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test}: {what} is missing ({how})"
    );
}

/// The PostgreSQL URL for `test`, or `None` (after [`missing`]) when none is configured.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            missing(
                test,
                "a PostgreSQL server",
                &format!("set {PG_URL_VAR}; .ci/start-postgres starts one"),
            );
            None
        }
    }
}

/// Whether the `openssl` CLI runs; when it does not, [`missing`] has reported it for `test`.
pub fn openssl(test: &str) -> bool {
    let runs = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        missing(
            test,
            "the openssl command",
            "install it: apt-get install openssl",
        );
    }
    runs
}

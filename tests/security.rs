//! Secrets and tenants: two organisations on two simulators never share a token, and a run over
//! both prints neither organisation's secret, even at trace level.

mod common;

use chaperone::report::RunKind;
use chaperone_sim::{Scenario, ZoomSim, ZoomSimConfig};

fn config_with_secret(secret: &str) -> ZoomSimConfig {
    let mut c = ZoomSimConfig::unlimited();
    c.client_secret = secret.to_string();
    c
}

#[tokio::test]
async fn token_caches_never_cross_tenants() {
    let a = common::spawn_app_with(
        config_with_secret("CANARY-tenant-a-secret"),
        Scenario::demo(),
    )
    .await;
    let b = common::spawn_app_with(
        config_with_secret("CANARY-tenant-b-secret"),
        Scenario::demo(),
    )
    .await;
    for _ in 0..2 {
        let ra = a.run(RunKind::Check, false).await;
        let rb = b.run(RunKind::Check, false).await;
        assert!(ra.failures.is_empty() && rb.failures.is_empty());
    }
    // Each simulator issued its own token once and never saw a token it did not issue.
    for sim in [&a.sim, &b.sim] {
        let stats = sim.stats();
        assert_eq!(
            stats.tokens_issued, 1,
            "one token per tenant, cached across runs"
        );
        assert_eq!(
            stats.unauthorized, 0,
            "a token from the other tenant reached this one"
        );
    }
}

fn tenant_toml(id: &str, sim: &ZoomSim) -> String {
    let env = format!("SECRET_OF_{}", id.to_uppercase().replace('-', "_"));
    format!(
        "[[tenants]]\nid = \"{id}\"\nprofiles_dir = \"{profiles}\"\n\n[tenants.zoom]\naccount_id = \"{account}\"\nclient_id = \"{client}\"\nclient_secret_env = \"{env}\"\napi_base_url = \"{api}\"\ntoken_url = \"{token}\"\nrate_limits = {{ light_per_second = 500, medium_per_second = 500 }}\n\n",
        profiles = common::repo_profiles().display(),
        account = sim.account_id(),
        client = sim.client_id(),
        api = sim.api_base_url(),
        token = sim.token_url(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_over_two_tenants_prints_neither_secret_even_at_trace_level() {
    let a = ZoomSim::start(config_with_secret("CANARY-a-9f2e"), Scenario::demo())
        .await
        .unwrap();
    let b = ZoomSim::start(config_with_secret("CANARY-b-4c1d"), Scenario::demo())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("chaperone.toml");
    std::fs::write(
        &settings,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n{}{}",
            dir.path().join("c.db").display(),
            tenant_toml("club-a", &a),
            tenant_toml("club-b", &b)
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("chaperone")
            .unwrap()
            .env("SECRET_OF_CLUB_A", "CANARY-a-9f2e")
            .env("SECRET_OF_CLUB_B", "CANARY-b-4c1d")
            .env("RUST_LOG", "trace")
            .args(["--log-format", "json", "--config"])
            .arg(&settings)
            .args(["sweep", "--format", "json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.code().is_some_and(|c| c <= 1), "{all}");
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let tenants: Vec<&str> = reports
        .as_array()
        .expect("two runs: an array")
        .iter()
        .filter_map(|r| r["tenant"].as_str())
        .collect();
    assert_eq!(tenants, vec!["club-a", "club-b"]);
    for canary in ["CANARY-a-9f2e", "CANARY-b-4c1d"] {
        assert!(!all.contains(canary), "{canary} leaked");
    }
    assert!(
        a.stats().writes > 0 && b.stats().writes > 0,
        "both tenants were swept"
    );
}

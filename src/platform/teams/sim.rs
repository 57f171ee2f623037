//! The Graph simulator as a platform: settings that point chaperone's Teams client at a running
//! [`TeamsSim`] (for `chaperone demo`, tests and benchmarks), and `chaperone sim teams`.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use chaperone_sim::{TeamsScenario, TeamsSim, TeamsSimConfig};
use secrecy::SecretString;

use super::TeamsSettings;
use crate::app;

/// The tenant id the demo and `sim teams --write-settings` use (the Zoom demo's organisation).
pub const DEMO_TENANT: &str = "riverside-youth";

/// Settings that point chaperone's Teams client at a running simulator.
pub fn teams_settings_for(sim: &TeamsSim) -> TeamsSettings {
    TeamsSettings {
        tenant_id: sim.tenant_id().to_string(),
        client_id: sim.client_id().to_string(),
        client_secret: Some(SecretString::from(sim.client_secret().to_string())),
        client_secret_env: None,
        client_secret_file: None,
        certificate_key_file: None,
        certificate_thumbprint: None,
        staff_group_id: sim.staff_group_id().to_string(),
        graph_base_url: sim.graph_base_url(),
        token_url: Some(sim.token_url()),
        scope: "https://graph.microsoft.com/.default".into(),
        requests_per_second: 200,
        max_concurrent_per_mailbox: 4,
        timeout_secs: 30,
        run_deadline_secs: crate::platform::pacing::DEFAULT_RUN_DEADLINE.as_secs(),
        change_notifications: None,
    }
}

/// Starts the Graph simulator with the demo organisation on a loopback port.
pub async fn start_demo_sim() -> anyhow::Result<TeamsSim> {
    TeamsSim::start(TeamsSimConfig::default(), TeamsScenario::demo())
        .await
        .context("could not start the Graph simulator on a loopback port")
}

/// `chaperone sim teams`: serves the simulator until interrupted. With `write_settings`, writes
/// a chaperone settings file for one tenant pointing at it (the simulator's test credentials go
/// only there).
pub async fn serve_sim(
    addr: SocketAddr,
    scenario: &str,
    write_settings: Option<&Path>,
) -> anyhow::Result<i32> {
    let scenario = match scenario {
        "demo" => TeamsScenario::demo(),
        "empty" => TeamsScenario::empty(),
        other => anyhow::bail!("unknown scenario `{other}`: use `demo` or `empty`"),
    };
    let sim = TeamsSim::start_on(addr, TeamsSimConfig::default(), scenario)
        .await
        .with_context(|| format!("could not listen on {addr}"))?;
    if let Some(path) = write_settings {
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let text = format!(
            "# chaperone settings for the Graph (Teams) simulator at {base}\n\
             [store]\nurl = \"sqlite://{db}\"\n\n\
             [[tenants]]\nid = \"{tenant}\"\ntimezone = \"Europe/London\"\nprofiles_dir = \"{profiles}\"\n\n\
             [tenants.teams]\ntenant_id = \"{tenant_id}\"\nclient_id = \"{client}\"\nclient_secret = \"{secret}\"\n\
             staff_group_id = \"{group}\"\ngraph_base_url = \"{base}\"\ntoken_url = \"{token}\"\n",
            base = sim.graph_base_url(),
            db = dir.join("chaperone.db").display(),
            tenant = DEMO_TENANT,
            profiles = app::write_shipped_profiles(&dir.join("profiles"))?.display(),
            tenant_id = sim.tenant_id(),
            client = sim.client_id(),
            secret = sim.client_secret(),
            group = sim.staff_group_id(),
            token = sim.token_url(),
        );
        std::fs::write(path, text)
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    println!(
        "graph (teams) simulator listening\ngraph_base_url = \"{}\"\ntoken_url = \"{}\"\nstaff_group_id = \"{}\"",
        sim.graph_base_url(),
        sim.token_url(),
        sim.staff_group_id()
    );
    tokio::signal::ctrl_c()
        .await
        .context("could not wait for Ctrl-C")?;
    sim.shutdown().await;
    Ok(0)
}

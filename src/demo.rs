//! `chaperone demo` and `chaperone sim`: the built-in simulated organisation, so anyone can see
//! chaperone work without a platform account. The simulator is its own crate (`chaperone-sim`),
//! written from the vendor's spec and sharing no code with the client it serves.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use chaperone_sim::{Scenario, ZoomSim, ZoomSimConfig};
use chrono::{Duration, Utc};
use secrecy::SecretString;

use crate::app::{self, print_step};
use crate::notify;
use crate::platform::Window;
use crate::report::{Format, RunKind};
use crate::settings::{ZoomRateLimits, ZoomSettings};
use crate::store::Store;
use crate::sweep::{self, RunOptions};

const DEMO_TENANT: &str = "riverside-youth";

/// Settings that point chaperone's Zoom client at a running simulator.
pub fn zoom_settings_for(sim: &ZoomSim) -> ZoomSettings {
    ZoomSettings {
        account_id: sim.account_id().to_string(),
        client_id: sim.client_id().to_string(),
        client_secret: Some(SecretString::from(sim.client_secret().to_string())),
        client_secret_env: None,
        client_secret_file: None,
        api_base_url: sim.api_base_url(),
        token_url: sim.token_url(),
        rate_limits: ZoomRateLimits::default(),
        daily_updates_per_host: 100,
        timeout_secs: 30,
        webhook_secret_token: None,
        webhook_secret_token_env: None,
    }
}

/// Starts the simulator with the demo organisation, sweeps it with the shipped profiles, checks
/// again, and prints both. Exit code is the final check's.
pub async fn run(format: Format) -> anyhow::Result<i32> {
    let sim = ZoomSim::start(ZoomSimConfig::pro(), Scenario::demo())
        .await
        .context("could not start the Zoom simulator on a loopback port")?;
    let work = std::env::temp_dir().join(format!("chaperone-demo-{}", uuid::Uuid::new_v4()));
    let profiles_dir = app::write_shipped_profiles(&work.join("profiles"))?;
    let profiles = Arc::new(app::load_profiles(
        &profiles_dir,
        chrono_tz::Europe::London,
    )?);
    let db = work.join("chaperone.db");
    let store = Store::connect(&format!("sqlite://{}", db.display())).await?;
    let zoom = zoom_settings_for(&sim);
    let platform = app::zoom_platform(DEMO_TENANT, &zoom)?;
    if format == Format::Table {
        println!(
            "chaperone demo: a simulated Zoom account (\"Riverside Youth Trust\") at {}\nprofiles: {}\nstore: {}",
            sim.api_base_url(),
            profiles_dir.display(),
            db.display()
        );
    }
    let now = Utc::now();
    let options = |kind| RunOptions {
        kind,
        dry_run: false,
        now,
        window: Window {
            from: now - Duration::hours(2),
            to: now + Duration::days(30),
        },
        progress: false,
        host_concurrency: 16,
    };
    let swept = sweep::run(
        DEMO_TENANT,
        platform.clone(),
        profiles.clone(),
        store.clone(),
        options(RunKind::Sweep),
    )
    .await?;
    print_step(
        "sweep: find drift, fix it, prove each fix by read-back",
        &swept,
        format,
    );
    if format == Format::Table {
        println!("\n===== notify: the digest each host would receive =====\n");
        let tz = chrono_tz::Europe::London;
        print!("{}", notify::render_demo_digests(&store, &swept, tz).await?);
    }
    let writes_before = sim.stats().writes;
    let checked = sweep::run(
        DEMO_TENANT,
        platform,
        profiles,
        store,
        options(RunKind::Check),
    )
    .await?;
    let check_writes = sim.stats().writes - writes_before;
    print_step("check: read again, change nothing", &checked, format);
    if format == Format::Table {
        println!(
            "\nThe check made {check_writes} write requests (counted by the simulator).\nSee a run again: chaperone --config <file with store url sqlite://{}> report --run {}",
            db.display(),
            swept.run_id
        );
    }
    sim.shutdown().await;
    Ok(checked.exit_code())
}

/// `chaperone sim zoom`: serves the simulator until interrupted, for manual testing and for
/// tests that run chaperone as a separate process. With `write_settings`, writes a chaperone
/// settings file for one tenant pointing at it (the simulator's test credentials go only there).
pub async fn serve_sim(
    addr: SocketAddr,
    scenario: &str,
    limits: &str,
    write_settings: Option<&Path>,
) -> anyhow::Result<i32> {
    let scenario = parse_scenario(scenario)?;
    let config = match limits {
        "pro" => ZoomSimConfig::pro(),
        "business" => ZoomSimConfig::business(),
        "unlimited" => ZoomSimConfig::unlimited(),
        other => anyhow::bail!("unknown limits `{other}`: use `pro`, `business` or `unlimited`"),
    };
    let sim = ZoomSim::start_on(addr, config, scenario)
        .await
        .with_context(|| format!("could not listen on {addr}"))?;
    if let Some(path) = write_settings {
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let text = format!(
            "# chaperone settings for the Zoom simulator at {base}\n\
             [store]\nurl = \"sqlite://{db}\"\n\n\
             [[tenants]]\nid = \"{tenant}\"\ntimezone = \"Europe/London\"\nprofiles_dir = \"{profiles}\"\n\n\
             [tenants.zoom]\naccount_id = \"{account}\"\nclient_id = \"{client}\"\nclient_secret = \"{secret}\"\n\
             api_base_url = \"{base}\"\ntoken_url = \"{token}\"\n",
            base = sim.api_base_url(),
            db = dir.join("chaperone.db").display(),
            tenant = DEMO_TENANT,
            profiles = app::write_shipped_profiles(&dir.join("profiles"))?.display(),
            account = sim.account_id(),
            client = sim.client_id(),
            secret = sim.client_secret(),
            token = sim.token_url(),
        );
        std::fs::write(path, text)
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    println!(
        "zoom simulator listening\napi_base_url = \"{}\"\ntoken_url = \"{}\"",
        sim.api_base_url(),
        sim.token_url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("could not wait for Ctrl-C")?;
    sim.shutdown().await;
    Ok(0)
}

/// `demo`, `empty`, or `bench:HOSTSxMEETINGS` (for example `bench:1000x10`).
fn parse_scenario(text: &str) -> anyhow::Result<Scenario> {
    match text {
        "demo" => Ok(Scenario::demo()),
        "empty" => Ok(Scenario::empty()),
        other => {
            let sizes = other
                .strip_prefix("bench:")
                .and_then(|s| s.split_once('x'))
                .and_then(|(h, m)| Some((h.parse::<usize>().ok()?, m.parse::<usize>().ok()?)));
            match sizes {
                Some((hosts, meetings)) if hosts > 0 => Ok(Scenario::bench(hosts, meetings)),
                _ => anyhow::bail!(
                    "unknown scenario `{other}`: use `demo`, `empty` or `bench:HOSTSxMEETINGS` (e.g. bench:1000x10)"
                ),
            }
        }
    }
}

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

/// Starts the Zoom and Microsoft Teams simulators with the demo organisation, sweeps each with
/// the shipped profiles, shows the digests hosts would receive, checks again, and prints it all.
/// Exits 0 when the demo ran as intended: the drift it finds and the items that need a person
/// are what it sets out to show, not failures. 2 only when something went wrong: a run failed or
/// ended in errors, or a check wrote to a platform.
pub async fn run(format: Format) -> anyhow::Result<i32> {
    let zoom_sim = ZoomSim::start(ZoomSimConfig::pro(), Scenario::demo())
        .await
        .context("could not start the Zoom simulator on a loopback port")?;
    let teams_sim = crate::platform::teams::sim::start_demo_sim().await?;
    let work = std::env::temp_dir().join(format!("chaperone-demo-{}", uuid::Uuid::new_v4()));
    let profiles_dir = app::write_shipped_profiles(&work.join("profiles"))?;
    let profiles = Arc::new(app::load_profiles(
        &profiles_dir,
        chrono_tz::Europe::London,
    )?);
    let db = work.join("chaperone.db");
    let store = Store::connect(&format!("sqlite://{}", db.display())).await?;
    let teams_settings = crate::platform::teams::sim::teams_settings_for(&teams_sim);
    let platforms = [
        (
            app::zoom_platform(DEMO_TENANT, &zoom_settings_for(&zoom_sim))?,
            format!("Zoom at {}", zoom_sim.api_base_url()),
        ),
        (
            crate::platform::teams::teams_platform(DEMO_TENANT, &teams_settings)?,
            format!("Microsoft Teams (Graph) at {}", teams_sim.graph_base_url()),
        ),
    ];
    let writes = || zoom_sim.stats().writes + teams_sim.stats().writes;
    if format == Format::Table {
        println!(
            "chaperone demo: \"Riverside Youth Trust\", simulated on {} and {}\nprofiles: {}\nstore: {}",
            platforms[0].1,
            platforms[1].1,
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
    let mut reports = Vec::new();
    let mut exit = 0;
    for (platform, _) in &platforms {
        let name = platform.kind();
        let swept = sweep::run(
            DEMO_TENANT,
            platform.clone(),
            profiles.clone(),
            store.clone(),
            options(RunKind::Sweep),
        )
        .await?;
        print_step(
            &format!("{name} sweep: find drift, fix it, prove each fix by read-back"),
            &swept,
            format,
        );
        if format == Format::Table {
            println!("\n===== {name} notify: the digest each host would receive =====\n");
            let tz = chrono_tz::Europe::London;
            print!("{}", notify::render_demo_digests(&store, &swept, tz).await?);
        }
        let writes_before = writes();
        let checked = sweep::run(
            DEMO_TENANT,
            platform.clone(),
            profiles.clone(),
            store.clone(),
            options(RunKind::Check),
        )
        .await?;
        let check_writes = writes() - writes_before;
        print_step(
            &format!("{name} check: read again, change nothing"),
            &checked,
            format,
        );
        if format == Format::Table {
            println!(
                "\nThe {name} check made {check_writes} write requests (counted by the simulator).\nSee the sweep again: chaperone --config <a settings file with [store] url = \"sqlite://{}\"> report --run {}",
                db.display(),
                swept.run_id
            );
        }
        // Needs-human items and locked drift are the demo's story; errors, failed runs and a check
        // that wrote are not.
        if swept.exit_code() == 2 || checked.exit_code() == 2 || check_writes > 0 {
            eprintln!(
                "chaperone demo: the {name} runs did not go as intended (errors, a failed run, or \
                 {check_writes} writes by the check); see the report above"
            );
            exit = 2;
        }
        reports.push(swept);
        reports.push(checked);
    }
    if format != Format::Table {
        app::print_reports(&reports, format);
    }
    zoom_sim.shutdown().await;
    teams_sim.shutdown().await;
    Ok(exit)
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

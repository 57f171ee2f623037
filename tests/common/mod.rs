//! Shared test helpers: a Zoom simulator on a loopback port, chaperone's Zoom client pointed at
//! it, the shipped profiles and a fresh SQLite store. Everything talks over real HTTP.
#![allow(dead_code)]

pub mod binary;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chaperone::app;
use chaperone::control::Status;
use chaperone::demo::zoom_settings_for;
use chaperone::platform::{Platform, Window};
use chaperone::profile::Profile;
use chaperone::report::{RunKind, RunReport};
use chaperone::settings::ZoomSettings;
use chaperone::store::Store;
use chaperone::sweep::{self, RunOptions};
use chaperone_sim::{Scenario, ZoomSim, ZoomSimConfig};
use chrono::{DateTime, Duration, Utc};

pub const TENANT: &str = "riverside-youth";

/// A running simulator with a chaperone client, profiles and store around it.
pub struct TestApp {
    pub sim: ZoomSim,
    pub zoom: ZoomSettings,
    pub platform: Arc<dyn Platform>,
    pub profiles: Arc<Vec<Profile>>,
    pub store: Store,
    pub now: DateTime<Utc>,
    _dir: tempfile::TempDir,
}

pub fn repo_profiles() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

/// The shipped profiles, read in the tenants' time zone.
pub fn shipped_profiles() -> Vec<Profile> {
    app::load_profiles(&repo_profiles(), chrono_tz::Europe::London).expect("shipped profiles load")
}

/// A fresh SQLite store in the file `t.db` under `dir`.
pub async fn temp_store(dir: &Path) -> Store {
    Store::connect(&format!("sqlite://{}", dir.join("t.db").display()))
        .await
        .expect("store opens")
}

/// How many of `report`'s findings have `status`.
pub fn count(report: &RunReport, status: Status) -> usize {
    report
        .sessions
        .iter()
        .flat_map(|s| &s.findings)
        .filter(|f| f.status == status)
        .count()
}

/// Simulator limits that do not slow tests down.
pub fn fast_config() -> ZoomSimConfig {
    ZoomSimConfig::unlimited()
}

pub async fn spawn_app(scenario: Scenario) -> TestApp {
    spawn_app_with(fast_config(), scenario).await
}

pub async fn spawn_app_with(config: ZoomSimConfig, scenario: Scenario) -> TestApp {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sim = ZoomSim::start(config, scenario)
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = temp_store(dir.path()).await;
    let profiles = shipped_profiles();
    let mut zoom = zoom_settings_for(&sim);
    // Generous limits for tests; the rate-limit behaviour has tests of its own.
    zoom.rate_limits.light_per_second = 1000;
    zoom.rate_limits.medium_per_second = 1000;
    let platform = app::zoom_platform(TENANT, &zoom).expect("client builds");
    TestApp {
        sim,
        zoom,
        platform,
        profiles: Arc::new(profiles),
        store,
        now: Utc::now(),
        _dir: dir,
    }
}

impl TestApp {
    pub fn options(&self, kind: RunKind, dry_run: bool) -> RunOptions {
        RunOptions {
            kind,
            dry_run,
            now: self.now,
            window: Window {
                from: self.now - Duration::hours(2),
                to: self.now + Duration::days(30),
            },
            progress: false,
            host_concurrency: 8,
        }
    }

    pub async fn run(&self, kind: RunKind, dry_run: bool) -> RunReport {
        sweep::run(
            TENANT,
            self.platform.clone(),
            self.profiles.clone(),
            self.store.clone(),
            self.options(kind, dry_run),
        )
        .await
        .expect("run records")
    }

    pub fn writes(&self) -> u64 {
        self.sim.stats().writes
    }
}

//! The commands behind the `chaperone` binary. `main.rs` only parses arguments and calls these.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use secrecy::ExposeSecret;

use crate::platform::zoom::ZoomPlatform;
use crate::platform::{Platform, Window};
use crate::profile::{self, Profile};
use crate::report::{Format, RunKind, RunReport};
use crate::settings::{Settings, TenantSettings, ZoomSettings};
use crate::store::Store;
use crate::sweep::{self, RunOptions};

/// The shipped profiles, embedded so `chaperone demo` works from any folder.
pub const SHIPPED_PROFILES: [(&str, &str); 4] = [
    ("baseline.toml", include_str!("../profiles/baseline.toml")),
    (
        "youth-group.toml",
        include_str!("../profiles/youth-group.toml"),
    ),
    (
        "youth-one-to-one.toml",
        include_str!("../profiles/youth-one-to-one.toml"),
    ),
    (
        "infant-parent.toml",
        include_str!("../profiles/infant-parent.toml"),
    ),
];

/// Options shared by `check` and `sweep`.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub tenant: Option<String>,
    pub format: Format,
    pub dry_run: bool,
    /// Judge against this instant instead of the clock (reproducible reports).
    pub now: Option<DateTime<Utc>>,
    /// A sweep waits for another process's sweep of the same tenant's platform instead of
    /// failing (`sweep --wait`).
    pub wait: bool,
}

/// How often `sweep --wait` asks again for a writer lease held by another process.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Loads and validates a tenant's profiles; errors list every problem with file:line:column.
pub fn load_profiles(dir: &Path, timezone: Tz) -> anyhow::Result<Vec<Profile>> {
    profile::load_dir(dir, timezone)
        .map_err(|e| anyhow!("the profiles in {} are not valid:\n{e}", dir.display()))
}

fn tenant_timezone(t: &TenantSettings) -> anyhow::Result<Tz> {
    t.timezone
        .parse::<Tz>()
        .map_err(|_| anyhow!("tenant `{}`: unknown time zone `{}`", t.id, t.timezone))
}

fn pick_tenants<'s>(
    settings: &'s Settings,
    wanted: Option<&str>,
) -> anyhow::Result<Vec<&'s TenantSettings>> {
    if settings.tenants.is_empty() {
        bail!(
            "no tenants are configured: add a [[tenants]] table to the settings file (see README, \"Connect a real Zoom account\"), or try `chaperone demo`"
        );
    }
    match wanted {
        None => Ok(settings.tenants.iter().collect()),
        Some(id) => settings
            .tenants
            .iter()
            .find(|t| t.id == id)
            .map(|t| vec![t])
            .ok_or_else(|| {
                let known: Vec<&str> = settings.tenants.iter().map(|t| t.id.as_str()).collect();
                anyhow!("no tenant `{id}`; configured tenants: {}", known.join(", "))
            }),
    }
}

/// Builds the platform adapter of a tenant.
pub fn zoom_platform(tenant: &str, zoom: &ZoomSettings) -> anyhow::Result<Arc<dyn Platform>> {
    let secret = zoom.secret(tenant)?;
    Ok(Arc::new(ZoomPlatform::new(tenant, zoom, secret)?))
}

/// Every platform configured for a tenant, in a fixed order (Zoom, then Teams).
pub fn tenant_platforms(tenant: &TenantSettings) -> anyhow::Result<Vec<Arc<dyn Platform>>> {
    let mut platforms = Vec::new();
    if let Some(zoom) = &tenant.zoom {
        platforms.push(zoom_platform(&tenant.id, zoom)?);
    }
    if let Some(teams) = &tenant.teams {
        platforms.push(crate::platform::teams::teams_platform(&tenant.id, teams)?);
    }
    if platforms.is_empty() {
        bail!(
            "tenant `{}` has no platform configured: add a [tenants.zoom] or [tenants.teams] table",
            tenant.id
        );
    }
    Ok(platforms)
}

/// Prints the runs of one command. JSON is one object for one run and an array of them for
/// several (one run per tenant and platform), so a single-platform setup reads as before.
pub fn print_reports(reports: &[RunReport], format: Format) {
    match (format, reports) {
        // Written straight to stdout: a large account's report is never held twice in memory.
        (Format::Json, [_, _, ..]) => write_json(reports, "\n"),
        (Format::Json, [one]) => write_json(one, ""),
        (Format::Csv, [first, rest @ ..]) => {
            print!("{}", first.render(format));
            for r in rest {
                // One header for the whole output.
                print!(
                    "{}",
                    r.render(format)
                        .split_once("\r\n")
                        .map_or("", |(_, body)| body)
                );
            }
        }
        _ => {
            for r in reports {
                print!("{}", r.render(format));
            }
        }
    }
}

/// Writes `value` as pretty JSON to stdout, then `end`.
fn write_json<T: serde::Serialize + ?Sized>(value: &T, end: &str) {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(end.as_bytes()))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        eprintln!("chaperone: could not write the JSON report: {e}");
    }
}

/// `check` and `sweep` over the configured tenants. Returns the process exit code.
pub async fn run_configured(
    settings: &Settings,
    kind: RunKind,
    args: &RunArgs,
) -> anyhow::Result<i32> {
    let store = Store::connect(settings.store.url.expose_secret())
        .await
        .context("could not open the store")?;
    let mut exit = 0;
    let mut reports = Vec::new();
    for tenant in pick_tenants(settings, args.tenant.as_deref())? {
        let tz = tenant_timezone(tenant)?;
        let profiles = load_profiles(&tenant.profiles_dir, tz)?;
        let profiles = Arc::new(profiles);
        for platform in tenant_platforms(tenant)? {
            // One writer per tenant and platform across processes: a check or a dry run writes
            // nothing and needs no lease.
            let lease = if kind == RunKind::Sweep && !args.dry_run {
                Some(take_lease(&store, &tenant.id, platform.kind(), args.wait).await?)
            } else {
                None
            };
            let now = args.now.unwrap_or_else(Utc::now);
            let report = sweep::run(
                &tenant.id,
                platform,
                profiles.clone(),
                store.clone(),
                RunOptions {
                    kind,
                    dry_run: args.dry_run,
                    now,
                    window: Window {
                        from: now - Duration::hours(2),
                        to: now + Duration::days(i64::from(tenant.window_days)),
                    },
                    progress: std::io::stderr().is_terminal(),
                    host_concurrency: 16,
                },
            )
            .await?;
            if let Some(lease) = lease {
                if lease.lost() {
                    // Another process took the platform over while this one stalled: both may
                    // have written, so the run is not all clear.
                    tracing::error!(tenant = %tenant.id, "the writer lease was lost during the sweep; run `chaperone check` to see the state");
                    exit = 2;
                }
                lease.release().await;
            }
            exit = exit.max(report.exit_code());
            reports.push(report);
        }
    }
    print_reports(&reports, args.format);
    Ok(exit)
}

/// Takes the writer lease of a tenant's platform for a sweep; with `wait`, waits while another
/// process holds it, saying who and until when.
async fn take_lease(
    store: &Store,
    tenant: &str,
    platform: crate::session::PlatformKind,
    wait: bool,
) -> anyhow::Result<crate::store::leases::Lease> {
    if !wait {
        return Ok(store.take_lease(tenant, platform).await?);
    }
    let mut told = None;
    Ok(store
        .wait_for_lease(tenant, platform, LEASE_POLL, |held| {
            if told.as_ref() != Some(&held.holder) {
                tracing::info!(
                    tenant,
                    platform = %platform,
                    holder = %held.holder,
                    until = %held.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    "another chaperone process is sweeping this platform; waiting for it to finish"
                );
                told = Some(held.holder.clone());
            }
        })
        .await?)
}

/// `report --run ID`: prints a past run again from the store.
pub async fn print_run(settings: &Settings, run_id: &str, format: Format) -> anyhow::Result<i32> {
    let store = Store::connect(settings.store.url.expose_secret())
        .await
        .context("could not open the store")?;
    let report = store.load_run(run_id).await?;
    print_reports(std::slice::from_ref(&report), format);
    Ok(0)
}

/// `report --list`: the most recent runs.
pub async fn list_runs(settings: &Settings, limit: u32) -> anyhow::Result<i32> {
    let store = Store::connect(settings.store.url.expose_secret())
        .await
        .context("could not open the store")?;
    let runs = store.list_runs(limit).await?;
    if runs.is_empty() {
        println!("No runs recorded yet.");
    }
    for r in runs {
        let counts: Vec<String> = r
            .counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        println!(
            "{}  {}  {:<7} {}{}  {} sessions  {}",
            r.run_id,
            r.started_at.format("%Y-%m-%d %H:%M UTC"),
            r.kind.name(),
            r.tenant,
            if r.dry_run { " (dry run)" } else { "" },
            r.sessions,
            match crate::report::RunStatus::of(r.finished_at.is_some(), r.failures as usize) {
                crate::report::RunStatus::Failed => format!(
                    "FAILED: {} part(s) could not be read (report --run {} says what){}{}",
                    r.failures,
                    r.run_id,
                    if counts.is_empty() { "" } else { "; " },
                    counts.join(", ")
                ),
                crate::report::RunStatus::Completed => counts.join(", "),
                crate::report::RunStatus::Unfinished => "did not finish".to_string(),
            }
        );
    }
    Ok(0)
}

/// `profiles validate [DIR]`: 0 when valid, 1 with every error listed.
pub fn validate_profiles(dir: &Path, timezone: Tz) -> i32 {
    match profile::load_dir(dir, timezone) {
        Ok(profiles) => {
            for p in &profiles {
                println!(
                    "ok  {} ({} controls{})",
                    p.source.display(),
                    p.controls.len() + usize::from(p.cloud_recording.is_some()),
                    if p.selector == Default::default() {
                        ", selects nothing by itself: a base for others"
                    } else {
                        ""
                    }
                );
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Writes the shipped profiles into `dir` (for the demo).
pub fn write_shipped_profiles(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    for (name, text) in SHIPPED_PROFILES {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    Ok(dir.to_path_buf())
}

/// Prints one demo step as a table; other formats are printed whole at the end.
pub fn print_step(title: &str, report: &RunReport, format: Format) {
    if format == Format::Table {
        println!("\n===== {title} =====\n");
        print!("{}", report.render(format));
    }
}

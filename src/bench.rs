//! `chaperone bench`: sweeps a large simulated account with real plan limits and prints how close
//! the sweep runs to the platform's floor (calls ÷ allowed rate), whether it ever went over the
//! limit, and chaperone's own CPU and peak memory. A benchmark, not a test: figures are printed,
//! and `docs/benchmarks.md` keeps them with the machine and the command.
//!
//! The simulator runs as a separate child process (`chaperone sim zoom`), so the memory and CPU
//! measured here are chaperone's alone.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use serde::Deserialize;

use crate::app;
use crate::platform::Window;
use crate::report::RunKind;
use crate::settings::Settings;
use crate::store::Store;
use crate::sweep::{self, RunOptions, RunOutcome};

/// What to benchmark.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    pub hosts: usize,
    pub meetings_per_host: usize,
    /// `pro` (Light 30/s, Medium 20/s), `business` (80/s, 60/s), or `unlimited` (no rate limit:
    /// for profiling chaperone's own CPU and memory quickly; no floor is reported).
    pub plan: String,
    pub kind: RunKind,
    /// Another app on the account leaves chaperone only this fraction of the plan's limits
    /// (`POST /_sim/other_app`), while chaperone stays configured with the plan's rates.
    pub allowed_fraction: Option<f64>,
}

/// chaperone's own pace under `--plan unlimited`: high enough never to hold a request back.
const UNLIMITED_PER_SECOND: u32 = 1_000_000;

/// The simulator's counters, as served at `GET /_sim/stats`.
#[derive(Debug, Deserialize)]
struct SimStats {
    requests: BTreeMap<String, u64>,
    by_category: BTreeMap<String, u64>,
    writes: u64,
    rate_limited: BTreeMap<String, u64>,
    daily_limited: u64,
    peak_per_second: BTreeMap<String, u64>,
}

/// Runs the benchmark and prints the figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<i32> {
    let (light, medium) = match args.plan.as_str() {
        "pro" => (30u32, 20u32),
        "business" => (80, 60),
        "unlimited" => (UNLIMITED_PER_SECOND, UNLIMITED_PER_SECOND),
        other => bail!("unknown plan `{other}`: use `pro`, `business` or `unlimited`"),
    };
    let work = std::env::temp_dir().join(format!("chaperone-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&work)
        .with_context(|| format!("could not create {}", work.display()))?;
    let settings_path = work.join("settings.toml");
    let exe = std::env::current_exe().context("could not find the chaperone executable")?;
    let mut child = tokio::process::Command::new(exe)
        .args([
            "sim",
            "zoom",
            "--listen",
            "127.0.0.1:0",
            "--limits",
            &args.plan,
        ])
        .arg("--scenario")
        .arg(format!("bench:{}x{}", args.hosts, args.meetings_per_host))
        .arg("--write-settings")
        .arg(&settings_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("could not start the simulator process")?;
    wait_for_file(&settings_path, Duration::from_secs(120)).await?;
    if let Some(f) = args.allowed_fraction
        && !(f > 0.0 && f <= 1.0)
    {
        bail!(
            "--allowed-fraction must be above 0 and at most 1 (0.1 leaves a tenth of the limits)"
        );
    }
    let mut settings = Settings::load(Some(&settings_path), Some(Default::default()))?;
    let tenant = settings
        .tenants
        .pop()
        .context("the simulator wrote no tenant")?;
    let mut zoom = tenant
        .zoom
        .clone()
        .context("the simulator wrote no zoom settings")?;
    zoom.rate_limits.light_per_second = light;
    zoom.rate_limits.medium_per_second = medium;
    zoom.daily_updates_per_host = 100;
    let sim_root = zoom.api_base_url.trim_end_matches("/v2").to_string();
    if let Some(fraction) = args.allowed_fraction {
        let answer = reqwest::Client::new()
            .post(format!("{sim_root}/_sim/other_app"))
            .json(&serde_json::json!({ "allowed_fraction": fraction }))
            .send()
            .await
            .context("could not tell the simulator about the other app")?;
        if !answer.status().is_success() {
            bail!(
                "the simulator refused the allowed fraction {fraction}: {}",
                answer.status()
            );
        }
    }
    let store = Store::connect(&format!("sqlite://{}", work.join("bench.db").display())).await?;
    let mut profiles = app::load_profiles(&tenant.profiles_dir, chrono_tz::Europe::London)?;
    // The shipped profiles cap a run at 200 changed sessions (a safety belt); the benchmark
    // measures a whole account's first sweep, so it lifts the cap.
    for p in &mut profiles {
        p.remediation.max_changes_per_run = u32::MAX;
    }
    let profiles = Arc::new(profiles);
    let platform = app::zoom_platform(&tenant.id, &zoom)?;

    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let now = Utc::now();
    // The scheduled sweep's path: sessions are recorded as they are done and only counted here.
    let outcome = sweep::run_unattended(
        &tenant.id,
        platform,
        profiles,
        store,
        RunOptions {
            kind: args.kind,
            dry_run: false,
            now,
            window: Window {
                from: now - chrono::Duration::hours(2),
                to: now + chrono::Duration::days(30),
            },
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            host_concurrency: 64,
        },
        sweep::Keep::Counts,
    )
    .await?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    let stats: SimStats = reqwest::get(format!("{sim_root}/_sim/stats"))
        .await
        .context("could not read the simulator's counters")?
        .json()
        .await
        .context("could not decode the simulator's counters")?;
    let _ = child.kill().await;
    print_figures(&args, light, medium, &outcome, &stats, wall, cpu);
    if let Some(fraction) = args.allowed_fraction {
        print_throttled(&args, fraction, light, medium, &outcome, &stats, wall);
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(0)
}

/// Runs the benchmark for each account size in turn, each in a child process of its own (peak
/// memory is per process), then the time-to-harden benchmark when `webhooks` is given. Prints
/// each child's figures as they come; stops at the first size that fails.
pub async fn run_sizes(
    sizes: &[usize],
    meetings_per_host: usize,
    plan: &str,
    check: bool,
    webhooks: Option<usize>,
    allowed_fraction: Option<f64>,
) -> anyhow::Result<i32> {
    let exe = std::env::current_exe().context("could not find the chaperone executable")?;
    let per_host = meetings_per_host.max(1);
    let mut runs: Vec<(String, Vec<String>)> = sizes
        .iter()
        .map(|&sessions| {
            let hosts = sessions.div_ceil(per_host).max(1);
            let mut args = vec![
                "bench".to_string(),
                "--hosts".into(),
                hosts.to_string(),
                "--meetings-per-host".into(),
                per_host.to_string(),
                "--plan".into(),
                plan.to_string(),
            ];
            if check {
                args.push("--check".into());
            }
            if let Some(f) = allowed_fraction {
                args.push("--allowed-fraction".into());
                args.push(f.to_string());
            }
            (
                format!("{} sessions ({hosts} hosts × {per_host})", hosts * per_host),
                args,
            )
        })
        .collect();
    if let Some(events) = webhooks {
        runs.push((
            format!("time to harden, {events} webhook events"),
            vec!["bench".into(), "--webhooks".into(), events.to_string()],
        ));
    }
    for (what, args) in runs {
        println!("== {what}: chaperone {}", args.join(" "));
        let status = tokio::process::Command::new(&exe)
            .args(&args)
            .stdin(Stdio::null())
            .status()
            .await
            .with_context(|| format!("could not start the benchmark of {what}"))?;
        if !status.success() {
            bail!("the benchmark of {what} failed ({status}); the figures above it stand");
        }
        println!();
    }
    Ok(0)
}

async fn wait_for_file(path: &Path, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the simulator did not start within {} s", limit.as_secs())
}

/// This process's user + system CPU seconds (Linux `/proc`).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// This process's peak resident memory in MiB (Linux `VmHWM`).
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn print_figures(
    args: &BenchArgs,
    light: u32,
    medium: u32,
    outcome: &RunOutcome,
    stats: &SimStats,
    wall: f64,
    cpu: Option<f64>,
) {
    let report = &outcome.report;
    let sessions = outcome.tally.sessions.max(1);
    let light_calls = stats.by_category.get("Light").copied().unwrap_or(0);
    let medium_calls = stats.by_category.get("Medium").copied().unwrap_or(0);
    let calls = light_calls + medium_calls;
    let changed = outcome.tally.changed_sessions;
    let hosts = args.hosts;
    let host_writes = stats
        .requests
        .get("PATCH /v2/users/{userId}/settings")
        .copied()
        .unwrap_or(0) as usize;
    // A lower bound any correct sweep must pay: read every session (Light), write each changed
    // session once and read it back (Light); list every host's meetings, read each host's two
    // settings documents and the group and account locks (Medium); write each host's settings
    // once where they drifted and read them back (Medium). A host written twice counts once.
    let min_light = sessions + 2 * changed;
    let min_medium = hosts.div_ceil(300) + hosts + 2 * hosts + 3 + 2 * host_writes.min(hosts);
    let floor =
        (light_calls as f64 / f64::from(light)).max(medium_calls as f64 / f64::from(medium));
    let over_limit: u64 = stats.rate_limited.values().sum();
    println!(
        "chaperone bench: {} of {sessions} sessions, {hosts} hosts, {} plan limits (Light {light}/s, Medium {medium}/s)",
        report.kind.name(),
        args.plan
    );
    println!("  sessions changed            {changed}");
    println!(
        "  platform calls              {calls} (Light {light_calls}, Medium {medium_calls}, writes {}: {host_writes} of them host settings, for {hosts} hosts)",
        stats.writes
    );
    println!(
        "  calls per session           {:.2} (minimum {:.2})",
        calls as f64 / sessions as f64,
        (min_light + min_medium) as f64 / sessions as f64
    );
    println!(
        "  achieved rate               Light {:.1}/s of {light}, Medium {:.1}/s of {medium}",
        light_calls as f64 / wall,
        medium_calls as f64 / wall
    );
    println!(
        "  peak in any second          Light {} Medium {}",
        stats.peak_per_second.get("Light").copied().unwrap_or(0),
        stats.peak_per_second.get("Medium").copied().unwrap_or(0)
    );
    println!(
        "  requests over the limit     {over_limit} (429s), daily-limit 429s {}",
        stats.daily_limited
    );
    if args.plan == "unlimited" {
        println!("  wall time                   {wall:.1} s (no rate limit: no floor)");
    } else {
        println!(
            "  wall time                   {wall:.1} s; floor {floor:.1} s; {:+.1}% over the floor",
            (wall / floor.max(0.001) - 1.0) * 100.0
        );
    }
    match cpu {
        Some(c) => println!(
            "  chaperone CPU               {c:.2} s ({:.1}% of wall time)",
            c / wall * 100.0
        ),
        None => println!("  chaperone CPU               unavailable on this system"),
    }
    match peak_memory_mib() {
        Some(m) => println!("  chaperone peak memory       {m:.1} MiB"),
        None => println!("  chaperone peak memory       unavailable on this system"),
    }
    let _ = &stats.requests;
}

/// The figures of a run against a simulator that leaves chaperone only `fraction` of the plan's
/// limits: whether every session was fixed, the 429s, the rate each budget slowed to, and the
/// wall time against the floor of the allowed rate.
fn print_throttled(
    args: &BenchArgs,
    fraction: f64,
    light: u32,
    medium: u32,
    outcome: &RunOutcome,
    stats: &SimStats,
    wall: f64,
) {
    use crate::control::Status;
    // The simulator's rule (sim/src/zoom/ratelimit.rs): whole requests, at least one a second.
    let allowed = |limit: u32| ((f64::from(limit) * fraction).floor()).clamp(1.0, f64::from(limit));
    let (allowed_light, allowed_medium) = (allowed(light), allowed(medium));
    let light_calls = stats.by_category.get("Light").copied().unwrap_or(0) as f64;
    let medium_calls = stats.by_category.get("Medium").copied().unwrap_or(0) as f64;
    // Admitted calls only: a refused call costs the platform nothing and chaperone a retry.
    let refused_light = stats.rate_limited.get("Light").copied().unwrap_or(0) as f64;
    let refused_medium = stats.rate_limited.get("Medium").copied().unwrap_or(0) as f64;
    let floor = ((light_calls - refused_light) / allowed_light)
        .max((medium_calls - refused_medium) / allowed_medium);
    let tally = &outcome.tally;
    let status = |s: Status| tally.by_status.get(&s).copied().unwrap_or(0);
    let expected = args.hosts * args.meetings_per_host;
    let all_fixed = outcome.report.failures.is_empty()
        && tally.sessions == expected
        && status(Status::Error) == 0
        && status(Status::Drift) == 0
        && (args.kind != RunKind::Sweep || tally.changed_sessions == expected);
    let over_limit: u64 = stats.rate_limited.values().sum();
    println!(
        "  other app on the account    leaves {:.0}% of the limits: Light {allowed_light:.0}/s, Medium {allowed_medium:.0}/s (chaperone configured {light}/{medium})",
        fraction * 100.0
    );
    println!(
        "  every session fixed         {} ({} of {expected} sessions listed, {} changed, {} errors, {} drift left, {} collect failures)",
        if all_fixed { "yes" } else { "no" },
        tally.sessions,
        tally.changed_sessions,
        status(Status::Error),
        status(Status::Drift),
        outcome.report.failures.len()
    );
    println!(
        "  answered 429                {over_limit} of {} calls",
        light_calls + medium_calls
    );
    for r in crate::platform::pacing::reports()
        .iter()
        .filter(|r| r.platform == "zoom")
    {
        println!(
            "  rate reached ({:6})       {:.1}/s at the end (lowest {:.1}/s; configured {:.0}/s), {} answered 429",
            r.budget, r.rate, r.lowest, r.configured, r.throttled
        );
    }
    println!(
        "  achieved (admitted) rate    Light {:.2}/s of {allowed_light:.0}, Medium {:.2}/s of {allowed_medium:.0}",
        (light_calls - refused_light) / wall,
        (medium_calls - refused_medium) / wall
    );
    println!(
        "  wall time, allowed floor    {wall:.1} s against {floor:.1} s at the allowed rates: {:+.1}%",
        (wall / floor.max(0.001) - 1.0) * 100.0
    );
}

//! The `chaperone` binary: parses arguments, sets up logging and settings, and calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chaperone::app::{self, RunArgs};
use chaperone::report::{Format, RunKind};
use chaperone::settings::Settings;
use chaperone::telemetry::{self, LogFormat};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

/// Keeps online sessions with children and young people safe by default.
#[derive(Debug, Parser)]
#[command(name = "chaperone", version, about)]
struct Cli {
    /// Settings file (TOML). Values can be overridden with CHAPERONE__SECTION__KEY variables.
    #[arg(long, short, global = true, env = "CHAPERONE_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: auto (pretty in a terminal, JSON otherwise), pretty or json.
    #[arg(long, global = true)]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read every youth session, compare it with its profile, report. Never writes to a platform.
    /// Exit code: 0 all compliant, 1 drift or needs-human, 2 errors.
    Check(RunFlags),
    /// Check, then fix drift, prove each fix by read-back, and record everything.
    Sweep {
        #[command(flatten)]
        flags: RunFlags,
        /// Plan the fixes and report them, but write nothing to any platform.
        #[arg(long)]
        dry_run: bool,
        /// When another chaperone process is sweeping the same tenant's platform, wait for it
        /// to finish instead of exiting with code 2.
        #[arg(long)]
        wait: bool,
    },
    /// Run the service: nightly sweeps on each tenant's schedule, webhooks that harden new
    /// sessions in seconds, health and metrics endpoints.
    Serve,
    /// Run a sweep and a check against the built-in simulated Zoom account. No account needed.
    Demo {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print a past run again from the store.
    Report {
        /// The run id printed by check or sweep.
        #[arg(long, required_unless_present = "list")]
        run: Option<String>,
        /// List recent runs instead.
        #[arg(long)]
        list: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Work with safeguarding profiles.
    Profiles {
        #[command(subcommand)]
        command: ProfilesCommand,
    },
    /// Benchmark a sweep of a large simulated account with real plan limits; prints figures.
    Bench {
        #[arg(long, default_value_t = 1000)]
        hosts: usize,
        #[arg(long, default_value_t = 10)]
        meetings_per_host: usize,
        /// `pro` or `business` rate limits; `unlimited` to profile chaperone's CPU and memory fast.
        #[arg(long, default_value = "pro")]
        plan: String,
        /// Several account sizes, one after another, each in a process of its own so each peak
        /// memory is its own (e.g. `1000,10000,50000`); hosts = sessions ÷ --meetings-per-host.
        /// With --webhooks, the time-to-harden benchmark follows.
        #[arg(long, value_delimiter = ',', conflicts_with = "hosts")]
        sessions: Vec<usize>,
        /// Benchmark a check (reads only) instead of a sweep.
        #[arg(long)]
        check: bool,
        /// Instead: time-to-harden over this many signed webhook events through `serve`.
        #[arg(long)]
        webhooks: Option<usize>,
        /// Another app on the account leaves chaperone only this fraction of the plan's limits
        /// (e.g. 0.1), while chaperone is still configured with the plan's rates: the figures
        /// say whether every session was fixed, the 429s and the rate chaperone slowed to.
        #[arg(long)]
        allowed_fraction: Option<f64>,
    },
    /// Notifications: assemble and deliver the outbox (digests, escalations, summaries).
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
    /// Serve a platform simulator (for trying chaperone and for tests).
    Sim {
        #[command(subcommand)]
        platform: SimCommand,
    },
}

#[derive(Debug, clap::Args)]
struct RunFlags {
    /// Only this tenant (default: all configured tenants).
    #[arg(long)]
    tenant: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Judge as if it were this instant (RFC 3339), for reproducible reports.
    #[arg(long)]
    now: Option<DateTime<Utc>>,
}

#[derive(Debug, Subcommand)]
enum ProfilesCommand {
    /// Check every profile in a folder and list every error with file:line:column.
    Validate {
        #[arg(default_value = "profiles")]
        dir: PathBuf,
        /// Time zone for cover hours that name none.
        #[arg(long, default_value = "Europe/London")]
        timezone: chrono_tz::Tz,
    },
}

#[derive(Debug, Subcommand)]
enum NotifyCommand {
    /// Assemble what the sweeps recorded and send what is due, retrying failures with backoff.
    Deliver {
        /// Send what is due now and exit (exit code 1 when a delivery failed), instead of
        /// running until interrupted.
        #[arg(long)]
        once: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// A stateful Zoom API simulator.
    Zoom {
        #[arg(long, default_value = "127.0.0.1:8790")]
        listen: SocketAddr,
        /// `demo` (the Riverside Youth Trust) or `empty`.
        #[arg(long, default_value = "demo")]
        scenario: String,
        /// Rate limits: `pro` (Light 30/s, Medium 20/s), `business` (80/s, 60/s) or `unlimited`.
        #[arg(long, default_value = "pro")]
        limits: String,
        /// Write a chaperone settings file for a tenant pointing at this simulator.
        #[arg(long)]
        write_settings: Option<PathBuf>,
    },
    /// A stateful Microsoft Graph simulator (Teams online meetings, calendars, groups).
    Teams {
        #[arg(long, default_value = "127.0.0.1:8791")]
        listen: SocketAddr,
        /// `demo` (the Riverside Youth Trust) or `empty`.
        #[arg(long, default_value = "demo")]
        scenario: String,
        /// Write a chaperone settings file for a tenant pointing at this simulator.
        #[arg(long)]
        write_settings: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    let needs_settings = matches!(
        cli.command,
        Command::Check(_)
            | Command::Sweep { .. }
            | Command::Report { .. }
            | Command::Serve
            | Command::Notify { .. }
    );
    let settings = if needs_settings {
        Some(Settings::load(cli.config.as_deref(), None)?)
    } else {
        None
    };
    let log = settings.as_ref().map(|s| s.log.clone()).unwrap_or_default();
    let format = cli.log_format.clone().unwrap_or(log.format);
    // The demo and the benchmark print their own story on stdout; keep the log to warnings.
    let level = if matches!(cli.command, Command::Demo { .. } | Command::Bench { .. }) {
        "warn".to_string()
    } else {
        log.level
    };
    telemetry::init(LogFormat::parse(&format), &level);
    match (cli.command, settings) {
        (Command::Check(flags), Some(s)) => {
            app::run_configured(&s, RunKind::Check, &run_args(flags, false)).await
        }
        (
            Command::Sweep {
                flags,
                dry_run,
                wait,
            },
            Some(s),
        ) => {
            let args = RunArgs {
                wait,
                ..run_args(flags, dry_run)
            };
            app::run_configured(&s, RunKind::Sweep, &args).await
        }
        (Command::Report { run, list, format }, Some(s)) => match run {
            Some(id) if !list => app::print_run(&s, &id, format).await,
            _ => app::list_runs(&s, 20).await,
        },
        (Command::Serve, Some(s)) => chaperone::server::run(s).await,
        (
            Command::Notify {
                command: NotifyCommand::Deliver { once },
            },
            Some(s),
        ) => chaperone::notify::deliver(&s, once).await,
        (Command::Demo { format }, _) => chaperone::demo::run(format).await,
        (
            Command::Profiles {
                command: ProfilesCommand::Validate { dir, timezone },
            },
            _,
        ) => Ok(app::validate_profiles(&dir, timezone)),
        (
            Command::Sim {
                platform:
                    SimCommand::Zoom {
                        listen,
                        scenario,
                        limits,
                        write_settings,
                    },
            },
            _,
        ) => {
            chaperone::demo::serve_sim(listen, &scenario, &limits, write_settings.as_deref()).await
        }
        (
            Command::Sim {
                platform:
                    SimCommand::Teams {
                        listen,
                        scenario,
                        write_settings,
                    },
            },
            _,
        ) => {
            chaperone::platform::teams::sim::serve_sim(listen, &scenario, write_settings.as_deref())
                .await
        }
        (
            Command::Bench {
                sessions,
                meetings_per_host,
                plan,
                check,
                webhooks,
                allowed_fraction,
                ..
            },
            _,
        ) if !sessions.is_empty() => {
            chaperone::bench::run_sizes(
                &sessions,
                meetings_per_host,
                &plan,
                check,
                webhooks,
                allowed_fraction,
            )
            .await
        }
        (
            Command::Bench {
                webhooks: Some(events),
                ..
            },
            _,
        ) => chaperone::bench_webhooks::run(events).await,
        (
            Command::Bench {
                hosts,
                meetings_per_host,
                plan,
                check,
                webhooks: None,
                allowed_fraction,
                ..
            },
            _,
        ) => {
            chaperone::bench::run(chaperone::bench::BenchArgs {
                hosts,
                meetings_per_host,
                plan,
                allowed_fraction,
                kind: if check {
                    RunKind::Check
                } else {
                    RunKind::Sweep
                },
            })
            .await
        }
        (_, None) => anyhow::bail!("settings were not loaded"),
    }
}

fn run_args(flags: RunFlags, dry_run: bool) -> RunArgs {
    RunArgs {
        tenant: flags.tenant,
        format: flags.format,
        dry_run,
        now: flags.now,
        wait: false,
    }
}

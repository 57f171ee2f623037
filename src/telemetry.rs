//! Logging: JSON lines in production, pretty text in a terminal, always on stderr so reports on
//! stdout stay clean. Spans carry tenant, platform, session and control.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl LogFormat {
    /// `pretty`, `json`, or `auto` (pretty in a terminal, JSON otherwise).
    pub fn parse(text: &str) -> LogFormat {
        match text {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            _ if std::io::stderr().is_terminal() => LogFormat::Pretty,
            _ => LogFormat::Json,
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` wins over `level` when set.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

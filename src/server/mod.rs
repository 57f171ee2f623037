//! `chaperone serve` (placeholder: being written).

use crate::settings::Settings;

/// Runs the service until a shutdown signal.
pub async fn run(_settings: Settings) -> anyhow::Result<i32> {
    anyhow::bail!("`chaperone serve` is not built yet")
}

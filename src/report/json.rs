//! `--format json`: the [`RunReport`] as documented in README ("JSON output").

use super::RunReport;

/// Pretty-printed JSON of the whole report, with the schema version first.
pub fn render(report: &RunReport) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}

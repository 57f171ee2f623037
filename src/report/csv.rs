//! `--format csv`: one row per control per session, for spreadsheets and action plans.

use super::{RunReport, printable};

const HEADER: [&str; 12] = [
    "run_id",
    "tenant",
    "platform",
    "session_id",
    "topic",
    "start_utc",
    "host_email",
    "profile",
    "control",
    "status",
    "observed",
    "detail",
];

/// RFC 4180 CSV: fields with a comma or quote are quoted, quotes doubled. A leading `=`, `+`, `-`
/// or `@` is prefixed with `'` so a spreadsheet never runs a topic as a formula, and control
/// characters (line breaks, terminal escapes) are shown as symbols ([`printable`]).
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    push_row(&mut out, HEADER.iter().map(|s| s.to_string()));
    for s in &report.sessions {
        for f in &s.findings {
            push_row(
                &mut out,
                [
                    report.run_id.clone(),
                    report.tenant.clone(),
                    s.platform.to_string(),
                    s.session_id.clone(),
                    s.topic.clone(),
                    s.start.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    s.host_email.clone(),
                    s.profile.clone(),
                    f.control.to_string(),
                    f.status.to_string(),
                    f.observed.clone().unwrap_or_default(),
                    f.detail.clone(),
                ],
            );
        }
    }
    // A run that could not read something says so in the sheet too: one `run failed` row per
    // failure, never an empty sheet that looks like an empty account.
    for f in &report.failures {
        push_row(
            &mut out,
            [
                report.run_id.clone(),
                report.tenant.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                f.host_email.clone().unwrap_or_default(),
                String::new(),
                "run".to_string(),
                "failed".to_string(),
                String::new(),
                format!("{} could not be read: {}", f.what, f.error),
            ],
        );
    }
    out
}

fn push_row(out: &mut String, fields: impl IntoIterator<Item = String>) {
    let row: Vec<String> = fields.into_iter().map(|f| escape(&f)).collect();
    out.push_str(&row.join(","));
    out.push_str("\r\n");
}

fn escape(field: &str) -> String {
    let field = printable(field);
    let field = if field.starts_with(['=', '+', '-', '@']) {
        format!("'{field}")
    } else {
        field.to_string()
    };
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_and_formulas_are_escaped() {
        assert_eq!(escape("a,b"), "\"a,b\"");
        assert_eq!(escape("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(escape("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\u{241b}[2Jb");
    }
}

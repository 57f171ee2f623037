//! The readable terminal report: one line per session, then what needs a person, what was fixed,
//! what is still drift, errors, and what the platform cannot do.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::control::{Control, Status};

use super::{RunReport, RunStatus, SessionReport, printable};

/// Renders the report as plain text for a terminal.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "chaperone {} — tenant {} — run {}{}",
        report.kind.name(),
        report.tenant,
        report.run_id,
        if report.dry_run {
            " (no changes made)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "started {}",
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    out.push('\n');
    let failed = report.status() == RunStatus::Failed;
    if failed {
        // The headline: a run that could not sign in or read is not an empty account.
        let _ = writeln!(
            out,
            "RUN FAILED: {} could not be read, so this run proves nothing about {}.",
            report
                .failures
                .iter()
                .map(|f| printable(&f.what).into_owned())
                .collect::<Vec<_>>()
                .join("; "),
            if report.sessions.is_empty() {
                "any session"
            } else {
                "the sessions it could not read"
            }
        );
        for f in &report.failures {
            let _ = writeln!(out, "  - {}", printable(&f.error));
        }
        let _ = writeln!(
            out,
            "What to do: if it could not sign in, check the tenant's client id and secret (and \
             account or directory id) in the settings and on the platform; otherwise fix what the \
             error names, then run again.\n"
        );
    }
    if report.sessions.is_empty() {
        if !failed {
            out.push_str("No youth sessions found in the window.\n");
        }
    } else {
        session_table(&mut out, &report.sessions);
    }
    section(&mut out, report, Status::NeedsHuman, "Needs a person");
    section(&mut out, report, Status::Drift, "Drift not fixed");
    fixed(&mut out, report);
    section(
        &mut out,
        report,
        Status::Error,
        "Errors (not counted as compliant)",
    );
    section(&mut out, report, Status::Waived, "Waived");
    unsupported(&mut out, report);
    if !report.failures.is_empty() {
        out.push_str("\nCould not be read:\n");
        for f in &report.failures {
            let _ = writeln!(out, "  - {}: {}", printable(&f.what), printable(&f.error));
        }
    }
    let throttled: Vec<_> = report.rates.iter().filter(|r| r.was_throttled()).collect();
    if !throttled.is_empty() {
        out.push_str(
            "\nThe platform allowed less than chaperone was configured to send (other apps share \
             the account's limit), so the run slowed down to:\n",
        );
        for r in throttled {
            let _ = writeln!(out, "  - {}", r.line());
        }
    }
    let totals = report.totals();
    let parts: Vec<String> = Status::ALL
        .iter()
        .map(|s| format!("{} {}", s.name(), totals.get(s).copied().unwrap_or(0)))
        .collect();
    let _ = writeln!(
        out,
        "\n{} sessions; {}{}",
        report.sessions.len(),
        parts.join(", "),
        if failed { "; RUN FAILED" } else { "" }
    );
    out
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        format!("{s:width$}")
    } else {
        let cut: String = s.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn count(s: &SessionReport, status: Status) -> usize {
    s.findings.iter().filter(|f| f.status == status).count()
}

fn session_table(out: &mut String, sessions: &[SessionReport]) {
    let _ = writeln!(
        out,
        "{} {} {} {} {:>3} {:>5} {:>5} {:>5} {:>5}",
        truncate("SESSION", 32),
        truncate("START (UTC)", 16),
        truncate("HOST", 30),
        truncate("PROFILE", 16),
        "OK",
        "FIXED",
        "DRIFT",
        "HUMAN",
        "ERROR"
    );
    for s in sessions {
        let start = s
            .start
            .map(|t| t.format("%a %d %b %H:%M").to_string())
            .unwrap_or_else(|| "no fixed time".into());
        let _ = writeln!(
            out,
            "{} {} {} {} {:>3} {:>5} {:>5} {:>5} {:>5}",
            truncate(&printable(&s.topic), 32),
            truncate(&start, 16),
            truncate(&printable(&s.host_email), 30),
            truncate(&s.profile, 16),
            count(s, Status::Compliant),
            count(s, Status::Fixed),
            count(s, Status::Drift),
            count(s, Status::NeedsHuman),
            count(s, Status::Error),
        );
    }
}

fn heading(s: &SessionReport) -> String {
    let start = s
        .start
        .map(|t| t.format("%a %d %b %H:%M UTC").to_string())
        .unwrap_or_else(|| "no fixed time".into());
    format!(
        "  {} ({}, {}, host {})",
        printable(&s.topic),
        printable(&s.session_id),
        start,
        printable(&s.host_email)
    )
}

fn section(out: &mut String, report: &RunReport, status: Status, title: &str) {
    let mut wrote_title = false;
    for s in &report.sessions {
        let items: Vec<_> = s.findings.iter().filter(|f| f.status == status).collect();
        if items.is_empty() {
            continue;
        }
        if !wrote_title {
            let _ = writeln!(out, "\n{title}:");
            wrote_title = true;
        }
        let _ = writeln!(out, "{}", heading(s));
        for f in items {
            let _ = writeln!(out, "    - {}: {}", f.control, printable(&f.detail));
        }
    }
}

fn fixed(out: &mut String, report: &RunReport) {
    let mut wrote_title = false;
    for s in report.sessions.iter().filter(|s| !s.changes.is_empty()) {
        if !wrote_title {
            out.push_str("\nFixed (confirmed by read-back unless marked):\n");
            wrote_title = true;
        }
        let _ = writeln!(out, "{}", heading(s));
        for c in &s.changes {
            let _ = writeln!(
                out,
                "    - {}: {} → {}{}",
                c.control,
                printable(c.before.as_deref().unwrap_or("?")),
                printable(&c.after),
                if c.verified { "" } else { "  [NOT CONFIRMED]" }
            );
        }
        if s.join_link_changed {
            out.push_str(
                "    ! a passcode was added: the join link changed; the host must re-send it\n",
            );
        }
    }
}

/// Unsupported controls repeat on every session of a platform: list each reason once.
fn unsupported(out: &mut String, report: &RunReport) {
    let mut reasons: BTreeMap<(Control, &str), usize> = BTreeMap::new();
    for f in report
        .sessions
        .iter()
        .flat_map(|s| &s.findings)
        .filter(|f| f.status == Status::Unsupported)
    {
        *reasons.entry((f.control, f.detail.as_str())).or_insert(0) += 1;
    }
    if reasons.is_empty() {
        return;
    }
    out.push_str("\nCannot be checked by software (check by hand):\n");
    for ((control, reason), n) in reasons {
        let _ = writeln!(out, "  - {control} ({n} sessions): {}", printable(reason));
    }
}

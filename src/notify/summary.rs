//! The admin summary after each scheduled sweep: counts by status and control, sessions at risk
//! in the next 48 hours, hosts with repeated drift, and waivers that expire within 14 days.
//!
//! The scheduler calls [`admin_summary`] after a sweep; it queues one message per admin address
//! and admin webhook in the outbox (same delivery, retries and idempotency as everything else).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::digest::Rendered;
use super::text::{html, when, when_long};
use super::{Channel, MessageKind, NewMessage, NotifyError};
use crate::control::{Control, Status};
use crate::profile::{Profile, WaiverTarget};
use crate::report::{RunReport, RunTally};
use crate::settings::TenantSettings;
use crate::store::{RepeatedDrift, Store};

/// How far ahead a session counts as "at risk".
const AT_RISK_HOURS: i64 = 48;

/// The latest start the summary lists as at risk, for a summary built at `now`: a sweep keeps
/// the open sessions starting by then (`sweep::Keep::OpenStartingBy`).
pub fn at_risk_until(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::hours(AT_RISK_HOURS)
}
/// How far ahead a waiver counts as "expiring".
const WAIVER_DAYS: i64 = 14;
/// Repeated drift: drift in at least this many runs ...
const REPEATED_RUNS: u32 = 2;
/// ... started within this many days.
const REPEATED_DAYS: i64 = 30;

/// A session starting soon that is not yet safe.
#[derive(Debug, Clone, PartialEq)]
pub struct AtRisk {
    pub topic: String,
    pub host_email: String,
    pub start: DateTime<Utc>,
    pub open: Vec<(Control, Status)>,
}

/// A waiver close to its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Expiring {
    pub profile: String,
    pub applies_to: String,
    pub control: Control,
    pub expires: DateTime<Utc>,
    pub approver: String,
}

/// Everything the admin summary says, before rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminSummary {
    pub tenant: String,
    pub run_id: String,
    pub run_started_at: DateTime<Utc>,
    pub sessions: usize,
    pub by_status: BTreeMap<Status, usize>,
    /// Per control, the statuses that need attention (drift, fixed, needs-human, error).
    pub by_control: BTreeMap<Control, BTreeMap<Status, usize>>,
    pub at_risk: Vec<AtRisk>,
    pub repeated_drift: Vec<RepeatedDrift>,
    pub expiring_waivers: Vec<Expiring>,
    pub collect_failures: usize,
}

/// Builds the summary of a run (pure: the store's part, repeated drift, is passed in). `tally`
/// counts every session of the run; `report.sessions` needs to hold only the sessions that
/// could be at risk (see [`at_risk_until`]).
pub fn build_admin_summary(
    report: &RunReport,
    tally: &RunTally,
    profiles: &[Profile],
    repeated_drift: Vec<RepeatedDrift>,
    now: DateTime<Utc>,
) -> AdminSummary {
    let by_control: BTreeMap<Control, BTreeMap<Status, usize>> = tally
        .by_control
        .iter()
        .map(|(control, statuses)| {
            let acted_on: BTreeMap<Status, usize> = statuses
                .iter()
                .filter(|(s, _)| {
                    matches!(
                        s,
                        Status::Drift | Status::Fixed | Status::NeedsHuman | Status::Error
                    )
                })
                .map(|(s, n)| (*s, *n))
                .collect();
            (*control, acted_on)
        })
        .filter(|(_, statuses)| !statuses.is_empty())
        .collect();
    let horizon = at_risk_until(now);
    let mut at_risk: Vec<AtRisk> = report
        .sessions
        .iter()
        .filter_map(|s| {
            let start = s.start.filter(|st| *st >= now && *st <= horizon)?;
            let open: Vec<(Control, Status)> = s
                .findings
                .iter()
                .filter(|f| matches!(f.status, Status::Drift | Status::NeedsHuman | Status::Error))
                .map(|f| (f.control, f.status))
                .collect();
            (!open.is_empty()).then(|| AtRisk {
                topic: s.topic.clone(),
                host_email: s.host_email.clone(),
                start,
                open,
            })
        })
        .collect();
    at_risk.sort_by(|a, b| (a.start, &a.topic).cmp(&(b.start, &b.topic)));

    let until = now + Duration::days(WAIVER_DAYS);
    let mut expiring: Vec<Expiring> = Vec::new();
    for p in profiles {
        for w in p
            .waivers
            .iter()
            .filter(|w| w.expires > now && w.expires <= until)
        {
            let applies_to = match &w.applies_to {
                WaiverTarget::Session(id) => format!("session {id}"),
                WaiverTarget::Host(email) => format!("host {email}"),
            };
            // Waivers are inherited by profiles that extend the one declaring them: once each.
            if expiring.iter().any(|e| {
                e.applies_to == applies_to && e.control == w.control && e.expires == w.expires
            }) {
                continue;
            }
            expiring.push(Expiring {
                profile: p.name.clone(),
                applies_to,
                control: w.control,
                expires: w.expires,
                approver: w.approver.clone(),
            });
        }
    }
    expiring.sort_by(|a, b| (a.expires, &a.applies_to).cmp(&(b.expires, &b.applies_to)));

    AdminSummary {
        tenant: report.tenant.clone(),
        run_id: report.run_id.clone(),
        run_started_at: report.started_at,
        sessions: tally.sessions,
        by_status: tally.by_status.clone(),
        by_control,
        at_risk,
        repeated_drift,
        expiring_waivers: expiring,
        collect_failures: report.failures.len(),
    }
}

/// The summary as text, HTML and data.
pub fn render_admin_summary(s: &AdminSummary, tz: Tz) -> Rendered {
    let risky = s.at_risk.len();
    let subject = format!(
        "chaperone summary for {}: {} sessions, {} at risk in the next 48 hours",
        s.tenant, s.sessions, risky
    );
    let mut t = format!(
        "Sweep of {} ({} sessions checked)\n",
        when_long(s.run_started_at, tz),
        s.sessions
    );
    let mut h = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n<p>Sweep of {} ({} sessions checked)</p>\n",
        html(&when_long(s.run_started_at, tz)),
        s.sessions
    );
    if s.collect_failures > 0 {
        let line = format!(
            "{} part(s) of the platform could not be read: see the run's report.",
            s.collect_failures
        );
        t.push_str(&format!("{line}\n"));
        h.push_str(&format!("<p><strong>{}</strong></p>\n", html(&line)));
    }

    t.push_str("\nFindings by status:\n");
    h.push_str("<h2>Findings by status</h2>\n<ul>\n");
    for (status, n) in &s.by_status {
        t.push_str(&format!("  {status}: {n}\n"));
        h.push_str(&format!("<li>{}: {n}</li>\n", html(status.name())));
    }
    h.push_str("</ul>\n");

    if !s.by_control.is_empty() {
        t.push_str("\nControls that needed attention:\n");
        h.push_str("<h2>Controls that needed attention</h2>\n<ul>\n");
        for (control, statuses) in &s.by_control {
            let parts: Vec<String> = statuses.iter().map(|(st, n)| format!("{st} {n}")).collect();
            let line = format!("{}: {}", control.title(), parts.join(", "));
            t.push_str(&format!("  {line}\n"));
            h.push_str(&format!("<li>{}</li>\n", html(&line)));
        }
        h.push_str("</ul>\n");
    }

    t.push_str("\nSessions at risk in the next 48 hours:\n");
    h.push_str("<h2>Sessions at risk in the next 48 hours</h2>\n<ul>\n");
    if s.at_risk.is_empty() {
        t.push_str("  none\n");
        h.push_str("<li>none</li>\n");
    }
    for r in &s.at_risk {
        let open: Vec<String> = r.open.iter().map(|(c, st)| format!("{c} {st}")).collect();
        let line = format!(
            "{} - {} (host {}): {}",
            when(r.start, tz),
            r.topic,
            r.host_email,
            open.join(", ")
        );
        t.push_str(&format!("  {}\n", crate::report::printable(&line)));
        h.push_str(&format!("<li>{}</li>\n", html(&line)));
    }
    h.push_str("</ul>\n");

    t.push_str(&format!(
        "\nHosts with drift in {REPEATED_RUNS} or more sweeps in the last {REPEATED_DAYS} days:\n"
    ));
    h.push_str(&format!(
        "<h2>Hosts with drift in {REPEATED_RUNS} or more sweeps in the last {REPEATED_DAYS} days</h2>\n<ul>\n"
    ));
    if s.repeated_drift.is_empty() {
        t.push_str("  none\n");
        h.push_str("<li>none</li>\n");
    }
    for d in &s.repeated_drift {
        let line = format!("{}: {} sweeps", d.host_email, d.runs);
        t.push_str(&format!("  {line}\n"));
        h.push_str(&format!("<li>{}</li>\n", html(&line)));
    }
    h.push_str("</ul>\n");

    t.push_str(&format!("\nWaivers expiring within {WAIVER_DAYS} days:\n"));
    h.push_str(&format!(
        "<h2>Waivers expiring within {WAIVER_DAYS} days</h2>\n<ul>\n"
    ));
    if s.expiring_waivers.is_empty() {
        t.push_str("  none\n");
        h.push_str("<li>none</li>\n");
    }
    for w in &s.expiring_waivers {
        let line = format!(
            "{} {} ({}): ends {}, approved by {}",
            w.applies_to,
            w.control,
            w.profile,
            when(w.expires, tz),
            w.approver
        );
        t.push_str(&format!("  {line}\n"));
        h.push_str(&format!("<li>{}</li>\n", html(&line)));
    }
    h.push_str("</ul>\n</body></html>\n");

    let data = json!({
        "tenant": s.tenant,
        "run_id": s.run_id,
        "sessions": s.sessions,
        "by_status": s.by_status.iter().map(|(k, v)| (k.name().to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "at_risk": s.at_risk.iter().map(|r| json!({
            "topic": r.topic, "host": r.host_email, "start": r.start,
            "open": r.open.iter().map(|(c, st)| json!({"control": c, "status": st})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "repeated_drift": s.repeated_drift.iter().map(|d| json!({"host": d.host_email, "runs": d.runs})).collect::<Vec<_>>(),
        "expiring_waivers": s.expiring_waivers.iter().map(|w| json!({
            "applies_to": w.applies_to, "control": w.control, "expires": w.expires, "profile": w.profile,
        })).collect::<Vec<_>>(),
    });
    Rendered {
        subject,
        text: t,
        html: h,
        data,
    }
}

/// Queues the admin summary of a finished sweep for the tenant's `admins` and `admin_channels`.
/// Calling it twice for the same run queues nothing new. Returns how many messages were queued
/// (0 when the tenant has no admins or no `[tenants.notify]`).
pub async fn admin_summary(
    store: &Store,
    tenant: &TenantSettings,
    profiles: &[Profile],
    report: &RunReport,
    tally: &RunTally,
    now: DateTime<Utc>,
) -> Result<usize, NotifyError> {
    let Some(settings) = &tenant.notify else {
        return Ok(0);
    };
    if settings.admins.is_empty() && settings.admin_channels.is_empty() {
        return Ok(0);
    }
    let tz = tenant
        .timezone
        .parse::<Tz>()
        .map_err(|_| NotifyError::Settings {
            tenant: tenant.id.clone(),
            message: format!("unknown time zone `{}`", tenant.timezone),
        })?;
    let repeated = store
        .hosts_with_repeated_drift(
            &tenant.id,
            now - Duration::days(REPEATED_DAYS),
            REPEATED_RUNS,
        )
        .await?;
    let summary = build_admin_summary(report, tally, profiles, repeated, now);
    let r = render_admin_summary(&summary, tz);
    let dests = settings.admins.iter().map(|a| (Channel::Email, a)).chain(
        settings
            .admin_channels
            .iter()
            .map(|c| (Channel::Webhook, c)),
    );
    let messages: Vec<NewMessage> = dests
        .map(|(channel, recipient)| NewMessage {
            idempotency_key: format!(
                "admin-summary:{}:{}:{}",
                report.run_id,
                channel.name(),
                recipient.to_ascii_lowercase()
            ),
            tenant: tenant.id.clone(),
            run_id: Some(report.run_id.clone()),
            kind: MessageKind::AdminSummary,
            channel,
            recipient: recipient.clone(),
            subject: r.subject.clone(),
            body_text: r.text.clone(),
            body_html: (channel == Channel::Email).then(|| r.html.clone()),
            data: r.data.clone(),
        })
        .collect();
    store.enqueue(&messages, now).await?;
    Ok(messages.len())
}

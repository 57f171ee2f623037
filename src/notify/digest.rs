//! The youth worker's digest and the safeguarding lead's escalation: what goes in them and how
//! they read, as pure functions (snapshot-tested in tests/notify_texts.rs).
//!
//! A [`DigestItem`] is one session's part of a host's digest. The sweep builds it while it still
//! has the read-back session (the new join link is only there), and the store records it in the
//! same transaction as the session's findings and changes. Items are assembled into one message
//! per host per run later (see [`super::worker`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::text::{action_sentence, change_sentence, html, printable, safe_link, when, when_long};
use crate::control::{Control, Scope, Status};
use crate::profile::Profile;
use crate::report::{ChangeRecord, SessionReport};
use crate::session::{Host, PlatformKind};

/// One session's part of its host's digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestItem {
    pub platform: PlatformKind,
    pub session_id: String,
    pub topic: String,
    pub start: Option<DateTime<Utc>>,
    pub host_email: String,
    /// The host's display name from the platform, for the greeting and for escalations.
    pub host_name: String,
    pub profile: String,
    /// Changes the read-back proved.
    pub changes: Vec<ChangeRecord>,
    /// The join link after a passcode was added: the old link stopped working. It goes only into
    /// this host's digest, never into reports or logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_join_url: Option<JoinLink>,
    /// `needs-human` items: what the host must do.
    pub actions: Vec<OpenItem>,
    /// What chaperone could not fix or could not confirm (errors, drift left as it was).
    pub problems: Vec<OpenItem>,
    /// The profile's reminders: what software cannot enforce.
    pub reminders: Vec<String>,
    /// Who hears about `actions` still open shortly before the session.
    pub escalation: EscalationRoute,
}

/// A join link. Its `Debug` hides it, so it cannot reach a log through `{:?}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JoinLink(pub String);

impl fmt::Debug for JoinLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinLink(not shown)")
    }
}

/// One control that still needs attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenItem {
    pub control: Control,
    pub status: Status,
    pub detail: String,
}

/// The profile's `[notify]` as it was when the session was recorded; empty parts are filled from
/// the tenant's settings when the message is assembled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationRoute {
    pub leads: Vec<String>,
    /// Webhook names (from the tenant's settings).
    pub channels: Vec<String>,
    pub hours_before: Option<u32>,
}

impl EscalationRoute {
    /// Whether anyone would be told.
    pub fn reaches_someone(&self) -> bool {
        !self.leads.is_empty() || !self.channels.is_empty()
    }

    /// The moment from which an open item of a session starting at `start` is escalated.
    pub fn from(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.hours_before
            .map(|h| start - Duration::hours(i64::from(h)))
    }
}

/// Builds the digest item of one recorded session, or `None` when there is nothing to tell its
/// host (everything was already as the profile asks). `new_join_url` is the read-back session's
/// link; it is kept only when the run proved that a passcode was added.
pub fn digest_item(
    profile: &Profile,
    host: &Host,
    report: &SessionReport,
    new_join_url: Option<String>,
) -> Option<DigestItem> {
    let changes: Vec<ChangeRecord> = report
        .changes
        .iter()
        .filter(|c| c.verified)
        .cloned()
        .collect();
    let mut problems: Vec<OpenItem> = report
        .changes
        .iter()
        .filter(|c| !c.verified)
        .map(|c| OpenItem {
            control: c.control,
            status: Status::Error,
            detail: "chaperone changed this, but the platform did not show the change when read \
                     back: please check this setting yourself"
                .into(),
        })
        .collect();
    let actions: Vec<OpenItem> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::NeedsHuman)
        .map(|f| OpenItem {
            control: f.control,
            status: f.status,
            detail: f.detail.clone(),
        })
        .collect();
    for f in report
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Drift | Status::Error))
    {
        if !problems.iter().any(|p| p.control == f.control) {
            problems.push(OpenItem {
                control: f.control,
                status: f.status,
                detail: f.detail.clone(),
            });
        }
    }
    let new_join_url = new_join_url
        .filter(|_| report.join_link_changed)
        .map(JoinLink);
    if changes.is_empty() && actions.is_empty() && problems.is_empty() && new_join_url.is_none() {
        return None;
    }
    Some(DigestItem {
        platform: report.platform,
        session_id: report.session_id.clone(),
        topic: report.topic.clone(),
        start: report.start,
        host_email: report.host_email.clone(),
        host_name: host.name.clone(),
        profile: report.profile.clone(),
        changes,
        new_join_url,
        actions,
        problems,
        reminders: profile.reminders.clone(),
        escalation: EscalationRoute {
            leads: profile.notify.leads.clone(),
            channels: profile.notify.channels.clone(),
            hours_before: profile.notify.escalate_hours_before,
        },
    })
}

/// A message ready for the outbox: subject, plain text, HTML, and the same content as data for
/// webhooks.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub data: serde_json::Value,
}

/// The sessions of `host_email` among `items`, in start order. Everything rendered for a host
/// goes through this filter, so no other host's session can reach their digest.
fn own_sessions<'a>(items: &'a [DigestItem], host_email: &str) -> Vec<&'a DigestItem> {
    let mut own: Vec<&DigestItem> = items
        .iter()
        .filter(|i| i.host_email.eq_ignore_ascii_case(host_email))
        .collect();
    own.sort_by(|a, b| (a.start, &a.session_id).cmp(&(b.start, &b.session_id)));
    own
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The host's digest: for each of their sessions what changed (before and after), the new join
/// link where a passcode was added, what they must do and by when, then the reminders of the
/// profiles involved. `checked_at` is when the run judged the sessions.
pub fn render_host_digest(
    items: &[DigestItem],
    host_email: &str,
    tz: Tz,
    checked_at: DateTime<Utc>,
) -> Rendered {
    let own = own_sessions(items, host_email);
    let name = own
        .first()
        .map(|i| printable(i.host_name.trim()))
        .filter(|n| !n.is_empty())
        .unwrap_or(Cow::Borrowed("there"));
    let changes: usize = own.iter().map(|i| i.changes.len()).sum();
    let actions: usize = own.iter().map(|i| i.actions.len()).sum();
    let links = own.iter().filter(|i| i.new_join_url.is_some()).count();
    let mut parts = Vec::new();
    if actions > 0 {
        parts.push(plural(actions, "thing to do", "things to do"));
    }
    if links > 0 {
        parts.push(plural(links, "new join link", "new join links"));
    }
    if changes > 0 {
        parts.push(plural(changes, "setting made safer", "settings made safer"));
    }
    if parts.is_empty() {
        parts.push("please check".into());
    }
    let subject = format!("Your online sessions: {}", parts.join(", "));

    let mut t = String::new();
    let mut h = String::new();
    t.push_str(&format!("Hello {name},\n\n"));
    h.push_str(&format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n<p>Hello {},</p>\n",
        html(&name)
    ));
    let intro = format!(
        "chaperone checked your online sessions with young people against your organisation's \
         safeguarding profile on {}. Here is what changed and what you need to do.",
        when_long(checked_at, tz)
    );
    t.push_str(&format!("{intro}\n"));
    h.push_str(&format!("<p>{}</p>\n", html(&intro)));

    for item in &own {
        let start = item
            .start
            .map(|s| when(s, tz))
            .unwrap_or_else(|| "no fixed time".into());
        t.push_str(&format!("\n== {} ({start}) ==\n", printable(&item.topic)));
        h.push_str(&format!(
            "<h2>{} <small>({})</small></h2>\n",
            html(&item.topic),
            html(&start)
        ));
        if !item.changes.is_empty() {
            t.push_str("\nWhat changed:\n");
            h.push_str("<p><strong>What changed:</strong></p>\n<ul>\n");
            for c in &item.changes {
                let mut sentence = change_sentence(c.control, c.before.as_deref(), &c.after);
                if c.control.default_scope() == Scope::Host {
                    sentence.push_str(" (a setting of your account, so for all your sessions)");
                }
                let was = c
                    .before
                    .as_deref()
                    .map(|b| format!(" (before: {b}; now: {})", shown_after(c)))
                    .unwrap_or_default();
                t.push_str(&format!("  - {sentence}.{was}\n"));
                h.push_str(&format!("<li>{}.{}</li>\n", html(&sentence), html(&was)));
            }
            h.push_str("</ul>\n");
        }
        if let Some(JoinLink(link)) = &item.new_join_url {
            let advice = "The old join link no longer works. Send this new link to everyone who \
                          joins (young people, parents and carers, colleagues), and replace it \
                          wherever the old one was shared.";
            t.push_str(&format!("\nNew join link: {link}\n  {advice}\n"));
            let shown = match safe_link(link) {
                Some(l) => format!("<a href=\"{}\">{}</a>", html(l), html(l)),
                None => html(link),
            };
            h.push_str(&format!(
                "<p><strong>New join link:</strong> {shown}<br>{}</p>\n",
                html(advice)
            ));
        }
        if !item.actions.is_empty() {
            t.push_str("\nWhat you must do:\n");
            h.push_str("<p><strong>What you must do:</strong></p>\n<ul>\n");
            for a in &item.actions {
                let line = action_line(item, a, tz, checked_at);
                t.push_str(&format!("  - {}\n", printable(&line)));
                h.push_str(&format!("<li>{}</li>\n", html(&line)));
            }
            h.push_str("</ul>\n");
        }
        if !item.problems.is_empty() {
            t.push_str("\nNot fixed by chaperone (please check):\n");
            h.push_str("<p><strong>Not fixed by chaperone (please check):</strong></p>\n<ul>\n");
            for p in &item.problems {
                let line = format!("{}: {}", p.control.title(), p.detail);
                t.push_str(&format!("  - {}\n", printable(&line)));
                h.push_str(&format!("<li>{}</li>\n", html(&line)));
            }
            h.push_str("</ul>\n");
        }
    }

    // The profiles' reminders, each once (profiles that extend one base share most of them).
    let mut reminders: Vec<&str> = Vec::new();
    for r in own.iter().flat_map(|i| &i.reminders) {
        if !reminders.contains(&r.as_str()) {
            reminders.push(r);
        }
    }
    if !reminders.is_empty() {
        let heading = "Remember, in every session";
        t.push_str(&format!("\n{heading}:\n"));
        h.push_str(&format!("<h3>{}</h3>\n<ul>\n", html(heading)));
        for r in reminders {
            t.push_str(&format!("  - {r}\n"));
            h.push_str(&format!("<li>{}</li>\n", html(r)));
        }
        h.push_str("</ul>\n");
    }
    let footer = "This message was sent by chaperone, which keeps your organisation's online \
                  sessions with young people safe by default. Reply to reach your safeguarding team.";
    t.push_str(&format!("\n-- \n{footer}\n"));
    h.push_str(&format!(
        "<hr><p><small>{}</small></p>\n</body></html>\n",
        html(footer)
    ));

    let data = json!({
        "host": host_email.to_ascii_lowercase(),
        "sessions": own.iter().map(|i| json!({
            "platform": i.platform,
            "session_id": i.session_id,
            "start": i.start,
            "changes": i.changes.len(),
            "actions": i.actions.iter().map(|a| a.control).collect::<Vec<_>>(),
            "join_link_changed": i.new_join_url.is_some(),
        })).collect::<Vec<_>>(),
    });
    Rendered {
        subject,
        text: t,
        html: h,
        data,
    }
}

/// The value after a change, as the host would say it.
fn shown_after(c: &ChangeRecord) -> String {
    match c.control {
        Control::SecondStaff => "a staff alternative host".into(),
        _ => c.after.clone(),
    }
}

/// "Add a colleague … before Tue 24 Nov 17:00 (when the session starts). If it is still open at
/// Mon 23 Nov 17:00, your safeguarding lead will be told."
fn action_line(item: &DigestItem, a: &OpenItem, tz: Tz, checked_at: DateTime<Utc>) -> String {
    let what = action_sentence(a.control, &a.detail);
    let Some(start) = item.start else {
        return format!("{what}. ({})", a.detail);
    };
    let mut line = format!(
        "{what} before {} (when the session starts).",
        when(start, tz)
    );
    if item.escalation.reaches_someone()
        && let Some(from) = item.escalation.from(start)
    {
        if from > checked_at {
            line.push_str(&format!(
                " If it is still open at {}, your safeguarding lead will be told.",
                when(from, tz)
            ));
        } else {
            line.push_str(" The session starts soon, so your safeguarding lead is told too.");
        }
    }
    line
}

/// One host's sessions with items still open, for the safeguarding leads.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalated<'a> {
    pub item: &'a DigestItem,
    pub open: Vec<&'a OpenItem>,
}

/// The escalation to safeguarding leads: the host named, each session and what is still open.
/// No join links and no other host's sessions: only what a lead needs to act.
pub fn render_escalation(escalated: &[Escalated<'_>], tz: Tz, now: DateTime<Utc>) -> Rendered {
    let first = escalated.first().map(|e| e.item);
    let host_name = first.map(|i| i.host_name.as_str()).unwrap_or("");
    let host_email = first.map(|i| i.host_email.as_str()).unwrap_or("");
    let host = if host_name.trim().is_empty() {
        printable(host_email).into_owned()
    } else {
        format!("{} <{}>", printable(host_name), printable(host_email))
    };
    let soonest = escalated.iter().filter_map(|e| e.item.start).min();
    let subject = match (escalated.len(), soonest) {
        (1, Some(s)) => format!(
            "Safeguarding: a session hosted by {} starts {} and is still not safe",
            printable(display_name(host_name, host_email)),
            when(s, tz)
        ),
        (n, _) => format!(
            "Safeguarding: {n} sessions hosted by {} are still not safe",
            printable(display_name(host_name, host_email))
        ),
    };
    let intro = "A session with young people starts soon and still has something that only a \
                 person can put right. The host was asked in their chaperone digest.";
    let mut t = format!("{intro}\n\nHost: {host}\n");
    let mut h = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n<p>{}</p>\n<p><strong>Host:</strong> {}</p>\n",
        html(intro),
        html(&host)
    );
    let mut sessions = Vec::new();
    for e in escalated {
        let start = e
            .item
            .start
            .map(|s| when(s, tz))
            .unwrap_or_else(|| "no fixed time".into());
        t.push_str(&format!(
            "\nSession: {} ({} {})\nStarts: {start}\nStill open:\n",
            printable(&e.item.topic),
            e.item.platform,
            printable(&e.item.session_id)
        ));
        h.push_str(&format!(
            "<h2>{}</h2>\n<p>{} {} &middot; starts {}</p>\n<ul>\n",
            html(&e.item.topic),
            html(e.item.platform.name()),
            html(&e.item.session_id),
            html(&start)
        ));
        let mut open = Vec::new();
        for o in &e.open {
            let line = format!("{}: {}", o.control.title(), o.detail);
            t.push_str(&format!("  - {}\n", printable(&line)));
            h.push_str(&format!("<li>{}</li>\n", html(&line)));
            open.push(json!({"control": o.control, "detail": o.detail}));
        }
        h.push_str("</ul>\n");
        sessions.push(json!({
            "platform": e.item.platform,
            "session_id": e.item.session_id,
            "topic": e.item.topic,
            "start": e.item.start,
            "profile": e.item.profile,
            "open": open,
        }));
    }
    let ask = format!(
        "Please make sure this is put right before the session starts, or that the session does \
         not go ahead. (Checked {}.)",
        when_long(now, tz)
    );
    t.push_str(&format!("\n{ask}\n"));
    h.push_str(&format!("<p>{}</p>\n</body></html>\n", html(&ask)));
    Rendered {
        subject,
        text: t,
        html: h,
        data: json!({
            "host": {"name": host_name, "email": host_email},
            "sessions": sessions,
        }),
    }
}

fn display_name<'a>(name: &'a str, email: &'a str) -> &'a str {
    if name.trim().is_empty() { email } else { name }
}

/// Groups items by host (lower-cased email), each host's sessions in start order.
pub fn by_host(items: &[DigestItem]) -> BTreeMap<String, Vec<DigestItem>> {
    let mut out: BTreeMap<String, Vec<DigestItem>> = BTreeMap::new();
    for i in items {
        out.entry(i.host_email.to_ascii_lowercase())
            .or_default()
            .push(i.clone());
    }
    out
}

//! The words hosts and safeguarding leads read: snapshot tests of the digest, the escalation and
//! the admin summary (plain text and HTML), and the rules that keep them safe: escaping, one
//! host's sessions only, no join link outside the host's own digest.

use chaperone::control::{Control, Status};
use chaperone::notify::{
    self, DigestItem, Escalated, EscalationRoute, JoinLink, build_admin_summary,
    render_admin_summary, render_escalation, render_host_digest,
};
use chaperone::profile::{self, Profile};
use chaperone::report::{
    ChangeRecord, Finding, RunKind, RunReport, RunTally, SCHEMA_VERSION, SessionReport,
};
use chaperone::session::{Host, PlatformKind};
use chaperone::store::RepeatedDrift;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::London;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn profiles() -> Vec<Profile> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("profiles");
    profile::load_dir(&dir, London).expect("shipped profiles load")
}

fn profile(name: &str) -> Profile {
    profiles().into_iter().find(|p| p.name == name).unwrap()
}

fn host(email: &str, name: &str) -> Host {
    Host {
        id: email.into(),
        email: email.into(),
        name: name.into(),
        groups: vec![],
    }
}

fn finding(control: Control, status: Status, detail: &str) -> Finding {
    Finding {
        control,
        status,
        observed: None,
        wanted: None,
        detail: detail.into(),
        lock: None,
    }
}

fn change(control: Control, before: &str, after: &str) -> ChangeRecord {
    ChangeRecord {
        control,
        before: Some(before.into()),
        after: after.into(),
        verified: true,
    }
}

/// Sam's group session: a passcode added (new link), waiting room on, screen share fixed.
fn sam_group() -> SessionReport {
    SessionReport {
        platform: PlatformKind::Zoom,
        session_id: "85746065123".into(),
        topic: "[youth] Thursday drop-in".into(),
        host_email: "sam.patel@riverside.example.org".into(),
        start: Some(at("2026-11-26T18:00:00Z")),
        profile: "youth-group".into(),
        findings: vec![
            finding(Control::Passcode, Status::Fixed, "fixed"),
            finding(Control::WaitingRoom, Status::Fixed, "fixed"),
            finding(Control::ScreenShare, Status::Fixed, "fixed"),
            finding(Control::CoverHours, Status::Compliant, "inside cover hours"),
        ],
        changes: vec![
            change(Control::Passcode, "optional", "required"),
            change(Control::WaitingRoom, "off", "everyone"),
            change(Control::ScreenShare, "all", "host-only"),
        ],
        join_link_changed: true,
    }
}

/// Sam's one-to-one: nothing to fix, but no colleague named (needs a person).
fn sam_one_to_one() -> SessionReport {
    SessionReport {
        platform: PlatformKind::Zoom,
        session_id: "91234567890".into(),
        topic: "[1:1] Mentoring - J".into(),
        host_email: "sam.patel@riverside.example.org".into(),
        start: Some(at("2026-11-24T17:00:00Z")),
        profile: "youth-one-to-one".into(),
        findings: vec![finding(
            Control::SecondStaff,
            Status::NeedsHuman,
            "no second staff member: the host must add a colleague from staff as alternative host before the session starts",
        )],
        changes: vec![],
        join_link_changed: false,
    }
}

fn sam_items() -> Vec<DigestItem> {
    let sam = host("sam.patel@riverside.example.org", "Sam Patel");
    vec![
        notify::digest_item(
            &profile("youth-group"),
            &sam,
            &sam_group(),
            Some("https://zoom.example/j/85746065123?pwd=NEWLINK".into()),
        )
        .unwrap(),
        notify::digest_item(&profile("youth-one-to-one"), &sam, &sam_one_to_one(), None).unwrap(),
    ]
}

const CHECKED: &str = "2026-11-22T02:00:00Z";

#[test]
fn the_host_digest_reads_as_plain_words_in_text() {
    let r = render_host_digest(
        &sam_items(),
        "sam.patel@riverside.example.org",
        London,
        at(CHECKED),
    );
    insta::assert_snapshot!("host_digest_subject", r.subject);
    insta::assert_snapshot!("host_digest_text", r.text);
}

#[test]
fn the_host_digest_html_says_the_same() {
    let r = render_host_digest(
        &sam_items(),
        "sam.patel@riverside.example.org",
        London,
        at(CHECKED),
    );
    insta::assert_snapshot!("host_digest_html", r.html);
}

#[test]
fn the_escalation_names_the_host_and_what_is_open() {
    let items = sam_items();
    let one = &items[1];
    let escalated = [Escalated {
        item: one,
        open: one.actions.iter().collect(),
    }];
    let r = render_escalation(&escalated, London, at("2026-11-23T18:00:00Z"));
    insta::assert_snapshot!("escalation_subject", r.subject);
    insta::assert_snapshot!("escalation_text", r.text);
    insta::assert_snapshot!("escalation_html", r.html);
    // Leads get what they need to act, not the host's new join link.
    assert!(!r.text.contains("pwd="));
    assert!(!r.html.contains("pwd="));
}

#[test]
fn the_admin_summary_counts_risks_drift_and_expiring_waivers() {
    let mut profiles = profiles();
    profiles[0].waivers.push(chaperone::profile::Waiver {
        applies_to: chaperone::profile::WaiverTarget::Session("85746065123".into()),
        control: Control::CloudRecording,
        reason: "consented project".into(),
        approver: "dsl@riverside.example.org".into(),
        expires: at("2026-12-01T23:59:59Z"),
    });
    let report = RunReport {
        schema_version: SCHEMA_VERSION,
        run_id: "6f1c7d5e-0000-4000-8000-000000000001".into(),
        tenant: "riverside-youth".into(),
        kind: RunKind::Sweep,
        dry_run: false,
        started_at: at(CHECKED),
        finished_at: Some(at("2026-11-22T02:03:00Z")),
        sessions: vec![sam_one_to_one(), sam_group()],
        failures: vec![],
        rates: vec![],
    };
    let repeated = vec![RepeatedDrift {
        host_email: "sam.patel@riverside.example.org".into(),
        runs: 3,
    }];
    let s = build_admin_summary(
        &report,
        &RunTally::of(&report.sessions),
        &profiles,
        repeated,
        at("2026-11-23T02:00:00Z"),
    );
    assert_eq!(s.at_risk.len(), 1, "the one-to-one starts within 48 hours");
    assert_eq!(
        s.expiring_waivers.len(),
        1,
        "the waiver is counted once, not per profile"
    );
    let r = render_admin_summary(&s, London);
    insta::assert_snapshot!("admin_summary_subject", r.subject);
    insta::assert_snapshot!("admin_summary_text", r.text);
}

#[test]
fn a_hostile_topic_and_link_are_escaped_in_html() {
    let mut report = sam_group();
    report.topic = "<script>alert('x')</script> & \"friends\"".into();
    let evil = host(
        "sam.patel@riverside.example.org",
        "<img src=x onerror=alert(1)>",
    );
    let item = notify::digest_item(
        &profile("youth-group"),
        &evil,
        &report,
        Some("javascript:alert(document.cookie)\"><script>".into()),
    )
    .unwrap();
    let r = render_host_digest(
        std::slice::from_ref(&item),
        "sam.patel@riverside.example.org",
        London,
        at(CHECKED),
    );
    assert!(!r.html.contains("<script>"), "{}", r.html);
    assert!(!r.html.contains("<img"), "{}", r.html);
    assert!(
        r.html
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;friends&quot;")
    );
    assert!(
        !r.html.contains("href=\"javascript:"),
        "a non-web link is never clickable"
    );
    let e = render_escalation(
        &[Escalated {
            item: &item,
            open: vec![],
        }],
        London,
        at(CHECKED),
    );
    assert!(
        !e.html.contains("<script>") && !e.html.contains("<img"),
        "{}",
        e.html
    );
}

#[test]
fn a_host_never_receives_another_hosts_sessions() {
    let mut items = sam_items();
    let alex = host("alex.morgan@riverside.example.org", "Alex Morgan");
    let mut other = sam_group();
    other.host_email = alex.email.clone();
    other.topic = "[youth] Alex's secret session".into();
    other.session_id = "1111".into();
    items.push(
        notify::digest_item(
            &profile("youth-group"),
            &alex,
            &other,
            Some("https://zoom.example/j/1111?pwd=ALEXLINK".into()),
        )
        .unwrap(),
    );
    let r = render_host_digest(
        &items,
        "SAM.PATEL@riverside.example.org",
        London,
        at(CHECKED),
    );
    for body in [&r.text, &r.html] {
        assert!(!body.contains("Alex"), "{body}");
        assert!(!body.contains("ALEXLINK"), "{body}");
        assert!(body.contains("NEWLINK"));
    }
}

#[test]
fn nothing_to_tell_gives_no_digest_item() {
    let mut quiet = sam_group();
    quiet.changes.clear();
    quiet.join_link_changed = false;
    quiet.findings = vec![finding(Control::Passcode, Status::Compliant, "ok")];
    let sam = host("sam.patel@riverside.example.org", "Sam Patel");
    assert!(notify::digest_item(&profile("youth-group"), &sam, &quiet, None).is_none());
}

#[test]
fn the_join_link_is_kept_only_when_the_passcode_was_proven_added() {
    let mut report = sam_group();
    report.join_link_changed = false;
    let sam = host("sam.patel@riverside.example.org", "Sam Patel");
    let item = notify::digest_item(
        &profile("youth-group"),
        &sam,
        &report,
        Some("https://zoom.example/j/1?pwd=X".into()),
    )
    .unwrap();
    assert!(item.new_join_url.is_none());
    // And a join link never shows through Debug (logs).
    let with = DigestItem {
        new_join_url: Some(JoinLink("https://zoom.example/j/1?pwd=SECRET".into())),
        ..item
    };
    assert!(!format!("{with:?}").contains("SECRET"));
}

#[test]
fn a_profile_route_without_hours_mentions_no_escalation() {
    let mut items = sam_items();
    items[1].escalation = EscalationRoute::default();
    let r = render_host_digest(
        &items,
        "sam.patel@riverside.example.org",
        London,
        at(CHECKED),
    );
    assert!(!r.text.contains("safeguarding lead will be told"));
}

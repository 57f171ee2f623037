//! Delivery through real receivers: a real SMTP server started in-process by the test and a local
//! HTTP server for Slack, Teams and signed JSON webhooks. Each test reads what arrived.

mod common;
mod notify_common;

use chaperone::control::{Control, Status};
use chaperone::notify::{
    self, Channel, MessageKind, Notifier, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_webhook,
};
use chaperone::report::{Finding, RunKind, SessionReport};
use chaperone::session::{Host, PlatformKind};
use chaperone::settings::Settings;
use chaperone::store::Store;
use chaperone_sim::Scenario;
use chrono::{DateTime, Duration, Utc};
use notify_common::{Receiver, SmtpSink, closed_port, settings_toml};

const TENANT: &str = "riverside-youth";
const PASSWORD: &str = "correct horse battery staple";

fn load(path: &std::path::Path) -> Settings {
    Settings::load(Some(path), Some(Default::default())).expect("settings load")
}

async fn sqlite(dir: &std::path::Path) -> (Store, String) {
    let url = format!("sqlite://{}", dir.join("n.db").display());
    (Store::connect(&url).await.expect("store"), url)
}

#[tokio::test]
async fn every_host_gets_one_digest_over_real_smtp_with_only_their_own_sessions() {
    let app = common::spawn_app(Scenario::demo()).await;
    let report = app.run(RunKind::Sweep, false).await;
    let sink = SmtpSink::start(Some(("chaperone", PASSWORD)));
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = load(&settings_toml(
        dir.path(),
        "sqlite::memory:",
        sink.port,
        &receiver.base,
        "",
    ));

    let notifier = Notifier::new(app.store.clone(), &settings.tenants).unwrap();
    let (queued, sent) = notifier.tick().await.unwrap();
    let items = app.store.digest_items(&report.run_id).await.unwrap();
    let hosts = notify::by_host(&items);
    assert!(
        hosts.len() >= 2,
        "the demo has several hosts with something to hear"
    );
    assert_eq!(queued.digests, hosts.len(), "one digest per host per run");
    assert_eq!(sent.retrying + sent.given_up, 0, "{sent:?}");

    let mails = sink.wait_for(sent.sent, std::time::Duration::from_secs(10));
    let digests: Vec<_> = mails
        .iter()
        .filter(|m| m.subject.starts_with("Your online sessions"))
        .collect();
    assert_eq!(digests.len(), hosts.len());
    for mail in &digests {
        assert!(mail.authenticated, "chaperone logged in to the SMTP server");
        assert_eq!(mail.rcpt_tos.len(), 1, "a digest goes to its host only");
        let host = mail.rcpt_tos[0].to_ascii_lowercase();
        let own = &hosts[&host];
        for (other, theirs) in &hosts {
            for item in theirs {
                let Some(link) = &item.new_join_url else {
                    continue;
                };
                let present = mail.text.contains(&link.0);
                assert_eq!(present, other == &host, "{host} / link of {other}");
                assert_eq!(
                    mail.html.contains(&link.0.replace('&', "&amp;")),
                    other == &host
                );
            }
        }
        for item in own {
            assert!(mail.text.contains(&item.topic), "{}", item.topic);
        }
        assert!(
            mail.message_id.ends_with("@riverside.example.org>"),
            "{}",
            mail.message_id
        );
    }
    // Delivered means marked sent: a second round sends nothing.
    let (again, resent) = notifier.tick().await.unwrap();
    assert_eq!((again.digests, resent.sent), (0, 0));
    assert_eq!(sink.mails().len(), mails.len());

    // The new join links went to the hosts, and nowhere else: not the report, not the trail.
    let links: Vec<String> = items
        .iter()
        .filter_map(|i| i.new_join_url.as_ref().map(|l| l.0.clone()))
        .collect();
    assert!(!links.is_empty(), "the demo adds passcodes");
    let json = serde_json::to_string(&app.store.load_run(&report.run_id).await.unwrap()).unwrap();
    let trail = serde_json::to_string(&app.store.audit_trail(None).await.unwrap()).unwrap();
    let printed = report.render(chaperone::report::Format::Json)
        + &report.render(chaperone::report::Format::Table);
    for link in &links {
        assert!(!json.contains(link) && !trail.contains(link) && !printed.contains(link));
    }
}

#[tokio::test]
async fn checks_and_dry_runs_notify_nobody() {
    let app = common::spawn_app(Scenario::demo()).await;
    let check = app.run(RunKind::Check, false).await;
    let dry = app.run(RunKind::Sweep, true).await;
    assert!(
        app.store
            .digest_items(&check.run_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        app.store
            .digest_items(&dry.run_id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A run with one session recorded by hand, as the sweep would record it.
struct Fixture {
    store: Store,
    url: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (store, url) = sqlite(dir.path()).await;
        Fixture {
            store,
            url,
            _dir: dir,
        }
    }

    /// Records `session` of host Sam in a new run started at `at`, then finishes the run.
    async fn run(&self, at: DateTime<Utc>, sessions: &[SessionReport]) -> String {
        let run = self
            .store
            .start_run(TENANT, RunKind::Sweep, false, at)
            .await
            .unwrap();
        let profiles =
            chaperone::profile::load_dir(&common::repo_profiles(), chrono_tz::Europe::London)
                .unwrap();
        for (n, s) in sessions.iter().enumerate() {
            let profile = profiles.iter().find(|p| p.name == s.profile).unwrap();
            let item = notify::digest_item(profile, &sam(), s, None);
            self.store
                .record_session_with_outbox(&run, s, item.as_ref(), n + 1 == sessions.len())
                .await
                .unwrap();
        }
        self.store
            .finish_run(&run, at + Duration::minutes(1))
            .await
            .unwrap();
        run
    }
}

fn sam() -> Host {
    Host {
        id: "u1".into(),
        email: "sam.patel@riverside.example.org".into(),
        name: "Sam Patel".into(),
        groups: vec![],
    }
}

fn one_to_one(id: &str, start: DateTime<Utc>, status: Status) -> SessionReport {
    SessionReport {
        platform: PlatformKind::Zoom,
        session_id: id.into(),
        topic: format!("[1:1] Mentoring {id}"),
        host_email: sam().email,
        start: Some(start),
        profile: "youth-one-to-one".into(),
        findings: vec![Finding {
            control: Control::SecondStaff,
            status,
            observed: None,
            wanted: None,
            detail: "no second staff member: the host must add a colleague".into(),
            lock: None,
        }],
        changes: vec![],
        join_link_changed: false,
    }
}

#[tokio::test]
async fn an_open_item_is_escalated_once_to_the_leads_with_the_host_named() {
    let f = Fixture::new().await;
    let sink = SmtpSink::start(Some(("chaperone", PASSWORD)));
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = load(&settings_toml(
        dir.path(),
        &f.url,
        sink.port,
        &receiver.base,
        "",
    ));
    let notifier = Notifier::new(f.store.clone(), &settings.tenants).unwrap();

    let t0 = Utc::now();
    // Starts in 10 hours: inside the one-to-one profile's 48-hour window.
    f.run(
        t0,
        &[one_to_one(
            "s1",
            t0 + Duration::hours(10),
            Status::NeedsHuman,
        )],
    )
    .await;
    let (q, _) = notifier.tick().await.unwrap();
    assert_eq!(
        (q.digests, q.escalations),
        (1, 2),
        "one digest; the lead by email and the Slack channel"
    );

    // The next run still sees it open: the host is reminded, the lead is not told again.
    f.run(
        t0 + Duration::hours(1),
        &[one_to_one(
            "s1",
            t0 + Duration::hours(10),
            Status::NeedsHuman,
        )],
    )
    .await;
    let (q, _) = notifier.tick().await.unwrap();
    assert_eq!(
        (q.digests, q.escalations),
        (1, 0),
        "each item escalates once"
    );

    let mails = sink.wait_for(3, std::time::Duration::from_secs(10));
    let to_lead: Vec<_> = mails
        .iter()
        .filter(|m| m.rcpt_tos == ["dsl@riverside.example.org"])
        .collect();
    assert_eq!(to_lead.len(), 1);
    assert!(
        to_lead[0]
            .subject
            .starts_with("Safeguarding: a session hosted by Sam Patel"),
        "{}",
        to_lead[0].subject
    );
    assert!(
        to_lead[0]
            .text
            .contains("Host: Sam Patel <sam.patel@riverside.example.org>")
    );
    assert!(to_lead[0].text.contains("[1:1] Mentoring s1"));
    let slack = receiver.hits_on("/slack/T000/B000/slack-token-XYZ");
    assert_eq!(slack.len(), 1);
    assert!(
        slack[0].json()["text"]
            .as_str()
            .unwrap()
            .contains("Sam Patel")
    );
    assert!(
        slack[0]
            .header("idempotency-key")
            .unwrap()
            .starts_with("escalation:")
    );
}

#[tokio::test]
async fn an_item_resolved_meanwhile_is_not_escalated() {
    let f = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(Some(("chaperone", PASSWORD)));
    let receiver = Receiver::start().await;
    let settings = load(&settings_toml(
        dir.path(),
        &f.url,
        sink.port,
        &receiver.base,
        "",
    ));
    let notifier = Notifier::new(f.store.clone(), &settings.tenants).unwrap();
    let t0 = Utc::now();
    let start = t0 + Duration::hours(60);
    // Outside the window at the first run: the host is asked, nobody else told.
    f.run(t0, &[one_to_one("s2", start, Status::NeedsHuman)])
        .await;
    let (q, _) = notifier.tick().await.unwrap();
    assert_eq!((q.digests, q.escalations), (1, 0));
    // By the time the window opens the host added a colleague: nothing to escalate.
    f.run(
        t0 + Duration::hours(13),
        &[one_to_one("s2", start, Status::Compliant)],
    )
    .await;
    let q = notifier.assemble(t0 + Duration::hours(13)).await.unwrap();
    assert_eq!(q.escalations, 0);

    // An older run assembled late (its worker was down) does not escalate what a newer run
    // already judged: the newer run's record wins.
    let late = f
        .store
        .start_run(TENANT, RunKind::Sweep, false, t0)
        .await
        .unwrap();
    let profiles =
        chaperone::profile::load_dir(&common::repo_profiles(), chrono_tz::Europe::London).unwrap();
    let s3 = one_to_one("s3", t0 + Duration::hours(5), Status::NeedsHuman);
    let profile = profiles
        .iter()
        .find(|p| p.name == "youth-one-to-one")
        .unwrap();
    f.store
        .record_session_with_outbox(
            &late,
            &s3,
            notify::digest_item(profile, &sam(), &s3, None).as_ref(),
            true,
        )
        .await
        .unwrap();
    // The newer run is recorded at a later instant than the late one (the store keeps
    // microseconds): wait for the clock to move on, not for a fixed time.
    let recorded = Utc::now();
    while Utc::now() <= recorded + Duration::microseconds(1) {
        tokio::task::yield_now().await;
    }
    f.run(
        t0 + Duration::hours(1),
        &[one_to_one("s3", t0 + Duration::hours(5), Status::Compliant)],
    )
    .await;
    let q = notifier.assemble(Utc::now()).await.unwrap();
    assert_eq!(q.escalations, 0, "{q:?}");
    let escalations = f
        .store
        .outbox_messages(Some(TENANT))
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == MessageKind::Escalation)
        .count();
    assert_eq!(escalations, 0);
}

#[tokio::test]
async fn the_admin_summary_goes_to_teams_and_a_signed_json_webhook_with_idempotency_keys() {
    let app = common::spawn_app(Scenario::demo()).await;
    let report = app.run(RunKind::Sweep, false).await;
    let sink = SmtpSink::start(Some(("chaperone", PASSWORD)));
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = load(&settings_toml(
        dir.path(),
        "sqlite::memory:",
        sink.port,
        &receiver.base,
        "",
    ));
    let queued = notify::admin_summary(
        &app.store,
        &settings.tenants[0],
        &app.profiles,
        &report,
        &chaperone::report::RunTally::of(&report.sessions),
        app.now,
    )
    .await
    .unwrap();
    assert_eq!(queued, 3, "the admin by email, Teams, JSON");
    // Calling it again for the same run queues nothing new.
    notify::admin_summary(
        &app.store,
        &settings.tenants[0],
        &app.profiles,
        &report,
        &chaperone::report::RunTally::of(&report.sessions),
        app.now,
    )
    .await
    .unwrap();
    let notifier = Notifier::new(app.store.clone(), &settings.tenants).unwrap();
    notifier.tick().await.unwrap();

    let summaries: Vec<_> = app
        .store
        .outbox_messages(Some(TENANT))
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == MessageKind::AdminSummary)
        .collect();
    assert_eq!(summaries.len(), 3);
    assert!(summaries.iter().all(|m| m.sent_at.is_some()));

    let teams = receiver.hits_on("/teams/workflow-token-ABC");
    assert_eq!(teams.len(), 1);
    let card = teams[0].json();
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let title = card["attachments"][0]["content"]["body"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        title.starts_with("chaperone summary for riverside-youth"),
        "{title}"
    );
    let teams_key = summaries
        .iter()
        .find(|m| m.recipient == "safeguarding-teams")
        .unwrap();
    assert_eq!(
        teams[0].header("idempotency-key").unwrap(),
        teams_key.idempotency_key
    );

    let json = receiver.hits_on("/json");
    assert_eq!(json.len(), 1);
    let hit = &json[0];
    let ts: i64 = hit.header(TIMESTAMP_HEADER).unwrap().parse().unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 60);
    // The receiver's check: HMAC-SHA256 over "<timestamp>.<raw body>" with the shared secret.
    assert_eq!(
        hit.header(SIGNATURE_HEADER).unwrap(),
        sign_webhook(b"s3cr3t-signing-key", ts, &hit.body)
    );
    assert_ne!(
        hit.header(SIGNATURE_HEADER).unwrap(),
        sign_webhook(b"wrong", ts, &hit.body)
    );
    let body = hit.json();
    assert_eq!(body["kind"], "admin-summary");
    assert_eq!(body["id"], hit.header("idempotency-key").unwrap());
    assert!(body["data"]["sessions"].as_u64().unwrap() > 0);

    let mails = sink.wait_for(1, std::time::Duration::from_secs(10));
    let to_admin: Vec<_> = mails
        .iter()
        .filter(|m| m.rcpt_tos == ["admin@riverside.example.org"])
        .collect();
    assert_eq!(to_admin.len(), 1);
    assert!(
        to_admin[0]
            .text
            .contains("Sessions at risk in the next 48 hours")
    );
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_retried_later_while_webhooks_still_go() {
    let f = Fixture::new().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let dead = closed_port();
    let settings = load(&settings_toml(dir.path(), &f.url, dead, &receiver.base, ""));
    let notifier = Notifier::new(f.store.clone(), &settings.tenants).unwrap();
    let t0 = Utc::now();
    f.run(
        t0,
        &[one_to_one(
            "s4",
            t0 + Duration::hours(3),
            Status::NeedsHuman,
        )],
    )
    .await;
    let (q, d) = notifier.tick().await.unwrap();
    assert_eq!((q.digests, q.escalations), (1, 2));
    assert_eq!(d.sent, 1, "the Slack escalation went: {d:?}");
    assert_eq!(d.retrying, 2, "the digest and the lead's email wait: {d:?}");

    let outbox = f.store.outbox_messages(Some(TENANT)).await.unwrap();
    for m in outbox.iter().filter(|m| m.channel == Channel::Email) {
        assert!(m.sent_at.is_none() && m.failed_at.is_none());
        assert_eq!(m.attempts, 1);
        assert!(
            m.next_attempt_at > Utc::now() + Duration::seconds(30),
            "retried later, with backoff"
        );
        let error = m.last_error.as_deref().unwrap();
        assert!(error.contains(&format!("127.0.0.1:{dead}")), "{error}");
        assert!(
            error.contains("[tenants.notify.email]"),
            "says what to check: {error}"
        );
        assert!(!error.contains(PASSWORD));
    }
    // Nothing is due yet: a second round sends nothing and does not hammer the server.
    let (_, d) = notifier.tick().await.unwrap();
    assert_eq!(d.sent + d.retrying, 0);
    assert_eq!(
        receiver.hits().len(),
        1,
        "the webhook message was sent once"
    );
}

#[tokio::test]
async fn a_failed_email_is_delivered_once_the_server_is_back() {
    let f = Fixture::new().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    // First with a wrong password: the server refuses, the message waits.
    let sink = SmtpSink::start(Some(("chaperone", "another password")));
    let settings = load(&settings_toml(
        dir.path(),
        &f.url,
        sink.port,
        &receiver.base,
        "",
    ));
    let notifier = Notifier::new(f.store.clone(), &settings.tenants).unwrap();
    let t0 = Utc::now();
    f.run(
        t0,
        &[one_to_one("s5", t0 + Duration::days(5), Status::NeedsHuman)],
    )
    .await;
    let (_, d) = notifier.tick().await.unwrap();
    assert_eq!((d.sent, d.retrying), (0, 1));
    let m = &f.store.outbox_messages(Some(TENANT)).await.unwrap()[0];
    let error = m.last_error.clone().unwrap();
    assert!(error.contains("could not be sent"), "{error}");
    assert!(
        !error.contains(PASSWORD) && !error.contains("another password"),
        "{error}"
    );
    assert!(sink.mails().is_empty());

    // The right server and password; once the backoff has passed the message goes, once.
    let good = SmtpSink::start(Some(("chaperone", PASSWORD)));
    let settings = load(&settings_toml(
        dir.path(),
        &f.url,
        good.port,
        &receiver.base,
        "",
    ));
    let notifier = Notifier::new(f.store.clone(), &settings.tenants).unwrap();
    let (_, d) = notifier.tick().await.unwrap();
    assert_eq!(d.sent, 0, "not before its retry time");
    // Pretend the backoff passed by moving the retry time.
    sqlx_retry_now(&f.url).await;
    let (_, d) = notifier.tick().await.unwrap();
    assert_eq!(d.sent, 1);
    let mails = good.wait_for(1, std::time::Duration::from_secs(10));
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_tos, ["sam.patel@riverside.example.org"]);
    let m = &f.store.outbox_messages(Some(TENANT)).await.unwrap()[0];
    assert_eq!(m.attempts, 2);
    assert!(m.sent_at.is_some() && m.last_error.is_none());
}

/// Moves every waiting message's retry time to now (a test stands in for the clock).
async fn sqlx_retry_now(url: &str) {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000000Z' WHERE sent_at IS NULL",
    )
    .execute(&mut c)
    .await
    .unwrap();
}

#[tokio::test]
async fn an_unreachable_webhook_is_retried_and_its_url_token_never_shows() {
    let f = Fixture::new().await;
    let sink = SmtpSink::start(Some(("chaperone", PASSWORD)));
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let settings = load(&settings_toml(dir.path(), &f.url, sink.port, &dead, ""));
    let notifier = Notifier::new(f.store.clone(), &settings.tenants).unwrap();
    let t0 = Utc::now();
    f.run(
        t0,
        &[one_to_one(
            "s6",
            t0 + Duration::hours(2),
            Status::NeedsHuman,
        )],
    )
    .await;
    let (_, d) = notifier.tick().await.unwrap();
    assert_eq!(
        (d.sent, d.retrying),
        (2, 1),
        "both emails went; the webhook waits"
    );
    let hook = f
        .store
        .outbox_messages(Some(TENANT))
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.channel == Channel::Webhook)
        .unwrap();
    let error = hook.last_error.unwrap();
    assert!(
        error.contains("webhook `safeguarding-slack` could not be reached"),
        "{error}"
    );
    assert!(
        !error.contains("slack-token-XYZ"),
        "the URL's token is a secret: {error}"
    );
    assert!(hook.sent_at.is_none() && hook.next_attempt_at > Utc::now());
}

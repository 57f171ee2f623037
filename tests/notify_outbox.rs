//! The outbox in the store, on SQLite and (when `CHAPERONE_TEST_PG_URL` is set, see
//! .ci/start-postgres) on PostgreSQL: items recorded with their session, digests assembled once,
//! even for a run that died, and claims that two workers never share.

mod common;

use chaperone::control::{Control, Status};
use chaperone::notify::{self, Notifier};
use chaperone::report::{ChangeRecord, Finding, RunKind, SessionReport};
use chaperone::session::{Host, PlatformKind};
use chaperone::settings::Settings;
use chaperone::store::{Store, StoreError};
use chrono::{Duration, Utc};

#[path = "common/requires.rs"]
mod requires;
#[path = "common/stores.rs"]
mod stores;

use stores::TestStore;

/// A fresh SQLite store, and a fresh PostgreSQL schema when the server is configured.
async fn stores() -> Vec<TestStore> {
    stores::stores(
        "notify_outbox (its PostgreSQL part)",
        "o.db",
        "chaperone_notify",
    )
    .await
}

fn host(n: usize) -> Host {
    Host {
        id: format!("u{n}"),
        email: format!("Host{n}@Riverside.example.org"),
        name: format!("Host {n}"),
        groups: vec![],
    }
}

fn session(n: usize, id: &str) -> SessionReport {
    SessionReport {
        platform: PlatformKind::Zoom,
        session_id: id.into(),
        topic: format!("[youth] {id}"),
        host_email: host(n).email,
        start: Some(Utc::now() + Duration::days(3)),
        profile: "youth-group".into(),
        findings: vec![Finding {
            control: Control::WaitingRoom,
            status: Status::Fixed,
            observed: None,
            wanted: None,
            detail: "fixed".into(),
            lock: None,
        }],
        changes: vec![ChangeRecord {
            control: Control::WaitingRoom,
            before: Some("off".into()),
            after: "everyone".into(),
            verified: true,
        }],
        join_link_changed: false,
    }
}

fn settings() -> Settings {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(
        &path,
        "[[tenants]]\nid = \"riverside-youth\"\n\n[tenants.notify]\nleads = [\"dsl@riverside.example.org\"]\n",
    )
    .unwrap();
    Settings::load(Some(&path), Some(Default::default())).unwrap()
}

async fn record(store: &Store, run: &str, n: usize, id: &str, closes: bool) {
    let profiles =
        chaperone::profile::load_dir(&common::repo_profiles(), chrono_tz::Europe::London).unwrap();
    let profile = profiles.iter().find(|p| p.name == "youth-group").unwrap();
    let s = session(n, id);
    let item = notify::digest_item(profile, &host(n), &s, None);
    store
        .record_session_with_outbox(run, &s, item.as_ref(), closes)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_run_that_died_still_gets_its_digests_once_from_what_it_recorded() {
    for TestStore { store, backend, .. } in stores().await {
        let t0 = Utc::now();
        let run = store
            .start_run("riverside-youth", RunKind::Sweep, false, t0)
            .await
            .unwrap();
        // Two sessions of host 0; the process dies before the host is closed or the run finished.
        record(&store, &run, 0, "a", false).await;
        record(&store, &run, 0, "b", false).await;
        let notifier = Notifier::new(store.clone(), &settings().tenants).unwrap();
        assert_eq!(
            notifier.assemble(t0).await.unwrap().digests,
            0,
            "{backend}: the run may still be going"
        );
        // On start-up later, the run is seen as dead: its digest is assembled from what it kept.
        let later = t0 + Duration::hours(2);
        assert_eq!(
            notifier.assemble(later).await.unwrap().digests,
            1,
            "{backend}"
        );
        assert_eq!(
            notifier.assemble(later).await.unwrap().digests,
            0,
            "{backend}: once"
        );
        let outbox = store.outbox_messages(None).await.unwrap();
        assert_eq!(outbox.len(), 1, "{backend}");
        assert_eq!(
            outbox[0].recipient, "Host0@Riverside.example.org",
            "{backend}"
        );
        assert!(
            outbox[0].body_text.contains("[youth] a") && outbox[0].body_text.contains("[youth] b")
        );
        assert_eq!(
            outbox[0].idempotency_key,
            format!("digest:{run}:host0@riverside.example.org")
        );
    }
}

#[tokio::test]
async fn a_session_that_cannot_be_recorded_leaves_no_item_behind() {
    for TestStore { store, backend, .. } in stores().await {
        let run = store
            .start_run("riverside-youth", RunKind::Sweep, false, Utc::now())
            .await
            .unwrap();
        record(&store, &run, 1, "x", false).await;
        let profiles =
            chaperone::profile::load_dir(&common::repo_profiles(), chrono_tz::Europe::London)
                .unwrap();
        let s = session(1, "x");
        let item = notify::digest_item(&profiles[0], &host(1), &s, None);
        // Recording the same session twice fails, and its item goes with it (one transaction).
        let err = store
            .record_session_with_outbox(&run, &s, item.as_ref(), true)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::SessionAlreadyRecorded { .. }),
            "{backend}: {err}"
        );
        assert_eq!(
            store.digest_items(&run).await.unwrap().len(),
            1,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn two_workers_never_claim_the_same_message_and_a_dead_workers_claim_expires() {
    for TestStore { store, backend, .. } in stores().await {
        let run = store
            .start_run("riverside-youth", RunKind::Sweep, false, Utc::now())
            .await
            .unwrap();
        for n in 0..6 {
            record(&store, &run, n, &format!("s{n}"), true).await;
        }
        let notifier = Notifier::new(store.clone(), &settings().tenants).unwrap();
        assert_eq!(notifier.assemble(Utc::now()).await.unwrap().digests, 6);

        let now = Utc::now();
        let lease = now + Duration::seconds(60);
        let claims = futures_claims(&store, now, lease, 8).await;
        let mut ids: Vec<i64> = claims.iter().flatten().copied().collect();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "{backend}: a message was claimed twice");
        assert_eq!(ids.len(), 6, "{backend}");
        // Everything is leased: nothing more to claim ...
        assert!(store.claim_message(now, lease).await.unwrap().is_none());
        // ... until the lease of a worker that died runs out.
        let after = lease + Duration::seconds(1);
        let again = store
            .claim_message(after, after + Duration::seconds(60))
            .await
            .unwrap()
            .expect("an expired claim is taken over");
        assert_eq!(
            again.attempts, 2,
            "{backend}: the second claim is a second attempt"
        );
        store.mark_sent(again.id, after).await.unwrap();
        let sent = store.outbox_messages(None).await.unwrap();
        assert_eq!(sent.iter().filter(|m| m.sent_at.is_some()).count(), 1);
    }
}

/// Claims from `workers` tasks at once; each returns what it got.
async fn futures_claims(
    store: &Store,
    now: chrono::DateTime<Utc>,
    lease: chrono::DateTime<Utc>,
    workers: usize,
) -> Vec<Option<i64>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let store = store.clone();
        set.spawn(async move { store.claim_message(now, lease).await.unwrap().map(|m| m.id) });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

//! The webhook queue in the store, on SQLite and (when `CHAPERONE_TEST_PG_URL` is set)
//! PostgreSQL: stored once, claimed once, taken again only after a dead claimant's lease.

use std::collections::BTreeMap;
use std::time::Duration;

use chaperone::store::webhooks::{EventState, NewWebhookEvent, Received};
use chrono::Utc;

use crate::stores::TestStore;

/// The stores to test: SQLite always, PostgreSQL in a fresh schema when configured.
async fn stores() -> Vec<TestStore> {
    crate::stores::stores("api::queue (its PostgreSQL part)", "q.db", "q").await
}

fn event<'a>(key: &'a str, object: &'a str) -> NewWebhookEvent<'a> {
    NewWebhookEvent {
        tenant: "t",
        platform: "zoom",
        dedupe_key: key,
        event: "meeting.created",
        object_id: Some(object),
        received_at: Utc::now(),
        payload: "{}",
    }
}

#[tokio::test]
async fn the_same_delivery_is_stored_once() {
    for TestStore { store, .. } in stores().await {
        let first = store
            .receive_webhook_event(&event("k1", "m1"))
            .await
            .unwrap();
        let Received::New { id } = first else {
            panic!("{first:?}")
        };
        let again = store
            .receive_webhook_event(&event("k1", "m1"))
            .await
            .unwrap();
        assert_eq!(again, Received::Duplicate { id });
        assert_eq!(store.webhook_events(None).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn concurrent_workers_never_claim_the_same_event_twice() {
    for TestStore { store, .. } in stores().await {
        for i in 0..40 {
            let key = format!("k{i}");
            let object = format!("m{i}");
            store
                .receive_webhook_event(&event(&key, &object))
                .await
                .unwrap();
        }
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..8 {
            let store = store.clone();
            tasks.spawn(async move {
                let worker = format!("p/{w}");
                let mut got = Vec::new();
                while let Some(e) = store
                    .claim_webhook_event(&worker, Utc::now(), Duration::from_secs(60))
                    .await
                    .unwrap()
                {
                    got.push(e.id);
                    assert!(
                        store
                            .finish_webhook_event(
                                e.id,
                                &worker,
                                EventState::Done,
                                "ok",
                                None,
                                Utc::now()
                            )
                            .await
                            .unwrap()
                    );
                }
                got
            });
        }
        let mut seen: BTreeMap<i64, u32> = BTreeMap::new();
        while let Some(ids) = tasks.join_next().await {
            for id in ids.unwrap() {
                *seen.entry(id).or_default() += 1;
            }
        }
        assert_eq!(seen.len(), 40);
        assert!(seen.values().all(|n| *n == 1), "{seen:?}");
        assert_eq!(store.webhook_backlog().await.unwrap(), 0);
    }
}

#[tokio::test]
async fn a_claim_left_by_a_dead_process_is_taken_again_only_after_the_lease() {
    for TestStore { store, .. } in stores().await {
        store.receive_webhook_event(&event("k", "m")).await.unwrap();
        let lease = Duration::from_secs(60);
        let now = Utc::now();
        let first = store
            .claim_webhook_event("dead/0", now, lease)
            .await
            .unwrap();
        assert!(first.is_some());
        // The claimant dies. Inside the lease nobody else takes it.
        assert!(
            store
                .claim_webhook_event("live/0", now, lease)
                .await
                .unwrap()
                .is_none()
        );
        // After the lease, it is taken again, as a second attempt.
        let later = now + chrono::Duration::seconds(61);
        let again = store
            .claim_webhook_event("live/0", later, lease)
            .await
            .unwrap()
            .expect("claimed again");
        assert_eq!(again.attempts, 2);
        // The dead claimant can no longer finish it.
        assert!(
            !store
                .finish_webhook_event(again.id, "dead/0", EventState::Done, "late", None, later)
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn an_event_about_a_meeting_in_work_waits_for_the_first_to_finish() {
    for TestStore { store, .. } in stores().await {
        store
            .receive_webhook_event(&event("a", "same"))
            .await
            .unwrap();
        store
            .receive_webhook_event(&event("b", "same"))
            .await
            .unwrap();
        store
            .receive_webhook_event(&event("c", "other"))
            .await
            .unwrap();
        let lease = Duration::from_secs(60);
        let now = Utc::now();
        let a = store
            .claim_webhook_event("p/0", now, lease)
            .await
            .unwrap()
            .unwrap();
        let c = store
            .claim_webhook_event("p/1", now, lease)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.object_id.as_deref(), Some("other"), "b waits behind a");
        assert!(
            store
                .claim_webhook_event("p/2", now, lease)
                .await
                .unwrap()
                .is_none()
        );
        store
            .finish_webhook_event(a.id, "p/0", EventState::Done, "ok", None, now)
            .await
            .unwrap();
        let b = store
            .claim_webhook_event("p/2", now, lease)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.object_id.as_deref(), Some("same"));
    }
}

#[tokio::test]
async fn waiting_for_a_busy_tenant_does_not_use_up_attempts() {
    for TestStore { store, .. } in stores().await {
        store.receive_webhook_event(&event("k", "m")).await.unwrap();
        for _ in 0..10 {
            let e = store
                .claim_webhook_event("p/0", Utc::now(), Duration::from_secs(600))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(e.attempts, 1);
            assert!(
                store
                    .release_webhook_event(e.id, "p/0", "waiting", Utc::now(), false)
                    .await
                    .unwrap()
            );
        }
        let e = store
            .claim_webhook_event("p/0", Utc::now(), Duration::from_secs(600))
            .await
            .unwrap()
            .unwrap();
        assert!(
            store
                .release_webhook_event(e.id, "p/0", "platform error", Utc::now(), true)
                .await
                .unwrap()
        );
        let e = store
            .claim_webhook_event("p/0", Utc::now(), Duration::from_secs(600))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(e.attempts, 2);
    }
}

#[tokio::test]
async fn an_abandoned_claim_is_put_back_without_counting_an_attempt() {
    for TestStore { store, .. } in stores().await {
        store.receive_webhook_event(&event("k", "m")).await.unwrap();
        let e = store
            .claim_webhook_event("proc/3", Utc::now(), Duration::from_secs(600))
            .await
            .unwrap()
            .unwrap();
        assert!(store.requeue_abandoned(e.id, "proc").await.unwrap());
        let again = store
            .claim_webhook_event("next/0", Utc::now(), Duration::from_secs(600))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.attempts, 1);
    }
}

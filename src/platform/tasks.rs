//! Running many platform requests at once, in order, within a bound: shared by the adapters.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Runs `f(ctx, item)` for each item with at most `limit` in flight and returns the results in
/// input order. The bound belongs to this call, not to the adapter: requests queued behind one
/// rate limit must not hold the places that requests under another limit need. A task that
/// panics is logged (naming `platform`) and its result left out.
pub(crate) async fn for_each_bounded<C, I, T, F, Fut>(
    ctx: &C,
    limit: usize,
    platform: &'static str,
    items: Vec<I>,
    f: F,
) -> Vec<T>
where
    C: Clone,
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(C, I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut set = JoinSet::new();
    let n = items.len();
    let places = Arc::new(Semaphore::new(limit.max(1)));
    for (i, item) in items.into_iter().enumerate() {
        let sem = places.clone();
        let fut = f(ctx.clone(), item);
        set.spawn(
            async move {
                let _permit = sem.acquire_owned().await.ok();
                (i, fut.await)
            }
            .in_current_span(),
        );
    }
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, v)) => {
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(v);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, platform, "a platform task panicked or was cancelled")
            }
        }
    }
    out.into_iter().flatten().collect()
}

/// Runs `f(ctx, item)` for each item with at most `limit` in flight and sends each result to
/// `out` as soon as it is ready, in whatever order they finish. A task keeps its place until
/// its result is taken, so a slow consumer holds the readers back (memory stays bounded by
/// `limit` plus the channel's capacity). Stops early when the consumer has gone. A task that
/// panics is logged (naming `platform`) and re-raised once the others are done, so the caller's
/// join handle reports the collect as stopped early.
pub(crate) async fn send_each_bounded<C, I, T, F, Fut>(
    ctx: &C,
    limit: usize,
    platform: &'static str,
    items: Vec<I>,
    f: F,
    out: tokio::sync::mpsc::Sender<T>,
) where
    C: Clone,
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(C, I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let places = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    let mut panicked = None;
    let mut note = |joined: Result<(), tokio::task::JoinError>| {
        if let Err(e) = joined {
            tracing::error!(error = %e, platform, "a platform task panicked or was cancelled");
            panicked.get_or_insert(e);
        }
    };
    for item in items {
        let Ok(place) = places.clone().acquire_owned().await else {
            break;
        };
        if out.is_closed() {
            break;
        }
        let fut = f(ctx.clone(), item);
        let out = out.clone();
        set.spawn(
            async move {
                let value = fut.await;
                // The consumer may have stopped (a failed store): nothing more to do then.
                let _ = out.send(value).await;
                drop(place);
            }
            .in_current_span(),
        );
        while let Some(joined) = set.try_join_next() {
            note(joined);
        }
    }
    while let Some(joined) = set.join_next().await {
        note(joined);
    }
    if let Some(e) = panicked
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_slow_consumer_holds_the_readers_back() {
        const LIMIT: usize = 4;
        const AHEAD: usize = 2;
        let started = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::channel(AHEAD);
        let producer = {
            let started = started.clone();
            tokio::spawn(async move {
                send_each_bounded(
                    &started,
                    LIMIT,
                    "test",
                    (0..40).collect(),
                    |started: Arc<AtomicUsize>, i: usize| async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        i
                    },
                    tx,
                )
                .await
            })
        };
        let mut received = 0;
        while rx.recv().await.is_some() {
            received += 1;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            let ahead = started.load(Ordering::SeqCst) - received;
            assert!(ahead <= LIMIT + AHEAD, "{ahead} read ahead of the consumer");
        }
        assert_eq!(received, 40);
        producer.await.expect("no panic");
    }

    #[tokio::test]
    async fn a_panicking_reader_is_raised_to_the_caller() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let producer = tokio::spawn(async move {
            send_each_bounded(
                &(),
                2,
                "test",
                vec![1, 2, 3],
                |(), i: u32| async move {
                    assert!(i != 2, "host 2 cannot be read");
                    i
                },
                tx,
            )
            .await
        });
        let mut got = Vec::new();
        while let Some(i) = rx.recv().await {
            got.push(i);
        }
        got.sort_unstable();
        assert_eq!(got, vec![1, 3]);
        assert!(producer.await.is_err_and(|e| e.is_panic()));
    }
}

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

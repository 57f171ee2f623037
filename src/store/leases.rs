//! Writer leases (migration 0004): one writer per tenant and platform, across processes.
//!
//! Why it is shaped like this:
//! - **Taken atomically.** One upsert takes the row when it is free, expired, or already ours;
//!   a second process gets no row back and is told who holds it and until when.
//! - **Renewed while held, expiring when the holder dies.** A held lease is renewed every third
//!   of its time to live by a task of the holding process; a process killed with SIGKILL stops
//!   renewing, and its lease can be taken [`LEASE_TTL`] after its last renewal.
//! - **Shared inside a process.** The clones of one [`Store`] are one holder: the schedule and the
//!   webhook workers of `serve` share the lease (counted), and the last one to finish releases it.
//!   Two `Store::connect` calls are two holders, even in one process (as two processes would be).
//!
//! ASSUMPTION: the clocks of the machines sharing a store agree to within a few seconds; the
//! lease's expiry is written and compared in each process's own UTC clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::codec::Ts;
use super::sql::{col, db};
use super::{Store, StoreError};
use crate::session::PlatformKind;

/// How long a lease holds without renewal: how long a dead holder blocks the next writer.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// Who holds a lease, and until when (unless renewed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

/// The leases one store (and its clones) holds: a count of users per lease and the task that
/// renews it.
#[derive(Default)]
pub(crate) struct Held {
    map: tokio::sync::Mutex<HashMap<(String, PlatformKind), Entry>>,
}

struct Entry {
    users: usize,
    renew: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

/// A held lease. Release it with [`Lease::release`]; dropping it releases it in the background.
#[must_use = "the lease is released when dropped"]
pub struct Lease {
    store: Store,
    tenant: String,
    platform: PlatformKind,
    lost: Arc<AtomicBool>,
    released: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("tenant", &self.tenant)
            .field("platform", &self.platform)
            .field("holder", &self.store.holder())
            .finish()
    }
}

impl Lease {
    /// True when a renewal found the lease taken by another process (this one stalled for longer
    /// than its time to live): this process should stop writing. ASSUMPTION: a stall longer than
    /// the lease (60 s) does not happen in practice; a run in flight is not stopped by it, only
    /// logged as an error.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Gives the lease up (when this was its last user in the process), so the next writer may
    /// start at once.
    pub async fn release(mut self) {
        self.released = true;
        let store = self.store.clone();
        release(&store, &self.tenant, self.platform).await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (store, tenant, platform) = (self.store.clone(), self.tenant.clone(), self.platform);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { release(&store, &tenant, platform).await });
        }
    }
}

async fn release(store: &Store, tenant: &str, platform: PlatformKind) {
    let mut map = store.leases.map.lock().await;
    let key = (tenant.to_string(), platform);
    let last = match map.get_mut(&key) {
        Some(entry) => {
            entry.users = entry.users.saturating_sub(1);
            entry.users == 0
        }
        None => false,
    };
    if !last {
        return;
    }
    if let Some(entry) = map.remove(&key) {
        entry.renew.abort();
    }
    if let Err(e) = store.give_up_lease(tenant, platform, store.holder()).await {
        tracing::warn!(tenant, platform = %platform, error = %e, "could not release the writer lease; it expires on its own");
    }
}

impl Store {
    /// Takes the writer lease of `tenant`'s `platform` for this store, renewed in the background
    /// until released. [`StoreError::LeaseHeld`] names the other holder when it is taken.
    pub async fn take_lease(
        &self,
        tenant: &str,
        platform: PlatformKind,
    ) -> Result<Lease, StoreError> {
        let mut map = self.leases.map.lock().await;
        let key = (tenant.to_string(), platform);
        if let Some(entry) = map.get_mut(&key)
            && !entry.lost.load(Ordering::SeqCst)
        {
            entry.users += 1;
            return Ok(self.lease(tenant, platform, entry.lost.clone()));
        }
        if let Some(old) = map.remove(&key) {
            old.renew.abort();
        }
        let mut taken = self
            .take_lease_as(tenant, platform, self.holder(), Utc::now(), LEASE_TTL)
            .await?;
        if let Err(other) = &taken
            && holder_is_dead(&other.holder)
            && self
                .steal_lease(tenant, platform, &other.holder, Utc::now(), LEASE_TTL)
                .await?
        {
            tracing::warn!(tenant, platform = %platform, previous = %other.holder, "took over the writer lease of a chaperone process on this machine that is no longer running");
            taken = Ok(());
        }
        match taken {
            Ok(()) => {}
            Err(other) => {
                return Err(StoreError::LeaseHeld {
                    tenant: tenant.to_string(),
                    platform: platform.name().to_string(),
                    holder: other.holder,
                    until: other.expires_at,
                });
            }
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renew = tokio::spawn(renew(
            self.clone(),
            tenant.to_string(),
            platform,
            lost.clone(),
        ));
        map.insert(
            key,
            Entry {
                users: 1,
                renew,
                lost: lost.clone(),
            },
        );
        Ok(self.lease(tenant, platform, lost))
    }

    /// [`Store::take_lease`], waiting for the holder to finish (or die) when it is taken;
    /// `on_wait` is told who holds it each time this waits.
    pub async fn wait_for_lease(
        &self,
        tenant: &str,
        platform: PlatformKind,
        poll: Duration,
        mut on_wait: impl FnMut(&LeaseHolder),
    ) -> Result<Lease, StoreError> {
        loop {
            match self.take_lease(tenant, platform).await {
                Err(StoreError::LeaseHeld { holder, until, .. }) => {
                    on_wait(&LeaseHolder {
                        holder,
                        expires_at: until,
                    });
                    tokio::time::sleep(poll).await;
                }
                other => return other,
            }
        }
    }

    fn lease(&self, tenant: &str, platform: PlatformKind, lost: Arc<AtomicBool>) -> Lease {
        Lease {
            store: self.clone(),
            tenant: tenant.to_string(),
            platform,
            lost,
            released: false,
        }
    }

    /// The low-level take: `holder` gets the lease until `now + ttl` when it is free, expired at
    /// `now`, or already `holder`'s; otherwise the current holder is returned. No renewal.
    pub async fn take_lease_as(
        &self,
        tenant: &str,
        platform: PlatformKind,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Result<(), LeaseHolder>, StoreError> {
        const ACTION: &str = "taking the writer lease";
        let until = Ts::new(now + chrono::Duration::from_std(ttl).unwrap_or_default());
        let at = Ts::new(now);
        // A lease released between the refused take and the read of its holder: try again.
        for _ in 0..3 {
            let taken = on_backend!(self, |pool, _d| {
                sqlx::query(
                    "INSERT INTO leases (tenant, platform, holder, acquired_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (tenant, platform) DO UPDATE SET holder = excluded.holder, \
                       acquired_at = CASE WHEN leases.holder = excluded.holder \
                         THEN leases.acquired_at ELSE excluded.acquired_at END, \
                       expires_at = excluded.expires_at \
                     WHERE leases.expires_at <= excluded.acquired_at \
                        OR leases.holder = excluded.holder \
                     RETURNING holder",
                )
                .bind(tenant)
                .bind(platform.name())
                .bind(holder)
                .bind(at)
                .bind(until)
                .fetch_optional(pool)
                .await
                .map_err(db(ACTION))?
                .is_some()
            });
            if taken {
                return Ok(Ok(()));
            }
            if let Some(current) = self.lease_holder(tenant, platform).await? {
                return Ok(Err(current));
            }
        }
        Err(StoreError::Corrupt {
            what: "writer lease".into(),
            detail: "the lease was neither free nor held after three attempts".into(),
        })
    }

    /// Gives `dead`'s lease to this store until `now + ttl`, if `dead` still holds it.
    async fn steal_lease(
        &self,
        tenant: &str,
        platform: PlatformKind,
        dead: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        const ACTION: &str = "taking over the writer lease";
        let until = Ts::new(now + chrono::Duration::from_std(ttl).unwrap_or_default());
        let n = on_backend!(self, |pool, _d| {
            sqlx::query(
                "UPDATE leases SET holder = $4, acquired_at = $5, expires_at = $6 \
                 WHERE tenant = $1 AND platform = $2 AND holder = $3",
            )
            .bind(tenant)
            .bind(platform.name())
            .bind(dead)
            .bind(self.holder())
            .bind(Ts::new(now))
            .bind(until)
            .execute(pool)
            .await
            .map_err(db(ACTION))?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Who holds the writer lease of `tenant`'s `platform`, if anyone (it may have expired).
    pub async fn lease_holder(
        &self,
        tenant: &str,
        platform: PlatformKind,
    ) -> Result<Option<LeaseHolder>, StoreError> {
        const ACTION: &str = "reading the writer lease";
        on_backend!(self, |pool, _d| {
            let row = sqlx::query(
                "SELECT holder, expires_at FROM leases WHERE tenant = $1 AND platform = $2",
            )
            .bind(tenant)
            .bind(platform.name())
            .fetch_optional(pool)
            .await
            .map_err(db(ACTION))?;
            match row {
                Some(r) => Ok(Some(LeaseHolder {
                    holder: col(&r, "holder")?,
                    expires_at: col::<_, Ts>(&r, "expires_at")?.get(),
                })),
                None => Ok(None),
            }
        })
    }

    /// Extends `holder`'s lease to `now + ttl`; false when it is no longer `holder`'s.
    pub async fn renew_lease_as(
        &self,
        tenant: &str,
        platform: PlatformKind,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        const ACTION: &str = "renewing the writer lease";
        let until = Ts::new(now + chrono::Duration::from_std(ttl).unwrap_or_default());
        let n = on_backend!(self, |pool, _d| {
            sqlx::query(
                "UPDATE leases SET expires_at = $4 \
                 WHERE tenant = $1 AND platform = $2 AND holder = $3",
            )
            .bind(tenant)
            .bind(platform.name())
            .bind(holder)
            .bind(until)
            .execute(pool)
            .await
            .map_err(db(ACTION))?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Deletes `holder`'s lease, so the next writer starts at once.
    async fn give_up_lease(
        &self,
        tenant: &str,
        platform: PlatformKind,
        holder: &str,
    ) -> Result<(), StoreError> {
        const ACTION: &str = "releasing the writer lease";
        on_backend!(self, |pool, _d| {
            sqlx::query("DELETE FROM leases WHERE tenant = $1 AND platform = $2 AND holder = $3")
                .bind(tenant)
                .bind(platform.name())
                .bind(holder)
                .execute(pool)
                .await
                .map_err(db(ACTION))?;
        });
        Ok(())
    }
}

/// Whether `holder` (`hostname:pid:random`) names a process on this machine that is no longer
/// running, so its lease can be taken at once instead of after it expires. Only where `/proc`
/// can tell (Linux); a pid reused by another process only means waiting for the expiry.
pub(crate) fn holder_is_dead(holder: &str) -> bool {
    let mut parts = holder.rsplitn(3, ':');
    let (Some(_random), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    let ours = super::new_holder();
    let our_host = ours.rsplitn(3, ':').nth(2).unwrap_or_default();
    host == our_host
        && pid != std::process::id()
        && std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Renews a held lease every third of its time to live until aborted; marks it lost when
/// another process has taken it.
async fn renew(store: Store, tenant: String, platform: PlatformKind, lost: Arc<AtomicBool>) {
    let every = LEASE_TTL / 3;
    loop {
        tokio::time::sleep(every).await;
        match store
            .renew_lease_as(&tenant, platform, store.holder(), Utc::now(), LEASE_TTL)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(tenant = %tenant, platform = %platform, "the writer lease was taken by another process (this one stalled for longer than the lease): both may now write this platform; stop this process and let the other finish");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant, platform = %platform, error = %e, "could not renew the writer lease; trying again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_holder_on_this_machine_whose_process_is_gone_is_dead() {
        let ours = super::super::new_holder();
        let host = ours.rsplitn(3, ':').nth(2).unwrap_or_default().to_string();
        // This process is alive.
        assert!(!holder_is_dead(&format!(
            "{host}:{}:abc",
            std::process::id()
        )));
        // No process has this pid (above Linux's largest pid_max).
        let gone = format!("{host}:4294967:abc");
        assert_eq!(
            holder_is_dead(&gone),
            std::path::Path::new("/proc/self").exists()
        );
        // Another machine's process cannot be judged from here; nor can a malformed name.
        assert!(!holder_is_dead("another-machine:4294967:abc"));
        assert!(!holder_is_dead("not-a-holder"));
        assert!(!holder_is_dead(&format!("{host}:pid:abc")));
    }
}

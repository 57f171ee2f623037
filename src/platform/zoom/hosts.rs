//! A host's settings and locks as one [`HostContext`], and the cache that keeps them between a
//! write and its read-back: settings are shared by all the host's sessions, so reading them once
//! per host instead of once per session is most of a sweep's MEDIUM budget.

use std::time::{Duration, Instant};

use super::Inner;
use super::map::{GroupLocks, HostContext};
use super::models::{Group, LockSettings, PasswordRequirement};
use crate::platform::PlatformError;

/// How long host settings read by chaperone are trusted without reading them again, at least.
pub(super) const HOST_CACHE_TTL: Duration = Duration::from_secs(300);

/// `base` plus up to as much again, spread by host id: hosts read together by a sweep do not all
/// expire in the same second, which would queue every host's re-read behind Zoom's MEDIUM limit
/// and hold up the webhooks waiting on them.
fn host_cache_ttl(base: Duration, host_id: &str) -> Duration {
    let spread = host_id
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % base.as_secs().max(1);
    base + Duration::from_secs(spread)
}

impl Inner {
    /// Host settings and security settings, read together.
    pub(super) async fn host_context(
        &self,
        user_id: &str,
        groups: Vec<GroupLocks>,
        account_locks: Result<LockSettings, String>,
    ) -> HostContext {
        let (settings, security) =
            tokio::join!(self.user_settings(user_id), self.security_settings(user_id));
        HostContext {
            settings: settings.map_err(|e| e.to_string()),
            security: security.map_err(|e| e.to_string()),
            groups,
            account_locks,
        }
    }

    /// The host's groups with fresh lock settings, for a read-back.
    async fn fresh_groups(&self, host_id: &str) -> Vec<GroupLocks> {
        let groups = match self.known_groups(host_id) {
            Some(g) => g,
            None => match self.lookup_groups(host_id).await {
                Ok(g) => g,
                Err(e) => {
                    return vec![(
                        Group {
                            id: String::new(),
                            name: "(the host's groups)".into(),
                        },
                        Err(e.to_string()),
                    )];
                }
            },
        };
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let locks = self.group_locks(&g.id).await.map_err(|e| e.to_string());
            out.push((g, locks));
        }
        out
    }

    /// The host's settings and locks: cached when recent, else read (and cached).
    pub(super) async fn host_context_of(&self, host_id: &str) -> HostContext {
        if let Some(ctx) = self.cached_host(host_id) {
            return ctx;
        }
        let (groups, account) = tokio::join!(self.fresh_groups(host_id), self.account_locks());
        let ctx = self
            .host_context(host_id, groups, account.map_err(|e| e.to_string()))
            .await;
        self.remember_host(host_id, &ctx);
        ctx
    }

    /// The host's settings and locks from the cache, when read within [`HOST_CACHE_TTL`] and
    /// fully readable.
    fn cached_host(&self, host_id: &str) -> Option<HostContext> {
        let cache = self.host_cache.lock().ok()?;
        let (at, ctx) = cache.get(host_id)?;
        (at.elapsed() < host_cache_ttl(self.host_cache_base, host_id)).then(|| ctx.clone())
    }

    /// Remembers a host's settings and locks, when every part of them was read.
    pub(super) fn remember_host(&self, host_id: &str, ctx: &HostContext) {
        let complete = ctx.settings.is_ok()
            && ctx.security.is_ok()
            && ctx.account_locks.is_ok()
            && ctx.groups.iter().all(|(_, l)| l.is_ok());
        if let Ok(mut cache) = self.host_cache.lock() {
            if complete {
                cache.insert(host_id.to_string(), (Instant::now(), ctx.clone()));
            } else {
                cache.remove(host_id);
            }
        }
    }

    /// Forgets a host's settings after chaperone wrote them, so the read-back reads them again.
    pub(super) fn forget_host(&self, host_id: &str) {
        if let Ok(mut cache) = self.host_cache.lock() {
            cache.remove(host_id);
        }
    }

    /// The passcode rules of the host: `meeting_security.meeting_password_requirement`, else
    /// `schedule_meeting.meeting_password_requirement` (zoom.md §2.1 row 1a), else none.
    pub(super) async fn passcode_rules(
        &self,
        host_id: &str,
    ) -> Result<PasswordRequirement, PlatformError> {
        if let Some(r) = self
            .cached_host(host_id)
            .and_then(|c| c.security.ok())
            .and_then(|s| s.meeting_security.meeting_password_requirement)
        {
            return Ok(r);
        }
        let security = self.security_settings(host_id).await?;
        if let Some(r) = security.meeting_security.meeting_password_requirement {
            return Ok(r);
        }
        let settings = self.user_settings(host_id).await?;
        Ok(settings
            .schedule_meeting
            .meeting_password_requirement
            .unwrap_or_default())
    }
}

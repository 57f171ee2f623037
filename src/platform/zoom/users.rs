//! The users resource: the user and group lists, one user, a user's settings and security
//! settings, group and account lock settings, the host-settings PATCH, and the directory cache
//! that lets a single-session read (a webhook) skip the lists.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::http::Label;
use super::models::{
    Group, GroupList, LockSettings, SecuritySettings, User, UserList, UserSettings,
};
use super::pages::PAGE_SIZE;
use super::{Inner, segment};
use crate::platform::PlatformError;
use crate::session::Host;

/// Group ids of hosts and names of groups seen in the last collect, so a read-back does not need
/// the user and group lists again.
#[derive(Default)]
pub(super) struct Directory {
    host_groups: HashMap<String, Vec<String>>,
    group_names: HashMap<String, String>,
    /// Active users by id, from the last full user list.
    users: HashMap<String, User>,
    /// When the user and group lists were last read in full.
    listed_at: Option<Instant>,
}

/// How long the user and group lists are trusted for a single-session read (a webhook) before
/// they are read again. A sweep always reads them afresh.
const DIRECTORY_TTL: Duration = Duration::from_secs(600);

/// The group `id`, named from `names`.
// ASSUMPTION: a group id missing from `GET /groups` is shown as its id.
pub(super) fn named_group(id: &str, names: &HashMap<String, String>) -> Group {
    Group {
        id: id.to_string(),
        name: names.get(id).cloned().unwrap_or_else(|| id.to_string()),
    }
}

/// Every user, lower-cased email → group names: the engine's "is this alternative host staff?".
pub(super) fn directory_of(
    users: &[User],
    group_names: &HashMap<String, String>,
) -> crate::platform::Directory {
    users
        .iter()
        .map(|u| {
            (
                u.email.to_lowercase(),
                Inner::host_of(u, group_names).groups,
            )
        })
        .collect()
}

impl Inner {
    /// `GET /groups` → id → name (users.openapi.json `paths./groups.get`, MEDIUM).
    pub(super) async fn groups(&self) -> Result<HashMap<String, String>, PlatformError> {
        let pages = self
            .pages("/groups", &[("page_size", PAGE_SIZE)], |p: &GroupList| {
                p.next_page_token.clone()
            })
            .await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.groups)
            .map(|g| (g.id, g.name))
            .collect())
    }

    /// `GET /users?status=active` (users.openapi.json `paths./users.get`, MEDIUM).
    pub(super) async fn users(&self) -> Result<Vec<User>, PlatformError> {
        let pages = self
            .pages(
                "/users",
                &[("status", "active"), ("page_size", PAGE_SIZE)],
                |p: &UserList| p.next_page_token.clone(),
            )
            .await?;
        Ok(pages.into_iter().flat_map(|p| p.users).collect())
    }

    /// `GET /users/{userId}` (LIGHT, zoom.md §5): one user with its `group_ids`, for a host not
    /// in the last list.
    pub(super) async fn user(&self, user_id: &str) -> Result<User, PlatformError> {
        self.http
            .get(
                Label::Light,
                format!("/users/{}", segment(user_id)),
                Vec::new(),
            )
            .await
    }

    /// `GET /users/{userId}/settings` (MEDIUM).
    pub(super) async fn user_settings(&self, user_id: &str) -> Result<UserSettings, PlatformError> {
        let path = format!("/users/{}/settings", segment(user_id));
        self.http.get(Label::Medium, path, Vec::new()).await
    }

    /// `GET /users/{userId}/settings?option=meeting_security` (MEDIUM).
    pub(super) async fn security_settings(
        &self,
        user_id: &str,
    ) -> Result<SecuritySettings, PlatformError> {
        let path = format!("/users/{}/settings", segment(user_id));
        self.http
            .get(
                Label::Medium,
                path,
                vec![("option", "meeting_security".into())],
            )
            .await
    }

    /// `PATCH /users/{userId}/settings` → 204 (users.openapi.json, MEDIUM), writing `controls`.
    pub(super) async fn patch_user_settings(
        &self,
        user_id: &str,
        body: &serde_json::Value,
        controls: &[&str],
    ) -> Result<(), PlatformError> {
        let span = tracing::info_span!("zoom.patch_host", control = %controls.join(","));
        self.http
            .patch(
                Label::Medium,
                format!("/users/{}/settings", segment(user_id)),
                body,
                None,
            )
            .instrument(span)
            .await
    }

    /// `GET /groups/{groupId}/lock_settings` (MEDIUM).
    pub(super) async fn group_locks(&self, group_id: &str) -> Result<LockSettings, PlatformError> {
        let path = format!("/groups/{}/lock_settings", segment(group_id));
        self.http.get(Label::Medium, path, Vec::new()).await
    }

    /// `GET /accounts/me/lock_settings` (accounts.openapi.json, MEDIUM; `me` = own account,
    /// zoom.md §2).
    pub(super) async fn account_locks(&self) -> Result<LockSettings, PlatformError> {
        self.http
            .get(
                Label::Medium,
                "/accounts/me/lock_settings".into(),
                Vec::new(),
            )
            .await
    }

    /// The neutral host of a Zoom user, its groups named from `group_names`.
    pub(super) fn host_of(user: &User, group_names: &HashMap<String, String>) -> Host {
        Host {
            id: user.id.clone(),
            email: user.email.clone(),
            name: user.name(),
            groups: user
                .group_ids
                .iter()
                .map(|g| named_group(g, group_names).name)
                .collect(),
        }
    }

    /// The host's groups as last listed, if the host was in the last list.
    pub(super) fn known_groups(&self, host_id: &str) -> Option<Vec<Group>> {
        self.directory.lock().ok().and_then(|d| {
            d.host_groups.get(host_id).map(|ids| {
                ids.iter()
                    .map(|id| named_group(id, &d.group_names))
                    .collect::<Vec<_>>()
            })
        })
    }

    /// `GET /users/{userId}` (LIGHT, zoom.md §5) for `group_ids`, and `GET /groups` for names.
    pub(super) async fn lookup_groups(&self, host_id: &str) -> Result<Vec<Group>, PlatformError> {
        let user = self.user(host_id).await?;
        let names = if user.group_ids.is_empty() {
            HashMap::new()
        } else {
            self.groups().await?
        };
        if let Ok(mut d) = self.directory.lock() {
            d.host_groups
                .insert(host_id.to_string(), user.group_ids.clone());
            d.group_names.extend(names.clone());
        }
        Ok(user
            .group_ids
            .iter()
            .map(|id| named_group(id, &names))
            .collect())
    }

    /// Keeps the user and group lists of a full read for later single-session reads.
    pub(super) fn remember_directory(&self, group_names: &HashMap<String, String>, users: &[User]) {
        if let Ok(mut d) = self.directory.lock() {
            d.group_names = group_names.clone();
            d.host_groups = users
                .iter()
                .map(|u| (u.id.clone(), u.group_ids.clone()))
                .collect();
            d.users = users.iter().map(|u| (u.id.clone(), u.clone())).collect();
            d.listed_at = Some(Instant::now());
        }
    }

    /// The user and group lists, from the last full read when recent enough, else read again.
    pub(super) async fn listed_directory(
        &self,
    ) -> Result<(HashMap<String, String>, Vec<User>), PlatformError> {
        if let Ok(d) = self.directory.lock()
            && d.listed_at.is_some_and(|at| at.elapsed() < DIRECTORY_TTL)
        {
            return Ok((d.group_names.clone(), d.users.values().cloned().collect()));
        }
        let group_names = self.groups().await?;
        let users = self.users().await?;
        self.remember_directory(&group_names, &users);
        Ok((group_names, users))
    }
}

//! The meetings resource: a host's list of upcoming meetings, one meeting, one occurrence, and
//! the meeting and occurrence PATCHes. Every 404 from Zoom on a meeting is turned into
//! [`PlatformError::NotFound`] here, in one place.

use tracing::Instrument;

use super::http::{self, Label};
use super::models::{Meeting, MeetingList, MeetingSummary};
use super::pages::PAGE_SIZE;
use super::{Inner, segment};
use crate::platform::PlatformError;
use crate::session::{PlatformKind, Session};

/// The id of the meeting's host as Zoom names it now, else the session's (an answer without
/// `host_id`).
pub(super) fn host_id_of(m: &Meeting, session: &Session) -> String {
    m.host_id
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| session.host.id.clone())
}

/// A 404 answer as [`PlatformError::NotFound`] naming `what`; any other result as it is.
fn or_not_found<T>(
    result: Result<T, PlatformError>,
    what: impl FnOnce() -> String,
) -> Result<T, PlatformError> {
    match result {
        Err(PlatformError::Api { status: 404, .. }) => Err(PlatformError::NotFound {
            platform: PlatformKind::Zoom,
            what: what(),
        }),
        other => other,
    }
}

impl Inner {
    /// `GET /users/{userId}/meetings?type=upcoming` (meetings.openapi.json, MEDIUM).
    pub(super) async fn meetings_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<MeetingSummary>, PlatformError> {
        let pages = self
            .pages(
                &format!("/users/{}/meetings", segment(user_id)),
                &[("type", "upcoming"), ("page_size", PAGE_SIZE)],
                |p: &MeetingList| p.next_page_token.clone(),
            )
            .await?;
        Ok(pages.into_iter().flat_map(|p| p.meetings).collect())
    }

    /// `GET /meetings/{meetingId}` (LIGHT). A 404 becomes `NotFound`.
    pub(super) async fn meeting(&self, id: u64) -> Result<Meeting, PlatformError> {
        let result = self
            .http
            .get(Label::Light, format!("/meetings/{id}"), Vec::new())
            .await;
        or_not_found(result, || format!("Zoom meeting {id}"))
    }

    /// `GET /meetings/{meetingId}?occurrence_id=` (LIGHT): one occurrence, with the settings it
    /// keeps on its own merged over the series' (meetings.openapi.json `occurrence_id`
    /// parameter). A 404 becomes `NotFound`.
    pub(super) async fn occurrence(
        &self,
        id: u64,
        occurrence_id: &str,
    ) -> Result<Meeting, PlatformError> {
        let result = self
            .http
            .get(
                Label::Light,
                format!("/meetings/{id}"),
                vec![("occurrence_id", occurrence_id.to_string())],
            )
            .await;
        or_not_found(result, || {
            format!("occurrence {occurrence_id} of Zoom meeting {id}")
        })
    }

    /// `PATCH /meetings/{meetingId}` (LIGHT) writing `controls`, counted against `shown_host`'s
    /// daily budget by Zoom. A 404 becomes `NotFound`.
    pub(super) async fn patch_meeting(
        &self,
        id: u64,
        body: &serde_json::Value,
        shown_host: &str,
        controls: &[&str],
    ) -> Result<(), PlatformError> {
        let span = tracing::info_span!("zoom.patch_meeting", control = %controls.join(","));
        let result = self
            .http
            .patch(
                Label::Light,
                format!("/meetings/{id}"),
                body,
                Some(shown_host),
            )
            .instrument(span)
            .await;
        or_not_found(result, || format!("Zoom meeting {id}"))
    }

    /// `PATCH /meetings/{meetingId}?occurrence_id=` (LIGHT): one occurrence's own settings,
    /// counted against `shown_host`'s daily budget by Zoom.
    pub(super) async fn patch_occurrence(
        &self,
        id: u64,
        occurrence_id: &str,
        body: &serde_json::Value,
        shown_host: &str,
    ) -> Result<(), PlatformError> {
        let span = tracing::info_span!("zoom.patch_occurrence", occurrence = %occurrence_id);
        self.http
            .send(http::Request {
                method: reqwest::Method::PATCH,
                label: Label::Light,
                path: format!("/meetings/{id}"),
                query: vec![("occurrence_id", occurrence_id.to_string())],
                body: Some(body),
                budget_host: Some(shown_host),
            })
            .instrument(span)
            .await
            .map(|_| ())
    }
}

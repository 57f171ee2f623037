//! Serde types for the Microsoft Graph v1.0 JSON chaperone reads. Property names and types follow
//! `shared/specs/teams/onlineMeeting-excerpt.v1.0.csdl.xml` (`onlineMeetingBase`, `onlineMeeting`,
//! `event`, `meetingParticipants`, `lobbyBypassSettings`, `joinMeetingIdSettings`, `subscription`).
//! Every property is optional: Graph omits what is unset, and "some older meetings may lack
//! `joinMeetingIdSettings`" (teams-webex-meet.md §1.2). Enumerations are kept as text so a value
//! added by Microsoft later is reported, not a decode failure of the whole meeting.

use serde::{Deserialize, Serialize};

/// One page of an OData collection (`value` + `@odata.nextLink`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// A directory object from `GET /groups/{id}/members` or `GET /users/{id}/memberOf`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DirectoryObject {
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
}

impl DirectoryObject {
    /// Whether this is a user (group members may also be groups, devices or service principals).
    pub(crate) fn is_user(&self) -> bool {
        self.odata_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("#microsoft.graph.user"))
    }

    /// Whether this is a group (`memberOf` also lists directory roles and administrative units).
    pub(crate) fn is_group(&self) -> bool {
        self.odata_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("#microsoft.graph.group"))
    }

    /// The address chaperone knows a person by: `mail`, else the UPN (lower-cased).
    pub(crate) fn email(&self) -> String {
        self.mail
            .as_deref()
            .filter(|m| !m.is_empty())
            .or(self.user_principal_name.as_deref())
            .unwrap_or_default()
            .to_lowercase()
    }
}

/// `dateTimeTimeZone`: a wall-clock time and the zone it is in (UTC unless the request sent
/// `Prefer: outlook.timezone`, teams-webex-meet.md "Corrections").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DateTimeTimeZone {
    #[serde(default)]
    pub date_time: String,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// `onlineMeetingInfo` on an event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OnlineMeetingInfo {
    #[serde(default)]
    pub join_url: Option<String>,
}

/// An `event` of `calendarView` (only the properties chaperone uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub start: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub end: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub is_online_meeting: Option<bool>,
    #[serde(default)]
    pub online_meeting_provider: Option<String>,
    #[serde(default)]
    pub online_meeting: Option<OnlineMeetingInfo>,
    #[serde(default)]
    pub is_organizer: Option<bool>,
    #[serde(default)]
    pub is_cancelled: Option<bool>,
    #[serde(default)]
    pub series_master_id: Option<String>,
}

/// `lobbyBypassSettings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LobbyBypassSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_dial_in_bypass_enabled: Option<bool>,
}

/// `joinMeetingIdSettings` (read only after creation).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JoinMeetingIdSettings {
    #[serde(default)]
    pub is_passcode_required: Option<bool>,
}

/// `meetingParticipants`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct MeetingParticipants {
    /// Kept as raw JSON: a PATCH of attendees must send every existing attendee back as it was
    /// read (teams-webex-meet.md §1.2: "Copy the attendee objects from the GET response").
    #[serde(default)]
    pub attendees: Vec<serde_json::Value>,
}

/// An `onlineMeeting` (only the properties chaperone reads; the rest is ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OnlineMeeting {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub join_web_url: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub end_date_time: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub lobby_bypass_settings: Option<LobbyBypassSettings>,
    #[serde(default)]
    pub allowed_lobby_admitters: Option<String>,
    #[serde(default)]
    pub allowed_presenters: Option<String>,
    #[serde(default)]
    pub allow_meeting_chat: Option<String>,
    #[serde(default)]
    pub record_automatically: Option<bool>,
    /// Whether recording can be started in the meeting (CSDL `allowRecording`, `Edm.Boolean`).
    #[serde(default)]
    pub allow_recording: Option<bool>,
    /// Whether the meeting can be transcribed (CSDL `allowTranscription`, `Edm.Boolean`).
    #[serde(default)]
    pub allow_transcription: Option<bool>,
    #[serde(default)]
    pub join_meeting_id_settings: Option<JoinMeetingIdSettings>,
    #[serde(default)]
    pub participants: Option<MeetingParticipants>,
}

/// The token endpoint's answer (client credentials: no refresh token).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// The token endpoint's error answer (OAuth 2.0 `error` + Entra's `error_description`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenError {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Graph's error body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct GraphErrorBody {
    #[serde(default)]
    pub error: GraphError,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct GraphError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// A `subscription` as Graph returns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Subscription {
    pub id: String,
    #[serde(default)]
    pub resource: String,
    pub expiration_date_time: chrono::DateTime<chrono::Utc>,
}

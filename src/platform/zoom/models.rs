//! Serde types for the parts of Zoom's JSON that chaperone reads.
//!
//! Only the fields the safeguarding controls need are modelled (zoom.md §9 item 11: the settings
//! surface is large and moves). Every struct is `#[serde(default)]` and unknown fields are ignored,
//! so a new Zoom field or a missing optional one never breaks a sweep. Fields whose absence would
//! change a safeguarding reading are `Option`, so the mapper can tell "not sent" from "false" and
//! report an error instead of inventing a value.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// `POST /oauth/token` answer (zoom.md §4.1: `{access_token, token_type, expires_in, scope}`).
/// Deliberately no `Debug`: it holds the access token.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    /// Seconds; Zoom documents 3600 (zoom.md §4.1). ASSUMPTION: a missing value means 3600.
    pub expires_in: Option<u64>,
}

/// The OAuth endpoint's error body. ASSUMPTION: Zoom answers `{"reason": "...", "error": "..."}`
/// (seen in public client code; the OAuth endpoint is not in the REST specs).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct TokenError {
    pub reason: Option<String>,
    pub error: Option<String>,
}

/// Zoom's REST error body `{code, message}`: the error codes listed in every operation's 4xx
/// responses (e.g. meetings.openapi.json `paths./meetings/{meetingId}.get.responses.404`: 3001).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct ApiError {
    pub code: Option<i64>,
    pub message: Option<String>,
}

/// `GET /groups` (users.openapi.json `paths./groups.get`, paginated, page_size ≤ 300).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct GroupList {
    pub groups: Vec<Group>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct Group {
    pub id: String,
    pub name: String,
}

/// `GET /users` (users.openapi.json `paths./users.get`).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct UserList {
    pub users: Vec<User>,
    pub next_page_token: Option<String>,
}

/// A user from `GET /users` or `GET /users/{userId}`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct User {
    pub id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub group_ids: Vec<String>,
}

impl User {
    /// A display name for notifications: `display_name`, else first + last, else the email.
    pub fn name(&self) -> String {
        if let Some(d) = self
            .display_name
            .as_deref()
            .filter(|d| !d.trim().is_empty())
        {
            return d.trim().to_string();
        }
        let full = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if full.is_empty() {
            self.email.clone()
        } else {
            full
        }
    }
}

/// `GET /users/{userId}/meetings` (meetings.openapi.json `paths./users/{userId}/meetings.get`).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct MeetingList {
    pub meetings: Vec<MeetingSummary>,
    pub next_page_token: Option<String>,
}

/// A list item: only `uuid, id, host_id, topic, type, start_time, duration, timezone, agenda,
/// created_at, join_url, pmi` (zoom.md §3.2). `id` is int64 in the spec: kept as `u64`, never
/// `f64`, because ids above 2^53 exist (zoom.md §9 item 9).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct MeetingSummary {
    pub id: u64,
    pub topic: String,
    #[serde(rename = "type")]
    pub kind: Option<u8>,
    pub start_time: Option<DateTime<Utc>>,
    pub duration: Option<u32>,
    pub timezone: Option<String>,
    pub join_url: Option<String>,
}

/// `GET /meetings/{meetingId}` (meetings.openapi.json `paths./meetings/{meetingId}.get`, 200).
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct Meeting {
    pub id: u64,
    pub host_id: Option<String>,
    pub host_email: Option<String>,
    pub topic: String,
    #[serde(rename = "type")]
    pub kind: Option<u8>,
    pub start_time: Option<DateTime<Utc>>,
    pub duration: Option<u32>,
    pub timezone: Option<String>,
    /// The passcode itself. Never logged.
    pub password: Option<String>,
    /// `waiting|started` (spec enum).
    pub status: Option<String>,
    pub join_url: Option<String>,
    pub occurrences: Vec<MeetingOccurrence>,
    pub tracking_fields: Vec<TrackingField>,
    pub settings: MeetingSettings,
}

/// Hand-written so the passcode never reaches a log line through `{:?}`.
impl std::fmt::Debug for Meeting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meeting")
            .field("id", &self.id)
            .field("host_id", &self.host_id)
            .field("topic", &self.topic)
            .field("kind", &self.kind)
            .field("start_time", &self.start_time)
            .field(
                "password",
                &if self.password.as_deref().is_some_and(|p| !p.is_empty()) {
                    "[set]"
                } else {
                    "[none]"
                },
            )
            .field("status", &self.status)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// `occurrences[]`: `{occurrence_id, start_time, duration, status: available|deleted}` (zoom.md §3.4).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct MeetingOccurrence {
    pub occurrence_id: String,
    pub start_time: Option<DateTime<Utc>>,
    pub duration: Option<u32>,
    pub status: Option<String>,
}

/// `tracking_fields[]`: `{field, value, visible}`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct TrackingField {
    pub field: String,
    pub value: String,
}

/// The meeting's `settings` object: the per-meeting controls (zoom.md §0 item 1, §2.1 rows 4, 6, 7, 8).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct MeetingSettings {
    pub waiting_room: Option<bool>,
    pub waiting_room_options: Option<WaitingRoomOptions>,
    pub join_before_host: Option<bool>,
    /// `local|cloud|none`.
    pub auto_recording: Option<String>,
    /// Semicolon-separated emails or user ids.
    pub alternative_hosts: Option<String>,
}

/// `settings.waiting_room_options{mode: follow_setting|custom, who_goes_to_waiting_room}`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct WaitingRoomOptions {
    pub mode: Option<String>,
    pub who_goes_to_waiting_room: Option<String>,
}

/// `GET /users/{userId}/settings` without `option` (users.openapi.json, `oneOf[0]` "User settings").
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct UserSettings {
    pub in_meeting: InMeeting,
    pub recording: Recording,
    pub schedule_meeting: ScheduleMeeting,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct InMeeting {
    pub screen_sharing: Option<bool>,
    /// `host|all`.
    pub who_can_share_screen: Option<String>,
    pub file_transfer: Option<bool>,
    pub auto_saving_chat: Option<bool>,
    pub private_chat: Option<bool>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct Recording {
    pub local_recording: Option<bool>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct ScheduleMeeting {
    pub meeting_password_requirement: Option<PasswordRequirement>,
}

/// `GET /users/{userId}/settings?option=meeting_security` (users.openapi.json `oneOf[3]`).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct SecuritySettings {
    pub meeting_security: MeetingSecurity,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct MeetingSecurity {
    pub waiting_room: Option<bool>,
    pub waiting_room_settings: Option<WaitingRoomSettings>,
    pub meeting_password_requirement: Option<PasswordRequirement>,
}

/// `waiting_room_settings.participants_to_place_in_waiting_room`: 0 all, 1 not in account,
/// 2 not in account and not in allowed domains (users.openapi.json, description of the field).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct WaitingRoomSettings {
    pub participants_to_place_in_waiting_room: Option<u8>,
}

/// `meeting_password_requirement` (users.openapi.json `meeting_security.meeting_password_requirement`).
#[derive(Debug, Deserialize, Default, Clone, PartialEq, Eq)]
#[serde(default)]
pub struct PasswordRequirement {
    /// The minimum passcode length.
    pub length: Option<u32>,
    pub have_letter: bool,
    pub have_number: bool,
    pub have_special_character: bool,
    pub only_allow_numeric: bool,
    pub have_upper_and_lower_characters: bool,
    /// `0` none, `4..8`: at most `n - 1` consecutive characters (spec description).
    pub consecutive_characters_length: u32,
    pub weak_enhance_detection: bool,
}

/// `GET /groups/{groupId}/lock_settings` and `GET /accounts/{accountId}/lock_settings`: the same
/// tree as settings, but every leaf is a boolean meaning "locked" (zoom.md §2).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct LockSettings {
    pub in_meeting: InMeetingLocks,
    pub recording: RecordingLocks,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct InMeetingLocks {
    /// Locks the whole screen-sharing setting including `who_can_share_screen` (zoom.md §2).
    pub screen_sharing: bool,
    pub file_transfer: bool,
    pub auto_saving_chat: bool,
    pub private_chat: bool,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct RecordingLocks {
    pub local_recording: bool,
}

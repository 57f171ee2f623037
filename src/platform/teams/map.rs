//! Graph JSON → neutral readings, and neutral changes → one `onlineMeeting` PATCH body. Pure
//! functions: no I/O, so every rule is unit-tested on CSDL-shaped fixtures.
//!
//! Field meanings: teams-webex-meet.md §1.2 (per-meeting controls, update rules) and the enum
//! members in `specs/teams/onlineMeeting-excerpt.v1.0.csdl.xml`. Every Teams control lives on the
//! meeting (`Scope::Session`); Teams has no host-level setting reachable through Graph (meeting
//! policies are PowerShell only, §1.3).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use super::models::{DateTimeTimeZone, Event, OnlineMeeting};
use crate::control::{Control, Level, Scope};
use crate::platform::{Change, Target};
use crate::session::{Host, Lock, Occurrence, PlatformKind, Reading, Session};

/// Why the passcode is read but never written (teams-webex-meet.md §1.2: `joinMeetingIdSettings`
/// "cannot be modified once the meeting is created").
pub(crate) const PASSCODE_FIXED: &str = "Teams sets a meeting's passcode requirement only when the meeting is created (Graph cannot change joinMeetingIdSettings afterwards): the organizer must cancel this meeting and schedule a new one with a passcode (Teams admin: meeting policy or Meeting options → \"Require a passcode\")";

const JOIN_BEFORE_HOST: &str = "Teams has no join-before-host setting per meeting (teams-webex-meet.md §1.2). With the lobby set so that only the organizer bypasses it (waiting-room = everyone), nobody is in the meeting before staff admit them; also set the tenant meeting policy AllowAnonymousUsersToStartMeeting to False.";
const FILE_TRANSFER: &str = "Teams has no per-meeting file-transfer setting in Graph (teams-webex-meet.md §1.2); files shared in meeting chat are governed by Teams and SharePoint/OneDrive policies. Check the tenant's Teams messaging and sharing policies by hand.";
const REJOIN: &str = "Teams has no setting that stops a removed participant rejoining (teams-webex-meet.md §1.2); the lobby is the mitigation: with waiting-room = everyone, a removed person who rejoins waits to be admitted again.";
const PRIVATE_CHAT: &str = "Teams has no per-meeting setting for private chat between participants; people in the same organisation can always chat in Teams. Govern it with the Teams messaging policy for young people's accounts.";
const ATTENDANCE: &str = "Graph v1.0 has no per-meeting switch for attendance reports (teams-webex-meet.md §1.2); set the tenant meeting policy AllowEngagementReport to ForceEnabled. Reports can then be read from the meeting's attendanceReports.";
const NO_PASSCODE_FIELD: &str = "this meeting has no joinMeetingIdSettings (older Teams meetings lack it, teams-webex-meet.md §1.2), so whether it needs a passcode cannot be read: check it in Teams";

/// Controls Teams does not offer per meeting, with what a person must check instead.
pub(crate) const UNSUPPORTED: [(Control, &str); 5] = [
    (Control::JoinBeforeHost, JOIN_BEFORE_HOST),
    (Control::FileTransfer, FILE_TRANSFER),
    (Control::RejoinAfterRemoval, REJOIN),
    (Control::PrivateChat, PRIVATE_CHAT),
    (Control::AttendanceRecord, ATTENDANCE),
];

fn value(control: Control, name: &str) -> Reading {
    match control.level(name) {
        Some(level) => Reading::value(level, Scope::Session),
        None => Reading::Error {
            reason: format!("internal: `{name}` is not a level of {control}"),
        },
    }
}

fn error(reason: impl Into<String>) -> Reading {
    Reading::Error {
        reason: reason.into(),
    }
}

/// The waiting-room level of a meeting's lobby (`lobbyBypassScope`, CSDL):
/// - `organizer` (everyone else waits) → `everyone`, unless phone callers bypass the lobby or
///   presenters may admit people (then `outsiders`: people can get in without staff);
/// - `organizationExcludingGuests` (guests and outsiders wait) → `outsiders`;
/// - `invited` → `outsiders`. ASSUMPTION: invited people skip the lobby, so this is never
///   "everyone waits"; uninvited people wait, which is at least as strict as "outsiders wait"
///   for a session whose invitations staff send;
/// - `organization` → `off`: guests (people from outside the organisation with a guest account)
///   bypass (teams-webex-meet.md §1.2), so outsiders do not all wait;
/// - `organizationAndFederated`, `everyone` → `off`.
///
/// Anything else (`unknownFutureValue` when the evolvable-enum header was not honoured, or a new
/// member) is an error: an unknown lobby is never reported as compliant.
pub(crate) fn waiting_room(m: &OnlineMeeting) -> Reading {
    let Some(lobby) = &m.lobby_bypass_settings else {
        return error("the meeting has no lobbyBypassSettings");
    };
    let dial_in_bypass = lobby.is_dial_in_bypass_enabled == Some(true);
    let presenters_admit =
        m.allowed_lobby_admitters.as_deref() == Some("organizerAndCoOrganizersAndPresenters");
    let level = match lobby.scope.as_deref() {
        Some("organizer") if !dial_in_bypass && !presenters_admit => "everyone",
        Some("organizer" | "organizationExcludingGuests" | "invited") => "outsiders",
        Some("organization" | "organizationAndFederated" | "everyone") => "off",
        Some(other) => {
            return error(format!(
                "unknown lobby scope `{other}` in lobbyBypassSettings.scope"
            ));
        }
        None => return error("lobbyBypassSettings has no scope"),
    };
    value(Control::WaitingRoom, level)
}

/// The roles of attendees that may present under `roleIsPresenter` (CSDL `onlineMeetingRole`).
fn presents(role: &str) -> bool {
    matches!(role, "presenter" | "producer")
}

/// Screen sharing (`allowedPresenters`, CSDL `onlineMeetingPresenters`): `organizer` → host-only;
/// `roleIsPresenter` → host-only when no attendee is a presenter or producer (then only the
/// organizer and co-organizers present), else `all`; `everyone`, `organization` → `all`.
pub(crate) fn screen_share(m: &OnlineMeeting) -> Reading {
    let level = match m.allowed_presenters.as_deref() {
        Some("organizer") => "host-only",
        Some("roleIsPresenter") => {
            if attendees(m).any(|a| role_of(a).is_some_and(presents)) {
                "all"
            } else {
                "host-only"
            }
        }
        // Graph's default is `everyone` (teams-webex-meet.md §1.2).
        Some("everyone" | "organization") | None => "all",
        Some(other) => return error(format!("unknown allowedPresenters value `{other}`")),
    };
    value(Control::ScreenShare, level)
}

/// Chat kept (`allowMeetingChat`, CSDL `meetingChatMode`): `enabled` → on; `limited` (chat only
/// during the call, teams-webex-meet.md §1.2) → off. `disabled` → on: there is no chat whose
/// record could be lost, and turning chat on would open a channel the organizer closed.
/// ASSUMPTION: the tenant's Purview retention keeps meeting chat (policy, outside Graph).
pub(crate) fn chat_kept(m: &OnlineMeeting) -> Reading {
    match m.allow_meeting_chat.as_deref() {
        Some("enabled" | "disabled") | None => value(Control::ChatKept, "on"),
        Some("limited") => value(Control::ChatKept, "off"),
        Some(other) => error(format!("unknown allowMeetingChat value `{other}`")),
    }
}

/// Cloud recording, judged on the three recording properties of `onlineMeetingBase` (all
/// `Edm.Boolean` in `specs/teams/onlineMeeting-excerpt.v1.0.csdl.xml`; teams-webex-meet.md §1.2
/// "Recording (no local)"), so that `forbidden` means nothing of the session is kept:
/// - `on`: `recordAutomatically` is true (and `allowRecording` is not false);
/// - `recording-allowed`: not recorded automatically, but `allowRecording` is true (anyone
///   allowed by the meeting can start a recording by hand), or an automatic recording is set on
///   a meeting that does not allow recording;
/// - `transcription-allowed`: recording is off, but `allowTranscription` is true: a transcript
///   of a youth session is a record of what the children said;
/// - `off`: all three false.
///
/// A property Graph leaves out counts as on for `allowRecording` and `allowTranscription`.
/// ASSUMPTION: Teams allows both by default (the tenant meeting policy's `AllowCloudRecording`
/// and `AllowTranscription`, §1.3); the CSDL states no default. `recordAutomatically` left out
/// counts as false.
pub(crate) fn cloud_recording(m: &OnlineMeeting) -> Reading {
    let automatic = m.record_automatically == Some(true);
    let recording = m.allow_recording != Some(false);
    let transcription = m.allow_transcription != Some(false);
    let level = match (automatic, recording, transcription) {
        (true, true, _) => "on",
        (true, false, _) | (false, true, _) => "recording-allowed",
        (false, false, true) => "transcription-allowed",
        (false, false, false) => "off",
    };
    value(Control::CloudRecording, level)
}

/// The passcode requirement, read-only (see [`PASSCODE_FIXED`]).
pub(crate) fn passcode(m: &OnlineMeeting) -> Reading {
    let Some(required) = m
        .join_meeting_id_settings
        .as_ref()
        .and_then(|j| j.is_passcode_required)
    else {
        return Reading::Unsupported {
            reason: NO_PASSCODE_FIELD.into(),
        };
    };
    match Control::Passcode.level(if required { "required" } else { "optional" }) {
        Some(level) => Reading::Value {
            level,
            scope: Scope::Session,
            locked: Some(Lock::Platform {
                reason: PASSCODE_FIXED.into(),
            }),
        },
        None => error("internal: passcode levels"),
    }
}

/// Every control reading of one meeting.
pub(crate) fn readings(m: &OnlineMeeting) -> BTreeMap<Control, Reading> {
    let mut out = BTreeMap::new();
    out.insert(Control::Passcode, passcode(m));
    out.insert(Control::WaitingRoom, waiting_room(m));
    out.insert(Control::ScreenShare, screen_share(m));
    // Teams has no local recording at all: `AllowLocalRecording` is "reserved for internal
    // Microsoft use" (teams-webex-meet.md §1.2), so it is always off.
    out.insert(
        Control::LocalRecording,
        value(Control::LocalRecording, "off"),
    );
    out.insert(Control::CloudRecording, cloud_recording(m));
    out.insert(Control::ChatKept, chat_kept(m));
    for (control, reason) in UNSUPPORTED {
        out.insert(
            control,
            Reading::Unsupported {
                reason: reason.into(),
            },
        );
    }
    out
}

fn attendees(m: &OnlineMeeting) -> impl Iterator<Item = &Value> {
    m.participants
        .as_ref()
        .map(|p| p.attendees.as_slice())
        .unwrap_or_default()
        .iter()
}

fn role_of(attendee: &Value) -> Option<&str> {
    attendee.get("role").and_then(Value::as_str)
}

fn upn_of(attendee: &Value) -> Option<&str> {
    attendee.get("upn").and_then(Value::as_str)
}

fn user_id_of(attendee: &Value) -> Option<&str> {
    attendee
        .pointer("/identity/user/id")
        .and_then(Value::as_str)
}

/// Emails (UPNs, lower-cased) of the attendees who are co-organizers: the neutral `co_hosts`.
pub(crate) fn co_organizers(m: &OnlineMeeting) -> Vec<String> {
    attendees(m)
        .filter(|a| role_of(a) == Some("coorganizer"))
        .filter_map(upn_of)
        .map(str::to_lowercase)
        .collect()
}

/// Parses a `dateTimeTimeZone` that Graph sent in UTC (no `Prefer: outlook.timezone` is sent).
/// Graph writes seven fractional digits (`2026-11-23T17:00:00.0000000`).
pub(crate) fn utc_time(t: &DateTimeTimeZone) -> Option<DateTime<Utc>> {
    let zone = t.time_zone.as_deref().unwrap_or("UTC");
    if !zone.eq_ignore_ascii_case("UTC") {
        return None;
    }
    NaiveDateTime::parse_from_str(&t.date_time, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Whether a calendar event is a Teams meeting this organizer organises (teams-webex-meet.md
/// §1.1 step 2: `isOnlineMeeting && onlineMeetingProvider == teamsForBusiness && isOrganizer`).
pub(crate) fn is_own_teams_meeting(e: &Event) -> bool {
    e.is_online_meeting == Some(true)
        && e.online_meeting_provider.as_deref() == Some("teamsForBusiness")
        && e.is_organizer != Some(false)
        && e.is_cancelled != Some(true)
        && e.online_meeting
            .as_ref()
            .and_then(|o| o.join_url.as_deref())
            .is_some_and(|u| !u.is_empty())
}

/// The occurrences of one meeting from its calendar events (a series has one onlineMeeting and
/// one join URL, §1.1; calendarView lists each occurrence), sorted by start.
pub(crate) fn occurrences(events: &[&Event]) -> Vec<Occurrence> {
    let mut out: Vec<Occurrence> = events
        .iter()
        .filter_map(|e| {
            let start = utc_time(e.start.as_ref()?)?;
            let end = e.end.as_ref().and_then(utc_time).unwrap_or(start);
            let minutes = u32::try_from((end - start).num_minutes().max(0)).unwrap_or(u32::MAX);
            Some(Occurrence {
                id: e.id.clone(),
                start,
                duration_minutes: minutes,
                readings: Default::default(),
            })
        })
        .collect();
    out.sort_by_key(|o| o.start);
    out
}

/// The neutral session of one meeting. `occurrences` come from the calendar (empty when the
/// meeting was read on its own); `now` decides whether it is in progress.
pub(crate) fn session(
    m: &OnlineMeeting,
    host: &Host,
    topic: Option<&str>,
    occurrences: Vec<Occurrence>,
    now: DateTime<Utc>,
) -> Session {
    let (start, duration) = match occurrences
        .iter()
        .find(|o| o.start + chrono::Duration::minutes(i64::from(o.duration_minutes)) > now)
    {
        Some(o) => (Some(o.start), o.duration_minutes),
        None => match (m.start_date_time, m.end_date_time) {
            (Some(s), Some(e)) => (
                Some(s),
                u32::try_from((e - s).num_minutes().max(0)).unwrap_or(0),
            ),
            (s, _) => (s, 0),
        },
    };
    let in_progress = if occurrences.is_empty() {
        start.is_some_and(|s| s <= now && now < s + chrono::Duration::minutes(duration.into()))
    } else {
        occurrences.iter().any(|o| {
            o.start <= now && now < o.start + chrono::Duration::minutes(o.duration_minutes.into())
        })
    };
    Session {
        platform: PlatformKind::Teams,
        id: m.id.clone(),
        topic: topic
            .map(str::to_string)
            .or_else(|| m.subject.clone())
            .unwrap_or_default(),
        host: host.clone(),
        start,
        duration_minutes: duration,
        timezone: None,
        // One-off meetings keep an empty list (the engine uses `start`).
        occurrences: if occurrences.len() > 1 {
            occurrences
        } else {
            Vec::new()
        },
        in_progress,
        join_url: m.join_web_url.clone(),
        tracking_fields: Vec::new(),
        co_hosts: co_organizers(m),
        readings: readings(m),
        read_error: None,
    }
}

/// A meeting found in the calendar whose onlineMeeting could not be read: every control `error`.
pub(crate) fn unreadable_session(
    id: &str,
    host: &Host,
    topic: &str,
    join_url: Option<&str>,
    occurrences: Vec<Occurrence>,
    reason: &str,
) -> Session {
    Session {
        platform: PlatformKind::Teams,
        id: id.to_string(),
        topic: topic.to_string(),
        host: host.clone(),
        start: occurrences.first().map(|o| o.start),
        duration_minutes: occurrences.first().map_or(0, |o| o.duration_minutes),
        timezone: None,
        occurrences: if occurrences.len() > 1 {
            occurrences
        } else {
            Vec::new()
        },
        in_progress: false,
        join_url: join_url.map(str::to_string),
        tracking_fields: Vec::new(),
        co_hosts: Vec::new(),
        readings: BTreeMap::new(),
        read_error: Some(reason.to_string()),
    }
}

/// A person to add as co-organizer: their email and Entra object id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewCoOrganizer {
    pub email: String,
    pub user_id: String,
    pub display_name: Option<String>,
}

/// The one PATCH body for a session, and the changes left out with the reason.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Patch {
    pub body: Option<Value>,
    pub skipped: Vec<(Control, String)>,
}

fn level_name(c: &Change) -> Option<&'static str> {
    match &c.to {
        Target::Level { level } => Some(c.control.level_name(*level)),
        Target::AddCoHost { .. } => None,
    }
}

fn at_least(reading: &Reading, control: Control, want: Level) -> bool {
    matches!(reading, Reading::Value { level, .. } if *level >= want && control.is_ordinal())
}

/// Builds one PATCH from the planned changes, judged against `current` (read just before): only
/// documented updatable properties are sent (a read-only one gives 400, "Corrections"), a change
/// that `current` already meets is dropped, and nothing is ever loosened.
/// `participants.attendees` replaces the whole list, so every existing attendee is sent back as
/// it was read, plus the new co-organizer (§1.2; "Corrections").
pub(crate) fn plan(
    current: &OnlineMeeting,
    changes: &[Change],
    co_organizer: Option<&NewCoOrganizer>,
) -> Patch {
    let mut body = Map::new();
    let mut skipped = Vec::new();
    for c in changes {
        match (c.control, level_name(c)) {
            (Control::WaitingRoom, Some(name)) => {
                let Some(want) = Control::WaitingRoom.level(name) else {
                    continue;
                };
                if at_least(&waiting_room(current), Control::WaitingRoom, want) {
                    continue;
                }
                let scope = match name {
                    "everyone" => "organizer",
                    "outsiders" => "organizationExcludingGuests",
                    _ => {
                        skipped.push((c.control, format!("`{name}` would loosen the lobby")));
                        continue;
                    }
                };
                body.insert(
                    "lobbyBypassSettings".into(),
                    json!({"scope": scope, "isDialInBypassEnabled": false}),
                );
                if name == "everyone" {
                    body.insert(
                        "allowedLobbyAdmitters".into(),
                        json!("organizerAndCoOrganizers"),
                    );
                }
            }
            (Control::ScreenShare, Some("host-only")) => {
                if !at_least(
                    &screen_share(current),
                    Control::ScreenShare,
                    Control::ScreenShare.strictest(),
                ) {
                    body.insert("allowedPresenters".into(), json!("organizer"));
                }
            }
            (Control::ChatKept, Some("on")) => {
                if current.allow_meeting_chat.as_deref() == Some("limited") {
                    body.insert("allowMeetingChat".into(), json!("enabled"));
                }
            }
            // Forbidden: no automatic recording, nobody may start one by hand, and no
            // transcript (a record of what the children said). Required: record automatically
            // (which needs recording allowed); transcription is left as it is.
            (Control::CloudRecording, Some("off")) => {
                if !matches!(cloud_recording(current), Reading::Value { level, .. } if level == Level(0))
                {
                    body.insert("recordAutomatically".into(), json!(false));
                    body.insert("allowRecording".into(), json!(false));
                    body.insert("allowTranscription".into(), json!(false));
                }
            }
            (Control::CloudRecording, Some("on")) => {
                body.insert("recordAutomatically".into(), json!(true));
                body.insert("allowRecording".into(), json!(true));
            }
            (Control::SecondStaff, None) => {
                let Target::AddCoHost { email } = &c.to else {
                    continue;
                };
                match co_organizer {
                    Some(new) if new.email.eq_ignore_ascii_case(email) => {
                        if let Some(list) = attendees_with(current, new) {
                            body.insert("participants".into(), json!({ "attendees": list }));
                        }
                    }
                    _ => skipped.push((
                        c.control,
                        format!("{email} could not be found in the directory"),
                    )),
                }
            }
            (Control::Passcode, _) => skipped.push((c.control, PASSCODE_FIXED.into())),
            (control, _) => skipped.push((
                control,
                "Teams offers no per-meeting setting for this control".into(),
            )),
        }
    }
    Patch {
        body: (!body.is_empty()).then_some(Value::Object(body)),
        skipped,
    }
}

/// Every current attendee unchanged, with `new` as co-organizer: an existing attendee entry for
/// the same person is promoted (keeping its identity as read); otherwise a new entry is added.
/// `None` when `new` is already a co-organizer.
fn attendees_with(current: &OnlineMeeting, new: &NewCoOrganizer) -> Option<Vec<Value>> {
    let same = |a: &Value| {
        upn_of(a).is_some_and(|u| u.eq_ignore_ascii_case(&new.email))
            || user_id_of(a).is_some_and(|id| id == new.user_id)
    };
    let mut list: Vec<Value> = attendees(current).cloned().collect();
    match list.iter_mut().find(|a| same(a)) {
        Some(a) if role_of(a) == Some("coorganizer") => return None,
        Some(a) => {
            if let Some(obj) = a.as_object_mut() {
                obj.insert("role".into(), json!("coorganizer"));
            }
        }
        None => {
            let mut user = Map::new();
            user.insert("id".into(), json!(new.user_id));
            if let Some(name) = &new.display_name {
                user.insert("displayName".into(), json!(name));
            }
            list.push(json!({
                "upn": new.email,
                "role": "coorganizer",
                "identity": { "user": Value::Object(user) },
            }));
        }
    }
    Some(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::http_util::decode_json;

    /// An onlineMeeting shaped as the CSDL describes it (onlineMeetingBase + onlineMeeting).
    fn meeting_json() -> Value {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('o1')/onlineMeetings/$entity",
            "id": "MSo1N2Y5ZGFjYy03MWJmLTQ3NDMtYjQxMy01M2EdFGkdRWHJlQ",
            "creationDateTime": "2026-11-01T10:00:00Z",
            "startDateTime": "2026-11-24T17:00:00Z",
            "endDateTime": "2026-11-24T18:00:00Z",
            "joinWebUrl": "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d",
            "subject": "[youth] Youth Forum",
            "meetingType": "scheduled",
            "isEntryExitAnnounced": true,
            "allowedPresenters": "everyone",
            "allowMeetingChat": "limited",
            "allowRecording": true,
            "recordAutomatically": true,
            "allowedLobbyAdmitters": "organizerAndCoOrganizersAndPresenters",
            "lobbyBypassSettings": {"scope": "organization", "isDialInBypassEnabled": true},
            "joinMeetingIdSettings": {"isPasscodeRequired": false, "joinMeetingId": "1234567890", "passcode": null},
            "chatRestrictions": {"allowTextOnly": false},
            "watermarkProtection": null,
            "participants": {
                "organizer": {"upn": "alex.morgan@riverside.example.org", "role": "presenter",
                              "identity": {"user": {"id": "o1", "displayName": "Alex Morgan"}}},
                "attendees": [
                    {"upn": "young.person@riverside.example.org", "role": "attendee",
                     "identity": {"user": {"id": "a1", "displayName": "Young Person", "tenantId": "t"}}},
                    {"upn": "Sam.Patel@riverside.example.org", "role": "coorganizer",
                     "identity": {"user": {"id": "a2", "displayName": "Sam Patel"}}}
                ]
            }
        })
    }

    fn meeting() -> OnlineMeeting {
        decode_json(
            PlatformKind::Teams,
            "/m",
            meeting_json().to_string().as_bytes(),
        )
        .expect("CSDL-shaped meeting decodes")
    }

    fn level(r: &BTreeMap<Control, Reading>, c: Control) -> &'static str {
        match r.get(&c) {
            Some(Reading::Value { level, .. }) => c.level_name(*level),
            Some(Reading::Unsupported { .. }) => "unsupported",
            Some(Reading::Error { .. }) => "error",
            None => "missing",
        }
    }

    fn host() -> Host {
        Host {
            id: "o1".into(),
            email: "alex.morgan@riverside.example.org".into(),
            name: "Alex Morgan".into(),
            groups: vec!["Youth Workers".into()],
        }
    }

    fn change(c: Control, name: &str) -> Change {
        Change {
            control: c,
            from: None,
            to: Target::Level {
                level: c.level(name).expect("level"),
            },
        }
    }

    #[test]
    fn a_csdl_shaped_meeting_maps_into_a_session() {
        let m = meeting();
        let now = "2026-11-23T12:00:00Z".parse().expect("time");
        let s = session(&m, &host(), None, Vec::new(), now);
        assert_eq!(s.platform, PlatformKind::Teams);
        assert_eq!(s.topic, "[youth] Youth Forum");
        assert_eq!(s.duration_minutes, 60);
        assert!(!s.in_progress);
        assert_eq!(s.co_hosts, vec!["sam.patel@riverside.example.org"]);
        let r = &s.readings;
        assert_eq!(level(r, Control::Passcode), "optional");
        assert!(matches!(
            r.get(&Control::Passcode),
            Some(Reading::Value {
                locked: Some(Lock::Platform { .. }),
                ..
            })
        ));
        assert_eq!(level(r, Control::WaitingRoom), "off");
        assert_eq!(level(r, Control::ScreenShare), "all");
        assert_eq!(level(r, Control::ChatKept), "off");
        assert_eq!(level(r, Control::CloudRecording), "on");
        assert_eq!(level(r, Control::LocalRecording), "off");
        for (c, _) in UNSUPPORTED {
            assert_eq!(level(r, c), "unsupported", "{c}");
        }
        assert!(r.values().all(|r| match r {
            Reading::Value { scope, .. } => *scope == Scope::Session,
            _ => true,
        }));
    }

    #[test]
    fn lobby_scopes_map_to_waiting_room_levels() {
        let with = |scope: &str, dial_in: bool, admitters: &str| {
            let mut v = meeting_json();
            v["lobbyBypassSettings"] = json!({"scope": scope, "isDialInBypassEnabled": dial_in});
            v["allowedLobbyAdmitters"] = json!(admitters);
            let m: OnlineMeeting = serde_json::from_value(v).expect("decodes");
            let r = readings(&m);
            level(&r, Control::WaitingRoom)
        };
        let strict = "organizerAndCoOrganizers";
        assert_eq!(with("organizer", false, strict), "everyone");
        assert_eq!(with("organizer", true, strict), "outsiders");
        assert_eq!(
            with("organizer", false, "organizerAndCoOrganizersAndPresenters"),
            "outsiders"
        );
        assert_eq!(with("invited", false, strict), "outsiders");
        assert_eq!(
            with("organizationExcludingGuests", false, strict),
            "outsiders"
        );
        assert_eq!(with("organization", false, strict), "off");
        assert_eq!(with("organizationAndFederated", false, strict), "off");
        assert_eq!(with("everyone", false, strict), "off");
        assert_eq!(with("unknownFutureValue", false, strict), "error");
    }

    #[test]
    fn presenters_chat_and_recording() {
        let mut v = meeting_json();
        v["allowedPresenters"] = json!("roleIsPresenter");
        v["allowMeetingChat"] = json!("disabled");
        v["recordAutomatically"] = json!(false);
        v["allowRecording"] = json!(false);
        v["allowTranscription"] = json!(false);
        let m: OnlineMeeting = serde_json::from_value(v.clone()).expect("decodes");
        let r = readings(&m);
        assert_eq!(level(&r, Control::ScreenShare), "host-only");
        assert_eq!(level(&r, Control::ChatKept), "on");
        assert_eq!(level(&r, Control::CloudRecording), "off");
        v["participants"]["attendees"][0]["role"] = json!("presenter");
        let m: OnlineMeeting = serde_json::from_value(v).expect("decodes");
        assert_eq!(level(&readings(&m), Control::ScreenShare), "all");
    }

    #[test]
    fn recording_or_transcription_allowed_by_hand_is_not_off_and_names_which() {
        let with = |auto: Option<bool>, rec: Option<bool>, tr: Option<bool>| {
            let mut v = meeting_json();
            let o = v.as_object_mut().expect("object");
            for (k, x) in [
                ("recordAutomatically", auto),
                ("allowRecording", rec),
                ("allowTranscription", tr),
            ] {
                match x {
                    Some(b) => o.insert(k.into(), json!(b)),
                    None => o.remove(k),
                };
            }
            let m: OnlineMeeting = serde_json::from_value(v).expect("decodes");
            level(&readings(&m), Control::CloudRecording)
        };
        let (t, f) = (Some(true), Some(false));
        assert_eq!(with(t, t, t), "on");
        assert_eq!(with(f, t, f), "recording-allowed");
        assert_eq!(with(t, f, f), "recording-allowed");
        assert_eq!(with(f, f, t), "transcription-allowed");
        assert_eq!(with(f, f, f), "off");
        // Left out: Teams allows recording and transcription by default (ASSUMPTION).
        assert_eq!(with(None, None, None), "recording-allowed");
        assert_eq!(with(f, f, None), "transcription-allowed");
        // Forbidden turns all three off; a meeting already off is not written.
        let mut v = meeting_json();
        v["recordAutomatically"] = json!(false);
        let m: OnlineMeeting = serde_json::from_value(v.clone()).expect("decodes");
        let body = plan(&m, &[change(Control::CloudRecording, "off")], None)
            .body
            .expect("body");
        assert_eq!(
            body,
            json!({"recordAutomatically": false, "allowRecording": false, "allowTranscription": false})
        );
        v["allowRecording"] = json!(false);
        v["allowTranscription"] = json!(false);
        let off: OnlineMeeting = serde_json::from_value(v).expect("decodes");
        assert_eq!(
            plan(&off, &[change(Control::CloudRecording, "off")], None).body,
            None
        );
    }

    #[test]
    fn a_meeting_without_join_meeting_id_settings_has_no_passcode_reading() {
        let mut v = meeting_json();
        v.as_object_mut()
            .expect("object")
            .remove("joinMeetingIdSettings");
        let m: OnlineMeeting = serde_json::from_value(v).expect("decodes");
        assert_eq!(level(&readings(&m), Control::Passcode), "unsupported");
    }

    #[test]
    fn changes_become_one_patch_of_updatable_properties_only() {
        let m = meeting();
        let new = NewCoOrganizer {
            email: "duty.officer@riverside.example.org".into(),
            user_id: "d1".into(),
            display_name: Some("Duty Officer".into()),
        };
        let changes = vec![
            change(Control::WaitingRoom, "everyone"),
            change(Control::ScreenShare, "host-only"),
            change(Control::ChatKept, "on"),
            change(Control::CloudRecording, "off"),
            change(Control::Passcode, "required"),
            Change {
                control: Control::SecondStaff,
                from: None,
                to: Target::AddCoHost {
                    email: new.email.clone(),
                },
            },
        ];
        let p = plan(&m, &changes, Some(&new));
        let body = p.body.expect("a body");
        assert_eq!(
            body["lobbyBypassSettings"],
            json!({"scope": "organizer", "isDialInBypassEnabled": false})
        );
        assert_eq!(body["allowedLobbyAdmitters"], "organizerAndCoOrganizers");
        assert_eq!(body["allowedPresenters"], "organizer");
        assert_eq!(body["allowMeetingChat"], "enabled");
        assert_eq!(body["recordAutomatically"], false);
        assert_eq!(body["allowRecording"], false);
        for read_only in ["joinMeetingIdSettings", "joinWebUrl", "id", "meetingType"] {
            assert!(body.get(read_only).is_none(), "{read_only} is read-only");
        }
        // Every existing attendee is kept as read, the new co-organizer is added.
        let attendees = body["participants"]["attendees"]
            .as_array()
            .expect("attendees");
        assert_eq!(attendees.len(), 3);
        assert_eq!(attendees[0], meeting_json()["participants"]["attendees"][0]);
        assert_eq!(attendees[1], meeting_json()["participants"]["attendees"][1]);
        assert_eq!(attendees[2]["role"], "coorganizer");
        assert_eq!(attendees[2]["identity"]["user"]["id"], "d1");
        assert!(body["participants"].get("organizer").is_none());
        // The passcode is reported as skipped, never written.
        assert!(p.skipped.iter().any(|(c, _)| *c == Control::Passcode));
    }

    #[test]
    fn an_attendee_is_promoted_not_duplicated_and_nothing_is_loosened() {
        let m = meeting();
        let new = NewCoOrganizer {
            email: "young.person@riverside.example.org".into(),
            user_id: "a1".into(),
            display_name: None,
        };
        let add = Change {
            control: Control::SecondStaff,
            from: None,
            to: Target::AddCoHost {
                email: new.email.clone(),
            },
        };
        let body = plan(&m, std::slice::from_ref(&add), Some(&new))
            .body
            .expect("body");
        let list = body["participants"]["attendees"].as_array().expect("list");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["role"], "coorganizer");
        // An existing co-organizer: nothing to write.
        let already = NewCoOrganizer {
            email: "sam.patel@riverside.example.org".into(),
            user_id: "a2".into(),
            display_name: None,
        };
        let add = Change {
            control: Control::SecondStaff,
            from: None,
            to: Target::AddCoHost {
                email: already.email.clone(),
            },
        };
        assert_eq!(plan(&m, &[add], Some(&already)).body, None);
        // A lobby already stricter than asked is left alone.
        let mut v = meeting_json();
        v["lobbyBypassSettings"] = json!({"scope": "organizer", "isDialInBypassEnabled": false});
        v["allowedLobbyAdmitters"] = json!("organizerAndCoOrganizers");
        let strict: OnlineMeeting = serde_json::from_value(v).expect("decodes");
        assert_eq!(
            plan(&strict, &[change(Control::WaitingRoom, "outsiders")], None).body,
            None
        );
    }

    #[test]
    fn calendar_events_filter_and_occurrences() {
        let events: Page = serde_json::from_value(json!({
            "value": [
                {"id": "e2", "subject": "[youth] Club", "isOnlineMeeting": true,
                 "onlineMeetingProvider": "teamsForBusiness", "isOrganizer": true, "type": "occurrence",
                 "seriesMasterId": "s", "onlineMeeting": {"joinUrl": "https://teams/x"},
                 "start": {"dateTime": "2026-12-01T18:00:00.0000000", "timeZone": "UTC"},
                 "end": {"dateTime": "2026-12-01T19:30:00.0000000", "timeZone": "UTC"}},
                {"id": "e1", "subject": "[youth] Club", "isOnlineMeeting": true,
                 "onlineMeetingProvider": "teamsForBusiness", "isOrganizer": true, "type": "occurrence",
                 "onlineMeeting": {"joinUrl": "https://teams/x"},
                 "start": {"dateTime": "2026-11-24T18:00:00.0000000", "timeZone": "UTC"},
                 "end": {"dateTime": "2026-11-24T19:30:00.0000000", "timeZone": "UTC"}},
                {"id": "e3", "isOnlineMeeting": true, "onlineMeetingProvider": "teamsForBusiness",
                 "isOrganizer": false, "onlineMeeting": {"joinUrl": "https://teams/y"}},
                {"id": "e4", "isOnlineMeeting": false, "isOrganizer": true}
            ]
        }))
        .expect("page");
        let own: Vec<&Event> = events
            .value
            .iter()
            .filter(|e| is_own_teams_meeting(e))
            .collect();
        assert_eq!(own.len(), 2);
        let occ = occurrences(&own);
        assert_eq!(occ[0].id, "e1");
        assert_eq!(occ[0].duration_minutes, 90);
        assert_eq!(
            occ[1].start,
            "2026-12-01T18:00:00Z".parse::<DateTime<Utc>>().expect("t")
        );
    }

    type Page = super::super::models::Page<Event>;
}

//! Zoom JSON → neutral readings, and neutral changes → Zoom PATCH bodies. Pure functions: no I/O,
//! so every rule is unit-tested on spec-shaped fixtures.
//!
//! Field placement follows zoom.md §2.1: passcode, waiting room, join-before-host, auto-recording
//! and alternative hosts live on the meeting; screen share, file transfer, chat auto-save, private
//! chat and the local-recording permission live on the host (user) and can be locked by a group or
//! the account (lock_settings leaves are booleans meaning "locked").

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::models::{Group, LockSettings, Meeting, MeetingSummary, SecuritySettings, UserSettings};
use crate::control::{Control, Scope};
use crate::platform::{Change, Target, Window};
use crate::session::{Host, Lock, Occurrence, PlatformKind, Reading, Session};

/// Why "rejoin after removal" cannot be read (zoom.md §2.1 row 5: no API field exists).
pub(crate) const REJOIN_REASON: &str = "Zoom's API has no field for \"Allow removed participants to rejoin\" (it exists only in the Zoom web portal). Check by hand in the Zoom web portal: Settings → Meeting → In Meeting (Basic) → \"Allow removed participants to rejoin\" must be off, and locked for the youth workers' group.";

/// Why attendance is not read (zoom.md §7: past-participant reports need the Pro plan or higher).
pub(crate) const ATTENDANCE_REASON: &str = "chaperone does not yet collect Zoom's past-participant reports (Zoom Pro plan or higher). Keep a register of who attended each session.";

/// The controls this adapter reads from Zoom (the rest are unsupported or evaluated).
pub(crate) const READ_CONTROLS: [Control; 9] = [
    Control::Passcode,
    Control::WaitingRoom,
    Control::JoinBeforeHost,
    Control::ScreenShare,
    Control::FileTransfer,
    Control::LocalRecording,
    Control::CloudRecording,
    Control::ChatKept,
    Control::PrivateChat,
];

/// A host's group with its lock settings (or why they could not be read).
pub(crate) type GroupLocks = (Group, Result<LockSettings, String>);

/// What was read about a host: each part may have failed on its own.
#[derive(Debug, Clone)]
pub(crate) struct HostContext {
    /// `GET /users/{userId}/settings`.
    pub settings: Result<UserSettings, String>,
    /// `GET /users/{userId}/settings?option=meeting_security`.
    pub security: Result<SecuritySettings, String>,
    /// The host's groups, in `group_ids` order, with their `lock_settings`.
    pub groups: Vec<GroupLocks>,
    /// `GET /accounts/me/lock_settings`.
    pub account_locks: Result<LockSettings, String>,
}

impl HostContext {
    /// Where `key` is locked above the host. A group that locks wins in the report (it is the
    /// nearer tier); ASSUMPTION: with several groups, any group that locks counts (Zoom's "main
    /// group" is not in the users list). An unreadable tier that could hold the lock is an error:
    /// an unknown lock is not reported as "unlocked".
    fn lock(&self, key: fn(&LockSettings) -> bool) -> Result<Option<Lock>, String> {
        for (group, locks) in &self.groups {
            if let Ok(l) = locks
                && key(l)
            {
                return Ok(Some(Lock::Group {
                    id: group.id.clone(),
                    name: group.name.clone(),
                }));
            }
        }
        for (group, locks) in &self.groups {
            if let Err(e) = locks {
                return Err(format!(
                    "the lock settings of Zoom group \"{}\" could not be read: {e}",
                    group.name
                ));
            }
        }
        match &self.account_locks {
            Ok(l) if key(l) => Ok(Some(Lock::Account)),
            Ok(_) => Ok(None),
            Err(e) => Err(format!(
                "the account's lock settings could not be read: {e}"
            )),
        }
    }
}

fn value(control: Control, name: &str, scope: Scope, locked: Option<Lock>) -> Reading {
    match control.level(name) {
        Some(level) => Reading::Value {
            level,
            scope,
            locked,
        },
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

/// A host-level reading: the value from user settings plus where it is locked.
fn host_reading(
    control: Control,
    host: &HostContext,
    level: Result<&'static str, String>,
    lock_key: fn(&LockSettings) -> bool,
) -> Reading {
    let level = match level {
        Ok(l) => l,
        Err(e) => return error(e),
    };
    match host.lock(lock_key) {
        Ok(locked) => value(control, level, Scope::Host, locked),
        Err(e) => error(e),
    }
}

fn settings_field<T: Copy>(
    host: &HostContext,
    field: &str,
    get: impl Fn(&UserSettings) -> Option<T>,
) -> Result<T, String> {
    match &host.settings {
        Ok(s) => get(s).ok_or_else(|| format!("Zoom did not return the host's `{field}` setting")),
        Err(e) => Err(format!("the host's settings could not be read: {e}")),
    }
}

/// Every reading for one meeting of one host.
pub(crate) fn readings(m: &Meeting, host: &HostContext) -> BTreeMap<Control, Reading> {
    let mut out = BTreeMap::new();
    let s = &m.settings;

    // passcode: top-level `password` (zoom.md §2.1 row 1).
    let has_passcode = m.password.as_deref().is_some_and(|p| !p.is_empty());
    out.insert(
        Control::Passcode,
        value(
            Control::Passcode,
            if has_passcode { "required" } else { "optional" },
            Scope::Session,
            None,
        ),
    );

    // waiting room: `settings.waiting_room` (spec default false) and `waiting_room_options`
    // (zoom.md §2.1 row 6); `follow_setting` defers to the host's
    // `meeting_security.waiting_room_settings.participants_to_place_in_waiting_room` (row 6a).
    let waiting = if s.waiting_room != Some(true) {
        value(Control::WaitingRoom, "off", Scope::Session, None)
    } else {
        let custom = s
            .waiting_room_options
            .as_ref()
            .filter(|o| o.mode.as_deref() == Some("custom"));
        match custom {
            Some(o) => {
                // ASSUMPTION: `custom` without `who_goes_to_waiting_room` reads as the weaker
                // "outsiders", so it never overstates.
                let level = if o.who_goes_to_waiting_room.as_deref() == Some("everyone") {
                    "everyone"
                } else {
                    "outsiders"
                };
                value(Control::WaitingRoom, level, Scope::Session, None)
            }
            None => match &host.security {
                Ok(sec) => {
                    let who = sec
                        .meeting_security
                        .waiting_room_settings
                        .as_ref()
                        .and_then(|w| w.participants_to_place_in_waiting_room);
                    // 0 all attendees, 1/2 outsiders; ASSUMPTION: unknown or missing → outsiders.
                    let level = if who == Some(0) {
                        "everyone"
                    } else {
                        "outsiders"
                    };
                    value(Control::WaitingRoom, level, Scope::Session, None)
                }
                Err(e) => error(format!(
                    "the meeting follows the host's waiting-room setting, which could not be read: {e}"
                )),
            },
        }
    };
    out.insert(Control::WaitingRoom, waiting);

    // join before host: `settings.join_before_host`, spec default false (zoom.md §2.1 row 4).
    out.insert(
        Control::JoinBeforeHost,
        value(
            Control::JoinBeforeHost,
            if s.join_before_host == Some(true) {
                "on"
            } else {
                "off"
            },
            Scope::Session,
            None,
        ),
    );

    // screen share: host `in_meeting.screen_sharing` / `who_can_share_screen` (zoom.md §2.1 row 2);
    // locked as a whole by `in_meeting.screen_sharing` in lock_settings.
    let share = match &host.settings {
        Ok(u) => match (
            u.in_meeting.screen_sharing,
            u.in_meeting.who_can_share_screen.as_deref(),
        ) {
            // Nobody can share, so certainly not participants.
            (Some(false), _) => Ok("host-only"),
            (_, Some("host")) => Ok("host-only"),
            (_, Some("all")) => Ok("all"),
            (_, Some(other)) => Err(format!(
                "Zoom returned an unknown `in_meeting.who_can_share_screen` value `{other}`"
            )),
            (_, None) => Err(
                "Zoom did not return the host's `in_meeting.who_can_share_screen` setting".into(),
            ),
        },
        Err(e) => Err(format!("the host's settings could not be read: {e}")),
    };
    out.insert(
        Control::ScreenShare,
        host_reading(Control::ScreenShare, host, share, |l| {
            l.in_meeting.screen_sharing
        }),
    );

    // file transfer, chat auto-save, private chat: host `in_meeting.*` (zoom.md §2.1 rows 3, 9).
    let on_off = |b: bool, on: &'static str, off: &'static str| if b { on } else { off };
    out.insert(
        Control::FileTransfer,
        host_reading(
            Control::FileTransfer,
            host,
            settings_field(host, "in_meeting.file_transfer", |u| {
                u.in_meeting.file_transfer
            })
            .map(|b| on_off(b, "on", "off")),
            |l| l.in_meeting.file_transfer,
        ),
    );
    out.insert(
        Control::ChatKept,
        host_reading(
            Control::ChatKept,
            host,
            settings_field(host, "in_meeting.auto_saving_chat", |u| {
                u.in_meeting.auto_saving_chat
            })
            .map(|b| on_off(b, "on", "off")),
            |l| l.in_meeting.auto_saving_chat,
        ),
    );
    out.insert(
        Control::PrivateChat,
        host_reading(
            Control::PrivateChat,
            host,
            settings_field(host, "in_meeting.private_chat", |u| {
                u.in_meeting.private_chat
            })
            .map(|b| on_off(b, "on", "off")),
            |l| l.in_meeting.private_chat,
        ),
    );

    // local recording: meeting `settings.auto_recording == local` or host
    // `recording.local_recording` (zoom.md §2.1 rows 8, 8a).
    let meeting_local = s.auto_recording.as_deref() == Some("local");
    let host_local = settings_field(host, "recording.local_recording", |u| {
        u.recording.local_recording
    });
    let local = match host_local {
        Ok(true) => host_reading(Control::LocalRecording, host, Ok("allowed"), |l| {
            l.recording.local_recording
        }),
        _ if meeting_local => value(Control::LocalRecording, "allowed", Scope::Session, None),
        Ok(false) => value(Control::LocalRecording, "off", Scope::Session, None),
        Err(e) => error(e),
    };
    out.insert(Control::LocalRecording, local);

    // cloud recording: `settings.auto_recording == cloud`.
    out.insert(
        Control::CloudRecording,
        value(
            Control::CloudRecording,
            if s.auto_recording.as_deref() == Some("cloud") {
                "on"
            } else {
                "off"
            },
            Scope::Session,
            None,
        ),
    );

    out.insert(
        Control::RejoinAfterRemoval,
        Reading::Unsupported {
            reason: REJOIN_REASON.into(),
        },
    );
    out.insert(
        Control::AttendanceRecord,
        Reading::Unsupported {
            reason: ATTENDANCE_REASON.into(),
        },
    );
    out
}

/// `settings.alternative_hosts`, split on `;` and trimmed.
pub(crate) fn co_hosts(m: &Meeting) -> Vec<String> {
    split_hosts(m.settings.alternative_hosts.as_deref().unwrap_or(""))
}

fn split_hosts(list: &str) -> Vec<String> {
    list.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Occurrences that still happen (`status != deleted`, zoom.md §3.4).
fn occurrences(m: &Meeting) -> Vec<Occurrence> {
    m.occurrences
        .iter()
        .filter(|o| o.status.as_deref() != Some("deleted"))
        .filter_map(|o| {
            Some(Occurrence {
                id: o.occurrence_id.clone(),
                start: o.start_time?,
                duration_minutes: o.duration.or(m.duration).unwrap_or(0),
                readings: BTreeMap::new(),
            })
        })
        .collect()
}

/// The controls Zoom keeps per occurrence of a recurring meeting: `occurrence_id` on
/// `PATCH /meetings/{meetingId}` supports "settings{host_video, participant_video,
/// join_before_host, mute_upon_entry, waiting_room, watermark, auto_recording}"
/// (meetings.openapi.json; zoom.md §2.1 "Occurrence PATCH limits"). Passcode and alternative
/// hosts are series-only, and host settings are the host's.
pub(crate) const OCCURRENCE_CONTROLS: [Control; 4] = [
    Control::WaitingRoom,
    Control::JoinBeforeHost,
    Control::LocalRecording,
    Control::CloudRecording,
];

/// The keys of `settings` that a per-occurrence PATCH may carry, of those chaperone writes.
pub(crate) const OCCURRENCE_SETTINGS: [&str; 3] =
    ["waiting_room", "join_before_host", "auto_recording"];

/// An occurrence's own effective readings, from `GET /meetings/{meetingId}?occurrence_id=`
/// (which shows the occurrence's settings merged over the series').
pub(crate) fn occurrence_readings(
    occurrence: &Meeting,
    host: &HostContext,
) -> BTreeMap<Control, Reading> {
    let mut all = readings(occurrence, host);
    all.retain(|c, _| OCCURRENCE_CONTROLS.contains(c));
    all
}

/// A per-occurrence PATCH body from a series body: only the settings Zoom keeps per
/// occurrence (anything else would be ignored by Zoom, or applied to nothing).
pub(crate) fn occurrence_body(series_body: &Value) -> Option<Value> {
    let settings = series_body.get("settings")?.as_object()?;
    let kept: Map<String, Value> = settings
        .iter()
        .filter(|(k, _)| OCCURRENCE_SETTINGS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!kept.is_empty()).then(|| json!({ "settings": kept }))
}

/// Removes from a meeting (or occurrence) PATCH body the `settings` leaves that `current`
/// already holds, so a series that is already strict is not written again only because one of
/// its occurrences was weaker (every write counts against the host's 100 a day). True when
/// nothing is left to write.
pub(crate) fn drop_settled_meeting_fields(body: &mut Value, current: &Meeting) -> bool {
    let s = &current.settings;
    if let Some(settings) = body.get_mut("settings").and_then(Value::as_object_mut) {
        settings.retain(|key, wanted| {
            let held = match key.as_str() {
                "waiting_room" => s.waiting_room.map(Value::Bool),
                "join_before_host" => s.join_before_host.map(Value::Bool),
                "auto_recording" => s.auto_recording.clone().map(Value::String),
                "waiting_room_options" => s.waiting_room_options.as_ref().and_then(|o| {
                    Some(json!({
                        "mode": o.mode.clone()?,
                        "who_goes_to_waiting_room": o.who_goes_to_waiting_room.clone()?,
                    }))
                }),
                _ => None,
            };
            held.as_ref() != Some(wanted)
        });
    }
    if let Some(top) = body.as_object_mut() {
        top.retain(|k, v| k != "settings" || v.as_object().is_none_or(|o| !o.is_empty()));
        top.is_empty()
    } else {
        false
    }
}

/// The neutral snapshot of a meeting that was read.
pub(crate) fn session(m: &Meeting, host: &Host, ctx: &HostContext) -> Session {
    let occurrences = occurrences(m);
    Session {
        platform: PlatformKind::Zoom,
        id: m.id.to_string(),
        topic: m.topic.clone(),
        host: host.clone(),
        start: occurrences.first().map(|o| o.start).or(m.start_time),
        duration_minutes: m.duration.unwrap_or(0),
        timezone: m.timezone.clone().filter(|t| !t.is_empty()),
        occurrences,
        in_progress: m.status.as_deref() == Some("started"),
        join_url: m.join_url.clone(),
        tracking_fields: m
            .tracking_fields
            .iter()
            .map(|t| (t.field.clone(), t.value.clone()))
            .collect(),
        co_hosts: co_hosts(m),
        readings: readings(m, ctx),
        read_error: None,
    }
}

/// A meeting from the list whose details could not be read: every control is an error.
pub(crate) fn unreadable_session(item: &MeetingSummary, host: &Host, reason: &str) -> Session {
    let mut readings: BTreeMap<Control, Reading> =
        READ_CONTROLS.iter().map(|c| (*c, error(reason))).collect();
    readings.insert(
        Control::RejoinAfterRemoval,
        Reading::Unsupported {
            reason: REJOIN_REASON.into(),
        },
    );
    readings.insert(
        Control::AttendanceRecord,
        Reading::Unsupported {
            reason: ATTENDANCE_REASON.into(),
        },
    );
    Session {
        platform: PlatformKind::Zoom,
        id: item.id.to_string(),
        topic: item.topic.clone(),
        host: host.clone(),
        start: item.start_time,
        duration_minutes: item.duration.unwrap_or(0),
        timezone: item.timezone.clone().filter(|t| !t.is_empty()),
        occurrences: Vec::new(),
        in_progress: false,
        join_url: item.join_url.clone(),
        tracking_fields: Vec::new(),
        co_hosts: Vec::new(),
        readings,
        read_error: Some(reason.to_string()),
    }
}

/// Whether a list item is in the window, from what the list gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    Yes,
    No,
    /// A recurring meeting with fixed time (type 8) whose list `start_time` is outside: its
    /// occurrences (only in `GET /meetings/{id}`, zoom.md §3.2) decide.
    IfAnOccurrenceIs,
}

fn inside(t: chrono::DateTime<chrono::Utc>, w: &Window) -> bool {
    w.from <= t && t < w.to
}

/// Types (meetings.openapi.json list `type` enum): 2 scheduled, 3 recurring without fixed time
/// (kept always: it can be started any time), 8 recurring with fixed time.
pub(crate) fn keep(item: &MeetingSummary, w: &Window) -> Keep {
    match (item.kind, item.start_time) {
        (Some(3), _) => Keep::Yes,
        (_, Some(t)) if inside(t, w) => Keep::Yes,
        (Some(8), _) => Keep::IfAnOccurrenceIs,
        (_, Some(_)) => Keep::No,
        // ASSUMPTION: a scheduled meeting without a start time is kept, so it is judged rather
        // than silently skipped.
        (_, None) => Keep::Yes,
    }
}

/// For type 8 meetings after `GET /meetings/{id}`: any live occurrence (or the start) inside.
pub(crate) fn meeting_in_window(m: &Meeting, w: &Window) -> bool {
    m.start_time.is_some_and(|t| inside(t, w)) || occurrences(m).iter().any(|o| inside(o.start, w))
}

/// The writes for one apply: at most one meeting PATCH and one host-settings PATCH.
#[derive(Debug, Default)]
pub(crate) struct Patches {
    pub meeting: Option<Value>,
    pub host: Option<Value>,
    /// Changes not written, with the reason (logged; the read-back shows the truth).
    pub skipped: Vec<(Control, String)>,
}

/// Whether `changes` ask for a passcode that must be generated: the snapshot and the fresh meeting
/// both have none (never replace a passcode).
pub(crate) fn wants_new_passcode(session: &Session, current: &Meeting, changes: &[Change]) -> bool {
    let asked = changes
        .iter()
        .any(|c| c.control == Control::Passcode && target_name(c) == Some("required"));
    let snapshot_has = matches!(
        session.readings.get(&Control::Passcode),
        Some(Reading::Value { level, .. }) if Control::Passcode.level_name(*level) == "required"
    );
    let current_has = current.password.as_deref().is_some_and(|p| !p.is_empty());
    asked && !snapshot_has && !current_has
}

fn target_name(c: &Change) -> Option<&'static str> {
    match &c.to {
        Target::Level { level } => Some(c.control.level_name(*level)),
        Target::AddCoHost { .. } => None,
    }
}

fn whether_host_permits_local_recording(session: &Session) -> bool {
    matches!(
        session.readings.get(&Control::LocalRecording),
        Some(Reading::Value {
            scope: Scope::Host,
            ..
        })
    )
}

/// Builds the PATCH bodies. Only moves towards stricter are written; anything else is skipped.
/// `passcode` is the generated passcode when [`wants_new_passcode`] said so.
pub(crate) fn plan(
    session: &Session,
    current: &Meeting,
    changes: &[Change],
    passcode: Option<String>,
) -> Patches {
    let mut top = Map::new();
    let mut settings = Map::new();
    let mut in_meeting = Map::new();
    let mut recording = Map::new();
    let mut skipped = Vec::new();
    let auto_recording = current.settings.auto_recording.as_deref();
    let cloud_on_asked = changes
        .iter()
        .any(|c| c.control == Control::CloudRecording && target_name(c) == Some("on"));
    let mut alternative_hosts = co_hosts(current);
    let mut hosts_added = false;

    for c in changes {
        match (c.control, &c.to, target_name(c)) {
            (Control::Passcode, _, Some("required")) => {
                if current.password.as_deref().is_some_and(|p| !p.is_empty()) {
                    skipped.push((
                        c.control,
                        "the meeting already has a passcode; it is never replaced".into(),
                    ));
                } else if let Some(p) = &passcode {
                    top.insert("password".into(), Value::String(p.clone()));
                } else {
                    skipped.push((c.control, "no passcode was generated".into()));
                }
            }
            (Control::WaitingRoom, _, Some(level @ ("everyone" | "outsiders"))) => {
                let current_everyone = current.settings.waiting_room == Some(true)
                    && current
                        .settings
                        .waiting_room_options
                        .as_ref()
                        .is_some_and(|o| {
                            o.mode.as_deref() == Some("custom")
                                && o.who_goes_to_waiting_room.as_deref() == Some("everyone")
                        });
                if level == "outsiders" && current_everyone {
                    skipped.push((
                        c.control,
                        "everyone already waits; outsiders-only would loosen it".into(),
                    ));
                    continue;
                }
                // zoom.md §2.1 row 6: `mode: custom` with `who_goes_to_waiting_room`.
                let who = if level == "everyone" {
                    "everyone"
                } else {
                    "users_not_in_account"
                };
                settings.insert("waiting_room".into(), Value::Bool(true));
                settings.insert(
                    "waiting_room_options".into(),
                    json!({"mode": "custom", "who_goes_to_waiting_room": who}),
                );
            }
            (Control::JoinBeforeHost, _, Some("off")) => {
                settings.insert("join_before_host".into(), Value::Bool(false));
            }
            (Control::LocalRecording, _, Some("off")) => {
                if whether_host_permits_local_recording(session) {
                    recording.insert("local_recording".into(), Value::Bool(false));
                }
                if auto_recording == Some("local") {
                    let to = if cloud_on_asked { "cloud" } else { "none" };
                    settings.insert("auto_recording".into(), Value::String(to.into()));
                }
            }
            (Control::CloudRecording, _, Some("on")) => {
                settings.insert("auto_recording".into(), Value::String("cloud".into()));
            }
            (Control::CloudRecording, _, Some("off")) => {
                if auto_recording == Some("cloud") {
                    settings.insert("auto_recording".into(), Value::String("none".into()));
                }
            }
            (Control::SecondStaff, Target::AddCoHost { email }, _) => {
                let email = email.trim();
                if email.is_empty() || email.contains(';') {
                    skipped.push((c.control, format!("`{email}` is not one email address")));
                } else if !alternative_hosts
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(email))
                {
                    alternative_hosts.push(email.to_string());
                    hosts_added = true;
                }
            }
            (Control::ScreenShare, _, Some("host-only")) => {
                in_meeting.insert("who_can_share_screen".into(), Value::String("host".into()));
            }
            (Control::FileTransfer, _, Some("off")) => {
                in_meeting.insert("file_transfer".into(), Value::Bool(false));
            }
            (Control::ChatKept, _, Some("on")) => {
                in_meeting.insert("auto_saving_chat".into(), Value::Bool(true));
            }
            (Control::PrivateChat, _, Some("off")) => {
                in_meeting.insert("private_chat".into(), Value::Bool(false));
            }
            (control, _, level) => skipped.push((
                control,
                format!(
                    "chaperone does not write {control} → {} on Zoom",
                    level.unwrap_or("a co-host")
                ),
            )),
        }
    }
    if hosts_added {
        settings.insert(
            "alternative_hosts".into(),
            Value::String(alternative_hosts.join(";")),
        );
    }
    if !settings.is_empty() {
        top.insert("settings".into(), Value::Object(settings));
    }
    let mut host = Map::new();
    if !in_meeting.is_empty() {
        host.insert("in_meeting".into(), Value::Object(in_meeting));
    }
    if !recording.is_empty() {
        host.insert("recording".into(), Value::Object(recording));
    }
    Patches {
        meeting: (!top.is_empty()).then_some(Value::Object(top)),
        host: (!host.is_empty()).then_some(Value::Object(host)),
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Level;
    use crate::platform::zoom::http::decode;

    /// Shaped as meetings.openapi.json `paths./meetings/{meetingId}.get.responses.200` (fields
    /// and enums from the schema; values invented).
    const MEETING: &str = r#"{
        "assistant_id": "kFFvsJc-Q1OSxaJQLvaa_A",
        "host_email": "jchill@example.com",
        "host_id": "30R7kT7bTIKSNUFEuH_Qlg",
        "id": 97763643886,
        "uuid": "aDYlohsHRtCd4ii1uC2+hA==",
        "agenda": "My Meeting",
        "created_at": "2022-03-25T07:29:29Z",
        "duration": 60,
        "encrypted_password": "8pEkRweVXPV3Ob2KJYgFTRlDtl1gSn.1",
        "h323_password": "123456",
        "join_url": "https://example.com/j/11111",
        "occurrences": [
            {"duration": 60, "occurrence_id": "1648194360000", "start_time": "2022-03-25T07:46:00Z", "status": "available"},
            {"duration": 60, "occurrence_id": "1648280760000", "start_time": "2022-03-26T07:46:00Z", "status": "deleted"}
        ],
        "password": "123456",
        "pmi": "97891943927",
        "pre_schedule": false,
        "recurrence": {"end_date_time": "2022-04-02T15:59:00Z", "end_times": 7, "repeat_interval": 1, "type": 1},
        "settings": {
            "allow_multiple_devices": true,
            "alternative_hosts": "jchill@example.com; thill@example.com",
            "alternative_hosts_email_notification": true,
            "approval_type": 2,
            "auto_recording": "cloud",
            "jbh_time": 0,
            "join_before_host": false,
            "meeting_authentication": false,
            "waiting_room": true,
            "waiting_room_options": {"mode": "custom", "who_goes_to_waiting_room": "everyone"},
            "some_future_field": {"x": 1}
        },
        "start_time": "2022-03-25T07:29:29Z",
        "start_url": "https://example.com/s/11111",
        "status": "waiting",
        "timezone": "America/Los_Angeles",
        "topic": "My Meeting",
        "tracking_fields": [{"field": "Session type", "value": "Youth", "visible": true}],
        "type": 8,
        "creation_source": "open_api"
    }"#;

    /// users.openapi.json `paths./users/{userId}/settings.get` `oneOf[0]` (abridged).
    const USER_SETTINGS: &str = r#"{
        "schedule_meeting": {"host_video": false, "meeting_password_requirement": {"length": 8, "have_letter": true, "have_number": true, "have_special_character": false, "only_allow_numeric": false, "have_upper_and_lower_characters": true, "consecutive_characters_length": 4, "weak_enhance_detection": false}},
        "in_meeting": {"auto_saving_chat": false, "chat": true, "file_transfer": true, "private_chat": true, "screen_sharing": true, "who_can_share_screen": "all", "who_can_share_screen_when_someone_is_sharing": "host", "waiting_room": false},
        "recording": {"local_recording": true, "cloud_recording": true, "auto_recording": "local"}
    }"#;

    /// users.openapi.json `oneOf[3]` "Meeting/Webinar Security Settings".
    const SECURITY: &str = r#"{"meeting_security": {"auto_security": true, "waiting_room": true,
        "waiting_room_settings": {"participants_to_place_in_waiting_room": 1, "users_who_can_admit_participants_from_waiting_room": 0, "whitelisted_domains_for_waiting_room": "example.com"},
        "meeting_password": true,
        "meeting_password_requirement": {"length": 8, "have_letter": true, "have_number": true, "have_special_character": true, "only_allow_numeric": false, "have_upper_and_lower_characters": false, "consecutive_characters_length": 0, "weak_enhance_detection": false}}}"#;

    /// users.openapi.json `paths./groups/{groupId}/lock_settings.get` `oneOf[0]` (abridged).
    const GROUP_LOCKS: &str = r#"{"in_meeting": {"screen_sharing": true, "file_transfer": false, "auto_saving_chat": false, "private_chat": false}, "recording": {"local_recording": false, "auto_recording": false}, "schedule_meeting": {"host_video": true}}"#;
    const ACCOUNT_LOCKS: &str = r#"{"in_meeting": {"screen_sharing": true, "file_transfer": true, "auto_saving_chat": false, "private_chat": false}, "recording": {"local_recording": true}}"#;

    fn meeting() -> Meeting {
        decode("/meetings/97763643886", MEETING.as_bytes()).expect("spec-shaped meeting")
    }

    fn ctx() -> HostContext {
        HostContext {
            settings: Ok(decode("/s", USER_SETTINGS.as_bytes()).expect("settings")),
            security: Ok(decode("/s", SECURITY.as_bytes()).expect("security")),
            groups: vec![(
                Group {
                    id: "g1".into(),
                    name: "Youth workers".into(),
                },
                Ok(decode("/l", GROUP_LOCKS.as_bytes()).expect("locks")),
            )],
            account_locks: Ok(decode("/l", ACCOUNT_LOCKS.as_bytes()).expect("locks")),
        }
    }

    fn host() -> Host {
        Host {
            id: "30R7kT7bTIKSNUFEuH_Qlg".into(),
            email: "jchill@example.com".into(),
            name: "Jill Chill".into(),
            groups: vec!["Youth workers".into()],
        }
    }

    fn level_of(r: &BTreeMap<Control, Reading>, c: Control) -> (&'static str, Scope, Option<Lock>) {
        match r.get(&c) {
            Some(Reading::Value {
                level,
                scope,
                locked,
            }) => (c.level_name(*level), *scope, locked.clone()),
            other => panic!("{c}: {other:?}"),
        }
    }

    fn lv(c: Control, name: &str) -> Level {
        c.level(name).expect("level")
    }

    fn change(c: Control, name: &str) -> Change {
        Change {
            control: c,
            from: None,
            to: Target::Level { level: lv(c, name) },
        }
    }

    #[test]
    fn a_spec_shaped_meeting_maps_into_a_session() {
        let s = session(&meeting(), &host(), &ctx());
        assert_eq!(s.id, "97763643886");
        assert_eq!(s.occurrences.len(), 1, "deleted occurrences are dropped");
        assert_eq!(
            s.start.map(|t| t.to_rfc3339()),
            Some("2022-03-25T07:46:00+00:00".into())
        );
        assert_eq!(s.duration_minutes, 60);
        assert_eq!(s.timezone.as_deref(), Some("America/Los_Angeles"));
        assert!(!s.in_progress);
        assert_eq!(s.co_hosts, vec!["jchill@example.com", "thill@example.com"]);
        assert_eq!(
            s.tracking_fields,
            vec![("Session type".into(), "Youth".into())]
        );
        assert!(s.read_error.is_none());
        let r = &s.readings;
        assert_eq!(level_of(r, Control::Passcode).0, "required");
        assert_eq!(level_of(r, Control::WaitingRoom).0, "everyone");
        assert_eq!(level_of(r, Control::JoinBeforeHost).0, "off");
        assert_eq!(level_of(r, Control::CloudRecording).0, "on");
        let (share, scope, lock) = level_of(r, Control::ScreenShare);
        assert_eq!((share, scope), ("all", Scope::Host));
        assert_eq!(
            lock,
            Some(Lock::Group {
                id: "g1".into(),
                name: "Youth workers".into()
            })
        );
        assert_eq!(
            level_of(r, Control::FileTransfer),
            ("on", Scope::Host, Some(Lock::Account))
        );
        assert_eq!(level_of(r, Control::ChatKept), ("off", Scope::Host, None));
        assert_eq!(level_of(r, Control::PrivateChat), ("on", Scope::Host, None));
        assert_eq!(
            level_of(r, Control::LocalRecording),
            ("allowed", Scope::Host, Some(Lock::Account))
        );
        assert!(
            matches!(r.get(&Control::RejoinAfterRemoval), Some(Reading::Unsupported { reason }) if reason.contains("Allow removed participants to rejoin"))
        );
        assert!(matches!(
            r.get(&Control::AttendanceRecord),
            Some(Reading::Unsupported { .. })
        ));
        assert!(!r.contains_key(&Control::SecondStaff));
        assert!(!r.contains_key(&Control::CoverHours));
    }

    #[test]
    fn waiting_room_variants() {
        let mut m = meeting();
        let c = ctx();
        let wr = |m: &Meeting, c: &HostContext| readings(m, c).get(&Control::WaitingRoom).cloned();
        m.settings.waiting_room = Some(false);
        assert_eq!(
            wr(&m, &c),
            Some(Reading::value(
                lv(Control::WaitingRoom, "off"),
                Scope::Session
            ))
        );
        m.settings.waiting_room = Some(true);
        m.settings.waiting_room_options = Some(super::super::models::WaitingRoomOptions {
            mode: Some("custom".into()),
            who_goes_to_waiting_room: Some("users_not_on_invite".into()),
        });
        assert_eq!(
            wr(&m, &c),
            Some(Reading::value(
                lv(Control::WaitingRoom, "outsiders"),
                Scope::Session
            ))
        );
        // follow_setting: the host's participants_to_place_in_waiting_room (1 → outsiders).
        m.settings.waiting_room_options = None;
        assert_eq!(
            wr(&m, &c),
            Some(Reading::value(
                lv(Control::WaitingRoom, "outsiders"),
                Scope::Session
            ))
        );
        let mut c0 = ctx();
        if let Ok(sec) = c0.security.as_mut()
            && let Some(w) = sec.meeting_security.waiting_room_settings.as_mut()
        {
            w.participants_to_place_in_waiting_room = Some(0);
        }
        assert_eq!(
            wr(&m, &c0),
            Some(Reading::value(
                lv(Control::WaitingRoom, "everyone"),
                Scope::Session
            ))
        );
        let mut broken = ctx();
        broken.security = Err("boom".into());
        assert!(matches!(wr(&m, &broken), Some(Reading::Error { .. })));
    }

    #[test]
    fn screen_sharing_off_means_host_only() {
        let mut c = ctx();
        if let Ok(s) = c.settings.as_mut() {
            s.in_meeting.screen_sharing = Some(false);
        }
        assert_eq!(
            level_of(&readings(&meeting(), &c), Control::ScreenShare).0,
            "host-only"
        );
    }

    #[test]
    fn unreadable_host_settings_are_errors_not_values() {
        let mut c = ctx();
        c.settings = Err("HTTP 500".into());
        let r = readings(&meeting(), &c);
        for control in [
            Control::ScreenShare,
            Control::FileTransfer,
            Control::ChatKept,
            Control::PrivateChat,
            Control::LocalRecording,
        ] {
            assert!(
                matches!(r.get(&control), Some(Reading::Error { .. })),
                "{control}"
            );
        }
        // Meeting-level readings are unaffected.
        assert_eq!(level_of(&r, Control::Passcode).0, "required");
        // A local auto-recording is known without the host.
        let mut m = meeting();
        m.settings.auto_recording = Some("local".into());
        assert_eq!(
            level_of(&readings(&m, &c), Control::LocalRecording),
            ("allowed", Scope::Session, None)
        );
    }

    #[test]
    fn an_unreadable_lock_tier_is_an_error() {
        let mut c = ctx();
        c.account_locks = Err("403".into());
        let r = readings(&meeting(), &c);
        // The group lock is known and wins.
        assert_eq!(
            level_of(&r, Control::ScreenShare).2,
            Some(Lock::Group {
                id: "g1".into(),
                name: "Youth workers".into()
            })
        );
        assert!(
            matches!(r.get(&Control::ChatKept), Some(Reading::Error { reason }) if reason.contains("account"))
        );
    }

    #[test]
    fn local_recording_combinations() {
        let mut c = ctx();
        if let Ok(s) = c.settings.as_mut() {
            s.recording.local_recording = Some(false);
        }
        let mut m = meeting();
        m.settings.auto_recording = Some("none".into());
        assert_eq!(
            level_of(&readings(&m, &c), Control::LocalRecording),
            ("off", Scope::Session, None)
        );
        m.settings.auto_recording = Some("local".into());
        assert_eq!(
            level_of(&readings(&m, &c), Control::LocalRecording),
            ("allowed", Scope::Session, None)
        );
    }

    #[test]
    fn passcode_absent_or_empty_is_optional() {
        let mut m = meeting();
        m.password = Some(String::new());
        assert_eq!(
            level_of(&readings(&m, &ctx()), Control::Passcode).0,
            "optional"
        );
        m.password = None;
        assert_eq!(
            level_of(&readings(&m, &ctx()), Control::Passcode).0,
            "optional"
        );
    }

    #[test]
    fn garbage_meeting_fields_fail_decoding_with_a_path() {
        let bad = MEETING.replace(
            "\"join_before_host\": false",
            "\"join_before_host\": \"no\"",
        );
        let err = decode::<Meeting>("/meetings/1", bad.as_bytes()).expect_err("bad bool");
        assert!(
            err.to_string().contains("settings.join_before_host"),
            "{err}"
        );
    }

    #[test]
    fn list_items_are_kept_by_window() {
        use chrono::TimeZone;
        let t = |d| {
            chrono::Utc
                .with_ymd_and_hms(2022, 3, d, 12, 0, 0)
                .single()
                .expect("date")
        };
        let w = Window {
            from: t(10),
            to: t(20),
        };
        let item = |kind, start| MeetingSummary {
            id: 1,
            kind: Some(kind),
            start_time: start,
            ..Default::default()
        };
        assert_eq!(keep(&item(2, Some(t(11))), &w), Keep::Yes);
        assert_eq!(keep(&item(2, Some(t(21))), &w), Keep::No);
        assert_eq!(
            keep(&item(2, Some(t(20))), &w),
            Keep::No,
            "the end is exclusive"
        );
        assert_eq!(keep(&item(3, None), &w), Keep::Yes);
        assert_eq!(keep(&item(8, Some(t(5))), &w), Keep::IfAnOccurrenceIs);
        let mut m = meeting();
        m.start_time = Some(t(5));
        m.occurrences[0].start_time = Some(t(12));
        assert!(meeting_in_window(&m, &w));
        m.occurrences[0].start_time = Some(t(25));
        m.occurrences[1].start_time = Some(t(12)); // deleted
        assert!(!meeting_in_window(&m, &w));
    }

    #[test]
    fn changes_become_one_meeting_patch_and_one_host_patch() {
        let mut m = meeting();
        m.password = None;
        m.settings.auto_recording = Some("local".into());
        m.settings.join_before_host = Some(true);
        let s = session(&m, &host(), &ctx());
        let changes = vec![
            change(Control::Passcode, "required"),
            change(Control::WaitingRoom, "everyone"),
            change(Control::JoinBeforeHost, "off"),
            change(Control::LocalRecording, "off"),
            change(Control::ScreenShare, "host-only"),
            change(Control::FileTransfer, "off"),
            change(Control::ChatKept, "on"),
            change(Control::PrivateChat, "off"),
            Change {
                control: Control::SecondStaff,
                from: None,
                to: Target::AddCoHost {
                    email: "staff@example.com".into(),
                },
            },
        ];
        assert!(wants_new_passcode(&s, &m, &changes));
        let p = plan(&s, &m, &changes, Some("Ab3dE6gH9k".into()));
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);
        assert_eq!(
            p.meeting,
            Some(json!({
                "password": "Ab3dE6gH9k",
                "settings": {
                    "waiting_room": true,
                    "waiting_room_options": {"mode": "custom", "who_goes_to_waiting_room": "everyone"},
                    "join_before_host": false,
                    "auto_recording": "none",
                    "alternative_hosts": "jchill@example.com;thill@example.com;staff@example.com"
                }
            }))
        );
        assert_eq!(
            p.host,
            Some(json!({
                "in_meeting": {"who_can_share_screen": "host", "file_transfer": false, "auto_saving_chat": true, "private_chat": false},
                "recording": {"local_recording": false}
            }))
        );
    }

    #[test]
    fn local_recording_off_with_cloud_on_moves_the_meeting_to_cloud() {
        let mut m = meeting();
        m.settings.auto_recording = Some("local".into());
        let mut c = ctx();
        if let Ok(s) = c.settings.as_mut() {
            s.recording.local_recording = Some(false);
        }
        let s = session(&m, &host(), &c);
        let p = plan(
            &s,
            &m,
            &[
                change(Control::LocalRecording, "off"),
                change(Control::CloudRecording, "on"),
            ],
            None,
        );
        assert_eq!(
            p.meeting,
            Some(json!({"settings": {"auto_recording": "cloud"}}))
        );
        assert_eq!(p.host, None, "the host permission is already off");
    }

    #[test]
    fn an_existing_passcode_is_never_replaced_and_loosening_is_refused() {
        let m = meeting();
        let s = session(&m, &host(), &ctx());
        let changes = [
            change(Control::Passcode, "required"),
            change(Control::Passcode, "optional"),
            change(Control::WaitingRoom, "outsiders"),
            change(Control::ScreenShare, "all"),
        ];
        assert!(!wants_new_passcode(&s, &m, &changes));
        let p = plan(&s, &m, &changes, Some("Ab3dE6gH9k".into()));
        assert_eq!(p.meeting, None);
        assert_eq!(p.host, None);
        assert_eq!(p.skipped.len(), 4);
    }

    #[test]
    fn an_existing_alternative_host_is_not_added_twice() {
        let m = meeting();
        let s = session(&m, &host(), &ctx());
        let p = plan(
            &s,
            &m,
            &[Change {
                control: Control::SecondStaff,
                from: None,
                to: Target::AddCoHost {
                    email: "THILL@example.com".into(),
                },
            }],
            None,
        );
        assert_eq!(p.meeting, None);
    }
}

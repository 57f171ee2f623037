//! A small, hand-written schema of the `PATCH /meetings/{meetingId}` request body, taken from
//! meetings.openapi.json `paths./meetings/{meetingId}.patch.requestBody` (field names, types,
//! enums and maxLength), used to accept only what the spec allows.
//!
//! Fields that the spec does not list are ignored, as Zoom's schemas have no
//! `additionalProperties: false` (research/zoom.md §8.1 limitation 2): a client that puts a
//! field at the wrong level (for example `settings.who_can_share_screen` on a meeting) gets a
//! 204 and no change, which only a read-back reveals.

use serde_json::{Value, json};

use super::model::type_name;

/// A JSON type with the constraints the spec states.
pub(crate) enum Ty {
    Bool,
    IntRange(i64, i64),
    IntEnum(&'static [i64]),
    Str,
    StrMax(usize),
    StrEnum(&'static [&'static str]),
    DateTime,
    Obj(&'static [(&'static str, Ty)]),
    Arr(&'static Ty),
    Any,
}

const WAITING_ROOM_OPTIONS: &[(&str, Ty)] = &[
    ("mode", Ty::StrEnum(&["follow_setting", "custom"])),
    (
        "who_goes_to_waiting_room",
        Ty::StrEnum(&[
            "everyone",
            "users_not_in_account",
            "users_not_in_account_or_whitelisted_domains",
            "users_not_on_invite",
        ]),
    ),
];

const CUSTOM_KEY: &[(&str, Ty)] = &[("key", Ty::StrMax(64)), ("value", Ty::StrMax(256))];

/// `settings` of the PATCH body (spec order).
pub(crate) const MEETING_SETTINGS: &[(&str, Ty)] = &[
    ("allow_multiple_devices", Ty::Bool),
    ("alternative_hosts", Ty::Str),
    ("alternative_hosts_email_notification", Ty::Bool),
    ("alternative_host_update_polls", Ty::Bool),
    ("alternative_host_manage_meeting_summary", Ty::Bool),
    ("alternative_host_manage_cloud_recording", Ty::Bool),
    ("approval_type", Ty::IntEnum(&[0, 1, 2])),
    ("approved_or_denied_countries_or_regions", Ty::Any),
    (
        "audio",
        Ty::StrEnum(&["both", "telephony", "voip", "thirdParty"]),
    ),
    ("audio_conference_info", Ty::StrMax(2048)),
    ("authentication_domains", Ty::Str),
    ("authentication_exception", Ty::Arr(&Ty::Any)),
    ("authentication_name", Ty::Str),
    ("authentication_option", Ty::Str),
    ("auto_recording", Ty::StrEnum(&["local", "cloud", "none"])),
    ("auto_add_recording_to_video_management", Ty::Any),
    ("breakout_room", Ty::Any),
    ("calendar_type", Ty::IntEnum(&[1, 2])),
    ("close_registration", Ty::Bool),
    ("cn_meeting", Ty::Bool),
    ("contact_email", Ty::Str),
    ("contact_name", Ty::Str),
    ("custom_keys", Ty::Arr(&Ty::Obj(CUSTOM_KEY))),
    ("email_notification", Ty::Bool),
    (
        "encryption_type",
        Ty::StrEnum(&["enhanced_encryption", "e2ee"]),
    ),
    ("enforce_login", Ty::Bool),
    ("enforce_login_domains", Ty::Str),
    ("focus_mode", Ty::Bool),
    ("global_dial_in_countries", Ty::Arr(&Ty::Str)),
    ("global_dial_in_numbers", Ty::Any),
    ("host_video", Ty::Bool),
    ("in_meeting", Ty::Bool),
    ("jbh_time", Ty::IntEnum(&[0, 5, 10, 15])),
    ("join_before_host", Ty::Bool),
    ("question_and_answer", Ty::Any),
    ("language_interpretation", Ty::Any),
    ("sign_language_interpretation", Ty::Any),
    ("meeting_authentication", Ty::Bool),
    ("meeting_invitees", Ty::Arr(&Ty::Any)),
    ("mute_upon_entry", Ty::Bool),
    ("participant_video", Ty::Bool),
    ("private_meeting", Ty::Bool),
    ("registrants_confirmation_email", Ty::Bool),
    ("registrants_email_notification", Ty::Bool),
    ("registration_type", Ty::IntEnum(&[1, 2, 3])),
    ("show_share_button", Ty::Bool),
    ("use_pmi", Ty::Bool),
    ("waiting_room", Ty::Bool),
    ("waiting_room_options", Ty::Obj(WAITING_ROOM_OPTIONS)),
    ("watermark", Ty::Bool),
    ("host_save_video_order", Ty::Bool),
    ("internal_meeting", Ty::Bool),
    ("continuous_meeting_chat", Ty::Any),
    ("participant_focused_meeting", Ty::Bool),
    ("push_change_to_calendar", Ty::Bool),
    ("resources", Ty::Any),
    ("auto_start_meeting_summary", Ty::Bool),
    ("who_will_receive_summary", Ty::IntEnum(&[1, 2, 3, 4])),
    ("auto_start_ai_companion_questions", Ty::Bool),
    ("who_can_ask_questions", Ty::IntEnum(&[1, 2, 3, 4, 5])),
    ("summary_template_id", Ty::Str),
    ("device_testing", Ty::Bool),
    ("request_permission_to_unmute_participants", Ty::Bool),
    ("allow_host_control_participant_mute_state", Ty::Bool),
    ("disable_participant_video", Ty::Bool),
    ("email_in_attendee_report", Ty::Bool),
];

const RECURRENCE: &[(&str, Ty)] = &[
    ("end_date_time", Ty::DateTime),
    ("end_times", Ty::IntRange(1, 60)),
    ("monthly_day", Ty::IntRange(1, 31)),
    ("monthly_week", Ty::IntEnum(&[-1, 1, 2, 3, 4])),
    ("monthly_week_day", Ty::IntEnum(&[1, 2, 3, 4, 5, 6, 7])),
    ("repeat_interval", Ty::IntRange(1, 99)),
    ("type", Ty::IntEnum(&[1, 2, 3])),
    ("weekly_days", Ty::Str),
];

const TRACKING_FIELD: &[(&str, Ty)] = &[("field", Ty::Str), ("value", Ty::Str)];

/// Top level of the PATCH body.
pub(crate) const MEETING_PATCH: &[(&str, Ty)] = &[
    ("agenda", Ty::StrMax(2000)),
    ("duration", Ty::IntRange(1, 1440)),
    ("password", Ty::StrMax(10)),
    ("pre_schedule", Ty::Bool),
    ("schedule_for", Ty::Str),
    ("recurrence", Ty::Obj(RECURRENCE)),
    ("settings", Ty::Obj(MEETING_SETTINGS)),
    ("start_time", Ty::DateTime),
    ("template_id", Ty::Str),
    ("timezone", Ty::Str),
    ("topic", Ty::StrMax(200)),
    ("tracking_fields", Ty::Arr(&Ty::Obj(TRACKING_FIELD))),
    ("type", Ty::IntEnum(&[1, 2, 3, 8, 10])),
];

/// Settings that the spec allows per occurrence (`occurrence_id` parameter description of
/// `paths./meetings/{meetingId}.patch`).
pub(crate) const OCCURRENCE_SETTINGS: &[&str] = &[
    "host_video",
    "participant_video",
    "join_before_host",
    "mute_upon_entry",
    "waiting_room",
    "watermark",
    "auto_recording",
];

/// Top-level fields allowed per occurrence.
pub(crate) const OCCURRENCE_FIELDS: &[&str] = &["agenda", "start_time", "duration"];

fn err(path: &str, message: String) -> Value {
    json!({ "field": path, "message": message })
}

/// Validate `value` against `ty`, appending Zoom-style `{field, message}` errors.
pub(crate) fn validate(ty: &Ty, value: &Value, path: &str, errors: &mut Vec<Value>) {
    match ty {
        Ty::Any => {}
        Ty::Bool => {
            if !value.is_boolean() {
                errors.push(err(
                    path,
                    format!("Invalid field: expected boolean, got {}.", type_name(value)),
                ));
            }
        }
        Ty::IntRange(..) | Ty::IntEnum(_) => match value.as_i64() {
            None => errors.push(err(
                path,
                format!("Invalid field: expected integer, got {}.", type_name(value)),
            )),
            Some(n) => match ty {
                Ty::IntRange(lo, hi) if n < *lo || n > *hi => errors.push(err(
                    path,
                    format!("Invalid field: must be between {lo} and {hi}."),
                )),
                Ty::IntEnum(allowed) if !allowed.contains(&n) => errors.push(err(
                    path,
                    format!("Invalid field: must be one of {allowed:?}."),
                )),
                _ => {}
            },
        },
        Ty::Str | Ty::StrMax(_) | Ty::StrEnum(_) | Ty::DateTime => match value.as_str() {
            None => errors.push(err(
                path,
                format!("Invalid field: expected string, got {}.", type_name(value)),
            )),
            Some(s) => match ty {
                Ty::StrMax(max) if s.chars().count() > *max => errors.push(err(
                    path,
                    format!("Invalid field: must be at most {max} characters."),
                )),
                Ty::StrEnum(allowed) if !allowed.contains(&s) => errors.push(err(
                    path,
                    format!("Invalid field: must be one of {}.", allowed.join(", ")),
                )),
                Ty::DateTime if parse_zoom_time(s).is_none() => errors.push(err(
                    path,
                    "Invalid field: expected a date-time such as 2026-03-23T06:00:00Z.".into(),
                )),
                _ => {}
            },
        },
        Ty::Obj(fields) => match value.as_object() {
            None => errors.push(err(
                path,
                format!("Invalid field: expected object, got {}.", type_name(value)),
            )),
            Some(map) => {
                for (k, v) in map {
                    if let Some((_, t)) = fields.iter().find(|(name, _)| name == k) {
                        let child = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        validate(t, v, &child, errors);
                    }
                }
            }
        },
        Ty::Arr(item) => match value.as_array() {
            None => errors.push(err(
                path,
                format!("Invalid field: expected array, got {}.", type_name(value)),
            )),
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    validate(item, v, &format!("{path}[{i}]"), errors);
                }
            }
        },
    }
}

/// Parse a start time in the two forms the spec describes: `yyyy-MM-ddTHH:mm:ssZ` (GMT) or
/// `yyyy-MM-ddTHH:mm:ss` (local time in `timezone`; the local form is returned as naive).
pub(crate) fn parse_zoom_time(s: &str) -> Option<ZoomTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(ZoomTime::Utc(t.with_timezone(&chrono::Utc)));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(ZoomTime::Local)
}

/// A parsed `start_time`.
pub(crate) enum ZoomTime {
    Utc(chrono::DateTime<chrono::Utc>),
    Local(chrono::NaiveDateTime),
}

/// Keep only the spec's fields (recursively through typed objects), so unknown fields are
/// ignored rather than stored.
pub(crate) fn filter_known(fields: &[(&str, Ty)], value: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            if v.is_null() {
                continue;
            }
            if let Some((_, t)) = fields.iter().find(|(name, _)| name == k) {
                let kept = match t {
                    Ty::Obj(inner) => filter_known(inner, v),
                    _ => v.clone(),
                };
                out.insert(k.clone(), kept);
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: Value) -> Vec<Value> {
        let mut errors = Vec::new();
        validate(&Ty::Obj(MEETING_PATCH), &body, "", &mut errors);
        errors
    }

    #[test]
    fn accepts_a_typical_hardening_body() {
        let body = json!({"password": "Ab12cd", "settings": {"waiting_room": true, "join_before_host": false,
            "auto_recording": "none", "alternative_hosts": "a@example.org",
            "waiting_room_options": {"mode": "custom", "who_goes_to_waiting_room": "everyone"}}});
        assert!(check(body).is_empty());
    }

    #[test]
    fn rejects_wrong_types_enums_and_lengths() {
        let errors = check(
            json!({"password": "12345678901", "settings": {"waiting_room": "yes", "auto_recording": "disk", "jbh_time": 7}}),
        );
        let fields: Vec<_> = errors
            .iter()
            .map(|e| e["field"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(fields.contains(&"password".to_string()));
        assert!(fields.contains(&"settings.waiting_room".to_string()));
        assert!(fields.contains(&"settings.auto_recording".to_string()));
        assert!(fields.contains(&"settings.jbh_time".to_string()));
    }

    #[test]
    fn unknown_fields_are_dropped() {
        let kept = filter_known(
            MEETING_PATCH,
            &json!({"settings": {"who_can_share_screen": "host", "waiting_room": true}, "bogus": 1}),
        );
        assert_eq!(kept, json!({"settings": {"waiting_room": true}}));
    }
}

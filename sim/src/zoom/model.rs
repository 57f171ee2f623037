//! Default settings trees, identifier generation and small JSON helpers.
//!
//! The trees follow the response schemas of `GET /users/{userId}/settings` (users.openapi.json,
//! `paths./users/{userId}/settings.get`, oneOf branch 0 "User settings" and branch 3
//! "Meeting/Webinar Security Settings") and of the lock settings (`paths./groups/{groupId}/lock_settings.get`,
//! accounts.openapi.json `paths./accounts/{accountId}/lock_settings.get`). Only the sections a
//! safeguarding tool reads are filled in; their field names and enums are the spec's.

use base64::Engine as _;
use rand::Rng;
use serde_json::{Map, Value, json};

/// Main user settings tree (no `option`), with Zoom's documented defaults where the spec gives
/// one and a plausible Pro-plan value otherwise.
pub(crate) fn default_user_settings() -> Value {
    json!({
        "schedule_meeting": {
            "audio_type": "both",
            "embed_password_in_join_link": true,
            "force_pmi_jbh_password": false,
            "host_video": false,
            "join_before_host": false,
            "meeting_password_requirement": default_password_requirement(),
            "participants_video": false,
            "personal_meeting": false,
            "pstn_password_protected": false,
            "require_password_for_instant_meetings": false,
            "require_password_for_pmi_meetings": "none",
            "require_password_for_scheduled_meetings": false,
            "require_password_for_scheduling_new_meetings": false,
            "use_pmi_for_instant_meetings": false,
            "use_pmi_for_scheduled_meetings": false
        },
        "in_meeting": {
            "allow_participants_chat_with": 4,
            "allow_users_save_chats": 3,
            "annotation": true,
            "attendee_on_hold": false,
            "auto_saving_chat": false,
            "breakout_room": true,
            "chat": true,
            "closed_caption": true,
            "co_host": true,
            "disable_screen_sharing_for_host_meetings": false,
            "disable_screen_sharing_for_in_meeting_guests": false,
            "e2e_encryption": false,
            "entry_exit_chime": "all",
            "far_end_camera_control": false,
            "feedback": false,
            "file_transfer": false,
            "group_hd": false,
            "meeting_reactions": true,
            "non_verbal_feedback": true,
            "polling": true,
            "private_chat": true,
            "remote_control": true,
            "remote_support": false,
            "screen_sharing": true,
            "show_meeting_control_toolbar": false,
            "virtual_background": true,
            "waiting_room": false,
            "who_can_share_screen": "host",
            "who_can_share_screen_when_someone_is_sharing": "host",
            "participants_share_simultaneously": "one",
            "whiteboard": true
        },
        "email_notification": {
            "alternative_host_reminder": true,
            "cancel_meeting_reminder": true,
            "cloud_recording_available_reminder": true,
            "jbh_reminder": true,
            "schedule_for_reminder": true
        },
        "recording": {
            "ask_host_to_confirm_disclaimer": false,
            "ask_participants_to_consent_disclaimer": true,
            "auto_delete_cmr": false,
            "auto_recording": "none",
            "cloud_recording": false,
            "host_pause_stop_recording": true,
            "local_recording": false,
            "record_audio_file": true,
            "record_gallery_view": false,
            "record_speaker_view": true,
            "recording_audio_transcript": false,
            "recording_disclaimer": true,
            "save_chat_text": true,
            "show_timestamp": false
        },
        "feature": {
            "meeting_capacity": 100,
            "large_meeting": false,
            "webinar": false,
            "cn_meeting": false,
            "in_meeting": false,
            "zoom_phone": false
        },
        "telephony": {
            "show_international_numbers_link": true,
            "third_party_audio": false
        }
    })
}

/// Passcode requirement defaults: a 6-character minimum with letters and numbers, which is what a
/// Pro account shows when "have minimum passcode requirement" is on.
pub(crate) fn default_password_requirement() -> Value {
    json!({
        "consecutive_characters_length": 0,
        "have_letter": true,
        "have_number": true,
        "have_special_character": false,
        "have_upper_and_lower_characters": false,
        "length": 6,
        "only_allow_numeric": false,
        "weak_enhance_detection": false
    })
}

/// The `?option=meeting_security` tree's own fields. Fields that are the same setting as one in
/// the main tree are not stored here: see [`SECURITY_ALIASES`].
pub(crate) fn default_meeting_security() -> Value {
    json!({
        "auto_security": true,
        "block_user_domain": false,
        "block_user_domain_list": [],
        "encryption_type": "enhanced_encryption",
        "end_to_end_encrypted_meetings": false,
        "only_authenticated_can_join_from_webclient": false,
        "phone_password": false,
        "pmi_password": false,
        "require_password_for_scheduled_webinar": false,
        "waiting_room_settings": {
            "participants_to_place_in_waiting_room": 0,
            "users_who_can_admit_participants_from_waiting_room": 0,
            "whitelisted_domains_for_waiting_room": ""
        },
        "webinar_password": false
    })
}

/// `meeting_security` fields that are the same setting as a field of the main tree: the web
/// portal has one switch for each, shown in both API views. The main tree holds the value.
/// (Assumption: the spec documents the two views separately and does not say they are linked.)
pub(crate) const SECURITY_ALIASES: &[(&str, &str)] = &[
    ("waiting_room", "/in_meeting/waiting_room"),
    (
        "embed_password_in_join_link",
        "/schedule_meeting/embed_password_in_join_link",
    ),
    (
        "meeting_password_requirement",
        "/schedule_meeting/meeting_password_requirement",
    ),
    (
        "require_password_for_scheduled_meeting",
        "/schedule_meeting/require_password_for_scheduled_meetings",
    ),
    (
        "meeting_password",
        "/schedule_meeting/require_password_for_scheduling_new_meetings",
    ),
];

/// A lock-settings tree with every lock off. Sections and leaves are those of the spec's
/// lock_settings schema that matter for safeguarding; each leaf is a bool meaning "locked".
pub(crate) fn default_lock_settings() -> Value {
    json!({
        "schedule_meeting": {
            "audio_type": false,
            "embed_password_in_join_link": false,
            "force_pmi_jbh_password": false,
            "host_video": false,
            "join_before_host": false,
            "meeting_authentication": false,
            "mute_upon_entry": false,
            "participant_video": false,
            "pstn_password_protected": false,
            "require_password_for_instant_meetings": false,
            "require_password_for_pmi_meetings": false,
            "require_password_for_scheduling_new_meetings": false,
            "upcoming_meeting_reminder": false
        },
        "in_meeting": {
            "annotation": false,
            "attendee_on_hold": false,
            "auto_saving_chat": false,
            "breakout_room": false,
            "chat": false,
            "closed_caption": false,
            "co_host": false,
            "disable_screen_sharing_for_host_meetings": false,
            "disable_screen_sharing_for_in_meeting_guests": false,
            "e2e_encryption": false,
            // `entry_exit_chime` is left out of the lock tree: users.openapi.json and
            // accounts.openapi.json type this lock leaf as a string ("all"/"none"), unlike every
            // other lock leaf; the field is optional, so omitting it keeps the answer conformant.
            "far_end_camera_control": false,
            "feedback": false,
            "file_transfer": false,
            "group_hd": false,
            "non_verbal_feedback": false,
            "polling": false,
            "private_chat": false,
            "remote_control": false,
            "remote_support": false,
            "screen_sharing": false,
            "virtual_background": false,
            "waiting_room": false,
            "whiteboard": false
        },
        "recording": {
            "auto_delete_cmr": false,
            "auto_recording": false,
            "cloud_recording": false,
            "cloud_recording_download": false,
            "host_delete_cloud_recording": false,
            // `ip_address_access_control` is left out: the group lock schema types it as an
            // object and the account lock schema as a boolean (users/accounts.openapi.json).
            "local_recording": false,
            "recording_authentication": false
        },
        "meeting_security": {
            "auto_security": false,
            "block_user_domain": false,
            "embed_password_in_join_link": false,
            "encryption_type": false,
            "end_to_end_encrypted_meetings": false,
            "meeting_password": false,
            "only_authenticated_can_join_from_webclient": false,
            "phone_password": false,
            "pmi_password": false,
            "waiting_room": false,
            "webinar_password": false
        }
    })
}

/// Which lock leaves govern a main-tree user setting. Besides the leaf of the same name, Zoom
/// documents that `in_meeting.screen_sharing` locks the whole screen-sharing setting including
/// `who_can_share_screen` (there is no separate lock for it), and that locking `chat` also locks
/// its sub-options (research/zoom.md §2.1 rows 2 and 9).
pub(crate) fn locks_for_setting(section: &str, key: &str) -> Vec<String> {
    let mut out = vec![format!("/{section}/{key}")];
    match (section, key) {
        (
            "in_meeting",
            "who_can_share_screen"
            | "who_can_share_screen_when_someone_is_sharing"
            | "participants_share_simultaneously",
        ) => out.push("/in_meeting/screen_sharing".into()),
        (
            "in_meeting",
            "allow_participants_chat_with" | "allow_users_save_chats" | "auto_saving_chat",
        ) => out.push("/in_meeting/chat".into()),
        ("in_meeting", "waiting_room") => out.push("/meeting_security/waiting_room".into()),
        (
            "schedule_meeting",
            "meeting_password_requirement" | "require_password_for_scheduling_new_meetings",
        ) => {
            out.push("/meeting_security/meeting_password".into());
            out.push("/schedule_meeting/require_password_for_scheduling_new_meetings".into());
        }
        ("schedule_meeting", "require_password_for_scheduled_meetings") => {
            out.push("/schedule_meeting/require_password_for_scheduling_new_meetings".into())
        }
        ("schedule_meeting", "embed_password_in_join_link") => {
            out.push("/meeting_security/embed_password_in_join_link".into())
        }
        _ => {}
    }
    out
}

/// Enumerations of settings values from the spec; a PATCH with another value is a 400.
pub(crate) fn settings_enum(path: &str) -> Option<&'static [&'static str]> {
    Some(match path {
        "/in_meeting/who_can_share_screen"
        | "/in_meeting/who_can_share_screen_when_someone_is_sharing" => &["host", "all"],
        "/in_meeting/participants_share_simultaneously" => &["multiple", "one"],
        "/in_meeting/entry_exit_chime" => &["host", "all", "none"],
        "/recording/auto_recording" => &["local", "cloud", "none"],
        "/schedule_meeting/audio_type" => &["both", "telephony", "voip", "thirdParty"],
        "/schedule_meeting/require_password_for_pmi_meetings" => &["jbh_only", "all", "none"],
        "/meeting_security/encryption_type" => &["enhanced_encryption", "e2ee"],
        _ => return None,
    })
}

/// Integer enumerations of settings values from the spec.
pub(crate) fn settings_int_enum(path: &str) -> Option<&'static [i64]> {
    Some(match path {
        "/in_meeting/allow_participants_chat_with" => &[1, 2, 3, 4],
        "/in_meeting/allow_users_save_chats" => &[1, 2, 3],
        "/schedule_meeting/meeting_password_requirement/consecutive_characters_length"
        | "/meeting_security/meeting_password_requirement/consecutive_characters_length" => {
            &[0, 4, 5, 6, 7, 8]
        }
        "/meeting_security/waiting_room_settings/participants_to_place_in_waiting_room" => {
            &[0, 1, 2]
        }
        "/meeting_security/waiting_room_settings/users_who_can_admit_participants_from_waiting_room" => {
            &[0, 1]
        }
        _ => return None,
    })
}

/// FNV-1a, used to derive stable Zoom-looking ids from emails and names so scenarios are
/// reproducible without storing ids.
pub(crate) fn fnv1a(seed: u64, s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A 22-character URL-safe id like Zoom's user and group ids (`KDcuGIm1QgePTO8WbOqwIQ`).
pub(crate) fn zoom_id(kind: &str, s: &str) -> String {
    let key = format!("{kind}:{}", s.to_ascii_lowercase());
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&fnv1a(1, &key).to_be_bytes());
    bytes[8..].copy_from_slice(&fnv1a(2, &key).to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A meeting UUID as Zoom shows it: standard base64 of 16 bytes, e.g. `aDYlohsHRtCd4ii1uC2+hA==`.
pub(crate) fn meeting_uuid(rng: &mut impl Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random alphanumeric string (tokens, page tokens, encrypted passcodes).
pub(crate) fn random_alnum(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(ALNUM[rng.random_range(0..ALNUM.len())]))
        .collect()
}

/// The `pwd` value Zoom embeds in `join_url`: an opaque string that changes with the passcode.
pub(crate) fn encrypted_password(rng: &mut impl Rng) -> String {
    format!("{}.1", random_alnum(rng, 32))
}

/// Digits-only passcode variant that Zoom derives for phone (PSTN) and H.323 dial-in.
pub(crate) fn numeric_password(rng: &mut impl Rng) -> String {
    (0..10)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// The join link, which carries `?pwd=` when the meeting has a passcode and the host embeds it.
pub(crate) fn join_url(id: u64, encrypted: &str, embed: bool) -> String {
    if encrypted.is_empty() || !embed {
        format!("https://us06web.zoom.us/j/{id}")
    } else {
        format!("https://us06web.zoom.us/j/{id}?pwd={encrypted}")
    }
}

/// Deep merge: objects merge key by key, everything else replaces.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Set a value at a JSON pointer, creating intermediate objects as needed. Returns false when
/// the pointer runs through a non-object (e.g. an array index that does not exist).
pub(crate) fn set_pointer(root: &mut Value, pointer: &str, value: Value) -> bool {
    if pointer.is_empty() {
        *root = value;
        return true;
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return false;
    };
    let parts: Vec<String> = rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match cur {
            Value::Object(map) => {
                if last {
                    map.insert(part.clone(), value);
                    return true;
                }
                cur = map
                    .entry(part.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
            }
            Value::Array(items) => {
                let Ok(idx) = part.parse::<usize>() else {
                    return false;
                };
                let Some(item) = items.get_mut(idx) else {
                    return false;
                };
                if last {
                    *item = value;
                    return true;
                }
                cur = item;
            }
            _ => return false,
        }
    }
    false
}

/// JSON type name used in validation messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_zoom_shaped() {
        let a = zoom_id("user", "a@example.org");
        assert_eq!(a, zoom_id("user", "A@example.org"));
        assert_eq!(a.len(), 22);
        assert_ne!(a, zoom_id("user", "b@example.org"));
    }

    #[test]
    fn set_pointer_creates_intermediate_objects() {
        let mut v = json!({});
        assert!(set_pointer(&mut v, "/settings/waiting_room", json!(true)));
        assert_eq!(v, json!({"settings": {"waiting_room": true}}));
    }

    #[test]
    fn merge_keeps_untouched_siblings() {
        let mut v = json!({"a": {"b": 1, "c": 2}});
        merge(&mut v, &json!({"a": {"b": 3}}));
        assert_eq!(v, json!({"a": {"b": 3, "c": 2}}));
    }
}

//! Small building blocks for message texts: escaping, times in the tenant's zone, plain words.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::control::Control;
pub use crate::report::printable;

/// Escapes text for HTML element content and quoted attribute values. Every piece of text that
/// came from a platform or a profile (topics, names, links, reminders) goes through here, and
/// its control characters are shown as symbols ([`printable`]).
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in printable(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A link for an `href`: only `https://` and `http://` links are made clickable, so a hostile
/// value (`javascript:…`) can never become a link.
pub fn safe_link(url: &str) -> Option<&str> {
    let lower = url.trim_start().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(url)
}

/// "Tue 24 Nov 17:00" in the tenant's time zone: what a youth worker reads at a glance.
pub fn when(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%a %-d %b %H:%M").to_string()
}

/// "Tue 24 Nov 2026 17:00 GMT", for the line that says when the check ran.
pub fn when_long(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%a %-d %b %Y %H:%M %Z")
        .to_string()
}

/// What a verified change means for the session, in plain words. `before` is the value it
/// replaced, where it changes what the sentence must say (recording turned off from "anyone may
/// record" is more than automatic recording turned off).
pub fn change_sentence(control: Control, before: Option<&str>, after: &str) -> String {
    let was = |level: &str| before.is_some_and(|b| b.starts_with(level));
    match (control, after) {
        (Control::Passcode, _) => {
            "Passcode added: people now need the new join link (or the passcode) to get in".into()
        }
        (Control::WaitingRoom, "everyone") => {
            "Waiting room turned on: everyone now waits to be admitted".into()
        }
        (Control::WaitingRoom, _) => {
            "Waiting room turned on: people from outside the organisation now wait to be admitted"
                .into()
        }
        (Control::JoinBeforeHost, _) => {
            "Join before host turned off: nobody can join until you are there".into()
        }
        (Control::ScreenShare, _) => {
            "Screen sharing limited to the host: only you can share your screen".into()
        }
        (Control::FileTransfer, _) => {
            "File transfer turned off: no files can be sent through the meeting chat".into()
        }
        (Control::RejoinAfterRemoval, _) => {
            "Someone you remove from the meeting can no longer rejoin".into()
        }
        (Control::SecondStaff, after) => {
            // The engine records `alternative host EMAIL added`.
            let colleague = after
                .strip_prefix("alternative host ")
                .and_then(|s| s.strip_suffix(" added"))
                .unwrap_or(after);
            format!("Colleague added as alternative host: {colleague}")
        }
        (Control::LocalRecording, _) => {
            "Recording to a computer turned off: nobody can record the session on their own device"
                .into()
        }
        (Control::CloudRecording, "off") if was("recording-allowed") => {
            "Recording and transcription turned off: nobody can record or transcribe the session"
                .into()
        }
        (Control::CloudRecording, "off") if was("transcription-allowed") => {
            "Transcription turned off: no transcript of what is said in the session is made".into()
        }
        (Control::CloudRecording, "off") => "Automatic cloud recording turned off".into(),
        (Control::CloudRecording, _) => {
            "Automatic cloud recording turned on, as your organisation asks".into()
        }
        (Control::ChatKept, _) => "Chat saving turned on: the meeting chat is now kept".into(),
        (Control::PrivateChat, _) => {
            "Private chat turned off: participants can no longer message each other privately"
                .into()
        }
        (Control::AttendanceRecord, _) => "Attendance is now recorded".into(),
        (Control::CoverHours, _) => "Safeguarding cover hours checked".into(),
    }
}

/// What the host must do about an open `needs-human` item, starting with a verb.
pub fn action_sentence(control: Control, detail: &str) -> String {
    match control {
        Control::SecondStaff => "Add a colleague from staff as alternative host".into(),
        Control::CoverHours => {
            "Move the session inside safeguarding cover hours, or agree cover with the \
             safeguarding lead"
                .into()
        }
        other => format!("{}: {detail}", other.title()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turning_off_recording_by_hand_and_transcription_says_so() {
        let off = |before| change_sentence(Control::CloudRecording, before, "off");
        assert!(off(Some("recording-allowed")).contains("nobody can record or transcribe"));
        assert!(off(Some("transcription-allowed")).starts_with("Transcription turned off"));
        assert_eq!(off(Some("on")), "Automatic cloud recording turned off");
        assert_eq!(off(None), "Automatic cloud recording turned off");
    }

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            html(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn html_shows_control_characters_instead_of_passing_them_on() {
        assert_eq!(html("a\u{1b}[2J<b>"), "a\u{241b}[2J&lt;b&gt;");
    }

    #[test]
    fn only_web_links_are_clickable() {
        assert!(safe_link("https://zoom.us/j/1?pwd=x").is_some());
        assert!(safe_link("javascript:alert(1)").is_none());
        assert!(safe_link(" JavaScript:alert(1)").is_none());
    }

    #[test]
    fn times_are_shown_in_the_tenant_zone() {
        let at = DateTime::parse_from_rfc3339("2026-11-24T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(when(at, chrono_tz::Europe::London), "Tue 24 Nov 17:00");
        assert_eq!(when(at, chrono_tz::America::New_York), "Tue 24 Nov 12:00");
    }
}

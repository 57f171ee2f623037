//! The one control vocabulary shared by every platform (DESIGN.md, "Controls").
//!
//! Each control has an ordered list of levels, least strict first. A profile names the least strict
//! level it accepts; an observed level at least as strict is compliant. Keeping the order here, and
//! nowhere else, is what lets the engine prove "a fix only ever moves towards stricter".

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A safeguarding control, named as in profiles (`waiting-room`, `screen-share`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Control {
    Passcode,
    WaitingRoom,
    JoinBeforeHost,
    ScreenShare,
    FileTransfer,
    RejoinAfterRemoval,
    SecondStaff,
    LocalRecording,
    CloudRecording,
    ChatKept,
    PrivateChat,
    AttendanceRecord,
    CoverHours,
}

/// Where a platform keeps a control: on the session itself, or on the host (user) it belongs to.
/// Host-level controls are shared by all of a host's sessions, so they are fixed once per host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Session,
    Host,
    /// Judged by chaperone from other facts (cover hours), nothing to write.
    Evaluated,
}

impl Control {
    /// Every control, in report order.
    pub const ALL: [Control; 13] = [
        Control::Passcode,
        Control::WaitingRoom,
        Control::JoinBeforeHost,
        Control::ScreenShare,
        Control::FileTransfer,
        Control::RejoinAfterRemoval,
        Control::SecondStaff,
        Control::LocalRecording,
        Control::CloudRecording,
        Control::ChatKept,
        Control::PrivateChat,
        Control::AttendanceRecord,
        Control::CoverHours,
    ];

    /// The name used in profiles, reports and the JSON schema.
    pub fn name(self) -> &'static str {
        match self {
            Control::Passcode => "passcode",
            Control::WaitingRoom => "waiting-room",
            Control::JoinBeforeHost => "join-before-host",
            Control::ScreenShare => "screen-share",
            Control::FileTransfer => "file-transfer",
            Control::RejoinAfterRemoval => "rejoin-after-removal",
            Control::SecondStaff => "second-staff",
            Control::LocalRecording => "local-recording",
            Control::CloudRecording => "cloud-recording",
            Control::ChatKept => "chat-kept",
            Control::PrivateChat => "private-chat",
            Control::AttendanceRecord => "attendance-record",
            Control::CoverHours => "cover-hours",
        }
    }

    /// The levels of this control, least strict first. `cloud-recording` is the one control whose
    /// levels are not a strictness order: see [`Control::is_ordinal`].
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Control::Passcode => &["optional", "required"],
            Control::WaitingRoom => &["off", "outsiders", "everyone"],
            Control::JoinBeforeHost => &["on", "off"],
            Control::ScreenShare => &["all", "host-only"],
            Control::FileTransfer => &["on", "off"],
            Control::RejoinAfterRemoval => &["allowed", "blocked"],
            Control::SecondStaff => &["optional", "required"],
            Control::LocalRecording => &["allowed", "off"],
            // Observed values are `off` / `on` (recorded automatically); profile requirements are
            // forbidden/allowed/required. A platform that can say more (Teams: recording or
            // transcription may be started by hand) reports the last two: neither is `off`, so
            // `forbidden` judges them as drift, and neither is `on`, so `required` does too.
            Control::CloudRecording => &["off", "on", "recording-allowed", "transcription-allowed"],
            Control::ChatKept => &["off", "on"],
            Control::PrivateChat => &["on", "off"],
            Control::AttendanceRecord => &["not-kept", "kept"],
            Control::CoverHours => &["outside", "inside"],
        }
    }

    /// The strictest level, index into [`Control::levels`].
    pub fn strictest(self) -> Level {
        Level((self.levels().len() - 1) as u8)
    }

    /// Whether the levels form a strictness order (all but cloud recording, which is per profile).
    pub fn is_ordinal(self) -> bool {
        self != Control::CloudRecording
    }

    /// Where the control usually lives. A platform adapter may still report a different scope in
    /// its reading (for example Webex keeps some host-level controls per meeting).
    pub fn default_scope(self) -> Scope {
        match self {
            Control::ScreenShare
            | Control::FileTransfer
            | Control::ChatKept
            | Control::PrivateChat
            | Control::RejoinAfterRemoval => Scope::Host,
            Control::CoverHours => Scope::Evaluated,
            _ => Scope::Session,
        }
    }

    /// Parses a level name of this control.
    pub fn level(self, name: &str) -> Option<Level> {
        self.levels()
            .iter()
            .position(|l| *l == name)
            .map(|i| Level(i as u8))
    }

    /// The name of a level of this control.
    pub fn level_name(self, level: Level) -> &'static str {
        self.levels()
            .get(level.0 as usize)
            .copied()
            .unwrap_or("unknown")
    }

    /// A plain-words description of a level, for hosts ("Waiting room: everyone waits").
    pub fn describe(self, level: Level) -> String {
        let value = match (self, self.level_name(level)) {
            (Control::WaitingRoom, "everyone") => "everyone waits to be admitted",
            (Control::WaitingRoom, "outsiders") => "people from outside the organisation wait",
            (Control::ScreenShare, "host-only") => "only the host can share",
            (Control::ScreenShare, "all") => "anyone can share",
            (_, "on") => "on",
            (_, "off") => "off",
            (_, other) => other,
        };
        format!("{}: {}", self.title(), value)
    }

    /// A short human title.
    pub fn title(self) -> &'static str {
        match self {
            Control::Passcode => "Passcode",
            Control::WaitingRoom => "Waiting room",
            Control::JoinBeforeHost => "Join before host",
            Control::ScreenShare => "Screen sharing",
            Control::FileTransfer => "File transfer in chat",
            Control::RejoinAfterRemoval => "Removed participants rejoining",
            Control::SecondStaff => "Second staff member",
            Control::LocalRecording => "Local recording",
            Control::CloudRecording => "Cloud recording",
            Control::ChatKept => "Chat saved",
            Control::PrivateChat => "Private chat between participants",
            Control::AttendanceRecord => "Attendance record",
            Control::CoverHours => "Safeguarding cover hours",
        }
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown control name, with the nearest valid one when there is a close match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown control `{name}`{}", suggestion.map(|s| format!(": did you mean `{s}`?")).unwrap_or_default())]
pub struct UnknownControl {
    pub name: String,
    pub suggestion: Option<&'static str>,
}

impl FromStr for Control {
    type Err = UnknownControl;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Control::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownControl {
                name: s.to_string(),
                suggestion: nearest(s, Control::ALL.iter().map(|c| c.name())),
            })
    }
}

/// The closest candidate to `input` by edit distance, if it is close enough to be a likely typo.
pub fn nearest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(input, c), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A position in a control's level list; larger is stricter (for ordinal controls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Level(pub u8);

/// What the profile asks of cloud recording: the one control that is not "stricter is better".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloudRecordingPolicy {
    Forbidden,
    Allowed,
    Required,
}

/// The status of one control on one session (DESIGN.md, "Status of one control on one session").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Compliant,
    Drift,
    Fixed,
    NeedsHuman,
    Waived,
    NotApplicable,
    Unsupported,
    Error,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Compliant,
        Status::Drift,
        Status::Fixed,
        Status::NeedsHuman,
        Status::Waived,
        Status::NotApplicable,
        Status::Unsupported,
        Status::Error,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Status::Compliant => "compliant",
            Status::Drift => "drift",
            Status::Fixed => "fixed",
            Status::NeedsHuman => "needs-human",
            Status::Waived => "waived",
            Status::NotApplicable => "not-applicable",
            Status::Unsupported => "unsupported",
            Status::Error => "error",
        }
    }

    /// Whether this status leaves the session as safe as the profile asks.
    pub fn is_safe(self) -> bool {
        matches!(
            self,
            Status::Compliant | Status::Fixed | Status::Waived | Status::NotApplicable
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| format!("unknown status `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_round_trips_through_its_name() {
        for c in Control::ALL {
            assert_eq!(c.name().parse::<Control>(), Ok(c));
        }
    }

    #[test]
    fn a_misspelt_control_suggests_the_nearest_name() {
        let err = "waitng-room".parse::<Control>().unwrap_err();
        assert_eq!(err.suggestion, Some("waiting-room"));
        assert!(err.to_string().contains("did you mean `waiting-room`"));
    }

    #[test]
    fn strictest_level_is_the_last_named_level() {
        assert_eq!(
            Control::WaitingRoom.level_name(Control::WaitingRoom.strictest()),
            "everyone"
        );
        assert_eq!(
            Control::ScreenShare.level("host-only"),
            Some(Control::ScreenShare.strictest())
        );
    }
}

//! `[controls]`: the level each control must be at least, by name (`waiting-room =
//! "everyone"`), or `ignore`. Cloud recording takes a policy (forbidden, allowed, required)
//! instead of a level. Unknown controls and levels suggest the nearest name.

use std::collections::HashMap;

use toml::Spanned;
use toml::de::DeValue;

use super::values::{describe, quoted};
use super::{Checker, Value};
use crate::control::{CloudRecordingPolicy, Control, Level, nearest};
use crate::profile::error::hint;

/// What one `[controls]` line asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Requirement {
    Level(Level),
    Cloud(CloudRecordingPolicy),
    /// Not asked for (overrides a parent's requirement).
    Ignore,
}

impl Checker<'_> {
    /// The keys of `[controls]` are the controls' names, so it is read here rather than through
    /// a fixed list of keys.
    pub(super) fn controls(&mut self, value: &Value<'_>) -> HashMap<Control, Spanned<Requirement>> {
        let mut out = HashMap::new();
        let Some(table) = self.table(value, "controls") else {
            return out;
        };
        for (key, value) in table {
            let k = key.get_ref().as_ref();
            let field = format!("controls.{k}");
            match k.parse::<Control>() {
                Ok(control) => {
                    if let Some(r) = self.requirement(control, value, &field) {
                        out.insert(control, Spanned::new(value.span(), r));
                    }
                }
                Err(e) => self.error(key.span(), &field, e.to_string()),
            }
        }
        out
    }

    fn requirement(
        &mut self,
        control: Control,
        value: &Value<'_>,
        field: &str,
    ) -> Option<Requirement> {
        let valid = valid_levels(control);
        let DeValue::String(level) = value.get_ref() else {
            self.error(
                value.span(),
                field,
                format!(
                    "expected a level name in quotes, found {}: one of {valid}",
                    describe(value.get_ref())
                ),
            );
            return None;
        };
        let level = level.as_ref();
        let requirement = if level == "ignore" {
            Some(Requirement::Ignore)
        } else if control == Control::CloudRecording {
            match level {
                "forbidden" => Some(Requirement::Cloud(CloudRecordingPolicy::Forbidden)),
                "allowed" => Some(Requirement::Cloud(CloudRecordingPolicy::Allowed)),
                "required" => Some(Requirement::Cloud(CloudRecordingPolicy::Required)),
                _ => None,
            }
        } else {
            control.level(level).map(Requirement::Level)
        };
        if requirement.is_none() {
            let names = level_names(control);
            let suggestion = match (control, level) {
                (Control::CloudRecording, "off") => Some("forbidden"),
                (Control::CloudRecording, "on") => Some("required"),
                // Among equally near levels, suggest the strictest (`of` → `off`).
                _ => nearest(level, names.iter().rev().copied()),
            };
            let hint = hint(suggestion);
            self.error(
                value.span(),
                field,
                format!("unknown level `{level}` for `{control}`{hint} Valid levels: {valid}"),
            );
        }
        requirement
    }
}

fn level_names(control: Control) -> Vec<&'static str> {
    if control == Control::CloudRecording {
        vec!["forbidden", "allowed", "required"]
    } else {
        control.levels().to_vec()
    }
}

fn valid_levels(control: Control) -> String {
    let order = if control == Control::CloudRecording {
        ""
    } else {
        " (least strict first)"
    };
    format!(
        "{}{order}, or `ignore` to not ask for it",
        quoted(&level_names(control))
    )
}

#[cfg(test)]
mod tests {
    use super::super::only_error;

    #[test]
    fn a_misspelt_control_points_at_its_key_and_suggests_the_name() {
        let e = only_error("[controls]\n  waitng-room = \"everyone\"\n");
        assert_eq!((e.line, e.column), (2, 3));
        assert_eq!(e.field, "controls.waitng-room");
        assert_eq!(
            e.message,
            "unknown control `waitng-room`: did you mean `waiting-room`?"
        );
    }

    #[test]
    fn an_unknown_level_lists_the_levels_of_that_control() {
        let e = only_error("[controls]\nwaiting-room = \"evryone\"\n");
        assert_eq!((e.line, e.column), (2, 16));
        assert!(
            e.message.contains("did you mean `everyone`?"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("`off`, `outsiders`, `everyone`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn cloud_recording_off_suggests_forbidden() {
        let e = only_error("[controls]\ncloud-recording = \"off\"\n");
        assert!(
            e.message.contains("did you mean `forbidden`?"),
            "{}",
            e.message
        );
    }
}

//! The checker: one profile file, as written (before `extends`), from text to a [`RawProfile`],
//! with every problem in the file reported at once, each at its own line and column, naming its
//! dotted field and, where a name was mistyped, the nearest valid name.
//!
//! Why by hand and not `#[derive(Deserialize)]` with `#[serde(deny_unknown_fields)]`: serde stops
//! at the first error, and its messages (`unknown field ..., expected one of ...`, `invalid
//! type`) neither suggest the nearest name nor say what to write instead. So the file is parsed
//! into toml's spanned tree ([`toml::de::DeTable`]) and each table is read through a
//! declarative list of its keys ([`Fields`]): the list is at once the reader and the
//! `deny_unknown_fields` (a key not in it is an error with the nearest valid name).
//!
//! Each table's reader lives in its own file: [`select`], [`controls`], [`staff`],
//! [`cover_hours`], [`remediation`], [`notify`], [`waivers`]; the value readers they share
//! (text, lists, emails, numbers) in [`values`].

mod controls;
mod cover_hours;
mod notify;
mod remediation;
mod select;
mod staff;
mod values;
mod waivers;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub(crate) use controls::Requirement;
use cover_hours::RawCoverHours;
use notify::{NOTIFY, RawNotify};
use remediation::{REMEDIATION, RawRemediation};
use select::SELECT;
use staff::{RawStaff, STAFF};
use values::Item;
use waivers::RawWaiver;

use super::Selector;
use super::error::{ProfileError, field_at};
use crate::control::Control;

/// One file, as written (before `extends`).
#[derive(Debug, Default)]
pub(crate) struct RawProfile {
    pub(crate) extends: Option<Spanned<String>>,
    pub(crate) description: Option<String>,
    pub(crate) reminders: Vec<String>,
    pub(crate) select: Selector,
    pub(crate) controls: HashMap<Control, Spanned<Requirement>>,
    pub(crate) staff: RawStaff,
    pub(crate) cover_hours: Option<RawCoverHours>,
    pub(crate) remediation: RawRemediation,
    pub(crate) waivers: Vec<RawWaiver>,
    pub(crate) notify: RawNotify,
}

/// The top-level keys, in the order an "expected one of" message lists them.
const PROFILE: Fields<RawProfile> = &[
    ("extends", |c, v, _, p| p.extends = c.extends(v)),
    ("description", |c, v, f, p| p.description = c.string(v, f)),
    ("reminders", |c, v, f, p| {
        p.reminders = c.list(v, f, Item::Text).unwrap_or_default();
    }),
    ("select", |c, v, f, p| {
        p.select = c.read(v, f, SELECT).unwrap_or_default();
    }),
    ("controls", |c, v, _, p| p.controls = c.controls(v)),
    ("staff", |c, v, f, p| {
        p.staff = c.read(v, f, STAFF).unwrap_or_default();
    }),
    ("cover-hours", |c, v, f, p| {
        p.cover_hours = c.cover_hours(v, f);
    }),
    ("remediation", |c, v, f, p| {
        p.remediation = c.read(v, f, REMEDIATION).unwrap_or_default();
    }),
    ("waivers", |c, v, _, p| p.waivers = c.waivers(v)),
    ("notify", |c, v, f, p| {
        p.notify = c.read(v, f, NOTIFY).unwrap_or_default();
    }),
];

/// A spanned TOML value of the file being checked.
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// The keys a table may have, in the order an "expected one of" message lists them, each with
/// the reader that stores its value into `T`. The reader gets the value and its dotted field.
pub(crate) type Fields<T> = &'static [(&'static str, Read<T>)];
pub(crate) type Read<T> = fn(&mut Checker<'_>, &Value<'_>, &str, &mut T);

/// Walks one file's TOML tree, collecting every error with its position.
pub(crate) struct Checker<'s> {
    file: &'s Path,
    text: &'s str,
    pub(crate) errors: Vec<ProfileError>,
}

impl<'s> Checker<'s> {
    pub(crate) fn new(file: &'s Path, text: &'s str) -> Self {
        Checker {
            file,
            text,
            errors: Vec::new(),
        }
    }

    /// Records a problem with `field` at byte `span` of the file.
    pub(crate) fn error(&mut self, span: Range<usize>, field: &str, message: impl Into<String>) {
        let error = ProfileError::at(self.file, self.text, &span, field, message.into());
        self.errors.push(error);
    }

    /// Parses and checks the whole file. `None` when the TOML itself is malformed.
    pub(crate) fn document(&mut self) -> Option<RawProfile> {
        let (root, syntax_errors) = DeTable::parse_recoverable(self.text);
        if !syntax_errors.is_empty() {
            for e in syntax_errors {
                let span = e.span().unwrap_or(0..0);
                let field = field_at(self.text, span.clone());
                let message = match e.message() {
                    "duplicate key" => {
                        let key = self.text.get(span.clone()).unwrap_or_default().trim();
                        format!("duplicate key `{key}`: each key may appear only once")
                    }
                    other => other.to_string(),
                };
                self.error(span, &field, message);
            }
            return None;
        }
        let mut raw = RawProfile::default();
        self.walk(root.get_ref(), "", PROFILE, &mut raw);
        Some(raw)
    }

    /// Reads the table at `value` (dotted field `field`) key by key; `None` (with an error) when
    /// it is not a table.
    pub(crate) fn read<T: Default>(
        &mut self,
        value: &Value<'_>,
        field: &str,
        fields: Fields<T>,
    ) -> Option<T> {
        let table = self.table(value, field)?;
        let mut out = T::default();
        self.walk(table, field, fields, &mut out);
        Some(out)
    }

    /// Hands each key of `table` to its reader in `fields`; a key that has none is an error
    /// naming the nearest valid key. At the top of the file, a control's name is sent to
    /// `[controls]`.
    fn walk<T>(&mut self, table: &DeTable<'_>, prefix: &str, fields: Fields<T>, out: &mut T) {
        for (key, value) in table {
            let k = key.get_ref().as_ref();
            let field = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            match fields.iter().find(|(name, _)| *name == k) {
                Some((_, read)) => read(self, value, &field, out),
                None if prefix.is_empty() && k.parse::<Control>().is_ok() => self.error(
                    key.span(),
                    k,
                    format!("`{k}` is a control: put it in the `[controls]` table"),
                ),
                None => {
                    let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
                    self.unknown_key(key, &field, &names);
                }
            }
        }
    }

    fn extends(&mut self, value: &Value<'_>) -> Option<Spanned<String>> {
        let name = self.text_value(value, "extends")?;
        let stem = name.strip_suffix(".toml").unwrap_or(&name);
        if stem.contains(['/', '\\']) || stem == ".." || stem == "." {
            self.error(
                value.span(),
                "extends",
                format!(
                    "`{name}` is not a profile name: name another profile in the same folder by \
                     its file name without `.toml`, e.g. `baseline`"
                ),
            );
            return None;
        }
        if stem != name {
            self.error(
                value.span(),
                "extends",
                format!("write the profile name without `.toml`: did you mean `{stem}`?"),
            );
            return None;
        }
        Some(Spanned::new(value.span(), name))
    }
}

/// Checks `text` as a file named `p.toml`: what it read, and every error.
#[cfg(test)]
pub(crate) fn check(text: &str) -> (Option<RawProfile>, Vec<ProfileError>) {
    let mut c = Checker::new(Path::new("p.toml"), text);
    let raw = c.document();
    (raw, c.errors)
}

/// The one error `text` has.
#[cfg(test)]
pub(crate) fn only_error(text: &str) -> ProfileError {
    let (_, errors) = check(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_at_the_top_level_is_sent_to_the_controls_table() {
        let e = only_error("passcode = \"required\"\n");
        assert_eq!(e.field, "passcode");
        assert!(e.message.contains("[controls]"), "{}", e.message);
    }

    #[test]
    fn every_error_in_one_file_is_reported_not_only_the_first() {
        let (_, errors) =
            check("[controls]\npascode = \"required\"\n[staff]\ngroup = [\"Staff\"]\n");
        assert_eq!(errors.len(), 2, "{errors:#?}");
    }

    #[test]
    fn a_duplicate_key_is_named_with_its_table() {
        let e = only_error("[controls]\npasscode = \"required\"\npasscode = \"optional\"\n");
        assert_eq!((e.line, e.column), (3, 1));
        assert_eq!(e.field, "controls.passcode");
        assert!(
            e.message.contains("duplicate key `passcode`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn extends_is_a_bare_profile_name() {
        let e = only_error("extends = \"baseline.toml\"\n");
        assert!(
            e.message.contains("did you mean `baseline`?"),
            "{}",
            e.message
        );
        let e = only_error("extends = \"../other/baseline\"\n");
        assert_eq!(e.field, "extends");
    }

    #[test]
    fn syntax_error_field_is_guessed_from_header_and_key() {
        let text = "[controls]\npasscode = required\n";
        let e = only_error(text);
        assert_eq!(e.field, "controls.passcode");
        assert_eq!((e.line, e.column), (2, 12));
    }
}

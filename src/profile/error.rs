//! Located errors: what went wrong in a profile file, at which `file:line:column`, about which
//! dotted field. Kept apart from the checker so that the error type the rest of the crate sees
//! (and the fuzz target asserts on) does not move when the checking does.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::control::nearest;

/// One problem in one profile file, and where it is.
///
/// `line` and `column` are 1-based (columns count characters, not bytes). They are 0 when the
/// problem has no place in the file (the file or folder could not be read); `field` is empty when
/// the problem is not about one field (a TOML syntax error outside any key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub struct ProfileError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The dotted path of the field, as written in the file: `controls.waitng-room`,
    /// `cover-hours.windows[1].start`, `waivers[0].reason` (list indexes count from 0).
    pub field: String,
    pub message: String,
}

impl fmt::Display for ProfileError {
    /// `profiles/youth-group.toml:12:1: controls.waitng-room: unknown control ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl ProfileError {
    /// A problem at byte `span` of `text` (the contents of `file`).
    pub(crate) fn at(
        file: &Path,
        text: &str,
        span: &Range<usize>,
        field: &str,
        message: String,
    ) -> Self {
        let (line, column) = line_column(text, span.start);
        ProfileError {
            file: file.to_path_buf(),
            line,
            column,
            field: field.to_string(),
            message,
        }
    }

    /// A problem with a file or folder as a whole (no line, no field).
    pub(crate) fn whole(path: &Path, message: impl Into<String>) -> Self {
        ProfileError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message: message.into(),
        }
    }

    /// A file or folder that could not be read.
    pub(crate) fn io(path: &Path, e: &std::io::Error) -> Self {
        ProfileError::whole(path, format!("cannot read: {e}"))
    }
}

/// Every problem found while loading, sorted by file, line and column, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub errors: Vec<ProfileError>,
}

impl fmt::Display for LoadError {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl LoadError {
    pub(crate) fn from_errors(mut errors: Vec<ProfileError>) -> Self {
        errors.sort();
        errors.dedup();
        LoadError { errors }
    }
}

/// `: did you mean `x`?` for the name in `names` nearest to `name`, or nothing when none is near.
pub(crate) fn did_you_mean<'a>(name: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    hint(nearest(name, names))
}

/// `: did you mean `x`?`, or nothing.
pub(crate) fn hint(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(": did you mean `{s}`?"))
        .unwrap_or_default()
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// A best guess at the dotted field of a TOML syntax error: the table header above it, and the
/// key on its line.
pub(crate) fn field_at(text: &str, span: Range<usize>) -> String {
    let start = span.start.min(text.len());
    let line_start = text
        .get(..start)
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line_end = text
        .get(start..)
        .and_then(|a| a.find('\n'))
        .map_or(text.len(), |i| start + i);
    let line = text.get(line_start..line_end).unwrap_or_default().trim();
    let header = |l: &str| {
        let l = l.trim();
        l.starts_with('[').then(|| {
            let inner = l.trim_start_matches('[');
            let inner = inner.split(']').next().unwrap_or_default();
            inner.trim().to_string()
        })
    };
    if let Some(h) = header(line) {
        return h;
    }
    let table = text
        .get(..line_start)
        .unwrap_or_default()
        .lines()
        .rev()
        .find_map(header);
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.contains(char::is_whitespace));
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (Some(t), None) => t,
        (None, Some(k)) => k,
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one_in_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(line_column(text, text.find('"').unwrap()), (2, 6));
        assert_eq!(line_column(text, text.len()), (3, 1));
    }

    #[test]
    fn display_has_file_line_column_field_and_message() {
        let e = ProfileError {
            file: PathBuf::from("profiles/youth-group.toml"),
            line: 12,
            column: 1,
            field: "controls.waitng-room".into(),
            message: "unknown control `waitng-room`: did you mean `waiting-room`?".into(),
        };
        assert_eq!(
            e.to_string(),
            "profiles/youth-group.toml:12:1: controls.waitng-room: unknown control \
             `waitng-room`: did you mean `waiting-room`?"
        );
    }

    #[test]
    fn display_leaves_out_a_position_it_does_not_have() {
        let e = ProfileError {
            file: PathBuf::from("profiles"),
            line: 0,
            column: 0,
            field: String::new(),
            message: "cannot read".into(),
        };
        assert_eq!(e.to_string(), "profiles: cannot read");
    }
}

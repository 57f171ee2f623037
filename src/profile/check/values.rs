//! The value readers every table shares: tables, lists, text, emails, domains, booleans, whole
//! numbers, and the "unknown key" and "missing key" errors. Each reports a wrong value at the
//! value itself, saying what was expected and what was found.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::{Checker, Value};
use crate::control::nearest;

/// What a list item must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    /// Any non-empty text.
    Text,
    Email,
    Domain,
}

impl Checker<'_> {
    pub(crate) fn unknown_key(
        &mut self,
        key: &Spanned<DeString<'_>>,
        field: &str,
        allowed: &[&str],
    ) {
        let name = key.get_ref().as_ref();
        let message = match nearest(name, allowed.iter().copied()) {
            Some(s) => format!("unknown key `{name}`: did you mean `{s}`?"),
            None => format!("unknown key `{name}`: expected one of {}", quoted(allowed)),
        };
        self.error(key.span(), field, message);
    }

    /// Reports each of `keys` that `table` lacks, at the table itself, with what to write.
    pub(crate) fn require(&mut self, table: &Value<'_>, field: &str, keys: &[(&str, &str)]) {
        for (key, what) in keys {
            if !has_key(table, key) {
                let message = format!("missing `{key}`: {what}");
                self.error(table.span(), &format!("{field}.{key}"), message);
            }
        }
    }

    pub(crate) fn table<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        field: &str,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                let message = format!("expected a table, found {}", describe(other));
                self.error(value.span(), field, message);
                None
            }
        }
    }

    pub(crate) fn array<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        field: &str,
        expected: &str,
    ) -> Option<&'v [Value<'i>]> {
        match value.get_ref() {
            DeValue::Array(items) => Some(items),
            other => {
                let message = format!("expected {expected}, found {}", describe(other));
                self.error(value.span(), field, message);
                None
            }
        }
    }

    pub(crate) fn string(&mut self, value: &Value<'_>, field: &str) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                let message = format!("expected text in quotes, found {}", describe(other));
                self.error(value.span(), field, message);
                None
            }
        }
    }

    /// A string that is not blank, trimmed.
    pub(crate) fn text_value(&mut self, value: &Value<'_>, field: &str) -> Option<String> {
        self.item(value, field, Item::Text)
    }

    pub(crate) fn boolean(&mut self, value: &Value<'_>, field: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            DeValue::String(s) if s == "true" || s == "false" => {
                self.error(
                    value.span(),
                    field,
                    format!("expected true or false without quotes: write {s}"),
                );
                None
            }
            other => {
                let message = format!("expected true or false, found {}", describe(other));
                self.error(value.span(), field, message);
                None
            }
        }
    }

    /// A TOML integer of any size or radix; `expected` says what to write instead of another
    /// kind of value ("a whole number such as 200").
    pub(crate) fn whole_number(
        &mut self,
        value: &Value<'_>,
        field: &str,
        expected: &str,
    ) -> Option<i128> {
        let DeValue::Integer(n) = value.get_ref() else {
            let message = format!("expected {expected}, found {}", describe(value.get_ref()));
            self.error(value.span(), field, message);
            return None;
        };
        let parsed = i128::from_str_radix(n.as_str(), n.radix()).ok();
        if parsed.is_none() {
            self.error(value.span(), field, "not a whole number");
        }
        parsed
    }

    pub(crate) fn list(
        &mut self,
        value: &Value<'_>,
        field: &str,
        item: Item,
    ) -> Option<Vec<String>> {
        let expected = match item {
            Item::Text => "a list such as [\"...\", \"...\"]",
            Item::Email => "a list of email addresses such as [\"name@example.org\"]",
            Item::Domain => "a list of domains such as [\"example.org\"]",
        };
        let items = self.array(value, field, expected)?;
        let mut out = Vec::new();
        for (i, v) in items.iter().enumerate() {
            if let Some(s) = self.item(v, &format!("{field}[{i}]"), item) {
                out.push(s);
            }
        }
        Some(out)
    }

    pub(crate) fn item(&mut self, value: &Value<'_>, field: &str, item: Item) -> Option<String> {
        let s = self.string(value, field)?;
        match check_item(&s, item) {
            Ok(s) => Some(s),
            Err(message) => {
                self.error(value.span(), field, message);
                None
            }
        }
    }

    /// The text of the file at `span`, as written.
    pub(crate) fn source(&self, span: Range<usize>) -> &str {
        self.text.get(span).unwrap_or_default()
    }
}

/// Whether `table` (a TOML table value) has `key`.
pub(crate) fn has_key(table: &Value<'_>, key: &str) -> bool {
    table
        .get_ref()
        .as_table()
        .is_some_and(|t| t.contains_key(key))
}

fn check_item(s: &str, item: Item) -> Result<String, String> {
    let t = s.trim();
    match item {
        Item::Text if t.is_empty() => Err("must not be empty".to_string()),
        Item::Text => Ok(t.to_string()),
        Item::Email if t.is_empty() => Err("empty email address".to_string()),
        Item::Email => match t.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !t.contains(char::is_whitespace) =>
            {
                Ok(t.to_string())
            }
            _ if !t.contains('@') => Err(format!(
                "`{t}` is not an email address: it needs an `@`, like name@example.org"
            )),
            _ => Err(format!(
                "`{t}` is not an email address: expected one name, `@`, and a domain, like \
                 name@example.org"
            )),
        },
        Item::Domain if t.is_empty() => Err("empty domain".to_string()),
        Item::Domain => match t.rsplit_once('@') {
            Some((_, domain)) => Err(format!(
                "a domain has no `@`: did you mean `{domain}`? (whole addresses go in `emails`)"
            )),
            None if t.contains(char::is_whitespace) => {
                Err(format!("`{t}` is not a domain: it contains a space"))
            }
            None => Ok(t.to_ascii_lowercase()),
        },
    }
}

/// `` `a`, `b`, `c` ``: names as a message lists them.
pub(crate) fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What kind of value was found, in words, for "expected ..., found ..." messages.
pub(crate) fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "text",
        DeValue::Integer(_) => "a number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date or time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_domains_are_checked() {
        assert!(check_item("duty.officer@riverside.example.org", Item::Email).is_ok());
        assert!(check_item("", Item::Email).is_err());
        assert!(check_item("  ", Item::Email).is_err());
        assert!(
            check_item("duty.officer", Item::Email)
                .unwrap_err()
                .contains("`@`")
        );
        assert!(check_item("@riverside.example.org", Item::Email).is_err());
        assert!(check_item("a@b@c", Item::Email).is_err());
        assert!(check_item("a b@c.org", Item::Email).is_err());
        assert_eq!(
            check_item("Riverside.Example.org", Item::Domain),
            Ok("riverside.example.org".into())
        );
        assert!(
            check_item("@riverside.example.org", Item::Domain)
                .unwrap_err()
                .contains("did you mean `riverside.example.org`?")
        );
    }
}

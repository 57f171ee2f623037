//! `[notify]`: the safeguarding leads of a kind of session, how long before a session an open
//! item is escalated to them, and which of the tenant's channels carry the escalation.

use super::values::Item;
use super::{Checker, Fields, Value};

/// The longest escalation lead time accepted: two weeks.
const MAX_ESCALATE_HOURS: i128 = 14 * 24;

/// `[notify]` as written: `None` where the file does not say (the parent's value stands).
#[derive(Debug, Default)]
pub(crate) struct RawNotify {
    pub(crate) leads: Option<Vec<String>>,
    pub(crate) escalate_hours_before: Option<u32>,
    pub(crate) channels: Option<Vec<String>>,
}

/// The keys of `[notify]`.
pub(super) const NOTIFY: Fields<RawNotify> = &[
    ("safeguarding-leads", |c, v, f, n| {
        n.leads = c.list(v, f, Item::Email);
    }),
    ("escalate-hours-before", |c, v, f, n| {
        n.escalate_hours_before = c.escalate_hours(v, f);
    }),
    ("channels", |c, v, f, n| {
        n.channels = c.list(v, f, Item::Text);
    }),
];

impl Checker<'_> {
    fn escalate_hours(&mut self, value: &Value<'_>, field: &str) -> Option<u32> {
        let n = self.whole_number(value, field, "a whole number of hours such as 24")?;
        if (1..=MAX_ESCALATE_HOURS).contains(&n) {
            return u32::try_from(n).ok();
        }
        self.error(
            value.span(),
            field,
            format!(
                "must be between 1 and {MAX_ESCALATE_HOURS} hours (two weeks) before the \
                 session starts"
            ),
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::{check, only_error};

    #[test]
    fn escalation_hours_are_a_whole_number_within_two_weeks() {
        let e = only_error("[notify]\nescalate-hours-before = \"24\"\n");
        assert_eq!((e.line, e.column), (2, 25), "{e}");
        assert!(e.message.contains("whole number of hours"), "{e}");
        let e = only_error("[notify]\nescalate-hours-before = 400\n");
        assert!(e.message.contains("two weeks"), "{e}");
        let (raw, errors) =
            check("[notify]\nescalate-hours-before = 336\nchannels = [\"teams\"]\n");
        assert!(errors.is_empty(), "{errors:#?}");
        let raw = raw.unwrap();
        assert_eq!(raw.notify.escalate_hours_before, Some(336));
        assert_eq!(raw.notify.channels, Some(vec!["teams".to_string()]));
    }

    #[test]
    fn escalation_hours_out_of_range_are_named_in_one_plain_sentence() {
        let e = only_error("[notify]\nescalate-hours-before = 0\n");
        assert_eq!(
            e.message,
            "must be between 1 and 336 hours (two weeks) before the session starts"
        );
    }
}

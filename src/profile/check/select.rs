//! `[select]`: which sessions a profile governs (host groups, emails, domains, topic tags,
//! tracking fields).

use super::values::Item;
use super::{Checker, Fields, Value};
use crate::profile::{Selector, TrackingField};

/// The keys of `[select]`: each criterion is a list; any one matching selects a session.
pub(super) const SELECT: Fields<Selector> = &[
    ("host-groups", |c, v, f, s| {
        s.host_groups = c.list(v, f, Item::Text).unwrap_or_default();
    }),
    ("host-emails", |c, v, f, s| {
        s.host_emails = c.list(v, f, Item::Email).unwrap_or_default();
    }),
    ("host-domains", |c, v, f, s| {
        s.host_domains = c.list(v, f, Item::Domain).unwrap_or_default();
    }),
    ("topic-tags", |c, v, f, s| {
        s.topic_tags = c.list(v, f, Item::Text).unwrap_or_default();
    }),
    ("tracking-fields", |c, v, f, s| {
        s.tracking_fields = c.tracking_fields(v, f);
    }),
];

/// One `{ field = ..., value = ... }` as read, before its required keys are checked.
#[derive(Default)]
struct RawTrackingField {
    field: Option<String>,
    value: Option<String>,
}

/// The keys of one tracking field.
const TRACKING_FIELD: Fields<RawTrackingField> = &[
    ("field", |c, v, f, t| t.field = c.text_value(v, f)),
    ("value", |c, v, f, t| t.value = c.text_value(v, f)),
];

/// The keys every tracking field must have, with what to write.
const TRACKING_FIELD_NEEDS: &[(&str, &str)] = &[
    ("field", "the tracking field's name"),
    ("value", "the value to match"),
];

impl Checker<'_> {
    fn tracking_fields(&mut self, value: &Value<'_>, field: &str) -> Vec<TrackingField> {
        let mut out = Vec::new();
        let Some(items) = self.array(
            value,
            field,
            "a list of { field = \"...\", value = \"...\" }",
        ) else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let item_field = format!("{field}[{i}]");
            let Some(raw) = self.read(item, &item_field, TRACKING_FIELD) else {
                continue;
            };
            self.require(item, &item_field, TRACKING_FIELD_NEEDS);
            if let (Some(field), Some(value)) = (raw.field, raw.value) {
                out.push(TrackingField { field, value });
            }
        }
        out
    }
}

//! `[select]`: which sessions a profile governs (host groups, emails, domains, topic tags,
//! tracking fields).

use super::values::Item;
use super::{Checker, Fields, Value};
use crate::profile::{Selector, TrackingField};

const SELECT: Fields<Selector> = &[
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

const TRACKING_FIELD: Fields<RawTrackingField> = &[
    ("field", |c, v, f, t| t.field = c.text_value(v, f)),
    ("value", |c, v, f, t| t.value = c.text_value(v, f)),
];

impl Checker<'_> {
    pub(super) fn select(&mut self, value: &Value<'_>) -> Selector {
        let mut select = Selector::default();
        self.fields(value, "select", SELECT, &mut select);
        select
    }

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
            let mut raw = RawTrackingField::default();
            if !self.fields(item, &item_field, TRACKING_FIELD, &mut raw) {
                continue;
            }
            let name = self.required(
                raw.field,
                item,
                &item_field,
                "field",
                "the tracking field's name",
            );
            let wanted = self.required(raw.value, item, &item_field, "value", "the value to match");
            if let (Some(field), Some(value)) = (name, wanted) {
                out.push(TrackingField { field, value });
            }
        }
        out
    }
}

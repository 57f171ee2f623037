//! `[staff]`: who counts as staff for the "second staff member" control, and the duty pool to
//! assign from. Each list left out is inherited from the parent profile.

use super::values::Item;
use super::{Checker, Fields, Value};

/// `[staff]` as written: `None` where the file does not say (the parent's value stands).
#[derive(Debug, Default)]
pub(crate) struct RawStaff {
    pub(crate) groups: Option<Vec<String>>,
    pub(crate) domains: Option<Vec<String>>,
    pub(crate) emails: Option<Vec<String>>,
    pub(crate) duty_pool: Option<Vec<String>>,
}

const STAFF: Fields<RawStaff> = &[
    ("groups", |c, v, f, s| s.groups = c.list(v, f, Item::Text)),
    ("domains", |c, v, f, s| {
        s.domains = c.list(v, f, Item::Domain)
    }),
    ("emails", |c, v, f, s| s.emails = c.list(v, f, Item::Email)),
    ("duty-pool", |c, v, f, s| {
        s.duty_pool = c.list(v, f, Item::Email)
    }),
];

impl Checker<'_> {
    pub(super) fn staff(&mut self, value: &Value<'_>) -> RawStaff {
        let mut staff = RawStaff::default();
        self.fields(value, "staff", STAFF, &mut staff);
        staff
    }
}

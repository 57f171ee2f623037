//! `[staff]`: who counts as staff for the "second staff member" control, and the duty pool to
//! assign from. Each list left out is inherited from the parent profile.

use super::Fields;
use super::values::Item;

/// `[staff]` as written: `None` where the file does not say (the parent's value stands).
#[derive(Debug, Default)]
pub(crate) struct RawStaff {
    pub(crate) groups: Option<Vec<String>>,
    pub(crate) domains: Option<Vec<String>>,
    pub(crate) emails: Option<Vec<String>>,
    pub(crate) duty_pool: Option<Vec<String>>,
}

/// The keys of `[staff]`.
pub(super) const STAFF: Fields<RawStaff> = &[
    ("groups", |c, v, f, s| s.groups = c.list(v, f, Item::Text)),
    ("domains", |c, v, f, s| {
        s.domains = c.list(v, f, Item::Domain);
    }),
    ("emails", |c, v, f, s| s.emails = c.list(v, f, Item::Email)),
    ("duty-pool", |c, v, f, s| {
        s.duty_pool = c.list(v, f, Item::Email);
    }),
];

//! Which profile governs a session: the most specific match wins, and a session that matches no
//! profile is out of scope and left alone (DESIGN.md, "Which sessions are youth sessions").

use crate::profile::Profile;
use crate::session::Session;

/// How specifically `profile` selects `session`: higher is more specific, `None` is no match.
/// A named host beats a tracking field, which beats a topic tag, then a host group, then a domain.
pub fn specificity(profile: &Profile, session: &Session) -> Option<u8> {
    let sel = &profile.selector;
    let email = session.host.email.to_ascii_lowercase();
    let topic = session.topic.to_lowercase();
    if sel
        .host_emails
        .iter()
        .any(|e| e.eq_ignore_ascii_case(&email))
    {
        return Some(5);
    }
    if sel.tracking_fields.iter().any(|t| {
        session
            .tracking_fields
            .iter()
            .any(|(f, v)| f.eq_ignore_ascii_case(&t.field) && v.eq_ignore_ascii_case(&t.value))
    }) {
        return Some(4);
    }
    if sel
        .topic_tags
        .iter()
        .any(|t| !t.is_empty() && topic.contains(&t.to_lowercase()))
    {
        return Some(3);
    }
    if sel.host_groups.iter().any(|g| {
        session
            .host
            .groups
            .iter()
            .any(|h| h.eq_ignore_ascii_case(g))
    }) {
        return Some(2);
    }
    if let Some((_, domain)) = email.rsplit_once('@')
        && sel
            .host_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    {
        return Some(1);
    }
    None
}

/// The profile that governs `session`, if any. Ties go to the profile first by name, so the
/// choice is stable from run to run.
pub fn select_profile<'p>(profiles: &'p [Profile], session: &Session) -> Option<&'p Profile> {
    profiles
        .iter()
        .filter_map(|p| specificity(p, session).map(|s| (s, p)))
        .max_by(|(sa, pa), (sb, pb)| sa.cmp(sb).then_with(|| pb.name.cmp(&pa.name)))
        .map(|(_, p)| p)
}

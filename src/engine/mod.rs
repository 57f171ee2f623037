//! Pure evaluation: `(profile, session, context) -> findings`, and the plan of changes that fixes
//! what can be fixed. No I/O and no clock reads (time comes in the [`Context`]), so every rule is
//! tested exhaustively on fixtures and property tests.
//!
//! The safety rules of DESIGN.md are enforced here, in one place: a plan only ever moves a control
//! towards stricter, never removes a passcode or an alternative host, never touches a session in
//! progress unless the profile allows it, and an `error` reading never becomes `compliant`.

mod cover;
mod select;

use chrono::{DateTime, Utc};

use crate::control::{CloudRecordingPolicy, Control, Level, Status};
use crate::platform::{Change, Directory, Target};
use crate::profile::{Profile, RemediationMode, Staff, WaiverTarget};
use crate::report::{ChangeRecord, Finding};
use crate::session::{Reading, Session};

pub use cover::outside_cover;
pub use select::{select_profile, specificity};

/// What evaluation needs besides the profile and the session.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The instant the run judges against (waiver expiry, sessions in progress, cover hours).
    pub now: DateTime<Utc>,
    /// Users' group memberships, to decide whether an alternative host is staff.
    pub directory: &'a Directory,
}

/// Judges every control of one session against one profile.
pub fn evaluate(profile: &Profile, session: &Session, ctx: &Context<'_>) -> Vec<Finding> {
    Control::ALL
        .into_iter()
        .map(|control| evaluate_control(profile, session, ctx, control))
        .collect()
}

fn finding(control: Control, status: Status, detail: impl Into<String>) -> Finding {
    Finding {
        control,
        status,
        observed: None,
        wanted: None,
        detail: detail.into(),
        lock: None,
    }
}

fn evaluate_control(
    profile: &Profile,
    session: &Session,
    ctx: &Context<'_>,
    control: Control,
) -> Finding {
    if let Some(reason) = &session.read_error {
        return finding(
            control,
            Status::Error,
            format!("the session could not be read: {reason}"),
        );
    }
    if !asks_for(profile, control) {
        return finding(
            control,
            Status::NotApplicable,
            format!("profile `{}` does not ask for this control", profile.name),
        );
    }
    // An unreadable control stays an error even under a waiver: nobody knows its value.
    if let Some(Reading::Error { reason }) = session.readings.get(&control) {
        return finding(
            control,
            Status::Error,
            format!("could not be read: {reason}"),
        );
    }
    if let Some((o, reason)) =
        upcoming_occurrences(session, ctx.now).find_map(|o| match o.readings.get(&control) {
            Some(Reading::Error { reason }) => Some((o, reason)),
            _ => None,
        })
    {
        return finding(
            control,
            Status::Error,
            format!(
                "could not be read for the occurrence of {}: {reason}",
                o.label(session.timezone.as_deref())
            ),
        );
    }
    if let Some(w) = active_waiver(profile, session, control, ctx.now) {
        return finding(
            control,
            Status::Waived,
            format!(
                "waived until {} by {}: {}",
                w.expires.format("%Y-%m-%d"),
                w.approver,
                w.reason
            ),
        );
    }
    let mut f = match control {
        Control::CoverHours => evaluate_cover_hours(profile, session, ctx),
        Control::SecondStaff => evaluate_second_staff(profile, session, ctx),
        _ => evaluate_occurrences(profile, session, ctx, control),
    };
    if f.status == Status::Drift {
        f.detail = match fix_blocker(profile, session, &f) {
            Some(why) => format!("{}; not changed: {why}", f.detail),
            None => f.detail,
        };
    }
    f
}

/// Whether the profile asks anything of this control.
fn asks_for(profile: &Profile, control: Control) -> bool {
    match control {
        Control::CloudRecording => profile.cloud_recording.is_some(),
        Control::CoverHours => {
            profile.controls.contains_key(&control) && profile.cover_hours.is_some()
        }
        _ => profile.controls.contains_key(&control),
    }
}

fn active_waiver<'p>(
    profile: &'p Profile,
    session: &Session,
    control: Control,
    now: DateTime<Utc>,
) -> Option<&'p crate::profile::Waiver> {
    profile.waivers.iter().find(|w| {
        w.control == control
            && w.expires > now
            && match &w.applies_to {
                WaiverTarget::Session(id) => *id == session.id,
                WaiverTarget::Host(email) => email.eq_ignore_ascii_case(&session.host.email),
            }
    })
}

/// Occurrences that have not ended by `now`, in order.
fn upcoming_occurrences(
    session: &Session,
    now: DateTime<Utc>,
) -> impl Iterator<Item = &crate::session::Occurrence> {
    session
        .occurrences
        .iter()
        .filter(move |o| o.start + chrono::Duration::minutes(i64::from(o.duration_minutes)) > now)
}

/// How bad a finding is, to pick the one a control is reported by when a series and its
/// occurrences disagree.
fn severity(status: Status) -> u8 {
    match status {
        Status::Error => 3,
        Status::Drift | Status::NeedsHuman => 2,
        Status::Unsupported => 1,
        _ => 0,
    }
}

/// The reading a control is judged on, with the occurrence it belongs to: the series' own,
/// unless an upcoming occurrence that was read on its own is worse against the profile (an
/// occurrence edited by itself can have no waiting room while its series has one).
fn judged_reading<'s>(
    profile: &Profile,
    session: &'s Session,
    now: DateTime<Utc>,
    control: Control,
) -> (
    Option<&'s Reading>,
    Option<&'s crate::session::Occurrence>,
    usize,
) {
    let series = session.readings.get(&control);
    let mut worst = (
        series,
        None,
        severity(evaluate_reading(profile, session.platform, series, control).status),
    );
    let mut worse_occurrences = 0;
    if !matches!(series, Some(Reading::Value { .. })) {
        return (worst.0, worst.1, 0);
    }
    for o in upcoming_occurrences(session, now) {
        let Some(reading) = o.readings.get(&control) else {
            continue;
        };
        let rank =
            severity(evaluate_reading(profile, session.platform, Some(reading), control).status);
        if rank > severity(Status::Compliant)
            && rank >= worst.2
            && reading != series.unwrap_or(reading)
        {
            worse_occurrences += 1;
        }
        if rank > worst.2 {
            worst = (Some(reading), Some(o), rank);
        }
    }
    (worst.0, worst.1, worse_occurrences)
}

/// The occurrence a control was judged on, as people read its date, when it was an occurrence
/// with settings of its own rather than the series: a change record then says which evening
/// it fixed.
pub fn judged_occurrence(
    profile: &Profile,
    session: &Session,
    now: DateTime<Utc>,
    control: Control,
) -> Option<String> {
    let (_, occurrence, count) = judged_reading(profile, session, now, control);
    occurrence.map(|o| {
        let label = o.label(session.timezone.as_deref());
        if count > 1 {
            format!("{label} and {} more occurrence(s)", count - 1)
        } else {
            label
        }
    })
}

/// Judges a control on the series and on every upcoming occurrence read on its own; the worst
/// is reported, naming the occurrence's date when it is one.
fn evaluate_occurrences(
    profile: &Profile,
    session: &Session,
    ctx: &Context<'_>,
    control: Control,
) -> Finding {
    let (reading, occurrence, count) = judged_reading(profile, session, ctx.now, control);
    let mut f = evaluate_reading(profile, session.platform, reading, control);
    if let Some(o) = occurrence {
        let more = if count > 1 {
            format!(" (and {} more occurrence(s))", count - 1)
        } else {
            String::new()
        };
        f.detail = format!(
            "on the occurrence of {}{more}, set on its own: {}",
            o.label(session.timezone.as_deref()),
            f.detail
        );
    }
    f
}

fn evaluate_reading(
    profile: &Profile,
    platform: crate::session::PlatformKind,
    reading: Option<&Reading>,
    control: Control,
) -> Finding {
    let reading = match reading {
        None => {
            return finding(
                control,
                Status::Unsupported,
                format!("{platform} offers no way to read or set this control; check it by hand"),
            );
        }
        Some(Reading::Unsupported { reason }) => {
            return finding(control, Status::Unsupported, reason.clone());
        }
        Some(Reading::Error { reason }) => {
            return finding(
                control,
                Status::Error,
                format!("could not be read: {reason}"),
            );
        }
        Some(Reading::Value { level, locked, .. }) => (*level, locked.clone()),
    };
    let (level, locked) = reading;
    let (ok, wanted) = match control {
        Control::CloudRecording => {
            let on = level == Level(1);
            match profile.cloud_recording {
                // Only `off` is forbidden-compliant: Teams' `recording-allowed` and
                // `transcription-allowed` keep a record too.
                Some(CloudRecordingPolicy::Forbidden) => (level == Level(0), "forbidden"),
                Some(CloudRecordingPolicy::Required) => (on, "required"),
                _ => (true, "allowed"),
            }
        }
        _ => {
            let want = profile
                .controls
                .get(&control)
                .copied()
                .unwrap_or(control.strictest());
            (level >= want, control.level_name(want))
        }
    };
    let observed = control.level_name(level);
    let mut f = if ok {
        finding(control, Status::Compliant, observed)
    } else {
        finding(
            control,
            Status::Drift,
            format!(
                "is `{observed}`, profile `{}` asks for `{wanted}`",
                profile.name
            ),
        )
    };
    f.observed = Some(observed.to_string());
    f.wanted = Some(wanted.to_string());
    if !ok && let Some(crate::session::Lock::Platform { reason }) = &locked {
        // No write can fix it, so it is not drift: a person must act (never planned).
        f.status = Status::NeedsHuman;
        f.detail = format!(
            "{}; the platform does not let it be changed: {reason}",
            f.detail
        );
    } else if !ok && let Some(lock) = &locked {
        f.detail = format!(
            "{}; locked at the {lock} level, so it cannot be changed for this host: change it in the {lock} settings (and keep it locked)",
            f.detail
        );
    }
    f.lock = locked;
    f
}

fn is_staff(staff: &Staff, email: &str, directory: &Directory) -> bool {
    let email = email.to_ascii_lowercase();
    // The duty pool is staff by definition: someone added from it must count.
    if staff
        .emails
        .iter()
        .chain(&staff.duty_pool)
        .any(|e| e.eq_ignore_ascii_case(&email))
    {
        return true;
    }
    if let Some((_, domain)) = email.rsplit_once('@')
        && staff.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    {
        return true;
    }
    directory.get(&email).is_some_and(|groups| {
        groups
            .iter()
            .any(|g| staff.groups.iter().any(|s| s.eq_ignore_ascii_case(g)))
    })
}

/// The duty-pool member chaperone would add as second staff member, if any.
pub fn duty_pool_pick<'p>(profile: &'p Profile, session: &Session) -> Option<&'p str> {
    profile
        .staff
        .duty_pool
        .iter()
        .find(|e| !e.eq_ignore_ascii_case(&session.host.email))
        .map(String::as_str)
}

fn evaluate_second_staff(profile: &Profile, session: &Session, ctx: &Context<'_>) -> Finding {
    let host = &session.host.email;
    let staff: Vec<&String> = session
        .co_hosts
        .iter()
        .filter(|c| !c.eq_ignore_ascii_case(host) && is_staff(&profile.staff, c, ctx.directory))
        .collect();
    let mut f = if let Some(first) = staff.first() {
        finding(
            Control::SecondStaff,
            Status::Compliant,
            format!("{first} is alternative host"),
        )
    } else if let Some(pick) = duty_pool_pick(profile, session) {
        finding(
            Control::SecondStaff,
            Status::Drift,
            format!("no staff member besides the host; {pick} from the duty pool can be added"),
        )
    } else {
        let others = session.co_hosts.len();
        let note = if others > 0 {
            format!(" ({others} alternative host(s) named, none of them staff)")
        } else {
            String::new()
        };
        finding(
            Control::SecondStaff,
            Status::NeedsHuman,
            format!(
                "no second staff member{note}: the host must add a colleague from staff as alternative host or co-organizer before the session starts"
            ),
        )
    };
    f.observed = Some(
        if staff.is_empty() {
            "optional"
        } else {
            "required"
        }
        .into(),
    );
    f.wanted = Some("required".into());
    f
}

fn evaluate_cover_hours(profile: &Profile, session: &Session, ctx: &Context<'_>) -> Finding {
    let Some(cover) = &profile.cover_hours else {
        return finding(
            Control::CoverHours,
            Status::NotApplicable,
            "no cover hours in the profile",
        );
    };
    let starts = session.starts();
    if starts.is_empty() {
        return finding(
            Control::CoverHours,
            Status::NeedsHuman,
            "the session has no fixed time, so cover hours cannot be checked: give it a time inside cover hours",
        );
    }
    let outside: Vec<String> = starts
        .iter()
        .filter(|(start, minutes)| {
            *start + chrono::Duration::minutes(i64::from(*minutes)) > ctx.now
        })
        .filter_map(|(start, minutes)| outside_cover(cover, *start, *minutes))
        .collect();
    let mut f = match outside.first() {
        None => finding(Control::CoverHours, Status::Compliant, "inside cover hours"),
        Some(first) => finding(
            Control::CoverHours,
            Status::NeedsHuman,
            format!(
                "{first}{}: move the session inside cover hours or agree cover with the safeguarding lead",
                if outside.len() > 1 {
                    format!(" (and {} more occurrence(s))", outside.len() - 1)
                } else {
                    String::new()
                }
            ),
        ),
    };
    f.observed = Some(
        if outside.is_empty() {
            "inside"
        } else {
            "outside"
        }
        .into(),
    );
    f.wanted = Some("inside".into());
    f
}

/// Why a drift finding will not be changed by software this run, if it will not.
fn fix_blocker(profile: &Profile, session: &Session, f: &Finding) -> Option<&'static str> {
    if f.lock.is_some() {
        return Some("locked above the host");
    }
    if profile.remediation.mode == RemediationMode::Report {
        return Some("the profile is in report mode");
    }
    if session.in_progress && !profile.remediation.change_in_progress {
        return Some("the session is in progress; it is changed after it ends");
    }
    None
}

/// The changes that fix what software can fix, all for one session. Empty when nothing can be
/// fixed. Every change moves its control towards stricter (see the property tests).
/// `now` is the instant the findings were judged at (which occurrences are still to come).
pub fn plan(
    profile: &Profile,
    session: &Session,
    findings: &[Finding],
    now: DateTime<Utc>,
) -> Vec<Change> {
    findings
        .iter()
        .filter(|f| f.status == Status::Drift && fix_blocker(profile, session, f).is_none())
        .filter_map(|f| plan_one(profile, session, now, f))
        .collect()
}

fn plan_one(
    profile: &Profile,
    session: &Session,
    now: DateTime<Utc>,
    f: &Finding,
) -> Option<Change> {
    let control = f.control;
    let from = match judged_reading(profile, session, now, control).0 {
        Some(Reading::Value { level, .. }) => Some(*level),
        _ => None,
    };
    let to = match control {
        Control::SecondStaff => Target::AddCoHost {
            email: duty_pool_pick(profile, session)?.to_string(),
        },
        Control::CloudRecording => {
            let level = match profile.cloud_recording? {
                CloudRecordingPolicy::Forbidden => Level(0),
                CloudRecordingPolicy::Required => Level(1),
                CloudRecordingPolicy::Allowed => return None,
            };
            Target::Level { level }
        }
        // Cover hours are judged, never written: outside them is `needs-human`.
        Control::CoverHours => return None,
        _ => {
            let want = *profile.controls.get(&control)?;
            // Never loosen: only raise a level we have read and found weaker.
            if from? >= want {
                return None;
            }
            Target::Level { level: want }
        }
    };
    Some(Change { control, from, to })
}

/// After a write and a read-back: a planned change counts as `fixed` only when the read-back
/// shows the wanted value. Anything else stays as the read-back says, with the reason.
pub fn settle(changes: &[Change], after: Vec<Finding>) -> (Vec<Finding>, Vec<ChangeRecord>) {
    let mut records = Vec::new();
    let findings = after
        .into_iter()
        .map(|mut f| {
            let Some(change) = changes.iter().find(|c| c.control == f.control) else {
                return f;
            };
            let verified = f.status == Status::Compliant;
            records.push(ChangeRecord {
                control: f.control,
                before: match &change.to {
                    Target::AddCoHost { .. } => Some("no staff alternative host".to_string()),
                    Target::Level { .. } => change.from.map(|l| f.control.level_name(l).to_string()),
                },
                after: match &change.to {
                    Target::Level { level } => f.control.level_name(*level).to_string(),
                    Target::AddCoHost { email } => format!("alternative host {email} added"),
                },
                verified,
            });
            if verified {
                f.status = Status::Fixed;
                f.detail = format!("fixed and confirmed by read-back: {}", f.detail);
            } else if f.status == Status::Drift {
                f.detail = format!(
                    "the platform accepted the change but the read-back still shows it: {}; a setting locked above the host or an account rule may override it",
                    f.detail
                );
            }
            f
        })
        .collect();
    (findings, records)
}

#[cfg(test)]
mod tests;

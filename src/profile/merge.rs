//! `extends`: one checked file laid over its resolved parent. Child over parent per control and
//! per field of staff, cover hours, remediation and notify; lists replaced; reminders and
//! waivers appended; `select` never inherited. The checks that need the whole chain (cover hours
//! asked for but given nowhere) are made here, after the merge.

use std::collections::BTreeMap;
use std::path::Path;

use chrono_tz::Tz;

use super::check::{Checker, RawProfile, Requirement};
use super::load::stem;
use super::{CoverHours, Profile, ProfileNotify, Remediation, Staff};
use crate::control::{CloudRecordingPolicy, Control, Level};

/// The profile `raw` (the file at `path`) describes, on top of `parent`.
pub(crate) fn merge(
    path: &Path,
    parent: Option<&Profile>,
    raw: &RawProfile,
    default_timezone: Tz,
    checker: &mut Checker<'_>,
) -> Profile {
    let (controls, cloud_recording) = merge_controls(parent, raw);

    let parent_staff = parent.map(|p| p.staff.clone()).unwrap_or_default();
    let staff = Staff {
        groups: raw.staff.groups.clone().unwrap_or(parent_staff.groups),
        domains: raw.staff.domains.clone().unwrap_or(parent_staff.domains),
        emails: raw.staff.emails.clone().unwrap_or(parent_staff.emails),
        duty_pool: raw
            .staff
            .duty_pool
            .clone()
            .unwrap_or(parent_staff.duty_pool),
    };

    let (cover_hours, timezone) = merge_cover_hours(parent, raw, default_timezone, checker);

    let parent_remediation = parent.map(|p| p.remediation.clone()).unwrap_or_default();
    let remediation = Remediation {
        mode: raw.remediation.mode.unwrap_or(parent_remediation.mode),
        max_changes_per_run: raw
            .remediation
            .max_changes_per_run
            .unwrap_or(parent_remediation.max_changes_per_run),
        change_in_progress: raw
            .remediation
            .change_in_progress
            .unwrap_or(parent_remediation.change_in_progress),
    };

    let mut reminders = parent.map(|p| p.reminders.clone()).unwrap_or_default();
    for reminder in &raw.reminders {
        if !reminders.contains(reminder) {
            reminders.push(reminder.clone());
        }
    }

    // A waiver's expiry date ends in the time zone of the profile that declares it.
    let mut waivers = parent.map(|p| p.waivers.clone()).unwrap_or_default();
    waivers.extend(raw.waivers.iter().map(|w| w.resolve(timezone)));

    let parent_notify = parent.map(|p| p.notify.clone()).unwrap_or_default();
    let notify = ProfileNotify {
        leads: raw.notify.leads.clone().unwrap_or(parent_notify.leads),
        escalate_hours_before: raw
            .notify
            .escalate_hours_before
            .or(parent_notify.escalate_hours_before),
        channels: raw
            .notify
            .channels
            .clone()
            .unwrap_or(parent_notify.channels),
    };

    Profile {
        name: stem(path),
        source: path.to_path_buf(),
        description: raw
            .description
            .clone()
            .or(parent.map(|p| p.description.clone()))
            .unwrap_or_default(),
        selector: raw.select.clone(),
        controls,
        cloud_recording,
        staff,
        cover_hours,
        remediation,
        reminders,
        waivers,
        notify,
    }
}

/// Per control, the child's requirement over the parent's; `ignore` removes it.
fn merge_controls(
    parent: Option<&Profile>,
    raw: &RawProfile,
) -> (BTreeMap<Control, Level>, Option<CloudRecordingPolicy>) {
    let mut controls = parent.map(|p| p.controls.clone()).unwrap_or_default();
    let mut cloud_recording = parent.and_then(|p| p.cloud_recording);
    for (control, requirement) in &raw.controls {
        match *requirement.get_ref() {
            Requirement::Ignore if *control == Control::CloudRecording => cloud_recording = None,
            Requirement::Ignore => {
                controls.remove(control);
            }
            Requirement::Level(level) => {
                controls.insert(*control, level);
            }
            Requirement::Cloud(policy) => cloud_recording = Some(policy),
        }
    }
    (controls, cloud_recording)
}

/// The child's time zone and windows over the parent's, and the time zone waiver dates end in
/// (the tenant's when neither says). Cover hours asked for but given nowhere in the chain, or a
/// `[cover-hours]` table without windows, are errors here: only the merged chain can tell.
fn merge_cover_hours(
    parent: Option<&Profile>,
    raw: &RawProfile,
    default_timezone: Tz,
    checker: &mut Checker<'_>,
) -> (Option<CoverHours>, Tz) {
    let parent_cover = parent.and_then(|p| p.cover_hours.as_ref());
    let own_cover = raw.cover_hours.as_ref();
    let timezone = own_cover
        .and_then(|c| c.timezone)
        .or(parent_cover.map(|c| c.timezone))
        .unwrap_or(default_timezone);
    let windows = own_cover
        .and_then(|c| c.windows.clone())
        .or(parent_cover.map(|c| c.windows.clone()));
    let cover_hours = windows.map(|windows| CoverHours { timezone, windows });
    if let Some(own) = own_cover
        && own.windows.is_none()
        && cover_hours.is_none()
    {
        checker.error(
            own.span.clone(),
            "cover-hours.windows",
            "`[cover-hours]` needs `windows`, e.g. \
             windows = [{ days = [\"mon\"], start = \"09:00\", end = \"21:00\" }]",
        );
    }
    if let Some(requirement) = raw.controls.get(&Control::CoverHours)
        && matches!(requirement.get_ref(), Requirement::Level(l) if *l > Level(0))
        && cover_hours.is_none()
    {
        checker.error(
            requirement.span(),
            "controls.cover-hours",
            "`cover-hours` is asked for but no cover hours are given: add a `[cover-hours]` table \
             with the times the safeguarding service can be reached",
        );
    }
    (cover_hours, timezone)
}

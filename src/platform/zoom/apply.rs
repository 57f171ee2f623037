//! Writing a plan: the freshest read before any write, the meeting, host-settings and
//! per-occurrence PATCHes, and the per-host daily budget of meeting updates that Zoom enforces
//! (zoom.md §5), counted here so chaperone refuses before Zoom would.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};

use super::map;
use super::meetings::host_id_of;
use super::models::{Meeting, UserSettings};
use super::passcode;
use super::{Inner, meeting_id};
use crate::control::Control;
use crate::platform::{Applied, Change, PlatformError};
use crate::session::{Occurrence, PlatformKind, Reading, Session};

/// Today's count of meeting updates of `host_id` in `daily`, started afresh on a new UTC day.
fn count_today<'a>(
    daily: &'a mut HashMap<String, (NaiveDate, u32)>,
    host_id: &str,
    today: NaiveDate,
) -> &'a mut u32 {
    let entry = daily.entry(host_id.to_string()).or_insert((today, 0));
    if entry.0 != today {
        *entry = (today, 0);
    }
    &mut entry.1
}

impl Inner {
    /// Raises `host_id`'s count for today to `count` (never lowers it).
    pub(super) fn seed_daily(&self, host_id: &str, count: u32) {
        let today = Utc::now().date_naive();
        if let Ok(mut daily) = self.daily.lock() {
            let n = count_today(&mut daily, host_id, today);
            *n = (*n).max(count);
        }
    }

    /// Meeting updates counted today for `host_id`.
    pub(super) fn daily_count(&self, host_id: &str) -> u32 {
        let today = Utc::now().date_naive();
        self.daily
            .lock()
            .ok()
            .and_then(|d| {
                d.get(host_id)
                    .filter(|(day, _)| *day == today)
                    .map(|(_, n)| *n)
            })
            .unwrap_or(0)
    }

    /// Reserves one meeting update of `host_id` for today, or refuses before Zoom would.
    pub(super) fn reserve_update(&self, host_id: &str, shown: &str) -> Result<(), PlatformError> {
        let today = Utc::now().date_naive();
        let exhausted = || PlatformError::DailyBudgetExhausted {
            host: shown.to_string(),
            limit: self.daily_limit,
            platform_said: None,
        };
        let mut daily = self.daily.lock().map_err(|_| exhausted())?;
        let n = count_today(&mut daily, host_id, today);
        if *n >= self.daily_limit {
            return Err(exhausted());
        }
        *n += 1;
        Ok(())
    }

    /// A meeting write's error, with a daily-budget answer from Zoom also remembered by the
    /// adapter (no more writes for the host today) and given the limit in force.
    fn budget_or(&self, host_id: &str, e: PlatformError) -> PlatformError {
        match e {
            PlatformError::DailyBudgetExhausted {
                host,
                limit,
                platform_said,
            } => {
                let today = Utc::now().date_naive();
                if let Ok(mut daily) = self.daily.lock() {
                    daily.insert(host_id.to_string(), (today, self.daily_limit));
                }
                PlatformError::DailyBudgetExhausted {
                    host,
                    limit: if limit == 0 { self.daily_limit } else { limit },
                    platform_said,
                }
            }
            other => other,
        }
    }
}

/// Removes from a host-settings PATCH body the leaves `current` already holds; true when nothing
/// is left to write.
fn drop_settled_host_fields(body: &mut serde_json::Value, current: &UserSettings) -> bool {
    use serde_json::Value;
    let held = |section: &str, key: &str| -> Option<Value> {
        match (section, key) {
            ("in_meeting", "who_can_share_screen") => current
                .in_meeting
                .who_can_share_screen
                .clone()
                .map(Value::String),
            ("in_meeting", "file_transfer") => current.in_meeting.file_transfer.map(Value::Bool),
            ("in_meeting", "auto_saving_chat") => {
                current.in_meeting.auto_saving_chat.map(Value::Bool)
            }
            ("in_meeting", "private_chat") => current.in_meeting.private_chat.map(Value::Bool),
            ("recording", "local_recording") => current.recording.local_recording.map(Value::Bool),
            _ => None,
        }
    };
    let Some(sections) = body.as_object_mut() else {
        return false;
    };
    for (section, leaves) in sections.iter_mut() {
        if let Some(leaves) = leaves.as_object_mut() {
            leaves.retain(|key, wanted| held(section, key).as_ref() != Some(wanted));
        }
    }
    sections.retain(|_, leaves| leaves.as_object().is_none_or(|l| !l.is_empty()));
    sections.is_empty()
}

/// Whether a change is written on the meeting.
fn is_meeting_change(c: &Change) -> bool {
    matches!(
        c.control,
        Control::Passcode
            | Control::WaitingRoom
            | Control::JoinBeforeHost
            | Control::LocalRecording
            | Control::CloudRecording
            | Control::SecondStaff
    )
}

/// The names of the controls of `changes` that `pick` keeps, for a write's span.
fn control_names(changes: &[Change], pick: impl Fn(&Change) -> bool) -> Vec<&'static str> {
    changes
        .iter()
        .filter(|c| pick(c))
        .map(|c| c.control.name())
        .collect()
}

/// Writes `changes` on the session's meeting, its host's settings and its occurrences, after
/// reading each afresh. Returns the writes made, and why it stopped early if it did.
pub(super) async fn apply(
    inner: &Inner,
    session: &Session,
    changes: &[Change],
) -> Result<Applied, PlatformError> {
    if changes.is_empty() {
        return Ok(Applied::default());
    }
    let id = meeting_id(session)?;
    // The freshest read before any write, always: a session that went live since the collect is
    // left alone (DESIGN: never change a session in progress; a new passcode would change the
    // join link of a live session). It also gives the values a change depends on: alternative
    // hosts are appended to what is there now, a passcode is only added where there is none now,
    // recording is set from its current mode, and a waiting room for everyone is never written
    // over with one for outsiders.
    let current = inner.meeting(id).await?;
    refuse_if_started(session, &current)?;
    let host_id = host_id_of(&current, session);
    let shown_host = if session.host.email.is_empty() {
        host_id.clone()
    } else {
        session.host.email.clone()
    };
    let new_passcode = if map::wants_new_passcode(session, &current, changes) {
        let rules = inner.passcode_rules(&host_id).await?;
        Some(
            passcode::generate(&rules).map_err(|e| PlatformError::Refused {
                platform: PlatformKind::Zoom,
                reason: format!(
                    "no passcode can meet the host's passcode rules ({}); fix the rules in Zoom's passcode settings",
                    e.0
                ),
            })?,
        )
    } else {
        None
    };
    let mut patches = map::plan(session, &current, changes, new_passcode);
    // What the series already holds is not written again (an occurrence may be the one that
    // differs).
    if let Some(body) = patches.meeting.as_mut()
        && map::drop_settled_meeting_fields(body, &current)
    {
        patches.meeting = None;
    }
    // Host settings are shared by all the host's sessions: when this run already wrote and read
    // them back, drop what that read shows is already as wanted (no second write per host). When
    // the cached read has expired (a host with many sessions in a long sweep), read them again
    // rather than write blind: the read costs what the write's read-back would, and the
    // read-back of this session then finds them cached.
    if let Some(body) = patches.host.as_mut()
        && let Ok(settings) = &inner.host_context_of(&host_id).await.settings
        && drop_settled_host_fields(body, settings)
    {
        patches.host = None;
    }
    for (control, why) in &patches.skipped {
        tracing::warn!(control = %control, reason = %why, "change not written");
    }
    let mut writes = 0u32;
    if let Some(body) = &patches.meeting {
        inner.reserve_update(&host_id, &shown_host)?;
        // Series level for recurring meetings: no `occurrence_id` (zoom.md §2.1, "Occurrence PATCH
        // limits": passcode and alternative hosts cannot be set per occurrence). ASSUMPTION: a
        // settings-only PATCH of a type-8 series needs no `recurrence` object.
        let controls = control_names(changes, is_meeting_change);
        inner
            .patch_meeting(id, body, &shown_host, &controls)
            .await
            .map_err(|e| inner.budget_or(&host_id, e))?;
        writes += 1;
    }
    if let Some(body) = &patches.host {
        let controls = control_names(changes, |c| {
            !is_meeting_change(c) || c.control == Control::LocalRecording
        });
        let result = inner.patch_user_settings(&host_id, body, &controls).await;
        // Whatever the answer, the cached settings may no longer be what Zoom holds.
        inner.forget_host(&host_id);
        match result {
            Ok(()) => writes += 1,
            // The meeting was written: it is still read back and recorded.
            Err(e) if writes > 0 => {
                return Ok(Applied {
                    write_requests: writes,
                    stopped: Some(e),
                });
            }
            Err(e) => return Err(e),
        }
    }
    let mut occurrence_writes = 0;
    let stopped = write_occurrences(
        inner,
        session,
        id,
        changes,
        &host_id,
        &shown_host,
        &mut occurrence_writes,
    )
    .await
    .err();
    writes += occurrence_writes;
    match stopped {
        // Nothing was written: the error is the apply's.
        Some(e) if writes == 0 => Err(e),
        stopped => Ok(Applied {
            write_requests: writes,
            stopped,
        }),
    }
}

/// Refuses to write when the freshest read shows the meeting live though the plan was made on a
/// snapshot where it was not. A session that was live at the collect was planned for only when
/// the profile allows changing a session in progress.
fn refuse_if_started(session: &Session, current: &Meeting) -> Result<(), PlatformError> {
    if current.status.as_deref() == Some("started") && !session.in_progress {
        return Err(PlatformError::StartedDuringRun {
            platform: PlatformKind::Zoom,
            what: format!("Zoom meeting {}", session.id),
        });
    }
    Ok(())
}

/// Writes the per-occurrence controls on each occurrence read on its own whose snapshot differs
/// from what the changes want: Zoom keeps them per occurrence, and a series write is not known to
/// reach an occurrence with its own value (ASSUMPTION, see docs: the spec does not say; the
/// read-back of each occurrence decides). Each occurrence is read just before its write (live
/// meetings are left alone, settled values are not written) and each write counts against the
/// host's daily budget. Counts the writes made in `writes`; an error says why it stopped early.
async fn write_occurrences(
    inner: &Inner,
    session: &Session,
    id: u64,
    changes: &[Change],
    host_id: &str,
    shown_host: &str,
    writes: &mut u32,
) -> Result<(), PlatformError> {
    let per_occurrence: Vec<Change> = changes
        .iter()
        .filter(|c| map::OCCURRENCE_CONTROLS.contains(&c.control))
        .cloned()
        .collect();
    if per_occurrence.is_empty() {
        return Ok(());
    }
    for o in session
        .occurrences
        .iter()
        .filter(|o| differs_from_changes(o, &per_occurrence))
    {
        let current = inner.occurrence(id, &o.id).await?;
        refuse_if_started(session, &current)?;
        let Some(mut body) = map::plan(session, &current, &per_occurrence, None)
            .meeting
            .as_ref()
            .and_then(map::occurrence_body)
        else {
            continue;
        };
        if map::drop_settled_meeting_fields(&mut body, &current) {
            continue;
        }
        inner.reserve_update(host_id, shown_host)?;
        inner
            .patch_occurrence(id, &o.id, &body, shown_host)
            .await
            .map_err(|e| inner.budget_or(host_id, e))?;
        *writes += 1;
    }
    Ok(())
}

/// Whether an occurrence read on its own has a per-occurrence control other than the changes
/// want.
fn differs_from_changes(o: &Occurrence, changes: &[Change]) -> bool {
    changes
        .iter()
        .any(|c| match (&c.to, o.readings.get(&c.control)) {
            (crate::platform::Target::Level { level }, Some(Reading::Value { level: now, .. })) => {
                now != level
            }
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_from_an_earlier_day_starts_again_at_zero() {
        let today = Utc::now().date_naive();
        let yesterday = today.pred_opt().expect("a day before today");
        let mut daily = HashMap::from([("h1".to_string(), (yesterday, 7))]);
        assert_eq!(*count_today(&mut daily, "h1", today), 0);
        assert_eq!(daily.get("h1"), Some(&(today, 0)));
        *count_today(&mut daily, "h1", today) += 1;
        assert_eq!(
            *count_today(&mut daily, "h1", today),
            1,
            "today's count is kept"
        );
    }
}

//! What goes into the audit trail for each thing the store records. Pure functions, so the
//! wording and the choice of events are tested without a database.
//!
//! The trail answers "what did chaperone see and do, and when" for a safeguarding lead or an
//! auditor. It carries one `session.recorded` event per session (with its status counts), one
//! `finding` event per finding that needs attention (every status but `compliant` and
//! `not-applicable`: those are in the `findings` table and counted in `session.recorded`, and
//! repeating them would multiply the trail by the number of controls), and every change: the write
//! (`change.applied`) and what the read-back showed (`change.verified` or `change.not_applied`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::codec::Ts;
use crate::control::Status;
use crate::platform::CollectFailure;
use crate::report::{RunKind, SessionReport};

/// The kinds of audit event, as stored in `audit_events.kind`.
pub mod kind {
    pub const RUN_STARTED: &str = "run.started";
    pub const SESSION_RECORDED: &str = "session.recorded";
    pub const FINDING: &str = "finding";
    pub const CHANGE_APPLIED: &str = "change.applied";
    pub const CHANGE_VERIFIED: &str = "change.verified";
    pub const CHANGE_NOT_APPLIED: &str = "change.not_applied";
    pub const COLLECT_FAILED: &str = "collect.failed";
    pub const RUN_FINISHED: &str = "run.finished";
    /// A write intent left open by a process that stopped, settled by reading the session back.
    pub const INTENT_SETTLED: &str = "intent.settled";
}

/// An audit event about to be written; the run id and tenant are added by the store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewEvent {
    pub at: Ts,
    pub kind: &'static str,
    pub subject: String,
    pub detail: Value,
}

/// `platform:session-id`, the subject of session events.
pub(crate) fn session_subject(session: &SessionReport) -> String {
    format!("{}:{}", session.platform.name(), session.session_id)
}

pub(crate) fn run_started(run_id: &str, kind: RunKind, dry_run: bool, at: Ts) -> NewEvent {
    NewEvent {
        at,
        kind: kind::RUN_STARTED,
        subject: run_id.to_string(),
        detail: json!({
            "kind": kind.name(),
            "dry_run": dry_run,
            "schema_version": crate::report::SCHEMA_VERSION,
        }),
    }
}

pub(crate) fn session_recorded(session: &SessionReport, at: Ts) -> Vec<NewEvent> {
    let subject = session_subject(session);
    let mut statuses: BTreeMap<&'static str, u32> = BTreeMap::new();
    for f in &session.findings {
        *statuses.entry(f.status.name()).or_insert(0) += 1;
    }
    let mut events = vec![NewEvent {
        at,
        kind: kind::SESSION_RECORDED,
        subject: subject.clone(),
        detail: json!({
            "topic": session.topic,
            "host_email": session.host_email,
            "profile": session.profile,
            "statuses": statuses,
            "changes": session.changes.len(),
            "join_link_changed": session.join_link_changed,
        }),
    }];
    for f in &session.findings {
        if matches!(f.status, Status::Compliant | Status::NotApplicable) {
            continue;
        }
        events.push(NewEvent {
            at,
            kind: kind::FINDING,
            subject: format!("{subject}/{}", f.control.name()),
            detail: json!({
                "status": f.status.name(),
                "observed": f.observed,
                "wanted": f.wanted,
                "detail": f.detail,
                "lock": f.lock,
            }),
        });
    }
    for c in &session.changes {
        let subject = format!("{subject}/{}", c.control.name());
        events.push(NewEvent {
            at,
            kind: kind::CHANGE_APPLIED,
            subject: subject.clone(),
            detail: json!({
                "host_email": session.host_email,
                "before": c.before,
                "after": c.after,
            }),
        });
        events.push(NewEvent {
            at,
            kind: if c.verified {
                kind::CHANGE_VERIFIED
            } else {
                kind::CHANGE_NOT_APPLIED
            },
            subject,
            detail: json!({ "after": c.after, "verified": c.verified }),
        });
    }
    events
}

pub(crate) fn collect_failed(failure: &CollectFailure, at: Ts) -> NewEvent {
    NewEvent {
        at,
        kind: kind::COLLECT_FAILED,
        subject: failure.what.clone(),
        detail: json!({ "host_email": failure.host_email, "error": failure.error }),
    }
}

pub(crate) fn run_finished(
    run_id: &str,
    sessions: i64,
    failures: i64,
    statuses: &BTreeMap<String, i64>,
    at: Ts,
) -> NewEvent {
    NewEvent {
        at,
        kind: kind::RUN_FINISHED,
        subject: run_id.to_string(),
        detail: json!({ "sessions": sessions, "failures": failures, "statuses": statuses }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;
    use crate::report::{ChangeRecord, Finding};
    use crate::session::PlatformKind;
    use chrono::Utc;

    fn finding(control: Control, status: Status) -> Finding {
        Finding {
            control,
            status,
            observed: None,
            wanted: None,
            detail: String::new(),
            lock: None,
        }
    }

    #[test]
    fn compliant_findings_are_counted_not_repeated_and_every_change_has_its_outcome() {
        let session = SessionReport {
            platform: PlatformKind::Zoom,
            session_id: "85746065432".into(),
            topic: "[youth] Friday club".into(),
            host_email: "sam@example.org".into(),
            start: None,
            profile: "youth".into(),
            findings: vec![
                finding(Control::Passcode, Status::Fixed),
                finding(Control::WaitingRoom, Status::Compliant),
                finding(Control::SecondStaff, Status::NeedsHuman),
            ],
            changes: vec![ChangeRecord {
                control: Control::Passcode,
                before: Some("optional".into()),
                after: "required".into(),
                verified: false,
            }],
            join_link_changed: true,
        };
        let events = session_recorded(&session, Ts::new(Utc::now()));
        let kinds: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e.kind, e.subject.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (kind::SESSION_RECORDED, "zoom:85746065432"),
                (kind::FINDING, "zoom:85746065432/passcode"),
                (kind::FINDING, "zoom:85746065432/second-staff"),
                (kind::CHANGE_APPLIED, "zoom:85746065432/passcode"),
                (kind::CHANGE_NOT_APPLIED, "zoom:85746065432/passcode"),
            ]
        );
        assert_eq!(events[0].detail["statuses"]["compliant"], 1);
    }
}

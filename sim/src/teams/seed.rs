//! The tenant's data as the scenario seeds it: each meeting's onlineMeeting JSON (the CSDL's
//! properties, `shared/specs/teams/onlineMeeting-excerpt.v1.0.csdl.xml`) and every calendar's copy
//! of its occurrences, plus a non-Teams event per organizer. Kept apart so the handlers read one
//! shape of stored data and the JSON Graph would answer is written in one place.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::scenario::{TeamsMeeting, TeamsScenario, TeamsUser, digest, meeting_id};
use super::state::{Data, StoredEvent, StoredMeeting};

/// Graph's `dateTimeTimeZone`: a local time without offset, and its zone (UTC here).
pub(crate) fn date_time_tz(t: DateTime<Utc>) -> Value {
    json!({"dateTime": graph_time(t), "timeZone": "UTC"})
}

fn graph_time(t: DateTime<Utc>) -> String {
    // Graph writes seven fractional digits (`2026-11-24T17:00:00.0000000`).
    format!(
        "{}.{:07}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        chrono::Timelike::nanosecond(&t) / 100
    )
}

/// A participant's `identity` (an `identitySet` with a tenant user).
pub(crate) fn identity(u: &TeamsUser, tenant: &str) -> Value {
    json!({"user": {"id": u.id, "displayName": u.display_name, "tenantId": tenant}})
}

/// The data a scenario starts with (an organizer who is not a user is skipped, with a warning).
pub(crate) fn build(scenario: &TeamsScenario) -> Data {
    let mut meetings = BTreeMap::new();
    let mut events = Vec::new();
    for m in &scenario.meetings {
        let Some(org) = by_email(scenario, &m.organizer) else {
            tracing::warn!(organizer = %m.organizer, "meeting organizer is not a user; skipped");
            continue;
        };
        let id = meeting_id(&org.id, &m.subject);
        let value = online_meeting(scenario, m, org, &id);
        events.extend(occurrences(scenario, m, org, &id, &value["joinWebUrl"]));
        events.push(lunch(m, org, &id));
        meetings.insert(
            id,
            StoredMeeting {
                organizer: org.id.clone(),
                value,
                policy_held: m.policy_held.clone(),
            },
        );
    }
    Data {
        users: scenario.users.clone(),
        groups: scenario.groups.clone(),
        meetings,
        events,
        tokens: HashMap::new(),
        subscriptions: BTreeMap::new(),
        counter: 0,
    }
}

fn by_email<'a>(scenario: &'a TeamsScenario, email: &str) -> Option<&'a TeamsUser> {
    scenario.users.iter().find(|u| u.email == email)
}

/// The onlineMeeting as GET returns it with every enum member shown: Teams' defaults, then the
/// scenario's own settings over them.
fn online_meeting(scenario: &TeamsScenario, m: &TeamsMeeting, org: &TeamsUser, id: &str) -> Value {
    let tenant = &scenario.tenant_id;
    let thread = format!("19:meeting_{:016x}@thread.v2", digest(4, id));
    let join_url = format!(
        "https://teams.microsoft.com/l/meetup-join/{}/0?context=%7b%22Tid%22%3a%22{tenant}%22%2c%22Oid%22%3a%22{}%22%7d",
        thread.replace(':', "%3a").replace('@', "%40"),
        org.id
    );
    let end = m.start + chrono::Duration::minutes(i64::from(m.minutes));
    let attendees: Vec<Value> = m
        .attendees
        .iter()
        .filter_map(|(email, role)| {
            let u = by_email(scenario, email)?;
            Some(json!({"upn": u.email, "role": role, "identity": identity(u, tenant)}))
        })
        .collect();
    let mut value = json!({
        "@odata.type": "#microsoft.graph.onlineMeeting",
        "id": id,
        "creationDateTime": (m.start - chrono::Duration::days(14)).to_rfc3339(),
        "startDateTime": m.start.to_rfc3339(),
        "endDateTime": end.to_rfc3339(),
        "expiryDateTime": (m.start + chrono::Duration::days(60 + 7 * i64::from(m.weekly))).to_rfc3339(),
        "joinWebUrl": join_url,
        "subject": m.subject,
        "meetingType": if m.weekly > 1 { "recurring" } else { "scheduled" },
        "isBroadcast": false,
        "isEntryExitAnnounced": true,
        "allowedPresenters": "everyone",
        "allowMeetingChat": "enabled",
        "allowTeamworkReactions": true,
        "allowAttendeeToEnableCamera": true,
        "allowAttendeeToEnableMic": true,
        // Recording and transcription are allowed unless someone turns them off: the CSDL
        // (`specs/teams/onlineMeeting-excerpt.v1.0.csdl.xml`, onlineMeetingBase) types
        // `allowRecording`, `allowTranscription` and `recordAutomatically` as Edm.Boolean
        // without a default; research §1.2 "Recording" and §1.3 (tenant policy
        // `AllowCloudRecording`/`AllowTranscription`) describe Teams as allowing both unless
        // a policy or the organizer turns them off. ASSUMPTION: a meeting created without
        // them reads back `true`, `true`, `false`.
        "allowRecording": true,
        "recordAutomatically": false,
        "allowTranscription": true,
        "allowedLobbyAdmitters": "organizerAndCoOrganizersAndPresenters",
        "allowBreakoutRooms": true,
        "allowPowerPointSharing": true,
        "allowWhiteboard": true,
        "allowLiveShare": "enabled",
        "allowCopyingAndSharingMeetingContent": true,
        "allowParticipantsToChangeName": false,
        "shareMeetingChatHistoryDefault": "all",
        "lobbyBypassSettings": {"scope": "organization", "isDialInBypassEnabled": false},
        "chatRestrictions": {"allowTextOnly": false},
        "chatInfo": {"threadId": thread, "messageId": "0", "replyChainMessageId": null},
        "participants": {
            "organizer": {"upn": org.email, "role": "presenter", "identity": identity(org, tenant)},
            "attendees": attendees,
        },
    });
    if let Some(required) = m.passcode_required {
        value["joinMeetingIdSettings"] = json!({
            "isPasscodeRequired": required,
            "joinMeetingId": format!("{}", 300_000_000_000u64 + digest(5, id) % 99_999_999_999),
            "passcode": if required { Value::from(format!("{:06x}", digest(6, id) % 0xff_ffff)) } else { Value::Null },
        });
    }
    if let (Some(o), Some(extra)) = (value.as_object_mut(), m.settings.as_object()) {
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
    }
    value
}

/// Every calendar's copy of each occurrence: the organizer's and each attendee's.
fn occurrences(
    scenario: &TeamsScenario,
    m: &TeamsMeeting,
    org: &TeamsUser,
    id: &str,
    join_url: &Value,
) -> Vec<StoredEvent> {
    let series = (m.weekly > 1).then(|| format!("AAMkAGs{:x}", digest(7, id)));
    let owners: Vec<(&TeamsUser, bool)> = std::iter::once((org, true))
        .chain(
            m.attendees
                .iter()
                .filter_map(|(email, _)| by_email(scenario, email).map(|u| (u, false))),
        )
        .collect();
    let mut events = Vec::new();
    for k in 0..m.weekly {
        let start = m.start + chrono::Duration::days(7 * i64::from(k));
        let end = start + chrono::Duration::minutes(i64::from(m.minutes));
        for &(owner, is_organizer) in &owners {
            let event_id = format!("AAMkAGe{:x}", digest(8, &format!("{id}{k}{}", owner.id)));
            events.push(StoredEvent {
                owner: owner.id.clone(),
                start,
                end,
                value: json!({
                    "id": event_id,
                    "subject": m.subject,
                    "start": date_time_tz(start),
                    "end": date_time_tz(end),
                    "isOnlineMeeting": true,
                    "onlineMeetingProvider": "teamsForBusiness",
                    "onlineMeeting": {"joinUrl": join_url, "conferenceId": "123456789"},
                    "isOrganizer": is_organizer,
                    "isCancelled": false,
                    "type": if series.is_some() { "occurrence" } else { "singleInstance" },
                    "seriesMasterId": series,
                    "organizer": {"emailAddress": {"name": org.display_name, "address": org.email}},
                }),
            });
        }
    }
    events
}

/// Something that is not a Teams meeting in the organizer's calendar, three hours before.
fn lunch(m: &TeamsMeeting, org: &TeamsUser, id: &str) -> StoredEvent {
    let lunch = m.start - chrono::Duration::hours(3);
    StoredEvent {
        owner: org.id.clone(),
        start: lunch,
        end: lunch + chrono::Duration::hours(1),
        value: json!({
            "id": format!("AAMkAGl{:x}", digest(9, id)),
            "subject": "Lunch",
            "start": date_time_tz(lunch),
            "end": date_time_tz(lunch + chrono::Duration::hours(1)),
            "isOnlineMeeting": false,
            "onlineMeetingProvider": "unknown",
            "onlineMeeting": null,
            "isOrganizer": true,
            "type": "singleInstance",
        }),
    }
}

//! Scenarios for the Graph simulator: the tenant's users, groups and Teams meetings.
//!
//! Plain data with builder methods; the demo organisation is generated relative to "now" so its
//! meetings stay upcoming. Ids are derived from names, so they are stable from run to run.

use std::hash::{Hash, Hasher};

use base64::Engine as _;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Europe::London;
use serde_json::{Value, json};

/// The demo organisation's email domain (the same organisation as the Zoom demo).
pub const TEAMS_DEMO_DOMAIN: &str = "riverside.example.org";

/// A stable 64-bit digest of a text (ids only; not cryptographic).
pub(crate) fn digest(seed: u64, text: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    seed.hash(&mut h);
    text.to_ascii_lowercase().hash(&mut h);
    h.finish()
}

/// An Entra object id (GUID form) derived from a kind and a name.
pub(crate) fn object_id(kind: &str, name: &str) -> String {
    let a = digest(1, &format!("{kind}:{name}"));
    let b = digest(2, &format!("{kind}:{name}"));
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A user of the tenant.
#[derive(Clone, Debug)]
pub struct TeamsUser {
    /// Entra object id.
    pub id: String,
    pub display_name: String,
    /// `mail` and `userPrincipalName` (the same here).
    pub email: String,
    /// Whether the Teams application access policy is granted for this user
    /// (teams-webex-meet.md §1.4); without it onlineMeetings requests answer 403.
    pub access_policy: bool,
}

impl TeamsUser {
    pub fn new(email: &str, display_name: &str) -> Self {
        TeamsUser {
            id: object_id("user", email),
            display_name: display_name.into(),
            email: email.to_ascii_lowercase(),
            access_policy: true,
        }
    }

    /// No application access policy for this user: onlineMeetings requests get 403.
    pub fn without_access_policy(mut self) -> Self {
        self.access_policy = false;
        self
    }
}

/// An Entra security group.
#[derive(Clone, Debug)]
pub struct TeamsGroup {
    pub id: String,
    pub display_name: String,
    /// Member emails.
    pub members: Vec<String>,
}

impl TeamsGroup {
    pub fn new(display_name: &str) -> Self {
        TeamsGroup {
            id: Self::id_for(display_name),
            display_name: display_name.into(),
            members: Vec::new(),
        }
    }

    /// The id a group of this name gets.
    pub fn id_for(display_name: &str) -> String {
        object_id("group", display_name)
    }

    pub fn member(mut self, email: &str) -> Self {
        self.members.push(email.to_ascii_lowercase());
        self
    }
}

/// A Teams meeting scheduled in its organizer's calendar.
#[derive(Clone, Debug)]
pub struct TeamsMeeting {
    pub organizer: String,
    pub subject: String,
    /// Start of the first occurrence.
    pub start: DateTime<Utc>,
    pub minutes: u32,
    /// Weekly occurrences (1 = a one-off meeting); all share one onlineMeeting (§1.1).
    pub weekly: u32,
    /// Properties merged over the default onlineMeeting (camelCase Graph names).
    pub settings: Value,
    /// (email, role) of attendees; `role` from `onlineMeetingRole`.
    pub attendees: Vec<(String, String)>,
    /// `joinMeetingIdSettings.isPasscodeRequired`; `None` = an older meeting without the field.
    pub passcode_required: Option<bool>,
    /// Properties a tenant policy holds: a PATCH of them answers 200 and changes nothing.
    pub policy_held: Vec<String>,
}

impl TeamsMeeting {
    /// A one-off meeting with Graph's defaults (lobby `organization`, presenters `everyone`,
    /// chat `enabled`, no recording, passcode required).
    pub fn new(organizer: &str, subject: &str, start: DateTime<Utc>, minutes: u32) -> Self {
        TeamsMeeting {
            organizer: organizer.to_ascii_lowercase(),
            subject: subject.into(),
            start,
            minutes,
            weekly: 1,
            settings: json!({}),
            attendees: Vec::new(),
            passcode_required: Some(true),
            policy_held: Vec::new(),
        }
    }

    pub fn weekly(mut self, occurrences: u32) -> Self {
        self.weekly = occurrences.max(1);
        self
    }

    /// Set a property, e.g. `("allowedPresenters", json!("everyone"))`.
    pub fn set(mut self, property: &str, value: Value) -> Self {
        if let Some(o) = self.settings.as_object_mut() {
            o.insert(property.into(), value);
        }
        self
    }

    pub fn attendee(mut self, email: &str, role: &str) -> Self {
        self.attendees
            .push((email.to_ascii_lowercase(), role.to_string()));
        self
    }

    pub fn passcode(mut self, required: Option<bool>) -> Self {
        self.passcode_required = required;
        self
    }

    /// A tenant policy holds this property: writes to it are accepted and ignored.
    pub fn policy_holds(mut self, property: &str) -> Self {
        self.policy_held.push(property.into());
        self
    }

    /// The lobby as `lobbyBypassSettings`.
    pub fn lobby(self, scope: &str, dial_in_bypass: bool) -> Self {
        self.set(
            "lobbyBypassSettings",
            json!({"scope": scope, "isDialInBypassEnabled": dial_in_bypass}),
        )
    }
}

/// What the simulator starts with.
#[derive(Clone, Debug)]
pub struct TeamsScenario {
    pub tenant_id: String,
    pub organisation: String,
    pub users: Vec<TeamsUser>,
    pub groups: Vec<TeamsGroup>,
    pub meetings: Vec<TeamsMeeting>,
    /// The group whose members organise youth sessions (chaperone's `staff_group_id`).
    pub staff_group: String,
}

impl TeamsScenario {
    /// An empty tenant with a staff group named "Staff".
    pub fn empty() -> Self {
        TeamsScenario {
            tenant_id: object_id("tenant", "riverside"),
            organisation: "Riverside Youth Trust".into(),
            users: Vec::new(),
            groups: vec![TeamsGroup::new("Staff")],
            meetings: Vec::new(),
            staff_group: TeamsGroup::id_for("Staff"),
        }
    }

    pub fn user(mut self, u: TeamsUser) -> Self {
        self.users.push(u);
        self
    }

    /// Adds a group, replacing one of the same name.
    pub fn group(mut self, g: TeamsGroup) -> Self {
        self.groups.retain(|x| x.display_name != g.display_name);
        self.groups.push(g);
        self
    }

    /// Puts a user into a group by name (the group must have been added).
    pub fn add_member(mut self, group: &str, email: &str) -> Self {
        if let Some(g) = self.groups.iter_mut().find(|g| g.display_name == group) {
            g.members.push(email.to_ascii_lowercase());
        }
        self
    }

    pub fn meeting(mut self, m: TeamsMeeting) -> Self {
        self.meetings.push(m);
        self
    }

    /// The demo organisation, generated at the current time.
    pub fn demo() -> Self {
        demo_at(Utc::now())
    }

    /// The demo organisation as generated at `now`.
    pub fn demo_at(now: DateTime<Utc>) -> Self {
        demo_at(now)
    }
}

fn demo_email(local: &str) -> String {
    format!("{local}@{TEAMS_DEMO_DOMAIN}")
}

fn london(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let naive = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
    match London.from_local_datetime(&naive).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => Utc.from_utc_datetime(&naive),
    }
}

/// The next date on `day` strictly after today (London), so a session is always upcoming.
fn next(now: DateTime<Utc>, day: Weekday) -> NaiveDate {
    let today = now.with_timezone(&London).date_naive();
    let mut d = today + Duration::days(1);
    while d.weekday() != day {
        d += Duration::days(1);
    }
    d
}

/// Stable encoded ids, as Graph shows them (opaque base64 that may contain `/`, `+` and `=`).
pub(crate) fn meeting_id(organizer_id: &str, subject: &str) -> String {
    let thread = format!(
        "19:meeting_{:016x}@thread.v2",
        digest(3, &format!("{organizer_id}{subject}"))
    );
    base64::engine::general_purpose::STANDARD.encode(format!("1*{organizer_id}*0**{thread}"))
}

fn demo_at(now: DateTime<Utc>) -> TeamsScenario {
    use Weekday::*;
    let people: &[(&str, &str, &[&str])] = &[
        ("rachel.green", "Rachel Green", &["Staff"]),
        ("alex.morgan", "Alex Morgan", &["Youth Workers", "Staff"]),
        ("priya.shah", "Priya Shah", &["Youth Workers", "Staff"]),
        (
            "jordan.hughes",
            "Jordan Hughes",
            &["Youth Workers", "Staff"],
        ),
        ("fatima.begum", "Fatima Begum", &["Youth Workers", "Staff"]),
        ("dan.okafor", "Dan Okafor", &["Youth Workers", "Staff"]),
        ("megan.price", "Megan Price", &["Youth Workers", "Staff"]),
        ("chloe.evans", "Chloe Evans", &["Early Years", "Staff"]),
        ("tom.baker", "Tom Baker", &["Volunteers", "Staff"]),
        ("duty.officer", "Duty Officer", &["Staff"]),
        ("sam.patel", "Sam Patel", &["Staff"]),
        ("young.person1", "Young Person 1", &["Young People"]),
        ("young.person2", "Young Person 2", &["Young People"]),
        ("parent.one", "Parent One", &["Families"]),
    ];
    let mut sc = TeamsScenario::empty();
    for g in [
        "Youth Workers",
        "Early Years",
        "Volunteers",
        "Young People",
        "Families",
    ] {
        sc = sc.group(TeamsGroup::new(g));
    }
    for (local, name, groups) in people {
        let email = demo_email(local);
        sc = sc.user(TeamsUser::new(&email, name));
        for g in *groups {
            sc = sc.add_member(g, &email);
        }
    }
    let e = demo_email;
    let yp1 = e("young.person1");
    let yp2 = e("young.person2");
    let meetings = vec![
        // Drifted in every control Teams has: lobby open to the organisation with phone
        // bypass, everyone presents, chat only during the call, recorded automatically, no
        // passcode (reported, never fixed), no co-organizer.
        TeamsMeeting::new(
            &e("alex.morgan"),
            "[youth] Youth Forum",
            london(next(now, Mon), 17, 0),
            60,
        )
        .weekly(4)
        .lobby("organization", true)
        .set("allowedPresenters", json!("everyone"))
        .set("allowMeetingChat", json!("limited"))
        .set("recordAutomatically", json!(true))
        .set("allowRecording", json!(true))
        .set(
            "allowedLobbyAdmitters",
            json!("organizerAndCoOrganizersAndPresenters"),
        )
        .passcode(Some(false))
        .attendee(&yp1, "attendee")
        .attendee(&yp2, "attendee"),
        TeamsMeeting::new(
            &e("priya.shah"),
            "[youth] Gaming Club",
            london(next(now, Tue), 19, 0),
            90,
        )
        .weekly(4)
        .lobby("everyone", false)
        .set("allowedPresenters", json!("organization"))
        .set("recordAutomatically", json!(true)),
        // Runs past 21:00: outside cover hours (needs a person).
        TeamsMeeting::new(
            &e("priya.shah"),
            "[youth] Gaming Club – Late Night",
            london(next(now, Fri), 20, 30),
            90,
        )
        .lobby("organizationAndFederated", false),
        // One-to-one without a colleague: the host must add one (no duty pool for 1:1).
        TeamsMeeting::new(
            &e("jordan.hughes"),
            "[1:1] Mentoring – J.",
            london(next(now, Wed), 16, 0),
            45,
        )
        .weekly(3)
        .lobby("invited", false)
        .attendee(&yp1, "attendee"),
        // One-to-one with a staff co-organizer: compliant second staff.
        TeamsMeeting::new(
            &e("megan.price"),
            "[1:1] Mentoring – K.",
            london(next(now, Thu), 17, 0),
            45,
        )
        .lobby("organizer", false)
        .set("allowedLobbyAdmitters", json!("organizerAndCoOrganizers"))
        .set("allowedPresenters", json!("organizer"))
        .attendee(&e("sam.patel"), "coorganizer")
        .attendee(&yp2, "attendee"),
        // Presenters by role, with a young person as presenter; lobby lets federated users in.
        TeamsMeeting::new(
            &e("fatima.begum"),
            "[youth] Girls' Group",
            london(next(now, Wed), 18, 0),
            90,
        )
        .lobby("organizationAndFederated", true)
        .set("allowedPresenters", json!("roleIsPresenter"))
        .attendee(&yp1, "presenter")
        .attendee(&yp2, "attendee"),
        // The control group: compliant in every control Teams has.
        TeamsMeeting::new(
            &e("megan.price"),
            "[youth] Saturday Sports Chat",
            london(next(now, Sat), 11, 0),
            60,
        )
        .lobby("organizer", false)
        .set("allowedLobbyAdmitters", json!("organizerAndCoOrganizers"))
        .set("allowedPresenters", json!("organizer"))
        .set("allowRecording", json!(false))
        .set("allowTranscription", json!(false))
        .attendee(&e("duty.officer"), "coorganizer"),
        // Attendees and no co-organizer: the duty officer is added, nobody is dropped.
        TeamsMeeting::new(
            &e("tom.baker"),
            "[youth] Homework Help",
            london(next(now, Tue), 16, 30),
            60,
        )
        .weekly(2)
        .attendee(&yp1, "attendee")
        .attendee(&yp2, "attendee")
        .attendee(&e("parent.one"), "attendee"),
        // A tenant meeting policy forces automatic recording: the PATCH is accepted, the
        // read-back shows it unchanged.
        TeamsMeeting::new(
            &e("dan.okafor"),
            "[youth] Music Studio",
            london(next(now, Thu), 19, 0),
            90,
        )
        .set("recordAutomatically", json!(true))
        .policy_holds("recordAutomatically"),
        // An older meeting without joinMeetingIdSettings.
        TeamsMeeting::new(
            &e("dan.okafor"),
            "[youth] Film Night",
            london(next(now, Mon), 19, 0),
            60,
        )
        .passcode(None),
        // Families join from their own accounts: the early-years profile accepts "outsiders".
        TeamsMeeting::new(
            &e("chloe.evans"),
            "[baby] Stay & Play",
            london(next(now, Fri), 10, 30),
            60,
        )
        .lobby("everyone", false)
        .attendee(&e("parent.one"), "attendee"),
        // In progress now: left alone.
        TeamsMeeting::new(
            &e("alex.morgan"),
            "[youth] Drop-in",
            now - Duration::minutes(15),
            60,
        )
        .lobby("everyone", false),
        // Not a youth session.
        TeamsMeeting::new(
            &e("rachel.green"),
            "Team Standup",
            london(next(now, Mon), 9, 0),
            30,
        )
        .weekly(4),
    ];
    for m in meetings {
        sc = sc.meeting(m);
    }
    sc
}

//! Scenarios: the organisation, users, groups, locks and meetings a simulator starts with.
//!
//! Scenarios are plain data with builder methods, so a test can state exactly the account it
//! needs, and the demo and benchmark organisations are generated deterministically (seeded, and
//! relative to the current time so "upcoming" stays upcoming).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Europe::London;
use serde_json::{Value, json};

use super::model::{
    default_lock_settings, default_meeting_security, default_user_settings, set_pointer, zoom_id,
};

/// 2^53 + 1: the first integer an f64 cannot hold. Meeting ids from here up break a client
/// that parses JSON numbers through f64 (the spec says int64, "store it as a long").
pub const FIRST_UNSAFE_ID: u64 = 9_007_199_254_740_993;

/// The Zoom account the simulator serves, with its account-level settings and locks.
#[derive(Clone, Debug)]
pub struct SimAccount {
    /// Account id used in the token request (`account_id=`) and `/accounts/{accountId}`.
    pub id: String,
    /// Display name of the organisation.
    pub name: String,
    /// Email domain of its users.
    pub domain: String,
    /// Account settings tree (same shape as user settings), served by `/accounts/{id}/settings`.
    pub settings: Value,
    /// Account lock settings: each leaf true means "locked for every group and user".
    pub lock_settings: Value,
}

/// A user of the account (host or staff member).
#[derive(Clone, Debug)]
pub struct SimUser {
    /// Zoom user id (22 URL-safe characters), derived from the email.
    pub id: String,
    /// Email (userId may be given as the email, case-insensitively).
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// 1 Basic, 2 Licensed, 4 Unassigned without Meetings Basic, 99 None (users spec enum).
    pub user_type: u8,
    /// `active`, `inactive` or `pending`.
    pub status: String,
    /// Ids of the groups the user belongs to.
    pub group_ids: Vec<String>,
    /// IANA time zone of the user.
    pub timezone: String,
    /// Department text.
    pub dept: String,
    /// Role id: "0" owner, "1" admin, "2" member.
    pub role_id: String,
    /// Personal meeting id.
    pub pmi: u64,
    /// Main settings tree (`GET /users/{id}/settings`).
    pub settings: Value,
    /// The `meeting_security` fields that are not aliases of main-tree fields.
    pub meeting_security: Value,
}

impl SimUser {
    /// A licensed, active user with default settings; the id is derived from the email.
    pub fn new(email: &str, first_name: &str, last_name: &str) -> Self {
        let pmi = 3_000_000_000 + super::model::fnv1a(7, email) % 6_000_000_000;
        SimUser {
            id: zoom_id("user", email),
            email: email.to_ascii_lowercase(),
            first_name: first_name.into(),
            last_name: last_name.into(),
            user_type: 2,
            status: "active".into(),
            group_ids: Vec::new(),
            timezone: "Europe/London".into(),
            dept: String::new(),
            role_id: "2".into(),
            pmi,
            settings: default_user_settings(),
            meeting_security: default_meeting_security(),
        }
    }

    /// Make the user Basic (unlicensed): such a user cannot be an alternative host.
    pub fn basic(mut self) -> Self {
        self.user_type = 1;
        self
    }

    /// Add the user to a group by the group's name (ids derive from names, see [`SimGroup::id_for`]).
    pub fn in_group(mut self, group_name: &str) -> Self {
        self.group_ids.push(SimGroup::id_for(group_name));
        self
    }

    /// Set a main-tree setting by JSON pointer, e.g. `("/in_meeting/who_can_share_screen", json!("all"))`.
    pub fn setting(mut self, pointer: &str, value: Value) -> Self {
        set_pointer(&mut self.settings, pointer, value);
        self
    }

    /// Set a `meeting_security`-only setting by JSON pointer relative to that object.
    pub fn security_setting(mut self, pointer: &str, value: Value) -> Self {
        set_pointer(&mut self.meeting_security, pointer, value);
        self
    }

    /// Set the department.
    pub fn dept(mut self, dept: &str) -> Self {
        self.dept = dept.into();
        self
    }

    /// Set the role id ("0" owner, "1" admin, "2" member).
    pub fn role(mut self, role_id: &str) -> Self {
        self.role_id = role_id.into();
        self
    }

    /// Set the status (`active`, `inactive`, `pending`).
    pub fn status(mut self, status: &str) -> Self {
        self.status = status.into();
        self
    }
}

/// A group of users, with group-level settings and locks.
#[derive(Clone, Debug)]
pub struct SimGroup {
    /// Group id, derived from the name.
    pub id: String,
    /// Group name.
    pub name: String,
    /// Group settings tree.
    pub settings: Value,
    /// Group lock settings: each leaf true locks that setting for the group's members.
    pub lock_settings: Value,
}

impl SimGroup {
    /// A group with default settings and nothing locked.
    pub fn new(name: &str) -> Self {
        SimGroup {
            id: Self::id_for(name),
            name: name.into(),
            settings: default_user_settings(),
            lock_settings: default_lock_settings(),
        }
    }

    /// The id a group of this name gets, so users can be placed in a group before it is built.
    pub fn id_for(name: &str) -> String {
        zoom_id("group", name)
    }

    /// Lock (or unlock) a setting for the group's members, e.g. `"/in_meeting/screen_sharing"`.
    pub fn lock(mut self, pointer: &str, locked: bool) -> Self {
        set_pointer(&mut self.lock_settings, pointer, Value::Bool(locked));
        self
    }

    /// Set a group setting by JSON pointer.
    pub fn setting(mut self, pointer: &str, value: Value) -> Self {
        set_pointer(&mut self.settings, pointer, value);
        self
    }
}

/// A scheduled meeting as the scenario defines it; the simulator turns it into the full
/// `GET /meetings/{meetingId}` object.
#[derive(Clone, Debug)]
pub struct SimMeeting {
    /// Meeting id (int64 in the spec; many scenario ids exceed 2^53).
    pub id: u64,
    /// Email of the host (must be a user of the scenario).
    pub host_email: String,
    /// Topic (tags such as `[youth]` live here).
    pub topic: String,
    /// 2 scheduled, 3 recurring with no fixed time, 8 recurring with fixed time.
    pub meeting_type: u8,
    /// Start (first occurrence for type 8; none for type 3).
    pub start_time: Option<DateTime<Utc>>,
    /// Minutes.
    pub duration: u32,
    /// IANA time zone shown with the start time.
    pub timezone: String,
    /// Description.
    pub agenda: String,
    /// Passcode ("" for none).
    pub password: String,
    /// In progress now (`status: started`).
    pub started: bool,
    /// Overrides merged over the default meeting `settings` object.
    pub settings: Value,
    /// Tracking fields (field, value), shown as visible.
    pub tracking_fields: Vec<(String, String)>,
    /// The `recurrence` object for type 8.
    pub recurrence: Option<Value>,
    /// Occurrence start times for type 8.
    pub occurrences: Vec<DateTime<Utc>>,
    /// Settings an occurrence keeps on its own (index into `occurrences` → a `settings` object
    /// merged over the series'), as when a host edits "this occurrence" only in the web portal.
    pub occurrence_settings: Vec<(usize, Value)>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl SimMeeting {
    /// A type 2 (scheduled) meeting with default settings and no passcode.
    pub fn scheduled(
        id: u64,
        host_email: &str,
        topic: &str,
        start: DateTime<Utc>,
        duration: u32,
    ) -> Self {
        SimMeeting {
            id,
            host_email: host_email.to_ascii_lowercase(),
            topic: topic.into(),
            meeting_type: 2,
            start_time: Some(start),
            duration,
            timezone: "Europe/London".into(),
            agenda: String::new(),
            password: String::new(),
            started: false,
            settings: json!({}),
            tracking_fields: Vec::new(),
            recurrence: None,
            occurrences: Vec::new(),
            occurrence_settings: Vec::new(),
            created_at: start - Duration::days(21),
        }
    }

    /// A type 8 meeting repeating weekly from `first` for `count` occurrences.
    pub fn weekly(
        id: u64,
        host_email: &str,
        topic: &str,
        first: DateTime<Utc>,
        duration: u32,
        count: u32,
    ) -> Self {
        let mut m = Self::scheduled(id, host_email, topic, first, duration);
        m.meeting_type = 8;
        let local = first.with_timezone(&London);
        // weekly_days: 1 = Sunday ... 7 = Saturday.
        let day = local.weekday().num_days_from_sunday() + 1;
        m.recurrence = Some(json!({
            "type": 2,
            "repeat_interval": 1,
            "weekly_days": day.to_string(),
            "end_times": count
        }));
        m.occurrences = (0..count)
            .map(|i| first + Duration::weeks(i64::from(i)))
            .collect();
        m
    }

    /// A type 3 meeting (recurring, no fixed time): no start time, no occurrences.
    pub fn no_fixed_time(id: u64, host_email: &str, topic: &str, created: DateTime<Utc>) -> Self {
        let mut m = Self::scheduled(id, host_email, topic, created, 60);
        m.meeting_type = 3;
        m.start_time = None;
        m.created_at = created;
        m
    }

    /// Set the passcode.
    pub fn password(mut self, password: &str) -> Self {
        self.password = password.into();
        self
    }

    /// Set a meeting setting by JSON pointer relative to `settings`, e.g. `("/waiting_room", json!(true))`.
    pub fn setting(mut self, pointer: &str, value: Value) -> Self {
        set_pointer(&mut self.settings, pointer, value);
        self
    }

    /// Set a setting of one occurrence only (index into `occurrences`), by JSON pointer
    /// relative to `settings`: the occurrence then differs from its series.
    pub fn occurrence_setting(mut self, index: usize, pointer: &str, value: Value) -> Self {
        match self
            .occurrence_settings
            .iter_mut()
            .find(|(i, _)| *i == index)
        {
            Some((_, v)) => {
                set_pointer(v, pointer, value);
            }
            None => {
                let mut v = json!({});
                set_pointer(&mut v, pointer, value);
                self.occurrence_settings.push((index, v));
            }
        }
        self
    }

    /// Add a tracking field.
    pub fn tracking_field(mut self, field: &str, value: &str) -> Self {
        self.tracking_fields.push((field.into(), value.into()));
        self
    }

    /// Mark the meeting as in progress (`status: started`).
    pub fn started(mut self) -> Self {
        self.started = true;
        self
    }

    /// Set the agenda.
    pub fn agenda(mut self, agenda: &str) -> Self {
        self.agenda = agenda.into();
        self
    }
}

/// Everything the simulator starts with.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The account.
    pub account: SimAccount,
    /// Users in listing order.
    pub users: Vec<SimUser>,
    /// Groups in listing order.
    pub groups: Vec<SimGroup>,
    /// Meetings.
    pub meetings: Vec<SimMeeting>,
    /// Seed of the simulator's random numbers (uuids, encrypted passcodes, tokens).
    pub seed: u64,
}

impl Scenario {
    /// An account `sim-acct` (domain `example.org`) with no users, groups or meetings.
    pub fn empty() -> Self {
        Scenario {
            account: SimAccount {
                id: "sim-acct".into(),
                name: "Simulated Org".into(),
                domain: "example.org".into(),
                settings: default_user_settings(),
                lock_settings: default_lock_settings(),
            },
            users: Vec::new(),
            groups: Vec::new(),
            meetings: Vec::new(),
            seed: 42,
        }
    }

    /// Set the account id, name and domain.
    pub fn with_account(mut self, id: &str, name: &str, domain: &str) -> Self {
        self.account.id = id.into();
        self.account.name = name.into();
        self.account.domain = domain.into();
        self
    }

    /// Add a user.
    pub fn user(mut self, user: SimUser) -> Self {
        self.users.push(user);
        self
    }

    /// Add a group.
    pub fn group(mut self, group: SimGroup) -> Self {
        self.groups.push(group);
        self
    }

    /// Add a meeting.
    pub fn meeting(mut self, meeting: SimMeeting) -> Self {
        self.meetings.push(meeting);
        self
    }

    /// Lock (or unlock) a setting at account level, e.g. `"/in_meeting/file_transfer"`.
    pub fn account_lock(mut self, pointer: &str, locked: bool) -> Self {
        set_pointer(
            &mut self.account.lock_settings,
            pointer,
            Value::Bool(locked),
        );
        self
    }

    /// Set an account setting by JSON pointer.
    pub fn account_setting(mut self, pointer: &str, value: Value) -> Self {
        set_pointer(&mut self.account.settings, pointer, value);
        self
    }

    /// Set the random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Look up a user by email (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<&SimUser> {
        self.users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// The "Riverside Youth Trust" demo organisation, relative to the current time.
    pub fn demo() -> Self {
        demo_at(Utc::now())
    }

    /// The demo organisation as it would be generated at `now` (for reproducible tests).
    pub fn demo_at(now: DateTime<Utc>) -> Self {
        demo_at(now)
    }

    /// `hosts` youth workers with `meetings_per_host` upcoming drifted meetings each, all in
    /// "Youth Workers"; built in linear time for benchmarks of 10,000+ meetings.
    pub fn bench(hosts: usize, meetings_per_host: usize) -> Self {
        bench_at(Utc::now(), hosts, meetings_per_host)
    }
}

/// Demo domain.
pub const DEMO_DOMAIN: &str = "riverside.example.org";

fn demo_email(local: &str) -> String {
    format!("{local}@{DEMO_DOMAIN}")
}

/// Meeting ids for the demo: two of every three are above 2^53 (and odd, so an f64 cannot hold
/// them); the rest are realistic 11-digit ids.
fn demo_id(k: u64) -> u64 {
    if k % 3 == 2 {
        81_234_567_001 + k * 7_919
    } else {
        FIRST_UNSAFE_ID + 2 * k * 7_919
    }
}

/// Youth-worker host settings drifted from a safeguarding profile in every host-level control.
fn drifted_host(user: SimUser) -> SimUser {
    user.setting("/in_meeting/who_can_share_screen", json!("all"))
        .setting("/in_meeting/file_transfer", json!(true))
        .setting("/in_meeting/auto_saving_chat", json!(false))
        .setting("/in_meeting/private_chat", json!(true))
        .setting("/recording/local_recording", json!(true))
        .setting("/recording/auto_recording", json!("local"))
}

/// A London wall-clock time on a date, as UTC.
fn london(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let naive = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
    match London.from_local_datetime(&naive).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => Utc.from_utc_datetime(&naive),
    }
}

struct Slot {
    host: &'static str,
    topic: &'static str,
    days: &'static [Weekday],
    hour: u32,
    minute: u32,
    duration: u32,
    /// Extra per-slot drift/compliance tweaks.
    style: Style,
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Youth,
    YouthTracked,
    TrackedOnly,
    OneToOneNoAlt,
    OneToOneWithAlt,
    Baby,
    Staff,
    LateCloud,
    FirstOnly,
}

fn demo_at(now: DateTime<Utc>) -> Scenario {
    use Weekday::*;
    let mut sc = Scenario::empty()
        .with_account("riverside-acct", "Riverside Youth Trust", DEMO_DOMAIN)
        .seed(20_240_917);
    // Require a passcode policy at account level like a Pro account does.
    sc.account.settings["schedule_meeting"]["require_password_for_scheduled_meetings"] =
        json!(false);

    sc = sc
        .group(SimGroup::new("Youth Workers"))
        .group(SimGroup::new("Staff"))
        .group(SimGroup::new("Early Years"))
        .group(
            SimGroup::new("Volunteers")
                .lock("/in_meeting/screen_sharing", true)
                .setting("/in_meeting/who_can_share_screen", json!("all")),
        );

    let people: &[(&str, &str, &str, &[&str])] = &[
        ("rachel.green", "Rachel", "Green", &["Staff"]),
        ("alex.morgan", "Alex", "Morgan", &["Youth Workers", "Staff"]),
        ("priya.shah", "Priya", "Shah", &["Youth Workers", "Staff"]),
        (
            "jordan.hughes",
            "Jordan",
            "Hughes",
            &["Youth Workers", "Staff"],
        ),
        (
            "fatima.begum",
            "Fatima",
            "Begum",
            &["Youth Workers", "Staff"],
        ),
        ("dan.okafor", "Dan", "Okafor", &["Youth Workers", "Staff"]),
        ("megan.price", "Megan", "Price", &["Youth Workers", "Staff"]),
        ("chloe.evans", "Chloe", "Evans", &["Early Years", "Staff"]),
        (
            "olivia.wright",
            "Olivia",
            "Wright",
            &["Early Years", "Staff"],
        ),
        ("tom.baker", "Tom", "Baker", &["Volunteers", "Staff"]),
        ("duty.officer", "Duty", "Officer", &["Staff"]),
        ("sam.patel", "Sam", "Patel", &["Staff"]),
        ("kim.lee", "Kim", "Lee", &["Volunteers"]),
    ];
    for (local, first, last, groups) in people {
        let mut u = SimUser::new(&demo_email(local), first, last);
        for g in *groups {
            u = u.in_group(g);
        }
        u = match *local {
            "rachel.green" => u.role("0").dept("Leadership"),
            "duty.officer" => u.role("1").dept("Safeguarding"),
            "sam.patel" => u.dept("Safeguarding"),
            "kim.lee" => u.basic().dept("Volunteers"),
            // Compliant host settings: the control group.
            "megan.price" => u
                .dept("Youth Work")
                .setting("/in_meeting/auto_saving_chat", json!(true))
                .setting("/in_meeting/private_chat", json!(false)),
            "priya.shah" => drifted_host(u)
                .dept("Youth Work")
                .setting("/recording/cloud_recording", json!(true))
                .setting("/recording/auto_recording", json!("cloud")),
            "fatima.begum" => drifted_host(u)
                .dept("Youth Work")
                .setting("/in_meeting/who_can_share_screen", json!("host")),
            "chloe.evans" => drifted_host(u)
                .dept("Early Years")
                .setting("/schedule_meeting/meeting_password_requirement/length", json!(8))
                .setting("/schedule_meeting/meeting_password_requirement/have_special_character", json!(true))
                .setting(
                    "/schedule_meeting/meeting_password_requirement/have_upper_and_lower_characters",
                    json!(true),
                )
                .setting("/schedule_meeting/meeting_password_requirement/consecutive_characters_length", json!(4)),
            "olivia.wright" => drifted_host(u).dept("Early Years"),
            _ => drifted_host(u).dept("Youth Work"),
        };
        sc = sc.user(u);
    }

    let slots = [
        Slot {
            host: "alex.morgan",
            topic: "[youth] Youth Forum",
            days: &[Mon],
            hour: 17,
            minute: 0,
            duration: 60,
            style: Style::YouthTracked,
        },
        Slot {
            host: "priya.shah",
            topic: "[youth] Gaming Club",
            days: &[Tue],
            hour: 19,
            minute: 0,
            duration: 90,
            style: Style::Youth,
        },
        Slot {
            host: "priya.shah",
            topic: "[youth] Gaming Club – Late Night",
            days: &[Fri],
            hour: 20,
            minute: 30,
            duration: 90,
            style: Style::LateCloud,
        },
        Slot {
            host: "priya.shah",
            topic: "Thursday Football Chat",
            days: &[Thu],
            hour: 17,
            minute: 30,
            duration: 45,
            style: Style::TrackedOnly,
        },
        Slot {
            host: "jordan.hughes",
            topic: "[1:1] Mentoring – J.",
            days: &[Mon, Wed],
            hour: 16,
            minute: 0,
            duration: 45,
            style: Style::OneToOneNoAlt,
        },
        Slot {
            host: "jordan.hughes",
            topic: "[1:1] Mentoring – S.",
            days: &[Fri],
            hour: 15,
            minute: 0,
            duration: 45,
            style: Style::OneToOneNoAlt,
        },
        Slot {
            host: "fatima.begum",
            topic: "[youth] Girls' Group",
            days: &[Wed],
            hour: 18,
            minute: 0,
            duration: 90,
            style: Style::Youth,
        },
        Slot {
            host: "fatima.begum",
            topic: "[youth] Sunday Social",
            days: &[Sun],
            hour: 14,
            minute: 0,
            duration: 120,
            style: Style::FirstOnly,
        },
        Slot {
            host: "dan.okafor",
            topic: "[youth] Music Studio",
            days: &[Mon, Thu],
            hour: 19,
            minute: 0,
            duration: 90,
            style: Style::YouthTracked,
        },
        Slot {
            host: "megan.price",
            topic: "[1:1] Mentoring – K.",
            days: &[Tue, Thu],
            hour: 17,
            minute: 0,
            duration: 45,
            style: Style::OneToOneWithAlt,
        },
        Slot {
            host: "megan.price",
            topic: "[youth] Saturday Sports Chat",
            days: &[Sat],
            hour: 11,
            minute: 0,
            duration: 60,
            style: Style::Youth,
        },
        Slot {
            host: "chloe.evans",
            topic: "[baby] Stay & Play",
            days: &[Fri],
            hour: 10,
            minute: 30,
            duration: 60,
            style: Style::Baby,
        },
        Slot {
            host: "olivia.wright",
            topic: "[baby] Baby Sensory",
            days: &[Mon, Thu],
            hour: 9,
            minute: 30,
            duration: 45,
            style: Style::Baby,
        },
        Slot {
            host: "tom.baker",
            topic: "[youth] Homework Help",
            days: &[Tue, Thu],
            hour: 16,
            minute: 30,
            duration: 60,
            style: Style::Youth,
        },
        Slot {
            host: "rachel.green",
            topic: "Team Standup",
            days: &[Mon, Wed],
            hour: 9,
            minute: 0,
            duration: 30,
            style: Style::Staff,
        },
        Slot {
            host: "rachel.green",
            topic: "Trustees Board",
            days: &[Tue],
            hour: 19,
            minute: 30,
            duration: 120,
            style: Style::FirstOnly,
        },
    ];

    let today = now.with_timezone(&London).date_naive();
    let mut k: u64 = 0;
    let alt_pool = ["duty.officer", "sam.patel", "megan.price", "alex.morgan"];
    for slot in &slots {
        let mut done_first = false;
        for d in 0..14 {
            let date = today + Duration::days(d);
            if !slot.days.contains(&date.weekday()) {
                continue;
            }
            let start = london(date, slot.hour, slot.minute);
            if start <= now {
                continue;
            }
            if matches!(slot.style, Style::FirstOnly) && done_first {
                continue;
            }
            done_first = true;
            let host = demo_email(slot.host);
            let mut m = SimMeeting::scheduled(demo_id(k), &host, slot.topic, start, slot.duration);
            m = drift_meeting(m, k, slot.style, slot.host, &alt_pool);
            sc = sc.meeting(m);
            k += 1;
        }
    }

    // Two weekly (type 8) series.
    let next = |wd: Weekday| {
        (0..8)
            .map(|d| today + Duration::days(d))
            .find(|d| d.weekday() == wd && london(*d, 23, 0) > now)
            .unwrap_or(today)
    };
    let drop_in_first = {
        let d = next(Thu);
        let t = london(d, 18, 30);
        if t <= now { t + Duration::weeks(1) } else { t }
    };
    let series = SimMeeting::weekly(
        demo_id(k),
        &demo_email("alex.morgan"),
        "[youth] Thursday Drop-in",
        drop_in_first,
        90,
        6,
    )
    .tracking_field("Session type", "Youth")
    .setting("/join_before_host", json!(true))
    .setting("/auto_recording", json!("local"))
    // The host turned the waiting room on for the series, but its third evening was edited on
    // its own: no waiting room there, and recorded on the laptop.
    .setting("/waiting_room", json!(true))
    .setting(
        "/waiting_room_options",
        json!({"mode": "custom", "who_goes_to_waiting_room": "everyone"}),
    )
    .occurrence_setting(2, "/waiting_room", json!(false))
    .occurrence_setting(2, "/auto_recording", json!("local"));
    sc = sc.meeting(series);
    k += 1;
    let bumps_first = {
        let t = london(next(Wed), 10, 0);
        if t <= now { t + Duration::weeks(1) } else { t }
    };
    let series = SimMeeting::weekly(
        demo_id(k),
        &demo_email("chloe.evans"),
        "[baby] Bumps & Babies",
        bumps_first,
        60,
        6,
    )
    .setting("/join_before_host", json!(true))
    .setting("/jbh_time", json!(10));
    sc = sc.meeting(series);
    k += 1;

    // A recurring meeting with no fixed time (no start time at all).
    sc = sc.meeting(
        SimMeeting::no_fixed_time(
            demo_id(k),
            &demo_email("alex.morgan"),
            "[youth] Summer Residential Planning",
            now - Duration::days(30),
        )
        .setting("/join_before_host", json!(true)),
    );
    k += 1;

    // In progress now.
    let started_at = (now - Duration::minutes(30))
        .with_second(0)
        .unwrap_or(now)
        .with_nanosecond(0)
        .unwrap_or(now);
    sc = sc.meeting(
        SimMeeting::scheduled(
            demo_id(k),
            &demo_email("dan.okafor"),
            "[youth] Music Studio – Open Session",
            started_at,
            120,
        )
        .started()
        .tracking_field("Session type", "Youth")
        .setting("/join_before_host", json!(true)),
    );
    sc
}

/// Deterministic drift pattern for demo meetings: every control is drifted somewhere and
/// compliant somewhere else.
fn drift_meeting(m: SimMeeting, k: u64, style: Style, host: &str, alt_pool: &[&str]) -> SimMeeting {
    let with_passcode = k % 4 == 1;
    let waiting_room = k % 5 == 2;
    let mut m = m
        .setting("/waiting_room", json!(waiting_room))
        .setting("/join_before_host", json!(!waiting_room))
        .setting("/jbh_time", json!(if k.is_multiple_of(2) { 0 } else { 5 }))
        .setting(
            "/auto_recording",
            json!(if k % 7 == 3 { "local" } else { "none" }),
        )
        .setting("/mute_upon_entry", json!(k.is_multiple_of(3)));
    if with_passcode {
        m = m.password(&format!("Rv{:04}", 1000 + (k * 37) % 9000));
    }
    let alt = alt_pool
        .iter()
        .copied()
        .filter(|a| *a != host)
        .nth((k % 3) as usize)
        .map(demo_email);
    match style {
        Style::Youth | Style::FirstOnly | Style::Baby => {
            if k % 3 != 1
                && let Some(a) = alt
            {
                m = m.setting("/alternative_hosts", json!(a));
            }
        }
        Style::YouthTracked => {
            m = m.tracking_field("Session type", "Youth");
            if k.is_multiple_of(2)
                && let Some(a) = alt
            {
                m = m.setting("/alternative_hosts", json!(a));
            }
        }
        Style::TrackedOnly => m = m.tracking_field("Session type", "Youth"),
        Style::OneToOneNoAlt => m = m.setting("/alternative_hosts", json!("")),
        Style::OneToOneWithAlt => {
            m = m.setting("/alternative_hosts", json!(demo_email("duty.officer")))
        }
        Style::LateCloud => m = m.setting("/auto_recording", json!("cloud")),
        Style::Staff => {
            m = m
                .tracking_field("Session type", "Staff")
                .password("Team2024")
        }
    }
    m
}

fn bench_at(now: DateTime<Utc>, hosts: usize, meetings_per_host: usize) -> Scenario {
    // The demo organisation's domain, so the shipped profiles (staff domain, duty pool) apply.
    let domain = DEMO_DOMAIN;
    let mut sc = Scenario::empty()
        .with_account("bench-acct", "Bench Youth Network", domain)
        .seed(7);
    sc = sc
        .group(SimGroup::new("Youth Workers"))
        .group(SimGroup::new("Staff"));
    sc.users.reserve(hosts + 1);
    sc.meetings.reserve(hosts * meetings_per_host);
    sc = sc.user(
        SimUser::new(&format!("duty.officer@{domain}"), "Duty", "Officer")
            .in_group("Staff")
            .role("1"),
    );
    let base = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|n| Utc.from_utc_datetime(&n))
        .unwrap_or(now)
        + Duration::days(1);
    for h in 0..hosts {
        let email = format!("worker{h:05}@{domain}");
        let user = drifted_host(
            SimUser::new(&email, "Worker", &format!("{h:05}"))
                .in_group("Youth Workers")
                .in_group("Staff"),
        );
        for m in 0..meetings_per_host {
            let n = (h * meetings_per_host + m) as u64;
            let start = base
                + Duration::days((m % 14) as i64)
                + Duration::hours(16 + ((m / 14) % 5) as i64);
            let meeting = SimMeeting::scheduled(
                FIRST_UNSAFE_ID + 2 * n,
                &email,
                &format!("[youth] Session {}", m + 1),
                start,
                60,
            )
            .setting("/waiting_room", json!(false))
            .setting("/join_before_host", json!(true))
            .setting(
                "/auto_recording",
                json!(if m % 2 == 0 { "local" } else { "none" }),
            );
            sc.meetings.push(meeting);
        }
        sc.users.push(user);
    }
    sc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_has_about_fifty_meetings_and_the_expected_people() {
        let sc = Scenario::demo();
        assert!(
            (40..=60).contains(&sc.meetings.len()),
            "{}",
            sc.meetings.len()
        );
        assert!(
            sc.user_by_email("duty.officer@riverside.example.org")
                .is_some()
        );
        assert!(sc.meetings.iter().any(|m| m.started));
        assert!(sc.meetings.iter().any(|m| m.meeting_type == 8));
        assert!(
            sc.meetings
                .iter()
                .filter(|m| m.id > FIRST_UNSAFE_ID)
                .count()
                > 20
        );
        let hosts: std::collections::BTreeSet<_> =
            sc.meetings.iter().map(|m| &m.host_email).collect();
        assert_eq!(hosts.len(), 10);
    }

    #[test]
    fn demo_has_one_sunday_session_and_late_sessions() {
        let sc = Scenario::demo();
        let sundays = sc
            .meetings
            .iter()
            .filter(|m| !m.started)
            .filter(|m| {
                m.start_time
                    .is_some_and(|t| t.with_timezone(&London).weekday() == Weekday::Sun)
            })
            .count();
        assert_eq!(sundays, 1);
        assert!(sc.meetings.iter().any(|m| {
            m.start_time
                .is_some_and(|t| t.with_timezone(&London).hour() >= 20)
        }));
    }

    #[test]
    fn demo_is_stable_across_days_of_the_week() {
        let base = Utc::now();
        for d in 0..7 {
            let sc = Scenario::demo_at(base + Duration::days(d) + Duration::hours(d * 3));
            assert!(
                (40..=60).contains(&sc.meetings.len()),
                "{}",
                sc.meetings.len()
            );
            assert_eq!(
                sc.meetings.iter().filter(|m| m.meeting_type == 8).count(),
                2
            );
        }
    }

    #[test]
    fn bench_builds_ten_thousand_meetings_quickly() {
        let t = std::time::Instant::now();
        let sc = Scenario::bench(100, 100);
        assert_eq!(sc.meetings.len(), 10_000);
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }
}

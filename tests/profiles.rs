//! Profile loading: the shipped profiles, `extends`, and errors that point at the right place.
//!
//! Positions are never hard-coded: each test finds the offending text in the fixture and computes
//! its 1-based line and column from the file itself.

use std::path::{Path, PathBuf};

use chaperone::control::{CloudRecordingPolicy, Control};
use chaperone::profile::{
    LoadError, Profile, ProfileError, RemediationMode, WaiverTarget, load_dir, load_file,
};
use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;

const LONDON: Tz = chrono_tz::Europe::London;

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

fn fixture(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/profiles")
        .join(dir)
}

/// The 1-based line and column of the `nth` (from 0) occurrence of `needle` in `file`.
fn position(file: &Path, needle: &str, nth: usize) -> (usize, usize) {
    let text = std::fs::read_to_string(file).expect("fixture is readable");
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` #{nth} not in {}", file.display()))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, column)
}

fn dir_errors(dir: &str) -> Vec<ProfileError> {
    match load_dir(&fixture(dir), LONDON) {
        Ok(profiles) => panic!("{dir} loaded {} profiles, expected errors", profiles.len()),
        Err(LoadError { errors }) => errors,
    }
}

/// The one error about `field`, checked to be in `file` at the first occurrence of `at`.
fn error_at<'e>(
    errors: &'e [ProfileError],
    file: &Path,
    field: &str,
    at: &str,
) -> &'e ProfileError {
    error_at_nth(errors, file, field, at, 0)
}

fn error_at_nth<'e>(
    errors: &'e [ProfileError],
    file: &Path,
    field: &str,
    at: &str,
    nth: usize,
) -> &'e ProfileError {
    let found: Vec<_> = errors.iter().filter(|e| e.field == field).collect();
    assert_eq!(found.len(), 1, "one error about `{field}` in {errors:#?}");
    let e = found[0];
    assert_eq!(e.file, file, "{e}");
    assert_eq!((e.line, e.column), position(file, at, nth), "{e}");
    e
}

fn assert_mentions(e: &ProfileError, parts: &[&str]) {
    for part in parts {
        assert!(e.message.contains(part), "`{part}` not in: {e}");
    }
}

fn load_shipped(name: &str) -> Profile {
    load_file(&shipped().join(format!("{name}.toml")), LONDON)
        .unwrap_or_else(|e| panic!("{name} does not load:\n{e}"))
}

// --- the shipped profiles -----------------------------------------------------------------------

#[test]
fn the_shipped_profiles_all_load_together() {
    let profiles = load_dir(&shipped(), LONDON).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "baseline",
            "infant-parent",
            "youth-group",
            "youth-one-to-one"
        ]
    );
}

#[test]
fn baseline_asks_for_every_control_at_its_strictest_and_selects_nothing() {
    let baseline = load_shipped("baseline");
    for control in Control::ALL {
        if control.is_ordinal() {
            assert_eq!(
                baseline.controls.get(&control),
                Some(&control.strictest()),
                "{control}"
            );
        } else {
            assert!(!baseline.controls.contains_key(&control), "{control}");
        }
    }
    assert_eq!(
        baseline.cloud_recording,
        Some(CloudRecordingPolicy::Forbidden)
    );
    assert_eq!(baseline.selector, Default::default());
    assert_eq!(baseline.staff.groups, ["Staff"]);
    assert_eq!(baseline.staff.domains, ["riverside.example.org"]);
    assert!(baseline.staff.duty_pool.is_empty());
    assert_eq!(baseline.remediation.mode, RemediationMode::Enforce);
    assert_eq!(baseline.remediation.max_changes_per_run, 200);
    assert!(!baseline.remediation.change_in_progress);
    assert_eq!(baseline.reminders.len(), 5);
}

#[test]
fn baseline_cover_hours_are_weekdays_nine_to_nine_and_saturday_ten_to_four_in_london() {
    let cover = load_shipped("baseline")
        .cover_hours
        .expect("baseline has cover hours");
    assert_eq!(cover.timezone, LONDON);
    let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    assert_eq!(cover.windows.len(), 2);
    assert_eq!(
        cover.windows[0].days,
        [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri
        ]
    );
    assert_eq!(
        (cover.windows[0].start, cover.windows[0].end),
        (hm(9, 0), hm(21, 0))
    );
    assert_eq!(cover.windows[1].days, [Weekday::Sat]);
    assert_eq!(
        (cover.windows[1].start, cover.windows[1].end),
        (hm(10, 0), hm(16, 0))
    );
}

#[test]
fn youth_group_inherits_every_control_from_baseline() {
    let baseline = load_shipped("baseline");
    let youth = load_shipped("youth-group");
    assert_eq!(youth.controls, baseline.controls);
    assert_eq!(youth.cloud_recording, baseline.cloud_recording);
    assert_eq!(youth.cover_hours, baseline.cover_hours);
    assert_eq!(youth.remediation, baseline.remediation);
    assert_eq!(youth.reminders, baseline.reminders);
    assert_eq!(youth.staff.groups, baseline.staff.groups);
    assert_eq!(youth.staff.domains, baseline.staff.domains);
    assert_eq!(
        youth.staff.duty_pool,
        ["duty.officer@riverside.example.org"]
    );
}

#[test]
fn youth_group_selects_youth_workers_youth_tags_and_the_session_type_field() {
    let youth = load_shipped("youth-group");
    assert_eq!(youth.name, "youth-group");
    assert_eq!(youth.selector.host_groups, ["Youth Workers"]);
    assert_eq!(youth.selector.topic_tags, ["[youth]"]);
    assert_eq!(youth.selector.tracking_fields.len(), 1);
    assert_eq!(youth.selector.tracking_fields[0].field, "Session type");
    assert_eq!(youth.selector.tracking_fields[0].value, "Youth");
}

#[test]
fn youth_one_to_one_has_no_duty_pool_and_adds_one_to_one_reminders() {
    let baseline = load_shipped("baseline");
    let one = load_shipped("youth-one-to-one");
    assert_eq!(one.selector.topic_tags, ["[1:1]"]);
    assert!(one.staff.duty_pool.is_empty());
    assert_eq!(one.controls, baseline.controls);
    assert!(one.reminders.starts_with(&baseline.reminders));
    let extra = &one.reminders[baseline.reminders.len()..];
    assert!(extra.iter().any(|r| r.contains("colleague")), "{extra:#?}");
    assert!(
        extra.iter().any(|r| r.contains("Log the session")),
        "{extra:#?}"
    );
}

#[test]
fn infant_parent_accepts_outsiders_waiting_and_reminds_about_caregivers() {
    let baseline = load_shipped("baseline");
    let infant = load_shipped("infant-parent");
    assert_eq!(
        infant.controls.get(&Control::WaitingRoom),
        Control::WaitingRoom.level("outsiders").as_ref()
    );
    let mut others = infant.controls.clone();
    let mut base = baseline.controls.clone();
    others.remove(&Control::WaitingRoom);
    base.remove(&Control::WaitingRoom);
    assert_eq!(others, base, "only the waiting room differs");
    assert_eq!(infant.selector.topic_tags, ["[baby]"]);
    assert_eq!(infant.selector.host_groups, ["Early Years"]);
    assert!(infant.reminders.starts_with(&baseline.reminders));
    assert!(
        infant.reminders[baseline.reminders.len()..]
            .iter()
            .any(|r| r.contains("carer"))
    );
}

// --- merging ------------------------------------------------------------------------------------

#[test]
fn ignore_removes_an_inherited_control() {
    let parent = load_file(&fixture("ignore/parent.toml"), LONDON).unwrap();
    let child = load_file(&fixture("ignore/child.toml"), LONDON).unwrap();
    assert!(parent.controls.contains_key(&Control::Passcode));
    assert!(!child.controls.contains_key(&Control::Passcode));
    assert_eq!(
        parent.cloud_recording,
        Some(CloudRecordingPolicy::Forbidden)
    );
    assert_eq!(child.cloud_recording, None);
    // The rest is inherited or overridden per control.
    assert_eq!(
        child.controls.get(&Control::PrivateChat),
        parent.controls.get(&Control::PrivateChat)
    );
    assert_eq!(
        child.controls.get(&Control::WaitingRoom),
        Control::WaitingRoom.level("outsiders").as_ref()
    );
}

#[test]
fn a_child_overrides_per_field_replaces_lists_and_appends_reminders_and_waivers() {
    let child = load_file(&fixture("ignore/child.toml"), LONDON).unwrap();
    // Lists are replaced, other fields inherited.
    assert_eq!(child.staff.groups, ["Youth Workers"]);
    assert_eq!(child.staff.domains, ["example.org"]);
    assert_eq!(child.remediation.mode, RemediationMode::Report);
    assert_eq!(child.remediation.max_changes_per_run, 50);
    // Reminders appended without duplicates.
    assert_eq!(
        child.reminders,
        ["Parent reminder", "Shared reminder", "Child reminder"]
    );
    // Waivers appended, the parent's first.
    let targets: Vec<_> = child.waivers.iter().map(|w| w.applies_to.clone()).collect();
    assert_eq!(
        targets,
        [
            WaiverTarget::Host("parent.waiver@example.org".into()),
            WaiverTarget::Session("123".into())
        ]
    );
    assert_eq!(
        child.waivers[1].expires.to_rfc3339(),
        "2027-02-28T17:00:00+00:00"
    );
    // `select` is never inherited, and a base without one selects nothing.
    let parent = load_file(&fixture("ignore/parent.toml"), LONDON).unwrap();
    assert_eq!(parent.selector, Default::default());
    assert_eq!(child.selector.topic_tags, ["[drop-in]"]);
}

#[test]
fn cover_hours_and_waiver_dates_use_the_default_time_zone_when_none_is_given() {
    let new_york: Tz = chrono_tz::America::New_York;
    let p = load_file(&fixture("default-timezone/tz.toml"), new_york).unwrap();
    assert_eq!(p.cover_hours.as_ref().map(|c| c.timezone), Some(new_york));
    // End of 31 January 2027 in New York (UTC-5).
    assert_eq!(
        p.waivers[0].expires.to_rfc3339(),
        "2027-02-01T04:59:59+00:00"
    );
}

// --- errors -------------------------------------------------------------------------------------

#[test]
fn misspelt_keys_controls_and_levels_point_at_themselves_and_suggest_the_nearest_name() {
    let errors = dir_errors("unknown-names");
    let file = fixture("unknown-names/group.toml");
    assert_eq!(errors.len(), 7, "{errors:#?}");

    let e = error_at(&errors, &file, "descripton", "descripton");
    assert_mentions(
        e,
        &["unknown key `descripton`", "did you mean `description`?"],
    );
    let e = error_at(&errors, &file, "select.topic-tag", "topic-tag");
    assert_mentions(e, &["did you mean `topic-tags`?"]);
    let e = error_at(&errors, &file, "controls.waitng-room", "waitng-room");
    assert_eq!(
        e.message,
        "unknown control `waitng-room`: did you mean `waiting-room`?"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "{}:{}:{}: controls.waitng-room: unknown control `waitng-room`: did you mean \
             `waiting-room`?",
            file.display(),
            e.line,
            e.column
        )
    );
    let e = error_at(&errors, &file, "controls.screen-share", "\"hostonly\"");
    assert_mentions(
        e,
        &[
            "unknown level `hostonly`",
            "did you mean `host-only`?",
            "`all`, `host-only`",
        ],
    );
    let e = error_at(&errors, &file, "controls.cloud-recording", "\"off\"");
    assert_mentions(
        e,
        &[
            "did you mean `forbidden`?",
            "`forbidden`, `allowed`, `required`",
        ],
    );
    let e = error_at(&errors, &file, "staff.duty_pool", "duty_pool");
    assert_mentions(e, &["did you mean `duty-pool`?"]);
    let e = error_at(&errors, &file, "remediation.mode", "\"enforc\"");
    assert_mentions(e, &["did you mean `enforce`?"]);
}

#[test]
fn an_ambiguous_misspelt_level_suggests_the_stricter_one() {
    let errors = dir_errors("broken-parent");
    let e = error_at(
        &errors,
        &fixture("broken-parent/base.toml"),
        "controls.file-transfer",
        "\"of\"",
    );
    assert_mentions(e, &["did you mean `off`?"]);
}

#[test]
fn bad_cover_hours_each_point_at_their_own_line() {
    let errors = dir_errors("bad-cover-hours");
    let file = fixture("bad-cover-hours/hours.toml");
    assert_eq!(errors.len(), 5, "{errors:#?}");

    let e = error_at(&errors, &file, "cover-hours.timezone", "\"Europe/Londno\"");
    assert_mentions(e, &["unknown time zone", "did you mean `Europe/London`?"]);
    let e = error_at(&errors, &file, "cover-hours.windows[0].days[1]", "\"tues\"");
    assert_mentions(e, &["unknown day `tues`", "did you mean `tue`?"]);
    let e = error_at(&errors, &file, "cover-hours.windows[1].start", "\"25:00\"");
    assert_mentions(e, &["`25:00` is not a time", "HH:MM"]);
    let e = error_at(&errors, &file, "cover-hours.windows[2].end", "\"09:00\" }");
    assert_mentions(e, &["must be after `start`", "cannot cross midnight"]);
    let e = error_at(
        &errors,
        &file,
        "cover-hours.windows[3].end",
        "{ days = [\"fri\"]",
    );
    assert_mentions(e, &["missing `end`"]);
}

#[test]
fn asking_for_cover_hours_without_a_cover_hours_table_is_an_error() {
    let errors = dir_errors("cover-hours-without-table");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = error_at(
        &errors,
        &fixture("cover-hours-without-table/late.toml"),
        "controls.cover-hours",
        "\"inside\"",
    );
    assert_mentions(e, &["[cover-hours]"]);
}

#[test]
fn waivers_need_one_target_a_known_control_a_reason_an_approver_and_an_expiry() {
    let errors = dir_errors("bad-waivers");
    let file = fixture("bad-waivers/waivers.toml");
    assert_eq!(errors.len(), 6, "{errors:#?}");

    let e = error_at_nth(&errors, &file, "waivers[0].reason", "[[waivers]]", 0);
    assert_mentions(e, &["missing `reason`"]);
    let e = error_at_nth(&errors, &file, "waivers[1]", "[[waivers]]", 1);
    assert_mentions(e, &["not both"]);
    let e = error_at(&errors, &file, "waivers[2].control", "\"second-staf\"");
    assert_mentions(e, &["did you mean `second-staff`?"]);
    let e = error_at(&errors, &file, "waivers[2].expires", "\"31/01/2027\"");
    assert_mentions(e, &["YYYY-MM-DD"]);
    let e = error_at_nth(&errors, &file, "waivers[3].expires", "[[waivers]]", 3);
    assert_mentions(e, &["missing `expires`", "every exception must end"]);
    let e = error_at(&errors, &file, "waivers[3].host", "\"sam\"");
    assert_mentions(e, &["needs an `@`"]);
}

#[test]
fn staff_and_selector_emails_and_domains_are_checked_one_by_one() {
    let errors = dir_errors("bad-staff");
    let file = fixture("bad-staff/staff.toml");
    assert_eq!(errors.len(), 4, "{errors:#?}");

    let e = error_at(&errors, &file, "staff.domains[0]", "\"@riverside");
    assert_mentions(e, &["did you mean `riverside.example.org`?"]);
    let e = error_at(&errors, &file, "staff.emails[0]", "\"lead.");
    assert_mentions(e, &["needs an `@`"]);
    let e = error_at(&errors, &file, "staff.duty-pool[1]", "\"\"");
    assert_mentions(e, &["empty email address"]);
    let e = error_at(&errors, &file, "select.host-emails[0]", "\"youth worker");
    assert_mentions(e, &["not an email address"]);
}

#[test]
fn zero_changes_per_run_and_a_quoted_boolean_are_errors() {
    let errors = dir_errors("bad-remediation");
    let file = fixture("bad-remediation/remediation.toml");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    let e = error_at(&errors, &file, "remediation.max-changes-per-run", "0");
    assert_mentions(e, &["mode = \"report\""]);
    let e = error_at(
        &errors,
        &file,
        "remediation.change-in-progress",
        "\"false\"",
    );
    assert_mentions(e, &["without quotes"]);
}

#[test]
fn extending_a_missing_profile_points_at_extends_and_suggests_a_sibling() {
    let errors = dir_errors("extends-missing");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = error_at(
        &errors,
        &fixture("extends-missing/youth.toml"),
        "extends",
        "\"basline\"",
    );
    assert_mentions(e, &["no profile `basline`", "did you mean `baseline`?"]);
}

#[test]
fn an_extends_cycle_is_reported_once_with_the_whole_chain() {
    let errors = dir_errors("cycle");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    let c = &errors[0];
    assert_eq!(c.file, fixture("cycle/c.toml"));
    assert_eq!(c.field, "extends");
    assert_eq!((c.line, c.column), position(&c.file, "\"a\"", 0));
    assert_mentions(c, &["cycle", "a → b → c → a"]);
    let own = &errors[1];
    assert_eq!(own.file, fixture("cycle/self.toml"));
    assert_mentions(own, &["self → self"]);
}

#[test]
fn load_file_reports_the_cycle_from_where_it_started() {
    let err = load_file(&fixture("cycle/b.toml"), LONDON).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    assert_eq!(err.errors[0].file, fixture("cycle/a.toml"));
    assert_mentions(&err.errors[0], &["b → c → a → b"]);
}

#[test]
fn a_broken_parent_is_reported_in_the_parent_file_when_loading_the_child() {
    let err = load_file(&fixture("broken-parent/child.toml"), LONDON).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    assert_eq!(err.errors[0].file, fixture("broken-parent/base.toml"));
    assert_eq!(err.errors[0].field, "controls.file-transfer");
}

#[test]
fn a_duplicate_key_points_at_the_second_one() {
    let errors = dir_errors("duplicate-key");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = error_at_nth(
        &errors,
        &fixture("duplicate-key/dup.toml"),
        "controls.passcode",
        "passcode",
        1,
    );
    assert_mentions(e, &["duplicate key `passcode`"]);
}

#[test]
fn a_toml_syntax_error_has_its_position_and_field() {
    let errors = dir_errors("syntax-error");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = error_at(
        &errors,
        &fixture("syntax-error/unquoted.toml"),
        "controls.passcode",
        "required",
    );
    assert_mentions(e, &["quoted"]);
}

#[test]
fn all_errors_of_all_files_are_reported_together_one_per_line() {
    let err = load_dir(&fixture("many-files"), LONDON).unwrap_err();
    let files: Vec<_> = err
        .errors
        .iter()
        .map(|e| e.file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["one.toml", "three.toml", "two.toml"]);
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 3, "{shown}");
    for e in &err.errors {
        assert!(shown.lines().any(|l| l == e.to_string()), "{shown}");
    }
}

#[test]
fn a_missing_folder_is_an_error_not_an_empty_list() {
    let err = load_dir(&fixture("no-such-folder"), LONDON).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].line, 0);
    assert!(err.to_string().contains("cannot read"), "{err}");
}

// --- [notify] -----------------------------------------------------------------------------------

#[test]
fn baseline_names_the_safeguarding_lead_and_one_to_one_escalates_two_days_ahead() {
    let baseline = load_shipped("baseline");
    assert_eq!(baseline.notify.leads, ["dsl@riverside.example.org"]);
    assert_eq!(baseline.notify.escalate_hours_before, Some(24));
    assert!(baseline.notify.channels.is_empty());
    let group = load_shipped("youth-group");
    assert_eq!(group.notify, baseline.notify, "inherited as a whole");
    let one = load_shipped("youth-one-to-one");
    assert_eq!(one.notify.leads, baseline.notify.leads, "leads inherited");
    assert_eq!(
        one.notify.escalate_hours_before,
        Some(48),
        "hours overridden"
    );
}

#[test]
fn notify_mistakes_each_point_at_their_own_place() {
    let errors = dir_errors("bad-notify");
    let file = fixture("bad-notify/notify.toml");
    assert_eq!(errors.len(), 3, "{errors:#?}");
    let e = error_at(
        &errors,
        &file,
        "notify.safeguarding-leads[0]",
        "\"dsl.riverside",
    );
    assert_mentions(e, &["not an email address"]);
    let e = error_at(&errors, &file, "notify.escalate-hours-before", "0\n");
    assert_mentions(e, &["between 1 and 336"]);
    let e = error_at(&errors, &file, "notify.chanels", "chanels");
    assert_mentions(e, &["did you mean `channels`?"]);
}

#[test]
fn a_misspelt_key_in_any_table_is_an_error_at_its_line_naming_the_nearest_key() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("tables.toml");
    let text = "\
[select]
tracking-fields = [{ field = \"Type\", valeu = \"Youth\" }]

[cover-hours]
timezon = \"Europe/London\"
windows = [{ days = [\"mon\"], start = \"09:00\", edn = \"21:00\" }]

[remediation]
max-change-per-run = 10

[[waivers]]
host = \"host@example.org\"
control = \"passcode\"
reason = \"Agreed with the lead\"
aprover = \"dsl@example.org\"
expires = \"2027-01-31\"

[notify]
webhooks = [\"slack\"]
";
    std::fs::write(&file, text).expect("the profile is written");
    let errors = match load_file(&file, LONDON) {
        Ok(_) => panic!("a profile with misspelt keys loaded"),
        Err(LoadError { errors }) => errors,
    };
    let cases = [
        (
            "select.tracking-fields[0].valeu",
            "valeu",
            "did you mean `value`?",
        ),
        ("cover-hours.timezon", "timezon", "did you mean `timezone`?"),
        ("cover-hours.windows[0].edn", "edn", "did you mean `end`?"),
        (
            "remediation.max-change-per-run",
            "max-change-per-run",
            "did you mean `max-changes-per-run`?",
        ),
        ("waivers[0].aprover", "aprover", "did you mean `approver`?"),
        (
            "notify.webhooks",
            "webhooks",
            "expected one of `safeguarding-leads`, `escalate-hours-before`, `channels`",
        ),
    ];
    for (field, key, hint) in cases {
        let e = error_at(&errors, &file, field, key);
        assert_mentions(e, &[&format!("unknown key `{key}`"), hint]);
        assert!(
            e.to_string()
                .starts_with(&format!("{}:{}:", file.display(), e.line)),
            "{e}"
        );
    }
    // A misspelt key is not read, so the keys it stood for are also missing.
    assert!(
        errors.iter().any(|e| e.field == "waivers[0].approver"),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.field == "cover-hours.windows[0].end"),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.field == "select.tracking-fields[0].value"),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), cases.len() + 3, "{errors:#?}");
}

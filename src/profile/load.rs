//! Loading profiles from TOML: parsing, `extends`, validation, and errors that say where.
//!
//! A profile file is parsed into a spanned TOML tree ([`toml::de::DeTable`]) and then walked by
//! hand, so that every problem in a file is reported at once (not only the first one serde would
//! stop at), each with its own line and column, the dotted field it is about, and, where a name
//! was mistyped, the nearest valid name. Unknown keys are errors everywhere (the equivalent of
//! `deny_unknown_fields`).
//!
//! Resolution follows `extends` to another file of the same folder (by file stem), merges the
//! chain child-over-parent, and reports cycles and missing parents at the `extends` line.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};
use toml::value::{Datetime, Offset};

use super::{
    CoverHours, CoverWindow, Profile, ProfileNotify, Remediation, RemediationMode, Selector, Staff,
    TrackingField, Waiver, WaiverTarget,
};
use crate::control::{CloudRecordingPolicy, Control, Level, nearest};

/// One problem in one profile file, and where it is.
///
/// `line` and `column` are 1-based (columns count characters, not bytes). They are 0 when the
/// problem has no place in the file (the file or folder could not be read); `field` is empty when
/// the problem is not about one field (a TOML syntax error outside any key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub struct ProfileError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The dotted path of the field, as written in the file: `controls.waitng-room`,
    /// `cover-hours.windows[1].start`, `waivers[0].reason` (list indexes count from 0).
    pub field: String,
    pub message: String,
}

impl fmt::Display for ProfileError {
    /// `profiles/youth-group.toml:12:1: controls.waitng-room: unknown control ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found while loading, sorted by file, line and column, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub errors: Vec<ProfileError>,
}

impl fmt::Display for LoadError {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl LoadError {
    fn from_errors(mut errors: Vec<ProfileError>) -> Self {
        errors.sort();
        errors.dedup();
        LoadError { errors }
    }
}

/// Loads one profile and resolves its `extends` chain from the same folder.
///
/// `default_timezone` is the tenant's time zone: used for cover hours without a `timezone`, and
/// for waiver expiry dates.
pub fn load_file(path: &Path, default_timezone: Tz) -> Result<Profile, LoadError> {
    let mut loader = Loader::new(default_timezone);
    let profile = loader.resolve(path, &mut Vec::new());
    match profile {
        Some(p) if loader.errors.is_empty() => Ok(p),
        _ => Err(loader.finish(path)),
    }
}

/// Loads every `*.toml` profile in `dir` (not its subfolders; files whose name starts with `.`
/// are skipped), sorted by name. Reports all errors of all files together. A folder without
/// any profile is an error: a sweep with nothing to compare against would pass silently.
pub fn load_dir(dir: &Path, default_timezone: Tz) -> Result<Vec<Profile>, LoadError> {
    let mut loader = Loader::new(default_timezone);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Err(LoadError::from_errors(vec![io_error(dir, &e)])),
    };
    let mut files = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                let is_toml = path.extension().is_some_and(|e| e == "toml");
                if is_toml && !hidden && path.is_file() {
                    files.push(path);
                }
            }
            Err(e) => loader.errors.push(io_error(dir, &e)),
        }
    }
    files.sort();
    if files.is_empty() && loader.errors.is_empty() {
        loader.errors.push(ProfileError {
            file: dir.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message: "no profiles here: expected at least one `*.toml` file".to_string(),
        });
    }
    let mut profiles = Vec::new();
    for file in &files {
        if let Some(p) = loader.resolve(file, &mut Vec::new()) {
            profiles.push(p);
        }
    }
    if loader.errors.is_empty() {
        profiles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(profiles)
    } else {
        Err(loader.finish(dir))
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> ProfileError {
    ProfileError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        field: String::new(),
        message: format!("cannot read: {e}"),
    }
}

// ------------------------------------------------------------------------------------------------
// Resolution: files, `extends`, merge.

struct Loader {
    default_timezone: Tz,
    /// Resolved profiles by path; `None` when the file or one of its parents has errors.
    resolved: HashMap<PathBuf, Option<Profile>>,
    errors: Vec<ProfileError>,
}

impl Loader {
    fn new(default_timezone: Tz) -> Self {
        Loader {
            default_timezone,
            resolved: HashMap::new(),
            errors: Vec::new(),
        }
    }

    fn finish(self, path: &Path) -> LoadError {
        let mut errors = self.errors;
        if errors.is_empty() {
            // Not expected: a failed resolution always records why. Never fail silently.
            errors.push(ProfileError {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                field: String::new(),
                message: "could not be loaded".to_string(),
            });
        }
        LoadError::from_errors(errors)
    }

    /// Resolves the profile at `path`; `stack` holds the files whose `extends` led here.
    fn resolve(&mut self, path: &Path, stack: &mut Vec<PathBuf>) -> Option<Profile> {
        if let Some(done) = self.resolved.get(path) {
            return done.clone();
        }
        let result = self.resolve_uncached(path, stack);
        self.resolved.insert(path.to_path_buf(), result.clone());
        result
    }

    fn resolve_uncached(&mut self, path: &Path, stack: &mut Vec<PathBuf>) -> Option<Profile> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                self.errors.push(io_error(path, &e));
                return None;
            }
        };
        let mut checker = Checker::new(path, &text);
        let raw = checker.document();
        let mut ok = checker.errors.is_empty();
        let mut parent = None;
        if let Some(raw) = &raw
            && let Some(extends) = &raw.extends
        {
            match self.parent_path(path, extends, stack, &mut checker) {
                Some(parent_path) => {
                    stack.push(path.to_path_buf());
                    parent = self.resolve(&parent_path, stack);
                    stack.pop();
                    ok &= parent.is_some();
                }
                None => ok = false,
            }
        }
        let Some(raw) = raw else {
            self.errors.append(&mut checker.errors);
            return None;
        };
        let profile = merge(
            path,
            parent.as_ref(),
            &raw,
            self.default_timezone,
            &mut checker,
        );
        ok &= checker.errors.is_empty();
        self.errors.append(&mut checker.errors);
        if ok { Some(profile) } else { None }
    }

    /// The file named by `extends`, or `None` (with an error) when it is missing or a cycle.
    fn parent_path(
        &mut self,
        path: &Path,
        extends: &Spanned<String>,
        stack: &[PathBuf],
        checker: &mut Checker<'_>,
    ) -> Option<PathBuf> {
        let name = extends.get_ref();
        let parent = path.with_file_name(format!("{name}.toml"));
        if parent == path || stack.contains(&parent) {
            let start = stack
                .iter()
                .position(|p| *p == parent)
                .unwrap_or(stack.len());
            let mut chain: Vec<String> = stack[start..].iter().map(|p| stem(p)).collect();
            chain.push(stem(path));
            chain.push(name.clone());
            checker.error(
                extends.span(),
                "extends",
                format!("`extends` makes a cycle: {}", chain.join(" → ")),
            );
            return None;
        }
        if !parent.is_file() {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
            let siblings = sibling_stems(folder.unwrap_or(Path::new(".")));
            let suggestion = nearest(name, siblings.iter().map(String::as_str))
                .map(|s| format!(": did you mean `{s}`?"))
                .unwrap_or_default();
            checker.error(
                extends.span(),
                "extends",
                format!("no profile `{name}` to extend: there is no `{name}.toml` in this folder{suggestion}"),
            );
            return None;
        }
        Some(parent)
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sibling_stems(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| stem(&p))
        .collect()
}

/// Child over parent: per control, per field of staff / cover hours / remediation / notify; lists
/// replaced; reminders and waivers appended; `select` never inherited.
fn merge(
    path: &Path,
    parent: Option<&Profile>,
    raw: &RawProfile,
    default_timezone: Tz,
    checker: &mut Checker<'_>,
) -> Profile {
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
    waivers.extend(raw.waivers.iter().map(|w| Waiver {
        applies_to: w.applies_to.clone(),
        control: w.control,
        reason: w.reason.clone(),
        approver: w.approver.clone(),
        expires: match w.expires {
            Expiry::EndOfDay(date) => end_of_day(date, timezone),
            Expiry::At(at) => at,
        },
    }));

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

/// The last second of `date` in `timezone`, as a UTC instant. Where that local time does not
/// exist (a clock change at midnight), the last existing local time before it.
fn end_of_day(date: NaiveDate, timezone: Tz) -> DateTime<Utc> {
    let last = date.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN));
    (0..4)
        .find_map(|h| {
            timezone
                .from_local_datetime(&(last - Duration::hours(h)))
                .latest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&last))
}

// ------------------------------------------------------------------------------------------------
// One file, as written (before `extends`).

#[derive(Debug, Default)]
struct RawProfile {
    extends: Option<Spanned<String>>,
    description: Option<String>,
    reminders: Vec<String>,
    select: Selector,
    controls: HashMap<Control, Spanned<Requirement>>,
    staff: RawStaff,
    cover_hours: Option<RawCoverHours>,
    remediation: RawRemediation,
    waivers: Vec<RawWaiver>,
    notify: RawNotify,
}

#[derive(Debug, Default)]
struct RawNotify {
    leads: Option<Vec<String>>,
    escalate_hours_before: Option<u32>,
    channels: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy)]
enum Requirement {
    Level(Level),
    Cloud(CloudRecordingPolicy),
    Ignore,
}

#[derive(Debug, Default)]
struct RawStaff {
    groups: Option<Vec<String>>,
    domains: Option<Vec<String>>,
    emails: Option<Vec<String>>,
    duty_pool: Option<Vec<String>>,
}

#[derive(Debug)]
struct RawCoverHours {
    span: Range<usize>,
    timezone: Option<Tz>,
    windows: Option<Vec<CoverWindow>>,
}

#[derive(Debug, Default)]
struct RawRemediation {
    mode: Option<RemediationMode>,
    max_changes_per_run: Option<u32>,
    change_in_progress: Option<bool>,
}

#[derive(Debug)]
struct RawWaiver {
    applies_to: WaiverTarget,
    control: Control,
    reason: String,
    approver: String,
    expires: Expiry,
}

#[derive(Debug, Clone, Copy)]
enum Expiry {
    /// The end of this day in the profile's time zone.
    EndOfDay(NaiveDate),
    At(DateTime<Utc>),
}

const TOP_KEYS: &[&str] = &[
    "extends",
    "description",
    "reminders",
    "select",
    "controls",
    "staff",
    "cover-hours",
    "remediation",
    "waivers",
    "notify",
];
const SELECT_KEYS: &[&str] = &[
    "host-groups",
    "host-emails",
    "host-domains",
    "topic-tags",
    "tracking-fields",
];
const TRACKING_FIELD_KEYS: &[&str] = &["field", "value"];
const STAFF_KEYS: &[&str] = &["groups", "domains", "emails", "duty-pool"];
const COVER_HOURS_KEYS: &[&str] = &["timezone", "windows"];
const WINDOW_KEYS: &[&str] = &["days", "start", "end"];
const REMEDIATION_KEYS: &[&str] = &["mode", "max-changes-per-run", "change-in-progress"];
const NOTIFY_KEYS: &[&str] = &["safeguarding-leads", "escalate-hours-before", "channels"];
/// The longest escalation lead time accepted: two weeks.
const MAX_ESCALATE_HOURS: i128 = 14 * 24;
const WAIVER_KEYS: &[&str] = &[
    "session", "host", "control", "reason", "approver", "expires",
];
const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

/// What a list item must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    /// Any non-empty text.
    Text,
    Email,
    Domain,
}

type Value<'i> = Spanned<DeValue<'i>>;

/// Walks one file's TOML tree, collecting every error with its position.
struct Checker<'s> {
    file: &'s Path,
    text: &'s str,
    errors: Vec<ProfileError>,
}

impl<'s> Checker<'s> {
    fn new(file: &'s Path, text: &'s str) -> Self {
        Checker {
            file,
            text,
            errors: Vec::new(),
        }
    }

    fn error(&mut self, span: Range<usize>, field: &str, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.errors.push(ProfileError {
            file: self.file.to_path_buf(),
            line,
            column,
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// Parses and checks the whole file. `None` when the TOML itself is malformed.
    fn document(&mut self) -> Option<RawProfile> {
        let (root, syntax_errors) = DeTable::parse_recoverable(self.text);
        if !syntax_errors.is_empty() {
            for e in syntax_errors {
                let span = e.span().unwrap_or(0..0);
                let field = field_at(self.text, span.clone());
                let message = match e.message() {
                    "duplicate key" => {
                        let key = self.text.get(span.clone()).unwrap_or_default().trim();
                        format!("duplicate key `{key}`: each key may appear only once")
                    }
                    other => other.to_string(),
                };
                self.error(span, &field, message);
            }
            return None;
        }
        Some(self.profile(root.get_ref()))
    }

    fn profile(&mut self, root: &DeTable<'_>) -> RawProfile {
        let mut raw = RawProfile::default();
        for (key, value) in root.iter() {
            let k = key.get_ref().as_ref();
            match k {
                "extends" => raw.extends = self.extends(value),
                "description" => raw.description = self.string(value, k),
                "reminders" => raw.reminders = self.list(value, k, Item::Text).unwrap_or_default(),
                "select" => raw.select = self.select(value),
                "controls" => raw.controls = self.controls(value),
                "staff" => raw.staff = self.staff(value),
                "cover-hours" => raw.cover_hours = self.cover_hours(value),
                "remediation" => raw.remediation = self.remediation(value),
                "waivers" => raw.waivers = self.waivers(value),
                "notify" => raw.notify = self.notify(value),
                _ if k.parse::<Control>().is_ok() => self.error(
                    key.span(),
                    k,
                    format!("`{k}` is a control: put it in the `[controls]` table"),
                ),
                _ => self.unknown_key(key, k, TOP_KEYS),
            }
        }
        raw
    }

    fn extends(&mut self, value: &Value<'_>) -> Option<Spanned<String>> {
        let name = self.text_value(value, "extends")?;
        let stem = name.strip_suffix(".toml").unwrap_or(&name);
        if stem.contains(['/', '\\']) || stem == ".." || stem == "." {
            self.error(
                value.span(),
                "extends",
                format!(
                    "`{name}` is not a profile name: name another profile in the same folder by \
                     its file name without `.toml`, e.g. `baseline`"
                ),
            );
            return None;
        }
        if stem != name {
            self.error(
                value.span(),
                "extends",
                format!("write the profile name without `.toml`: did you mean `{stem}`?"),
            );
            return None;
        }
        Some(Spanned::new(value.span(), name))
    }

    fn select(&mut self, value: &Value<'_>) -> Selector {
        let mut select = Selector::default();
        let Some(table) = self.table(value, "select") else {
            return select;
        };
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let field = format!("select.{k}");
            let list = |c: &mut Self, item| c.list(value, &field, item).unwrap_or_default();
            match k {
                "host-groups" => select.host_groups = list(self, Item::Text),
                "host-emails" => select.host_emails = list(self, Item::Email),
                "host-domains" => select.host_domains = list(self, Item::Domain),
                "topic-tags" => select.topic_tags = list(self, Item::Text),
                "tracking-fields" => select.tracking_fields = self.tracking_fields(value, &field),
                _ => self.unknown_key(key, &field, SELECT_KEYS),
            }
        }
        select
    }

    fn tracking_fields(&mut self, value: &Value<'_>, field: &str) -> Vec<TrackingField> {
        let mut out = Vec::new();
        let Some(items) = self.array(
            value,
            field,
            "a list of { field = \"...\", value = \"...\" }",
        ) else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let item_field = format!("{field}[{i}]");
            let Some(table) = self.table(item, &item_field) else {
                continue;
            };
            let (mut name, mut wanted) = (None, None);
            for (key, value) in table.iter() {
                let k = key.get_ref().as_ref();
                let f = format!("{item_field}.{k}");
                match k {
                    "field" => name = self.text_value(value, &f),
                    "value" => wanted = self.text_value(value, &f),
                    _ => self.unknown_key(key, &f, TRACKING_FIELD_KEYS),
                }
            }
            let name = self.required(
                name,
                item,
                &item_field,
                "field",
                "the tracking field's name",
            );
            let wanted = self.required(wanted, item, &item_field, "value", "the value to match");
            if let (Some(field), Some(value)) = (name, wanted) {
                out.push(TrackingField { field, value });
            }
        }
        out
    }

    fn controls(&mut self, value: &Value<'_>) -> HashMap<Control, Spanned<Requirement>> {
        let mut out = HashMap::new();
        let Some(table) = self.table(value, "controls") else {
            return out;
        };
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let field = format!("controls.{k}");
            let control = match k.parse::<Control>() {
                Ok(control) => control,
                Err(e) => {
                    self.error(key.span(), &field, e.to_string());
                    continue;
                }
            };
            let valid = valid_levels(control);
            let DeValue::String(level) = value.get_ref() else {
                self.error(
                    value.span(),
                    &field,
                    format!(
                        "expected a level name in quotes, found {}: one of {valid}",
                        describe(value.get_ref())
                    ),
                );
                continue;
            };
            let level = level.as_ref();
            let requirement = if level == "ignore" {
                Some(Requirement::Ignore)
            } else if control == Control::CloudRecording {
                match level {
                    "forbidden" => Some(Requirement::Cloud(CloudRecordingPolicy::Forbidden)),
                    "allowed" => Some(Requirement::Cloud(CloudRecordingPolicy::Allowed)),
                    "required" => Some(Requirement::Cloud(CloudRecordingPolicy::Required)),
                    _ => None,
                }
            } else {
                control.level(level).map(Requirement::Level)
            };
            match requirement {
                Some(r) => {
                    out.insert(control, Spanned::new(value.span(), r));
                }
                None => {
                    let names = level_names(control);
                    let suggestion = match (control, level) {
                        (Control::CloudRecording, "off") => Some("forbidden"),
                        (Control::CloudRecording, "on") => Some("required"),
                        // Among equally near levels, suggest the strictest (`of` → `off`).
                        _ => nearest(level, names.iter().rev().copied()),
                    };
                    let hint = suggestion
                        .map(|s| format!(": did you mean `{s}`?"))
                        .unwrap_or_default();
                    self.error(
                        value.span(),
                        &field,
                        format!("unknown level `{level}` for `{k}`{hint} Valid levels: {valid}"),
                    );
                }
            }
        }
        out
    }

    fn staff(&mut self, value: &Value<'_>) -> RawStaff {
        let mut staff = RawStaff::default();
        let Some(table) = self.table(value, "staff") else {
            return staff;
        };
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let field = format!("staff.{k}");
            match k {
                "groups" => staff.groups = self.list(value, &field, Item::Text),
                "domains" => staff.domains = self.list(value, &field, Item::Domain),
                "emails" => staff.emails = self.list(value, &field, Item::Email),
                "duty-pool" => staff.duty_pool = self.list(value, &field, Item::Email),
                _ => self.unknown_key(key, &field, STAFF_KEYS),
            }
        }
        staff
    }

    fn cover_hours(&mut self, value: &Value<'_>) -> Option<RawCoverHours> {
        let table = self.table(value, "cover-hours")?;
        let mut out = RawCoverHours {
            span: value.span(),
            timezone: None,
            windows: None,
        };
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let field = format!("cover-hours.{k}");
            match k {
                "timezone" => out.timezone = self.timezone(value, &field),
                "windows" => out.windows = self.windows(value, &field),
                _ => self.unknown_key(key, &field, COVER_HOURS_KEYS),
            }
        }
        Some(out)
    }

    fn timezone(&mut self, value: &Value<'_>, field: &str) -> Option<Tz> {
        let name = self.text_value(value, field)?;
        if let Ok(tz) = name.parse::<Tz>() {
            return Some(tz);
        }
        let suggestion = chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| tz.name())
            .find(|n| n.eq_ignore_ascii_case(&name))
            .or_else(|| nearest(&name, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
            .map(|s| format!(": did you mean `{s}`?"))
            .unwrap_or_default();
        self.error(
            value.span(),
            field,
            format!(
                "unknown time zone `{name}`{suggestion} Use an IANA time zone name such as \
                 `Europe/London`"
            ),
        );
        None
    }

    fn windows(&mut self, value: &Value<'_>, field: &str) -> Option<Vec<CoverWindow>> {
        let items = self.array(
            value,
            field,
            "a list of { days = [...], start = \"HH:MM\", end = \"HH:MM\" }",
        )?;
        if items.is_empty() {
            self.error(
                value.span(),
                field,
                "at least one window is needed; to stop asking for cover hours, set \
                 `cover-hours = \"ignore\"` in `[controls]`",
            );
            return None;
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(window) = self.window(item, &format!("{field}[{i}]")) {
                out.push(window);
            }
        }
        Some(out)
    }

    fn window(&mut self, value: &Value<'_>, field: &str) -> Option<CoverWindow> {
        let table = self.table(value, field)?;
        let (mut days, mut start, mut end) = (None, None, None);
        for (key, v) in table.iter() {
            let k = key.get_ref().as_ref();
            let f = format!("{field}.{k}");
            match k {
                "days" => days = self.days(v, &f),
                "start" => start = self.time(v, &f).map(|t| (t, v.span())),
                "end" => end = self.time(v, &f).map(|t| (t, v.span())),
                _ => self.unknown_key(key, &f, WINDOW_KEYS),
            }
        }
        let days = self.required(
            days,
            value,
            field,
            "days",
            "which days, e.g. [\"mon\", \"tue\"]",
        );
        let start = self.required(
            start,
            value,
            field,
            "start",
            "a start time such as \"09:00\"",
        );
        let end = self.required(end, value, field, "end", "an end time such as \"21:00\"");
        let (days, (start, _), (end, end_span)) = (days?, start?, end?);
        if end <= start {
            self.error(
                end_span,
                &format!("{field}.end"),
                format!(
                    "the window ends ({}) before it starts ({}): `end` must be after `start`; \
                     a window cannot cross midnight, so split it in two",
                    end.format("%H:%M"),
                    start.format("%H:%M")
                ),
            );
            return None;
        }
        Some(CoverWindow { days, start, end })
    }

    fn days(&mut self, value: &Value<'_>, field: &str) -> Option<Vec<Weekday>> {
        let items = self.array(value, field, "a list of days such as [\"mon\", \"tue\"]")?;
        if items.is_empty() {
            self.error(value.span(), field, "a window needs at least one day");
            return None;
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let f = format!("{field}[{i}]");
            let Some(name) = self.string(item, &f) else {
                continue;
            };
            let lower = name.trim().to_ascii_lowercase();
            match DAYS.iter().find(|(n, _)| *n == lower) {
                Some((_, day)) => {
                    if !out.contains(day) {
                        out.push(*day);
                    }
                }
                None => {
                    let hint = nearest(&lower, DAYS.iter().map(|(n, _)| *n))
                        .map(|s| format!(": did you mean `{s}`?"))
                        .unwrap_or_default();
                    self.error(
                        item.span(),
                        &f,
                        format!(
                            "unknown day `{name}`{hint} Days are mon, tue, wed, thu, fri, sat, sun"
                        ),
                    );
                }
            }
        }
        Some(out)
    }

    /// A 24-hour time: a string "HH:MM" (or "H:MM"), or a TOML local time (`09:00`).
    fn time(&mut self, value: &Value<'_>, field: &str) -> Option<NaiveTime> {
        let bad = |shown: &str| {
            format!("`{shown}` is not a time: use 24-hour HH:MM, e.g. \"09:00\" or \"21:30\"")
        };
        match value.get_ref() {
            DeValue::String(s) => {
                let parsed = parse_hh_mm(s.trim());
                if parsed.is_none() {
                    let message = if s.trim() == "24:00" {
                        "`24:00` is not a time of day: end the window at \"23:59\"".to_string()
                    } else {
                        bad(s)
                    };
                    self.error(value.span(), field, message);
                }
                parsed
            }
            DeValue::Datetime(Datetime {
                date: None,
                time: Some(t),
                offset: None,
            }) => {
                let parsed = NaiveTime::from_hms_opt(
                    t.hour.into(),
                    t.minute.into(),
                    t.second.unwrap_or(0).into(),
                );
                if parsed.is_none() {
                    self.error(value.span(), field, bad(&t.to_string()));
                }
                parsed
            }
            other => {
                let message = format!(
                    "expected a time such as \"09:00\", found {}",
                    describe(other)
                );
                self.error(value.span(), field, message);
                None
            }
        }
    }

    fn remediation(&mut self, value: &Value<'_>) -> RawRemediation {
        let mut out = RawRemediation::default();
        let Some(table) = self.table(value, "remediation") else {
            return out;
        };
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let field = format!("remediation.{k}");
            match k {
                "mode" => out.mode = self.mode(value, &field),
                "max-changes-per-run" => out.max_changes_per_run = self.max_changes(value, &field),
                "change-in-progress" => out.change_in_progress = self.boolean(value, &field),
                _ => self.unknown_key(key, &field, REMEDIATION_KEYS),
            }
        }
        out
    }

    fn notify(&mut self, value: &Value<'_>) -> RawNotify {
        let mut out = RawNotify::default();
        let Some(table) = self.table(value, "notify") else {
            return out;
        };
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let field = format!("notify.{k}");
            match k {
                "safeguarding-leads" => out.leads = self.list(value, &field, Item::Email),
                "escalate-hours-before" => {
                    out.escalate_hours_before = self.escalate_hours(value, &field)
                }
                "channels" => out.channels = self.list(value, &field, Item::Text),
                _ => self.unknown_key(key, &field, NOTIFY_KEYS),
            }
        }
        out
    }

    fn escalate_hours(&mut self, value: &Value<'_>, field: &str) -> Option<u32> {
        let DeValue::Integer(n) = value.get_ref() else {
            let message = format!(
                "expected a whole number of hours such as 24, found {}",
                describe(value.get_ref())
            );
            self.error(value.span(), field, message);
            return None;
        };
        match i128::from_str_radix(n.as_str(), n.radix()) {
            Ok(n) if (1..=MAX_ESCALATE_HOURS).contains(&n) => u32::try_from(n).ok(),
            Ok(_) => {
                self.error(
                    value.span(),
                    field,
                    format!(
                        "must be between 1 and {MAX_ESCALATE_HOURS} hours (two weeks) before the                          session starts"
                    ),
                );
                None
            }
            Err(_) => {
                self.error(value.span(), field, "not a whole number");
                None
            }
        }
    }

    fn mode(&mut self, value: &Value<'_>, field: &str) -> Option<RemediationMode> {
        let mode = self.string(value, field)?;
        match mode.as_str() {
            "enforce" => Some(RemediationMode::Enforce),
            "report" => Some(RemediationMode::Report),
            other => {
                let hint = nearest(other, ["enforce", "report"])
                    .map(|s| format!(": did you mean `{s}`?"))
                    .unwrap_or_default();
                self.error(
                    value.span(),
                    field,
                    format!(
                        "unknown mode `{other}`{hint} Use `enforce` (fix drift) or `report` \
                         (only report it)"
                    ),
                );
                None
            }
        }
    }

    fn max_changes(&mut self, value: &Value<'_>, field: &str) -> Option<u32> {
        let DeValue::Integer(n) = value.get_ref() else {
            let message = format!(
                "expected a whole number such as 200, found {}",
                describe(value.get_ref())
            );
            self.error(value.span(), field, message);
            return None;
        };
        match i128::from_str_radix(n.as_str(), n.radix()) {
            Ok(0) => {
                self.error(
                    value.span(),
                    field,
                    "0 would let no session be changed: to only report drift, set \
                     `mode = \"report\"` instead",
                );
                None
            }
            Ok(n) if n < 0 => {
                self.error(value.span(), field, "must be at least 1");
                None
            }
            Ok(n) => match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(value.span(), field, format!("must be at most {}", u32::MAX));
                    None
                }
            },
            Err(_) => {
                self.error(value.span(), field, "not a whole number");
                None
            }
        }
    }

    fn waivers(&mut self, value: &Value<'_>) -> Vec<RawWaiver> {
        let mut out = Vec::new();
        let Some(items) = self.array(value, "waivers", "a list of `[[waivers]]` tables") else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            if let Some(waiver) = self.waiver(item, &format!("waivers[{i}]")) {
                out.push(waiver);
            }
        }
        out
    }

    fn waiver(&mut self, value: &Value<'_>, field: &str) -> Option<RawWaiver> {
        let table = self.table(value, field)?;
        let (mut session, mut host, mut control) = (None, None, None);
        let (mut reason, mut approver, mut expires) = (None, None, None);
        let (mut seen_session, mut seen_host) = (false, false);
        for (key, v) in table.iter() {
            let k = key.get_ref().as_ref();
            let f = format!("{field}.{k}");
            match k {
                "session" => {
                    seen_session = true;
                    session = self.session_id(v, &f);
                }
                "host" => {
                    seen_host = true;
                    host = self.item(v, &f, Item::Email);
                }
                "control" => match self.string(v, &f).map(|n| n.parse::<Control>()) {
                    Some(Ok(c)) => control = Some(c),
                    Some(Err(e)) => self.error(v.span(), &f, e.to_string()),
                    None => {}
                },
                "reason" => reason = self.text_value(v, &f),
                "approver" => approver = self.text_value(v, &f),
                "expires" => expires = self.expiry(v, &f),
                _ => self.unknown_key(key, &f, WAIVER_KEYS),
            }
        }
        let applies_to = match (seen_session, seen_host) {
            (true, true) => {
                self.error(
                    value.span(),
                    field,
                    "a waiver applies to one session or to one host, not both: remove `session` \
                     or `host`",
                );
                None
            }
            (false, false) => {
                self.error(
                    value.span(),
                    field,
                    "a waiver needs `session` (a meeting id) or `host` (the host's email)",
                );
                None
            }
            _ => session
                .map(WaiverTarget::Session)
                .or(host.map(WaiverTarget::Host)),
        };
        let control = self.required(control, value, field, "control", "the control it waives");
        let reason = self.required(reason, value, field, "reason", "why this exception is safe");
        let approver = self.required(
            approver,
            value,
            field,
            "approver",
            "who approved this exception",
        );
        let expires = self.required(
            expires,
            value,
            field,
            "expires",
            "when it ends, e.g. \"2027-01-31\": every exception must end",
        );
        Some(RawWaiver {
            applies_to: applies_to?,
            control: control?,
            reason: reason?,
            approver: approver?,
            expires: expires?,
        })
    }

    /// A session id: a string, or a whole number. Zoom shows ids grouped with spaces
    /// (`857 4606 5123`); those spaces are removed.
    fn session_id(&mut self, value: &Value<'_>, field: &str) -> Option<String> {
        let id = match value.get_ref() {
            DeValue::Integer(n) if n.radix() == 10 && !n.as_str().starts_with('-') => {
                n.as_str().trim_start_matches('+').to_string()
            }
            _ => self.text_value(value, field)?,
        };
        if id.chars().all(|c| c.is_ascii_digit() || c == ' ') {
            Some(id.replace(' ', ""))
        } else {
            Some(id)
        }
    }

    /// A date (`2027-01-31`, the end of that day) or an RFC 3339 date-time with an offset, as a
    /// string or as a TOML date / offset date-time.
    fn expiry(&mut self, value: &Value<'_>, field: &str) -> Option<Expiry> {
        let help = "write a date as YYYY-MM-DD (e.g. \"2027-01-31\") or a date and time with its \
                    offset (e.g. \"2027-01-31T17:00:00Z\")";
        let parsed = match value.get_ref() {
            DeValue::String(s) => parse_expiry(s.trim()),
            DeValue::Datetime(d) => toml_expiry(d),
            other => {
                let message = format!("expected a date, found {}: {help}", describe(other));
                self.error(value.span(), field, message);
                return None;
            }
        };
        if parsed.is_none() {
            let shown = self.text.get(value.span()).unwrap_or_default().to_string();
            let message = format!("{shown} is not a date or a date-time with an offset: {help}");
            self.error(value.span(), field, message);
        }
        parsed
    }

    // --- small helpers -----------------------------------------------------------------------

    fn unknown_key(&mut self, key: &Spanned<DeString<'_>>, field: &str, allowed: &[&str]) {
        let name = key.get_ref().as_ref();
        let message = match nearest(name, allowed.iter().copied()) {
            Some(s) => format!("unknown key `{name}`: did you mean `{s}`?"),
            None => format!("unknown key `{name}`: expected one of {}", quoted(allowed)),
        };
        self.error(key.span(), field, message);
    }

    /// Reports a missing required key of `table` at the table itself.
    fn required<T>(
        &mut self,
        found: Option<T>,
        table: &Value<'_>,
        field: &str,
        key: &str,
        what: &str,
    ) -> Option<T> {
        if found.is_none() && !self.has_key(table, key) {
            self.error(
                table.span(),
                &format!("{field}.{key}"),
                format!("missing `{key}`: {what}"),
            );
        }
        found
    }

    fn has_key(&self, table: &Value<'_>, key: &str) -> bool {
        table
            .get_ref()
            .as_table()
            .is_some_and(|t| t.contains_key(key))
    }

    fn table<'v, 'i>(&mut self, value: &'v Value<'i>, field: &str) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                let message = format!("expected a table, found {}", describe(other));
                self.error(value.span(), field, message);
                None
            }
        }
    }

    fn array<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        field: &str,
        expected: &str,
    ) -> Option<&'v [Value<'i>]> {
        match value.get_ref() {
            DeValue::Array(items) => Some(items),
            other => {
                let message = format!("expected {expected}, found {}", describe(other));
                self.error(value.span(), field, message);
                None
            }
        }
    }

    fn string(&mut self, value: &Value<'_>, field: &str) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                let message = format!("expected text in quotes, found {}", describe(other));
                self.error(value.span(), field, message);
                None
            }
        }
    }

    /// A string that is not blank, trimmed.
    fn text_value(&mut self, value: &Value<'_>, field: &str) -> Option<String> {
        self.item(value, field, Item::Text)
    }

    fn boolean(&mut self, value: &Value<'_>, field: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            DeValue::String(s) if s == "true" || s == "false" => {
                self.error(
                    value.span(),
                    field,
                    format!("expected true or false without quotes: write {s}"),
                );
                None
            }
            other => {
                let message = format!("expected true or false, found {}", describe(other));
                self.error(value.span(), field, message);
                None
            }
        }
    }

    fn list(&mut self, value: &Value<'_>, field: &str, item: Item) -> Option<Vec<String>> {
        let expected = match item {
            Item::Text => "a list such as [\"...\", \"...\"]",
            Item::Email => "a list of email addresses such as [\"name@example.org\"]",
            Item::Domain => "a list of domains such as [\"example.org\"]",
        };
        let items = self.array(value, field, expected)?;
        let mut out = Vec::new();
        for (i, v) in items.iter().enumerate() {
            if let Some(s) = self.item(v, &format!("{field}[{i}]"), item) {
                out.push(s);
            }
        }
        Some(out)
    }

    fn item(&mut self, value: &Value<'_>, field: &str, item: Item) -> Option<String> {
        let s = self.string(value, field)?;
        match check_item(&s, item) {
            Ok(s) => Some(s),
            Err(message) => {
                self.error(value.span(), field, message);
                None
            }
        }
    }
}

fn check_item(s: &str, item: Item) -> Result<String, String> {
    let t = s.trim();
    match item {
        Item::Text if t.is_empty() => Err("must not be empty".to_string()),
        Item::Text => Ok(t.to_string()),
        Item::Email if t.is_empty() => Err("empty email address".to_string()),
        Item::Email => match t.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !t.contains(char::is_whitespace) =>
            {
                Ok(t.to_string())
            }
            _ if !t.contains('@') => Err(format!(
                "`{t}` is not an email address: it needs an `@`, like name@example.org"
            )),
            _ => Err(format!(
                "`{t}` is not an email address: expected one name, `@`, and a domain, like \
                 name@example.org"
            )),
        },
        Item::Domain if t.is_empty() => Err("empty domain".to_string()),
        Item::Domain => match t.rsplit_once('@') {
            Some((_, domain)) => Err(format!(
                "a domain has no `@`: did you mean `{domain}`? (whole addresses go in `emails`)"
            )),
            None if t.contains(char::is_whitespace) => {
                Err(format!("`{t}` is not a domain: it contains a space"))
            }
            None => Ok(t.to_ascii_lowercase()),
        },
    }
}

fn parse_hh_mm(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once(':')?;
    let digits = |p: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit())
    };
    if !digits(h, 1..=2) || !digits(m, 2..=2) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

fn parse_expiry(s: &str) -> Option<Expiry> {
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(Expiry::EndOfDay(date));
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| Expiry::At(t.with_timezone(&Utc)))
}

fn toml_expiry(d: &Datetime) -> Option<Expiry> {
    let date = d.date?;
    let date = NaiveDate::from_ymd_opt(date.year.into(), date.month.into(), date.day.into())?;
    match (d.time, d.offset) {
        (None, None) => Some(Expiry::EndOfDay(date)),
        (Some(t), Some(offset)) => {
            let time = NaiveTime::from_hms_nano_opt(
                t.hour.into(),
                t.minute.into(),
                t.second.unwrap_or(0).into(),
                t.nanosecond.unwrap_or(0),
            )?;
            let seconds = match offset {
                Offset::Z => 0,
                Offset::Custom { minutes } => i32::from(minutes) * 60,
            };
            let local = FixedOffset::east_opt(seconds)?
                .from_local_datetime(&date.and_time(time))
                .single()?;
            Some(Expiry::At(local.with_timezone(&Utc)))
        }
        // A local date-time without an offset is ambiguous across time zones.
        _ => None,
    }
}

fn level_names(control: Control) -> Vec<&'static str> {
    if control == Control::CloudRecording {
        vec!["forbidden", "allowed", "required"]
    } else {
        control.levels().to_vec()
    }
}

fn valid_levels(control: Control) -> String {
    let order = if control == Control::CloudRecording {
        ""
    } else {
        " (least strict first)"
    };
    format!(
        "{}{order}, or `ignore` to not ask for it",
        quoted(&level_names(control))
    )
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "text",
        DeValue::Integer(_) => "a number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date or time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// A best guess at the dotted field of a TOML syntax error: the table header above it, and the
/// key on its line.
fn field_at(text: &str, span: Range<usize>) -> String {
    let start = span.start.min(text.len());
    let line_start = text
        .get(..start)
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line_end = text
        .get(start..)
        .and_then(|a| a.find('\n'))
        .map_or(text.len(), |i| start + i);
    let line = text.get(line_start..line_end).unwrap_or_default().trim();
    let header = |l: &str| {
        let l = l.trim();
        l.starts_with('[').then(|| {
            let inner = l.trim_start_matches('[');
            let inner = inner.split(']').next().unwrap_or_default();
            inner.trim().to_string()
        })
    };
    if let Some(h) = header(line) {
        return h;
    }
    let table = text
        .get(..line_start)
        .unwrap_or_default()
        .lines()
        .rev()
        .find_map(header);
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.contains(char::is_whitespace));
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (Some(t), None) => t,
        (None, Some(k)) => k,
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> (Option<RawProfile>, Vec<ProfileError>) {
        let mut c = Checker::new(Path::new("p.toml"), text);
        let raw = c.document();
        (raw, c.errors)
    }

    fn only_error(text: &str) -> ProfileError {
        let (_, errors) = check(text);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn line_column_counts_from_one_in_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(line_column(text, text.find('"').unwrap()), (2, 6));
        assert_eq!(line_column(text, text.len()), (3, 1));
    }

    #[test]
    fn display_has_file_line_column_field_and_message() {
        let e = ProfileError {
            file: PathBuf::from("profiles/youth-group.toml"),
            line: 12,
            column: 1,
            field: "controls.waitng-room".into(),
            message: "unknown control `waitng-room`: did you mean `waiting-room`?".into(),
        };
        assert_eq!(
            e.to_string(),
            "profiles/youth-group.toml:12:1: controls.waitng-room: unknown control \
             `waitng-room`: did you mean `waiting-room`?"
        );
    }

    #[test]
    fn display_leaves_out_a_position_it_does_not_have() {
        let e = ProfileError {
            file: PathBuf::from("profiles"),
            line: 0,
            column: 0,
            field: String::new(),
            message: "cannot read".into(),
        };
        assert_eq!(e.to_string(), "profiles: cannot read");
    }

    #[test]
    fn a_misspelt_control_points_at_its_key_and_suggests_the_name() {
        let e = only_error("[controls]\n  waitng-room = \"everyone\"\n");
        assert_eq!((e.line, e.column), (2, 3));
        assert_eq!(e.field, "controls.waitng-room");
        assert_eq!(
            e.message,
            "unknown control `waitng-room`: did you mean `waiting-room`?"
        );
    }

    #[test]
    fn an_unknown_level_lists_the_levels_of_that_control() {
        let e = only_error("[controls]\nwaiting-room = \"evryone\"\n");
        assert_eq!((e.line, e.column), (2, 16));
        assert!(
            e.message.contains("did you mean `everyone`?"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("`off`, `outsiders`, `everyone`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn cloud_recording_off_suggests_forbidden() {
        let e = only_error("[controls]\ncloud-recording = \"off\"\n");
        assert!(
            e.message.contains("did you mean `forbidden`?"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_control_at_the_top_level_is_sent_to_the_controls_table() {
        let e = only_error("passcode = \"required\"\n");
        assert_eq!(e.field, "passcode");
        assert!(e.message.contains("[controls]"), "{}", e.message);
    }

    #[test]
    fn every_error_in_one_file_is_reported_not_only_the_first() {
        let (_, errors) =
            check("[controls]\npascode = \"required\"\n[staff]\ngroup = [\"Staff\"]\n");
        assert_eq!(errors.len(), 2, "{errors:#?}");
    }

    #[test]
    fn a_duplicate_key_is_named_with_its_table() {
        let e = only_error("[controls]\npasscode = \"required\"\npasscode = \"optional\"\n");
        assert_eq!((e.line, e.column), (3, 1));
        assert_eq!(e.field, "controls.passcode");
        assert!(
            e.message.contains("duplicate key `passcode`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn times_are_24_hour_hh_mm() {
        assert_eq!(parse_hh_mm("09:00"), NaiveTime::from_hms_opt(9, 0, 0));
        assert_eq!(parse_hh_mm("9:30"), NaiveTime::from_hms_opt(9, 30, 0));
        assert_eq!(parse_hh_mm("23:59"), NaiveTime::from_hms_opt(23, 59, 0));
        for bad in [
            "24:00", "9", "09:0", "09:60", "9am", "09:00:00", " :00", "-1:00",
        ] {
            assert_eq!(parse_hh_mm(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_toml_local_time_is_accepted_for_a_window() {
        let (raw, errors) =
            check("[cover-hours]\nwindows = [{ days = [\"mon\"], start = 09:00, end = 17:30 }]\n");
        assert!(errors.is_empty(), "{errors:#?}");
        let windows = raw.unwrap().cover_hours.unwrap().windows.unwrap();
        assert_eq!(windows[0].end, NaiveTime::from_hms_opt(17, 30, 0).unwrap());
    }

    #[test]
    fn a_date_expires_at_the_end_of_that_day_in_the_time_zone() {
        let date = NaiveDate::from_ymd_opt(2027, 1, 31).unwrap();
        let london = end_of_day(date, chrono_tz::Europe::London);
        assert_eq!(london.to_rfc3339(), "2027-01-31T23:59:59+00:00");
        let summer = end_of_day(
            NaiveDate::from_ymd_opt(2027, 7, 31).unwrap(),
            chrono_tz::Europe::London,
        );
        assert_eq!(summer.to_rfc3339(), "2027-07-31T22:59:59+00:00");
    }

    #[test]
    fn expiry_accepts_dates_and_offset_date_times_as_text_or_toml() {
        assert!(matches!(
            parse_expiry("2027-01-31"),
            Some(Expiry::EndOfDay(_))
        ));
        let Some(Expiry::At(at)) = parse_expiry("2027-01-31T17:00:00+01:00") else {
            panic!("not parsed");
        };
        assert_eq!(at.to_rfc3339(), "2027-01-31T16:00:00+00:00");
        assert_eq!(parse_expiry("31/01/2027").map(|_| ()), None);
        let (raw, errors) = check(
            "[[waivers]]\nhost = \"a@example.org\"\ncontrol = \"passcode\"\nreason = \"r\"\n\
             approver = \"dsl@example.org\"\nexpires = 2027-01-31T10:00:00Z\n",
        );
        assert!(errors.is_empty(), "{errors:#?}");
        let Expiry::At(at) = raw.unwrap().waivers[0].expires else {
            panic!("not an instant");
        };
        assert_eq!(at.to_rfc3339(), "2027-01-31T10:00:00+00:00");
    }

    #[test]
    fn a_local_date_time_without_offset_is_refused() {
        let e = only_error(
            "[[waivers]]\nhost = \"a@example.org\"\ncontrol = \"passcode\"\nreason = \"r\"\n\
             approver = \"dsl@example.org\"\nexpires = 2027-01-31T10:00:00\n",
        );
        assert_eq!(e.field, "waivers[0].expires");
        assert_eq!((e.line, e.column), (6, 11));
    }

    #[test]
    fn zoom_session_ids_lose_their_grouping_spaces() {
        let (raw, errors) = check(
            "[[waivers]]\nsession = \"857 4606 5123\"\ncontrol = \"passcode\"\nreason = \"r\"\n\
             approver = \"dsl\"\nexpires = \"2027-01-31\"\n[[waivers]]\nsession = 85746065123\n\
             control = \"passcode\"\nreason = \"r\"\napprover = \"dsl\"\nexpires = 2027-01-31\n",
        );
        assert!(errors.is_empty(), "{errors:#?}");
        for w in raw.unwrap().waivers {
            assert_eq!(w.applies_to, WaiverTarget::Session("85746065123".into()));
        }
    }

    #[test]
    fn emails_and_domains_are_checked() {
        assert!(check_item("duty.officer@riverside.example.org", Item::Email).is_ok());
        assert!(check_item("", Item::Email).is_err());
        assert!(check_item("  ", Item::Email).is_err());
        assert!(
            check_item("duty.officer", Item::Email)
                .unwrap_err()
                .contains("`@`")
        );
        assert!(check_item("@riverside.example.org", Item::Email).is_err());
        assert!(check_item("a@b@c", Item::Email).is_err());
        assert!(check_item("a b@c.org", Item::Email).is_err());
        assert_eq!(
            check_item("Riverside.Example.org", Item::Domain),
            Ok("riverside.example.org".into())
        );
        assert!(
            check_item("@riverside.example.org", Item::Domain)
                .unwrap_err()
                .contains("did you mean `riverside.example.org`?")
        );
    }

    #[test]
    fn zero_changes_per_run_points_to_report_mode() {
        let e = only_error("[remediation]\nmax-changes-per-run = 0\n");
        assert_eq!((e.line, e.column), (2, 23));
        assert!(e.message.contains("mode = \"report\""), "{}", e.message);
    }

    #[test]
    fn a_misspelt_time_zone_suggests_the_iana_name() {
        let e = only_error(
            "[cover-hours]\ntimezone = \"Europe/Londn\"\nwindows = [{ days = [\"mon\"], start = \"09:00\", end = \"10:00\" }]\n",
        );
        assert_eq!(e.field, "cover-hours.timezone");
        assert!(
            e.message.contains("did you mean `Europe/London`?"),
            "{}",
            e.message
        );
        let e = only_error("[cover-hours]\ntimezone = \"europe/london\"\n");
        assert!(
            e.message.contains("did you mean `Europe/London`?"),
            "{}",
            e.message
        );
    }

    #[test]
    fn escalation_hours_are_a_whole_number_within_two_weeks() {
        let e = only_error("[notify]\nescalate-hours-before = \"24\"\n");
        assert_eq!((e.line, e.column), (2, 25), "{e}");
        assert!(e.message.contains("whole number of hours"), "{e}");
        let e = only_error("[notify]\nescalate-hours-before = 400\n");
        assert!(e.message.contains("two weeks"), "{e}");
        let (raw, errors) =
            check("[notify]\nescalate-hours-before = 336\nchannels = [\"teams\"]\n");
        assert!(errors.is_empty(), "{errors:#?}");
        let raw = raw.unwrap();
        assert_eq!(raw.notify.escalate_hours_before, Some(336));
        assert_eq!(raw.notify.channels, Some(vec!["teams".to_string()]));
    }

    #[test]
    fn extends_is_a_bare_profile_name() {
        let e = only_error("extends = \"baseline.toml\"\n");
        assert!(
            e.message.contains("did you mean `baseline`?"),
            "{}",
            e.message
        );
        let e = only_error("extends = \"../other/baseline\"\n");
        assert_eq!(e.field, "extends");
    }

    #[test]
    fn syntax_error_field_is_guessed_from_header_and_key() {
        let text = "[controls]\npasscode = required\n";
        let e = only_error(text);
        assert_eq!(e.field, "controls.passcode");
        assert_eq!((e.line, e.column), (2, 12));
    }
}

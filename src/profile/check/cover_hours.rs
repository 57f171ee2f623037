//! `[cover-hours]`: when the safeguarding service can be reached: a time zone and weekly windows
//! of days and 24-hour times. A window may not cross midnight.

use std::ops::Range;

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use toml::de::DeValue;
use toml::value::Datetime;

use super::values::describe;
use super::{Checker, Fields, Value};
use crate::control::nearest;
use crate::profile::CoverWindow;
use crate::profile::error::{did_you_mean, hint};

/// `[cover-hours]` as written. Its windows may come from the parent; `span` is where to say so
/// when neither has any.
#[derive(Debug, Default)]
pub(crate) struct RawCoverHours {
    pub(crate) span: Range<usize>,
    pub(crate) timezone: Option<Tz>,
    pub(crate) windows: Option<Vec<CoverWindow>>,
}

/// The keys of `[cover-hours]`.
const COVER_HOURS: Fields<RawCoverHours> = &[
    ("timezone", |c, v, f, h| h.timezone = c.timezone(v, f)),
    ("windows", |c, v, f, h| h.windows = c.windows(v, f)),
];

/// One window as read, each time with where it was written.
#[derive(Default)]
struct RawWindow {
    days: Option<Vec<Weekday>>,
    start: Option<(NaiveTime, Range<usize>)>,
    end: Option<(NaiveTime, Range<usize>)>,
}

/// The keys of one window.
const WINDOW: Fields<RawWindow> = &[
    ("days", |c, v, f, w| w.days = c.days(v, f)),
    ("start", |c, v, f, w| {
        w.start = c.time(v, f).map(|t| (t, v.span()));
    }),
    ("end", |c, v, f, w| {
        w.end = c.time(v, f).map(|t| (t, v.span()));
    }),
];

/// The keys every window must have, with what to write.
const WINDOW_NEEDS: &[(&str, &str)] = &[
    ("days", "which days, e.g. [\"mon\", \"tue\"]"),
    ("start", "a start time such as \"09:00\""),
    ("end", "an end time such as \"21:00\""),
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

impl Checker<'_> {
    pub(super) fn cover_hours(&mut self, value: &Value<'_>, field: &str) -> Option<RawCoverHours> {
        let span = value.span();
        let read = self.read(value, field, COVER_HOURS)?;
        Some(RawCoverHours { span, ..read })
    }

    fn timezone(&mut self, value: &Value<'_>, field: &str) -> Option<Tz> {
        let name = self.text_value(value, field)?;
        if let Ok(tz) = name.parse::<Tz>() {
            return Some(tz);
        }
        let names = || chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
        let suggestion = hint(
            names()
                .find(|n| n.eq_ignore_ascii_case(&name))
                .or_else(|| nearest(&name, names())),
        );
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
        let raw = self.read(value, field, WINDOW)?;
        self.require(value, field, WINDOW_NEEDS);
        let (days, (start, _), (end, end_span)) = (raw.days?, raw.start?, raw.end?);
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
            let Some((_, day)) = DAYS.iter().find(|(n, _)| *n == lower) else {
                let hint = did_you_mean(&lower, DAYS.iter().map(|(n, _)| *n));
                let message = format!(
                    "unknown day `{name}`{hint} Days are mon, tue, wed, thu, fri, sat, sun"
                );
                self.error(item.span(), &f, message);
                continue;
            };
            if !out.contains(day) {
                out.push(*day);
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

#[cfg(test)]
mod tests {
    use super::super::{check, only_error};
    use super::*;

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
}

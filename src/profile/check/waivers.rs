//! `[[waivers]]`: approved exceptions. Each names one session or one host, the control it
//! waives, why, who approved it, and when it ends; a date ends at the end of that day in the
//! time zone of the profile that declares it.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use toml::de::DeValue;
use toml::value::{Datetime, Offset};

use super::values::{Item, describe, has_key};
use super::{Checker, Fields, Value};
use crate::control::Control;
use crate::profile::{Waiver, WaiverTarget};

/// A checked waiver whose expiry may still need the profile's time zone.
#[derive(Debug)]
pub(crate) struct RawWaiver {
    applies_to: WaiverTarget,
    control: Control,
    reason: String,
    approver: String,
    expires: Expiry,
}

impl RawWaiver {
    /// The waiver, a date-only expiry ending in `timezone`.
    pub(crate) fn resolve(&self, timezone: Tz) -> Waiver {
        Waiver {
            applies_to: self.applies_to.clone(),
            control: self.control,
            reason: self.reason.clone(),
            approver: self.approver.clone(),
            expires: match self.expires {
                Expiry::EndOfDay(date) => end_of_day(date, timezone),
                Expiry::At(at) => at,
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Expiry {
    /// The end of this day in the profile's time zone.
    EndOfDay(NaiveDate),
    At(DateTime<Utc>),
}

/// One `[[waivers]]` table as read, before its required keys are checked.
#[derive(Default)]
struct WaiverKeys {
    session: Option<String>,
    host: Option<String>,
    control: Option<Control>,
    reason: Option<String>,
    approver: Option<String>,
    expires: Option<Expiry>,
}

/// The keys of one `[[waivers]]` table.
const WAIVER: Fields<WaiverKeys> = &[
    ("session", |c, v, f, w| w.session = c.session_id(v, f)),
    ("host", |c, v, f, w| w.host = c.item(v, f, Item::Email)),
    ("control", |c, v, f, w| w.control = c.control(v, f)),
    ("reason", |c, v, f, w| w.reason = c.text_value(v, f)),
    ("approver", |c, v, f, w| w.approver = c.text_value(v, f)),
    ("expires", |c, v, f, w| w.expires = c.expiry(v, f)),
];

/// The keys every waiver must have besides its target, with what to write.
const WAIVER_NEEDS: &[(&str, &str)] = &[
    ("control", "the control it waives"),
    ("reason", "why this exception is safe"),
    ("approver", "who approved this exception"),
    (
        "expires",
        "when it ends, e.g. \"2027-01-31\": every exception must end",
    ),
];

impl Checker<'_> {
    pub(super) fn waivers(&mut self, value: &Value<'_>) -> Vec<RawWaiver> {
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
        let keys = self.read(value, field, WAIVER)?;
        self.require(value, field, WAIVER_NEEDS);
        let applies_to = match (has_key(value, "session"), has_key(value, "host")) {
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
            _ => keys
                .session
                .map(WaiverTarget::Session)
                .or(keys.host.map(WaiverTarget::Host)),
        };
        Some(RawWaiver {
            applies_to: applies_to?,
            control: keys.control?,
            reason: keys.reason?,
            approver: keys.approver?,
            expires: keys.expires?,
        })
    }

    fn control(&mut self, value: &Value<'_>, field: &str) -> Option<Control> {
        match self.string(value, field)?.parse::<Control>() {
            Ok(c) => Some(c),
            Err(e) => {
                self.error(value.span(), field, e.to_string());
                None
            }
        }
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
            let shown = self.source(value.span()).to_string();
            let message = format!("{shown} is not a date or a date-time with an offset: {help}");
            self.error(value.span(), field, message);
        }
        parsed
    }
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
        .map_or_else(|| Utc.from_utc_datetime(&last), |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::super::{check, only_error};
    use super::*;

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
}

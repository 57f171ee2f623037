//! Cover hours: a session must sit inside one of the profile's weekly windows, in the profile's
//! time zone, so the safeguarding service can be reached while it runs.

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::profile::CoverHours;

/// `None` when the session from `start` for `minutes` lies inside one window; otherwise a plain
/// description of when it runs and what the cover hours are.
pub fn outside_cover(cover: &CoverHours, start: DateTime<Utc>, minutes: u32) -> Option<String> {
    let local_start = start.with_timezone(&cover.timezone);
    let local_end = (start + Duration::minutes(i64::from(minutes))).with_timezone(&cover.timezone);
    let inside = cover.windows.iter().any(|w| {
        w.days.contains(&local_start.weekday())
            && local_start.date_naive() == local_end.date_naive()
            && local_start.time() >= w.start
            && local_end.time() <= w.end
    });
    if inside {
        return None;
    }
    Some(format!(
        "{}–{} ({}) is outside safeguarding cover hours ({})",
        local_start.format("%a %-d %b %H:%M"),
        local_end.format("%H:%M"),
        cover.timezone.name(),
        describe(cover)
    ))
}

fn describe(cover: &CoverHours) -> String {
    cover
        .windows
        .iter()
        .map(|w| {
            let days: Vec<String> = w.days.iter().map(|d| d.to_string()).collect();
            format!(
                "{} {}–{}",
                days.join(","),
                w.start.format("%H:%M"),
                w.end.format("%H:%M")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

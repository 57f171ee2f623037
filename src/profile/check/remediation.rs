//! `[remediation]`: whether chaperone fixes drift or only reports it, how many sessions one run
//! may change, and whether a session in progress may be changed.

use super::{Checker, Fields, Value};
use crate::profile::RemediationMode;
use crate::profile::error::did_you_mean;

/// `[remediation]` as written: `None` where the file does not say (the parent's value stands).
#[derive(Debug, Default)]
pub(crate) struct RawRemediation {
    pub(crate) mode: Option<RemediationMode>,
    pub(crate) max_changes_per_run: Option<u32>,
    pub(crate) change_in_progress: Option<bool>,
}

/// The keys of `[remediation]`.
pub(super) const REMEDIATION: Fields<RawRemediation> = &[
    ("mode", |c, v, f, r| r.mode = c.mode(v, f)),
    ("max-changes-per-run", |c, v, f, r| {
        r.max_changes_per_run = c.max_changes(v, f);
    }),
    ("change-in-progress", |c, v, f, r| {
        r.change_in_progress = c.boolean(v, f);
    }),
];

impl Checker<'_> {
    fn mode(&mut self, value: &Value<'_>, field: &str) -> Option<RemediationMode> {
        let mode = self.string(value, field)?;
        match mode.as_str() {
            "enforce" => Some(RemediationMode::Enforce),
            "report" => Some(RemediationMode::Report),
            other => {
                let hint = did_you_mean(other, ["enforce", "report"]);
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
        let n = self.whole_number(value, field, "a whole number such as 200")?;
        let message = match n {
            0 => "0 would let no session be changed: to only report drift, set \
                  `mode = \"report\"` instead"
                .to_string(),
            n if n < 0 => "must be at least 1".to_string(),
            n => match u32::try_from(n) {
                Ok(n) => return Some(n),
                Err(_) => format!("must be at most {}", u32::MAX),
            },
        };
        self.error(value.span(), field, message);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::only_error;

    #[test]
    fn zero_changes_per_run_points_to_report_mode() {
        let e = only_error("[remediation]\nmax-changes-per-run = 0\n");
        assert_eq!((e.line, e.column), (2, 23));
        assert!(e.message.contains("mode = \"report\""), "{}", e.message);
    }
}

//! Meeting passcode rules.
//!
//! From meetings.openapi.json `paths./meetings/{meetingId}.patch` `password`: at most 10
//! characters, "only contain alphanumeric characters and the `@`, `-`, `_`, and `*` characters",
//! and it "must meet" the host's passcode requirements, which users.openapi.json documents as
//! `schedule_meeting.meeting_password_requirement` {`length` (minimum), `have_letter`,
//! `have_number`, `have_special_character`, `only_allow_numeric`,
//! `have_upper_and_lower_characters`, `consecutive_characters_length`, `weak_enhance_detection`}.
//!
//! Assumptions (Zoom publishes no formal definition, research/zoom.md §9.5):
//! - "special character" means one of the four allowed non-alphanumerics `@ - _ *`;
//! - `consecutive_characters_length = n` (4..8) forbids a run of n or more characters that climb
//!   or fall by one code point (`abcd`, `4321`); 0 means no restriction;
//! - `weak_enhance_detection` only warns in the web portal, so it never rejects here;
//! - every violation answers 400 with code 300 and a message naming the rule.

use serde_json::Value;

const SPECIALS: &[char] = &['@', '-', '_', '*'];

fn flag(req: &Value, key: &str) -> bool {
    req.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The longest run of characters that go up (or down) by exactly one code point each step.
fn longest_sequence(pw: &str) -> usize {
    let chars: Vec<u32> = pw.chars().map(u32::from).collect();
    let (mut best, mut up, mut down) = (usize::from(!chars.is_empty()), 1usize, 1usize);
    for w in chars.windows(2) {
        up = if w[1] == w[0] + 1 { up + 1 } else { 1 };
        down = if w[0] == w[1] + 1 { down + 1 } else { 1 };
        best = best.max(up).max(down);
    }
    best
}

/// Check a new passcode against the spec's character rules and the host's requirement object.
/// Returns the message of the first rule broken.
pub(crate) fn check(pw: &str, requirement: &Value) -> Result<(), String> {
    let len = pw.chars().count();
    if len > 10 {
        return Err("Invalid passcode: a passcode can have at most 10 characters.".into());
    }
    if let Some(bad) = pw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || SPECIALS.contains(c)))
    {
        return Err(format!(
            "Invalid passcode: '{bad}' is not allowed; use only letters, numbers and the characters @ - _ *."
        ));
    }
    if flag(requirement, "only_allow_numeric") && !pw.chars().all(|c| c.is_ascii_digit()) {
        return Err("Passcode does not meet the requirement: only numbers are allowed.".into());
    }
    let min = requirement
        .get("length")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    if len < min {
        return Err(format!(
            "Passcode does not meet the requirement: it must have at least {min} characters."
        ));
    }
    if flag(requirement, "have_letter") && !pw.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(
            "Passcode does not meet the requirement: it must contain at least one letter.".into(),
        );
    }
    if flag(requirement, "have_number") && !pw.chars().any(|c| c.is_ascii_digit()) {
        return Err(
            "Passcode does not meet the requirement: it must contain at least one number.".into(),
        );
    }
    if flag(requirement, "have_special_character") && !pw.chars().any(|c| SPECIALS.contains(&c)) {
        return Err(
            "Passcode does not meet the requirement: it must contain at least one special character (@ - _ *).".into(),
        );
    }
    if flag(requirement, "have_upper_and_lower_characters")
        && !(pw.chars().any(|c| c.is_ascii_uppercase())
            && pw.chars().any(|c| c.is_ascii_lowercase()))
    {
        return Err("Passcode does not meet the requirement: it must contain both upper and lower case letters.".into());
    }
    let consecutive = requirement
        .get("consecutive_characters_length")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    if consecutive > 0 && longest_sequence(pw) >= consecutive {
        return Err(format!(
            "Passcode does not meet the requirement: it must not contain {consecutive} or more consecutive characters (such as abcd or 1234)."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enforces_each_rule() {
        let req = json!({"length": 8, "have_letter": true, "have_number": true, "have_special_character": true,
            "have_upper_and_lower_characters": true, "consecutive_characters_length": 4});
        assert!(check("Ab1@xY9z", &req).is_ok());
        assert!(
            check("Ab1@xY9zzzz", &req)
                .unwrap_err()
                .contains("at most 10")
        );
        assert!(check("Ab1!xY9z", &req).unwrap_err().contains("not allowed"));
        assert!(check("Ab1@xY9", &req).unwrap_err().contains("at least 8"));
        assert!(
            check("ab1@xy9z", &req)
                .unwrap_err()
                .contains("upper and lower")
        );
        assert!(check("Ab1xxY9z", &req).unwrap_err().contains("special"));
        assert!(check("Abcde@Y9", &req).unwrap_err().contains("consecutive"));
        assert!(check("123456", &json!({"only_allow_numeric": true})).is_ok());
        assert!(
            check("12a456", &json!({"only_allow_numeric": true}))
                .unwrap_err()
                .contains("only numbers")
        );
    }

    #[test]
    fn sequences_count_up_and_down() {
        assert_eq!(longest_sequence("x4321y"), 4);
        assert_eq!(longest_sequence("abc"), 3);
        assert_eq!(longest_sequence("a"), 1);
        assert_eq!(longest_sequence(""), 0);
    }
}

//! Passcode generation for `passcode → required`.
//!
//! Zoom allows at most 10 characters from `[A-Za-z0-9@-_*]` on `PATCH /meetings/{meetingId}`
//! (meetings.openapi.json `paths./meetings/{meetingId}.patch.requestBody…password`, maxLength 10)
//! and checks the account's `meeting_password_requirement` (users.openapi.json,
//! `meeting_security.meeting_password_requirement`). There is no endpoint that validates a passcode
//! (zoom.md §9 item 5), so the generator checks every rule locally before the passcode leaves it.
//! The passcode is never logged: callers put it straight into the PATCH body.

use rand::Rng;
use rand::seq::SliceRandom;

use super::models::PasswordRequirement;

/// Zoom's maximum passcode length (spec `maxLength: 10`).
pub(crate) const PASSCODE_LEN: usize = 10;

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";
/// The special characters the PATCH description allows (zoom.md §2.1 row 1). Other APIs (Rooms
/// join) reject anything else, so only these are used (zoom.md §9 item 5).
const SPECIAL: &[u8] = b"@-_*";

/// Why no passcode could be made: the requirements contradict each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsatisfiable(pub String);

/// Generates a 10-character passcode that meets `req`, from a CSPRNG (`rand::rng()` is ChaCha12
/// seeded from the OS).
pub(crate) fn generate(req: &PasswordRequirement) -> Result<String, Unsatisfiable> {
    generate_with(req, &mut rand::rng())
}

/// As [`generate`], with the random source passed in (tests use a seeded one).
pub(crate) fn generate_with<R: Rng + ?Sized>(
    req: &PasswordRequirement,
    rng: &mut R,
) -> Result<String, Unsatisfiable> {
    if let Some(min) = req.length
        && min as usize > PASSCODE_LEN
    {
        return Err(Unsatisfiable(format!(
            "the minimum passcode length {min} is above Zoom's maximum of {PASSCODE_LEN}"
        )));
    }
    if req.only_allow_numeric
        && (req.have_letter || req.have_special_character || req.have_upper_and_lower_characters)
    {
        return Err(Unsatisfiable(
            "the passcode rules ask for digits only and also for letters or special characters"
                .into(),
        ));
    }
    // Required character classes first, then random fill, then a shuffle; retry until every
    // rule holds (the run rule is the only one that can fail, and rarely does).
    let mut required: Vec<&[u8]> = Vec::new();
    let pool: Vec<u8> = if req.only_allow_numeric {
        required.push(DIGITS);
        DIGITS.to_vec()
    } else {
        required.push(LOWER);
        required.push(UPPER);
        required.push(DIGITS);
        if req.have_special_character {
            required.push(SPECIAL);
        }
        [LOWER, UPPER, DIGITS].concat()
    };
    for _ in 0..1000 {
        let mut chars: Vec<u8> = required
            .iter()
            .filter_map(|class| pick(class, rng))
            .collect();
        while chars.len() < PASSCODE_LEN {
            match pick(&pool, rng) {
                Some(c) => chars.push(c),
                None => break,
            }
        }
        chars.shuffle(rng);
        let candidate = String::from_utf8(chars).unwrap_or_default();
        if satisfies(req, &candidate) {
            return Ok(candidate);
        }
    }
    Err(Unsatisfiable(
        "no passcode met the rules after 1000 tries".into(),
    ))
}

fn pick<R: Rng + ?Sized>(class: &[u8], rng: &mut R) -> Option<u8> {
    if class.is_empty() {
        None
    } else {
        class.get(rng.random_range(0..class.len())).copied()
    }
}

/// Whether `p` meets every rule in `req` and Zoom's own limits.
///
/// Run rule: the spec says a value `n` in `4..=8` allows at most `n - 1` consecutive characters
/// ("for example, `abcdef`"). What counts as consecutive is not defined (zoom.md §9 item 5), so
/// this is stricter than any `n`: it always refuses three equal characters in a row and three
/// characters in ascending or descending order (`abc`, `321`). ASSUMPTION: Zoom counts only
/// alphabet/digit order, not keyboard order (`qwe`); keyboard runs are not checked.
pub(crate) fn satisfies(req: &PasswordRequirement, p: &str) -> bool {
    let b = p.as_bytes();
    let allowed = |c: &u8| c.is_ascii_alphanumeric() || SPECIAL.contains(c);
    if b.is_empty() || b.len() > PASSCODE_LEN || !b.iter().all(allowed) {
        return false;
    }
    if let Some(min) = req.length
        && b.len() < min as usize
    {
        return false;
    }
    let has = |f: fn(&u8) -> bool| b.iter().any(f);
    if req.only_allow_numeric && !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if req.have_letter && !has(u8::is_ascii_alphabetic) {
        return false;
    }
    if req.have_number && !has(u8::is_ascii_digit) {
        return false;
    }
    if req.have_special_character && !b.iter().any(|c| SPECIAL.contains(c)) {
        return false;
    }
    if req.have_upper_and_lower_characters
        && !(has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase))
    {
        return false;
    }
    !has_run_of_three(b)
}

fn has_run_of_three(b: &[u8]) -> bool {
    b.windows(3).any(|w| {
        let (x, y, z) = (i16::from(w[0]), i16::from(w[1]), i16::from(w[2]));
        let same_class = w.iter().all(u8::is_ascii_digit)
            || w.iter().all(u8::is_ascii_lowercase)
            || w.iter().all(u8::is_ascii_uppercase);
        (x == y && y == z)
            || (same_class && ((y - x == 1 && z - y == 1) || (x - y == 1 && y - z == 1)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn all_requirements() -> Vec<PasswordRequirement> {
        let mut out = Vec::new();
        for bits in 0u32..64 {
            for consecutive in [0, 4, 5, 8] {
                for length in [None, Some(6), Some(10)] {
                    let r = PasswordRequirement {
                        length,
                        have_letter: bits & 1 != 0,
                        have_number: bits & 2 != 0,
                        have_special_character: bits & 4 != 0,
                        only_allow_numeric: bits & 8 != 0,
                        have_upper_and_lower_characters: bits & 16 != 0,
                        consecutive_characters_length: consecutive,
                        weak_enhance_detection: bits & 32 != 0,
                    };
                    out.push(r);
                }
            }
        }
        out
    }

    fn contradictory(r: &PasswordRequirement) -> bool {
        r.only_allow_numeric
            && (r.have_letter || r.have_special_character || r.have_upper_and_lower_characters)
    }

    #[test]
    fn every_consistent_requirement_set_gets_a_valid_ten_character_passcode() {
        let mut rng = StdRng::seed_from_u64(7);
        for req in all_requirements() {
            for _ in 0..20 {
                match generate_with(&req, &mut rng) {
                    Ok(p) => {
                        assert_eq!(p.len(), PASSCODE_LEN);
                        assert!(satisfies(&req, &p), "{p} breaks {req:?}");
                        if req.only_allow_numeric {
                            assert!(p.bytes().all(|c| c.is_ascii_digit()));
                        } else if !req.have_special_character {
                            assert!(p.bytes().all(|c| c.is_ascii_alphanumeric()), "{p}");
                        }
                    }
                    Err(e) => assert!(contradictory(&req), "{req:?}: {e:?}"),
                }
            }
        }
    }

    #[test]
    fn the_default_generator_uses_letters_digits_and_both_cases() {
        let req = PasswordRequirement::default();
        for _ in 0..200 {
            let p = generate(&req).expect("default rules are satisfiable");
            assert_eq!(p.len(), 10);
            assert!(p.bytes().all(|c| c.is_ascii_alphanumeric()));
            assert!(p.bytes().any(|c| c.is_ascii_uppercase()));
            assert!(p.bytes().any(|c| c.is_ascii_lowercase()));
            assert!(p.bytes().any(|c| c.is_ascii_digit()));
        }
    }

    #[test]
    fn passcodes_differ() {
        let req = PasswordRequirement::default();
        let a = generate(&req).expect("ok");
        let b = generate(&req).expect("ok");
        assert_ne!(a, b);
    }

    #[test]
    fn a_special_character_is_one_of_zooms_four() {
        let req = PasswordRequirement {
            have_special_character: true,
            ..Default::default()
        };
        for _ in 0..200 {
            let p = generate(&req).expect("ok");
            assert!(p.bytes().any(|c| b"@-_*".contains(&c)), "{p}");
        }
    }

    #[test]
    fn runs_and_sequences_are_refused() {
        let req = PasswordRequirement::default();
        assert!(!satisfies(&req, "aaaB1x9Qz2"));
        assert!(!satisfies(&req, "abcQ1x9Qz2"));
        assert!(!satisfies(&req, "Q1x987Qz2w"));
        assert!(satisfies(&req, "aB1x9Qz2wR"));
        assert!(
            !satisfies(&req, "aB1x9Qz2wR!"),
            "too long and `!` is not allowed"
        );
    }

    #[test]
    fn impossible_rules_are_an_error_not_a_panic() {
        let req = PasswordRequirement {
            only_allow_numeric: true,
            have_letter: true,
            ..Default::default()
        };
        assert!(generate(&req).is_err());
        let req = PasswordRequirement {
            length: Some(12),
            ..Default::default()
        };
        assert!(generate(&req).is_err());
    }
}

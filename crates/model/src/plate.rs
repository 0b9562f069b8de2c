//! Plate text: the normal form every stage compares.

use crate::limits::PLATE_CHARS_MAX;

/// Why a plate string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlateError {
    /// Nothing left after removing separators.
    #[error("plate is empty")]
    Empty,
    /// Longer than [`PLATE_CHARS_MAX`] after removing separators.
    #[error("plate has {chars} characters, limit is {PLATE_CHARS_MAX}")]
    TooLong {
        /// Characters counted (capped, so a huge input reports a bounded number).
        chars: usize,
    },
    /// A character that no plate carries.
    #[error("plate contains invalid character {0:?}")]
    InvalidCharacter(char),
}

/// Normalises plate text as readers print it: upper case, without spaces or dashes
/// (`abc-123` and `ABC 123` are the same plate). Only ASCII letters and digits remain valid.
pub fn normalize(text: &str) -> Result<String, PlateError> {
    let mut plate = String::with_capacity(text.len().min(PLATE_CHARS_MAX));
    for (count, c) in text.chars().enumerate() {
        if count > 4 * PLATE_CHARS_MAX {
            return Err(PlateError::TooLong { chars: count });
        }
        match c {
            ' ' | '-' => {}
            'a'..='z' => plate.push(c.to_ascii_uppercase()),
            'A'..='Z' | '0'..='9' => plate.push(c),
            other => return Err(PlateError::InvalidCharacter(other)),
        }
    }
    if plate.is_empty() {
        return Err(PlateError::Empty);
    }
    if plate.len() > PLATE_CHARS_MAX {
        return Err(PlateError::TooLong { chars: plate.len() });
    }
    Ok(plate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn separators_and_case_do_not_matter() {
        assert_eq!(normalize("abc-123").unwrap(), "ABC123");
        assert_eq!(normalize(" ABC 123 ").unwrap(), "ABC123");
    }

    #[test]
    fn refuses_what_no_plate_carries() {
        assert_eq!(normalize("AB€12"), Err(PlateError::InvalidCharacter('€')));
        assert_eq!(normalize(" - "), Err(PlateError::Empty));
        assert!(matches!(normalize(&"A".repeat(100_000)), Err(PlateError::TooLong { .. })));
        assert!(matches!(normalize("ABCDEFGHIJK"), Err(PlateError::TooLong { chars: 11 })));
    }

    proptest! {
        #[test]
        fn normal_form_is_a_fixed_point(text in "[a-zA-Z0-9 -]{0,14}") {
            if let Ok(plate) = normalize(&text) {
                prop_assert_eq!(normalize(&plate).unwrap(), plate.clone());
                prop_assert!(plate.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
            }
        }
    }
}

/// Plate patterns: `AB?12*` from a witness who saw part of a plate, in a hotlist entry or a search.
/// `?` stands for one character and `*` for any run (none included). This is the one definition of
/// the pattern language; faster matchers elsewhere (the plate index's automaton, the dictionary's
/// packed matcher) are tested against [`pattern::matches`].
pub mod pattern {
    use crate::limits::PLATE_CHARS_MAX;

    /// Known characters a pattern needs, so it names a few plates rather than lists thousands.
    pub const LITERALS_MIN: usize = 3;

    /// True when `text` is a pattern rather than a plate.
    pub fn is_pattern(text: &str) -> bool {
        text.contains(['?', '*'])
    }

    /// Normalises a pattern as plates are (upper case; spaces and dashes dropped), folds runs of
    /// `*` (which match the same), and checks it: letters, digits, `?` and `*` only; at least
    /// [`LITERALS_MIN`] known characters; at most [`PLATE_CHARS_MAX`] characters besides `*`, as a
    /// longer pattern matches no plate.
    pub fn normalize(text: &str) -> Result<String, String> {
        let mut pattern = String::with_capacity(text.len().min(4 * PLATE_CHARS_MAX));
        for c in text.chars() {
            match c {
                ' ' | '-' => {}
                '*' if pattern.ends_with('*') => {}
                'a'..='z' => pattern.push(c.to_ascii_uppercase()),
                'A'..='Z' | '0'..='9' | '?' | '*' => pattern.push(c),
                other => return Err(format!("invalid character {other:?} (a pattern uses letters, digits, ? and *)")),
            }
            if pattern.len() > 4 * PLATE_CHARS_MAX {
                break;
            }
        }
        if pattern.chars().filter(|c| c.is_ascii_alphanumeric()).count() < LITERALS_MIN {
            return Err(format!("a pattern needs at least {LITERALS_MIN} known characters, so it names plates rather than lists them"));
        }
        if pattern.chars().filter(|c| *c != '*').count() > PLATE_CHARS_MAX {
            return Err(format!("a pattern matches at most {PLATE_CHARS_MAX} characters"));
        }
        Ok(pattern)
    }

    /// Whether the whole of `text` matches `pattern`. The two-pointer scan that backtracks only to
    /// the last `*`: linear in practice.
    pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
                p += 1;
                t += 1;
            } else if p < pattern.len() && pattern[p] == b'*' {
                star = Some((p, t));
                p += 1;
            } else if let Some((star_p, star_t)) = star {
                p = star_p + 1;
                t = star_t + 1;
                star = Some((star_p, star_t + 1));
            } else {
                return false;
            }
        }
        pattern[p..].iter().all(|&c| c == b'*')
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use proptest::prelude::*;

        /// The definition, written as recursion: the matcher must agree with it everywhere.
        fn definition(pattern: &[u8], text: &[u8]) -> bool {
            match (pattern.first(), text.first()) {
                (None, _) => text.is_empty(),
                (Some(b'*'), _) => definition(&pattern[1..], text) || (!text.is_empty() && definition(pattern, &text[1..])),
                (Some(_), None) => false,
                (Some(b'?'), Some(_)) => definition(&pattern[1..], &text[1..]),
                (Some(p), Some(t)) => p == t && definition(&pattern[1..], &text[1..]),
            }
        }

        proptest! {
            #[test]
            fn matching_agrees_with_the_definition(pattern in "[AB?*]{0,9}", text in "[ABC]{0,9}") {
                prop_assert_eq!(matches(pattern.as_bytes(), text.as_bytes()), definition(pattern.as_bytes(), text.as_bytes()));
            }

            /// Folding runs of `*` never changes what a pattern matches.
            #[test]
            fn normalising_keeps_what_a_pattern_matches(pattern in "[ABC12?*]{3,9}", text in "[ABC12]{0,9}") {
                if let Ok(normal) = normalize(&pattern) {
                    prop_assert_eq!(matches(normal.as_bytes(), text.as_bytes()), matches(pattern.as_bytes(), text.as_bytes()));
                }
            }
        }

        #[test]
        fn patterns_are_normalised_and_checked() {
            assert_eq!(normalize("ab-?12 **").unwrap(), "AB?12*");
            assert!(normalize("AB*").unwrap_err().contains("at least 3"));
            assert!(normalize("AB!12*").unwrap_err().contains("invalid character"));
            assert!(normalize("ABC????????").unwrap_err().contains("at most"));
            assert!(normalize(&"A*".repeat(10_000)).is_err(), "a huge input is cut short, not walked whole");
            assert!(matches(b"AB?12*", b"ABX12"));
            assert!(matches(b"AB?12*", b"ABX1234"));
            assert!(!matches(b"AB?12*", b"AB12"));
        }
    }
}

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

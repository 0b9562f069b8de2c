//! Partial plates on hotlists: `AB?12*` from a witness who saw only part of it. `?` stands for one
//! character and `*` for any run (none included).
//!
//! Entries are indexed by one pair of adjacent known characters (canonical glyphs), so a read is
//! checked only against the patterns that share one of its own pairs, never against every pattern.
//! That is why a pattern must have two adjacent known characters.

use crate::rules::misread::canonical_char;
use glasshouse_model::limits::PLATE_CHARS_MAX;
use std::collections::HashMap;

/// Known characters a pattern needs, so it narrows to a few plates rather than thousands.
pub const PATTERN_LITERALS_MIN: usize = 3;

/// True when `plate` is a pattern rather than a plate.
pub fn is_pattern(plate: &str) -> bool {
    plate.contains(['?', '*'])
}

/// Normalises a pattern as plates are (upper case; spaces and dashes dropped), folds runs of `*`,
/// and checks it can be indexed.
pub fn normalize_pattern(text: &str) -> Result<String, String> {
    let mut pattern = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' ' | '-' => {}
            '*' if pattern.ends_with('*') => {}
            'a'..='z' => pattern.push(c.to_ascii_uppercase()),
            'A'..='Z' | '0'..='9' | '?' | '*' => pattern.push(c),
            other => return Err(format!("invalid character {other:?} (a pattern uses letters, digits, ? and *)")),
        }
    }
    let literals = pattern.chars().filter(|c| c.is_ascii_alphanumeric()).count();
    if literals < PATTERN_LITERALS_MIN {
        return Err(format!("a pattern needs at least {PATTERN_LITERALS_MIN} known characters"));
    }
    if pattern.chars().filter(|c| *c != '*').count() > PLATE_CHARS_MAX {
        return Err(format!("a pattern matches at most {PLATE_CHARS_MAX} characters"));
    }
    if anchor(&pattern).is_none() {
        return Err("a pattern needs two adjacent known characters".into());
    }
    Ok(pattern)
}

/// The first pair of adjacent known characters, in canonical glyphs.
fn anchor(pattern: &str) -> Option<[u8; 2]> {
    pattern.as_bytes().windows(2).find(|w| w[0].is_ascii_alphanumeric() && w[1].is_ascii_alphanumeric()).map(|w| pair(w[0], w[1]))
}

fn pair(a: u8, b: u8) -> [u8; 2] {
    [canonical_char(a as char) as u8, canonical_char(b as char) as u8]
}

/// Whether `text` matches `pattern` (`?` one character, `*` any run). Linear-time in practice: the
/// classic two-pointer scan that backtracks only to the last `*`.
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

/// Pattern entries of every list, by anchor pair.
#[derive(Debug, Default, Clone)]
pub struct PatternIndex {
    by_anchor: HashMap<[u8; 2], Vec<(String, usize)>>,
}

impl PatternIndex {
    /// Indexes entry `index` of list `list_id`, whose plate is the pattern `pattern`.
    pub fn insert(&mut self, list_id: &str, index: usize, pattern: &str) {
        if let Some(key) = anchor(pattern) {
            self.by_anchor.entry(key).or_default().push((list_id.to_owned(), index));
        }
    }

    /// True when no pattern is listed.
    pub fn is_empty(&self) -> bool {
        self.by_anchor.is_empty()
    }

    /// Calls `found` once for each (list, entry) whose anchor pair occurs in `reading`; the caller
    /// verifies the whole pattern.
    pub fn candidates(&self, reading: &str, found: &mut impl FnMut(&str, usize)) {
        let mut seen: Vec<[u8; 2]> = Vec::new();
        for w in reading.as_bytes().windows(2) {
            let key = pair(w[0], w[1]);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            for (list, index) in self.by_anchor.get(&key).into_iter().flatten() {
                found(list, *index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn oracle(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.first(), text.first()) {
            (None, _) => text.is_empty(),
            (Some(b'*'), _) => oracle(&pattern[1..], text) || (!text.is_empty() && oracle(pattern, &text[1..])),
            (Some(_), None) => false,
            (Some(b'?'), Some(_)) => oracle(&pattern[1..], &text[1..]),
            (Some(p), Some(t)) => p == t && oracle(&pattern[1..], &text[1..]),
        }
    }

    proptest! {
        #[test]
        fn matching_agrees_with_a_recursive_oracle(pattern in "[AB?*]{0,9}", text in "[ABC]{0,9}") {
            prop_assert_eq!(matches(pattern.as_bytes(), text.as_bytes()), oracle(pattern.as_bytes(), text.as_bytes()));
        }

        /// A read that matches a pattern shares its anchor pair, so the index never misses it.
        #[test]
        fn the_anchor_index_finds_every_match(pattern in "[AB8?*]{2,8}", text in "[AB8]{0,9}") {
            prop_assume!(normalize_pattern(&pattern).map(|p| p == pattern).unwrap_or(false));
            let mut index = PatternIndex::default();
            index.insert("l", 0, &pattern);
            let mut found = false;
            index.candidates(&text, &mut |_, _| found = true);
            if matches(pattern.as_bytes(), text.as_bytes()) {
                prop_assert!(found);
            }
        }
    }

    #[test]
    fn patterns_are_normalised_and_checked() {
        assert_eq!(normalize_pattern("ab-?12 **").unwrap(), "AB?12*");
        assert!(normalize_pattern("A?B?C").unwrap_err().contains("adjacent"));
        assert!(normalize_pattern("AB*").unwrap_err().contains("at least 3"));
        assert!(normalize_pattern("AB!12*").unwrap_err().contains("invalid character"));
        assert!(normalize_pattern("ABC????????").unwrap_err().contains("at most"));
        assert!(matches(b"AB?12*", b"ABX12"));
        assert!(matches(b"AB?12*", b"ABX1234"));
        assert!(!matches(b"AB?12*", b"AB12"));
    }
}

//! Partial plates on hotlists: `AB?12*` from a witness who saw only part of it. `?` stands for one
//! character and `*` for any run (none included).
//!
//! Entries are indexed by one pair of adjacent known characters (canonical glyphs), so a read is
//! checked only against the patterns that share one of its own pairs, never against every pattern.
//! That is why a pattern must have two adjacent known characters.

use crate::rules::misread::canonical_char;
use std::collections::HashMap;

pub use glasshouse_model::plate::pattern::{is_pattern, matches};

/// Normalises and checks a pattern as every pattern is ([`glasshouse_model::plate::pattern`]), and
/// checks the one thing a hotlist entry needs beyond that: two adjacent known characters to index it by.
pub fn normalize_pattern(text: &str) -> Result<String, String> {
    let pattern = glasshouse_model::plate::pattern::normalize(text)?;
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

    proptest! {
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
    }
}

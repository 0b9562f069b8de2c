//! The plate-pattern language of searches and wildcard hotlist entries (`?` one character, `*` any).
#![no_main]
use glasshouse_model::plate::pattern;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (pattern_text, plate) = text.split_once('\n').unwrap_or((text, "ABC123"));
    let Ok(normalized) = pattern::normalize(pattern_text) else { return };
    assert_eq!(pattern::normalize(&normalized).as_deref(), Ok(normalized.as_str()), "normalising is idempotent");
    let matched = pattern::matches(normalized.as_bytes(), plate.as_bytes());
    // A pattern with no wildcard matches exactly its own text.
    if !pattern::is_pattern(&normalized) {
        assert_eq!(matched, normalized.as_bytes() == plate.as_bytes());
    }
    assert!(pattern::matches(normalized.as_bytes(), normalized.replace(['?', '*'], "").as_bytes()) || normalized.contains('?'));
});

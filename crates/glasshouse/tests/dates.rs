//! The tests that run against the real server hold no absolute date near today. The server compares
//! expiries and observation times with its own clock, so a date that is "next year" when written is
//! in the past a year later and the test starts failing on its own. Such tests take their dates
//! relative to now (`common::in_days`, `daysFromNow` in the console tests).

use std::path::{Path, PathBuf};

/// How far from today a literal date counts as "near": a test written today with a date two years
/// out would break within the life of the project.
const NEAR_DAYS: i64 = 2 * 366;

#[test]
fn no_test_against_the_server_holds_a_date_near_today() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates/glasshouse/tests", "console/tests", "tests"] {
        collect(&root.join(dir), &mut files);
    }
    assert!(files.len() > 5, "the scan found the test files: {files:?}");
    let today = chrono::Utc::now().date_naive();
    let mut near = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for date in dates_in(line) {
                if (date - today).num_days().abs() <= NEAR_DAYS {
                    near.push(format!("{}:{}: {date}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(near.is_empty(), "absolute dates within two years of today (take them relative to now):\n{}", near.join("\n"));
}

#[test]
fn the_scan_sees_dates_in_the_shapes_tests_write_them() {
    let found = |line: &str| dates_in(line).iter().map(|d| d.to_string()).collect::<Vec<_>>();
    // Built from today, as the dates the scan exists to catch would be written by hand.
    let soon = (chrono::Utc::now().date_naive() + chrono::Duration::days(200)).to_string();
    assert_eq!(found(&format!(r#"{{"expires_at": "{soon}T00:00:00Z"}}"#)), vec![soon.clone()]);
    assert_eq!(found(&format!("page.fill('#hold-expires', '{soon}')")), vec![soon.clone()]);
    assert_eq!(found(&format!("plate,reason,expires_at\nabc,wanted,{soon}T00:00:00Z")), vec![soon.clone()]);
    assert!(found("case HPD-2026-0042, warrant WRT-2026-77, agreement 2026-7").is_empty(), "case numbers are not dates");
    assert!(found("the 12026-01-01 tick").is_empty(), "digits run on: not a date");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let skip = path.file_name().is_some_and(|n| n == "node_modules" || n == "__pycache__" || n == "fixtures");
        if path.is_dir() && !skip {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "mjs" || e == "js" || e == "ts" || e == "py") {
            files.push(path);
        }
    }
}

/// Every `YYYY-MM-DD` in `line` that is a real calendar date and not part of a longer run of digits.
fn dates_in(line: &str) -> Vec<chrono::NaiveDate> {
    let bytes = line.as_bytes();
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let mut dates = Vec::new();
    for start in 0..bytes.len().saturating_sub(9) {
        let shape = (0..10).all(|k| if k == 4 || k == 7 { bytes[start + k] == b'-' } else { digit(start + k) });
        let bounded = (start == 0 || !digit(start - 1)) && !digit(start + 10);
        if shape
            && bounded
            && let Ok(date) = chrono::NaiveDate::parse_from_str(&line[start..start + 10], "%Y-%m-%d")
        {
            dates.push(date);
        }
    }
    dates
}

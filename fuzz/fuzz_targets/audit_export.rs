//! The audit log's export reader: `glasshouse audit verify` over any bytes. The first line is the
//! verifier key (so the fuzzer can start from a real, signed export), the rest the export.
#![no_main]
use glasshouse_audit::note::NoteVerifier;
use glasshouse_audit::verify::verify_export;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(verifier) = NoteVerifier::parse(&String::from_utf8_lossy(&data[..split])) else { return };
    let export = data.get(split + 1..).unwrap_or_default();
    let report = verify_export(export, &verifier, &[]);
    if report.is_ok() {
        assert!(report.inclusions_checked <= report.entries);
        // Every checkpoint the export holds, known apart from it, still verifies with it.
        if let Some(latest) = &report.latest {
            assert!(latest.size <= report.entries);
        }
    }
});

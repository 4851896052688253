//! Parser + binder fuzz target: any input must produce a query or a located error, never a
//! panic, hang or stack overflow. Binding runs against the real workspace schemas.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if text.len() > 4096 {
        return;
    }
    match keelwatch_kql::parse(text) {
        Ok(q) => {
            if let Err(e) = keelwatch_kql::bind(&q, &keelwatch_kql::SchemaCatalog) {
                assert!(!e.message.is_empty());
            }
        }
        Err(e) => {
            // every parse error is located
            assert!(e.line_col.is_some(), "unlocated error: {e}");
        }
    }
});

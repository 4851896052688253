//! Request bodies → schema check → Arrow batch: must never panic, whatever the bytes.
//! The first byte picks the table.
#![no_main]

use keelwatch_workspace::UnknownColumns;
use keelwatch_workspace::rows::{parse_body, rows_to_batch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let tables: Vec<_> = keelwatch_tables::stored().collect();
    let table = tables[pick as usize % tables.len()];
    if let Ok(rows) = parse_body(body) {
        let unknown = if pick & 0x80 != 0 { UnknownColumns::Ignore } else { UnknownColumns::Reject };
        if let Ok(batch) = rows_to_batch(table, &rows, unknown, 0) {
            assert_eq!(batch.num_rows(), rows.len());
        }
    }
});

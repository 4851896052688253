//! The layer walker on arbitrary bytes (plain tar, gzip or zstd by magic), small limits.
#![no_main]
use keelwatch_vuln::walker::{Limits, merge, walk_layer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 10_000,
        max_layer_bytes: 64 << 20,
        ratio_after: 1 << 20,
        max_kept_file: 1 << 20,
        max_kept_total: 8 << 20,
        max_archive: 1 << 20,
        ..Limits::default()
    };
    if let Ok(r) = walk_layer(data, "fuzz", &limits) {
        let m = merge(&[r]);
        let _ = keelwatch_vuln::catalog::catalog(&m, &[None]);
    }
});

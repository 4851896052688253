//! Section-table executable parsers: ELF/PE/Mach-O via `object`, cargo-auditable `.dep-v0`
//! (zlib JSON) and Go build info in both formats (pre-1.18 pointers translated through segments).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keelwatch_vuln::catalog::exe::scan_binary(data);
    let _ = keelwatch_vuln::catalog::exe::parse_auditable(data);
    let _ = keelwatch_vuln::catalog::binary::examine_executable(&mut &data[..], data.len() as u64, 1 << 20);
});

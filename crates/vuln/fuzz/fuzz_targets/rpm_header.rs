//! rpm header blob parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keelwatch_vuln::catalog::rpm::parse_header(data);
});

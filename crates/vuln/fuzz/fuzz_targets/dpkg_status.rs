//! dpkg status / status.d parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keelwatch_vuln::catalog::parse_dpkg(&String::from_utf8_lossy(data), "status", "debian-12");
});

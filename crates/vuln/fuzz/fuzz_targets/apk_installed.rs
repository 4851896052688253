//! apk `installed` database parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keelwatch_vuln::catalog::parse_apk(&String::from_utf8_lossy(data), "installed");
});

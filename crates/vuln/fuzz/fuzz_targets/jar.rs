//! Java archive (zip) parser with nested jars.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keelwatch_vuln::catalog::binary::scan_jar(data, "fuzz.jar", 0);
});

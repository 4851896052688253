//! NDB `Packages.db` reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keelwatch_vuln::catalog::rpm::read_ndb(data, "Packages.db");
});

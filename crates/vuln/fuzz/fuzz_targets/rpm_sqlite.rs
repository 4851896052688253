//! SQLite `rpmdb.sqlite` reader (SQLite itself plus our blob handling).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keelwatch_vuln::catalog::rpm::read_sqlite(data, "rpmdb.sqlite");
});

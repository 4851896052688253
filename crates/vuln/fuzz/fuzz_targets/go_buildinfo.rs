//! Go build-info scanner (streaming search + blob parser).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keelwatch_vuln::catalog::binary::parse_go_buildinfo(data);
    let mut elf = b"\x7fELF".to_vec();
    elf.extend_from_slice(data);
    let _ = keelwatch_vuln::catalog::binary::scan_executable(&mut elf.as_slice());
});

//! The fast decoding path against the general one: on any line it must either decline (the
//! general path then decodes) or produce exactly the events the general path produces; its
//! JSON reader must read exactly what serde_json reads, or decline.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    keelwatch_detect::decode::check_fast_path(data);
});

//! Fuzzes checkpoint decoding: any bytes give a checkpoint or an error, never a panic, and a
//! decoded checkpoint round-trips.
#![no_main]

use std::path::Path;

use keelwatch_agent::checkpoint::Checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cp) = Checkpoint::decode(data, Path::new("fuzz")) {
        let again = Checkpoint::decode(&cp.encode(), Path::new("fuzz")).expect("round trip");
        assert_eq!(again, cp);
    }
});

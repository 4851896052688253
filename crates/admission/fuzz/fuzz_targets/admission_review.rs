//! AdmissionReview decoding and response building from arbitrary bytes: a request is either
//! rejected with a message (HTTP 400) or yields a response that echoes its uid.
#![no_main]

use keelwatch_admission::review::{decode, respond};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        Ok(incoming) => {
            let out = respond(&incoming, &[]);
            assert_eq!(out.response["response"]["uid"].as_str(), Some(incoming.uid.as_str()));
            assert_eq!(out.response["response"]["allowed"], serde_json::Value::Bool(true));
        }
        Err(message) => assert!(!message.is_empty()),
    }
});

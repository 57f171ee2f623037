//! Any bytes as Zoom's answer to `GET /meetings/{id}` and `GET /users/{id}/settings`: decoding
//! and mapping must give a session or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chaperone::platform::zoom::fuzz_decode_answers(data);
});

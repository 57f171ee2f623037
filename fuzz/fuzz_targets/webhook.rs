//! Any bytes as a Zoom webhook delivery (timestamp, signature, raw body): signature checking and
//! event parsing must never panic, and a signature is valid for exactly the body it signed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chaperone::server::fuzz_webhook(data);
});

//! Feeds arbitrary bytes to the server's inbound message decoder: it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = ferry_ws::protocol::decode_client_message(&text);
});

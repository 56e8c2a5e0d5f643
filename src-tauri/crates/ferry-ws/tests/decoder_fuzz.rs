//! A bounded randomized test of the inbound decoder, run by `cargo test`: arbitrary
//! bytes, arbitrary JSON, and mutations of valid messages never make it panic, and
//! every valid message reads back as itself. `scripts/fuzz.sh` runs the cargo-fuzz
//! target (`fuzz/`) for longer when a nightly toolchain is present.

use ferry_ws::protocol::{decode_client_message, ErrorCode};
use ferry_ws::{ClientMessage, Command};
use proptest::prelude::*;

fn valid_message() -> impl Strategy<Value = ClientMessage> {
    let job = any::<i64>().prop_map(ferry_core::JobId);
    prop_oneof![
        (
            proptest::option::of("[a-f0-9]{0,20}"),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(epoch, last_seq)| ClientMessage::Hello { epoch, last_seq }),
        any::<u64>().prop_map(|seq| ClientMessage::Ack { seq }),
        Just(ClientMessage::Ping),
        Just(ClientMessage::Metrics),
        ("[ -~]{1,40}", proptest::collection::vec(".{0,30}", 0..4)).prop_map(|(id, paths)| {
            ClientMessage::Command {
                id,
                command: Command::Enqueue { paths },
            }
        }),
        ("[ -~]{1,40}", job).prop_map(|(id, job_id)| ClientMessage::Command {
            id,
            command: Command::Cancel { job_id },
        }),
    ]
}

fn cases() -> u32 {
    std::env::var("FERRY_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(error) = decode_client_message(&text) {
            prop_assert_eq!(error.code, ErrorCode::InvalidData);
            prop_assert!(!error.message.is_empty());
        }
    }

    #[test]
    fn valid_messages_read_back_as_themselves(message in valid_message()) {
        let text = serde_json::to_string(&message).unwrap();
        prop_assert_eq!(decode_client_message(&text).unwrap(), message);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        message in valid_message(),
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = serde_json::to_vec(&message).unwrap();
        for (at, byte) in cuts {
            let at = at.index(bytes.len().max(1));
            match byte % 3 {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at.min(bytes.len()), byte),
                _ if at < bytes.len() => { bytes.remove(at); }
                _ => {}
            }
        }
        let _ = decode_client_message(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn deeply_nested_json_is_refused_not_overflowed(depth in 1usize..10_000) {
        let text = format!(r#"{{"type":"hello","epoch":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        prop_assert!(decode_client_message(&text).is_err());
    }
}

//! CloudEvents binary content mode (`binary::decode_binary`): any headers and value never panic;
//! a decoded event writes binary mode and structured JSON that read back stably.
//!
//! Input: `key:value` header lines, an empty line, then the record value (see
//! `autogen_kafka_fuzz::split_headers`).
#![no_main]

use autogen_kafka_events::binary::decode_binary;
use autogen_kafka_fuzz::{assert_binary_stable, split_headers};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (headers, value) = split_headers(data);
    if let Ok(event) = decode_binary(&headers, value) {
        assert_binary_stable(&event);
    }
});

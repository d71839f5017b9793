//! `ResponseEvent` through the JSON Schema codec (Confluent frame + JSON): decoding never panics, and a
//! decoded event re-encodes to bytes that decode again and re-encode identically.
#![no_main]

use autogen_kafka_events::ResponseEvent;
use autogen_kafka_fuzz::{json_schema_codec, round_trip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    round_trip::<ResponseEvent>(&json_schema_codec(), data);
});

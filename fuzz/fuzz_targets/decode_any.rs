//! `decode_any` / `decode_any_with`: any bytes, with or without a topic, never panic; a decoded
//! event serializes to JSON.
#![no_main]

use autogen_kafka_events::{DecodeOptions, decode_any, decode_any_with};
use libfuzzer_sys::fuzz_target;

const TOPICS: [&str; 9] = [
    "runtime_requests",
    "runtime_responses",
    "agent_registry",
    "agent_subscriptions",
    "agent_publishes",
    "memory_session-1",
    "agent_request",
    "agent_response",
    "unrelated",
];

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = decode_any(data) {
        serde_json::to_vec(&record.event).expect("a decoded event serializes");
    }
    if let Some((selector, rest)) = data.split_first() {
        let topic = TOPICS[usize::from(*selector) % TOPICS.len()];
        if let Ok(record) = decode_any_with(rest, &DecodeOptions::new().with_topic(topic)) {
            serde_json::to_vec(&record.event).expect("a decoded event serializes");
        }
    }
});

//! The publish CloudEvent (`PublishEvent`) read from JSON: never panics; a decoded event writes
//! stable structured JSON and binary mode, converts to and from the CloudEvents SDK type, and
//! its `time` written Python's way reads back. A framed input is unwrapped first.
#![no_main]

use autogen_kafka_events::{PublishEvent, WireEvent, parse_time, python_isoformat};
use autogen_kafka_fuzz::{assert_binary_stable, json_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = json_text(data);
    if let Ok(text) = std::str::from_utf8(text)
        && let Ok(time) = parse_time(text)
    {
        let written = python_isoformat(&time);
        parse_time(&written)
            .unwrap_or_else(|e| panic!("our time text {written:?} does not parse: {e:?}"));
    }
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(text) else {
        return;
    };
    let Ok(event) = PublishEvent::from_json_value(document) else {
        return;
    };
    if let Some(time) = event.time() {
        let written = python_isoformat(time);
        parse_time(&written)
            .unwrap_or_else(|e| panic!("our time text {written:?} does not parse: {e:?}"));
    }
    let sdk = event.clone().into_cloudevent();
    let back = PublishEvent::from_cloudevent(sdk).expect("an SDK event of ours converts back");
    assert_eq!(back, event);
    assert_binary_stable(&event);
});

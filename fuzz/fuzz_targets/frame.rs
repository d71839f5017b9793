//! `Frame::parse` and `detect_format`: never panic; a parsed frame writes back the same bytes;
//! detection agrees with the frame.
#![no_main]

use autogen_kafka_events::{Format, Frame, detect_format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::parse(data) {
        assert_eq!(frame.encode(), data);
        assert_eq!(frame.payload, &data[Frame::HEADER_LEN..]);
        assert_eq!(data[0], Frame::MAGIC_BYTE);
        let written = frame.encode();
        let again = Frame::parse(&written).expect("our frame parses");
        assert_eq!(again, frame);
    }
    match detect_format(data) {
        Ok(Format::JsonSchema) => assert_eq!(data.get(Frame::HEADER_LEN), Some(&b'{')),
        Ok(Format::Avro) => assert!(Frame::parse(data).is_ok()),
        Ok(_) | Err(_) => {}
    }
});

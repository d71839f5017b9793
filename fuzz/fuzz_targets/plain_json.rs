//! Every event type through the plain JSON codec (no frame): decoding never panics, and a decoded
//! event re-encodes stably. A framed input is unwrapped first, so the golden vectors seed it.
#![no_main]

use autogen_kafka_events::PlainJsonCodec;
use autogen_kafka_fuzz::{json_text, round_trip_kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = PlainJsonCodec::new();
    let text = json_text(data);
    for index in 0..7 {
        round_trip_kind(&codec, index, text);
    }
});

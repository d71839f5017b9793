//! The Avro codec.
//!
//! * An input that decodes as a JSON event (a golden vector, or a mutation of one) is written as
//!   framed Avro, which must decode and re-encode to the same bytes; that record, cut short or
//!   with one byte changed, must not panic the decoder.
//! * Any other input is `[selector][datum]`: the datum is decoded as the event type number
//!   `selector % 7`, framed with the codec's own schema id, or, when the selector's high bit is
//!   set, with an id whose writer schema goes through Avro schema resolution; decoding never
//!   panics, and a decoded event re-encodes stably.
#![no_main]

use autogen_kafka_events::{
    AgentEvent, AnyEvent, Format, Frame, MemoryEvent, PublishEvent, RegistrationEvent,
    RequestEvent, ResponseEvent, SchemaId, SubscriptionEvent, decode_any, detect_format,
};
use autogen_kafka_fuzz::{
    RESOLVED_SCHEMA_IDS, SCHEMA_ID, assert_stable, avro_codec, round_trip_kind,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = avro_codec();
    // JSON inputs only: `decode_any` of framed Avro would try every schema (slow, and the datum
    // path below covers Avro input).
    if matches!(detect_format(data), Ok(Format::JsonSchema | Format::Json))
        && let Ok(record) = decode_any(data)
    {
        let (index, bytes) = match &record.event {
            AnyEvent::Request(e) => (0, assert_stable::<RequestEvent>(codec, e)),
            AnyEvent::Response(e) => (1, assert_stable::<ResponseEvent>(codec, e)),
            AnyEvent::Registration(e) => (2, assert_stable::<RegistrationEvent>(codec, e)),
            AnyEvent::Subscription(e) => (3, assert_stable::<SubscriptionEvent>(codec, e)),
            AnyEvent::Publish(e) => (4, assert_stable::<PublishEvent>(codec, e)),
            AnyEvent::Memory(e) => (5, assert_stable::<MemoryEvent>(codec, e)),
            AnyEvent::Agent(e) => (6, assert_stable::<AgentEvent>(codec, e)),
            _ => return,
        };
        // Near-valid datums: cut short, or one byte changed where the input says.
        let salt = data.iter().fold(0_usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(*b))
        });
        let mut changed = bytes.clone();
        if let Some(byte) =
            changed.get_mut(Frame::HEADER_LEN + salt % (bytes.len() - Frame::HEADER_LEN).max(1))
        {
            *byte ^= data.last().copied().unwrap_or(1) | 1;
        }
        for variant in [
            &bytes[..bytes.len() / 2],
            &bytes[..bytes.len() - 1],
            &changed[..],
        ] {
            round_trip_kind(codec, index, variant);
        }
        return;
    }
    let Some((selector, datum)) = data.split_first() else {
        return;
    };
    let id = if selector & 0x80 == 0 {
        SCHEMA_ID
    } else {
        SchemaId(RESOLVED_SCHEMA_IDS + u32::from(selector % 7))
    };
    let framed = Frame::new(id, datum).encode();
    round_trip_kind(codec, *selector, &framed);
});

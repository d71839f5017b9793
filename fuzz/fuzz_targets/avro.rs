//! The Avro codec.
//!
//! * An input that decodes as a JSON event (a golden vector, or a mutation of one) is written as
//!   framed Avro, which must decode and re-encode to the same bytes.
//! * Any other input is `[kind][datum]`: the datum, framed with the codec's own schema id, is
//!   decoded as the event type number `kind % 7`; decoding never panics, and a decoded event
//!   re-encodes stably.
#![no_main]

use autogen_kafka_events::{
    AgentEvent, AnyEvent, Format, Frame, MemoryEvent, PublishEvent, RegistrationEvent,
    RequestEvent, ResponseEvent, SubscriptionEvent, decode_any,
};
use autogen_kafka_fuzz::{SCHEMA_ID, assert_stable, avro_codec, round_trip_kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = avro_codec();
    if let Ok(record) = decode_any(data)
        && record.format != Format::Avro
    {
        match &record.event {
            AnyEvent::Request(e) => assert_stable::<RequestEvent>(codec, e),
            AnyEvent::Response(e) => assert_stable::<ResponseEvent>(codec, e),
            AnyEvent::Registration(e) => assert_stable::<RegistrationEvent>(codec, e),
            AnyEvent::Subscription(e) => assert_stable::<SubscriptionEvent>(codec, e),
            AnyEvent::Publish(e) => assert_stable::<PublishEvent>(codec, e),
            AnyEvent::Memory(e) => assert_stable::<MemoryEvent>(codec, e),
            AnyEvent::Agent(e) => assert_stable::<AgentEvent>(codec, e),
            _ => {}
        }
        return;
    }
    let Some((kind, datum)) = data.split_first() else {
        return;
    };
    let framed = Frame::new(SCHEMA_ID, datum).encode();
    round_trip_kind(codec, *kind, &framed);
});

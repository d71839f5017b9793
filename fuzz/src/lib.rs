//! Checks shared by the fuzz targets of `autogen-kafka-events`.
//!
//! Every target asserts that decoding never panics, and that whatever decodes can be written
//! again: the codec's encoding of a decoded event must decode, and re-encoding that must give the
//! same bytes (the encoding is a fixed point after one round). A failed assertion is a crash.

use std::sync::OnceLock;

use autogen_kafka_events::binary::{self, Header};
use autogen_kafka_events::{
    AgentEvent, AvroCodec, EventCodec, EventKind, Frame, JsonSchemaCodec, MemoryEvent,
    PublishEvent, RegistrationEvent, RequestEvent, ResponseEvent, SchemaId, SchemaIds,
    SubscriptionEvent, WireEvent,
};

/// The schema id the framed codecs write and read with their own schema.
pub const SCHEMA_ID: SchemaId = SchemaId(1);

/// The JSON Schema codec (writer id [`SCHEMA_ID`], reads any id).
#[must_use]
pub fn json_schema_codec() -> JsonSchemaCodec {
    JsonSchemaCodec::new(SchemaIds::new(SCHEMA_ID))
}

/// The first schema id of [`avro_codec`]'s writer schemas: event type number `i` (in
/// [`EventKind::ALL`] order) is also registered under `RESOLVED_SCHEMA_IDS + i`, so frames with
/// those ids go through Avro schema resolution (writer schema → reader schema).
pub const RESOLVED_SCHEMA_IDS: u32 = 10;

/// The Avro codec (writer id [`SCHEMA_ID`], plus the writer schemas of
/// [`RESOLVED_SCHEMA_IDS`]), made once: it caches its parsed schemas.
///
/// # Panics
///
/// If a bundled Avro schema does not parse.
pub fn avro_codec() -> &'static AvroCodec {
    static CODEC: OnceLock<AvroCodec> = OnceLock::new();
    CODEC.get_or_init(|| {
        let codec = AvroCodec::new(SchemaIds::new(SCHEMA_ID));
        for (id, kind) in (RESOLVED_SCHEMA_IDS..).zip(EventKind::ALL) {
            codec
                .add_writer_schema(kind, SchemaId(id), kind.avro_schema())
                .expect("bundled Avro schema");
        }
        codec
    })
}

/// A codec of every event type.
pub trait AllEvents:
    EventCodec<RequestEvent>
    + EventCodec<ResponseEvent>
    + EventCodec<RegistrationEvent>
    + EventCodec<SubscriptionEvent>
    + EventCodec<PublishEvent>
    + EventCodec<MemoryEvent>
    + EventCodec<AgentEvent>
{
}

impl<C> AllEvents for C where
    C: EventCodec<RequestEvent>
        + EventCodec<ResponseEvent>
        + EventCodec<RegistrationEvent>
        + EventCodec<SubscriptionEvent>
        + EventCodec<PublishEvent>
        + EventCodec<MemoryEvent>
        + EventCodec<AgentEvent>
{
}

/// Decodes `data` as `E`; if it decodes, checks [`assert_stable`].
pub fn round_trip<E: WireEvent>(codec: &dyn EventCodec<E>, data: &[u8]) {
    if let Ok(event) = codec.decode(data) {
        assert_stable(codec, &event);
    }
}

/// [`round_trip`] for the event type number `index % 7` (in [`EventKind::ALL`] order).
pub fn round_trip_kind<C: AllEvents>(codec: &C, index: u8, data: &[u8]) {
    match index % 7 {
        0 => round_trip::<RequestEvent>(codec, data),
        1 => round_trip::<ResponseEvent>(codec, data),
        2 => round_trip::<RegistrationEvent>(codec, data),
        3 => round_trip::<SubscriptionEvent>(codec, data),
        4 => round_trip::<PublishEvent>(codec, data),
        5 => round_trip::<MemoryEvent>(codec, data),
        _ => round_trip::<AgentEvent>(codec, data),
    }
}

/// `event` encodes; the encoding decodes; re-encoding gives the same bytes, which are returned.
///
/// # Panics
///
/// When any of that fails (the fuzzer reports a crash).
pub fn assert_stable<E: WireEvent>(codec: &dyn EventCodec<E>, event: &E) -> Vec<u8> {
    let kind = E::KIND;
    let first = codec
        .encode(event)
        .unwrap_or_else(|e| panic!("a decoded {kind} does not encode: {e:?}\n{event:?}"));
    let again = codec.decode(&first).unwrap_or_else(|e| {
        panic!(
            "our own {kind} encoding does not decode: {e:?}\nevent: {event:?}\nbytes: {:?}",
            String::from_utf8_lossy(&first)
        )
    });
    let second = codec
        .encode(&again)
        .unwrap_or_else(|e| panic!("a re-decoded {kind} does not encode: {e:?}"));
    assert!(
        first == second,
        "the {kind} encoding is not stable:\n first: {:?}\nsecond: {:?}",
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second)
    );
    second
}

/// The JSON text of a record value: the payload of a framed JSON record (so the golden vectors
/// seed the targets that take JSON), or the input itself.
#[must_use]
pub fn json_text(data: &[u8]) -> &[u8] {
    match Frame::parse(data) {
        Ok(frame) if frame.payload.first() == Some(&b'{') => frame.payload,
        _ => data,
    }
}

/// Splits a fuzz input into Kafka headers and a record value.
///
/// Lines up to the first empty line are headers, `key:value` (a line without `:` is a header
/// with a null value); the bytes after the empty line are the value (none when there is no empty
/// line or nothing follows it).
#[must_use]
pub fn split_headers(data: &[u8]) -> (Vec<Header>, Option<&[u8]>) {
    let mut headers = Vec::new();
    let mut rest = data;
    loop {
        let (line, after) = match rest.iter().position(|b| *b == b'\n') {
            Some(end) => (&rest[..end], Some(&rest[end + 1..])),
            None => (rest, None),
        };
        if line.is_empty() {
            let value = after.filter(|v| !v.is_empty());
            return (headers, value);
        }
        let header = match line.iter().position(|b| *b == b':') {
            Some(colon) => Header::new(
                String::from_utf8_lossy(&line[..colon]),
                line[colon + 1..].to_vec(),
            ),
            None => {
                let mut header = Header::new(String::from_utf8_lossy(line), Vec::new());
                header.value = None;
                header
            }
        };
        headers.push(header);
        match after {
            Some(after) => rest = after,
            None => return (headers, None),
        }
    }
}

/// A publish event read in binary mode writes binary mode that reads back, and binary mode is
/// stable after one round; it also writes and reads in structured (JSON Schema) mode.
///
/// # Panics
///
/// When any of that fails.
pub fn assert_binary_stable(event: &PublishEvent) {
    let first = binary::encode_binary(event);
    let again = binary::decode_binary(&first.headers, first.value.as_deref())
        .unwrap_or_else(|e| panic!("our own binary-mode record does not decode: {e:?}\n{first:?}"));
    let second = binary::encode_binary(&again);
    assert!(
        first == second,
        "binary mode is not stable:\n first: {first:?}\nsecond: {second:?}"
    );
    assert_stable::<PublishEvent>(&json_schema_codec(), event);
}

//! Property tests: every event type round-trips through every format, the JSON output
//! validates against upstream's JSON Schema, and no input (arbitrary, truncated, wrong magic
//! byte, unknown schema id, oversized) makes a decoder panic: each gives a typed error.
#![expect(
    clippy::expect_used,
    reason = "test helpers outside #[test] fns panic on broken fixtures"
)]

use autogen_kafka_events::{
    AgentEvent, AnyCodec, AnyEvent, DecodeOptions, EventCodec, EventKind, EventsError, Format,
    JsonSchemaCodec, MemoryEvent, MemoryMimeType, Metadata, PublishEvent, RegistrationEvent,
    RegistrationKind, RequestEvent, ResponseEvent, SchemaId, SchemaIds, SubscriptionEvent,
    SubscriptionOperation, WireEvent, decode_any, decode_any_with, topics,
};
use chrono::DateTime;
use proptest::prelude::*;
use serde_json::Value;

const FORMATS: [Format; 3] = [Format::JsonSchema, Format::Avro, Format::Json];

fn text() -> impl Strategy<Value = String> {
    prop::string::string_regex("(?s).{0,12}").expect("regex")
}

fn non_empty_text() -> impl Strategy<Value = String> {
    prop::string::string_regex("(?s).{1,12}").expect("regex")
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn payload() -> impl Strategy<Value = Option<Vec<u8>>> {
    // Empty payloads are written as null (upstream), so they are generated as `None`.
    prop::option::of(prop::collection::vec(any::<u8>(), 1..48))
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn metadata() -> impl Strategy<Value = Metadata> {
    prop::collection::btree_map(text(), json_value(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn request() -> impl Strategy<Value = RequestEvent> {
    (
        (opt_text(), opt_text(), opt_text(), opt_text(), opt_text()),
        (payload(), opt_text(), opt_text(), metadata(), opt_text()),
    )
        .prop_map(
            |(
                (message_id, topic_id, agent_id, request_id, recipient),
                (payload, payload_type, payload_format, metadata, error),
            )| {
                let mut e = RequestEvent::new("", "", Vec::new());
                e.message_id = message_id;
                e.topic_id = topic_id;
                e.agent_id = agent_id;
                e.request_id = request_id;
                e.recipient = recipient;
                e.payload = payload;
                e.payload_type = payload_type;
                e.payload_format = payload_format;
                e.metadata = metadata;
                e.error = error;
                e
            },
        )
}

fn response() -> impl Strategy<Value = ResponseEvent> {
    (
        (opt_text(), opt_text(), opt_text(), opt_text(), opt_text()),
        (payload(), opt_text(), opt_text(), metadata(), opt_text()),
    )
        .prop_map(
            |(
                (message_id, topic_id, sender, request_id, recipient),
                (payload, payload_type, format, metadata, error),
            )| {
                let mut e = ResponseEvent::error("", "");
                e.message_id = message_id;
                e.topic_id = topic_id;
                e.sender = sender;
                e.request_id = request_id;
                e.recipient = recipient;
                e.payload = payload;
                e.payload_type = payload_type;
                e.serialization_format = format;
                e.metadata = metadata;
                e.error = error;
                e
            },
        )
}

fn registration() -> impl Strategy<Value = RegistrationEvent> {
    (any::<bool>(), text()).prop_map(|(register, agent)| {
        let kind = if register {
            RegistrationKind::Register
        } else {
            RegistrationKind::Unregister
        };
        RegistrationEvent::new(kind, agent)
    })
}

fn subscription() -> impl Strategy<Value = SubscriptionEvent> {
    (0..3_u8, text(), text(), text(), any::<bool>()).prop_map(|(form, id, a, b, added)| {
        let mut event = match form {
            0 => SubscriptionEvent::added_type(id, a, b),
            1 => SubscriptionEvent::added_type_prefix(id, a, b),
            _ => SubscriptionEvent::removed(id),
        };
        event.operation = if added {
            SubscriptionOperation::Added
        } else {
            SubscriptionOperation::Removed
        };
        event
    })
}

fn mime_type() -> impl Strategy<Value = MemoryMimeType> {
    prop_oneof![
        Just("text/plain".to_owned()),
        Just("text/markdown".to_owned()),
        Just("application/json".to_owned()),
        Just("image/*".to_owned()),
        Just("application/octet-stream".to_owned()),
        text(),
    ]
    .prop_map(MemoryMimeType::from)
}

fn memory() -> impl Strategy<Value = MemoryEvent> {
    (text(), mime_type(), text(), opt_text()).prop_map(|(sender, mime, content, metadata)| {
        let mut event = MemoryEvent::new(sender, mime, content);
        event.metadata = metadata;
        event
    })
}

fn agent() -> impl Strategy<Value = AgentEvent> {
    (text(), text(), metadata()).prop_map(|(id, ty, message)| AgentEvent::new(id, ty, message))
}

fn publish() -> impl Strategy<Value = PublishEvent> {
    (
        (non_empty_text(), non_empty_text(), non_empty_text()),
        // Years 1970..=9999, whole microseconds (Python's precision).
        0_i64..253_402_300_799_999_999,
        prop::option::of((text(), prop::collection::vec(any::<u8>(), 0..48))),
        prop::option::of((text(), text())),
    )
        .prop_map(|((ty, source, id), micros, payload, sender)| {
            let time = DateTime::from_timestamp_micros(micros).expect("in range");
            let mut builder = PublishEvent::builder(ty, source).id(id).time(time);
            if let Some((payload_type, bytes)) = payload {
                builder = builder.payload(payload_type, bytes);
            }
            if let Some((agent_type, agent_key)) = sender {
                builder = builder.sender(agent_type, agent_key);
            }
            builder.build().expect("valid event")
        })
}

fn topic_of(kind: EventKind) -> String {
    kind.default_topic().map_or_else(
        || match kind {
            EventKind::Memory => topics::memory_topic(topics::MEMORY_TOPIC, "s-1"),
            _ => topics::AGENT_REQUEST.to_owned(),
        },
        str::to_owned,
    )
}

fn schema_errors(kind: EventKind, instance: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(kind.json_schema()).expect("schema JSON");
    let validator = jsonschema::options()
        .should_validate_formats(false)
        .build(&schema)
        .expect("valid schema");
    validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect()
}

/// Encodes and decodes `event` in every format, through the codec and through `decode_any`.
fn round_trip<E>(event: &E) -> Result<(), TestCaseError>
where
    E: WireEvent + Into<AnyEvent>,
{
    for format in FORMATS {
        let codec = AnyCodec::for_format(format, SchemaIds::new(SchemaId(7)));
        let bytes = codec
            .encode(event)
            .map_err(|e| TestCaseError::fail(format!("{format} encode: {e}")))?;
        let back: E = codec
            .decode(&bytes)
            .map_err(|e| TestCaseError::fail(format!("{format} decode: {e:?}")))?;
        prop_assert_eq!(&back, event, "{}", format);

        let options = DecodeOptions::new().with_topic(topic_of(E::KIND));
        let any = decode_any_with(&bytes, &options)
            .map_err(|e| TestCaseError::fail(format!("{format} decode_any: {e:?}")))?;
        prop_assert_eq!(any.format, format);
        prop_assert_eq!(any.event, event.clone().into());
    }
    let json = serde_json::to_value(event).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // The AgentEvent base schema wrongly types `message` values as strings (WIRE D10); only
    // check it when the message satisfies that.
    let check_schema = match &json["message"] {
        Value::Object(m) if E::KIND == EventKind::Agent => m.values().all(Value::is_string),
        _ => true,
    };
    if check_schema {
        let errors = schema_errors(E::KIND, &json);
        prop_assert!(errors.is_empty(), "{:?} for {}", errors, json);
    }
    Ok(())
}

/// Every damaged form of a valid record gives a typed error.
fn damaged<E: WireEvent>(
    event: &E,
    cut: prop::sample::Index,
    magic: u8,
) -> Result<(), TestCaseError> {
    for format in [Format::JsonSchema, Format::Avro] {
        let ids = SchemaIds::new(SchemaId(7));
        let codec = AnyCodec::for_format(format, ids.clone());
        let bytes = codec
            .encode(event)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;

        let truncated = &bytes[..cut.index(bytes.len())];
        prop_assert!(
            EventCodec::<E>::decode(&codec, truncated).is_err(),
            "{} truncated",
            format
        );

        let mut wrong = bytes.clone();
        wrong[0] = magic;
        let wrong_magic = matches!(
            EventCodec::<E>::decode(&codec, &wrong),
            Err(EventsError::WrongMagicByte { found }) if found == magic
        );
        prop_assert!(wrong_magic, "{} wrong magic byte", format);

        let strict = AnyCodec::for_format(format, SchemaIds::new(SchemaId(8)).accept_only([]));
        let unknown_id = matches!(
            EventCodec::<E>::decode(&strict, &bytes),
            Err(EventsError::UnknownSchemaId { id: SchemaId(7) })
        );
        prop_assert!(unknown_id, "{} unknown schema id", format);
    }
    let small = JsonSchemaCodec::new(SchemaIds::new(SchemaId(7))).with_max_size(4);
    let bytes = small
        .encode(event)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let oversized = matches!(
        EventCodec::<E>::decode(&small, &bytes),
        Err(EventsError::Oversized { max: 4, .. })
    );
    prop_assert!(oversized, "oversized");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn request_round_trips(event in request()) { round_trip(&event)?; }

    #[test]
    fn response_round_trips(event in response()) { round_trip(&event)?; }

    #[test]
    fn registration_round_trips(event in registration()) { round_trip(&event)?; }

    #[test]
    fn subscription_round_trips(event in subscription()) { round_trip(&event)?; }

    #[test]
    fn memory_round_trips(event in memory()) { round_trip(&event)?; }

    #[test]
    fn agent_round_trips(event in agent()) { round_trip(&event)?; }

    #[test]
    fn publish_round_trips(event in publish()) { round_trip(&event)?; }

    #[test]
    fn damaged_records_are_typed_errors(
        request in request(),
        publish in publish(),
        subscription in subscription(),
        cut in any::<prop::sample::Index>(),
        magic in 1_u8..,
    ) {
        damaged(&request, cut, magic)?;
        damaged(&publish, cut, magic)?;
        damaged(&subscription, cut, magic)?;
    }
}

/// Decodes `bytes` as every kind with every codec and through `decode_any`; none may panic.
fn decode_everything(bytes: &[u8]) {
    let codecs: Vec<AnyCodec> = FORMATS
        .iter()
        .map(|f| AnyCodec::for_format(*f, SchemaIds::new(SchemaId(1))))
        .collect();
    for codec in &codecs {
        let _ = EventCodec::<RequestEvent>::decode(codec, bytes);
        let _ = EventCodec::<ResponseEvent>::decode(codec, bytes);
        let _ = EventCodec::<RegistrationEvent>::decode(codec, bytes);
        let _ = EventCodec::<SubscriptionEvent>::decode(codec, bytes);
        let _ = EventCodec::<MemoryEvent>::decode(codec, bytes);
        let _ = EventCodec::<AgentEvent>::decode(codec, bytes);
        let _ = EventCodec::<PublishEvent>::decode(codec, bytes);
    }
    let _ = decode_any(bytes);
    for kind in EventKind::ALL {
        let _ = decode_any_with(bytes, &DecodeOptions::new().with_topic(topic_of(kind)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_everything(&bytes);
    }

    #[test]
    fn framed_arbitrary_payloads_never_panic(
        payload in prop::collection::vec(any::<u8>(), 0..256),
        id in any::<u32>(),
    ) {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend_from_slice(&payload);
        decode_everything(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let text = serde_json::to_vec(&value).expect("serialize");
        decode_everything(&text);
        let mut framed = vec![0, 0, 0, 0, 1];
        framed.extend_from_slice(&text);
        decode_everything(&framed);
    }
}

#[test]
fn arbitrary_bytes_give_typed_errors_not_successes() {
    // A sample of inputs each format must refuse, with the variant a caller can match on.
    assert!(matches!(
        decode_any(b""),
        Err(EventsError::UnknownFormat { first_byte: None })
    ));
    assert!(matches!(
        decode_any(b"\0\0"),
        Err(EventsError::TruncatedFrame { len: 2 })
    ));
    assert!(matches!(
        decode_any(b"\0\0\0\0\x01{\"a\""),
        Err(EventsError::InvalidJson { .. })
    ));
    assert!(matches!(
        decode_any(b"\0\0\0\0\x01{\"a\":\"\xff\"}"),
        Err(EventsError::InvalidUtf8 { .. })
    ));
    assert!(matches!(
        decode_any(b"\x05hello"),
        Err(EventsError::UnknownFormat {
            first_byte: Some(5)
        })
    ));
}

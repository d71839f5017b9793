//! Golden vectors recorded from the Python original (`tests/vectors/`, see WIRE.md).
//!
//! For every vector: decode the `.bin` record value into our type and compare with the `.json`
//! document (parsed, not bytes); re-encode with schema id 1 and compare the framing, the JSON
//! value, the key order and the bytes; check the record key and topic from `.meta.json`
//! against our key and topic functions; check that our output validates against the JSON
//! Schema upstream registers; and check that `decode_any` finds the same event.
#![expect(
    clippy::expect_used,
    reason = "test helpers outside #[test] fns panic on broken fixtures"
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use autogen_kafka_events::topics::{self, TopicNames};
use autogen_kafka_events::{
    AgentEvent, AnyEvent, DecodeOptions, EventCodec, EventKind, Frame, JsonSchemaCodec,
    MemoryEvent, PublishEvent, RegistrationEvent, RequestEvent, ResponseEvent, SchemaId, SchemaIds,
    SubscriptionEvent, WireEvent, decode_any, decode_any_with, keys,
};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

struct Vector {
    name: String,
    bin: Vec<u8>,
    json: Value,
    meta: Value,
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(name: &str) -> Vector {
    let dir = vectors_dir();
    Vector {
        name: name.to_owned(),
        bin: std::fs::read(dir.join(format!("{name}.bin"))).expect("vector .bin"),
        json: read_json(&dir.join(format!("{name}.json"))),
        meta: read_json(&dir.join(format!("{name}.meta.json"))),
    }
}

/// Collects the JSON pointers where two documents differ.
fn json_diff(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let p = format!("{path}/{key}");
                match a.get(key) {
                    Some(av) => json_diff(ev, av, &p, out),
                    None => out.push(format!("{p}: missing (expected {ev})")),
                }
            }
            for key in a.keys().filter(|k| !e.contains_key(*k)) {
                out.push(format!("{path}/{key}: unexpected (found {})", a[key]));
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                json_diff(ev, av, &format!("{path}/{i}"), out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{path}: expected {expected}, found {actual}")),
    }
}

fn assert_json_eq(vector: &str, what: &str, expected: &Value, actual: &Value) {
    let mut diffs = Vec::new();
    json_diff(expected, actual, "", &mut diffs);
    if !diffs.is_empty() {
        let mut message = format!("{vector}: {what} differs from the golden document:\n");
        for d in &diffs {
            let _ = writeln!(message, "  {d}");
        }
        let _ = write!(
            message,
            "expected:\n{}\nactual:\n{}",
            serde_json::to_string_pretty(expected).unwrap_or_default(),
            serde_json::to_string_pretty(actual).unwrap_or_default()
        );
        panic!("{message}");
    }
}

/// Top-level keys of a JSON object text, in the order they are written.
fn key_order(text: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            mut self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                self.0.push(key);
            }
            Ok(self.0)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde::Deserializer::deserialize_map(&mut de, Keys(Vec::new())).expect("an object")
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

fn schema_errors(schema_text: &str, instance: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(schema_text).expect("schema JSON");
    // Python's jsonschema (used by confluent-kafka) does not assert `format`; neither do we.
    let validator = jsonschema::options()
        .should_validate_formats(false)
        .build(&schema)
        .expect("valid schema");
    validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect()
}

/// Decodes, compares, re-encodes and validates one vector as event type `E`; returns the event.
fn check_event<E: WireEvent>(v: &Vector) -> E {
    let codec = JsonSchemaCodec::new(SchemaIds::new(SchemaId(1)));
    let event: E = codec
        .decode(&v.bin)
        .unwrap_or_else(|e| panic!("{}: decode failed: {}", v.name, error_chain(&e)));
    let decoded = serde_json::to_value(&event).expect("serialize");
    assert_json_eq(&v.name, "decoded event", &v.json, &decoded);

    let encoded = codec.encode(&event).expect("encode");
    let framing = &v.meta["value_framing"];
    let frame = Frame::parse(&encoded).expect("our frame");
    assert_eq!(
        u64::from(frame.schema_id.0),
        framing["schema_id"].as_u64().unwrap_or(u64::MAX)
    );
    assert_eq!(framing["magic_byte"].as_u64(), Some(0));
    assert_eq!(framing["json_offset"].as_u64(), Some(5));
    assert_eq!(&encoded[..5], &v.bin[..5], "{}: frame header", v.name);
    let reencoded: Value = serde_json::from_slice(frame.payload).expect("our JSON");
    assert_json_eq(&v.name, "re-encoded event", &v.json, &reencoded);

    let golden_text = v.meta["value_json_bytes_utf8"]
        .as_str()
        .expect("golden text");
    let ours = std::str::from_utf8(frame.payload).expect("UTF-8");
    assert_eq!(
        key_order(ours),
        key_order(golden_text),
        "{}: key order",
        v.name
    );
    assert_eq!(
        ours, golden_text,
        "{}: bytes differ from confluent-kafka 2.16.1's",
        v.name
    );
    assert_eq!(encoded, v.bin, "{}: record value bytes", v.name);

    let errors = schema_errors(E::KIND.json_schema(), &reencoded);
    assert!(
        errors.is_empty(),
        "{}: output fails the JSON Schema: {errors:?}",
        v.name
    );
    event
}

fn meta_key(v: &Vector) -> Option<&str> {
    v.meta["key"].as_str()
}

fn check(name: &str) {
    let v = load(name);
    let topic = v.meta["topic"].as_str().expect("topic");
    let kind = TopicNames::default()
        .kind_of(topic)
        .unwrap_or_else(|| panic!("{name}: topic {topic} maps to no kind"));
    assert_eq!(
        v.meta["headers_on_wire"],
        Value::Array(Vec::new()),
        "{name}: headers"
    );
    assert_eq!(
        v.meta["schema_subject"].as_str(),
        Some(topics::value_subject(topic).as_str())
    );

    let expected: AnyEvent = match kind {
        EventKind::Request => {
            let e = check_event::<RequestEvent>(&v);
            assert_eq!(e.record_key(), meta_key(&v));
            let (ty, key) = keys::split_id(e.record_key().unwrap_or_default()).expect("type/key");
            assert_eq!(Some(keys::request_key(ty, key).as_str()), meta_key(&v));
            assert_eq!(kind.default_topic(), Some(topic));
            e.into()
        }
        EventKind::Response => {
            let e = check_event::<ResponseEvent>(&v);
            assert_eq!(e.record_key(), meta_key(&v));
            assert_eq!(kind.default_topic(), Some(topic));
            e.into()
        }
        EventKind::Registration => {
            let e = check_event::<RegistrationEvent>(&v);
            assert_eq!(Some(e.record_key()), meta_key(&v));
            assert_eq!(kind.default_topic(), Some(topic));
            e.into()
        }
        EventKind::Subscription => {
            let e = check_event::<SubscriptionEvent>(&v);
            assert_eq!(e.record_key(), meta_key(&v));
            assert_eq!(meta_key(&v), None);
            assert_eq!(kind.default_topic(), Some(topic));
            e.into()
        }
        EventKind::Publish => {
            let e = check_event::<PublishEvent>(&v);
            assert_eq!(Some(e.record_key().as_str()), meta_key(&v));
            assert_eq!(
                Some(keys::publish_key(e.topic_type(), e.topic_source()).as_str()),
                meta_key(&v)
            );
            assert_eq!(kind.default_topic(), Some(topic));
            e.into()
        }
        EventKind::Memory => {
            let e = check_event::<MemoryEvent>(&v);
            let session = meta_key(&v).expect("memory key");
            assert_eq!(keys::memory_key(session), session);
            assert_eq!(topics::memory_topic(topics::MEMORY_TOPIC, session), topic);
            e.into()
        }
        EventKind::Agent => {
            let e = check_event::<AgentEvent>(&v);
            let wrapped = if topic == topics::AGENT_REQUEST {
                include_str!("schemas/AgentEvent_wrapped_Ping_request.schema.json")
            } else {
                assert_eq!(topic, topics::AGENT_RESPONSE);
                include_str!("schemas/AgentEvent_wrapped_Pong_response.schema.json")
            };
            let doc = serde_json::to_value(&e).expect("serialize");
            assert!(
                schema_errors(wrapped, &doc).is_empty(),
                "{name}: wrapped schema"
            );
            if topic == topics::AGENT_REQUEST {
                let sender = meta_key(&v);
                assert_eq!(Some(keys::agent_request_key(sender).as_str()), sender);
            }
            e.into()
        }
        other => panic!("{name}: no check for {other}"),
    };

    let options = DecodeOptions::new().with_topic(topic);
    let by_topic = decode_any_with(&v.bin, &options)
        .unwrap_or_else(|e| panic!("{name}: decode_any with topic: {}", error_chain(&e)));
    assert_eq!(by_topic.event, expected, "{name}: decode_any by topic");
    assert_eq!(by_topic.schema_id, Some(SchemaId(1)));
    let by_shape = decode_any(&v.bin)
        .unwrap_or_else(|e| panic!("{name}: decode_any by shape: {}", error_chain(&e)));
    assert_eq!(by_shape.event, expected, "{name}: decode_any by shape");
}

macro_rules! golden {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name));
            }
        )*

        const ALL_VECTORS: &[&str] = &[$(stringify!($name)),*];
    };
}

golden!(
    memory_add_binary,
    memory_add_json,
    memory_add_markdown,
    memory_add_text,
    memory_add_text_no_metadata,
    publish_cloudevent,
    publish_cloudevent_no_sender,
    registration_register,
    registration_unregister,
    request_send_message,
    request_send_message_fail,
    response_error,
    response_error_unknown_type,
    response_success,
    streaming_agent_request,
    streaming_agent_response,
    subscription_added_type,
    subscription_added_type_prefix,
    subscription_removed,
    subscription_removed_on_stop_1,
);

#[test]
fn every_vector_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("vectors dir")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".bin").map(str::to_owned)
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = ALL_VECTORS.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn binary_memory_content_is_decoded_not_copied() {
    // Upstream returns the base64 text's bytes here (D4); we decode.
    let v = load("memory_add_binary");
    let event: MemoryEvent = JsonSchemaCodec::new(SchemaIds::new(SchemaId(1)))
        .decode(&v.bin)
        .expect("decode");
    assert_eq!(
        event.content_bytes().expect("base64").as_ref(),
        b"\x00\x01\xfehello"
    );
    let metadata = event.metadata_map().expect("metadata").expect("present");
    assert_eq!(
        Value::Object(metadata),
        v.meta["upstream_decode_check"]["metadata"]
    );
}

#[test]
fn memory_without_metadata_is_read_although_upstream_fails() {
    let v = load("memory_add_text_no_metadata");
    assert_eq!(v.meta["upstream_decode_check"]["ok"], Value::Bool(false));
    let event: MemoryEvent = JsonSchemaCodec::new(SchemaIds::new(SchemaId(1)))
        .decode(&v.bin)
        .expect("decode");
    assert_eq!(event.metadata, None);
    assert_eq!(event.metadata_map().expect("no metadata"), None);
}

#[test]
fn publish_vectors_expose_upstream_attributes() {
    let codec = JsonSchemaCodec::new(SchemaIds::new(SchemaId(1)));
    let with_sender: PublishEvent = codec
        .decode(&load("publish_cloudevent").bin)
        .expect("decode");
    assert_eq!(with_sender.sender(), Some(("caller", "default")));
    assert_eq!(with_sender.payload_type(), Some("Ping"));
    assert_eq!(
        with_sender.payload().as_deref(),
        Some(&br#"{"content": "hello"}"#[..])
    );
    assert_eq!(with_sender.data_content_type(), Some("application/json"));
    let no_sender: PublishEvent = codec
        .decode(&load("publish_cloudevent_no_sender").bin)
        .expect("decode");
    assert_eq!(no_sender.sender(), None);

    // Building the same event with our builder gives the golden bytes.
    let time = autogen_kafka_events::parse_time("2025-01-02T03:04:05.123456+00:00").expect("time");
    let built = PublishEvent::builder("news", "default")
        .id("msg-pub-0001")
        .time(time)
        .payload("Ping", br#"{"content": "hello"}"#.to_vec())
        .sender("caller", "default")
        .build()
        .expect("build");
    assert_eq!(built, with_sender);
    assert_eq!(
        codec.encode(&built).expect("encode"),
        load("publish_cloudevent").bin
    );
}

#[test]
fn request_and_responses_built_with_constructors_match() {
    let codec = JsonSchemaCodec::new(SchemaIds::new(SchemaId(1)));
    let request = RequestEvent::new("echo/default", "Ping", br#"{"content": "hello"}"#.to_vec())
        .with_sender("caller/default")
        .with_message_id("msg-0001")
        .with_request_id("00000000-0000-4000-8000-000000000013");
    assert_eq!(
        codec.encode(&request).expect("encode"),
        load("request_send_message").bin
    );

    let success = ResponseEvent::success(
        "00000000-0000-4000-8000-000000000013",
        "echo/default",
        "caller/default",
        "Pong",
        br#"{"content": "hello"}"#.to_vec(),
    );
    assert_eq!(
        codec.encode(&success).expect("encode"),
        load("response_success").bin
    );

    let error = ResponseEvent::error(
        "00000000-0000-4000-8000-000000000018",
        "boom: handler failed",
    );
    assert_eq!(
        codec.encode(&error).expect("encode"),
        load("response_error").bin
    );

    let removed = SubscriptionEvent::removed("sub-prefix-0001");
    assert_eq!(
        codec.encode(&removed).expect("encode"),
        load("subscription_removed").bin
    );
}

#[test]
fn json_diff_names_the_differing_paths() {
    let expected = serde_json::json!({"a": {"b": 1, "c": [1, 2]}, "d": null});
    let actual = serde_json::json!({"a": {"b": 2, "c": [1, 3]}, "e": true});
    let mut diffs = Vec::new();
    json_diff(&expected, &actual, "", &mut diffs);
    assert_eq!(
        diffs,
        [
            "/a/b: expected 1, found 2",
            "/a/c/1: expected 2, found 3",
            "/d: missing (expected null)",
            "/e: unexpected (found true)",
        ]
    );
    assert_eq!(key_order(r#"{"z":1,"a":{"k":2},"m":[]}"#), ["z", "a", "m"]);
}

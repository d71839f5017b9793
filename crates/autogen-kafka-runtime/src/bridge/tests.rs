//! Unit tests of the bridge's wire conversions and response correlation (no broker).

use std::sync::Arc;
use std::time::Duration;

use autogen_kafka_core::{AnyMessage, CoreError, Message, SerializedMessage};
use autogen_kafka_events::{AgentEvent, Format, keys};
use autogen_kafka_services::EventCodecs;
use autogen_kafka_streaming::InboundRecord;
use serde::{Deserialize, Serialize};

use super::correlation::{Correlation, Counters};
use super::wire::{JsonObject, ResponseType, message_object};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Ping {
    content: String,
}
impl Message for Ping {
    const TYPE_NAME: &'static str = "Ping";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pong {
    content: String,
}
impl Message for Pong {
    const TYPE_NAME: &'static str = "Pong";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Tick;
impl Message for Tick {
    const TYPE_NAME: &'static str = "Tick";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Text(String);
impl Message for Text {
    const TYPE_NAME: &'static str = "Text";
}

const TOPIC: &str = "agent_response";
const VECTOR_ID: &str = "00000000-0000-4000-8000-000000000032";

fn vector(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../autogen-kafka-events/tests/vectors/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn object(json: serde_json::Value) -> JsonObject {
    match json {
        serde_json::Value::Object(object) => object,
        other => panic!("not an object: {other}"),
    }
}

fn record(offset: i64, value: Option<Vec<u8>>) -> InboundRecord {
    InboundRecord {
        topic: TOPIC.to_owned(),
        partition: 0,
        offset,
        key: None,
        value,
        headers: Vec::new(),
        timestamp_ms: None,
    }
}

fn answer(id: &str, content: &str) -> Vec<u8> {
    let event = AgentEvent::new(
        id,
        "Pong",
        object(serde_json::json!({ "content": content })),
    );
    serde_json::to_vec(&event).unwrap()
}

fn correlation() -> Arc<Correlation> {
    Arc::new(Correlation::new(Arc::new(EventCodecs::new(Format::Json))))
}

fn counters(correlation: &Correlation) -> [u64; 3] {
    let c = &correlation.counters;
    [
        Counters::read(&c.late),
        Counters::read(&c.undecodable),
        Counters::read(&c.foreign),
    ]
}

async fn within<F: Future>(work: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .expect("test finished in time")
}

#[test]
fn a_message_travels_as_its_json_object() {
    let (type_name, body) = message_object(&AnyMessage::new(Ping {
        content: "hello".into(),
    }))
    .unwrap();
    assert_eq!(type_name, "Ping");
    assert_eq!(body, object(serde_json::json!({"content": "hello"})));

    // Bytes from the wire keep their type name and content.
    let wire = AnyMessage::from_serialized(SerializedMessage::json(
        "Ping",
        br#"{"content":"x"}"#.to_vec(),
    ));
    let (type_name, body) = message_object(&wire).unwrap();
    assert_eq!(
        (type_name.as_str(), body["content"].as_str()),
        ("Ping", Some("x"))
    );

    // A unit struct is `{}`, like an empty dataclass.
    let (type_name, body) = message_object(&AnyMessage::new(Tick)).unwrap();
    assert_eq!(type_name, "Tick");
    assert!(body.is_empty());
}

#[test]
fn a_message_that_is_not_a_json_object_is_refused() {
    let error = message_object(&AnyMessage::new(Text("plain".into()))).unwrap_err();
    assert!(
        matches!(&error, CoreError::Serialize { type_name, .. } if type_name == "Text"),
        "{error:?}"
    );
    let protobuf = AnyMessage::from_serialized(SerializedMessage::new(
        "Ping",
        "application/x-protobuf",
        vec![1, 2, 3],
    ));
    assert!(matches!(
        message_object(&protobuf),
        Err(CoreError::UnsupportedContentType { .. })
    ));
}

#[test]
fn the_record_key_is_the_sender_or_none() {
    assert_eq!(
        keys::agent_request_key(Some("caller/default")),
        "caller/default"
    );
    assert_eq!(keys::agent_request_key(None), "None");
}

#[test]
fn typed_answers_are_checked_and_named_answers_are_passed_on() {
    let typed = ResponseType::typed::<Pong>();
    assert_eq!(typed.name(), "Pong");
    let message = typed
        .to_message(object(serde_json::json!({"content": "HELLO"})))
        .unwrap();
    assert_eq!(
        message.downcast_ref::<Pong>(),
        Some(&Pong {
            content: "HELLO".into()
        })
    );
    let error = typed
        .to_message(object(serde_json::json!({"text": "wrong field"})))
        .unwrap_err();
    assert!(matches!(error, CoreError::Deserialize { .. }), "{error:?}");

    // A unit struct answer arrives as `{}`.
    let unit = ResponseType::typed::<Tick>();
    assert!(unit.to_message(JsonObject::new()).unwrap().is::<Tick>());

    let named = ResponseType::named("Verdict".to_owned());
    let message = named
        .to_message(object(serde_json::json!({"ok": true})))
        .unwrap();
    assert_eq!(message.type_name(), "Verdict");
    let bytes = &message.as_serialized().unwrap().bytes;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(bytes).unwrap(),
        serde_json::json!({"ok": true})
    );
}

#[tokio::test]
async fn an_answer_reaches_its_request_and_others_are_counted() {
    within(async {
        let correlation = correlation();
        let mut mine = correlation.register("mine").unwrap();
        assert_eq!(correlation.pending(), 1);

        correlation.apply(&record(0, Some(b"not json at all".to_vec())));
        correlation.apply(&record(1, None));
        correlation.apply(&record(
            2,
            Some(br#"{"id": "x", "message_type": "Pong", "message": "text"}"#.to_vec()),
        ));
        correlation.apply(&record(3, Some(answer("someone-else", "theirs"))));
        correlation.apply(&record(4, Some(answer("mine", "ours"))));

        let event = mine.wait().await.unwrap();
        assert_eq!(event.id, "mine");
        assert_eq!(event.message["content"], "ours");
        drop(mine);
        assert_eq!(correlation.pending(), 0);
        // late, undecodable, foreign
        assert_eq!(counters(&correlation), [0, 3, 1]);
    })
    .await;
}

#[tokio::test]
async fn an_answer_after_the_request_gave_up_is_late() {
    within(async {
        let correlation = correlation();
        let given_up = correlation.register("slow").unwrap();
        drop(given_up);
        assert_eq!(correlation.pending(), 0);
        correlation.apply(&record(0, Some(answer("slow", "too late"))));
        assert_eq!(counters(&correlation), [1, 0, 0]);
        // A duplicate of the same answer is no longer this bridge's business.
        correlation.apply(&record(1, Some(answer("slow", "again"))));
        assert_eq!(counters(&correlation), [1, 0, 1]);
    })
    .await;
}

#[tokio::test]
async fn close_fails_waiting_requests_and_refuses_new_ones() {
    within(async {
        let correlation = correlation();
        let mut waiting = correlation.register("a").unwrap();
        correlation.close();
        assert!(correlation.is_closed());
        assert!(matches!(
            waiting.wait().await,
            Err(CoreError::RuntimeStopped)
        ));
        assert!(matches!(
            correlation.register("b"),
            Err(CoreError::RuntimeStopped)
        ));
    })
    .await;
}

#[tokio::test]
async fn the_golden_vectors_are_the_shapes_the_bridge_writes_and_reads() {
    within(async {
        // What upstream writes to `agent_request` for Ping("hello") from caller/default ...
        let request_bin = vector("streaming_agent_request");
        let codecs = EventCodecs::new(Format::JsonSchema).with_schema_id("agent_request", 1);
        let upstream: AgentEvent = codecs.decode("agent_request", &request_bin).unwrap();
        // ... is what the bridge writes for the same message (with its own uuid4 id).
        let (type_name, body) = message_object(&AnyMessage::new(Ping {
            content: "hello".into(),
        }))
        .unwrap();
        let ours = AgentEvent::new(VECTOR_ID, type_name, body);
        assert_eq!(ours, upstream);
        let written = codecs.encode("agent_request", &ours).unwrap();
        assert_eq!(&written[..5], &request_bin[..5], "magic byte and schema id");
        let document =
            |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(&bytes[5..]).unwrap();
        assert_eq!(document(&written), document(&request_bin));

        // The response vector, framed by Python, answers the request with that id.
        let correlation = correlation();
        let mut pending = correlation.register(VECTOR_ID).unwrap();
        correlation.apply(&record(0, Some(vector("streaming_agent_response"))));
        let event = pending.wait().await.unwrap();
        let pong = ResponseType::typed::<Pong>()
            .to_message(event.message)
            .unwrap();
        assert_eq!(
            pong.downcast::<Pong>().unwrap(),
            Pong {
                content: "HELLO".into()
            }
        );
        assert_eq!(counters(&correlation), [0, 0, 0]);
    })
    .await;
}

//! Avro schema evolution in a running fleet: records written with a newer version of an event schema, registered
//! after the runtime started (as an upgraded runtime does in a rolling upgrade), are read with the writer schema
//! fetched from the Schema Registry, on the request path and on the fleet tables.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly, like the tests that call them"
)]

use std::time::Duration;

use autogen_kafka::admin::{SchemaDefinition, SchemaRegistryClient};
use autogen_kafka::config::SerializationFormat;
use autogen_kafka::events::{
    AvroCodec, EventCodec, EventKind, Frame, RegistrationEvent, RequestEvent, ResponseEvent,
    SchemaId, SchemaIds, WireEvent,
};
use autogen_kafka_integration_tests::{
    Pong, produce_raw, register_echo, start_registry_fleet, worker,
};
use autogen_kafka_testing::rdkafka::Message as _;
use autogen_kafka_testing::rdkafka::consumer::{Consumer, StreamConsumer};
use autogen_kafka_testing::{SchemaRegistryStandIn, eventually, unique_group};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);

/// `kind`'s Avro schema with one more field, `zone` (string, default ""): the next version of the schema.
fn next_version(kind: EventKind) -> String {
    let mut schema: serde_json::Value = serde_json::from_str(kind.avro_schema()).unwrap();
    schema["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "zone", "type": "string", "default": ""}));
    schema.to_string()
}

/// `event` written with [`next_version`] under `id`: our datum followed by `zone = "eu"`.
fn written_with_next_version<E: WireEvent>(event: &E, id: u32) -> Vec<u8> {
    let mut bytes = AvroCodec::new(SchemaIds::new(SchemaId(id)))
        .encode(event)
        .unwrap();
    bytes.extend_from_slice(&[4, b'e', b'u']);
    bytes
}

async fn register_next_version(
    registry: &SchemaRegistryStandIn,
    topic: &str,
    kind: EventKind,
) -> u32 {
    SchemaRegistryClient::builder(registry.url())
        .build()
        .unwrap()
        .register(
            &format!("{topic}-value"),
            &SchemaDefinition::avro(next_version(kind)),
        )
        .await
        .unwrap()
        .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_a_schema_version_registered_after_start_are_read_with_the_fetched_writer_schema()
 {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (broker, registry, config) =
            start_registry_fleet("evolve", SerializationFormat::Avro).await;
        let host = worker(&broker, config.clone(), "host");
        register_echo(&host, "echo", "rust").await;
        host.start().await.unwrap();

        // An upgraded runtime registers the next version of the request and registration schemas.
        let requests = &config.runtime.runtime_requests;
        let request_id = register_next_version(&registry, requests, EventKind::Request).await;
        let registry_topic = &config.runtime.registry_topic;
        let registration_id =
            register_next_version(&registry, registry_topic, EventKind::Registration).await;

        // The fleet-table path (a tail reader's thread): the upgraded runtime's registration is seen.
        produce_raw(
            &broker,
            registry_topic,
            "upgraded@py-2",
            &written_with_next_version(&RegistrationEvent::register("upgraded"), registration_id),
        )
        .await;
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { host.is_hosted("upgraded") },
        )
        .await
        .unwrap_or_else(|e| panic!("the newer registration was not applied: {e}"));

        // The request path: a request in the newer version is answered, on the shared response topic (no
        // reply-to header, as the Python original writes).
        let responses: StreamConsumer = broker
            .consumer_config(&unique_group("evolve-reader"))
            .create()
            .unwrap();
        responses
            .subscribe(&[config.runtime.runtime_responses.as_str()])
            .unwrap();
        let mut request =
            RequestEvent::new("echo/default", "Ping", br#"{"content":"hi"}"#.to_vec());
        request.request_id = Some("evolved-request-1".into());
        request.agent_id = Some("caller/default".into());
        produce_raw(
            &broker,
            requests,
            "echo/default",
            &written_with_next_version(&request, request_id),
        )
        .await;
        let message = tokio::time::timeout(Duration::from_secs(60), responses.recv())
            .await
            .unwrap()
            .unwrap();
        let value = message.payload().unwrap();
        let frame = Frame::parse(value).unwrap();
        let response: ResponseEvent = AvroCodec::new(SchemaIds::new(frame.schema_id))
            .decode(value)
            .unwrap();
        assert!(!response.is_error(), "{response:?}");
        assert_eq!(response.request_id.as_deref(), Some("evolved-request-1"));
        let pong: Pong = serde_json::from_slice(response.payload.as_deref().unwrap()).unwrap();
        assert_eq!(pong.content, "hi from echo/default on rust");
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

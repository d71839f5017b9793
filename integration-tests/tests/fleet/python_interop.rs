//! Mixed fleets: records written by the Python original (the golden vectors) are understood, and what we write
//! back is what a Python runtime reads. Values use the Confluent JSON Schema framing with schemas registered in a
//! Schema Registry (the testing crate's stand-in).

use autogen_kafka_integration_tests::subscribed_consumer;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autogen_kafka::config::SerializationFormat;
use autogen_kafka::events::{Frame, RegistrationEvent, RequestEvent, ResponseEvent, WireEvent};
use autogen_kafka::{AgentId, AgentRuntimeExt, RoutedAgent, TypeSubscription};
use autogen_kafka_integration_tests::{
    Ping, Pong, Reader, produce_raw, produce_raw_at, register_echo, start_registry_fleet, worker,
};
use autogen_kafka_testing::eventually;
use autogen_kafka_testing::rdkafka::Message as _;
use autogen_kafka_testing::rdkafka::message::Headers as _;
use autogen_kafka_testing::rdkafka::producer::{FutureProducer, FutureRecord};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);

fn vector(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../crates/autogen-kafka-events/tests/vectors/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_request_is_answered_on_the_shared_topic_in_the_python_format() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (broker, registry, config) =
            start_registry_fleet("py-request", SerializationFormat::JsonSchema).await;
        let host = worker(&broker, config.clone(), "host");
        register_echo(&host, "echo", "rust").await;
        host.start().await.unwrap();
        // The startup sequence registered the event schemas under `<topic>-value`.
        let subjects = registry.subjects();
        assert!(
            subjects.contains(&format!("{}-value", config.runtime.runtime_requests)),
            "{subjects:?}"
        );
        assert!(
            subjects.contains(&format!("{}-value", config.runtime.runtime_responses)),
            "{subjects:?}"
        );

        let responses =
            subscribed_consumer(&broker, "py-reader", &config.runtime.runtime_responses);
        // The Python original's request record, exactly as it wrote it (no headers, schema id 1).
        let request = RequestEvent::from_json_value(
            serde_json::from_slice(&vector("request_send_message")[5..]).unwrap(),
        )
        .unwrap();
        produce_raw(
            &broker,
            &config.runtime.runtime_requests,
            "echo/default",
            &vector("request_send_message"),
        )
        .await;

        let message = tokio::time::timeout(Duration::from_secs(60), responses.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            message.key(),
            request.request_id.as_deref().map(str::as_bytes),
            "key = request id"
        );
        let value = message.payload().unwrap();
        let frame = Frame::parse(value).unwrap();
        let registered = registry.versions(&format!("{}-value", config.runtime.runtime_responses));
        assert!(!registered.is_empty(), "the response schema is registered");
        assert!(
            frame.schema_id.0 >= 1,
            "the frame carries the id the registry assigned"
        );
        let response =
            ResponseEvent::from_json_value(serde_json::from_slice(frame.payload).unwrap()).unwrap();
        assert!(!response.is_error(), "{response:?}");
        assert_eq!(response.request_id, request.request_id);
        assert_eq!(response.sender.as_deref(), Some("echo/default"));
        assert_eq!(response.recipient.as_deref(), Some("caller/default"));
        assert_eq!(response.payload_type.as_deref(), Some("Pong"));
        let pong: Pong = serde_json::from_slice(response.payload.as_deref().unwrap()).unwrap();
        assert_eq!(pong.content, "hello from echo/default on rust");
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_publication_reaches_rust_subscribers_once() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (broker, _registry, config) =
            start_registry_fleet("py-publish", SerializationFormat::JsonSchema).await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let message_ids = Arc::new(Mutex::new(Vec::new()));
        let runtimes = [
            worker(&broker, config.clone(), "a"),
            worker(&broker, config.clone(), "b"),
        ];
        for runtime in &runtimes {
            let (seen, message_ids) = (Arc::clone(&seen), Arc::clone(&message_ids));
            runtime
                .register("listener", move |_| {
                    RoutedAgent::new(Reader {
                        seen: Arc::clone(&seen),
                        message_ids: Some(Arc::clone(&message_ids)),
                    })
                    .with_handler::<autogen_kafka_integration_tests::News>()
                })
                .await
                .unwrap();
        }
        let (a, b) = tokio::join!(runtimes[0].start(), runtimes[1].start());
        a.unwrap();
        b.unwrap();
        let subscription = TypeSubscription::new("news", "listener").unwrap();
        let subscription_id = subscription.id().to_owned();
        autogen_kafka::AgentRuntime::add_subscription(&runtimes[0], subscription.into())
            .await
            .unwrap();
        // Whichever runtime's router gets the publication must know the subscription.
        for runtime in &runtimes {
            eventually(
                Duration::from_secs(30),
                Duration::from_millis(20),
                || async { runtime.knows_subscription(&subscription_id) },
            )
            .await
            .unwrap();
        }

        // The vector carries a `Ping` payload; the listener handles `News`, so rewrite the type and content the
        // way a Python publisher of `News` would (same CloudEvent shape).
        let mut document: serde_json::Value =
            serde_json::from_slice(&vector("publish_cloudevent")[5..]).unwrap();
        document["dataschema"] = "News".into();
        document["data_base64"] = base64_of(br#"{"headline": "from python"}"#).into();
        let mut record = vec![0, 0, 0, 0, 1];
        record.extend(serde_json::to_vec(&document).unwrap());
        produce_raw(
            &broker,
            &config.runtime.publish_topic,
            "news/default",
            &record,
        )
        .await;

        eventually(
            Duration::from_secs(60),
            Duration::from_millis(50),
            || async { !seen.lock().unwrap().is_empty() },
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![(
                "listener/default".to_owned(),
                "news/default".to_owned(),
                "from python".to_owned()
            )],
            "delivered exactly once, to the mapped agent id"
        );
        // The handler sees the publication's id, as a Python subscriber does, not the delivery's request id.
        assert_eq!(
            *message_ids.lock().unwrap(),
            [document["id"].as_str().unwrap().to_owned()]
        );
        for runtime in &runtimes {
            runtime.stop().await.unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_caller_gets_the_answer_of_a_python_agent() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (broker, _registry, config) =
            start_registry_fleet("py-callee", SerializationFormat::JsonSchema).await;
        // A "Python runtime": registers its type the way upstream does (key = type, no headers) ...
        let register = RegistrationEvent::register("py_echo");
        let mut value = vec![0, 0, 0, 0, 1];
        value.extend(serde_json::to_vec(&register).unwrap());
        produce_raw(&broker, &config.runtime.registry_topic, "py_echo", &value).await;
        let caller = worker(&broker, config.clone(), "caller");
        caller.start().await.unwrap();
        assert!(caller.is_hosted("py_echo"));

        // ... and answers requests on the shared response topic, ignoring our reply-topic header.
        let requests = subscribed_consumer(&broker, "py-callee", &config.runtime.runtime_requests);
        let python = {
            let broker_producer: FutureProducer = broker.producer_config().create().unwrap();
            let responses_topic = config.runtime.runtime_responses.clone();
            tokio::spawn(async move {
                let message = requests.recv().await.unwrap();
                let frame = Frame::parse(message.payload().unwrap()).unwrap();
                let request =
                    RequestEvent::from_json_value(serde_json::from_slice(frame.payload).unwrap())
                        .unwrap();
                let ping: Ping =
                    serde_json::from_slice(request.payload.as_deref().unwrap()).unwrap();
                let response = ResponseEvent::success(
                    request.request_id.clone().unwrap(),
                    request.recipient.clone().unwrap(),
                    request.agent_id.clone().unwrap(),
                    "Pong",
                    serde_json::to_vec(&Pong {
                        content: format!("python says {}", ping.content),
                    })
                    .unwrap(),
                );
                let mut value = vec![0, 0, 0, 0, 1];
                value.extend(serde_json::to_vec(&response).unwrap());
                broker_producer
                    .send(
                        FutureRecord::to(&responses_topic)
                            .key(request.request_id.as_deref().unwrap())
                            .payload(&value),
                        Duration::from_secs(5),
                    )
                    .await
                    .unwrap();
            })
        };
        let pong: Pong = caller
            .send(
                Ping {
                    content: "hi".into(),
                },
                &AgentId::new("py_echo", "k").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(pong.content, "python says hi");
        python.await.unwrap();
        caller.stop().await.unwrap();
    })
    .await
    .unwrap();
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A Python caller's request carries no deadline: the callee counts it from the record's timestamp plus the RPC
/// timeout. One that waited in a backlog past that is dead-lettered as `expired` and never executed; the same
/// request written now is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_python_request_is_dead_lettered_as_expired_and_never_executed() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (broker, _registry, config) =
            start_registry_fleet("py-stale", SerializationFormat::JsonSchema).await;
        let host = worker(&broker, config.clone(), "host");
        register_echo(&host, "echo", "rust").await;
        host.start().await.unwrap();
        let responses = subscribed_consumer(
            &broker,
            "py-stale-responses",
            &config.runtime.runtime_responses,
        );
        let dead_letters =
            subscribed_consumer(&broker, "py-stale-dlq", &config.runtime.dead_letter_topic);

        // Written two RPC timeouts ago (20 s each here), as a request that sat in a backlog.
        let written = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            - 40_000;
        let topic = &config.runtime.runtime_requests;
        produce_raw_at(
            &broker,
            topic,
            "echo/default",
            &vector("request_send_message"),
            Some(written),
        )
        .await;
        let dead = tokio::time::timeout(Duration::from_secs(60), dead_letters.recv())
            .await
            .unwrap()
            .unwrap();
        let kind = dead
            .headers()
            .unwrap()
            .iter()
            .find(|h| h.key == "ak_dlq_kind")
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned());
        assert_eq!(kind.as_deref(), Some("expired"));
        assert_eq!(dead.key(), Some(&b"echo/default"[..]));

        // The same request written now is executed and answered, and it is the only answer.
        produce_raw(
            &broker,
            topic,
            "echo/default",
            &vector("request_send_message"),
        )
        .await;
        let answer = tokio::time::timeout(Duration::from_secs(60), responses.recv())
            .await
            .unwrap()
            .unwrap();
        let response = ResponseEvent::from_json_value(
            serde_json::from_slice(Frame::parse(answer.payload().unwrap()).unwrap().payload)
                .unwrap(),
        )
        .unwrap();
        let pong: Pong = serde_json::from_slice(response.payload.as_deref().unwrap()).unwrap();
        assert_eq!(pong.content, "hello from echo/default on rust");
        assert!(
            tokio::time::timeout(Duration::from_secs(1), responses.recv())
                .await
                .is_err(),
            "the stale request was answered too"
        );
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

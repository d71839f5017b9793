//! The streaming bridge (`KafkaStreamingAgent`, usage pattern 2 "Kafka Bridge") against a real broker: agents of a
//! runtime talk to an "external service" that only speaks Kafka (it reads `AgentEvent`s from the agent request
//! topic and answers on the agent response topic, copying the `id`), as a Flink job does for upstream.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly, like the tests that call them"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autogen_kafka::admin::CreateMode;
use autogen_kafka::config::{Config, SerializationFormat};
use autogen_kafka::core::AgentFactory;
use autogen_kafka::core::CoreError;
use autogen_kafka::events::{AgentEvent, Format, Frame, WireEvent};
use autogen_kafka::runtime::{KafkaStreamingAgent, KafkaStreamingAgentBuilder};
use autogen_kafka::services::EventCodecs;
use autogen_kafka::{
    Agent, AgentId, AgentRuntime, AgentRuntimeExt, AgentType, AnyMessage, CancellationToken,
    Handler, HandlerError, MessageContext, RoutedAgent, SendOptions,
};
use autogen_kafka_integration_tests::{Ping, Pong, worker, worker_config};
use autogen_kafka_testing::rdkafka::consumer::{Consumer, StreamConsumer};
use autogen_kafka_testing::rdkafka::producer::{FutureProducer, FutureRecord};
use autogen_kafka_testing::rdkafka::{Message as _, Offset, TopicPartitionList};
use autogen_kafka_testing::{
    SchemaRegistryStandIn, TestBroker, eventually, unique_group, unique_topic,
};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const PARTITIONS: i32 = 3;
const VECTOR_ID: &str = "00000000-0000-4000-8000-000000000032";

fn vector(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../crates/autogen-kafka-events/tests/vectors/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// A worker configuration whose agent topics are the fleet's own, with the two topics created.
async fn bridge_config(broker: &TestBroker, name: &str) -> Config {
    let fleet = unique_topic(name);
    let mut config = worker_config(broker, &fleet);
    config.agent.request_topic = format!("{fleet}.agent_request");
    config.agent.response_topic = format!("{fleet}.agent_response");
    config.validate().unwrap();
    for topic in [&config.agent.request_topic, &config.agent.response_topic] {
        broker.create_topic(topic, PARTITIONS).await.unwrap();
    }
    config
}

fn topic_creation(broker: &TestBroker) -> CreateMode {
    autogen_kafka_integration_tests::topic_creation(broker.kind())
}

fn bridge(broker: &TestBroker, config: &Config) -> KafkaStreamingAgentBuilder {
    KafkaStreamingAgent::builder(config, "Bridge to the upper-casing service")
        .response_type::<Pong>()
        .topic_creation(topic_creation(broker))
}

/// A factory of local agents made by `make`.
fn local<A: Agent>(make: fn() -> A) -> AgentFactory {
    Arc::new(move |_id, _runtime| {
        let agent: Box<dyn Agent> = Box::new(make());
        Box::pin(std::future::ready(Ok(agent)))
    })
}

/// Asks `bridge/default` (a bridge in the same runtime) and passes its answer on.
struct Caller;

impl Handler<Ping> for Caller {
    type Response = Pong;

    async fn handle(&mut self, ping: Ping, ctx: &MessageContext) -> Result<Pong, HandlerError> {
        Ok(ctx
            .send::<Ping, Pong>(ping, &AgentId::new("bridge", "default")?)
            .await?)
    }
}

/// One request record the external service read.
#[derive(Debug, Clone)]
struct Seen {
    key: Option<String>,
    event: AgentEvent,
    value: Vec<u8>,
}

/// How the service answers a request: `None` to stay silent, or a delay and the raw record value.
type Answer = Arc<dyn Fn(&AgentEvent) -> Option<(Duration, Vec<u8>)> + Send + Sync>;

/// The external service: reads every partition of the request topic from the beginning (no group) and answers
/// on the response topic with the request's key.
struct ExternalService {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ExternalService {
    fn start(broker: &TestBroker, config: &Config, answer: Answer) -> Self {
        let consumer: StreamConsumer = broker
            .consumer_config(&unique_group("external-service"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut partitions = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            partitions
                .add_partition_offset(&config.agent.request_topic, partition, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&partitions).unwrap();
        let producer: FutureProducer = broker.producer_config().create().unwrap();
        let response_topic = config.agent.response_topic.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let codecs = EventCodecs::new(Format::Json);
            loop {
                // A transient consumer error (a broker under load) must not end the service: it would answer nothing
                // more, and every later request would wait for its deadline.
                let message = match consumer.recv().await {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(%error, "external service: consumer error; going on");
                        continue;
                    }
                };
                let value = message.payload().unwrap().to_vec();
                let key = message
                    .key()
                    .map(|key| String::from_utf8(key.to_vec()).unwrap());
                let event: AgentEvent = codecs.decode(message.topic(), &value).unwrap();
                log.lock().unwrap().push(Seen {
                    key: key.clone(),
                    event: event.clone(),
                    value,
                });
                let Some((delay, reply)) = answer(&event) else {
                    continue;
                };
                let producer = producer.clone();
                let topic = response_topic.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let mut record =
                        FutureRecord::<str, [u8]>::to(&topic).payload(reply.as_slice());
                    if let Some(key) = &key {
                        record = record.key(key.as_str());
                    }
                    // Waits as long as the callers do: a lost answer would show as a caller's timeout.
                    if let Err((error, _)) = producer.send(record, Duration::from_secs(20)).await {
                        tracing::warn!(%error, "external service: answer not written");
                    }
                });
            }
        });
        Self { seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ExternalService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn text(event: &AgentEvent) -> String {
    event.message["content"].as_str().unwrap().to_owned()
}

/// An answer in plain JSON: `{"id": <the request's>, "message_type": "Pong", "message": {"content": ...}}`.
fn pong_event(id: &str, content: &str) -> Vec<u8> {
    let message = serde_json::json!({ "content": content });
    let serde_json::Value::Object(message) = message else {
        unreachable!("a JSON object literal")
    };
    serde_json::to_vec(&AgentEvent::new(id, "Pong", message)).unwrap()
}

/// Answers at once with the content upper-cased.
fn upper_case() -> Answer {
    Arc::new(|event| {
        Some((
            Duration::ZERO,
            pong_event(&event.id, &text(event).to_uppercase()),
        ))
    })
}

fn is_uuid4(id: &str) -> bool {
    id.len() == 36
        && id.chars().nth(14) == Some('4')
        && id.chars().filter(|c| *c == '-').count() == 4
}

fn ping(content: &str) -> Ping {
    Ping {
        content: content.to_owned(),
    }
}

async fn produce(broker: &TestBroker, topic: &str, value: Option<&[u8]>) {
    let producer: FutureProducer = broker.producer_config().create().unwrap();
    let mut record = FutureRecord::<str, [u8]>::to(topic).key("garbage");
    if let Some(value) = value {
        record = record.payload(value);
    }
    producer.send(record, Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_in_a_runtime_gets_the_external_services_typed_answer() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = bridge_config(&broker, "bridge-typed").await;
        let service = ExternalService::start(&broker, &config, upper_case());
        let runtime = worker(&broker, config.clone(), "bridge-host");
        runtime
            .register_local_factory(
                AgentType::new("bridge").unwrap(),
                bridge(&broker, &config).into_factory(),
            )
            .await
            .unwrap();
        runtime
            .register_local_factory(
                AgentType::new("caller").unwrap(),
                local(|| RoutedAgent::new(Caller).with_handler::<Ping>()),
            )
            .await
            .unwrap();
        runtime.start().await.unwrap();

        // The very first message works (upstream fails it, D6), and the caller gets a typed `Pong`.
        let caller = AgentId::new("caller", "default").unwrap();
        let pong: Pong = runtime.send(ping("hello"), &caller).await.unwrap();
        assert_eq!(pong.content, "HELLO");
        // Without a sender the record key is the text "None", as upstream writes it.
        let bridge_id = AgentId::new("bridge", "default").unwrap();
        let pong: Pong = runtime.send(ping("direct"), &bridge_id).await.unwrap();
        assert_eq!(pong.content, "DIRECT");
        let metadata = runtime.agent_metadata(&bridge_id).await.unwrap();
        assert_eq!(metadata.description, "Bridge to the upper-casing service");

        let seen = service.seen();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0].key.as_deref(), Some("caller/default"));
        assert_eq!(seen[1].key.as_deref(), Some("None"));
        for (record, content) in seen.iter().zip(["hello", "direct"]) {
            assert!(is_uuid4(&record.event.id), "{}", record.event.id);
            assert_eq!(record.event.message_type, "Ping");
            assert_eq!(
                serde_json::Value::Object(record.event.message.clone()),
                serde_json::json!({ "content": content })
            );
            // Exactly the three fields of upstream's AgentEvent, as plain JSON (no Schema Registry here).
            let document: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
            let mut fields: Vec<&String> = document.as_object().unwrap().keys().collect();
            fields.sort();
            assert_eq!(fields, ["id", "message", "message_type"]);
        }
        assert_ne!(seen[0].event.id, seen[1].event.id);
        runtime.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bridges_each_get_their_own_answers() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = bridge_config(&broker, "bridge-two").await;
        // Answers are echoed with the content unchanged, so a stolen answer would show.
        let _service = ExternalService::start(
            &broker,
            &config,
            Arc::new(|event| Some((Duration::ZERO, pong_event(&event.id, &text(event))))),
        );
        let runtime = worker(&broker, config.clone(), "bridge-pair");
        // Same configuration, same group id: upstream's bridges would split the response topic between them (D5).
        let a = bridge(&broker, &config).build_started().await.unwrap();
        let b = bridge(&broker, &config).build_started().await.unwrap();
        let a_id = AgentId::new("bridge_a", "default").unwrap();
        let b_id = AgentId::new("bridge_b", "default").unwrap();
        runtime
            .register_agent_instance(Box::new(a.clone()), a_id.clone())
            .await
            .unwrap();
        runtime
            .register_agent_instance(Box::new(b.clone()), b_id.clone())
            .await
            .unwrap();
        runtime.start().await.unwrap();

        const EACH: usize = 5;
        let send = |id: &AgentId, content: String| {
            let runtime = &runtime;
            let id = id.clone();
            async move {
                let pong: Pong = runtime.send(ping(&content), &id).await.unwrap();
                (content, pong.content)
            }
        };
        let calls =
            (0..EACH).flat_map(|i| [send(&a_id, format!("a-{i}")), send(&b_id, format!("b-{i}"))]);
        // And a burst of concurrent direct requests through clones of `a`.
        let direct = (0..EACH).map(|i| {
            let a = a.clone();
            async move {
                let content = format!("direct-{i}");
                let answer = a
                    .request(AnyMessage::new(ping(&content)), SendOptions::new())
                    .await
                    .unwrap();
                (content, answer.downcast::<Pong>().unwrap().content)
            }
        });
        let (routed, direct) = tokio::join!(
            futures::future::join_all(calls),
            futures::future::join_all(direct)
        );
        for (sent, answered) in routed.into_iter().chain(direct) {
            assert_eq!(sent, answered, "each request gets its own answer");
        }

        // Each saw the other's answers on the shared topic and ignored them; nothing was lost or late.
        let (a_total, b_total) = (2 * EACH as u64, EACH as u64);
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async {
                a.stats().foreign_responses == b_total && b.stats().foreign_responses == a_total
            },
        )
        .await
        .unwrap();
        for (bridge, matched) in [(&a, a_total), (&b, b_total)] {
            let stats = bridge.stats();
            assert_eq!(stats.requests_sent, matched, "{stats:?}");
            assert_eq!(stats.responses_matched, matched, "{stats:?}");
            assert_eq!(
                (
                    stats.late_responses,
                    stats.undecodable_responses,
                    stats.timeouts
                ),
                (0, 0, 0),
                "{stats:?}"
            );
        }
        runtime.stop().await.unwrap();
        // Stopping the runtime closed its agents.
        assert!(a.is_closed() && b.is_closed());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_is_a_timeout_within_the_deadline_and_a_late_answer_is_counted() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = bridge_config(&broker, "bridge-deadline").await;
        let service = ExternalService::start(
            &broker,
            &config,
            Arc::new(|event| match text(event).as_str() {
                "silent" => None,
                "slow" => Some((Duration::from_millis(1500), pong_event(&event.id, "SLOW"))),
                other => Some((Duration::ZERO, pong_event(&event.id, &other.to_uppercase()))),
            }),
        );
        let deadline = Duration::from_secs(1);
        let bridge = bridge(&broker, &config)
            .request_timeout(deadline)
            .build_started()
            .await
            .unwrap();
        let runtime = worker(&broker, config.clone(), "bridge-deadline");
        let bridge_id = AgentId::new("bridge", "default").unwrap();
        runtime
            .register_agent_instance(Box::new(bridge.clone()), bridge_id.clone())
            .await
            .unwrap();
        runtime.start().await.unwrap();

        // Through the runtime: the handler fails with the bridge's typed error as its source.
        let begun = Instant::now();
        let error = runtime
            .send::<Ping, Pong>(ping("silent"), &bridge_id)
            .await
            .unwrap_err();
        let elapsed = begun.elapsed();
        assert!(
            elapsed >= deadline && elapsed < deadline + Duration::from_secs(4),
            "{elapsed:?}"
        );
        let CoreError::Handler { source, .. } = &error else {
            panic!("expected a handler error, got {error:?}");
        };
        assert!(
            matches!(
                source.downcast_ref::<CoreError>(),
                Some(CoreError::Timeout { recipient, after }) if recipient == &bridge_id && *after == deadline
            ),
            "{source:?}"
        );

        // Directly, with a shorter deadline of its own.
        let begun = Instant::now();
        let error = bridge
            .request(
                AnyMessage::new(ping("silent")),
                SendOptions::new().with_timeout(Duration::from_millis(300)),
            )
            .await
            .unwrap_err();
        assert!(matches!(error, CoreError::Timeout { .. }), "{error:?}");
        assert!(begun.elapsed() < Duration::from_secs(3));

        // Cancellation ends the wait before the deadline.
        let token = CancellationToken::new();
        let cancel = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            cancel.cancel();
        });
        let begun = Instant::now();
        let error = bridge
            .request(
                AnyMessage::new(ping("silent")),
                SendOptions::new()
                    .with_timeout(Duration::from_secs(60))
                    .with_cancellation(token),
            )
            .await
            .unwrap_err();
        assert!(matches!(error, CoreError::Cancelled), "{error:?}");
        assert!(begun.elapsed() < Duration::from_secs(5));

        // An answer that comes after the deadline is counted as late and changes nothing else.
        let error = bridge
            .request(AnyMessage::new(ping("slow")), SendOptions::new())
            .await
            .unwrap_err();
        assert!(matches!(error, CoreError::Timeout { .. }), "{error:?}");
        eventually(Duration::from_secs(30), Duration::from_millis(20), || async {
            bridge.stats().late_responses == 1
        })
        .await
        .unwrap();
        let answer = bridge
            .request(AnyMessage::new(ping("still here")), SendOptions::new())
            .await
            .unwrap();
        assert_eq!(answer.downcast::<Pong>().unwrap().content, "STILL HERE");

        let stats = bridge.stats();
        assert_eq!((stats.timeouts, stats.cancellations), (3, 1), "{stats:?}");
        assert_eq!(stats.responses_matched, 1, "{stats:?}");
        assert_eq!(bridge.pending(), 0);
        assert_eq!(service.seen().len(), 5);
        runtime.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_response_topic_does_not_break_the_bridge() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = bridge_config(&broker, "bridge-garbage").await;
        let _service = ExternalService::start(
            &broker,
            &config,
            Arc::new(|event| {
                let reply = if text(event) == "wrong shape" {
                    // An AgentEvent whose message is not a `Pong`.
                    let mut message = serde_json::Map::new();
                    message.insert("verdict".into(), true.into());
                    serde_json::to_vec(&AgentEvent::new(event.id.clone(), "Verdict", message))
                        .unwrap()
                } else {
                    pong_event(&event.id, &text(event).to_uppercase())
                };
                Some((Duration::ZERO, reply))
            }),
        );
        let bridge = bridge(&broker, &config).build_started().await.unwrap();
        let response_topic = &config.agent.response_topic;
        let garbage: [Option<&[u8]>; 6] = [
            Some(b"not json at all"),
            Some(b"\x00\x00\x00\x00\x01{broken"),
            Some(br#"{"id": 7}"#),
            Some(br#"{"id": "x", "message_type": "Pong", "message": "a string"}"#),
            Some(b""),
            None,
        ];
        for value in garbage {
            produce(&broker, response_topic, value).await;
        }
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async { bridge.stats().undecodable_responses == 6 },
        )
        .await
        .unwrap();

        let answer = bridge
            .request(AnyMessage::new(ping("fine")), SendOptions::new())
            .await
            .unwrap();
        assert_eq!(answer.downcast::<Pong>().unwrap().content, "FINE");
        // An answer of the wrong shape fails its request at once, with a typed error.
        let begun = Instant::now();
        let error = bridge
            .request(AnyMessage::new(ping("wrong shape")), SendOptions::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, CoreError::Deserialize { type_name, .. } if type_name == "Pong"),
            "{error:?}"
        );
        assert!(begun.elapsed() < bridge.request_timeout());
        let answer = bridge
            .request(AnyMessage::new(ping("after")), SendOptions::new())
            .await
            .unwrap();
        assert_eq!(answer.downcast::<Pong>().unwrap().content, "AFTER");
        let stats = bridge.stats();
        assert_eq!(stats.undecodable_responses, 6, "{stats:?}");
        assert_eq!(stats.responses_matched, 3, "{stats:?}");
        bridge.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_fails_pending_requests_with_a_typed_error() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = bridge_config(&broker, "bridge-close").await;
        let bridge = bridge(&broker, &config)
            .request_timeout(Duration::from_secs(60))
            .build_started()
            .await
            .unwrap();
        let waiting = bridge.clone();
        let request = tokio::spawn(async move {
            waiting
                .request(AnyMessage::new(ping("nobody answers")), SendOptions::new())
                .await
        });
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(10),
            || async { bridge.pending() == 1 && bridge.stats().requests_sent == 1 },
        )
        .await
        .unwrap();

        let begun = Instant::now();
        bridge.shutdown().await;
        let error = request.await.unwrap().unwrap_err();
        assert!(matches!(error, CoreError::RuntimeStopped), "{error:?}");
        assert!(begun.elapsed() < Duration::from_secs(15));
        assert!(bridge.is_closed());
        assert_eq!(
            bridge.stats().cancellations,
            0,
            "a close is not a cancellation"
        );
        let error = bridge
            .request(AnyMessage::new(ping("after close")), SendOptions::new())
            .await
            .unwrap_err();
        assert!(matches!(error, CoreError::RuntimeStopped), "{error:?}");
        // Closing again is harmless.
        bridge.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_framed_records_match_the_golden_vectors() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let mut config = bridge_config(&broker, "bridge-python").await;
        config.serialization.format = SerializationFormat::JsonSchema;
        config.kafka.schema_registry.url = registry.url().to_owned();
        config.validate().unwrap();

        // The service answers as a Python bridge would: the response vector (framed, schema id 1) with the id of
        // the request it answers.
        let response_vector = vector("streaming_agent_response");
        let service = ExternalService::start(
            &broker,
            &config,
            Arc::new(move |event| {
                let mut document: serde_json::Value =
                    serde_json::from_slice(&response_vector[5..]).unwrap();
                document["id"] = event.id.clone().into();
                let mut value = response_vector[..5].to_vec();
                value.extend(serde_json::to_vec(&document).unwrap());
                Some((Duration::ZERO, value))
            }),
        );
        let ping_schema = r#"{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]}"#;
        let bridge = bridge(&broker, &config)
            .request_message_schema(ping_schema)
            .response_message_schema(ping_schema)
            .build_started()
            .await
            .unwrap();
        let subjects = registry.subjects();
        for topic in [&config.agent.request_topic, &config.agent.response_topic] {
            assert!(subjects.contains(&format!("{topic}-value")), "{subjects:?}");
        }

        // The Python original's response, unchanged, is read (it answers nobody here: its id is not ours).
        produce(&broker, &config.agent.response_topic, Some(&vector("streaming_agent_response"))).await;
        eventually(Duration::from_secs(30), Duration::from_millis(20), || async {
            bridge.stats().foreign_responses == 1
        })
        .await
        .unwrap();

        let caller = AgentId::new("caller", "default").unwrap();
        let answer = bridge
            .request(
                AnyMessage::new(ping("hello")),
                SendOptions::new().with_sender(caller),
            )
            .await
            .unwrap();
        assert_eq!(answer.downcast::<Pong>().unwrap().content, "HELLO");

        // What the bridge wrote is the request vector but for the id: same key, framing and document.
        let seen = service.seen();
        assert_eq!(seen.len(), 1);
        let request_vector = vector("streaming_agent_request");
        assert_eq!(seen[0].key.as_deref(), Some("caller/default"));
        let frame = Frame::parse(&seen[0].value).unwrap();
        assert!(frame.schema_id.0 >= 1, "the id the registry assigned");
        let mut ours: serde_json::Value = serde_json::from_slice(frame.payload).unwrap();
        let upstream: serde_json::Value = serde_json::from_slice(&request_vector[5..]).unwrap();
        assert!(is_uuid4(ours["id"].as_str().unwrap()));
        ours["id"] = VECTOR_ID.into();
        assert_eq!(ours, upstream);
        assert_eq!(
            AgentEvent::from_json_value(ours).unwrap(),
            AgentEvent::from_json_value(upstream).unwrap()
        );
        assert_eq!(bridge.stats().undecodable_responses, 0);
        bridge.shutdown().await;
        drop(service);
        registry.shutdown().await;
    })
    .await
    .unwrap();
}

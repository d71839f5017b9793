//! Distributed tracing: every hop carries the W3C trace context, so a call chain across runtimes, a publication
//! and a Python-written request each form one trace with the right parents.

use autogen_kafka_integration_tests::{register_reader, subscribed_consumer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use autogen_kafka::events::{RequestEvent, ResponseEvent, WireEvent};
use autogen_kafka::{
    AgentId, AgentRuntime, AgentRuntimeExt, AnyMessage, PublishOptions, TopicId, TypeSubscription,
};
use autogen_kafka_integration_tests::{
    Deliveries, Hop, News, Trail, create_fleet_topics, produce_raw, register_echo, register_walker,
    worker, worker_config,
};
use autogen_kafka_testing::rdkafka::Message as _;
use autogen_kafka_testing::rdkafka::message::Headers as _;
use autogen_kafka_testing::{TestBroker, eventually, unique_topic};
use base64::Engine as _;
use opentelemetry::trace::{SpanId, SpanKind, TraceId, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::Instrument as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;

const TEST_TIMEOUT: Duration = Duration::from_secs(150);

/// A Python caller's trace context, as it would write it into the request's `metadata`.
const PYTHON_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PYTHON_SPAN_ID: &str = "00f067aa0ba902b7";
/// The trace of a Python publisher.
const PUBLISHER_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// Keeps every finished span of the process.
#[derive(Debug, Clone, Default)]
struct Collector(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collector {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(batch);
        Ok(())
    }
}

impl Collector {
    fn spans(&self) -> Vec<SpanData> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The process's span collector, installed as the global subscriber's OpenTelemetry layer on first use (nextest
/// runs each test in its own process; under `cargo test` the tests of this module share it and tell their spans
/// apart by trace id).
fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let collector = Collector::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(collector.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("traces-test"))
                // As `monitoring::init_tracing` does.
                .with_filter(LevelFilter::INFO),
        );
        // Another test of this binary may have installed a subscriber first: then this one is not used, and the
        // assertions fail loudly (no spans).
        let _installed = tracing::subscriber::set_global_default(subscriber);
        collector
    })
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// The one span named `name` whose `agent_id` attribute is `agent_id`, in trace `trace`.
fn span_of(spans: &[SpanData], trace: TraceId, name: &str, agent_id: &str) -> SpanData {
    let found: Vec<&SpanData> = spans
        .iter()
        .filter(|s| {
            s.span_context.trace_id() == trace
                && s.name == name
                && attribute(s, "agent_id").as_deref() == Some(agent_id)
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {name} span for {agent_id} in trace {trace}: {:#?}",
        names(spans, trace)
    );
    found[0].clone()
}

/// Whether `ancestor` is `span`'s parent, grandparent, … in `spans`.
fn descends_from(spans: &[SpanData], span: &SpanData, ancestor: SpanId) -> bool {
    let by_id: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    let mut parent = span.parent_span_id;
    for _ in 0..64 {
        if parent == ancestor {
            return true;
        }
        match by_id.get(&parent) {
            Some(next) => parent = next.parent_span_id,
            None => return false,
        }
    }
    false
}

/// The spans of `trace` as `name agent_id`, for failure messages.
fn names(spans: &[SpanData], trace: TraceId) -> Vec<String> {
    spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .map(|s| {
            format!(
                "{} {}",
                s.name,
                attribute(s, "agent_id").unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_chain_and_a_publication_across_runtimes_are_each_one_trace() {
    let collector = collector();
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = worker_config(&broker, &unique_topic("traces"));
        create_fleet_topics(&broker, &config, 3).await;
        let alpha = worker(&broker, config.clone(), "alpha");
        let beta = worker(&broker, config.clone(), "beta");
        register_walker(&alpha, "walk_a").await;
        register_walker(&beta, "walk_b").await;
        let seen: Deliveries = Arc::new(Mutex::new(Vec::new()));
        register_reader(&alpha, "reader", &seen).await;
        let (a, b) = tokio::join!(alpha.start(), beta.start());
        a.unwrap();
        b.unwrap();
        let subscription = TypeSubscription::new("news", "reader").unwrap();
        let subscription_id = subscription.id().to_owned();
        alpha.add_subscription(subscription.into()).await.unwrap();
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async { beta.knows_subscription(&subscription_id) && beta.is_hosted("reader") },
        )
        .await
        .unwrap();

        // beta's caller → walk_a/k on alpha → walk_b/k on beta.
        let root = tracing::info_span!("test.chain");
        let trail: Trail = beta
            .send(
                Hop {
                    path: vec!["walk_b/k".to_owned()],
                },
                &AgentId::new("walk_a", "k").unwrap(),
            )
            .instrument(root.clone())
            .await
            .unwrap();
        assert_eq!(trail.chain, ["walk_a/k"]);
        let chain_trace = root.in_scope(|| {
            autogen_kafka::monitoring::current_trace_context()
                .expect("the root span has a trace context")
        });
        let chain_trace = TraceId::from_hex(chain_trace.trace_id()).unwrap();

        // A publication from beta reaches reader/s on alpha in the publisher's trace.
        let publish = tracing::info_span!("test.publish");
        beta.publish_message(
            AnyMessage::new(News {
                headline: "traced".into(),
            }),
            TopicId::new("news", "s").unwrap(),
            PublishOptions::new(),
        )
        .instrument(publish.clone())
        .await
        .unwrap();
        let publish_trace = publish.in_scope(|| {
            autogen_kafka::monitoring::current_trace_context()
                .expect("the root span has a trace context")
        });
        let publish_trace = TraceId::from_hex(publish_trace.trace_id()).unwrap();
        drop((root, publish));

        // Spans end (and are exported) when their work is done: the handlers' a little after the answers left.
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async {
                let spans = collector.spans();
                let handled = |trace, agent_id: &str| {
                    spans.iter().any(|s| {
                        s.span_context.trace_id() == trace
                            && s.name == "kafka.handle"
                            && attribute(s, "agent_id").as_deref() == Some(agent_id)
                    })
                };
                handled(chain_trace, "walk_a/k")
                    && handled(chain_trace, "walk_b/k")
                    && handled(publish_trace, "reader/s")
                    && spans.iter().any(|s| s.name == "test.chain")
                    && spans.iter().any(|s| s.name == "test.publish")
            },
        )
        .await
        .unwrap_or_else(|_| {
            let spans = collector.spans();
            panic!(
                "chain: {:#?}\npublication: {:#?}",
                names(&spans, chain_trace),
                names(&spans, publish_trace)
            )
        });
        let spans = collector.spans();

        let chain_root = spans.iter().find(|s| s.name == "test.chain").unwrap();
        assert_eq!(chain_root.span_context.trace_id(), chain_trace);
        assert_eq!(
            chain_root.parent_span_id,
            SpanId::INVALID,
            "the test's span is the root"
        );
        let send_a = span_of(&spans, chain_trace, "kafka.send", "walk_a/k");
        let handle_a = span_of(&spans, chain_trace, "kafka.handle", "walk_a/k");
        let send_b = span_of(&spans, chain_trace, "kafka.send", "walk_b/k");
        let handle_b = span_of(&spans, chain_trace, "kafka.handle", "walk_b/k");
        assert_eq!(send_a.parent_span_id, chain_root.span_context.span_id());
        assert_eq!(send_a.span_kind, SpanKind::Client);
        assert_eq!(handle_a.span_kind, SpanKind::Server);
        assert_eq!(
            handle_a.parent_span_id,
            send_a.span_context.span_id(),
            "alpha's handler continues beta's send across Kafka"
        );
        assert!(
            descends_from(&spans, &send_b, handle_a.span_context.span_id()),
            "walk_a's own call runs inside its handler's span"
        );
        assert_eq!(
            handle_b.parent_span_id,
            send_b.span_context.span_id(),
            "beta's handler continues alpha's send"
        );
        assert_eq!(attribute(&handle_b, "outcome").as_deref(), Some("ok"));
        assert_eq!(attribute(&send_a, "outcome").as_deref(), Some("ok"));
        assert!(
            attribute(&send_a, "topic").is_some_and(|topic| topic.ends_with(".requests"))
                && attribute(&send_a, "partition").is_some()
                && attribute(&send_a, "offset").is_some(),
            "the client span names where its request went: {:?}",
            send_a.attributes
        );

        let publish_root = spans.iter().find(|s| s.name == "test.publish").unwrap();
        let delivered = span_of(&spans, publish_trace, "kafka.handle", "reader/s");
        assert_eq!(delivered.span_kind, SpanKind::Consumer);
        assert!(
            descends_from(&spans, &delivered, publish_root.span_context.span_id()),
            "the delivery continues the publisher's trace"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);

        alpha.stop().await.unwrap();
        beta.stop().await.unwrap();
    })
    .await
    .unwrap();
}

/// The path of a golden vector.
fn golden(name: &str) -> String {
    format!(
        "{}/../crates/autogen-kafka-events/tests/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The golden Python request (`request_send_message`) as JSON, with `metadata` set to `metadata`.
fn python_request(request_id: &str, metadata: serde_json::Value) -> Vec<u8> {
    let path = golden("request_send_message.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut request: serde_json::Value =
        serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    request["request_id"] = request_id.into();
    request["metadata"] = metadata;
    if let Err(error) = RequestEvent::from_json_value(request.clone()) {
        panic!("not a request: {error}");
    }
    serde_json::to_vec(&request).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_requests_and_publications_continue_their_trace_and_one_without_context_starts_a_new_one()
 {
    let collector = collector();
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = worker_config(&broker, &unique_topic("py-traces"));
        create_fleet_topics(&broker, &config, 3).await;
        let host = worker(&broker, config.clone(), "host");
        register_echo(&host, "echo", "rust").await;
        let seen: Deliveries = Arc::new(Mutex::new(Vec::new()));
        register_reader(&host, "reader", &seen).await;
        host.start().await.unwrap();
        let subscription = TypeSubscription::new("news", "reader").unwrap();
        host.add_subscription(subscription.into()).await.unwrap();
        let responses =
            subscribed_consumer(&broker, "py-reader", &config.runtime.runtime_responses);

        let traceparent = format!("00-{PYTHON_TRACE_ID}-{PYTHON_SPAN_ID}-01");
        let traced = python_request(
            "00000000-0000-4000-8000-0000000000a1",
            serde_json::json!({"traceparent": traceparent, "tracestate": "py=1"}),
        );
        let untraced = python_request(
            "00000000-0000-4000-8000-0000000000a2",
            serde_json::json!({}),
        );
        let requests = &config.runtime.runtime_requests;
        produce_raw(&broker, requests, "echo/default", &traced).await;
        produce_raw(&broker, requests, "echo/default", &untraced).await;

        // The answers carry the handler's context in `metadata` (for Python) and in headers.
        let mut answers = HashMap::new();
        while answers.len() < 2 {
            let message = tokio::time::timeout(Duration::from_secs(60), responses.recv())
                .await
                .unwrap()
                .unwrap();
            let response = ResponseEvent::from_json_value(
                serde_json::from_slice(message.payload().unwrap()).unwrap(),
            )
            .unwrap();
            let header = message.headers().and_then(|headers| {
                headers
                    .iter()
                    .find(|h| h.key == "traceparent")
                    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
            });
            answers.insert(response.request_id.clone().unwrap(), (response, header));
        }
        let (answer, header) = &answers["00000000-0000-4000-8000-0000000000a1"];
        let metadata_parent = answer.metadata["traceparent"].as_str().unwrap();
        assert!(
            metadata_parent.contains(PYTHON_TRACE_ID),
            "{metadata_parent}"
        );
        assert!(
            !metadata_parent.contains(PYTHON_SPAN_ID),
            "the answer names the handler's span"
        );
        assert_eq!(answer.metadata["tracestate"], "py=1");
        assert_eq!(header.as_deref(), Some(metadata_parent));
        let (fresh, _) = &answers["00000000-0000-4000-8000-0000000000a2"];
        let fresh_parent = fresh.metadata["traceparent"].as_str().unwrap().to_owned();
        assert!(!fresh_parent.contains(PYTHON_TRACE_ID));

        // A Python publication carries its context as the CloudEvents tracing extension.
        let mut publication: serde_json::Value =
            serde_json::from_slice(&std::fs::read(golden("publish_cloudevent.json")).unwrap())
                .unwrap();
        publication["dataschema"] = "News".into();
        publication["data_base64"] = base64::engine::general_purpose::STANDARD
            .encode(br#"{"headline": "from python"}"#)
            .into();
        publication["traceparent"] = format!("00-{PUBLISHER_TRACE_ID}-{PYTHON_SPAN_ID}-01").into();
        produce_raw(
            &broker,
            &config.runtime.publish_topic,
            "news/default",
            &serde_json::to_vec(&publication).unwrap(),
        )
        .await;

        let python_trace = TraceId::from_hex(PYTHON_TRACE_ID).unwrap();
        let publisher_trace = TraceId::from_hex(PUBLISHER_TRACE_ID).unwrap();
        let fresh_trace = TraceId::from_hex(fresh_parent.split('-').nth(1).unwrap()).unwrap();
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async {
                let spans = collector.spans();
                [python_trace, fresh_trace, publisher_trace]
                    .iter()
                    .all(|trace| {
                        spans.iter().any(|s| {
                            s.span_context.trace_id() == *trace && s.name == "kafka.handle"
                        })
                    })
            },
        )
        .await
        .unwrap();
        let spans = collector.spans();
        let continued = span_of(&spans, python_trace, "kafka.handle", "echo/default");
        assert_eq!(
            continued.parent_span_id,
            SpanId::from_hex(PYTHON_SPAN_ID).unwrap(),
            "the handler's parent is the Python caller's span"
        );
        assert!(continued.parent_span_is_remote);
        let started = span_of(&spans, fresh_trace, "kafka.handle", "echo/default");
        assert_eq!(
            started.parent_span_id,
            SpanId::INVALID,
            "a request without context starts a new trace"
        );
        let route = spans
            .iter()
            .find(|s| s.span_context.trace_id() == publisher_trace && s.name == "kafka.route")
            .expect("the router's span continues the publisher's trace");
        assert_eq!(
            route.parent_span_id,
            SpanId::from_hex(PYTHON_SPAN_ID).unwrap()
        );
        let delivered = span_of(&spans, publisher_trace, "kafka.handle", "reader/default");
        assert!(descends_from(
            &spans,
            &delivered,
            route.span_context.span_id()
        ));
        assert_eq!(seen.lock().unwrap().len(), 1);
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

//! Kafka Bridge (usage pattern 2): agents of a runtime talk to an external service that only speaks Kafka.
//!
//! Run it with `cargo run --example bridge`. It needs nothing installed: it starts librdkafka's in-process mock
//! cluster as an embedded broker (set `KAFKA_BOOTSTRAP_SERVERS=host:port` to use your own Kafka instead).
//!
//! The "external service" here is a plain Kafka consumer and producer in this process, standing in for a Flink
//! job or any other stream processor: it reads `AgentEvent`s (`{"id", "message_type", "message"}`) from
//! `agent_request`, adds the numbers, and writes an `AgentEvent` with the same `id` to `agent_response`. The
//! agents never see Kafka: they send an `Add` to the `calculator` agent, a `KafkaStreamingAgent`, and get a `Sum`.
//!
//! What it shows, and the guarantee behind each step:
//! 1. An agent asks the bridge and gets a typed answer; the request record is keyed by the sender's agent id.
//! 2. A message without a sender is keyed `"None"`, as the Python original writes it.
//! 3. When the service does not answer, the request fails with a typed `Timeout` at the bridge's deadline; it
//!    never hangs (the Python original waits forever).
//! 4. Garbage on the response topic is logged, counted and skipped; the bridge keeps answering.
//! 5. Stopping the runtime closes the bridge: its reader stops and its producer is flushed.
#![expect(clippy::print_stdout, reason = "an example prints what it does")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use autogen_kafka::admin::CreateMode;
use autogen_kafka::core::{AgentFactory, CoreError};
use autogen_kafka::events::{AgentEvent, Format};
use autogen_kafka::runtime::KafkaStreamingAgent;
use autogen_kafka::services::EventCodecs;
use autogen_kafka::{
    Agent, AgentId, AgentRuntimeExt, AgentType, Handler, HandlerError, MessageContext, RoutedAgent,
};
use autogen_kafka_examples::{Add, Sum, broker, config, runtime};
use autogen_kafka_testing::rdkafka::consumer::{Consumer, StreamConsumer};
use autogen_kafka_testing::rdkafka::producer::{FutureProducer, FutureRecord};
use autogen_kafka_testing::rdkafka::{Message as _, Offset, TopicPartitionList};
use autogen_kafka_testing::{BrokerKind, TestBroker, unique_group};

/// An agent of the runtime that needs sums; it asks the `calculator` bridge.
struct Accountant;

impl Handler<Add> for Accountant {
    type Response = Sum;

    async fn handle(&mut self, add: Add, ctx: &MessageContext) -> Result<Sum, HandlerError> {
        let calculator = AgentId::new("calculator", "default")?;
        Ok(ctx.send::<Add, Sum>(add, &calculator).await?)
    }
}

/// The external service: reads every request, answers `a + b` with the request's `id`, and stays silent when
/// asked to add 0 and 0 (to show the deadline).
fn spawn_external_service(
    broker: &TestBroker,
    request_topic: &str,
    response_topic: &str,
) -> Result<tokio::task::JoinHandle<()>, Box<dyn std::error::Error>> {
    // It reads every partition from the beginning, without a consumer group (a group join takes seconds).
    let consumer: StreamConsumer = broker
        .consumer_config(&unique_group("external-calculator"))
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(request_topic), Duration::from_secs(10))?;
    let mut partitions = TopicPartitionList::new();
    for topic in metadata.topics() {
        for partition in topic.partitions() {
            partitions.add_partition_offset(request_topic, partition.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&partitions)?;
    let producer: FutureProducer = broker.producer_config().create()?;
    let response_topic = response_topic.to_owned();
    Ok(tokio::spawn(async move {
        let codecs = EventCodecs::new(Format::Json);
        while let Ok(record) = consumer.recv().await {
            let Some(value) = record.payload() else {
                continue;
            };
            let key = record
                .key()
                .map(|key| String::from_utf8_lossy(key).into_owned());
            let event: AgentEvent = match codecs.decode(record.topic(), value) {
                Ok(event) => event,
                Err(error) => {
                    println!("   [service] skipped a record that is not an AgentEvent: {error}");
                    continue;
                }
            };
            let operand = |name: &str| {
                event
                    .message
                    .get(name)
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0)
            };
            let (a, b) = (operand("a"), operand("b"));
            println!(
                "   [service] read {} {:?} key={} id={}",
                event.message_type,
                (a, b),
                key.as_deref().unwrap_or("<none>"),
                event.id
            );
            if (a, b) == (0, 0) {
                println!("   [service] ... and does not answer it");
                continue;
            }
            // Any producer in any language could write this: the same id, any message_type.
            let answer = format!(
                r#"{{"id": "{}", "message_type": "Sum", "message": {{"value": {}}}}}"#,
                event.id,
                a.saturating_add(b)
            );
            let mut reply = FutureRecord::<str, str>::to(&response_topic).payload(&answer);
            if let Some(key) = key.as_deref() {
                reply = reply.key(key);
            }
            if let Err((error, _)) = producer.send(reply, Duration::from_secs(5)).await {
                println!("   [service] could not answer: {error}");
            }
        }
    }))
}

/// A factory of accountants, local to the runtime.
fn accountants() -> AgentFactory {
    Arc::new(|_id, _runtime| {
        let agent: Box<dyn Agent> = Box::new(RoutedAgent::new(Accountant).with_handler::<Add>());
        Box::pin(std::future::ready(Ok(agent)))
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    autogen_kafka_examples::init_logging("error");
    let started = Instant::now();
    let broker = broker().await?;
    println!(
        "broker: {:?} at {}",
        broker.kind(),
        broker.bootstrap_servers()
    );
    let mut config = config(broker.bootstrap_servers(), broker.kind(), "bridge-example")?;
    config.agent.request_timeout = Duration::from_secs(2);
    let (request_topic, response_topic) = (
        config.agent.request_topic.clone(),
        config.agent.response_topic.clone(),
    );
    for topic in [&request_topic, &response_topic] {
        broker.create_topic(topic, 3).await?;
    }
    let service = spawn_external_service(&broker, &request_topic, &response_topic)?;

    // The runtime hosts the accountant and the bridge, both as local agents.
    let host = runtime(config.clone(), broker.kind(), "bridge-host")?;
    let mode = match broker.kind() {
        BrokerKind::Mock => CreateMode::AutoCreate,
        _ => CreateMode::Admin,
    };
    let calculator =
        KafkaStreamingAgent::builder(&config, "Bridge to the external calculator service")
            .response_type::<Sum>()
            .topic_creation(mode);
    host.register_local_factory(AgentType::new("calculator")?, calculator.into_factory())
        .await?;
    host.register_local_factory(AgentType::new("accountant")?, accountants())
        .await?;
    host.start().await?;
    println!(
        "0. runtime ready after {:.1?}; requests go to {request_topic}, answers come from {response_topic}",
        started.elapsed()
    );

    // 1. An agent asks the bridge.
    let accountant = AgentId::new("accountant", "default")?;
    let sum: Sum = host.send(Add { a: 2, b: 40 }, &accountant).await?;
    println!(
        "1. accountant/default asked the calculator bridge: 2 + 40 = {}",
        sum.value
    );

    // 2. No sender.
    let calculator = AgentId::new("calculator", "default")?;
    let sum: Sum = host.send(Add { a: 7, b: 8 }, &calculator).await?;
    println!(
        "2. code outside any agent asked directly: 7 + 8 = {} (key \"None\")",
        sum.value
    );

    // 3. No answer: a typed Timeout at the deadline.
    let begun = Instant::now();
    match host.send::<Add, Sum>(Add { a: 0, b: 0 }, &calculator).await {
        Err(error) => {
            let timed_out = matches!(
                &error,
                CoreError::Handler { source, .. }
                    if matches!(source.downcast_ref::<CoreError>(), Some(CoreError::Timeout { .. }))
            );
            println!(
                "3. no answer: failed after {:.1?} (timeout: {timed_out}): {}",
                begun.elapsed(),
                autogen_kafka_examples::error_chain(&error)
            );
        }
        Ok(sum) => println!("3. unexpected answer: {}", sum.value),
    }

    // 4. Garbage on the response topic.
    let producer: FutureProducer = broker.producer_config().create()?;
    for garbage in ["not json", r#"{"id": 42}"#] {
        let record = FutureRecord::<str, str>::to(&response_topic)
            .key("garbage")
            .payload(garbage);
        producer
            .send(record, Duration::from_secs(5))
            .await
            .map_err(|(error, _)| error)?;
    }
    let sum: Sum = host.send(Add { a: 1, b: 1 }, &accountant).await?;
    println!(
        "4. two garbage records written to {response_topic}; the bridge still answers: 1 + 1 = {}",
        sum.value
    );
    // The bridge reads the whole response topic; wait until it has passed over both records.
    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = host
            .with_agent(&calculator, |bridge: &mut KafkaStreamingAgent| {
                bridge.stats()
            })
            .await?;
        if stats.undecodable_responses >= 2 || Instant::now() >= deadline {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "   bridge stats: {} sent, {} answered, {} timed out, {} undecodable records skipped",
        stats.requests_sent, stats.responses_matched, stats.timeouts, stats.undecodable_responses
    );

    // 5. Stop.
    host.stop().await?;
    service.abort();
    // Drop every Kafka client before the embedded broker goes away.
    let _aborted = service.await;
    drop((host, producer));
    broker.shutdown().await?;
    println!(
        "5. runtime stopped (the bridge closed with it); total {:.1?}",
        started.elapsed()
    );
    Ok(())
}

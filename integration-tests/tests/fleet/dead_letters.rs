//! Bad records go to the dead-letter topic with the reason; good records keep flowing; a restart resumes from
//! the committed offsets without handling anything twice.

use autogen_kafka_integration_tests::subscribed_consumer;
use std::time::Duration;

use autogen_kafka::{AgentId, AgentRuntimeExt, Error, ErrorKind, Message};
use autogen_kafka_integration_tests::{
    Add, Ping, Pong, Total, counter_worker, create_fleet_topics, echo_pair, metric_series,
    metric_value, worker, worker_config,
};
use autogen_kafka_testing::rdkafka::Message as _;
use autogen_kafka_testing::rdkafka::message::Headers;
use autogen_kafka_testing::rdkafka::producer::{FutureProducer, FutureRecord};
use autogen_kafka_testing::{TestBroker, eventually, unique_topic};
use serde::{Deserialize, Serialize};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);

/// A message type the echo agent has no handler for.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Unknown {
    x: u8,
}
impl Message for Unknown {
    const TYPE_NAME: &'static str = "Unknown";
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_are_dead_lettered_and_good_records_keep_flowing() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let (config, caller, host) = echo_pair(&broker, "dlq").await;
        let echo = AgentId::new("echo", "k").unwrap();

        // 1. Bytes that are no event at all, written straight to the request topic.
        let producer: FutureProducer = broker.producer_config().create().unwrap();
        producer
            .send(
                FutureRecord::to(&config.runtime.runtime_requests).key("echo/k").payload(&b"\x00\x00garbage"[..]),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        // 2. A type the agent does not handle: the caller gets a typed error.
        let error = caller.send::<Unknown, Pong>(Unknown { x: 1 }, &echo).await.unwrap_err();
        assert!(
            matches!(error, autogen_kafka::core::CoreError::UnhandledMessageType { ref type_name, .. } if type_name == "Unknown"),
            "{error:?}"
        );
        // 3. A handler error: the caller gets it, the record is dead-lettered too.
        let error = caller.send::<Ping, Pong>(Ping { content: "fail".into() }, &echo).await.unwrap_err();
        assert_eq!(Error::from(error).kind(), ErrorKind::Agent);
        // Good records still flow.
        for i in 0..5 {
            let pong: Pong = caller.send(Ping { content: format!("ok{i}") }, &echo).await.unwrap();
            assert_eq!(pong.content, format!("ok{i} from echo/k on host"));
        }

        // The dead-letter topic holds the three bad records with their reasons and coordinates.
        let consumer = subscribed_consumer(&broker, "dlq-reader", &config.runtime.dead_letter_topic);
        let mut kinds = Vec::new();
        while kinds.len() < 3 {
            let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await.unwrap().unwrap();
            let headers = message.headers().unwrap();
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default()
            };
            assert_eq!(header("ak_dlq_source_topic"), config.runtime.runtime_requests);
            assert!(header("ak_dlq_source_offset").parse::<i64>().is_ok());
            assert!(!header("ak_dlq_reason").is_empty());
            assert_eq!(message.key(), Some(&b"echo/k"[..]));
            kinds.push(header("ak_dlq_kind"));
        }
        kinds.sort();
        assert_eq!(kinds, vec!["decode", "handler", "unhandled_type"]);

        // The host's metrics count the dead letters by reason and the records consumed, and export the lag of
        // each request partition, which falls to zero once everything is handled and committed.
        let requests = config.runtime.runtime_requests.as_str();
        eventually(Duration::from_secs(30), Duration::from_millis(100), || async {
            let text = host.metrics().encode_text().unwrap();
            let dead = |reason: &str| {
                metric_value(&text, "autogen_kafka_dead_letters_total", &[("topic", requests), ("reason", reason)])
            };
            let lags = metric_series(&text, "autogen_kafka_consumer_lag", &[("topic", requests)]);
            dead("decode") == Some(1.0)
                && dead("handler") == Some(1.0)
                && dead("unhandled_type") == Some(1.0)
                && metric_value(&text, "autogen_kafka_messages_total", &[("topic", requests), ("direction", "consumed")])
                    .is_some_and(|n| n >= 5.0)
                && metric_value(&text, "autogen_kafka_rebalances_total", &[("event", "assigned")]).is_some_and(|n| n >= 1.0)
                && lags.len() == 3
                && lags.iter().all(|(_, lag)| *lag == 0.0)
        })
        .await
        .unwrap_or_else(|_| panic!("metrics: {}", host.metrics().encode_text().unwrap()));

        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_replica_resumes_from_committed_offsets_without_handling_twice() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("restart");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, 3).await;
        let caller = worker(&broker, config.clone(), "caller");
        let first = counter_worker(&broker, config.clone(), "first").await;
        let (a, b) = tokio::join!(caller.start(), first.start());
        a.unwrap();
        b.unwrap();
        let keys: Vec<AgentId> = (0..10)
            .map(|i| AgentId::new("counter", format!("k{i}")).unwrap())
            .collect();
        for key in &keys {
            let total: Total = caller.send(Add { by: 1 }, key).await.unwrap();
            assert_eq!(total.total, 1);
        }
        first.stop().await.unwrap();

        // The same group again, in a new runtime instance: it must not handle the first ten requests again.
        let second = counter_worker(&broker, config.clone(), "second").await;
        second.start().await.unwrap();
        for key in &keys {
            let total: Total = caller.send(Add { by: 1 }, key).await.unwrap();
            assert_eq!(total.runtime, "second");
            assert_eq!(
                total.total, 2,
                "{key}: a request before the restart was handled again"
            );
        }
        caller.stop().await.unwrap();
        second.stop().await.unwrap();
    })
    .await
    .unwrap();
}

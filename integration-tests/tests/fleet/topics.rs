//! The fleet's topics on a fresh broker: created by the runtime with the configured partitions, never by a
//! client's metadata request with the broker's defaults.

use std::time::Duration;

use autogen_kafka_integration_tests::{register_echo, worker, worker_config};
use autogen_kafka_testing::rdkafka::consumer::{BaseConsumer, Consumer};
use autogen_kafka_testing::{BrokerKind, TestBroker, unique_group, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// On a broker that auto-creates topics (Tansu does, with 4 partitions), `kafka.num_partitions = 6` gives 6: the
/// start-up's connection probe used to let the broker create the request topic first, and the start then failed
/// with a partition mismatch. librdkafka's mock cluster has no Admin API (its topics always get its own partition
/// count, see the admin crate's auto-create tests), so the check runs on Tansu and external brokers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_broker_gets_the_configured_partition_count() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        if broker.kind() == BrokerKind::Mock {
            eprintln!(
                "the mock cluster cannot create topics through the Admin API: checked on Tansu"
            );
            return;
        }
        let mut config = worker_config(&broker, &unique_topic("fresh"));
        config.kafka.num_partitions = 6;
        let host = worker(&broker, config.clone(), "host");
        register_echo(&host, "echo", "host").await;
        host.start().await.unwrap();
        let reader: BaseConsumer = broker
            .consumer_config(&unique_group("fresh-metadata"))
            .create()
            .unwrap();
        for topic in [
            &config.runtime.runtime_requests,
            &config.runtime.runtime_responses,
            &config.runtime.registry_topic,
            &config.runtime.state_topic,
        ] {
            let metadata = reader
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .unwrap();
            let partitions = metadata
                .topics()
                .first()
                .map_or(0, |t| t.partitions().len());
            assert_eq!(partitions, 6, "{topic}");
        }
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

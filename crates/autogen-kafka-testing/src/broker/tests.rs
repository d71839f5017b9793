//! Tests of the broker fixture against real brokers: the in-process mock cluster and a Tansu
//! child process. The Tansu tests fail (never skip) when the binary is missing.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::*;
use crate::{eventually, unique_group, unique_topic};

/// Runs a test body under a deadline, so a hung broker fails the test instead of the CI job.
async fn within<F: Future>(seconds: u64, body: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(seconds), body)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {seconds} s"))
}

/// A Tansu broker, or a failure telling the developer how to install it.
async fn tansu() -> TestBroker {
    TestBroker::tansu()
        .await
        .unwrap_or_else(|error| panic!("{error}"))
}

/// The headers every round trip sends: a duplicate key and a null value included.
fn sample_headers() -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: "traceparent",
            value: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        })
        .insert(Header {
            key: "dup",
            value: Some("1"),
        })
        .insert(Header {
            key: "dup",
            value: Some("2"),
        })
        .insert(Header::<&str> {
            key: "null",
            value: None,
        })
}

/// Produces one record with key, headers and timestamp, reads it back from partition 0 and
/// checks every part survived.
async fn assert_round_trip(broker: &TestBroker, test_name: &str) {
    let topic = unique_topic(test_name);
    broker.create_topic(&topic, 1).await.expect("create topic");

    let producer: FutureProducer = broker.producer_config().create().expect("producer");
    let timestamp = 1_700_000_000_123;
    let record = FutureRecord::to(&topic)
        .partition(0)
        .key("key-1")
        .payload("payload-1")
        .timestamp(timestamp)
        .headers(sample_headers());
    let delivery = producer
        .send(record, Duration::from_secs(5))
        .await
        .expect("delivery");
    assert_eq!(delivery.partition, 0);

    let consumer: StreamConsumer = broker
        .consumer_config(&unique_group(test_name))
        .create()
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .expect("partition list");
    consumer.assign(&partitions).expect("assign");
    let message = consumer.recv().await.expect("record");

    assert_eq!(message.topic(), topic);
    assert_eq!(message.offset(), delivery.offset);
    assert_eq!(message.key(), Some(&b"key-1"[..]));
    assert_eq!(message.payload(), Some(&b"payload-1"[..]));
    assert_eq!(message.timestamp().to_millis(), Some(timestamp));
    let headers: Vec<(String, Option<Vec<u8>>)> = message
        .headers()
        .expect("headers")
        .iter()
        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
        .collect();
    assert_eq!(
        headers,
        vec![
            (
                "traceparent".to_owned(),
                Some(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_vec())
            ),
            ("dup".to_owned(), Some(b"1".to_vec())),
            ("dup".to_owned(), Some(b"2".to_vec())),
            ("null".to_owned(), None),
        ]
    );
}

/// Subscribes one consumer to a fresh 3-partition topic, measures the time until it owns all
/// partitions, then checks a record produced afterwards reaches it.
async fn first_assignment(broker: &TestBroker, test_name: &str, bound: Duration) -> Duration {
    let topic = unique_topic(test_name);
    broker.create_topic(&topic, 3).await.expect("create topic");
    let consumer: Arc<StreamConsumer> = Arc::new(
        broker
            .consumer_config(&unique_group(test_name))
            .create()
            .expect("consumer"),
    );
    let (records, mut received) = mpsc::channel::<OwnedMessage>(16);
    let started = Instant::now();
    consumer.subscribe(&[&topic]).expect("subscribe");

    // The rebalance callback runs while the consumer is polled: keep it polled.
    let polling = Arc::clone(&consumer);
    let driver = tokio::spawn(async move {
        loop {
            let record = polling.recv().await.map(|m| m.detach());
            if let Ok(record) = record
                && records.send(record).await.is_err()
            {
                break;
            }
        }
    });

    eventually(bound, Duration::from_millis(20), || async {
        consumer
            .assignment()
            .is_ok_and(|assignment| assignment.count() == 3)
    })
    .await
    .unwrap_or_else(|error| panic!("{} broker: no assignment: {error}", broker.kind()));
    let elapsed = started.elapsed();

    let producer: FutureProducer = broker.producer_config().create().expect("producer");
    producer
        .send(
            FutureRecord::to(&topic).key("k").payload("after-join"),
            Duration::from_secs(5),
        )
        .await
        .expect("delivery");
    let record = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("record within 10 s")
        .expect("driver alive");
    assert_eq!(record.payload(), Some(&b"after-join"[..]));

    driver.abort();
    let _ = driver.await;
    elapsed
}

/// Drops the broker while a group consumer that has offsets to commit is still alive, then
/// checks that dropping the consumer (which commits and leaves the group) does not stall.
async fn assert_consumer_closes_after_broker_drop(broker: TestBroker, test_name: &str) {
    let topic = unique_topic(test_name);
    broker.create_topic(&topic, 1).await.expect("create topic");
    let producer: FutureProducer = broker.producer_config().create().expect("producer");
    producer
        .send(
            FutureRecord::to(&topic).key("k").payload("v"),
            Duration::from_secs(5),
        )
        .await
        .expect("delivery");
    drop(producer);
    let consumer: StreamConsumer = broker
        .consumer_config(&unique_group(test_name))
        .set("auto.commit.interval.ms", "60000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let record = tokio::time::timeout(Duration::from_secs(15), consumer.recv())
        .await
        .expect("record within 15 s")
        .map(|m| m.detach())
        .expect("record");
    assert_eq!(record.payload(), Some(&b"v"[..]));

    drop(broker);
    // Clients often go a moment later (tasks cancelled at runtime shutdown, say).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    tokio::task::spawn_blocking(move || drop(consumer))
        .await
        .expect("drop consumer");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "consumer close took {took:?}"
    );
}

/// The topic's partition count as the broker reports it, if the topic exists.
fn partition_count(broker: &TestBroker, topic: &str) -> Option<usize> {
    let producer: FutureProducer = broker.producer_config().create().expect("producer");
    let metadata = producer
        .client()
        .fetch_metadata(None, Duration::from_secs(5))
        .expect("metadata");
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
}

mod selection {
    use super::*;

    fn os(value: &str) -> Option<OsString> {
        Some(OsString::from(value))
    }

    #[test]
    fn bootstrap_servers_win_over_everything() {
        assert_eq!(
            select(os(" kafka:9092 "), os("tansu")).expect("valid"),
            Selection::External("kafka:9092".to_owned())
        );
    }

    #[test]
    fn empty_bootstrap_servers_are_ignored() {
        assert_eq!(
            select(os(""), os("tansu")).expect("valid"),
            Selection::Tansu
        );
    }

    #[test]
    fn mock_is_the_default() {
        assert_eq!(select(None, None).expect("valid"), Selection::Mock);
        assert_eq!(select(None, os("")).expect("valid"), Selection::Mock);
        assert_eq!(select(None, os("Mock")).expect("valid"), Selection::Mock);
    }

    #[test]
    fn tansu_is_chosen_by_name() {
        assert_eq!(
            select(None, os(" TANSU ")).expect("valid"),
            Selection::Tansu
        );
    }

    #[test]
    fn unknown_kind_is_an_error_naming_the_value() {
        let error = select(None, os("redpanda")).expect_err("unknown kind");
        assert!(matches!(&error, TestingError::SelectBroker { value } if value == "redpanda"));
        assert!(
            error.to_string().contains("AUTOGEN_KAFKA_TEST_BROKER"),
            "{error}"
        );
    }
}

mod external {
    use super::*;

    #[test]
    fn uses_the_given_address_as_is() {
        let broker = TestBroker::external("kafka-1:9092,kafka-2:9092");
        assert_eq!(broker.kind(), BrokerKind::External);
        assert_eq!(broker.bootstrap_servers(), "kafka-1:9092,kafka-2:9092");
        assert_eq!(
            broker.client_config().get("bootstrap.servers"),
            Some("kafka-1:9092,kafka-2:9092")
        );
        assert!(broker.mock_cluster().is_none());
        assert!(broker.tansu_log().is_none());
    }

    #[test]
    fn gets_settings_a_default_kafka_accepts() {
        let config = TestBroker::external("kafka:9092").consumer_config("g");
        assert_eq!(config.get("session.timeout.ms"), Some("6000"));
        assert_eq!(config.get("heartbeat.interval.ms"), Some("500"));
        assert_eq!(config.get("group.protocol"), Some("classic"));
        assert_eq!(config.get("group.id"), Some("g"));
    }

    #[tokio::test]
    async fn cannot_restart() {
        within(10, async {
            let mut broker = TestBroker::external("kafka:9092");
            let error = broker.restart().await.expect_err("not a Tansu broker");
            assert!(matches!(
                error,
                TestingError::Unsupported {
                    kind: BrokerKind::External,
                    ..
                }
            ));
        })
        .await;
    }
}

mod started {
    use super::*;

    /// Whatever the environment selects (the mock cluster on a bare machine) carries records.
    #[tokio::test]
    async fn round_trip_with_key_and_headers() {
        within(60, async {
            let broker = TestBroker::start().await.expect("start broker");
            assert_round_trip(&broker, "started_round_trip").await;
        })
        .await;
    }
}

mod mock {
    use rdkafka::types::RDKafkaRespErr;

    use super::*;

    #[tokio::test]
    async fn round_trip_with_key_and_headers() {
        within(60, async {
            let broker = TestBroker::mock().await.expect("mock");
            assert_eq!(broker.kind(), BrokerKind::Mock);
            assert!(broker.bootstrap_servers().starts_with("127.0.0.1:"));
            assert_round_trip(&broker, "mock_round_trip").await;
        })
        .await;
    }

    #[tokio::test]
    async fn group_gets_its_first_assignment_within_the_bound() {
        within(60, async {
            let broker = TestBroker::mock().await.expect("mock");
            // The mock cluster holds the first join for a fixed 3 s.
            let elapsed =
                first_assignment(&broker, "mock_first_assignment", Duration::from_secs(10)).await;
            eprintln!("mock: first assignment after {elapsed:?}");
        })
        .await;
    }

    #[tokio::test]
    async fn create_topic_sets_partitions_and_tolerates_duplicates() {
        within(30, async {
            let broker = TestBroker::mock().await.expect("mock");
            let topic = unique_topic("mock_create_topic");
            broker.create_topic(&topic, 6).await.expect("create");
            broker.create_topic(&topic, 2).await.expect("create again");
            assert_eq!(partition_count(&broker, &topic), Some(6));
            let error = broker
                .create_topic(&unique_topic("mock_bad_topic"), 0)
                .await
                .expect_err("zero partitions");
            assert!(matches!(
                error,
                TestingError::CreateTopic { partitions: 0, .. }
            ));
        })
        .await;
    }

    #[tokio::test]
    async fn settings_follow_the_measured_values() {
        within(30, async {
            let broker = TestBroker::mock().await.expect("mock");
            let config = broker.consumer_config("g");
            assert_eq!(config.get("session.timeout.ms"), Some("6000"));
            assert_eq!(config.get("heartbeat.interval.ms"), Some("500"));
            assert_eq!(config.get("fetch.wait.max.ms"), Some("5"));
            assert_eq!(config.get("group.protocol"), Some("classic"));
            assert_eq!(config.get("auto.offset.reset"), Some("earliest"));
            assert_eq!(broker.producer_config().get("linger.ms"), Some("0"));
        })
        .await;
    }

    #[tokio::test]
    async fn broker_down_stops_deliveries_until_broker_up() {
        within(60, async {
            let broker = TestBroker::mock().await.expect("mock");
            let cluster = broker.mock_cluster().expect("mock cluster");
            let topic = unique_topic("mock_broker_down");
            broker.create_topic(&topic, 1).await.expect("create");
            let producer: FutureProducer = broker
                .producer_config()
                .set("message.timeout.ms", "1000")
                .set("reconnect.backoff.ms", "10")
                .set("reconnect.backoff.max.ms", "100")
                .create()
                .expect("producer");
            let send = |payload: &'static str| {
                producer.send(
                    FutureRecord::to(&topic).key("k").payload(payload),
                    Duration::from_secs(1),
                )
            };
            send("before").await.expect("delivery while up");

            cluster.broker_down(-1).await.expect("broker down");
            let (error, _) = send("while-down")
                .await
                .expect_err("no delivery while down");
            assert_eq!(
                error.rdkafka_error_code(),
                Some(RDKafkaErrorCode::MessageTimedOut),
                "{error}"
            );

            cluster.broker_up(-1).await.expect("broker up");
            eventually(
                Duration::from_secs(20),
                Duration::from_millis(10),
                || async { send("after").await.is_ok() },
            )
            .await
            .expect("deliveries resume after broker_up");
        })
        .await;
    }

    #[tokio::test]
    async fn request_errors_fail_the_next_requests() {
        within(30, async {
            let broker = TestBroker::mock().await.expect("mock");
            let cluster = broker.mock_cluster().expect("mock cluster");
            let topic = unique_topic("mock_request_errors");
            broker.create_topic(&topic, 1).await.expect("create");
            let producer: FutureProducer = broker
                .producer_config()
                .set("retries", "0")
                .create()
                .expect("producer");
            cluster
                .request_errors(
                    rdkafka::types::RDKafkaApiKey::Produce,
                    &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_RECORD],
                )
                .await
                .expect("push errors");
            let (error, _) = producer
                .send(
                    FutureRecord::to(&topic).key("k").payload("fails"),
                    Duration::from_secs(5),
                )
                .await
                .expect_err("the injected error fails the produce");
            assert_eq!(
                error.rdkafka_error_code(),
                Some(RDKafkaErrorCode::InvalidRecord),
                "{error}"
            );
            producer
                .send(
                    FutureRecord::to(&topic).key("k").payload("works"),
                    Duration::from_secs(5),
                )
                .await
                .expect("the next produce succeeds");
        })
        .await;
    }

    #[tokio::test]
    async fn consumers_dropped_after_the_broker_close_promptly() {
        within(60, async {
            let broker = TestBroker::mock().await.expect("mock");
            assert_consumer_closes_after_broker_drop(broker, "mock_drop_order").await;
        })
        .await;
    }

    #[tokio::test]
    async fn shutdown_ends_the_cluster_for_every_handle() {
        within(30, async {
            let broker = TestBroker::mock().await.expect("mock");
            let cluster = broker.mock_cluster().expect("mock cluster").clone();
            broker.shutdown().await.expect("shutdown");
            let error = cluster
                .create_topic("after-shutdown", 1)
                .await
                .expect_err("cluster is gone");
            assert!(
                matches!(error, TestingError::MockClusterGone { .. }),
                "{error}"
            );
            assert!(matches!(
                cluster.broker_down(-1).await,
                Err(TestingError::MockClusterGone {
                    operation: "broker_down"
                })
            ));
        })
        .await;
    }

    #[tokio::test]
    async fn cannot_restart() {
        within(30, async {
            let mut broker = TestBroker::mock().await.expect("mock");
            let error = broker.restart().await.expect_err("not a Tansu broker");
            assert!(
                error
                    .to_string()
                    .contains("restart needs a Tansu broker, but this one is mock"),
                "{error}"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn several_brokers_can_be_requested() {
        within(30, async {
            let broker = TestBroker::mock_with_brokers(3).await.expect("mock");
            let cluster = broker.mock_cluster().expect("mock cluster");
            assert_eq!(cluster.broker_count(), 3);
            assert_eq!(broker.bootstrap_servers().split(',').count(), 3);
            let topic = unique_topic("mock_three_brokers");
            broker.create_topic(&topic, 3).await.expect("create");
            cluster
                .partition_leader(&topic, 0, Some(3))
                .await
                .expect("move leader");
            let error = cluster.broker_down(7).await.expect_err("no broker 7");
            assert!(matches!(
                error,
                TestingError::MockClusterCommand {
                    operation: "broker_down",
                    ..
                }
            ));
        })
        .await;
    }
}

mod tansu {
    use super::*;
    use crate::broker::tansu::binary_path;

    #[tokio::test]
    async fn round_trip_with_key_and_headers() {
        within(60, async {
            let broker = tansu().await;
            assert_eq!(broker.kind(), BrokerKind::Tansu);
            assert!(broker.bootstrap_servers().starts_with("127.0.0.1:"));
            assert_round_trip(&broker, "tansu_round_trip").await;
        })
        .await;
    }

    #[tokio::test]
    async fn group_gets_its_first_assignment_within_the_bound() {
        within(60, async {
            let broker = tansu().await;
            // Tansu answers the first join after about half the 2 s session timeout.
            let elapsed =
                first_assignment(&broker, "tansu_first_assignment", Duration::from_secs(5)).await;
            eprintln!("tansu: first assignment after {elapsed:?}");
        })
        .await;
    }

    #[tokio::test]
    async fn create_topic_sets_partitions_and_tolerates_duplicates() {
        within(60, async {
            let broker = tansu().await;
            let topic = unique_topic("tansu_create_topic");
            broker.create_topic(&topic, 6).await.expect("create");
            broker.create_topic(&topic, 2).await.expect("create again");
            assert_eq!(partition_count(&broker, &topic), Some(6));
        })
        .await;
    }

    #[tokio::test]
    async fn settings_follow_the_measured_values() {
        within(30, async {
            let broker = tansu().await;
            let overrides = broker.group_overrides();
            assert_eq!(
                overrides.get("session.timeout.ms").map(String::as_str),
                Some("2000")
            );
            assert_eq!(
                overrides.get("heartbeat.interval.ms").map(String::as_str),
                Some("300")
            );
            assert_eq!(
                overrides.get("fetch.wait.max.ms").map(String::as_str),
                Some("5")
            );
            assert_eq!(
                overrides.get("group.protocol").map(String::as_str),
                Some("classic")
            );
        })
        .await;
    }

    #[tokio::test]
    async fn restart_keeps_the_address_and_loses_the_data() {
        within(60, async {
            let mut broker = tansu().await;
            let address = broker.bootstrap_servers().to_owned();
            let topic = unique_topic("tansu_restart");
            broker.create_topic(&topic, 2).await.expect("create");
            assert_eq!(partition_count(&broker, &topic), Some(2));

            broker.restart().await.expect("restart");
            assert_eq!(broker.bootstrap_servers(), address);
            assert_eq!(
                partition_count(&broker, &topic),
                None,
                "memory storage starts empty"
            );
            assert_round_trip(&broker, "tansu_after_restart").await;
        })
        .await;
    }

    #[tokio::test]
    async fn writes_a_log_and_stops_on_shutdown() {
        within(30, async {
            let broker = tansu().await;
            let log = broker.tansu_log().expect("log path").to_path_buf();
            let address = broker.bootstrap_servers().to_owned();
            let text = std::fs::read_to_string(&log).expect("log readable");
            assert!(text.contains("ready"), "{text}");
            broker.shutdown().await.expect("shutdown");
            assert!(
                tokio::net::TcpStream::connect(&address).await.is_err(),
                "port closed after shutdown"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn consumers_dropped_after_the_broker_close_promptly() {
        within(60, async {
            assert_consumer_closes_after_broker_drop(tansu().await, "tansu_drop_order").await;
        })
        .await;
    }

    #[tokio::test]
    async fn dropped_broker_stops_after_the_grace_period() {
        within(30, async {
            let broker = tansu().await;
            let address = broker.bootstrap_servers().to_owned();
            let dropped = Instant::now();
            drop(broker);
            assert!(
                tokio::net::TcpStream::connect(&address).await.is_ok(),
                "still serving right after drop"
            );
            eventually(
                Duration::from_secs(10),
                Duration::from_millis(50),
                || async { tokio::net::TcpStream::connect(&address).await.is_err() },
            )
            .await
            .expect("port closes after the grace period");
            let stopped = dropped.elapsed();
            assert!(stopped >= STOP_GRACE, "{stopped:?}");
        })
        .await;
    }

    #[tokio::test]
    async fn missing_binary_names_the_install_script() {
        within(10, async {
            let missing = PathBuf::from("/nonexistent/tansu");
            let error = TansuProcess::start(missing.clone())
                .await
                .expect_err("no binary");
            assert!(
                matches!(&error, TestingError::TansuBinaryNotFound { path } if *path == missing)
            );
            let message = error.to_string();
            assert!(message.contains("scripts/install-tansu.sh"), "{message}");
            assert!(message.contains("/nonexistent/tansu"), "{message}");
        })
        .await;
    }

    #[tokio::test]
    async fn a_broker_that_exits_at_once_is_reported_with_its_log() {
        use std::os::unix::fs::PermissionsExt;

        within(30, async {
            let script = std::env::temp_dir().join(format!("{}.sh", unique_topic("fake-tansu")));
            std::fs::write(&script, "#!/bin/sh\necho \"fake broker: $*\" >&2\nexit 3\n")
                .expect("write script");
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            let error = TansuProcess::start(script.clone())
                .await
                .expect_err("the fake broker exits");
            std::fs::remove_file(&script).expect("remove script");
            let TestingError::TansuExited { status, log, port } = &error else {
                panic!("unexpected error {error:?}");
            };
            assert_eq!(status.code(), Some(3), "{error}");
            let text = std::fs::read_to_string(log).expect("log readable");
            assert!(
                text.contains(&format!(
                    "fake broker: broker --listener-url tcp://127.0.0.1:{port}"
                )),
                "{text}"
            );
            assert!(
                error.to_string().contains(&log.display().to_string()),
                "{error}"
            );
        })
        .await;
    }

    #[test]
    fn binary_comes_from_tansu_bin_or_the_install_dir() {
        assert_eq!(
            binary_path(Some("/opt/tansu".into())),
            PathBuf::from("/opt/tansu")
        );
        let installed = binary_path(None);
        assert!(
            installed.ends_with(".tools/tansu/tansu"),
            "{}",
            installed.display()
        );
        assert!(installed.parent().is_some_and(|dir| dir.starts_with(
            env!("CARGO_MANIFEST_DIR").trim_end_matches("/crates/autogen-kafka-testing")
        )));
        assert_eq!(binary_path(Some("".into())), installed);
    }
}

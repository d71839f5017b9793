//! Tests of the Kafka container broker. Without the `kafka-container` feature they check the
//! typed refusal; with it, the Docker probe against fake engines, and the fixture itself: on a
//! machine with a Docker engine it must start Kafka and carry records, on one without it must
//! fail fast with `DockerUnavailable` (confirmed by an independent ping).

use std::ffi::OsString;
use std::future::Future;
use std::time::Duration;

use crate::broker::{BrokerKind, Selection, TestBroker, select};
use crate::error::TestingError;

/// Runs a test body under a deadline, so a hung engine fails the test instead of the CI job.
async fn within<F: Future>(seconds: u64, body: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(seconds), body)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {seconds} s"))
}

#[test]
fn kafka_is_selected_by_name() {
    assert_eq!(
        select(None, Some(OsString::from(" Kafka "))).expect("valid"),
        Selection::Kafka
    );
    assert_eq!(
        select(
            Some(OsString::from("b:9092")),
            Some(OsString::from("kafka"))
        )
        .expect("valid"),
        Selection::External("b:9092".to_owned()),
        "KAFKA_BOOTSTRAP_SERVERS still wins"
    );
}

#[test]
fn unknown_kind_lists_kafka_among_the_choices() {
    let error = select(None, Some(OsString::from("redpanda"))).expect_err("unknown");
    assert!(error.to_string().contains("`kafka`"), "{error}");
}

#[test]
fn kind_is_named_kafka() {
    assert_eq!(BrokerKind::Kafka.as_str(), "kafka");
    assert_eq!(BrokerKind::Kafka.to_string(), "kafka");
}

#[cfg(not(feature = "kafka-container"))]
mod without_feature {
    use super::*;

    fn assert_names_the_feature(error: &TestingError) {
        assert!(
            matches!(error, TestingError::KafkaContainerFeatureOff),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("`kafka-container` feature"), "{message}");
        assert!(
            message.contains("--features autogen-kafka-testing/kafka-container"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn selecting_kafka_names_the_missing_feature() {
        within(10, async {
            let error = TestBroker::start_selected(Selection::Kafka)
                .await
                .expect_err("no container support in this build");
            assert_names_the_feature(&error);
        })
        .await;
    }

    #[tokio::test]
    async fn kafka_container_names_the_missing_feature() {
        within(10, async {
            let error = TestBroker::kafka_container()
                .await
                .expect_err("no container support in this build");
            assert_names_the_feature(&error);
        })
        .await;
    }
}

#[cfg(feature = "kafka-container")]
mod with_feature {
    use std::path::PathBuf;
    use std::time::Instant;

    use rdkafka::Message;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use testcontainers::bollard::errors::Error as DockerError;
    use testcontainers::bollard::{API_DEFAULT_VERSION, Docker};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixListener;

    use super::*;
    use crate::broker::Backend;
    use crate::broker::container::{PROBE_TIMEOUT, probe};
    use crate::{eventually, unique_group, unique_topic};

    /// A fresh socket path in the temp dir (removed again by [`SocketPath`]'s drop).
    struct SocketPath(PathBuf);

    impl SocketPath {
        fn new(name: &str) -> Self {
            Self(std::env::temp_dir().join(format!("{}.sock", unique_topic(name))))
        }

        fn client(&self) -> Docker {
            Docker::connect_with_unix(&self.0.to_string_lossy(), 5, API_DEFAULT_VERSION)
                .expect("client")
        }
    }

    impl Drop for SocketPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[tokio::test]
    async fn probe_reports_a_refused_connection_at_once() {
        within(10, async {
            let socket = SocketPath::new("no-engine");
            // The socket file stays behind, but nobody listens any more: connections are refused.
            drop(UnixListener::bind(&socket.0).expect("bind"));
            let started = Instant::now();
            let error = probe(&socket.client(), PROBE_TIMEOUT)
                .await
                .expect_err("nobody listens");
            assert!(started.elapsed() < Duration::from_secs(2), "{error}");
            let TestingError::DockerUnavailable { reason, source } = &error else {
                panic!("unexpected error {error:?}");
            };
            assert!(reason.contains("did not answer a ping"), "{reason}");
            assert!(source.is_some(), "the client error is kept as the source");
            assert!(
                std::error::Error::source(&error).is_some(),
                "source() exposes it"
            );
            assert!(error.to_string().contains("DOCKER_HOST"), "{error}");
        })
        .await;
    }

    #[tokio::test]
    async fn probe_gives_up_on_a_silent_engine() {
        within(10, async {
            let socket = SocketPath::new("silent-engine");
            let listener = UnixListener::bind(&socket.0).expect("bind");
            // Accept and hold connections without ever answering.
            let holder = tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((stream, _)) = listener.accept().await {
                    held.push(stream);
                }
            });
            let limit = Duration::from_millis(300);
            let started = Instant::now();
            let error = probe(&socket.client(), limit).await.expect_err("no answer");
            let took = started.elapsed();
            holder.abort();
            assert!(took >= limit && took < Duration::from_secs(3), "{took:?}");
            let TestingError::DockerUnavailable { reason, source } = &error else {
                panic!("unexpected error {error:?}");
            };
            assert!(reason.contains("within 300ms"), "{reason}");
            assert!(source.is_none());
        })
        .await;
    }

    #[tokio::test]
    async fn probe_accepts_an_engine_that_answers_the_ping() {
        within(10, async {
            let socket = SocketPath::new("fake-engine");
            let listener = UnixListener::bind(&socket.0).expect("bind");
            let engine = tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.expect("accept");
                let mut request = Vec::new();
                let mut buffer = [0_u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let read = stream.read(&mut buffer).await.expect("read");
                    assert!(read > 0, "request ended early");
                    request.extend_from_slice(&buffer[..read]);
                }
                stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
                          Content-Length: 2\r\n\r\nOK",
                    )
                    .await
                    .expect("write");
                String::from_utf8_lossy(&request).into_owned()
            });
            probe(&socket.client(), PROBE_TIMEOUT)
                .await
                .expect("a ping answered with OK is an engine");
            let request = engine.await.expect("engine task");
            let request_line = request.lines().next().unwrap_or_default();
            assert!(
                request_line.starts_with("GET /") && request_line.contains("/_ping "),
                "{request_line}"
            );
        })
        .await;
    }

    /// Pings the engine the way plain Docker clients find it (`DOCKER_HOST`, else the default
    /// socket), independently of the fixture, and fails if one answers.
    async fn assert_no_engine_answers() {
        let Ok(docker) = Docker::connect_with_defaults() else {
            return; // Not even a client configuration: certainly no engine.
        };
        let answered = matches!(
            tokio::time::timeout(Duration::from_secs(5), docker.ping()).await,
            Ok(Ok(_))
        );
        assert!(
            !answered,
            "the fixture reported no Docker engine, but one answers a ping"
        );
    }

    /// Starts the Kafka container. Where no Docker engine runs, checks that the fixture said so
    /// with the typed error, within 10 s, and truthfully; then returns `None`.
    async fn kafka_or_confirmed_absence(test_name: &str) -> Option<TestBroker> {
        let started = Instant::now();
        match TestBroker::kafka_container().await {
            Ok(broker) => Some(broker),
            Err(error @ TestingError::DockerUnavailable { .. }) => {
                let took = started.elapsed();
                assert!(took < Duration::from_secs(10), "took {took:?}: {error}");
                assert!(
                    error
                        .to_string()
                        .starts_with("no Docker engine is available"),
                    "{error}"
                );
                assert_no_engine_answers().await;
                eprintln!("{test_name}: no Docker engine, reported after {took:?}: {error}");
                None
            }
            Err(error) => panic!("unexpected error {error:?}"),
        }
    }

    /// The Docker container id behind a Kafka container broker.
    fn container_id(broker: &TestBroker) -> String {
        match &broker.backend {
            Backend::Container(container) => container.container_id.clone(),
            other => panic!("not a container broker: {other:?}"),
        }
    }

    #[tokio::test]
    async fn kafka_container_carries_records_or_reports_missing_docker() {
        within(300, async {
            let Some(broker) = kafka_or_confirmed_absence("kafka_container_round_trip").await
            else {
                return;
            };
            assert_eq!(broker.kind(), BrokerKind::Kafka);
            let address = broker.bootstrap_servers().to_owned();
            assert!(address.starts_with("127.0.0.1:"), "{address}");
            assert!(broker.mock_cluster().is_none());
            assert!(broker.tansu_log().is_none());
            let overrides = broker.group_overrides();
            assert_eq!(
                overrides.get("session.timeout.ms").map(String::as_str),
                Some("6000")
            );
            assert_eq!(
                overrides.get("heartbeat.interval.ms").map(String::as_str),
                Some("500")
            );

            let topic = unique_topic("kafka_container_round_trip");
            broker.create_topic(&topic, 3).await.expect("create");
            broker
                .create_topic(&topic, 1)
                .await
                .expect("an existing topic is fine");

            let producer: FutureProducer = broker.producer_config().create().expect("producer");
            let delivery = producer
                .send(
                    FutureRecord::to(&topic).key("key-1").payload("payload-1"),
                    Duration::from_secs(10),
                )
                .await
                .expect("delivery");
            let consumer: StreamConsumer = broker
                .consumer_config(&unique_group("kafka_container_round_trip"))
                .create()
                .expect("consumer");
            consumer.subscribe(&[&topic]).expect("subscribe");
            let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
                .await
                .expect("record within 60 s")
                .expect("record");
            assert_eq!(message.key(), Some(&b"key-1"[..]));
            assert_eq!(message.payload(), Some(&b"payload-1"[..]));
            assert_eq!(message.partition(), delivery.partition);
            assert_eq!(message.offset(), delivery.offset);
            let metadata = consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
                .expect("metadata");
            assert_eq!(metadata.topics()[0].partitions().len(), 3);
            drop(message);
            drop(consumer);
            drop(producer);

            let mut broker = broker;
            let error = broker.restart().await.expect_err("not a Tansu broker");
            assert!(
                error
                    .to_string()
                    .contains("restart needs a Tansu broker, but this one is kafka"),
                "{error}"
            );

            broker.shutdown().await.expect("shutdown");
            assert!(
                tokio::net::TcpStream::connect(&address).await.is_err(),
                "port closed after shutdown"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn dropped_container_serves_through_the_grace_period_then_goes_away() {
        within(300, async {
            let Some(broker) = kafka_or_confirmed_absence("kafka_container_drop").await else {
                return;
            };
            let address = broker.bootstrap_servers().to_owned();
            let id = container_id(&broker);
            let dropped = Instant::now();
            drop(broker);
            let drop_took = dropped.elapsed();
            assert!(
                drop_took < Duration::from_secs(3),
                "drop took {drop_took:?}"
            );
            assert!(
                tokio::net::TcpStream::connect(&address).await.is_ok(),
                "still serving right after drop"
            );
            let docker = testcontainers::core::client::docker_client_instance()
                .await
                .expect("docker client");
            eventually(Duration::from_secs(30), Duration::from_millis(100), || {
                let docker = docker.clone();
                let id = id.clone();
                async move {
                    matches!(
                        docker.inspect_container(&id, None).await,
                        Err(DockerError::DockerResponseServerError {
                            status_code: 404,
                            ..
                        })
                    )
                }
            })
            .await
            .expect("the engine removes the container");
            assert!(dropped.elapsed() >= crate::broker::STOP_GRACE);
        })
        .await;
    }
}

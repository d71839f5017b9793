//! Tests of topic administration against Tansu (real admin API) and the librdkafka mock
//! cluster (auto-creation only).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autogen_kafka_testing::{TestBroker, eventually, unique_topic};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::admin::{capped_replication, check_cleanup};
use super::*;
use crate::AdminError;

/// Upper bound for every test.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The operation timeout of the admins under test.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

async fn within_timeout<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test timed out");
}

fn properties(bootstrap_servers: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("bootstrap.servers".to_owned(), bootstrap_servers.to_owned())])
}

fn admin_with(bootstrap_servers: &str, mode: CreateMode, timeout: Duration) -> TopicAdmin {
    TopicAdmin::builder(properties(bootstrap_servers))
        .operation_timeout(timeout)
        .create_mode(mode)
        .build()
        .unwrap()
}

fn admin(broker: &TestBroker, mode: CreateMode) -> TopicAdmin {
    admin_with(broker.bootstrap_servers(), mode, OPERATION_TIMEOUT)
}

/// `127.0.0.1:<port>` where nothing listens.
fn closed_port() -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    address.to_string()
}

/// A `tracing` subscriber that keeps every event as `LEVEL field=value ...` text, to check
/// what the admin logs.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    /// The recorded warnings that contain every one of `parts`.
    fn warnings_with(&self, parts: &[&str]) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.starts_with("WARN") && parts.iter().all(|part| line.contains(part)))
            .cloned()
            .collect()
    }
}

struct FieldText<'a>(&'a mut String);

impl tracing::field::Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = event.metadata().level().to_string();
        event.record(&mut FieldText(&mut line));
        self.0.lock().unwrap().push(line);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

async fn ensure_one(admin: &TopicAdmin, spec: TopicSpec) -> crate::Result<TopicOutcome> {
    let mut outcomes = admin.ensure_topics(&[spec]).await?;
    assert_eq!(outcomes.len(), 1);
    Ok(outcomes.remove(0))
}

// ---------------------------------------------------------------------------------------------
// Tansu: the real admin API.

#[tokio::test]
async fn tansu_creates_a_compacted_topic_with_its_partitions_and_policy() {
    within_timeout(async {
        let broker = TestBroker::tansu().await.unwrap();
        let admin = admin(&broker, CreateMode::Admin);
        let topic = unique_topic("compacted");

        let outcome = ensure_one(&admin, TopicSpec::compacted(&topic).partitions(3))
            .await
            .unwrap();
        let TopicOutcome::Created {
            topic: created,
            partitions,
            replication_factor,
            ..
        } = &outcome
        else {
            panic!("expected Created, got {outcome:?}");
        };
        assert_eq!(
            (created.as_str(), *partitions, *replication_factor),
            (topic.as_str(), 3, 1)
        );

        let description = admin.describe(&topic).await.unwrap();
        assert_eq!(description.name, topic);
        assert_eq!(description.partitions, 3);
        assert_eq!(description.replication_factor, 1);
        assert_eq!(description.cleanup(), Some(Cleanup::Compact));
    })
    .await;
}

#[tokio::test]
async fn tansu_passes_extra_configs_to_the_new_topic() {
    within_timeout(async {
        let broker = TestBroker::tansu().await.unwrap();
        let admin = admin(&broker, CreateMode::Admin);
        let topic = unique_topic("configs");

        ensure_one(
            &admin,
            TopicSpec::new(&topic)
                .partitions(1)
                .config("retention.ms", "86400000"),
        )
        .await
        .unwrap();
        let configs = admin.describe(&topic).await.unwrap().configs.unwrap();
        assert_eq!(
            configs.get("retention.ms").map(String::as_str),
            Some("86400000")
        );
        assert_eq!(
            configs.get("cleanup.policy").map(String::as_str),
            Some("delete")
        );
    })
    .await;
}

#[tokio::test]
async fn tansu_ensuring_twice_is_idempotent() {
    within_timeout(async {
        let broker = TestBroker::tansu().await.unwrap();
        let admin = admin(&broker, CreateMode::Admin);
        let specs = [
            TopicSpec::new(unique_topic("idempotent_requests")),
            TopicSpec::compacted(unique_topic("idempotent_registry")).partitions(1),
        ];

        let first = admin.ensure_topics(&specs).await.unwrap();
        assert!(first.iter().all(TopicOutcome::was_created), "{first:?}");

        let second = admin.ensure_topics(&specs).await.unwrap();
        assert_eq!(
            second,
            vec![
                TopicOutcome::Existed {
                    topic: specs[0].name.clone(),
                    partitions: 3,
                    cleanup: Some(Cleanup::Delete),
                },
                TopicOutcome::Existed {
                    topic: specs[1].name.clone(),
                    partitions: 1,
                    cleanup: Some(Cleanup::Compact),
                },
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn tansu_fewer_partitions_than_asked_is_a_typed_mismatch() {
    within_timeout(async {
        let broker = TestBroker::tansu().await.unwrap();
        let admin = admin(&broker, CreateMode::Admin);
        let topic = unique_topic("mismatch");
        ensure_one(&admin, TopicSpec::new(&topic).partitions(1))
            .await
            .unwrap();

        let error = ensure_one(&admin, TopicSpec::new(&topic).partitions(3))
            .await
            .unwrap_err();
        let AdminError::TopicMismatch {
            topic: reported,
            wanted,
            found,
        } = &error
        else {
            panic!("expected TopicMismatch, got {error:?}");
        };
        assert_eq!((reported.as_str(), *wanted, *found), (topic.as_str(), 3, 1));
        assert!(!error.is_retriable());
        assert!(error.to_string().contains(&topic), "{error}");
    })
    .await;
}

#[tokio::test]
async fn tansu_more_partitions_than_asked_is_accepted() {
    within_timeout(async {
        let broker = TestBroker::tansu().await.unwrap();
        let admin = admin(&broker, CreateMode::Admin);
        let topic = unique_topic("more_partitions");
        ensure_one(&admin, TopicSpec::new(&topic).partitions(4))
            .await
            .unwrap();

        let outcome = ensure_one(&admin, TopicSpec::new(&topic).partitions(2))
            .await
            .unwrap();
        assert!(
            matches!(outcome, TopicOutcome::Existed { partitions: 4, .. }),
            "{outcome:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn tansu_a_different_cleanup_policy_is_reported_not_fatal() {
    within_timeout(async {
        let broker = TestBroker::tansu().await.unwrap();
        let admin = admin(&broker, CreateMode::Admin);
        let topic = unique_topic("policy");
        // The Python runtime may have created it as `delete`.
        ensure_one(&admin, TopicSpec::new(&topic)).await.unwrap();

        let outcome = ensure_one(&admin, TopicSpec::compacted(&topic))
            .await
            .unwrap();
        assert!(
            matches!(
                outcome,
                TopicOutcome::Existed {
                    cleanup: Some(Cleanup::Delete),
                    ..
                }
            ),
            "{outcome:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn tansu_replication_factor_is_capped_at_the_broker_count() {
    within_timeout(async {
        let recorder = Recorder::default();
        // `#[tokio::test]` runs everything on this thread.
        let _guard = tracing::subscriber::set_default(recorder.clone());
        let broker = TestBroker::tansu().await.unwrap();
        let admin = admin(&broker, CreateMode::Admin);
        assert_eq!(admin.broker_count().await.unwrap(), 1);
        let topic = unique_topic("capped");

        let outcome = ensure_one(&admin, TopicSpec::new(&topic).replication_factor(3))
            .await
            .unwrap();
        assert!(
            matches!(
                outcome,
                TopicOutcome::Created {
                    replication_factor: 1,
                    requested_replication_factor: 3,
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert_eq!(admin.describe(&topic).await.unwrap().replication_factor, 1);
        let warnings =
            recorder.warnings_with(&["requested=3", "brokers=1", "replication_factor=1", "capped"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    })
    .await;
}

#[tokio::test]
async fn tansu_topic_created_by_someone_else_is_verified() {
    within_timeout(async {
        let broker = TestBroker::tansu().await.unwrap();
        let admin = admin(&broker, CreateMode::Admin);
        let topic = unique_topic("foreign");
        broker.create_topic(&topic, 5).await.unwrap();

        let outcome = ensure_one(&admin, TopicSpec::new(&topic)).await.unwrap();
        assert!(
            matches!(outcome, TopicOutcome::Existed { partitions: 5, .. }),
            "{outcome:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn tansu_deleted_topics_disappear_and_deleting_again_is_fine() {
    within_timeout(async {
        let broker = TestBroker::tansu().await.unwrap();
        let admin = admin(&broker, CreateMode::Admin);
        let topic = unique_topic("delete");
        ensure_one(&admin, TopicSpec::new(&topic)).await.unwrap();

        admin.delete_topics(&[&topic]).await.unwrap();
        eventually(
            Duration::from_secs(10),
            Duration::from_millis(50),
            || async {
                matches!(
                    admin.describe(&topic).await,
                    Err(AdminError::TopicNotFound { .. })
                )
            },
        )
        .await
        .unwrap();
        admin.delete_topics(&[topic]).await.unwrap();
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// librdkafka mock cluster: no admin API, auto-creation on metadata requests.

#[tokio::test]
async fn mock_auto_create_makes_the_topic_appear() {
    within_timeout(async {
        let recorder = Recorder::default();
        let _guard = tracing::subscriber::set_default(recorder.clone());
        let broker = TestBroker::mock().await.unwrap();
        let admin = admin(&broker, CreateMode::AutoCreate);
        let topic = unique_topic("auto_create");
        assert!(matches!(
            admin.describe(&topic).await,
            Err(AdminError::TopicNotFound { .. })
        ));

        let outcome = ensure_one(&admin, TopicSpec::new(&topic).partitions(2))
            .await
            .unwrap();
        let TopicOutcome::AutoCreated {
            topic: created,
            partitions,
        } = &outcome
        else {
            panic!("expected AutoCreated, got {outcome:?}");
        };
        assert_eq!(created, &topic);
        assert!(*partitions >= 1);
        let warnings = recorder.warnings_with(&["auto-created", "not the spec's"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");

        let description = admin.describe(&topic).await.unwrap();
        assert_eq!(description.partitions, *partitions);
        assert_eq!(description.configs, None);

        let again = ensure_one(&admin, TopicSpec::new(&topic).partitions(1))
            .await
            .unwrap();
        assert_eq!(
            again,
            TopicOutcome::Existed {
                topic: topic.clone(),
                partitions: *partitions,
                cleanup: None,
            }
        );
    })
    .await;
}

#[tokio::test]
async fn mock_lookups_never_create_topics() {
    within_timeout(async {
        let broker = TestBroker::mock().await.unwrap();
        for mode in [CreateMode::Admin, CreateMode::AutoCreate] {
            let admin = admin(&broker, mode);
            let topic = unique_topic("lookup");
            for _ in 0..2 {
                let error = admin.describe(&topic).await.unwrap_err();
                assert!(
                    matches!(&error, AdminError::TopicNotFound { topic: t } if *t == topic),
                    "{error:?}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn mock_auto_create_still_requires_enough_partitions() {
    within_timeout(async {
        let broker = TestBroker::mock().await.unwrap();
        let admin = admin(&broker, CreateMode::AutoCreate);
        let topic = unique_topic("auto_mismatch");
        broker.create_topic(&topic, 1).await.unwrap();

        let error = ensure_one(&admin, TopicSpec::new(&topic).partitions(3))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                AdminError::TopicMismatch {
                    wanted: 3,
                    found: 1,
                    ..
                }
            ),
            "{error:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn mock_in_admin_mode_times_out_because_it_lacks_create_topics() {
    within_timeout(async {
        let broker = TestBroker::mock().await.unwrap();
        let timeout = Duration::from_millis(1500);
        let admin = admin_with(broker.bootstrap_servers(), CreateMode::Admin, timeout);
        let topic = unique_topic("admin_on_mock");

        let started = Instant::now();
        let error = ensure_one(&admin, TopicSpec::new(&topic))
            .await
            .unwrap_err();
        assert!(started.elapsed() < timeout * 3, "{:?}", started.elapsed());
        assert!(
            matches!(
                &error,
                AdminError::AdminTimeout {
                    operation: TopicOperation::CreateTopic,
                    topic: t,
                    ..
                } if *t == topic
            ),
            "{error:?}"
        );
        assert!(error.is_retriable());
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// No broker.

#[tokio::test]
async fn unreachable_broker_is_a_typed_error_within_the_timeout() {
    within_timeout(async {
        let bootstrap = closed_port();
        let timeout = Duration::from_secs(2);
        for mode in [CreateMode::Admin, CreateMode::AutoCreate] {
            let admin = admin_with(&bootstrap, mode, timeout);
            let started = Instant::now();
            let error = admin
                .ensure_topics(&[TopicSpec::new("runtime_requests")])
                .await
                .unwrap_err();
            let elapsed = started.elapsed();
            assert!(elapsed < timeout + Duration::from_secs(1), "{elapsed:?}");
            let AdminError::BrokerUnreachable {
                bootstrap: reported,
                timeout: reported_timeout,
                ..
            } = &error
            else {
                panic!("expected BrokerUnreachable, got {error:?}");
            };
            assert_eq!((reported, *reported_timeout), (&bootstrap, timeout));
            assert!(error.to_string().contains("Connection refused"), "{error}");
            assert!(error.is_retriable());
            assert!(error.to_string().contains(&bootstrap), "{error}");
        }

        let admin = admin_with(&bootstrap, CreateMode::Admin, timeout);
        let started = Instant::now();
        assert!(matches!(
            admin.broker_count().await,
            Err(AdminError::BrokerUnreachable { .. })
        ));
        assert!(started.elapsed() < timeout + Duration::from_secs(1));
    })
    .await;
}

#[tokio::test]
async fn invalid_specs_fail_before_any_broker_is_contacted() {
    within_timeout(async {
        let admin = admin_with(&closed_port(), CreateMode::Admin, Duration::from_secs(5));
        let started = Instant::now();
        let error = admin
            .ensure_topics(&[
                TopicSpec::new("fine"),
                TopicSpec::new("also fine?").partitions(1),
            ])
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            matches!(&error, AdminError::InvalidTopicSpec { topic, .. } if topic == "also fine?"),
            "{error:?}"
        );
    })
    .await;
}

#[test]
fn building_needs_bootstrap_servers_and_valid_properties() {
    assert!(matches!(
        TopicAdmin::builder(BTreeMap::new()).build(),
        Err(AdminError::MissingBootstrapServers)
    ));
    assert!(matches!(
        TopicAdmin::builder(properties("  ")).build(),
        Err(AdminError::MissingBootstrapServers)
    ));
    let error = TopicAdmin::builder(properties("localhost:9092"))
        .property("no.such.property", "1")
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, AdminError::CreateClient { bootstrap, .. } if bootstrap == "localhost:9092"),
        "{error:?}"
    );
}

#[test]
fn debug_output_hides_property_values() {
    let builder = TopicAdmin::builder(properties("localhost:9092"))
        .property("sasl.password", "hunter2")
        .operation_timeout(Duration::from_secs(3));
    assert!(!format!("{builder:?}").contains("hunter2"));
    let admin = builder.build().unwrap();
    let text = format!("{admin:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("localhost:9092"), "{text}");
    assert_eq!(admin.operation_timeout(), Duration::from_secs(3));
    assert_eq!(admin.create_mode(), CreateMode::Admin);
}

#[test]
fn admin_futures_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let admin = TopicAdmin::builder(properties("localhost:9092"))
        .build()
        .unwrap();
    let specs = [TopicSpec::new("t")];
    assert_send(&admin.ensure_topics(&specs));
    assert_send(&admin.describe("t"));
    assert_send(&admin.delete_topics(&["t"]));
    assert_send(&admin.broker_count());
}

// ---------------------------------------------------------------------------------------------
// Pure helpers.

#[test]
fn replication_is_capped_at_the_broker_count_and_never_zero() {
    assert_eq!(capped_replication(3, 1), 1);
    assert_eq!(capped_replication(3, 5), 3);
    assert_eq!(capped_replication(2, 2), 2);
    assert_eq!(capped_replication(3, 0), 1);
    assert_eq!(capped_replication(3, usize::MAX), 3);
}

#[test]
fn cleanup_check_reports_what_the_broker_said() {
    let spec = TopicSpec::compacted("t");
    let configs = |value: &str| BTreeMap::from([("cleanup.policy".to_owned(), value.to_owned())]);
    assert_eq!(check_cleanup(&spec, None), None);
    assert_eq!(check_cleanup(&spec, Some(&BTreeMap::new())), None);
    assert_eq!(
        check_cleanup(&spec, Some(&configs("compact"))),
        Some(Cleanup::Compact)
    );
    assert_eq!(
        check_cleanup(&spec, Some(&configs("delete"))),
        Some(Cleanup::Delete)
    );
    assert_eq!(check_cleanup(&spec, Some(&configs("weird"))), None);
}

#[test]
fn a_different_cleanup_policy_is_a_warning_naming_topic_and_both_values() {
    let recorder = Recorder::default();
    let configs = BTreeMap::from([("cleanup.policy".to_owned(), "delete".to_owned())]);
    let found = tracing::subscriber::with_default(recorder.clone(), || {
        check_cleanup(&TopicSpec::compacted("agent_registry"), Some(&configs))
    });
    assert_eq!(found, Some(Cleanup::Delete));
    let warnings =
        recorder.warnings_with(&["topic=agent_registry", "wanted=compact", "found=delete"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");

    let same = tracing::subscriber::with_default(recorder.clone(), || {
        check_cleanup(&TopicSpec::new("agent_registry"), Some(&configs))
    });
    assert_eq!(same, Some(Cleanup::Delete));
    assert_eq!(
        recorder.warnings_with(&[]).len(),
        1,
        "a matching policy is not a warning"
    );
}

#[test]
fn outcome_accessors_name_topic_and_partitions() {
    let created = TopicOutcome::Created {
        topic: "a".to_owned(),
        partitions: 3,
        replication_factor: 1,
        requested_replication_factor: 3,
    };
    let existed = TopicOutcome::Existed {
        topic: "b".to_owned(),
        partitions: 6,
        cleanup: None,
    };
    let auto = TopicOutcome::AutoCreated {
        topic: "c".to_owned(),
        partitions: 4,
    };
    assert_eq!((created.topic(), created.partitions()), ("a", 3));
    assert_eq!((existed.topic(), existed.partitions()), ("b", 6));
    assert_eq!((auto.topic(), auto.partitions()), ("c", 4));
    assert!(created.was_created() && auto.was_created() && !existed.was_created());
}

#[test]
fn only_transient_topic_failures_are_retriable() {
    let create = |code| AdminError::CreateTopic {
        topic: "t".to_owned(),
        source: KafkaError::AdminOp(code),
    };
    assert!(create(RDKafkaErrorCode::NotController).is_retriable());
    assert!(create(RDKafkaErrorCode::RequestTimedOut).is_retriable());
    assert!(!create(RDKafkaErrorCode::PolicyViolation).is_retriable());
    assert!(!create(RDKafkaErrorCode::TopicAuthorizationFailed).is_retriable());
    let metadata = AdminError::TopicMetadata {
        topic: "t".to_owned(),
        source: KafkaError::MetadataFetch(RDKafkaErrorCode::LeaderNotAvailable),
    };
    assert!(metadata.is_retriable());
    let unreachable = AdminError::BrokerUnreachable {
        bootstrap: "b:9092".to_owned(),
        timeout: Duration::from_secs(1),
        last_error: Some("Connection refused".to_owned()),
        source: None,
    };
    assert!(unreachable.is_retriable());
    assert!(
        unreachable.to_string().contains("Connection refused"),
        "{unreachable}"
    );
    let auto = AdminError::AutoCreateTopic {
        topic: "t".to_owned(),
        timeout: Duration::from_secs(1),
        source: None,
    };
    assert!(!auto.is_retriable());
    let spec = AdminError::InvalidTopicSpec {
        topic: "t".to_owned(),
        reason: "r".to_owned(),
    };
    assert!(!spec.is_retriable());
}

//! # autogen-kafka-admin
//!
//! The admin layer of autogen-kafka: it makes sure the broker side of a fleet exists before
//! any worker starts. It owns topic creation and verification (partitions, replication,
//! `cleanup.policy=compact` for the registry, subscription and state topics) and the
//! Confluent Schema Registry client that registers the event schemas at startup (startup
//! step 3 of the runtime).
//!
//! Built by the Kafka runtime and wire-format issues; this crate grows as they land.
//!
//! ## Schema Registry
//!
//! [`SchemaRegistryClient`] speaks the Confluent Schema Registry REST API (v1). At startup a
//! worker calls [`register_or_verify`](SchemaRegistryClient::register_or_verify) for each
//! topic it produces to, with subject `<topic>-value` and the event's JSON Schema, and puts
//! the returned [`SchemaId`] into every record frame. Readers resolve the id of each record
//! with [`schema_by_id`](SchemaRegistryClient::schema_by_id), which is cached. Failures are
//! typed ([`AdminError`]): an incompatible schema is refused, never registered anyway, and
//! a failed request is never mistaken for "not found".
//!
//! ```
//! use autogen_kafka_admin::{AdminError, SchemaDefinition, SchemaId, SchemaRegistryClient};
//!
//! /// Startup: register the registry topic's schema, or refuse to start.
//! async fn registry_topic_schema_id(url: &str) -> autogen_kafka_admin::Result<SchemaId> {
//!     let registry = SchemaRegistryClient::builder(url).build()?;
//!     let schema = SchemaDefinition::json(
//!         r#"{"type":"object","properties":{"agent":{"type":"string"}}}"#,
//!     );
//!     match registry.register_or_verify("agent_registry-value", &schema).await {
//!         // The id goes into every record frame.
//!         Ok(id) => Ok(id),
//!         // Nothing was registered: an operator must migrate the subject.
//!         Err(error @ AdminError::IncompatibleSchema { .. }) => Err(error),
//!         // Registry down or overloaded (`error.is_retriable()`), bad credentials, ...
//!         Err(error) => Err(error),
//!     }
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let stand_in = autogen_kafka_testing::SchemaRegistryStandIn::start().await?;
//! # let url = stand_in.url();
//! // url: e.g. "http://localhost:8081"
//! let id = registry_topic_schema_id(url).await?;
//! assert_eq!(registry_topic_schema_id(url).await?, id);
//! # Ok(())
//! # }
//! ```
//!
//! ## Topics
//!
//! [`TopicAdmin`] runs the startup step "topic creation/verification" before any consumer
//! starts. [`ensure_topics`](TopicAdmin::ensure_topics) takes one [`TopicSpec`] per topic and,
//! for each, creates it when missing (replication factor capped at the broker count, as the
//! Python runtime does) or verifies it when it exists: fewer partitions than asked is a typed
//! [`AdminError::TopicMismatch`], more partitions or a different [`Cleanup`] policy is a
//! logged warning. Every broker request is bounded by the operation timeout; an unreachable
//! cluster is [`AdminError::BrokerUnreachable`].
//!
//! [`CreateMode::Admin`] (the default) uses `CreateTopics` and `DescribeConfigs`: Apache
//! Kafka, Confluent, Redpanda and Tansu. librdkafka's mock cluster implements neither, but
//! creates topics on metadata requests: use [`CreateMode::AutoCreate`] there (partitions,
//! replication and policy are then the broker's defaults, and a warning says so).
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::time::Duration;
//!
//! use autogen_kafka_admin::{CreateMode, TopicAdmin, TopicOutcome, TopicSpec};
//!
//! /// Startup step 3: the runtime's topics exist before any consumer starts.
//! async fn ensure_runtime_topics(
//!     properties: BTreeMap<String, String>,
//!     mode: CreateMode,
//! ) -> autogen_kafka_admin::Result<Vec<TopicOutcome>> {
//!     let admin = TopicAdmin::builder(properties)
//!         .operation_timeout(Duration::from_secs(10))
//!         .create_mode(mode)
//!         .build()?;
//!     admin
//!         .ensure_topics(&[
//!             TopicSpec::new("runtime_requests").replication_factor(3),
//!             TopicSpec::compacted("agent_registry").replication_factor(3),
//!         ])
//!         .await
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let broker = autogen_kafka_testing::TestBroker::mock().await?;
//! // The in-process mock cluster only auto-creates topics.
//! let properties = BTreeMap::from([(
//!     "bootstrap.servers".to_owned(),
//!     broker.bootstrap_servers().to_owned(),
//! )]);
//! let first = ensure_runtime_topics(properties.clone(), CreateMode::AutoCreate).await?;
//! assert!(first.iter().all(TopicOutcome::was_created));
//! let second = ensure_runtime_topics(properties, CreateMode::AutoCreate).await?;
//! assert!(second.iter().all(|outcome| matches!(outcome, TopicOutcome::Existed { .. })));
//! # Ok(())
//! # }
//! ```
#![doc(test(attr(deny(warnings))))]

pub mod error;
pub mod schema_registry;
pub mod topics;

pub use error::{AdminError, Result};
pub use schema_registry::{
    CompatibilityLevel, RegisteredSchema, RegistryOperation, RetryPolicy, SchemaDefinition,
    SchemaId, SchemaReference, SchemaRegistryClient, SchemaRegistryClientBuilder, SchemaType,
    SchemaVersion,
};
pub use topics::{
    Cleanup, CreateMode, TopicAdmin, TopicAdminBuilder, TopicDescription, TopicOperation,
    TopicOutcome, TopicSpec,
};

//! # autogen-kafka-testing
//!
//! Test support for autogen-kafka, used only as a dev-dependency: one broker fixture
//! (`KAFKA_BOOTSTRAP_SERVERS`, the in-process librdkafka mock cluster, or a Tansu broker),
//! unique topic and group names, a polling `eventually`, and a Schema Registry stand-in
//! serving the Confluent REST API on localhost.
//!
//! ## Brokers
//!
//! [`TestBroker::start`] gives every test a Kafka-protocol broker without Docker:
//!
//! | `KAFKA_BOOTSTRAP_SERVERS` | `AUTOGEN_KAFKA_TEST_BROKER` | broker |
//! |---|---|---|
//! | set | (ignored) | that external broker |
//! | unset | `tansu` | a Tansu child process (install it with `scripts/install-tansu.sh`) |
//! | unset | `mock` or unset | librdkafka's in-process mock cluster |
//! | unset | `kafka` | Apache Kafka in Docker via Testcontainers (feature `kafka-container`) |
//!
//! [`TestBroker::mock`], [`TestBroker::tansu`] and [`TestBroker::external`] pick one
//! explicitly. The fixture hands out client configs tuned for the broker it runs
//! ([`TestBroker::consumer_config`], [`TestBroker::producer_config`]), creates topics
//! ([`TestBroker::create_topic`]) and, on the mock cluster, injects faults
//! ([`MockClusterHandle`]).
//!
//! ## Waiting without sleeping
//!
//! [`eventually`] polls a condition until it holds or a deadline passes; [`unique_topic`] and
//! [`unique_group`] keep tests that share a broker apart. Every async test should also run under
//! `tokio::time::timeout`.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! use autogen_kafka_testing::{TestBroker, eventually, unique_group, unique_topic};
//! use rdkafka::Message;
//! use rdkafka::consumer::{Consumer, StreamConsumer};
//! use rdkafka::producer::{FutureProducer, FutureRecord};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! tokio::time::timeout(Duration::from_secs(30), async {
//!     let broker = TestBroker::start().await?;
//!     let topic = unique_topic("crate_example");
//!     broker.create_topic(&topic, 1).await?;
//!
//!     let producer: FutureProducer = broker.producer_config().create()?;
//!     let record = FutureRecord::to(&topic).key("id-1").payload("hello");
//!     producer.send(record, Duration::from_secs(5)).await.map_err(|(error, _)| error)?;
//!
//!     let consumer: StreamConsumer = broker.consumer_config(&unique_group("crate_example")).create()?;
//!     consumer.subscribe(&[&topic])?;
//!     let message = consumer.recv().await?;
//!     assert_eq!(message.payload(), Some(&b"hello"[..]));
//!
//!     // Poll for a condition instead of sleeping.
//!     eventually(Duration::from_secs(10), Duration::from_millis(50), || async {
//!         !consumer.assignment().map(|a| a.count() == 0).unwrap_or(true)
//!     })
//!     .await?;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! .await??;
//! # Ok(())
//! # }
//! ```
#![doc(test(attr(deny(warnings))))]

mod assertions;
mod broker;
mod error;
mod eventually;
mod http;
mod names;
mod pki;
pub mod schema_registry;
mod tls_proxy;

pub use assertions::error_chain;
pub use broker::{
    BOOTSTRAP_SERVERS_ENV, BrokerKind, MockClusterHandle, TEST_BROKER_ENV, TestBroker,
};
pub use error::{Result, TestingError};
pub use eventually::eventually;
pub use http::http_request;
pub use names::{unique_group, unique_topic};
pub use pki::TestPki;
#[doc(no_inline)]
pub use rdkafka;
pub use schema_registry::{SchemaRegistryStandIn, SchemaRegistryStandInBuilder};

//! Shared pieces of the examples: the embedded broker and the message types they exchange.
//!
//! The examples depend on `autogen-kafka-testing` only for its embedded broker (librdkafka's in-process mock
//! cluster), so they run with nothing installed; set `KAFKA_BOOTSTRAP_SERVERS=host:port` to use a real broker.

use std::time::Duration;

use autogen_kafka::admin::CreateMode;
use autogen_kafka::config::{Config, SerializationFormat};
use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{Message, Result};
use autogen_kafka_testing::{BrokerKind, TestBroker};
use serde::{Deserialize, Serialize};

/// A question for the calculator. The type name matches a Python class named `Add`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Add {
    /// First operand.
    pub a: i64,
    /// Second operand.
    pub b: i64,
}
impl Message for Add {
    const TYPE_NAME: &'static str = "Add";
}

/// The calculator's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sum {
    /// The sum.
    pub value: i64,
}
impl Message for Sum {
    const TYPE_NAME: &'static str = "Sum";
}

/// A news item, published to a topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct News {
    /// The headline.
    pub headline: String,
}
impl Message for News {
    const TYPE_NAME: &'static str = "News";
}

/// The broker the examples use: `KAFKA_BOOTSTRAP_SERVERS` when set, else the embedded mock cluster.
///
/// # Errors
///
/// When the embedded broker cannot start.
pub async fn broker() -> std::result::Result<TestBroker, Box<dyn std::error::Error>> {
    Ok(TestBroker::start().await?)
}

/// A worker configuration for `bootstrap` and `group`, tuned for a broker of `kind` (plain JSON values, since
/// no Schema Registry runs here; short group timeouts for a quick demo).
///
/// # Errors
///
/// When the configuration is invalid.
pub fn config(bootstrap: &str, kind: BrokerKind, group: &str) -> Result<Config> {
    let (session, heartbeat) = match kind {
        BrokerKind::Tansu => (2000, 300),
        _ => (6000, 500),
    };
    Ok(Config::builder()
        .bootstrap_servers([bootstrap])
        .group_id(group)
        .serialization_format(SerializationFormat::Json)
        .rpc_timeout(Duration::from_secs(15))
        .set("streaming.session_timeout_ms", session)
        .set("streaming.heartbeat_interval_ms", heartbeat)
        .set("streaming.fetch_wait_max_ms", 5)
        .set("streaming.linger_ms", 0)
        .set("runtime.registry_heartbeat_ms", 1000)
        .set("runtime.registry_expiry_ms", 5000)
        .build()?)
}

/// A runtime builder suited to the broker kind (the embedded mock cluster has no Admin API: topics are
/// auto-created).
///
/// # Errors
///
/// When the runtime cannot be built.
pub fn runtime(config: Config, kind: BrokerKind, name: &str) -> Result<KafkaWorkerAgentRuntime> {
    let mode = match kind {
        BrokerKind::Mock => CreateMode::AutoCreate,
        _ => CreateMode::Admin,
    };
    Ok(KafkaWorkerAgentRuntime::builder(config)
        .instance_id(name)
        .topic_creation(mode)
        .build()?)
}

/// An error and its causes on one line (`outer: inner: root`), for printing.
#[must_use]
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Logs to stderr at `default_level` unless `RUST_LOG` says otherwise.
pub fn init_logging(default_level: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
}

//! [`Config`]: every section together, with loading, validation and client property maps.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::agent::AgentConfig;
use crate::builder::ConfigBuilder;
use crate::error::{ConfigError, Result};
use crate::gateway::GatewaySettings;
use crate::kafka::{AutoOffsetReset, KafkaConfig};
use crate::load::DEFAULT_ENV_PREFIX;
use crate::memory::MemoryConfig;
use crate::properties::ClientProperties;
use crate::serialization::SerializationConfig;
use crate::service::ServiceConfig;
use crate::streaming::StreamingConfig;
use crate::validate::{Issues, distinct_topics};
use crate::worker::WorkerConfig;

/// The whole configuration of an autogen-kafka process.
///
/// Sections: `kafka`, `runtime`, `agent`, `memory`, `streaming`, `service`, `serialization`, `gateway`.
/// Unknown keys are errors. `Default` gives the Python original's defaults, except for the two
/// settings that have none and must be given: `kafka.bootstrap_servers` and `kafka.group_id`.
///
/// `Debug` and `Serialize` redact every secret, so a config can be logged or dumped safely (a
/// dumped config therefore holds `***` in place of passwords).
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::Config;
///
/// # fn main() -> Result<(), autogen_kafka_config::ConfigError> {
/// let config = Config::builder()
///     .without_env()
///     .bootstrap_servers(["localhost:9092"])
///     .group_id("worker-1")
///     .build()?;
/// assert_eq!(config.runtime.runtime_requests, "runtime_requests");
/// let producer = config.producer_properties();
/// assert_eq!(producer.get("bootstrap.servers"), Some("localhost:9092"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Brokers, identity, topic defaults, security, Schema Registry.
    pub kafka: KafkaConfig,
    /// The worker runtime's topics and deadlines.
    pub runtime: WorkerConfig,
    /// The streaming bridge agent.
    pub agent: AgentConfig,
    /// The Kafka-backed memory.
    pub memory: MemoryConfig,
    /// Consumer and producer tuning.
    pub streaming: StreamingConfig,
    /// Limits and deadlines shared by every service.
    pub service: ServiceConfig,
    /// Record value format.
    pub serialization: SerializationConfig,
    /// The A2A gateway.
    pub gateway: GatewaySettings,
}

impl Config {
    /// A builder to choose the sources (file, environment prefix) and set values in code.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    /// Loads defaults, then `KAFKA_BOOTSTRAP_SERVERS`, then `AUTOGEN_KAFKA_*` variables, and
    /// validates the result.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidEnvValue`] for a variable that names an unknown key or holds a
    /// value of the wrong type; [`ConfigError::Validate`] listing every problem of the result.
    pub fn load() -> Result<Self> {
        Self::builder().build()
    }

    /// Loads defaults, then the file at `path` (TOML, YAML or JSON by extension), then the
    /// environment, and validates the result.
    ///
    /// # Errors
    ///
    /// [`ConfigError::FileNotFound`] if `path` does not exist, [`ConfigError::ParseFile`] with
    /// the line and column of a syntax error, [`ConfigError::InvalidFileValue`] /
    /// [`ConfigError::InvalidEnvValue`] for an unknown key or a value of the wrong type,
    /// [`ConfigError::Validate`] listing every problem of the result.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder().file(path).build()
    }

    /// Checks the whole config and reports every problem at once, each with its key path and
    /// the environment variable that sets it.
    ///
    /// Checks: required settings present, bootstrap servers as `host:port`, legal and distinct
    /// topic names, counts and timeouts above zero, SASL credentials for SASL protocols, TLS
    /// files that exist, heartbeat below a third of the session timeout, socket timeout at least
    /// 1 s above the fetch wait, idempotence with
    /// `acks=all`, an `http(s)` Schema Registry URL when the format needs one.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Validate`] with one [`ValidationIssue`](crate::ValidationIssue) per problem.
    pub fn validate(&self) -> Result<()> {
        self.validate_with_prefix(DEFAULT_ENV_PREFIX)
    }

    /// [`validate`](Self::validate), naming variables with `env_prefix`.
    pub(crate) fn validate_with_prefix(&self, env_prefix: &str) -> Result<()> {
        let mut issues = Issues::new(env_prefix);
        self.kafka.check(&mut issues);
        self.runtime.check(&mut issues);
        self.agent.check(&mut issues);
        self.memory.check(&mut issues);
        self.streaming.check(&mut issues);
        self.service.check(&mut issues);
        self.gateway.check(&mut issues);
        if self.kafka.socket_timeout < self.streaming.fetch_wait_max + Duration::from_secs(1) {
            issues.push(
                "kafka.socket_timeout_ms",
                "must exceed streaming.fetch_wait_max_ms by at least 1000 ms, or a long fetch holds \
                 back the requests behind it until they time out",
            );
        }

        let topics: Vec<(&str, &str)> = self
            .runtime
            .topics()
            .into_iter()
            .chain(self.agent.topics())
            .chain([("gateway.tasks_topic", self.gateway.tasks_topic.as_str())])
            .collect();
        distinct_topics(&mut issues, &topics);

        let format = self.serialization.format;
        if format.needs_schema_registry() {
            self.kafka.schema_registry.check_url(
                &mut issues,
                &format!("serialization.format `{format}` needs a Schema Registry"),
            );
        }

        let issues = issues.into_vec();
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Validate { issues })
        }
    }

    /// librdkafka properties for a consumer in group `group_id`: the client properties,
    /// the consumer tuning of [`StreamingConfig`], `group.id`, `auto.offset.reset`, then the
    /// `kafka.librdkafka` passthrough, which wins.
    ///
    /// Pass `self.kafka.auto_offset_reset` for the runtime's services and
    /// `self.memory.auto_offset_reset` for memory consumers.
    #[must_use]
    pub fn consumer_properties(
        &self,
        group_id: &str,
        auto_offset_reset: AutoOffsetReset,
    ) -> ClientProperties {
        let mut props = self.kafka.base_properties();
        props.merge(self.streaming.consumer_properties());
        props.insert("group.id", group_id);
        props.insert("auto.offset.reset", auto_offset_reset.as_str());
        props.merge(self.kafka.librdkafka.clone());
        props
    }

    /// librdkafka properties for a producer: the client properties, the producer tuning of
    /// [`StreamingConfig`], `request.timeout.ms`, then the `kafka.librdkafka` passthrough,
    /// which wins.
    #[must_use]
    pub fn producer_properties(&self) -> ClientProperties {
        let mut props = self.kafka.base_properties();
        props.merge(self.streaming.producer_properties());
        props.insert(
            "request.timeout.ms",
            crate::de::duration_ms::to_ms(self.kafka.request_timeout).to_string(),
        );
        props.merge(self.kafka.librdkafka.clone());
        props
    }
}

#[cfg(test)]
mod tests;

//! # autogen-kafka-config
//!
//! Configuration for autogen-kafka: plain serde data with the Python original's defaults, loaded
//! in layers (defaults → file → environment → code), validated in one pass that reports every
//! problem, and turned into librdkafka property maps. It depends on no other autogen-kafka
//! crate and not on rdkafka.
//!
//! ## Sections
//!
//! | section | type | holds |
//! |---|---|---|
//! | `kafka` | [`KafkaConfig`] | brokers, `group_id`, `client_id`, topic defaults, `security` ([`SecurityConfig`]), `schema_registry` ([`SchemaRegistryConfig`]), `librdkafka` passthrough |
//! | `runtime` | [`WorkerConfig`] | the worker runtime's topics, RPC deadline, registry heartbeat |
//! | `agent` | [`AgentConfig`] | the streaming bridge agent's topics and deadline |
//! | `memory` | [`MemoryConfig`] | memory topic prefix (`<memory_topic>_<session_id>`), partitions |
//! | `streaming` | [`StreamingConfig`] | consumer/producer tuning (session, heartbeat, linger, acks, partitioner) |
//! | `service` | [`ServiceConfig`] | shutdown deadline, in-flight and channel limits |
//! | `serialization` | [`SerializationConfig`] | `json_schema` (default), `avro` or `json` |
//! | `gateway` | [`GatewaySettings`] | the A2A gateway: address, token variable, skills ([`SkillSettings`]), task topic |
//!
//! Durations are [`Duration`](std::time::Duration)s in the API and whole milliseconds in files
//! and variables, under keys ending in `_ms` (`runtime.rpc_timeout_ms`). Secrets are
//! [`Secret`]s: `Debug`, `Display` and `Serialize` print `***`.
//!
//! ## Precedence
//!
//! Lowest first; a later source overrides single keys of an earlier one:
//!
//! 1. defaults ([`Config::default`]);
//! 2. a config file ([`Config::from_file`], [`ConfigBuilder::file`]): TOML, YAML or JSON by
//!    extension; a file that does not exist is an error;
//! 3. `KAFKA_BOOTSTRAP_SERVERS`, which sets `kafka.bootstrap_servers` (test fixtures and
//!    examples use it);
//! 4. `AUTOGEN_KAFKA_*` variables, so a deliberate `AUTOGEN_KAFKA_KAFKA__BOOTSTRAP_SERVERS`
//!    beats the generic `KAFKA_BOOTSTRAP_SERVERS`;
//! 5. values set on a [`ConfigBuilder`].
//!
//! Loading validates ([`Config::validate`]) and fails fast with every problem listed.
//!
//! ## Environment variables
//!
//! `AUTOGEN_KAFKA_` + the key path in upper case, with `__` between levels:
//!
//! ```text
//! AUTOGEN_KAFKA_KAFKA__BOOTSTRAP_SERVERS=broker-1:9092,broker-2:9092
//! AUTOGEN_KAFKA_KAFKA__GROUP_ID=worker-1
//! AUTOGEN_KAFKA_KAFKA__SECURITY__SASL_PASSWORD=...
//! AUTOGEN_KAFKA_RUNTIME__RPC_TIMEOUT_MS=5000
//! AUTOGEN_KAFKA_KAFKA__LIBRDKAFKA__SOCKET_KEEPALIVE_ENABLE=true   # `_` stands for `.`
//! ```
//!
//! Values are read as text and every field accepts text, so a numeric group id or password
//! (`123`, `0123`) stays exactly as written. The Python original's single-underscore names
//! (`AUTOGEN_KAFKA_KAFKA_GROUP_ID`, `AUTOGEN_KAFKA_SCHEMA_REGISTRY_API_KEY`,
//! `AUTOGEN_KAFKA_MEMORY_MEMORY_TOPIC`) work too. A variable with the prefix that names no key
//! is an error.
//!
//! ## Python config files
//!
//! A Python autogen-kafka YAML or JSON file loads unchanged: a top-level `schema_registry`
//! section lands in `kafka.schema_registry` (`api_key`/`api_secret` are aliases of
//! `username`/`password`); the flat `kafka` keys `security_protocol`, `security_mechanism` or
//! `sasl_mechanism`, `sasl_plain_username`, `sasl_plain_password` land in `kafka.security`; the
//! `runtime` keys `request_topic`/`response_topic` are aliases of
//! `runtime_requests`/`runtime_responses`. One deliberate difference: the replication factor
//! defaults to 1 (Python's constructors), not 3 (Python's `from_dict`, upstream defect D7).
//!
//! In TOML, quote librdkafka property names: `"linger.ms" = "5"` under `[kafka.librdkafka]`.
//!
//! ## Example
//!
//! ```
//! use std::time::Duration;
//! use autogen_kafka_config::{Config, ConfigError, SecurityProtocol};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("autogen.yaml");
//! std::fs::write(&path, "
//! kafka:
//!   bootstrap_servers: broker-1:9092,broker-2:9092
//!   group_id: worker-1
//!   security_protocol: SASL_SSL
//!   sasl_plain_username: api-key
//!   sasl_plain_password: api-secret
//! schema_registry:
//!   url: https://registry.example.com
//! runtime:
//!   rpc_timeout_ms: 5000
//! ")?;
//!
//! let config = Config::builder().file(&path).without_env().build()?;
//! assert_eq!(config.kafka.bootstrap_servers, ["broker-1:9092", "broker-2:9092"]);
//! assert_eq!(config.kafka.security.protocol, SecurityProtocol::SaslSsl);
//! assert_eq!(config.kafka.schema_registry.url, "https://registry.example.com");
//! assert_eq!(config.runtime.rpc_timeout, Duration::from_secs(5));
//!
//! // librdkafka properties; Debug redacts the password.
//! let props = config.consumer_properties("worker-1_KafkaAgentRuntime",
//!                                        config.kafka.auto_offset_reset);
//! assert_eq!(props.get("sasl.password"), Some("api-secret"));
//! assert!(!format!("{props:?} {config:?}").contains("api-secret"));
//!
//! // Every problem at once, with key paths and variable names.
//! let err = Config::builder().without_env().build().unwrap_err();
//! let ConfigError::Validate { issues } = &err else { panic!("{err}") };
//! assert!(issues.iter().any(|i| i.key == "kafka.group_id"
//!     && i.env_var == "AUTOGEN_KAFKA_KAFKA__GROUP_ID"));
//! # Ok(())
//! # }
//! ```
#![doc(test(attr(deny(warnings))))]

mod agent;
mod builder;
mod config;
mod de;
mod error;
mod gateway;
mod kafka;
mod load;
mod memory;
mod properties;
#[cfg(test)]
mod reference;
mod secret;
mod serialization;
mod service;
mod streaming;
mod validate;
mod worker;

pub use agent::AgentConfig;
pub use builder::ConfigBuilder;
pub use config::Config;
pub use error::{ConfigError, ParseError, Result, ValidationIssue};
pub use gateway::{GatewaySettings, SkillSettings};
pub use kafka::{
    AutoOffsetReset, KafkaConfig, SaslMechanism, SchemaRegistryConfig, SecurityConfig,
    SecurityProtocol,
};
pub use load::FileFormat;
pub use memory::MemoryConfig;
pub use properties::ClientProperties;
pub use secret::Secret;
pub use serialization::{SerializationConfig, SerializationFormat};
pub use service::ServiceConfig;
pub use streaming::{Acks, Partitioner, StreamingConfig};
pub use worker::WorkerConfig;

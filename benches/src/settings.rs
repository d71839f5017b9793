//! The client settings every measurement on one broker shares, and the runtime configuration made from them.
//!
//! The raw baseline takes its librdkafka properties from the same [`Config`] the runtime is built from
//! ([`Settings::producer_properties`], [`Settings::consumer_properties`]), so both sides run with identical
//! `fetch.wait.max.ms`, `linger.ms`, `acks`, idempotence, session and heartbeat timeouts.

use std::collections::BTreeMap;
use std::time::Duration;

use autogen_kafka::admin::CreateMode;
use autogen_kafka::config::{AutoOffsetReset, Config, SerializationFormat};
use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka_testing::BrokerKind;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};

/// The client settings of one broker's run, written into the results.
///
/// # Examples
///
/// ```
/// use autogen_kafka_bench::Settings;
/// use autogen_kafka_testing::BrokerKind;
///
/// let settings = Settings::for_broker(BrokerKind::Tansu, "127.0.0.1:9092");
/// let config = settings.runtime_config("fleet", "group").unwrap();
/// assert_eq!(config.streaming.fetch_wait_max.as_millis(), 5);
/// let producer = settings.producer_properties().unwrap();
/// assert_eq!(producer.get("linger.ms").map(String::as_str), Some("0"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// The broker kind: `mock`, `tansu` or `external`.
    pub broker: String,
    /// Consumer `fetch.wait.max.ms`.
    pub fetch_wait_max_ms: u64,
    /// Producer `linger.ms`.
    pub linger_ms: u64,
    /// Producer `acks`.
    pub acks: String,
    /// Producer `enable.idempotence`.
    pub enable_idempotence: bool,
    /// Consumer-group `session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// Consumer-group `heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
    /// How often consumed offsets are committed (runtime commit interval, raw `auto.commit.interval.ms`).
    pub commit_interval_ms: u64,
    /// Partitions of the request topics (runtime and raw).
    pub partitions: i32,
    /// The runtime's default RPC deadline.
    pub rpc_timeout_ms: u64,
    /// Records of one partition the runtime's consumers may have in flight before pausing it.
    pub max_in_flight_per_partition: usize,
    /// Records a runtime's request consumers may have in flight together.
    pub max_in_flight: usize,
    /// How often a runtime renews its registrations.
    pub registry_heartbeat_ms: u64,
    /// When an unrenewed registration expires.
    pub registry_expiry_ms: u64,
    /// Bytes of padding in every request and publication (the application payload).
    pub payload_bytes: usize,
    /// Each agent type's requests on a topic of its own (`runtime.request_topic_per_type`).
    #[serde(default)]
    pub request_topic_per_type: bool,
}

/// Environment variable overriding the producers' `linger.ms` (default 0), runtime and baseline alike.
pub(crate) const LINGER_ENV: &str = "BENCH_LINGER_MS";

/// Environment variable overriding the runtimes' registry heartbeat (default 1000 ms; the expiry is 5 heartbeats).
pub(crate) const HEARTBEAT_ENV: &str = "BENCH_HEARTBEAT_MS";

fn linger_from_env() -> u64 {
    env_ms(LINGER_ENV, 0)
}

fn env_ms(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Settings {
    /// How often librdkafka reports statistics to the runtime (its consumers and data producer) and to the raw
    /// echo's consumer and producer alike: the produce requests per answer of a measured run come from the reports
    /// before and after it.
    pub const STATISTICS_INTERVAL_MS: u64 = 250;

    /// The settings used for a broker of `kind` at `bootstrap_servers`.
    ///
    /// Group timings follow the test fixture's measured minimums: Tansu 2000/300 ms (it livelocks below a
    /// 1000 ms session), the mock and external brokers 6000/500 ms (the smallest session a default Kafka broker
    /// accepts). `fetch.wait.max.ms` is 5 because neither the mock nor Tansu answers a parked fetch early.
    #[must_use]
    pub fn for_broker(kind: BrokerKind, bootstrap_servers: &str) -> Self {
        let (session, heartbeat) = match kind {
            BrokerKind::Tansu => (2000, 300),
            _ => (6000, 500),
        };
        Self {
            bootstrap_servers: bootstrap_servers.to_owned(),
            broker: kind.as_str().to_owned(),
            fetch_wait_max_ms: 5,
            linger_ms: linger_from_env(),
            acks: "all".to_owned(),
            enable_idempotence: true,
            session_timeout_ms: session,
            heartbeat_interval_ms: heartbeat,
            commit_interval_ms: 100,
            partitions: 6,
            rpc_timeout_ms: 20_000,
            max_in_flight_per_partition: 128,
            max_in_flight: 1024,
            registry_heartbeat_ms: env_ms(HEARTBEAT_ENV, 1000),
            registry_expiry_ms: env_ms(HEARTBEAT_ENV, 1000).saturating_mul(5),
            payload_bytes: 100,
            request_topic_per_type: false,
        }
    }

    /// The broker kind these settings are for.
    #[must_use]
    pub fn kind(&self) -> BrokerKind {
        match self.broker.as_str() {
            "mock" => BrokerKind::Mock,
            "tansu" => BrokerKind::Tansu,
            _ => BrokerKind::External,
        }
    }

    /// The RPC deadline.
    #[must_use]
    pub const fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.rpc_timeout_ms)
    }

    /// The runtime configuration of a fleet: topics prefixed with `fleet`, consumer group `group`.
    ///
    /// # Errors
    ///
    /// [`BenchError::Runtime`] when the configuration does not validate.
    pub fn runtime_config(&self, fleet: &str, group: &str) -> Result<Config> {
        let statistics = Self::STATISTICS_INTERVAL_MS;
        let mut builder = Config::builder()
            .without_env()
            .bootstrap_servers([self.bootstrap_servers.as_str()])
            .group_id(group)
            .serialization_format(SerializationFormat::Json)
            .rpc_timeout(self.rpc_timeout())
            .set("kafka.num_partitions", self.partitions)
            .set("streaming.fetch_wait_max_ms", self.fetch_wait_max_ms)
            .set("streaming.linger_ms", self.linger_ms)
            .set("streaming.acks", self.acks.as_str())
            .set("streaming.enable_idempotence", self.enable_idempotence)
            .set("streaming.session_timeout_ms", self.session_timeout_ms)
            .set(
                "streaming.heartbeat_interval_ms",
                self.heartbeat_interval_ms,
            )
            .set("streaming.commit_interval_ms", self.commit_interval_ms)
            .set(
                "streaming.max_in_flight_per_partition",
                self.max_in_flight_per_partition,
            )
            .set("service.max_in_flight", self.max_in_flight)
            .set("runtime.registry_heartbeat_ms", self.registry_heartbeat_ms)
            .set("runtime.registry_expiry_ms", self.registry_expiry_ms)
            .set("runtime.startup_timeout_ms", 60_000)
            .set(
                "runtime.request_topic_per_type",
                self.request_topic_per_type,
            )
            .set("service.shutdown_timeout_ms", 10_000)
            .set("streaming.statistics_interval_ms", statistics);
        for (key, suffix) in Self::topic_roles() {
            builder = builder.set(key, format!("{fleet}.{suffix}"));
        }
        builder
            .build()
            .map_err(|source| BenchError::runtime("configure", source))
    }

    /// The shared topics of a fleet (what [`runtime_config`](Self::runtime_config) names them).
    #[must_use]
    pub fn fleet_topics(fleet: &str) -> Vec<String> {
        Self::topic_roles()
            .iter()
            .map(|(_, suffix)| format!("{fleet}.{suffix}"))
            .collect()
    }

    const fn topic_roles() -> [(&'static str, &'static str); 8] {
        [
            ("runtime.runtime_requests", "requests"),
            ("runtime.runtime_responses", "responses"),
            ("runtime.registry_topic", "registry"),
            ("runtime.subscription_topic", "subscriptions"),
            ("runtime.publish_topic", "publishes"),
            ("runtime.dead_letter_topic", "dead_letters"),
            ("runtime.state_topic", "state"),
            ("runtime.runtimes_topic", "runtimes"),
        ]
    }

    /// A runtime of `fleet` in group `group`, named `instance`, built with topic creation suited to the broker
    /// (the mock cluster has no Admin API) and the configured consumer lanes.
    ///
    /// # Errors
    ///
    /// [`BenchError::Runtime`] when the configuration is invalid or the producer cannot be created.
    pub fn runtime(
        &self,
        fleet: &str,
        group: &str,
        instance: &str,
    ) -> Result<KafkaWorkerAgentRuntime> {
        self.runtime_tuned(fleet, group, instance, |_| {})
    }

    /// [`runtime`](Self::runtime), with its configuration changed by `tune` first.
    ///
    /// # Errors
    ///
    /// As [`runtime`](Self::runtime).
    pub fn runtime_tuned(
        &self,
        fleet: &str,
        group: &str,
        instance: &str,
        tune: impl FnOnce(&mut Config),
    ) -> Result<KafkaWorkerAgentRuntime> {
        let mode = match self.kind() {
            BrokerKind::Mock => CreateMode::AutoCreate,
            _ => CreateMode::Admin,
        };
        let mut config = self.runtime_config(fleet, group)?;
        tune(&mut config);
        KafkaWorkerAgentRuntime::builder(config)
            .instance_id(instance)
            .topic_creation(mode)
            .build()
            .map_err(|source| BenchError::runtime("build", source))
    }

    /// The librdkafka producer properties of the runtime, for the raw baseline's producers. `message.timeout.ms`
    /// is set to the request timeout, as the runtime's producer does.
    ///
    /// # Errors
    ///
    /// [`BenchError::Runtime`] when the configuration does not validate.
    pub fn producer_properties(&self) -> Result<BTreeMap<String, String>> {
        let config = self.runtime_config("raw", "raw")?;
        let mut properties = config.producer_properties().into_map();
        properties
            .entry("message.timeout.ms".to_owned())
            .or_insert_with(|| config.kafka.request_timeout.as_millis().to_string());
        Ok(properties)
    }

    /// The librdkafka consumer properties of the runtime's request consumers for group `group`, for the raw
    /// baseline's consumers (offsets committed every `commit_interval_ms` by librdkafka's auto-commit).
    ///
    /// # Errors
    ///
    /// [`BenchError::Runtime`] when the configuration does not validate.
    pub fn consumer_properties(&self, group: &str) -> Result<BTreeMap<String, String>> {
        let config = self.runtime_config("raw", group)?;
        let mut properties = config
            .consumer_properties(group, AutoOffsetReset::Earliest)
            .into_map();
        properties.insert("enable.partition.eof".to_owned(), "false".to_owned());
        Ok(properties)
    }

    /// The padding carried by every request and publication.
    #[must_use]
    pub fn padding(&self) -> String {
        "x".repeat(self.payload_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_clients_get_the_runtime_s_tuning() {
        let settings = Settings::for_broker(BrokerKind::Mock, "127.0.0.1:1");
        let producer = settings.producer_properties().unwrap();
        assert_eq!(producer["linger.ms"], "0");
        assert_eq!(producer["acks"], "all");
        assert_eq!(producer["enable.idempotence"], "true");
        let consumer = settings.consumer_properties("g").unwrap();
        assert_eq!(consumer["fetch.wait.max.ms"], "5");
        assert_eq!(consumer["session.timeout.ms"], "6000");
        assert_eq!(consumer["heartbeat.interval.ms"], "500");
        assert_eq!(consumer["auto.commit.interval.ms"], "100");
        assert_eq!(consumer["group.id"], "g");
    }

    #[test]
    fn tansu_gets_short_group_timeouts_and_settings_round_trip_through_json() {
        let settings = Settings::for_broker(BrokerKind::Tansu, "127.0.0.1:2");
        assert_eq!(settings.kind(), BrokerKind::Tansu);
        let config = settings.runtime_config("f", "g").unwrap();
        assert_eq!(config.streaming.session_timeout, Duration::from_secs(2));
        assert_eq!(config.runtime.runtime_requests, "f.requests");
        assert_eq!(config.kafka.num_partitions, 6);
        let text = serde_json::to_string(&settings).unwrap();
        let back: Settings = serde_json::from_str(&text).unwrap();
        assert_eq!(back, settings);
        assert_eq!(Settings::fleet_topics("f").len(), 8);
    }
}

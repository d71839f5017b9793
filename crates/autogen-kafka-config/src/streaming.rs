//! The `streaming` section: consumer and producer tuning.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::de::{self, duration_ms::to_ms, string_enum};
use crate::properties::ClientProperties;
use crate::validate::Issues;

string_enum! {
    /// How many replicas must confirm a write (`acks`).
    pub enum Acks {
        /// Every in-sync replica (`all`, also written `-1`). Required by idempotence. The default.
        #[default]
        All = "all" | "-1",
        /// The partition leader only (`1`).
        Leader = "1",
        /// No confirmation (`0`).
        None = "0",
    }
}

string_enum! {
    /// How the producer maps a key to a partition (`partitioner`).
    pub enum Partitioner {
        /// murmur2 of the key (Java's and aiokafka's hash), random for null keys. The default,
        /// so keys land in the same partitions as the Python original's (WIRE §1).
        #[default]
        Murmur2Random = "murmur2_random",
        /// murmur2 of the key, null keys to one partition.
        Murmur2 = "murmur2",
        /// CRC32 of the key, random for null keys (librdkafka's default).
        ConsistentRandom = "consistent_random",
        /// CRC32 of the key, null keys to one partition.
        Consistent = "consistent",
        /// Random partition.
        Random = "random",
        /// FNV-1a of the key, null keys to one partition.
        Fnv1a = "fnv1a",
        /// FNV-1a of the key, random for null keys.
        Fnv1aRandom = "fnv1a_random",
    }
}

/// The `streaming` section ([`Config::streaming`](crate::Config::streaming)): how consumers and
/// producers are tuned. Durations are written in milliseconds (`*_ms` keys).
///
/// Consumer defaults follow aiokafka, the Python original's client (session 10 s, heartbeat 3 s,
/// max poll interval 5 min).
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::StreamingConfig;
///
/// let streaming = StreamingConfig::default();
/// let producer = streaming.producer_properties();
/// assert_eq!(producer.get("partitioner"), Some("murmur2_random"));
/// assert_eq!(producer.get("enable.idempotence"), Some("true"));
/// let consumer = streaming.consumer_properties();
/// assert_eq!(consumer.get("session.timeout.ms"), Some("10000"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct StreamingConfig {
    /// Longest time the broker holds a fetch waiting for data (`fetch.wait.max.ms`).
    /// Written `fetch_wait_max_ms`. Default 500 ms; may be 0.
    #[serde(rename = "fetch_wait_max_ms", with = "de::duration_ms")]
    pub fetch_wait_max: Duration,
    /// Group session timeout (`session.timeout.ms`). Written `session_timeout_ms`. Default 10 s.
    #[serde(rename = "session_timeout_ms", with = "de::duration_ms")]
    pub session_timeout: Duration,
    /// Group heartbeat interval (`heartbeat.interval.ms`), below a third of the session timeout.
    /// Written `heartbeat_interval_ms`. Default 3 s.
    #[serde(rename = "heartbeat_interval_ms", with = "de::duration_ms")]
    pub heartbeat_interval: Duration,
    /// How long the producer batches records (`linger.ms`). Written `linger_ms`. Default 5 ms;
    /// may be 0.
    #[serde(rename = "linger_ms", with = "de::duration_ms")]
    pub linger: Duration,
    /// Longest time between two polls before the consumer leaves its group
    /// (`max.poll.interval.ms`). Written `max_poll_interval_ms`. Default 5 min.
    #[serde(rename = "max_poll_interval_ms", with = "de::duration_ms")]
    pub max_poll_interval: Duration,
    /// Idempotent producer (no duplicates on retry; needs `acks=all`). Default true.
    #[serde(deserialize_with = "de::boolean")]
    pub enable_idempotence: bool,
    /// Replica confirmations per write. Default `all`.
    pub acks: Acks,
    /// Key → partition mapping. Default `murmur2_random` (Python-compatible).
    pub partitioner: Partitioner,
    /// How often processed offsets are committed (`auto.commit.interval.ms`).
    /// Written `commit_interval_ms`. Default 5 s.
    #[serde(rename = "commit_interval_ms", with = "de::duration_ms")]
    pub commit_interval: Duration,
    /// Records of one partition a consumer may have in flight (read and not done: handled, queued behind their
    /// agent id, or waiting for the answer's acknowledgement). At the bound the partition is paused, and resumed
    /// below three quarters of it; the poll loop never waits. Records of one agent id are always handled in
    /// order and records of different agent ids concurrently; 1 handles a partition strictly in offset order.
    /// Default 128.
    #[serde(deserialize_with = "de::number")]
    pub max_in_flight_per_partition: usize,
    /// How often consumers report librdkafka statistics, from which the runtime exports the consumer lag and
    /// its consumer counters (`statistics.interval.ms`). Written `statistics_interval_ms`. Default 5 s.
    #[serde(rename = "statistics_interval_ms", with = "de::duration_ms")]
    pub statistics_interval: Duration,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        Self {
            fetch_wait_max: Duration::from_millis(500),
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(3),
            linger: Duration::from_millis(5),
            max_poll_interval: Duration::from_secs(300),
            enable_idempotence: true,
            acks: Acks::All,
            partitioner: Partitioner::Murmur2Random,
            commit_interval: Duration::from_secs(5),
            max_in_flight_per_partition: 128,
            statistics_interval: Duration::from_secs(5),
        }
    }
}

impl StreamingConfig {
    /// The consumer tuning properties: `fetch.wait.max.ms`, `session.timeout.ms`,
    /// `heartbeat.interval.ms`, `max.poll.interval.ms`, `auto.commit.interval.ms`.
    #[must_use]
    pub fn consumer_properties(&self) -> ClientProperties {
        [
            ("fetch.wait.max.ms", self.fetch_wait_max),
            ("session.timeout.ms", self.session_timeout),
            ("heartbeat.interval.ms", self.heartbeat_interval),
            ("max.poll.interval.ms", self.max_poll_interval),
            ("auto.commit.interval.ms", self.commit_interval),
        ]
        .into_iter()
        .map(|(k, d)| (k, to_ms(d).to_string()))
        .collect()
    }

    /// The producer tuning properties: `linger.ms`, `enable.idempotence`, `acks`, `partitioner`, and
    /// `allow.auto.create.topics=false`: a producer's metadata request never lets the broker create a topic with
    /// its own defaults (the runtime creates its topics at start-up, with the configured partitions and policies).
    #[must_use]
    pub fn producer_properties(&self) -> ClientProperties {
        let mut props = ClientProperties::new();
        props.insert("allow.auto.create.topics", "false");
        props.insert("linger.ms", to_ms(self.linger).to_string());
        props.insert("enable.idempotence", self.enable_idempotence.to_string());
        props.insert("acks", self.acks.as_str());
        props.insert("partitioner", self.partitioner.as_str());
        props
    }

    pub(crate) fn check(&self, issues: &mut Issues) {
        issues.positive_duration("streaming.session_timeout_ms", self.session_timeout);
        issues.positive_duration("streaming.heartbeat_interval_ms", self.heartbeat_interval);
        issues.positive_duration("streaming.max_poll_interval_ms", self.max_poll_interval);
        issues.positive_duration("streaming.commit_interval_ms", self.commit_interval);
        issues.positive_duration("streaming.statistics_interval_ms", self.statistics_interval);
        if !self.heartbeat_interval.is_zero()
            && self.heartbeat_interval.saturating_mul(3) >= self.session_timeout
        {
            issues.push(
                "streaming.heartbeat_interval_ms",
                format!(
                    "{} ms must be below a third of streaming.session_timeout_ms ({} ms)",
                    to_ms(self.heartbeat_interval),
                    to_ms(self.session_timeout)
                ),
            );
        }
        if self.max_poll_interval < self.session_timeout {
            issues.push(
                "streaming.max_poll_interval_ms",
                format!(
                    "{} ms must be at least streaming.session_timeout_ms ({} ms)",
                    to_ms(self.max_poll_interval),
                    to_ms(self.session_timeout)
                ),
            );
        }
        if self.enable_idempotence && self.acks != Acks::All {
            issues.push(
                "streaming.acks",
                format!(
                    "`{}` is not allowed with enable_idempotence; use `all`",
                    self.acks
                ),
            );
        }
        issues.at_least_one(
            "streaming.max_in_flight_per_partition",
            self.max_in_flight_per_partition as u64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_accepts_numbers_and_text() {
        #[derive(Deserialize)]
        struct Probe {
            acks: Acks,
        }
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<Probe>(serde_json::json!({ "acks": v }))
                .map(|p| p.acks)
                .ok()
        };
        assert_eq!(parse((-1).into()), Some(Acks::All));
        assert_eq!(parse(1.into()), Some(Acks::Leader));
        assert_eq!(parse("0".into()), Some(Acks::None));
        assert_eq!(parse("ALL".into()), Some(Acks::All));
        assert_eq!(parse("2".into()), None);
    }

    #[test]
    fn tuning_maps_use_librdkafka_names_and_milliseconds() {
        let streaming = StreamingConfig {
            fetch_wait_max: Duration::from_millis(10),
            linger: Duration::ZERO,
            ..StreamingConfig::default()
        };
        let consumer = streaming.consumer_properties();
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("10"));
        assert_eq!(consumer.get("heartbeat.interval.ms"), Some("3000"));
        assert_eq!(consumer.get("max.poll.interval.ms"), Some("300000"));
        assert_eq!(consumer.get("auto.commit.interval.ms"), Some("5000"));
        let producer = streaming.producer_properties();
        assert_eq!(producer.get("linger.ms"), Some("0"));
        assert_eq!(producer.get("acks"), Some("all"));
    }
}

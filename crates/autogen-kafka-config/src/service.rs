//! The `service` section: settings every service shares.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::de;
use crate::validate::Issues;

/// The `service` section ([`Config::service`](crate::Config::service)): limits and deadlines
/// every Kafka-backed service (runtime, registry, subscriptions, memory, bridge agent) shares.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_config::ServiceConfig;
///
/// let service = ServiceConfig::default();
/// assert_eq!(service.shutdown_timeout, Duration::from_secs(10));
/// assert!(service.auto_create_topics);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// How long a graceful shutdown may take (drain, commit, flush) before tasks are dropped.
    /// Written `shutdown_timeout_ms`. Default 10 s.
    #[serde(rename = "shutdown_timeout_ms", with = "de::duration_ms")]
    pub shutdown_timeout: Duration,
    /// Records a runtime's request consumers may have in flight together, across all partitions and agent types;
    /// at the bound they pause their partitions until records finish. Default 1024.
    #[serde(deserialize_with = "de::number")]
    pub max_in_flight: usize,
    /// Capacity of every bounded internal channel. Default 1024.
    #[serde(deserialize_with = "de::number")]
    pub channel_capacity: usize,
    /// Create missing topics at startup (as the Python original does). Default true.
    #[serde(deserialize_with = "de::boolean")]
    pub auto_create_topics: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout: Duration::from_secs(10),
            max_in_flight: 1024,
            channel_capacity: 1024,
            auto_create_topics: true,
        }
    }
}

impl ServiceConfig {
    pub(crate) fn check(&self, issues: &mut Issues) {
        issues.positive_duration("service.shutdown_timeout_ms", self.shutdown_timeout);
        issues.at_least_one("service.max_in_flight", self.max_in_flight as u64);
        issues.at_least_one("service.channel_capacity", self.channel_capacity as u64);
    }
}

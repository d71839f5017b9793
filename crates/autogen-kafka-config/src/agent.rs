//! The `agent` section: topics of the streaming bridge agent.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::de;
use crate::validate::{Issues, MAX_TOPIC_LEN};

/// The `agent` section ([`Config::agent`](crate::Config::agent)): the streaming bridge agent
/// that forwards messages to an external Kafka processor and waits for its answer.
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::AgentConfig;
///
/// let agent = AgentConfig::default();
/// assert_eq!(agent.topics(), [("agent.request_topic", "agent_request"),
///                             ("agent.response_topic", "agent_response")]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AgentConfig {
    /// Where requests (AgentEvent) go. Default `agent_request`.
    #[serde(deserialize_with = "de::string")]
    pub request_topic: String,
    /// Where answers (AgentEvent with the same `id`) come from. Default `agent_response`.
    #[serde(deserialize_with = "de::string")]
    pub response_topic: String,
    /// How long to wait for an answer (the Python original waits forever, defect D1).
    /// Written `request_timeout_ms`. Default 30 s.
    #[serde(rename = "request_timeout_ms", with = "de::duration_ms")]
    pub request_timeout: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            request_topic: "agent_request".to_owned(),
            response_topic: "agent_response".to_owned(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl AgentConfig {
    /// Both topics with their key paths.
    #[must_use]
    pub fn topics(&self) -> [(&'static str, &str); 2] {
        [
            ("agent.request_topic", self.request_topic.as_str()),
            ("agent.response_topic", self.response_topic.as_str()),
        ]
    }

    pub(crate) fn check(&self, issues: &mut Issues) {
        for (key, topic) in self.topics() {
            issues.topic(key, topic, MAX_TOPIC_LEN);
        }
        issues.positive_duration("agent.request_timeout_ms", self.request_timeout);
    }
}

//! The `runtime` section: topics and deadlines of the distributed worker runtime.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::de;
use crate::validate::{Issues, MAX_TOPIC_LEN};

/// The `runtime` section ([`Config::runtime`](crate::Config::runtime)): the worker runtime's
/// topics and deadlines.
///
/// The first five topics and their defaults are the Python original's (WIRE §2). The keys are
/// Python's file keys: `runtime_requests` and `runtime_responses` (the aliases `request_topic` and
/// `response_topic`, the Python constructor's names, are accepted too).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_config::WorkerConfig;
///
/// let mut runtime = WorkerConfig::default();
/// assert_eq!(runtime.runtime_requests, "runtime_requests");
/// runtime.rpc_timeout = Duration::from_secs(5);
/// assert!(runtime.topics().contains(&("runtime.publish_topic", "agent_publishes")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// RPC requests (RequestEvent). Default `runtime_requests`. Alias `request_topic`.
    #[serde(alias = "request_topic", deserialize_with = "de::string")]
    pub runtime_requests: String,
    /// RPC responses (ResponseEvent). Default `runtime_responses`. Alias `response_topic`.
    #[serde(alias = "response_topic", deserialize_with = "de::string")]
    pub runtime_responses: String,
    /// Agent type registrations (RegistrationEvent). Default `agent_registry`.
    #[serde(deserialize_with = "de::string")]
    pub registry_topic: String,
    /// Subscription changes (SubscriptionEvent). Default `agent_subscriptions`.
    #[serde(deserialize_with = "de::string")]
    pub subscription_topic: String,
    /// Published messages (CloudEvent). Default `agent_publishes`.
    #[serde(deserialize_with = "de::string")]
    pub publish_topic: String,
    /// Records that could not be decoded or handled (extension). Default `autogen_dead_letters`.
    #[serde(deserialize_with = "de::string")]
    pub dead_letter_topic: String,
    /// Saved agent state (extension). Default `agent_state`.
    #[serde(deserialize_with = "de::string")]
    pub state_topic: String,
    /// The fleet's Rust runtimes, one compacted entry per instance with its reply topic and expiry
    /// (extension). Default `agent_runtimes`.
    #[serde(deserialize_with = "de::string")]
    pub runtimes_topic: String,
    /// This runtime's instance id; its reply topic is `<runtime_responses>.<instance_id>`. Default: a fresh
    /// uuid at each start. Set a stable name to keep one identity across restarts, e.g. a StatefulSet's pod
    /// name: `AUTOGEN_KAFKA_RUNTIME__INSTANCE_ID=$(POD_NAME)`. Two live runtimes must never share one.
    #[serde(deserialize_with = "de::opt_string")]
    pub instance_id: Option<String>,
    /// Deadline of one RPC (`send_message`). Written `rpc_timeout_ms`. Default 30 s.
    #[serde(rename = "rpc_timeout_ms", with = "de::duration_ms")]
    pub rpc_timeout: Duration,
    /// How often a runtime re-announces its agent types. Written `registry_heartbeat_ms`.
    /// Default 10 s.
    #[serde(rename = "registry_heartbeat_ms", with = "de::duration_ms")]
    pub registry_heartbeat: Duration,
    /// How long an agent type stays registered without a heartbeat; must exceed the heartbeat.
    /// Written `registry_expiry_ms`. Default 30 s.
    #[serde(rename = "registry_expiry_ms", with = "de::duration_ms")]
    pub registry_expiry: Duration,
    /// Deadline for the runtime to create topics, join its groups and get partitions.
    /// Written `startup_timeout_ms`. Default 60 s.
    #[serde(rename = "startup_timeout_ms", with = "de::duration_ms")]
    pub startup_timeout: Duration,
    /// How long after a runtime expired (no heartbeat for `registry_expiry_ms`) the surviving runtimes remove
    /// what it left: its reply topic, its registrations and subscriptions. Written `cleanup_grace_ms`.
    /// Default 5 min.
    #[serde(rename = "cleanup_grace_ms", with = "de::duration_ms")]
    pub cleanup_grace: Duration,
    /// How long an agent instance may go without a message before it is passivated: its state saved and
    /// acknowledged, `close` called, the instance dropped. Its next message activates it again with that state.
    /// 0 keeps instances until their partition moves. Written `agent_idle_timeout_ms`. Default 15 min.
    #[serde(rename = "agent_idle_timeout_ms", with = "de::duration_ms")]
    pub agent_idle_timeout: Duration,
    /// At most this many agent instances stay active in this runtime; beyond it the least recently used idle ones
    /// are passivated (checked as often as idle ones). 0 sets no limit. Default 0.
    #[serde(deserialize_with = "de::number")]
    pub max_active_agents: u64,
    /// Each agent type's requests go to a topic of its own, `<runtime_requests>.<agent type>`, which only that
    /// type's consumer group reads, instead of every type's group reading the shared `runtime_requests`. For
    /// fleets of Rust runtimes only: the Python original reads and writes the shared topic, so a mixed fleet keeps
    /// this off. Every runtime of a fleet must agree. Agent types must then be valid topic name parts (ASCII
    /// letters, digits, `.`, `_`, `-`). Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub request_topic_per_type: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            runtime_requests: "runtime_requests".to_owned(),
            runtime_responses: "runtime_responses".to_owned(),
            registry_topic: "agent_registry".to_owned(),
            subscription_topic: "agent_subscriptions".to_owned(),
            publish_topic: "agent_publishes".to_owned(),
            dead_letter_topic: "autogen_dead_letters".to_owned(),
            state_topic: "agent_state".to_owned(),
            runtimes_topic: "agent_runtimes".to_owned(),
            instance_id: None,
            rpc_timeout: Duration::from_secs(30),
            registry_heartbeat: Duration::from_secs(10),
            registry_expiry: Duration::from_secs(30),
            startup_timeout: Duration::from_secs(60),
            cleanup_grace: Duration::from_secs(300),
            agent_idle_timeout: Duration::from_secs(15 * 60),
            max_active_agents: 0,
            request_topic_per_type: false,
        }
    }
}

impl WorkerConfig {
    /// Every topic of the runtime with its key path, e.g. `("runtime.publish_topic", "agent_publishes")`.
    #[must_use]
    pub fn topics(&self) -> [(&'static str, &str); 8] {
        [
            ("runtime.runtime_requests", self.runtime_requests.as_str()),
            ("runtime.runtime_responses", self.runtime_responses.as_str()),
            ("runtime.registry_topic", self.registry_topic.as_str()),
            (
                "runtime.subscription_topic",
                self.subscription_topic.as_str(),
            ),
            ("runtime.publish_topic", self.publish_topic.as_str()),
            ("runtime.dead_letter_topic", self.dead_letter_topic.as_str()),
            ("runtime.state_topic", self.state_topic.as_str()),
            ("runtime.runtimes_topic", self.runtimes_topic.as_str()),
        ]
    }

    /// The topic requests to `agent_type` go to: `runtime_requests`, or `<runtime_requests>.<agent_type>` with
    /// [`WorkerConfig::request_topic_per_type`].
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_config::WorkerConfig;
    ///
    /// let mut runtime = WorkerConfig::default();
    /// assert_eq!(runtime.request_topic("echo"), "runtime_requests");
    /// runtime.request_topic_per_type = true;
    /// assert_eq!(runtime.request_topic("echo"), "runtime_requests.echo");
    /// ```
    #[must_use]
    pub fn request_topic(&self, agent_type: &str) -> std::borrow::Cow<'_, str> {
        if self.request_topic_per_type {
            format!("{}.{agent_type}", self.runtime_requests).into()
        } else {
            self.runtime_requests.as_str().into()
        }
    }

    pub(crate) fn check(&self, issues: &mut Issues) {
        for (key, topic) in self.topics() {
            issues.topic(key, topic, MAX_TOPIC_LEN);
        }
        issues.positive_duration("runtime.rpc_timeout_ms", self.rpc_timeout);
        issues.positive_duration("runtime.registry_heartbeat_ms", self.registry_heartbeat);
        issues.positive_duration("runtime.registry_expiry_ms", self.registry_expiry);
        issues.positive_duration("runtime.startup_timeout_ms", self.startup_timeout);
        if let Some(id) = &self.instance_id {
            if id.is_empty() {
                issues.push("runtime.instance_id", "must not be empty".to_owned());
            } else {
                // The reply topic's name carries it.
                issues.topic(
                    "runtime.instance_id",
                    &format!("{}.{id}", self.runtime_responses),
                    MAX_TOPIC_LEN,
                );
            }
        }
        if !self.registry_heartbeat.is_zero() && self.registry_expiry <= self.registry_heartbeat {
            issues.push(
                "runtime.registry_expiry_ms",
                format!(
                    "must be greater than runtime.registry_heartbeat_ms ({} ms), or entries expire between heartbeats",
                    de::duration_ms::to_ms(self.registry_heartbeat)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_defaults_match_the_python_original() {
        let runtime = WorkerConfig::default();
        assert_eq!(runtime.runtime_requests, "runtime_requests");
        assert_eq!(runtime.runtime_responses, "runtime_responses");
        assert_eq!(runtime.registry_topic, "agent_registry");
        assert_eq!(runtime.subscription_topic, "agent_subscriptions");
        assert_eq!(runtime.publish_topic, "agent_publishes");
        assert_eq!(runtime.dead_letter_topic, "autogen_dead_letters");
        assert_eq!(runtime.state_topic, "agent_state");
        assert_eq!(runtime.rpc_timeout, Duration::from_millis(30_000));
    }

    #[test]
    fn constructor_names_are_aliases() {
        let runtime: WorkerConfig = serde_json::from_str(
            r#"{"request_topic": "req", "response_topic": "resp", "rpc_timeout_ms": "1500"}"#,
        )
        .unwrap();
        assert_eq!(runtime.runtime_requests, "req");
        assert_eq!(runtime.runtime_responses, "resp");
        assert_eq!(runtime.rpc_timeout, Duration::from_millis(1500));
        let written = serde_json::to_value(&runtime).unwrap();
        assert_eq!(written["runtime_requests"], "req");
        assert_eq!(written["rpc_timeout_ms"], 1500);
    }
}

//! The `memory` section: the shared, Kafka-backed agent memory.

use serde::{Deserialize, Serialize};

use crate::de;
use crate::kafka::AutoOffsetReset;
use crate::validate::{Issues, MAX_TOPIC_LEN};

/// Room left in a memory topic name for `_<session id>` (a UUID is 36 characters).
const SESSION_SUFFIX_LEN: usize = 1 + 36;

/// The `memory` section ([`Config::memory`](crate::Config::memory)): one topic per session,
/// named `<memory_topic>_<session_id>`, replayed from the start by every instance.
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::MemoryConfig;
///
/// let memory = MemoryConfig::default();
/// assert_eq!(memory.topic("chat-1"), "memory_chat-1");
/// assert_eq!(memory.num_partitions, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// Topic name prefix. Default `memory`.
    #[serde(deserialize_with = "de::string")]
    pub memory_topic: String,
    /// Partitions of a memory topic; 1 keeps the history in order. Default 1.
    #[serde(deserialize_with = "de::number")]
    pub num_partitions: u32,
    /// Where a new memory consumer starts; `earliest` rebuilds the history. Default `earliest`.
    pub auto_offset_reset: AutoOffsetReset,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            memory_topic: "memory".to_owned(),
            num_partitions: 1,
            auto_offset_reset: AutoOffsetReset::Earliest,
        }
    }
}

impl MemoryConfig {
    /// The topic of one session: `<memory_topic>_<session_id>`.
    #[must_use]
    pub fn topic(&self, session_id: &str) -> String {
        format!("{}_{session_id}", self.memory_topic)
    }

    pub(crate) fn check(&self, issues: &mut Issues) {
        issues.topic(
            "memory.memory_topic",
            &self.memory_topic,
            MAX_TOPIC_LEN - SESSION_SUFFIX_LEN,
        );
        issues.at_least_one("memory.num_partitions", self.num_partitions.into());
    }
}

//! What a topic should look like: [`TopicSpec`] and its [`Cleanup`] policy.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::{AdminError, Result};

/// The topic config key that [`TopicSpec::cleanup`] controls.
pub(crate) const CLEANUP_POLICY: &str = "cleanup.policy";

/// Longest topic name Kafka accepts.
const MAX_TOPIC_NAME_LEN: usize = 249;

/// Default partition count, as in the Python runtime's constructors (`num_partitions=3`).
const DEFAULT_PARTITIONS: u32 = 3;

/// Default replication factor, as in the Python runtime's constructors.
const DEFAULT_REPLICATION_FACTOR: u16 = 1;

/// A topic's `cleanup.policy`: how the broker gets rid of old records.
///
/// The registry, subscription and state topics are compacted (only the newest record per key
/// survives); request, response and publish topics are deleted by retention.
///
/// # Examples
///
/// ```
/// use autogen_kafka_admin::Cleanup;
///
/// assert_eq!(Cleanup::Compact.as_str(), "compact");
/// // Brokers may list the two policies in either order, with spaces.
/// assert_eq!("delete, compact".parse::<Cleanup>()?, Cleanup::CompactDelete);
/// assert!("forever".parse::<Cleanup>().is_err());
/// # Ok::<(), autogen_kafka_admin::AdminError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Cleanup {
    /// `delete`: records older than the retention limits are deleted (the Kafka default).
    #[default]
    Delete,
    /// `compact`: only the newest record of each key is kept.
    Compact,
    /// `compact,delete`: compacted, and old segments are also deleted by retention.
    CompactDelete,
}

impl Cleanup {
    /// The `cleanup.policy` value sent to the broker: `delete`, `compact` or `compact,delete`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Compact => "compact",
            Self::CompactDelete => "compact,delete",
        }
    }
}

impl fmt::Display for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Cleanup {
    type Err = AdminError;

    /// Parses a `cleanup.policy` value as brokers report it: a comma-separated list of
    /// `delete` and `compact`, in any order and case, with optional spaces.
    fn from_str(value: &str) -> Result<Self> {
        let mut compact = false;
        let mut delete = false;
        for part in value.split(',') {
            match part.trim().to_ascii_lowercase().as_str() {
                "compact" => compact = true,
                "delete" => delete = true,
                _ => {
                    return Err(AdminError::InvalidCleanupPolicy {
                        value: value.to_owned(),
                    });
                }
            }
        }
        Ok(match (compact, delete) {
            (true, true) => Self::CompactDelete,
            (true, false) => Self::Compact,
            _ => Self::Delete,
        })
    }
}

/// A topic the runtime needs: name, partition count, replication factor, cleanup policy and
/// any other topic configs.
///
/// Start from [`new`](Self::new) (`delete` policy) or [`compacted`](Self::compacted), then
/// chain the setters. The defaults follow the Python runtime: 3 partitions, replication
/// factor 1. [`TopicAdmin::ensure_topics`](crate::TopicAdmin::ensure_topics) checks the spec
/// before it touches the broker (see [`validate`](Self::validate)).
///
/// # Examples
///
/// ```
/// use autogen_kafka_admin::{Cleanup, TopicSpec};
///
/// let registry = TopicSpec::compacted("agent_registry")
///     .partitions(1)
///     .replication_factor(3)
///     .config("min.insync.replicas", "2");
/// assert_eq!(registry.name, "agent_registry");
/// assert_eq!(registry.partitions, 1);
/// assert_eq!(registry.cleanup, Cleanup::Compact);
/// assert_eq!(registry.configs["min.insync.replicas"], "2");
///
/// let requests = TopicSpec::new("runtime_requests");
/// assert_eq!((requests.partitions, requests.replication_factor), (3, 1));
/// assert_eq!(requests.cleanup, Cleanup::Delete);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicSpec {
    /// The topic name.
    pub name: String,
    /// The partition count to create the topic with, and the least an existing topic must
    /// have.
    pub partitions: u32,
    /// The replication factor to create the topic with; capped at the number of brokers.
    pub replication_factor: u16,
    /// The `cleanup.policy` to create the topic with, and to compare an existing topic with.
    pub cleanup: Cleanup,
    /// Other topic configs passed to `CreateTopics` (for example `retention.ms`). Must not
    /// contain `cleanup.policy`: that is [`cleanup`](Self::cleanup).
    pub configs: BTreeMap<String, String>,
}

impl TopicSpec {
    /// A topic with the `delete` cleanup policy, 3 partitions and replication factor 1.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            partitions: DEFAULT_PARTITIONS,
            replication_factor: DEFAULT_REPLICATION_FACTOR,
            cleanup: Cleanup::Delete,
            configs: BTreeMap::new(),
        }
    }

    /// A topic with the `compact` cleanup policy, 3 partitions and replication factor 1.
    #[must_use]
    pub fn compacted(name: impl Into<String>) -> Self {
        Self::new(name).cleanup(Cleanup::Compact)
    }

    /// Sets the partition count.
    #[must_use]
    pub const fn partitions(mut self, partitions: u32) -> Self {
        self.partitions = partitions;
        self
    }

    /// Sets the replication factor (capped at the broker count when the topic is created).
    #[must_use]
    pub const fn replication_factor(mut self, replication_factor: u16) -> Self {
        self.replication_factor = replication_factor;
        self
    }

    /// Sets the cleanup policy.
    #[must_use]
    pub const fn cleanup(mut self, cleanup: Cleanup) -> Self {
        self.cleanup = cleanup;
        self
    }

    /// Adds one topic config (replacing an earlier value for the same key).
    #[must_use]
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }

    /// Checks the spec without contacting a broker: a legal topic name (1–249 characters of
    /// `a-z A-Z 0-9 . _ -`, not `.` or `..`), at least one partition (and no more than Kafka's
    /// `i32` limit), a replication factor of at least 1, and no `cleanup.policy` in
    /// [`configs`](Self::configs).
    ///
    /// # Errors
    ///
    /// [`AdminError::InvalidTopicSpec`] naming the topic and the first problem found.
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_admin::{AdminError, TopicSpec};
    ///
    /// assert!(TopicSpec::new("agent_publishes").validate().is_ok());
    /// let error = TopicSpec::new("bad topic").validate().unwrap_err();
    /// assert!(matches!(error, AdminError::InvalidTopicSpec { .. }));
    /// ```
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| {
            Err(AdminError::InvalidTopicSpec {
                topic: self.name.clone(),
                reason,
            })
        };
        if self.name.is_empty() {
            return invalid("the topic name is empty".to_owned());
        }
        if self.name.len() > MAX_TOPIC_NAME_LEN {
            return invalid(format!(
                "the topic name is {} characters long; Kafka allows at most {MAX_TOPIC_NAME_LEN}",
                self.name.len()
            ));
        }
        if self.name == "." || self.name == ".." {
            return invalid("`.` and `..` are not topic names".to_owned());
        }
        if let Some(bad) = self
            .name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return invalid(format!(
                "the topic name contains {bad:?}; only ASCII letters, digits, `.`, `_` and `-` are allowed"
            ));
        }
        if self.partitions == 0 {
            return invalid("the partition count must be at least 1".to_owned());
        }
        if i32::try_from(self.partitions).is_err() {
            return invalid(format!(
                "{} partitions exceed Kafka's limit of {}",
                self.partitions,
                i32::MAX
            ));
        }
        if self.replication_factor == 0 {
            return invalid("the replication factor must be at least 1".to_owned());
        }
        if self.configs.contains_key(CLEANUP_POLICY) {
            return invalid(format!(
                "set `{CLEANUP_POLICY}` with `TopicSpec::cleanup`, not as a config"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_policies_round_trip_through_their_broker_spelling() {
        for cleanup in [Cleanup::Delete, Cleanup::Compact, Cleanup::CompactDelete] {
            assert_eq!(cleanup.as_str().parse::<Cleanup>().unwrap(), cleanup);
            assert_eq!(cleanup.to_string(), cleanup.as_str());
        }
        assert_eq!(
            "delete,compact".parse::<Cleanup>().unwrap(),
            Cleanup::CompactDelete
        );
        assert_eq!(" COMPACT ".parse::<Cleanup>().unwrap(), Cleanup::Compact);
    }

    #[test]
    fn unknown_cleanup_policies_are_rejected_with_the_value() {
        for value in ["", "keep", "compact,,delete", "compact;delete"] {
            let error = value.parse::<Cleanup>().unwrap_err();
            let AdminError::InvalidCleanupPolicy { value: reported } = &error else {
                panic!("unexpected error {error:?}");
            };
            assert_eq!(reported, value);
        }
    }

    #[test]
    fn defaults_follow_the_python_constructors() {
        let spec = TopicSpec::new("t");
        assert_eq!(spec.partitions, 3);
        assert_eq!(spec.replication_factor, 1);
        assert_eq!(spec.cleanup, Cleanup::Delete);
        assert!(spec.configs.is_empty());
        assert_eq!(TopicSpec::compacted("t").cleanup, Cleanup::Compact);
    }

    #[test]
    fn setters_override_each_field() {
        let spec = TopicSpec::new("t")
            .partitions(12)
            .replication_factor(3)
            .cleanup(Cleanup::CompactDelete)
            .config("retention.ms", "1000")
            .config("retention.ms", "2000");
        assert_eq!(spec.partitions, 12);
        assert_eq!(spec.replication_factor, 3);
        assert_eq!(spec.cleanup, Cleanup::CompactDelete);
        assert_eq!(
            spec.configs,
            BTreeMap::from([("retention.ms".to_owned(), "2000".to_owned())])
        );
    }

    #[test]
    fn legal_specs_validate() {
        for name in [
            "a",
            "agent_registry",
            "memory_session-1.2",
            &"x".repeat(249),
        ] {
            TopicSpec::new(name).validate().unwrap();
        }
    }

    #[test]
    fn illegal_specs_are_rejected_with_the_topic_and_reason() {
        let cases = [
            (TopicSpec::new(""), "empty"),
            (TopicSpec::new("x".repeat(250)), "at most 249"),
            (TopicSpec::new(".."), "not topic names"),
            (TopicSpec::new("a/b"), "'/'"),
            (TopicSpec::new("ü"), "'ü'"),
            (TopicSpec::new("t").partitions(0), "partition count"),
            (TopicSpec::new("t").partitions(u32::MAX), "limit"),
            (
                TopicSpec::new("t").replication_factor(0),
                "replication factor",
            ),
            (
                TopicSpec::new("t").config("cleanup.policy", "compact"),
                "TopicSpec::cleanup",
            ),
        ];
        for (spec, expected) in cases {
            let error = spec.validate().unwrap_err();
            let AdminError::InvalidTopicSpec { topic, reason } = &error else {
                panic!("unexpected error {error:?}");
            };
            assert_eq!(topic, &spec.name);
            assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
        }
    }
}

//! Plain data returned by [`TopicAdmin`](crate::TopicAdmin): modes, outcomes, descriptions.

use std::collections::BTreeMap;
use std::fmt;

use super::spec::{CLEANUP_POLICY, Cleanup};

/// How [`TopicAdmin::ensure_topics`](crate::TopicAdmin::ensure_topics) creates a missing
/// topic.
///
/// | broker | mode |
/// |---|---|
/// | Apache Kafka, Confluent Platform and Cloud, Redpanda, Tansu (anything that answers `CreateTopics` and `DescribeConfigs`) | [`Admin`](Self::Admin) |
/// | librdkafka's in-process mock cluster (`rdkafka::mocking::MockCluster`, `TestBroker::mock()`) | [`AutoCreate`](Self::AutoCreate) |
/// | a cluster whose ACLs forbid `CreateTopics` but whose brokers set `auto.create.topics.enable=true` | [`AutoCreate`](Self::AutoCreate) |
///
/// The mock cluster does not implement `CreateTopics` or `DescribeConfigs` (the requests
/// time out), but creates any topic a metadata request asks for.
///
/// # Examples
///
/// ```
/// use autogen_kafka_admin::CreateMode;
///
/// assert_eq!(CreateMode::default(), CreateMode::Admin);
/// assert_eq!(CreateMode::AutoCreate.to_string(), "auto-create");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CreateMode {
    /// Create missing topics with the admin API (`CreateTopics`) using the spec's partitions,
    /// replication factor (capped at the broker count) and configs, and check the cleanup
    /// policy of existing topics with `DescribeConfigs`.
    #[default]
    Admin,
    /// Create missing topics by asking for their metadata from a client with
    /// `allow.auto.create.topics=true`; the broker then creates them with its own defaults
    /// (`num.partitions`, `default.replication.factor`, `cleanup.policy`). Partitions,
    /// replication and cleanup policy are not controlled (a warning says so), and the cleanup
    /// policy of existing topics is not checked. Existing topics still must have enough
    /// partitions.
    AutoCreate,
}

impl CreateMode {
    /// `admin` or `auto-create`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::AutoCreate => "auto-create",
        }
    }
}

impl fmt::Display for CreateMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`TopicAdmin::ensure_topics`](crate::TopicAdmin::ensure_topics) found or did for one
/// topic.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
///
/// use autogen_kafka_admin::{CreateMode, TopicAdmin, TopicOutcome, TopicSpec};
///
/// fn summary(outcome: &TopicOutcome) -> String {
///     match outcome {
///         TopicOutcome::Created { topic, replication_factor, .. } => {
///             format!("created {topic} with replication factor {replication_factor}")
///         }
///         TopicOutcome::Existed { topic, cleanup: Some(cleanup), .. } => {
///             format!("{topic} exists ({cleanup})")
///         }
///         other => format!("{} is ready", other.topic()),
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = autogen_kafka_testing::TestBroker::mock().await?;
/// # let bootstrap_servers = broker.bootstrap_servers().to_owned();
///
/// let admin = TopicAdmin::builder(BTreeMap::from([(
///     "bootstrap.servers".to_owned(),
///     bootstrap_servers,
/// )]))
/// .create_mode(CreateMode::AutoCreate)
/// .build()?;
/// let outcomes = admin.ensure_topics(&[TopicSpec::new("agent_publishes")]).await?;
/// assert_eq!(summary(&outcomes[0]), "agent_publishes is ready");
/// assert!(outcomes[0].was_created());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicOutcome {
    /// The topic was missing and this call created it with `CreateTopics`.
    #[non_exhaustive]
    Created {
        /// The topic name.
        topic: String,
        /// Its partition count (as asked).
        partitions: u32,
        /// The replication factor it was created with: the one asked for, capped at the
        /// number of brokers.
        replication_factor: u16,
        /// The replication factor the spec asked for.
        requested_replication_factor: u16,
    },
    /// The topic already existed (or another client created it concurrently) and has at
    /// least the partitions asked for.
    #[non_exhaustive]
    Existed {
        /// The topic name.
        topic: String,
        /// Its partition count (may be more than asked).
        partitions: u32,
        /// Its cleanup policy as the broker reported it, or `None` when the broker did not
        /// report it (`DescribeConfigs` unanswered or without `cleanup.policy`, or
        /// [`CreateMode::AutoCreate`]). A policy that differs from the spec is logged as a
        /// warning, not an error.
        cleanup: Option<Cleanup>,
    },
    /// The topic was missing and the broker auto-created it on a metadata request
    /// ([`CreateMode::AutoCreate`]): partitions, replication and cleanup policy are the
    /// broker's defaults.
    #[non_exhaustive]
    AutoCreated {
        /// The topic name.
        topic: String,
        /// The partition count the broker chose.
        partitions: u32,
    },
}

impl TopicOutcome {
    /// The topic this outcome is about.
    #[must_use]
    pub fn topic(&self) -> &str {
        match self {
            Self::Created { topic, .. }
            | Self::Existed { topic, .. }
            | Self::AutoCreated { topic, .. } => topic,
        }
    }

    /// The topic's partition count.
    #[must_use]
    pub const fn partitions(&self) -> u32 {
        match self {
            Self::Created { partitions, .. }
            | Self::Existed { partitions, .. }
            | Self::AutoCreated { partitions, .. } => *partitions,
        }
    }

    /// Whether this call made the topic exist ([`Created`](Self::Created) or
    /// [`AutoCreated`](Self::AutoCreated)).
    #[must_use]
    pub const fn was_created(&self) -> bool {
        matches!(self, Self::Created { .. } | Self::AutoCreated { .. })
    }
}

/// A topic as the cluster describes it, from [`TopicAdmin::describe`](crate::TopicAdmin::describe).
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
///
/// use autogen_kafka_admin::{Cleanup, TopicAdmin, TopicDescription};
///
/// fn is_compacted(description: &TopicDescription) -> bool {
///     matches!(description.cleanup(), Some(Cleanup::Compact | Cleanup::CompactDelete))
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = autogen_kafka_testing::TestBroker::mock().await?;
/// # broker.create_topic("agent_registry", 1).await?;
/// # let bootstrap_servers = broker.bootstrap_servers().to_owned();
///
/// let admin = TopicAdmin::builder(BTreeMap::from([(
///     "bootstrap.servers".to_owned(),
///     bootstrap_servers,
/// )]))
/// .create_mode(autogen_kafka_admin::CreateMode::AutoCreate)
/// .build()?;
/// let description = admin.describe("agent_registry").await?;
/// assert_eq!(description.partitions, 1);
/// // The mock cluster answers no `DescribeConfigs`: the policy is unknown.
/// assert_eq!(description.configs, None);
/// assert!(!is_compacted(&description));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicDescription {
    /// The topic name.
    pub name: String,
    /// Its partition count.
    pub partitions: u32,
    /// The smallest replica count of its partitions (the replication factor).
    pub replication_factor: u16,
    /// The topic configs from `DescribeConfigs`, or `None` when they were not asked for
    /// ([`CreateMode::AutoCreate`]) or the broker did not answer. Some brokers (Tansu) report
    /// only the configs that were set explicitly, not the broker defaults.
    pub configs: Option<BTreeMap<String, String>>,
}

impl TopicDescription {
    /// The `cleanup.policy` from [`configs`](Self::configs), when reported and recognised.
    #[must_use]
    pub fn cleanup(&self) -> Option<Cleanup> {
        self.configs
            .as_ref()?
            .get(CLEANUP_POLICY)
            .and_then(|value| value.parse().ok())
    }
}

/// The step of a topic operation, named in timeouts and task failures.
///
/// # Examples
///
/// ```
/// use autogen_kafka_admin::TopicOperation;
///
/// assert_eq!(TopicOperation::CreateTopic.to_string(), "create topic");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TopicOperation {
    /// A metadata request (topic existence, partitions, broker count).
    Metadata,
    /// A `CreateTopics` request.
    CreateTopic,
    /// Waiting for a created topic to show up in the metadata.
    AwaitTopic,
    /// A `DescribeConfigs` request.
    DescribeConfigs,
    /// A `DeleteTopics` request.
    DeleteTopic,
    /// Having the broker auto-create a topic through a metadata request.
    AutoCreate,
}

impl TopicOperation {
    /// A short lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Metadata => "metadata",
            Self::CreateTopic => "create topic",
            Self::AwaitTopic => "await topic",
            Self::DescribeConfigs => "describe configs",
            Self::DeleteTopic => "delete topic",
            Self::AutoCreate => "auto-create topic",
        }
    }
}

impl fmt::Display for TopicOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

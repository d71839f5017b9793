//! The streaming layer's error type.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// What can go wrong while moving records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamingError {
    /// A Kafka client could not be created from its configuration.
    #[error("creating the {role} Kafka client failed")]
    CreateClient {
        /// Which client (producer, consumer of a group, tail reader).
        role: String,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// Subscribing a consumer to its topics failed.
    #[error("subscribing to {topics:?} failed")]
    Subscribe {
        /// The topics.
        topics: Vec<String>,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// The broker did not acknowledge a record.
    #[error("producing to topic {topic} failed")]
    Produce {
        /// The destination topic.
        topic: String,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// A record was not acknowledged within its deadline.
    #[error("producing to topic {topic} timed out after {after:?}")]
    ProduceTimeout {
        /// The destination topic.
        topic: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// Flushing the producer did not finish.
    #[error("flushing the producer failed")]
    Flush {
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// Committing offsets failed.
    #[error("committing offsets of group {group} failed")]
    Commit {
        /// The consumer group.
        group: String,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// Reading topic metadata or watermarks failed.
    #[error("reading metadata of topic {topic} failed")]
    Metadata {
        /// The topic.
        topic: String,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// A topic did not reach the expected state in time (for example, a tail did not catch up).
    #[error("topic {topic} was not ready after {after:?}")]
    NotReady {
        /// The topic.
        topic: String,
        /// The time waited.
        after: Duration,
    },
    /// The component was shut down while the call waited.
    #[error("the streaming component is shut down")]
    Shutdown,
    /// A client thread (a consumer's poll thread, a producer's delivery-report thread) could not be started.
    #[error("starting a client thread failed")]
    SpawnThread(#[source] std::io::Error),
    /// Assigning partitions to a tail reader failed.
    #[error("assigning the partitions of {topics:?} failed")]
    Assign {
        /// The topics.
        topics: Vec<String>,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
}

impl StreamingError {
    /// Whether trying again later may succeed (broker unreachable, timeouts, transient broker errors).
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::ProduceTimeout { .. } | Self::NotReady { .. } => true,
            Self::Produce { source, .. }
            | Self::Flush { source }
            | Self::Commit { source, .. }
            | Self::Metadata { source, .. } => is_transient(source),
            Self::CreateClient { .. }
            | Self::Subscribe { .. }
            | Self::Shutdown
            | Self::SpawnThread(_)
            | Self::Assign { .. } => false,
        }
    }
}

/// Whether a client error is worth retrying.
pub(crate) fn is_transient(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(code) => matches!(
            code,
            C::QueueFull
                | C::MessageTimedOut
                | C::AllBrokersDown
                | C::BrokerTransportFailure
                | C::OperationTimedOut
                | C::RequestTimedOut
                | C::NetworkException
                | C::NotEnoughReplicas
                | C::NotEnoughReplicasAfterAppend
                | C::LeaderNotAvailable
                | C::NotLeaderForPartition
                | C::UnknownTopicOrPartition
                | C::CoordinatorLoadInProgress
                | C::CoordinatorNotAvailable
                | C::NotCoordinator
                | C::RebalanceInProgress
        ),
        None => false,
    }
}

/// `Result` with [`StreamingError`] as the default error.
pub type Result<T, E = StreamingError> = std::result::Result<T, E>;

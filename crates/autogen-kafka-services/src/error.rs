//! The services layer's error type.

use autogen_kafka_core::CoreError;
use autogen_kafka_events::EventsError;
use autogen_kafka_streaming::StreamingError;

/// What can go wrong in the runtime's services.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServicesError {
    /// Encoding or decoding an event failed.
    #[error("encoding or decoding an event for topic {topic} failed")]
    Codec {
        /// The topic.
        topic: String,
        /// The codec's error.
        #[source]
        source: EventsError,
    },
    /// Writing or reading Kafka failed.
    #[error(transparent)]
    Streaming(#[from] StreamingError),
    /// The agent model refused (invalid ids, duplicate registrations, agent failures).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The subscription kind has no wire form in the Python original's format.
    #[error("subscription {id} has a kind the wire format cannot carry")]
    UnsupportedSubscription {
        /// The subscription id.
        id: String,
    },
    /// A runtime directory entry could not be encoded.
    #[error("the runtime directory entry of {runtime_id} could not be encoded")]
    Directory {
        /// The runtime instance.
        runtime_id: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Saving or loading an agent's state failed.
    #[error("state of agent {agent_id} could not be {operation}")]
    State {
        /// The agent.
        agent_id: String,
        /// `saved` or `loaded`.
        operation: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ServicesError {
    /// Whether trying again later may succeed.
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Streaming(error) => error.is_retriable(),
            Self::Core(error) => error.is_retriable(),
            Self::Codec { .. }
            | Self::Directory { .. }
            | Self::State { .. }
            | Self::UnsupportedSubscription { .. } => false,
        }
    }
}

/// `Result` with [`ServicesError`] as the default error.
pub type Result<T, E = ServicesError> = std::result::Result<T, E>;

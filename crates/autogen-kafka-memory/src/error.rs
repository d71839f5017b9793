//! The error type of the memory layer.

use std::time::Duration;

use autogen_kafka_admin::AdminError;
use autogen_kafka_config::ConfigError;
use autogen_kafka_events::EventsError;
use autogen_kafka_services::ServicesError;
use autogen_kafka_streaming::StreamingError;

/// `Result` with [`MemoryError`] as the default error type.
pub type Result<T, E = MemoryError> = std::result::Result<T, E>;

/// Everything a memory operation can fail with.
///
/// Variants name the operation that failed and keep its cause as the source.
/// [`is_retriable`](Self::is_retriable) tells transient failures (broker or registry unreachable, a
/// deadline) from permanent ones (bad configuration, content that cannot be written).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The configuration (or the session id, which becomes part of a topic name) is invalid.
    #[error("invalid memory configuration")]
    InvalidConfig {
        /// What is wrong.
        #[source]
        source: Box<ConfigError>,
    },
    /// The session's topic name is not a legal Kafka topic name (the session id becomes part of it).
    #[error("invalid session {session_id:?}: its topic name is not legal")]
    InvalidSession {
        /// The session id given.
        session_id: String,
        /// Why the topic name is refused.
        #[source]
        source: Box<AdminError>,
    },
    /// The producer could not be created.
    #[error("cannot create the memory producer")]
    CreateProducer {
        /// The client error.
        #[source]
        source: Box<StreamingError>,
    },
    /// The session's topic could not be created or verified.
    #[error("cannot create or verify memory topic {topic}")]
    CreateTopic {
        /// The memory topic.
        topic: String,
        /// The admin error.
        #[source]
        source: Box<AdminError>,
    },
    /// The topic's value schema could not be registered with the Schema Registry.
    #[error("cannot register the memory schema under {subject}")]
    RegisterSchema {
        /// The subject (`<topic>-value`).
        subject: String,
        /// The registry error.
        #[source]
        source: Box<AdminError>,
    },
    /// The reader of the session's topic could not start.
    #[error("cannot start reading memory topic {topic}")]
    StartReader {
        /// The memory topic.
        topic: String,
        /// The streaming error.
        #[source]
        source: Box<StreamingError>,
    },
    /// The session's history could not be replayed before the deadline.
    #[error("cannot replay the history of memory topic {topic}")]
    Replay {
        /// The memory topic.
        topic: String,
        /// The streaming error (`NotReady` when the deadline passed).
        #[source]
        source: Box<StreamingError>,
    },
    /// The content cannot be written with its mime type (for example bytes as `text/plain`, text
    /// that is not JSON as `application/json`, text that is not base64 as `image/*`).
    #[error("{mime_type} content cannot be written: {reason}")]
    InvalidContent {
        /// The content's mime type.
        mime_type: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The mime type is not one the Python original reads; writing it would stop every Python
    /// reader of the session (upstream defect D4), so it is refused.
    #[error("mime type {mime_type:?} cannot be shared: Python readers stop on unknown mime types")]
    UnsupportedMimeType {
        /// The mime type.
        mime_type: String,
    },
    /// A record could not be turned back into memory content.
    #[error("cannot decode {mime_type} memory content")]
    DecodeContent {
        /// The record's mime type.
        mime_type: String,
        /// The decoding error.
        #[source]
        source: Box<EventsError>,
    },
    /// A memory event could not be encoded for the topic.
    #[error("cannot encode a memory event for {topic}")]
    Encode {
        /// The memory topic.
        topic: String,
        /// The codec error.
        #[source]
        source: Box<ServicesError>,
    },
    /// Writing an addition to the topic failed; nothing was added.
    #[error("cannot add to memory topic {topic}")]
    Add {
        /// The memory topic.
        topic: String,
        /// The producer error.
        #[source]
        source: Box<StreamingError>,
    },
    /// Writing the clear marker to the topic failed; nothing was cleared.
    #[error("cannot clear memory topic {topic}")]
    Clear {
        /// The memory topic.
        topic: String,
        /// The producer error.
        #[source]
        source: Box<StreamingError>,
    },
    /// The broker acknowledged the record, but this instance had not read it back before the
    /// deadline. The change is in the topic and every instance (this one included) applies it
    /// when its reader gets there.
    #[error("record {topic}/{partition}@{offset} written but not applied locally within {after:?}")]
    ApplyTimeout {
        /// The memory topic.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// How long this instance waited.
        after: Duration,
    },
    /// The memory was closed.
    #[error("memory of session {session_id:?} is closed")]
    Closed {
        /// The session id.
        session_id: String,
    },
}

impl MemoryError {
    /// Whether trying again later may succeed: the broker or the registry was unreachable or slow,
    /// or a deadline passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_memory::MemoryError;
    ///
    /// let closed = MemoryError::Closed { session_id: "chat-1".into() };
    /// assert!(!closed.is_retriable());
    /// ```
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::CreateProducer { source }
            | Self::StartReader { source, .. }
            | Self::Replay { source, .. }
            | Self::Add { source, .. }
            | Self::Clear { source, .. } => source.is_retriable(),
            Self::CreateTopic { source, .. } | Self::RegisterSchema { source, .. } => {
                source.is_retriable()
            }
            Self::ApplyTimeout { .. } => true,
            Self::InvalidConfig { .. }
            | Self::InvalidSession { .. }
            | Self::InvalidContent { .. }
            | Self::UnsupportedMimeType { .. }
            | Self::DecodeContent { .. }
            | Self::Encode { .. }
            | Self::Closed { .. } => false,
        }
    }

    pub(crate) fn invalid_content(mime_type: &impl ToString, reason: impl Into<String>) -> Self {
        Self::InvalidContent {
            mime_type: mime_type.to_string(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use autogen_kafka_streaming::StreamingError;

    use super::MemoryError;

    #[test]
    fn deadlines_are_retriable_and_bad_content_is_not() {
        let late = MemoryError::ApplyTimeout {
            topic: "memory_s".into(),
            partition: 0,
            offset: 7,
            after: Duration::from_secs(1),
        };
        assert!(late.is_retriable());
        assert!(late.to_string().contains("memory_s/0@7"));
        let add = MemoryError::Add {
            topic: "memory_s".into(),
            source: Box::new(StreamingError::ProduceTimeout {
                topic: "memory_s".into(),
                after: Duration::from_secs(1),
            }),
        };
        assert!(add.is_retriable());
        assert!(std::error::Error::source(&add).is_some());
        let bad = MemoryError::invalid_content(&"application/json", "not JSON");
        assert!(!bad.is_retriable());
        assert_eq!(
            bad.to_string(),
            "application/json content cannot be written: not JSON"
        );
    }
}

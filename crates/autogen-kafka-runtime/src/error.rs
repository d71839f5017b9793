//! The runtime layer's error type.

use std::time::Duration;

use autogen_kafka_admin::AdminError;
use autogen_kafka_config::ConfigError;
use autogen_kafka_core::CoreError;
use autogen_kafka_services::ServicesError;
use autogen_kafka_streaming::StreamingError;

/// What can go wrong while starting, running or stopping a worker runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The broker could not be reached before the startup deadline, or refused the client's credentials (then
    /// at once: retrying them cannot succeed).
    #[error(
        "the Kafka broker at {bootstrap} could not be used after {after:?} of trying{}",
        last_client_error.as_deref().map(|reason| format!(" (last client error: {reason})")).unwrap_or_default()
    )]
    Connect {
        /// The bootstrap servers tried.
        bootstrap: String,
        /// The time spent trying.
        after: Duration,
        /// Why the client says it failed (a refused connection, a TLS certificate not trusted, a SASL handshake
        /// refused, ...), when it reported an error event.
        last_client_error: Option<String>,
        /// The last error seen.
        #[source]
        source: Box<StreamingError>,
    },
    /// Topic or Schema Registry administration failed.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// Reading or writing Kafka failed.
    #[error(transparent)]
    Streaming(#[from] StreamingError),
    /// A runtime service failed.
    #[error(transparent)]
    Services(#[from] ServicesError),
    /// The agent model refused (duplicate types, invalid ids, ...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The metrics registry could not be set up.
    #[error("setting up the runtime's metrics failed")]
    Monitoring(#[source] autogen_kafka_monitoring::MonitoringError),
    /// `start` was called twice, or after `stop`.
    #[error("the runtime is already {state}")]
    Lifecycle {
        /// `started` or `stopped`.
        state: &'static str,
    },
}

impl RuntimeError {
    /// Whether trying again later may succeed.
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Connect { .. } => true,
            Self::Admin(error) => error.is_retriable(),
            Self::Streaming(error) => error.is_retriable(),
            Self::Services(error) => error.is_retriable(),
            Self::Core(error) => error.is_retriable(),
            Self::Config(_) | Self::Lifecycle { .. } | Self::Monitoring(_) => false,
        }
    }
}

/// `Result` with [`RuntimeError`] as the default error.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

//! The top-level error: one variant per layer, sorted into the seed's hierarchy by [`Error::kind`].

use autogen_kafka_admin::AdminError;
use autogen_kafka_config::ConfigError;
use autogen_kafka_core::{CoreError, CoreErrorKind as CoreKind};
use autogen_kafka_events::EventsError;
use autogen_kafka_memory::MemoryError;
use autogen_kafka_monitoring::MonitoringError;
use autogen_kafka_runtime::RuntimeError;
use autogen_kafka_services::ServicesError;
use autogen_kafka_streaming::StreamingError;

/// Any error of autogen-kafka.
///
/// Each layer has its own error enum; they all convert into this one with `?`. The layer error stays
/// inside with its whole source chain; [`Error::kind`] sorts it into the categories of the API document
/// (configuration, serialization, connection, agent, memory) plus timeout, cancelled and undeliverable.
///
/// # Examples
///
/// ```
/// use autogen_kafka::{AgentId, Error, ErrorKind};
///
/// fn parse(text: &str) -> Result<AgentId, Error> {
///     Ok(text.parse::<AgentId>()?)
/// }
///
/// let error = parse("bad type!/key").unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Agent);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The agent model or a runtime failed (see [`CoreError`]).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The configuration is invalid or could not be loaded (see [`ConfigError`]).
    #[error(transparent)]
    Config(Box<ConfigError>),
    /// An event could not be encoded or decoded (see [`EventsError`]).
    #[error(transparent)]
    Events(Box<EventsError>),
    /// Topic or Schema Registry administration failed (see [`AdminError`]).
    #[error(transparent)]
    Admin(Box<AdminError>),
    /// Moving records to or from Kafka failed (see [`StreamingError`]).
    #[error(transparent)]
    Streaming(Box<StreamingError>),
    /// A service of the worker runtime failed (see [`ServicesError`]).
    #[error(transparent)]
    Services(Box<ServicesError>),
    /// Starting, running or stopping the worker runtime failed (see [`RuntimeError`]).
    #[error(transparent)]
    Runtime(Box<RuntimeError>),
    /// A memory operation failed (see [`MemoryError`]).
    #[error(transparent)]
    Memory(Box<MemoryError>),
    /// Telemetry setup, metrics or the monitoring endpoint failed (see [`MonitoringError`]).
    #[error(transparent)]
    Monitoring(Box<MonitoringError>),
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Self::Config(Box::new(error))
    }
}

impl From<EventsError> for Error {
    fn from(error: EventsError) -> Self {
        Self::Events(Box::new(error))
    }
}

impl From<AdminError> for Error {
    fn from(error: AdminError) -> Self {
        Self::Admin(Box::new(error))
    }
}

impl From<StreamingError> for Error {
    fn from(error: StreamingError) -> Self {
        Self::Streaming(Box::new(error))
    }
}

impl From<ServicesError> for Error {
    fn from(error: ServicesError) -> Self {
        Self::Services(Box::new(error))
    }
}

impl From<RuntimeError> for Error {
    fn from(error: RuntimeError) -> Self {
        Self::Runtime(Box::new(error))
    }
}

impl From<MemoryError> for Error {
    fn from(error: MemoryError) -> Self {
        Self::Memory(Box::new(error))
    }
}

impl From<MonitoringError> for Error {
    fn from(error: MonitoringError) -> Self {
        Self::Monitoring(Box::new(error))
    }
}

/// The categories of the API document's error hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Invalid or unloadable configuration (`ConfigValidationError`).
    Config,
    /// A message or event could not be encoded or decoded (`SerializationError`).
    Serialization,
    /// The broker or the Schema Registry could not be reached or refused (`ConnectionError`).
    Connection,
    /// An agent failed, or a call named agents or types wrongly (`AgentError`).
    Agent,
    /// Shared memory failed (`KafkaMemoryError`).
    Memory,
    /// A deadline passed.
    Timeout,
    /// The caller cancelled.
    Cancelled,
    /// No runtime hosts the recipient's agent type.
    Undeliverable,
    /// The runtime is stopped or stopping.
    Runtime,
}

impl Error {
    /// The category of the API document's hierarchy this error belongs to.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Core(error) => Self::kind_of_core(error),
            Self::Config(_) => ErrorKind::Config,
            Self::Events(_) => ErrorKind::Serialization,
            Self::Admin(error) => {
                if error.is_retriable() {
                    ErrorKind::Connection
                } else {
                    ErrorKind::Config
                }
            }
            Self::Streaming(error) => streaming_kind(error),
            Self::Services(error) => match &**error {
                ServicesError::Core(error) => Self::kind_of_core(error),
                ServicesError::Streaming(error) => streaming_kind(error),
                ServicesError::Codec { .. } => ErrorKind::Serialization,
                _ => ErrorKind::Agent,
            },
            Self::Runtime(error) => match &**error {
                RuntimeError::Config(_) => ErrorKind::Config,
                RuntimeError::Connect { .. } => ErrorKind::Connection,
                RuntimeError::Admin(error) if !error.is_retriable() => ErrorKind::Config,
                RuntimeError::Admin(_) => ErrorKind::Connection,
                RuntimeError::Streaming(error) => streaming_kind(error),
                RuntimeError::Core(error) => Self::kind_of_core(error),
                _ => ErrorKind::Runtime,
            },
            Self::Memory(_) => ErrorKind::Memory,
            Self::Monitoring(error) => monitoring_kind(error),
        }
    }

    fn kind_of_core(error: &CoreError) -> ErrorKind {
        match error.kind() {
            CoreKind::Timeout => ErrorKind::Timeout,
            CoreKind::Cancelled => ErrorKind::Cancelled,
            CoreKind::Undeliverable => ErrorKind::Undeliverable,
            CoreKind::Serialization => ErrorKind::Serialization,
            CoreKind::Runtime => ErrorKind::Runtime,
            CoreKind::Transport => ErrorKind::Connection,
            _ => ErrorKind::Agent,
        }
    }

    /// Whether trying again later may succeed.
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Core(error) => error.is_retriable(),
            Self::Config(_) | Self::Events(_) => false,
            Self::Admin(error) => error.is_retriable(),
            Self::Streaming(error) => error.is_retriable(),
            Self::Services(error) => error.is_retriable(),
            Self::Runtime(error) => error.is_retriable(),
            Self::Memory(error) => error.is_retriable(),
            Self::Monitoring(error) => error.is_retriable(),
        }
    }
}

fn monitoring_kind(error: &MonitoringError) -> ErrorKind {
    #[cfg(feature = "otlp")]
    if matches!(error, MonitoringError::BuildOtlpExporter { .. }) {
        return ErrorKind::Config;
    }
    match error {
        MonitoringError::BindServer { .. } if error.is_retriable() => ErrorKind::Connection,
        MonitoringError::ParseLogFilter { .. } | MonitoringError::BindServer { .. } => {
            ErrorKind::Config
        }
        _ => ErrorKind::Runtime,
    }
}

fn streaming_kind(error: &StreamingError) -> ErrorKind {
    match error {
        StreamingError::ProduceTimeout { .. } | StreamingError::NotReady { .. } => {
            ErrorKind::Timeout
        }
        StreamingError::Shutdown => ErrorKind::Runtime,
        _ => ErrorKind::Connection,
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Error, ErrorKind};
    use autogen_kafka_core::{AgentId, CoreError};

    #[test]
    fn core_errors_keep_their_category() {
        let recipient = AgentId::new("echo", "k").unwrap();
        let timeout: Error = CoreError::Timeout {
            recipient,
            after: Duration::from_secs(1),
        }
        .into();
        assert_eq!(timeout.kind(), ErrorKind::Timeout);
        assert!(timeout.is_retriable());
        let cancelled: Error = CoreError::Cancelled.into();
        assert_eq!(cancelled.kind(), ErrorKind::Cancelled);
        let undeliverable: Error = CoreError::Undeliverable {
            agent_type: "nobody".into(),
        }
        .into();
        assert_eq!(undeliverable.kind(), ErrorKind::Undeliverable);
        assert!(undeliverable.to_string().contains("nobody"));
    }

    #[test]
    fn memory_errors_are_memory_errors() {
        let error: Error = autogen_kafka_memory::MemoryError::Closed {
            session_id: "chat".into(),
        }
        .into();
        assert_eq!(error.kind(), ErrorKind::Memory);
        assert!(!error.is_retriable());
    }

    #[test]
    fn monitoring_errors_convert_and_are_sorted() {
        let filter = autogen_kafka_monitoring::init_tracing(
            &autogen_kafka_monitoring::TelemetryConfig::default().with_log_filter("info,[unclosed"),
        )
        .unwrap_err();
        let error: Error = filter.into();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(!error.is_retriable());
        assert!(matches!(error, Error::Monitoring(_)));
    }

    #[test]
    fn source_chain_is_kept() {
        let error: Error = CoreError::Cancelled.into();
        // Transparent: the display and the source are the layer error's.
        assert_eq!(error.to_string(), CoreError::Cancelled.to_string());
    }
}

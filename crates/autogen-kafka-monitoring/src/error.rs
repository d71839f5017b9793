//! The monitoring layer's error type.

use std::net::SocketAddr;

/// What can go wrong while setting up or serving observability.
///
/// Recording a metric or a health report never fails; only setup (registering metrics,
/// installing the tracing subscriber, binding the HTTP endpoint) and export can.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitoringError {
    /// A metric could not be created or added to the registry (an invalid name, or a
    /// name already registered in the registry given to [`Metrics::with_registry`](crate::Metrics::with_registry)).
    #[error("registering metric {name} failed")]
    RegisterMetric {
        /// The metric's name.
        name: &'static str,
        /// The registry's error.
        #[source]
        source: prometheus::Error,
    },

    /// The registry could not be written in the Prometheus text format.
    #[error("encoding metrics in the Prometheus text format failed")]
    EncodeMetrics {
        /// The encoder's error.
        #[source]
        source: prometheus::Error,
    },

    /// The log filter is not a valid `tracing-subscriber` `EnvFilter` directive list.
    #[error("invalid log filter {filter:?}")]
    ParseLogFilter {
        /// The filter as configured.
        filter: String,
        /// The parser's error.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },

    /// The global `tracing` subscriber could not be installed (one is already set).
    #[error("installing the global tracing subscriber failed")]
    InstallSubscriber {
        /// `tracing-subscriber`'s error.
        #[source]
        source: tracing_subscriber::util::TryInitError,
    },

    /// The OTLP span exporter could not be built (for example, the endpoint is not a URL).
    #[cfg(feature = "otlp")]
    #[error("building the OTLP span exporter for {endpoint} failed")]
    BuildOtlpExporter {
        /// The traces endpoint the exporter was built for.
        endpoint: String,
        /// The exporter's error.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },

    /// Flushing and stopping the OpenTelemetry tracer provider failed.
    #[error("shutting down the OpenTelemetry tracer provider failed")]
    ShutdownTelemetry {
        /// The SDK's error.
        #[source]
        source: opentelemetry_sdk::error::OTelSdkError,
    },

    /// The monitoring HTTP endpoint could not bind its address.
    #[error("binding the monitoring endpoint to {address} failed")]
    BindServer {
        /// The address asked for.
        address: SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },

    /// The monitoring HTTP endpoint stopped with an I/O error.
    #[error("serving the monitoring endpoint on {address} failed")]
    ServeMonitoring {
        /// The address the endpoint was bound to.
        address: SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
}

impl MonitoringError {
    /// Whether trying the same operation again later may succeed.
    ///
    /// Only a bind that failed because the address is in use (a previous process still
    /// holding the port) is worth retrying; every other error is a setup mistake.
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::BindServer { source, .. } => source.kind() == std::io::ErrorKind::AddrInUse,
            _ => false,
        }
    }
}

/// The monitoring layer's `Result`, with [`MonitoringError`] as the default error.
pub type Result<T, E = MonitoringError> = std::result::Result<T, E>;

//! Process-wide `tracing` setup: log output and, with the `otlp` feature, span export.

use std::io::IsTerminal;

use serde::{Deserialize, Serialize};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::error::{MonitoringError, Result};

/// How [`init_tracing`] sets up logs and traces.
///
/// Plain data with defaults (`info`, text logs, no OTLP export, service
/// `autogen-kafka`); every field may be left out when deserialising.
///
/// # Examples
///
/// ```
/// use autogen_kafka_monitoring::TelemetryConfig;
///
/// let config = TelemetryConfig::new("billing-agents")
///     .with_log_filter("info,autogen_kafka=debug")
///     .with_json(true)
///     .with_otlp_endpoint("http://otel-collector:4318");
/// assert_eq!(config.service_name, "billing-agents");
/// assert_eq!(config.otlp_endpoint.as_deref(), Some("http://otel-collector:4318"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TelemetryConfig {
    /// Which events are logged: an `EnvFilter` directive list such as
    /// `info,autogen_kafka=debug,rdkafka=warn` (the syntax of `RUST_LOG`).
    pub log_filter: String,
    /// Write logs as one JSON object per line instead of human-readable text.
    pub json: bool,
    /// The OTLP/HTTP collector to export spans to, such as `http://otel-collector:4318`
    /// (`/v1/traces` is appended unless the URL already ends with it). Used only when the
    /// crate is built with the `otlp` feature; `None` exports nothing.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute of exported spans.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: "info".to_owned(),
            json: false,
            otlp_endpoint: None,
            service_name: "autogen-kafka".to_owned(),
        }
    }
}

impl TelemetryConfig {
    /// The defaults, for the service `service_name`.
    #[must_use]
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            ..Self::default()
        }
    }

    /// Sets [`log_filter`](Self::log_filter).
    #[must_use]
    pub fn with_log_filter(mut self, log_filter: impl Into<String>) -> Self {
        self.log_filter = log_filter.into();
        self
    }

    /// Sets [`json`](Self::json).
    #[must_use]
    pub const fn with_json(mut self, json: bool) -> Self {
        self.json = json;
        self
    }

    /// Sets [`otlp_endpoint`](Self::otlp_endpoint).
    #[must_use]
    pub fn with_otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(endpoint.into());
        self
    }
}

/// Keeps the telemetry pipeline that [`init_tracing`] built; call
/// [`shutdown`](Self::shutdown) before the process exits so buffered spans are sent.
///
/// Dropping the guard does not flush (it never blocks); the subscriber stays installed
/// either way.
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "call `shutdown` on exit to flush exported spans"]
pub struct TelemetryGuard {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
    exporting: bool,
}

impl TelemetryGuard {
    /// Whether spans are exported to an OTLP collector.
    #[must_use]
    pub const fn exports_traces(&self) -> bool {
        self.exporting
    }

    /// Sends the spans still buffered and stops exporting. This blocks for up to a few
    /// seconds while the exporter flushes: call it at the very end, or from
    /// `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ShutdownTelemetry`] if the exporter could not flush or stop in
    /// time.
    pub fn shutdown(self) -> Result<()> {
        spans::shutdown(&self.provider)
    }
}

/// Installs the process-wide `tracing` subscriber described by `config`.
///
/// * Logs go to standard error, filtered by [`TelemetryConfig::log_filter`], as text (with
///   colours when standard error is a terminal) or as JSON lines.
/// * Spans at `INFO` level and above also get OpenTelemetry contexts, whatever the log
///   filter says, so W3C trace context always propagates (see
///   [`inject_trace_context`](crate::inject_trace_context)). With the `otlp` feature they
///   are exported over OTLP/HTTP (binary protobuf, batched on a background thread) to
///   [`TelemetryConfig::otlp_endpoint`] when it is set; otherwise they are only
///   propagated. The W3C propagator is also set as OpenTelemetry's global propagator.
///
/// Call it once, at startup, inside or outside a Tokio runtime.
///
/// # Errors
///
/// * [`MonitoringError::ParseLogFilter`] if the log filter is invalid.
/// * [`MonitoringError::InstallSubscriber`] if a global subscriber is already installed.
/// * With the `otlp` feature, `MonitoringError::BuildOtlpExporter` if the endpoint is not a
///   valid URL.
///
/// # Examples
///
/// ```no_run
/// use autogen_kafka_monitoring::{TelemetryConfig, init_tracing};
///
/// # fn main() -> autogen_kafka_monitoring::Result<()> {
/// let telemetry = init_tracing(&TelemetryConfig::new("my-agents"))?;
/// tracing::info!("started");
/// // ... run ...
/// telemetry.shutdown()?;
/// # Ok(())
/// # }
/// ```
pub fn init_tracing(config: &TelemetryConfig) -> Result<TelemetryGuard> {
    let (provider, exporting) = spans::tracer_provider(config)?;
    let layers = vec![
        log_layer(config, std::io::stderr, std::io::stderr().is_terminal())?,
        spans::layer(&provider),
    ];
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|source| MonitoringError::InstallSubscriber { source })?;
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    opentelemetry::global::set_tracer_provider(provider.clone());
    match config.otlp_endpoint.as_deref() {
        Some(endpoint) if exporting => {
            tracing::info!(endpoint, service = %config.service_name, "exporting spans over OTLP/HTTP");
        }
        Some(endpoint) => tracing::warn!(
            endpoint,
            "an OTLP endpoint is configured but this build has no `otlp` feature: spans are not exported"
        ),
        None => {}
    }
    Ok(TelemetryGuard {
        provider,
        exporting,
    })
}

/// The log output: `config.log_filter` applied to a text or JSON formatter on `writer`.
fn log_layer<W>(
    config: &TelemetryConfig,
    writer: W,
    ansi: bool,
) -> Result<Box<dyn Layer<Registry> + Send + Sync>>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&config.log_filter).map_err(|source| {
        MonitoringError::ParseLogFilter {
            filter: config.log_filter.clone(),
            source,
        }
    })?;
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    Ok(if config.json {
        layer.json().with_filter(filter).boxed()
    } else {
        layer.with_ansi(ansi).with_filter(filter).boxed()
    })
}

/// The OpenTelemetry pipeline: span contexts always, OTLP export with the `otlp` feature.
mod spans {
    use std::time::Duration;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::{Layer, Registry};

    use super::TelemetryConfig;
    use crate::error::{MonitoringError, Result};

    /// The instrumentation scope our spans are reported under.
    const INSTRUMENTATION_SCOPE: &str = "autogen-kafka";

    /// How long [`shutdown`] waits for the exporter to flush.
    const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

    /// A tracer provider that exports to the configured endpoint (feature `otlp`), or only
    /// mints span contexts; and whether it exports.
    pub(super) fn tracer_provider(config: &TelemetryConfig) -> Result<(SdkTracerProvider, bool)> {
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        let builder = SdkTracerProvider::builder().with_resource(resource);
        #[cfg(feature = "otlp")]
        if let Some(endpoint) = config.otlp_endpoint.as_deref() {
            let exporter = super::otlp::exporter(endpoint)?;
            return Ok((builder.with_batch_exporter(exporter).build(), true));
        }
        Ok((builder.build(), false))
    }

    /// The `tracing` layer that gives spans OpenTelemetry contexts.
    pub(super) fn layer(provider: &SdkTracerProvider) -> Box<dyn Layer<Registry> + Send + Sync> {
        let tracer = provider.tracer(INSTRUMENTATION_SCOPE);
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(LevelFilter::INFO)
            .boxed()
    }

    pub(super) fn shutdown(provider: &SdkTracerProvider) -> Result<()> {
        provider
            .shutdown_with_timeout(SHUTDOWN_TIMEOUT)
            .map_err(|source| MonitoringError::ShutdownTelemetry { source })
    }
}

/// The OTLP/HTTP exporter (feature `otlp`).
#[cfg(feature = "otlp")]
mod otlp {
    use opentelemetry_otlp::{Protocol, WithExportConfig};

    use crate::error::{MonitoringError, Result};

    /// The OTLP/HTTP traces URL for a collector base URL.
    pub(super) fn traces_url(endpoint: &str) -> String {
        if endpoint.ends_with("/v1/traces") {
            endpoint.to_owned()
        } else {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        }
    }

    /// The exporter for the collector at `endpoint`.
    pub(super) fn exporter(endpoint: &str) -> Result<opentelemetry_otlp::SpanExporter> {
        let url = traces_url(endpoint);
        install_crypto_provider();
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .build()
            .map_err(|source| MonitoringError::BuildOtlpExporter {
                endpoint: url,
                source,
            })
    }

    /// Installs rustls's ring provider as the process default unless one is installed.
    ///
    /// reqwest is built with `rustls-no-provider` in this workspace, and building any of
    /// its clients (the exporter's included) panics when no provider is installed.
    fn install_crypto_provider() {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: a provider is installed.
            let _already_installed = rustls::crypto::ring::default_provider().install_default();
        }
    }
}

#[cfg(test)]
mod tests;

//! # autogen-kafka-monitoring
//!
//! Observability for autogen-kafka: `tracing` setup with OpenTelemetry export, Prometheus
//! metrics (throughput per topic, handler latency, error rates) and health checks (broker
//! connectivity, Schema Registry availability, agent responsiveness).
//!
//! The crate knows no other autogen-kafka crate. The Kafka runtime holds one [`Metrics`]
//! and one [`Health`] and records into them on every message hop; this crate turns them
//! into answers for Prometheus and for orchestrators' probes.
//!
//! | piece | what it does |
//! |---|---|
//! | [`Metrics`] | cloneable handle over its own Prometheus registry, with typed recording methods and bounded labels |
//! | [`Health`] / [`ComponentHealth`] | components report `Up`/`Degraded`/`Down`; [`Health::liveness`] and [`Health::readiness`] summarise |
//! | [`MonitoringServer`] | HTTP endpoint for `/metrics`, `/health/live`, `/health/ready`, stopped by a `CancellationToken` |
//! | [`init_tracing`] | installs the `tracing` subscriber (text or JSON logs; OTLP span export with the `otlp` feature) |
//! | [`inject_trace_context`] / [`extract_trace_context`] | W3C `traceparent`/`tracestate` in an event's `metadata` map, as the Python runtime writes them |
//!
//! ## Cargo features
//!
//! * `otlp` (off by default): spans are exported over OTLP/HTTP (binary protobuf,
//!   reqwest's blocking client on a background thread, TLS through rustls with the ring
//!   provider). It builds with Cargo alone (no `protoc`, no `cmake`). Without it, spans
//!   still get OpenTelemetry contexts and the W3C trace context still propagates.
//!
//! ## Example
//!
//! ```
//! use std::time::Duration;
//! use autogen_kafka_monitoring::{Criticality, Health, Metrics, MonitoringServer, RpcOutcome};
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> autogen_kafka_monitoring::Result<()> {
//! // At startup (after `init_tracing(&TelemetryConfig::new("my-agents"))?`):
//! let metrics = Metrics::new()?;
//! let health = Health::new();
//! let kafka = health.register("kafka", Criticality::Readiness);
//! let agents = health.register_heartbeat("agents", Criticality::Liveness, Duration::from_secs(30));
//!
//! let server = MonitoringServer::builder(metrics.clone(), health.clone())
//!     .address(([127, 0, 0, 1], 0).into()) // 127.0.0.1:9464 by default
//!     .build()
//!     .await?;
//! let shutdown = CancellationToken::new();
//! let serving = tokio::spawn(server.serve(shutdown.child_token()));
//!
//! // On the hot path:
//! kafka.up();
//! agents.up();
//! metrics.message_consumed("agent.requests");
//! metrics.observe_handler("assistant", Duration::from_millis(8));
//! let rpc = metrics.start_rpc("assistant");
//! rpc.finish(RpcOutcome::Ok);
//! assert!(health.readiness().is_healthy());
//!
//! // At shutdown:
//! shutdown.cancel();
//! serving.await.expect("the server task panicked")?;
//! # Ok(())
//! # }
//! ```
//!
//! Carrying the trace context across Kafka, in the event's `metadata` map:
//!
//! ```
//! use autogen_kafka_monitoring::{extract_trace_context, inject_trace_context};
//!
//! // Producing: write the current span's context (a no-op without a span context).
//! let mut metadata = serde_json::Map::new();
//! inject_trace_context(&mut metadata);
//!
//! // Consuming: continue the sender's trace in the handler's span.
//! let handler_span = tracing::info_span!("handle", agent_type = "assistant");
//! if let Some(remote) = extract_trace_context(&metadata) {
//!     remote.set_parent_of(&handler_span);
//! }
//! ```
#![doc(test(attr(deny(warnings))))]

mod error;
mod health;
mod metrics;
mod propagation;
mod server;
mod telemetry;

pub use error::{MonitoringError, Result};
pub use health::{
    ComponentHealth, ComponentReport, Criticality, Health, HealthReport, HealthStatus, Probe,
};
pub use metrics::{
    ConnectionState, Direction, Metrics, RebalanceEvent, RpcOutcome, RpcTimer, UnmatchedResponse,
};
pub use propagation::{
    TRACEPARENT, TRACESTATE, TraceCarrier, TraceContext, current_trace_context,
    extract_trace_context, inject_trace_context,
};
pub use server::{MonitoringServer, MonitoringServerBuilder};
pub use telemetry::{TelemetryConfig, TelemetryGuard, init_tracing};

/// The Prometheus client this crate records with (for [`Metrics::with_registry`] and
/// application metrics).
#[doc(no_inline)]
pub use prometheus;

//! # autogen-kafka-monitoring
//!
//! Observability for autogen-kafka: `tracing` setup with OpenTelemetry export, Prometheus
//! metrics (throughput per topic, handler latency, error rates) and health checks (broker
//! connectivity, Schema Registry availability, agent responsiveness).
//!
//! Built alongside the Kafka runtime; this crate grows as it lands.

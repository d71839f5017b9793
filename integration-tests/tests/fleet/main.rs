//! The integration tests, one module per theme, built as one test binary: every module links the whole stack
//! and librdkafka, so one binary instead of eight saves CI minutes of linking and most of a gigabyte of disk.
//! nextest still runs each test in its own process.

mod bridge;
mod crash;
mod dead_letters;
mod dispatch;
mod gateway;
mod lifecycle;
mod passivation;
mod per_type_topics;
mod publish;
mod python_interop;
mod replicas;
mod resilience;
mod rpc;
#[cfg(feature = "ssl")]
mod sasl;
mod schema_evolution;
mod security;
mod tail_gaps;
#[cfg(feature = "ssl")]
mod tls;
mod topics;
mod traces;

//! # autogen-kafka-runtime
//!
//! The distributed runtime: [`KafkaWorkerAgentRuntime`] implements the core `AgentRuntime` trait over Kafka, so
//! agents in many processes talk as if they were local; [`MessagingClient`] sends requests and publications from
//! code that is not an agent; [`KafkaStreamingAgent`] bridges agents to external services that speak Kafka
//! (the seed's pattern 2).
//!
//! How a request travels (see `docs/architecture.md` for the whole picture):
//!
//! 1. `send_message` checks the registry (an agent type no live runtime hosts fails at once with
//!    `Undeliverable`), writes a `RequestEvent` keyed `type/key` to the request topic with its deadline and this
//!    runtime's reply topic in headers, and waits on a oneshot under the deadline and cancellation token.
//! 2. In the runtime that owns the key's partition (consumer group `<group_id>.agent.<type>`), the
//!    `MessageProcessor` decodes it, activates the agent (loading saved state) and calls it.
//! 3. The answer (or an error response) goes to the caller's reply topic; the caller's `PendingRequests`
//!    completes the oneshot. Only then is the request's offset committed.
//!
//! # Examples
//!
//! ```no_run
//! use autogen_kafka_config::Config;
//! use autogen_kafka_runtime::KafkaWorkerAgentRuntime;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::builder().bootstrap_servers(["127.0.0.1:9092"]).group_id("fleet").build()?;
//! let runtime = KafkaWorkerAgentRuntime::builder(config).build()?;
//! runtime.start().await?;
//! runtime.stop().await?;
//! # Ok(()) }
//! ```

mod bridge;
mod cleanup;
mod client;
mod error;
mod setup;
mod status;
mod topics;
mod worker;

pub use bridge::{BridgeStats, KafkaStreamingAgent, KafkaStreamingAgentBuilder};
pub use cleanup::{Departed, clean_up_fleet};
pub use client::MessagingClient;
pub use error::{Result, RuntimeError};
pub use status::{
    FleetStatus, RegistrationStatus, RuntimeStatus, SubscriptionStatus, TypeLag, fleet_status,
};
pub use topics::{TopicCheck, check_fleet_topics, ensure_fleet_topics, fleet_topic_specs};
pub use worker::{KafkaWorkerAgentRuntime, KafkaWorkerAgentRuntimeBuilder};

//! # autogen-kafka
//!
//! A distributed runtime for AutoGen-style agents on Apache Kafka. Agents are addressed by
//! [`AgentId`] (`type/key`), talk by RPC ([`AgentRuntimeExt::send`]) and by publishing to a
//! [`TopicId`] that [`Subscription`]s map onto agents. The same agent code runs in-process on
//! [`LocalRuntime`] or across many processes on Kafka, speaking the wire format of the Python
//! `autogen-kafka` extension so mixed Python/Rust fleets work.
//!
//! This crate is the facade: it holds no logic, re-exports the headline types flat, each layer
//! as a module, and the top-level [`Error`].
//!
//! | module | layer |
//! |---|---|
//! | [`core`] | agent model: ids, subscriptions, messages, agents, `AgentRuntime`, `LocalRuntime` |
//! | [`config`] | configuration: defaults → file → `AUTOGEN_KAFKA_*` environment, validation |
//! | [`events`] | wire events, Confluent framing, JSON Schema / Avro / JSON codecs |
//! | [`admin`] | Schema Registry client, topic administration |
//! | [`streaming`] | producer, consumer-group workers, offsets, dead letters |
//! | [`services`], [`runtime`], [`memory`], [`monitoring`] | the Kafka worker runtime and its services |
//!
//! ## Cargo features
//!
//! | feature | what it adds |
//! |---|---|
//! | `ssl` | TLS (`security_protocol` `SSL` / `SASL_SSL`) and SASL/SCRAM: librdkafka is built with OpenSSL (compiled from source; needs perl and make). Without it, a TLS configuration fails when the clients are created, with a typed error. |
//! | `otlp` | OpenTelemetry OTLP export of traces (`monitoring::init_tracing` with an endpoint). |
//! | `gateway` | `gateway`: the A2A gateway, agent types of the fleet served to A2A clients (docs/gateway.md). |
//!
//! ## Example
//!
//! ```
//! use std::time::Duration;
//!
//! use autogen_kafka::{
//!     AgentId, AgentRuntimeExt, Handler, HandlerError, LocalRuntime, Message, MessageContext,
//!     RoutedAgent,
//! };
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize)]
//! struct Ping {
//!     content: String,
//! }
//! impl Message for Ping {
//!     const TYPE_NAME: &'static str = "Ping";
//! }
//!
//! struct Echo;
//! impl Handler<Ping> for Echo {
//!     type Response = Ping;
//!     async fn handle(&mut self, ping: Ping, _ctx: &MessageContext) -> Result<Ping, HandlerError> {
//!         Ok(Ping { content: format!("echo: {}", ping.content) })
//!     }
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), autogen_kafka::Error> {
//!     let runtime = LocalRuntime::new();
//!     runtime.register("echo", |_id| RoutedAgent::new(Echo).with_handler::<Ping>()).await?;
//!     let reply: Ping = runtime
//!         .send(Ping { content: "hi".into() }, &AgentId::new("echo", "default")?)
//!         .await?;
//!     assert_eq!(reply.content, "echo: hi");
//!     runtime.stop(Duration::from_secs(1)).await?;
//!     Ok(())
//! }
//! ```
#![doc(test(attr(deny(warnings))))]

// ---------------------------------------------------------------- Modules

mod error;

// ---------------------------------------------------------------- Layers

#[doc(inline)]
pub use autogen_kafka_admin as admin;
#[doc(inline)]
pub use autogen_kafka_config as config;
#[doc(inline)]
pub use autogen_kafka_core as core;
#[doc(inline)]
pub use autogen_kafka_events as events;
/// The A2A gateway (feature `gateway`).
#[cfg(feature = "gateway")]
#[doc(inline)]
pub use autogen_kafka_gateway as gateway;
#[doc(inline)]
pub use autogen_kafka_memory as memory;
#[doc(inline)]
pub use autogen_kafka_monitoring as monitoring;
#[doc(inline)]
pub use autogen_kafka_runtime as runtime;
#[doc(inline)]
pub use autogen_kafka_streaming as streaming;

/// What users of the worker runtime's services need: their error, the remote error an RPC can end with, the
/// record headers we add to the wire format, and the event codecs (for code that writes or reads fleet records
/// itself, such as an external service answering the streaming bridge). The services themselves (message
/// processor, pending requests, agent manager, registry views) are the runtime's internals: use
/// `autogen-kafka-services` directly to build on them.
pub mod services {
    pub use autogen_kafka_services::{
        DEFAULT_SCHEMA_LOOKUP_WAIT, EventCodecs, RemoteError, Result, ServicesError, headers,
    };
}

// ---------------------------------------------------------------- Headline types

pub use autogen_kafka_config::Config;
pub use autogen_kafka_core::{
    Agent, AgentId, AgentMetadata, AgentRuntime, AgentRuntimeExt, AgentType, AnyMessage,
    CancellationToken, Handler, HandlerError, LocalRuntime, Message, MessageContext,
    PublishOptions, RoutedAgent, RuntimeHandle, SendOptions, Subscription, TopicId,
    TypePrefixSubscription, TypeSubscription,
};
pub use autogen_kafka_memory::{KafkaMemory, ListMemory, Memory, MemoryContent};
pub use autogen_kafka_runtime::{KafkaStreamingAgent, KafkaWorkerAgentRuntime, MessagingClient};
pub use error::{Error, ErrorKind, Result};

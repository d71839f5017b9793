//! # autogen-kafka-core
//!
//! The AutoGen agent model (the semantics of Python `autogen-core` 0.7) in Rust, plus an
//! in-process runtime. This crate knows nothing of Kafka, configuration files or wire formats;
//! the Kafka runtime implements the same [`AgentRuntime`] trait on top of it.
//!
//! - **Identifiers** ([`AgentId`], [`AgentType`], [`TopicId`]) with autogen-core's validation and
//!   `type/key` text form.
//! - **Subscriptions** ([`TypeSubscription`], [`TypePrefixSubscription`], [`Subscription`]) map a
//!   published topic onto the agent that receives it.
//! - **Messages** implement [`Message`] (a serde type plus its language-neutral type name). They
//!   travel as [`AnyMessage`]: an in-memory value, or bytes decoded lazily. A
//!   [`SerializerRegistry`] turns them into bytes and back.
//! - **Agents** implement [`Agent`]; most are plain structs with typed [`Handler`]s wrapped in a
//!   [`RoutedAgent`].
//! - **Runtimes** implement [`AgentRuntime`]; [`AgentRuntimeExt`] adds typed helpers
//!   (`send`, `publish`, `register`, `with_agent`), and [`LocalRuntime`] runs everything in-process.
//!
//! ## Example: an echo agent
//!
//! ```
//! use std::time::Duration;
//!
//! use autogen_kafka_core::{
//!     AgentId, AgentRuntimeExt, CoreError, Handler, HandlerError, LocalRuntime, Message,
//!     MessageContext, RoutedAgent,
//! };
//! use serde::{Deserialize, Serialize};
//!
//! /// The request. `TYPE_NAME` is the class name the Python side uses for the same message.
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! struct Ping {
//!     content: String,
//! }
//! impl Message for Ping {
//!     const TYPE_NAME: &'static str = "Ping";
//! }
//!
//! /// The agent: a plain struct with one typed handler.
//! struct Echo {
//!     seen: usize,
//! }
//!
//! impl Handler<Ping> for Echo {
//!     type Response = Ping;
//!
//!     async fn handle(&mut self, message: Ping, ctx: &MessageContext) -> Result<Ping, HandlerError> {
//!         self.seen += 1;
//!         let content = format!("{} (echoed by {}, #{})", message.content, ctx.agent_id(), self.seen);
//!         Ok(Ping { content })
//!     }
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), CoreError> {
//!     let runtime = LocalRuntime::builder()
//!         .default_rpc_timeout(Duration::from_secs(5))
//!         .build()?;
//!
//!     // Agents of type "echo" are created on their first message, one per key.
//!     runtime
//!         .register("echo", |_id| RoutedAgent::new(Echo { seen: 0 }).with_handler::<Ping>())
//!         .await?;
//!
//!     let echo = AgentId::new("echo", "default")?;
//!     let reply: Ping = runtime.send(Ping { content: "hello".into() }, &echo).await?;
//!     assert_eq!(reply.content, "hello (echoed by echo/default, #1)");
//!
//!     // An agent type nobody registered fails at once.
//!     let nobody = AgentId::new("nobody", "default")?;
//!     let err = runtime.send::<Ping, Ping>(Ping { content: "?".into() }, &nobody).await;
//!     assert!(matches!(err, Err(CoreError::Undeliverable { .. })));
//!
//!     runtime.stop(Duration::from_secs(1)).await
//! }
//! ```
#![doc(test(attr(deny(warnings))))]

// ---------------------------------------------------------------- Modules

mod agent;
mod error;
mod id;
mod local;
mod message;
mod routed;
mod runtime;
mod subscription;

// ---------------------------------------------------------------- Re-exports

pub use agent::{Agent, AgentMetadata, HandlerError, MessageContext};
pub use error::{BoxError, CoreError, CoreErrorKind, Result};
pub use id::{AgentId, AgentType, TopicId};
pub use local::{DEFAULT_MAILBOX_CAPACITY, DEFAULT_RPC_TIMEOUT, LocalRuntime, LocalRuntimeBuilder};
pub use message::{
    AnyMessage, JSON_CONTENT_TYPE, JsonSerializer, Message, MessageSerializer, Reply,
    SerializedMessage, SerializerRegistry,
};
pub use routed::{Handler, RawHandler, RoutedAgent};
pub use runtime::{
    AgentAccess, AgentFactory, AgentRuntime, AgentRuntimeExt, Intervention, InterventionChain,
    InterventionContext, InterventionHandler, PublishOptions, RuntimeHandle, SendOptions,
    new_message_id,
};
pub use subscription::{
    DEFAULT_TOPIC_TYPE, Subscription, TypePrefixSubscription, TypeSubscription,
};
#[doc(no_inline)]
pub use tokio_util::sync::CancellationToken;

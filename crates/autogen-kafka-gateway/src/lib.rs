//! An [A2A](https://a2a-protocol.org) (Agent2Agent protocol, version 1.0) gateway: the agent types of a fleet,
//! reachable by any A2A client over the JSON-RPC and HTTP+JSON bindings.
//!
//! The gateway serves the agent card at `/.well-known/agent-card.json` (one skill per exposed agent type) and the
//! JSON-RPC endpoint at `/a2a/jsonrpc` with `SendMessage`, `SendStreamingMessage` (server-sent events), `GetTask`,
//! `ListTasks` and `CancelTask`, and the same operations as the HTTP+JSON binding under `/a2a/rest`. A message to a
//! skill becomes an RPC, through any [`AgentRuntime`](autogen_kafka_core::AgentRuntime), to the agent id
//! `<type>/<contextId>` (one conversation stays with one agent instance) carrying an [`A2aRequest`]; the
//! [`A2aReply`] becomes the task's artifact. Handler errors and deadlines end the task `TASK_STATE_FAILED`;
//! `CancelTask` cancels the RPC. Requests need the configured bearer token. With
//! [`A2aGateway::with_task_topic`] the tasks live on a compacted topic, so every replica answers for every task and
//! a restarted gateway still knows them.
//!
//! # Examples
//!
//! ```no_run
//! use std::sync::Arc;
//! use autogen_kafka_gateway::{A2aGateway, GatewayConfig, Skill};
//!
//! # async fn demo(runtime: Arc<dyn autogen_kafka_core::AgentRuntime>) -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let config = GatewayConfig::new("http://127.0.0.1:8080", "a-long-random-token")
//!     .skill(Skill::new("echo", "Echo", "Answers with the text it got"));
//! let gateway = A2aGateway::new(runtime, config);
//! gateway.serve(listener, tokio_util::sync::CancellationToken::new()).await?;
//! # Ok(()) }
//! ```

mod error;
mod gateway;
mod journal;
mod messages;
mod rest;
mod tasks;
pub mod wire;

pub use error::GatewayError;
pub use gateway::{A2aGateway, GatewayConfig, HostedTypes, Skill};
pub use messages::{A2aReply, A2aRequest};

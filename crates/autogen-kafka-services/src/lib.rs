//! # autogen-kafka-services
//!
//! The services of a worker runtime. They know agents and routing, and reach Kafka only through the streaming
//! layer:
//!
//! - [`AgentRegistry`]: which live runtimes host which agent types (registry topic, heartbeats, expiry).
//! - [`RuntimeDirectory`]: which Rust runtimes are alive, and the reply topics of those that died.
//! - [`SubscriptionService`]: the fleet's subscriptions (subscription topic), and who receives a publication.
//! - [`MessageProcessor`] / [`AgentTypeHandler`]: the callee side: decode, deduplicate, activate, call the agent,
//!   answer, dead-letter failures.
//! - [`PendingRequests`]: the caller side: correlate responses with waiting requests.
//! - [`RequestCancellations`]: a cancelled RPC reaches the handler handling it (cancel notices on the runtimes topic).
//! - [`AgentManager`] and [`StateStore`]: which agent ids are active here and their state when they move.
//! - [`EventCodecs`]: the wire codec of each topic.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use autogen_kafka_events::Format;
//! use autogen_kafka_services::{AgentRegistry, EventCodecs};
//!
//! let registry = AgentRegistry::new("agent_registry", Arc::new(EventCodecs::new(Format::Json)));
//! assert!(!registry.is_hosted("echo"));
//! ```

mod agents;
mod cancellations;
mod codecs;
mod error;
pub mod headers;
mod pending;
mod processor;
mod registry;
mod runtimes;
mod state;
mod subscriptions;
#[cfg(test)]
mod test_support;

pub use agents::{Activation, AgentManager};
pub use cancellations::{CANCEL_KEY_PREFIX, RequestCancellations, Running, cancel_notice};
pub use codecs::{DEFAULT_SCHEMA_LOOKUP_WAIT, EventCodecs};
pub use error::{Result, ServicesError};
pub use pending::{PendingRequests, RemoteError, RpcResult};
pub use processor::{
    ActivationHook, AgentTypeHandler, MessageProcessor, ProcessorSettings, ProcessorStats,
    error_chain, error_kind,
};
pub use registry::AgentRegistry;
pub use runtimes::{RuntimeDirectory, RuntimeEntry};
pub use state::{Applied, StateStore};
pub use subscriptions::SubscriptionService;

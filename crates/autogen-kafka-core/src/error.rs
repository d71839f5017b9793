//! The one error type of this crate, [`CoreError`], and its coarse classification [`CoreErrorKind`].

use std::time::Duration;

use crate::id::{AgentId, AgentType, TopicId};

/// A boxed error that crosses a user-code boundary (agent handlers, factories, custom serializers).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`CoreError`] as the default error type.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the agent model and in an [`AgentRuntime`](crate::AgentRuntime).
///
/// Variants are named after the operation or the rule that failed and carry the ids involved.
/// Causes are kept as [`source`](std::error::Error::source), never flattened into text.
/// Use [`CoreError::kind`] to map an error onto a coarse category and
/// [`CoreError::is_retriable`] to decide whether trying again can help.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AgentId, CoreError, CoreErrorKind};
///
/// let err = AgentId::new("has space", "key").unwrap_err();
/// assert!(matches!(err, CoreError::InvalidAgentId { .. }));
/// assert_eq!(err.kind(), CoreErrorKind::InvalidInput);
/// assert!(!err.is_retriable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// An agent id or agent type did not pass validation.
    #[error("invalid agent id {value:?}: {reason}")]
    InvalidAgentId {
        /// The rejected text.
        value: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A topic id or topic type did not pass validation.
    #[error("invalid topic id {value:?}: {reason}")]
    InvalidTopicId {
        /// The rejected text.
        value: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A runtime builder was given a setting it cannot work with.
    #[error("invalid runtime setting `{field}`: {reason}")]
    InvalidConfiguration {
        /// The setter's name.
        field: &'static str,
        /// Why the value was rejected.
        reason: &'static str,
    },
    /// No factory and no instance is registered for the recipient's agent type.
    #[error("no agent of type {agent_type} is registered: message undeliverable")]
    Undeliverable {
        /// The agent type nobody registered.
        agent_type: String,
    },
    /// The agent type is known, but this particular agent does not exist and cannot be created
    /// (its type was registered as a single instance, not through a factory).
    #[error("agent {agent_id} not found")]
    AgentNotFound {
        /// The missing agent.
        agent_id: AgentId,
    },
    /// The agent factory failed (or panicked) while creating an agent.
    #[error("creating agent {agent_id} failed")]
    AgentCreation {
        /// The agent that was being created.
        agent_id: AgentId,
        /// The factory's error.
        #[source]
        source: BoxError,
    },
    /// An agent type was registered twice (factory or instance).
    #[error("agent type {agent_type} is already registered")]
    DuplicateAgentType {
        /// The type registered twice.
        agent_type: AgentType,
    },
    /// An agent instance was registered under an id that is already in use.
    #[error("agent {agent_id} is already registered")]
    DuplicateAgentId {
        /// The id registered twice.
        agent_id: AgentId,
    },
    /// A subscription with the same id, or an equivalent one (same agent type and topic rule), exists.
    #[error("subscription {subscription_id} already exists")]
    DuplicateSubscription {
        /// The id of the rejected subscription.
        subscription_id: String,
    },
    /// No subscription with this id exists.
    #[error("subscription {subscription_id} not found")]
    SubscriptionNotFound {
        /// The id that was looked up.
        subscription_id: String,
    },
    /// A subscription was asked to map a topic it does not match.
    #[error("subscription {subscription_id} does not match topic {topic_id}")]
    SubscriptionMismatch {
        /// The subscription's id.
        subscription_id: String,
        /// The topic it does not match.
        topic_id: TopicId,
    },
    /// An RPC (or another operation on one agent, such as
    /// [`LocalRuntime::evict_agent`](crate::LocalRuntime::evict_agent)) did not complete before its deadline.
    #[error("request to {recipient} timed out after {after:?}")]
    Timeout {
        /// The agent that did not answer in time.
        recipient: AgentId,
        /// The deadline that passed.
        after: Duration,
    },
    /// The caller's cancellation token was cancelled.
    #[error("operation cancelled")]
    Cancelled,
    /// A request would wait on itself: its recipient is already waiting, further up the same call chain, for
    /// this request's answer (A → B → A). It fails at once instead of at the deadline.
    #[error("call cycle {}: {recipient} is already waiting for this call's answer", chain_text(.chain, .recipient))]
    CallCycle {
        /// The agent the request was for.
        recipient: AgentId,
        /// The agents waiting on the request, outermost first (the sender last).
        chain: Vec<AgentId>,
    },
    /// The agent's handler returned an error.
    #[error("handler of agent {agent_id} failed")]
    Handler {
        /// The agent whose handler failed.
        agent_id: AgentId,
        /// The handler's error.
        #[source]
        source: BoxError,
    },
    /// The agent's handler panicked. The panic was contained; the agent keeps running.
    #[error("handler of agent {agent_id} panicked: {message}")]
    HandlerPanicked {
        /// The agent whose handler panicked.
        agent_id: AgentId,
        /// The panic payload, when it was text.
        message: String,
    },
    /// The agent has no handler for this message type.
    #[error("agent {agent_id} has no handler for message type {type_name}")]
    UnhandledMessageType {
        /// The agent that received the message.
        agent_id: AgentId,
        /// The message's type name.
        type_name: String,
    },
    /// A typed request expected a response, but the agent answered with none.
    #[error("agent {agent_id} sent no response")]
    NoResponse {
        /// The agent that answered without a value.
        agent_id: AgentId,
    },
    /// Typed access to an agent asked for the wrong Rust type.
    #[error("agent {agent_id} is not a {expected}")]
    AgentTypeMismatch {
        /// The agent that was accessed.
        agent_id: AgentId,
        /// The Rust type the caller asked for.
        expected: &'static str,
    },
    /// The agent failed to save its state.
    #[error("saving the state of agent {agent_id} failed")]
    AgentSaveState {
        /// The agent.
        agent_id: AgentId,
        /// The agent's error.
        #[source]
        source: BoxError,
    },
    /// The agent failed to load its state.
    #[error("loading the state of agent {agent_id} failed")]
    AgentLoadState {
        /// The agent.
        agent_id: AgentId,
        /// The agent's error.
        #[source]
        source: BoxError,
    },
    /// A runtime state document has the wrong shape.
    #[error("invalid runtime state: {reason}")]
    InvalidState {
        /// What is wrong with the document.
        reason: &'static str,
    },
    /// No serializer is registered for this message type name.
    #[error("unknown message type {type_name}")]
    UnknownMessageType {
        /// The unknown type name.
        type_name: String,
    },
    /// A message was read as a different type than the one it holds.
    #[error("expected a message of type {expected}, got {actual}")]
    MessageTypeMismatch {
        /// The requested type name.
        expected: &'static str,
        /// The message's type name.
        actual: String,
    },
    /// Serialized bytes use a content type the serializer cannot read.
    #[error("message type {type_name} cannot be read from content type {content_type}")]
    UnsupportedContentType {
        /// The message's type name.
        type_name: String,
        /// The content type of the bytes.
        content_type: String,
    },
    /// Encoding a message failed.
    #[error("serializing a message of type {type_name} failed")]
    Serialize {
        /// The message's type name.
        type_name: String,
        /// The encoder's error.
        #[source]
        source: BoxError,
    },
    /// Decoding a message failed.
    #[error("deserializing a message of type {type_name} failed")]
    Deserialize {
        /// The message's type name.
        type_name: String,
        /// The decoder's error.
        #[source]
        source: BoxError,
    },
    /// An intervention handler dropped the message.
    #[error("message of type {type_name} was dropped by an intervention handler")]
    MessageDropped {
        /// The dropped message's type name.
        type_name: String,
    },
    /// The runtime is stopping or stopped and accepts no more work.
    #[error("the runtime is stopped")]
    RuntimeStopped,
    /// The transport of a distributed runtime (for example the Kafka producer) failed to carry a message.
    #[error("{operation} failed")]
    Transport {
        /// What was being done (`sending the request`, `writing the subscription`, ...).
        operation: &'static str,
        /// The transport's error.
        #[source]
        source: BoxError,
    },
    /// The agent's mailbox stayed full until the deadline.
    #[error("the mailbox of agent {agent_id} is full")]
    MailboxFull {
        /// The agent whose mailbox is full.
        agent_id: AgentId,
    },
    /// Stopping the runtime did not finish in-flight work before the deadline; remaining work was aborted.
    #[error("stopping the runtime did not finish within {after:?}")]
    StopTimedOut {
        /// The deadline that passed.
        after: Duration,
    },
}

/// `a/1 → b/2 → a/1`: the chain and the recipient that closes it.
fn chain_text(chain: &[AgentId], recipient: &AgentId) -> String {
    let mut text = String::new();
    for id in chain {
        text.push_str(&id.to_string());
        text.push_str(" → ");
    }
    text.push_str(&recipient.to_string());
    text
}

/// A coarse classification of [`CoreError`], stable across new variants.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{CoreError, CoreErrorKind};
///
/// assert_eq!(CoreError::Cancelled.kind(), CoreErrorKind::Cancelled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CoreErrorKind {
    /// The caller passed something invalid (ids, settings, duplicate registrations).
    InvalidInput,
    /// A deadline passed.
    Timeout,
    /// The caller cancelled.
    Cancelled,
    /// The message could not reach an agent.
    Undeliverable,
    /// The agent failed (handler error, panic, missing handler, state hooks).
    Agent,
    /// A message could not be encoded or decoded.
    Serialization,
    /// The runtime itself refused or failed (stopped, shutdown overran).
    Runtime,
    /// The transport between runtimes (the broker) failed.
    Transport,
}

impl CoreError {
    /// The coarse category of this error.
    #[must_use]
    pub fn kind(&self) -> CoreErrorKind {
        match self {
            Self::InvalidAgentId { .. }
            | Self::InvalidTopicId { .. }
            | Self::InvalidConfiguration { .. }
            | Self::DuplicateAgentType { .. }
            | Self::DuplicateAgentId { .. }
            | Self::DuplicateSubscription { .. }
            | Self::SubscriptionNotFound { .. }
            | Self::SubscriptionMismatch { .. }
            | Self::InvalidState { .. } => CoreErrorKind::InvalidInput,
            Self::Timeout { .. } => CoreErrorKind::Timeout,
            Self::Cancelled => CoreErrorKind::Cancelled,
            Self::Undeliverable { .. }
            | Self::AgentNotFound { .. }
            | Self::MessageDropped { .. }
            | Self::MailboxFull { .. } => CoreErrorKind::Undeliverable,
            Self::AgentCreation { .. }
            | Self::CallCycle { .. }
            | Self::Handler { .. }
            | Self::HandlerPanicked { .. }
            | Self::UnhandledMessageType { .. }
            | Self::NoResponse { .. }
            | Self::AgentTypeMismatch { .. }
            | Self::AgentSaveState { .. }
            | Self::AgentLoadState { .. } => CoreErrorKind::Agent,
            Self::UnknownMessageType { .. }
            | Self::MessageTypeMismatch { .. }
            | Self::UnsupportedContentType { .. }
            | Self::Serialize { .. }
            | Self::Deserialize { .. } => CoreErrorKind::Serialization,
            Self::RuntimeStopped | Self::StopTimedOut { .. } => CoreErrorKind::Runtime,
            Self::Transport { .. } => CoreErrorKind::Transport,
        }
    }

    /// Whether the same operation may succeed if tried again later (a deadline passed, a
    /// mailbox was full, the transport failed). Errors caused by the input or by the agent's code
    /// are not retriable.
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::MailboxFull { .. } | Self::Transport { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn agent() -> AgentId {
        AgentId::new("a", "k").unwrap()
    }

    #[test]
    fn only_transient_errors_are_retriable() {
        let timeout = CoreError::Timeout {
            recipient: agent(),
            after: Duration::from_secs(1),
        };
        assert!(timeout.is_retriable());
        assert!(CoreError::MailboxFull { agent_id: agent() }.is_retriable());
        assert!(!CoreError::Cancelled.is_retriable());
        assert!(
            !CoreError::Undeliverable {
                agent_type: "a".into()
            }
            .is_retriable()
        );
    }

    #[test]
    fn kinds_group_variants() {
        assert_eq!(CoreError::RuntimeStopped.kind(), CoreErrorKind::Runtime);
        assert_eq!(
            CoreError::UnknownMessageType {
                type_name: "X".into()
            }
            .kind(),
            CoreErrorKind::Serialization
        );
        assert_eq!(
            CoreError::NoResponse { agent_id: agent() }.kind(),
            CoreErrorKind::Agent
        );
    }

    #[test]
    fn a_call_cycle_names_the_whole_chain() {
        let a = AgentId::new("a", "1").unwrap();
        let b = AgentId::new("b", "2").unwrap();
        let err = CoreError::CallCycle {
            recipient: a.clone(),
            chain: vec![a, b],
        };
        assert_eq!(
            err.to_string(),
            "call cycle a/1 → b/2 → a/1: a/1 is already waiting for this call's answer"
        );
        assert_eq!(err.kind(), CoreErrorKind::Agent);
        assert!(!err.is_retriable());
    }

    #[test]
    fn handler_error_keeps_its_source() {
        let err = CoreError::Handler {
            agent_id: agent(),
            source: "boom".into(),
        };
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("boom")
        );
        assert_eq!(err.to_string(), "handler of agent a/k failed");
    }
}

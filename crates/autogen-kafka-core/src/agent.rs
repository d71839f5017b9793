//! The [`Agent`] trait, the [`MessageContext`] a handler receives, and [`AgentMetadata`].

use std::{any::Any, fmt, future::ready};

use futures::future::BoxFuture;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{
    error::{BoxError, Result},
    id::{AgentId, AgentType, TopicId},
    message::{AnyMessage, Message, Reply},
    runtime::{AgentRuntime, PublishOptions, RuntimeHandle, SendOptions},
};

/// The error an agent's own code returns (handlers, factories, state hooks). Any error type
/// converts into it with `?`; the runtime keeps it as the `source` of the [`CoreError`](crate::CoreError)
/// the caller sees.
pub type HandlerError = BoxError;

/// What a handler knows about the message it is handling, plus a handle to the runtime.
///
/// The helpers [`send`](Self::send), [`send_with`](Self::send_with) and [`publish`](Self::publish)
/// fill in this agent as the sender (so a publish is not delivered back to it) and chain the
/// cancellation token, so nested requests stop when this one is cancelled.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{
///     AgentId, AgentRuntimeExt, Handler, HandlerError, LocalRuntime, Message, MessageContext,
///     RoutedAgent, SendOptions,
/// };
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Ping;
/// impl Message for Ping {
///     const TYPE_NAME: &'static str = "Ping";
/// }
///
/// struct Inspector;
/// impl Handler<Ping> for Inspector {
///     type Response = ();
///     async fn handle(&mut self, _message: Ping, ctx: &MessageContext) -> Result<(), HandlerError> {
///         assert_eq!(ctx.agent_id().to_string(), "inspector/1");
///         assert_eq!(ctx.sender().map(ToString::to_string).as_deref(), Some("caller/x"));
///         assert_eq!(ctx.message_id(), "m-1");
///         assert!(ctx.is_rpc() && ctx.topic_id().is_none());
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), autogen_kafka_core::CoreError> {
/// let runtime = LocalRuntime::new();
/// runtime.register("inspector", |_id| RoutedAgent::new(Inspector).with_handler::<Ping>()).await?;
/// let options = SendOptions::new()
///     .with_sender(AgentId::new("caller", "x")?)
///     .with_message_id("m-1");
/// runtime.send_with::<Ping, ()>(Ping, &AgentId::new("inspector", "1")?, options).await?;
/// # runtime.stop(std::time::Duration::from_secs(1)).await
/// # }
/// ```
#[derive(Clone)]
pub struct MessageContext {
    agent_id: AgentId,
    sender: Option<AgentId>,
    topic_id: Option<TopicId>,
    is_rpc: bool,
    message_id: String,
    cancellation: CancellationToken,
    runtime: RuntimeHandle,
    /// The agents waiting for this message's answer, outermost first (see [`SendOptions::call_chain`]).
    call_chain: Vec<AgentId>,
}

impl MessageContext {
    /// The context of a direct request (`is_rpc = true`). For runtime implementations.
    #[must_use]
    pub fn for_rpc(
        runtime: RuntimeHandle,
        recipient: AgentId,
        sender: Option<AgentId>,
        message_id: impl Into<String>,
        cancellation: CancellationToken,
    ) -> Self {
        Self {
            agent_id: recipient,
            sender,
            topic_id: None,
            is_rpc: true,
            message_id: message_id.into(),
            cancellation,
            runtime,
            call_chain: Vec::new(),
        }
    }

    /// The context of a published message (`is_rpc = false`). For runtime implementations.
    #[must_use]
    pub fn for_publish(
        runtime: RuntimeHandle,
        recipient: AgentId,
        topic_id: TopicId,
        sender: Option<AgentId>,
        message_id: impl Into<String>,
        cancellation: CancellationToken,
    ) -> Self {
        Self {
            agent_id: recipient,
            sender,
            topic_id: Some(topic_id),
            is_rpc: false,
            message_id: message_id.into(),
            cancellation,
            runtime,
            call_chain: Vec::new(),
        }
    }

    /// Sets the agents waiting for this message's answer (a request's [`SendOptions::call_chain`]). For runtime
    /// implementations.
    #[must_use]
    pub fn with_call_chain(mut self, chain: Vec<AgentId>) -> Self {
        self.call_chain = chain;
        self
    }

    /// The agents whose handlers wait for this message's answer, outermost first: empty for a request from
    /// outside any agent and for a publication. Requests this handler sends with [`send`](Self::send) carry it
    /// with this agent appended, so a request back to any of them fails at once with
    /// [`CoreError::CallCycle`](crate::CoreError::CallCycle).
    #[must_use]
    pub fn call_chain(&self) -> &[AgentId] {
        &self.call_chain
    }

    /// The id of the agent handling the message.
    #[must_use]
    pub fn agent_id(&self) -> &AgentId {
        &self.agent_id
    }

    /// The agent that sent the message, when the sender said who it is.
    #[must_use]
    pub fn sender(&self) -> Option<&AgentId> {
        self.sender.as_ref()
    }

    /// The topic the message was published to (`None` for a direct request).
    #[must_use]
    pub fn topic_id(&self) -> Option<&TopicId> {
        self.topic_id.as_ref()
    }

    /// Whether this is a direct request whose caller waits for the response.
    #[must_use]
    pub fn is_rpc(&self) -> bool {
        self.is_rpc
    }

    /// The message id the sender chose (a uuid4 unless it gave one).
    #[must_use]
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// Cancelled when the caller cancels, times out or gives up, or when the runtime aborts.
    /// Long handlers should watch it.
    #[must_use]
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancellation
    }

    /// The runtime that delivered the message.
    #[must_use]
    pub fn runtime(&self) -> &RuntimeHandle {
        &self.runtime
    }

    /// Sends a typed request from this agent and waits for the typed response.
    ///
    /// # Errors
    ///
    /// As [`AgentRuntimeExt::send`](crate::AgentRuntimeExt::send).
    pub async fn send<M: Message, R: Reply>(&self, message: M, recipient: &AgentId) -> Result<R> {
        let reply = self
            .send_with(AnyMessage::new(message), recipient, SendOptions::new())
            .await?;
        R::from_reply(reply, recipient)
    }

    /// Sends a request from this agent with explicit options; the sender, the cancellation
    /// token and the call chain (this message's chain plus this agent) are filled in when the options leave
    /// them empty.
    ///
    /// # Errors
    ///
    /// As [`AgentRuntime::send_message`].
    pub async fn send_with(
        &self,
        message: AnyMessage,
        recipient: &AgentId,
        mut options: SendOptions,
    ) -> Result<Option<AnyMessage>> {
        options.sender.get_or_insert_with(|| self.agent_id.clone());
        options
            .cancellation
            .get_or_insert_with(|| self.cancellation.child_token());
        if options.call_chain.is_empty() {
            options.call_chain.reserve(self.call_chain.len() + 1);
            options.call_chain.extend(self.call_chain.iter().cloned());
            options.call_chain.push(self.agent_id.clone());
        }
        self.runtime
            .send_message(message, recipient.clone(), options)
            .await
    }

    /// Publishes a typed message from this agent (this agent is skipped even if it subscribes).
    ///
    /// # Errors
    ///
    /// As [`AgentRuntime::publish_message`].
    pub async fn publish<M: Message>(&self, message: M, topic: &TopicId) -> Result<()> {
        let options = PublishOptions::new()
            .with_sender(self.agent_id.clone())
            .with_cancellation(self.cancellation.child_token());
        self.runtime
            .publish_message(AnyMessage::new(message), topic.clone(), options)
            .await
    }
}

impl fmt::Debug for MessageContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageContext")
            .field("agent_id", &self.agent_id)
            .field("sender", &self.sender)
            .field("topic_id", &self.topic_id)
            .field("is_rpc", &self.is_rpc)
            .field("message_id", &self.message_id)
            .field("call_chain", &self.call_chain)
            .field("cancelled", &self.cancellation.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// An agent: something with an [`AgentId`] that handles messages one at a time.
///
/// The trait is object safe (runtimes keep `Box<dyn Agent>`) and its async methods return
/// [`BoxFuture`]. Most agents are written as plain structs with typed [`Handler`](crate::Handler)s
/// and wrapped in a [`RoutedAgent`](crate::RoutedAgent); implement `Agent` directly to see every
/// message untyped.
///
/// Typed access to a concrete agent goes through methods of `dyn Agent` (`as_any`,
/// `as_any_mut`, `downcast_ref`, `downcast_mut`), which need no code in the implementation: the
/// trait has `Any` as a supertrait.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{Agent, AnyMessage, HandlerError, MessageContext};
/// use futures::future::BoxFuture;
///
/// /// Answers every message with the message itself.
/// struct Mirror;
///
/// impl Agent for Mirror {
///     fn on_message(
///         &mut self,
///         message: AnyMessage,
///         _ctx: MessageContext,
///     ) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>> {
///         Box::pin(async move { Ok(Some(message)) })
///     }
/// }
///
/// let agent: Box<dyn Agent> = Box::new(Mirror);
/// assert!(agent.downcast_ref::<Mirror>().is_some());
/// ```
pub trait Agent: Any + Send {
    /// Handles one message; `Ok(Some(_))` is the response to an RPC (ignored for a publish).
    fn on_message(
        &mut self,
        message: AnyMessage,
        ctx: MessageContext,
    ) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>>;

    /// Whether the agent keeps state worth saving with [`save_state`](Self::save_state). A distributed runtime saves
    /// such an agent's state after each message that changed it; an agent that answers `false` is never asked
    /// then (its state is still saved when it moves). The default is `true`.
    fn has_state(&self) -> bool {
        true
    }

    /// The agent's state as JSON. The default is an empty object.
    fn save_state(&mut self) -> BoxFuture<'_, Result<Value, HandlerError>> {
        Box::pin(ready(Ok(Value::Object(serde_json::Map::new()))))
    }

    /// Restores state produced by [`save_state`](Self::save_state). The default ignores it.
    fn load_state(&mut self, state: Value) -> BoxFuture<'_, Result<(), HandlerError>> {
        drop(state);
        Box::pin(ready(Ok(())))
    }

    /// Releases resources when the runtime stops or evicts the agent. The default does nothing.
    fn close(&mut self) -> BoxFuture<'_, Result<(), HandlerError>> {
        Box::pin(ready(Ok(())))
    }

    /// A human-readable description. The default is empty.
    fn description(&self) -> String {
        String::new()
    }

    /// For wrapper agents (such as [`RoutedAgent`](crate::RoutedAgent)): the wrapped value, so that
    /// typed access can reach it. The default is `None`.
    fn wrapped(&self) -> Option<&dyn Any> {
        None
    }

    /// Mutable form of [`wrapped`](Self::wrapped).
    fn wrapped_mut(&mut self) -> Option<&mut dyn Any> {
        None
    }
}

impl dyn Agent {
    /// The agent as `&dyn Any` (its concrete type).
    #[must_use]
    pub fn as_any(&self) -> &dyn Any {
        self
    }

    /// The agent as `&mut dyn Any` (its concrete type).
    #[must_use]
    pub fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    /// The agent as an `A`: the agent itself, or the value it [wraps](Agent::wrapped).
    #[must_use]
    pub fn downcast_ref<A: Any>(&self) -> Option<&A> {
        if let Some(agent) = self.as_any().downcast_ref::<A>() {
            return Some(agent);
        }
        self.wrapped().and_then(|inner| inner.downcast_ref::<A>())
    }

    /// The agent as a mutable `A`: the agent itself, or the value it [wraps](Agent::wrapped_mut).
    #[must_use]
    pub fn downcast_mut<A: Any>(&mut self) -> Option<&mut A> {
        if self.as_any().is::<A>() {
            return self.as_any_mut().downcast_mut::<A>();
        }
        self.wrapped_mut()
            .and_then(|inner| inner.downcast_mut::<A>())
    }
}

/// What a runtime reports about one agent.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AgentId, AgentMetadata};
///
/// let meta = AgentMetadata::new(&AgentId::new("echo", "1")?, "repeats what it hears");
/// assert_eq!(meta.agent_type, "echo");
/// assert_eq!(meta.key, "1");
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentMetadata {
    /// The agent's type.
    pub agent_type: AgentType,
    /// The agent's key.
    pub key: String,
    /// The agent's description.
    pub description: String,
}

impl AgentMetadata {
    /// Metadata for the agent `id`.
    #[must_use]
    pub fn new(id: &AgentId, description: impl Into<String>) -> Self {
        Self {
            agent_type: id.agent_type().clone(),
            key: id.key().to_owned(),
            description: description.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain;
    impl Agent for Plain {
        fn on_message(
            &mut self,
            _message: AnyMessage,
            _ctx: MessageContext,
        ) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>> {
            Box::pin(ready(Ok(None)))
        }
    }

    struct Wrapper {
        inner: u32,
    }
    impl Agent for Wrapper {
        fn on_message(
            &mut self,
            _message: AnyMessage,
            _ctx: MessageContext,
        ) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>> {
            Box::pin(ready(Ok(None)))
        }
        fn wrapped(&self) -> Option<&dyn Any> {
            Some(&self.inner)
        }
        fn wrapped_mut(&mut self) -> Option<&mut dyn Any> {
            Some(&mut self.inner)
        }
    }

    #[test]
    fn downcast_reaches_the_agent_and_what_it_wraps() {
        let mut plain: Box<dyn Agent> = Box::new(Plain);
        assert!(plain.downcast_ref::<Plain>().is_some());
        assert!(plain.downcast_mut::<Plain>().is_some());
        assert!(plain.downcast_ref::<Wrapper>().is_none());

        let mut wrapper: Box<dyn Agent> = Box::new(Wrapper { inner: 1 });
        assert!(wrapper.downcast_ref::<Wrapper>().is_some());
        *wrapper.downcast_mut::<u32>().unwrap() += 1;
        assert_eq!(wrapper.downcast_ref::<u32>(), Some(&2));
        assert!(wrapper.downcast_ref::<String>().is_none());
    }

    #[tokio::test]
    async fn default_hooks_are_harmless() {
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let mut agent = Plain;
            assert_eq!(agent.save_state().await.unwrap(), serde_json::json!({}));
            agent.load_state(serde_json::json!({"x": 1})).await.unwrap();
            agent.close().await.unwrap();
            assert_eq!(agent.description(), "");
        })
        .await
        .unwrap();
    }
}

//! The [`AgentRuntime`] trait every runtime implements, its options, the cloneable
//! [`RuntimeHandle`], the typed helpers of [`AgentRuntimeExt`], and intervention handlers.

use std::{
    any::{Any, type_name},
    fmt,
    future::{Future, ready},
    sync::Arc,
    time::Duration,
};

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::{
    agent::{Agent, AgentMetadata, HandlerError},
    error::{CoreError, Result},
    id::{AgentId, AgentType, TopicId},
    message::{AnyMessage, Message, Reply, SerializerRegistry},
    subscription::Subscription,
};

/// Creates the agent with the given id. Runtimes call it lazily, on the first message to an id
/// whose type was registered with [`AgentRuntime::register_factory`].
pub type AgentFactory = Arc<
    dyn Fn(AgentId, RuntimeHandle) -> BoxFuture<'static, Result<Box<dyn Agent>, HandlerError>>
        + Send
        + Sync,
>;

/// A closure run against an agent between two of its messages (see
/// [`AgentRuntime::access_agent`] and [`AgentRuntimeExt::with_agent`]).
pub type AgentAccess = Box<dyn FnOnce(&mut dyn Agent) + Send>;

/// Options of a direct request ([`AgentRuntime::send_message`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use autogen_kafka_core::{AgentId, SendOptions};
///
/// let options = SendOptions::new()
///     .with_sender(AgentId::new("caller", "1")?)
///     .with_message_id("req-42")
///     .with_timeout(Duration::from_secs(5));
/// assert_eq!(options.message_id.as_deref(), Some("req-42"));
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SendOptions {
    /// Who sends the request (`None` for code outside any agent).
    pub sender: Option<AgentId>,
    /// The message id; a uuid4 when `None`.
    pub message_id: Option<String>,
    /// The deadline for the whole request; the runtime's default when `None`.
    pub timeout: Option<Duration>,
    /// Cancels the request (and the handler's token) when cancelled.
    pub cancellation: Option<CancellationToken>,
    /// The agents whose handlers wait, directly or through other requests, for this request's answer,
    /// outermost first (the sender last). [`MessageContext::send`](crate::MessageContext::send) fills it in. A
    /// request whose recipient is in it fails at once with [`CoreError::CallCycle`]: that agent is busy
    /// waiting and would never take the request.
    pub call_chain: Vec<AgentId>,
}

impl SendOptions {
    /// Default options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the sender.
    #[must_use]
    pub fn with_sender(mut self, sender: AgentId) -> Self {
        self.sender = Some(sender);
        self
    }

    /// Sets the message id.
    #[must_use]
    pub fn with_message_id(mut self, message_id: impl Into<String>) -> Self {
        self.message_id = Some(message_id.into());
        self
    }

    /// Sets the deadline of this request.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the cancellation token.
    #[must_use]
    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancellation = Some(token);
        self
    }

    /// Sets the call chain (see [`SendOptions::call_chain`]).
    #[must_use]
    pub fn with_call_chain(mut self, chain: Vec<AgentId>) -> Self {
        self.call_chain = chain;
        self
    }

    /// [`CoreError::CallCycle`] when `recipient` already waits in this request's call chain.
    ///
    /// # Errors
    ///
    /// [`CoreError::CallCycle`] naming the chain.
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_core::{AgentId, CoreError, SendOptions};
    ///
    /// let (a, b) = (AgentId::new("a", "1")?, AgentId::new("b", "1")?);
    /// let options = SendOptions::new().with_call_chain(vec![a.clone(), b.clone()]);
    /// assert!(matches!(options.check_cycle(&a), Err(CoreError::CallCycle { .. })));
    /// assert!(options.check_cycle(&AgentId::new("c", "1")?).is_ok());
    /// # Ok::<(), CoreError>(())
    /// ```
    pub fn check_cycle(&self, recipient: &AgentId) -> Result<()> {
        if self.call_chain.contains(recipient) {
            return Err(CoreError::CallCycle {
                recipient: recipient.clone(),
                chain: self.call_chain.clone(),
            });
        }
        Ok(())
    }
}

/// Options of a publish ([`AgentRuntime::publish_message`]).
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AgentId, PublishOptions};
///
/// let options = PublishOptions::new().with_sender(AgentId::new("writer", "1")?);
/// assert!(options.sender.is_some());
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PublishOptions {
    /// Who publishes (that agent is skipped when it subscribes to the topic).
    pub sender: Option<AgentId>,
    /// The message id; a uuid4 when `None`.
    pub message_id: Option<String>,
    /// Stops the publish and is the parent of every handler's token.
    pub cancellation: Option<CancellationToken>,
}

impl PublishOptions {
    /// Default options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the sender.
    #[must_use]
    pub fn with_sender(mut self, sender: AgentId) -> Self {
        self.sender = Some(sender);
        self
    }

    /// Sets the message id.
    #[must_use]
    pub fn with_message_id(mut self, message_id: impl Into<String>) -> Self {
        self.message_id = Some(message_id.into());
        self
    }

    /// Sets the cancellation token.
    #[must_use]
    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancellation = Some(token);
        self
    }
}

/// A new message id (a uuid4 string), as autogen-core generates them.
#[must_use]
pub fn new_message_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An agent runtime: delivers messages to agents, creates agents on demand, keeps subscriptions.
///
/// The trait is object safe and every method returns a [`BoxFuture`], so it can be implemented
/// over a network (messages may arrive as bytes and stay serialized until a handler decodes them).
/// Typed helpers live in [`AgentRuntimeExt`], which every runtime gets for free.
///
/// Implementations: [`LocalRuntime`](crate::LocalRuntime) (in-process); the Kafka runtime in a
/// later crate.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AgentRuntime, LocalRuntime, RuntimeHandle};
///
/// fn takes_any_runtime(runtime: &dyn AgentRuntime) -> usize {
///     runtime.serializers().type_names().len()
/// }
///
/// let handle = RuntimeHandle::new(LocalRuntime::new());
/// assert_eq!(takes_any_runtime(&handle), 0);
/// ```
pub trait AgentRuntime: Send + Sync + 'static {
    /// Sends `message` to `recipient` and waits for its response (`None` when the handler answers
    /// nothing).
    ///
    /// # Errors
    ///
    /// [`CoreError::Undeliverable`] at once for an unregistered agent type;
    /// [`CoreError::Timeout`] past the deadline; [`CoreError::Cancelled`];
    /// [`CoreError::Handler`] / [`CoreError::HandlerPanicked`] /
    /// [`CoreError::UnhandledMessageType`] from the agent; [`CoreError::MessageDropped`] by an
    /// intervention handler; [`CoreError::RuntimeStopped`].
    fn send_message(
        &self,
        message: AnyMessage,
        recipient: AgentId,
        options: SendOptions,
    ) -> BoxFuture<'_, Result<Option<AnyMessage>>>;

    /// Publishes `message` to every agent whose subscription matches `topic` (except the sender).
    /// Returns once the message is enqueued; handler errors never reach the publisher.
    ///
    /// # Errors
    ///
    /// [`CoreError::RuntimeStopped`], [`CoreError::Cancelled`].
    fn publish_message(
        &self,
        message: AnyMessage,
        topic: TopicId,
        options: PublishOptions,
    ) -> BoxFuture<'_, Result<()>>;

    /// Registers the factory that creates agents of `agent_type`.
    ///
    /// # Errors
    ///
    /// [`CoreError::DuplicateAgentType`] when the type is already registered.
    fn register_factory(
        &self,
        agent_type: AgentType,
        factory: AgentFactory,
    ) -> BoxFuture<'_, Result<AgentType>>;

    /// Registers an already created agent under `id`.
    ///
    /// # Errors
    ///
    /// [`CoreError::DuplicateAgentType`] when a factory owns the type,
    /// [`CoreError::DuplicateAgentId`] when the id is taken.
    fn register_agent_instance(
        &self,
        agent: Box<dyn Agent>,
        id: AgentId,
    ) -> BoxFuture<'_, Result<AgentId>>;

    /// Adds a subscription.
    ///
    /// # Errors
    ///
    /// [`CoreError::DuplicateSubscription`] when an equivalent one exists
    /// ([`Subscription::is_equivalent`]).
    fn add_subscription(&self, subscription: Subscription) -> BoxFuture<'_, Result<()>>;

    /// Removes the subscription with this id.
    ///
    /// # Errors
    ///
    /// [`CoreError::SubscriptionNotFound`].
    fn remove_subscription<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;

    /// The id of the agent `agent_type/key`; with `lazy = false` the agent is created now.
    ///
    /// # Errors
    ///
    /// With `lazy = false`: [`CoreError::Undeliverable`] for an unregistered type,
    /// [`CoreError::AgentCreation`] when the factory fails.
    fn get<'a>(
        &'a self,
        agent_type: &'a AgentType,
        key: &'a str,
        lazy: bool,
    ) -> BoxFuture<'a, Result<AgentId>>;

    /// The agent's metadata (creating the agent if needed).
    ///
    /// # Errors
    ///
    /// As for delivering a message to the agent.
    fn agent_metadata<'a>(&'a self, id: &'a AgentId) -> BoxFuture<'a, Result<AgentMetadata>>;

    /// One agent's saved state.
    ///
    /// # Errors
    ///
    /// [`CoreError::AgentSaveState`] from the agent, or as for delivering a message to it.
    fn agent_save_state<'a>(&'a self, id: &'a AgentId) -> BoxFuture<'a, Result<Value>>;

    /// Loads one agent's state.
    ///
    /// # Errors
    ///
    /// [`CoreError::AgentLoadState`] from the agent, or as for delivering a message to it.
    fn agent_load_state<'a>(&'a self, id: &'a AgentId, state: Value) -> BoxFuture<'a, Result<()>>;

    /// The state of every instantiated agent: a JSON object mapping `"type/key"` to its state.
    ///
    /// # Errors
    ///
    /// The first agent's [`CoreError::AgentSaveState`].
    fn save_state(&self) -> BoxFuture<'_, Result<Value>>;

    /// Loads a document produced by [`save_state`](Self::save_state), creating agents as needed.
    /// Entries whose agent type is not registered here are skipped.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidState`] for a document that is not an object,
    /// [`CoreError::InvalidAgentId`] for a bad key, the first agent's [`CoreError::AgentLoadState`].
    fn load_state(&self, state: Value) -> BoxFuture<'_, Result<()>>;

    /// The runtime's serializers (register message types here).
    fn serializers(&self) -> &SerializerRegistry;

    /// Runs `access` against the agent between two of its messages (creating it if needed). The
    /// object-safe primitive behind [`AgentRuntimeExt::with_agent`].
    ///
    /// # Errors
    ///
    /// [`CoreError::AgentNotFound`] when the agent is not hosted by this runtime,
    /// [`CoreError::HandlerPanicked`] when `access` panics, or as for delivering a message.
    fn access_agent<'a>(
        &'a self,
        id: &'a AgentId,
        access: AgentAccess,
    ) -> BoxFuture<'a, Result<()>>;
}

/// A cloneable, type-erased handle to a runtime (`Arc<dyn AgentRuntime>`). Handlers reach their
/// runtime through it; it implements [`AgentRuntime`] itself, so the typed helpers of
/// [`AgentRuntimeExt`] work on it.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{LocalRuntime, RuntimeHandle};
///
/// let handle = RuntimeHandle::new(LocalRuntime::new());
/// let clone = handle.clone();
/// assert!(std::sync::Arc::ptr_eq(handle.as_arc(), clone.as_arc()));
/// ```
#[derive(Clone)]
pub struct RuntimeHandle {
    inner: Arc<dyn AgentRuntime>,
}

impl RuntimeHandle {
    /// Wraps a runtime.
    #[must_use]
    pub fn new<R: AgentRuntime>(runtime: R) -> Self {
        Self {
            inner: Arc::new(runtime),
        }
    }

    /// Wraps a shared runtime.
    #[must_use]
    pub fn from_arc(runtime: Arc<dyn AgentRuntime>) -> Self {
        Self { inner: runtime }
    }

    /// The shared runtime.
    #[must_use]
    pub fn as_arc(&self) -> &Arc<dyn AgentRuntime> {
        &self.inner
    }
}

impl fmt::Debug for RuntimeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeHandle").finish_non_exhaustive()
    }
}

impl AgentRuntime for RuntimeHandle {
    fn send_message(
        &self,
        message: AnyMessage,
        recipient: AgentId,
        options: SendOptions,
    ) -> BoxFuture<'_, Result<Option<AnyMessage>>> {
        self.inner.send_message(message, recipient, options)
    }

    fn publish_message(
        &self,
        message: AnyMessage,
        topic: TopicId,
        options: PublishOptions,
    ) -> BoxFuture<'_, Result<()>> {
        self.inner.publish_message(message, topic, options)
    }

    fn register_factory(
        &self,
        agent_type: AgentType,
        factory: AgentFactory,
    ) -> BoxFuture<'_, Result<AgentType>> {
        self.inner.register_factory(agent_type, factory)
    }

    fn register_agent_instance(
        &self,
        agent: Box<dyn Agent>,
        id: AgentId,
    ) -> BoxFuture<'_, Result<AgentId>> {
        self.inner.register_agent_instance(agent, id)
    }

    fn add_subscription(&self, subscription: Subscription) -> BoxFuture<'_, Result<()>> {
        self.inner.add_subscription(subscription)
    }

    fn remove_subscription<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        self.inner.remove_subscription(id)
    }

    fn get<'a>(
        &'a self,
        agent_type: &'a AgentType,
        key: &'a str,
        lazy: bool,
    ) -> BoxFuture<'a, Result<AgentId>> {
        self.inner.get(agent_type, key, lazy)
    }

    fn agent_metadata<'a>(&'a self, id: &'a AgentId) -> BoxFuture<'a, Result<AgentMetadata>> {
        self.inner.agent_metadata(id)
    }

    fn agent_save_state<'a>(&'a self, id: &'a AgentId) -> BoxFuture<'a, Result<Value>> {
        self.inner.agent_save_state(id)
    }

    fn agent_load_state<'a>(&'a self, id: &'a AgentId, state: Value) -> BoxFuture<'a, Result<()>> {
        self.inner.agent_load_state(id, state)
    }

    fn save_state(&self) -> BoxFuture<'_, Result<Value>> {
        self.inner.save_state()
    }

    fn load_state(&self, state: Value) -> BoxFuture<'_, Result<()>> {
        self.inner.load_state(state)
    }

    fn serializers(&self) -> &SerializerRegistry {
        self.inner.serializers()
    }

    fn access_agent<'a>(
        &'a self,
        id: &'a AgentId,
        access: AgentAccess,
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.access_agent(id, access)
    }
}

/// Typed helpers for every [`AgentRuntime`] (including `dyn AgentRuntime` and [`RuntimeHandle`]).
///
/// Its methods return `impl Future + Send`; it is implemented for you.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{
///     AgentId, AgentRuntimeExt, Handler, HandlerError, LocalRuntime, Message, MessageContext,
///     RoutedAgent,
/// };
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Add(u64);
/// impl Message for Add {
///     const TYPE_NAME: &'static str = "Add";
/// }
///
/// #[derive(Default)]
/// struct Counter {
///     total: u64,
/// }
/// impl Handler<Add> for Counter {
///     type Response = ();
///     async fn handle(&mut self, message: Add, _ctx: &MessageContext) -> Result<(), HandlerError> {
///         self.total += message.0;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), autogen_kafka_core::CoreError> {
/// let runtime = LocalRuntime::new();
/// runtime
///     .register("counter", |_id| RoutedAgent::new(Counter::default()).with_handler::<Add>())
///     .await?;
/// let counter = AgentId::new("counter", "default")?;
/// runtime.send::<Add, ()>(Add(2), &counter).await?;
/// runtime.send::<Add, ()>(Add(3), &counter).await?;
/// // Typed access runs between two messages of the agent.
/// let total = runtime.with_agent(&counter, |c: &mut Counter| c.total).await?;
/// assert_eq!(total, 5);
/// # runtime.stop(std::time::Duration::from_secs(1)).await
/// # }
/// ```
pub trait AgentRuntimeExt: AgentRuntime {
    /// Sends a typed request and decodes the typed response (`R = ()` ignores it).
    ///
    /// # Errors
    ///
    /// As [`AgentRuntime::send_message`], plus [`CoreError::NoResponse`] when a message was
    /// expected and the handler answered none, or a serialization error when it is of another type.
    fn send<M: Message, R: Reply>(
        &self,
        message: M,
        recipient: &AgentId,
    ) -> impl Future<Output = Result<R>> + Send {
        self.send_with(message, recipient, SendOptions::new())
    }

    /// [`send`](Self::send) with explicit options.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    fn send_with<M: Message, R: Reply>(
        &self,
        message: M,
        recipient: &AgentId,
        options: SendOptions,
    ) -> impl Future<Output = Result<R>> + Send {
        async move {
            let reply = self
                .send_message(AnyMessage::new(message), recipient.clone(), options)
                .await?;
            R::from_reply(reply, recipient)
        }
    }

    /// Publishes a typed message without a sender.
    ///
    /// # Errors
    ///
    /// As [`AgentRuntime::publish_message`].
    fn publish<M: Message>(
        &self,
        message: M,
        topic: &TopicId,
    ) -> impl Future<Output = Result<()>> + Send {
        self.publish_message(
            AnyMessage::new(message),
            topic.clone(),
            PublishOptions::new(),
        )
    }

    /// Registers a synchronous factory: `make(id)` builds the agent for `id`.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidAgentId`] for a bad type, [`CoreError::DuplicateAgentType`].
    fn register<A, F>(
        &self,
        agent_type: &str,
        make: F,
    ) -> impl Future<Output = Result<AgentType>> + Send
    where
        A: Agent,
        F: Fn(AgentId) -> A + Send + Sync + 'static,
    {
        let agent_type = AgentType::new(agent_type);
        async move {
            let factory: AgentFactory = Arc::new(move |id, _runtime| {
                let agent: Box<dyn Agent> = Box::new(make(id));
                Box::pin(ready(Ok(agent)))
            });
            self.register_factory(agent_type?, factory).await
        }
    }

    /// Registers an asynchronous, fallible factory that also receives the runtime handle.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidAgentId`] for a bad type, [`CoreError::DuplicateAgentType`].
    fn register_async<A, F, Fut>(
        &self,
        agent_type: &str,
        make: F,
    ) -> impl Future<Output = Result<AgentType>> + Send
    where
        A: Agent,
        F: Fn(AgentId, RuntimeHandle) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<A, HandlerError>> + Send + 'static,
    {
        let agent_type = AgentType::new(agent_type);
        async move {
            let factory: AgentFactory = Arc::new(move |id, runtime| {
                let made = make(id, runtime);
                Box::pin(async move {
                    let agent: Box<dyn Agent> = Box::new(made.await?);
                    Ok(agent)
                })
            });
            self.register_factory(agent_type?, factory).await
        }
    }

    /// Typed access to a local agent (autogen-core's `try_get_underlying_agent_instance`, made
    /// safe): `f` runs between two messages of the agent, never during one. `A` is the agent's
    /// type or the type it wraps (for a [`RoutedAgent<T>`](crate::RoutedAgent), `T`).
    ///
    /// # Errors
    ///
    /// [`CoreError::AgentTypeMismatch`] when the agent is not an `A`, or as
    /// [`AgentRuntime::access_agent`].
    fn with_agent<A, R, F>(&self, id: &AgentId, f: F) -> impl Future<Output = Result<R>> + Send
    where
        A: Any,
        R: Send + 'static,
        F: FnOnce(&mut A) -> R + Send + 'static,
    {
        async move {
            let (tx, rx) = oneshot::channel();
            let agent_id = id.clone();
            let access: AgentAccess = Box::new(move |agent: &mut dyn Agent| {
                let result = match agent.downcast_mut::<A>() {
                    Some(agent) => Ok(f(agent)),
                    None => Err(CoreError::AgentTypeMismatch {
                        agent_id,
                        expected: type_name::<A>(),
                    }),
                };
                // The caller may have given up; then nobody wants the result.
                let _unused = tx.send(result);
            });
            self.access_agent(id, access).await?;
            rx.await.map_err(|_closed| CoreError::RuntimeStopped)?
        }
    }
}

impl<T: AgentRuntime + ?Sized> AgentRuntimeExt for T {}

/// What an intervention handler decides about a message.
#[derive(Debug, Clone)]
pub enum Intervention {
    /// Deliver this message (the original or a replacement).
    Continue(AnyMessage),
    /// Drop the message. A dropped request fails with [`CoreError::MessageDropped`]; a dropped
    /// publish is silently discarded.
    Drop,
}

/// Where a message is going, as shown to intervention handlers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InterventionContext {
    /// The sending agent, if known. For a response: the agent that responds.
    pub sender: Option<AgentId>,
    /// The receiving agent of a request; for a response, the original requester (if known).
    pub recipient: Option<AgentId>,
    /// The topic of a publish.
    pub topic_id: Option<TopicId>,
    /// The message id.
    pub message_id: String,
}

impl InterventionContext {
    /// The context of a request.
    #[must_use]
    pub fn for_send(sender: Option<AgentId>, recipient: AgentId, message_id: &str) -> Self {
        Self {
            sender,
            recipient: Some(recipient),
            topic_id: None,
            message_id: message_id.to_owned(),
        }
    }

    /// The context of a publish.
    #[must_use]
    pub fn for_publish(sender: Option<AgentId>, topic_id: TopicId, message_id: &str) -> Self {
        Self {
            sender,
            recipient: None,
            topic_id: Some(topic_id),
            message_id: message_id.to_owned(),
        }
    }

    /// The context of a response: `responder` answers `recipient`'s request.
    #[must_use]
    pub fn for_response(responder: AgentId, recipient: Option<AgentId>, message_id: &str) -> Self {
        Self {
            sender: Some(responder),
            recipient,
            topic_id: None,
            message_id: message_id.to_owned(),
        }
    }
}

/// Sees every request, publish and response before it is delivered, and may replace or drop it.
/// Kept as `Arc<dyn InterventionHandler>`; methods return [`BoxFuture`] and default to
/// "continue unchanged".
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{
///     AgentId, AgentRuntimeExt, AnyMessage, CoreError, Intervention, InterventionContext,
///     InterventionHandler, LocalRuntime, RoutedAgent,
/// };
/// use futures::future::BoxFuture;
///
/// /// Drops every request to agents of type "blocked".
/// struct Firewall;
///
/// impl InterventionHandler for Firewall {
///     fn on_send<'a>(
///         &'a self,
///         message: AnyMessage,
///         ctx: &'a InterventionContext,
///     ) -> BoxFuture<'a, Intervention> {
///         let blocked = ctx.recipient.as_ref().is_some_and(|r| r.agent_type() == "blocked");
///         Box::pin(async move {
///             if blocked { Intervention::Drop } else { Intervention::Continue(message) }
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), CoreError> {
/// let runtime = LocalRuntime::builder().intervention_handler(Firewall).build()?;
/// runtime.register("blocked", |_id| RoutedAgent::new(())).await?;
/// let err = runtime.send::<Ping, ()>(Ping, &AgentId::new("blocked", "1")?).await.unwrap_err();
/// assert!(matches!(err, CoreError::MessageDropped { .. }));
/// # runtime.stop(std::time::Duration::from_secs(1)).await
/// # }
/// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
/// # struct Ping;
/// # impl autogen_kafka_core::Message for Ping {
/// #     const TYPE_NAME: &'static str = "Ping";
/// # }
/// ```
pub trait InterventionHandler: Send + Sync + 'static {
    /// Called before a request is delivered.
    fn on_send<'a>(
        &'a self,
        message: AnyMessage,
        ctx: &'a InterventionContext,
    ) -> BoxFuture<'a, Intervention> {
        let _unused = ctx;
        Box::pin(ready(Intervention::Continue(message)))
    }

    /// Called before a published message is delivered.
    fn on_publish<'a>(
        &'a self,
        message: AnyMessage,
        ctx: &'a InterventionContext,
    ) -> BoxFuture<'a, Intervention> {
        let _unused = ctx;
        Box::pin(ready(Intervention::Continue(message)))
    }

    /// Called before a response reaches the requester.
    fn on_response<'a>(
        &'a self,
        message: AnyMessage,
        ctx: &'a InterventionContext,
    ) -> BoxFuture<'a, Intervention> {
        let _unused = ctx;
        Box::pin(ready(Intervention::Continue(message)))
    }
}

/// Intervention handlers applied in registration order; the first [`Intervention::Drop`] wins.
/// Runtimes use it so every implementation applies interventions the same way.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::InterventionChain;
///
/// let chain = InterventionChain::new();
/// assert!(chain.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct InterventionChain {
    handlers: Vec<Arc<dyn InterventionHandler>>,
}

#[derive(Clone, Copy)]
enum Stage {
    Send,
    Publish,
    Response,
}

impl InterventionChain {
    /// An empty chain.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a handler.
    pub fn push(&mut self, handler: Arc<dyn InterventionHandler>) {
        self.handlers.push(handler);
    }

    /// Whether the chain has no handlers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }

    /// Runs every handler's [`on_send`](InterventionHandler::on_send).
    pub async fn on_send(&self, message: AnyMessage, ctx: &InterventionContext) -> Intervention {
        self.run(Stage::Send, message, ctx).await
    }

    /// Runs every handler's [`on_publish`](InterventionHandler::on_publish).
    pub async fn on_publish(&self, message: AnyMessage, ctx: &InterventionContext) -> Intervention {
        self.run(Stage::Publish, message, ctx).await
    }

    /// Runs every handler's [`on_response`](InterventionHandler::on_response).
    pub async fn on_response(
        &self,
        message: AnyMessage,
        ctx: &InterventionContext,
    ) -> Intervention {
        self.run(Stage::Response, message, ctx).await
    }

    async fn run(
        &self,
        stage: Stage,
        mut message: AnyMessage,
        ctx: &InterventionContext,
    ) -> Intervention {
        for handler in &self.handlers {
            let decision = match stage {
                Stage::Send => handler.on_send(message, ctx).await,
                Stage::Publish => handler.on_publish(message, ctx).await,
                Stage::Response => handler.on_response(message, ctx).await,
            };
            match decision {
                Intervention::Continue(next) => message = next,
                Intervention::Drop => return Intervention::Drop,
            }
        }
        Intervention::Continue(message)
    }
}

impl fmt::Debug for InterventionChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterventionChain")
            .field("handlers", &self.handlers.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::{LocalRuntime, RoutedAgent};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Note(String);
    impl Message for Note {
        const TYPE_NAME: &'static str = "Note";
    }

    /// Appends its tag to every `Note` and logs that it ran; drops when `drop` is set.
    struct Tagger {
        tag: &'static str,
        drop: bool,
        log: Arc<Mutex<Vec<&'static str>>>,
    }

    impl InterventionHandler for Tagger {
        fn on_publish<'a>(
            &'a self,
            message: AnyMessage,
            _ctx: &'a InterventionContext,
        ) -> BoxFuture<'a, Intervention> {
            self.log.lock().unwrap().push(self.tag);
            let decision = if self.drop {
                Intervention::Drop
            } else {
                let Note(text) = message.downcast::<Note>().unwrap();
                Intervention::Continue(AnyMessage::new(Note(text + self.tag)))
            };
            Box::pin(ready(decision))
        }
    }

    fn chain(
        spec: &[(&'static str, bool)],
        log: &Arc<Mutex<Vec<&'static str>>>,
    ) -> InterventionChain {
        let mut chain = InterventionChain::new();
        for &(tag, drop) in spec {
            chain.push(Arc::new(Tagger {
                tag,
                drop,
                log: Arc::clone(log),
            }));
        }
        chain
    }

    #[tokio::test]
    async fn intervention_chain_runs_in_order_and_stops_at_the_first_drop() {
        tokio::time::timeout(Duration::from_secs(5), async {
            let ctx = InterventionContext::for_publish(None, TopicId::new("t", "s").unwrap(), "m");
            let log = Arc::default();
            let rewritten = chain(&[("a", false), ("b", false)], &log)
                .on_publish(AnyMessage::new(Note(String::new())), &ctx)
                .await;
            match rewritten {
                Intervention::Continue(message) => {
                    assert_eq!(message.downcast::<Note>().unwrap(), Note("ab".into()));
                }
                Intervention::Drop => panic!("nothing drops"),
            }

            let log = Arc::default();
            let dropped = chain(&[("a", false), ("x", true), ("c", false)], &log)
                .on_publish(AnyMessage::new(Note(String::new())), &ctx)
                .await;
            assert!(matches!(dropped, Intervention::Drop));
            assert_eq!(
                *log.lock().unwrap(),
                ["a", "x"],
                "handlers after a drop do not run"
            );

            // Stages without an override pass the message through.
            let passed = chain(&[("x", true)], &log)
                .on_send(AnyMessage::new(Note("keep".into())), &ctx)
                .await;
            assert!(matches!(passed, Intervention::Continue(m) if m.is::<Note>()));
        })
        .await
        .unwrap();
    }

    struct Echo;
    impl crate::Handler<Note> for Echo {
        type Response = Note;
        async fn handle(
            &mut self,
            note: Note,
            _ctx: &crate::MessageContext,
        ) -> Result<Note, HandlerError> {
            Ok(note)
        }
    }

    #[tokio::test]
    async fn typed_helpers_work_through_a_type_erased_runtime() {
        tokio::time::timeout(Duration::from_secs(5), async {
            let local = LocalRuntime::new();
            let handle = local.handle();
            handle
                .register("echo", |_id| RoutedAgent::new(Echo).with_handler::<Note>())
                .await
                .unwrap();
            let runtime: &dyn AgentRuntime = &handle;
            let echo = AgentId::new("echo", "1").unwrap();
            let back: Note = runtime.send(Note("hi".into()), &echo).await.unwrap();
            assert_eq!(back, Note("hi".into()));
            let with_options: Note = runtime
                .send_with(
                    Note("again".into()),
                    &echo,
                    SendOptions::new().with_message_id("x"),
                )
                .await
                .unwrap();
            assert_eq!(with_options, Note("again".into()));
            local.stop(Duration::from_secs(1)).await.unwrap();
        })
        .await
        .unwrap();
    }
}

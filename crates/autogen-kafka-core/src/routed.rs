//! Typed routing: [`Handler<M>`] per message type, and [`RoutedAgent`] that turns a plain struct
//! with handlers into an [`Agent`] (autogen-core's `RoutedAgent` + `@message_handler`).

use std::{any::Any, collections::HashMap, fmt, future::Future};

use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    agent::{Agent, HandlerError, MessageContext},
    error::CoreError,
    message::{AnyMessage, Message, Reply},
};

/// Handles messages of type `M`. A struct implements it once per message type it understands.
///
/// `Response` is any [`Message`] (the answer to an RPC) or `()` (no answer). Implement `handle` with
/// `async fn`; the returned future must be `Send`.
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
/// struct Question(String);
/// impl Message for Question {
///     const TYPE_NAME: &'static str = "Question";
/// }
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Answer(String);
/// impl Message for Answer {
///     const TYPE_NAME: &'static str = "Answer";
/// }
///
/// struct Oracle;
/// impl Handler<Question> for Oracle {
///     type Response = Answer;
///     async fn handle(&mut self, q: Question, _ctx: &MessageContext) -> Result<Answer, HandlerError> {
///         Ok(Answer(format!("you asked: {}", q.0)))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), autogen_kafka_core::CoreError> {
/// let runtime = LocalRuntime::new();
/// runtime.register("oracle", |_id| RoutedAgent::new(Oracle).with_handler::<Question>()).await?;
/// let answer: Answer = runtime.send(Question("why".into()), &AgentId::new("oracle", "1")?).await?;
/// assert_eq!(answer.0, "you asked: why");
/// # runtime.stop(std::time::Duration::from_secs(1)).await
/// # }
/// ```
pub trait Handler<M: Message>: Send + 'static {
    /// The answer: a [`Message`], or `()` for none.
    type Response: Reply;

    /// Handles one message.
    fn handle(
        &mut self,
        message: M,
        ctx: &MessageContext,
    ) -> impl Future<Output = Result<Self::Response, HandlerError>> + Send;
}

/// A handler for messages a [`RoutedAgent`] cannot route: a type it has no [`Handler`] for, or a payload that
/// does not decode into the type its name announces. It receives the message as it arrived (usually
/// [`AnyMessage::as_serialized`] gives the raw bytes). Opt in with [`RoutedAgent::with_raw_fallback`].
pub trait RawHandler: Send + 'static {
    /// Handles one message that no typed handler could take.
    fn handle_raw(
        &mut self,
        message: AnyMessage,
        ctx: &MessageContext,
    ) -> impl Future<Output = Result<Option<AnyMessage>, HandlerError>> + Send;
}

fn route_raw<T: RawHandler>(
    agent: &mut T,
    message: AnyMessage,
    ctx: MessageContext,
) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>> {
    Box::pin(async move { agent.handle_raw(message, &ctx).await })
}

/// Whether a handler error is the typed decode failure of the routed message.
fn is_decode_failure(error: &HandlerError) -> bool {
    matches!(
        error.downcast_ref::<CoreError>(),
        Some(CoreError::Deserialize { .. })
    )
}

type Route<T> = for<'a> fn(
    &'a mut T,
    AnyMessage,
    MessageContext,
) -> BoxFuture<'a, Result<Option<AnyMessage>, HandlerError>>;
type SaveHook<T> = fn(&T) -> Result<Value, HandlerError>;
type LoadHook<T> = fn(&mut T, Value) -> Result<(), HandlerError>;

fn route<T: Handler<M>, M: Message>(
    agent: &mut T,
    message: AnyMessage,
    ctx: MessageContext,
) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>> {
    Box::pin(async move {
        let message = message.into_message::<M>()?;
        let response = agent.handle(message, &ctx).await?;
        Ok(response.into_reply())
    })
}

fn save_with_serde<T: Serialize>(inner: &T) -> Result<Value, HandlerError> {
    Ok(serde_json::to_value(inner)?)
}

fn load_with_serde<T: DeserializeOwned>(inner: &mut T, state: Value) -> Result<(), HandlerError> {
    *inner = serde_json::from_value(state)?;
    Ok(())
}

/// An [`Agent`] that routes each message by its type name to the [`Handler`] the wrapped struct
/// declared for it. The dispatch table is built once, from `with_handler::<M>()` calls.
///
/// A message of a type without a handler fails with [`CoreError::UnhandledMessageType`] (a
/// requester receives exactly that error; for a publish it is logged). State is an empty object
/// unless you opt in with [`with_serde_state`](Self::with_serde_state) or
/// [`with_state_hooks`](Self::with_state_hooks). Typed access
/// ([`with_agent`](crate::AgentRuntimeExt::with_agent)) reaches the wrapped struct.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{
///     AgentId, AgentRuntimeExt, CoreError, Handler, HandlerError, LocalRuntime, Message,
///     MessageContext, RoutedAgent,
/// };
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// struct Ping(u32);
/// impl Message for Ping {
///     const TYPE_NAME: &'static str = "Ping";
/// }
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// struct Pong(u32);
/// impl Message for Pong {
///     const TYPE_NAME: &'static str = "Pong";
/// }
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Note(String);
/// impl Message for Note {
///     const TYPE_NAME: &'static str = "Note";
/// }
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Player {
///     notes: Vec<String>,
/// }
///
/// impl Handler<Ping> for Player {
///     type Response = Pong;
///     async fn handle(&mut self, ping: Ping, _ctx: &MessageContext) -> Result<Pong, HandlerError> {
///         Ok(Pong(ping.0 + 1))
///     }
/// }
///
/// impl Handler<Note> for Player {
///     type Response = ();
///     async fn handle(&mut self, note: Note, _ctx: &MessageContext) -> Result<(), HandlerError> {
///         self.notes.push(note.0);
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), CoreError> {
/// let runtime = LocalRuntime::new();
/// runtime
///     .register("player", |_id| {
///         RoutedAgent::new(Player::default())
///             .with_handler::<Ping>()
///             .with_handler::<Note>()
///             .with_description("plays ping-pong")
///             .with_serde_state()
///     })
///     .await?;
///
/// let player = AgentId::new("player", "1")?;
/// let pong: Pong = runtime.send(Ping(1), &player).await?;
/// assert_eq!(pong, Pong(2));
/// runtime.send::<Note, ()>(Note("hello".into()), &player).await?;
///
/// // Pong has no handler: the caller gets a typed error.
/// let err = runtime.send::<Pong, ()>(Pong(0), &player).await.unwrap_err();
/// assert!(matches!(err, CoreError::UnhandledMessageType { ref type_name, .. } if type_name == "Pong"));
///
/// let notes = runtime.with_agent(&player, |p: &mut Player| p.notes.clone()).await?;
/// assert_eq!(notes, ["hello"]);
/// # runtime.stop(std::time::Duration::from_secs(1)).await
/// # }
/// ```
pub struct RoutedAgent<T> {
    inner: T,
    routes: HashMap<&'static str, Route<T>>,
    description: String,
    save: Option<SaveHook<T>>,
    load: Option<LoadHook<T>>,
    fallback: Option<Route<T>>,
}

impl<T: Send + 'static> RoutedAgent<T> {
    /// Wraps `inner` with an empty dispatch table.
    #[must_use]
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            routes: HashMap::new(),
            description: String::new(),
            save: None,
            load: None,
            fallback: None,
        }
    }

    /// Hands messages that cannot be routed to the wrapped struct's [`RawHandler`] instead of failing: a type
    /// without a typed handler, or a payload that does not decode into its announced type (logged as a warning
    /// with the decode error). Without it such messages fail with
    /// [`CoreError::UnhandledMessageType`] or [`CoreError::Deserialize`], and a distributed runtime
    /// dead-letters them.
    #[must_use]
    pub fn with_raw_fallback(mut self) -> Self
    where
        T: RawHandler,
    {
        self.fallback = Some(route_raw::<T>);
        self
    }

    /// Routes messages whose type name is `M::TYPE_NAME` to `inner`'s [`Handler<M>`]. A later
    /// handler for the same type name replaces an earlier one.
    #[must_use]
    pub fn with_handler<M: Message>(mut self) -> Self
    where
        T: Handler<M>,
    {
        self.routes.insert(M::TYPE_NAME, route::<T, M>);
        self
    }

    /// Sets the description reported in the agent's metadata.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Saves and loads the state with explicit functions.
    #[must_use]
    pub fn with_state_hooks(mut self, save: SaveHook<T>, load: LoadHook<T>) -> Self {
        self.save = Some(save);
        self.load = Some(load);
        self
    }

    /// Saves the wrapped struct with serde (as JSON) and replaces it on load.
    #[must_use]
    pub fn with_serde_state(self) -> Self
    where
        T: Serialize + DeserializeOwned,
    {
        self.with_state_hooks(save_with_serde::<T>, load_with_serde::<T>)
    }

    /// Whether a handler is registered for the type name.
    #[must_use]
    pub fn handles(&self, type_name: &str) -> bool {
        self.routes.contains_key(type_name)
    }

    /// The wrapped struct.
    #[must_use]
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped struct, mutably.
    #[must_use]
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the struct.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T> fmt::Debug for RoutedAgent<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut handled: Vec<&str> = self.routes.keys().copied().collect();
        handled.sort_unstable();
        f.debug_struct("RoutedAgent")
            .field("inner", &std::any::type_name::<T>())
            .field("handles", &handled)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Agent for RoutedAgent<T> {
    fn on_message(
        &mut self,
        message: AnyMessage,
        ctx: MessageContext,
    ) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>> {
        match (self.routes.get(message.type_name()).copied(), self.fallback) {
            (Some(route), Some(fallback)) => Box::pin(async move {
                let raw = message.clone();
                match route(&mut self.inner, message, ctx.clone()).await {
                    Err(error) if is_decode_failure(&error) => {
                        tracing::warn!(
                            agent_id = %ctx.agent_id(),
                            message_type = %raw.type_name(),
                            error = %error,
                            "payload does not decode into its type; handing the raw message to the fallback"
                        );
                        fallback(&mut self.inner, raw, ctx).await
                    }
                    other => other,
                }
            }),
            (Some(route), None) => route(&mut self.inner, message, ctx),
            (None, Some(fallback)) => fallback(&mut self.inner, message, ctx),
            (None, None) => {
                let error = CoreError::UnhandledMessageType {
                    agent_id: ctx.agent_id().clone(),
                    type_name: message.type_name().to_owned(),
                };
                Box::pin(std::future::ready(Err(error.into())))
            }
        }
    }

    fn has_state(&self) -> bool {
        self.save.is_some()
    }

    fn save_state(&mut self) -> BoxFuture<'_, Result<Value, HandlerError>> {
        let saved = match self.save {
            Some(save) => save(&self.inner),
            None => Ok(Value::Object(serde_json::Map::new())),
        };
        Box::pin(std::future::ready(saved))
    }

    fn load_state(&mut self, state: Value) -> BoxFuture<'_, Result<(), HandlerError>> {
        let loaded = match self.load {
            Some(load) => load(&mut self.inner, state),
            None => Ok(()),
        };
        Box::pin(std::future::ready(loaded))
    }

    fn description(&self) -> String {
        self.description.clone()
    }

    fn wrapped(&self) -> Option<&dyn Any> {
        Some(&self.inner)
    }

    fn wrapped_mut(&mut self) -> Option<&mut dyn Any> {
        Some(&mut self.inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Deserialize;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::{AgentId, LocalRuntime, RuntimeHandle};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Ping(u32);
    impl Message for Ping {
        const TYPE_NAME: &'static str = "Ping";
    }
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Pong(u32);
    impl Message for Pong {
        const TYPE_NAME: &'static str = "Pong";
    }
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Tick;
    impl Message for Tick {
        const TYPE_NAME: &'static str = "Tick";
    }

    #[derive(Default, Serialize, Deserialize)]
    struct Player {
        ticks: u32,
    }
    impl Handler<Ping> for Player {
        type Response = Pong;
        async fn handle(
            &mut self,
            ping: Ping,
            _ctx: &MessageContext,
        ) -> Result<Pong, HandlerError> {
            Ok(Pong(ping.0 * 10))
        }
    }
    impl Handler<Tick> for Player {
        type Response = ();
        async fn handle(&mut self, _tick: Tick, _ctx: &MessageContext) -> Result<(), HandlerError> {
            self.ticks += 1;
            Ok(())
        }
    }

    fn ctx(id: &AgentId) -> MessageContext {
        MessageContext::for_rpc(
            RuntimeHandle::new(LocalRuntime::new()),
            id.clone(),
            None,
            "m-1",
            CancellationToken::new(),
        )
    }

    async fn within<F: Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(5), f)
            .await
            .expect("test timed out")
    }

    #[tokio::test]
    async fn handled_types_answer_and_unit_means_none() {
        within(async {
            let id = AgentId::new("player", "1").unwrap();
            let mut agent = RoutedAgent::new(Player::default())
                .with_handler::<Ping>()
                .with_handler::<Tick>();
            assert!(agent.handles("Ping") && agent.handles("Tick") && !agent.handles("Pong"));

            let reply = agent
                .on_message(AnyMessage::new(Ping(4)), ctx(&id))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(reply.downcast::<Pong>().unwrap(), Pong(40));

            let none = agent
                .on_message(AnyMessage::new(Tick), ctx(&id))
                .await
                .unwrap();
            assert!(none.is_none());
            assert_eq!(agent.inner().ticks, 1);
        })
        .await;
    }

    #[tokio::test]
    async fn serialized_messages_are_decoded_for_the_handler() {
        within(async {
            let id = AgentId::new("player", "1").unwrap();
            let mut agent = RoutedAgent::new(Player::default()).with_handler::<Ping>();
            let wire = AnyMessage::new(Ping(2)).to_serialized().unwrap();
            let reply = agent
                .on_message(AnyMessage::from_serialized(wire), ctx(&id))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(reply.downcast::<Pong>().unwrap(), Pong(20));
        })
        .await;
    }

    #[tokio::test]
    async fn unhandled_type_is_a_typed_error() {
        within(async {
            let id = AgentId::new("player", "7").unwrap();
            let mut agent = RoutedAgent::new(Player::default()).with_handler::<Ping>();
            let err = agent
                .on_message(AnyMessage::new(Pong(1)), ctx(&id))
                .await
                .unwrap_err();
            let err = err.downcast::<CoreError>().unwrap();
            match *err {
                CoreError::UnhandledMessageType {
                    agent_id,
                    type_name,
                } => {
                    assert_eq!(agent_id, id);
                    assert_eq!(type_name, "Pong");
                }
                other => panic!("unexpected {other:?}"),
            }
        })
        .await;
    }

    #[tokio::test]
    async fn serde_state_round_trips_the_wrapped_struct() {
        within(async {
            let mut agent = RoutedAgent::new(Player { ticks: 3 }).with_serde_state();
            let state = agent.save_state().await.unwrap();
            assert_eq!(state, serde_json::json!({"ticks": 3}));
            let mut fresh = RoutedAgent::new(Player::default()).with_serde_state();
            fresh.load_state(state).await.unwrap();
            assert_eq!(fresh.inner().ticks, 3);
            assert!(
                fresh
                    .load_state(serde_json::json!("nonsense"))
                    .await
                    .is_err()
            );

            let mut stateless = RoutedAgent::new(Player { ticks: 9 });
            assert_eq!(stateless.save_state().await.unwrap(), serde_json::json!({}));
        })
        .await;
    }

    /// Counts what reached it raw.
    #[derive(Default)]
    struct Tolerant {
        raw: Vec<String>,
    }
    impl Handler<Ping> for Tolerant {
        type Response = Pong;
        async fn handle(
            &mut self,
            ping: Ping,
            _ctx: &MessageContext,
        ) -> Result<Pong, HandlerError> {
            Ok(Pong(ping.0))
        }
    }
    impl RawHandler for Tolerant {
        async fn handle_raw(
            &mut self,
            message: AnyMessage,
            _ctx: &MessageContext,
        ) -> Result<Option<AnyMessage>, HandlerError> {
            let bytes = message
                .as_serialized()
                .map(|s| String::from_utf8_lossy(&s.bytes).into_owned());
            self.raw.push(format!(
                "{}:{}",
                message.type_name(),
                bytes.unwrap_or_default()
            ));
            Ok(None)
        }
    }

    #[tokio::test]
    async fn raw_fallback_takes_undecodable_and_unknown_messages() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let runtime = LocalRuntime::new();
            let mut agent = RoutedAgent::new(Tolerant::default())
                .with_handler::<Ping>()
                .with_raw_fallback();
            let id = AgentId::new("tolerant", "k").unwrap();
            let ctx = MessageContext::for_rpc(
                runtime.handle(),
                id.clone(),
                None,
                "m1",
                CancellationToken::new(),
            );
            // Decodes: the typed handler answers.
            let typed =
                AnyMessage::from_serialized(crate::SerializedMessage::json("Ping", b"7".to_vec()));
            let reply = agent.on_message(typed, ctx.clone()).await.unwrap().unwrap();
            assert_eq!(reply.downcast::<Pong>().unwrap(), Pong(7));
            // Does not decode into Ping: the raw message goes to the fallback.
            let bad = AnyMessage::from_serialized(crate::SerializedMessage::json(
                "Ping",
                b"\"oops\"".to_vec(),
            ));
            assert!(agent.on_message(bad, ctx.clone()).await.unwrap().is_none());
            // Unknown type: the fallback too.
            let unknown = AnyMessage::from_serialized(crate::SerializedMessage::json(
                "Other",
                b"{}".to_vec(),
            ));
            assert!(
                agent
                    .on_message(unknown, ctx.clone())
                    .await
                    .unwrap()
                    .is_none()
            );
            assert_eq!(
                agent.inner().raw,
                vec!["Ping:\"oops\"".to_owned(), "Other:{}".to_owned()]
            );
            // Without the fallback the same inputs fail with typed errors.
            let mut strict = RoutedAgent::new(Tolerant::default()).with_handler::<Ping>();
            let bad = AnyMessage::from_serialized(crate::SerializedMessage::json(
                "Ping",
                b"\"oops\"".to_vec(),
            ));
            let error = strict.on_message(bad, ctx.clone()).await.unwrap_err();
            assert!(is_decode_failure(&error), "{error}");
            let _unused: RuntimeHandle = runtime.handle();
            runtime.stop(Duration::from_secs(1)).await.unwrap();
        })
        .await
        .unwrap();
    }
}

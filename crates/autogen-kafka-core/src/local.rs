//! [`LocalRuntime`]: the in-process [`AgentRuntime`].
//!
//! Each agent instance lives in its own Tokio task that owns the agent and a bounded mailbox;
//! the task handles one command at a time, in arrival order. Requests, publishes, state access and
//! typed access all go through that mailbox, so an agent is never touched by two things at once.

use std::{
    any::Any,
    collections::{HashMap, HashSet},
    fmt,
    future::Future,
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{
    FutureExt as _,
    future::{BoxFuture, ready},
};
use serde_json::Value;
use tokio::sync::{OnceCell, mpsc, oneshot};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{Instrument as _, debug, info_span, warn};

use crate::{
    agent::{Agent, AgentMetadata, HandlerError, MessageContext},
    error::{CoreError, Result},
    id::{AgentId, AgentType, TopicId},
    message::{AnyMessage, SerializerRegistry},
    runtime::{
        AgentAccess, AgentFactory, AgentRuntime, Intervention, InterventionChain,
        InterventionContext, InterventionHandler, PublishOptions, RuntimeHandle, SendOptions,
        new_message_id,
    },
    subscription::Subscription,
};

/// The default deadline of a request.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// The default capacity of each agent's mailbox.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 1024;

/// Builds a [`LocalRuntime`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use autogen_kafka_core::LocalRuntime;
///
/// let runtime = LocalRuntime::builder()
///     .default_rpc_timeout(Duration::from_secs(5))
///     .mailbox_capacity(64)
///     .build()?;
/// # drop(runtime);
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct LocalRuntimeBuilder {
    default_rpc_timeout: Duration,
    mailbox_capacity: usize,
    interventions: InterventionChain,
}

impl Default for LocalRuntimeBuilder {
    fn default() -> Self {
        Self {
            default_rpc_timeout: DEFAULT_RPC_TIMEOUT,
            mailbox_capacity: DEFAULT_MAILBOX_CAPACITY,
            interventions: InterventionChain::new(),
        }
    }
}

impl LocalRuntimeBuilder {
    /// The deadline of a request that sets none itself (default 30 s).
    pub fn default_rpc_timeout(mut self, timeout: Duration) -> Self {
        self.default_rpc_timeout = timeout;
        self
    }

    /// How many commands each agent's mailbox holds before senders wait (default 1024).
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity;
        self
    }

    /// Adds an intervention handler; handlers run in the order they were added.
    pub fn intervention_handler(mut self, handler: impl InterventionHandler) -> Self {
        self.interventions.push(Arc::new(handler));
        self
    }

    /// Builds the runtime. It accepts work at once; there is no separate start step.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidConfiguration`] for a mailbox capacity of zero.
    pub fn build(self) -> Result<LocalRuntime> {
        if self.mailbox_capacity == 0 {
            return Err(CoreError::InvalidConfiguration {
                field: "mailbox_capacity",
                reason: "must be at least 1",
            });
        }
        Ok(self.into_runtime())
    }

    fn into_runtime(self) -> LocalRuntime {
        LocalRuntime {
            inner: Arc::new(Inner {
                default_rpc_timeout: self.default_rpc_timeout,
                mailbox_capacity: self.mailbox_capacity,
                interventions: self.interventions,
                serializers: SerializerRegistry::new(),
                registry: Mutex::new(Registry::default()),
                tracker: TaskTracker::new(),
                abort: CancellationToken::new(),
                stopped: AtomicBool::new(false),
                host: Mutex::new(None),
            }),
        }
    }
}

/// The in-process agent runtime.
///
/// - One task per agent instance owns the agent and a bounded mailbox: an instance handles one
///   message at a time, in the order the messages were enqueued; different instances run
///   concurrently.
/// - Agents are created lazily by their factory on the first message to their id.
/// - A request to an agent type nobody registered fails at once with
///   [`CoreError::Undeliverable`]. Every request has a deadline ([`SendOptions::timeout`], else
///   the default) and fails with [`CoreError::Timeout`] past it, or with [`CoreError::Cancelled`]
///   when its token is cancelled. In both cases, and when the caller drops the request, the
///   handler's [`MessageContext::cancellation`] token is cancelled; the handler is not interrupted
///   (it should watch its token), so the agent may stay busy until it returns.
/// - A handler error reaches the requester as [`CoreError::Handler`] with the error as source; a
///   panic reaches it as [`CoreError::HandlerPanicked`]. After a panic the **same instance is
///   kept** and handles the next message (its fields hold whatever the handler left in them, as
///   after an error). Other agents are unaffected.
/// - A publish goes to every agent a subscription maps the topic to (once per agent, never to the
///   sender), with [`MessageContext::topic_id`] and [`MessageContext::sender`] set and
///   `is_rpc = false`. It returns once the message is enqueued; handler errors, and failures to
///   reach one subscriber, are logged with `tracing` and never reach the publisher.
/// - [`evict_agent`](Self::evict_agent) saves, closes and removes one instance (after the messages
///   queued before it); the next message to its id creates a fresh instance with the factory.
///
/// `LocalRuntime` is a cheap handle (clones share one runtime) and must be used inside a Tokio
/// runtime. Call [`stop`](Self::stop) when done: it closes the agents and breaks the reference
/// cycles between agents and the runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use autogen_kafka_core::{AgentRuntime, AgentRuntimeExt, LocalRuntime, RoutedAgent, Subscription};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), autogen_kafka_core::CoreError> {
/// let runtime = LocalRuntime::builder().default_rpc_timeout(Duration::from_secs(5)).build()?;
/// runtime.register("listener", |_id| RoutedAgent::new(())).await?;
/// runtime.add_subscription(Subscription::default_for("listener")?).await?;
/// runtime.stop(Duration::from_secs(1)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct LocalRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    default_rpc_timeout: Duration,
    mailbox_capacity: usize,
    interventions: InterventionChain,
    serializers: SerializerRegistry,
    registry: Mutex<Registry>,
    tracker: TaskTracker,
    /// Cancelled when `stop` overruns its deadline: agent tasks drop their work and exit.
    abort: CancellationToken,
    stopped: AtomicBool,
    /// The runtime agents see in their contexts and factories, when another runtime hosts them through this one.
    host: Mutex<Option<RuntimeHandle>>,
}

#[derive(Default)]
struct Registry {
    factories: HashMap<AgentType, AgentFactory>,
    /// Types registered through `register_agent_instance`.
    instance_types: HashSet<AgentType>,
    /// Every agent that exists or is being created; the cell is set once its task runs.
    agents: HashMap<AgentId, Arc<OnceCell<Mailbox>>>,
    /// Agents that said they keep no state ([`Agent::has_state`]).
    stateless: HashSet<AgentId>,
    subscriptions: Vec<Subscription>,
}

type Mailbox = mpsc::Sender<Command>;
type Answer<T> = oneshot::Sender<Result<T>>;

/// One message to handle; `reply` is set for a request and empty for a publish.
struct Delivery {
    message: AnyMessage,
    ctx: MessageContext,
    reply: Option<Answer<Option<AnyMessage>>>,
    /// The sender's span: the parent of the handler's span, so a trace crosses the mailbox.
    caller: tracing::Span,
}

enum Command {
    /// Boxed: mailboxes hold many commands, and this is by far the largest.
    Deliver(Box<Delivery>),
    Access {
        access: AgentAccess,
        done: Answer<()>,
    },
    SaveState {
        done: Answer<Value>,
    },
    LoadState {
        /// Boxed: a JSON value is several times the size of the other commands, and every mailbox holds
        /// room for a block of commands.
        state: Box<Value>,
        done: Answer<()>,
    },
    Describe {
        done: Answer<String>,
    },
    /// Save the state, close the agent and end its task (see [`LocalRuntime::evict_agent`]).
    Evict {
        done: Answer<Option<Value>>,
    },
}

impl Command {
    /// Answers the command with `error` instead of running it.
    fn fail(self, error: CoreError) {
        match self {
            Self::Deliver(delivery) => match delivery.reply {
                Some(reply) => {
                    let _unused = reply.send(Err(error));
                }
                None => log_error(&error, "published message not delivered to a subscriber"),
            },
            Self::Access { done, .. } | Self::LoadState { done, .. } => {
                let _unused = done.send(Err(error));
            }
            Self::SaveState { done } => {
                let _unused = done.send(Err(error));
            }
            Self::Describe { done } => {
                let _unused = done.send(Err(error));
            }
            Self::Evict { done } => {
                let _unused = done.send(Err(error));
            }
        }
    }
}

/// What an agent's task needs to take itself out of the runtime when it is evicted.
struct Link {
    /// Weak, so that agent tasks do not keep a dropped runtime alive.
    runtime: Weak<Inner>,
    /// The agent's own mailbox, to tell it apart from a successor registered under the same id.
    own: mpsc::WeakSender<Command>,
}

/// A panic turned into an error (the source of [`CoreError::AgentCreation`] when a factory panics).
#[derive(Debug)]
struct Panicked(String);

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.0)
    }
}

impl std::error::Error for Panicked {}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        String::from("non-text panic payload")
    }
}

/// Runs `work` (an `async` block, so that synchronous panics are caught too), turning a panic into
/// the panic message.
async fn catch_panic<F: Future>(work: F) -> std::result::Result<F::Output, String> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|payload| panic_message(payload.as_ref()))
}

fn handler_failed(agent_id: &AgentId, source: HandlerError) -> CoreError {
    match source.downcast::<CoreError>() {
        // This agent had no handler: the requester gets exactly that error.
        Ok(error)
            if matches!(&*error, CoreError::UnhandledMessageType { agent_id: unhandled, .. }
                if unhandled == agent_id) =>
        {
            *error
        }
        Ok(error) => CoreError::Handler {
            agent_id: agent_id.clone(),
            source: error,
        },
        Err(source) => CoreError::Handler {
            agent_id: agent_id.clone(),
            source,
        },
    }
}

fn log_error(error: &CoreError, what: &str) {
    warn!(error = error as &dyn std::error::Error, "{what}");
}

impl LocalRuntime {
    /// A builder with the default settings.
    pub fn builder() -> LocalRuntimeBuilder {
        LocalRuntimeBuilder::default()
    }

    /// A runtime with the default settings (30 s request deadline, mailboxes of 1024).
    #[must_use]
    pub fn new() -> Self {
        LocalRuntimeBuilder::default().into_runtime()
    }

    /// A type-erased handle to this runtime.
    #[must_use]
    pub fn handle(&self) -> RuntimeHandle {
        RuntimeHandle::new(self.clone())
    }

    /// Makes `host` the runtime that agents of this runtime see: in [`MessageContext::runtime`] and as the
    /// factory's handle. A distributed runtime that keeps its agent instances in a `LocalRuntime` sets itself here,
    /// so an agent's `ctx.send(..)` goes through the distributed runtime.
    ///
    /// The host usually holds this runtime; [`stop`](Self::stop) forgets the host, which breaks that cycle.
    pub fn set_host_runtime(&self, host: RuntimeHandle) {
        *self
            .inner
            .host
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(host);
    }

    /// The handle given to agents: the host runtime when one is set, else this runtime.
    fn context_handle(&self) -> RuntimeHandle {
        let host = self
            .inner
            .host
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        host.unwrap_or_else(|| self.handle())
    }

    /// Whether [`stop`](Self::stop) was called.
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// Stops the runtime: refuses new work at once, lets every agent finish the messages already in
    /// its mailbox, then closes each agent ([`Agent::close`]). If that takes longer than
    /// `deadline`, the remaining work is dropped (handlers are interrupted, their requesters get
    /// [`CoreError::RuntimeStopped`]) and agents are not closed.
    ///
    /// Calling it again returns at once.
    ///
    /// # Errors
    ///
    /// [`CoreError::StopTimedOut`] when the deadline passed.
    pub async fn stop(&self, deadline: Duration) -> Result<()> {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let span = info_span!("stop", deadline = ?deadline);
        async {
            // Dropping the mailbox senders ends each agent task once its mailbox is drained.
            let agents = std::mem::take(&mut self.registry().agents);
            drop(agents);
            self.inner.tracker.close();
            if tokio::time::timeout(deadline, self.inner.tracker.wait())
                .await
                .is_ok()
            {
                debug!("all agents closed");
                self.forget_host();
                return Ok(());
            }
            warn!("agents did not finish before the deadline; aborting them");
            self.inner.abort.cancel();
            self.forget_host();
            Err(CoreError::StopTimedOut { after: deadline })
        }
        .instrument(span)
        .await
    }

    fn forget_host(&self) {
        self.inner
            .host
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Evicts the agent `id`: once it has handled the commands queued before this one (a message
    /// it is handling is never interrupted), saves its state ([`Agent::save_state`]), closes it
    /// ([`Agent::close`]) and removes the instance. Returns the saved state, or `None` when no such
    /// agent exists (nothing is created then).
    ///
    /// The next message to `id` creates a fresh instance with the factory (for a type registered
    /// with [`register_agent_instance`](AgentRuntime::register_agent_instance) it fails with
    /// [`CoreError::AgentNotFound`]); [`agent_load_state`](AgentRuntime::agent_load_state) with
    /// the returned state restores it. Messages that reach the agent while it is being evicted go
    /// to that fresh instance: those already in its mailbox are handed over in their order before
    /// this call returns; a sender still waiting for room in the mailbox retries with the fresh
    /// instance, in no particular order relative to them.
    ///
    /// A distributed runtime calls it when the agent's partition moves to another replica.
    ///
    /// # Errors
    ///
    /// - [`CoreError::AgentSaveState`] (or [`CoreError::HandlerPanicked`]) when saving fails: the
    ///   agent is closed and removed all the same, and its state is lost. A failing
    ///   [`Agent::close`] is only logged.
    /// - [`CoreError::Timeout`] when the eviction did not finish within `deadline`. If the agent
    ///   had not started it yet, it never does and the agent stays as it was; if it had, the
    ///   eviction completes and the state is dropped.
    /// - [`CoreError::RuntimeStopped`] when the runtime is stopped or stops meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use autogen_kafka_core::{AgentId, AgentRuntimeExt, LocalRuntime, RoutedAgent};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), autogen_kafka_core::CoreError> {
    /// let runtime = LocalRuntime::new();
    /// runtime.register("worker", |_id| RoutedAgent::new(())).await?;
    /// let worker = AgentId::new("worker", "1")?;
    ///
    /// // Not created yet: nothing to evict, and nothing is created.
    /// assert_eq!(runtime.evict_agent(&worker, Duration::from_secs(5)).await?, None);
    ///
    /// runtime.with_agent(&worker, |_agent: &mut ()| ()).await?;
    /// assert_eq!(runtime.active_agents(), [worker.clone()]);
    /// let state = runtime.evict_agent(&worker, Duration::from_secs(5)).await?;
    /// assert!(state.is_some());
    /// assert!(runtime.active_agents().is_empty());
    /// # runtime.stop(Duration::from_secs(1)).await
    /// # }
    /// ```
    pub async fn evict_agent(&self, id: &AgentId, deadline: Duration) -> Result<Option<Value>> {
        let span = info_span!("evict_agent", agent_id = %id);
        async {
            self.ensure_running()?;
            let (done, answer) = oneshot::channel();
            let work = async {
                let Some(permit) = self.reserve_existing(id).await? else {
                    debug!("no such agent; nothing to evict");
                    return Ok(None);
                };
                permit.send(Command::Evict { done });
                answer.await.map_err(|_closed| CoreError::RuntimeStopped)?
            };
            tokio::time::timeout(deadline, work)
                .await
                .unwrap_or_else(|_elapsed| {
                    Err(CoreError::Timeout {
                        recipient: id.clone(),
                        after: deadline,
                    })
                })
        }
        .instrument(span)
        .await
    }

    /// The agents that exist now (created and not evicted), sorted. Agents whose factory is still
    /// running are not included.
    #[must_use]
    pub fn active_agents(&self) -> Vec<AgentId> {
        let mut ids: Vec<AgentId> = self
            .registry()
            .agents
            .iter()
            .filter(|(_, cell)| cell.initialized())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Whether the agent `id` exists now (created and not evicted), without creating it.
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_core::{AgentId, AgentRuntimeExt, LocalRuntime, RoutedAgent};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), autogen_kafka_core::CoreError> {
    /// let runtime = LocalRuntime::new();
    /// runtime.register("worker", |_id| RoutedAgent::new(())).await?;
    /// let worker = AgentId::new("worker", "1")?;
    /// assert!(!runtime.is_active(&worker));
    /// runtime.with_agent(&worker, |_agent: &mut ()| ()).await?;
    /// assert!(runtime.is_active(&worker));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn is_active(&self, id: &AgentId) -> bool {
        self.registry()
            .agents
            .get(id)
            .is_some_and(|cell| cell.initialized())
    }

    /// Whether the agent `id` exists and said it keeps no state ([`Agent::has_state`]), so there is nothing to
    /// save after its messages.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use autogen_kafka_core::{AgentId, AgentRuntimeExt, LocalRuntime, RoutedAgent};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), autogen_kafka_core::CoreError> {
    /// let runtime = LocalRuntime::new();
    /// runtime.register("worker", |_id| RoutedAgent::new(())).await?;
    /// let worker = AgentId::new("worker", "1")?;
    /// // Nothing is known of an agent that does not exist yet.
    /// assert!(!runtime.is_stateless(&worker));
    /// runtime.with_agent(&worker, |_agent: &mut ()| ()).await?;
    /// // A `RoutedAgent` without state hooks keeps no state.
    /// assert!(runtime.is_stateless(&worker));
    /// # runtime.stop(Duration::from_secs(1)).await
    /// # }
    /// ```
    #[must_use]
    pub fn is_stateless(&self, id: &AgentId) -> bool {
        self.registry().stateless.contains(id)
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn ensure_running(&self) -> Result<()> {
        if self.is_stopped() {
            Err(CoreError::RuntimeStopped)
        } else {
            Ok(())
        }
    }

    /// The mailbox of `id`, creating the agent with its factory when it does not exist yet.
    async fn mailbox(&self, id: &AgentId) -> Result<Mailbox> {
        self.ensure_running()?;
        let (cell, factory) = {
            let mut registry = self.registry();
            let factory = registry.factories.get(id.agent_type()).cloned();
            if let Some(cell) = registry.agents.get(id) {
                (Arc::clone(cell), factory)
            } else if factory.is_some() {
                let cell = Arc::new(OnceCell::new());
                registry.agents.insert(id.clone(), Arc::clone(&cell));
                (cell, factory)
            } else if registry.instance_types.contains(id.agent_type()) {
                return Err(CoreError::AgentNotFound {
                    agent_id: id.clone(),
                });
            } else {
                return Err(CoreError::Undeliverable {
                    agent_type: id.agent_type().to_string(),
                });
            }
        };
        let mailbox = cell
            .get_or_try_init(|| self.create_agent(id, factory))
            .await?
            .clone();
        self.ensure_running()?;
        Ok(mailbox)
    }

    async fn create_agent(&self, id: &AgentId, factory: Option<AgentFactory>) -> Result<Mailbox> {
        let factory = factory.ok_or_else(|| CoreError::AgentNotFound {
            agent_id: id.clone(),
        })?;
        let span = info_span!("create_agent", agent_id = %id);
        let handle = self.context_handle();
        let created = catch_panic(async { factory(id.clone(), handle).await })
            .instrument(span)
            .await;
        let agent = match created {
            Ok(Ok(agent)) => agent,
            Ok(Err(source)) => {
                return Err(CoreError::AgentCreation {
                    agent_id: id.clone(),
                    source,
                });
            }
            Err(message) => {
                return Err(CoreError::AgentCreation {
                    agent_id: id.clone(),
                    source: Box::new(Panicked(message)),
                });
            }
        };
        let mut registry = self.registry();
        Ok(self.spawn_agent(&mut registry, id.clone(), agent))
    }

    /// Starts the mailbox task of `agent`. The caller records in `registry` whether it keeps state: callers hold
    /// the registry lock or take it for that.
    fn spawn_agent(&self, registry: &mut Registry, id: AgentId, agent: Box<dyn Agent>) -> Mailbox {
        if agent.has_state() {
            registry.stateless.remove(&id);
        } else {
            registry.stateless.insert(id.clone());
        }
        let (mailbox, inbox) = mpsc::channel(self.inner.mailbox_capacity);
        // A root: the agent outlives the request that created it, and its handlers' spans follow their senders'.
        let span = tracing::debug_span!(parent: None, "agent_mailbox", agent_id = %id);
        let link = Link {
            runtime: Arc::downgrade(&self.inner),
            own: mailbox.downgrade(),
        };
        let task = run_agent(id, agent, inbox, link, self.inner.abort.clone());
        self.inner.tracker.spawn(task.instrument(span));
        mailbox
    }

    /// A slot in the mailbox of `id` (creating the agent when it does not exist yet). Waits at
    /// most `full_for` for room, when given.
    async fn reserve(
        &self,
        id: &AgentId,
        full_for: Option<Duration>,
    ) -> Result<mpsc::OwnedPermit<Command>> {
        loop {
            let mailbox = self.mailbox(id).await?;
            let reserving = mailbox.clone().reserve_owned();
            let reserved = match full_for {
                None => reserving.await,
                Some(after) => {
                    tokio::time::timeout(after, reserving)
                        .await
                        .map_err(|_elapsed| CoreError::MailboxFull {
                            agent_id: id.clone(),
                        })?
                }
            };
            match reserved {
                Ok(permit) => return Ok(permit),
                Err(_closed) => self.check_replaced(id, &mailbox)?,
            }
        }
    }

    /// A slot in the mailbox of `id` when the agent exists (waiting for a creation in progress),
    /// `None` when it does not; never creates the agent.
    async fn reserve_existing(&self, id: &AgentId) -> Result<Option<mpsc::OwnedPermit<Command>>> {
        loop {
            self.ensure_running()?;
            let Some(cell) = self.registry().agents.get(id).cloned() else {
                return Ok(None);
            };
            // Waits for a factory call in progress; with none, the cell stays empty.
            let Ok(mailbox) = cell
                .get_or_try_init(|| ready(Err::<Mailbox, ()>(())))
                .await
                .cloned()
            else {
                return Ok(None);
            };
            match mailbox.clone().reserve_owned().await {
                Ok(permit) => return Ok(Some(permit)),
                Err(_closed) => self.check_replaced(id, &mailbox)?,
            }
        }
    }

    /// Called when `mailbox` of `id` was found closed. An evicted agent is taken out of the
    /// registry before its mailbox closes, so trying again reaches its successor; a closed mailbox
    /// still in the registry means the runtime is going away.
    fn check_replaced(&self, id: &AgentId, mailbox: &Mailbox) -> Result<()> {
        self.ensure_running()?;
        let registry = self.registry();
        let still_registered = registry
            .agents
            .get(id)
            .and_then(|cell| cell.get())
            .is_some_and(|registered| registered.same_channel(mailbox));
        if still_registered {
            Err(CoreError::RuntimeStopped)
        } else {
            Ok(())
        }
    }

    /// Takes the evicted agent `id` out of the registry, unless a successor already replaced it.
    fn unregister(&self, id: &AgentId, own: &mpsc::WeakSender<Command>) {
        // No strong sender left: the registry no longer holds this mailbox.
        let Some(own) = own.upgrade() else { return };
        let mut registry = self.registry();
        let ours = registry
            .agents
            .get(id)
            .and_then(|cell| cell.get())
            .is_some_and(|registered| registered.same_channel(&own));
        if ours {
            registry.agents.remove(id);
            registry.stateless.remove(id);
            // Give back what a crowd of agents grew, once most of them left.
            let agents = registry.agents.len();
            if registry.agents.capacity() > 64 && agents < registry.agents.capacity() / 4 {
                registry.agents.shrink_to(agents * 2);
            }
        }
    }

    /// Hands a command that reached an evicted agent after its eviction to the agent's successor,
    /// which it creates unless the command is itself an eviction.
    async fn forward(&self, id: &AgentId, command: Command) {
        if let Command::Evict { done } = command {
            if done.is_closed() {
                return;
            }
            match self.reserve_existing(id).await {
                Ok(Some(permit)) => {
                    permit.send(Command::Evict { done });
                }
                Ok(None) => {
                    let _unused = done.send(Ok(None));
                }
                Err(error) => {
                    let _unused = done.send(Err(error));
                }
            }
            return;
        }
        match self.reserve(id, None).await {
            Ok(permit) => {
                permit.send(command);
            }
            Err(error) => command.fail(error),
        }
    }

    /// Sends a control command and waits for its answer, under the default deadline.
    async fn request<T>(&self, id: &AgentId, make: impl FnOnce(Answer<T>) -> Command) -> Result<T> {
        let after = self.inner.default_rpc_timeout;
        let work = async {
            let permit = self.reserve(id, None).await?;
            let (done, answer) = oneshot::channel();
            permit.send(make(done));
            answer.await.map_err(|_closed| CoreError::RuntimeStopped)?
        };
        tokio::time::timeout(after, work)
            .await
            .unwrap_or_else(|_elapsed| {
                Err(CoreError::Timeout {
                    recipient: id.clone(),
                    after,
                })
            })
    }

    async fn send_impl(
        &self,
        message: AnyMessage,
        recipient: AgentId,
        options: SendOptions,
    ) -> Result<Option<AnyMessage>> {
        options.check_cycle(&recipient)?;
        let SendOptions {
            sender,
            message_id,
            timeout,
            cancellation,
            call_chain,
            ..
        } = options;
        let message_id = message_id.unwrap_or_else(new_message_id);
        let after = timeout.unwrap_or(self.inner.default_rpc_timeout);
        let caller = cancellation.unwrap_or_default();
        let span = info_span!(
            "send",
            agent_id = %recipient,
            message_type = %message.type_name(),
            message_id = %message_id,
        );
        async move {
            self.ensure_running()?;
            let type_name = message.type_name().to_owned();
            let intervention =
                InterventionContext::for_send(sender.clone(), recipient.clone(), &message_id);
            let message = match self
                .inner
                .interventions
                .on_send(message, &intervention)
                .await
            {
                Intervention::Continue(message) => message,
                Intervention::Drop => return Err(CoreError::MessageDropped { type_name }),
            };

            // The handler's token: cancelled with the caller's, and when this call ends early
            // (deadline, cancellation, or the caller dropping this future).
            let handler_token = caller.child_token();
            let guard = handler_token.clone().drop_guard();
            let ctx = MessageContext::for_rpc(
                self.context_handle(),
                recipient.clone(),
                sender.clone(),
                message_id.clone(),
                handler_token,
            )
            .with_call_chain(call_chain);
            let work = async {
                let permit = self.reserve(&recipient, None).await?;
                let (reply, answer) = oneshot::channel();
                permit.send(Command::Deliver(Box::new(Delivery {
                    message,
                    ctx,
                    reply: Some(reply),
                    caller: tracing::Span::current(),
                })));
                answer.await.map_err(|_closed| CoreError::RuntimeStopped)?
            };
            let outcome = tokio::select! {
                biased;
                () = caller.cancelled() => Err(CoreError::Cancelled),
                timed = tokio::time::timeout(after, work) => timed.unwrap_or_else(|_elapsed| {
                    Err(CoreError::Timeout { recipient: recipient.clone(), after })
                }),
            };
            let response = match outcome {
                Ok(response) => {
                    drop(guard.disarm());
                    response
                }
                Err(error) => {
                    debug!(error = &error as &dyn std::error::Error, "request failed");
                    return Err(error);
                }
            };
            match response {
                None => Ok(None),
                Some(response) => {
                    let type_name = response.type_name().to_owned();
                    let intervention =
                        InterventionContext::for_response(recipient.clone(), sender, &message_id);
                    match self
                        .inner
                        .interventions
                        .on_response(response, &intervention)
                        .await
                    {
                        Intervention::Continue(response) => Ok(Some(response)),
                        Intervention::Drop => Err(CoreError::MessageDropped { type_name }),
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The distinct agents subscribed to `topic`, in subscription order, without the sender.
    fn recipients(&self, topic: &TopicId, sender: Option<&AgentId>) -> Vec<AgentId> {
        let registry = self.registry();
        let mut seen = HashSet::new();
        registry
            .subscriptions
            .iter()
            .filter_map(|subscription| subscription.map_to_agent(topic).ok())
            .filter(|id| Some(id) != sender)
            .filter(|id| seen.insert(id.clone()))
            .collect()
    }

    async fn publish_impl(
        &self,
        message: AnyMessage,
        topic: TopicId,
        options: PublishOptions,
    ) -> Result<()> {
        let PublishOptions {
            sender,
            message_id,
            cancellation,
            ..
        } = options;
        let message_id = message_id.unwrap_or_else(new_message_id);
        let token = cancellation.unwrap_or_default();
        let span = info_span!(
            "publish",
            topic = %topic,
            sender = sender.as_ref().map(tracing::field::display),
            message_type = %message.type_name(),
            message_id = %message_id,
        );
        async move {
            self.ensure_running()?;
            let intervention =
                InterventionContext::for_publish(sender.clone(), topic.clone(), &message_id);
            let message = match self
                .inner
                .interventions
                .on_publish(message, &intervention)
                .await
            {
                Intervention::Continue(message) => message,
                Intervention::Drop => {
                    debug!("publish dropped by an intervention handler");
                    return Ok(());
                }
            };
            for recipient in self.recipients(&topic, sender.as_ref()) {
                let ctx = MessageContext::for_publish(
                    self.context_handle(),
                    recipient.clone(),
                    topic.clone(),
                    sender.clone(),
                    message_id.clone(),
                    token.child_token(),
                );
                let span = info_span!(
                    "deliver",
                    agent_id = %recipient,
                    message_type = %message.type_name(),
                    message_id = %message_id,
                );
                let delivered = self
                    .enqueue_published(&recipient, message.clone(), ctx, &token)
                    .instrument(span)
                    .await;
                match delivered {
                    Ok(()) => {}
                    Err(error @ (CoreError::Cancelled | CoreError::RuntimeStopped)) => {
                        return Err(error);
                    }
                    Err(error) => {
                        log_error(&error, "published message not delivered to a subscriber");
                    }
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Delivers a publication on `topic` to one agent and waits until it was handled.
    ///
    /// The agent sees it exactly as a publication (`is_rpc = false`, [`MessageContext::topic_id`] and
    /// [`MessageContext::sender`] set); unlike [`AgentRuntime::publish_message`], the caller learns the outcome.
    /// A distributed runtime uses it to deliver a publication it routed to this process, and commits the record
    /// only once this returns `Ok`.
    ///
    /// # Errors
    ///
    /// [`CoreError::Undeliverable`] for an unregistered type, [`CoreError::Handler`] /
    /// [`CoreError::HandlerPanicked`] / [`CoreError::UnhandledMessageType`] from the agent,
    /// [`CoreError::Timeout`] past `timeout`, [`CoreError::RuntimeStopped`].
    pub async fn deliver_publication(
        &self,
        message: AnyMessage,
        recipient: AgentId,
        topic: TopicId,
        sender: Option<AgentId>,
        message_id: String,
        timeout: Duration,
    ) -> Result<()> {
        let span = info_span!(
            "deliver",
            agent_id = %recipient,
            topic = %topic,
            message_type = %message.type_name(),
            message_id = %message_id,
        );
        async {
            self.ensure_running()?;
            let token = CancellationToken::new();
            let guard = token.clone().drop_guard();
            let ctx = MessageContext::for_publish(
                self.context_handle(),
                recipient.clone(),
                topic,
                sender,
                message_id,
                token,
            );
            let work = async {
                let permit = self.reserve(&recipient, None).await?;
                let (reply, answer) = oneshot::channel();
                permit.send(Command::Deliver(Box::new(Delivery {
                    message,
                    ctx,
                    reply: Some(reply),
                    caller: tracing::Span::current(),
                })));
                answer.await.map_err(|_closed| CoreError::RuntimeStopped)?
            };
            let outcome = tokio::time::timeout(timeout, work)
                .await
                .unwrap_or_else(|_elapsed| {
                    Err(CoreError::Timeout {
                        recipient: recipient.clone(),
                        after: timeout,
                    })
                });
            if outcome.is_ok() {
                drop(guard.disarm());
            }
            outcome.map(|_answer| ())
        }
        .instrument(span)
        .await
    }

    async fn enqueue_published(
        &self,
        recipient: &AgentId,
        message: AnyMessage,
        ctx: MessageContext,
        token: &CancellationToken,
    ) -> Result<()> {
        let reserve = self.reserve(recipient, Some(self.inner.default_rpc_timeout));
        let permit = tokio::select! {
            biased;
            () = token.cancelled() => return Err(CoreError::Cancelled),
            permit = reserve => permit?,
        };
        permit.send(Command::Deliver(Box::new(Delivery {
            message,
            ctx,
            reply: None,
            caller: tracing::Span::current(),
        })));
        Ok(())
    }

    fn register_factory_impl(
        &self,
        agent_type: AgentType,
        factory: AgentFactory,
    ) -> Result<AgentType> {
        self.ensure_running()?;
        let mut registry = self.registry();
        if registry.factories.contains_key(&agent_type)
            || registry.instance_types.contains(&agent_type)
        {
            return Err(CoreError::DuplicateAgentType { agent_type });
        }
        registry.factories.insert(agent_type.clone(), factory);
        debug!(agent_type = %agent_type, "agent factory registered");
        Ok(agent_type)
    }

    fn register_instance_impl(&self, agent: Box<dyn Agent>, id: AgentId) -> Result<AgentId> {
        self.ensure_running()?;
        let mut registry = self.registry();
        if registry.factories.contains_key(id.agent_type()) {
            return Err(CoreError::DuplicateAgentType {
                agent_type: id.agent_type().clone(),
            });
        }
        if registry.agents.contains_key(&id) {
            return Err(CoreError::DuplicateAgentId { agent_id: id });
        }
        let mailbox = self.spawn_agent(&mut registry, id.clone(), agent);
        registry
            .agents
            .insert(id.clone(), Arc::new(OnceCell::new_with(Some(mailbox))));
        registry.instance_types.insert(id.agent_type().clone());
        debug!(agent_id = %id, "agent instance registered");
        Ok(id)
    }

    fn add_subscription_impl(&self, subscription: Subscription) -> Result<()> {
        self.ensure_running()?;
        let mut registry = self.registry();
        if registry
            .subscriptions
            .iter()
            .any(|existing| existing.is_equivalent(&subscription))
        {
            return Err(CoreError::DuplicateSubscription {
                subscription_id: subscription.id().to_owned(),
            });
        }
        debug!(subscription_id = subscription.id(), "subscription added");
        registry.subscriptions.push(subscription);
        Ok(())
    }

    fn remove_subscription_impl(&self, id: &str) -> Result<()> {
        let mut registry = self.registry();
        let position = registry
            .subscriptions
            .iter()
            .position(|s| s.id() == id)
            .ok_or_else(|| CoreError::SubscriptionNotFound {
                subscription_id: id.to_owned(),
            })?;
        registry.subscriptions.remove(position);
        Ok(())
    }

    fn is_known_type(&self, agent_type: &AgentType) -> bool {
        let registry = self.registry();
        registry.factories.contains_key(agent_type) || registry.instance_types.contains(agent_type)
    }

    async fn save_state_impl(&self) -> Result<Value> {
        let mut state = serde_json::Map::new();
        for id in self.active_agents() {
            let saved = self
                .request(&id, |done| Command::SaveState { done })
                .await?;
            state.insert(id.to_string(), saved);
        }
        Ok(Value::Object(state))
    }

    async fn load_state_impl(&self, state: Value) -> Result<()> {
        let Value::Object(entries) = state else {
            return Err(CoreError::InvalidState {
                reason: "expected a JSON object mapping agent ids to states",
            });
        };
        for (key, agent_state) in entries {
            let id: AgentId = key.parse()?;
            if !self.is_known_type(id.agent_type()) {
                warn!(agent_id = %id, "state for an unregistered agent type skipped");
                continue;
            }
            self.request(&id, |done| Command::LoadState {
                state: Box::new(agent_state),
                done,
            })
            .await?;
        }
        Ok(())
    }
}

impl Default for LocalRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LocalRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self.registry();
        f.debug_struct("LocalRuntime")
            .field("agent_types", &registry.factories.len())
            .field("agents", &registry.agents.len())
            .field("subscriptions", &registry.subscriptions.len())
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

/// The task that owns one agent: handles its commands one at a time until the mailbox closes
/// (then closes the agent), the agent is evicted, or the runtime aborts (then drops everything).
async fn run_agent(
    id: AgentId,
    mut agent: Box<dyn Agent>,
    mut inbox: mpsc::Receiver<Command>,
    link: Link,
    abort: CancellationToken,
) {
    debug!("agent started");
    loop {
        let command = tokio::select! {
            biased;
            () = abort.cancelled() => return,
            command = inbox.recv() => command,
        };
        let Some(command) = command else { break };
        if let Command::Evict { done } = command {
            if done.is_closed() {
                debug!("eviction abandoned by its caller; the agent stays");
                continue;
            }
            tokio::select! {
                biased;
                () = abort.cancelled() => {}
                () = evict(&id, agent, inbox, &link, done) => {}
            }
            return;
        }
        tokio::select! {
            biased;
            () = abort.cancelled() => return,
            () = execute(&id, agent.as_mut(), command) => {}
        }
    }
    tokio::select! {
        biased;
        () = abort.cancelled() => {}
        () = close_agent(agent.as_mut()) => {}
    }
}

/// Saves and closes the agent, takes it out of the registry, hands the commands that arrived
/// meanwhile to its successor, then answers `done`.
async fn evict(
    id: &AgentId,
    mut agent: Box<dyn Agent>,
    mut inbox: mpsc::Receiver<Command>,
    link: &Link,
    done: Answer<Option<Value>>,
) {
    let saved = save_agent(id, agent.as_mut()).await;
    close_agent(agent.as_mut()).await;
    drop(agent);
    let runtime = link.runtime.upgrade().map(|inner| LocalRuntime { inner });
    if let Some(runtime) = &runtime {
        runtime.unregister(id, &link.own);
    }
    // Out of the registry first, then closed: a sender that finds this mailbox closed looks the
    // id up again and reaches the successor.
    inbox.close();
    let mut late = Vec::new();
    while let Some(command) = inbox.recv().await {
        late.push(command);
    }
    drop(inbox);
    if let Some(runtime) = &runtime {
        if !late.is_empty() {
            debug!(
                count = late.len(),
                "handing messages that arrived during the eviction to a new instance"
            );
        }
        for command in late {
            runtime.forward(id, command).await;
        }
    }
    debug!("agent evicted");
    let _unused = done.send(saved.map(Some));
}

async fn save_agent(id: &AgentId, agent: &mut dyn Agent) -> Result<Value> {
    match catch_panic(async { agent.save_state().await }).await {
        Ok(Ok(state)) => Ok(state),
        Ok(Err(source)) => Err(CoreError::AgentSaveState {
            agent_id: id.clone(),
            source,
        }),
        Err(message) => Err(CoreError::HandlerPanicked {
            agent_id: id.clone(),
            message,
        }),
    }
}

/// Closes the agent; a failure is only logged.
async fn close_agent(agent: &mut dyn Agent) {
    match catch_panic(async { agent.close().await }).await {
        Ok(Ok(())) => debug!("agent closed"),
        Ok(Err(source)) => warn!(
            error = &*source as &dyn std::error::Error,
            "closing the agent failed"
        ),
        Err(message) => warn!(panic = %message, "closing the agent panicked"),
    }
}

async fn execute(id: &AgentId, agent: &mut dyn Agent, command: Command) {
    let panicked = |message: String| CoreError::HandlerPanicked {
        agent_id: id.clone(),
        message,
    };
    match command {
        Command::Deliver(delivery) => {
            let Delivery {
                message,
                ctx,
                reply,
                caller,
            } = *delivery;
            let span = info_span!(
                parent: &caller,
                "handle",
                agent_id = %id,
                message_type = %message.type_name(),
                message_id = %ctx.message_id(),
                rpc = ctx.is_rpc(),
            );
            async {
                let result = match catch_panic(async { agent.on_message(message, ctx).await }).await
                {
                    Ok(Ok(response)) => Ok(response),
                    Ok(Err(source)) => Err(handler_failed(id, source)),
                    Err(message) => Err(panicked(message)),
                };
                match reply {
                    // The requester may have given up; then nobody wants the answer.
                    Some(reply) => {
                        let _unused = reply.send(result);
                    }
                    None => {
                        if let Err(error) = result {
                            log_error(&error, "handling a published message failed");
                        }
                    }
                }
            }
            .instrument(span)
            .await;
        }
        Command::Access { access, done } => {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| access(agent)))
                .map_err(|payload| panicked(panic_message(payload.as_ref())));
            let _unused = done.send(result);
        }
        Command::SaveState { done } => {
            let _unused = done.send(save_agent(id, agent).await);
        }
        Command::LoadState { state, done } => {
            let result = match catch_panic(async { agent.load_state(*state).await }).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(source)) => Err(CoreError::AgentLoadState {
                    agent_id: id.clone(),
                    source,
                }),
                Err(message) => Err(panicked(message)),
            };
            let _unused = done.send(result);
        }
        Command::Describe { done } => {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| agent.description()))
                .map_err(|payload| panicked(panic_message(payload.as_ref())));
            let _unused = done.send(result);
        }
        // `run_agent` handles evictions itself; one that gets here is answered as a no-op.
        Command::Evict { done } => {
            let _unused = done.send(Ok(None));
        }
    }
}

impl AgentRuntime for LocalRuntime {
    fn send_message(
        &self,
        message: AnyMessage,
        recipient: AgentId,
        options: SendOptions,
    ) -> BoxFuture<'_, Result<Option<AnyMessage>>> {
        Box::pin(self.send_impl(message, recipient, options))
    }

    fn publish_message(
        &self,
        message: AnyMessage,
        topic: TopicId,
        options: PublishOptions,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.publish_impl(message, topic, options))
    }

    fn register_factory(
        &self,
        agent_type: AgentType,
        factory: AgentFactory,
    ) -> BoxFuture<'_, Result<AgentType>> {
        Box::pin(std::future::ready(
            self.register_factory_impl(agent_type, factory),
        ))
    }

    fn register_agent_instance(
        &self,
        agent: Box<dyn Agent>,
        id: AgentId,
    ) -> BoxFuture<'_, Result<AgentId>> {
        // Spawning needs the Tokio context, which is there when the future is polled.
        Box::pin(async move { self.register_instance_impl(agent, id) })
    }

    fn add_subscription(&self, subscription: Subscription) -> BoxFuture<'_, Result<()>> {
        Box::pin(std::future::ready(self.add_subscription_impl(subscription)))
    }

    fn remove_subscription<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(std::future::ready(self.remove_subscription_impl(id)))
    }

    fn get<'a>(
        &'a self,
        agent_type: &'a AgentType,
        key: &'a str,
        lazy: bool,
    ) -> BoxFuture<'a, Result<AgentId>> {
        Box::pin(async move {
            let id = AgentId::from_parts(agent_type.clone(), key);
            if !lazy {
                self.mailbox(&id).await?;
            }
            Ok(id)
        })
    }

    fn agent_metadata<'a>(&'a self, id: &'a AgentId) -> BoxFuture<'a, Result<AgentMetadata>> {
        Box::pin(async move {
            let description = self.request(id, |done| Command::Describe { done }).await?;
            Ok(AgentMetadata::new(id, description))
        })
    }

    fn agent_save_state<'a>(&'a self, id: &'a AgentId) -> BoxFuture<'a, Result<Value>> {
        Box::pin(self.request(id, |done| Command::SaveState { done }))
    }

    fn agent_load_state<'a>(&'a self, id: &'a AgentId, state: Value) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.request(id, |done| Command::LoadState {
            state: Box::new(state),
            done,
        }))
    }

    fn save_state(&self) -> BoxFuture<'_, Result<Value>> {
        Box::pin(self.save_state_impl())
    }

    fn load_state(&self, state: Value) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.load_state_impl(state))
    }

    fn serializers(&self) -> &SerializerRegistry {
        &self.inner.serializers
    }

    fn access_agent<'a>(
        &'a self,
        id: &'a AgentId,
        access: AgentAccess,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.request(id, |done| Command::Access { access, done }))
    }
}

#[cfg(test)]
mod tests;

//! `KafkaWorkerAgentRuntime`: the `AgentRuntime` of a fleet of processes talking over Kafka.

mod consumer_metrics;
mod lifecycle;
mod replies;
mod router;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use autogen_kafka_admin::CreateMode;
use autogen_kafka_config::Config;
use autogen_kafka_core::{
    Agent, AgentAccess, AgentFactory, AgentId, AgentMetadata, AgentRuntime, AgentType, AnyMessage,
    CoreError, LocalRuntime, PublishOptions, RuntimeHandle, SendOptions, SerializerRegistry,
    Subscription, TopicId, new_message_id,
};
use autogen_kafka_events::{Format, PublishEvent, RequestEvent};
use autogen_kafka_monitoring::{ComponentHealth, Criticality, Health, Metrics, RpcOutcome};
use autogen_kafka_services::{
    AgentManager, AgentRegistry, EventCodecs, PendingRequests, RequestCancellations,
    RuntimeDirectory, StateStore, SubscriptionService, headers,
};
use autogen_kafka_streaming::{
    EventProducer, GroupConsumer, OutboundRecord, TailReader, TopicPartition,
};
use futures::future::BoxFuture;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::error::Result;

/// A distributed agent runtime over Kafka.
///
/// Agents registered with [`AgentRuntime::register_factory`] are *distributed*: any process of the fleet can
/// reach them, and when several runtimes host the same type they share its agent ids by key (each id is active
/// on exactly one of them). Agents registered with [`register_local_factory`](Self::register_local_factory) are
/// *local*: only this process reaches them, without Kafka (the hybrid pattern).
///
/// - `send_message` to a distributed type writes a request keyed `type/key` to the request topic; the runtime
///   that owns that key's partition handles it and writes the response to this runtime's own reply topic. The
///   call ends with the answer or a typed error: `Undeliverable` at once when no live runtime hosts the type,
///   `Timeout` at the deadline, `Cancelled` when its token is cancelled.
/// - `publish_message` delivers the message once to every agent id a live subscription maps the topic to,
///   through the request topic (so each delivery reaches the replica that owns the agent id, in order with its
///   other messages), and also writes the Python original's CloudEvent to the publish topic.
/// - Delivery is at-least-once: a request's offset is committed only after its response (or dead letter) was
///   acknowledged by the broker; a redelivered request is recognised by its id and answered from a cache.
///
/// Lifecycle: [`builder`](Self::builder) → register agents → [`start`](Self::start) (returns when ready) →
/// [`stop`](Self::stop).
///
/// # Examples
///
/// ```no_run
/// use autogen_kafka_config::Config;
/// use autogen_kafka_core::{AgentId, AgentRuntimeExt, RoutedAgent};
/// use autogen_kafka_runtime::KafkaWorkerAgentRuntime;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::builder().bootstrap_servers(["127.0.0.1:9092"]).group_id("fleet").build()?;
/// let runtime = KafkaWorkerAgentRuntime::builder(config).build()?;
/// runtime.register("listener", |_id| RoutedAgent::new(())).await?;
/// runtime.start().await?;
/// // ... send, publish ...
/// runtime.stop().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KafkaWorkerAgentRuntime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KafkaWorkerAgentRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaWorkerAgentRuntime")
            .field("runtime_id", &self.inner.runtime_id)
            .field("reply_topic", &self.inner.reply_topic)
            .finish_non_exhaustive()
    }
}

/// Builds a [`KafkaWorkerAgentRuntime`].
#[derive(Debug)]
#[must_use]
pub struct KafkaWorkerAgentRuntimeBuilder {
    config: Config,
    instance_id: Option<String>,
    create_mode: CreateMode,
    metrics: Option<Metrics>,
    health: Option<Health>,
}

impl KafkaWorkerAgentRuntimeBuilder {
    /// Records into these metrics (default: a registry of the runtime's own, see
    /// [`KafkaWorkerAgentRuntime::metrics`]).
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Reports the runtime's components (`kafka`) into this health registry (default: one of its own).
    pub fn health(mut self, health: Health) -> Self {
        self.health = Some(health);
        self
    }

    /// Names this runtime instance (default: `runtime.instance_id` of the configuration, else a random id). The
    /// reply topic is `<runtime_responses>.<instance id>`, so a stable id reuses one topic across restarts.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// How missing topics are made: through the Admin API (default) or by the broker's auto-creation (for
    /// brokers without the Admin API, such as librdkafka's mock cluster).
    pub fn topic_creation(mut self, mode: CreateMode) -> Self {
        self.create_mode = mode;
        self
    }

    /// Validates the configuration and creates the clients. Nothing is read from or written to Kafka until
    /// [`KafkaWorkerAgentRuntime::start`].
    ///
    /// # Errors
    ///
    /// [`crate::RuntimeError::Config`] for an invalid configuration, [`crate::RuntimeError::Streaming`] when the
    /// producer cannot be created.
    pub fn build(self) -> Result<KafkaWorkerAgentRuntime> {
        self.config.validate()?;
        let config = self.config;
        let instance_id = self
            .instance_id
            .or_else(|| config.runtime.instance_id.clone())
            .unwrap_or_else(|| format!("{}-{}", config.kafka.client_id, &new_message_id()[..8]));
        let reply_topic = format!("{}.{}", config.runtime.runtime_responses, instance_id);
        // The data plane reports its produce requests and records (`KafkaWorkerAgentRuntime::produce_counts`).
        let mut data_properties = config.producer_properties().into_map();
        data_properties.insert(
            "statistics.interval.ms".to_owned(),
            config.streaming.statistics_interval.as_millis().to_string(),
        );
        let producer =
            EventProducer::new(&data_properties, config.kafka.request_timeout)?.coalescing();
        let control = EventProducer::new(
            config.producer_properties().as_map(),
            config.kafka.request_timeout,
        )?;
        let local = LocalRuntime::builder()
            .default_rpc_timeout(config.runtime.rpc_timeout)
            .mailbox_capacity(config.service.channel_capacity.max(1))
            .build()?;
        let format = crate::setup::wire_format(&config);
        let state = Arc::new(StateStore::new(config.runtime.state_topic.clone()));
        let agents = Arc::new(AgentManager::new(
            local.clone(),
            Arc::clone(&state),
            producer.clone(),
            config.service.shutdown_timeout,
        ));
        let metrics = match self.metrics {
            Some(metrics) => metrics,
            None => Metrics::new().map_err(crate::RuntimeError::Monitoring)?,
        };
        let health = self.health.unwrap_or_default();
        let kafka_health = health.register("kafka", Criticality::Readiness);
        let inner = Arc::new(Inner {
            metrics,
            health,
            kafka_health,
            runtime_id: instance_id,
            reply_topic,
            create_mode: self.create_mode,
            in_flight: autogen_kafka_streaming::InFlightBudget::new(config.service.max_in_flight),
            codecs: OnceLock::new(),
            format,
            producer,
            control,
            local,
            registry: OnceLock::new(),
            directory: Arc::new(
                RuntimeDirectory::new(config.runtime.runtimes_topic.clone())
                    .stale_after(config.runtime.registry_heartbeat * 2),
            ),
            subscriptions: OnceLock::new(),
            pending: OnceLock::new(),
            // Notices for requests not begun here (yet): a few times what the consumers may hold in flight.
            cancellations: Arc::new(RequestCancellations::new(
                config.service.max_in_flight.max(1).saturating_mul(4),
            )),
            state,
            agents,
            distributed_types: Mutex::new(Vec::new()),
            local_types: Mutex::new(HashSet::new()),
            own_subscriptions: Mutex::new(Vec::new()),
            early_subscriptions: Mutex::new(Vec::new()),
            processors: Mutex::new(Vec::new()),
            consumers: tokio::sync::Mutex::new(Vec::new()),
            assignments: Mutex::new(std::collections::HashMap::new()),
            tails: Mutex::new(None),
            tails_ready: tokio::sync::watch::Sender::new(false),
            reply_demand: replies::ReplyDemand::new(),
            token: CancellationToken::new(),
            tracker: TaskTracker::new(),
            started: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            config,
        });
        let runtime = KafkaWorkerAgentRuntime { inner };
        runtime
            .inner
            .local
            .set_host_runtime(RuntimeHandle::new(runtime.clone()));
        Ok(runtime)
    }
}

/// The tail readers that keep the fleet's views current.
struct Tails {
    /// The registry, subscription and state topics, and the shared response topic (Python callees answer there).
    fleet: TailReader,
    /// This runtime's own reply topic.
    replies: TailReader,
}

pub(crate) struct Inner {
    config: Config,
    metrics: Metrics,
    health: Health,
    /// Up while the broker answers (checked every registry heartbeat).
    kafka_health: ComponentHealth,
    runtime_id: String,
    reply_topic: String,
    create_mode: CreateMode,
    /// `service.max_in_flight`, shared by the runtime's request consumers.
    in_flight: autogen_kafka_streaming::InFlightBudget,
    format: Format,
    /// Set at start, once schema ids are known.
    codecs: OnceLock<Arc<EventCodecs>>,
    /// The data plane: requests, answers, publications and agent state. A producer serves every partition it
    /// knows on each wake-up, so it knows only the topics written per message.
    producer: EventProducer,
    /// The control plane: registrations, subscriptions, the runtime directory, dead letters, clean-up and the
    /// broker probe.
    control: EventProducer,
    local: LocalRuntime,
    registry: OnceLock<Arc<AgentRegistry>>,
    /// The fleet's live Rust runtimes (runtimes topic).
    directory: Arc<RuntimeDirectory>,
    subscriptions: OnceLock<Arc<SubscriptionService>>,
    pending: OnceLock<Arc<PendingRequests>>,
    /// The requests this runtime handles that their callers may cancel (cancel notices on the runtimes topic).
    cancellations: Arc<RequestCancellations>,
    state: Arc<StateStore>,
    agents: Arc<AgentManager>,
    distributed_types: Mutex<Vec<String>>,
    local_types: Mutex<HashSet<String>>,
    /// Subscriptions this runtime added to the fleet (removed again at stop; written again if they vanish).
    own_subscriptions: Mutex<Vec<Subscription>>,
    /// Subscriptions added before `start`, written at start (startup step 6).
    early_subscriptions: Mutex<Vec<Subscription>>,
    consumers: tokio::sync::Mutex<Vec<GroupConsumer>>,
    /// The request processors, one per distributed type (their handled-request memory is pruned every second).
    processors: Mutex<Vec<Arc<autogen_kafka_services::MessageProcessor>>>,
    /// The request partitions each distributed type's consumer owns, as they change.
    assignments:
        Mutex<std::collections::HashMap<String, tokio::sync::watch::Receiver<Vec<TopicPartition>>>>,
    tails: Mutex<Option<Arc<Tails>>>,
    /// Becomes true once the tails are bootstrapped (request consumers wait for it before their first record).
    tails_ready: tokio::sync::watch::Sender<bool>,
    /// The RPCs waiting for an answer; the reply reader is paused while there are none.
    reply_demand: replies::ReplyDemand,
    token: CancellationToken,
    tracker: TaskTracker,
    started: AtomicBool,
    stopped: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KafkaWorkerAgentRuntime {
    /// A builder for a runtime with `config`.
    pub fn builder(config: Config) -> KafkaWorkerAgentRuntimeBuilder {
        KafkaWorkerAgentRuntimeBuilder {
            config,
            instance_id: None,
            create_mode: CreateMode::Admin,
            metrics: None,
            health: None,
        }
    }

    /// This runtime instance's id.
    #[must_use]
    pub fn instance_id(&self) -> &str {
        &self.inner.runtime_id
    }

    /// The topic this runtime reads its responses from.
    #[must_use]
    pub fn reply_topic(&self) -> &str {
        &self.inner.reply_topic
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether the runtime is ready: [`start`](Self::start) finished, [`stop`](Self::stop) was not called, and the
    /// broker answered its last health probe (every `runtime.registry_heartbeat_ms`). While the broker is
    /// unreachable the runtime reports not ready; the clients reconnect on their own and it becomes ready again
    /// without a restart.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.inner.started.load(Ordering::Acquire)
            && !self.inner.stopped.load(Ordering::Acquire)
            && self.inner.health.readiness().healthy
    }

    /// The runtime's metrics (Prometheus): RPC latency and outcomes, late responses, and more.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The requests, answers, publications and state records this runtime wrote, and in how many produce requests,
    /// as librdkafka's statistics last counted them (every `streaming.statistics_interval_ms`; `None` before the
    /// first report). Also exported as `autogen_kafka_produce_requests_total` and `autogen_kafka_produced_records_total`.
    #[must_use]
    pub fn produce_counts(&self) -> Option<autogen_kafka_streaming::ProduceCounts> {
        self.inner.producer.produce_counts()
    }

    /// The runtime's health registry (component `kafka`); serve it with `autogen_kafka_monitoring::MonitoringServer`.
    #[must_use]
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// Whether the reader of this runtime's reply topic is paused. It is paused once no RPC of this runtime has
    /// waited for an answer for a second (it then sends the broker no fetches) and resumed before the next
    /// request is written.
    #[must_use]
    pub fn reply_reader_paused(&self) -> bool {
        self.inner.reply_demand.is_paused()
    }

    /// Responses that arrived for no waiting request (late or duplicated).
    #[must_use]
    pub fn late_responses(&self) -> u64 {
        self.inner.pending.get().map_or(0, |p| p.late_responses())
    }

    /// Whether some live runtime of the fleet hosts `agent_type` (as this runtime currently sees the registry).
    #[must_use]
    pub fn is_hosted(&self, agent_type: &str) -> bool {
        self.inner
            .registry
            .get()
            .is_some_and(|r| r.is_hosted(agent_type))
    }

    /// The agent types some live runtime of the fleet hosts, sorted (as this runtime currently sees the registry).
    #[must_use]
    pub fn hosted_types(&self) -> Vec<String> {
        self.inner
            .registry
            .get()
            .map_or_else(Vec::new, |r| r.hosted_types())
    }

    /// The partitions of the request topic this replica owns for `agent_type` (empty when it hosts none of them).
    /// Agent ids whose key maps to one of them are served here.
    #[must_use]
    pub fn assigned_partitions(&self, agent_type: &str) -> Vec<i32> {
        let assignments = lock(&self.inner.assignments);
        let mut partitions: Vec<i32> = assignments
            .get(agent_type)
            .map(|a| a.borrow().iter().map(|tp| tp.partition).collect())
            .unwrap_or_default();
        partitions.sort_unstable();
        partitions
    }

    /// Whether this runtime's view of the fleet's subscriptions contains the subscription `id`.
    #[must_use]
    pub fn knows_subscription(&self, id: &str) -> bool {
        self.inner
            .subscriptions
            .get()
            .is_some_and(|s| s.contains(id))
    }

    /// The longest time one of this runtime's consumers took to give up partitions in a rebalance (let running
    /// records finish, save the agents' state, commit): bounded by `service.shutdown_timeout_ms` plus the commit,
    /// even while a handler is stuck.
    pub async fn longest_revoke(&self) -> Duration {
        let consumers = self.inner.consumers.lock().await;
        let longest = consumers
            .iter()
            .map(|c| c.stats().longest_revoke_ms.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        Duration::from_millis(longest)
    }

    /// How many agents' saved state this replica holds in memory: those of the request partitions it owns (their
    /// agents may be active here or not).
    #[must_use]
    pub fn saved_states(&self) -> usize {
        self.inner.state.len()
    }

    /// Agent ids active on this replica.
    #[must_use]
    pub fn active_agents(&self) -> Vec<AgentId> {
        self.inner.agents.active()
    }

    /// Registers a *local* agent type: reachable only from this process, never through Kafka.
    ///
    /// # Errors
    ///
    /// [`CoreError::DuplicateAgentType`] when the type is registered already.
    pub async fn register_local_factory(
        &self,
        agent_type: AgentType,
        factory: AgentFactory,
    ) -> Result<AgentType> {
        if lock(&self.inner.distributed_types)
            .iter()
            .any(|t| t == agent_type.as_str())
        {
            return Err(CoreError::DuplicateAgentType {
                agent_type: agent_type.clone(),
            }
            .into());
        }
        let registered = self
            .inner
            .local
            .register_factory(agent_type, factory)
            .await?;
        lock(&self.inner.local_types).insert(registered.to_string());
        Ok(registered)
    }

    /// Starts the runtime: the startup sequence of the API document (validate, connect, create or verify
    /// topics, start the services and read the registry and subscriptions, register the agent types, write the
    /// subscriptions, start processing). Returns when the runtime is ready: its consumers are assigned and it knows
    /// the fleet.
    ///
    /// # Errors
    ///
    /// [`crate::RuntimeError::Connect`] when the broker is unreachable until the startup timeout, admin errors
    /// when topics cannot be created, [`crate::RuntimeError::Lifecycle`] when called twice.
    pub async fn start(&self) -> Result<()> {
        lifecycle::start(self).await
    }

    /// Stops the runtime: the shutdown sequence of the API document (stop intake and finish in-flight work,
    /// complete pending requests, remove this runtime's subscriptions and registrations, close the agents, stop
    /// the services, flush the producer), bounded by the configured shutdown timeout.
    ///
    /// # Errors
    ///
    /// [`crate::RuntimeError::Core`] when the agents did not close in time.
    pub async fn stop(&self) -> Result<()> {
        lifecycle::stop(self).await
    }

    fn codecs(&self) -> Result<&Arc<EventCodecs>, CoreError> {
        self.inner.codecs.get().ok_or(CoreError::RuntimeStopped)
    }

    fn is_local_type(&self, agent_type: &str) -> bool {
        lock(&self.inner.local_types).contains(agent_type)
    }

    fn ensure_running(&self) -> Result<(), CoreError> {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(CoreError::RuntimeStopped);
        }
        Ok(())
    }

    async fn send_remote(
        &self,
        message: AnyMessage,
        recipient: AgentId,
        options: SendOptions,
    ) -> Result<Option<AnyMessage>, CoreError> {
        self.ensure_running()?;
        options.check_cycle(&recipient)?;
        let (Some(registry), Some(pending)) = (self.inner.registry.get(), self.inner.pending.get())
        else {
            return Err(CoreError::RuntimeStopped);
        };
        let timeout = options
            .timeout
            .unwrap_or(self.inner.config.runtime.rpc_timeout);
        // One deadline for the whole call: the registry check, the write and the wait for the answer.
        let deadline = tokio::time::Instant::now() + timeout;
        let token = options.cancellation.clone().unwrap_or_default();
        let hosted = tokio::select! {
            biased;
            () = token.cancelled() => return Err(CoreError::Cancelled),
            () = tokio::time::sleep_until(deadline) => return Err(CoreError::Timeout { recipient, after: timeout }),
            hosted = self.is_hosted_now(registry, recipient.agent_type().as_str(), timeout) => hosted,
        };
        if !hosted {
            return Err(CoreError::Undeliverable {
                agent_type: recipient.agent_type().to_string(),
            });
        }
        let serialized = message.to_serialized()?;
        let request_id = new_message_id();
        let mut request = RequestEvent::new(
            recipient.to_string(),
            serialized.type_name.clone(),
            serialized.bytes,
        )
        .with_request_id(request_id.clone())
        .with_message_id(options.message_id.clone().unwrap_or_else(new_message_id))
        .with_payload_format(serialized.content_type);
        if let Some(sender) = &options.sender {
            request = request.with_sender(sender.to_string());
        }
        let trace = headers::inject_current_trace(&mut request.metadata);
        let topic = self.request_topic_of(&recipient);
        tracing::Span::current().record("topic", topic.as_str());
        // Every request topic carries the request schema registered for `runtime_requests`.
        let value = self
            .codecs()?
            .encode(&self.inner.config.runtime.runtime_requests, &request)
            .map_err(|error| CoreError::Serialize {
                type_name: serialized.type_name.clone(),
                source: Box::new(error),
            })?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let deadline_ms =
            headers::now_ms().saturating_add(i64::try_from(left.as_millis()).unwrap_or(i64::MAX));
        let mut record = OutboundRecord::new(topic, value)
            .with_key(recipient.to_string())
            .with_header(headers::KIND, headers::KIND_RPC)
            .with_header(headers::REPLY_TO, self.inner.reply_topic.as_bytes())
            .with_header(headers::DEADLINE_MS, deadline_ms.to_string())
            .with_header(headers::RUNTIME, self.inner.runtime_id.as_bytes());
        if let Some(chain) = headers::encode_call_chain(&options.call_chain) {
            record = record.with_header(headers::CALL_CHAIN, chain);
        }
        record = headers::with_trace_headers(record, trace.as_ref());
        let timer = self
            .inner
            .metrics
            .start_rpc(recipient.agent_type().as_str());
        let tails = self.inner.tails().ok_or(CoreError::RuntimeStopped)?;
        // The reply reader fetches while this RPC waits (it is paused while none does).
        let _waiting = self.inner.reply_demand.acquire(&tails);
        let reply = pending.register(&request_id, recipient.clone(), &serialized.type_name);
        let exchange =
            async {
                let delivered = self.inner.producer.send(record).await.map_err(|error| {
                    CoreError::Transport {
                        operation: "sending the request",
                        source: Box::new(error),
                    }
                })?;
                tracing::Span::current()
                    .record("partition", delivered.partition)
                    .record("offset", delivered.offset);
                reply.await.map_err(|_| CoreError::RuntimeStopped)?
            };
        let outcome = tokio::select! {
            biased;
            () = token.cancelled() => Err(CoreError::Cancelled),
            () = tokio::time::sleep_until(deadline) => Err(CoreError::Timeout { recipient: recipient.clone(), after: timeout }),
            outcome = exchange => outcome,
        };
        if outcome.is_err() {
            pending.forget(&request_id);
        }
        if matches!(outcome, Err(CoreError::Cancelled)) {
            self.tell_cancelled(&request_id, deadline_ms);
        }
        let rpc_outcome = match &outcome {
            Ok(_) => RpcOutcome::Ok,
            Err(CoreError::Timeout { .. }) => RpcOutcome::Timeout,
            Err(CoreError::Cancelled | CoreError::RuntimeStopped) => RpcOutcome::Cancelled,
            Err(CoreError::Undeliverable { .. }) => RpcOutcome::Undeliverable,
            Err(_) => RpcOutcome::Error,
        };
        let span = tracing::Span::current();
        span.record("outcome", rpc_outcome.as_str());
        if outcome.is_err() {
            span.record("otel.status_code", "error");
        }
        timer.finish(rpc_outcome);
        outcome
    }

    /// Whether a live runtime hosts `agent_type`. When this runtime's registry view says no, the view is first read
    /// up to the registry's current end (bounded by `within`), so a registration the broker acknowledged before
    /// this call counts even if the view had not read it yet; "no" is then a fast, definite answer.
    async fn is_hosted_now(
        &self,
        registry: &AgentRegistry,
        agent_type: &str,
        within: Duration,
    ) -> bool {
        if registry.is_hosted(agent_type) {
            return true;
        }
        if let Some(tails) = self.inner.tails() {
            let bound = within.min(step_timeout(&self.inner.config));
            if let Err(error) = tails.fleet.catch_up(bound).await {
                tracing::debug!(
                    agent_type,
                    error = &error as &dyn std::error::Error,
                    "registry view not caught up"
                );
            }
        }
        registry.is_hosted(agent_type)
    }

    async fn publish_remote(
        &self,
        message: AnyMessage,
        topic: TopicId,
        options: PublishOptions,
    ) -> Result<(), CoreError> {
        self.ensure_running()?;
        let codecs = Arc::clone(self.codecs()?);
        let message_id = options.message_id.clone().unwrap_or_else(new_message_id);
        let serialized = message.to_serialized()?;
        let serialize_error = |error: autogen_kafka_services::ServicesError| CoreError::Serialize {
            type_name: serialized.type_name.clone(),
            source: Box::new(error),
        };
        let mut records = self
            .delivery_records(&topic, options.sender.as_ref(), &message_id, &serialized)
            .map_err(serialize_error)?;
        // The Python original's form of the publication, for Python runtimes of the fleet.
        let publish_topic = &self.inner.config.runtime.publish_topic;
        let mut builder = PublishEvent::builder(topic.topic_type(), topic.source())
            .id(message_id.clone())
            .payload(serialized.type_name.clone(), serialized.bytes.clone());
        if let Some(sender) = &options.sender {
            builder = builder.sender(sender.agent_type().as_str(), sender.key());
        }
        if let Some(trace) = autogen_kafka_monitoring::current_trace_context() {
            builder = builder.trace_context(trace.traceparent(), trace.tracestate());
        }
        let event = builder.build().map_err(|error| CoreError::Serialize {
            type_name: serialized.type_name.clone(),
            source: Box::new(error),
        })?;
        let value = codecs
            .encode(publish_topic, &event)
            .map_err(serialize_error)?;
        records.push(
            OutboundRecord::new(publish_topic.clone(), value)
                .with_key(event.record_key())
                .with_header(headers::FANNED_OUT, "1")
                .with_header(headers::RUNTIME, self.inner.runtime_id.as_bytes()),
        );
        // Bounded like an RPC: a publish on a broker that does not acknowledge ends with a typed error.
        let timeout = self.inner.config.runtime.rpc_timeout;
        let token = options.cancellation.clone().unwrap_or_default();
        let sends = records
            .into_iter()
            .map(|record| self.inner.producer.send(record));
        let results = tokio::select! {
            biased;
            () = token.cancelled() => return Err(CoreError::Cancelled),
            results = tokio::time::timeout(timeout, futures::future::join_all(sends)) => {
                results.map_err(|_| CoreError::Transport {
                    operation: "writing the publication",
                    source: Box::new(autogen_kafka_streaming::StreamingError::ProduceTimeout {
                        topic: publish_topic.clone(),
                        after: timeout,
                    }),
                })?
            }
        };
        for result in results {
            result.map_err(|error| CoreError::Transport {
                operation: "writing the publication",
                source: Box::new(error),
            })?;
        }
        // Local agents (hybrid pattern) get it in process.
        self.inner
            .local
            .publish_message(message, topic, options)
            .await
    }

    /// One request-topic record per agent id that must receive a publication on `topic`: every live
    /// subscription added by a Rust runtime, except local agent types (they get it in process) and the sender.
    pub(crate) fn delivery_records(
        &self,
        topic: &TopicId,
        sender: Option<&AgentId>,
        message_id: &str,
        serialized: &autogen_kafka_core::SerializedMessage,
    ) -> Result<Vec<OutboundRecord>, autogen_kafka_services::ServicesError> {
        let (Some(registry), Some(subscriptions), Some(codecs)) = (
            self.inner.registry.get(),
            self.inner.subscriptions.get(),
            self.inner.codecs.get(),
        ) else {
            return Ok(Vec::new());
        };
        let requests_topic = &self.inner.config.runtime.runtime_requests;
        let mut records = Vec::new();
        // One context for every delivery: they are all written under the publication's span.
        let trace = autogen_kafka_monitoring::current_trace_context();
        let is_live = |runtime: &str| self.inner.subscriber_counts(runtime, registry);
        for recipient in subscriptions.recipients(topic, sender, &is_live, true) {
            if self.is_local_type(recipient.agent_type().as_str()) {
                continue;
            }
            let mut request = RequestEvent::new(
                recipient.to_string(),
                serialized.type_name.clone(),
                serialized.bytes.clone(),
            )
            .with_request_id(format!("{message_id}:{recipient}"))
            .with_message_id(message_id.to_owned())
            .with_payload_format(serialized.content_type.clone());
            request.topic_id = Some(topic.to_string());
            if let Some(sender) = sender {
                request = request.with_sender(sender.to_string());
            }
            if let Some(trace) = &trace {
                trace.inject_into(&mut request.metadata);
            }
            let value = codecs.encode(requests_topic, &request)?;
            let topic = self.request_topic_of(&recipient);
            records.push(headers::with_trace_headers(
                OutboundRecord::new(topic, value)
                    .with_key(recipient.to_string())
                    .with_header(headers::KIND, headers::KIND_PUBLISH)
                    .with_header(headers::RUNTIME, self.inner.runtime_id.as_bytes()),
                trace.as_ref(),
            ));
        }
        Ok(records)
    }

    /// Tells the fleet, in the background, that this runtime's request `request_id` (deadline `deadline_ms`) was
    /// cancelled, so the runtime handling it cancels its handler's token (or does not execute it). A notice that
    /// cannot be written is logged: the handler then runs on until the deadline.
    fn tell_cancelled(&self, request_id: &str, deadline_ms: i64) {
        let records = autogen_kafka_services::cancel_notice(
            &self.inner.config.runtime.runtimes_topic,
            request_id,
            deadline_ms,
        );
        let control = self.inner.control.clone();
        let request_id = request_id.to_owned();
        // Tracked: a graceful stop lets the notice go out (within its shutdown deadline).
        self.inner.tracker.spawn(
            async move {
                for record in records {
                    if let Err(error) = control.send(record).await {
                        tracing::warn!(request_id, error = &error as &dyn std::error::Error, "the cancellation of a request could not be written: its handler runs on until the deadline");
                        return;
                    }
                }
            }
            .in_current_span(),
        );
    }

    /// The topic requests to `recipient` go to (`runtime.request_topic_per_type`).
    fn request_topic_of(&self, recipient: &AgentId) -> String {
        self.inner
            .config
            .runtime
            .request_topic(recipient.agent_type().as_str())
            .into_owned()
    }

    async fn add_remote_subscription(&self, subscription: Subscription) -> Result<(), CoreError> {
        if self.inner.subscriptions.get().is_none() {
            // Not started: written at start.
            let mut early = lock(&self.inner.early_subscriptions);
            if early.iter().any(|e| e.is_equivalent(&subscription)) {
                return Err(CoreError::DuplicateSubscription {
                    subscription_id: subscription.id().to_owned(),
                });
            }
            early.push(subscription);
            return Ok(());
        }
        self.write_own_subscription(subscription).await?;
        self.catch_up_subscriptions().await;
        Ok(())
    }

    /// Writes `subscription` to the subscription topic as this runtime's own (removed again at stop), unless this
    /// runtime holds an equivalent one already. Equivalent subscriptions of other runtimes do not count: each
    /// replica holds its own, and a dead runtime's leftovers never block its replacement.
    pub(crate) async fn write_own_subscription(
        &self,
        subscription: Subscription,
    ) -> Result<(), CoreError> {
        let Some(service) = self.inner.subscriptions.get() else {
            return Err(CoreError::RuntimeStopped);
        };
        if lock(&self.inner.own_subscriptions)
            .iter()
            .any(|own| own.is_equivalent(&subscription))
        {
            return Err(CoreError::DuplicateSubscription {
                subscription_id: subscription.id().to_owned(),
            });
        }
        self.write_subscription_change(service.added_record(&subscription, &self.inner.runtime_id))
            .await?;
        lock(&self.inner.own_subscriptions).push(subscription);
        Ok(())
    }

    /// Writes a subscription event to the subscription topic.
    async fn write_subscription_change(
        &self,
        record: Result<OutboundRecord, autogen_kafka_services::ServicesError>,
    ) -> Result<(), CoreError> {
        let record = record.map_err(|error| CoreError::Serialize {
            type_name: "SubscriptionEvent".to_owned(),
            source: Box::new(error),
        })?;
        self.inner
            .control
            .send(record)
            .await
            .map_err(|error| CoreError::Transport {
                operation: "writing the subscription change",
                source: Box::new(error),
            })?;
        Ok(())
    }

    /// Waits until this runtime's subscription view includes everything written so far (read your writes).
    pub(crate) async fn catch_up_subscriptions(&self) {
        if let Some(tails) = self.inner.tails()
            && let Err(error) = tails
                .fleet
                .catch_up(self.inner.config.runtime.startup_timeout)
                .await
        {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "subscription view is behind"
            );
        }
    }
}

impl AgentRuntime for KafkaWorkerAgentRuntime {
    fn send_message(
        &self,
        message: AnyMessage,
        recipient: AgentId,
        options: SendOptions,
    ) -> BoxFuture<'_, Result<Option<AnyMessage>, CoreError>> {
        // Spans are made on the first poll, so a future built first and instrumented after is their parent.
        Box::pin(async move {
            let span = tracing::info_span!(
                "kafka.send",
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                agent_id = %recipient,
                message_type = %message.type_name(),
                topic = tracing::field::Empty,
                partition = tracing::field::Empty,
                offset = tracing::field::Empty,
                outcome = tracing::field::Empty,
            );
            async move {
                if self.is_local_type(recipient.agent_type().as_str()) {
                    return self
                        .inner
                        .local
                        .send_message(message, recipient, options)
                        .await;
                }
                self.send_remote(message, recipient, options).await
            }
            .instrument(span)
            .await
        })
    }

    fn publish_message(
        &self,
        message: AnyMessage,
        topic: TopicId,
        options: PublishOptions,
    ) -> BoxFuture<'_, Result<(), CoreError>> {
        Box::pin(async move {
            let span = tracing::info_span!(
                "kafka.publish",
                otel.kind = "producer",
                topic = %topic,
                message_type = %message.type_name(),
            );
            self.publish_remote(message, topic, options)
                .instrument(span)
                .await
        })
    }

    fn register_factory(
        &self,
        agent_type: AgentType,
        factory: AgentFactory,
    ) -> BoxFuture<'_, Result<AgentType, CoreError>> {
        Box::pin(async move {
            if self.is_local_type(agent_type.as_str()) {
                return Err(CoreError::DuplicateAgentType {
                    agent_type: agent_type.clone(),
                });
            }
            crate::topics::check_request_topic(&self.inner.config, agent_type.as_str())?;
            let registered = self
                .inner
                .local
                .register_factory(agent_type, factory)
                .await?;
            lock(&self.inner.distributed_types).push(registered.to_string());
            if self.inner.started.load(Ordering::Acquire)
                && let Err(error) = lifecycle::start_agent_type(self, registered.as_str()).await
            {
                return Err(CoreError::Transport {
                    operation: "starting the agent type's consumer",
                    source: Box::new(error),
                });
            }
            Ok(registered)
        })
    }

    fn register_agent_instance(
        &self,
        agent: Box<dyn Agent>,
        id: AgentId,
    ) -> BoxFuture<'_, Result<AgentId, CoreError>> {
        Box::pin(async move {
            let registered = self.inner.local.register_agent_instance(agent, id).await?;
            lock(&self.inner.local_types).insert(registered.agent_type().to_string());
            Ok(registered)
        })
    }

    fn add_subscription(&self, subscription: Subscription) -> BoxFuture<'_, Result<(), CoreError>> {
        Box::pin(async move {
            if self.is_local_type(subscription.agent_type().as_str()) {
                return self.inner.local.add_subscription(subscription).await;
            }
            self.add_remote_subscription(subscription).await
        })
    }

    fn remove_subscription<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), CoreError>> {
        Box::pin(async move {
            let Some(service) = self.inner.subscriptions.get() else {
                let removed_early = {
                    let mut early = lock(&self.inner.early_subscriptions);
                    let before = early.len();
                    early.retain(|s| s.id() != id);
                    early.len() != before
                };
                if removed_early {
                    return Ok(());
                }
                return self.inner.local.remove_subscription(id).await;
            };
            if !service.contains(id) {
                return self.inner.local.remove_subscription(id).await;
            }
            self.write_subscription_change(service.removed_record(id, &self.inner.runtime_id))
                .await?;
            lock(&self.inner.own_subscriptions).retain(|s| s.id() != id);
            self.catch_up_subscriptions().await;
            Ok(())
        })
    }

    fn get<'a>(
        &'a self,
        agent_type: &'a AgentType,
        key: &'a str,
        lazy: bool,
    ) -> BoxFuture<'a, Result<AgentId, CoreError>> {
        Box::pin(async move {
            let hosted_here = self.is_local_type(agent_type.as_str())
                || lock(&self.inner.distributed_types)
                    .iter()
                    .any(|t| t == agent_type.as_str());
            if hosted_here || !lazy {
                return self.inner.local.get(agent_type, key, lazy).await;
            }
            if self.is_hosted(agent_type.as_str()) {
                return Ok(AgentId::from_parts(agent_type.clone(), key));
            }
            Err(CoreError::Undeliverable {
                agent_type: agent_type.to_string(),
            })
        })
    }

    fn agent_metadata<'a>(
        &'a self,
        id: &'a AgentId,
    ) -> BoxFuture<'a, Result<AgentMetadata, CoreError>> {
        self.inner.local.agent_metadata(id)
    }

    fn agent_save_state<'a>(&'a self, id: &'a AgentId) -> BoxFuture<'a, Result<Value, CoreError>> {
        self.inner.local.agent_save_state(id)
    }

    fn agent_load_state<'a>(
        &'a self,
        id: &'a AgentId,
        state: Value,
    ) -> BoxFuture<'a, Result<(), CoreError>> {
        self.inner.local.agent_load_state(id, state)
    }

    fn save_state(&self) -> BoxFuture<'_, Result<Value, CoreError>> {
        self.inner.local.save_state()
    }

    fn load_state(&self, state: Value) -> BoxFuture<'_, Result<(), CoreError>> {
        self.inner.local.load_state(state)
    }

    fn serializers(&self) -> &SerializerRegistry {
        self.inner.local.serializers()
    }

    fn access_agent<'a>(
        &'a self,
        id: &'a AgentId,
        access: AgentAccess,
    ) -> BoxFuture<'a, Result<(), CoreError>> {
        self.inner.local.access_agent(id, access)
    }
}

impl Inner {
    fn distributed_types(&self) -> Vec<String> {
        lock(&self.distributed_types).clone()
    }

    /// Whether the subscriptions of the Rust runtime `runtime_id` count: it is alive, or died too recently to be
    /// cleaned up (`runtime.cleanup_grace_ms`). Deliveries go to the request topic, where any replica of the type,
    /// or the dead one's replacement, reads them; publications are never dropped because a subscriber's runtime
    /// missed a few heartbeats.
    fn subscriber_counts(&self, runtime_id: &str, registry: &AgentRegistry) -> bool {
        runtime_id == self.runtime_id
            || self
                .directory
                .is_present(runtime_id, self.config.runtime.cleanup_grace)
            || registry.is_runtime_live(runtime_id)
    }

    /// The running tail readers (none before start and after stop).
    fn tails(&self) -> Option<Arc<Tails>> {
        lock(&self.tails).clone()
    }
}

/// A hard upper bound for one startup step, so a misconfigured runtime fails instead of hanging.
pub(crate) fn step_timeout(config: &Config) -> Duration {
    config.runtime.startup_timeout.max(Duration::from_secs(1))
}

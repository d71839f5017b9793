//! `KafkaStreamingAgent`: the bridge between the agents of a runtime and an external service that speaks Kafka
//! (usage pattern 2 of the API document, "Kafka Bridge").
//!
//! The bridge is an ordinary [`Agent`]. Every message it receives goes out as an `AgentEvent` on
//! `agent.request_topic`; the external service (a Flink job, a Kafka Streams app, anything) answers with an
//! `AgentEvent` carrying the same `id` on `agent.response_topic`, and that answer is the bridge's response.
//! The wire format is upstream's (WIRE §2 and §4); the defects D1, D5 and D6 are fixed (see
//! [`KafkaStreamingAgent`]).

mod correlation;
mod setup;
#[cfg(test)]
mod tests;
mod wire;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autogen_kafka_admin::CreateMode;
use autogen_kafka_config::Config;
use autogen_kafka_core::{
    Agent, AgentFactory, AgentId, AnyMessage, CoreError, HandlerError, Message, MessageContext,
    SendOptions, new_message_id,
};
use autogen_kafka_events::{AgentEvent, keys};
use autogen_kafka_services::EventCodecs;
use autogen_kafka_streaming::{
    EventProducer, OutboundRecord, TailHandler, TailReader, TailSpec, TailStart,
};
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::correlation::{Correlation, Counters};
use self::wire::ResponseType;
use crate::error::Result;

/// The agent type of a bridge built without [`KafkaStreamingAgentBuilder::agent_id`] (its id is
/// `KafkaStreamingAgent/default`; it only appears in errors of [`KafkaStreamingAgent::request`]).
const DEFAULT_AGENT_TYPE: &str = "KafkaStreamingAgent";

/// An agent that forwards every message it receives to an external Kafka service and answers with the service's
/// reply: the Rust form of upstream's `KafkaStreamingAgent`, wire-compatible with it.
///
/// For each message (of any type):
///
/// 1. it writes `AgentEvent { id: <uuid4>, message_type: <the message's type name>, message: <its JSON object> }`
///    to `agent.request_topic`, keyed by the sender's agent id (`type/key`), or by the text `"None"` when the
///    message has no sender, exactly as upstream does;
/// 2. it waits for an `AgentEvent` with the same `id` on `agent.response_topic`;
/// 3. it answers with that event's `message` as a message of the configured *response type* (the event's own
///    `message_type` and record key are ignored, as upstream ignores them).
///
/// Fixes over upstream (WIRE §7):
///
/// * **D1**: the wait has a deadline (`agent.request_timeout`, or
///   [`KafkaStreamingAgentBuilder::request_timeout`], or [`SendOptions::timeout`] for [`request`](Self::request))
///   and honours the caller's cancellation token. It fails with [`CoreError::Timeout`] or
///   [`CoreError::Cancelled`]; a request to a bridge that was closed fails with [`CoreError::RuntimeStopped`]
///   (upstream reports a close as a cancellation). A record on the response topic that is not an AgentEvent is
///   logged, counted ([`BridgeStats::undecodable_responses`]) and skipped; an answer that arrives after its
///   request gave up is counted ([`BridgeStats::late_responses`]). Nothing panics.
/// * **D5**: every bridge reads the *whole* response topic itself (a group-less tail reader, from the end of the
///   topic as it was when the bridge started) and keeps only the answers to its own ids, so any number of bridges
///   in one process or across a fleet never take each other's answers. The price: each bridge instance has its
///   own reader and producer, so prefer one bridge per external service over one per caller.
/// * **D6**: it works on the first message (messages are serialized through their own type, no registry
///   lookup can fail).
///
/// Through a runtime, a caller sees the bridge's failure as [`CoreError::Handler`] whose
/// [`source`](std::error::Error::source) is the bridge's [`CoreError`] (`Timeout`, `Cancelled`, ...);
/// [`request`](Self::request) returns it directly.
///
/// A message must serialize to a JSON object (a unit struct's `null` travels as `{}`, like an empty Python
/// dataclass); anything else fails with [`CoreError::Serialize`]. With a typed response type
/// ([`KafkaStreamingAgentBuilder::response_type`]) an answer that does not decode as that type fails its request
/// with [`CoreError::Deserialize`] at once (upstream fails the request too).
///
/// The bridge has no state: `save_state` returns `{}` and `load_state` ignores its input, as upstream's do. Its
/// description is configuration, given to the builder.
///
/// Through a runtime, an agent handles one message at a time, so one bridge agent id has one request in flight
/// (as upstream's agent awaits each answer in its handler). For parallel requests, call
/// [`request`](Self::request) on clones, or spread callers over several agent ids (each its own bridge).
///
/// Cloning is cheap and shares the connection; [`shutdown`](Self::shutdown) (or [`Agent::close`], which the
/// runtime calls when it stops) on any clone closes it for all.
///
/// # Examples
///
/// A bridge registered as a local agent of a runtime, called like any other agent:
///
/// ```no_run
/// use std::time::Duration;
///
/// use autogen_kafka_config::Config;
/// use autogen_kafka_core::{AgentId, AgentRuntimeExt, AgentType, Message};
/// use autogen_kafka_runtime::{KafkaStreamingAgent, KafkaWorkerAgentRuntime};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Question { text: String }
/// impl Message for Question { const TYPE_NAME: &'static str = "Question"; }
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Answer { text: String }
/// impl Message for Answer { const TYPE_NAME: &'static str = "Answer"; }
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::builder().bootstrap_servers(["127.0.0.1:9092"]).group_id("app").build()?;
/// let runtime = KafkaWorkerAgentRuntime::builder(config.clone()).build()?;
/// let bridge = KafkaStreamingAgent::builder(&config, "Bridge to the scoring service")
///     .response_type::<Answer>()
///     .request_timeout(Duration::from_secs(10));
/// runtime.register_local_factory(AgentType::new("scoring")?, bridge.into_factory()).await?;
/// runtime.start().await?;
///
/// let answer: Answer = runtime
///     .send(Question { text: "score this".into() }, &AgentId::new("scoring", "default")?)
///     .await?;
/// println!("{}", answer.text);
/// runtime.stop().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KafkaStreamingAgent {
    description: String,
    inner: Arc<Bridge>,
}

/// What clones of one bridge share.
struct Bridge {
    agent_id: AgentId,
    request_topic: String,
    response_topic: String,
    request_timeout: Duration,
    response: ResponseType,
    codecs: Arc<EventCodecs>,
    producer: EventProducer,
    correlation: Arc<Correlation>,
    tail: Mutex<Option<TailReader>>,
    flush_timeout: Duration,
}

/// What a bridge has done since it started (all counters only grow).
///
/// # Examples
///
/// ```
/// use autogen_kafka_runtime::BridgeStats;
///
/// let stats = BridgeStats::default();
/// assert_eq!(stats.requests_sent, 0);
/// assert_eq!(stats.late_responses, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeStats {
    /// Requests written to the request topic (acknowledged by the broker).
    pub requests_sent: u64,
    /// Answers matched to a waiting request.
    pub responses_matched: u64,
    /// Requests that reached their deadline.
    pub timeouts: u64,
    /// Requests whose caller cancelled.
    pub cancellations: u64,
    /// Answers to requests of this bridge that had already given up (deadline, cancellation).
    pub late_responses: u64,
    /// Records on the response topic that are not AgentEvents (garbage, tombstones): logged and skipped.
    pub undecodable_responses: u64,
    /// AgentEvents on the response topic whose id this bridge never sent (another bridge's answers): ignored.
    pub foreign_responses: u64,
}

/// Builds and starts a [`KafkaStreamingAgent`]; also makes an [`AgentFactory`] of it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use autogen_kafka_config::Config;
/// use autogen_kafka_runtime::KafkaStreamingAgent;
///
/// let config = Config::default();
/// let builder = KafkaStreamingAgent::builder(&config, "Bridge to the pricing service")
///     .response_type_name("Price")
///     .request_timeout(Duration::from_secs(5));
/// // `builder.build_started().await` connects; `builder.into_factory()` registers it with a runtime.
/// let _factory = builder.into_factory();
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct KafkaStreamingAgentBuilder {
    config: Config,
    description: String,
    agent_id: Option<AgentId>,
    response: Option<ResponseType>,
    request_timeout: Duration,
    request_schema: Option<String>,
    response_schema: Option<String>,
    create_mode: CreateMode,
}

impl KafkaStreamingAgentBuilder {
    /// Answers are decoded as `R` (its [`Message::TYPE_NAME`] is the response type name); an answer that does
    /// not decode fails its request with [`CoreError::Deserialize`]. Required, unless
    /// [`response_type_name`](Self::response_type_name) is given.
    pub fn response_type<R: Message>(mut self) -> Self {
        self.response = Some(ResponseType::typed::<R>());
        self
    }

    /// Answers are passed on as JSON messages named `type_name`, decoded only when the caller asks for a type.
    pub fn response_type_name(mut self, type_name: impl Into<String>) -> Self {
        self.response = Some(ResponseType::named(type_name.into()));
        self
    }

    /// How long a request waits for its answer (default `agent.request_timeout`; must be positive).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The JSON Schema of the messages sent, for the schema registered under `<request_topic>-value` (JSON Schema
    /// format only; default `{"type": "object"}`). Upstream registers its request type's schema there; give the
    /// same document when a Python bridge shares the topic and the registry enforces compatibility.
    pub fn request_message_schema(mut self, json_schema: impl Into<String>) -> Self {
        self.request_schema = Some(json_schema.into());
        self
    }

    /// The JSON Schema of the answers, for the schema registered under `<response_topic>-value` (as
    /// [`request_message_schema`](Self::request_message_schema)).
    pub fn response_message_schema(mut self, json_schema: impl Into<String>) -> Self {
        self.response_schema = Some(json_schema.into());
        self
    }

    /// How missing topics are created (default [`CreateMode::Admin`]; use [`CreateMode::AutoCreate`] for brokers
    /// without the Admin API, such as librdkafka's mock cluster). With `service.auto_create_topics = false`
    /// nothing is created and both topics must exist.
    pub fn topic_creation(mut self, mode: CreateMode) -> Self {
        self.create_mode = mode;
        self
    }

    /// The bridge's own agent id, named in the errors of [`KafkaStreamingAgent::request`] (default
    /// `KafkaStreamingAgent/default`; [`into_factory`](Self::into_factory) sets it to the id being created).
    pub fn agent_id(mut self, id: AgentId) -> Self {
        self.agent_id = Some(id);
        self
    }

    /// Validates the settings, creates the topics when missing (see [`topic_creation`](Self::topic_creation)),
    /// registers the AgentEvent schemas when the format needs a Schema Registry, creates the producer and starts
    /// reading the response topic from its end. Returns a bridge ready for requests.
    ///
    /// # Errors
    ///
    /// [`crate::RuntimeError::Config`] for an invalid configuration; [`crate::RuntimeError::Core`] with
    /// [`CoreError::InvalidConfiguration`] when no response type was given or the timeout is zero;
    /// [`crate::RuntimeError::Admin`] when a topic cannot be created or a schema cannot be registered;
    /// [`crate::RuntimeError::Services`] for an invalid message schema; [`crate::RuntimeError::Streaming`] when the
    /// producer cannot be created or the response topic cannot be read (for example it does not exist within
    /// `runtime.startup_timeout`).
    pub async fn build_started(self) -> Result<KafkaStreamingAgent> {
        self.config.validate()?;
        let response = self.response.ok_or(CoreError::InvalidConfiguration {
            field: "response_type",
            reason: "the bridge needs the type of its answers: call response_type::<R>() or response_type_name",
        })?;
        if self.request_timeout.is_zero() {
            return Err(CoreError::InvalidConfiguration {
                field: "request_timeout",
                reason: "must be positive",
            }
            .into());
        }
        let agent_id = match self.agent_id {
            Some(id) => id,
            None => AgentId::new(DEFAULT_AGENT_TYPE, "default")?,
        };
        let config = &self.config;
        let request_topic = config.agent.request_topic.clone();
        let response_topic = config.agent.response_topic.clone();
        let step_timeout = config.runtime.startup_timeout.max(Duration::from_secs(1));
        setup::ensure_topics(
            config,
            self.create_mode,
            [&request_topic, &response_topic],
            step_timeout,
        )
        .await?;
        let codecs = Arc::new(
            setup::codecs(
                config,
                (
                    &request_topic,
                    self.request_schema
                        .as_deref()
                        .unwrap_or(setup::ANY_OBJECT_SCHEMA),
                ),
                (
                    &response_topic,
                    self.response_schema
                        .as_deref()
                        .unwrap_or(setup::ANY_OBJECT_SCHEMA),
                ),
            )
            .await?,
        );
        let producer = EventProducer::new(
            config.producer_properties().as_map(),
            config.kafka.request_timeout,
        )?;
        let correlation = Arc::new(Correlation::new(Arc::clone(&codecs)));
        let mut properties = config.kafka.client_properties().into_map();
        properties.insert(
            "fetch.wait.max.ms".to_owned(),
            config.streaming.fetch_wait_max.as_millis().to_string(),
        );
        let spec = TailSpec::new(
            format!("bridge-{}", agent_id.agent_type()),
            vec![response_topic.clone()],
        )
        .properties(properties)
        .start(TailStart::End)
        .metadata_timeout(step_timeout);
        let handler: Arc<dyn TailHandler> = Arc::clone(&correlation) as Arc<dyn TailHandler>;
        let tail = TailReader::start(spec, handler, &CancellationToken::new()).await?;
        tracing::info!(
            agent_id = %agent_id,
            request_topic,
            response_topic,
            response_type = response.name(),
            "streaming bridge started"
        );
        Ok(KafkaStreamingAgent {
            description: self.description,
            inner: Arc::new(Bridge {
                agent_id,
                request_topic,
                response_topic,
                request_timeout: self.request_timeout,
                response,
                codecs,
                producer,
                correlation,
                tail: Mutex::new(Some(tail)),
                flush_timeout: config.service.shutdown_timeout,
            }),
        })
    }

    /// A factory for [`AgentRuntime::register_factory`](autogen_kafka_core::AgentRuntime::register_factory) or
    /// [`KafkaWorkerAgentRuntime::register_local_factory`](crate::KafkaWorkerAgentRuntime::register_local_factory):
    /// each agent id the runtime activates gets its own started bridge ([`build_started`](Self::build_started)
    /// with [`agent_id`](Self::agent_id) set to that id). A failed start fails the activation
    /// ([`CoreError::AgentCreation`] for the caller).
    pub fn into_factory(self) -> AgentFactory {
        Arc::new(move |id, _runtime| {
            let builder = self.clone().agent_id(id);
            Box::pin(async move {
                let agent = Box::pin(builder.build_started()).await?;
                Ok(Box::new(agent) as Box<dyn Agent>)
            })
        })
    }
}

impl KafkaStreamingAgent {
    /// A builder for a bridge with `config` (its `agent` section names the topics and the default deadline) and
    /// a human-readable `description`.
    pub fn builder(config: &Config, description: impl Into<String>) -> KafkaStreamingAgentBuilder {
        KafkaStreamingAgentBuilder {
            config: config.clone(),
            description: description.into(),
            agent_id: None,
            response: None,
            request_timeout: config.agent.request_timeout,
            request_schema: None,
            response_schema: None,
            create_mode: CreateMode::Admin,
        }
    }

    /// Sends `message` to the external service and waits for its answer, without going through a runtime.
    ///
    /// `options.sender` is the record key (`"None"` without one); `options.timeout` replaces the bridge's deadline;
    /// `options.cancellation` cancels the wait. `options.message_id` is not used: the AgentEvent id is always a
    /// fresh uuid4, so that answers cannot be confused.
    ///
    /// # Errors
    ///
    /// [`CoreError::Timeout`] (naming this bridge's [`agent_id`](Self::agent_id)) when no answer came in time,
    /// [`CoreError::Cancelled`] when the token was cancelled, [`CoreError::RuntimeStopped`] when the bridge is
    /// closed, [`CoreError::Transport`] when the request could not be written, [`CoreError::Serialize`] or
    /// [`CoreError::UnsupportedContentType`] when the message is not a JSON object, [`CoreError::Deserialize`]
    /// when the answer is not a valid message of the typed response type.
    pub async fn request(
        &self,
        message: AnyMessage,
        options: SendOptions,
    ) -> Result<AnyMessage, CoreError> {
        let token = options.cancellation.unwrap_or_default();
        let timeout = options.timeout.unwrap_or(self.inner.request_timeout);
        let span = tracing::info_span!(
            "bridge.request",
            otel.kind = "client",
            agent_id = %self.inner.agent_id,
            topic = %self.inner.request_topic,
            message_type = %message.type_name(),
        );
        self.inner
            .exchange(
                &message,
                options.sender.as_ref(),
                &self.inner.agent_id,
                timeout,
                &token,
            )
            .instrument(span)
            .await
    }

    /// The id named in the errors of [`request`](Self::request).
    #[must_use]
    pub fn agent_id(&self) -> &AgentId {
        &self.inner.agent_id
    }

    /// The topic requests are written to (`agent.request_topic`).
    #[must_use]
    pub fn request_topic(&self) -> &str {
        &self.inner.request_topic
    }

    /// The topic answers are read from (`agent.response_topic`).
    #[must_use]
    pub fn response_topic(&self) -> &str {
        &self.inner.response_topic
    }

    /// The type name the answers carry.
    #[must_use]
    pub fn response_type(&self) -> &str {
        self.inner.response.name()
    }

    /// The deadline of a request.
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// Requests waiting for their answer.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.inner.correlation.pending()
    }

    /// Whether the bridge was closed ([`shutdown`](Self::shutdown) or [`Agent::close`]).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.correlation.is_closed()
    }

    /// The bridge's counters.
    #[must_use]
    pub fn stats(&self) -> BridgeStats {
        let counters = &self.inner.correlation.counters;
        BridgeStats {
            requests_sent: Counters::read(&counters.sent),
            responses_matched: Counters::read(&counters.answered),
            timeouts: Counters::read(&counters.timed_out),
            cancellations: Counters::read(&counters.cancelled),
            late_responses: Counters::read(&counters.late),
            undecodable_responses: Counters::read(&counters.undecodable),
            foreign_responses: Counters::read(&counters.foreign),
        }
    }

    /// Closes the bridge: new requests and every waiting one fail with [`CoreError::RuntimeStopped`], the
    /// response reader stops, and the producer is flushed (bounded by `service.shutdown_timeout`). Idempotent.
    pub async fn shutdown(&self) {
        self.inner.correlation.close();
        let tail = self
            .inner
            .tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(tail) = tail else {
            return;
        };
        tail.shutdown().await;
        if let Err(error) = self.inner.producer.flush(self.inner.flush_timeout).await {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "bridge producer flush incomplete"
            );
        }
        tracing::info!(agent_id = %self.inner.agent_id, "streaming bridge closed");
    }
}

impl Bridge {
    /// One request and its answer, under `timeout` and `token`.
    async fn exchange(
        &self,
        message: &AnyMessage,
        sender: Option<&AgentId>,
        recipient: &AgentId,
        timeout: Duration,
        token: &CancellationToken,
    ) -> Result<AnyMessage, CoreError> {
        let (type_name, object) = wire::message_object(message)?;
        let id = new_message_id();
        let event = AgentEvent::new(id.clone(), type_name.clone(), object);
        let value = self
            .codecs
            .encode(&self.request_topic, &event)
            .map_err(|error| CoreError::Serialize {
                type_name: type_name.clone(),
                source: Box::new(error),
            })?;
        let sender = sender.map(ToString::to_string);
        let key = keys::agent_request_key(sender.as_deref());
        // AgentEvent has no metadata field: the trace context travels in headers only.
        let record = autogen_kafka_services::headers::with_trace_headers(
            OutboundRecord::new(self.request_topic.clone(), value).with_key(key.clone()),
            autogen_kafka_monitoring::current_trace_context().as_ref(),
        );
        let mut pending = self.correlation.register(&id)?;
        let counters = &self.correlation.counters;
        let exchange = async {
            self.producer
                .send(record)
                .await
                .map_err(|error| CoreError::Transport {
                    operation: "writing the bridge request",
                    source: Box::new(error),
                })?;
            Counters::bump(&counters.sent);
            tracing::debug!(id, key, "bridge request written");
            pending.wait().await
        };
        let outcome = tokio::select! {
            biased;
            () = token.cancelled() => {
                Counters::bump(&counters.cancelled);
                Err(CoreError::Cancelled)
            }
            () = tokio::time::sleep(timeout) => {
                Counters::bump(&counters.timed_out);
                tracing::warn!(id, ?timeout, "no answer from the external service before the deadline");
                Err(CoreError::Timeout { recipient: recipient.clone(), after: timeout })
            }
            outcome = exchange => outcome,
        };
        // Dropping the pending reply (on every path) stops the wait; a later answer is counted as late.
        drop(pending);
        let answer = outcome?;
        Counters::bump(&counters.answered);
        self.response
            .to_message(answer.message)
            .inspect_err(|error| {
                tracing::warn!(
                    error = error as &dyn std::error::Error,
                    id,
                    "the external service's answer is not a valid response"
                );
            })
    }
}

impl Agent for KafkaStreamingAgent {
    fn on_message(
        &mut self,
        message: AnyMessage,
        ctx: MessageContext,
    ) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>> {
        let span = tracing::info_span!(
            "bridge.on_message",
            otel.kind = "client",
            agent_id = %ctx.agent_id(),
            topic = %self.inner.request_topic,
            message_type = %message.type_name(),
        );
        let inner = Arc::clone(&self.inner);
        Box::pin(
            async move {
                let answer = inner
                    .exchange(
                        &message,
                        ctx.sender(),
                        ctx.agent_id(),
                        inner.request_timeout,
                        ctx.cancellation(),
                    )
                    .await?;
                Ok(Some(answer))
            }
            .instrument(span),
        )
    }

    fn close(&mut self) -> BoxFuture<'_, Result<(), HandlerError>> {
        Box::pin(async move {
            self.shutdown().await;
            Ok(())
        })
    }

    fn description(&self) -> String {
        self.description.clone()
    }
}

impl std::fmt::Debug for KafkaStreamingAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStreamingAgent")
            .field("agent_id", &self.inner.agent_id)
            .field("description", &self.description)
            .field("request_topic", &self.inner.request_topic)
            .field("response_topic", &self.inner.response_topic)
            .field("response_type", &self.inner.response.name())
            .field("request_timeout", &self.inner.request_timeout)
            .field("pending", &self.pending())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

//! [`KafkaMemory`]: a session's memory, shared by every instance through one Kafka topic.

mod view;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autogen_kafka_admin::{
    CreateMode, SchemaDefinition, SchemaRegistryClient, TopicAdmin, TopicSpec,
};
use autogen_kafka_config::{AutoOffsetReset, Config, SerializationFormat};
use autogen_kafka_events::{EventKind, Format, keys, topics};
use autogen_kafka_services::{EventCodecs, ServicesError};
use autogen_kafka_streaming::{
    Delivered, EventProducer, OutboundRecord, TailReader, TailSpec, TailStart, TopicPartition,
};
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::view::SessionView;
use crate::content::MemoryContent;
use crate::error::{MemoryError, Result};
use crate::memory::Memory;

/// Reader positions: the offset after the last record applied, per partition.
type Positions = BTreeMap<TopicPartition, i64>;

/// A session's memory shared by every instance (in any process, Rust or Python) over the topic
/// `<memory.memory_topic>_<session_id>` (the Python original's `KafkaMemory`).
///
/// Start one with [`KafkaMemory::builder`]. Every instance reads the whole topic, from the
/// beginning, into a local list, and [`start`](KafkaMemoryBuilder::start) returns once the history
/// written before it was called is replayed. Then:
///
/// * [`add`](Self::add) writes a `MemoryEvent` (the Python original's encoding, key = the session
///   id) and returns once the broker acknowledged it **and** this instance applied it, so a
///   [`query`](Memory::query) right after sees it. Other instances apply it as their reader gets
///   there. Waiting for the own reader costs about one fetch wait (`streaming.fetch_wait_max_ms`)
///   on brokers that do not answer a waiting fetch early (the mock cluster, Tansu).
/// * Python instances read the topic in consumer group `<group_id>_KafkaMemory`: in a mixed fleet
///   each Python instance needs a `group_id` of its own, or they split the entries between them.
/// * [`query`](Memory::query) returns the local list, oldest first (autogen-core's `ListMemory`
///   semantics: the query text is ignored).
/// * [`clear`](Self::clear) writes a tombstone (null value, empty key, in the partition of the
///   session's entries); every instance clears its list when its reader reaches it. The topic and its history stay; an instance
///   started later replays the additions and the clear, and ends up in the same state.
/// * [`close`](Self::close) stops the reader; later additions and clears fail with
///   [`MemoryError::Closed`], queries return the last state.
///
/// # Order and identity
///
/// Entries are applied in the topic's order, by the reader only, including this instance's own
/// additions. So every instance holds the same entries in the same order, an addition is never
/// applied twice, and a restarted instance that reuses its [`instance_id`](KafkaMemoryBuilder::instance_id)
/// replays its own earlier additions like everyone else's. The `sender` of each event is this
/// instance's id (a random UUID by default); Python instances use it to skip their own events.
///
/// # Interoperability with the Python original (WIRE §4, defect D4)
///
/// Records are those of the Python writer, byte for byte for the same inputs (see
/// [`MemoryContent`] for each mime type), except that no metadata is written as `"{}"`, not
/// null. Our reader also accepts what upstream's reader cannot:
/// `null` metadata, base64 binary content (decoded), unknown mime types (kept as text). A record
/// that does not decode at all is logged and skipped
/// ([`skipped_records`](Self::skipped_records)); it never stops the reader.
///
/// A Python reader treats our tombstone as a clear too: upstream clears on every tombstone whose
/// key (as text) does not start with its session id, and ours is empty. The Python original's own
/// `clear` deletes and
/// re-creates the topic; a Rust reader that then reads the new topic from offset 0 notices the
/// offsets going back and clears too (records written before the deletion that it had not read
/// yet are lost, as they are for every reader).
///
/// **Known risk: a deleted topic on Tansu.** When the topic is deleted under a live instance (the
/// Python original's `clear`), Tansu answers the reader's next fetch with error 3 and leader
/// hints for a topic without name or id, and librdkafka 2.12.1's leader discovery looks the
/// topic up by a null name and crashes the process (SIGSEGV in `rd_kafka_metadata_cache_find`,
/// from `rd_kafka_handle_Fetch_metadata_update`; no client setting avoids Fetch v16). Apache
/// Kafka sends leader hints only with leadership errors; it could not be tried here. In mixed
/// fleets, clear from a Rust instance: Python readers obey its tombstone.
///
/// # Examples
///
/// ```
/// use autogen_kafka_admin::CreateMode;
/// use autogen_kafka_config::{Config, SerializationFormat};
/// use autogen_kafka_memory::{KafkaMemory, Memory, MemoryContent};
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = autogen_kafka_testing::TestBroker::mock().await?;
/// # let bootstrap = broker.bootstrap_servers();
/// // bootstrap: e.g. "127.0.0.1:9092"
/// let config = Config::builder()
///     .without_env()
///     .bootstrap_servers([bootstrap])
///     .group_id("worker-1")
///     .serialization_format(SerializationFormat::Json)
///     .build()?;
/// // Two instances of one session, for example in two processes.
/// let start = |config: Config| {
///     // The mock broker has no Admin API: let it create the topic.
///     KafkaMemory::builder(config, "chat-42").topic_creation(CreateMode::AutoCreate).start()
/// };
/// let alice = start(config.clone()).await?;
/// let bob = start(config).await?;
///
/// alice.add(MemoryContent::text("the user's name is Ada")).await?;
/// // Alice sees it at once; Bob as soon as his reader gets there.
/// assert_eq!(alice.query("").await?.len(), 1);
/// # autogen_kafka_testing::eventually(
/// #     std::time::Duration::from_secs(30), std::time::Duration::from_millis(10),
/// #     || async { bob.len() == 1 },
/// # ).await?;
/// assert_eq!(bob.contents(), alice.contents());
///
/// // Clearing empties every instance's list.
/// alice.clear().await?;
/// assert!(alice.is_empty());
/// alice.close().await?;
/// bob.close().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KafkaMemory {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    session_id: String,
    instance_id: String,
    topic: String,
    producer: EventProducer,
    codecs: Arc<EventCodecs>,
    view: Arc<SessionView>,
    positions: watch::Receiver<Positions>,
    tail: Mutex<Option<TailReader>>,
    apply_timeout: Duration,
    token: CancellationToken,
}

impl std::fmt::Debug for KafkaMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaMemory")
            .field("session_id", &self.inner.session_id)
            .field("instance_id", &self.inner.instance_id)
            .field("topic", &self.inner.topic)
            .field("entries", &self.inner.view.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Builds and starts a [`KafkaMemory`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_admin::CreateMode;
/// use autogen_kafka_config::{Config, SerializationFormat};
/// use autogen_kafka_memory::KafkaMemory;
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = autogen_kafka_testing::TestBroker::mock().await?;
/// # let config = Config::builder()
/// #     .without_env()
/// #     .bootstrap_servers([broker.bootstrap_servers()])
/// #     .group_id("worker-1")
/// #     .serialization_format(SerializationFormat::Json)
/// #     .build()?;
/// let memory = KafkaMemory::builder(config, "chat-42")
///     .instance_id("assistant-1")              // stable across restarts
///     .topic_creation(CreateMode::AutoCreate)  // brokers without the Admin API
///     .startup_timeout(Duration::from_secs(30))
///     .start()
///     .await?;
/// assert_eq!(memory.topic(), "memory_chat-42");
/// assert_eq!(memory.instance_id(), "assistant-1");
/// memory.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct KafkaMemoryBuilder {
    config: Config,
    session_id: String,
    instance_id: Option<String>,
    name: Option<String>,
    create_mode: CreateMode,
    producer: Option<EventProducer>,
    startup_timeout: Option<Duration>,
    apply_timeout: Option<Duration>,
    token: Option<CancellationToken>,
}

impl KafkaMemoryBuilder {
    /// This instance's id, written as the `sender` of its events (default: a random UUID, as the
    /// Python original). Reuse one across restarts to keep a stable identity.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// The memory's [`name`](Memory::name) (default: the topic name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How a missing topic is made: through the Admin API (default) or by the broker's
    /// auto-creation (brokers without the Admin API, such as librdkafka's mock cluster). Nothing
    /// is created when `service.auto_create_topics` is off.
    pub fn topic_creation(mut self, mode: CreateMode) -> Self {
        self.create_mode = mode;
        self
    }

    /// Writes with this producer (for example the runtime's shared one) instead of creating one
    /// from the configuration. Its send deadline bounds [`add`](KafkaMemory::add) and
    /// [`clear`](KafkaMemory::clear).
    pub fn producer(mut self, producer: EventProducer) -> Self {
        self.producer = Some(producer);
        self
    }

    /// How long [`start`](Self::start) may take for topic creation, the reader's start and the
    /// replay together (default `runtime.startup_timeout_ms`, 60 s). Schema registration is bounded
    /// by the registry's own `kafka.schema_registry.request_timeout_ms`.
    pub const fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = Some(timeout);
        self
    }

    /// How long [`add`](KafkaMemory::add) and [`clear`](KafkaMemory::clear) wait, after the
    /// broker's acknowledgement, for this instance to apply the record (default
    /// `kafka.request_timeout_ms`, 30 s).
    pub const fn apply_timeout(mut self, timeout: Duration) -> Self {
        self.apply_timeout = Some(timeout);
        self
    }

    /// Stops the memory when `token` is cancelled (the memory runs on a child token).
    pub fn cancellation(mut self, token: &CancellationToken) -> Self {
        self.token = Some(token.child_token());
        self
    }

    /// Validates the configuration, creates the session's topic when missing (`memory.num_partitions`
    /// partitions, 1 by default), registers its value schema (JSON Schema or Avro formats), starts
    /// the reader and replays the history.
    ///
    /// The reader starts at the beginning of the topic (`memory.auto_offset_reset = earliest`, the
    /// default), or at its end (`latest`: only additions made after the start are seen). Returns
    /// once every record acknowledged before the call is applied.
    ///
    /// # Errors
    ///
    /// [`MemoryError::InvalidConfig`] or [`MemoryError::InvalidSession`] (nothing was contacted),
    /// [`MemoryError::CreateProducer`], [`MemoryError::CreateTopic`],
    /// [`MemoryError::RegisterSchema`], [`MemoryError::StartReader`], or [`MemoryError::Replay`]
    /// when the history was not replayed within the startup timeout.
    pub async fn start(self) -> Result<KafkaMemory> {
        let span = tracing::info_span!("memory.start", session_id = %self.session_id);
        self.start_inner().instrument(span).await
    }

    async fn start_inner(self) -> Result<KafkaMemory> {
        let config = &self.config;
        config
            .validate()
            .map_err(|source| MemoryError::InvalidConfig {
                source: Box::new(source),
            })?;
        let topic = config.memory.topic(&self.session_id);
        let spec = TopicSpec::new(topic.clone())
            .partitions(config.memory.num_partitions.max(1))
            .replication_factor(config.kafka.replication_factor.max(1));
        spec.validate()
            .map_err(|source| MemoryError::InvalidSession {
                session_id: self.session_id.clone(),
                source: Box::new(source),
            })?;
        let startup_timeout = self
            .startup_timeout
            .unwrap_or(config.runtime.startup_timeout);
        let deadline = tokio::time::Instant::now() + startup_timeout;
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        let producer = match self.producer {
            Some(producer) => producer,
            None => EventProducer::new(
                config.producer_properties().as_map(),
                config.kafka.request_timeout,
            )
            .map_err(|source| MemoryError::CreateProducer {
                source: Box::new(source),
            })?,
        };
        if config.service.auto_create_topics {
            create_topic(config, spec, self.create_mode, left()).await?;
        }
        let codecs = Arc::new(register_schema(config, &topic).await?);
        let view = Arc::new(SessionView::new(
            topic.clone(),
            Arc::clone(&codecs),
            keys::memory_key(&self.session_id).to_owned(),
        ));
        let token = self.token.unwrap_or_default();
        let tail = start_reader(config, &topic, &view, &token, left()).await?;
        tail.catch_up(left())
            .await
            .map_err(|source| MemoryError::Replay {
                topic: topic.clone(),
                source: Box::new(source),
            })?;
        let instance_id = self
            .instance_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        tracing::info!(
            topic = %topic, instance_id = %instance_id, entries = view.len(),
            applied = view.applied(), skipped = view.skipped(), clears = view.clears(),
            "memory replayed"
        );
        Ok(KafkaMemory {
            inner: Arc::new(Inner {
                name: self.name.unwrap_or_else(|| topic.clone()),
                session_id: self.session_id,
                instance_id,
                positions: tail.position_changes(),
                tail: Mutex::new(Some(tail)),
                topic,
                producer,
                codecs,
                view,
                apply_timeout: self.apply_timeout.unwrap_or(config.kafka.request_timeout),
                token,
            }),
        })
    }
}

/// Creates the session's topic when it is missing (or verifies it).
async fn create_topic(
    config: &Config,
    spec: TopicSpec,
    mode: CreateMode,
    timeout: Duration,
) -> Result<()> {
    let topic = spec.name.clone();
    let failed = |source| MemoryError::CreateTopic {
        topic: topic.clone(),
        source: Box::new(source),
    };
    let admin = TopicAdmin::builder(config.kafka.client_properties().into_map())
        .operation_timeout(timeout)
        .create_mode(mode)
        .build()
        .map_err(failed)?;
    admin.ensure_topics(&[spec]).await.map_err(failed)?;
    Ok(())
}

/// Codecs for the topic: plain JSON, or the configured registry format with the id registered
/// under `<topic>-value` (the schema text the Python original registers at startup).
async fn register_schema(config: &Config, topic: &str) -> Result<EventCodecs> {
    let format = match config.serialization.format {
        SerializationFormat::Json => Format::Json,
        SerializationFormat::Avro => Format::Avro,
        _ => Format::JsonSchema,
    };
    let codecs = EventCodecs::new(format);
    if format == Format::Json {
        return Ok(codecs);
    }
    let subject = topics::value_subject(topic);
    let failed = |source| MemoryError::RegisterSchema {
        subject: subject.clone(),
        source: Box::new(source),
    };
    let registry = &config.kafka.schema_registry;
    let mut builder = SchemaRegistryClient::builder(registry.url.clone())
        .request_timeout(registry.request_timeout);
    if let (Some(user), Some(secret)) = (&registry.username, &registry.password) {
        builder = builder.basic_auth(user.clone(), secret.expose().to_owned());
    }
    let client = builder.build().map_err(failed)?;
    let schema = if format == Format::Avro {
        SchemaDefinition::avro(EventKind::Memory.avro_schema().to_owned())
    } else {
        let text = EventKind::Memory
            .registered_schema_text()
            .map_err(|source| MemoryError::Encode {
                topic: topic.to_owned(),
                source: Box::new(ServicesError::Codec {
                    topic: topic.to_owned(),
                    source,
                }),
            })?;
        SchemaDefinition::json(text)
    };
    let id = client.register(&subject, &schema).await.map_err(failed)?;
    tracing::debug!(subject = %subject, %id, "memory schema registered");
    // Avro readers fetch the writer schema of a newer schema version from the registry.
    Ok(codecs
        .with_schema_id(topic, id.get())
        .with_schema_lookup(Arc::new(client)))
}

/// Starts the reader that feeds `view` every record of the topic.
async fn start_reader(
    config: &Config,
    topic: &str,
    view: &Arc<SessionView>,
    token: &CancellationToken,
    timeout: Duration,
) -> Result<TailReader> {
    let start = match config.memory.auto_offset_reset {
        AutoOffsetReset::Latest => TailStart::End,
        _ => TailStart::Beginning,
    };
    let mut properties = config.kafka.client_properties().into_map();
    properties.insert(
        "fetch.wait.max.ms".to_owned(),
        config.streaming.fetch_wait_max.as_millis().to_string(),
    );
    let spec = TailSpec::new("memory", vec![topic.to_owned()])
        .properties(properties)
        .start(start)
        .metadata_timeout(timeout);
    let handler = Arc::clone(view);
    TailReader::start(spec, handler, token)
        .await
        .map_err(|source| MemoryError::StartReader {
            topic: topic.to_owned(),
            source: Box::new(source),
        })
}

impl KafkaMemory {
    /// A builder for an instance of session `session_id` with `config` (`kafka`, `memory`,
    /// `streaming`, `serialization` and `service.auto_create_topics` are used).
    pub fn builder(config: Config, session_id: impl Into<String>) -> KafkaMemoryBuilder {
        KafkaMemoryBuilder {
            config,
            session_id: session_id.into(),
            instance_id: None,
            name: None,
            create_mode: CreateMode::Admin,
            producer: None,
            startup_timeout: None,
            apply_timeout: None,
            token: None,
        }
    }

    /// The session id.
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.inner.session_id
    }

    /// This instance's id (the `sender` of its events).
    #[must_use]
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// The session's topic, `<memory_topic>_<session_id>`.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// A copy of every entry, oldest first (what [`Memory::query`] returns).
    #[must_use]
    pub fn contents(&self) -> Vec<MemoryContent> {
        self.inner.view.contents()
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.view.len()
    }

    /// Whether there is no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records of the topic that did not decode and were skipped (each is logged).
    #[must_use]
    pub fn skipped_records(&self) -> u64 {
        self.inner.view.skipped()
    }

    /// Whether [`close`](Self::close) was called (or the cancellation token fired).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Shares `content` with the session: writes it to the topic and returns once the broker
    /// acknowledged it and this instance applied it.
    ///
    /// # Errors
    ///
    /// [`MemoryError::InvalidContent`] or [`MemoryError::UnsupportedMimeType`] when the content
    /// cannot be shared (nothing was written), [`MemoryError::Encode`], [`MemoryError::Add`] when
    /// the broker did not acknowledge it (nothing was added), [`MemoryError::ApplyTimeout`] when
    /// it was written but not applied here in time (it will be), [`MemoryError::Closed`].
    pub async fn add(&self, content: MemoryContent) -> Result<()> {
        self.ensure_open()?;
        let inner = &self.inner;
        let event = content.to_event(&inner.instance_id)?;
        let value = inner
            .codecs
            .encode(&inner.topic, &event)
            .map_err(|source| MemoryError::Encode {
                topic: inner.topic.clone(),
                source: Box::new(source),
            })?;
        let record = OutboundRecord::new(inner.topic.clone(), value)
            .with_key(keys::memory_key(&inner.session_id));
        let delivered = inner
            .producer
            .send(record)
            .await
            .map_err(|source| MemoryError::Add {
                topic: inner.topic.clone(),
                source: Box::new(source),
            })?;
        self.wait_applied(delivered).await
    }

    /// Clears the session's memory on every instance: writes a tombstone and returns once the broker
    /// acknowledged it and this instance applied it.
    ///
    /// The tombstone's key is empty: the Python original's reader ignores tombstones whose key
    /// starts with its session id, and the entries' key is the session id. It goes to the partition
    /// the session's entries were last seen in (partition 0 before any), so it is ordered after them.
    ///
    /// # Errors
    ///
    /// [`MemoryError::Clear`] when the broker did not acknowledge it (nothing was cleared),
    /// [`MemoryError::ApplyTimeout`] when it was written but not applied here in time (it will
    /// be), [`MemoryError::Closed`].
    pub async fn clear(&self) -> Result<()> {
        self.ensure_open()?;
        let inner = &self.inner;
        let record = OutboundRecord::tombstone(inner.topic.clone(), Vec::new())
            .with_partition(inner.view.session_partition().unwrap_or(0));
        let delivered = inner
            .producer
            .send(record)
            .await
            .map_err(|source| MemoryError::Clear {
                topic: inner.topic.clone(),
                source: Box::new(source),
            })?;
        self.wait_applied(delivered).await
    }

    /// Stops reading the topic. The local entries stay readable; additions and clears fail with
    /// [`MemoryError::Closed`]. Every clone shares the closed state. Calling it again does nothing.
    ///
    /// # Errors
    ///
    /// None today: the `Result` is the [`Memory`] contract's.
    pub async fn close(&self) -> Result<()> {
        self.inner.token.cancel();
        let tail = self
            .inner
            .tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tail) = tail {
            tail.shutdown().await;
            tracing::info!(topic = %self.inner.topic, "memory closed");
        }
        Ok(())
    }

    fn ensure_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(self.closed());
        }
        Ok(())
    }

    fn closed(&self) -> MemoryError {
        MemoryError::Closed {
            session_id: self.inner.session_id.clone(),
        }
    }

    /// Waits until the reader applied the record at `at` (its position passed the offset).
    async fn wait_applied(&self, at: Delivered) -> Result<()> {
        let inner = &self.inner;
        let target = TopicPartition {
            topic: inner.topic.clone(),
            partition: at.partition,
        };
        let mut positions = inner.positions.clone();
        let applied = async {
            positions
                .wait_for(|positions| positions.get(&target).is_some_and(|next| *next > at.offset))
                .await
                .is_ok()
        };
        let waited = tokio::select! {
            biased;
            () = inner.token.cancelled() => return Err(self.closed()),
            waited = tokio::time::timeout(inner.apply_timeout, applied) => waited,
        };
        match waited {
            Ok(true) => Ok(()),
            // The reader stopped.
            Ok(false) => Err(self.closed()),
            Err(_) => Err(MemoryError::ApplyTimeout {
                topic: inner.topic.clone(),
                partition: at.partition,
                offset: at.offset,
                after: inner.apply_timeout,
            }),
        }
    }
}

impl Memory for KafkaMemory {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn add(&self, content: MemoryContent) -> BoxFuture<'_, Result<()>> {
        Box::pin(Self::add(self, content))
    }

    fn query<'a>(&'a self, query: &'a str) -> BoxFuture<'a, Result<Vec<MemoryContent>>> {
        let _ = query;
        Box::pin(async move { Ok(self.contents()) })
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(Self::clear(self))
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(Self::close(self))
    }
}

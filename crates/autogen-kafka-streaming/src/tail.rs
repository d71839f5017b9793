//! A group-less reader of whole topics: compacted "table" topics (agent registry, subscriptions, agent state) and a
//! runtime's own reply topic.
//!
//! A [`TailReader`] joins no consumer group and commits nothing. At start it reads the topics' metadata, assigns
//! itself every partition and starts a dedicated thread that owns the librdkafka consumer and hands each record to
//! a [`TailHandler`], in offset order per partition. It keeps the *position* of every partition (the offset after
//! the last record delivered) in a `watch` channel, which [`TailReader::catch_up`] waits on: "read your writes" for
//! records acknowledged before the call.

pub(crate) mod gaps;
pub(crate) mod reader;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::consumer::TopicPartition;
use crate::error::{Result, StreamingError};
use crate::record::InboundRecord;

use self::reader::{Bound, TailClient};

/// Where a [`TailReader`] starts reading each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TailStart {
    /// From the first record still in the log (a table's bootstrap).
    #[default]
    Beginning,
    /// From the high watermark read while [`TailReader::start`] runs: every record acknowledged after `start`
    /// returned is delivered, records below that watermark are skipped (a reply topic).
    End,
}

/// How a [`TailReader`] runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TailSpec {
    /// A name for logs and the thread name (for example `registry`).
    pub name: String,
    /// Topics to read; every partition of each is assigned. They must exist when the reader starts.
    pub topics: Vec<String>,
    /// librdkafka properties (bootstrap servers, security, tuning). `group.id` and `group.instance.id` are ignored:
    /// the reader joins no group and commits nothing (librdkafka's `assign` wants a `group.id`, so the reader
    /// sets a private one that is never joined).
    pub properties: BTreeMap<String, String>,
    /// Where reading starts (every topic not named in `topic_starts`).
    pub start: TailStart,
    /// Per-topic exceptions to `start` (one reader can bootstrap tables from the beginning and follow a reply
    /// topic from its end).
    pub topic_starts: BTreeMap<String, TailStart>,
    /// How long one poll of the client waits.
    pub poll_timeout: Duration,
    /// How long [`TailReader::start`] waits for the topics to appear in the metadata.
    pub metadata_timeout: Duration,
    /// Topics whose partitions must have contiguous offsets (see [`TailSpec::check_gaps`]).
    pub gap_checked: BTreeSet<String>,
    /// Topics of which only some partitions are read (see [`TailSpec::only_partitions`]).
    pub partition_subsets: BTreeMap<String, BTreeSet<i32>>,
}

impl TailSpec {
    /// A spec with defaults: from the beginning, polls of 50 ms, a metadata timeout of 30 s.
    #[must_use]
    pub fn new(name: impl Into<String>, topics: Vec<String>) -> Self {
        Self {
            name: name.into(),
            topics,
            properties: BTreeMap::new(),
            start: TailStart::Beginning,
            topic_starts: BTreeMap::new(),
            poll_timeout: Duration::from_millis(50),
            metadata_timeout: Duration::from_secs(30),
            gap_checked: BTreeSet::new(),
            partition_subsets: BTreeMap::new(),
        }
    }

    /// Sets the librdkafka properties.
    #[must_use]
    pub fn properties(mut self, properties: BTreeMap<String, String>) -> Self {
        self.properties = properties;
        self
    }

    /// Sets one librdkafka property.
    #[must_use]
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Sets where reading starts.
    #[must_use]
    pub const fn start(mut self, start: TailStart) -> Self {
        self.start = start;
        self
    }

    /// Sets where reading of one topic starts, overriding [`TailSpec::start`] for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_streaming::{TailSpec, TailStart};
    ///
    /// let spec = TailSpec::new("fleet", vec!["agent_registry".into(), "runtime_responses".into()])
    ///     .topic_start("runtime_responses", TailStart::End);
    /// assert_eq!(spec.start_of("agent_registry"), TailStart::Beginning);
    /// assert_eq!(spec.start_of("runtime_responses"), TailStart::End);
    /// ```
    #[must_use]
    pub fn topic_start(mut self, topic: impl Into<String>, start: TailStart) -> Self {
        self.topic_starts.insert(topic.into(), start);
        self
    }

    /// Where reading of `topic` starts.
    #[must_use]
    pub fn start_of(&self, topic: &str) -> TailStart {
        self.topic_starts.get(topic).copied().unwrap_or(self.start)
    }

    /// Sets how long one poll of the client waits (at least 1 ms).
    #[must_use]
    pub fn poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Sets how long the start waits for the topics to appear in the metadata.
    #[must_use]
    pub const fn metadata_timeout(mut self, timeout: Duration) -> Self {
        self.metadata_timeout = timeout;
        self
    }

    /// Reads only `partitions` of `topic` (every partition by default); ids the topic does not have are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_streaming::TailSpec;
    ///
    /// let spec = TailSpec::new("state-load", vec!["agent_state".into()]).only_partitions("agent_state", [0, 2]);
    /// assert!(spec.reads("agent_state", 2));
    /// assert!(!spec.reads("agent_state", 1));
    /// ```
    #[must_use]
    pub fn only_partitions(
        mut self,
        topic: impl Into<String>,
        partitions: impl IntoIterator<Item = i32>,
    ) -> Self {
        self.partition_subsets
            .insert(topic.into(), partitions.into_iter().collect());
        self
    }

    /// Whether the reader reads `partition` of `topic` (when the topic has it).
    #[must_use]
    pub fn reads(&self, topic: &str, partition: i32) -> bool {
        self.partition_subsets
            .get(topic)
            .is_none_or(|subset| subset.contains(&partition))
    }

    /// Declares that `topic` is neither compacted nor written in transactions, so the offsets of each partition
    /// are contiguous: when the broker serves a record past the next expected offset, the reader seeks back to
    /// the offsets it skipped (after a few milliseconds, up to five times) and delivers what it finds there, each
    /// record once. Kafka never skips; this covers brokers that can serve concurrent producers' batches out of
    /// order (Tansu 0.6 with memory storage). Do not use it for compacted topics, where gaps are normal.
    ///
    /// # Examples
    ///
    /// ```
    /// use autogen_kafka_streaming::{TailSpec, TailStart};
    ///
    /// let spec = TailSpec::new("replies", vec!["responses.runtime-1".into()])
    ///     .start(TailStart::End)
    ///     .check_gaps("responses.runtime-1");
    /// assert!(spec.gap_checked.contains("responses.runtime-1"));
    /// ```
    #[must_use]
    pub fn check_gaps(mut self, topic: impl Into<String>) -> Self {
        self.gap_checked.insert(topic.into());
        self
    }
}

/// What a [`TailReader`] calls for each record.
///
/// The call is synchronous and runs on the reader's thread, one record at a time, in offset order per partition:
/// keep it cheap (update an in-memory map, send on a channel with `try_send`). A record counts as delivered when
/// the call returns, which is what [`TailReader::catch_up`] waits for. A panic is logged and the record counts as
/// delivered. Tombstones arrive as records with `value: None`.
///
/// The trait is object-safe (readers keep it as `Arc<dyn TailHandler>`); closures `Fn(InboundRecord)` implement it.
pub trait TailHandler: Send + Sync + 'static {
    /// Handles one record.
    fn on_record(&self, record: InboundRecord);
}

impl<F> TailHandler for F
where
    F: Fn(InboundRecord) + Send + Sync + 'static,
{
    fn on_record(&self, record: InboundRecord) {
        self(record);
    }
}

/// A running group-less reader of whole topics. Stop it with [`TailReader::shutdown`].
///
/// # Examples
///
/// ```no_run
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use autogen_kafka_streaming::{InboundRecord, TailReader, TailSpec};
/// use tokio_util::sync::CancellationToken;
///
/// # async fn demo() -> Result<(), autogen_kafka_streaming::StreamingError> {
/// // A compacted topic as a table: the latest value per key, tombstones delete.
/// let table: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>> = Arc::default();
/// let writer = Arc::clone(&table);
/// let handler = move |record: InboundRecord| {
///     let Some(key) = record.key else { return };
///     let mut table = writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
///     match record.value {
///         Some(value) => table.insert(key, value),
///         None => table.remove(&key),
///     };
/// };
/// let spec = TailSpec::new("registry", vec!["agent_registry".into()])
///     .property("bootstrap.servers", "127.0.0.1:9092");
/// let reader = TailReader::start(spec, Arc::new(handler), &CancellationToken::new()).await?;
/// // Everything acknowledged before this call is now in the table.
/// reader.catch_up(Duration::from_secs(30)).await?;
/// reader.shutdown().await;
/// # Ok(()) }
/// ```
pub struct TailReader {
    name: String,
    token: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The client, owned by the thread; watermark queries borrow it while the thread runs.
    client: Weak<TailClient>,
    partitions: Vec<TopicPartition>,
    positions: watch::Receiver<BTreeMap<TopicPartition, i64>>,
}

impl std::fmt::Debug for TailReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailReader")
            .field("name", &self.name)
            .field("partitions", &self.partitions)
            .field(
                "running",
                &self.thread.as_ref().is_some_and(|t| !t.is_finished()),
            )
            .finish_non_exhaustive()
    }
}

impl TailReader {
    /// Reads the topics' metadata, assigns every partition, resolves the start offsets and starts the thread.
    ///
    /// The topics must exist: a topic missing from the metadata is waited for, up to the spec's metadata timeout.
    /// With [`TailStart::End`] the high watermarks are read before this returns, so every record acknowledged
    /// afterwards is delivered.
    ///
    /// # Errors
    ///
    /// [`StreamingError::NotReady`] when a topic did not appear (or has no partitions) within the metadata timeout,
    /// [`StreamingError::Metadata`] when the metadata or the start offsets could not be read,
    /// [`StreamingError::CreateClient`] or [`StreamingError::Assign`] when librdkafka rejects the configuration or
    /// the assignment, [`StreamingError::SpawnThread`] when the thread cannot start, [`StreamingError::Shutdown`]
    /// when `token` is cancelled meanwhile.
    pub async fn start(
        spec: TailSpec,
        handler: Arc<dyn TailHandler>,
        token: &CancellationToken,
    ) -> Result<Self> {
        let token = token.child_token();
        let name = spec.name.clone();
        let gap_checked = spec.gap_checked.clone();
        let prepare_token = token.clone();
        let prepared = tokio::task::spawn_blocking(move || reader::prepare(&spec, &prepare_token))
            .await
            .map_err(|_| StreamingError::Shutdown)??;
        let partitions: Vec<TopicPartition> = prepared.positions.keys().cloned().collect();
        tracing::info!(tail = %name, partitions = ?partitions, "tail assigned");
        let (positions_tx, positions) = watch::channel(prepared.positions);
        let client = Arc::downgrade(&prepared.client);
        let tail = reader::Tail {
            name: name.clone(),
            client: prepared.client,
            handler,
            positions: positions_tx,
            token: token.clone(),
            poll_timeout: prepared.poll_timeout,
            gaps: gaps::Gaps::new(gap_checked),
        };
        let thread = std::thread::Builder::new()
            .name(format!("ak-tail-{name}"))
            .spawn(move || tail.run())
            .map_err(StreamingError::SpawnThread)?;
        Ok(Self {
            name,
            token,
            thread: Some(thread),
            client,
            partitions,
            positions,
        })
    }

    /// The partitions this reader reads.
    #[must_use]
    pub fn partitions(&self) -> &[TopicPartition] {
        &self.partitions
    }

    /// The position of every partition: the offset after the last record delivered (or passed over), or where
    /// reading started when nothing was delivered yet.
    #[must_use]
    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        self.positions.borrow().clone()
    }

    /// A receiver that changes whenever positions advance.
    #[must_use]
    pub fn position_changes(&self) -> watch::Receiver<BTreeMap<TopicPartition, i64>> {
        self.positions.clone()
    }

    /// Waits until every record below the current high watermarks was delivered.
    ///
    /// Reads the high (and, for partitions still behind, the low) watermarks of every partition, then waits until
    /// each partition's position reached its high watermark. Partitions with no record below it (empty, or emptied
    /// by retention) are caught up at once. A record acknowledged before this call is delivered before it returns.
    /// `timeout` bounds the whole call.
    ///
    /// # Errors
    ///
    /// [`StreamingError::NotReady`] (naming a partition still behind) when `timeout` passes,
    /// [`StreamingError::Metadata`] when the watermarks could not be read in time, [`StreamingError::Shutdown`]
    /// when the reader stopped.
    pub async fn catch_up(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let targets = self.targets(timeout).await?;
        if targets.is_empty() {
            return Ok(());
        }
        let mut changes = self.positions.clone();
        let waited = tokio::select! {
            biased;
            () = self.token.cancelled() => return Err(StreamingError::Shutdown),
            waited = tokio::time::timeout_at(
                deadline,
                changes.wait_for(|positions| reader::lagging(&targets, positions).is_none()),
            ) => waited.map(|changed| changed.is_ok()),
        };
        match waited {
            Ok(true) => Ok(()),
            Ok(false) => Err(StreamingError::Shutdown),
            Err(_) => {
                let positions = self.positions.borrow();
                let behind = reader::lagging(&targets, &positions);
                let topic = behind.map_or_else(|| self.name.clone(), |tp| tp.topic.clone());
                tracing::warn!(tail = %self.name, partition = ?behind, "tail did not catch up in time");
                Err(StreamingError::NotReady {
                    topic,
                    after: timeout,
                })
            }
        }
    }

    /// The high watermark of every partition whose position is below it and that has records below it.
    async fn targets(&self, timeout: Duration) -> Result<BTreeMap<TopicPartition, i64>> {
        let deadline = std::time::Instant::now() + timeout;
        let client = self.client.clone();
        let partitions = self.partitions.clone();
        let positions = self.positions();
        let query = tokio::task::spawn_blocking(move || {
            let client = client.upgrade().ok_or(StreamingError::Shutdown)?;
            let highs = reader::query_offsets(&client, &partitions, Bound::Latest, deadline)?;
            let behind: Vec<TopicPartition> = highs
                .iter()
                .filter(|(tp, high)| positions.get(*tp).is_none_or(|p| p < *high))
                .map(|(tp, _)| tp.clone())
                .collect();
            if behind.is_empty() {
                return Ok(BTreeMap::new());
            }
            let lows = reader::query_offsets(&client, &behind, Bound::Earliest, deadline)?;
            Ok(highs
                .into_iter()
                .filter(|(tp, high)| lows.get(tp).is_some_and(|low| low < high))
                .collect())
        });
        tokio::select! {
            biased;
            () = self.token.cancelled() => Err(StreamingError::Shutdown),
            joined = query => joined.map_err(|_| StreamingError::Shutdown)?,
        }
    }

    /// Stops fetching every partition until [`TailReader::resume`]: an idle reader then sends the broker no
    /// requests at all. Records written meanwhile are delivered after the resume, none is skipped. While paused,
    /// [`TailReader::catch_up`] cannot progress.
    ///
    /// # Errors
    ///
    /// [`StreamingError::Shutdown`] when the reader stopped, [`StreamingError::Assign`] when librdkafka refuses.
    pub fn pause(&self) -> Result<()> {
        self.set_paused(true)
    }

    /// Fetches again after [`TailReader::pause`], from where delivery stopped (each partition is sought to its
    /// position, which also starts the next fetch at once; the call waits up to a second for that).
    ///
    /// # Errors
    ///
    /// As [`TailReader::pause`].
    pub fn resume(&self) -> Result<()> {
        self.set_paused(false)
    }

    fn set_paused(&self, paused: bool) -> Result<()> {
        let client = self.client.upgrade().ok_or(StreamingError::Shutdown)?;
        let mut list = rdkafka::TopicPartitionList::with_capacity(self.partitions.len());
        for tp in &self.partitions {
            list.add_partition(&tp.topic, tp.partition);
        }
        let outcome = if paused {
            rdkafka::consumer::Consumer::pause(client.as_ref(), &list)
        } else {
            rdkafka::consumer::Consumer::resume(client.as_ref(), &list).and_then(|()| {
                // A resume only clears a flag: the client's fetcher notices it at its next periodic wake-up
                // (about 0.5 s later). Seeking each partition to where delivery stopped wakes it at once.
                let positions = self.positions.borrow().clone();
                let mut seek = rdkafka::TopicPartitionList::with_capacity(positions.len());
                for (tp, next) in &positions {
                    seek.add_partition_offset(
                        &tp.topic,
                        tp.partition,
                        rdkafka::Offset::Offset(*next),
                    )?;
                }
                rdkafka::consumer::Consumer::seek_partitions(
                    client.as_ref(),
                    seek,
                    Duration::from_secs(1),
                )
                .map(|_| ())
            })
        };
        outcome.map_err(|source| StreamingError::Assign {
            topics: self.partitions.iter().map(|tp| tp.topic.clone()).collect(),
            source,
        })
    }

    /// Stops reading and joins the thread (records already delivered stay delivered).
    pub async fn shutdown(mut self) {
        self.token.cancel();
        if let Some(thread) = self.thread.take() {
            let name = self.name.clone();
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!(tail = %name, "tail thread ended abnormally");
            }
        }
    }
}

impl Drop for TailReader {
    /// Cancels the reader; the thread finishes on its own (it is not joined here, `Drop` never blocks).
    fn drop(&mut self) {
        self.token.cancel();
    }
}

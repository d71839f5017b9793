//! A consumer-group worker: at-least-once processing ordered per key, with bounded work in flight and a
//! dead-letter topic.
//!
//! One dedicated thread owns the librdkafka consumer and polls it. Each record goes to the task of its key
//! (`dispatch`): records with the same key are handled one after the other in offset order, records of different
//! keys run concurrently and never wait for each other. Work in flight is bounded per partition
//! ([`ConsumerSpec::max_in_flight_per_partition`]) and, optionally, across consumers ([`InFlightBudget`]): when
//! a bound is reached the worker *pauses* the partition and resumes it once records finish. The poll thread never
//! waits for a handler, so rebalance callbacks and `max.poll.interval.ms` are served while every handler is stuck.
//!
//! A record is *done* when its handler returned `Ok`, or when it failed and was written to the dead-letter topic
//! with the reason. Only then does its offset count as handled, and only the contiguous prefix of handled offsets
//! of a partition is committed ([`PartitionOffsets`](crate::PartitionOffsets)). When partitions are revoked the
//! worker lets their records finish (queued ones too) for half the drain timeout, gives up what is left, calls
//! [`RecordHandler::on_revoked`], then
//! commits, so the next owner starts where this one really stopped; the whole revoke takes at most the drain
//! timeout. Between revokes the poll thread commits what moved every [`ConsumerSpec::commit_interval`], without
//! waiting for the answer (rust-rdkafka does not report it, fede1024/rust-rdkafka#856), and every
//! [`ConsumerSpec::commit_refresh`] every partition's offset again, so a commit the broker refused is repaired
//! within that time even when nothing moves.

mod budget;
mod context;
mod dispatch;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::{Result, StreamingError};
use crate::producer::EventProducer;
use crate::record::InboundRecord;

pub use budget::InFlightBudget;

/// Header names written on dead-lettered records.
pub mod dead_letter_headers {
    /// Why the record was dead-lettered (a human-readable sentence).
    pub const REASON: &str = "ak_dlq_reason";
    /// A short machine-readable kind (for example `decode`, `unknown_type`, `handler`).
    pub const KIND: &str = "ak_dlq_kind";
    /// The topic the record was read from.
    pub const SOURCE_TOPIC: &str = "ak_dlq_source_topic";
    /// The partition the record was read from.
    pub const SOURCE_PARTITION: &str = "ak_dlq_source_partition";
    /// The record's offset there.
    pub const SOURCE_OFFSET: &str = "ak_dlq_source_offset";
    /// The consumer group that gave up on it.
    pub const GROUP: &str = "ak_dlq_group";
}

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

/// Why a record could not be handled; it goes to the dead-letter topic with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleFailure {
    /// A short machine-readable kind, written as the `ak_dlq_kind` header.
    pub kind: String,
    /// What went wrong, written as the `ak_dlq_reason` header.
    pub reason: String,
}

impl HandleFailure {
    /// A failure of `kind` with a reason.
    #[must_use]
    pub fn new(kind: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            reason: reason.into(),
        }
    }
}

/// The last step of a record [`RecordHandler::handle_then_acknowledge`] left: typically waiting for the broker to
/// acknowledge what the handler wrote. The record is done when it resolves; `Err` dead-letters it.
pub type Acknowledgement = BoxFuture<'static, Result<(), HandleFailure>>;

/// What a [`GroupConsumer`] calls for each record and on rebalances.
///
/// The trait is object-safe and returns boxed futures, since workers keep it as `Arc<dyn RecordHandler>`.
pub trait RecordHandler: Send + Sync + 'static {
    /// Handles one record. `Err` sends the record to the dead-letter topic with the failure's reason.
    fn handle(&self, record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>>;

    /// Handles one record in two steps: the future resolves once the record's own work is done, so the next
    /// record of its key may start, with what is left to wait for before the record counts as done (and its
    /// offset may be committed), such as the acknowledgement of an answer it wrote. The default runs
    /// [`handle`](Self::handle) and leaves nothing.
    fn handle_then_acknowledge(
        &self,
        record: InboundRecord,
    ) -> BoxFuture<'static, Result<Option<Acknowledgement>, HandleFailure>> {
        let handled = self.handle(record);
        Box::pin(async move { handled.await.map(|()| None) })
    }

    /// Called when partitions are taken away, after their in-flight records finished and before their offsets
    /// are committed: the place to save state that belongs to them. Resolves to the partitions whose state could
    /// not be saved: their offsets are not committed, so the next owner handles their records again instead of
    /// starting from stale state.
    fn on_revoked(
        &self,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'static, Vec<TopicPartition>> {
        let _ = partitions;
        Box::pin(async { Vec::new() })
    }

    /// Called when partitions are assigned, before their first record is handled.
    fn on_assigned(&self, partitions: Vec<TopicPartition>) -> BoxFuture<'static, ()> {
        let _ = partitions;
        Box::pin(async {})
    }
}

/// How a [`GroupConsumer`] runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerSpec {
    /// A name for logs and thread names (for example `requests:echo`).
    pub name: String,
    /// The consumer group.
    pub group_id: String,
    /// Topics to subscribe to.
    pub topics: Vec<String>,
    /// librdkafka properties (bootstrap servers, security, tuning). Offsets are always committed by the worker.
    pub properties: BTreeMap<String, String>,
    /// Records of one partition in flight (read and not done: running, queued behind their key, or waiting for
    /// an acknowledgement) before the partition is paused; it resumes below three quarters of it. 1 handles a
    /// partition strictly in offset order.
    pub max_in_flight_per_partition: usize,
    /// A bound on records in flight shared with other consumers; reaching it pauses every partition.
    pub budget: Option<InFlightBudget>,
    /// How often handled offsets are committed.
    pub commit_interval: Duration,
    /// How often every partition's offset is committed again, moved or not: a periodic commit's outcome is not
    /// reported, so one the broker refused is repaired by the next refresh.
    pub commit_refresh: Duration,
    /// How long a revoke or a shutdown may take: half of it waits for running records, the rest saves what
    /// belongs to the partitions ([`RecordHandler::on_revoked`]).
    pub drain_timeout: Duration,
    /// Where records that fail go; `None` retries nothing and commits nothing past a failure.
    pub dead_letter_topic: Option<String>,
    /// How long one poll of the client waits.
    pub poll_timeout: Duration,
    /// When set, only records whose key starts with these bytes go to the handler; the others are counted as
    /// done on the poll thread without being copied (a group that serves one agent type of a shared topic).
    pub key_prefix: Option<Vec<u8>>,
    /// When set, librdkafka reports statistics this often and the worker keeps each assigned partition's lag
    /// from them ([`ConsumerStats::lag`]).
    pub statistics_interval: Option<Duration>,
    /// Topics whose partitions must have contiguous offsets: a record after skipped offsets makes the worker seek
    /// back and handle what it finds there, each record once, and commit nothing past a gap being re-read (see
    /// [`TailSpec::check_gaps`](crate::TailSpec::check_gaps); only for topics neither compacted nor transactional).
    pub gap_checked: std::collections::BTreeSet<String>,
}

impl ConsumerSpec {
    /// A spec with defaults: 128 records in flight per partition, no shared budget, commit every 500 ms (every
    /// partition again every 5 s), drain for 10 s, no dead-letter topic.
    #[must_use]
    pub fn new(name: impl Into<String>, group_id: impl Into<String>, topics: Vec<String>) -> Self {
        Self {
            name: name.into(),
            group_id: group_id.into(),
            topics,
            properties: BTreeMap::new(),
            max_in_flight_per_partition: 128,
            budget: None,
            commit_interval: Duration::from_millis(500),
            commit_refresh: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(10),
            dead_letter_topic: None,
            poll_timeout: Duration::from_millis(50),
            key_prefix: None,
            statistics_interval: None,
            gap_checked: std::collections::BTreeSet::new(),
        }
    }

    /// Hands only records whose key starts with `prefix` to the handler; the rest are skipped cheaply.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// Checks that `topic`'s offsets are contiguous (see [`ConsumerSpec::gap_checked`]).
    #[must_use]
    pub fn check_gaps(mut self, topic: impl Into<String>) -> Self {
        self.gap_checked.insert(topic.into());
        self
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

    /// Sets how many records of one partition may be in flight before it is paused (at least 1).
    #[must_use]
    pub fn max_in_flight_per_partition(mut self, limit: usize) -> Self {
        self.max_in_flight_per_partition = limit.max(1);
        self
    }

    /// Shares a bound on records in flight with other consumers.
    #[must_use]
    pub fn budget(mut self, budget: InFlightBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Sets the commit interval.
    #[must_use]
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// Sets how often every partition's offset is committed again ([`ConsumerSpec::commit_refresh`]).
    #[must_use]
    pub fn commit_refresh(mut self, refresh: Duration) -> Self {
        self.commit_refresh = refresh;
        self
    }

    /// Sets how long revokes and shutdown wait for in-flight records.
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Sets the dead-letter topic.
    #[must_use]
    pub fn dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }

    /// Turns on librdkafka statistics every `interval`, from which the worker keeps the lag of each assigned
    /// partition ([`ConsumerStats::lag`]).
    #[must_use]
    pub const fn statistics_interval(mut self, interval: Duration) -> Self {
        self.statistics_interval = Some(interval);
        self
    }
}

/// Counters of one worker, readable at any time.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Records handled successfully.
    pub handled: std::sync::atomic::AtomicU64,
    /// Records skipped by the key-prefix filter.
    pub skipped: std::sync::atomic::AtomicU64,
    /// Records written to the dead-letter topic.
    pub dead_lettered: std::sync::atomic::AtomicU64,
    /// Offset commits made: a revoke's or a stop's that the broker accepted, a periodic one that the client took.
    pub commits: std::sync::atomic::AtomicU64,
    /// Offset commits known to have failed: a revoke's or a stop's commit the broker refused (for example while its
    /// group rebalances), or a periodic one the client rejected. The records they covered are read again by the
    /// partition's next owner: at-least-once.
    pub failed_commits: std::sync::atomic::AtomicU64,
    /// Assignments received.
    pub assigned: std::sync::atomic::AtomicU64,
    /// Revocations: orderly ones and lost assignments.
    pub revoked: std::sync::atomic::AtomicU64,
    /// Times a partition was paused because a bound on records in flight was reached.
    pub paused: std::sync::atomic::AtomicU64,
    /// The longest revoke so far (drain, [`RecordHandler::on_revoked`], commit), in milliseconds: at most the drain
    /// timeout plus the commit.
    pub longest_revoke_ms: std::sync::atomic::AtomicU64,
    /// Records written to the dead-letter topic, by failure kind ([`HandleFailure::kind`]).
    pub dead_lettered_by_kind: std::sync::Mutex<BTreeMap<String, u64>>,
    /// Records not yet consumed (high watermark − committed offset) of each assigned partition, as librdkafka's
    /// statistics last reported it; empty unless [`ConsumerSpec::statistics_interval`] is set.
    pub lag: std::sync::Mutex<BTreeMap<TopicPartition, i64>>,
}

impl ConsumerStats {
    /// Rebalances seen: assignments and revocations.
    #[must_use]
    pub fn rebalances(&self) -> u64 {
        self.assigned.load(std::sync::atomic::Ordering::Relaxed)
            + self.revoked.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A copy of [`ConsumerStats::dead_lettered_by_kind`].
    #[must_use]
    pub fn dead_letters_by_kind(&self) -> BTreeMap<String, u64> {
        self.dead_lettered_by_kind
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A copy of [`ConsumerStats::lag`].
    #[must_use]
    pub fn lags(&self) -> BTreeMap<TopicPartition, i64> {
        self.lag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A running consumer-group worker. Stop it with [`GroupConsumer::shutdown`].
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use autogen_kafka_streaming::{
///     ConsumerSpec, EventProducer, GroupConsumer, HandleFailure, InboundRecord, RecordHandler,
/// };
/// use futures::future::BoxFuture;
/// use tokio_util::sync::CancellationToken;
///
/// struct Print;
/// impl RecordHandler for Print {
///     fn handle(&self, record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>> {
///         Box::pin(async move {
///             match record.value {
///                 Some(_) => Ok(()),
///                 None => Err(HandleFailure::new("tombstone", "no value")),
///             }
///         })
///     }
/// }
///
/// # async fn demo(producer: EventProducer) -> Result<(), autogen_kafka_streaming::StreamingError> {
/// let spec = ConsumerSpec::new("demo", "demo-group", vec!["events".into()])
///     .property("bootstrap.servers", "127.0.0.1:9092")
///     .dead_letter_topic("events.dlq");
/// let worker = GroupConsumer::start(spec, Arc::new(Print), Some(producer), &CancellationToken::new())?;
/// worker.wait_assigned(Duration::from_secs(30)).await?;
/// worker.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GroupConsumer {
    name: String,
    topics: Vec<String>,
    token: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Resolves once the poll loop ended (offsets committed, group left), before the client is dropped.
    stopped: Option<tokio::sync::oneshot::Receiver<()>>,
    /// How long a stop may take: the drain timeout, then committing and leaving the group.
    stop_timeout: Duration,
    assignment: watch::Receiver<Vec<TopicPartition>>,
    stats: Arc<ConsumerStats>,
}

/// How long a stopped consumer's client may take to close before its thread is left behind (librdkafka can wait
/// without end for a broker that is gone).
const CLIENT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// What a stop may take beyond the drain timeout (the last commit, leaving the group, the record tasks' end).
const STOP_MARGIN: Duration = Duration::from_secs(30);

impl GroupConsumer {
    /// Creates the consumer, subscribes it and starts its poll thread.
    ///
    /// Must be called inside a tokio runtime (records are handled in tokio tasks). `dead_letters` is the producer used for the
    /// dead-letter topic; it is required when the spec names one.
    ///
    /// # Errors
    ///
    /// [`StreamingError::CreateClient`] or [`StreamingError::Subscribe`] when librdkafka rejects the configuration,
    /// [`StreamingError::SpawnThread`] when the poll thread cannot start.
    pub fn start(
        spec: ConsumerSpec,
        handler: Arc<dyn RecordHandler>,
        dead_letters: Option<EventProducer>,
        token: &CancellationToken,
    ) -> Result<Self> {
        let runtime = tokio::runtime::Handle::current();
        let stats = Arc::new(ConsumerStats::default());
        let (assignment_tx, assignment) = watch::channel(Vec::new());
        let token = token.child_token();
        let consumer = context::build(
            &spec,
            handler,
            dead_letters,
            token.clone(),
            runtime,
            Arc::clone(&stats),
            assignment_tx,
        )?;
        let name = spec.name;
        let (stopped_tx, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("ak-consumer-{name}"))
            .spawn(move || {
                context::poll_loop(&consumer);
                let _ = stopped_tx.send(());
                // Closing the client may still wait on the broker: `shutdown` waits for it only so long.
                drop(consumer);
            })
            .map_err(StreamingError::SpawnThread)?;
        Ok(Self {
            name,
            topics: spec.topics,
            token,
            thread: Some(thread),
            stopped: Some(stopped),
            stop_timeout: spec.drain_timeout.saturating_add(STOP_MARGIN),
            assignment,
            stats,
        })
    }

    /// The partitions assigned to this worker right now.
    #[must_use]
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.borrow().clone()
    }

    /// A receiver that changes whenever the assignment changes.
    #[must_use]
    pub fn assignment_changes(&self) -> watch::Receiver<Vec<TopicPartition>> {
        self.assignment.clone()
    }

    /// The worker's counters.
    #[must_use]
    pub fn stats(&self) -> &ConsumerStats {
        &self.stats
    }

    /// The worker's name (from its spec).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The topics the worker subscribed to.
    #[must_use]
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// Waits until the group gave this worker at least one partition.
    ///
    /// # Errors
    ///
    /// [`StreamingError::NotReady`] after `timeout`, [`StreamingError::Shutdown`] if the worker stopped.
    pub async fn wait_assigned(&self, timeout: Duration) -> Result<()> {
        let mut changes = self.assignment.clone();
        let topic = self.name.clone();
        match tokio::time::timeout(timeout, changes.wait_for(|a| !a.is_empty())).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(StreamingError::Shutdown),
            Err(_) => Err(StreamingError::NotReady {
                topic,
                after: timeout,
            }),
        }
    }

    /// Stops intake, lets the records read finish (up to the spec's drain timeout), gives up the rest (their tasks
    /// are cancelled, their offsets not committed), commits, leaves the group and joins the poll thread. Bounded:
    /// a poll loop that has not ended within the drain timeout plus 30 s, or a client that has not closed 10 s
    /// after it, is logged and left behind, so a broker that went away never holds up a stop.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        let Some(thread) = self.thread.take() else {
            return;
        };
        if let Some(stopped) = self.stopped.take()
            && tokio::time::timeout(self.stop_timeout, stopped)
                .await
                .is_err()
        {
            tracing::error!(consumer = %self.name, after = ?self.stop_timeout, "the consumer did not stop in time; its thread is left behind");
            return;
        }
        let closing = tokio::time::Instant::now();
        while !thread.is_finished() {
            if closing.elapsed() >= CLIENT_CLOSE_TIMEOUT {
                tracing::warn!(consumer = %self.name, after = ?CLIENT_CLOSE_TIMEOUT, "the consumer's client did not close in time; its thread is left behind");
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if thread.join().is_err() {
            tracing::error!(consumer = %self.name, "consumer thread ended abnormally");
        }
    }
}

impl Drop for GroupConsumer {
    /// Cancels the worker; the poll thread finishes on its own (it is not joined here, `Drop` never blocks).
    fn drop(&mut self) {
        self.token.cancel();
    }
}

//! The poll thread and the librdkafka context whose rebalance callbacks drain, save and commit.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::lane::{self, Completion, Job, LaneShared};
use super::{ConsumerSpec, ConsumerStats, RecordHandler, TopicPartition};
use crate::error::{Result, StreamingError};
use crate::offsets::PartitionOffsets;
use crate::producer::EventProducer;
use crate::record::InboundRecord;

/// State shared by the poll loop and the rebalance callbacks (both run on the poll thread).
/// Bounds each broker request made while pinning starts.
const PIN_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct WorkerContext {
    name: String,
    group: String,
    drain_timeout: Duration,
    commit_interval: Duration,
    poll_timeout: Duration,
    key_prefix: Option<Vec<u8>>,
    /// `auto.offset.reset=latest`: pin where a partition without a committed offset starts (see
    /// [`WorkerContext::pin_latest_starts`]).
    pin_latest: bool,
    handler: Arc<dyn RecordHandler>,
    runtime: tokio::runtime::Handle,
    token: CancellationToken,
    stats: Arc<ConsumerStats>,
    assignment_tx: watch::Sender<Vec<TopicPartition>>,
    lanes: Vec<mpsc::Sender<Job>>,
    completions: Mutex<mpsc::Receiver<Completion>>,
    offsets: Mutex<HashMap<TopicPartition, PartitionOffsets>>,
}

impl ClientContext for WorkerContext {
    /// Keeps the lag of every assigned partition from librdkafka's statistics (only delivered when the spec set
    /// a statistics interval). Partitions no longer assigned drop out; an unknown lag (`-1`) is left out.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let assigned = self.assignment_tx.borrow().clone();
        let mut lags = std::collections::BTreeMap::new();
        for tp in assigned {
            let lag = statistics
                .topics
                .get(&tp.topic)
                .and_then(|topic| topic.partitions.get(&tp.partition))
                .and_then(partition_lag);
            if let Some(lag) = lag {
                lags.insert(tp, lag);
            }
        }
        *lock(&self.stats.lag) = lags;
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            self.stats.revoked.fetch_add(1, Ordering::Relaxed);
            let revoked = to_partitions(list);
            tracing::info!(consumer = %self.name, partitions = ?revoked, "partitions revoked: draining");
            self.drain(&revoked);
            let hook = self.handler.on_revoked(revoked.clone());
            self.runtime.block_on(hook);
            if consumer.assignment_lost() {
                tracing::warn!(consumer = %self.name, "assignment lost: not committing (the next owner re-reads)");
            } else {
                self.commit(consumer, Some(&revoked), CommitMode::Sync);
            }
            let mut offsets = lock(&self.offsets);
            for partition in &revoked {
                offsets.remove(partition);
            }
            let remaining: Vec<TopicPartition> = offsets.keys().cloned().collect();
            drop(offsets);
            self.assignment_tx.send_replace(remaining);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                self.stats.assigned.fetch_add(1, Ordering::Relaxed);
                let assigned = to_partitions(list);
                tracing::info!(consumer = %self.name, partitions = ?assigned, "partitions assigned");
                if self.pin_latest {
                    self.pin_latest_starts(consumer, list);
                }
                let hook = self.handler.on_assigned(assigned.clone());
                self.runtime.block_on(hook);
                let mut offsets = lock(&self.offsets);
                for partition in assigned {
                    offsets.entry(partition).or_default();
                }
                let all: Vec<TopicPartition> = offsets.keys().cloned().collect();
                drop(offsets);
                self.assignment_tx.send_replace(all);
            }
            Rebalance::Error(error) => {
                tracing::error!(consumer = %self.name, error = %error, "rebalance error");
            }
            Rebalance::Revoke(_) => {}
        }
    }
}

/// A partition's lag from librdkafka's statistics: its `consumer_lag` (high watermark − committed offset); for a
/// partition with nothing committed yet, the records between the next offset to read (or the log start) and the
/// high watermark. `None` while the watermarks are unknown.
fn partition_lag(partition: &rdkafka::statistics::Partition) -> Option<i64> {
    if partition.consumer_lag >= 0 {
        return Some(partition.consumer_lag);
    }
    if partition.hi_offset < 0 {
        return None;
    }
    let from = partition.app_offset.max(partition.lo_offset).max(0);
    Some((partition.hi_offset - from).max(0))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_partitions(list: &TopicPartitionList) -> Vec<TopicPartition> {
    list.elements()
        .iter()
        .map(|e| TopicPartition {
            topic: e.topic().to_owned(),
            partition: e.partition(),
        })
        .collect()
}

impl WorkerContext {
    /// For a group that starts at the end of the log: commits, and seeks to, the end of every assigned partition
    /// that has no committed offset yet, before the assignment counts as done. Without it "the end" is resolved
    /// later and again by each owner: a record written after the consumer reported its assignment could fall
    /// before the offset librdkafka resolves, and a partition handed over before its first record was handled
    /// would make the next owner start past what was written meanwhile. Failures are logged; the partition then
    /// starts where librdkafka's own `latest` puts it.
    fn pin_latest_starts(&self, consumer: &BaseConsumer<Self>, assigned: &TopicPartitionList) {
        let committed = match consumer.committed_offsets(assigned.clone(), PIN_TIMEOUT) {
            Ok(committed) => committed,
            Err(error) => {
                tracing::warn!(consumer = %self.name, error = %error, "reading committed offsets failed; not pinning starts");
                return;
            }
        };
        let mut pins = TopicPartitionList::new();
        for element in committed.elements() {
            if matches!(element.offset(), Offset::Offset(_)) {
                continue;
            }
            match consumer.fetch_watermarks(element.topic(), element.partition(), PIN_TIMEOUT) {
                Ok((_, high)) => {
                    if let Err(error) = pins.add_partition_offset(
                        element.topic(),
                        element.partition(),
                        Offset::Offset(high),
                    ) {
                        tracing::warn!(consumer = %self.name, error = %error, "building the pin list failed");
                    }
                }
                Err(error) => tracing::warn!(
                    consumer = %self.name, topic = element.topic(), partition = element.partition(), error = %error,
                    "reading the end offset failed; the partition starts at librdkafka's latest"
                ),
            }
        }
        if pins.count() == 0 {
            return;
        }
        tracing::debug!(consumer = %self.name, pins = ?pins, "pinned the start of partitions without a committed offset");
        if let Err(error) = consumer.commit(&pins, CommitMode::Sync) {
            tracing::warn!(consumer = %self.name, error = %error, "committing the pinned starts failed");
        }
        if let Err(error) = consumer.seek_partitions(pins, PIN_TIMEOUT) {
            tracing::warn!(consumer = %self.name, error = %error, "seeking to the pinned starts failed");
        }
    }

    /// Applies every completion reported so far.
    fn collect_completions(&self) {
        let mut completions = lock(&self.completions);
        let mut offsets = lock(&self.offsets);
        while let Ok(c) = completions.try_recv() {
            let key = TopicPartition {
                topic: c.topic,
                partition: c.partition,
            };
            if let Some(partition) = offsets.get_mut(&key) {
                if c.done {
                    partition.finished(c.offset);
                } else {
                    partition.abandoned(c.offset);
                }
            }
        }
    }

    fn in_flight(&self, partitions: Option<&[TopicPartition]>) -> usize {
        let offsets = lock(&self.offsets);
        match partitions {
            Some(list) => list
                .iter()
                .filter_map(|p| offsets.get(p))
                .map(PartitionOffsets::in_flight)
                .sum(),
            None => offsets.values().map(PartitionOffsets::in_flight).sum(),
        }
    }

    /// Waits (up to the drain timeout) until the given partitions, or all, have nothing in flight.
    fn drain(&self, partitions: &[TopicPartition]) {
        let deadline = Instant::now() + self.drain_timeout;
        loop {
            self.collect_completions();
            let left = self.in_flight(Some(partitions));
            if left == 0 {
                return;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    consumer = %self.name,
                    in_flight = left,
                    "drain timeout: records still running are not committed and will be read again"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Commits the committable offsets of `partitions` (or of all partitions).
    fn commit(
        &self,
        consumer: &BaseConsumer<Self>,
        partitions: Option<&[TopicPartition]>,
        mode: CommitMode,
    ) {
        let mut list = TopicPartitionList::new();
        {
            let mut offsets = lock(&self.offsets);
            for (tp, state) in offsets.iter_mut() {
                if partitions.is_some_and(|only| !only.contains(tp)) {
                    continue;
                }
                let offset = match mode {
                    CommitMode::Sync => state.committable(),
                    CommitMode::Async => state.take_committable(),
                };
                if let Some(offset) = offset
                    && let Err(error) =
                        list.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(offset))
                {
                    tracing::error!(error = %error, "building the commit list failed");
                }
            }
        }
        if list.count() == 0 {
            return;
        }
        match consumer.commit(&list, mode) {
            Ok(()) => {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(source) => {
                let error = StreamingError::Commit {
                    group: self.group.clone(),
                    source,
                };
                tracing::warn!(consumer = %self.name, error = %error, "offset commit failed; it is retried");
            }
        }
    }

    fn lane_for(&self, record: &InboundRecord) -> usize {
        let mut hasher = DefaultHasher::new();
        record.topic.hash(&mut hasher);
        record.partition.hash(&mut hasher);
        record.key.hash(&mut hasher);
        let lanes = u64::try_from(self.lanes.len()).unwrap_or(1).max(1);
        usize::try_from(hasher.finish() % lanes).unwrap_or(0)
    }

    fn started(&self, record: &InboundRecord) {
        let key = TopicPartition {
            topic: record.topic.clone(),
            partition: record.partition,
        };
        lock(&self.offsets)
            .entry(key)
            .or_default()
            .started(record.offset);
    }

    /// Marks a record the key filter skipped as done at once.
    fn skipped(&self, topic: &str, partition: i32, offset: i64) {
        let key = TopicPartition {
            topic: topic.to_owned(),
            partition,
        };
        let mut offsets = lock(&self.offsets);
        let state = offsets.entry(key).or_default();
        state.started(offset);
        state.finished(offset);
        self.stats.skipped.fetch_add(1, Ordering::Relaxed);
    }

    fn abandon(&self, record: &InboundRecord) {
        let key = TopicPartition {
            topic: record.topic.clone(),
            partition: record.partition,
        };
        if let Some(state) = lock(&self.offsets).get_mut(&key) {
            state.abandoned(record.offset);
        }
    }
}

/// Creates the consumer with its context and starts the lanes.
pub(crate) fn build(
    spec: &ConsumerSpec,
    handler: Arc<dyn RecordHandler>,
    dead_letters: Option<EventProducer>,
    token: CancellationToken,
    runtime: tokio::runtime::Handle,
    stats: Arc<ConsumerStats>,
    assignment_tx: watch::Sender<Vec<TopicPartition>>,
) -> Result<BaseConsumer<WorkerContext>> {
    let lane_count = spec.lanes.max(1);
    let lane_capacity = spec.lane_capacity.max(1);
    // Every record in flight can report once without waiting: lanes never block on the poll thread.
    let (completions_tx, completions_rx) = mpsc::channel(lane_count * (lane_capacity + 2));
    let shared = Arc::new(LaneShared {
        name: spec.name.clone(),
        group: spec.group_id.clone(),
        handler: Arc::clone(&handler),
        dead_letter_topic: spec.dead_letter_topic.clone(),
        dead_letters,
        token: token.clone(),
        stats: Arc::clone(&stats),
        completions: completions_tx,
    });
    let mut lanes = Vec::with_capacity(lane_count);
    for index in 0..lane_count {
        let (tx, rx) = mpsc::channel(lane_capacity);
        let span = tracing::debug_span!("consumer.lane", consumer = %spec.name, lane = index);
        runtime.spawn(tracing::Instrument::instrument(
            lane::run(Arc::clone(&shared), rx),
            span,
        ));
        lanes.push(tx);
    }
    let context = WorkerContext {
        name: spec.name.clone(),
        group: spec.group_id.clone(),
        drain_timeout: spec.drain_timeout,
        commit_interval: spec.commit_interval,
        poll_timeout: spec.poll_timeout,
        key_prefix: spec.key_prefix.clone(),
        pin_latest: spec
            .properties
            .get("auto.offset.reset")
            .is_some_and(|reset| matches!(reset.as_str(), "latest" | "largest" | "end")),
        handler,
        runtime,
        token,
        stats,
        assignment_tx,
        lanes,
        completions: Mutex::new(completions_rx),
        offsets: Mutex::new(HashMap::new()),
    };
    let mut config = ClientConfig::new();
    for (key, value) in &spec.properties {
        config.set(key, value);
    }
    if let Some(interval) = spec.statistics_interval {
        config.set(
            "statistics.interval.ms",
            interval.as_millis().max(1).to_string(),
        );
    }
    config
        .set("group.id", &spec.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    let consumer: BaseConsumer<WorkerContext> =
        config
            .create_with_context(context)
            .map_err(|source| StreamingError::CreateClient {
                role: format!("consumer {}", spec.name),
                source,
            })?;
    let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|source| StreamingError::Subscribe {
            topics: spec.topics.clone(),
            source,
        })?;
    Ok(consumer)
}

/// The poll thread: reads records, hands them to lanes, commits, and on cancellation drains and leaves.
pub(crate) fn poll_loop(consumer: &BaseConsumer<WorkerContext>) {
    let ctx = consumer.context();
    let mut pending: Option<(usize, Job)> = None;
    let mut last_commit = Instant::now();
    loop {
        ctx.collect_completions();
        if last_commit.elapsed() >= ctx.commit_interval {
            ctx.commit(consumer, None, CommitMode::Async);
            last_commit = Instant::now();
        }
        if ctx.token.is_cancelled() {
            break;
        }
        if let Some((lane, job)) = pending.take() {
            match ctx.lanes[lane].try_send(job) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(job)) => {
                    pending = Some((lane, job));
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Err(mpsc::error::TrySendError::Closed(job)) => {
                    ctx.abandon(&job.record);
                    break;
                }
            }
        }
        match consumer.poll(ctx.poll_timeout) {
            None => {}
            Some(Err(error)) => {
                tracing::warn!(consumer = %ctx.name, error = %error, "consumer error; the client retries on its own");
            }
            Some(Ok(message)) => {
                if let Some(prefix) = &ctx.key_prefix
                    && !message.key().is_some_and(|key| key.starts_with(prefix))
                {
                    ctx.skipped(message.topic(), message.partition(), message.offset());
                    continue;
                }
                let record = InboundRecord::from_borrowed(&message);
                ctx.started(&record);
                let lane = ctx.lane_for(&record);
                pending = Some((lane, Job { record }));
            }
        }
    }
    if let Some((_, job)) = pending.take() {
        ctx.abandon(&job.record);
    }
    ctx.drain(&[]);
    let all: Vec<TopicPartition> = lock(&ctx.offsets).keys().cloned().collect();
    ctx.drain(&all);
    ctx.commit(consumer, None, CommitMode::Sync);
    tracing::info!(consumer = %ctx.name, "consumer stopped: offsets committed, leaving the group");
    consumer.unsubscribe();
}

//! The poll thread, flow control (pause/resume), and the librdkafka context whose rebalance callbacks drain,
//! save and commit.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::budget::resume_below;
use super::dispatch::{Dispatcher, lock};
use super::{ConsumerSpec, ConsumerStats, RecordHandler, TopicPartition};
use crate::error::{Result, StreamingError};
use crate::producer::EventProducer;
use crate::record::InboundRecord;

/// Bounds each broker request made while pinning starts, and each seek after a resume.
const PIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stop waits for the record tasks it cancelled to end.
const TASKS_AFTER_ABORT: Duration = Duration::from_secs(1);
/// How long one poll waits while a partition is paused, so it resumes soon after records finish.
const PAUSED_POLL: Duration = Duration::from_millis(2);
/// At most this many records are taken from the client between two checks of the bounds.
const POLL_BATCH: usize = 64;

/// State shared by the poll loop and the rebalance callbacks (both run on the poll thread).
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
    /// Records of one partition in flight before it is paused.
    window: usize,
    handler: Arc<dyn RecordHandler>,
    runtime: tokio::runtime::Handle,
    token: CancellationToken,
    stats: Arc<ConsumerStats>,
    assignment_tx: watch::Sender<Vec<TopicPartition>>,
    dispatcher: Arc<Dispatcher>,
    /// Offsets the broker skipped on gap-checked topics, being re-read (poll thread only).
    gaps: std::sync::Mutex<crate::tail::gaps::Gaps>,
    commit_refresh: Duration,
}

impl ClientContext for WorkerContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        crate::client_log::log(level, facility, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        crate::client_log::error(&error, reason);
    }

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
            let begun = Instant::now();
            // One budget for the whole revoke: half lets the records read finish (queued ones included, so the
            // committed prefix covers every record handled and the next owner handles none again), the rest saves
            // state. What is still queued then is given up.
            self.drain(Some(&revoked), begun + self.drain_timeout / 2);
            self.dispatcher.abandon_queued(Some(&revoked));
            let hook = self.handler.on_revoked(revoked.clone());
            let left = self.drain_timeout.saturating_sub(begun.elapsed());
            let unsaved = match self
                .runtime
                .block_on(async { tokio::time::timeout(left, hook).await })
            {
                Ok(unsaved) => unsaved,
                Err(_) => {
                    tracing::warn!(consumer = %self.name, after = ?self.drain_timeout, "revoke hook did not finish within the drain timeout");
                    revoked.clone()
                }
            };
            if consumer.assignment_lost() {
                tracing::warn!(consumer = %self.name, "assignment lost: not committing (the next owner re-reads)");
            } else {
                // Partitions whose state was not saved keep their last committed offsets: the next owner handles
                // the records since then again instead of starting from stale state.
                if !unsaved.is_empty() {
                    tracing::error!(consumer = %self.name, partitions = ?unsaved, "state not saved: not committing these partitions");
                }
                let saved: Vec<TopicPartition> = revoked
                    .iter()
                    .filter(|tp| !unsaved.contains(tp))
                    .cloned()
                    .collect();
                self.commit(consumer, Some(&saved));
            }
            {
                let mut gaps = lock(&self.gaps);
                for tp in &revoked {
                    gaps.forget(tp);
                }
            }
            let mut partitions = lock(&self.dispatcher.partitions);
            let mut paused = TopicPartitionList::new();
            for tp in &revoked {
                if partitions.remove(tp).is_some_and(|state| state.paused) {
                    paused.add_partition(&tp.topic, tp.partition);
                }
            }
            let remaining: Vec<TopicPartition> = partitions.keys().cloned().collect();
            drop(partitions);
            // A pause is ours, not the next assignment's.
            if paused.count() > 0
                && let Err(error) = consumer.resume(&paused)
            {
                tracing::debug!(consumer = %self.name, error = %error, "resuming revoked partitions failed");
            }
            let elapsed = begun.elapsed();
            self.stats.longest_revoke_ms.fetch_max(
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            tracing::info!(consumer = %self.name, elapsed = ?elapsed, "revoke done");
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
                for partition in assigned {
                    lock(&self.gaps).forget(&partition);
                    self.dispatcher.assign(partition);
                }
                let all: Vec<TopicPartition> =
                    lock(&self.dispatcher.partitions).keys().cloned().collect();
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

    /// Waits until `partitions` (or all) have nothing running, up to `deadline`.
    fn drain(&self, partitions: Option<&[TopicPartition]>, deadline: Instant) {
        loop {
            let left = self.dispatcher.in_flight(partitions);
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

    /// Pauses partitions that reached a bound and resumes those back under it; returns whether any stays
    /// paused. A resumed partition is sought to where reading stopped, which starts its next fetch at once (a
    /// bare resume waits for the fetcher's next periodic wake-up).
    fn regulate(&self, consumer: &BaseConsumer<Self>) -> bool {
        let budget = self.dispatcher.budget.as_ref();
        let spent = self.dispatcher.budget_spent();
        let room = budget.is_none_or(super::budget::InFlightBudget::has_room);
        let low = resume_below(self.window);
        // Called before every poll: the client's lists are only built when a partition changes state.
        let mut pause: Option<TopicPartitionList> = None;
        let mut resume: Option<TopicPartitionList> = None;
        let mut seek: Option<TopicPartitionList> = None;
        let mut any_paused = false;
        {
            let mut partitions = lock(&self.dispatcher.partitions);
            for (tp, state) in partitions.iter_mut() {
                let in_flight = state.offsets.in_flight();
                if !state.paused && (spent || in_flight >= self.window) {
                    state.paused = true;
                    pause
                        .get_or_insert_with(TopicPartitionList::new)
                        .add_partition(&tp.topic, tp.partition);
                } else if state.paused && room && in_flight < low {
                    state.paused = false;
                    resume
                        .get_or_insert_with(TopicPartitionList::new)
                        .add_partition(&tp.topic, tp.partition);
                    if let Some(next) = state.offsets.next_offset()
                        && let Err(error) = seek
                            .get_or_insert_with(TopicPartitionList::new)
                            .add_partition_offset(&tp.topic, tp.partition, Offset::Offset(next))
                    {
                        tracing::debug!(error = %error, "building the seek list failed");
                    }
                }
                any_paused |= state.paused;
            }
        }
        if let Some(pause) = pause {
            self.stats
                .paused
                .fetch_add(pause.count() as u64, Ordering::Relaxed);
            tracing::debug!(consumer = %self.name, partitions = ?pause, "bound reached: partitions paused");
            if let Err(error) = consumer.pause(&pause) {
                tracing::warn!(consumer = %self.name, error = %error, "pausing partitions failed");
            }
        }
        if let Some(resume) = resume {
            tracing::debug!(consumer = %self.name, partitions = ?resume, "partitions resumed");
            if let Err(error) = consumer.resume(&resume) {
                tracing::warn!(consumer = %self.name, error = %error, "resuming partitions failed");
            }
            if let Some(seek) = seek
                && let Err(error) = consumer.seek_partitions(seek, PIN_TIMEOUT)
            {
                tracing::warn!(consumer = %self.name, error = %error, "seeking resumed partitions failed");
            }
        }
        any_paused
    }

    /// Whether `message` is to be handled: always, unless its topic is gap-checked and a re-read after skipped
    /// offsets passed over it again (it was handled already).
    fn is_new(&self, message: &rdkafka::message::BorrowedMessage<'_>) -> bool {
        let mut gaps = lock(&self.gaps);
        if !gaps.is_active() {
            return true;
        }
        let tp = TopicPartition {
            topic: message.topic().to_owned(),
            partition: message.partition(),
        };
        gaps.on_record(&tp, message.offset(), Instant::now()) == crate::tail::gaps::Verdict::Deliver
    }

    /// Seeks back to offsets the broker skipped on gap-checked topics once their pause is over.
    fn reread_gaps(&self, consumer: &BaseConsumer<Self>) {
        let due = {
            let mut gaps = lock(&self.gaps);
            if !gaps.is_active() {
                return;
            }
            gaps.due(Instant::now())
        };
        for (tp, offset) in due {
            if let Err(error) =
                consumer.seek(&tp.topic, tp.partition, Offset::Offset(offset), PIN_TIMEOUT)
            {
                tracing::warn!(consumer = %self.name, topic = %tp.topic, partition = tp.partition, offset, error = %error, "seeking back to skipped offsets failed");
            }
        }
    }

    /// Makes the next periodic commit send the offsets of `list`'s partitions again (their commit failed).
    fn report_again(&self, list: &TopicPartitionList) {
        let mut states = lock(&self.dispatcher.partitions);
        for tp in to_partitions(list) {
            if let Some(state) = states.get_mut(&tp) {
                state.offsets.report_again();
            }
        }
    }

    /// The commit list: the committable offset of each of `partitions` (or of every partition), never past an
    /// offset the broker skipped that is still being re-read. `report` marks the offsets as reported (a periodic
    /// commit sends each offset once; [`Self::report_again`] undoes it when that commit fails).
    fn commit_list(
        &self,
        partitions: Option<&[TopicPartition]>,
        report: bool,
    ) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        let mut states = lock(&self.dispatcher.partitions);
        for (tp, state) in states.iter_mut() {
            if partitions.is_some_and(|only| !only.contains(tp)) {
                continue;
            }
            let offset = if report {
                state.offsets.take_committable()
            } else {
                state.offsets.committable()
            };
            let offset = match (offset, lock(&self.gaps).first_missing(tp)) {
                (Some(offset), Some(missing)) => Some(offset.min(missing)),
                (offset, _) => offset,
            };
            if let Some(offset) = offset
                && let Err(error) =
                    list.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(offset))
            {
                tracing::error!(error = %error, "building the commit list failed");
            }
        }
        list
    }

    /// Commits the committable offsets of `partitions` (or of all partitions) and waits for the broker's answer,
    /// on the calling thread (a revoke, a stop).
    fn commit(&self, consumer: &BaseConsumer<Self>, partitions: Option<&[TopicPartition]>) {
        let list = self.commit_list(partitions, false);
        if list.count() > 0 {
            self.committed(consumer.commit(&list, CommitMode::Sync), &list);
        }
    }

    /// Commits, without waiting for the answer, the offsets that moved since the last periodic commit.
    fn commit_in_background(&self, consumer: &BaseConsumer<Self>) {
        let list = self.commit_list(None, true);
        if list.count() > 0 {
            self.committed(consumer.commit(&list, CommitMode::Async), &list);
        }
    }

    /// Makes the next periodic commit send every partition's offset, moved or not.
    fn refresh_commits(&self) {
        for state in lock(&self.dispatcher.partitions).values_mut() {
            state.offsets.report_again();
        }
    }

    /// Counts a commit's known outcome (a periodic commit's is only whether the client took it). A failed commit
    /// leaves the broker's offsets where they were: its offsets are sent again with the next commit.
    fn committed(&self, outcome: rdkafka::error::KafkaResult<()>, list: &TopicPartitionList) {
        match outcome {
            Ok(()) => {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(source) => {
                self.stats.failed_commits.fetch_add(1, Ordering::Relaxed);
                self.report_again(list);
                let error = StreamingError::Commit {
                    group: self.group.clone(),
                    source,
                };
                tracing::warn!(consumer = %self.name, error = %error, "offset commit failed; it is sent again with the next commit");
            }
        }
    }
}

/// Creates the consumer with its context.
pub(crate) fn build(
    spec: &ConsumerSpec,
    handler: Arc<dyn RecordHandler>,
    dead_letters: Option<EventProducer>,
    token: CancellationToken,
    runtime: tokio::runtime::Handle,
    stats: Arc<ConsumerStats>,
    assignment_tx: watch::Sender<Vec<TopicPartition>>,
) -> Result<BaseConsumer<WorkerContext>> {
    let dispatcher = Arc::new(Dispatcher::new(
        spec.name.clone(),
        spec.group_id.clone(),
        Arc::clone(&handler),
        spec.dead_letter_topic.clone(),
        dead_letters,
        token.clone(),
        Arc::clone(&stats),
        runtime.clone(),
        spec.budget.clone(),
    ));
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
        window: spec.max_in_flight_per_partition.max(1),
        handler,
        runtime,
        token,
        stats,
        assignment_tx,
        dispatcher,
        gaps: std::sync::Mutex::new(crate::tail::gaps::Gaps::new(spec.gap_checked.clone())),
        commit_refresh: spec.commit_refresh,
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

/// The poll thread: reads records, hands them to their keys' tasks, pauses and resumes partitions, commits, and on
/// cancellation gives up queued records, drains the running ones and leaves.
pub(crate) fn poll_loop(consumer: &BaseConsumer<WorkerContext>) {
    let ctx = consumer.context();
    let mut last_commit = Instant::now();
    let mut last_refresh = Instant::now();
    loop {
        if last_commit.elapsed() >= ctx.commit_interval {
            if last_refresh.elapsed() >= ctx.commit_refresh {
                ctx.refresh_commits();
                last_refresh = Instant::now();
            }
            ctx.commit_in_background(consumer);
            last_commit = Instant::now();
        }
        if ctx.token.is_cancelled() {
            break;
        }
        ctx.reread_gaps(consumer);
        let mut wait = if ctx.regulate(consumer) {
            PAUSED_POLL.min(ctx.poll_timeout)
        } else {
            ctx.poll_timeout
        };
        // The records the client holds already are handed out back to back (each before the next poll, which may
        // run a rebalance) until a bound is reached; then the partitions are paused and the commit timer checked.
        for _ in 0..POLL_BATCH {
            match consumer.poll(wait) {
                None => break,
                Some(Err(error)) => {
                    tracing::warn!(consumer = %ctx.name, error = %error, "consumer error; the client retries on its own");
                    break;
                }
                Some(Ok(message)) => {
                    wait = Duration::ZERO;
                    if !ctx.is_new(&message) {
                        continue;
                    }
                    if let Some(prefix) = &ctx.key_prefix
                        && !message.key().is_some_and(|key| key.starts_with(prefix))
                    {
                        ctx.dispatcher.skipped(
                            message.topic(),
                            message.partition(),
                            message.offset(),
                        );
                        continue;
                    }
                    let in_flight = ctx
                        .dispatcher
                        .dispatch(InboundRecord::from_borrowed(&message));
                    if in_flight >= ctx.window || ctx.dispatcher.budget_spent() {
                        // A bound is reached: pause before reading on.
                        break;
                    }
                }
            }
        }
    }
    ctx.drain(None, Instant::now() + ctx.drain_timeout);
    ctx.dispatcher.abandon_queued(None);
    ctx.commit(consumer, None);
    // Records still running past the drain are given up (not committed above); their tasks end here.
    ctx.dispatcher.abort.cancel();
    ctx.dispatcher.tasks.close();
    if ctx
        .runtime
        .block_on(async {
            tokio::time::timeout(TASKS_AFTER_ABORT, ctx.dispatcher.tasks.wait()).await
        })
        .is_err()
    {
        tracing::warn!(consumer = %ctx.name, tasks = ctx.dispatcher.tasks.len(), "record tasks still running after the stop");
    }
    tracing::info!(consumer = %ctx.name, "consumer stopped: offsets committed, leaving the group");
    consumer.unsubscribe();
}

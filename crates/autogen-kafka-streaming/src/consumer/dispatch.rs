//! Dispatch by key: records of one key run one after the other in offset order, each key in a task of its own;
//! records of different keys never wait for each other.
//!
//! The poll thread hands every record to [`Dispatcher::dispatch`]. A key with no task running gets a new task;
//! a key whose task is still busy queues the record behind it, and that task takes it next. So a record waits only
//! for the earlier records of its own key (for the runtime: its own agent id), never for a hash neighbour.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::budget::InFlightBudget;
use super::{
    Acknowledgement, ConsumerStats, HandleFailure, RecordHandler, TopicPartition,
    dead_letter_headers,
};
use crate::backoff::Backoff;
use crate::offsets::PartitionOffsets;
use crate::producer::EventProducer;
use crate::record::{InboundRecord, OutboundRecord};

/// What orders records: topic, partition and key (records without a key share one order per partition).
type RecordKey = (String, i32, Option<Vec<u8>>);

/// One record on its way to the handler, with the assignment it was read under.
#[derive(Debug)]
struct Job {
    record: InboundRecord,
    generation: u64,
}

/// Where a record stands once its handler returned.
enum Step {
    /// Done (`true`: handled or dead-lettered; `false`: given up).
    Done(bool),
    /// Its own work is done; it is done once this resolves.
    Acknowledging(Acknowledgement),
}

/// One assigned partition: its offsets and flow state.
#[derive(Debug)]
pub(crate) struct PartitionState {
    pub(crate) offsets: PartitionOffsets,
    /// Which assignment this is: reports of records read under an earlier one are ignored.
    pub(crate) generation: u64,
    /// Paused by the worker because a bound was reached.
    pub(crate) paused: bool,
}

/// What the poll thread and the record tasks share.
pub(crate) struct Dispatcher {
    pub(crate) name: String,
    pub(crate) group: String,
    pub(crate) handler: Arc<dyn RecordHandler>,
    pub(crate) dead_letter_topic: Option<String>,
    pub(crate) dead_letters: Option<EventProducer>,
    pub(crate) token: CancellationToken,
    pub(crate) stats: Arc<ConsumerStats>,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) budget: Option<InFlightBudget>,
    /// Keys whose task runs, with the records queued behind it.
    queues: Mutex<HashMap<RecordKey, VecDeque<Job>>>,
    /// Every key task and acknowledgement task: a stop waits for them.
    pub(crate) tasks: TaskTracker,
    /// Cancels the records still running once a stop's drain timeout passed: they are given up, not committed.
    pub(crate) abort: CancellationToken,
    /// Every assigned partition.
    pub(crate) partitions: Mutex<HashMap<TopicPartition, PartitionState>>,
    generations: AtomicU64,
}

impl Dispatcher {
    #[expect(
        clippy::too_many_arguments,
        reason = "built once, from the spec's parts"
    )]
    pub(crate) fn new(
        name: String,
        group: String,
        handler: Arc<dyn RecordHandler>,
        dead_letter_topic: Option<String>,
        dead_letters: Option<EventProducer>,
        token: CancellationToken,
        stats: Arc<ConsumerStats>,
        runtime: tokio::runtime::Handle,
        budget: Option<InFlightBudget>,
    ) -> Self {
        Self {
            name,
            group,
            handler,
            dead_letter_topic,
            dead_letters,
            token,
            stats,
            runtime,
            budget,
            queues: Mutex::new(HashMap::new()),
            tasks: TaskTracker::new(),
            abort: CancellationToken::new(),
            partitions: Mutex::new(HashMap::new()),
            generations: AtomicU64::new(0),
        }
    }

    /// Starts tracking a newly assigned partition (a partition still tracked keeps its state).
    pub(crate) fn assign(&self, partition: TopicPartition) {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        lock(&self.partitions)
            .entry(partition)
            .or_insert_with(|| PartitionState {
                offsets: PartitionOffsets::default(),
                generation,
                paused: false,
            });
    }

    /// Hands one record to its key's task, starting one when the key has none; returns the records now in flight
    /// in its partition.
    pub(crate) fn dispatch(self: &Arc<Self>, record: InboundRecord) -> usize {
        let (generation, in_flight) = {
            let mut partitions = lock(&self.partitions);
            let tp = TopicPartition {
                topic: record.topic.clone(),
                partition: record.partition,
            };
            let state = partitions.entry(tp).or_insert_with(|| PartitionState {
                offsets: PartitionOffsets::default(),
                generation: self.generations.fetch_add(1, Ordering::Relaxed),
                paused: false,
            });
            state.offsets.started(record.offset);
            (state.generation, state.offsets.in_flight())
        };
        if let Some(budget) = &self.budget {
            budget.take();
        }
        let key = (record.topic.clone(), record.partition, record.key.clone());
        let job = Job { record, generation };
        let mut queues = lock(&self.queues);
        match queues.entry(key) {
            Entry::Occupied(mut queue) => queue.get_mut().push_back(job),
            Entry::Vacant(slot) => {
                let key = slot.key().clone();
                slot.insert(VecDeque::new());
                drop(queues);
                self.tasks
                    .spawn_on(Arc::clone(self).run_key(key, job), &self.runtime);
            }
        }
        in_flight
    }

    /// Whether the runtime-wide in-flight budget (if any) is used up.
    pub(crate) fn budget_spent(&self) -> bool {
        self.budget.as_ref().is_some_and(InFlightBudget::is_spent)
    }

    /// Marks a record the key filter skipped as done at once.
    pub(crate) fn skipped(&self, topic: &str, partition: i32, offset: i64) {
        let tp = TopicPartition {
            topic: topic.to_owned(),
            partition,
        };
        if let Some(state) = lock(&self.partitions).get_mut(&tp) {
            state.offsets.started(offset);
            state.offsets.finished(offset);
        }
        self.stats.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Gives up the records queued (not started) in `partitions`, or in every partition: they are not handled
    /// here, the commit stops before them, and the next reader of the partition handles them.
    pub(crate) fn abandon_queued(&self, partitions: Option<&[TopicPartition]>) {
        let mut abandoned = Vec::new();
        {
            let mut queues = lock(&self.queues);
            for ((topic, partition, _), queue) in queues.iter_mut() {
                let revoked = partitions.is_none_or(|list| {
                    list.iter()
                        .any(|tp| tp.partition == *partition && tp.topic == *topic)
                });
                if revoked {
                    abandoned.extend(queue.drain(..));
                }
            }
        }
        for job in &abandoned {
            self.complete(&job.record, job.generation, false);
        }
    }

    /// Records in flight (started, not done: running or queued) in `partitions`, or in all.
    pub(crate) fn in_flight(&self, partitions: Option<&[TopicPartition]>) -> usize {
        let states = lock(&self.partitions);
        match partitions {
            Some(list) => list
                .iter()
                .filter_map(|p| states.get(p))
                .map(|s| s.offsets.in_flight())
                .sum(),
            None => states.values().map(|s| s.offsets.in_flight()).sum(),
        }
    }

    /// Runs the records of one key, in order, until none is queued. A record whose handler left an
    /// acknowledgement to wait for is finished by a task of its own when a record of its key waits, so that record
    /// starts at once; otherwise this task waits for the acknowledgement.
    async fn run_key(self: Arc<Self>, key: RecordKey, first: Job) {
        let mut job = first;
        loop {
            let Job { record, generation } = job;
            let span = tracing::debug_span!(
                "kafka.consume",
                consumer = %self.name,
                topic = %record.topic,
                partition = record.partition,
                offset = record.offset,
            );
            let step = tokio::select! {
                biased;
                () = self.abort.cancelled() => None,
                step = self.handle_one(&record).instrument(span.clone()) => Some(step),
            };
            match step {
                // Stopped past the drain timeout: given up, so never committed (the next owner reads it again).
                None => {
                    self.complete(&record, generation, false);
                    return;
                }
                Some(Step::Done(done)) => self.complete(&record, generation, done),
                Some(Step::Acknowledging(acknowledgement)) => {
                    let Some(next) = self.next_of(&key) else {
                        // Nothing queued behind it: this task waits for the acknowledgement itself (the key is
                        // released already, so a record arriving meanwhile starts a task of its own).
                        self.acknowledge(record, generation, acknowledgement)
                            .instrument(span)
                            .await;
                        return;
                    };
                    self.tasks.spawn_on(
                        Arc::clone(&self)
                            .acknowledge(record, generation, acknowledgement)
                            .instrument(span),
                        &self.runtime,
                    );
                    job = next;
                    continue;
                }
            }
            match self.next_of(&key) {
                Some(queued) => job = queued,
                None => return,
            }
        }
    }

    /// The next record queued behind `key`; with none, the key is released (its next record starts a new task).
    fn next_of(&self, key: &RecordKey) -> Option<Job> {
        let mut queues = lock(&self.queues);
        let next = queues.get_mut(key).and_then(VecDeque::pop_front);
        if next.is_none() {
            queues.remove(key);
        }
        next
    }

    /// Waits for a handled record's acknowledgement, then reports the record done (or dead-letters it).
    async fn acknowledge(
        self: Arc<Self>,
        record: InboundRecord,
        generation: u64,
        acknowledgement: Acknowledgement,
    ) {
        let acknowledged = tokio::select! {
            biased;
            () = self.abort.cancelled() => None,
            acknowledged = acknowledgement => Some(acknowledged),
        };
        let done = match acknowledged {
            None => false,
            Some(Ok(())) => {
                self.stats.handled.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(Err(failure)) => self.dead_letter(&record, &failure).await,
        };
        self.complete(&record, generation, done);
    }

    /// Reports a record done (handled or dead-lettered) or abandoned.
    fn complete(&self, record: &InboundRecord, generation: u64, done: bool) {
        if let Some(budget) = &self.budget {
            budget.give_back();
        }
        let tp = TopicPartition {
            topic: record.topic.clone(),
            partition: record.partition,
        };
        let mut partitions = lock(&self.partitions);
        if let Some(state) = partitions.get_mut(&tp)
            && state.generation == generation
        {
            if done {
                state.offsets.finished(record.offset);
            } else {
                state.offsets.abandoned(record.offset);
            }
        }
    }

    /// Handles one record: done (handled or dead-lettered, or given up), or an acknowledgement still to come.
    async fn handle_one(&self, record: &InboundRecord) -> Step {
        let outcome = AssertUnwindSafe(self.handler.handle_then_acknowledge(record.clone()))
            .catch_unwind()
            .await;
        let failure = match outcome {
            Ok(Ok(None)) => {
                self.stats.handled.fetch_add(1, Ordering::Relaxed);
                return Step::Done(true);
            }
            Ok(Ok(Some(acknowledgement))) => {
                return Step::Acknowledging(Box::pin(
                    AssertUnwindSafe(acknowledgement)
                        .catch_unwind()
                        .map(|outcome| {
                            outcome.unwrap_or_else(|panic| {
                                Err(HandleFailure::new(
                                    "panic",
                                    format!(
                                        "the acknowledgement panicked: {}",
                                        panic_message(&*panic)
                                    ),
                                ))
                            })
                        }),
                ));
            }
            Ok(Err(failure)) => failure,
            Err(panic) => HandleFailure::new(
                "panic",
                format!("the handler panicked: {}", panic_message(&*panic)),
            ),
        };
        Step::Done(self.dead_letter(record, &failure).await)
    }

    /// Writes a failed record to the dead-letter topic, retrying until it is acknowledged or the worker stops.
    async fn dead_letter(&self, record: &InboundRecord, failure: &HandleFailure) -> bool {
        let (Some(topic), Some(producer)) = (&self.dead_letter_topic, &self.dead_letters) else {
            tracing::error!(
                kind = %failure.kind,
                reason = %failure.reason,
                topic = %record.topic,
                partition = record.partition,
                offset = record.offset,
                "record failed and no dead-letter topic is configured; it is skipped"
            );
            return true;
        };
        tracing::warn!(
            kind = %failure.kind,
            reason = %failure.reason,
            dead_letter_topic = %topic,
            "record failed; writing it to the dead-letter topic"
        );
        let out = OutboundRecord {
            topic: topic.clone(),
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record.headers.clone(),
            partition: None,
        }
        .with_header(dead_letter_headers::REASON, failure.reason.as_bytes())
        .with_header(dead_letter_headers::KIND, failure.kind.as_bytes())
        .with_header(dead_letter_headers::SOURCE_TOPIC, record.topic.as_bytes())
        .with_header(
            dead_letter_headers::SOURCE_PARTITION,
            record.partition.to_string(),
        )
        .with_header(
            dead_letter_headers::SOURCE_OFFSET,
            record.offset.to_string(),
        )
        .with_header(dead_letter_headers::GROUP, self.group.as_bytes());
        let backoff = Backoff::default();
        let mut attempt = 0;
        loop {
            match producer.send_ref(&out).await {
                Ok(_) => {
                    self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    *lock(&self.stats.dead_lettered_by_kind)
                        .entry(failure.kind.clone())
                        .or_default() += 1;
                    return true;
                }
                Err(error) => {
                    tracing::error!(error = %error, attempt, "writing to the dead-letter topic failed; retrying");
                    let delay = backoff.delay(attempt);
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        biased;
                        () = self.token.cancelled() => return false,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

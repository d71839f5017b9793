//! Response correlation of one bridge: the ids it waits for, and the reader side that matches every record of the
//! response topic against them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use autogen_kafka_core::CoreError;
use autogen_kafka_events::AgentEvent;
use autogen_kafka_services::EventCodecs;
use autogen_kafka_streaming::{InboundRecord, TailHandler};
use tokio::sync::oneshot;

/// How many ids of requests that stopped waiting (deadline, cancellation) are remembered, so that their answers
/// are counted as late rather than as another bridge's.
const GIVEN_UP_MEMORY: usize = 4096;

/// What a waiting request receives: the response event, or the reason it will never come.
type Outcome = Result<AgentEvent, CoreError>;

/// Counters of one bridge (see [`super::BridgeStats`]).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) answered: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) late: AtomicU64,
    pub(crate) undecodable: AtomicU64,
    pub(crate) foreign: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Ids this bridge stopped waiting for, oldest first, bounded.
#[derive(Debug, Default)]
struct GivenUp {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl GivenUp {
    fn remember(&mut self, id: String) {
        if !self.ids.insert(id.clone()) {
            return;
        }
        self.order.push_back(id);
        while self.order.len() > GIVEN_UP_MEMORY {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }

    /// Whether `id` was given up (forgets it: one late answer is counted once).
    fn take(&mut self, id: &str) -> bool {
        if self.ids.remove(id) {
            self.order.retain(|known| known != id);
            true
        } else {
            false
        }
    }
}

/// The requests one bridge waits for, by AgentEvent id.
///
/// The bridge's tail reader hands it *every* record of the response topic ([`TailHandler`]); it keeps the
/// answers to its own ids and counts the rest: answers to ids it gave up on are late, undecodable records are
/// logged and counted, ids it never sent belong to another bridge and are ignored.
#[derive(Debug)]
pub(crate) struct Correlation {
    codecs: Arc<EventCodecs>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    given_up: Mutex<GivenUp>,
    closed: AtomicBool,
    pub(crate) counters: Counters,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Correlation {
    pub(crate) fn new(codecs: Arc<EventCodecs>) -> Self {
        Self {
            codecs,
            waiting: Mutex::new(HashMap::new()),
            given_up: Mutex::new(GivenUp::default()),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// Starts waiting for the answer to `id`.
    ///
    /// Fails with [`CoreError::RuntimeStopped`] once the bridge is closed.
    pub(crate) fn register(self: &Arc<Self>, id: &str) -> Result<PendingReply, CoreError> {
        let (reply, receiver) = oneshot::channel();
        {
            let mut waiting = lock(&self.waiting);
            // Checked under the lock, so `close` cannot miss a request registered concurrently.
            if self.closed.load(Ordering::Acquire) {
                return Err(CoreError::RuntimeStopped);
            }
            waiting.insert(id.to_owned(), reply);
        }
        Ok(PendingReply {
            correlation: Arc::clone(self),
            id: id.to_owned(),
            receiver,
            finished: false,
        })
    }

    /// Number of requests waiting.
    pub(crate) fn pending(&self) -> usize {
        lock(&self.waiting).len()
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Refuses new requests and fails every waiting one with [`CoreError::RuntimeStopped`].
    pub(crate) fn close(&self) {
        let waiters: Vec<_> = {
            let mut waiting = lock(&self.waiting);
            self.closed.store(true, Ordering::Release);
            waiting.drain().collect()
        };
        for (id, reply) in waiters {
            tracing::debug!(id, "bridge closed: pending request failed");
            let _ = reply.send(Err(CoreError::RuntimeStopped));
        }
    }

    /// Stops waiting for `id` (deadline, cancellation, or the waiting future was dropped); an answer that still
    /// comes is counted as late.
    fn give_up(&self, id: &str) {
        if lock(&self.waiting).remove(id).is_some() {
            lock(&self.given_up).remember(id.to_owned());
        }
    }

    /// Matches one record of the response topic.
    pub(crate) fn apply(&self, record: &InboundRecord) {
        let Some(value) = record.value.as_deref() else {
            Counters::bump(&self.counters.undecodable);
            tracing::warn!(
                topic = %record.topic,
                partition = record.partition,
                offset = record.offset,
                "tombstone on the bridge's response topic skipped"
            );
            return;
        };
        let event: AgentEvent = match self.codecs.decode_blocking(&record.topic, value) {
            Ok(event) => event,
            Err(error) => {
                Counters::bump(&self.counters.undecodable);
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    topic = %record.topic,
                    partition = record.partition,
                    offset = record.offset,
                    "undecodable record on the bridge's response topic skipped"
                );
                return;
            }
        };
        let waiter = lock(&self.waiting).remove(&event.id);
        match waiter {
            Some(reply) => {
                let id = event.id.clone();
                if reply.send(Ok(event)).is_err() {
                    // The request gave up between the lookup and now.
                    Counters::bump(&self.counters.late);
                    tracing::debug!(id, "answer arrived as its request gave up");
                }
            }
            None if lock(&self.given_up).take(&event.id) => {
                Counters::bump(&self.counters.late);
                tracing::info!(
                    id = %event.id,
                    offset = record.offset,
                    "late answer on the bridge's response topic (its request had given up)"
                );
            }
            None => {
                Counters::bump(&self.counters.foreign);
                tracing::trace!(id = %event.id, "answer to another bridge's request ignored");
            }
        }
    }
}

impl TailHandler for Correlation {
    fn on_record(&self, record: InboundRecord) {
        self.apply(&record);
    }
}

/// One request waiting for its answer. Dropping it before the answer came (deadline, cancellation, a dropped
/// caller) stops the wait, so a later answer is counted as late.
#[derive(Debug)]
pub(crate) struct PendingReply {
    correlation: Arc<Correlation>,
    id: String,
    receiver: oneshot::Receiver<Outcome>,
    finished: bool,
}

impl PendingReply {
    /// Waits for the answer (no deadline here: the caller races this against its deadline and token).
    pub(crate) async fn wait(&mut self) -> Outcome {
        let outcome = (&mut self.receiver)
            .await
            .unwrap_or(Err(CoreError::RuntimeStopped));
        self.finished = true;
        outcome
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if matches!(self.receiver.try_recv(), Ok(Ok(_))) {
            // The answer was handed over just as the request gave up.
            Counters::bump(&self.correlation.counters.late);
        } else {
            self.correlation.give_up(&self.id);
        }
    }
}

//! Pauses the reader of this runtime's reply topic while none of its RPCs waits for an answer.
//!
//! An idle reader still asks the broker for records every fetch wait; with the short waits that brokers which do
//! not answer a waiting fetch early need (the mock cluster, Tansu), each such reader costs the broker several
//! percent of a CPU (docs/performance.md). Runtimes that only answer RPCs never need their reply topic, and callers
//! need it only while an RPC waits: the reader is resumed before a request is written and paused again once no
//! RPC has waited for [`IDLE_BEFORE_PAUSE`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use autogen_kafka_streaming::TailReader;

use super::{KafkaWorkerAgentRuntime, Tails};

/// How long the reader keeps fetching after the last RPC ended (so a steady stream of RPCs never pauses it).
pub(super) const IDLE_BEFORE_PAUSE: Duration = Duration::from_secs(1);

/// How often the idle check runs.
const CHECK_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug)]
struct State {
    /// RPCs waiting for an answer.
    waiting: usize,
    /// When the last RPC ended (while none waits).
    idle_since: Instant,
    paused: bool,
    /// A resume is under way on a blocking thread.
    resuming: bool,
}

/// Counts the RPCs waiting for an answer and pauses or resumes the reply reader accordingly.
#[derive(Debug)]
pub(super) struct ReplyDemand {
    state: Arc<Mutex<State>>,
}

impl ReplyDemand {
    pub(super) fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                waiting: 0,
                idle_since: Instant::now(),
                paused: false,
                resuming: false,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock_state(&self.state)
    }

    /// Counts one more waiting RPC, resuming the reply reader of `tails` if it was paused; the guard ends the wait.
    ///
    /// A resume hands librdkafka a seek and waits for it to be taken (normally well under a millisecond, at most
    /// a second): it runs on a blocking thread, never on the caller's task, once per idle period. The RPC need
    /// not wait for it: the reader goes on from where delivery stopped, so an answer written meanwhile is read
    /// once the resume is done.
    pub(super) fn acquire(&self, tails: &Arc<Tails>) -> DemandGuard<'_> {
        let mut state = self.lock();
        state.waiting += 1;
        if state.paused && !state.resuming {
            state.resuming = true;
            let (shared, tails) = (Arc::clone(&self.state), Arc::clone(tails));
            drop(tokio::task::spawn_blocking(move || {
                let resumed = tails.replies.resume();
                let mut state = lock_state(&shared);
                state.resuming = false;
                match resumed {
                    Ok(()) => {
                        state.paused = false;
                        tracing::debug!("reply reader resumed");
                    }
                    Err(error) => tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "resuming the reply reader failed"
                    ),
                }
            }));
        }
        DemandGuard { demand: self }
    }

    fn release(&self) {
        let mut state = self.lock();
        state.waiting = state.waiting.saturating_sub(1);
        if state.waiting == 0 {
            state.idle_since = Instant::now();
        }
    }

    /// Pauses `reader` when no RPC has waited for `idle`.
    fn pause_if_idle(&self, reader: &TailReader, idle: Duration) {
        let mut state = self.lock();
        if state.paused || state.resuming || state.waiting > 0 || state.idle_since.elapsed() < idle
        {
            return;
        }
        match reader.pause() {
            Ok(()) => {
                state.paused = true;
                tracing::debug!("reply reader paused: no RPC waits");
            }
            Err(error) => tracing::debug!(
                error = &error as &dyn std::error::Error,
                "pausing the reply reader failed"
            ),
        }
    }

    /// Whether the reader is paused.
    pub(super) fn is_paused(&self) -> bool {
        self.lock().paused
    }
}

fn lock_state(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One waiting RPC; dropping it ends the wait.
#[derive(Debug)]
pub(super) struct DemandGuard<'a> {
    demand: &'a ReplyDemand,
}

impl Drop for DemandGuard<'_> {
    fn drop(&mut self) {
        self.demand.release();
    }
}

/// Pauses the reply reader of `runtime` whenever it has been idle for [`IDLE_BEFORE_PAUSE`], until the runtime
/// stops.
pub(super) fn spawn_pauser(runtime: &KafkaWorkerAgentRuntime) {
    let weak = Arc::downgrade(&runtime.inner);
    let token = runtime.inner.token.child_token();
    let span = tracing::info_span!("replies.pauser", runtime_id = %runtime.inner.runtime_id);
    runtime.inner.tracker.spawn(tracing::Instrument::instrument(
        async move {
            while let Some(inner) = super::lifecycle::tick(&token, CHECK_EVERY, &weak).await {
                if let Some(tails) = inner.tails() {
                    inner
                        .reply_demand
                        .pause_if_idle(&tails.replies, IDLE_BEFORE_PAUSE);
                }
            }
        },
        span,
    ));
}

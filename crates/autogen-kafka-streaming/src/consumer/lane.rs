//! A lane: a tokio task that handles its records one after the other.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{ConsumerStats, HandleFailure, RecordHandler, dead_letter_headers};
use crate::backoff::Backoff;
use crate::producer::EventProducer;
use crate::record::{InboundRecord, OutboundRecord};

/// One record on its way to the handler.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) record: InboundRecord,
}

/// What a lane reports back to the poll thread.
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    /// False when the record was given up (shutdown while its dead-letter write was still failing).
    pub(crate) done: bool,
}

/// Everything a lane needs, shared by all lanes of a worker.
pub(crate) struct LaneShared {
    pub(crate) name: String,
    pub(crate) group: String,
    pub(crate) handler: Arc<dyn RecordHandler>,
    pub(crate) dead_letter_topic: Option<String>,
    pub(crate) dead_letters: Option<EventProducer>,
    pub(crate) token: CancellationToken,
    pub(crate) stats: Arc<ConsumerStats>,
    pub(crate) completions: mpsc::Sender<Completion>,
}

/// Runs one lane until its queue closes.
pub(crate) async fn run(shared: Arc<LaneShared>, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        let record = job.record;
        let (topic, partition, offset) = (record.topic.clone(), record.partition, record.offset);
        let span = tracing::debug_span!(
            "kafka.consume",
            consumer = %shared.name,
            topic = %topic,
            partition,
            offset,
        );
        let done = handle_one(&shared, record).instrument(span).await;
        let completion = Completion {
            topic,
            partition,
            offset,
            done,
        };
        if shared.completions.send(completion).await.is_err() {
            break;
        }
    }
}

/// Handles one record; returns whether it is done (handled or dead-lettered).
async fn handle_one(shared: &LaneShared, record: InboundRecord) -> bool {
    let outcome = AssertUnwindSafe(shared.handler.handle(record.clone()))
        .catch_unwind()
        .await;
    let failure = match outcome {
        Ok(Ok(())) => {
            shared.stats.handled.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        Ok(Err(failure)) => failure,
        Err(panic) => HandleFailure::new(
            "panic",
            format!("the handler panicked: {}", panic_message(&*panic)),
        ),
    };
    dead_letter(shared, record, &failure).await
}

/// Writes a failed record to the dead-letter topic, retrying until it is acknowledged or the worker stops.
async fn dead_letter(shared: &LaneShared, record: InboundRecord, failure: &HandleFailure) -> bool {
    let (Some(topic), Some(producer)) = (&shared.dead_letter_topic, &shared.dead_letters) else {
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
    let mut out = OutboundRecord {
        topic: topic.clone(),
        key: record.key.clone(),
        value: record.value.clone(),
        headers: record.headers.clone(),
        partition: None,
    };
    out = out
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
        .with_header(dead_letter_headers::GROUP, shared.group.as_bytes());
    let backoff = Backoff::default();
    let mut attempt = 0;
    loop {
        match producer.send(out.clone()).await {
            Ok(_) => {
                shared.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                *shared
                    .stats
                    .dead_lettered_by_kind
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
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
                    () = shared.token.cancelled() => return false,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
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

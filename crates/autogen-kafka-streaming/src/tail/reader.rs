//! The tail's client: creation, partition discovery, watermark queries and the poll thread.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{TailHandler, TailSpec, TailStart};
use crate::backoff::Backoff;
use crate::consumer::TopicPartition;
use crate::error::{Result, StreamingError, is_transient};
use crate::record::InboundRecord;

/// The librdkafka consumer a tail owns: assign-only, no group.
pub(crate) type TailClient = BaseConsumer<TailContext>;

/// A tail client's context: librdkafka's log lines and errors through [`crate::client_log`].
pub(crate) struct TailContext;

impl rdkafka::ClientContext for TailContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        crate::client_log::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        crate::client_log::error(&error, reason);
    }
}

impl ConsumerContext for TailContext {}

/// Properties dropped from the spec: a tail never joins a group (it sets a private `group.id` of its own).
const GROUP_PROPERTIES: [&str; 2] = ["group.id", "group.instance.id"];

/// Records delivered before positions are published even though more are waiting.
const PUBLISH_EVERY: usize = 256;

/// Bounds of one metadata or offsets request inside a longer wait.
const MIN_REQUEST: Duration = Duration::from_millis(10);
const MAX_REQUEST: Duration = Duration::from_secs(2);

/// Which end of a partition's log to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// The low watermark (log start offset).
    Earliest,
    /// The high watermark (the last stable offset under `read_committed`).
    Latest,
}

impl Bound {
    /// As the "timestamp" of a `ListOffsets` request: `-2` asks for the earliest, `-1` for the latest offset.
    const fn as_timestamp(self) -> Offset {
        match self {
            Self::Earliest => Offset::Beginning,
            Self::Latest => Offset::End,
        }
    }
}

/// A client with its assignment in place, ready for the poll thread.
pub(crate) struct Prepared {
    pub(crate) client: Arc<TailClient>,
    /// The start position of every assigned partition.
    pub(crate) positions: BTreeMap<TopicPartition, i64>,
    pub(crate) poll_timeout: Duration,
}

/// Creates the client, discovers the partitions, resolves the start offsets and assigns (blocking).
pub(crate) fn prepare(spec: &TailSpec, token: &CancellationToken) -> Result<Prepared> {
    let started = Instant::now();
    let deadline = started + spec.metadata_timeout;
    let client = create(spec)?;
    let partitions = discover(&client, spec, deadline, token)?;
    if token.is_cancelled() {
        return Err(StreamingError::Shutdown);
    }
    let (from_end, from_beginning): (Vec<TopicPartition>, Vec<TopicPartition>) = partitions
        .into_iter()
        .partition(|tp| spec.start_of(&tp.topic) == TailStart::End);
    let mut positions = BTreeMap::new();
    let mut assignment = TopicPartitionList::with_capacity(from_end.len() + from_beginning.len());
    // From the beginning: the position is the low watermark, and librdkafka resolves it again at assignment
    // (retention may move it meanwhile).
    if !from_beginning.is_empty() {
        for (tp, low) in query_offsets(&client, &from_beginning, Bound::Earliest, deadline)? {
            assignment
                .add_partition_offset(&tp.topic, tp.partition, Offset::Beginning)
                .map_err(|source| assign_error(spec, source))?;
            positions.insert(tp, low);
        }
    }
    // From the end: the high watermark read now, so every record acknowledged after `start` returns is read.
    if !from_end.is_empty() {
        for (tp, high) in query_offsets(&client, &from_end, Bound::Latest, deadline)? {
            assignment
                .add_partition_offset(&tp.topic, tp.partition, Offset::Offset(high))
                .map_err(|source| assign_error(spec, source))?;
            positions.insert(tp, high);
        }
    }
    client
        .assign(&assignment)
        .map_err(|source| assign_error(spec, source))?;
    tracing::debug!(tail = %spec.name, elapsed = ?started.elapsed(), start = ?spec.start, "tail prepared");
    Ok(Prepared {
        client: Arc::new(client),
        positions,
        poll_timeout: spec.poll_timeout,
    })
}

fn assign_error(spec: &TailSpec, source: KafkaError) -> StreamingError {
    StreamingError::Assign {
        topics: spec.topics.clone(),
        source,
    }
}

/// Builds the assign-only consumer: no group membership, no commits, no partition-EOF events.
fn create(spec: &TailSpec) -> Result<TailClient> {
    let mut config = ClientConfig::new();
    for (key, value) in &spec.properties {
        if GROUP_PROPERTIES.contains(&key.as_str()) {
            tracing::debug!(tail = %spec.name, property = %key, "ignored: a tail joins no group");
            continue;
        }
        config.set(key, value);
    }
    if !spec.properties.contains_key("auto.offset.reset") {
        // Records removed under the reader (retention) resume at the oldest record left, never skip ahead.
        config.set("auto.offset.reset", "earliest");
    }
    // librdkafka refuses `assign` without a group (`Local: Unknown group`). This private name is never joined
    // (no `subscribe`) and never committed to, so the broker keeps no state for it.
    config
        .set("group.id", private_group(&spec.name))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    config
        .create_with_context(TailContext)
        .map_err(|source| StreamingError::CreateClient {
            role: format!("tail reader {}", spec.name),
            source,
        })
}

/// A group name of the reader's own: librdkafka needs one for `assign`, nothing ever joins or commits under it.
fn private_group(name: &str) -> String {
    format!(
        "ak-tail.{name}.{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    )
}

/// Every partition of every topic of the spec, waiting (until `deadline`) for topics that are not there yet.
fn discover(
    client: &TailClient,
    spec: &TailSpec,
    deadline: Instant,
    token: &CancellationToken,
) -> Result<Vec<TopicPartition>> {
    let backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(500));
    let mut partitions = Vec::new();
    for topic in &spec.topics {
        let mut attempt = 0_u32;
        loop {
            let request = request_timeout(deadline);
            let failure = match client.fetch_metadata(Some(topic), request) {
                Ok(metadata) => match metadata.topics().iter().find(|t| t.name() == topic) {
                    Some(found) if found.error().is_none() && !found.partitions().is_empty() => {
                        partitions.extend(
                            found
                                .partitions()
                                .iter()
                                .filter(|p| spec.reads(topic, p.id()))
                                .map(|p| TopicPartition {
                                    topic: topic.clone(),
                                    partition: p.id(),
                                }),
                        );
                        break;
                    }
                    Some(found) => found
                        .error()
                        .map(|code| KafkaError::MetadataFetch(RDKafkaErrorCode::from(code))),
                    None => None,
                },
                Err(source) => Some(source),
            };
            let denied = failure.as_ref().is_some_and(|e| {
                matches!(
                    e.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::TopicAuthorizationFailed
                            | RDKafkaErrorCode::ClusterAuthorizationFailed
                    )
                )
            });
            if denied || Instant::now() >= deadline {
                return Err(match failure {
                    Some(source)
                        if source.rdkafka_error_code()
                            != Some(RDKafkaErrorCode::UnknownTopicOrPartition) =>
                    {
                        StreamingError::Metadata {
                            topic: topic.clone(),
                            source,
                        }
                    }
                    _ => StreamingError::NotReady {
                        topic: topic.clone(),
                        after: spec.metadata_timeout,
                    },
                });
            }
            tracing::debug!(tail = %spec.name, topic = %topic, error = ?failure, "topic not in the metadata yet");
            pause(&backoff, attempt, deadline);
            if token.is_cancelled() {
                return Err(StreamingError::Shutdown);
            }
            attempt = attempt.saturating_add(1);
        }
    }
    partitions.sort();
    partitions.dedup();
    Ok(partitions)
}

/// The earliest or latest offset of every partition in one batched `ListOffsets` request, retried on transient
/// errors until `deadline`.
pub(crate) fn query_offsets(
    client: &TailClient,
    partitions: &[TopicPartition],
    bound: Bound,
    deadline: Instant,
) -> Result<BTreeMap<TopicPartition, i64>> {
    let first_topic = || {
        partitions
            .first()
            .map(|tp| tp.topic.clone())
            .unwrap_or_default()
    };
    let mut request = TopicPartitionList::with_capacity(partitions.len());
    for tp in partitions {
        request
            .add_partition_offset(&tp.topic, tp.partition, bound.as_timestamp())
            .map_err(|source| StreamingError::Metadata {
                topic: tp.topic.clone(),
                source,
            })?;
    }
    let backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(500));
    let mut attempt = 0_u32;
    loop {
        let (topic, source) =
            match client.offsets_for_times(request.clone(), request_timeout(deadline)) {
                Ok(answer) => match read_offsets(&answer) {
                    Ok(offsets) => return Ok(offsets),
                    Err(failed) => failed,
                },
                Err(source) => (first_topic(), source),
            };
        if !is_transient(&source) || Instant::now() >= deadline {
            return Err(StreamingError::Metadata { topic, source });
        }
        tracing::debug!(topic = %topic, error = %source, "reading offsets failed; retrying");
        pause(&backoff, attempt, deadline);
        attempt = attempt.saturating_add(1);
    }
}

/// The offsets of an answered `ListOffsets` request, or the first partition that failed.
fn read_offsets(
    answer: &TopicPartitionList,
) -> std::result::Result<BTreeMap<TopicPartition, i64>, (String, KafkaError)> {
    let mut offsets = BTreeMap::new();
    for element in answer.elements() {
        let topic = element.topic().to_owned();
        element.error().map_err(|source| (topic.clone(), source))?;
        let Offset::Offset(offset) = element.offset() else {
            return Err((
                topic,
                KafkaError::OffsetFetch(RDKafkaErrorCode::OffsetNotAvailable),
            ));
        };
        offsets.insert(
            TopicPartition {
                topic,
                partition: element.partition(),
            },
            offset,
        );
    }
    Ok(offsets)
}

/// The time one request may take when the whole wait ends at `deadline`.
fn request_timeout(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .clamp(MIN_REQUEST, MAX_REQUEST)
}

/// Sleeps the `attempt`-th backoff delay, cut at `deadline`.
fn pause(backoff: &Backoff, attempt: u32, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    std::thread::sleep(backoff.delay(attempt).min(left));
}

/// The first partition of `targets` whose position is below its target.
pub(crate) fn lagging<'a>(
    targets: &'a BTreeMap<TopicPartition, i64>,
    positions: &BTreeMap<TopicPartition, i64>,
) -> Option<&'a TopicPartition> {
    targets
        .iter()
        .find(|(tp, target)| positions.get(*tp).is_none_or(|p| p < *target))
        .map(|(tp, _)| tp)
}

/// The poll thread's state.
pub(crate) struct Tail {
    pub(crate) name: String,
    pub(crate) client: Arc<TailClient>,
    pub(crate) handler: Arc<dyn TailHandler>,
    pub(crate) positions: watch::Sender<BTreeMap<TopicPartition, i64>>,
    pub(crate) token: CancellationToken,
    pub(crate) poll_timeout: Duration,
    pub(crate) gaps: super::gaps::Gaps,
}

impl Tail {
    /// Polls until cancelled: delivers each record, then publishes the positions once the queue is drained (or
    /// every [`PUBLISH_EVERY`] records in a burst).
    pub(crate) fn run(mut self) {
        let mut pending: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        let mut unpublished = 0_usize;
        while !self.token.is_cancelled() {
            if self.gaps.is_active() {
                self.reread_gaps();
            }
            let timeout = if unpublished == 0 {
                self.poll_timeout
            } else {
                Duration::ZERO
            };
            match self.client.poll(timeout) {
                Some(Ok(message)) => {
                    let record = InboundRecord::from_borrowed(&message);
                    drop(message);
                    let partition = TopicPartition {
                        topic: record.topic.clone(),
                        partition: record.partition,
                    };
                    let next = record.offset.saturating_add(1);
                    if self.gaps.is_active()
                        && self
                            .gaps
                            .on_record(&partition, record.offset, Instant::now())
                            == super::gaps::Verdict::Skip
                    {
                        continue;
                    }
                    self.deliver(record);
                    let slot = pending.entry(partition).or_insert(next);
                    *slot = (*slot).max(next);
                    unpublished += 1;
                    if unpublished >= PUBLISH_EVERY {
                        self.publish(&mut pending);
                        unpublished = 0;
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(tail = %self.name, error = %error, "tail error; the client retries on its own");
                }
                None => {
                    if unpublished == 0 {
                        self.merge_client_positions(&mut pending);
                    }
                    self.publish(&mut pending);
                    unpublished = 0;
                }
            }
        }
        self.publish(&mut pending);
        tracing::info!(tail = %self.name, "tail stopped");
    }

    /// Seeks back to offsets the broker skipped (see [`super::gaps`]) once their pause is over.
    fn reread_gaps(&mut self) {
        for (tp, offset) in self.gaps.due(Instant::now()) {
            if let Err(error) = self.client.seek(
                &tp.topic,
                tp.partition,
                Offset::Offset(offset),
                Duration::from_millis(500),
            ) {
                tracing::warn!(tail = %self.name, topic = %tp.topic, partition = tp.partition, offset, error = %error, "seeking back to skipped offsets failed");
            }
        }
    }

    fn deliver(&self, record: InboundRecord) {
        let (topic, partition, offset) = (record.topic.clone(), record.partition, record.offset);
        let handler = &self.handler;
        if std::panic::catch_unwind(AssertUnwindSafe(|| handler.on_record(record))).is_err() {
            tracing::error!(
                tail = %self.name, topic = %topic, partition, offset,
                "tail handler panicked; the record counts as delivered"
            );
        }
    }

    /// Adds librdkafka's own positions, which also move past records never delivered (transaction markers).
    fn merge_client_positions(&self, pending: &mut BTreeMap<TopicPartition, i64>) {
        let Ok(list) = self.client.position() else {
            return;
        };
        let current = self.positions.borrow();
        for element in list.elements() {
            let Offset::Offset(next) = element.offset() else {
                continue;
            };
            let partition = TopicPartition {
                topic: element.topic().to_owned(),
                partition: element.partition(),
            };
            if current.get(&partition).is_some_and(|p| *p >= next) {
                continue;
            }
            let slot = pending.entry(partition).or_insert(next);
            *slot = (*slot).max(next);
        }
    }

    /// Moves pending positions into the watch (waking `catch_up` waiters) when any advanced.
    fn publish(&self, pending: &mut BTreeMap<TopicPartition, i64>) {
        if pending.is_empty() {
            return;
        }
        let advanced = std::mem::take(pending);
        self.positions.send_if_modified(|positions| {
            let mut changed = false;
            for (partition, next) in advanced {
                let slot = positions.entry(partition).or_insert(i64::MIN);
                if next > *slot {
                    *slot = next;
                    changed = true;
                }
            }
            changed
        });
    }
}

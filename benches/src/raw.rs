//! The baseline: request/reply and fan-out with plain rdkafka clients, no runtime.
//!
//! - [`RawEcho`] is the callee: one consumer in a group on the request topic and one producer; every request is
//!   answered on the topic named by its `reply_to` header with the same key and payload.
//! - [`RawClient`] is the caller: one producer and one assign-only consumer on its reply topic; requests carry
//!   a sequence number in their first 8 bytes that the reply reader matches to the waiting call.
//! - [`RawFanout`] is the publish baseline: one producer, one consumer group per subscriber.
//!
//! All of them take their properties from [`Settings`], the same ones the runtime is configured with.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, ClientContext, Message as _, Offset, TopicPartitionList};
use tokio::sync::{oneshot, watch};

use crate::agents::TallyBoard;
use crate::error::{BenchError, Result};
use crate::settings::Settings;

/// The header naming the topic a raw request's answer goes to.
const REPLY_TO: &str = "reply_to";

/// How many distinct keys requests are spread over (the runtime benchmarks use the same keys).
pub const KEYS: u64 = 1024;

/// The record key of request `n`: the runtime writes `echo/k<n>` for agent id `echo/k<n>`, so both land in
/// the same partitions.
#[must_use]
pub fn request_key(n: u64) -> String {
    format!("echo/k{}", n % KEYS)
}

fn client_config(properties: &BTreeMap<String, String>) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in properties {
        config.set(key, value);
    }
    config
}

fn producer(settings: &Settings) -> Result<FutureProducer> {
    client_config(&settings.producer_properties()?)
        .create()
        .map_err(|source| BenchError::raw("create producer", source))
}

/// Produce requests and records a producer sent, from librdkafka's statistics (the runtime's
/// `KafkaWorkerAgentRuntime::produce_counts` reads the same two figures).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Produced {
    /// Produce requests.
    pub requests: u64,
    /// Records.
    pub records: u64,
}

/// The last statistics' [`Produced`], shared by a client's context and its owner.
type LastProduced = Arc<Mutex<Option<Produced>>>;

/// A client context that keeps the last statistics' [`Produced`].
#[derive(Debug, Default)]
struct Counted {
    last: LastProduced,
}

impl ClientContext for Counted {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let requests: i64 = statistics
            .brokers
            .values()
            .filter_map(|broker| broker.req.get("Produce"))
            .sum();
        let produced = Produced {
            requests: u64::try_from(requests).unwrap_or(0),
            records: u64::try_from(statistics.txmsgs).unwrap_or(0),
        };
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(produced);
    }
}

/// The raw echo's and the raw caller's producer: the runtime's producer settings, with statistics every
/// [`Settings::STATISTICS_INTERVAL_MS`] as the runtime's data producer has them.
fn counted_producer(settings: &Settings) -> Result<(FutureProducer<Counted>, LastProduced)> {
    let mut config = client_config(&settings.producer_properties()?);
    config.set(
        "statistics.interval.ms",
        Settings::STATISTICS_INTERVAL_MS.to_string(),
    );
    let context = Counted::default();
    let last = Arc::clone(&context.last);
    let producer = config
        .create_with_context(context)
        .map_err(|source| BenchError::raw("create producer", source))?;
    Ok((producer, last))
}

/// An assign-only consumer (like the runtime's reply reader) for `topic` from its beginning.
fn assigned_consumer(settings: &Settings, topic: &str, group: &str) -> Result<StreamConsumer> {
    let mut config = client_config(&settings.consumer_properties(group)?);
    config.set("enable.auto.commit", "false");
    let consumer: StreamConsumer = config
        .create()
        .map_err(|source| BenchError::raw("create consumer", source))?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(|source| BenchError::raw("build assignment", source))?;
    consumer
        .assign(&list)
        .map_err(|source| BenchError::raw("assign", source))?;
    Ok(consumer)
}

/// A group consumer of `topic`; with `statistics`, reporting librdkafka statistics as often as the runtime's request
/// consumers do in the benchmark (the raw echo's, so both sides pay for them alike).
fn group_consumer(
    settings: &Settings,
    topic: &str,
    group: &str,
    statistics: bool,
) -> Result<Arc<StreamConsumer>> {
    let mut config = client_config(&settings.consumer_properties(group)?);
    if statistics {
        config.set(
            "statistics.interval.ms",
            Settings::STATISTICS_INTERVAL_MS.to_string(),
        );
    }
    let consumer: StreamConsumer = config
        .create()
        .map_err(|source| BenchError::raw("create consumer", source))?;
    consumer
        .subscribe(&[topic])
        .map_err(|source| BenchError::raw("subscribe", source))?;
    Ok(Arc::new(consumer))
}

/// Waits until `consumer` owns at least one partition (its poll loop must be running).
async fn wait_assigned(consumer: &StreamConsumer, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        if consumer.assignment().is_ok_and(|list| list.count() > 0) {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= timeout {
            return Err(BenchError::Timeout {
                what: "raw consumer group assignment".to_owned(),
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What a [`RawEcho`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawEchoStats {
    /// Requests answered.
    pub handled: u64,
    /// Answers the broker did not acknowledge, or requests without a `reply_to` header.
    pub failed: u64,
}

/// The raw callee: answers every request on its `reply_to` topic.
pub struct RawEcho {
    consumer: Arc<StreamConsumer>,
    produced: LastProduced,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<RawEchoStats>,
}

impl std::fmt::Debug for RawEcho {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawEcho").finish_non_exhaustive()
    }
}

impl RawEcho {
    /// Subscribes to `request_topic` in `group` and starts answering.
    ///
    /// # Errors
    ///
    /// [`BenchError::Raw`] when a client cannot be created or subscribed.
    pub fn start(settings: &Settings, request_topic: &str, group: &str) -> Result<Self> {
        let consumer = group_consumer(settings, request_topic, group, true)?;
        let (producer, produced) = counted_producer(settings)?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(echo_loop(Arc::clone(&consumer), producer, stopped));
        Ok(Self {
            consumer,
            produced,
            stop,
            task,
        })
    }

    /// Waits until the group assigned partitions; returns how long that took.
    ///
    /// # Errors
    ///
    /// [`BenchError::Timeout`] after `timeout`.
    pub async fn wait_assigned(&self, timeout: Duration) -> Result<Duration> {
        wait_assigned(&self.consumer, timeout).await
    }

    /// The partitions of the request topic the group gave this echo, sorted.
    #[must_use]
    pub fn assignment(&self) -> Vec<i32> {
        let mut partitions: Vec<i32> = self
            .consumer
            .assignment()
            .map(|list| list.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default();
        partitions.sort_unstable();
        partitions
    }

    /// The produce requests and records its producer sent, as the last statistics counted them.
    #[must_use]
    pub fn produced(&self) -> Option<Produced> {
        *self.produced.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops answering and returns the counts.
    pub async fn stop(self) -> RawEchoStats {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

async fn echo_loop(
    consumer: Arc<StreamConsumer>,
    producer: FutureProducer<Counted>,
    mut stopped: watch::Receiver<bool>,
) -> RawEchoStats {
    let mut stats = RawEchoStats::default();
    let mut deliveries = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => break,
            Some(delivery) = deliveries.next(), if !deliveries.is_empty() => {
                if !matches!(delivery, Ok(Ok(_))) {
                    stats.failed += 1;
                }
            }
            message = consumer.recv() => {
                let message = match message {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(%error, "raw echo: consumer error");
                        continue;
                    }
                };
                let reply_to = message.headers().and_then(|headers| {
                    headers
                        .iter()
                        .find(|h| h.key == REPLY_TO)
                        .and_then(|h| h.value)
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .map(str::to_owned)
                });
                let Some(reply_to) = reply_to else {
                    stats.failed += 1;
                    continue;
                };
                let payload = message.payload().unwrap_or_default();
                let key = message.key().unwrap_or_default();
                let record = FutureRecord::to(&reply_to).key(key).payload(payload);
                match producer.send_result(record) {
                    Ok(delivery) => {
                        stats.handled += 1;
                        deliveries.push(delivery);
                    }
                    Err((error, _)) => {
                        tracing::warn!(%error, "raw echo: answer not queued");
                        stats.failed += 1;
                    }
                }
            }
        }
    }
    while let Some(delivery) = deliveries.next().await {
        if !matches!(delivery, Ok(Ok(_))) {
            stats.failed += 1;
        }
    }
    stats
}

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>;

fn lock_waiters(waiters: &Waiters) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
    waiters.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a raw call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RawCallError {
    /// The request was not acknowledged.
    #[error("request not written: {0}")]
    Produce(#[source] rdkafka::error::KafkaError),
    /// No answer before the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The reply reader stopped.
    #[error("the reply reader stopped")]
    Stopped,
}

/// The raw caller: writes requests, matches answers from its reply topic.
pub struct RawClient {
    producer: FutureProducer<Counted>,
    produced: LastProduced,
    request_topic: String,
    reply_topic: String,
    waiters: Waiters,
    next: AtomicU64,
    padding: Vec<u8>,
    timeout: Duration,
    reader: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RawClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawClient")
            .field("request_topic", &self.request_topic)
            .field("reply_topic", &self.reply_topic)
            .finish_non_exhaustive()
    }
}

impl RawClient {
    /// A caller writing to `request_topic` and reading answers from `reply_topic` (one partition, fresh).
    ///
    /// # Errors
    ///
    /// [`BenchError::Raw`] when a client cannot be created or assigned.
    pub fn start(settings: &Settings, request_topic: &str, reply_topic: &str) -> Result<Self> {
        let (producer, produced) = counted_producer(settings)?;
        let group = format!("raw-reply-reader.{reply_topic}");
        let consumer = assigned_consumer(settings, reply_topic, &group)?;
        let waiters: Waiters = Arc::new(Mutex::new(HashMap::new()));
        let reader = tokio::spawn(reply_loop(consumer, Arc::clone(&waiters)));
        Ok(Self {
            producer,
            produced,
            request_topic: request_topic.to_owned(),
            reply_topic: reply_topic.to_owned(),
            waiters,
            next: AtomicU64::new(0),
            padding: settings.padding().into_bytes(),
            timeout: settings.rpc_timeout(),
            reader,
        })
    }

    /// One request/reply exchange with key [`request_key`]`(n)`: waits for the broker's acknowledgement of the
    /// request, then for the answer, under the RPC deadline.
    ///
    /// # Errors
    ///
    /// [`RawCallError`] when the request is not written or no answer comes in time.
    pub async fn call(&self, n: u64) -> Result<(), RawCallError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock_waiters(&self.waiters).insert(id, tx);
        let mut payload = Vec::with_capacity(8 + self.padding.len());
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&self.padding);
        let key = request_key(n);
        let headers = OwnedHeaders::new().insert(Header {
            key: REPLY_TO,
            value: Some(self.reply_topic.as_bytes()),
        });
        let record = FutureRecord::to(&self.request_topic)
            .key(key.as_bytes())
            .payload(&payload)
            .headers(headers);
        let exchange = async {
            self.producer
                .send(record, self.timeout)
                .await
                .map_err(|(error, _)| RawCallError::Produce(error))?;
            rx.await.map_err(|_| RawCallError::Stopped)
        };
        let outcome = tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(RawCallError::Timeout(self.timeout)));
        if outcome.is_err() {
            lock_waiters(&self.waiters).remove(&id);
        }
        outcome
    }

    /// The requests written and in how many produce requests, as the producer's last statistics counted them.
    #[must_use]
    pub fn produced(&self) -> Option<Produced> {
        *self.produced.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the reply reader.
    pub fn shutdown(&self) {
        self.reader.abort();
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn reply_loop(consumer: StreamConsumer, waiters: Waiters) {
    loop {
        match consumer.recv().await {
            Ok(message) => {
                let Some(id) = message
                    .payload()
                    .and_then(|p| p.get(..8))
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                else {
                    continue;
                };
                if let Some(waiter) = lock_waiters(&waiters).remove(&id) {
                    let _ = waiter.send(());
                }
            }
            Err(error) => tracing::warn!(%error, "raw reply reader: consumer error"),
        }
    }
}

/// The raw publish baseline: one producer writing a burst, `subscribers` consumer groups each reading all of it.
pub struct RawFanout {
    producer: FutureProducer,
    topic: String,
    boards: Vec<Arc<TallyBoard>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    padding: Vec<u8>,
}

impl std::fmt::Debug for RawFanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawFanout")
            .field("topic", &self.topic)
            .field("subscribers", &self.boards.len())
            .finish_non_exhaustive()
    }
}

impl RawFanout {
    /// Starts `subscribers` consumer groups on `topic` and waits until each owns partitions.
    ///
    /// # Errors
    ///
    /// [`BenchError::Raw`] when a client cannot be created, [`BenchError::Timeout`] when a group does not
    /// assign within `join_timeout`.
    pub async fn start(
        settings: &Settings,
        topic: &str,
        subscribers: usize,
        join_timeout: Duration,
    ) -> Result<Self> {
        let producer = producer(settings)?;
        let mut boards = Vec::new();
        let mut readers = Vec::new();
        let mut consumers = Vec::new();
        for index in 0..subscribers {
            let group = format!("{topic}.subscriber-{index}");
            let consumer = group_consumer(settings, topic, &group, false)?;
            let board = Arc::new(TallyBoard::default());
            readers.push(tokio::spawn(count_loop(
                Arc::clone(&consumer),
                Arc::clone(&board),
            )));
            boards.push(board);
            consumers.push(consumer);
        }
        let fanout = Self {
            producer,
            topic: topic.to_owned(),
            boards,
            readers,
            padding: settings.padding().into_bytes(),
        };
        for consumer in &consumers {
            wait_assigned(consumer, join_timeout).await?;
        }
        Ok(fanout)
    }

    /// The subscribers' tally boards.
    #[must_use]
    pub fn boards(&self) -> &[Arc<TallyBoard>] {
        &self.boards
    }

    /// Writes publication `seq` of burst `burst` and waits for its acknowledgement.
    ///
    /// # Errors
    ///
    /// The client's error when the record is not acknowledged.
    pub async fn publish(&self, burst: u32, seq: u32) -> Result<(), rdkafka::error::KafkaError> {
        let mut payload = Vec::with_capacity(8 + self.padding.len());
        payload.extend_from_slice(&burst.to_be_bytes());
        payload.extend_from_slice(&seq.to_be_bytes());
        payload.extend_from_slice(&self.padding);
        let key = format!("news/s{}", seq % 64);
        let record = FutureRecord::to(&self.topic)
            .key(key.as_bytes())
            .payload(&payload);
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}

impl Drop for RawFanout {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
    }
}

async fn count_loop(consumer: Arc<StreamConsumer>, board: Arc<TallyBoard>) {
    loop {
        match consumer.recv().await {
            Ok(message) => {
                let Some(payload) = message.payload() else {
                    continue;
                };
                let word = |at: usize| {
                    payload
                        .get(at..at + 4)
                        .and_then(|b| <[u8; 4]>::try_from(b).ok())
                        .map(u32::from_be_bytes)
                };
                if let (Some(burst), Some(seq)) = (word(0), word(4)) {
                    board.record(burst, seq);
                }
            }
            Err(error) => tracing::warn!(%error, "raw subscriber: consumer error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_keys_match_the_runtime_s_record_keys() {
        assert_eq!(request_key(5), "echo/k5");
        assert_eq!(request_key(KEYS + 5), "echo/k5");
    }
}

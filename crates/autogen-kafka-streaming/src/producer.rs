//! The producer: a cloneable handle every service of a runtime shares.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext, Message};
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::error::{Result, StreamingError};
use crate::record::OutboundRecord;

/// Where a record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Partition the record went to.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
}

/// How long [`EventProducer::enqueue`] waits before trying a full producer queue again.
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(5);

/// One wait of the delivery-report thread. rust-rdkafka hands librdkafka the time left of a poll in whole
/// milliseconds, truncated: a poll of exactly 100 ms waits 99 ms and then spins through the last one (its own
/// producer thread does that: about 1 % of a CPU per producer, idle or busy). The 50 µs over the 100 ms are
/// always left when librdkafka's 100 ms wait ends, and nothing spins.
const REPORT_WAIT: Duration = Duration::from_micros(100_050);

/// What the broker said about one record.
type Acknowledgement = std::result::Result<Delivered, KafkaError>;

/// A producer's traffic as librdkafka's statistics last reported it (see [`EventProducer::produce_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProduceCounts {
    /// Produce requests sent to the brokers.
    pub requests: u64,
    /// Records sent.
    pub records: u64,
}

impl ProduceCounts {
    /// Records per produce request (0 before the first request).
    #[must_use]
    pub fn records_per_request(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        #[expect(clippy::cast_precision_loss, reason = "a ratio for people")]
        let ratio = self.records as f64 / self.requests as f64;
        ratio
    }
}

/// The producer's context: each delivery report goes to the channel its record carried; the last error event is
/// kept ([`EventProducer::last_client_error`]), and the produce counts of the last statistics.
#[derive(Default)]
struct Acknowledgements {
    last_error: crate::client_log::LastError,
    counts: std::sync::Mutex<Option<ProduceCounts>>,
}

impl ClientContext for Acknowledgements {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        crate::client_log::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        crate::client_log::error(&error, reason);
        self.last_error.record(&error, reason);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        let requests = statistics
            .brokers
            .values()
            .filter_map(|broker| broker.req.get("Produce"))
            .sum::<i64>();
        let counts = ProduceCounts {
            requests: u64::try_from(requests).unwrap_or(0),
            records: u64::try_from(statistics.txmsgs).unwrap_or(0),
        };
        *self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(counts);
    }
}

impl ProducerContext for Acknowledgements {
    type DeliveryOpaque = Box<oneshot::Sender<Acknowledgement>>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiter: Self::DeliveryOpaque) {
        let acknowledgement = match result {
            Ok(message) => Ok(Delivered {
                partition: message.partition(),
                offset: message.offset(),
            }),
            Err((error, _)) => Err(error.clone()),
        };
        // The waiter may have given up (its deadline passed): nobody to tell.
        let _ = waiter.send(acknowledgement);
    }
}

/// The thread that serves delivery reports, stopped and joined when the last handle of the producer goes.
struct ReportThread {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReportThread {
    fn start(producer: Arc<BaseProducer<Acknowledgements>>) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ak-producer".to_owned())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    producer.poll(REPORT_WAIT);
                }
            })
            .map_err(StreamingError::SpawnThread)?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ReportThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the producer's delivery-report thread panicked");
        }
    }
}

/// A record handed to the producer ([`EventProducer::enqueue`]) whose acknowledgement is still to come.
#[must_use = "a record counts as written only once its acknowledgement arrived"]
pub struct PendingDelivery {
    delivery: oneshot::Receiver<Acknowledgement>,
    topic: String,
    deadline: tokio::time::Instant,
    after: Duration,
}

impl std::fmt::Debug for PendingDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl PendingDelivery {
    /// Waits for the broker's acknowledgement, until the send deadline that started at the enqueue.
    ///
    /// # Errors
    ///
    /// [`StreamingError::Produce`] when the broker or client rejected the record,
    /// [`StreamingError::ProduceTimeout`] when no acknowledgement arrived in time, [`StreamingError::Shutdown`]
    /// when the producer went away.
    pub async fn acknowledged(self) -> Result<Delivered> {
        match tokio::time::timeout_at(self.deadline, self.delivery).await {
            Ok(Ok(Ok(delivered))) => Ok(delivered),
            Ok(Ok(Err(source))) => Err(StreamingError::Produce {
                topic: self.topic,
                source,
            }),
            Ok(Err(_canceled)) => Err(StreamingError::Shutdown),
            Err(_) => Err(StreamingError::ProduceTimeout {
                topic: self.topic,
                after: self.after,
            }),
        }
    }
}

/// A cloneable handle to one idempotent Kafka producer.
///
/// Every send waits for the broker's acknowledgement under a deadline, so a caller learns the outcome (or a
/// [`StreamingError::ProduceTimeout`]) instead of waiting forever. Cloning is cheap and shares the client.
///
/// # Examples
///
/// ```no_run
/// use std::collections::BTreeMap;
/// use std::time::Duration;
/// use autogen_kafka_streaming::{EventProducer, OutboundRecord};
///
/// # async fn demo() -> Result<(), autogen_kafka_streaming::StreamingError> {
/// let mut props = BTreeMap::new();
/// props.insert("bootstrap.servers".to_owned(), "127.0.0.1:9092".to_owned());
/// let producer = EventProducer::new(&props, Duration::from_secs(5))?;
/// let at = producer.send(OutboundRecord::new("events", b"hello".to_vec()).with_key("k")).await?;
/// println!("written at {}/{}", at.partition, at.offset);
/// producer.flush(Duration::from_secs(5)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EventProducer {
    inner: Arc<BaseProducer<Acknowledgements>>,
    /// Declared after `inner`: the last handle drops its share of the client first, then stops the thread,
    /// which holds the other.
    _reports: Arc<ReportThread>,
    send_timeout: Duration,
    /// Set by [`EventProducer::coalescing`]: the writer task records go through.
    writer: Option<Arc<Writer>>,
}

/// How many records the writer task takes from its queue at once.
const WRITER_BATCH: usize = 256;
/// Records waiting for the writer task, at most.
const WRITER_QUEUE: usize = 4096;
/// How often the writer task lets other tasks run before it hands what it took to librdkafka, while each time
/// brings more records.
const WRITER_YIELDS: usize = 4;

/// A record on its way to the writer task.
struct Outgoing {
    record: Arc<OutboundRecord>,
    acknowledged: oneshot::Sender<Acknowledgement>,
    deadline: tokio::time::Instant,
}

/// The writer task of a coalescing producer: its queue, started on the first record (inside a tokio runtime).
struct Writer {
    queue: std::sync::OnceLock<tokio::sync::mpsc::Sender<Outgoing>>,
    /// Records given to the writer and not yet handed to librdkafka ([`EventProducer::flush`] waits for them).
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

impl Writer {
    fn queue(
        &self,
        producer: &Arc<BaseProducer<Acknowledgements>>,
    ) -> &tokio::sync::mpsc::Sender<Outgoing> {
        self.queue.get_or_init(|| {
            let (queue, records) = tokio::sync::mpsc::channel(WRITER_QUEUE);
            tokio::spawn(write(
                Arc::downgrade(producer),
                records,
                Arc::clone(&self.waiting),
            ));
            queue
        })
    }
}

/// The writer task: takes every record waiting, lets the tasks that became ready with them add theirs, then hands
/// them to librdkafka one right after the other, so the records of one burst (the answers to one fetched batch)
/// leave in one produce request instead of one request each. Ends when every handle of the producer is gone.
async fn write(
    producer: std::sync::Weak<BaseProducer<Acknowledgements>>,
    mut records: tokio::sync::mpsc::Receiver<Outgoing>,
    waiting: Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut batch = Vec::with_capacity(WRITER_BATCH);
    while records.recv_many(&mut batch, WRITER_BATCH).await > 0 {
        // The client closes with its last handle, not with this task.
        let Some(producer) = producer.upgrade() else {
            return;
        };
        for _ in 0..WRITER_YIELDS {
            tokio::task::yield_now().await;
            let before = batch.len();
            while batch.len() < WRITER_BATCH {
                match records.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
            if batch.len() == before {
                break;
            }
        }
        let taken = batch.len();
        for outgoing in batch.drain(..) {
            hand_over(&producer, outgoing).await;
        }
        waiting.fetch_sub(taken, Ordering::AcqRel);
    }
}

/// Gives one record to librdkafka, trying a full queue again until the record's deadline.
async fn hand_over(producer: &BaseProducer<Acknowledgements>, outgoing: Outgoing) {
    let Outgoing {
        record,
        mut acknowledged,
        deadline,
    } = outgoing;
    loop {
        match producer.send(base_record(&record, acknowledged)) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), rejected))
                if tokio::time::Instant::now() < deadline =>
            {
                acknowledged = *rejected.delivery_opaque;
                tokio::time::sleep(QUEUE_FULL_RETRY).await;
            }
            Err((error, rejected)) => {
                let _ = rejected.delivery_opaque.send(Err(error));
                return;
            }
        }
    }
}

/// The librdkafka record of `record`, carrying the channel its acknowledgement goes to.
fn base_record(
    record: &OutboundRecord,
    acknowledged: oneshot::Sender<Acknowledgement>,
) -> BaseRecord<'_, [u8], [u8], Box<oneshot::Sender<Acknowledgement>>> {
    let mut base_record = BaseRecord::with_opaque_to(&record.topic, Box::new(acknowledged));
    if let Some(key) = record.key.as_deref() {
        base_record = base_record.key(key);
    }
    if let Some(value) = record.value.as_deref() {
        base_record = base_record.payload(value);
    }
    if let Some(partition) = record.partition {
        base_record = base_record.partition(partition);
    }
    if let Some(headers) = record.owned_headers() {
        base_record = base_record.headers(headers);
    }
    base_record
}

impl std::fmt::Debug for EventProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer")
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

impl EventProducer {
    /// Creates a producer from librdkafka properties.
    ///
    /// `send_timeout` bounds every [`Self::send`]: queueing, delivery and acknowledgement. When the properties do not
    /// set `message.timeout.ms`, it is set to the same deadline so librdkafka gives up at the same time.
    ///
    /// # Errors
    ///
    /// [`StreamingError::CreateClient`] when librdkafka rejects the properties.
    pub fn new(properties: &BTreeMap<String, String>, send_timeout: Duration) -> Result<Self> {
        let mut config = ClientConfig::new();
        for (key, value) in properties {
            config.set(key, value);
        }
        if !properties.contains_key("message.timeout.ms")
            && !properties.contains_key("delivery.timeout.ms")
        {
            config.set(
                "message.timeout.ms",
                send_timeout.as_millis().max(1).to_string(),
            );
        }
        let inner: BaseProducer<Acknowledgements> = config
            .create_with_context(Acknowledgements::default())
            .map_err(|source| StreamingError::CreateClient {
                role: "producer".to_owned(),
                source,
            })?;
        let inner = Arc::new(inner);
        let reports = ReportThread::start(Arc::clone(&inner))?;
        Ok(Self {
            inner,
            _reports: Arc::new(reports),
            send_timeout,
            writer: None,
        })
    }

    /// Hands records to librdkafka through one writer task, in bursts: records enqueued by tasks that run at about
    /// the same time leave in one produce request (see [`write`]) instead of one request each, which costs the
    /// client and the broker a round of work per request. Order is kept: records go to librdkafka in the order
    /// they were enqueued. The task starts with the first record (inside a tokio runtime).
    #[must_use]
    pub fn coalescing(mut self) -> Self {
        self.writer = Some(Arc::new(Writer {
            queue: std::sync::OnceLock::new(),
            waiting: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }));
        self
    }

    /// Writes one record and waits for the broker's acknowledgement.
    ///
    /// # Errors
    ///
    /// [`StreamingError::Produce`] when the broker or client rejects the record, [`StreamingError::ProduceTimeout`]
    /// when no acknowledgement arrives within the send deadline.
    pub async fn send(&self, record: OutboundRecord) -> Result<Delivered> {
        self.send_ref(&record).await
    }

    /// Writes one record the caller keeps (for example to re-send it later) and waits for the broker's
    /// acknowledgement; librdkafka copies key, value and headers, so no clone is needed.
    ///
    /// # Errors
    ///
    /// As [`EventProducer::send`].
    pub async fn send_ref(&self, record: &OutboundRecord) -> Result<Delivered> {
        let span = tracing::debug_span!("kafka.produce", topic = %record.topic, partition = record.partition);
        async { self.enqueue(record).await?.acknowledged().await }
            .instrument(span)
            .await
    }

    /// Hands one record to the producer and returns at once with its acknowledgement still to come, so the
    /// caller can go on while the broker confirms it. Records enqueued one after the other keep their order
    /// within a partition. Waits only while the producer's queue is full (up to the send deadline).
    ///
    /// # Errors
    ///
    /// [`StreamingError::Produce`] when the client rejects the record, [`StreamingError::ProduceTimeout`] when the
    /// queue stayed full until the send deadline.
    pub async fn enqueue(&self, record: &OutboundRecord) -> Result<PendingDelivery> {
        if self.writer.is_some() {
            return self.enqueue_shared(Arc::new(record.clone())).await;
        }
        self.enqueue_direct(record).await
    }

    /// As [`enqueue`](Self::enqueue), for a record the caller shares (for example one it keeps to send again): a
    /// coalescing producer's writer task holds it without a copy.
    ///
    /// # Errors
    ///
    /// As [`enqueue`](Self::enqueue).
    pub async fn enqueue_shared(&self, record: Arc<OutboundRecord>) -> Result<PendingDelivery> {
        let Some(writer) = &self.writer else {
            return self.enqueue_direct(&record).await;
        };
        let deadline = tokio::time::Instant::now() + self.send_timeout;
        let (acknowledged, delivery) = oneshot::channel();
        writer.waiting.fetch_add(1, Ordering::AcqRel);
        let topic = record.topic.clone();
        let outgoing = Outgoing {
            record,
            acknowledged,
            deadline,
        };
        match tokio::time::timeout_at(deadline, writer.queue(&self.inner).send(outgoing)).await {
            Ok(Ok(())) => Ok(PendingDelivery {
                delivery,
                topic,
                deadline,
                after: self.send_timeout,
            }),
            Ok(Err(_closed)) => {
                writer.waiting.fetch_sub(1, Ordering::AcqRel);
                Err(StreamingError::Shutdown)
            }
            Err(_) => {
                writer.waiting.fetch_sub(1, Ordering::AcqRel);
                Err(StreamingError::ProduceTimeout {
                    topic,
                    after: self.send_timeout,
                })
            }
        }
    }

    /// Hands `record` to librdkafka from the calling task.
    async fn enqueue_direct(&self, record: &OutboundRecord) -> Result<PendingDelivery> {
        let deadline = tokio::time::Instant::now() + self.send_timeout;
        loop {
            let (acknowledged, delivery) = oneshot::channel();
            match self.inner.send(base_record(record, acknowledged)) {
                Ok(()) => {
                    return Ok(PendingDelivery {
                        delivery,
                        topic: record.topic.clone(),
                        deadline,
                        after: self.send_timeout,
                    });
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(QUEUE_FULL_RETRY).await;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    return Err(StreamingError::ProduceTimeout {
                        topic: record.topic.clone(),
                        after: self.send_timeout,
                    });
                }
                Err((source, _)) => {
                    return Err(StreamingError::Produce {
                        topic: record.topic.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Waits until every queued record is acknowledged, up to `timeout`.
    ///
    /// # Errors
    ///
    /// [`StreamingError::Flush`] when records are still queued after the timeout.
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let started = tokio::time::Instant::now();
        if let Some(writer) = &self.writer {
            // Records still with the writer task are not in librdkafka's queue yet.
            while writer.waiting.load(Ordering::Acquire) > 0 && started.elapsed() < timeout {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let timeout = timeout.saturating_sub(started.elapsed());
        let producer = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|_| StreamingError::Shutdown)?
            .map_err(|source| StreamingError::Flush { source })
    }

    /// Reads the low and high watermarks of one partition.
    ///
    /// # Errors
    ///
    /// [`StreamingError::Metadata`] when the broker does not answer in time.
    pub async fn watermarks(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> Result<(i64, i64)> {
        let producer = Arc::clone(&self.inner);
        let topic_owned = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_watermarks(&topic_owned, partition, timeout)
        })
        .await
        .map_err(|_| StreamingError::Shutdown)?
        .map_err(|source| StreamingError::Metadata {
            topic: topic.to_owned(),
            source,
        })
    }

    /// The produce requests and records librdkafka's statistics last counted for this producer; `None` unless
    /// its properties set `statistics.interval.ms`, and until the first report.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(properties: std::collections::BTreeMap<String, String>) -> Result<(), autogen_kafka_streaming::StreamingError> {
    /// use std::time::Duration;
    /// use autogen_kafka_streaming::{EventProducer, OutboundRecord};
    ///
    /// let mut properties = properties;
    /// properties.insert("statistics.interval.ms".into(), "100".into());
    /// let producer = EventProducer::new(&properties, Duration::from_secs(10))?;
    /// producer.send(OutboundRecord::new("events", b"hello".to_vec())).await?;
    /// tokio::time::sleep(Duration::from_millis(200)).await;
    /// if let Some(counts) = producer.produce_counts() {
    ///     println!("{} records in {} requests", counts.records, counts.requests);
    /// }
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn produce_counts(&self) -> Option<ProduceCounts> {
        *self
            .inner
            .context()
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The reason of the last error event the producer's client reported (a refused connection, a TLS
    /// certificate not trusted, a SASL handshake refused, ...), if any: what a "broker unreachable" error adds.
    #[must_use]
    pub fn last_client_error(&self) -> Option<String> {
        self.inner.context().last_error.get()
    }

    /// Whether the broker refused this producer's credentials the last time it reported an error (see
    /// [`LastError::is_authentication_failure`](crate::client_log::LastError::is_authentication_failure)).
    #[must_use]
    pub fn authentication_refused(&self) -> bool {
        self.inner.context().last_error.is_authentication_failure()
    }

    /// Number of partitions of `topic`, from the broker's metadata.
    ///
    /// # Errors
    ///
    /// [`StreamingError::Metadata`] when the topic is unknown or the broker does not answer in time.
    pub async fn partition_count(&self, topic: &str, timeout: Duration) -> Result<i32> {
        let producer = Arc::clone(&self.inner);
        let topic_owned = topic.to_owned();
        let metadata = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic_owned), timeout)
        })
        .await
        .map_err(|_| StreamingError::Shutdown)?
        .map_err(|source| StreamingError::Metadata {
            topic: topic.to_owned(),
            source,
        })?;
        let count = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        i32::try_from(count).map_err(|_| StreamingError::NotReady {
            topic: topic.to_owned(),
            after: timeout,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use autogen_kafka_testing::{TestBroker, unique_topic};

    use super::EventProducer;
    use crate::record::OutboundRecord;

    const TEST_TIMEOUT: Duration = Duration::from_secs(90);

    /// An idempotent producer on `broker`, as the streaming tests write their records.
    pub(crate) fn producer(broker: &TestBroker) -> EventProducer {
        let mut props: BTreeMap<String, String> = broker.producer_overrides();
        props.insert(
            "bootstrap.servers".into(),
            broker.bootstrap_servers().into(),
        );
        props.insert("enable.idempotence".into(), "true".into());
        EventProducer::new(&props, Duration::from_secs(10)).unwrap()
    }

    fn coalescing(broker: &TestBroker) -> EventProducer {
        producer(broker).coalescing()
    }

    /// Enqueues `count` records to partition 0 of `topic`, one after the other, without waiting for them.
    async fn enqueue_all(
        producer: &EventProducer,
        topic: &str,
        count: usize,
    ) -> Vec<super::PendingDelivery> {
        let mut pending = Vec::with_capacity(count);
        for i in 0..count {
            let record = OutboundRecord::new(topic, format!("{i}").into_bytes()).with_partition(0);
            pending.push(producer.enqueue(&record).await.unwrap());
        }
        pending
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn statistics_count_the_produce_requests_and_records_sent() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let broker = TestBroker::start().await.unwrap();
            let topic = unique_topic("counted");
            broker.create_topic(&topic, 1).await.unwrap();
            let plain = producer(&broker);
            plain
                .send(OutboundRecord::new(&topic, b"x".to_vec()))
                .await
                .unwrap();
            assert_eq!(plain.produce_counts(), None, "no statistics asked for");

            let mut props: BTreeMap<String, String> = broker.producer_overrides();
            props.insert(
                "bootstrap.servers".into(),
                broker.bootstrap_servers().into(),
            );
            props.insert("statistics.interval.ms".into(), "100".into());
            let counted = EventProducer::new(&props, Duration::from_secs(10)).unwrap();
            // Enqueued back to back: fewer requests than records.
            for delivery in enqueue_all(&counted, &topic, 200).await {
                delivery.acknowledged().await.unwrap();
            }
            autogen_kafka_testing::eventually(
                Duration::from_secs(10),
                Duration::from_millis(50),
                || async { counted.produce_counts().is_some_and(|c| c.records == 200) },
            )
            .await
            .unwrap();
            let counts = counted.produce_counts().unwrap();
            assert!(
                (1..200).contains(&counts.requests),
                "{counts:?}: records enqueued back to back share requests"
            );
            assert!(counts.records_per_request() > 1.0);
        })
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_coalescing_producer_keeps_the_order_of_records_and_acknowledges_each() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let broker = TestBroker::start().await.unwrap();
            let topic = unique_topic("coalesced");
            broker.create_topic(&topic, 1).await.unwrap();
            let producer = coalescing(&broker);
            // Enqueued one after the other without waiting: written in that order.
            let pending = enqueue_all(&producer, &topic, 300).await;
            let mut offsets = Vec::new();
            for delivery in pending {
                offsets.push(delivery.acknowledged().await.unwrap().offset);
            }
            assert!(
                offsets.windows(2).all(|pair| pair[0] < pair[1]),
                "records were written out of order: {offsets:?}"
            );
            // From many tasks at once: every record acknowledged at an offset of its own.
            let sends = (0..8).map(|task| {
                let producer = producer.clone();
                let topic = topic.clone();
                tokio::spawn(async move {
                    let mut offsets = Vec::new();
                    for i in 0..50 {
                        let record =
                            OutboundRecord::new(&topic, format!("{task}-{i}").into_bytes())
                                .with_partition(0);
                        offsets.push(producer.send(record).await.unwrap().offset);
                    }
                    offsets
                })
            });
            let mut all: Vec<i64> = futures::future::join_all(sends)
                .await
                .into_iter()
                .flat_map(Result::unwrap)
                .collect();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 400);
        })
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flush_waits_for_records_still_with_the_writer_task() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let broker = TestBroker::start().await.unwrap();
            let topic = unique_topic("coalesced-flush");
            broker.create_topic(&topic, 1).await.unwrap();
            let producer = coalescing(&broker);
            let pending = enqueue_all(&producer, &topic, 200).await;
            producer.flush(Duration::from_secs(10)).await.unwrap();
            // Flushed: nothing is left with the writer task or in librdkafka's queue.
            let waiting = producer
                .writer
                .as_ref()
                .map(|writer| writer.waiting.load(std::sync::atomic::Ordering::Acquire));
            assert_eq!(waiting, Some(0), "records were still with the writer task");
            assert_eq!(
                rdkafka::producer::Producer::in_flight_count(&*producer.inner),
                0
            );
            let (_, high) = producer
                .watermarks(&topic, 0, Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(high, 200);
            for delivery in pending {
                delivery.acknowledged().await.unwrap();
            }
        })
        .await
        .unwrap();
    }
}

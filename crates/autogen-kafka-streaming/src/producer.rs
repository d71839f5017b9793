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

/// The producer's context: each delivery report goes to the channel its record carried.
struct Acknowledgements;

impl ClientContext for Acknowledgements {}

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
            .create_with_context(Acknowledgements)
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
        })
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
        let deadline = tokio::time::Instant::now() + self.send_timeout;
        loop {
            let (acknowledged, delivery) = oneshot::channel();
            let mut base_record: BaseRecord<'_, [u8], [u8], _> =
                BaseRecord::with_opaque_to(&record.topic, Box::new(acknowledged));
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
            match self.inner.send(base_record) {
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

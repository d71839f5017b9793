//! The librdkafka side: a client context that logs through `tracing`, and blocking metadata
//! helpers that run on `spawn_blocking` threads.

use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::metadata::{Metadata, MetadataTopic};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};
use tracing::level_filters::LevelFilter;

/// How often a blocking helper asks for the metadata again while it waits for a topic.
const METADATA_POLL: Duration = Duration::from_millis(50);

/// How long a metadata client is polled after each request to hand queued events to the
/// context.
const EVENT_DRAIN: Duration = Duration::from_millis(5);

/// The client context of every client this module creates: librdkafka's log lines and client
/// errors go to `tracing` through `autogen_kafka_streaming::client_log` (repeats folded), and the
/// last error event is kept so that a "broker unreachable" error can say why (connection refused,
/// TLS or SASL failure, ...).
#[derive(Debug, Default)]
pub(crate) struct AdminContext {
    last_error: autogen_kafka_streaming::client_log::LastError,
}

impl AdminContext {
    /// The reason of the last error event librdkafka reported, if any.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.get()
    }
}

impl ClientContext for AdminContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        autogen_kafka_streaming::client_log::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        autogen_kafka_streaming::client_log::error(&error, reason);
        self.last_error.record(&error, reason);
    }
}

/// The librdkafka log level matching what `tracing` currently records, so that librdkafka
/// does not build log lines nobody reads.
pub(crate) fn log_level() -> RDKafkaLogLevel {
    let max = LevelFilter::current();
    if max >= LevelFilter::DEBUG {
        RDKafkaLogLevel::Debug
    } else if max >= LevelFilter::INFO {
        RDKafkaLogLevel::Info
    } else if max >= LevelFilter::WARN {
        RDKafkaLogLevel::Warning
    } else {
        RDKafkaLogLevel::Error
    }
}

/// The metadata clients are producers that never produce: they only send metadata requests.
impl ProducerContext for AdminContext {
    type DeliveryOpaque = ();

    fn delivery(
        &self,
        _delivery_result: &DeliveryResult<'_>,
        _delivery_opaque: Self::DeliveryOpaque,
    ) {
    }
}

/// The state of one topic in a metadata answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicState {
    /// The broker does not know the topic.
    Missing,
    /// The topic exists but has no partition yet (being created, leader not elected).
    Pending,
    /// The topic exists and is usable.
    Ready {
        /// Its partition count.
        partitions: u32,
        /// The smallest replica count over its partitions.
        replication_factor: u16,
    },
    /// The broker answered for this topic with another error (for example not authorized).
    Failed(RDKafkaErrorCode),
}

/// What one metadata answer says about the cluster and one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MetadataView {
    /// How many brokers the cluster lists.
    pub(crate) brokers: usize,
    /// The topic that was asked for.
    pub(crate) topic: TopicState,
}

impl MetadataView {
    /// Reads the broker count and the state of `topic` out of a metadata answer.
    pub(crate) fn new(metadata: &Metadata, topic: &str) -> Self {
        Self {
            brokers: metadata.brokers().len(),
            topic: metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .map_or(TopicState::Missing, topic_state),
        }
    }
}

/// The state of a topic listed in a metadata answer.
fn topic_state(topic: &MetadataTopic) -> TopicState {
    match topic.error().map(RDKafkaErrorCode::from) {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            TopicState::Missing
        }
        Some(RDKafkaErrorCode::LeaderNotAvailable) => TopicState::Pending,
        Some(code) => TopicState::Failed(code),
        None if topic.partitions().is_empty() => TopicState::Pending,
        None => TopicState::Ready {
            partitions: u32::try_from(topic.partitions().len()).unwrap_or(u32::MAX),
            replication_factor: topic
                .partitions()
                .iter()
                .map(|partition| u16::try_from(partition.replicas().len()).unwrap_or(u16::MAX))
                .min()
                .unwrap_or(0),
        },
    }
}

/// A client for metadata requests: a producer that never produces. Unlike the admin client
/// it is polled, so librdkafka's log lines and error events reach [`AdminContext`].
pub(crate) type MetadataClient = BaseProducer<AdminContext>;

/// Creates a [`MetadataClient`]; `config` decides whether its metadata requests may
/// auto-create topics.
pub(crate) fn metadata_client(config: &ClientConfig) -> KafkaResult<MetadataClient> {
    config.create_with_context(AdminContext::default())
}

/// One metadata request for `topic` (or for every topic when `None`), blocking for at most
/// `timeout`, then a short poll that hands queued log lines and errors to the context.
pub(crate) fn fetch(
    client: &MetadataClient,
    topic: Option<&str>,
    timeout: Duration,
) -> KafkaResult<MetadataView> {
    let answer = client.client().fetch_metadata(topic, timeout);
    client.poll(EVENT_DRAIN);
    Ok(MetadataView::new(&answer?, topic.unwrap_or_default()))
}

/// The names of the cluster's topics, from one metadata request for every topic.
pub(crate) fn topic_names(client: &MetadataClient, timeout: Duration) -> KafkaResult<Vec<String>> {
    let answer = client.client().fetch_metadata(None, timeout);
    client.poll(EVENT_DRAIN);
    Ok(answer?
        .topics()
        .iter()
        .filter(|topic| topic.error().is_none())
        .map(|topic| topic.name().to_owned())
        .collect())
}

/// Asks for `topic`'s metadata until the topic is [`TopicState::Ready`] or `timeout` has
/// passed. Returns the last view seen (`None` if no request succeeded) and the last request
/// error.
///
/// With a client whose `allow.auto.create.topics` is `true`, each request also asks the broker
/// to create the topic.
pub(crate) fn await_ready(
    client: &MetadataClient,
    topic: &str,
    timeout: Duration,
) -> (Option<MetadataView>, Option<KafkaError>) {
    let deadline = Instant::now() + timeout;
    let mut last_view = None;
    let mut last_error = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match fetch(client, Some(topic), remaining.max(METADATA_POLL)) {
            Ok(view) => {
                let ready = matches!(view.topic, TopicState::Ready { .. });
                last_view = Some(view);
                if ready {
                    return (last_view, None);
                }
            }
            Err(error) => last_error = Some(error),
        }
        if Instant::now() + METADATA_POLL >= deadline {
            return (last_view, last_error);
        }
        // Waiting by polling also serves the client's events.
        client.poll(METADATA_POLL);
    }
}

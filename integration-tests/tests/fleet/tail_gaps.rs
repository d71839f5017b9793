//! Concurrent producers writing one partition: a tail reader that checks the partition's offsets
//! (`TailSpec::check_gaps`, used for reply topics, where several replicas answer at once) and a group consumer
//! that does (`ConsumerSpec::check_gaps`, used for the request and publish topics, where many callers write at
//! once) see every acknowledged record exactly once, even on a broker that serves the producers' batches out of
//! order (Tansu 0.6 with memory storage skips records there; docs/performance.md, finding 8).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly, like the tests that call them"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autogen_kafka::CancellationToken;
use autogen_kafka::streaming::{
    ConsumerSpec, GroupConsumer, HandleFailure, InboundRecord, RecordHandler, TailReader, TailSpec,
    TailStart,
};
use autogen_kafka_testing::rdkafka::producer::{FutureProducer, FutureRecord};
use autogen_kafka_testing::{TestBroker, eventually, unique_group, unique_topic};
use futures::future::BoxFuture;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const PRODUCERS: usize = 3;
const RECORDS_EACH: usize = 1500;

/// Writes `RECORDS_EACH` records to partition 0 of `topic`, one at a time, returning the acknowledged offsets.
async fn write(producer: FutureProducer, topic: String, name: usize) -> Vec<i64> {
    let mut offsets = Vec::with_capacity(RECORDS_EACH);
    for n in 0..RECORDS_EACH {
        let payload = format!("{name}-{n}");
        let delivery = producer
            .send(
                FutureRecord::<str, str>::to(&topic)
                    .partition(0)
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        offsets.push(delivery.offset);
    }
    offsets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_checking_tail_delivers_every_record_of_concurrent_producers_once() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("gaps");
        broker.create_topic(&topic, 1).await.unwrap();
        let delivered: Arc<Mutex<Vec<i64>>> = Arc::default();
        let sink = Arc::clone(&delivered);
        let token = CancellationToken::new();
        let spec = TailSpec::new("gaps", vec![topic.clone()])
            .property("bootstrap.servers", broker.bootstrap_servers())
            .property("fetch.wait.max.ms", "5")
            .start(TailStart::Beginning)
            .check_gaps(topic.clone());
        let reader = TailReader::start(
            spec,
            Arc::new(move |record: InboundRecord| sink.lock().unwrap().push(record.offset)),
            &token,
        )
        .await
        .unwrap();

        let acknowledged = write_concurrently(&broker, &topic).await;
        let all_read = eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { delivered.lock().unwrap().len() >= acknowledged.len() },
        )
        .await;
        let (missing, twice) = missing_and_twice(&acknowledged, &delivered.lock().unwrap());
        assert!(
            all_read.is_ok() && missing.is_empty(),
            "acknowledged but never delivered: {missing:?}"
        );
        assert!(twice.is_empty(), "delivered more than once: {twice:?}");
        token.cancel();
        reader.shutdown().await;
    })
    .await
    .unwrap();
}

/// Writes from `PRODUCERS` producers at once into partition 0 of `topic`; the acknowledged offsets, sorted.
async fn write_concurrently(broker: &TestBroker, topic: &str) -> Vec<i64> {
    let writers: Vec<_> = (0..PRODUCERS)
        .map(|name| {
            let producer: FutureProducer = broker.producer_config().create().unwrap();
            tokio::spawn(write(producer, topic.to_owned(), name))
        })
        .collect();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    acknowledged.sort_unstable();
    acknowledged
}

/// The acknowledged offsets never delivered, and those delivered more than once.
fn missing_and_twice(acknowledged: &[i64], delivered: &[i64]) -> (Vec<i64>, Vec<i64>) {
    let mut times: BTreeMap<i64, u32> = BTreeMap::new();
    for offset in delivered {
        *times.entry(*offset).or_default() += 1;
    }
    let missing = acknowledged
        .iter()
        .copied()
        .filter(|offset| !times.contains_key(offset))
        .collect();
    let twice = times
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(offset, _)| *offset)
        .collect();
    (missing, twice)
}

struct Offsets(Arc<Mutex<Vec<i64>>>);

impl RecordHandler for Offsets {
    fn handle(&self, record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>> {
        self.0.lock().unwrap().push(record.offset);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_checking_group_consumer_handles_every_record_of_concurrent_producers_once() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("group-gaps");
        broker.create_topic(&topic, 1).await.unwrap();
        let handled: Arc<Mutex<Vec<i64>>> = Arc::default();
        let mut properties = broker.group_overrides();
        properties.insert(
            "bootstrap.servers".into(),
            broker.bootstrap_servers().into(),
        );
        properties.insert("auto.offset.reset".into(), "earliest".into());
        properties.insert("fetch.wait.max.ms".into(), "5".into());
        let consumer = GroupConsumer::start(
            ConsumerSpec::new(
                "group-gaps",
                unique_group("group-gaps"),
                vec![topic.clone()],
            )
            .properties(properties)
            .check_gaps(topic.clone()),
            Arc::new(Offsets(Arc::clone(&handled))),
            None,
            &CancellationToken::new(),
        )
        .unwrap();
        consumer
            .wait_assigned(Duration::from_secs(30))
            .await
            .unwrap();
        let acknowledged = write_concurrently(&broker, &topic).await;
        let all_read = eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { handled.lock().unwrap().len() >= acknowledged.len() },
        )
        .await;
        let (missing, twice) = missing_and_twice(&acknowledged, &handled.lock().unwrap());
        assert!(
            all_read.is_ok() && missing.is_empty(),
            "acknowledged but never handled: {missing:?}"
        );
        assert!(twice.is_empty(), "handled more than once: {twice:?}");
        consumer.shutdown().await;
    })
    .await
    .unwrap();
}

//! Tail reader tests against a real Kafka-protocol broker (the fixture's default: the mock cluster).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autogen_kafka_testing::{TestBroker, eventually, unique_topic};
use tokio_util::sync::CancellationToken;

use super::{TailHandler, TailReader, TailSpec, TailStart};
use crate::consumer::TopicPartition;
use crate::error::StreamingError;
use crate::producer::EventProducer;
use crate::producer::tests::producer;
use crate::record::{InboundRecord, OutboundRecord};

const TEST_TIMEOUT: Duration = Duration::from_secs(90);

fn spec(broker: &TestBroker, name: &str, topics: &[&str]) -> TailSpec {
    TailSpec::new(name, topics.iter().map(|t| (*t).to_owned()).collect())
        .property("bootstrap.servers", broker.bootstrap_servers())
        .property("fetch.wait.max.ms", "5")
        .metadata_timeout(Duration::from_secs(10))
}

/// Keeps every record delivered, in delivery order.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<InboundRecord>>,
}

impl Recorder {
    fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn values(&self) -> Vec<Option<String>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.value.clone().map(|v| String::from_utf8(v).unwrap()))
            .collect()
    }

    /// Delivered offsets per partition, in delivery order.
    fn offsets(&self) -> BTreeMap<TopicPartition, Vec<i64>> {
        let mut offsets: BTreeMap<TopicPartition, Vec<i64>> = BTreeMap::new();
        for record in self.seen.lock().unwrap().iter() {
            offsets
                .entry(TopicPartition {
                    topic: record.topic.clone(),
                    partition: record.partition,
                })
                .or_default()
                .push(record.offset);
        }
        offsets
    }
}

struct Shared(Arc<Recorder>);

impl TailHandler for Shared {
    fn on_record(&self, record: InboundRecord) {
        match record.value.as_deref() {
            Some(b"panic") => panic!("handler bug"),
            Some(b"slow") => std::thread::sleep(Duration::from_secs(2)),
            _ => {}
        }
        self.0.seen.lock().unwrap().push(record);
    }
}

async fn start(spec: TailSpec, recorder: &Arc<Recorder>) -> TailReader {
    TailReader::start(
        spec,
        Arc::new(Shared(Arc::clone(recorder))),
        &CancellationToken::new(),
    )
    .await
    .unwrap()
}

async fn send(producer: &EventProducer, topic: &str, key: &str, value: Option<&str>) {
    let record = match value {
        Some(value) => OutboundRecord::new(topic, value.as_bytes().to_vec()).with_key(key),
        None => OutboundRecord::tombstone(topic, key),
    };
    producer.send(record).await.unwrap();
}

/// High watermarks of every partition of `topic`, read through the producer.
async fn highs(
    producer: &EventProducer,
    topic: &str,
    partitions: i32,
) -> BTreeMap<TopicPartition, i64> {
    let mut highs = BTreeMap::new();
    for partition in 0..partitions {
        let (_, high) = producer
            .watermarks(topic, partition, Duration::from_secs(10))
            .await
            .unwrap();
        highs.insert(
            TopicPartition {
                topic: topic.to_owned(),
                partition,
            },
            high,
        );
    }
    highs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_delivers_every_record_before_catch_up_returns() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let table = unique_topic("tail_table");
        let other = unique_topic("tail_other");
        broker.create_topic(&table, 3).await.unwrap();
        broker.create_topic(&other, 1).await.unwrap();
        let producer = producer(&broker);
        for i in 0..150 {
            let value = format!("v{i:03}");
            // Every 10th record deletes its key: tombstones are delivered too.
            let value = (i % 10 != 9).then_some(value.as_str());
            send(&producer, &table, &format!("k{}", i % 20), value).await;
        }
        for i in 0..7 {
            send(&producer, &other, "only", Some(&format!("o{i}"))).await;
        }

        let recorder = Arc::new(Recorder::default());
        let reader = start(spec(&broker, "bootstrap", &[&table, &other]), &recorder).await;
        assert_eq!(reader.partitions().len(), 4);
        reader.catch_up(Duration::from_secs(30)).await.unwrap();

        // No waiting after catch_up: everything acknowledged before it is already delivered.
        assert_eq!(recorder.len(), 157);
        let values = recorder.values();
        assert_eq!(values.iter().filter(|v| v.is_none()).count(), 15);
        for (partition, offsets) in recorder.offsets() {
            let expected: Vec<i64> = (0..offsets.len() as i64).collect();
            assert_eq!(
                offsets, expected,
                "{partition:?} not delivered in offset order"
            );
        }
        let mut expected = highs(&producer, &table, 3).await;
        expected.extend(highs(&producer, &other, 1).await);
        assert_eq!(reader.positions(), expected);
        reader.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_tailing_and_catch_up_sees_acknowledged_writes() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("tail_live");
        broker.create_topic(&topic, 3).await.unwrap();
        let producer = producer(&broker);
        let recorder = Arc::new(Recorder::default());
        let reader = start(spec(&broker, "live", &[&topic]), &recorder).await;

        // Empty partitions count as caught up.
        let started = Instant::now();
        reader.catch_up(Duration::from_secs(10)).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(recorder.len(), 0);

        // Records written after the start arrive without anyone asking.
        for i in 0..30 {
            send(
                &producer,
                &topic,
                &format!("k{i}"),
                Some(&format!("live{i}")),
            )
            .await;
        }
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(10),
            || async { recorder.len() == 30 },
        )
        .await
        .unwrap();

        // Read your writes: every round is fully visible right after catch_up.
        let mut total = 30;
        for round in 0..5 {
            for i in 0..10 {
                send(&producer, &topic, &format!("r{round}-{i}"), Some("x")).await;
            }
            total += 10;
            reader.catch_up(Duration::from_secs(30)).await.unwrap();
            assert_eq!(recorder.len(), total, "round {round}");
        }
        assert_eq!(reader.positions(), highs(&producer, &topic, 3).await);
        reader.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_end_skips_old_records_and_delivers_every_later_one() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("tail_end");
        broker.create_topic(&topic, 3).await.unwrap();
        let producer = producer(&broker);
        for i in 0..40 {
            send(&producer, &topic, &format!("k{i}"), Some("old")).await;
        }
        let before = highs(&producer, &topic, 3).await;

        let recorder = Arc::new(Recorder::default());
        let reader = start(
            spec(&broker, "end", &[&topic]).start(TailStart::End),
            &recorder,
        )
        .await;
        // The end is resolved before start returns.
        assert_eq!(reader.positions(), before);

        // Written right after start returned, with no catch_up in between: delivered.
        for i in 0..20 {
            send(&producer, &topic, &format!("k{i}"), Some("new")).await;
        }
        reader.catch_up(Duration::from_secs(30)).await.unwrap();
        let values = recorder.values();
        assert_eq!(values.len(), 20);
        assert!(values.iter().all(|v| v.as_deref() == Some("new")));

        // And the tail goes on.
        send(&producer, &topic, "late", Some("newer")).await;
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(10),
            || async { recorder.len() == 21 },
        )
        .await
        .unwrap();
        reader.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reader_bootstraps_a_table_and_follows_a_reply_topic_from_its_end() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let table = unique_topic("tail_mixed_table");
        let replies = unique_topic("tail_mixed_replies");
        broker.create_topic(&table, 2).await.unwrap();
        broker.create_topic(&replies, 2).await.unwrap();
        let producer = producer(&broker);
        for i in 0..10 {
            send(&producer, &table, &format!("k{i}"), Some("row")).await;
            send(&producer, &replies, &format!("k{i}"), Some("stale")).await;
        }
        let reply_ends = highs(&producer, &replies, 2).await;

        let recorder = Arc::new(Recorder::default());
        let reader = start(
            spec(&broker, "mixed", &[&table, &replies]).topic_start(&replies, TailStart::End),
            &recorder,
        )
        .await;
        // The reply topic starts at the high watermarks read during start; the table at its beginning.
        let positions = reader.positions();
        for (tp, high) in &reply_ends {
            assert_eq!(positions.get(tp), Some(high), "{tp:?}");
        }
        send(&producer, &replies, "k0", Some("fresh")).await;
        reader.catch_up(Duration::from_secs(30)).await.unwrap();
        let mut values = recorder.values();
        values.sort();
        let mut expected = vec![Some("row".to_owned()); 10];
        expected.push(Some("fresh".to_owned()));
        expected.sort();
        assert_eq!(values, expected);
        reader.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_reader_delivers_nothing_and_everything_after_the_resume() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("tail_pause");
        broker.create_topic(&topic, 2).await.unwrap();
        let producer = producer(&broker);
        let recorder = Arc::new(Recorder::default());
        let reader = start(
            spec(&broker, "pause", &[&topic]).start(TailStart::End),
            &recorder,
        )
        .await;
        send(&producer, &topic, "k0", Some("before")).await;
        reader.catch_up(Duration::from_secs(30)).await.unwrap();
        assert_eq!(recorder.len(), 1);

        reader.pause().unwrap();
        for i in 0..10 {
            send(&producer, &topic, &format!("k{i}"), Some("while paused")).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(recorder.len(), 1, "a paused reader delivered records");

        reader.resume().unwrap();
        reader.catch_up(Duration::from_secs(30)).await.unwrap();
        assert_eq!(recorder.len(), 11);
        let offsets = recorder.offsets();
        for delivered in offsets.values() {
            let mut expected = delivered.clone();
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(
                delivered, &expected,
                "records delivered twice or out of order"
            );
        }
        reader.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topic_is_a_typed_error_within_the_metadata_timeout() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let existing = unique_topic("tail_exists");
        broker.create_topic(&existing, 1).await.unwrap();
        let missing = unique_topic("tail_missing");
        let recorder = Arc::new(Recorder::default());
        let started = Instant::now();
        let result = TailReader::start(
            spec(&broker, "missing", &[&existing, &missing])
                .metadata_timeout(Duration::from_secs(2)),
            Arc::new(Shared(Arc::clone(&recorder))),
            &CancellationToken::new(),
        )
        .await;
        let elapsed = started.elapsed();
        match result {
            Err(StreamingError::NotReady { topic, after }) => {
                assert_eq!(topic, missing);
                assert_eq!(after, Duration::from_secs(2));
            }
            other => panic!("expected NotReady for the missing topic, got {other:?}"),
        }
        assert!(
            elapsed >= Duration::from_secs(2),
            "gave up early: {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(6),
            "waited too long: {elapsed:?}"
        );
        assert!(
            StreamingError::NotReady {
                topic: missing,
                after: elapsed
            }
            .is_retriable()
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_created_during_start_is_picked_up() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = Arc::new(TestBroker::start().await.unwrap());
        let topic = unique_topic("tail_late");
        let creator = {
            let broker = Arc::clone(&broker);
            let topic = topic.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                broker.create_topic(&topic, 2).await.unwrap();
            })
        };
        let recorder = Arc::new(Recorder::default());
        let reader = start(spec(&broker, "late", &[&topic]), &recorder).await;
        creator.await.unwrap();
        assert_eq!(reader.partitions().len(), 2);
        reader.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_times_out_while_the_handler_is_behind_and_a_panic_does_not_stop_the_tail() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("tail_slow");
        broker.create_topic(&topic, 1).await.unwrap();
        let producer = producer(&broker);
        let recorder = Arc::new(Recorder::default());
        let reader = start(spec(&broker, "slow", &[&topic]), &recorder).await;

        send(&producer, &topic, "a", Some("slow")).await;
        send(&producer, &topic, "b", Some("panic")).await;
        send(&producer, &topic, "c", Some("after")).await;
        match reader.catch_up(Duration::from_millis(300)).await {
            Err(StreamingError::NotReady {
                topic: behind,
                after,
            }) => {
                assert_eq!(behind, topic);
                assert_eq!(after, Duration::from_millis(300));
            }
            other => panic!("expected NotReady, got {other:?}"),
        }
        reader.catch_up(Duration::from_secs(30)).await.unwrap();
        assert_eq!(
            recorder.values(),
            vec![Some("slow".to_owned()), Some("after".to_owned())]
        );
        reader.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_joins_the_thread_and_drop_stops_it() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("tail_stop");
        broker.create_topic(&topic, 2).await.unwrap();
        let recorder = Arc::new(Recorder::default());

        // The thread holds the handler: after shutdown returns it is gone.
        let handler: Arc<dyn TailHandler> = Arc::new(Shared(Arc::clone(&recorder)));
        let reader = TailReader::start(
            spec(&broker, "stop", &[&topic]),
            Arc::clone(&handler),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(Arc::strong_count(&handler), 2);
        reader.shutdown().await;
        assert_eq!(Arc::strong_count(&handler), 1);

        // Dropping does not block; the thread ends on its own.
        let reader = TailReader::start(
            spec(&broker, "drop", &[&topic]),
            Arc::clone(&handler),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        drop(reader);
        eventually(
            Duration::from_secs(10),
            Duration::from_millis(10),
            || async { Arc::strong_count(&handler) == 1 },
        )
        .await
        .unwrap();

        // Cancelling the parent token stops the reader: catch_up reports it.
        let token = CancellationToken::new();
        let reader = TailReader::start(spec(&broker, "cancel", &[&topic]), handler, &token)
            .await
            .unwrap();
        token.cancel();
        assert!(matches!(
            reader.catch_up(Duration::from_secs(10)).await,
            Err(StreamingError::Shutdown)
        ));
        reader.shutdown().await;
    })
    .await
    .unwrap();
}

#[test]
fn closures_are_handlers() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let handler: Arc<dyn TailHandler> = Arc::new(move |record: InboundRecord| {
        sink.lock().unwrap().push(record.offset);
    });
    handler.on_record(InboundRecord {
        topic: "t".into(),
        partition: 0,
        offset: 7,
        key: None,
        value: None,
        headers: Vec::new(),
        timestamp_ms: None,
    });
    assert_eq!(*seen.lock().unwrap(), vec![7]);
}

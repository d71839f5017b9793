//! Consumer-group worker tests against a real Kafka-protocol broker (the fixture's default: the mock cluster).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autogen_kafka_testing::{TestBroker, eventually, unique_group, unique_topic};
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::{ConsumerSpec, GroupConsumer, HandleFailure, RecordHandler, dead_letter_headers};
use crate::producer::EventProducer;
use crate::producer::tests::producer;
use crate::record::{InboundRecord, OutboundRecord};

const TEST_TIMEOUT: Duration = Duration::from_secs(90);

fn spec(broker: &TestBroker, name: &str, group: &str, topic: &str) -> ConsumerSpec {
    let mut props = broker.group_overrides();
    props.insert(
        "bootstrap.servers".into(),
        broker.bootstrap_servers().into(),
    );
    props.insert("auto.offset.reset".into(), "earliest".into());
    ConsumerSpec::new(name, group, vec![topic.to_owned()])
        .properties(props)
        .max_in_flight_per_partition(16)
        .commit_interval(Duration::from_millis(100))
        .drain_timeout(Duration::from_secs(5))
}

/// Records every value it sees (per key, in order); fails on "poison", panics on "panic".
#[derive(Default)]
struct Recorder {
    seen: Mutex<HashMap<String, Vec<String>>>,
}

impl Recorder {
    fn total(&self) -> usize {
        self.seen.lock().unwrap().values().map(Vec::len).sum()
    }
}

struct Shared(Arc<Recorder>);

impl RecordHandler for Shared {
    fn handle(&self, record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>> {
        let recorder = Arc::clone(&self.0);
        Box::pin(async move {
            let value = String::from_utf8(record.value.unwrap_or_default()).unwrap();
            match value.as_str() {
                "poison" => return Err(HandleFailure::new("decode", "value is poison")),
                "panic" => panic!("handler bug"),
                _ => {}
            }
            // Different keys finish in different orders; same-key order must still hold.
            tokio::time::sleep(Duration::from_millis(u64::from(value.len() as u8 % 3))).await;
            let key = record
                .key
                .map(|k| String::from_utf8(k).unwrap())
                .unwrap_or_default();
            recorder
                .seen
                .lock()
                .unwrap()
                .entry(key)
                .or_default()
                .push(value);
            Ok(())
        })
    }
}

/// A worker of `spec` that records what it handles (dead letters through `dead_letters`, when given).
fn recording(
    spec: ConsumerSpec,
    dead_letters: Option<EventProducer>,
) -> (GroupConsumer, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let worker = GroupConsumer::start(
        spec,
        Arc::new(Shared(Arc::clone(&recorder))),
        dead_letters,
        &CancellationToken::new(),
    )
    .unwrap();
    (worker, recorder)
}

/// Waits (up to a minute) until `recorder` handled `total` records.
async fn until_total(recorder: &Recorder, total: usize) {
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(20),
        || async { recorder.total() == total },
    )
    .await
    .unwrap();
}

async fn produce_all(producer: &EventProducer, topic: &str, records: &[(String, String)]) {
    for (key, value) in records {
        producer
            .send(OutboundRecord::new(topic, value.clone().into_bytes()).with_key(key.clone()))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_every_record_in_key_order_and_commits() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("ordered");
        broker.create_topic(&topic, 3).await.unwrap();
        let producer = producer(&broker);
        let records: Vec<(String, String)> = (0..120)
            .map(|i| (format!("k{}", i % 7), format!("v{i:03}")))
            .collect();
        produce_all(&producer, &topic, &records).await;

        let group = unique_group("ordered");
        let (worker, recorder) = recording(spec(&broker, "ordered", &group, &topic), None);
        until_total(&recorder, 120).await;
        let seen = recorder.seen.lock().unwrap().clone();
        for (key, values) in &seen {
            let mut sorted = values.clone();
            sorted.sort();
            assert_eq!(
                values, &sorted,
                "records of key {key} were handled out of order"
            );
        }
        assert_eq!(seen.len(), 7);
        worker.shutdown().await;

        // A new worker of the same group finds everything committed: nothing is handled again.
        let again = Arc::new(Recorder::default());
        let worker = GroupConsumer::start(
            spec(&broker, "ordered-2", &group, &topic),
            Arc::new(Shared(Arc::clone(&again))),
            None,
            &CancellationToken::new(),
        )
        .unwrap();
        worker.wait_assigned(Duration::from_secs(30)).await.unwrap();
        produce_all(&producer, &topic, &[("k0".into(), "after-restart".into())]).await;
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async { again.total() >= 1 },
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            again.total(),
            1,
            "only the new record is handled after a restart"
        );
        assert_eq!(
            again.seen.lock().unwrap()["k0"],
            vec!["after-restart".to_owned()]
        );
        worker.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_panicking_records_go_to_the_dead_letter_topic_and_the_rest_flows() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("poison");
        let dlq = unique_topic("poison-dlq");
        broker.create_topic(&topic, 2).await.unwrap();
        broker.create_topic(&dlq, 1).await.unwrap();
        let producer = producer(&broker);
        let mut records: Vec<(String, String)> = (0..20)
            .map(|i| (format!("k{i}"), format!("good{i}")))
            .collect();
        records.insert(5, ("bad".into(), "poison".into()));
        records.insert(12, ("worse".into(), "panic".into()));
        produce_all(&producer, &topic, &records).await;

        let (worker, recorder) = recording(
            spec(&broker, "poison", &unique_group("poison"), &topic).dead_letter_topic(dlq.clone()),
            Some(producer.clone()),
        );
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async {
                recorder.total() == 20
                    && worker
                        .stats()
                        .dead_lettered
                        .load(std::sync::atomic::Ordering::Relaxed)
                        == 2
            },
        )
        .await
        .unwrap();
        let by_kind = worker.stats().dead_letters_by_kind();
        assert_eq!(
            by_kind,
            BTreeMap::from([("decode".to_owned(), 1), ("panic".to_owned(), 1)])
        );
        worker.shutdown().await;

        // Read the dead-letter topic back and check the reasons and source coordinates.
        let dead = Arc::new(Mutex::new(Vec::<InboundRecord>::new()));
        struct Collect(Arc<Mutex<Vec<InboundRecord>>>);
        impl RecordHandler for Collect {
            fn handle(
                &self,
                record: InboundRecord,
            ) -> BoxFuture<'static, Result<(), HandleFailure>> {
                self.0.lock().unwrap().push(record);
                Box::pin(async { Ok(()) })
            }
        }
        let reader = GroupConsumer::start(
            spec(&broker, "dlq-reader", &unique_group("dlq"), &dlq),
            Arc::new(Collect(Arc::clone(&dead))),
            None,
            &CancellationToken::new(),
        )
        .unwrap();
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async { dead.lock().unwrap().len() == 2 },
        )
        .await
        .unwrap();
        reader.shutdown().await;
        let dead = dead.lock().unwrap().clone();
        let poison = dead.iter().find(|r| r.key_str() == Some("bad")).unwrap();
        assert_eq!(poison.value.as_deref(), Some(&b"poison"[..]));
        assert_eq!(poison.header_str(dead_letter_headers::KIND), Some("decode"));
        assert_eq!(
            poison.header_str(dead_letter_headers::REASON),
            Some("value is poison")
        );
        assert_eq!(
            poison.header_str(dead_letter_headers::SOURCE_TOPIC),
            Some(topic.as_str())
        );
        assert!(
            poison
                .header_str(dead_letter_headers::SOURCE_OFFSET)
                .unwrap()
                .parse::<i64>()
                .is_ok()
        );
        let panicked = dead.iter().find(|r| r.key_str() == Some("worse")).unwrap();
        assert_eq!(
            panicked.header_str(dead_letter_headers::KIND),
            Some("panic")
        );
        assert!(
            panicked
                .header_str(dead_letter_headers::REASON)
                .unwrap()
                .contains("handler bug")
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_prefix_filter_skips_other_keys_and_still_commits_them() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("prefix");
        broker.create_topic(&topic, 1).await.unwrap();
        let producer = producer(&broker);
        let records: Vec<(String, String)> = (0..20)
            .map(|i| {
                (
                    if i % 2 == 0 {
                        format!("mine/{i}")
                    } else {
                        format!("other/{i}")
                    },
                    format!("v{i:02}"),
                )
            })
            .collect();
        produce_all(&producer, &topic, &records).await;
        let group = unique_group("prefix");
        let (worker, recorder) = recording(
            spec(&broker, "prefix", &group, &topic).key_prefix("mine/"),
            None,
        );
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async {
                recorder.total() == 10
                    && worker
                        .stats()
                        .skipped
                        .load(std::sync::atomic::Ordering::Relaxed)
                        == 10
            },
        )
        .await
        .unwrap();
        assert!(
            recorder
                .seen
                .lock()
                .unwrap()
                .keys()
                .all(|k| k.starts_with("mine/"))
        );
        worker.shutdown().await;
        // Everything, skipped records included, was committed: a new worker of the group reads nothing old.
        let again = Arc::new(Recorder::default());
        let worker = GroupConsumer::start(
            spec(&broker, "prefix-2", &group, &topic),
            Arc::new(Shared(Arc::clone(&again))),
            None,
            &CancellationToken::new(),
        )
        .unwrap();
        worker.wait_assigned(Duration::from_secs(30)).await.unwrap();
        produce_all(&producer, &topic, &[("other/new".into(), "new".into())]).await;
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async { again.total() >= 1 },
        )
        .await
        .unwrap();
        assert_eq!(again.total(), 1);
        worker.shutdown().await;
    })
    .await
    .unwrap();
}

/// Handles records at once, except that a record with value "hold" waits until `release` is notified.
struct Holding(Arc<tokio::sync::Notify>);

impl RecordHandler for Holding {
    fn handle(&self, record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>> {
        let release = Arc::clone(&self.0);
        Box::pin(async move {
            if record.value.as_deref() == Some(b"hold") {
                release.notified().await;
            }
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_report_the_lag_of_each_assigned_partition() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("lag");
        broker.create_topic(&topic, 1).await.unwrap();
        let producer = producer(&broker);
        // Two records handled and committed, then one that is held: the records of other keys after it are handled
        // but the committed offset cannot pass the held one.
        let mut records: Vec<(String, String)> = vec![
            ("k".into(), "a".into()),
            ("k".into(), "b".into()),
            ("k".into(), "hold".into()),
        ];
        records.extend((0..10).map(|i| (format!("x{i}"), format!("after{i}"))));
        produce_all(&producer, &topic, &records).await;

        let release = Arc::new(tokio::sync::Notify::new());
        let worker = GroupConsumer::start(
            spec(&broker, "lag", &unique_group("lag"), &topic)
                .statistics_interval(Duration::from_millis(100)),
            Arc::new(Holding(Arc::clone(&release))),
            None,
            &CancellationToken::new(),
        )
        .unwrap();
        let partition = super::TopicPartition {
            topic: topic.clone(),
            partition: 0,
        };
        // Committed up to the held record (offset 2): 11 records of the 13 are not consumed yet.
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(50),
            || async { worker.stats().lags().get(&partition) == Some(&11) },
        )
        .await
        .unwrap();
        release.notify_one();
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(50),
            || async { worker.stats().lags().get(&partition) == Some(&0) },
        )
        .await
        .unwrap();
        worker.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latest_group_pins_its_start_so_records_written_after_the_assignment_survive_a_handover()
{
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("pinned");
        broker.create_topic(&topic, 2).await.unwrap();
        let producer = producer(&broker);
        // History the group must not read: it starts at the end.
        produce_all(&producer, &topic, &[("k0".into(), "before".into())]).await;
        let group = unique_group("pinned");
        let latest = |name: &str| {
            spec(&broker, name, &group, &topic).property("auto.offset.reset", "latest")
        };

        // The first owner is assigned, then leaves before handling anything.
        let first = Arc::new(Recorder::default());
        let worker = GroupConsumer::start(
            latest("pinned-1"),
            Arc::new(Shared(Arc::clone(&first))),
            None,
            &CancellationToken::new(),
        )
        .unwrap();
        worker.wait_assigned(Duration::from_secs(30)).await.unwrap();
        worker.shutdown().await;
        // Written after the group's first assignment, while no member runs.
        produce_all(&producer, &topic, &[("k0".into(), "after".into())]).await;

        // The next owner starts where the group was first assigned, not at the end as of its own start.
        let next = Arc::new(Recorder::default());
        let worker = GroupConsumer::start(
            latest("pinned-2"),
            Arc::new(Shared(Arc::clone(&next))),
            None,
            &CancellationToken::new(),
        )
        .unwrap();
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async { next.total() >= 1 },
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(next.seen.lock().unwrap()["k0"], vec!["after".to_owned()]);
        assert_eq!(first.total(), 0);
        worker.shutdown().await;
    })
    .await
    .unwrap();
}

/// Holds every record until a permit is added, and measures how many run at once.
struct Gated {
    permits: Arc<tokio::sync::Semaphore>,
    active: Arc<std::sync::atomic::AtomicUsize>,
    most: Arc<std::sync::atomic::AtomicUsize>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl RecordHandler for Gated {
    fn handle(&self, record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>> {
        use std::sync::atomic::Ordering::SeqCst;
        let (permits, active, most, seen) = (
            Arc::clone(&self.permits),
            Arc::clone(&self.active),
            Arc::clone(&self.most),
            Arc::clone(&self.seen),
        );
        Box::pin(async move {
            let now = active.fetch_add(1, SeqCst) + 1;
            most.fetch_max(now, SeqCst);
            permits.acquire().await.unwrap().forget();
            active.fetch_sub(1, SeqCst);
            seen.lock()
                .unwrap()
                .push(String::from_utf8(record.value.unwrap_or_default()).unwrap());
            Ok(())
        })
    }
}

/// 30 records of distinct keys in one partition, handlers held until released one by one: at most `bound` run
/// at once, the partition is paused at the bound and resumed, and every record is handled exactly once.
async fn bounded_run(bound_spec: impl FnOnce(ConsumerSpec) -> ConsumerSpec, bound: usize) {
    use std::sync::atomic::Ordering::SeqCst;
    let broker = TestBroker::start().await.unwrap();
    let topic = unique_topic("bounded");
    broker.create_topic(&topic, 1).await.unwrap();
    let producer = producer(&broker);
    let records: Vec<(String, String)> = (0..30)
        .map(|i| (format!("k{i}"), format!("v{i:02}")))
        .collect();
    produce_all(&producer, &topic, &records).await;

    let gated = Gated {
        permits: Arc::new(tokio::sync::Semaphore::new(0)),
        active: Arc::default(),
        most: Arc::default(),
        seen: Arc::default(),
    };
    let (permits, most, seen) = (
        Arc::clone(&gated.permits),
        Arc::clone(&gated.most),
        Arc::clone(&gated.seen),
    );
    let worker = GroupConsumer::start(
        bound_spec(spec(&broker, "bounded", &unique_group("bounded"), &topic)),
        Arc::new(gated),
        None,
        &CancellationToken::new(),
    )
    .unwrap();
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(20),
        || async { most.load(SeqCst) == bound },
    )
    .await
    .unwrap();
    // Reading stopped at the bound: the poll thread keeps polling, nothing more starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(most.load(SeqCst), bound);
    assert!(
        worker.stats().paused.load(SeqCst) >= 1,
        "the partition was paused"
    );
    assert!(seen.lock().unwrap().is_empty());
    while seen.lock().unwrap().len() < 30 {
        permits.add_permits(1);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut values = seen.lock().unwrap().clone();
    values.sort();
    let expected: Vec<String> = records.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(values, expected, "every record handled exactly once");
    assert!(
        most.load(SeqCst) <= bound,
        "never more than {bound} at once"
    );
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_is_paused_at_its_in_flight_bound_and_resumed_without_losing_records() {
    tokio::time::timeout(
        TEST_TIMEOUT,
        bounded_run(|spec| spec.max_in_flight_per_partition(3), 3),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_budget_bounds_records_in_flight_across_partitions() {
    tokio::time::timeout(
        TEST_TIMEOUT,
        bounded_run(|spec| spec.budget(super::InFlightBudget::new(2)), 2),
    )
    .await
    .unwrap();
}

/// A two-step handler: "wait" leaves an acknowledgement that resolves once `release` is notified, "refuse" one
/// that fails; every record's own step is recorded in order.
struct TwoStep {
    release: Arc<tokio::sync::Notify>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl RecordHandler for TwoStep {
    fn handle(&self, _record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>> {
        Box::pin(async { panic!("the worker calls handle_then_acknowledge") })
    }

    fn handle_then_acknowledge(
        &self,
        record: InboundRecord,
    ) -> BoxFuture<'static, Result<Option<super::Acknowledgement>, HandleFailure>> {
        let (release, seen) = (Arc::clone(&self.release), Arc::clone(&self.seen));
        Box::pin(async move {
            let value = String::from_utf8(record.value.unwrap_or_default()).unwrap();
            seen.lock().unwrap().push(value.clone());
            Ok(match value.as_str() {
                "wait" => Some(Box::pin(async move {
                    release.notified().await;
                    Ok(())
                }) as super::Acknowledgement),
                "refuse" => Some(Box::pin(async {
                    Err(HandleFailure::new(
                        "produce",
                        "the broker refused the answer",
                    ))
                }) as super::Acknowledgement),
                _ => None,
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_goes_on_while_an_acknowledgement_is_pending_and_the_record_is_done_only_after_it() {
    use std::sync::atomic::Ordering::SeqCst;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("two-step");
        let dlq = unique_topic("two-step-dlq");
        broker.create_topic(&topic, 1).await.unwrap();
        broker.create_topic(&dlq, 1).await.unwrap();
        let producer = producer(&broker);
        let records: Vec<(String, String)> = ["wait", "next", "refuse", "last"]
            .iter()
            .map(|v| ("k".to_owned(), (*v).to_owned()))
            .collect();
        produce_all(&producer, &topic, &records).await;

        let release = Arc::new(tokio::sync::Notify::new());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let worker = GroupConsumer::start(
            spec(&broker, "two-step", &unique_group("two-step"), &topic)
                .dead_letter_topic(dlq)
                .statistics_interval(Duration::from_millis(100)),
            Arc::new(TwoStep {
                release: Arc::clone(&release),
                seen: Arc::clone(&seen),
            }),
            Some(producer.clone()),
            &CancellationToken::new(),
        )
        .unwrap();
        // Every record of the key ran its own step, in order, while the first one's acknowledgement waits.
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async {
                seen.lock().unwrap().len() == 4
                    && worker.stats().handled.load(SeqCst) == 2
                    && worker.stats().dead_lettered.load(SeqCst) == 1
            },
        )
        .await
        .expect("every record ran; a failed acknowledgement is dead-lettered");
        assert_eq!(*seen.lock().unwrap(), ["wait", "next", "refuse", "last"]);
        // Not done until acknowledged: the commit stays before it (all 4 records still count as lag).
        let partition = super::TopicPartition {
            topic: topic.clone(),
            partition: 0,
        };
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { worker.stats().lags().get(&partition) == Some(&4) },
        )
        .await
        .unwrap();
        release.notify_one();
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async {
                worker.stats().handled.load(SeqCst) == 3
                    && worker.stats().lags().get(&partition) == Some(&0)
            },
        )
        .await
        .unwrap();
        worker.shutdown().await;
    })
    .await
    .unwrap();
}

/// [`Shared`] whose revoke reports every partition's state unsaved.
struct Unsaved(Arc<Recorder>);

impl RecordHandler for Unsaved {
    fn handle(&self, record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>> {
        Shared(Arc::clone(&self.0)).handle(record)
    }

    fn on_revoked(
        &self,
        partitions: Vec<super::TopicPartition>,
    ) -> BoxFuture<'static, Vec<super::TopicPartition>> {
        Box::pin(async move { partitions })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_whose_state_was_not_saved_at_a_revoke_is_not_committed() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("unsaved");
        broker.create_topic(&topic, 2).await.unwrap();
        let producer = producer(&broker);
        let records: Vec<(String, String)> =
            (0..40).map(|i| (format!("k{}", i % 8), format!("v{i:02}"))).collect();
        produce_all(&producer, &topic, &records).await;
        let group = unique_group("unsaved");
        // No commit before the revoke: only the revoke could commit.
        let spec = |name: &str| {
            spec(&broker, name, &group, &topic).commit_interval(Duration::from_secs(3600))
        };
        let first = Arc::new(Recorder::default());
        let a = GroupConsumer::start(
            spec("unsaved-a"),
            Arc::new(Unsaved(Arc::clone(&first))),
            None,
            &CancellationToken::new(),
        )
        .unwrap();
        eventually(Duration::from_secs(60), Duration::from_millis(20), || async {
            first.total() == 40
        })
        .await
        .unwrap();
        // A second member takes a partition away from the first, whose revoke reports it unsaved.
        let second = Arc::new(Recorder::default());
        let b = GroupConsumer::start(
            spec("unsaved-b"),
            Arc::new(Shared(Arc::clone(&second))),
            None,
            &CancellationToken::new(),
        )
        .unwrap();
        eventually(Duration::from_secs(60), Duration::from_millis(50), || async {
            second.total() > 0
        })
        .await
        .expect("the records of a partition whose state was not saved are handled again by its next owner");
        assert_eq!(
            a.stats().commits.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "the revoke committed nothing"
        );
        b.shutdown().await;
        a.shutdown().await;
    })
    .await
    .unwrap();
}

/// Never finishes a record of key `stuck`; counts the handler futures dropped unfinished.
struct Stuck {
    started: Arc<std::sync::atomic::AtomicUsize>,
    dropped: Arc<std::sync::atomic::AtomicUsize>,
}

struct DropCounter(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl RecordHandler for Stuck {
    fn handle(&self, _record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>> {
        self.started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let guard = DropCounter(Arc::clone(&self.dropped));
        Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_cancels_records_still_running_after_the_drain_and_waits_for_their_tasks() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("stuck");
        broker.create_topic(&topic, 1).await.unwrap();
        let producer = producer(&broker);
        produce_all(&producer, &topic, &[("stuck".into(), "v".into())]).await;
        let (started, dropped) = (
            Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        );
        let worker = GroupConsumer::start(
            spec(&broker, "stuck", &unique_group("stuck"), &topic)
                .drain_timeout(Duration::from_millis(500)),
            Arc::new(Stuck {
                started: Arc::clone(&started),
                dropped: Arc::clone(&dropped),
            }),
            None,
            &CancellationToken::new(),
        )
        .unwrap();
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async { started.load(std::sync::atomic::Ordering::SeqCst) == 1 },
        )
        .await
        .unwrap();
        tokio::time::timeout(Duration::from_secs(20), worker.shutdown())
            .await
            .expect("a stuck record does not hold a stop");
        assert_eq!(
            dropped.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the stuck record's task ended with the stop"
        );
    })
    .await
    .unwrap();
}

/// The offset the broker holds for `group` on partition 0 of `topic` (asked by a client that does not join).
fn committed_offset(broker: &TestBroker, group: &str, topic: &str) -> Option<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let mut config = broker.consumer_config(group);
    config.set("enable.auto.commit", "false");
    let observer: BaseConsumer = config.create().unwrap();
    let mut list = rdkafka::TopicPartitionList::new();
    list.add_partition(topic, 0);
    let committed = observer
        .committed_offsets(list, Duration::from_secs(5))
        .ok()?;
    committed
        .elements()
        .first()
        .and_then(|element| match element.offset() {
            rdkafka::Offset::Offset(offset) => Some(offset),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_periodic_commit_the_broker_refused_is_sent_again_while_nothing_moves() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    tokio::time::timeout(TEST_TIMEOUT, async {
        // Injected request errors need the mock cluster, whatever broker the other tests use.
        let broker = TestBroker::mock().await.unwrap();
        let topic = unique_topic("refused");
        broker.create_topic(&topic, 1).await.unwrap();
        let producer = producer(&broker);
        let records: Vec<(String, String)> = (0..20)
            .map(|i| (format!("k{}", i % 4), format!("v{i:02}")))
            .collect();
        produce_all(&producer, &topic, &records).await;
        let group = unique_group("refused");
        // Every commit is refused, as a broker refuses them while its group rebalances, until cleared below.
        let cluster = broker.mock_cluster().expect("a mock cluster");
        cluster
            .request_errors(
                RDKafkaApiKey::OffsetCommit,
                &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS; 1000],
            )
            .await
            .unwrap();
        let (a, first) = recording(
            spec(&broker, "refused-a", &group, &topic).commit_refresh(Duration::from_millis(500)),
            None,
        );
        until_total(&first, 20).await;
        // The commits of the 20 records went out and were refused; nothing new arrives from here on.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (broker_ref, group_ref, topic_ref) = (&broker, group.clone(), topic.clone());
        assert_eq!(
            tokio::task::block_in_place(|| committed_offset(broker_ref, &group_ref, &topic_ref)),
            None,
            "every commit so far was refused"
        );
        cluster
            .clear_request_errors(RDKafkaApiKey::OffsetCommit)
            .await
            .unwrap();
        eventually(
            Duration::from_secs(20),
            Duration::from_millis(100),
            || async {
                tokio::task::block_in_place(|| committed_offset(broker_ref, &group_ref, &topic_ref))
                    == Some(20)
            },
        )
        .await
        .expect("the refused offset is committed again without any new record");
        a.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_after_the_broker_went_away_still_returns() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let topic = unique_topic("gone");
        broker.create_topic(&topic, 2).await.unwrap();
        let producer = producer(&broker);
        produce_all(&producer, &topic, &[("k".into(), "v".into())]).await;
        let (worker, recorder) = recording(
            spec(&broker, "gone", &unique_group("gone"), &topic)
                .drain_timeout(Duration::from_millis(500)),
            None,
        );
        until_total(&recorder, 1).await;
        drop(producer);
        broker.shutdown().await.unwrap();
        // The drain timeout plus the stop margin (30 s) plus the client's close bound (10 s), with room to spare.
        tokio::time::timeout(Duration::from_secs(45), worker.shutdown())
            .await
            .expect("a stop returns although the broker is gone");
    })
    .await
    .unwrap();
}

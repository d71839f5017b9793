//! Kafka memory tests against a real Kafka-protocol broker (the fixture's default: the mock cluster).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autogen_kafka_admin::CreateMode;
use autogen_kafka_config::{AutoOffsetReset, Config, SerializationFormat};
use autogen_kafka_events::{EventCodec, MemoryMimeType, PlainJsonCodec};
use autogen_kafka_streaming::{EventProducer, InboundRecord, OutboundRecord, TailReader, TailSpec};
use autogen_kafka_testing::{
    BrokerKind, SchemaRegistryStandIn, TestBroker, eventually, unique_group, unique_topic,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::KafkaMemory;
use crate::content::{Content, MemoryContent};
use crate::error::MemoryError;
use crate::golden::{self, SENDER, SESSION};
use crate::memory::Memory;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(10);

fn config_builder(broker: &TestBroker, test: &str) -> autogen_kafka_config::ConfigBuilder {
    Config::builder()
        .without_env()
        .bootstrap_servers([broker.bootstrap_servers()])
        .group_id(unique_group(test))
        .serialization_format(SerializationFormat::Json)
        .set("memory.memory_topic", unique_topic(test))
        .set("streaming.fetch_wait_max_ms", 5)
        .set("streaming.linger_ms", 0)
}

fn config(broker: &TestBroker, test: &str) -> Config {
    config_builder(broker, test).build().unwrap()
}

async fn start(broker: &TestBroker, config: &Config, session: &str) -> KafkaMemory {
    let mode = match broker.kind() {
        BrokerKind::Mock => CreateMode::AutoCreate,
        _ => CreateMode::Admin,
    };
    KafkaMemory::builder(config.clone(), session)
        .topic_creation(mode)
        .startup_timeout(WAIT)
        .apply_timeout(WAIT)
        .start()
        .await
        .unwrap()
}

fn producer(broker: &TestBroker) -> EventProducer {
    let mut props: BTreeMap<String, String> = broker.producer_overrides();
    props.insert(
        "bootstrap.servers".into(),
        broker.bootstrap_servers().into(),
    );
    EventProducer::new(&props, Duration::from_secs(10)).unwrap()
}

async fn wait_len(memory: &KafkaMemory, len: usize) {
    eventually(WAIT, POLL, || async { memory.len() == len })
        .await
        .unwrap_or_else(|error| panic!("{error}: {:?}", memory.contents()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_every_kind_of_content_once_and_in_one_order() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = config(&broker, "memory_share");
        let alice = start(&broker, &config, "chat").await;
        let bob = start(&broker, &config, "chat").await;
        assert_ne!(alice.instance_id(), bob.instance_id());
        assert_eq!(alice.topic(), bob.topic());
        assert!(alice.topic().ends_with("_chat"));

        let entries = [
            MemoryContent::text("the sky is blue").with_metadata_entry("source", "alice"),
            MemoryContent::markdown("# Notes\n*bold*"),
            MemoryContent::json(json!({"city": "Oslo", "tags": [1, 2.5, null]})),
            MemoryContent::binary(vec![0_u8, 1, 0xfe, 0xff]),
            MemoryContent::text("no metadata"),
            MemoryContent::image(b"\x89PNG".to_vec()).with_metadata_entry("w", 1),
        ];
        for (i, entry) in entries.iter().enumerate() {
            let writer = if i % 2 == 0 { &alice } else { &bob };
            Memory::add(writer, entry.clone()).await.unwrap();
            // Read your writes: the writer has applied its own addition when `add` returns.
            assert_eq!(writer.contents().last(), Some(entry));
        }
        wait_len(&alice, entries.len()).await;
        wait_len(&bob, entries.len()).await;
        // A last addition, seen by both: everything before it is applied, so the counts are final.
        bob.add(MemoryContent::text("last")).await.unwrap();
        wait_len(&alice, entries.len() + 1).await;
        let seen_by_alice = Memory::query(&alice, "ignored").await.unwrap();
        let seen_by_bob = Memory::query(&bob, "").await.unwrap();
        assert_eq!(seen_by_alice, seen_by_bob);
        assert_eq!(&seen_by_alice[..entries.len()], &entries[..]);
        assert_eq!(alice.skipped_records(), 0);
        assert_eq!(
            seen_by_bob[3].content,
            Content::Bytes(vec![0, 1, 0xfe, 0xff])
        );

        alice.close().await.unwrap();
        bob.close().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_instances_replay_the_history_and_clear_propagates() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = config(&broker, "memory_replay");
        let first = start(&broker, &config, "s1").await;
        let watcher = start(&broker, &config, "s1").await;
        for i in 0..3 {
            first
                .add(MemoryContent::text(format!("old {i}")))
                .await
                .unwrap();
        }

        // Started later: the whole history is applied before `start` returns.
        let late = start(&broker, &config, "s1").await;
        let old: Vec<String> = late.contents().iter().map(ToString::to_string).collect();
        assert_eq!(old, ["old 0", "old 1", "old 2"]);
        // Another session's memory is another topic.
        let other = start(&broker, &config, "s2").await;
        assert!(other.is_empty());

        // Clear from the late instance: every instance empties its list.
        wait_len(&watcher, 3).await;
        late.clear().await.unwrap();
        assert!(late.is_empty());
        wait_len(&watcher, 0).await;
        wait_len(&first, 0).await;
        first.add(MemoryContent::text("new")).await.unwrap();
        wait_len(&watcher, 1).await;

        // The history keeps the clear: a new instance ends in the same state.
        let newest = start(&broker, &config, "s1").await;
        assert_eq!(newest.contents(), [MemoryContent::text("new")]);

        // A restarted instance with a stable id replays its own earlier additions too.
        let again = KafkaMemory::builder(config.clone(), "s1")
            .instance_id(first.instance_id())
            .topic_creation(CreateMode::AutoCreate)
            .startup_timeout(WAIT)
            .start()
            .await
            .unwrap();
        assert_eq!(again.instance_id(), first.instance_id());
        assert_eq!(again.contents(), [MemoryContent::text("new")]);

        // `latest`: only what is added after the start.
        let mut tail_config = config.clone();
        tail_config.memory.auto_offset_reset = AutoOffsetReset::Latest;
        let recent = start(&broker, &tail_config, "s1").await;
        assert!(recent.is_empty());
        first.add(MemoryContent::text("after")).await.unwrap();
        wait_len(&recent, 1).await;

        for memory in [first, watcher, late, other, newest, again, recent] {
            memory.close().await.unwrap();
        }
    })
    .await
    .unwrap();
}

/// Every record value of `topic` (one partition), read from the beginning.
async fn raw_values(broker: &TestBroker, topic: &str, count: usize) -> Vec<Vec<u8>> {
    let values = raw(broker, topic, |record| record.value.unwrap_or_default()).await;
    assert_eq!(values.len(), count);
    values
}

/// What `pick` takes of every record of `topic` so far, in each partition's order.
async fn raw<T: Clone + Send + 'static>(
    broker: &TestBroker,
    topic: &str,
    pick: fn(InboundRecord) -> T,
) -> Vec<T> {
    let seen: Arc<Mutex<Vec<T>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let handler = move |record: InboundRecord| {
        sink.lock().unwrap().push(pick(record));
    };
    let spec = TailSpec::new("raw", vec![topic.to_owned()])
        .property("bootstrap.servers", broker.bootstrap_servers())
        .property("fetch.wait.max.ms", "5");
    let reader = TailReader::start(spec, Arc::new(handler), &CancellationToken::new())
        .await
        .unwrap();
    reader.catch_up(WAIT).await.unwrap();
    reader.shutdown().await;
    seen.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_records_are_read_and_written_byte_for_byte() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        // A fresh registry hands out id 1, the id of the golden records.
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let config = config_builder(&broker, "memory_golden")
            .serialization_format(SerializationFormat::JsonSchema)
            .schema_registry_url(registry.url())
            .build()
            .unwrap();
        let topic = config.memory.topic(SESSION);
        broker.create_topic(&topic, 1).await.unwrap();

        // Records written by the Python original, before any Rust instance starts.
        let python = producer(&broker);
        let vectors = golden::vectors();
        for vector in &vectors {
            let record = OutboundRecord::new(topic.clone(), vector.value.clone()).with_key(SESSION);
            python.send(record).await.unwrap();
        }
        let memory = KafkaMemory::builder(config.clone(), SESSION)
            .instance_id(SENDER)
            .topic_creation(CreateMode::AutoCreate)
            .startup_timeout(WAIT)
            .start()
            .await
            .unwrap();
        let expected: Vec<MemoryContent> = vectors.iter().map(|v| v.content.clone()).collect();
        // All five replayed, `memory_add_text_no_metadata` (which upstream cannot read) included.
        assert_eq!(memory.contents(), expected);
        assert_eq!(memory.skipped_records(), 0);
        assert_eq!(registry.subjects(), [format!("{topic}-value")]);

        // Our writer, given the same inputs, writes the same bytes (with "{}" for no metadata, where
        // upstream writes the null its own readers crash on).
        for vector in &vectors {
            memory.add(vector.content.clone()).await.unwrap();
        }
        let values = raw_values(&broker, &topic, 2 * vectors.len()).await;
        for (vector, written) in vectors.iter().zip(&values[vectors.len()..]) {
            let expected = golden::as_we_write(&vector.value);
            assert_eq!(
                String::from_utf8_lossy(written),
                String::from_utf8_lossy(&expected),
                "{}",
                vector.name
            );
            assert_eq!(written, &expected, "{}", vector.name);
        }
        assert_eq!(memory.len(), 2 * vectors.len());
        memory.close().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_records_are_skipped_and_reading_goes_on() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = config(&broker, "memory_garbage");
        let topic = config.memory.topic("g");
        broker.create_topic(&topic, 1).await.unwrap();
        let other = producer(&broker);
        let send = |value: Vec<u8>| {
            let record = OutboundRecord::new(topic.clone(), value).with_key("g");
            let other = other.clone();
            async move { other.send(record).await.unwrap() }
        };
        let plain = PlainJsonCodec::new();
        send(b"not json at all".to_vec()).await;
        send(b"\x00\x00\x00\x00\x01{\"sender\":".to_vec()).await;
        send(br#"{"sender":"py","mime_type":"application/octet-stream","content":"%%"}"#.to_vec())
            .await;
        // Unknown mime type and null metadata: kept.
        send(
            br#"{"sender":"py","mime_type":"video/mp4","content":"clip","metadata":null}"#.to_vec(),
        )
        .await;
        let valid = MemoryContent::text("valid").to_event("py").unwrap();
        send(plain.encode(&valid).unwrap()).await;

        let memory = start(&broker, &config, "g").await;
        assert_eq!(memory.skipped_records(), 3);
        let contents = memory.contents();
        assert_eq!(contents.len(), 2);
        assert_eq!(
            contents[0].mime_type,
            MemoryMimeType::Other("video/mp4".into())
        );
        assert_eq!(contents[0].content, Content::Text("clip".into()));
        assert_eq!(contents[1], MemoryContent::text("valid"));

        // Live garbage is skipped too, and the next record is applied.
        send(b"{}".to_vec()).await;
        send(plain.encode(&valid).unwrap()).await;
        wait_len(&memory, 3).await;
        assert_eq!(memory.skipped_records(), 4);
        memory.close().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_memory_refuses_changes_and_keeps_its_entries() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = config(&broker, "memory_close");
        let memory = start(&broker, &config, "c").await;
        let shared: Arc<dyn Memory> = Arc::new(memory.clone());
        shared.add(MemoryContent::text("kept")).await.unwrap();
        assert_eq!(shared.name(), memory.topic());
        let context = shared.context_text().await.unwrap().unwrap();
        assert!(context.contains("1. kept"), "{context:?}");

        // Content Python could not read is refused before anything is written.
        let video = MemoryContent::new("x", MemoryMimeType::from("video/mp4"));
        assert!(matches!(
            shared.add(video).await,
            Err(MemoryError::UnsupportedMimeType { .. })
        ));

        shared.close().await.unwrap();
        assert!(memory.is_closed());
        assert!(matches!(
            memory.add(MemoryContent::text("late")).await,
            Err(MemoryError::Closed { .. })
        ));
        assert!(matches!(
            memory.clear().await,
            Err(MemoryError::Closed { .. })
        ));
        assert_eq!(
            shared.query("").await.unwrap(),
            [MemoryContent::text("kept")]
        );
        memory.close().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_sessions_and_configurations_fail_before_any_broker_call() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = config(&broker, "memory_invalid");
        let error = KafkaMemory::builder(config.clone(), "bad session/id")
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(&error, MemoryError::InvalidSession { session_id, .. } if session_id == "bad session/id"),
            "{error:?}"
        );
        assert!(!error.is_retriable());
        let mut invalid = config;
        invalid.memory.num_partitions = 0;
        let error = KafkaMemory::builder(invalid, "ok").start().await.unwrap_err();
        assert!(
            matches!(error, MemoryError::InvalidConfig { .. }),
            "{error:?}"
        );
    })
    .await
    .unwrap();
}

/// One record as the raw reader saw it: partition, key, whether it is a tombstone.
type RawRecord = (i32, Vec<u8>, bool);

/// Every record of `topic` so far, in each partition's order.
async fn raw_records(broker: &TestBroker, topic: &str) -> Vec<RawRecord> {
    raw(broker, topic, |record| {
        let tombstone = record.value.is_none();
        (record.partition, record.key.unwrap_or_default(), tombstone)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_has_a_key_python_readers_obey_and_follows_the_entries_in_their_partition() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let config = config_builder(&broker, "memory_clear_key")
            .set("memory.num_partitions", 3)
            .build()
            .unwrap();
        let session = "session-7";
        let topic = config.memory.topic(session);
        broker.create_topic(&topic, 3).await.unwrap();
        let memory = start(&broker, &config, session).await;
        for i in 0..3 {
            memory
                .add(MemoryContent::text(format!("entry {i}")))
                .await
                .unwrap();
        }
        memory.clear().await.unwrap();
        assert!(memory.is_empty());

        let records = raw_records(&broker, &topic).await;
        let entries: Vec<&RawRecord> = records.iter().filter(|r| !r.2).collect();
        let clears: Vec<&RawRecord> = records.iter().filter(|r| r.2).collect();
        assert_eq!((entries.len(), clears.len()), (3, 1), "{records:?}");
        let (partition, key, _) = clears[0];
        assert!(
            entries
                .iter()
                .all(|(p, k, _)| p == partition && k == session.as_bytes())
        );
        // The Python reader's rule: a tombstone whose key (as text) starts with its session id is
        // not a clear.
        assert!(
            !String::from_utf8_lossy(key).starts_with(session),
            "{key:?}"
        );

        // Ordered after the entries: a later instance replays them and the clear.
        let later = start(&broker, &config, session).await;
        assert!(later.is_empty(), "{:?}", later.contents());
        later.add(MemoryContent::text("after")).await.unwrap();
        wait_len(&memory, 1).await;
        memory.close().await.unwrap();
        later.close().await.unwrap();
    })
    .await
    .unwrap();
}

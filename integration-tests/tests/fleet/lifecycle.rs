//! A fleet that survives its own lifecycle: a host killed with `kill -9` is replaced at once by one with a new
//! instance id, the survivors clean up what the dead one left, and a graceful stop removes its own traces.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly, like the tests that call them"
)]

use autogen_kafka_integration_tests::register_reader;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autogen_kafka::config::SerializationFormat;
use autogen_kafka::{AgentId, AgentRuntime, AgentRuntimeExt, TypeSubscription};
use autogen_kafka_integration_tests::{
    CapturedLogs, Deliveries, Ping, Pong, assert_echo_answers, create_fleet_topics, echo_pair,
    fleet_config, publish_news, records_in, register_echo, start_registry_fleet,
    subscribed_consumer, topic_creation, worker, worker_config,
};
use autogen_kafka_testing::rdkafka::Message as _;
use autogen_kafka_testing::rdkafka::consumer::{BaseConsumer, Consumer as _};
use autogen_kafka_testing::rdkafka::producer::{FutureProducer, FutureRecord};
use autogen_kafka_testing::{BrokerKind, TestBroker, eventually, unique_group, unique_topic};

use crate::crash::spawn_fleet_worker;

const TEST_TIMEOUT: Duration = Duration::from_secs(170);

/// A `fleet-worker` process hosting `counter`, subscribed to `topic_type`: its instance id and subscription id.
fn spawn_subscribed_worker(
    broker: &TestBroker,
    fleet: &str,
    group: &str,
    name: &str,
    topic_type: &str,
) -> (Child, String, String) {
    let (child, ready) = spawn_fleet_worker(broker, fleet, group, name, Some(topic_type));
    let [instance, subscription] = ready.as_slice() else {
        panic!("worker {name} did not name its subscription: {ready:?}");
    };
    (child, instance.clone(), subscription.clone())
}

/// Writes a tombstone for `key` to `topic`, as a survivor's clean-up does, and waits until the topic holds the
/// tombstone and two values for `key`: the one written at start and the one its live runtime wrote again. Read back
/// rather than counted (Tansu's watermarks may trail a partition's last write); the tombstone may sit in another
/// partition (this producer's partitioner), so the order is not checked.
async fn tombstone_then_see_it_written_again(broker: &TestBroker, topic: &str, key: &str) {
    let producer: FutureProducer = broker.producer_config().create().unwrap();
    producer
        .send(
            FutureRecord::<str, [u8]>::to(topic).key(key),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let reader = subscribed_consumer(broker, "tombstone-reader", topic);
    let (mut removed, mut values) = (false, 0);
    tokio::time::timeout(Duration::from_secs(30), async {
        while !(removed && values >= 2) {
            let record = reader.recv().await.unwrap();
            if record.key() == Some(key.as_bytes()) {
                match record.payload() {
                    None => removed = true,
                    Some(_) => values += 1,
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{key} in {topic} was not written again after its tombstone"));
}

/// Whether `topic` exists on the broker.
fn topic_exists(broker: &TestBroker, topic: &str) -> bool {
    let consumer: BaseConsumer = broker.consumer_config("topic-probe").create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    metadata
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_with_sigkill_is_replaced_at_once_under_a_new_instance_id_and_cleaned_up_after()
 {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("lifecycle");
        let group = unique_group("lifecycle");
        let config = fleet_config(broker.bootstrap_servers(), broker.kind(), &fleet, &group);
        create_fleet_topics(&broker, &config, 3).await;
        let caller = worker(&broker, config.clone(), "caller");
        caller.start().await.unwrap();
        let (broker_ref, fleet_ref, group_ref) = (&broker, fleet.clone(), group.clone());
        let (mut victim, victim_id, victim_subscription) = tokio::task::block_in_place(|| {
            spawn_subscribed_worker(broker_ref, &fleet_ref, &group_ref, "victim", "news")
        });
        let victim_reply_topic = format!("{}.{victim_id}", config.runtime.runtime_responses);
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async { caller.knows_subscription(&victim_subscription) },
        )
        .await
        .unwrap();

        // kill -9: no unregistration, no subscription removal, no reply topic deletion.
        victim.kill().unwrap();
        victim.wait().unwrap();

        // The replacement, with a new instance id, the same type and an equivalent subscription, right away.
        let replacement = worker(&broker, config.clone(), "replacement");
        let seen: Deliveries = Arc::new(Mutex::new(Vec::new()));
        register_reader(&replacement, "counter", &seen).await;
        replacement.start().await.unwrap();
        let subscription = TypeSubscription::new("news", "counter").unwrap();
        let subscription_id = subscription.id().to_owned();
        replacement
            .add_subscription(subscription.into())
            .await
            .expect("a dead runtime's subscription does not block its replacement's");
        // A publisher fans out from its own view of the subscriptions, which lags another runtime's
        // `add_subscription` (architecture.md, "Not guaranteed"); on a loaded machine the victim's subscription
        // may already have lapsed by then.
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { caller.knows_subscription(&subscription_id) },
        )
        .await
        .expect("the caller reads the replacement's subscription");

        // Every publication reaches the replacement's agents, once, while the dead runtime's entries are still
        // in every view and after they expired.
        publish_news(&caller, 0..20).await;
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(200),
            || async { seen.lock().unwrap().len() >= 20 },
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the replacement got {} of 20 publications",
                seen.lock().unwrap().len()
            )
        });
        // Once the victim expired (registry_expiry 3 s) and the grace passed (2 s), the survivors tombstone its
        // subscription and delete its reply topic (brokers with the Admin API).
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(200),
            || async {
                !caller.knows_subscription(&victim_subscription)
                    && !replacement.knows_subscription(&victim_subscription)
            },
        )
        .await
        .expect("the dead runtime's subscription is removed by the survivors");
        if broker.kind() != BrokerKind::Mock {
            let (broker_ref, topic) = (&broker, victim_reply_topic.clone());
            eventually(
                Duration::from_secs(15),
                Duration::from_millis(200),
                || async { !tokio::task::block_in_place(|| topic_exists(broker_ref, &topic)) },
            )
            .await
            .expect("the dead runtime's reply topic is deleted by the survivors");
        }
        publish_news(&caller, 20..25).await;
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async { seen.lock().unwrap().len() >= 25 },
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut headlines: Vec<String> = seen.lock().unwrap().iter().map(|d| d.2.clone()).collect();
        headlines.sort();
        let before = headlines.len();
        headlines.dedup();
        assert_eq!(before, headlines.len(), "no publication delivered twice");
        assert_eq!(headlines.len(), 25);

        // A graceful stop deletes the runtime's own reply topic (brokers with the Admin API).
        let reply_topic = replacement.reply_topic().to_owned();
        if broker.kind() != BrokerKind::Mock {
            assert!(tokio::task::block_in_place(|| topic_exists(
                &broker,
                &reply_topic
            )));
        }
        replacement.stop().await.unwrap();
        if broker.kind() != BrokerKind::Mock {
            assert!(
                !tokio::task::block_in_place(|| topic_exists(&broker, &reply_topic)),
                "a stopped runtime's reply topic is deleted"
            );
        }
        caller.stop().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_id_comes_from_the_configuration_and_one_runtime_holds_a_subscription_once() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("instance");
        let group = unique_group("instance");
        let mut config = fleet_config(broker.bootstrap_servers(), broker.kind(), &fleet, &group);
        create_fleet_topics(&broker, &config, 3).await;
        let id = unique_group("pod-0");
        config.runtime.instance_id = Some(id.clone());
        let mode = topic_creation(broker.kind());
        let runtime = autogen_kafka::KafkaWorkerAgentRuntime::builder(config.clone())
            .topic_creation(mode)
            .build()
            .unwrap();
        assert_eq!(runtime.instance_id(), id);
        assert_eq!(
            runtime.reply_topic(),
            format!("{}.{id}", config.runtime.runtime_responses)
        );
        let seen: Deliveries = Arc::new(Mutex::new(Vec::new()));
        register_reader(&runtime, "reader", &seen).await;
        runtime.start().await.unwrap();
        let first = TypeSubscription::new("news", "reader").unwrap();
        runtime.add_subscription(first.into()).await.unwrap();
        let again = runtime
            .add_subscription(TypeSubscription::new("news", "reader").unwrap().into())
            .await;
        assert!(
            matches!(
                again,
                Err(autogen_kafka::core::CoreError::DuplicateSubscription { .. })
            ),
            "{again:?}"
        );
        runtime.stop().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_directory_record_per_heartbeat_keeps_every_registration_alive_and_a_removed_one_is_written_again()
 {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("heartbeats");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, 3).await;
        let caller = worker(&broker, config.clone(), "caller");
        let host = worker(&broker, config.clone(), "host");
        for agent_type in ["echo_a", "echo_b", "echo_c"] {
            register_echo(&host, agent_type, "host").await;
        }
        let (a, b) = tokio::join!(caller.start(), host.start());
        a.unwrap();
        b.unwrap();
        let registry_topic = &config.runtime.registry_topic;
        // The registrations, as the topic's watermarks count them: 3 (Tansu's high watermark may trail a
        // partition's last write until the next one).
        let written = records_in(&broker, registry_topic).await;
        assert!((1..=3).contains(&written), "{written}");

        // Past the registrations' own expiry (3 s), renewed by the host's directory heartbeats only.
        tokio::time::sleep(config.runtime.registry_expiry + Duration::from_secs(1)).await;
        for agent_type in ["echo_a", "echo_b", "echo_c"] {
            assert!(caller.is_hosted(agent_type), "{agent_type} lapsed");
            let id = AgentId::new(agent_type, "k").unwrap();
            let _: Pong = caller
                .send(
                    Ping {
                        content: "alive".into(),
                    },
                    &id,
                )
                .await
                .unwrap();
        }
        assert_eq!(
            records_in(&broker, registry_topic).await,
            written,
            "heartbeats write no registration"
        );

        // A survivor that took the host for dead removes one registration: the host writes it again.
        let key = format!("echo_b@{}", host.instance_id());
        tombstone_then_see_it_written_again(&broker, registry_topic, &key).await;
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { caller.is_hosted("echo_b") },
        )
        .await
        .unwrap();
        // Once: three registrations, the tombstone and one registration again, whatever the heartbeats since.
        tokio::time::sleep(config.runtime.registry_heartbeat * 3).await;
        assert!(records_in(&broker, registry_topic).await <= 5);

        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_removed_by_a_survivor_is_written_again_by_its_live_runtime() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let (config, caller, host) = echo_pair(&broker, "resubscribe").await;
        let subscription = TypeSubscription::new("news", "echo").unwrap();
        let id = subscription.id().to_owned();
        host.add_subscription(subscription.into()).await.unwrap();

        // A survivor that took the host for dead (a stall past expiry and grace) tombstones the subscription, as
        // the clean-up does. The host's next heartbeat writes it again: the topic then holds the tombstone and
        // the subscription twice (added, written again), and both views have it.
        tombstone_then_see_it_written_again(&broker, &config.runtime.subscription_topic, &id).await;
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { caller.knows_subscription(&id) && host.knows_subscription(&id) },
        )
        .await
        .expect("both views hold the subscription again");

        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_within_one_shutdown_timeout_while_a_handler_is_stuck() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("stop");
        let mut config = autogen_kafka_integration_tests::worker_config(&broker, &fleet);
        config.service.shutdown_timeout = Duration::from_secs(3);
        create_fleet_topics(&broker, &config, 3).await;
        let caller = worker(&broker, config.clone(), "caller");
        let host = worker(&broker, config.clone(), "host");
        autogen_kafka_integration_tests::register_echo(&host, "echo", "host").await;
        let (a, b) = tokio::join!(caller.start(), host.start());
        a.unwrap();
        b.unwrap();
        let stuck = autogen_kafka::AgentId::new("echo", "stuck").unwrap();
        let call = {
            let caller = caller.clone();
            tokio::spawn(async move {
                caller
                    .send::<Ping, Pong>(
                        Ping {
                            content: "sleep:60000".into(),
                        },
                        &stuck,
                    )
                    .await
            })
        };
        // The handler is running.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let begun = std::time::Instant::now();
        let stopped = host.stop().await;
        let took = begun.elapsed();
        // The agent never finished its message: its close is reported, typed.
        assert!(
            matches!(
                stopped,
                Ok(())
                    | Err(autogen_kafka::runtime::RuntimeError::Core(
                        autogen_kafka::core::CoreError::StopTimedOut { .. }
                    ))
            ),
            "{stopped:?}"
        );
        assert!(
            took < Duration::from_secs(3) + Duration::from_secs(1),
            "stop took {took:?} with a 3 s shutdown timeout"
        );
        call.abort();
        caller.stop().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_cleanup_removes_what_a_runtime_killed_with_no_survivor_left_behind() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("cleanup");
        let group = unique_group("cleanup");
        let config = fleet_config(broker.bootstrap_servers(), broker.kind(), &fleet, &group);
        create_fleet_topics(&broker, &config, 3).await;
        let (broker_ref, fleet_ref, group_ref) = (&broker, fleet.clone(), group.clone());
        let (mut victim, victim_id, victim_subscription) = tokio::task::block_in_place(|| {
            spawn_subscribed_worker(broker_ref, &fleet_ref, &group_ref, "victim", "news")
        });
        let reply_topic = format!("{}.{victim_id}", config.runtime.runtime_responses);
        // No other runtime runs: nobody cleans up after it but the operator.
        victim.kill().unwrap();
        victim.wait().unwrap();
        let mode = topic_creation(broker.kind());
        // Expiry (3 s) plus the grace (2 s).
        let departed = || async {
            autogen_kafka::runtime::clean_up_fleet(&config, mode, true)
                .await
                .unwrap()
        };
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(500),
            || async { departed().await.iter().any(|d| d.runtime_id == victim_id) },
        )
        .await
        .expect("the killed runtime is reported once its grace passed");
        let cleaned = autogen_kafka::runtime::clean_up_fleet(&config, mode, false)
            .await
            .unwrap();
        let victim_report = cleaned.iter().find(|d| d.runtime_id == victim_id).unwrap();
        assert_eq!(victim_report.reply_topic, reply_topic);
        assert!(victim_report.failure.is_none(), "{victim_report:?}");
        assert!(
            !departed().await.iter().any(|d| d.runtime_id == victim_id),
            "its directory entry is gone"
        );
        if broker.kind() != BrokerKind::Mock {
            assert!(!tokio::task::block_in_place(|| topic_exists(
                &broker,
                &reply_topic
            )));
        }
        // A runtime started now knows nothing of it.
        let fresh = worker(&broker, config.clone(), "fresh");
        fresh.start().await.unwrap();
        assert!(!fresh.knows_subscription(&victim_subscription));
        fresh.stop().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_cleanup_deletes_reply_topics_no_runtime_names_and_keeps_live_ones() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("orphans");
        let group = unique_group("orphans");
        let config = fleet_config(broker.bootstrap_servers(), broker.kind(), &fleet, &group);
        create_fleet_topics(&broker, &config, 3).await;
        // Left by a runtime from before the runtime directory: no entry names it.
        let orphan = format!("{}.legacy-runtime", config.runtime.runtime_responses);
        broker.create_topic(&orphan, 1).await.unwrap();
        let live = worker(&broker, config.clone(), "live");
        live.start().await.unwrap();
        let live_reply = format!(
            "{}.{}",
            config.runtime.runtime_responses,
            live.instance_id()
        );
        let mode = topic_creation(broker.kind());
        let orphans = |report: &[autogen_kafka::runtime::Departed]| -> Vec<String> {
            report
                .iter()
                .filter(|d| d.orphan)
                .map(|d| d.reply_topic.clone())
                .collect()
        };
        let dry = autogen_kafka::runtime::clean_up_fleet(&config, mode, true)
            .await
            .unwrap();
        if broker.kind() == BrokerKind::Mock {
            // Without the Admin API topics are neither listed nor deleted.
            assert!(orphans(&dry).is_empty(), "{dry:?}");
        } else {
            assert_eq!(
                orphans(&dry),
                vec![orphan.clone()],
                "the live runtime's topic is not an orphan"
            );
            assert!(
                tokio::task::block_in_place(|| topic_exists(&broker, &orphan)),
                "a dry run deletes nothing"
            );
            let cleaned = autogen_kafka::runtime::clean_up_fleet(&config, mode, false)
                .await
                .unwrap();
            assert!(
                cleaned
                    .iter()
                    .any(|d| d.orphan && d.reply_topic == orphan && d.failure.is_none()),
                "{cleaned:?}"
            );
            assert!(!tokio::task::block_in_place(|| topic_exists(
                &broker, &orphan
            )));
            assert!(tokio::task::block_in_place(|| topic_exists(
                &broker,
                &live_reply
            )));
        }
        live.stop().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_slower_to_start_than_the_registry_expiry_is_not_taken_for_departed() {
    let captured = CapturedLogs::install(tracing::Level::INFO);
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (broker, registry, config) =
            start_registry_fleet("slow-start", SerializationFormat::Avro).await;
        let survivor = worker(&broker, config.clone(), "survivor");
        register_echo(&survivor, "echo", "survivor").await;
        survivor.start().await.unwrap();

        // The slow runtime's first Schema Registry request comes after its directory entry is written and is
        // answered only after the entry's expiry, the clean-up grace and a few of the survivor's heartbeats.
        let slow = worker(&broker, config.clone(), "slow");
        register_echo(&slow, "slow_echo", "slow").await;
        let runtime = &config.runtime;
        let stall =
            runtime.registry_expiry + runtime.cleanup_grace + runtime.registry_heartbeat * 4;
        registry.delay_next(1, stall);
        let began = std::time::Instant::now();
        slow.start().await.unwrap();
        assert!(began.elapsed() >= stall, "{:?}", began.elapsed());

        // The survivor never took it for departed: nothing of it was cleaned up, its reply topic is there, and
        // both call each other.
        let departed = format!("departed={}", slow.instance_id());
        assert!(
            !captured.text().contains(&departed),
            "a starting runtime was cleaned up:\n{}",
            captured.text()
        );
        assert!(tokio::task::block_in_place(|| topic_exists(
            &broker,
            slow.reply_topic()
        )));
        // A send reads the registry to its end first, so the registration `start` wrote counts at once.
        assert_echo_answers(&slow, "survivor").await;
        let pong: Pong = survivor
            .send(
                Ping {
                    content: "hi".into(),
                },
                &AgentId::new("slow_echo", "k").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(pong.content, "hi from slow_echo/k on slow");

        slow.stop().await.unwrap();
        survivor.stop().await.unwrap();
        registry.shutdown().await;
    })
    .await
    .expect("test timed out");
}

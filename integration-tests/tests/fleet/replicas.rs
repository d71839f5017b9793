//! Replicas of one agent type share its agent ids by key; state follows an agent id when it moves.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly, like the tests that call them"
)]

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{AgentId, AgentRuntime, AgentRuntimeExt, SendOptions, TypeSubscription};
use autogen_kafka_integration_tests::{
    Add, Ping, Pong, Total, add_and_expect, counter_agent, counter_worker, create_fleet_topics,
    register_echo, worker, worker_config,
};
use autogen_kafka_testing::{TestBroker, eventually, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(170);
const PARTITIONS: i32 = 6;

/// Waits until the replicas' `counter` assignments are disjoint and cover every partition.
async fn wait_balanced(replicas: &[&KafkaWorkerAgentRuntime]) {
    eventually(
        Duration::from_secs(90),
        Duration::from_millis(50),
        || async {
            let mut all = BTreeSet::new();
            let mut count = 0;
            for replica in replicas {
                let mine = replica.assigned_partitions("counter");
                if mine.is_empty() {
                    return false;
                }
                count += mine.len();
                all.extend(mine);
            }
            count == all.len() && all.len() == usize::try_from(PARTITIONS).unwrap()
        },
    )
    .await
    .unwrap();
}

async fn add_to_all(caller: &KafkaWorkerAgentRuntime, keys: &[String]) -> HashMap<String, Total> {
    let caller = Arc::new(caller.clone());
    let mut answers = HashMap::new();
    for chunk in keys.chunks(32) {
        let calls = chunk.iter().map(|key| {
            let caller = Arc::clone(&caller);
            let key = key.clone();
            async move {
                let total: Total = caller
                    .send(Add { by: 1 }, &AgentId::new("counter", &key).unwrap())
                    .await
                    .unwrap();
                (key, total)
            }
        });
        answers.extend(futures::future::join_all(calls).await);
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_300_keys_each_served_by_exactly_one() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("replicas");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, PARTITIONS).await;
        let caller = worker(&broker, config.clone(), "caller");
        let replicas: Vec<KafkaWorkerAgentRuntime> = ["r1", "r2", "r3"]
            .iter()
            .map(|name| worker(&broker, config.clone(), name))
            .collect();
        for (replica, name) in replicas.iter().zip(["r1", "r2", "r3"]) {
            replica
                .register("counter", move |_| counter_agent(name))
                .await
                .unwrap();
        }
        let (a, b, c, d) = tokio::join!(
            caller.start(),
            replicas[0].start(),
            replicas[1].start(),
            replicas[2].start()
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
        d.unwrap();
        wait_balanced(&replicas.iter().collect::<Vec<_>>()).await;

        let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
        let first = add_to_all(&caller, &keys).await;
        let second = add_to_all(&caller, &keys).await;
        let mut served_by: HashMap<&str, usize> = HashMap::new();
        for key in &keys {
            assert_eq!(
                first[key].total, 1,
                "{key} was handled twice the first time"
            );
            assert_eq!(
                second[key].total, 2,
                "{key} lost its count: served by two instances"
            );
            assert_eq!(
                first[key].runtime, second[key].runtime,
                "{key} moved between replicas"
            );
            *served_by.entry(first[key].runtime.as_str()).or_default() += 1;
        }
        assert_eq!(
            served_by.len(),
            3,
            "every replica serves some keys: {served_by:?}"
        );
        // Each agent id is active on exactly one replica.
        let mut active = BTreeSet::new();
        let mut count = 0;
        for replica in &replicas {
            let ids = replica.active_agents();
            count += ids.len();
            active.extend(ids.into_iter().map(|id| id.to_string()));
        }
        assert_eq!(active.len(), 300);
        assert_eq!(count, 300, "an agent id is active on two replicas");

        caller.stop().await.unwrap();
        for replica in &replicas {
            replica.stop().await.unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_follows_an_agent_id_to_its_new_replica() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("state");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, PARTITIONS).await;
        let caller = worker(&broker, config.clone(), "caller");
        let old = counter_worker(&broker, config.clone(), "old").await;
        let (a, b) = tokio::join!(caller.start(), old.start());
        a.unwrap();
        b.unwrap();
        let id = AgentId::new("counter", "moving").unwrap();
        add_and_expect(&caller, &id, 1..=5, "old").await;

        // A second replica joins, then the first leaves: the agent moves with its state.
        let new = counter_worker(&broker, config.clone(), "new").await;
        new.start().await.unwrap();
        old.stop().await.unwrap();
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(50),
            || async {
                new.assigned_partitions("counter").len() == usize::try_from(PARTITIONS).unwrap()
            },
        )
        .await
        .unwrap();
        let total: Total = caller.send(Add { by: 1 }, &id).await.unwrap();
        assert_eq!(total.runtime, "new");
        assert_eq!(
            total.total, 6,
            "the count saved by the old replica is loaded by the new one"
        );

        caller.stop().await.unwrap();
        new.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_holds_the_state_of_its_own_partitions_only_and_reads_the_rest_when_they_move() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("owned-state");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, PARTITIONS).await;
        let caller = worker(&broker, config.clone(), "caller");
        let (first, second) = (
            worker(&broker, config.clone(), "first"),
            worker(&broker, config.clone(), "second"),
        );
        for (replica, name) in [(&first, "first"), (&second, "second")] {
            replica
                .register("counter", move |_| counter_agent(name))
                .await
                .unwrap();
        }
        let (a, b, c) = tokio::join!(caller.start(), first.start(), second.start());
        a.unwrap();
        b.unwrap();
        c.unwrap();
        wait_balanced_between(&first, &second).await;

        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        let totals = add_to_all(&caller, &keys).await;
        let served_by_first = totals.values().filter(|t| t.runtime == "first").count();
        assert!(
            (1..keys.len()).contains(&served_by_first),
            "both replicas serve some keys"
        );
        // Each replica reads the other's state records too, and keeps none of them. A subscription added is read
        // back by the same reader, after every state record written before it.
        for (replica, name) in [(&first, "first"), (&second, "second")] {
            replica
                .add_subscription(TypeSubscription::new(name, "counter").unwrap().into())
                .await
                .unwrap();
        }
        assert_eq!(first.saved_states(), served_by_first);
        assert_eq!(second.saved_states(), keys.len() - served_by_first);
        assert_eq!(
            caller.saved_states(),
            0,
            "a runtime hosting nothing keeps no state"
        );

        // The second replica leaves: the first reads the state of its new partitions before serving them.
        second.stop().await.unwrap();
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(50),
            || async {
                first.assigned_partitions("counter").len() == usize::try_from(PARTITIONS).unwrap()
            },
        )
        .await
        .unwrap();
        let again = add_to_all(&caller, &keys).await;
        for key in &keys {
            assert_eq!(
                (again[key].total, again[key].runtime.as_str()),
                (2, "first"),
                "{key} lost its state when it moved"
            );
        }
        assert_eq!(first.saved_states(), keys.len());

        caller.stop().await.unwrap();
        first.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_of_one_agent_type_leaves_the_other_types_agents_in_place() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("two-types");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, PARTITIONS).await;
        let caller = worker(&broker, config.clone(), "caller");
        let first = counter_worker(&broker, config.clone(), "first").await;
        first
            .register("tally", |_| counter_agent("first"))
            .await
            .unwrap();
        let (a, b) = tokio::join!(caller.start(), first.start());
        a.unwrap();
        b.unwrap();
        let tally = AgentId::new("tally", "kept").unwrap();
        let total: Total = caller.send(Add { by: 1 }, &tally).await.unwrap();
        assert_eq!(total.total, 1);

        // A replica of `counter` only joins: `counter`'s group rebalances, `tally`'s does not.
        let second = counter_worker(&broker, config.clone(), "second").await;
        second.start().await.unwrap();
        wait_balanced_between(&first, &second).await;
        assert!(
            first.active_agents().contains(&tally),
            "tally/kept was evicted by counter's rebalance"
        );
        let total: Total = caller.send(Add { by: 1 }, &tally).await.unwrap();
        assert_eq!((total.total, total.runtime.as_str()), (2, "first"));

        caller.stop().await.unwrap();
        first.stop().await.unwrap();
        second.stop().await.unwrap();
    })
    .await
    .unwrap();
}

async fn wait_balanced_between(a: &KafkaWorkerAgentRuntime, b: &KafkaWorkerAgentRuntime) {
    wait_balanced(&[a, b]).await;
}

/// Sends `Ping`s to `keys` (round robin, one RPC at a time) until `stop` is set; returns how many RPCs each
/// replica answered (by the label in the answer) and every failure.
async fn ping_until(
    caller: KafkaWorkerAgentRuntime,
    keys: Vec<String>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (HashMap<String, u32>, Vec<String>) {
    let mut served: HashMap<String, u32> = HashMap::new();
    let mut failures = Vec::new();
    for key in keys.iter().cycle() {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let id = AgentId::new("echo", key).unwrap();
        let ping = Ping {
            content: "load".into(),
        };
        let options = SendOptions::new().with_timeout(Duration::from_secs(30));
        match caller.send_with::<_, Pong>(ping, &id, options).await {
            Ok(pong) => {
                let replica = pong.content.rsplit(" on ").next().unwrap_or_default();
                *served.entry(replica.to_owned()).or_default() += 1;
            }
            Err(error) => failures.push(format!("{key}: {error}")),
        }
    }
    (served, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_joining_under_load_leaves_no_rpc_failed_or_unanswered() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("scale-out");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, PARTITIONS).await;
        let caller = worker(&broker, config.clone(), "caller");
        let first = worker(&broker, config.clone(), "first");
        register_echo(&first, "echo", "first").await;
        let (a, b) = tokio::join!(caller.start(), first.start());
        a.unwrap();
        b.unwrap();

        // Sixteen callers keep RPCs in flight to 96 agent ids while a second replica joins and the partitions
        // are rebalanced between the two.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let loads: Vec<_> = (0..16)
            .map(|n| {
                let keys = (0..6).map(|k| format!("k{n}-{k}")).collect();
                tokio::spawn(ping_until(caller.clone(), keys, Arc::clone(&stop)))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let second = worker(&broker, config.clone(), "second");
        register_echo(&second, "echo", "second").await;
        second.start().await.unwrap();
        eventually(
            Duration::from_secs(90),
            Duration::from_millis(50),
            || async {
                let (mine, theirs) = (
                    first.assigned_partitions("echo"),
                    second.assigned_partitions("echo"),
                );
                !mine.is_empty()
                    && !theirs.is_empty()
                    && mine.len() + theirs.len() == usize::try_from(PARTITIONS).unwrap()
            },
        )
        .await
        .unwrap();
        // Keep the load on after the rebalance, so both replicas answer.
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);

        let mut served: HashMap<String, u32> = HashMap::new();
        let mut failures = Vec::new();
        for load in loads {
            let (by_replica, failed) = load.await.unwrap();
            for (replica, count) in by_replica {
                *served.entry(replica).or_default() += count;
            }
            failures.extend(failed);
        }
        assert!(
            failures.is_empty(),
            "RPCs failed during the rebalance: {failures:?}"
        );
        assert!(served.get("first").copied().unwrap_or(0) > 0, "{served:?}");
        assert!(served.get("second").copied().unwrap_or(0) > 0, "{served:?}");

        caller.stop().await.unwrap();
        first.stop().await.unwrap();
        second.stop().await.unwrap();
    })
    .await
    .unwrap();
}

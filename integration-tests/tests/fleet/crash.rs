//! A replica killed with `kill -9`: its keys move to the survivor, and every RPC sent meanwhile ends with an
//! answer or a typed error — none hangs, none is lost silently.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly, like the tests that call them"
)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use autogen_kafka::{AgentId, AgentRuntimeExt, Error, ErrorKind, SendOptions};
use autogen_kafka_integration_tests::{Add, Total, create_fleet_topics, fleet_config, worker};
use autogen_kafka_testing::{BrokerKind, TestBroker, eventually, unique_group, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(170);

fn spawn_worker(broker: &TestBroker, fleet: &str, group: &str, name: &str) -> Child {
    spawn_fleet_worker(broker, fleet, group, name, None).0
}

/// A `fleet-worker` process hosting `counter` in the fleet (subscribed to `topic_type` when given), once it is
/// ready: the child and the words of its ready line after `ready` (its instance id, then its subscription id).
pub(crate) fn spawn_fleet_worker(
    broker: &TestBroker,
    fleet: &str,
    group: &str,
    name: &str,
    topic_type: Option<&str>,
) -> (Child, Vec<String>) {
    let kind = match broker.kind() {
        BrokerKind::Mock => "mock",
        BrokerKind::Tansu => "tansu",
        _ => "external",
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleet-worker"))
        .args([broker.bootstrap_servers(), kind, fleet, group, name])
        .args(topic_type)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let mut words = line.split_whitespace().map(str::to_owned);
    assert_eq!(
        words.next().as_deref(),
        Some("ready"),
        "worker {name} did not start: {line:?}"
    );
    (child, words.collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_replica_moves_its_keys_and_no_rpc_hangs() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("crash");
        let group = unique_group("crash");
        let config = fleet_config(broker.bootstrap_servers(), broker.kind(), &fleet, &group);
        create_fleet_topics(&broker, &config, 4).await;
        let caller = worker(&broker, config.clone(), "caller");
        caller.start().await.unwrap();
        let (broker_ref, fleet_ref, group_ref) = (&broker, fleet.clone(), group.clone());
        let mut victim = tokio::task::block_in_place(|| spawn_worker(broker_ref, &fleet_ref, &group_ref, "victim"));
        let mut survivor = tokio::task::block_in_place(|| spawn_worker(broker_ref, &fleet_ref, &group_ref, "survivor"));

        let keys: Vec<AgentId> = (0..40).map(|i| AgentId::new("counter", format!("k{i}")).unwrap()).collect();
        // Both replicas serve keys once the group has settled.
        eventually(Duration::from_secs(90), Duration::from_millis(200), || async {
            let mut by = HashMap::<String, usize>::new();
            for key in &keys {
                let options = SendOptions::new().with_timeout(Duration::from_secs(5));
                let Ok(Some(answer)) = autogen_kafka::AgentRuntime::send_message(
                    &caller,
                    autogen_kafka::AnyMessage::new(Add { by: 0 }),
                    key.clone(),
                    options,
                )
                .await
                else {
                    return false;
                };
                let total: Total = answer.downcast().unwrap();
                *by.entry(total.runtime).or_default() += 1;
            }
            by.len() == 2
        })
        .await
        .unwrap();

        victim.kill().unwrap();
        victim.wait().unwrap();
        let killed_at = Instant::now();

        // Keep calling every key. Each call must end (answer or typed error) within its deadline.
        let mut answered = 0;
        let mut typed_errors = 0;
        let mut all_on_survivor = false;
        while killed_at.elapsed() < Duration::from_secs(90) && !all_on_survivor {
            let calls = keys.iter().map(|key| {
                let caller = caller.clone();
                let key = key.clone();
                async move {
                    let deadline = Duration::from_secs(4);
                    let started = Instant::now();
                    let outcome = tokio::time::timeout(
                        deadline + Duration::from_secs(2),
                        caller.send_with::<Add, Total>(Add { by: 1 }, &key, SendOptions::new().with_timeout(deadline)),
                    )
                    .await
                    .unwrap_or_else(|_| panic!("an RPC to {key} hung past its deadline"));
                    assert!(started.elapsed() < deadline + Duration::from_secs(2));
                    outcome
                }
            });
            let outcomes = futures::future::join_all(calls).await;
            let mut survivor_answers = 0;
            for outcome in outcomes {
                match outcome {
                    Ok(total) => {
                        answered += 1;
                        if total.runtime == "survivor" {
                            survivor_answers += 1;
                        }
                    }
                    Err(error) => {
                        let kind = Error::from(error).kind();
                        assert!(
                            matches!(kind, ErrorKind::Timeout | ErrorKind::Undeliverable),
                            "unexpected error kind {kind:?}"
                        );
                        typed_errors += 1;
                    }
                }
            }
            all_on_survivor = survivor_answers == keys.len();
        }
        assert!(all_on_survivor, "the survivor did not take over every key ({answered} answered, {typed_errors} typed errors)");
        println!("after kill -9: {answered} answered, {typed_errors} typed errors, takeover in {:?}", killed_at.elapsed());

        drop(survivor.stdin.take());
        survivor.wait().unwrap();
        caller.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_caller_saw_survives_a_kill_and_no_add_is_applied_twice() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("checkpoint");
        let group = unique_group("checkpoint");
        let config = fleet_config(broker.bootstrap_servers(), broker.kind(), &fleet, &group);
        create_fleet_topics(&broker, &config, 3).await;
        let caller = worker(&broker, config.clone(), "caller");
        caller.start().await.unwrap();
        let (broker_ref, fleet_ref, group_ref) = (&broker, fleet.clone(), group.clone());
        let mut first = tokio::task::block_in_place(|| {
            spawn_worker(broker_ref, &fleet_ref, &group_ref, "first")
        });
        let keys: Vec<AgentId> = (0..10)
            .map(|i| AgentId::new("counter", format!("k{i}")).unwrap())
            .collect();
        let options = || SendOptions::new().with_timeout(Duration::from_secs(15));
        let mut last = HashMap::new();
        for round in 1..=5u64 {
            for key in &keys {
                let total: Total = caller
                    .send_with::<Add, Total>(Add { by: 1 }, key, options())
                    .await
                    .unwrap();
                assert_eq!(total.total, round, "{key} counts every call once");
                last.insert(key.clone(), total.total);
            }
        }
        // The host never gives its agents up: only the state saved with each answer survives the kill.
        tokio::time::sleep(Duration::from_secs(2)).await;
        first.kill().unwrap();
        first.wait().unwrap();

        let mut second = tokio::task::block_in_place(|| {
            spawn_worker(broker_ref, &fleet_ref, &group_ref, "second")
        });
        for key in &keys {
            let total: Total = caller
                .send_with::<Add, Total>(Add { by: 1 }, key, options())
                .await
                .unwrap();
            assert_eq!(total.runtime, "second");
            // Every add the caller saw is in the saved state, and none is applied twice (the records read again
            // after the crash are skipped: the state holds them).
            assert_eq!(
                total.total,
                last[key] + 1,
                "{key}'s counter after the crash: {} then {}",
                last[key],
                total.total
            );
        }
        drop(second.stdin.take());
        second.wait().unwrap();
        caller.stop().await.unwrap();
    })
    .await
    .unwrap();
}

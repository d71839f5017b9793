//! Idle agent instances are passivated (state saved first) and come back with their state on their next message.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly, like the tests that call them"
)]

use std::time::Duration;

use autogen_kafka::config::Config;
use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{AgentId, AgentRuntimeExt, SendOptions};
use autogen_kafka_integration_tests::{
    Add, Total, counter_worker, create_fleet_topics, metric_value, worker, worker_config,
};
use autogen_kafka_testing::{TestBroker, eventually, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A caller and a host of `counter` agents configured by `tune`, both started.
async fn caller_and_host(
    broker: &TestBroker,
    tune: impl FnOnce(&mut Config),
) -> (KafkaWorkerAgentRuntime, KafkaWorkerAgentRuntime) {
    let fleet = unique_topic("passivation");
    let config = worker_config(broker, &fleet);
    create_fleet_topics(broker, &config, 3).await;
    let caller = worker(broker, config.clone(), "caller");
    let mut host_config = config;
    tune(&mut host_config);
    let host = counter_worker(broker, host_config, "host").await;
    let (a, b) = tokio::join!(caller.start(), host.start());
    a.unwrap();
    b.unwrap();
    (caller, host)
}

async fn add(caller: &KafkaWorkerAgentRuntime, id: &AgentId) -> Total {
    let options = SendOptions::new().with_timeout(Duration::from_secs(15));
    caller
        .send_with::<Add, Total>(Add { by: 1 }, id, options)
        .await
        .unwrap()
}

fn counters(count: usize) -> Vec<AgentId> {
    (0..count)
        .map(|i| AgentId::new("counter", format!("c{i}")).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_agents_are_passivated_and_their_next_message_finds_their_state() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let (caller, host) = caller_and_host(&broker, |config| {
            config.runtime.agent_idle_timeout = Duration::from_millis(800);
        })
        .await;
        let ids = counters(5);
        for round in 1..=2 {
            for id in &ids {
                assert_eq!(add(&caller, id).await.total, round);
            }
        }
        assert!(!host.active_agents().is_empty());
        eventually(
            Duration::from_secs(20),
            Duration::from_millis(50),
            || async { host.active_agents().is_empty() },
        )
        .await
        .unwrap_or_else(|_| panic!("still active: {:?}", host.active_agents()));
        eventually(
            Duration::from_secs(5),
            Duration::from_millis(50),
            || async {
                let text = host.metrics().encode_text().unwrap();
                // At least once each (an agent may idle out between two of its calls, too).
                metric_value(&text, "autogen_kafka_agents_passivated_total", &[])
                    .is_some_and(|passivated| passivated >= 5.0)
                    && metric_value(&text, "autogen_kafka_active_agents", &[]) == Some(0.0)
            },
        )
        .await
        .unwrap_or_else(|_| panic!("metrics: {}", host.metrics().encode_text().unwrap()));

        for id in &ids {
            let total = add(&caller, id).await;
            assert_eq!(
                (total.total, total.runtime.as_str()),
                (3, "host"),
                "{id} came back with its state"
            );
        }
        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_active_agents_the_least_recently_used_leave_and_keep_their_state() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let (caller, host) = caller_and_host(&broker, |config| {
            config.runtime.agent_idle_timeout = Duration::ZERO;
            config.runtime.max_active_agents = 3;
        })
        .await;
        let ids = counters(10);
        for id in &ids {
            assert_eq!(add(&caller, id).await.total, 1);
        }
        eventually(
            Duration::from_secs(20),
            Duration::from_millis(50),
            || async { host.active_agents().len() <= 3 },
        )
        .await
        .unwrap_or_else(|_| panic!("active: {:?}", host.active_agents()));
        let mut active = host.active_agents();
        active.sort();
        assert_eq!(active, ids[7..].to_vec(), "the three used last stay");
        for id in &ids {
            assert_eq!(add(&caller, id).await.total, 2, "{id} kept its state");
        }
        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

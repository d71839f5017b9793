//! Per-type request topics (`runtime.request_topic_per_type`): each agent type's requests and publication
//! deliveries go to a topic of its own, read only by that type's group; state still follows an agent id.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use autogen_kafka::core::CoreError;
use autogen_kafka::{AgentId, AgentRuntime, AgentRuntimeExt, TypeSubscription};
use autogen_kafka_integration_tests::{
    Add, Deliveries, Total, add_and_expect, counter_agent, counter_worker, create_fleet_topics,
    publish_news, records_in, register_reader, worker, worker_config,
};
use autogen_kafka_testing::{TestBroker, eventually, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_type_reads_a_request_topic_of_its_own_and_state_still_follows_an_agent() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("per-type");
        let mut config = worker_config(&broker, &fleet);
        config.runtime.request_topic_per_type = true;
        create_fleet_topics(&broker, &config, 3).await;
        let seen: Deliveries = Arc::new(Mutex::new(Vec::new()));
        let caller = worker(&broker, config.clone(), "caller");
        let first = counter_worker(&broker, config.clone(), "first").await;
        register_reader(&first, "reader", &seen).await;
        let refused = first
            .register("zähler", |_| counter_agent("first"))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, CoreError::InvalidAgentId { .. }),
            "a type that cannot name a topic is refused: {refused:?}"
        );
        let (a, b) = tokio::join!(caller.start(), first.start());
        a.unwrap();
        b.unwrap();

        let id = AgentId::new("counter", "moving").unwrap();
        add_and_expect(&caller, &id, 1..=2, "first").await;
        let subscription = TypeSubscription::new("news", "reader").unwrap();
        let subscription_id = subscription.id().to_owned();
        first.add_subscription(subscription.into()).await.unwrap();
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async { caller.knows_subscription(&subscription_id) },
        )
        .await
        .unwrap();
        publish_news(&caller, 0..3).await;
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async { seen.lock().unwrap().len() == 3 },
        )
        .await
        .unwrap();

        let shared = &config.runtime.runtime_requests;
        assert_eq!(
            records_in(&broker, shared).await,
            0,
            "nothing on the shared topic"
        );
        assert_eq!(records_in(&broker, &format!("{shared}.counter")).await, 2);
        assert_eq!(records_in(&broker, &format!("{shared}.reader")).await, 3);

        // The type moves to a new replica: its state is read from the state topic there.
        let second = counter_worker(&broker, config.clone(), "second").await;
        second.start().await.unwrap();
        first.stop().await.unwrap();
        let total: Total = caller.send(Add { by: 1 }, &id).await.unwrap();
        assert_eq!((total.total, total.runtime.as_str()), (3, "second"));

        caller.stop().await.unwrap();
        second.stop().await.unwrap();
    })
    .await
    .unwrap();
}

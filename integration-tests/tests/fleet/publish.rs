//! Publish/subscribe across three runtimes: every subscribed agent id gets each publication exactly once.

use autogen_kafka_integration_tests::register_reader;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autogen_kafka::{
    AgentId, AgentRuntime, AgentRuntimeExt, PublishOptions, TopicId, TypePrefixSubscription,
    TypeSubscription,
};
use autogen_kafka_integration_tests::{
    Deliveries, News, create_fleet_topics, publish_news, worker, worker_config,
};
use autogen_kafka_testing::{TestBroker, eventually, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_reach_every_subscriber_in_three_runtimes_once() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("publish");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, 3).await;
        let seen: Deliveries = Arc::new(Mutex::new(Vec::new()));

        let runtimes = [
            worker(&broker, config.clone(), "one"),
            worker(&broker, config.clone(), "two"),
            worker(&broker, config.clone(), "three"),
        ];
        for (runtime, agent_type) in runtimes.iter().zip(["reader_a", "reader_b", "reader_c"]) {
            register_reader(runtime, agent_type, &seen).await;
        }
        let (a, b, c) = tokio::join!(
            runtimes[0].start(),
            runtimes[1].start(),
            runtimes[2].start()
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
        // Subscriptions added in one runtime take effect in all.
        let by_type_a = TypeSubscription::new("news", "reader_a").unwrap();
        let by_type_b = TypeSubscription::new("news", "reader_b").unwrap();
        let prefix = TypePrefixSubscription::new("ne", "reader_c").unwrap();
        let ids = [
            by_type_a.id().to_owned(),
            by_type_b.id().to_owned(),
            prefix.id().to_owned(),
        ];
        let prefix_id = prefix.id().to_owned();
        runtimes[0]
            .add_subscription(by_type_a.into())
            .await
            .unwrap();
        runtimes[1]
            .add_subscription(by_type_b.into())
            .await
            .unwrap();
        runtimes[2].add_subscription(prefix.into()).await.unwrap();
        // A subscription reaches the other runtimes through the subscription topic: a publication made before a
        // runtime read it does not see it (documented). Wait until every runtime knows all three.
        for runtime in &runtimes {
            eventually(
                Duration::from_secs(30),
                Duration::from_millis(20),
                || async { ids.iter().all(|id| runtime.knows_subscription(id)) },
            )
            .await
            .unwrap();
        }
        // Every runtime must know every live subscriber before publishing from runtime one.
        for runtime in &runtimes {
            eventually(
                Duration::from_secs(30),
                Duration::from_millis(50),
                || async {
                    ["reader_a", "reader_b", "reader_c"]
                        .iter()
                        .all(|t| runtime.is_hosted(t))
                },
            )
            .await
            .unwrap();
        }

        publish_news(&runtimes[0], 0..10).await;
        // A publication whose sender is a subscriber skips the sender.
        let sender = AgentId::new("reader_a", "s99").unwrap();
        runtimes[1]
            .publish_message(
                autogen_kafka::AnyMessage::new(News {
                    headline: "from a".into(),
                }),
                TopicId::new("news", "s99").unwrap(),
                PublishOptions::new().with_sender(sender),
            )
            .await
            .unwrap();

        eventually(
            Duration::from_secs(60),
            Duration::from_millis(50),
            || async { seen.lock().unwrap().len() >= 32 },
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let deliveries = seen.lock().unwrap().clone();
        let mut per_agent: HashMap<String, usize> = HashMap::new();
        for (agent, topic, headline) in &deliveries {
            *per_agent.entry(format!("{agent}|{headline}")).or_default() += 1;
            let source = topic.strip_prefix("news/").unwrap();
            assert!(
                agent.ends_with(&format!("/{source}")),
                "{agent} got a message of topic {topic}"
            );
        }
        assert_eq!(
            deliveries.len(),
            32,
            "10 x 3 readers + 2 (sender skipped): {deliveries:?}"
        );
        assert!(
            per_agent.values().all(|&n| n == 1),
            "a delivery was duplicated: {per_agent:?}"
        );
        assert!(
            !per_agent.contains_key("reader_a/s99|from a"),
            "the sender received its own publication"
        );

        // Removing the prefix subscription in runtime three stops deliveries to reader_c everywhere.
        runtimes[2].remove_subscription(&prefix_id).await.unwrap();
        // Runtime one learns of the removal from the subscription topic.
        eventually(
            Duration::from_secs(15),
            Duration::from_millis(20),
            || async { !runtimes[0].knows_subscription(&prefix_id) },
        )
        .await
        .unwrap();
        let before = seen.lock().unwrap().len();
        runtimes[0]
            .publish(
                News {
                    headline: "after".into(),
                },
                &TopicId::new("news", "late").unwrap(),
            )
            .await
            .unwrap();
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { seen.lock().unwrap().len() >= before + 2 },
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after: Vec<_> = seen.lock().unwrap()[before..].to_vec();
        assert_eq!(after.len(), 2, "{after:?}");
        assert!(
            after
                .iter()
                .all(|(agent, _, _)| !agent.starts_with("reader_c/")),
            "{after:?}"
        );

        for runtime in &runtimes {
            runtime.stop().await.unwrap();
        }
    })
    .await
    .unwrap();
}

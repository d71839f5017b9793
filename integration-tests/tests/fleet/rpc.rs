//! RPC between runtimes on a real broker: answers both ways, typed errors, deadlines and cancellation.

use std::time::{Duration, Instant};

use autogen_kafka::{
    AgentId, AgentRuntime, AgentRuntimeExt, AnyMessage, CancellationToken, Error, ErrorKind,
    SendOptions,
};
use autogen_kafka_integration_tests::{
    Ping, Pong, create_fleet_topics, echo_pair, register_echo, worker, worker_config,
};
use autogen_kafka_testing::{TestBroker, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_between_two_runtimes_both_ways_with_typed_errors() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("rpc");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, 3).await;

        let alpha = worker(&broker, config.clone(), "alpha");
        let beta = worker(&broker, config.clone(), "beta");
        register_echo(&alpha, "echo_a", "alpha").await;
        register_echo(&beta, "echo_b", "beta").await;
        let (a, b) = tokio::join!(alpha.start(), beta.start());
        a.unwrap();
        b.unwrap();

        // alpha → beta and beta → alpha.
        let pong: Pong = alpha
            .send(
                Ping {
                    content: "hello".into(),
                },
                &AgentId::new("echo_b", "k1").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(pong.content, "hello from echo_b/k1 on beta");
        let pong: Pong = beta
            .send(
                Ping {
                    content: "back".into(),
                },
                &AgentId::new("echo_a", "k2").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(pong.content, "back from echo_a/k2 on alpha");

        // A handler error reaches the caller with its text.
        let error = alpha
            .send::<Ping, Pong>(
                Ping {
                    content: "fail".into(),
                },
                &AgentId::new("echo_b", "k1").unwrap(),
            )
            .await
            .unwrap_err();
        let error = Error::from(error);
        assert_eq!(error.kind(), ErrorKind::Agent);
        let text = format!(
            "{error}: {}",
            std::error::Error::source(&error)
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        assert!(text.contains("refuses to fail quietly"), "{text}");

        // The agent keeps serving after the error.
        let pong: Pong = alpha
            .send(
                Ping {
                    content: "again".into(),
                },
                &AgentId::new("echo_b", "k1").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(pong.content, "again from echo_b/k1 on beta");

        // No live runtime hosts this type: fails at once, never hangs.
        let started = Instant::now();
        let error = alpha
            .send::<Ping, Pong>(
                Ping {
                    content: "?".into(),
                },
                &AgentId::new("nobody", "k").unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(Error::from(error).kind(), ErrorKind::Undeliverable);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "undeliverable must be immediate"
        );

        // Code that is not an agent calls agents through a MessagingClient.
        let client =
            autogen_kafka::MessagingClient::from_runtime(worker(&broker, config.clone(), "client"))
                .await
                .unwrap();
        let pong: Pong = client
            .send(
                Ping {
                    content: "from a client".into(),
                },
                &AgentId::new("echo_b", "k3").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(pong.content, "from a client from echo_b/k3 on beta");
        client.stop().await.unwrap();

        alpha.stop().await.unwrap();
        beta.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_and_cancellation_end_an_rpc_with_typed_errors() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("deadline");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, 3).await;
        let caller = worker(&broker, config.clone(), "caller");
        let callee = worker(&broker, config.clone(), "callee");
        register_echo(&callee, "slow", "callee").await;
        let (a, b) = tokio::join!(caller.start(), callee.start());
        a.unwrap();
        b.unwrap();
        let slow = AgentId::new("slow", "k").unwrap();

        // Deadline: the handler sleeps 3 s, the caller waits 500 ms.
        let started = Instant::now();
        let options = SendOptions::new().with_timeout(Duration::from_millis(500));
        let error = caller
            .send_message(
                AnyMessage::new(Ping {
                    content: "sleep:3000".into(),
                }),
                slow.clone(),
                options,
            )
            .await
            .unwrap_err();
        assert_eq!(Error::from(error).kind(), ErrorKind::Timeout);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "timed out late: {:?}",
            started.elapsed()
        );

        // Cancellation: cancelled after 300 ms.
        let token = CancellationToken::new();
        let cancel = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cancel.cancel();
        });
        let options = SendOptions::new().with_cancellation(token);
        let error = caller
            .send_message(
                AnyMessage::new(Ping {
                    content: "sleep:3000".into(),
                }),
                slow.clone(),
                options,
            )
            .await
            .unwrap_err();
        assert_eq!(Error::from(error).kind(), ErrorKind::Cancelled);

        // The callee still answers afterwards; the late answers were dropped and counted.
        let pong: Pong = caller
            .send(
                Ping {
                    content: "ok".into(),
                },
                &slow,
            )
            .await
            .unwrap();
        assert_eq!(pong.content, "ok from slow/k on callee");
        autogen_kafka_testing::eventually(
            Duration::from_secs(15),
            Duration::from_millis(50),
            || async { caller.late_responses() >= 1 },
        )
        .await
        .unwrap();

        caller.stop().await.unwrap();
        callee.stop().await.unwrap();
    })
    .await
    .unwrap();
}

/// On a current-thread runtime: the send path blocks no task (the reader's resume, a seek that waits for the
/// client, runs on a blocking thread), so the one thread keeps serving both runtimes.
#[tokio::test(flavor = "current_thread")]
async fn an_idle_runtime_pauses_its_reply_reader_and_the_next_rpc_resumes_it_on_a_current_thread_runtime()
 {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let (_, caller, host) = echo_pair(&broker, "pause").await;
        let echo = AgentId::new("echo", "k").unwrap();
        let paused = || caller.reply_reader_paused() && host.reply_reader_paused();
        for round in 0..3 {
            // Idle: neither runtime reads its reply topic (the host never sends an RPC at all).
            autogen_kafka_testing::eventually(
                Duration::from_secs(30),
                Duration::from_millis(50),
                || async { paused() },
            )
            .await
            .unwrap();
            // The next RPC resumes the caller's reader and gets its answer.
            let pong: Pong = caller
                .send(
                    Ping {
                        content: format!("round {round}"),
                    },
                    &echo,
                )
                .await
                .unwrap();
            assert_eq!(pong.content, format!("round {round} from echo/k on host"));
            assert!(host.reply_reader_paused());
        }
        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

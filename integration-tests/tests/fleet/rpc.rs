//! RPC between runtimes on a real broker: answers both ways, typed errors, deadlines and cancellation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autogen_kafka::{
    AgentId, AgentRuntime, AgentRuntimeExt, AnyMessage, CancellationToken, Error, ErrorKind,
    Handler, HandlerError, MessageContext, RoutedAgent, SendOptions,
};
use autogen_kafka_integration_tests::{
    Ping, Pong, create_fleet_topics, echo_pair, hosting_pair, register_echo, subscribed_consumer,
    worker, worker_config,
};
use autogen_kafka_testing::rdkafka::Message as _;
use autogen_kafka_testing::rdkafka::message::Headers as _;
use autogen_kafka_testing::{TestBroker, eventually, unique_topic};

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

        // Beta wrote at least its four answers, in produce requests its statistics count and its metrics export.
        eventually(
            Duration::from_secs(10),
            Duration::from_millis(50),
            || async {
                beta.produce_counts()
                    .is_some_and(|counts| counts.records >= 4 && counts.requests >= 1)
            },
        )
        .await
        .expect("the data plane's produce counts");
        eventually(
            Duration::from_secs(10),
            Duration::from_millis(50),
            || async {
                let text = beta.metrics().encode_text().unwrap();
                text.lines().any(|line| {
                    line.strip_prefix("autogen_kafka_produced_records_total ")
                        .and_then(|n| n.parse::<f64>().ok())
                        .is_some_and(|n| n >= 4.0)
                })
            },
        )
        .await
        .expect("autogen_kafka_produced_records_total");

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

/// Sleeps as many milliseconds as its ping says, unless its request is cancelled; logs what it began and what was
/// cancelled.
struct Sleeper {
    log: Arc<Mutex<Vec<String>>>,
}

impl Handler<Ping> for Sleeper {
    type Response = Pong;

    async fn handle(&mut self, ping: Ping, ctx: &MessageContext) -> Result<Pong, HandlerError> {
        let note = |what: &str| {
            self.log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(format!("{what} {}", ping.content));
        };
        note("begin");
        let ms: u64 = ping.content.parse()?;
        tokio::select! {
            () = ctx.cancellation().cancelled() => {
                note("cancelled");
                Err("cancelled".into())
            }
            () = tokio::time::sleep(Duration::from_millis(ms)) => Ok(Pong { content: ping.content.clone() }),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_rpc_cancels_the_remote_handler_and_a_request_cancelled_before_it_began_never_runs()
 {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let agent_log = Arc::clone(&log);
        let (config, caller, host) = hosting_pair(&broker, "cancel", "sleeper", move |_| {
            RoutedAgent::new(Sleeper {
                log: Arc::clone(&agent_log),
            })
            .with_handler::<Ping>()
        })
        .await;
        let logged = |entry: &str| log.lock().unwrap().iter().any(|e| e == entry);
        let sleep_rpc = |key: &str, ms: u32, token: Option<CancellationToken>| {
            let mut options = SendOptions::new();
            if let Some(token) = token {
                options = options.with_cancellation(token);
            }
            let (caller, recipient) = (caller.clone(), AgentId::new("sleeper", key).unwrap());
            async move {
                let ping = AnyMessage::new(Ping {
                    content: ms.to_string(),
                });
                caller.send_message(ping, recipient, options).await
            }
        };

        // Cancelled while its handler sleeps: the handler on the other runtime sees its token cancelled, long
        // before its 8 s sleep and the 20 s deadline.
        let token = CancellationToken::new();
        let call = tokio::spawn(sleep_rpc("a", 8000, Some(token.clone())));
        eventually(
            Duration::from_secs(10),
            Duration::from_millis(10),
            || async { logged("begin 8000") },
        )
        .await
        .unwrap();
        token.cancel();
        let error = call.await.unwrap().unwrap_err();
        assert_eq!(Error::from(error).kind(), ErrorKind::Cancelled);
        eventually(
            Duration::from_secs(5),
            Duration::from_millis(10),
            || async { logged("cancelled 8000") },
        )
        .await
        .expect("the remote handler saw the cancellation");

        // Cancelled while it waits behind another request to the same agent: it never runs, and it is
        // dead-lettered as `cancelled`.
        let first = tokio::spawn(sleep_rpc("b", 3000, None));
        eventually(
            Duration::from_secs(10),
            Duration::from_millis(10),
            || async { logged("begin 3000") },
        )
        .await
        .unwrap();
        let token = CancellationToken::new();
        let second = tokio::spawn(sleep_rpc("b", 100, Some(token.clone())));
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel();
        let error = second.await.unwrap().unwrap_err();
        assert_eq!(Error::from(error).kind(), ErrorKind::Cancelled);
        first.await.unwrap().unwrap();
        // Both are dead-lettered as `cancelled`: the one cut short, and the one never begun.
        let consumer =
            subscribed_consumer(&broker, "dlq-reader", &config.runtime.dead_letter_topic);
        let mut kinds: Vec<String> = Vec::new();
        while kinds.len() < 2 {
            let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .expect("the cancelled requests are dead-lettered")
                .unwrap();
            let kind = message
                .headers()
                .and_then(|h| {
                    h.iter()
                        .find(|h| h.key == "ak_dlq_kind")
                        .and_then(|h| h.value)
                })
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            kinds.push(kind);
        }
        assert_eq!(kinds, ["cancelled", "cancelled"]);
        assert!(
            !logged("begin 100"),
            "a request cancelled before it began never runs: {:?}",
            log.lock().unwrap()
        );

        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

//! Broker outages, an unreachable broker at start, expired requests and the hybrid pattern (local and distributed
//! agents in one process).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use autogen_kafka::{
    AgentId, AgentRuntimeExt, AgentType, Error, ErrorKind, Handler, HandlerError, MessageContext,
    RoutedAgent, SendOptions,
};
use autogen_kafka_integration_tests::{
    CapturedLogs, Ping, Pong, create_fleet_topics, echo_pair, fleet_config, hosting_pair,
    register_echo, worker, worker_config, worker_for,
};
use autogen_kafka_testing::{BrokerKind, TestBroker, eventually, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_makes_the_runtime_not_ready_and_it_recovers_without_restart() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // Fault injection needs the mock cluster, whatever broker the other tests use.
        let broker = TestBroker::mock().await.unwrap();
        let (_, caller, host) = echo_pair(&broker, "outage").await;
        assert!(caller.is_ready());
        let echo = AgentId::new("echo", "k").unwrap();
        let _: Pong = caller
            .send(
                Ping {
                    content: "before".into(),
                },
                &echo,
            )
            .await
            .unwrap();

        let cluster = broker.mock_cluster().unwrap();
        cluster.broker_down(1).await.unwrap();
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async { !caller.is_ready() },
        )
        .await
        .unwrap();
        // Meanwhile an RPC ends with a typed error, not a hang.
        let options = SendOptions::new().with_timeout(Duration::from_secs(2));
        let outcome = caller
            .send_with::<Ping, Pong>(
                Ping {
                    content: "during".into(),
                },
                &echo,
                options,
            )
            .await;
        if let Err(error) = outcome {
            let kind = Error::from(error).kind();
            assert!(
                matches!(kind, ErrorKind::Timeout | ErrorKind::Agent),
                "{kind:?}"
            );
        }

        cluster.broker_up(1).await.unwrap();
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async { caller.is_ready() && host.is_ready() },
        )
        .await
        .unwrap();
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(200),
            || async {
                let options = SendOptions::new().with_timeout(Duration::from_secs(3));
                caller
                    .send_with::<Ping, Pong>(
                        Ping {
                            content: "after".into(),
                        },
                        &echo,
                        options,
                    )
                    .await
                    .is_ok()
            },
        )
        .await
        .unwrap();
        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

/// Records the contents of the pings it handles.
struct Recording {
    handled: Arc<Mutex<Vec<String>>>,
}

impl Handler<Ping> for Recording {
    type Response = Pong;

    async fn handle(&mut self, ping: Ping, _ctx: &MessageContext) -> Result<Pong, HandlerError> {
        self.handled
            .lock()
            .map_err(|_| "poisoned")?
            .push(ping.content.clone());
        if let Some(ms) = ping.content.strip_prefix("sleep:") {
            tokio::time::sleep(Duration::from_millis(ms.parse()?)).await;
        }
        Ok(Pong {
            content: ping.content,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callee_skips_requests_whose_deadline_passed() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let handled = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&handled);
        let (_, caller, host) = hosting_pair(&broker, "expired", "slow", move |_| {
            RoutedAgent::new(Recording {
                handled: Arc::clone(&seen),
            })
            .with_handler::<Ping>()
        })
        .await;
        let slow = AgentId::new("slow", "k").unwrap();

        // The first request keeps the agent busy for 1.5 s; the second, to the same agent id, waits behind it
        // and its 300 ms deadline passes before its turn.
        let busy = {
            let caller = caller.clone();
            let slow = slow.clone();
            tokio::spawn(async move {
                caller
                    .send::<Ping, Pong>(
                        Ping {
                            content: "sleep:1500".into(),
                        },
                        &slow,
                    )
                    .await
            })
        };
        // Once the agent is busy with the first request, the second queues behind it.
        eventually(Duration::from_secs(30), Duration::from_millis(5), || {
            let handled = Arc::clone(&handled);
            async move { !handled.lock().unwrap().is_empty() }
        })
        .await
        .unwrap();
        let options = SendOptions::new().with_timeout(Duration::from_millis(300));
        let error = caller
            .send_with::<Ping, Pong>(
                Ping {
                    content: "expired".into(),
                },
                &slow,
                options,
            )
            .await
            .unwrap_err();
        assert_eq!(Error::from(error).kind(), ErrorKind::Timeout);
        busy.await.unwrap().unwrap();
        let _: Pong = caller
            .send(
                Ping {
                    content: "after".into(),
                },
                &slow,
            )
            .await
            .unwrap();
        let handled = handled.lock().unwrap().clone();
        assert_eq!(
            handled,
            vec!["sleep:1500".to_owned(), "after".to_owned()],
            "the expired request was handled"
        );
        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

/// A local-only agent that forwards each ping to the distributed echo agent through its context.
struct Forwarder;

impl Handler<Ping> for Forwarder {
    type Response = Pong;

    async fn handle(&mut self, ping: Ping, ctx: &MessageContext) -> Result<Pong, HandlerError> {
        let echo = AgentId::new("echo", "remote")?;
        let pong: Pong = ctx.send(ping, &echo).await?;
        Ok(Pong {
            content: format!("forwarded: {}", pong.content),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_distributed_agents_work_together_in_one_process() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("hybrid");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, 3).await;
        let hybrid = worker(&broker, config.clone(), "hybrid");
        let remote = worker(&broker, config.clone(), "remote");
        register_echo(&remote, "echo", "remote").await;
        let factory: autogen_kafka::core::AgentFactory = Arc::new(|_id, _runtime| {
            Box::pin(async {
                Ok(Box::new(RoutedAgent::new(Forwarder).with_handler::<Ping>())
                    as Box<dyn autogen_kafka::Agent>)
            })
        });
        hybrid
            .register_local_factory(AgentType::new("forwarder").unwrap(), factory)
            .await
            .unwrap();
        let (a, b) = tokio::join!(hybrid.start(), remote.start());
        a.unwrap();
        b.unwrap();

        // The local agent is reached in process; it reaches the distributed agent over Kafka.
        let pong: Pong = hybrid
            .send(
                Ping {
                    content: "hi".into(),
                },
                &AgentId::new("forwarder", "f").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(pong.content, "forwarded: hi from echo/remote on remote");
        // Local agents are invisible to the fleet.
        assert!(!remote.is_hosted("forwarder"));
        let error = remote
            .send::<Ping, Pong>(
                Ping {
                    content: "x".into(),
                },
                &AgentId::new("forwarder", "f").unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(Error::from(error).kind(), ErrorKind::Undeliverable);
        hybrid.stop().await.unwrap();
        remote.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_against_a_closed_port_the_runtime_logs_a_few_warnings_and_fails_with_connect() {
    let captured = CapturedLogs::install(tracing::Level::WARN);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bootstrap = format!("127.0.0.1:{port}");
    let fleet = unique_topic("closed");
    let mut config = fleet_config(
        &bootstrap,
        BrokerKind::Mock,
        &fleet,
        &autogen_kafka_testing::unique_group(&fleet),
    );
    config.runtime.startup_timeout = Duration::from_secs(6);
    let runtime = worker_for(BrokerKind::Mock, config, "closed");
    let started = std::time::Instant::now();
    let error = runtime.start().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, autogen_kafka::runtime::RuntimeError::Connect { .. }),
        "{error:?}"
    );
    assert_eq!(Error::from(error).kind(), ErrorKind::Connection);
    let text = captured.text();
    let lines: Vec<&str> = text.lines().collect();
    // librdkafka reports the refused connection on every reconnect from every client (hundreds of lines in these
    // seconds when told as they come); folded, each distinct line is written once.
    assert!(lines.len() <= 15, "{} lines:\n{text}", lines.len());
    assert!(
        lines
            .iter()
            .any(|line| line.contains("broker not reachable yet")),
        "the runtime's own retry warning is there:\n{text}"
    );
    assert!(
        !lines.iter().any(|line| line.contains(" ERROR ")),
        "a refused connection is retried, so a warning:\n{text}"
    );
}

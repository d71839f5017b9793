//! Callee dispatch by agent id, as users compose agents: agents of one type calling each other, call chains
//! across types and runtimes, cycles, a slow agent among fast ones, and a rebalance while a handler is stuck.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use autogen_kafka::{AgentId, AgentRuntimeExt, SendOptions};
use autogen_kafka_integration_tests::{
    Hop, Ping, Pong, Trail, create_fleet_topics, echo_pair, register_echo, register_walker, worker,
    worker_config,
};
use autogen_kafka_testing::{TestBroker, eventually, unique_topic};
use futures::StreamExt;

const TEST_TIMEOUT: Duration = Duration::from_secs(240);

fn id(text: &str) -> AgentId {
    text.parse()
        .unwrap_or_else(|error| panic!("agent id {text}: {error}"))
}

fn hop(path: &[&str]) -> Hop {
    Hop {
        path: path.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// `relay/aN` answers by calling `relay/bN` (same type, same runtime): 1,000 pairs, 32 at a time. With records
/// dispatched by a hash of their key, pairs whose two records met in one lane waited for their deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_of_one_type_calling_each_other_never_wait_for_their_deadline() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("pairs");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, 3).await;
        let caller = worker(&broker, config.clone(), "caller");
        let host = worker(&broker, config.clone(), "host");
        register_walker(&host, "relay").await;
        let (a, b) = tokio::join!(caller.start(), host.start());
        a.unwrap();
        b.unwrap();

        let failures = AtomicUsize::new(0);
        let calls = futures::stream::iter(0..1000).for_each_concurrent(32, |n| {
            let (caller, failures) = (&caller, &failures);
            async move {
                let b = format!("relay/b{n}");
                let options = SendOptions::new().with_timeout(Duration::from_secs(10));
                match caller
                    .send_with::<Hop, Trail>(hop(&[&b]), &id(&format!("relay/a{n}")), options)
                    .await
                {
                    Ok(trail) => assert_eq!(trail.chain, [format!("relay/a{n}")]),
                    Err(error) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("pair {n} failed: {error}");
                    }
                }
            }
        });
        calls.await;
        assert_eq!(failures.load(Ordering::Relaxed), 0, "every pair answers");
        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

/// Chains of depth 5 across three types on two runtimes complete, and each hop sees the whole chain above it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_of_depth_five_across_three_types_and_two_runtimes_complete() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("chains");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, 3).await;
        let left = worker(&broker, config.clone(), "left");
        let right = worker(&broker, config.clone(), "right");
        register_walker(&left, "a").await;
        register_walker(&left, "c").await;
        register_walker(&right, "b").await;
        let (l, r) = tokio::join!(left.start(), right.start());
        l.unwrap();
        r.unwrap();

        let chains = futures::stream::iter(0..20).for_each_concurrent(8, |n| {
            let left = &left;
            async move {
                let path = [
                    format!("b/{n}"),
                    format!("c/{n}"),
                    format!("a/{n}x"),
                    format!("b/{n}x"),
                    format!("c/{n}x"),
                ];
                let trail: Trail = left
                    .send(
                        Hop {
                            path: path.to_vec(),
                        },
                        &id(&format!("a/{n}")),
                    )
                    .await
                    .unwrap_or_else(|error| panic!("chain {n}: {error}"));
                let mut expected = vec![format!("a/{n}")];
                expected.extend(path[..4].iter().cloned());
                assert_eq!(trail.chain, expected, "chain {n}");
                assert_eq!(trail.cycle, None);
            }
        });
        chains.await;
        left.stop().await.unwrap();
        right.stop().await.unwrap();
    })
    .await
    .unwrap();
}

/// `a/x → b/y → a/x` fails at once with `CallCycle` naming the chain, across runtimes, instead of waiting for the
/// deadline; a call that names its recipient in its chain fails before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cycle_fails_at_once_with_the_typed_error() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("cycle");
        let config = worker_config(&broker, &fleet);
        create_fleet_topics(&broker, &config, 3).await;
        let left = worker(&broker, config.clone(), "left");
        let right = worker(&broker, config.clone(), "right");
        register_walker(&left, "a").await;
        register_walker(&right, "b").await;
        let (l, r) = tokio::join!(left.start(), right.start());
        l.unwrap();
        r.unwrap();

        // The RPC deadline is 20 s: an answer within a few seconds means nobody waited for it.
        let started = Instant::now();
        let trail: Trail = left.send(hop(&["b/y", "a/x"]), &id("a/x")).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the cycle took {:?}",
            started.elapsed()
        );
        assert_eq!(
            trail.cycle,
            Some(vec!["a/x".to_owned(), "b/y".to_owned(), "a/x".to_owned()]),
            "b/y's runtime refused the call back to a/x with CallCycle"
        );

        // A self-call of one agent id is a cycle too; another id of the same type is not.
        let trail: Trail = left.send(hop(&["a/x"]), &id("a/x")).await.unwrap();
        assert_eq!(trail.cycle, Some(vec!["a/x".to_owned(), "a/x".to_owned()]));
        let trail: Trail = left.send(hop(&["a/z"]), &id("a/x")).await.unwrap();
        assert_eq!(trail.chain, ["a/x"]);

        // A caller that says the recipient already waits gets the typed error before anything is sent.
        let options = SendOptions::new().with_call_chain(vec![id("b/y"), id("a/x")]);
        let error = left
            .send_with::<Hop, Trail>(hop(&[]), &id("b/y"), options)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("call cycle b/y → a/x → b/y"),
            "{error}"
        );
        left.stop().await.unwrap();
        right.stop().await.unwrap();
    })
    .await
    .unwrap();
}

/// One agent id kept busy by slow handlers holds up only its own messages: 500 calls to other ids of the same
/// type all answer while it sleeps, each within a second (a few fetch cycles; a slow handler takes 4 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_agent_holds_up_no_other_agent_id() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let (_config, caller, host) = echo_pair(&broker, "slow").await;

        // The first RPC of fresh runtimes pays one-time costs (connections, the callee's first fetch).
        let _: Pong = caller
            .send(
                Ping {
                    content: "warm".into(),
                },
                &id("echo/warm"),
            )
            .await
            .unwrap();
        // Three messages of 4 s each keep echo/slow busy for 12 s.
        let slow = id("echo/slow");
        let slow_calls = futures::future::join_all((0..3).map(|_| {
            caller.send::<Ping, Pong>(
                Ping {
                    content: "sleep:4000".into(),
                },
                &slow,
            )
        }));
        let fast = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
            futures::stream::iter(0..500)
                .for_each_concurrent(16, |n| {
                    let (caller, latencies) = (&caller, Arc::clone(&latencies));
                    async move {
                        let started = Instant::now();
                        let pong: Pong = caller
                            .send(
                                Ping {
                                    content: format!("{n}"),
                                },
                                &id(&format!("echo/k{n}")),
                            )
                            .await
                            .unwrap_or_else(|error| panic!("call {n}: {error}"));
                        assert!(pong.content.starts_with(&format!("{n} from echo/k{n}")));
                        latencies.lock().unwrap().push((started.elapsed(), n));
                    }
                })
                .await;
            let mut latencies = latencies.lock().unwrap().clone();
            latencies.sort();
            latencies
        };
        let (slow_answers, latencies) = tokio::join!(slow_calls, fast);
        for answer in slow_answers {
            answer.unwrap();
        }
        let (max, slowest) = *latencies.last().unwrap();
        eprintln!(
            "500 calls beside a slow agent: p50 {:?}, p99 {:?}, max {max:?} (echo/k{slowest})",
            latencies[249].0, latencies[494].0
        );
        assert!(
            max < Duration::from_secs(1),
            "the call to echo/k{slowest} waited {max:?}: it was held up by the slow agent"
        );
        caller.stop().await.unwrap();
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

/// A replica joins while a handler of the first one is stuck: the first replica's revoke gives up within the drain
/// timeout (`service.shutdown_timeout_ms`, 3 s here), the new replica gets its partitions, and agent ids of the
/// stuck one's partitions are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_finishes_within_the_drain_timeout_while_a_handler_is_stuck() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("stuck");
        let mut config = worker_config(&broker, &fleet);
        config.service.shutdown_timeout = Duration::from_secs(3);
        create_fleet_topics(&broker, &config, 3).await;
        let caller = worker(&broker, config.clone(), "caller");
        let first = worker(&broker, config.clone(), "first");
        register_echo(&first, "echo", "first").await;
        let (a, b) = tokio::join!(caller.start(), first.start());
        a.unwrap();
        b.unwrap();

        // echo/stuck sleeps for a minute; its caller gives up after 2 s.
        let stuck = id("echo/stuck");
        let answer = caller
            .send_with::<Ping, Pong>(
                Ping {
                    content: "sleep:60000".into(),
                },
                &stuck,
                SendOptions::new().with_timeout(Duration::from_secs(2)),
            )
            .await;
        assert!(answer.is_err());

        let second = worker(&broker, config.clone(), "second");
        register_echo(&second, "echo", "second").await;
        second.start().await.unwrap();
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(50),
            || async {
                let (a, b) = (
                    first.assigned_partitions("echo"),
                    second.assigned_partitions("echo"),
                );
                !b.is_empty() && a.len() + b.len() == 3
            },
        )
        .await
        .unwrap();
        let revoke = first.longest_revoke().await;
        assert!(
            revoke < Duration::from_secs(4),
            "the revoke took {revoke:?}, more than the 3 s drain timeout"
        );
        // Every agent id answers again, on whichever replica owns it now.
        for n in 0..20 {
            let pong: Pong = caller
                .send(
                    Ping {
                        content: "after".into(),
                    },
                    &id(&format!("echo/k{n}")),
                )
                .await
                .unwrap();
            assert!(pong.content.starts_with("after from"));
        }
        caller.stop().await.unwrap();
        second.stop().await.unwrap();
        drop(first);
    })
    .await
    .unwrap();
}

//! Quickstart: two runtimes on a Kafka broker — agents answering requests and reading publications.
//!
//! Run it with `cargo run --example quickstart`. It needs nothing installed: it starts librdkafka's in-process
//! mock cluster as an embedded broker (set `KAFKA_BOOTSTRAP_SERVERS=host:port` to use your own Kafka instead).
//!
//! What it shows, and the guarantee behind each step:
//! 1. RPC across runtimes: `send` returns the handler's answer, or a typed error; it never waits forever.
//! 2. Publish: every agent whose subscription matches the topic gets the message once.
//! 3. An agent type no runtime hosts fails at once with `Undeliverable`.
//! 4. A handler error reaches the caller with its message; the agent keeps serving.
//! 5. Graceful stop: in-flight work finishes, offsets are committed, registrations are withdrawn.
#![expect(clippy::print_stdout, reason = "an example prints what it does")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use autogen_kafka::{
    AgentId, AgentRuntime, AgentRuntimeExt, Error, ErrorKind, Handler, HandlerError,
    MessageContext, RoutedAgent, TopicId, TypeSubscription,
};
use autogen_kafka_examples::{Add, News, Sum, broker, config, runtime};

/// Answers `Add` requests; refuses sums that overflow.
struct Calculator;

impl Handler<Add> for Calculator {
    type Response = Sum;

    async fn handle(&mut self, add: Add, _ctx: &MessageContext) -> Result<Sum, HandlerError> {
        let value = add.a.checked_add(add.b).ok_or("the sum overflows i64")?;
        Ok(Sum { value })
    }
}

/// Counts the news it reads.
struct Reader {
    read: Arc<AtomicUsize>,
}

impl Handler<News> for Reader {
    type Response = ();

    async fn handle(&mut self, news: News, ctx: &MessageContext) -> Result<(), HandlerError> {
        let topic = ctx.topic_id().map(ToString::to_string).unwrap_or_default();
        println!(
            "   {} read {:?} (topic {topic})",
            ctx.agent_id(),
            news.headline
        );
        self.read.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    autogen_kafka_examples::init_logging("error");
    let started = Instant::now();
    let broker = broker().await?;
    println!(
        "broker: {:?} at {}",
        broker.kind(),
        broker.bootstrap_servers()
    );
    let config = config(broker.bootstrap_servers(), broker.kind(), "quickstart")?;

    // Two runtimes, as two processes would have: "workers" hosts the agents, "client" calls them.
    let workers = runtime(config.clone(), broker.kind(), "workers")?;
    let client = runtime(config, broker.kind(), "client")?;
    workers
        .register("calculator", |_id| {
            RoutedAgent::new(Calculator).with_handler::<Add>()
        })
        .await?;
    let read = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&read);
    workers
        .register("reader", move |_id| {
            RoutedAgent::new(Reader {
                read: Arc::clone(&counter),
            })
            .with_handler::<News>()
        })
        .await?;
    let subscription = TypeSubscription::new("news", "reader")?;
    let subscription_id = subscription.id().to_owned();
    workers.add_subscription(subscription.into()).await?;
    let (a, b) = tokio::join!(workers.start(), client.start());
    a?;
    b?;
    println!(
        "0. both runtimes ready after {:.1?} (group join on the embedded broker takes ~3 s)",
        started.elapsed()
    );
    // The client learns the fleet's agent types and subscriptions from their topics.
    while !client.is_hosted("calculator") || !client.knows_subscription(&subscription_id) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // 1. RPC across runtimes.
    let calculator = AgentId::new("calculator", "default")?;
    let sum: Sum = client.send(Add { a: 2, b: 40 }, &calculator).await?;
    println!(
        "1. calculator/default answered 2 + 40 = {} (over Kafka)",
        sum.value
    );

    // 2. Publish to every subscribed reader.
    println!("2. publishing to news/world and news/sport:");
    for source in ["world", "sport"] {
        let topic = TopicId::new("news", source)?;
        client
            .publish(
                News {
                    headline: format!("{source} headline"),
                },
                &topic,
            )
            .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while read.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "   {} deliveries: one per reader agent (reader/world, reader/sport)",
        read.load(Ordering::SeqCst)
    );

    // 3. Unknown agent type.
    let nobody = AgentId::new("nobody", "default")?;
    match client.send::<Add, Sum>(Add { a: 1, b: 1 }, &nobody).await {
        Err(error) => {
            let error = Error::from(error);
            assert_eq!(error.kind(), ErrorKind::Undeliverable);
            println!("3. sending to nobody/default failed at once: {error}");
        }
        Ok(sum) => println!("3. unexpected answer from nobody/default: {}", sum.value),
    }

    // 4. A handler error reaches the caller; the agent keeps serving.
    match client
        .send::<Add, Sum>(Add { a: i64::MAX, b: 1 }, &calculator)
        .await
    {
        Err(error) => println!(
            "4. overflowing request failed: {}",
            autogen_kafka_examples::error_chain(&error)
        ),
        Ok(sum) => println!("4. unexpected answer: {}", sum.value),
    }
    let sum: Sum = client.send(Add { a: 1, b: 1 }, &calculator).await?;
    println!("   and the calculator still answers: 1 + 1 = {}", sum.value);

    // 5. Graceful stop.
    client.stop().await?;
    workers.stop().await?;
    // Drop the runtimes (their Kafka clients) before the embedded broker goes away.
    drop((client, workers));
    broker.shutdown().await?;
    println!(
        "5. both runtimes stopped cleanly; total {:.1?}",
        started.elapsed()
    );
    Ok(())
}

//! Quickstart: agents that answer requests and react to publications.
//!
//! Run it with `cargo run --example quickstart`. It needs nothing installed: the agents run on the
//! in-process `LocalRuntime`, and the same agent code runs unchanged on the Kafka worker runtime.
//!
//! What it shows, and the guarantee behind each step:
//! 1. RPC: `send` returns the handler's answer, or a typed error; it never waits forever (deadline).
//! 2. Publish: every agent whose subscription matches the topic gets the message once; the
//!    publisher is not among them.
//! 3. An agent type nobody registered fails at once with `Undeliverable`.
//! 4. A handler error reaches the caller with its message; the agent keeps serving.
#![expect(clippy::print_stdout, reason = "an example prints what it does")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use autogen_kafka::{
    AgentId, AgentRuntime, AgentRuntimeExt, Error, ErrorKind, Handler, HandlerError, LocalRuntime,
    Message, MessageContext, RoutedAgent, TopicId, TypeSubscription,
};
use serde::{Deserialize, Serialize};

/// A question for the calculator. The type name matches the Python class name `Add`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Add {
    a: i64,
    b: i64,
}
impl Message for Add {
    const TYPE_NAME: &'static str = "Add";
}

/// The calculator's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sum {
    value: i64,
}
impl Message for Sum {
    const TYPE_NAME: &'static str = "Sum";
}

/// A news item, published to a topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct News {
    headline: String,
}
impl Message for News {
    const TYPE_NAME: &'static str = "News";
}

/// Answers `Add` requests; refuses to add numbers that overflow.
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
        println!(
            "  {} read {:?} on topic {}",
            ctx.agent_id(),
            news.headline,
            ctx.topic_id().map_or_else(String::new, ToString::to_string)
        );
        self.read.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let runtime = LocalRuntime::builder()
        .default_rpc_timeout(Duration::from_secs(5))
        .build()?;

    // 1. RPC.
    runtime
        .register("calculator", |_id| {
            RoutedAgent::new(Calculator).with_handler::<Add>()
        })
        .await?;
    let calculator = AgentId::new("calculator", "default")?;
    let sum: Sum = runtime.send(Add { a: 2, b: 40 }, &calculator).await?;
    println!("1. calculator/default answered 2 + 40 = {}", sum.value);

    // 2. Publish to every subscribed reader.
    let read = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&read);
    runtime
        .register("reader", move |_id| {
            RoutedAgent::new(Reader {
                read: Arc::clone(&counter),
            })
            .with_handler::<News>()
        })
        .await?;
    runtime
        .add_subscription(TypeSubscription::new("news", "reader")?.into())
        .await?;
    println!("2. publishing to news/world and news/sport:");
    for source in ["world", "sport"] {
        let topic = TopicId::new("news", source)?;
        runtime
            .publish(
                News {
                    headline: format!("{source} headline"),
                },
                &topic,
            )
            .await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while read.load(Ordering::SeqCst) < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "   {} deliveries (one per reader agent: reader/world and reader/sport)",
        read.load(Ordering::SeqCst)
    );

    // 3. Unknown agent type.
    let nobody = AgentId::new("nobody", "default")?;
    match runtime.send::<Add, Sum>(Add { a: 1, b: 1 }, &nobody).await {
        Err(error) => {
            let error = Error::from(error);
            assert_eq!(error.kind(), ErrorKind::Undeliverable);
            println!("3. sending to nobody/default failed at once: {error}");
        }
        Ok(sum) => println!("3. unexpected answer from nobody/default: {}", sum.value),
    }

    // 4. A handler error reaches the caller; the agent keeps serving.
    match runtime
        .send::<Add, Sum>(Add { a: i64::MAX, b: 1 }, &calculator)
        .await
    {
        Err(error) => println!("4. overflowing request failed: {}", chain(&error)),
        Ok(sum) => println!("4. unexpected answer: {}", sum.value),
    }
    let sum: Sum = runtime.send(Add { a: 1, b: 1 }, &calculator).await?;
    println!("   and the calculator still answers: 1 + 1 = {}", sum.value);

    runtime.stop(Duration::from_secs(5)).await?;
    println!("done: runtime stopped cleanly");
    Ok(())
}

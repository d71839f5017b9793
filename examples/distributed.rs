//! Pattern 1 of the API document, a distributed agent system: runtimes in separate processes, each hosting
//! different agent types, collaborating over Kafka.
//!
//! Three terminals (or `&`):
//!
//! ```text
//! cargo run --example distributed -- broker                      # embedded broker; prints its address
//! cargo run --example distributed -- worker  mock:127.0.0.1:PORT # hosts `calculator` agents (run it twice: replicas)
//! cargo run --example distributed -- client  mock:127.0.0.1:PORT # sends 20 requests and prints the answers
//! ```
//!
//! The `mock:` prefix tells the runtime that the broker is the embedded mock cluster, which has no Admin API
//! (topics are then auto-created). With your own Kafka, skip the first command and pass its address without
//! the prefix. Ctrl-C stops a process gracefully: it
//! finishes in-flight requests, commits, withdraws its registration and leaves the group, so its agent ids move
//! to the other replica. Guarantees shown: requests to one agent id are handled in order by one replica at a
//! time; every request ends with an answer or a typed error.
#![expect(clippy::print_stdout, reason = "an example prints what it does")]

use std::time::Duration;

use autogen_kafka::{AgentId, AgentRuntimeExt, Handler, HandlerError, MessageContext, RoutedAgent};
use autogen_kafka_examples::{Add, Sum, config, runtime};
use autogen_kafka_testing::{BrokerKind, TestBroker};

/// Adds numbers and says which process answered.
struct Calculator {
    pid: u32,
}

impl Handler<Add> for Calculator {
    type Response = Sum;

    async fn handle(&mut self, add: Add, ctx: &MessageContext) -> Result<Sum, HandlerError> {
        println!(
            "   [pid {}] {} handles {} + {}",
            self.pid,
            ctx.agent_id(),
            add.a,
            add.b
        );
        Ok(Sum {
            value: add.a.checked_add(add.b).ok_or("overflow")?,
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    autogen_kafka_examples::init_logging("warn");
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["broker"] => {
            let broker = TestBroker::mock().await?;
            println!(
                "embedded broker listening at {}",
                broker.bootstrap_servers()
            );
            println!(
                "  cargo run --example distributed -- worker mock:{}",
                broker.bootstrap_servers()
            );
            println!(
                "  cargo run --example distributed -- client mock:{}",
                broker.bootstrap_servers()
            );
            println!("press Ctrl-C to stop it");
            tokio::signal::ctrl_c().await?;
            broker.shutdown().await?;
        }
        ["worker", address] => {
            let (bootstrap, kind) = parse_address(address);
            let runtime = runtime(
                config(bootstrap, kind, "distributed-example")?,
                kind,
                &format!("worker-{}", std::process::id()),
            )?;
            let pid = std::process::id();
            runtime
                .register("calculator", move |_| {
                    RoutedAgent::new(Calculator { pid }).with_handler::<Add>()
                })
                .await?;
            runtime.start().await?;
            println!("worker {pid} ready; Ctrl-C stops it gracefully");
            tokio::signal::ctrl_c().await?;
            runtime.stop().await?;
            println!("worker {pid} stopped");
        }
        ["client", address] => {
            let (bootstrap, kind) = parse_address(address);
            let runtime = runtime(
                config(bootstrap, kind, "distributed-example")?,
                kind,
                &format!("client-{}", std::process::id()),
            )?;
            runtime.start().await?;
            for i in 0..20_i64 {
                let id = AgentId::new("calculator", format!("user{}", i % 5))?;
                match runtime.send::<Add, Sum>(Add { a: i, b: 100 }, &id).await {
                    Ok(sum) => println!("{id}: {i} + 100 = {}", sum.value),
                    Err(error) => println!("{id}: failed: {error}"),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            runtime.stop().await?;
        }
        _ => {
            println!("usage: distributed broker | worker <bootstrap> | client <bootstrap>");
        }
    }
    Ok(())
}

/// `mock:host:port` is the embedded mock cluster; anything else a real broker.
fn parse_address(address: &str) -> (&str, BrokerKind) {
    match address.strip_prefix("mock:") {
        Some(bootstrap) => (bootstrap, BrokerKind::Mock),
        None => (address, BrokerKind::External),
    }
}

//! A deployable worker: the image of `deploy/Dockerfile`, run by `deploy/compose.yaml` and `deploy/k8s/`.
//!
//! It loads the configuration like every runtime (an optional file named by the first argument or
//! `AUTOGEN_KAFKA_CONFIG_FILE`, then `KAFKA_BOOTSTRAP_SERVERS` and the `AUTOGEN_KAFKA_*` variables), hosts the
//! `calculator` agent type, and serves `/metrics`, `/health/live` and `/health/ready` on `MONITORING_ADDRESS`
//! (default `0.0.0.0:9464`). SIGTERM or Ctrl-C stops it gracefully within `service.shutdown_timeout_ms`.
//!
//! ```text
//! KAFKA_BOOTSTRAP_SERVERS=localhost:9092 AUTOGEN_KAFKA_KAFKA__GROUP_ID=agents cargo run --example worker
//! ```
#![expect(clippy::print_stdout, reason = "an example prints what it does")]

use std::net::SocketAddr;

use autogen_kafka::monitoring::MonitoringServer;
use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{
    AgentRuntimeExt as _, CancellationToken, Config, Handler, HandlerError, MessageContext,
    RoutedAgent,
};
use autogen_kafka_examples::{Add, Sum};

/// jemalloc: under load glibc's malloc took about a quarter of the CPU of the threads that handle records
/// (docs/performance.md, finding 12).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Adds numbers.
struct Calculator;

impl Handler<Add> for Calculator {
    type Response = Sum;

    async fn handle(&mut self, add: Add, _ctx: &MessageContext) -> Result<Sum, HandlerError> {
        Ok(Sum {
            value: add.a.checked_add(add.b).ok_or("overflow")?,
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    autogen_kafka_examples::init_logging("info");
    let file = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("AUTOGEN_KAFKA_CONFIG_FILE").ok());
    let mut builder = Config::builder();
    if let Some(file) = &file {
        builder = builder.file(file);
    }
    let config = builder.build()?;
    let address: SocketAddr = std::env::var("MONITORING_ADDRESS")
        .unwrap_or_else(|_| "0.0.0.0:9464".to_owned())
        .parse()?;
    let runtime = KafkaWorkerAgentRuntime::builder(config).build()?;
    runtime
        .register("calculator", |_| {
            RoutedAgent::new(Calculator).with_handler::<Add>()
        })
        .await?;
    let shutdown = CancellationToken::new();
    let server = MonitoringServer::builder(runtime.metrics().clone(), runtime.health().clone())
        .address(address)
        .build()
        .await?;
    let serving = tokio::spawn(server.serve(shutdown.child_token()));
    runtime.start().await?;
    println!(
        "worker {} ready; monitoring on {address}",
        runtime.instance_id()
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    runtime.stop().await?;
    shutdown.cancel();
    serving.await??;
    println!("worker stopped");
    Ok(())
}

//! `bench-worker`: a process the benchmark driver starts, so callers and callees live in separate processes.
//!
//! - `bench-worker callee <settings json> <fleet> <group> <name> [relay]`: a Kafka worker runtime hosting the
//!   `echo` agent type, and with `relay` the `relay` type too (it asks `echo/<its own key>` through the runtime).
//!   Prints `ready start_ms=.. build_ms=.. instance=..` once `start()` returned, and `assigned <partitions>`
//!   whenever the request partitions of `echo` it owns change.
//! - `bench-worker raw-echo <settings json> <request topic> <group>`: the raw rdkafka echo. Prints
//!   `ready join_ms=..` once its consumer group assigned it partitions.
//!
//! `callee` and `raw-echo` also print `status produce_requests=.. produced_records=..` whenever their producer's
//! statistics change (the runtime's data plane; the echo's producer).
//!
//! Both stop gracefully when their standard input closes (the driver closed it, or died), print
//! `stats key=value ..` and exit. Logs go to stderr (`BENCH_LOG` sets the filter, default `warn`).
#![expect(
    clippy::print_stdout,
    reason = "the driver reads the worker's stdout lines"
)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autogen_kafka::AgentRuntimeExt as _;
use autogen_kafka_bench::host::{init_logging, parse_settings, start_and_announce, stdin_closed};
use autogen_kafka_bench::suite::chain;
use autogen_kafka_bench::{
    BenchError, ECHO_TYPE, Produced, RELAY_TYPE, RawEcho, Result, echo_agent, relay_agent,
};

/// jemalloc, in every benchmark process that compares the runtime with the raw baseline (both sides alike):
/// glibc's malloc cost the runtime's callee about a quarter of its CPU under load (docs/performance.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("callee") => callee(&args[1..]).await,
        Some("raw-echo") => raw_echo(&args[1..]).await,
        _ => Err(BenchError::WorkerArguments {
            detail: "usage: bench-worker callee <settings> <fleet> <group> <name> [relay] | raw-echo <settings> <topic> \
                     <group>"
                .to_owned(),
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %chain(&error), "bench-worker failed");
            ExitCode::FAILURE
        }
    }
}

/// Prints a `status` line with `produced` when it changed since `last`.
fn report_produced(last: &mut Option<Produced>, produced: Option<Produced>) {
    if let Some(produced) = produced
        && *last != Some(produced)
    {
        println!(
            "status produce_requests={} produced_records={}",
            produced.requests, produced.records
        );
        *last = Some(produced);
    }
}

/// Prints an `assigned` line when the partitions changed since `last`.
fn report_assignment(last: &mut Option<Vec<i32>>, now: Vec<i32>) {
    if last.as_ref() != Some(&now) {
        let list: Vec<String> = now.iter().map(ToString::to_string).collect();
        println!("assigned {}", list.join(","));
        *last = Some(now);
    }
}

async fn callee(args: &[String]) -> Result<()> {
    let (settings_json, fleet, group, name, relay) = match args {
        [settings_json, fleet, group, name] => (settings_json, fleet, group, name, false),
        [settings_json, fleet, group, name, extra] if extra.as_str() == RELAY_TYPE => {
            (settings_json, fleet, group, name, true)
        }
        _ => {
            return Err(BenchError::WorkerArguments {
                detail: format!(
                    "callee needs <settings> <fleet> <group> <name> [{RELAY_TYPE}], got {args:?}"
                ),
            });
        }
    };
    let settings = parse_settings(settings_json)?;
    let begun = Instant::now();
    let instance = format!("{fleet}-{name}");
    let runtime = settings.runtime(fleet, group, &instance)?;
    runtime
        .register(ECHO_TYPE, |_| echo_agent())
        .await
        .map_err(|e| BenchError::runtime("register", e))?;
    if relay {
        runtime
            .register(RELAY_TYPE, |_| relay_agent())
            .await
            .map_err(|e| BenchError::runtime("register", e))?;
    }
    start_and_announce(&runtime, begun).await?;
    let watcher = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let mut last: Option<Vec<i32>> = None;
            let mut produced = None;
            loop {
                report_assignment(&mut last, runtime.assigned_partitions(ECHO_TYPE));
                let counts = runtime.produce_counts().map(|c| Produced {
                    requests: c.requests,
                    records: c.records,
                });
                report_produced(&mut produced, counts);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    stdin_closed().await;
    watcher.abort();
    let stopping = Instant::now();
    let stopped = runtime.stop().await;
    println!(
        "stats stop_ms={:.3} late_responses={}",
        stopping.elapsed().as_secs_f64() * 1000.0,
        runtime.late_responses()
    );
    stopped.map_err(|e| BenchError::runtime("stop", e))
}

async fn raw_echo(args: &[String]) -> Result<()> {
    let [settings_json, topic, group] = args else {
        return Err(BenchError::WorkerArguments {
            detail: format!("raw-echo needs <settings> <topic> <group>, got {args:?}"),
        });
    };
    let settings = parse_settings(settings_json)?;
    let echo = Arc::new(RawEcho::start(&settings, topic, group)?);
    let join = echo.wait_assigned(Duration::from_secs(90)).await?;
    println!("ready join_ms={:.3}", join.as_secs_f64() * 1000.0);
    let watcher = {
        let echo = Arc::clone(&echo);
        tokio::spawn(async move {
            let mut last: Option<Vec<i32>> = None;
            let mut produced = None;
            loop {
                report_assignment(&mut last, echo.assignment());
                report_produced(&mut produced, echo.produced());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    stdin_closed().await;
    watcher.abort();
    let _ = watcher.await;
    let stats = match Arc::try_unwrap(echo) {
        Ok(echo) => echo.stop().await,
        Err(_) => autogen_kafka_bench::RawEchoStats::default(),
    };
    println!("stats handled={} failed={}", stats.handled, stats.failed);
    Ok(())
}

//! The scale benchmark's host process (`bench-host-glibc`, and `bench-host-jemalloc`, the same host with the
//! jemalloc allocator): the stateful `counter` type plus `types - 1` echo types (`echo1`, `echo2`, ..) that get no
//! traffic, agents passivated after `idle ms` of idleness (0: never). It prints `ready ..` once started,
//! `status active=.. [allocated=..]` every 250 ms (agents active; bytes the allocator has handed out and not got
//! back, when it can tell), stops when its standard input closes, and then prints `stats active=..`.
//!
//! It also holds what every worker process shares: logging, the settings argument, the `ready` line and the stop
//! signal.
#![expect(
    clippy::print_stdout,
    reason = "the driver reads the host's stdout lines"
)]

use std::io::Read as _;
use std::time::{Duration, Instant};

use autogen_kafka::AgentRuntimeExt as _;
use autogen_kafka::runtime::KafkaWorkerAgentRuntime;

use crate::error::{BenchError, Result};
use crate::{COUNTER_TYPE, ECHO_TYPE, Settings, counter_agent, echo_agent};

/// Logs to stderr, filtered by `BENCH_LOG` (default `warn`): the setup of every worker process.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BENCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// The [`Settings`] a worker process got as JSON on its command line.
///
/// # Errors
///
/// [`BenchError::Json`] when the text is not the settings' JSON.
pub fn parse_settings(json: &str) -> Result<Settings> {
    serde_json::from_str(json).map_err(|source| BenchError::Json {
        what: "settings",
        source,
    })
}

/// Starts `runtime` (built since `begun`) and prints the worker's `ready start_ms=.. build_ms=.. instance=..` line.
///
/// # Errors
///
/// [`BenchError::Runtime`] when it does not start.
pub async fn start_and_announce(runtime: &KafkaWorkerAgentRuntime, begun: Instant) -> Result<()> {
    let build = begun.elapsed();
    let starting = Instant::now();
    runtime
        .start()
        .await
        .map_err(|e| BenchError::runtime("start", e))?;
    println!(
        "ready start_ms={:.3} build_ms={:.3} instance={}",
        starting.elapsed().as_secs_f64() * 1000.0,
        build.as_secs_f64() * 1000.0,
        runtime.instance_id()
    );
    Ok(())
}

/// Resolves when standard input reaches its end (the driver asks the worker to stop by closing it).
pub async fn stdin_closed() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = [0_u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    })
    .await;
}

/// Runs the host: `args` are `<settings json> <fleet> <group> <name> <types> <idle ms>`; `allocated` tells the
/// bytes allocated and not freed, if the allocator can.
///
/// # Errors
///
/// [`BenchError`] when the arguments are wrong or the runtime fails to start or stop.
pub async fn run(args: &[String], allocated: Option<fn() -> Option<u64>>) -> Result<()> {
    let [settings_json, fleet, group, name, types, idle_ms] = args else {
        return Err(BenchError::WorkerArguments {
            detail: format!(
                "host needs <settings> <fleet> <group> <name> <types> <idle ms>, got {args:?}"
            ),
        });
    };
    let number = |text: &str| {
        text.parse::<u64>()
            .map_err(|error| BenchError::WorkerArguments {
                detail: format!("`{text}` is not a number: {error}"),
            })
    };
    let types = number(types)?.max(1);
    let idle = Duration::from_millis(number(idle_ms)?);
    let settings = parse_settings(settings_json)?;
    let begun = Instant::now();
    let runtime = settings.runtime_tuned(fleet, group, &format!("{fleet}-{name}"), |config| {
        config.runtime.agent_idle_timeout = idle;
    })?;
    runtime
        .register(COUNTER_TYPE, |_| counter_agent())
        .await
        .map_err(|e| BenchError::runtime("register", e))?;
    for extra in 1..types {
        runtime
            .register(&format!("{ECHO_TYPE}{extra}"), |_| echo_agent())
            .await
            .map_err(|e| BenchError::runtime("register", e))?;
    }
    start_and_announce(&runtime, begun).await?;
    let status = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            loop {
                let allocated = allocated
                    .and_then(|read| read())
                    .map(|bytes| format!(" allocated={bytes}"))
                    .unwrap_or_default();
                println!("status active={}{allocated}", runtime.active_agents().len());
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    stdin_closed().await;
    status.abort();
    let active = runtime.active_agents().len();
    let stopped = runtime.stop().await;
    println!("stats active={active}");
    stopped.map_err(|e| BenchError::runtime("stop", e))
}

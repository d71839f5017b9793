//! `bench`: the benchmark driver behind `just bench`.
//!
//! For each available broker — the in-process librdkafka mock cluster always, Tansu when installed
//! (`scripts/install-tansu.sh`), the broker at `KAFKA_BOOTSTRAP_SERVERS` when set — it measures the runtime and
//! the raw rdkafka baseline side by side and writes `results.json` and `results.md` into `--out`
//! (default `target/bench`), then prints the Markdown. Build it in release mode: `scripts/bench.sh` does.
//!
//! `--broker mock|tansu|external` (repeatable) limits the brokers, `--quick` shrinks every count for a smoke
//! run. `BENCH_LOG` sets the log filter (default `warn,autogen_kafka_bench=info,bench=info`), `BENCH_LINGER_MS` the
//! producers' `linger.ms` (runtime and baseline alike, default 0); `BENCH_CALLEE_WRAPPER` and `BENCH_RAW_ECHO_WRAPPER`
//! start the first callee or raw echo process under a profiler; `BENCH_HEARTBEAT_MS` sets the registry heartbeat;
//! `BENCH_ONLY=rpc` measures the RPC figures alone, `BENCH_ONLY=gateway` the A2A gateway against direct RPCs alone.
#![expect(clippy::print_stdout, reason = "the driver prints the results table")]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use autogen_kafka_bench::suite::{Environment, Plan, chain, run_broker};
use autogen_kafka_bench::{BrokerReport, Machine, Results, Skipped, procstat};
use autogen_kafka_testing::{BOOTSTRAP_SERVERS_ENV, BrokerKind, TestBroker};
use clap::Parser;

/// Benchmarks the autogen-kafka runtime against a raw rdkafka baseline.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// Directory for results.json, results.md and worker logs.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Measure only these brokers (mock, tansu, external); default: every available one.
    #[arg(long = "broker", value_parser = ["mock", "tansu", "external"])]
    brokers: Vec<String>,
    /// Much smaller sample counts and bursts: a smoke run, not a measurement.
    #[arg(long)]
    quick: bool,
}

/// jemalloc, like the workers: the driver runs the runtime's callers and the raw callers alike.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BENCH_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,autogen_kafka_bench=info,bench=info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(&args).await {
        Ok(markdown) => {
            println!("{markdown}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error = %chain(error.as_ref()), "bench failed");
            ExitCode::FAILURE
        }
    }
}

fn wanted(args: &Args, broker: &str) -> bool {
    args.brokers.is_empty() || args.brokers.iter().any(|b| b == broker)
}

/// The Tansu binary `TestBroker::tansu()` runs: `$TANSU_BIN`, else `<repo>/.tools/tansu/tansu`.
fn tansu_binary() -> PathBuf {
    match std::env::var_os("TANSU_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".tools/tansu/tansu"),
    }
}

fn tansu_version(binary: &Path) -> String {
    std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .map_or_else(
            || "tansu (version unknown)".to_owned(),
            |v| format!("{v}, memory storage"),
        )
}

async fn run(args: &Args) -> Result<String, Box<dyn std::error::Error>> {
    let worker_exe = std::env::current_exe()?
        .parent()
        .map(|dir| dir.join("bench-worker"))
        .ok_or("the driver's directory is unknown")?;
    if !worker_exe.is_file() {
        return Err(format!(
            "{} is missing: build both binaries (cargo build --release -p autogen-kafka-bench --bins)",
            worker_exe.display()
        )
        .into());
    }
    let log_dir = args.out.join("logs");
    std::fs::create_dir_all(&log_dir)?;
    // Logs of an earlier run would be mistaken for this one's.
    for entry in std::fs::read_dir(&log_dir)?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "log") {
            std::fs::remove_file(entry.path())?;
        }
    }
    let environment = Environment {
        worker_exe,
        log_dir,
    };
    let librdkafka = rdkafka::util::get_rdkafka_version().1;
    let mut results = Results {
        schema: 1,
        finished_at_unix: 0,
        machine: Machine {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            memory_mib: procstat::total_memory_mib(),
            cpu_model: procstat::cpu_model(),
            kernel: procstat::kernel_release(),
            load_average_start: procstat::load_average(),
            load_average_end: None,
            librdkafka: format!("librdkafka {librdkafka}"),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_owned(),
        },
        brokers: Vec::new(),
        skipped: Vec::new(),
    };
    let mut skip = |broker: &str, reason: String| {
        tracing::warn!(broker, %reason, "broker skipped");
        results.skipped.push(Skipped {
            broker: broker.to_owned(),
            reason,
        });
    };
    let mut reports: Vec<BrokerReport> = Vec::new();

    if wanted(args, "mock") {
        match TestBroker::mock().await {
            Ok(broker) => {
                let version = format!("librdkafka {librdkafka} mock cluster, 1 broker");
                let plan = Plan::for_broker(BrokerKind::Mock, args.quick);
                reports.push(run_broker(&broker, version, &plan, &environment).await);
                if let Err(error) = broker.shutdown().await {
                    tracing::warn!(error = %chain(&error), "mock cluster did not shut down cleanly");
                }
            }
            Err(error) => skip("mock", chain(&error)),
        }
    }
    if wanted(args, "tansu") {
        let binary = tansu_binary();
        if binary.is_file() {
            match TestBroker::tansu().await {
                Ok(broker) => {
                    let plan = Plan::for_broker(BrokerKind::Tansu, args.quick);
                    reports.push(
                        run_broker(&broker, tansu_version(&binary), &plan, &environment).await,
                    );
                    if let Err(error) = broker.shutdown().await {
                        tracing::warn!(error = %chain(&error), "Tansu did not shut down cleanly");
                    }
                }
                Err(error) => skip("tansu", chain(&error)),
            }
        } else {
            skip(
                "tansu",
                format!(
                    "{} is not installed (run scripts/install-tansu.sh)",
                    binary.display()
                ),
            );
        }
    }
    if wanted(args, "external") {
        match std::env::var(BOOTSTRAP_SERVERS_ENV) {
            Ok(servers) if !servers.trim().is_empty() => {
                let broker = TestBroker::external(servers.trim());
                let plan = Plan::for_broker(BrokerKind::External, args.quick);
                let version = format!("external broker at {}", servers.trim());
                reports.push(run_broker(&broker, version, &plan, &environment).await);
            }
            _ => skip("external", format!("{BOOTSTRAP_SERVERS_ENV} is not set")),
        }
    }

    results.brokers = reports;
    results.machine.load_average_end = procstat::load_average();
    results.finished_at_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    results.write(&args.out)?;
    tracing::info!(out = %args.out.display(), "results written");
    Ok(results.markdown())
}

//! # autogen-kafka-bench
//!
//! The benchmark harness of autogen-kafka: it measures the Kafka worker runtime next to a raw rdkafka baseline
//! on the same broker with the same client settings, and writes `target/bench/results.json` and
//! `target/bench/results.md`. Run it with `just bench` (`scripts/bench.sh`); `docs/performance.md` explains the
//! figures.
//!
//! Two binaries make it up:
//!
//! - `bench`, the driver: for each available broker (the in-process mock cluster always, Tansu when installed,
//!   `KAFKA_BOOTSTRAP_SERVERS` when set) it runs [`suite::run_broker`] and writes the [`Results`];
//! - `bench-worker`, a process the driver starts: a runtime hosting the echo agent (`callee`; with `relay`, the
//!   relay agent too) or the raw echo (`raw-echo`), so callers and callees live in separate processes. Workers
//!   stop when their standard input closes and are killed when the driver drops them.
//!
//! Almost every figure has a baseline measured in the same run: RPC latency and throughput against a raw
//! request/reply ping-pong ([`RawClient`] and [`RawEcho`]), publish bursts against a raw fan-out to one consumer
//! group per subscriber ([`RawFanout`]), start-up against a plain consumer's group join, memory and CPU against
//! the raw echo process. Agent-to-agent calls and skewed keys have no raw equivalent: they are compared with the
//! runtime's own uniform-key run at the same load. Calls through the A2A gateway are compared with direct RPCs to
//! the same agents ([`GatewayReport`]).
//!
//! # Examples
//!
//! The building blocks are usable on their own, for example the closed-loop load generator:
//!
//! ```
//! use std::time::Duration;
//! use autogen_kafka_bench::{LatencySummary, LoadPlan, run_load};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! let plan = LoadPlan {
//!     in_flight: 4,
//!     max_ops: 40,
//!     max_time: Duration::from_secs(5),
//!     record_latency: true,
//!     think_max_ms: 0,
//! };
//! let outcome = run_load(plan, |_n| async { Ok::<(), String>(()) }).await;
//! assert_eq!(outcome.completed, 40);
//! let summary = LatencySummary::from_samples(outcome.latencies);
//! assert_eq!(summary.samples, 40);
//! # }
//! ```
#![doc(test(attr(deny(warnings))))]

mod agents;
mod burst;
mod error;
pub mod host;
mod load;
pub mod plot;
pub mod procstat;
mod raw;
mod report;
pub mod scale;
mod settings;
mod stats;
pub mod suite;
mod worker;

pub use agents::{
    A2A_ECHO_TYPE, A2aEcho, COUNTER_TYPE, Counter, ECHO_TYPE, Echo, Ping, Pong, RELAY_TYPE, Relay,
    Tally, TallyBoard, TallyCount, Tick, a2a_echo_agent, counter_agent, echo_agent, relay_agent,
    tally_agent,
};
pub use burst::{BurstOutcome, BurstPlan, run_burst};
pub use error::{BenchError, Result};
pub use load::{KeyChoice, LoadOutcome, LoadPlan, run_load};
pub use raw::{
    KEYS, Produced, RawCallError, RawClient, RawEcho, RawEchoStats, RawFanout, request_key,
};
pub use report::{
    BrokerReport, CpuReport, GatewayReport, GatewayThroughput, LatencyReport, Machine,
    MemoryReport, PublishReport, ReplicaRun, Results, ScaleOutPoint, Skipped, StartupReport,
    Target, ThroughputReport, ThroughputRun, VariantReport,
};
pub use settings::Settings;
pub use stats::{LatencySummary, millis, percentile, ratio, round3};
pub use worker::{Fields, WorkerProcess, WorkerState, parse_fields, parse_partitions};

//! The results: what `results.json` holds, and the Markdown table made from it.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::burst::BurstOutcome;
use crate::error::{BenchError, Result};
use crate::load::KeyChoice;
use crate::settings::Settings;
use crate::stats::{LatencySummary, ratio, round3};
use crate::suite::Plan;

mod gateway;

pub use gateway::{GatewayReport, GatewayThroughput};

/// Everything one `just bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// Version of this layout.
    pub schema: u32,
    /// Seconds since the Unix epoch when the run ended.
    pub finished_at_unix: u64,
    /// The machine.
    pub machine: Machine,
    /// One entry per broker measured.
    pub brokers: Vec<BrokerReport>,
    /// Brokers not measured, and why.
    pub skipped: Vec<Skipped>,
}

/// The machine the run happened on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available.
    pub cpus: usize,
    /// Total memory.
    pub memory_mib: Option<u64>,
    /// CPU model.
    pub cpu_model: Option<String>,
    /// Kernel release.
    pub kernel: Option<String>,
    /// 1/5/15-minute load averages when the run started (other work on the machine skews the figures).
    pub load_average_start: Option<[f64; 3]>,
    /// The same when it ended.
    pub load_average_end: Option<[f64; 3]>,
    /// The librdkafka version the clients (and the mock cluster) use.
    pub librdkafka: String,
    /// The cargo profile of the harness (`release` unless built otherwise).
    pub profile: String,
}

/// A broker that was not measured.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// `tansu` or `external`.
    pub broker: String,
    /// Why.
    pub reason: String,
}

/// The figures of one broker.
#[derive(Debug, Clone, Serialize)]
pub struct BrokerReport {
    /// `mock`, `tansu` or `external`.
    pub broker: String,
    /// The broker's version, as far as known.
    pub broker_version: String,
    /// The client settings every measurement used (runtime and baseline).
    pub settings: Settings,
    /// Sample counts, time bounds and in-flight levels.
    pub plan: Plan,
    /// Wall time of this broker's part of the run.
    pub duration_seconds: f64,
    /// RPC latency with one request in flight.
    pub rpc_latency: Option<LatencyReport>,
    /// RPC throughput at each in-flight level.
    pub rpc_throughput: Vec<ThroughputReport>,
    /// Agent-to-agent RPCs: the caller asks a `relay` agent of the callee process, which asks `echo/<its key>`
    /// through the runtime (two RPCs over Kafka per call). Runtime only.
    pub rpc_agent_to_agent: Option<VariantReport>,
    /// RPCs to the echo type with a skewed key distribution (most calls on a few hot agent ids). Runtime only.
    pub rpc_skewed_keys: Option<VariantReport>,
    /// RPC throughput by number of callee replicas.
    pub scale_out: Vec<ScaleOutPoint>,
    /// Publish bursts.
    pub publish: Vec<PublishReport>,
    /// The A2A gateway's cost per call: the same agent called through the gateway and as a direct RPC.
    pub gateway: Option<GatewayReport>,
    /// Start→ready times.
    pub startup: Option<StartupReport>,
    /// Resident memory.
    pub memory: Option<MemoryReport>,
    /// CPU time per 1,000 RPCs (from the 128-in-flight run).
    pub cpu: Option<CpuReport>,
    /// The targets, judged.
    pub targets: Vec<Target>,
    /// What limits the figures, and anything that went wrong.
    pub notes: Vec<String>,
}

/// Latency with one request in flight.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// Raw rdkafka ping-pong, echo in a separate process.
    pub raw: LatencySummary,
    /// The runtime, callee runtime in a separate process (the headline figure).
    pub runtime: LatencySummary,
    /// The runtime, caller and callee in two runtimes of one process.
    pub runtime_in_process: Option<LatencySummary>,
    /// `runtime / raw` at p50.
    pub ratio_p50: Option<f64>,
    /// `runtime / raw` at p99.
    pub ratio_p99: Option<f64>,
    /// `runtime / raw` at p99.9.
    pub ratio_p999: Option<f64>,
    /// Failed raw calls.
    pub raw_errors: u64,
    /// Failed runtime calls.
    pub runtime_errors: u64,
}

/// One closed-loop throughput run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThroughputRun {
    /// Successful RPCs per second.
    pub ops_per_second: f64,
    /// Successful RPCs.
    pub completed: u64,
    /// Failed RPCs.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Length of the measured run.
    pub seconds: f64,
    /// Median latency under this load.
    pub p50_ms: f64,
    /// 99th percentile latency under this load.
    pub p99_ms: f64,
    /// CPU time of the callee process(es) per 1,000 RPCs.
    pub callee_cpu_ms_per_1k: Option<f64>,
    /// CPU time of the caller (the driver process) per 1,000 RPCs; only when the broker runs outside it (the gateway
    /// runs: the whole driver process without the mock cluster's thread, see [`GatewayThroughput`]).
    pub caller_cpu_ms_per_1k: Option<f64>,
    /// Records per produce request the callee process(es) sent during the run (their answers), from librdkafka's
    /// statistics before and after it.
    pub callee_records_per_request: Option<f64>,
    /// Records per produce request the caller sent during the run (its requests), counted the same way.
    pub caller_records_per_request: Option<f64>,
    /// Largest resident set of the (first) callee process seen during the run.
    pub callee_max_rss_mib: Option<f64>,
    /// CPU used by the broker during the run, in % of one CPU (the mock cluster is one thread: near 100 % it
    /// is the bottleneck).
    pub broker_cpu_percent: Option<f64>,
    /// Throughput of every repeat of this measurement (this run is their median).
    pub all_ops_per_second: Vec<f64>,
}

/// Runtime against baseline at one in-flight level.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputReport {
    /// Requests in flight.
    pub in_flight: usize,
    /// Raw rdkafka, pipelined.
    pub raw: ThroughputRun,
    /// The runtime, one callee process.
    pub runtime: ThroughputRun,
    /// `runtime / raw` RPCs per second.
    pub ratio: Option<f64>,
}

/// A variant of the runtime's closed RPC loop (no raw equivalent), next to the runtime's uniform-key run at the
/// same in-flight level of the same benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct VariantReport {
    /// Requests in flight.
    pub in_flight: usize,
    /// Which agent keys the calls address.
    pub keys: KeyChoice,
    /// The runtime (the median of the repeats, as for the uniform run).
    pub runtime: ThroughputRun,
    /// `ops_per_second / ops_per_second` of the uniform-key runtime run.
    pub ratio_to_uniform: Option<f64>,
    /// `p50_ms / p50_ms` of the uniform-key runtime run.
    pub p50_ratio_to_uniform: Option<f64>,
    /// `p99_ms / p99_ms` of the uniform-key runtime run.
    pub p99_ratio_to_uniform: Option<f64>,
}

impl VariantReport {
    /// The report of `runtime`, compared with `uniform` (the uniform-key runtime run at the same level), if any.
    #[must_use]
    pub fn new(
        in_flight: usize,
        keys: KeyChoice,
        runtime: ThroughputRun,
        uniform: Option<&ThroughputRun>,
    ) -> Self {
        let to_uniform = |value: f64, of: fn(&ThroughputRun) -> f64| {
            uniform.and_then(|u| ratio(value, of(u))).map(round3)
        };
        Self {
            in_flight,
            keys,
            ratio_to_uniform: to_uniform(runtime.ops_per_second, |u| u.ops_per_second),
            p50_ratio_to_uniform: to_uniform(runtime.p50_ms, |u| u.p50_ms),
            p99_ratio_to_uniform: to_uniform(runtime.p99_ms, |u| u.p99_ms),
            runtime,
        }
    }

    /// The runtime cell: the run, then how it compares with the uniform-key run.
    fn describe(&self) -> String {
        let compared = match self.ratio_to_uniform {
            Some(r) => format!(
                "; {r:.2}× the uniform-key throughput, p50 {}, p99 {}",
                times(self.p50_ratio_to_uniform),
                times(self.p99_ratio_to_uniform)
            ),
            None => String::new(),
        };
        format!("{}{compared}", self.runtime.describe())
    }
}

/// One run of a scale-out series.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaRun {
    /// The run.
    pub run: ThroughputRun,
    /// `ops_per_second / ops_per_second(1 replica)`.
    pub ratio_to_one: Option<f64>,
    /// From starting the new replica until the group's assignment settled (0 for one replica).
    pub settle_ms: f64,
    /// Replicas whose assignment changed during the run (a rebalance in the measurement).
    pub assignment_changes_during_run: usize,
}

/// Throughput with some replicas of the callee: runtime callee processes hosting the agent type, raw echo
/// processes in one consumer group.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleOutPoint {
    /// Callee processes.
    pub replicas: usize,
    /// The runtime.
    pub runtime: Option<ReplicaRun>,
    /// The baseline.
    pub raw: Option<ReplicaRun>,
    /// `runtime / raw` RPCs per second.
    pub ratio: Option<f64>,
}

/// One burst size, runtime against baseline.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// Publications asked for.
    pub burst: u32,
    /// Subscribers (runtimes, and consumer groups for the baseline).
    pub subscribers: usize,
    /// Raw rdkafka fan-out: one record read by one consumer group per subscriber.
    pub raw: Option<BurstOutcome>,
    /// The runtime: `publish` delivered to an agent in each subscriber runtime.
    pub runtime: Option<BurstOutcome>,
    /// `runtime / raw` deliveries per second.
    pub ratio: Option<f64>,
}

/// Start→ready times.
#[derive(Debug, Clone, Serialize)]
pub struct StartupReport {
    /// `start()` of a runtime hosting one agent type (a fresh process; includes its consumer group join).
    pub runtime_start_ms: f64,
    /// The same process from spawn to ready (process start, client creation and `start()`).
    pub runtime_spawn_to_ready_ms: f64,
    /// `start()` of a runtime hosting no agent type (no group to join: the caller).
    pub runtime_start_no_agents_ms: f64,
    /// The raw echo's group join: subscribe → first assignment.
    pub raw_group_join_ms: f64,
    /// The raw echo process from spawn to ready.
    pub raw_spawn_to_ready_ms: f64,
    /// `start()` of each further replica of the same type (joining a running group: a rebalance).
    pub replica_start_ms: Vec<f64>,
    /// `runtime_start_ms / raw_group_join_ms`.
    pub ratio: Option<f64>,
}

/// Resident memory, MiB.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    /// An idle runtime process hosting one agent type, ready for 2 s.
    pub runtime_idle_mib: f64,
    /// The raw echo process, idle.
    pub raw_idle_mib: f64,
    /// The runtime process under the 128-in-flight load (largest sample).
    pub runtime_load_mib: Option<f64>,
    /// The raw echo process under the same load.
    pub raw_load_mib: Option<f64>,
    /// `runtime_idle_mib / raw_idle_mib`.
    pub ratio_idle: Option<f64>,
    /// `runtime_load_mib / raw_load_mib`.
    pub ratio_load: Option<f64>,
}

/// CPU time per 1,000 RPCs, ms.
#[derive(Debug, Clone, Serialize)]
pub struct CpuReport {
    /// The in-flight level measured.
    pub in_flight: usize,
    /// CPU time per second of the idle runtime callee process (background polling and heartbeats), ms/s.
    pub runtime_idle_ms_per_second: Option<f64>,
    /// The same for the idle raw echo process.
    pub raw_idle_ms_per_second: Option<f64>,
    /// The broker's CPU while only the baseline pair (raw caller and echo) idles, % of one CPU.
    pub broker_idle_percent_raw_pair: Option<f64>,
    /// What the idle runtime pair (caller runtime and callee process) adds to it, % of one CPU.
    pub broker_idle_percent_added_by_runtime_pair: Option<f64>,
    /// The runtime's callee process.
    pub runtime_callee_ms: Option<f64>,
    /// The raw echo process.
    pub raw_callee_ms: Option<f64>,
    /// `runtime_callee_ms / raw_callee_ms`.
    pub ratio_callee: Option<f64>,
    /// The runtime's caller (when the broker runs outside the driver).
    pub runtime_caller_ms: Option<f64>,
    /// The raw caller (same condition).
    pub raw_caller_ms: Option<f64>,
    /// `runtime_caller_ms / raw_caller_ms`.
    pub ratio_caller: Option<f64>,
    /// Records per produce request of the runtime's callee process over the same run (its answers).
    pub runtime_records_per_request: Option<f64>,
    /// The same for the raw echo.
    pub raw_records_per_request: Option<f64>,
    /// Produce requests per answer of the runtime relative to the raw echo's:
    /// `raw_records_per_request / runtime_records_per_request`.
    pub ratio_produce_requests: Option<f64>,
    /// Records per produce request of the runtime's caller over the same run (its requests).
    pub runtime_caller_records_per_request: Option<f64>,
    /// The same for the raw caller.
    pub raw_caller_records_per_request: Option<f64>,
}

/// One of the targets, judged on this broker.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The target as the issue states it.
    pub target: String,
    /// The measured value it is judged on.
    pub measured: String,
    /// Met, not met, or not measurable here (`None`).
    pub met: Option<bool>,
    /// Why, when it needs saying.
    pub comment: String,
}

impl Results {
    /// Writes `results.json` and `results.md` into `dir` (created if missing).
    ///
    /// # Errors
    ///
    /// [`BenchError::WriteResults`] or [`BenchError::Json`].
    pub fn write(&self, dir: &Path) -> Result<()> {
        let write_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BenchError::WriteResults { path, source }
        };
        std::fs::create_dir_all(dir).map_err(write_error(dir))?;
        let json = serde_json::to_string_pretty(self).map_err(|source| BenchError::Json {
            what: "results",
            source,
        })?;
        let json_path = dir.join("results.json");
        std::fs::write(&json_path, json + "\n").map_err(write_error(&json_path))?;
        let md_path = dir.join("results.md");
        std::fs::write(&md_path, self.markdown()).map_err(write_error(&md_path))?;
        Ok(())
    }

    /// The results as Markdown: the machine, then one table per broker with its settings and notes.
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(out, "# autogen-kafka benchmark results\n");
        let _ = writeln!(
            out,
            "Machine: {} CPUs ({}), {} MiB RAM, Linux {}, {}; harness built `{}`. Load average at start {}, at end {}.\n",
            m.cpus,
            m.cpu_model.as_deref().unwrap_or("unknown CPU"),
            m.memory_mib
                .map_or_else(|| "?".to_owned(), |v| v.to_string()),
            m.kernel.as_deref().unwrap_or("?"),
            m.librdkafka,
            m.profile,
            load(m.load_average_start),
            load(m.load_average_end),
        );
        for broker in &self.brokers {
            broker.markdown(&mut out);
        }
        for skipped in &self.skipped {
            let _ = writeln!(
                out,
                "Not measured: **{}** — {}\n",
                skipped.broker, skipped.reason
            );
        }
        out
    }
}

fn load(value: Option<[f64; 3]>) -> String {
    value.map_or_else(
        || "?".to_owned(),
        |[a, b, c]| format!("{a:.2}/{b:.2}/{c:.2}"),
    )
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else {
        format!("{value:.2} ms")
    }
}

fn rate(value: f64) -> String {
    format!("{value:.0}/s")
}

fn times(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}×"))
}

fn mib(value: f64) -> String {
    format!("{value:.1} MiB")
}

fn opt(value: Option<f64>, show: fn(f64) -> String) -> String {
    value.map_or_else(|| "–".to_owned(), show)
}

impl ThroughputRun {
    /// `1234/s (p50 .., p99 .., broker CPU ..%)`.
    fn describe(&self) -> String {
        let broker = self
            .broker_cpu_percent
            .map_or_else(String::new, |p| format!(", broker CPU {p:.0} %"));
        let errors = if self.errors > 0 {
            format!(", {} errors", self.errors)
        } else {
            String::new()
        };
        let repeats = if self.all_ops_per_second.len() > 1 {
            let all: Vec<String> = self
                .all_ops_per_second
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect();
            format!(", median of {}", all.join("/"))
        } else {
            String::new()
        };
        format!(
            "{} (p50 {}, p99 {}{broker}{errors}{repeats})",
            rate(self.ops_per_second),
            ms(self.p50_ms),
            ms(self.p99_ms)
        )
    }
}

impl BrokerReport {
    fn markdown(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Broker: {} ({})\n\nMeasured in {:.0} s.\n",
            self.broker, self.broker_version, self.duration_seconds
        );
        // The rows first: a run of the gateway benchmark alone has none, and then no table.
        let mut rows = String::new();
        let mut row = |figure: String, runtime: String, raw: String, ratio: String| {
            let _ = writeln!(rows, "| {figure} | {runtime} | {raw} | {ratio} |");
        };
        if let Some(l) = &self.rpc_latency {
            for (name, rt, raw, r) in [
                ("p50", l.runtime.p50_ms, l.raw.p50_ms, l.ratio_p50),
                ("p99", l.runtime.p99_ms, l.raw.p99_ms, l.ratio_p99),
                ("p99.9", l.runtime.p999_ms, l.raw.p999_ms, l.ratio_p999),
            ] {
                row(
                    format!(
                        "RPC latency {name}, 1 in flight, callee in another process ({} / {} samples)",
                        l.runtime.samples, l.raw.samples
                    ),
                    ms(rt),
                    ms(raw),
                    times(r),
                );
            }
            if let Some(inproc) = &l.runtime_in_process {
                row(
                    format!(
                        "RPC latency p50 / p99, callee in another runtime of the same process ({} samples)",
                        inproc.samples
                    ),
                    format!("{} / {}", ms(inproc.p50_ms), ms(inproc.p99_ms)),
                    "–".to_owned(),
                    "–".to_owned(),
                );
            }
        }
        for t in &self.rpc_throughput {
            row(
                format!("RPC throughput, {} in flight", t.in_flight),
                t.runtime.describe(),
                t.raw.describe(),
                times(t.ratio),
            );
        }
        if let Some(v) = &self.rpc_agent_to_agent {
            row(
                format!(
                    "RPC throughput, {} in flight, agent to agent (caller → `relay` → `echo`, both in the callee \
                     process: 2 RPCs over Kafka per call)",
                    v.in_flight
                ),
                v.describe(),
                "–".to_owned(),
                "–".to_owned(),
            );
        }
        if let Some(v) = &self.rpc_skewed_keys {
            let keys = match v.keys {
                KeyChoice::Skewed {
                    keys,
                    hot,
                    hot_percent,
                } => format!("{hot_percent} % of calls on {hot} of {keys} agent ids"),
                KeyChoice::Uniform { keys } => format!("{keys} agent ids"),
            };
            row(
                format!(
                    "RPC throughput, {} in flight, skewed keys ({keys})",
                    v.in_flight
                ),
                v.describe(),
                "–".to_owned(),
                "–".to_owned(),
            );
        }
        for p in &self.publish {
            let show = |b: &Option<BurstOutcome>| {
                b.as_ref().map_or_else(
                    || "–".to_owned(),
                    |b| {
                        format!(
                            "{} delivered/s, {} publications/s; lost {}, duplicated {}{}",
                            b.deliveries_per_second.round(),
                            b.publications_per_second.round(),
                            b.lost,
                            b.duplicated,
                            if b.truncated {
                                format!(" (cut to {} by the time bound)", b.issued)
                            } else {
                                String::new()
                            }
                        )
                    },
                )
            };
            row(
                format!(
                    "Publish burst of {} to {} subscriber runtimes",
                    p.burst, p.subscribers
                ),
                show(&p.runtime),
                show(&p.raw),
                times(p.ratio),
            );
        }
        if let Some(s) = &self.startup {
            row(
                "Start→ready, one agent type (raw: consumer group join)".to_owned(),
                format!(
                    "{} (spawn→ready {})",
                    ms(s.runtime_start_ms),
                    ms(s.runtime_spawn_to_ready_ms)
                ),
                format!(
                    "{} (spawn→ready {})",
                    ms(s.raw_group_join_ms),
                    ms(s.raw_spawn_to_ready_ms)
                ),
                times(s.ratio),
            );
            if !s.replica_start_ms.is_empty() {
                let list: Vec<String> = s.replica_start_ms.iter().map(|&v| ms(v)).collect();
                row(
                    "Start→ready of a further replica (joins a running group)".to_owned(),
                    list.join(", "),
                    "–".to_owned(),
                    "–".to_owned(),
                );
            }
            row(
                "Start→ready, no agent type (a caller)".to_owned(),
                ms(s.runtime_start_no_agents_ms),
                "–".to_owned(),
                "–".to_owned(),
            );
        }
        if let Some(mem) = &self.memory {
            row(
                "RSS, idle process".to_owned(),
                mib(mem.runtime_idle_mib),
                mib(mem.raw_idle_mib),
                times(mem.ratio_idle),
            );
            row(
                "RSS under the 128-in-flight load (largest sample)".to_owned(),
                opt(mem.runtime_load_mib, mib),
                opt(mem.raw_load_mib, mib),
                times(mem.ratio_load),
            );
        }
        if let Some(cpu) = &self.cpu {
            row(
                format!(
                    "CPU per 1,000 RPCs, callee process ({} in flight)",
                    cpu.in_flight
                ),
                opt(cpu.runtime_callee_ms, ms),
                opt(cpu.raw_callee_ms, ms),
                times(cpu.ratio_callee),
            );
            row(
                format!(
                    "Answers per produce request, callee process ({} in flight)",
                    cpu.in_flight
                ),
                opt(cpu.runtime_records_per_request, |r| format!("{r:.2}")),
                opt(cpu.raw_records_per_request, |r| format!("{r:.2}")),
                opt(cpu.ratio_produce_requests, |r| {
                    format!("{r:.2}× the requests per answer")
                }),
            );
            row(
                format!(
                    "Requests per produce request, caller ({} in flight)",
                    cpu.in_flight
                ),
                opt(cpu.runtime_caller_records_per_request, |r| {
                    format!("{r:.2}")
                }),
                opt(cpu.raw_caller_records_per_request, |r| format!("{r:.2}")),
                "–".to_owned(),
            );
            row(
                "CPU of an idle callee process, per second".to_owned(),
                opt(cpu.runtime_idle_ms_per_second, ms),
                opt(cpu.raw_idle_ms_per_second, ms),
                "–".to_owned(),
            );
            if cpu.broker_idle_percent_raw_pair.is_some() {
                row(
                    "Broker CPU while the caller/callee pair idles (% of one CPU)".to_owned(),
                    opt(cpu.broker_idle_percent_added_by_runtime_pair, |p| {
                        format!("+{p:.1} %")
                    }),
                    opt(cpu.broker_idle_percent_raw_pair, |p| format!("{p:.1} %")),
                    "–".to_owned(),
                );
            }
            if cpu.runtime_caller_ms.is_some() {
                row(
                    format!("CPU per 1,000 RPCs, caller ({} in flight)", cpu.in_flight),
                    opt(cpu.runtime_caller_ms, ms),
                    opt(cpu.raw_caller_ms, ms),
                    times(cpu.ratio_caller),
                );
            }
        }
        for point in &self.scale_out {
            let show = |run: &Option<ReplicaRun>| {
                run.as_ref().map_or_else(
                    || "–".to_owned(),
                    |r| {
                        let moved = if r.assignment_changes_during_run > 0 {
                            format!(
                                "; {} assignment change(s) during the run",
                                r.assignment_changes_during_run
                            )
                        } else {
                            String::new()
                        };
                        format!(
                            "{} one replica: {}{moved}",
                            times(r.ratio_to_one),
                            r.run.describe()
                        )
                    },
                )
            };
            row(
                format!(
                    "Scale-out: {} callee replica(s), {} in flight",
                    point.replicas,
                    self.rpc_throughput.last().map_or(0, |t| t.in_flight)
                ),
                show(&point.runtime),
                show(&point.raw),
                times(point.ratio),
            );
        }
        if !rows.is_empty() {
            let _ = writeln!(
                out,
                "| Figure | Runtime | Raw rdkafka baseline | Runtime / baseline |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|");
            let _ = writeln!(out, "{rows}");
        }
        if let Some(gateway) = &self.gateway {
            gateway.markdown(out);
        }
        if !self.targets.is_empty() {
            let _ = writeln!(out, "| Target (issue 6) | Measured | Met |");
            let _ = writeln!(out, "|---|---|---|");
            for t in &self.targets {
                let met = match t.met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "n/a",
                };
                let comment = if t.comment.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", t.comment)
                };
                let _ = writeln!(out, "| {} | {}{comment} | {met} |", t.target, t.measured);
            }
            let _ = writeln!(out);
        }
        let s = &self.settings;
        let _ = writeln!(
            out,
            "Settings (runtime and baseline alike): `fetch.wait.max.ms={}`, `linger.ms={}`, `acks={}`, \
             `enable.idempotence={}`, `session.timeout.ms={}`, `heartbeat.interval.ms={}`, offsets committed every \
             {} ms, {} request partitions, {} in flight per partition ({} per runtime), payload {} B of padding.\n",
            s.fetch_wait_max_ms,
            s.linger_ms,
            s.acks,
            s.enable_idempotence,
            s.session_timeout_ms,
            s.heartbeat_interval_ms,
            s.commit_interval_ms,
            s.partitions,
            s.max_in_flight_per_partition,
            s.max_in_flight,
            s.payload_bytes,
        );
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out);
        }
    }
}

//! One broker's benchmark run: the RPC figures (latency, throughput, start-up, memory, CPU, scale-out) with
//! callee processes, then the publish bursts, each next to its raw rdkafka baseline.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{AgentId, AgentRuntime as _, AgentRuntimeExt as _, SendOptions, TopicId};
use autogen_kafka::{Subscription, TypeSubscription};
use autogen_kafka_testing::{BrokerKind, TestBroker, unique_topic};
use serde::Serialize;

use crate::agents::{ECHO_TYPE, Ping, Pong, TallyBoard, Tick, echo_agent, tally_agent};
use crate::burst::{BurstPlan, run_burst};
use crate::error::{BenchError, Result};
use crate::load::{LoadOutcome, LoadPlan, duration_ms, run_load};
use crate::procstat;
use crate::raw::{KEYS, RawClient, RawFanout};
use crate::report::{
    BrokerReport, CpuReport, LatencyReport, MemoryReport, PublishReport, ScaleOutPoint,
    StartupReport, Target, ThroughputReport, ThroughputRun,
};
use crate::settings::Settings;
use crate::stats::{LatencySummary, millis, ratio, round3};
use crate::worker::{Fields, WorkerProcess};

/// How long a process or runtime may take to join its group and become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a worker may take to stop gracefully before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Environment variable with a command line the first callee process is started under, for profiling (for
/// example `perf record -g -o callee.perf --`). Its CPU and memory figures are then the wrapper's, not the worker's.
pub const CALLEE_WRAPPER_ENV: &str = "BENCH_CALLEE_WRAPPER";

/// The topic type of the publish benchmark.
const NEWS: &str = "bench_news";

/// Sample counts, time bounds and load levels of one broker's run (written into the results).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Latency samples per side (runtime and baseline), taken in alternating rounds.
    pub latency_samples: u64,
    /// Rounds the latency samples are split into, alternating baseline and runtime.
    pub latency_rounds: u64,
    /// Upper bound of the latency measurement per side.
    #[serde(with = "duration_ms")]
    pub latency_time: Duration,
    /// Latency samples of the in-process variant (caller and callee runtimes in one process).
    pub in_process_latency_samples: u64,
    /// In-flight levels of the throughput runs.
    pub in_flight: Vec<usize>,
    /// Length bound of one measured throughput run.
    #[serde(with = "duration_ms")]
    pub throughput_time: Duration,
    /// Operation bound of one measured throughput run.
    pub throughput_max_ops: u64,
    /// Length of the unmeasured warm-up before each throughput run.
    #[serde(with = "duration_ms")]
    pub warmup_time: Duration,
    /// Callee replica counts of the scale-out runs (at the largest in-flight level).
    pub replicas: Vec<usize>,
    /// Publish burst sizes.
    pub bursts: Vec<u32>,
    /// Publications awaiting acknowledgement at once.
    pub publish_in_flight: usize,
    /// Bound on the publishing part of one burst (a burst cut by it is marked truncated).
    #[serde(with = "duration_ms")]
    pub publish_time: Duration,
    /// Bound on waiting for deliveries after the last acknowledgement.
    #[serde(with = "duration_ms")]
    pub delivery_timeout: Duration,
    /// How long processes sit idle before their idle memory is read.
    #[serde(with = "duration_ms")]
    pub idle_settle: Duration,
}

impl Plan {
    /// The plan for a broker of `kind`; `quick` shrinks every count (for a smoke run).
    #[must_use]
    pub fn for_broker(kind: BrokerKind, quick: bool) -> Self {
        // The mock holds every fetch for the whole fetch wait (≈10 ms per RPC): fewer samples fit its time.
        let latency_samples = match (quick, kind) {
            (true, _) => 100,
            (false, BrokerKind::Mock) => 1500,
            (false, _) => 2000,
        };
        Self {
            latency_samples,
            latency_rounds: 4,
            latency_time: Duration::from_secs(if quick { 5 } else { 40 }),
            in_process_latency_samples: if quick { 100 } else { 1000 },
            in_flight: vec![32, 128],
            throughput_time: Duration::from_secs(if quick { 2 } else { 6 }),
            throughput_max_ops: 200_000,
            warmup_time: Duration::from_secs(1),
            replicas: vec![1, 2, 3],
            bursts: if quick {
                vec![1000, 5000]
            } else {
                vec![1000, 100_000]
            },
            publish_in_flight: 256,
            publish_time: Duration::from_secs(if quick { 10 } else { 60 }),
            delivery_timeout: Duration::from_secs(if quick { 20 } else { 60 }),
            idle_settle: Duration::from_secs(2),
        }
    }
}

/// Where the worker binary is and where its logs go.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The `bench-worker` executable.
    pub worker_exe: PathBuf,
    /// Directory for worker logs.
    pub log_dir: PathBuf,
}

/// Measures everything on `broker` and returns the report. Failures of one part become notes; the rest still
/// runs.
pub async fn run_broker(
    broker: &TestBroker,
    version: String,
    plan: &Plan,
    environment: &Environment,
) -> BrokerReport {
    let started = Instant::now();
    let kind = broker.kind();
    let settings = Settings::for_broker(kind, broker.bootstrap_servers());
    let mut report = BrokerReport {
        broker: kind.as_str().to_owned(),
        broker_version: version,
        settings: settings.clone(),
        plan: plan.clone(),
        duration_seconds: 0.0,
        rpc_latency: None,
        rpc_throughput: Vec::new(),
        scale_out: Vec::new(),
        publish: Vec::new(),
        startup: None,
        memory: None,
        cpu: None,
        targets: Vec::new(),
        notes: Vec::new(),
    };
    let bench = Bench {
        broker,
        settings,
        plan,
        environment,
        id: unique_topic(&format!("bench-{}", kind.as_str())),
    };
    tracing::info!(broker = %kind, "RPC benchmarks");
    if let Err(error) = bench.rpc(&mut report).await {
        tracing::error!(error = %chain(&error), "RPC benchmarks stopped early");
        report.notes.push(format!(
            "The RPC benchmarks stopped early: {}",
            chain(&error)
        ));
    }
    tracing::info!(broker = %kind, "publish benchmarks");
    if let Err(error) = bench.publish(&mut report).await {
        tracing::error!(error = %chain(&error), "publish benchmarks stopped early");
        report.notes.push(format!(
            "The publish benchmarks stopped early: {}",
            chain(&error)
        ));
    }
    report.targets = judge(&report, kind);
    report.notes.extend(limits(kind, &report.settings));
    report.duration_seconds = round3(started.elapsed().as_secs_f64());
    report
}

/// An error with its sources, one after the other.
#[must_use]
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

struct Bench<'a> {
    broker: &'a TestBroker,
    settings: Settings,
    plan: &'a Plan,
    environment: &'a Environment,
    /// Prefix of every topic and group of this run.
    id: String,
}

/// A running RPC setup: what the runtime and baseline runs need.
struct RpcSetup {
    caller: KafkaWorkerAgentRuntime,
    raw: Arc<RawClient>,
    raw_echo: WorkerProcess,
    callees: Vec<WorkerProcess>,
    fleet: String,
    group: String,
    settings_json: String,
}

fn field_ms(fields: &Fields, key: &str) -> f64 {
    fields
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn sample_mib(pid: u32) -> Option<f64> {
    procstat::sample(pid)
        .ok()
        .map(|s| round3(s.rss_kib as f64 / 1024.0))
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
async fn wait_until(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> Result<()> {
    let started = Instant::now();
    while !condition() {
        if started.elapsed() >= timeout {
            return Err(BenchError::Timeout {
                what: what.to_owned(),
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The runtime RPC operation: `Ping` to `echo/k<n mod KEYS>`, checking the answer.
fn runtime_call(
    caller: &KafkaWorkerAgentRuntime,
    settings: &Settings,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    let caller = caller.clone();
    let pad: Arc<str> = Arc::from(settings.padding());
    let timeout = settings.rpc_timeout();
    move |n| {
        let caller = caller.clone();
        let pad = Arc::clone(&pad);
        Box::pin(async move {
            let id = AgentId::new(ECHO_TYPE, format!("k{}", n % KEYS)).map_err(|e| chain(&e))?;
            let ping = Ping {
                seq: n,
                pad: pad.to_string(),
            };
            let pong: Pong = caller
                .send_with(ping, &id, SendOptions::new().with_timeout(timeout))
                .await
                .map_err(|e| chain(&e))?;
            if pong.seq == n {
                Ok(())
            } else {
                Err(format!("answer {} to request {n}", pong.seq))
            }
        })
    }
}

/// The raw RPC operation.
fn raw_call(
    raw: &Arc<RawClient>,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    let raw = Arc::clone(raw);
    move |n| {
        let raw = Arc::clone(&raw);
        Box::pin(async move { raw.call(n).await.map_err(|e| chain(&e)) })
    }
}

impl Bench<'_> {
    async fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        self.broker
            .create_topic(topic, partitions)
            .await
            .map_err(|source| BenchError::CreateTopic {
                topic: topic.to_owned(),
                partitions,
                source: Box::new(source),
            })
    }

    async fn create_fleet(&self, fleet: &str) -> Result<()> {
        for topic in Settings::fleet_topics(fleet) {
            self.create_topic(&topic, self.settings.partitions).await?;
        }
        Ok(())
    }

    fn spawn(&self, args: &[&str], name: &str) -> Result<WorkerProcess> {
        self.spawn_wrapped(args, name, None)
    }

    /// Starts a worker, under `wrapper` (a command line the worker's command is appended to) when given.
    fn spawn_wrapped(
        &self,
        args: &[&str],
        name: &str,
        wrapper: Option<&str>,
    ) -> Result<WorkerProcess> {
        let log = self
            .environment
            .log_dir
            .join(format!("{}-{name}.log", self.settings.broker));
        let worker = self.environment.worker_exe.to_string_lossy().into_owned();
        let mut words: Vec<String> = wrapper
            .map(|w| w.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let exe = if words.is_empty() {
            worker
        } else {
            words.push(worker);
            words.remove(0)
        };
        words.extend(args.iter().map(|&a| a.to_owned()));
        WorkerProcess::spawn(Path::new(&exe), &words, name, &log)
    }

    fn spawn_callee(&self, setup: &RpcSetup, name: &str) -> Result<WorkerProcess> {
        self.spawn(
            &[
                "callee",
                &setup.settings_json,
                &setup.fleet,
                &setup.group,
                name,
            ],
            name,
        )
    }

    async fn rpc(&self, report: &mut BrokerReport) -> Result<()> {
        let s = self.settings.clone();
        let raw_requests = format!("{}.raw.requests", self.id);
        let raw_replies = format!("{}.raw.replies", self.id);
        self.create_topic(&raw_requests, s.partitions).await?;
        self.create_topic(&raw_replies, 1).await?;
        let fleet = format!("{}.rpc", self.id);
        self.create_fleet(&fleet).await?;
        let settings_json = serde_json::to_string(&s).map_err(|source| BenchError::Json {
            what: "settings",
            source,
        })?;

        // The baseline's echo and the runtime's callee, each in its own process, one after the other so their
        // start-up times are not skewed by each other.
        let raw_echo_group = format!("{}.raw-echo", self.id);
        let raw_echo = self.spawn(
            &["raw-echo", &settings_json, &raw_requests, &raw_echo_group],
            "raw-echo",
        )?;
        let (raw_fields, raw_spawn_to_ready) = raw_echo.wait_ready(READY_TIMEOUT).await?;
        tracing::info!(elapsed = ?raw_spawn_to_ready, "raw echo ready");
        let group = format!("{}.rpc-group", self.id);
        let mut setup_callees = Vec::new();
        let callee = self.spawn_wrapped(
            &["callee", &settings_json, &fleet, &group, "callee-1"],
            "callee-1",
            std::env::var(CALLEE_WRAPPER_ENV).ok().as_deref(),
        )?;
        let (callee_fields, callee_spawn_to_ready) = callee.wait_ready(READY_TIMEOUT).await?;
        tracing::info!(elapsed = ?callee_spawn_to_ready, "callee ready");
        setup_callees.push(callee);

        let caller = s.runtime(&fleet, &group, &format!("{}-caller", self.id))?;
        let begun = Instant::now();
        caller
            .start()
            .await
            .map_err(|e| BenchError::runtime("start", e))?;
        let caller_start = begun.elapsed();
        let raw = Arc::new(RawClient::start(&s, &raw_requests, &raw_replies)?);
        let setup = RpcSetup {
            caller,
            raw,
            raw_echo,
            callees: setup_callees,
            fleet,
            group,
            settings_json,
        };
        report.startup = Some(StartupReport {
            runtime_start_ms: round3(field_ms(&callee_fields, "start_ms")),
            runtime_spawn_to_ready_ms: round3(millis(callee_spawn_to_ready)),
            runtime_start_no_agents_ms: round3(millis(caller_start)),
            raw_group_join_ms: round3(field_ms(&raw_fields, "join_ms")),
            raw_spawn_to_ready_ms: round3(millis(raw_spawn_to_ready)),
            ratio: ratio(
                field_ms(&callee_fields, "start_ms"),
                field_ms(&raw_fields, "join_ms"),
            )
            .map(round3),
        });
        let outcome = self.rpc_measure(&setup, report).await;
        self.rpc_teardown(setup).await;
        outcome
    }

    async fn rpc_teardown(&self, setup: RpcSetup) {
        setup.raw.shutdown();
        if let Err(error) = setup.caller.stop().await {
            tracing::warn!(error = %chain(&error), "caller runtime did not stop cleanly");
        }
        let mut stops = Vec::new();
        stops.push(setup.raw_echo.finish(STOP_TIMEOUT));
        for callee in setup.callees {
            stops.push(callee.finish(STOP_TIMEOUT));
        }
        futures::future::join_all(stops).await;
    }

    async fn rpc_measure(&self, setup: &RpcSetup, report: &mut BrokerReport) -> Result<()> {
        let s = &self.settings;
        let plan = self.plan;
        wait_until("the caller seeing the echo type", READY_TIMEOUT, || {
            setup.caller.is_hosted(ECHO_TYPE)
        })
        .await?;
        let runtime_op = runtime_call(&setup.caller, s);
        let raw_op = raw_call(&setup.raw);
        // Warm both paths (connections, fetchers, agent activation of every key).
        for (name, outcome) in [
            ("baseline", warm(raw_op.clone(), KEYS).await),
            ("runtime", warm(runtime_op.clone(), KEYS).await),
        ] {
            if outcome.completed == 0 {
                return Err(BenchError::Timeout {
                    what: format!(
                        "a first {name} RPC ({})",
                        outcome.first_error.unwrap_or_default()
                    ),
                    after: s.rpc_timeout(),
                });
            }
        }

        // Idle memory and idle CPU (background polling, heartbeats).
        let callee_pid = setup.callees[0].pid();
        let raw_pid = setup.raw_echo.pid();
        let cpu_of = |pid| procstat::sample(pid).ok().map(|s| s.cpu);
        let idle_from = Instant::now();
        let (callee_cpu, raw_cpu) = (cpu_of(callee_pid), cpu_of(raw_pid));
        tokio::time::sleep(plan.idle_settle).await;
        let idle_seconds = idle_from.elapsed().as_secs_f64();
        let idle_rate = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
            (Some(b), Some(a)) => Some(round3(millis(a.saturating_sub(b)) / idle_seconds)),
            _ => None,
        };
        let runtime_idle_cpu = idle_rate(callee_cpu, cpu_of(callee_pid));
        let raw_idle_cpu = idle_rate(raw_cpu, cpu_of(raw_pid));
        let runtime_idle = sample_mib(callee_pid).unwrap_or(f64::NAN);
        let raw_idle = sample_mib(raw_pid).unwrap_or(f64::NAN);
        report.memory = Some(MemoryReport {
            runtime_idle_mib: runtime_idle,
            raw_idle_mib: raw_idle,
            runtime_load_mib: None,
            raw_load_mib: None,
            ratio_idle: ratio(runtime_idle, raw_idle).map(round3),
            ratio_load: None,
        });

        // Latency, one in flight, rounds alternating baseline and runtime.
        tracing::info!(samples = plan.latency_samples, "latency");
        let rounds = plan.latency_rounds.max(1);
        let chunk = LoadPlan {
            in_flight: 1,
            max_ops: plan.latency_samples.div_ceil(rounds),
            max_time: plan.latency_time / u32::try_from(rounds).unwrap_or(1),
            record_latency: true,
        };
        let mut raw_latency = LoadOutcome::default();
        let mut runtime_latency = LoadOutcome::default();
        for _ in 0..rounds {
            raw_latency.absorb(run_load(chunk, raw_op.clone()).await);
            runtime_latency.absorb(run_load(chunk, runtime_op.clone()).await);
        }
        let raw_summary = LatencySummary::from_samples(raw_latency.latencies);
        let runtime_summary = LatencySummary::from_samples(runtime_latency.latencies);
        let r = |a: f64, b: f64| ratio(a, b).map(round3);
        report.rpc_latency = Some(LatencyReport {
            raw: raw_summary,
            runtime: runtime_summary,
            runtime_in_process: None,
            ratio_p50: r(runtime_summary.p50_ms, raw_summary.p50_ms),
            ratio_p99: r(runtime_summary.p99_ms, raw_summary.p99_ms),
            ratio_p999: r(runtime_summary.p999_ms, raw_summary.p999_ms),
            raw_errors: raw_latency.errors,
            runtime_errors: runtime_latency.errors,
        });

        // Throughput at each in-flight level.
        let broker_in_driver = self.broker.kind() == BrokerKind::Mock;
        let mut last_runtime = None;
        for &in_flight in &plan.in_flight {
            tracing::info!(in_flight, "throughput");
            let raw_run = self
                .throughput(in_flight, raw_op.clone(), &[raw_pid], broker_in_driver)
                .await;
            let runtime_run = self
                .throughput(
                    in_flight,
                    runtime_op.clone(),
                    &[callee_pid],
                    broker_in_driver,
                )
                .await;
            let ratio = ratio(runtime_run.ops_per_second, raw_run.ops_per_second).map(round3);
            report.rpc_throughput.push(ThroughputReport {
                in_flight,
                raw: raw_run,
                runtime: runtime_run.clone(),
                ratio,
            });
            last_runtime = Some((in_flight, runtime_run));
        }
        if let Some(last) = report.rpc_throughput.last() {
            if let Some(memory) = report.memory.as_mut() {
                memory.runtime_load_mib = last.runtime.callee_max_rss_mib;
                memory.raw_load_mib = last.raw.callee_max_rss_mib;
                memory.ratio_load = match (memory.runtime_load_mib, memory.raw_load_mib) {
                    (Some(a), Some(b)) => ratio(a, b).map(round3),
                    _ => None,
                };
            }
            let per = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => ratio(a, b).map(round3),
                _ => None,
            };
            report.cpu = Some(CpuReport {
                in_flight: last.in_flight,
                runtime_idle_ms_per_second: runtime_idle_cpu,
                raw_idle_ms_per_second: raw_idle_cpu,
                runtime_callee_ms: last.runtime.callee_cpu_ms_per_1k,
                raw_callee_ms: last.raw.callee_cpu_ms_per_1k,
                ratio_callee: per(
                    last.runtime.callee_cpu_ms_per_1k,
                    last.raw.callee_cpu_ms_per_1k,
                ),
                runtime_caller_ms: last.runtime.caller_cpu_ms_per_1k,
                raw_caller_ms: last.raw.caller_cpu_ms_per_1k,
                ratio_caller: per(
                    last.runtime.caller_cpu_ms_per_1k,
                    last.raw.caller_cpu_ms_per_1k,
                ),
            });
        }

        // Scale-out: more replicas of the callee type, at the largest in-flight level.
        let Some((in_flight, one)) = last_runtime else {
            return Ok(());
        };
        self.scale_out(setup, in_flight, one, runtime_op, report)
            .await
    }

    /// A warm-up, then one measured closed-loop run of `op` with CPU and memory sampling of `callee_pids`.
    async fn throughput<F, Fut>(
        &self,
        in_flight: usize,
        op: F,
        callee_pids: &[u32],
        broker_in_driver: bool,
    ) -> ThroughputRun
    where
        F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let plan = self.plan;
        let _ = run_load(
            LoadPlan {
                in_flight,
                max_ops: u64::MAX,
                max_time: plan.warmup_time,
                record_latency: false,
            },
            op.clone(),
        )
        .await;
        let cpu = |pids: &[u32]| -> Option<Duration> {
            pids.iter()
                .map(|&pid| procstat::sample(pid).ok().map(|s| s.cpu))
                .sum()
        };
        let callee_before = cpu(callee_pids);
        let caller_before = procstat::sample_self().ok().map(|s| s.cpu);
        let sampling = Arc::new(AtomicBool::new(true));
        let max_rss = Arc::new(AtomicU64::new(0));
        let sampler = {
            let sampling = Arc::clone(&sampling);
            let max_rss = Arc::clone(&max_rss);
            let pid = callee_pids.first().copied();
            tokio::spawn(async move {
                while sampling.load(Ordering::Relaxed) {
                    if let Some(sample) = pid.and_then(|p| procstat::sample(p).ok()) {
                        max_rss.fetch_max(sample.rss_kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let outcome = run_load(
            LoadPlan {
                in_flight,
                max_ops: plan.throughput_max_ops,
                max_time: plan.throughput_time,
                record_latency: true,
            },
            op,
        )
        .await;
        sampling.store(false, Ordering::Relaxed);
        let _ = sampler.await;
        let callee_after = cpu(callee_pids);
        let caller_after = procstat::sample_self().ok().map(|s| s.cpu);
        let per_1k = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
            (Some(b), Some(a)) if outcome.completed > 0 => Some(round3(
                millis(a.saturating_sub(b)) * 1000.0 / outcome.completed as f64,
            )),
            _ => None,
        };
        let rss = max_rss.load(Ordering::Relaxed);
        let ops_per_second = round3(outcome.ops_per_second());
        let summary = LatencySummary::from_samples(outcome.latencies);
        tracing::info!(
            in_flight,
            ops_per_second,
            errors = outcome.errors,
            "run measured"
        );
        ThroughputRun {
            ops_per_second,
            completed: outcome.completed,
            errors: outcome.errors,
            first_error: outcome.first_error,
            seconds: round3(outcome.elapsed.as_secs_f64()),
            p50_ms: round3(summary.p50_ms),
            p99_ms: round3(summary.p99_ms),
            callee_cpu_ms_per_1k: per_1k(callee_before, callee_after),
            caller_cpu_ms_per_1k: if broker_in_driver {
                None
            } else {
                per_1k(caller_before, caller_after)
            },
            callee_max_rss_mib: (rss > 0).then(|| round3(rss as f64 / 1024.0)),
        }
    }

    async fn scale_out<F, Fut>(
        &self,
        setup: &RpcSetup,
        in_flight: usize,
        one: ThroughputRun,
        runtime_op: F,
        report: &mut BrokerReport,
    ) -> Result<()>
    where
        F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let base = one.ops_per_second;
        report.scale_out.push(ScaleOutPoint {
            replicas: 1,
            run: one,
            ratio_to_one: Some(1.0),
            settle_ms: 0.0,
        });
        // Extra replicas live only for the scale-out runs; they are stopped before the function returns.
        let mut extra: Vec<WorkerProcess> = Vec::new();
        let outcome = async {
            for &replicas in self.plan.replicas.iter().filter(|&&r| r > 1) {
                let began = Instant::now();
                while setup.callees.len() + extra.len() < replicas {
                    let name = format!("callee-{}", setup.callees.len() + extra.len() + 1);
                    tracing::info!(%name, "starting another replica");
                    let worker = self.spawn_callee(setup, &name)?;
                    worker.wait_ready(READY_TIMEOUT).await?;
                    extra.push(worker);
                }
                let all: Vec<&WorkerProcess> = setup.callees.iter().chain(extra.iter()).collect();
                self.wait_balanced(&all).await?;
                let settle_ms = round3(millis(began.elapsed()));
                tracing::info!(replicas, settle_ms, "group settled");
                let pids: Vec<u32> = all.iter().map(|w| w.pid()).collect();
                let run = self
                    .throughput(
                        in_flight,
                        runtime_op.clone(),
                        &pids,
                        self.broker.kind() == BrokerKind::Mock,
                    )
                    .await;
                report.scale_out.push(ScaleOutPoint {
                    replicas,
                    ratio_to_one: ratio(run.ops_per_second, base).map(round3),
                    run,
                    settle_ms,
                });
            }
            Ok(())
        }
        .await;
        let stops: Vec<_> = extra.into_iter().map(|w| w.finish(STOP_TIMEOUT)).collect();
        futures::future::join_all(stops).await;
        outcome
    }

    /// Waits until the workers own disjoint, non-empty sets of partitions that cover the request topic, unchanged
    /// for half a second.
    async fn wait_balanced(&self, workers: &[&WorkerProcess]) -> Result<()> {
        let partitions = usize::try_from(self.settings.partitions).unwrap_or(0);
        let started = Instant::now();
        let mut stable_since: Option<(Instant, Vec<Vec<i32>>)> = None;
        loop {
            let assignments: Vec<Vec<i32>> = workers.iter().map(|w| w.state().assignment).collect();
            let mut all: Vec<i32> = assignments.iter().flatten().copied().collect();
            all.sort_unstable();
            all.dedup();
            let total: usize = assignments.iter().map(Vec::len).sum();
            let balanced = all.len() == partitions
                && total == partitions
                && assignments.iter().all(|a| !a.is_empty());
            if balanced {
                match &stable_since {
                    Some((since, seen)) if *seen == assignments => {
                        if since.elapsed() >= Duration::from_millis(500) {
                            return Ok(());
                        }
                    }
                    _ => stable_since = Some((Instant::now(), assignments)),
                }
            } else {
                stable_since = None;
            }
            if started.elapsed() >= READY_TIMEOUT {
                return Err(BenchError::Timeout {
                    what: format!("{} replicas sharing the request partitions", workers.len()),
                    after: READY_TIMEOUT,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn publish(&self, report: &mut BrokerReport) -> Result<()> {
        let s = self.settings.clone();
        let fleet = format!("{}.pub", self.id);
        self.create_fleet(&fleet).await?;
        let group = format!("{}.pub-group", self.id);
        let boards = [
            Arc::new(TallyBoard::default()),
            Arc::new(TallyBoard::default()),
        ];
        let publisher = s.runtime(&fleet, &group, &format!("{}-publisher", self.id))?;
        let sub_a = s.runtime(&fleet, &group, &format!("{}-sub-a", self.id))?;
        let sub_b = s.runtime(&fleet, &group, &format!("{}-sub-b", self.id))?;
        let register_error = |e| BenchError::runtime("register", e);
        let board = Arc::clone(&boards[0]);
        sub_a
            .register("reader_a", move |_| tally_agent(&board))
            .await
            .map_err(register_error)?;
        sub_a
            .register(ECHO_TYPE, |_| echo_agent())
            .await
            .map_err(register_error)?;
        let board = Arc::clone(&boards[1]);
        sub_b
            .register("reader_b", move |_| tally_agent(&board))
            .await
            .map_err(register_error)?;
        let runtimes = [publisher, sub_a, sub_b];
        let outcome = self.publish_measure(&runtimes, &boards, report).await;
        for runtime in &runtimes {
            if let Err(error) = runtime.stop().await {
                tracing::warn!(error = %chain(&error), "runtime did not stop cleanly");
            }
        }
        outcome
    }

    async fn publish_measure(
        &self,
        runtimes: &[KafkaWorkerAgentRuntime; 3],
        boards: &[Arc<TallyBoard>; 2],
        report: &mut BrokerReport,
    ) -> Result<()> {
        let s = &self.settings;
        let plan = self.plan;
        let [publisher, sub_a, sub_b] = runtimes;
        let (a, b, c) = tokio::join!(publisher.start(), sub_a.start(), sub_b.start());
        for started in [a, b, c] {
            started.map_err(|e| BenchError::runtime("start", e))?;
        }
        let mut subscription_ids = Vec::new();
        for (runtime, agent_type) in [(sub_a, "reader_a"), (sub_b, "reader_b")] {
            let subscription: Subscription = TypeSubscription::new(NEWS, agent_type)
                .map_err(|e| BenchError::runtime("subscribe", e))?
                .into();
            subscription_ids.push(subscription.id().to_owned());
            runtime
                .add_subscription(subscription)
                .await
                .map_err(|e| BenchError::runtime("subscribe", e))?;
        }
        wait_until(
            "the publisher seeing both subscribers",
            READY_TIMEOUT,
            || {
                ["reader_a", "reader_b", ECHO_TYPE]
                    .iter()
                    .all(|t| publisher.is_hosted(t))
                    && subscription_ids
                        .iter()
                        .all(|id| publisher.knows_subscription(id))
            },
        )
        .await?;

        // The in-process latency variant: caller and callee are two runtimes of this process.
        let op = runtime_call(publisher, s);
        let _ = warm(op.clone(), 64).await;
        let outcome = run_load(
            LoadPlan {
                in_flight: 1,
                max_ops: plan.in_process_latency_samples,
                max_time: plan.latency_time / 2,
                record_latency: true,
            },
            op,
        )
        .await;
        if let Some(latency) = report.rpc_latency.as_mut() {
            latency.runtime_in_process = Some(LatencySummary::from_samples(outcome.latencies));
        }

        let raw_topic = format!("{}.raw.fanout", self.id);
        self.create_topic(&raw_topic, s.partitions).await?;
        let fanout = RawFanout::start(s, &raw_topic, boards.len(), READY_TIMEOUT).await?;
        let pad: Arc<str> = Arc::from(s.padding());
        for (index, &size) in plan.bursts.iter().enumerate() {
            let burst_id = u32::try_from(index).unwrap_or(0) + 1;
            let burst_plan = BurstPlan {
                burst: burst_id,
                size,
                in_flight: plan.publish_in_flight,
                max_publish_time: plan.publish_time,
                delivery_timeout: plan.delivery_timeout,
                settle: Duration::from_millis(500),
            };
            tracing::info!(size, "publish burst (runtime)");
            let runtime = run_burst(burst_plan, boards, |seq| {
                let pad = Arc::clone(&pad);
                async move {
                    let topic =
                        TopicId::new(NEWS, format!("s{}", seq % 64)).map_err(|e| chain(&e))?;
                    let tick = Tick {
                        burst: burst_id,
                        seq,
                        pad: pad.to_string(),
                    };
                    publisher.publish(tick, &topic).await.map_err(|e| chain(&e))
                }
            })
            .await;
            tracing::info!(
                size,
                delivered_per_second = runtime.deliveries_per_second,
                lost = runtime.lost,
                "runtime burst done"
            );
            tracing::info!(size, "publish burst (baseline)");
            let raw = run_burst(burst_plan, fanout.boards(), |seq| {
                fanout.publish(burst_id, seq)
            })
            .await;
            tracing::info!(
                size,
                delivered_per_second = raw.deliveries_per_second,
                lost = raw.lost,
                "baseline burst done"
            );
            let ratio = ratio(runtime.deliveries_per_second, raw.deliveries_per_second).map(round3);
            report.publish.push(PublishReport {
                burst: size,
                subscribers: boards.len(),
                raw: Some(raw),
                runtime: Some(runtime),
                ratio,
            });
        }
        drop(fanout);
        Ok(())
    }
}

/// Runs `op` sequentially over `count` keys (at most 30 s), so every agent and fetcher exists before measuring.
async fn warm<F, Fut>(op: F, count: u64) -> LoadOutcome
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    run_load(
        LoadPlan {
            in_flight: 16,
            max_ops: count,
            max_time: Duration::from_secs(30),
            record_latency: false,
        },
        op,
    )
    .await
}

/// Judges the targets against the report.
fn judge(report: &BrokerReport, kind: BrokerKind) -> Vec<Target> {
    let mut targets = Vec::new();
    let target = |name: &str, measured: String, met: Option<bool>, comment: &str| Target {
        target: name.to_owned(),
        measured,
        met,
        comment: comment.to_owned(),
    };
    if let Some(l) = &report.rpc_latency {
        targets.push(target(
            "RPC p50 ≤ 1.25× the raw ping-pong",
            format!(
                "{:.2} ms vs {:.2} ms = {}",
                l.runtime.p50_ms,
                l.raw.p50_ms,
                l.ratio_p50
                    .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"))
            ),
            l.ratio_p50.map(|r| r <= 1.25),
            "",
        ));
    }
    if let Some(t) = report.rpc_throughput.iter().find(|t| t.in_flight == 128) {
        targets.push(target(
            "RPC throughput at 128 in flight ≥ 0.8× the raw pipeline",
            format!(
                "{:.0}/s vs {:.0}/s = {}",
                t.runtime.ops_per_second,
                t.raw.ops_per_second,
                t.ratio
                    .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"))
            ),
            t.ratio.map(|r| r >= 0.8),
            "",
        ));
    }
    if !report.publish.is_empty() {
        let bursts: Vec<_> = report
            .publish
            .iter()
            .filter_map(|p| p.runtime.as_ref())
            .collect();
        let lost: u64 = bursts.iter().map(|b| b.lost).sum();
        let duplicated: u64 = bursts.iter().map(|b| b.duplicated).sum();
        let truncated = bursts.iter().any(|b| b.truncated);
        let sizes: Vec<String> = bursts.iter().map(|b| b.issued.to_string()).collect();
        targets.push(target(
            "Zero lost publications at any burst",
            format!(
                "lost {lost}, duplicated {duplicated} over bursts of {}",
                sizes.join(" and ")
            ),
            Some(lost == 0 && duplicated == 0 && bursts.len() == report.publish.len()),
            if truncated {
                "a burst was cut short by its time bound"
            } else {
                ""
            },
        ));
    }
    if let Some(m) = &report.memory {
        let bytes = m.runtime_idle_mib * 1024.0 * 1024.0;
        targets.push(target(
            "Idle RSS ≤ 25 MB",
            format!("{:.1} MB ({:.1} MiB)", bytes / 1e6, m.runtime_idle_mib),
            Some(bytes <= 25e6),
            "",
        ));
    }
    if let Some(s) = &report.startup {
        let tansu = kind == BrokerKind::Tansu;
        targets.push(target(
            "start→ready ≤ 1 s on Tansu with short group timeouts",
            format!("{:.0} ms", s.runtime_start_ms),
            tansu.then_some(s.runtime_start_ms <= 1000.0),
            if tansu {
                "Tansu answers the first JoinGroup after about session.timeout.ms / 2 (2000 ms session here)"
            } else {
                "the target is stated for Tansu; this broker's first group join takes longer by design"
            },
        ));
    }
    if let Some(three) = report.scale_out.iter().find(|p| p.replicas == 3) {
        targets.push(target(
            "3 replicas ≥ 2.5× one on throughput",
            three
                .ratio_to_one
                .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×")),
            three.ratio_to_one.map(|r| r >= 2.5),
            "2 CPUs run the broker, the caller and all replicas: the machine, not the runtime, is the bottleneck",
        ));
    }
    targets
}

/// What limits the figures on this broker.
fn limits(kind: BrokerKind, settings: &Settings) -> Vec<String> {
    let wait = settings.fetch_wait_max_ms;
    let mut notes = Vec::new();
    match kind {
        BrokerKind::Mock => {
            notes.push(format!(
                "librdkafka's mock cluster holds every Fetch for the full fetch.wait.max.ms ({wait} ms) and never wakes \
                 a parked fetch when data arrives, so each hop costs about {wait} ms: an RPC (request and answer, two hops) \
                 is bounded below by about {} ms for runtime and baseline alike. Latency here measures the broker.",
                2 * wait
            ));
            notes.push(
                "The mock cluster runs inside the driver process (with the callers and, for publish, the subscriber \
                 runtimes), so caller CPU is not reported and the broker competes for the same 2 CPUs."
                    .to_owned(),
            );
            notes.push(
                "The mock's first consumer-group join is held for about 3 s (its initial rebalance delay), which \
                 dominates start→ready here."
                    .to_owned(),
            );
        }
        BrokerKind::Tansu => {
            notes.push(format!(
                "Tansu (memory storage) does not wake a parked Fetch either: a hop costs about fetch.wait.max.ms / 2 + \
                 1 ms ({wait} ms wait here), for runtime and baseline alike."
            ));
            notes.push(
                "Tansu answers the first JoinGroup after about session.timeout.ms / 2 (1 s with the 2000 ms session \
                 used), a floor under start→ready for any consumer-group client."
                    .to_owned(),
            );
        }
        _ => notes.push(
            "External broker: figures include the network path to it and whatever else it serves."
                .to_owned(),
        ),
    }
    notes.push(
        "The machine has 2 CPUs shared by the broker, the driver (callers, publisher, subscribers) and every worker \
         process, and by other work (see the load averages): throughput and scale-out are CPU-bound here."
            .to_owned(),
    );
    notes
}

//! One broker's benchmark run: the RPC figures (latency, throughput, start-up, memory, CPU, scale-out) with
//! callee processes, each next to its raw rdkafka baseline, and two runtime-only variants of the throughput loop
//! (skewed keys; agent-to-agent calls through a relay agent), then the publish bursts next to their baseline, then
//! calls through the A2A gateway next to direct RPCs to the same agents (`gateway.rs`).

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

use crate::agents::{ECHO_TYPE, Ping, Pong, RELAY_TYPE, TallyBoard, Tick, echo_agent, tally_agent};
use crate::burst::{BurstPlan, run_burst};
use crate::error::{BenchError, Result};
use crate::load::{KeyChoice, LoadOutcome, LoadPlan, duration_ms, run_load};
use crate::procstat;
use crate::raw::{KEYS, Produced, RawClient, RawFanout};
use crate::report::{
    BrokerReport, CpuReport, LatencyReport, MemoryReport, PublishReport, ReplicaRun, ScaleOutPoint,
    StartupReport, Target, ThroughputReport, ThroughputRun, VariantReport,
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

/// Environment variable with a command line the first raw echo process is started under (as
/// [`CALLEE_WRAPPER_ENV`], for the baseline's side of a profile comparison).
pub const RAW_ECHO_WRAPPER_ENV: &str = "BENCH_RAW_ECHO_WRAPPER";

/// How long after the last RPC an idle window starts (both sides alike).
const IDLE_LEAD: Duration = Duration::from_millis(1500);

/// The topic type of the publish benchmark.
const NEWS: &str = "bench_news";

mod gateway;

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
    /// Before each latency sample the caller pauses a pseudo-random 0..=this many ms, so requests fall at
    /// random points of the brokers' fetch cycle (see [`LoadPlan::think_max_ms`]).
    pub latency_think_max_ms: u64,
    /// Latency samples of the in-process variant (caller and callee runtimes in one process).
    pub in_process_latency_samples: u64,
    /// In-flight levels of the throughput runs.
    pub in_flight: Vec<usize>,
    /// Measured runs per side and in-flight level, alternating baseline and runtime; the median is reported.
    pub throughput_repeats: usize,
    /// Length bound of one measured throughput run.
    #[serde(with = "duration_ms")]
    pub throughput_time: Duration,
    /// Operation bound of one measured throughput run.
    pub throughput_max_ops: u64,
    /// Length of the unmeasured warm-up before each throughput run.
    #[serde(with = "duration_ms")]
    pub warmup_time: Duration,
    /// In-flight level of the runtime-only variants (skewed keys, agent to agent), run like the uniform-key
    /// throughput run at that level (same repeats, warm-up and bounds) and compared with it.
    pub variant_in_flight: usize,
    /// The keys of the skewed-key variant (against the echo type, one callee process).
    pub skewed_keys: KeyChoice,
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
    /// Latency samples per side (direct RPC and gateway) of the gateway benchmark, in alternating rounds with the
    /// same pauses as the RPC latency.
    pub gateway_latency_samples: u64,
    /// In-flight levels of the gateway benchmark's throughput runs (same repeats, warm-up and bounds as the RPC
    /// throughput runs).
    pub gateway_in_flight: Vec<usize>,
}

impl Plan {
    /// The unmeasured warm-up before a throughput run at `in_flight`.
    #[must_use]
    pub const fn warm_up(&self, in_flight: usize) -> LoadPlan {
        LoadPlan {
            in_flight,
            max_ops: u64::MAX,
            max_time: self.warmup_time,
            record_latency: false,
            think_max_ms: 0,
        }
    }

    /// A measured throughput run at `in_flight`.
    #[must_use]
    pub const fn measured(&self, in_flight: usize) -> LoadPlan {
        LoadPlan {
            in_flight,
            max_ops: self.throughput_max_ops,
            max_time: self.throughput_time,
            record_latency: true,
            think_max_ms: 0,
        }
    }

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
            latency_rounds: if quick { 2 } else { 10 },
            latency_time: Duration::from_secs(if quick { 5 } else { 60 }),
            latency_think_max_ms: 6,
            in_process_latency_samples: if quick { 100 } else { 1000 },
            in_flight: vec![32, 128],
            throughput_repeats: env_number(REPEATS_ENV).unwrap_or(if quick { 1 } else { 3 }),
            throughput_time: env_number(THROUGHPUT_MS_ENV).map_or_else(
                || Duration::from_secs(if quick { 2 } else { 3 }),
                Duration::from_millis,
            ),
            throughput_max_ops: 200_000,
            warmup_time: Duration::from_millis(500),
            variant_in_flight: 128,
            // 80 % of the calls on 1 % of the agent ids.
            skewed_keys: KeyChoice::Skewed {
                keys: KEYS,
                hot: KEYS / 100,
                hot_percent: 80,
            },
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
            gateway_latency_samples: if quick { 100 } else { 1000 },
            gateway_in_flight: vec![1, 16, 64],
        }
    }
}

/// Environment variable overriding the measured runs per side and in-flight level (A/B comparisons of one figure).
pub const REPEATS_ENV: &str = "BENCH_REPEATS";
/// Environment variable overriding the length of one measured throughput run, in milliseconds.
pub const THROUGHPUT_MS_ENV: &str = "BENCH_THROUGHPUT_MS";
/// Environment variable selecting one part of the run: `rpc` (the RPC figures next to their baseline: no
/// agent-to-agent, publish or gateway benchmark) or `gateway` (the gateway benchmark alone). Unset: everything.
pub const ONLY_ENV: &str = "BENCH_ONLY";

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The parts of a broker's run that [`ONLY_ENV`] selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    /// Everything.
    All,
    /// The RPC figures next to their baseline.
    Rpc,
    /// The gateway benchmark.
    Gateway,
}

impl Only {
    fn from_env() -> Self {
        match std::env::var(ONLY_ENV).as_deref().map(str::trim) {
            Ok("rpc") => Self::Rpc,
            Ok("gateway") => Self::Gateway,
            Ok("" | "all") | Err(_) => Self::All,
            Ok(other) => {
                tracing::warn!(
                    value = other,
                    "{ONLY_ENV} is neither rpc nor gateway: running everything"
                );
                Self::All
            }
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
        rpc_agent_to_agent: None,
        rpc_skewed_keys: None,
        scale_out: Vec::new(),
        publish: Vec::new(),
        gateway: None,
        startup: None,
        memory: None,
        cpu: None,
        targets: Vec::new(),
        notes: Vec::new(),
    };
    let bench = Bench {
        broker,
        broker_cpu: BrokerCpu::of(kind),
        settings,
        plan,
        environment,
        id: unique_topic(&format!("bench-{}", kind.as_str())),
    };
    let only = Only::from_env();
    if only != Only::Gateway {
        tracing::info!(broker = %kind, "RPC benchmarks");
        if let Err(error) = bench.rpc(&mut report).await {
            tracing::error!(error = %chain(&error), "RPC benchmarks stopped early");
            report.notes.push(format!(
                "The RPC benchmarks stopped early: {}",
                chain(&error)
            ));
        }
    }
    match only {
        Only::All => bench.variants_and_publish(&mut report).await,
        Only::Rpc => report.notes.push(format!(
            "{ONLY_ENV}=rpc: the agent-to-agent, publish and gateway benchmarks were skipped."
        )),
        Only::Gateway => report.notes.push(format!(
            "{ONLY_ENV}=gateway: only the gateway benchmark ran."
        )),
    }
    if only != Only::Rpc {
        tracing::info!(broker = %kind, "gateway benchmark");
        if let Err(error) = bench.gateway(&mut report).await {
            tracing::error!(error = %chain(&error), "gateway benchmark stopped early");
            report.notes.push(format!(
                "The gateway benchmark stopped early: {}",
                chain(&error)
            ));
        }
    }
    report.targets = judge(&report, kind);
    report.notes.extend(limits(kind, &report.settings));
    report.duration_seconds = round3(started.elapsed().as_secs_f64());
    report
}

impl Bench<'_> {
    /// The agent-to-agent and publish benchmarks.
    async fn variants_and_publish(&self, report: &mut BrokerReport) {
        let kind = self.broker.kind();
        let bench = self;
        tracing::info!(broker = %kind, "agent-to-agent benchmark");
        if let Err(error) = bench.agent_to_agent(report).await {
            tracing::error!(error = %chain(&error), "agent-to-agent benchmark stopped early");
            report.notes.push(format!(
                "The agent-to-agent benchmark stopped early: {}",
                chain(&error)
            ));
        }
        tracing::info!(broker = %kind, "publish benchmarks");
        if let Err(error) = bench.publish(report).await {
            tracing::error!(error = %chain(&error), "publish benchmarks stopped early");
            report.notes.push(format!(
                "The publish benchmarks stopped early: {}",
                chain(&error)
            ));
        }
    }
}

/// An error with its sources, one after the other.
pub use autogen_kafka_testing::error_chain as chain;

/// Where the broker's CPU time can be read.
#[derive(Debug, Clone, Copy)]
enum BrokerCpu {
    /// The mock cluster's thread (`rdk:mock`) in this process.
    MockThread,
    /// The Tansu process.
    Process(u32),
    /// Not known (an external broker).
    Unknown,
}

impl BrokerCpu {
    fn of(kind: BrokerKind) -> Self {
        match kind {
            BrokerKind::Mock => Self::MockThread,
            BrokerKind::Tansu => {
                procstat::descendant_named("tansu", 3).map_or(Self::Unknown, Self::Process)
            }
            _ => Self::Unknown,
        }
    }

    fn read(self) -> Option<Duration> {
        match self {
            Self::MockThread => procstat::threads_cpu(std::process::id(), "rdk:mock").ok(),
            Self::Process(pid) => procstat::sample(pid).ok().map(|s| s.cpu),
            Self::Unknown => None,
        }
    }
}

struct Bench<'a> {
    broker: &'a TestBroker,
    broker_cpu: BrokerCpu,
    settings: Settings,
    plan: &'a Plan,
    environment: &'a Environment,
    /// Prefix of every topic and group of this run.
    id: String,
}

/// What starting a worker process needs.
struct SpawnInfo {
    settings_json: String,
    fleet: String,
    group: String,
    raw_requests: String,
    raw_replies: String,
    raw_echo_group: String,
}

/// Which worker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A runtime hosting the echo agent type.
    Callee,
    /// The raw rdkafka echo.
    RawEcho,
}

/// The running parts of the RPC benchmarks (stopped at the end, whatever happened).
struct RpcSetup {
    info: SpawnInfo,
    caller: Option<KafkaWorkerAgentRuntime>,
    raw: Option<Arc<RawClient>>,
    raw_echoes: Vec<WorkerProcess>,
    callees: Vec<WorkerProcess>,
}

/// What an idle window measured.
struct IdleSample {
    rss_mib: Option<f64>,
    cpu_ms_per_second: Option<f64>,
    broker_percent: Option<f64>,
}

/// A series that may have stopped early: what it measured and the error, if any.
fn split<T>(
    outcome: std::result::Result<Vec<T>, (Vec<T>, BenchError)>,
) -> (Vec<T>, Option<BenchError>) {
    match outcome {
        Ok(series) => (series, None),
        Err((series, error)) => (series, Some(error)),
    }
}

/// The run with the median throughput, remembering every run's throughput.
fn median_run(mut runs: Vec<ThroughputRun>) -> ThroughputRun {
    runs.sort_by(|a, b| a.ops_per_second.total_cmp(&b.ops_per_second));
    let all: Vec<f64> = runs.iter().map(|r| r.ops_per_second).collect();
    let middle = runs.len() / 2;
    let mut median = runs.swap_remove(middle);
    median.all_ops_per_second = all;
    median
}

/// Warms a path (connections, fetchers, one agent per key); fails when not one call succeeds.
async fn ensure_warm<F, Fut>(name: &str, op: F, timeout: Duration) -> Result<()>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let outcome = warm(op, KEYS).await;
    if outcome.completed == 0 {
        return Err(BenchError::Timeout {
            what: format!(
                "a first {name} RPC ({})",
                outcome.first_error.unwrap_or_default()
            ),
            after: timeout,
        });
    }
    Ok(())
}

fn field_ms(fields: &Fields, key: &str) -> f64 {
    fields
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
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

/// The boxed future of one RPC operation.
type CallFuture = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The runtime RPC operation: `Ping` to `echo/k<n mod KEYS>`, checking the answer.
fn runtime_call(
    caller: &KafkaWorkerAgentRuntime,
    settings: &Settings,
) -> impl Fn(u64) -> CallFuture + Clone + Send + Sync + 'static {
    runtime_call_to(
        caller,
        settings,
        ECHO_TYPE,
        KeyChoice::Uniform { keys: KEYS },
    )
}

/// The runtime RPC operation of agent type `agent_type`: `Ping` to `<agent_type>/k<keys.key(n)>`, checking the
/// answer.
fn runtime_call_to(
    caller: &KafkaWorkerAgentRuntime,
    settings: &Settings,
    agent_type: &'static str,
    keys: KeyChoice,
) -> impl Fn(u64) -> CallFuture + Clone + Send + Sync + 'static {
    let caller = caller.clone();
    let pad: Arc<str> = Arc::from(settings.padding());
    let timeout = settings.rpc_timeout();
    move |n| {
        let caller = caller.clone();
        let pad = Arc::clone(&pad);
        Box::pin(async move {
            let id =
                AgentId::new(agent_type, format!("k{}", keys.key(n))).map_err(|e| chain(&e))?;
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
fn raw_call(raw: &Arc<RawClient>) -> impl Fn(u64) -> CallFuture + Clone + Send + Sync + 'static {
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

    /// Starts a worker of `role` named `name`; the first callee runs under [`CALLEE_WRAPPER_ENV`] and the first raw
    /// echo under [`RAW_ECHO_WRAPPER_ENV`] when set.
    fn spawn_role(&self, info: &SpawnInfo, role: Role, name: &str) -> Result<WorkerProcess> {
        match role {
            Role::Callee => {
                let wrapper = (name == "callee-1")
                    .then(|| std::env::var(CALLEE_WRAPPER_ENV).ok())
                    .flatten();
                self.spawn_wrapped(
                    &[
                        "callee",
                        &info.settings_json,
                        &info.fleet,
                        &info.group,
                        name,
                    ],
                    name,
                    wrapper.as_deref(),
                )
            }
            Role::RawEcho => {
                let wrapper = (name == "raw-echo-1")
                    .then(|| std::env::var(RAW_ECHO_WRAPPER_ENV).ok())
                    .flatten();
                self.spawn_wrapped(
                    &[
                        "raw-echo",
                        &info.settings_json,
                        &info.raw_requests,
                        &info.raw_echo_group,
                    ],
                    name,
                    wrapper.as_deref(),
                )
            }
        }
    }

    async fn rpc(&self, report: &mut BrokerReport) -> Result<()> {
        let s = &self.settings;
        let raw_requests = format!("{}.raw.requests", self.id);
        let raw_replies = format!("{}.raw.replies", self.id);
        self.create_topic(&raw_requests, s.partitions).await?;
        self.create_topic(&raw_replies, 1).await?;
        let fleet = format!("{}.rpc", self.id);
        self.create_fleet(&fleet).await?;
        let settings_json = serde_json::to_string(s).map_err(|source| BenchError::Json {
            what: "settings",
            source,
        })?;
        let mut setup = RpcSetup {
            info: SpawnInfo {
                settings_json,
                fleet,
                group: format!("{}.rpc-group", self.id),
                raw_requests,
                raw_replies,
                raw_echo_group: format!("{}.raw-echo", self.id),
            },
            caller: None,
            raw: None,
            raw_echoes: Vec::new(),
            callees: Vec::new(),
        };
        let outcome = self.rpc_measure(&mut setup, report).await;
        self.stop_raw(&mut setup).await;
        if let Some(caller) = setup.caller.take()
            && let Err(error) = caller.stop().await
        {
            tracing::warn!(error = %chain(&error), "caller runtime did not stop cleanly");
        }
        let stops: Vec<_> = setup
            .callees
            .drain(..)
            .map(|w| w.finish(STOP_TIMEOUT))
            .collect();
        futures::future::join_all(stops).await;
        outcome
    }

    /// Stops the baseline's caller and echo processes.
    async fn stop_raw(&self, setup: &mut RpcSetup) {
        if let Some(raw) = setup.raw.take() {
            raw.shutdown();
        }
        let stops: Vec<_> = setup
            .raw_echoes
            .drain(..)
            .map(|w| w.finish(STOP_TIMEOUT))
            .collect();
        futures::future::join_all(stops).await;
    }

    /// Lets everything sit idle for the plan's idle window and reads `pid`'s memory and CPU rate and the
    /// broker's CPU rate.
    async fn idle_window(&self, pid: u32) -> IdleSample {
        // Idle means no RPC for a while: the runtime pauses its reply reader a second after its last RPC.
        tokio::time::sleep(IDLE_LEAD).await;
        let begun = Instant::now();
        let cpu_before = procstat::sample(pid).ok().map(|s| s.cpu);
        let broker_before = self.broker_cpu.read();
        tokio::time::sleep(self.plan.idle_settle).await;
        let seconds = begun.elapsed().as_secs_f64();
        let after = procstat::sample(pid).ok();
        let broker_after = self.broker_cpu.read();
        let rate = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
            (Some(b), Some(a)) => Some(millis(a.saturating_sub(b)) / seconds),
            _ => None,
        };
        IdleSample {
            rss_mib: after.map(|s| round3(s.rss_kib as f64 / 1024.0)),
            cpu_ms_per_second: rate(cpu_before, after.map(|s| s.cpu)).map(round3),
            broker_percent: rate(broker_before, broker_after).map(|ms| round3(ms / 10.0)),
        }
    }

    async fn rpc_measure(&self, setup: &mut RpcSetup, report: &mut BrokerReport) -> Result<()> {
        let s = &self.settings;
        let plan = self.plan;

        // 1. The baseline pair: the raw echo process and the raw caller here.
        let raw_echo = self.spawn_role(&setup.info, Role::RawEcho, "raw-echo-1")?;
        let ready = raw_echo.wait_ready(READY_TIMEOUT).await;
        let raw_pid = raw_echo.pid();
        setup.raw_echoes.push(raw_echo);
        let (raw_fields, raw_spawn_to_ready) = ready?;
        tracing::info!(elapsed = ?raw_spawn_to_ready, "raw echo ready");
        let raw = Arc::new(RawClient::start(
            s,
            &setup.info.raw_requests,
            &setup.info.raw_replies,
        )?);
        setup.raw = Some(Arc::clone(&raw));
        let raw_op = raw_call(&raw);
        ensure_warm("baseline", raw_op.clone(), s.rpc_timeout()).await?;
        let raw_idle = self.idle_window(raw_pid).await;

        // 2. The runtime pair: the callee process and the caller runtime here.
        let callee = self.spawn_role(&setup.info, Role::Callee, "callee-1")?;
        let ready = callee.wait_ready(READY_TIMEOUT).await;
        let callee_pid = callee.pid();
        setup.callees.push(callee);
        let (callee_fields, callee_spawn_to_ready) = ready?;
        tracing::info!(elapsed = ?callee_spawn_to_ready, "callee ready");
        let caller = s.runtime(
            &setup.info.fleet,
            &setup.info.group,
            &format!("{}-caller", self.id),
        )?;
        let begun = Instant::now();
        let started = caller.start().await;
        let caller_start = begun.elapsed();
        setup.caller = Some(caller.clone());
        started.map_err(|e| BenchError::runtime("start", e))?;
        wait_until("the caller seeing the echo type", READY_TIMEOUT, || {
            caller.is_hosted(ECHO_TYPE)
        })
        .await?;
        let runtime_op = runtime_call(&caller, s);
        ensure_warm("runtime", runtime_op.clone(), s.rpc_timeout()).await?;
        let runtime_idle = self.idle_window(callee_pid).await;

        report.startup = Some(StartupReport {
            runtime_start_ms: round3(field_ms(&callee_fields, "start_ms")),
            runtime_spawn_to_ready_ms: round3(millis(callee_spawn_to_ready)),
            runtime_start_no_agents_ms: round3(millis(caller_start)),
            raw_group_join_ms: round3(field_ms(&raw_fields, "join_ms")),
            raw_spawn_to_ready_ms: round3(millis(raw_spawn_to_ready)),
            replica_start_ms: Vec::new(),
            ratio: ratio(
                field_ms(&callee_fields, "start_ms"),
                field_ms(&raw_fields, "join_ms"),
            )
            .map(round3),
        });
        let both = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => ratio(a, b).map(round3),
            _ => None,
        };
        report.memory = Some(MemoryReport {
            runtime_idle_mib: runtime_idle.rss_mib.unwrap_or(f64::NAN),
            raw_idle_mib: raw_idle.rss_mib.unwrap_or(f64::NAN),
            runtime_load_mib: None,
            raw_load_mib: None,
            ratio_idle: both(runtime_idle.rss_mib, raw_idle.rss_mib),
            ratio_load: None,
        });

        // 3. Latency, one in flight, rounds alternating baseline and runtime.
        tracing::info!(samples = plan.latency_samples, "latency");
        let (raw_latency, runtime_latency) =
            alternating_latency(plan, plan.latency_samples, &raw_op, &runtime_op).await;
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

        // 4. Throughput at each in-flight level; at the variants' level each repeat adds a skewed-key run of the
        // runtime (same callee, same echo agents), so drifting load hits it and the uniform run alike.
        let skewed_op = runtime_call_to(&caller, s, ECHO_TYPE, plan.skewed_keys);
        let raw_workers: Vec<&WorkerProcess> = setup.raw_echoes.iter().take(1).collect();
        let callee_workers: Vec<&WorkerProcess> = setup.callees.iter().take(1).collect();
        for &in_flight in &plan.in_flight {
            tracing::info!(in_flight, "throughput");
            let skewed = in_flight == plan.variant_in_flight;
            let mut raw_runs = Vec::new();
            let mut runtime_runs = Vec::new();
            let mut skewed_runs = Vec::new();
            let raw_counts = || raw.produced();
            let runtime_counts = || runtime_produced(&caller);
            for _ in 0..plan.throughput_repeats.max(1) {
                raw_runs.push(
                    self.throughput(in_flight, raw_op.clone(), &raw_workers, &raw_counts)
                        .await,
                );
                runtime_runs.push(
                    self.throughput(
                        in_flight,
                        runtime_op.clone(),
                        &callee_workers,
                        &runtime_counts,
                    )
                    .await,
                );
                if skewed {
                    tracing::info!(in_flight, "throughput, skewed keys");
                    skewed_runs.push(
                        self.throughput(
                            in_flight,
                            skewed_op.clone(),
                            &callee_workers,
                            &runtime_counts,
                        )
                        .await,
                    );
                }
            }
            let raw_run = median_run(raw_runs);
            let runtime_run = median_run(runtime_runs);
            if skewed {
                report.rpc_skewed_keys = Some(VariantReport::new(
                    in_flight,
                    plan.skewed_keys,
                    median_run(skewed_runs),
                    Some(&runtime_run),
                ));
            }
            let ratio = ratio(runtime_run.ops_per_second, raw_run.ops_per_second).map(round3);
            report.rpc_throughput.push(ThroughputReport {
                in_flight,
                raw: raw_run,
                runtime: runtime_run,
                ratio,
            });
        }
        let Some(last) = report.rpc_throughput.last().cloned() else {
            return Ok(());
        };
        if let Some(memory) = report.memory.as_mut() {
            memory.runtime_load_mib = last.runtime.callee_max_rss_mib;
            memory.raw_load_mib = last.raw.callee_max_rss_mib;
            memory.ratio_load = both(memory.runtime_load_mib, memory.raw_load_mib);
        }
        report.cpu = Some(CpuReport {
            in_flight: last.in_flight,
            runtime_idle_ms_per_second: runtime_idle.cpu_ms_per_second,
            raw_idle_ms_per_second: raw_idle.cpu_ms_per_second,
            broker_idle_percent_raw_pair: raw_idle.broker_percent,
            broker_idle_percent_added_by_runtime_pair: match (
                runtime_idle.broker_percent,
                raw_idle.broker_percent,
            ) {
                (Some(a), Some(b)) => Some(round3(a - b)),
                _ => None,
            },
            runtime_callee_ms: last.runtime.callee_cpu_ms_per_1k,
            raw_callee_ms: last.raw.callee_cpu_ms_per_1k,
            ratio_callee: both(
                last.runtime.callee_cpu_ms_per_1k,
                last.raw.callee_cpu_ms_per_1k,
            ),
            runtime_caller_ms: last.runtime.caller_cpu_ms_per_1k,
            raw_caller_ms: last.raw.caller_cpu_ms_per_1k,
            ratio_caller: both(
                last.runtime.caller_cpu_ms_per_1k,
                last.raw.caller_cpu_ms_per_1k,
            ),
            runtime_caller_records_per_request: last.runtime.caller_records_per_request,
            raw_caller_records_per_request: last.raw.caller_records_per_request,
            runtime_records_per_request: last.runtime.callee_records_per_request,
            raw_records_per_request: last.raw.callee_records_per_request,
            ratio_produce_requests: both(
                last.raw.callee_records_per_request,
                last.runtime.callee_records_per_request,
            ),
        });

        // 5. Scale-out at the largest in-flight level: the baseline first (more raw echo processes in its
        // group), then, with the baseline stopped, the runtime (more callee processes hosting the type).
        let in_flight = last.in_flight;
        let raw_series = self
            .scale_series(
                &setup.info,
                &mut setup.raw_echoes,
                Role::RawEcho,
                in_flight,
                last.raw,
                raw_op,
                report,
            )
            .await;
        self.stop_raw(setup).await;
        let runtime_series = self
            .scale_series(
                &setup.info,
                &mut setup.callees,
                Role::Callee,
                in_flight,
                last.runtime,
                runtime_op,
                report,
            )
            .await;
        let (raw_series, raw_error) = split(raw_series);
        let (runtime_series, runtime_error) = split(runtime_series);
        for &replicas in &plan.replicas {
            let pick = |series: &[(usize, ReplicaRun)]| {
                series
                    .iter()
                    .find(|(n, _)| *n == replicas)
                    .map(|(_, run)| run.clone())
            };
            let runtime = pick(&runtime_series);
            let raw = pick(&raw_series);
            if runtime.is_none() && raw.is_none() {
                continue;
            }
            report.scale_out.push(ScaleOutPoint {
                replicas,
                ratio: match (&runtime, &raw) {
                    (Some(a), Some(b)) => {
                        ratio(a.run.ops_per_second, b.run.ops_per_second).map(round3)
                    }
                    _ => None,
                },
                runtime,
                raw,
            });
        }
        if let Some(error) = raw_error {
            report.notes.push(format!(
                "The baseline's scale-out stopped early: {}",
                chain(&error)
            ));
        }
        runtime_error.map_or(Ok(()), Err)
    }

    /// Agent-to-agent calls: a callee process hosting `echo` and `relay`, and a caller runtime here calling
    /// `relay/k<n mod KEYS>`, whose handler asks `echo/<its own key>` through the runtime (a second RPC over Kafka,
    /// answered by the same process). They get a fleet of their own, so the relay's calls reach this process's echo
    /// agents and the other callee processes (and their start-up, memory and CPU figures) host `echo` alone. Run
    /// like the uniform-key throughput at the variants' in-flight level and compared with it.
    async fn agent_to_agent(&self, report: &mut BrokerReport) -> Result<()> {
        let fleet = format!("{}.a2a", self.id);
        self.create_fleet(&fleet).await?;
        let group = format!("{}.a2a-group", self.id);
        let settings_json =
            serde_json::to_string(&self.settings).map_err(|source| BenchError::Json {
                what: "settings",
                source,
            })?;
        let name = "relay-callee";
        let callee = self.spawn_wrapped(
            &["callee", &settings_json, &fleet, &group, name, RELAY_TYPE],
            name,
            None,
        )?;
        let mut caller = None;
        let outcome = self
            .agent_to_agent_measure(&callee, &fleet, &group, &mut caller, report)
            .await;
        if let Some(caller) = caller
            && let Err(error) = caller.stop().await
        {
            tracing::warn!(error = %chain(&error), "agent-to-agent caller did not stop cleanly");
        }
        let _ = callee.finish(STOP_TIMEOUT).await;
        outcome
    }

    async fn agent_to_agent_measure(
        &self,
        callee: &WorkerProcess,
        fleet: &str,
        group: &str,
        caller_slot: &mut Option<KafkaWorkerAgentRuntime>,
        report: &mut BrokerReport,
    ) -> Result<()> {
        let s = &self.settings;
        let plan = self.plan;
        let (_, spawn_to_ready) = callee.wait_ready(READY_TIMEOUT).await?;
        tracing::info!(elapsed = ?spawn_to_ready, "relay callee ready");
        let caller = s.runtime(fleet, group, &format!("{}-a2a-caller", self.id))?;
        *caller_slot = Some(caller.clone());
        caller
            .start()
            .await
            .map_err(|e| BenchError::runtime("start", e))?;
        wait_until(
            "the caller seeing the relay and echo types",
            READY_TIMEOUT,
            || caller.is_hosted(RELAY_TYPE) && caller.is_hosted(ECHO_TYPE),
        )
        .await?;
        let keys = KeyChoice::Uniform { keys: KEYS };
        let op = runtime_call_to(&caller, s, RELAY_TYPE, keys);
        ensure_warm("agent-to-agent", op.clone(), s.rpc_timeout()).await?;
        let in_flight = plan.variant_in_flight;
        tracing::info!(in_flight, "throughput, agent to agent");
        let mut runs = Vec::new();
        for _ in 0..plan.throughput_repeats.max(1) {
            let counts = || runtime_produced(&caller);
            runs.push(
                self.throughput(in_flight, op.clone(), &[callee], &counts)
                    .await,
            );
        }
        let uniform = report
            .rpc_throughput
            .iter()
            .find(|t| t.in_flight == in_flight)
            .map(|t| &t.runtime);
        let variant = VariantReport::new(in_flight, keys, median_run(runs), uniform);
        report.rpc_agent_to_agent = Some(variant);
        Ok(())
    }

    /// A warm-up, then one measured closed-loop run of `op` with CPU, memory and produce-request sampling of the
    /// `callees`.
    async fn throughput<F, Fut>(
        &self,
        in_flight: usize,
        op: F,
        callees: &[&WorkerProcess],
        caller: &CallerCounts<'_>,
    ) -> ThroughputRun
    where
        F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let plan = self.plan;
        let _ = run_load(plan.warm_up(in_flight), op.clone()).await;
        let cpu = |pids: &[u32]| -> Option<Duration> {
            pids.iter()
                .map(|&pid| procstat::sample(pid).ok().map(|s| s.cpu))
                .sum()
        };
        let callee_pids: Vec<u32> = callees.iter().map(|w| w.pid()).collect();
        let callee_pids = callee_pids.as_slice();
        let produced_before = produced(callees);
        let caller_produced_before = caller();
        let callee_before = cpu(callee_pids);
        let caller_before = procstat::sample_self().ok().map(|s| s.cpu);
        let broker_before = self.broker_cpu.read();
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
        let outcome = run_load(plan.measured(in_flight), op).await;
        sampling.store(false, Ordering::Relaxed);
        let _ = sampler.await;
        let callee_after = cpu(callee_pids);
        let produced_after = produced(callees);
        let caller_produced_after = caller();
        let caller_after = procstat::sample_self().ok().map(|s| s.cpu);
        let broker_after = self.broker_cpu.read();
        let seconds = outcome.window.as_secs_f64();
        let elapsed = outcome.elapsed.as_secs_f64();
        let broker_cpu_percent = match (broker_before, broker_after) {
            (Some(b), Some(a)) if elapsed > 0.0 => {
                Some(round3(a.saturating_sub(b).as_secs_f64() * 100.0 / elapsed))
            }
            _ => None,
        };
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
            broker_cpu_percent,
            "run measured"
        );
        ThroughputRun {
            ops_per_second,
            completed: outcome.completed,
            errors: outcome.errors,
            first_error: outcome.first_error,
            seconds: round3(seconds),
            p50_ms: round3(summary.p50_ms),
            p99_ms: round3(summary.p99_ms),
            callee_cpu_ms_per_1k: per_1k(callee_before, callee_after),
            callee_records_per_request: records_per_request(produced_before, produced_after),
            caller_records_per_request: records_per_request(
                caller_produced_before,
                caller_produced_after,
            ),
            // With the mock cluster in this process, the driver's CPU is mostly the broker's.
            caller_cpu_ms_per_1k: if self.broker.kind() == BrokerKind::Mock {
                None
            } else {
                per_1k(caller_before, caller_after)
            },
            callee_max_rss_mib: (rss > 0).then(|| round3(rss as f64 / 1024.0)),
            broker_cpu_percent,
            all_ops_per_second: vec![ops_per_second],
        }
    }

    /// Throughput with 1, 2, 3... worker processes of `role` sharing the request partitions: `workers` holds the
    /// first one (whose run at this level is `one`); more are started (and left in `workers`).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per series, all of it context"
    )]
    async fn scale_series<F, Fut>(
        &self,
        info: &SpawnInfo,
        workers: &mut Vec<WorkerProcess>,
        role: Role,
        in_flight: usize,
        one: ThroughputRun,
        op: F,
        report: &mut BrokerReport,
    ) -> std::result::Result<Vec<(usize, ReplicaRun)>, (Vec<(usize, ReplicaRun)>, BenchError)>
    where
        F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let base = one.ops_per_second;
        let mut series = vec![(
            1,
            ReplicaRun {
                run: one,
                ratio_to_one: Some(1.0),
                settle_ms: 0.0,
                assignment_changes_during_run: 0,
            },
        )];
        let prefix = match role {
            Role::Callee => "callee",
            Role::RawEcho => "raw-echo",
        };
        for &replicas in self.plan.replicas.iter().filter(|&&r| r > 1) {
            let began = Instant::now();
            while workers.len() < replicas {
                let name = format!("{prefix}-{}", workers.len() + 1);
                tracing::info!(%name, "starting another replica");
                let worker = match self.spawn_role(info, role, &name) {
                    Ok(worker) => worker,
                    Err(error) => return Err((series, error)),
                };
                let ready = worker.wait_ready(READY_TIMEOUT).await;
                workers.push(worker);
                match ready {
                    Ok((fields, _)) if role == Role::Callee => {
                        if let Some(startup) = report.startup.as_mut() {
                            startup
                                .replica_start_ms
                                .push(round3(field_ms(&fields, "start_ms")));
                        }
                    }
                    Ok(_) => {}
                    Err(error) => return Err((series, error)),
                }
            }
            if let Err(error) = self.wait_balanced(workers).await {
                return Err((series, error));
            }
            let settle_ms = round3(millis(began.elapsed()));
            tracing::info!(replicas, settle_ms, prefix, "group settled");
            let running: Vec<&WorkerProcess> = workers.iter().collect();
            let before: Vec<Option<Instant>> =
                workers.iter().map(|w| w.state().assigned_at).collect();
            let run = self
                .throughput(in_flight, op.clone(), &running, &|| None)
                .await;
            let changes = workers
                .iter()
                .zip(&before)
                .filter(|(w, at)| w.state().assigned_at != **at)
                .count();
            series.push((
                replicas,
                ReplicaRun {
                    ratio_to_one: ratio(run.ops_per_second, base).map(round3),
                    run,
                    settle_ms,
                    assignment_changes_during_run: changes,
                },
            ));
        }
        Ok(series)
    }

    /// Waits until the workers own disjoint, non-empty sets of partitions that cover the request topic, unchanged
    /// for half a second.
    async fn wait_balanced(&self, workers: &[WorkerProcess]) -> Result<()> {
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
                think_max_ms: plan.latency_think_max_ms,
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
            think_max_ms: 0,
        },
        op,
    )
    .await
}

/// `samples` latency samples of each of two operations at one in flight, taken in `plan.latency_rounds` rounds that
/// alternate `first` and `second`, so drifting machine load hits both alike.
pub(crate) async fn alternating_latency<A, FA, EA, B, FB, EB>(
    plan: &Plan,
    samples: u64,
    first: &A,
    second: &B,
) -> (LoadOutcome, LoadOutcome)
where
    A: Fn(u64) -> FA + Clone + Send + Sync + 'static,
    FA: Future<Output = std::result::Result<(), EA>> + Send + 'static,
    EA: std::fmt::Display + Send + 'static,
    B: Fn(u64) -> FB + Clone + Send + Sync + 'static,
    FB: Future<Output = std::result::Result<(), EB>> + Send + 'static,
    EB: std::fmt::Display + Send + 'static,
{
    let rounds = plan.latency_rounds.max(1);
    let chunk = LoadPlan {
        in_flight: 1,
        max_ops: samples.div_ceil(rounds),
        max_time: plan.latency_time / u32::try_from(rounds).unwrap_or(1),
        record_latency: true,
        think_max_ms: plan.latency_think_max_ms,
    };
    let (mut a, mut b) = (LoadOutcome::default(), LoadOutcome::default());
    for _ in 0..rounds {
        a.absorb(run_load(chunk, first.clone()).await);
        b.absorb(run_load(chunk, second.clone()).await);
    }
    (a, b)
}

/// The produce requests and records the `workers` reported last (their `status` lines), summed; `None` while one
/// has not reported.
fn produced(workers: &[&WorkerProcess]) -> Option<Produced> {
    let mut total = Produced::default();
    for worker in workers {
        let status = worker.state().status?;
        let field = |name: &str| status.get(name).and_then(|v| v.parse::<u64>().ok());
        total.requests += field("produce_requests")?;
        total.records += field("produced_records")?;
    }
    Some(total)
}

/// Reads what a caller has produced so far ([`Produced`]), `None` when it is not counted.
type CallerCounts<'a> = dyn Fn() -> Option<Produced> + Sync + 'a;

/// What a runtime has produced so far, from its data producer's statistics.
fn runtime_produced(runtime: &KafkaWorkerAgentRuntime) -> Option<Produced> {
    runtime.produce_counts().map(|counts| Produced {
        requests: counts.requests,
        records: counts.records,
    })
}

/// Records per produce request between two [`produced`] readings.
fn records_per_request(before: Option<Produced>, after: Option<Produced>) -> Option<f64> {
    let (before, after) = (before?, after?);
    let requests = after.requests.checked_sub(before.requests)?;
    let records = after.records.checked_sub(before.records)?;
    #[expect(clippy::cast_precision_loss, reason = "a ratio for people")]
    let ratio = (requests > 0).then(|| round3(records as f64 / requests as f64));
    ratio
}

/// Judges the issue's targets against the report.
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
    if let Some(c) = &report.cpu {
        targets.push(target(
            "Callee CPU per 1,000 RPCs ≤ 1.5× the raw echo",
            format!(
                "{} vs {} = {}",
                c.runtime_callee_ms
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.0} ms")),
                c.raw_callee_ms
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.0} ms")),
                c.ratio_callee
                    .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"))
            ),
            c.ratio_callee.map(|r| r <= 1.5),
            "",
        ));
        targets.push(target(
            "Produce requests per answer within 1.5× the raw echo's",
            format!(
                "{} vs {} answers per request = {}",
                c.runtime_records_per_request
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.2}")),
                c.raw_records_per_request
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.2}")),
                c.ratio_produce_requests
                    .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"))
            ),
            c.ratio_produce_requests.map(|r| r <= 1.5),
            "",
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
    let three = report.scale_out.iter().find(|p| p.replicas == 3);
    if let Some(runtime) = three.and_then(|p| p.runtime.as_ref()) {
        let broker = |run: Option<&ReplicaRun>| {
            run.and_then(|r| r.run.broker_cpu_percent)
                .map_or_else(|| "?".to_owned(), |c| format!("{c:.0} %"))
        };
        let one = report
            .scale_out
            .iter()
            .find(|p| p.replicas == 1)
            .and_then(|p| p.runtime.as_ref());
        let raw = three.and_then(|p| p.raw.as_ref());
        let comment = format!(
            "the raw echo scales {} on the same machine; broker CPU {} of one CPU with one runtime replica, {} with \
             three; 2 CPUs run the broker, the caller and every replica{}",
            raw.and_then(|r| r.ratio_to_one)
                .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×")),
            broker(one),
            broker(Some(runtime)),
            if kind == BrokerKind::Mock {
                ", and the mock cluster serves every client from one thread"
            } else {
                ""
            }
        );
        targets.push(target(
            "3 replicas ≥ 2.5× one on throughput (where the broker is not the bottleneck)",
            runtime
                .ratio_to_one
                .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×")),
            runtime.ratio_to_one.map(|r| r >= 2.5),
            &comment,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ops: f64) -> ThroughputRun {
        ThroughputRun {
            ops_per_second: ops,
            all_ops_per_second: vec![ops],
            ..ThroughputRun::default()
        }
    }

    #[test]
    fn the_median_run_is_reported_with_every_repeat() {
        let median = median_run(vec![run(30.0), run(10.0), run(20.0)]);
        assert_eq!(median.ops_per_second, 20.0);
        assert_eq!(median.all_ops_per_second, vec![10.0, 20.0, 30.0]);
    }

    #[test]
    fn records_per_request_compares_two_readings() {
        let reading = |requests, records| Some(Produced { requests, records });
        assert_eq!(
            records_per_request(reading(10, 40), reading(30, 140)),
            Some(5.0)
        );
        assert_eq!(records_per_request(reading(10, 40), reading(10, 40)), None);
        assert_eq!(records_per_request(None, reading(1, 1)), None);
    }

    #[test]
    fn targets_are_judged_against_the_issue_s_thresholds() {
        let settings = Settings::for_broker(BrokerKind::Tansu, "127.0.0.1:1");
        let mut report = BrokerReport {
            broker: "tansu".to_owned(),
            broker_version: "test".to_owned(),
            settings,
            plan: Plan::for_broker(BrokerKind::Tansu, true),
            duration_seconds: 1.0,
            rpc_latency: None,
            rpc_throughput: vec![ThroughputReport {
                in_flight: 128,
                raw: run(1000.0),
                runtime: run(900.0),
                ratio: Some(0.9),
            }],
            rpc_agent_to_agent: Some(VariantReport::new(
                128,
                KeyChoice::Uniform { keys: KEYS },
                run(450.0),
                Some(&run(900.0)),
            )),
            rpc_skewed_keys: Some(VariantReport::new(
                128,
                KeyChoice::Skewed {
                    keys: KEYS,
                    hot: 10,
                    hot_percent: 80,
                },
                run(300.0),
                None,
            )),
            scale_out: Vec::new(),
            publish: Vec::new(),
            gateway: None,
            startup: None,
            memory: Some(MemoryReport {
                runtime_idle_mib: 30.0,
                raw_idle_mib: 10.0,
                runtime_load_mib: None,
                raw_load_mib: None,
                ratio_idle: Some(3.0),
                ratio_load: None,
            }),
            cpu: None,
            targets: Vec::new(),
            notes: Vec::new(),
        };
        report.targets = judge(&report, BrokerKind::Tansu);
        let met: Vec<Option<bool>> = report.targets.iter().map(|t| t.met).collect();
        assert_eq!(met, vec![Some(true), Some(false)]);
        let results = crate::report::Results {
            schema: 1,
            finished_at_unix: 0,
            machine: crate::report::Machine {
                cpus: 2,
                memory_mib: None,
                cpu_model: None,
                kernel: None,
                load_average_start: None,
                load_average_end: None,
                librdkafka: "x".to_owned(),
                profile: "test".to_owned(),
            },
            brokers: vec![report],
            skipped: Vec::new(),
        };
        let markdown = results.markdown();
        assert!(
            markdown.contains("| RPC throughput, 128 in flight | 900/s"),
            "{markdown}"
        );
        assert!(markdown.contains("| Idle RSS ≤ 25 MB |"), "{markdown}");
        assert!(
            markdown.contains("agent to agent (caller → `relay` → `echo`")
                && markdown.contains(
                    "| 450/s (p50 0.00 ms, p99 0.00 ms); 0.50× the uniform-key throughput"
                ),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "| RPC throughput, 128 in flight, skewed keys (80 % of calls on 10 of 1024 agent ids) | 300/s \
                 (p50 0.00 ms, p99 0.00 ms) | – | – |"
            ),
            "{markdown}"
        );
        let json = serde_json::to_value(&results).unwrap();
        let broker = &json["brokers"][0];
        assert_eq!(broker["rpc_agent_to_agent"]["ratio_to_uniform"], 0.5);
        assert_eq!(broker["rpc_agent_to_agent"]["keys"]["kind"], "uniform");
        assert_eq!(broker["rpc_skewed_keys"]["keys"]["hot"], 10);
        assert!(broker["rpc_skewed_keys"]["ratio_to_uniform"].is_null());
        assert_eq!(broker["plan"]["skewed_keys"]["hot_percent"], 80);
    }
}

//! The scale benchmarks behind `just bench-scale`: how a host's memory and CPU grow with the distinct agent ids it
//! served (with and without passivation) and with the agent types it hosts.
//!
//! Each series runs a `bench-host-glibc` or `bench-host-jemalloc` process (the stateful `counter` type, plus idle
//! echo types for the types series) and a caller runtime in the driver, on one broker, and reads the host's
//! `/proc` figures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{AgentId, AgentRuntimeExt as _, SendOptions};
use autogen_kafka_testing::{BrokerKind, TestBroker};
use serde::Serialize;

use crate::error::{BenchError, Result};
use crate::load::{LoadPlan, run_load};
use crate::stats::{LatencySummary, millis, round3};
use crate::worker::WorkerProcess;
use crate::{COUNTER_TYPE, Ping, Pong, Settings, procstat};

/// What to measure.
#[derive(Debug, Clone, Serialize)]
pub struct ScalePlan {
    /// Distinct agent ids served so far at which the host's memory is read.
    pub checkpoints: Vec<u64>,
    /// The idle timeout of the passivating host.
    pub idle_timeout_ms: u64,
    /// Hosted agent type counts of the types series.
    pub types: Vec<u64>,
    /// RPCs of each types-series load.
    pub type_rpcs: u64,
    /// Host processes of the runtimes series, started one after the other.
    pub runtimes: u64,
    /// Concurrent RPCs of every load.
    pub in_flight: usize,
}

impl ScalePlan {
    /// The full plan (1 k to 100 k ids; 1, 4 and 16 types), or a smoke run's.
    #[must_use]
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                checkpoints: vec![500, 2_000],
                idle_timeout_ms: 2_000,
                types: vec![1, 4],
                type_rpcs: 500,
                runtimes: 2,
                in_flight: 32,
            }
        } else {
            Self {
                checkpoints: vec![1_000, 5_000, 20_000, 50_000, 100_000],
                idle_timeout_ms: 2_000,
                types: vec![1, 4, 16],
                type_rpcs: 5_000,
                runtimes: 6,
                in_flight: 64,
            }
        }
    }
}

/// The host's memory after serving `ids` distinct agent ids.
#[derive(Debug, Clone, Serialize)]
pub struct IdsPoint {
    /// Distinct agent ids served so far (one RPC each).
    pub ids: u64,
    /// The host's resident memory right after the last of them answered.
    pub rss_mib: f64,
    /// Memory the host's allocator handed out and did not get back then (jemalloc host only).
    pub allocated_mib: Option<f64>,
    /// Agents active then.
    pub active: Option<u64>,
    /// Latency of the RPCs of this step, each the first message of a new agent id.
    pub first_message: LatencySummary,
    /// RPCs per second of this step.
    pub ops_per_second: f64,
}

/// The host process's memory allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Allocator {
    /// The system's (glibc's malloc): keeps most memory freed below live allocations.
    Glibc,
    /// jemalloc as the global allocator (`bench-host-jemalloc`): returns freed pages to the system.
    Jemalloc,
}

/// One host serving ever more distinct agent ids.
#[derive(Debug, Clone, Serialize)]
pub struct IdsSeries {
    /// Whether idle agents were passivated.
    pub passivation: bool,
    /// The host's allocator.
    pub allocator: Allocator,
    /// The host's `runtime.agent_idle_timeout_ms` (0: never).
    pub idle_timeout_ms: u64,
    /// The host's resident memory once started, before any RPC.
    pub start_rss_mib: f64,
    /// Its allocated memory then (jemalloc host only).
    pub start_allocated_mib: Option<f64>,
    /// One point per checkpoint.
    pub points: Vec<IdsPoint>,
    /// The host's resident memory after the load, once the agents idled past the timeout (and as long for the
    /// host that keeps them).
    pub rss_after_idle_mib: f64,
    /// Allocated memory then (jemalloc host only).
    pub allocated_after_idle_mib: Option<f64>,
    /// Agents active then.
    pub active_after_idle: Option<u64>,
    /// RPCs to the first 1,000 ids again after that idle time: reactivations with passivation, calls to active
    /// agents without.
    pub revisit: LatencySummary,
    /// Agents still active when the host stopped.
    pub active_at_end: Option<u64>,
    /// Failed RPCs.
    pub errors: u64,
}

/// One host with `types` agent types, of which only `counter` gets RPCs.
#[derive(Debug, Clone, Serialize)]
pub struct TypesPoint {
    /// Agent types hosted.
    pub types: u64,
    /// Whether each type had a request topic of its own (`runtime.request_topic_per_type`).
    pub per_type_topics: bool,
    /// The host's `start()`.
    pub start_ms: f64,
    /// CPU of the idle host, per second.
    pub idle_host_cpu_ms_per_s: f64,
    /// Broker CPU while the host and the caller idle, % of one CPU.
    pub idle_broker_cpu_percent: Option<f64>,
    /// Host CPU per 1,000 RPCs under load.
    pub host_cpu_ms_per_1k_rpcs: f64,
    /// Broker CPU under load, % of one CPU.
    pub load_broker_cpu_percent: Option<f64>,
    /// RPC latency under load.
    pub rpc: LatencySummary,
    /// RPCs per second under load.
    pub ops_per_second: f64,
    /// Failed RPCs.
    pub errors: u64,
}

/// The fleet after its `runtimes`-th host process started (all idle, one agent type).
#[derive(Debug, Clone, Serialize)]
pub struct RuntimesPoint {
    /// Host processes running.
    pub runtimes: u64,
    /// The last host's `start()`.
    pub start_ms: f64,
    /// Records written to the registry and runtimes topics per second, all hosts together (heartbeats).
    pub registry_records_per_s: f64,
    /// Broker CPU, % of one CPU.
    pub broker_cpu_percent: Option<f64>,
    /// CPU of all host processes together, per second.
    pub hosts_cpu_ms_per_s: f64,
}

/// A least-squares line through the memory points.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// KiB of host memory per agent id kept active (the host without passivation), fitted over the checkpoints.
    pub kib_per_active_agent: Option<f64>,
    /// KiB of host memory per agent id served and passivated: the passivating jemalloc host after the idle time,
    /// against its start.
    pub kib_per_passivated_agent: Option<f64>,
}

/// Everything `bench-scale` measured on one broker.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    /// The broker kind.
    pub broker: String,
    /// The client settings.
    pub settings: Settings,
    /// The plan.
    pub plan: ScalePlan,
    /// The ids series: without passivation, then with it.
    pub ids: Vec<IdsSeries>,
    /// The types series.
    pub types: Vec<TypesPoint>,
    /// The runtimes series.
    pub runtimes: Vec<RuntimesPoint>,
    /// Per-agent memory, fitted.
    pub fit: Fit,
    /// What failed or was skipped.
    pub notes: Vec<String>,
}

/// Where the host processes come from and log to.
#[derive(Debug, Clone)]
pub struct ScaleEnvironment {
    /// The `bench-worker` executable.
    pub worker_exe: PathBuf,
    /// Directory for host logs.
    pub log_dir: PathBuf,
}

const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// The jemalloc host's allocator settings (`_RJEM_MALLOC_CONF`).
pub const JEMALLOC_CONF: &str = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Waited beyond the idle time before reading the memory left: jemalloc returns freed pages after its 10 s decay.
const AFTER_IDLE_WAIT: Duration = Duration::from_secs(15);

/// Runs every series on `broker`.
pub async fn run(broker: &TestBroker, plan: &ScalePlan, env: &ScaleEnvironment) -> ScaleReport {
    let settings = Settings::for_broker(broker.kind(), broker.bootstrap_servers());
    let scale = Scale {
        broker,
        settings: settings.clone(),
        plan,
        env,
        id: format!("scale{}", std::process::id()),
    };
    let mut notes = Vec::new();
    let mut ids = Vec::new();
    let ids_runs = if plan.checkpoints.is_empty() {
        Vec::new()
    } else {
        vec![
            (0, Allocator::Glibc),
            (plan.idle_timeout_ms, Allocator::Glibc),
            (plan.idle_timeout_ms, Allocator::Jemalloc),
        ]
    };
    for (idle_ms, allocator) in ids_runs {
        match scale.ids_series(idle_ms, allocator).await {
            Ok(series) => ids.push(series),
            Err(error) => notes.push(format!(
                "ids series (idle {idle_ms} ms) failed: {}",
                crate::suite::chain(&error)
            )),
        }
    }
    let mut types = Vec::new();
    for per_type_topics in [false, true] {
        for &count in &plan.types {
            match scale.types_point(count, per_type_topics).await {
                Ok(point) => types.push(point),
                Err(error) => notes.push(format!(
                    "types point ({count} types, per-type topics {per_type_topics}) failed: {}",
                    crate::suite::chain(&error)
                )),
            }
        }
    }
    let runtimes = if plan.runtimes == 0 {
        Vec::new()
    } else {
        match scale.runtimes_series().await {
            Ok(points) => points,
            Err((points, error)) => {
                notes.push(format!(
                    "runtimes series stopped: {}",
                    crate::suite::chain(&error)
                ));
                points
            }
        }
    };
    let slope_of = |passivation: bool| {
        ids.iter()
            .find(|s| s.passivation == passivation && s.allocator == Allocator::Jemalloc)
            .or_else(|| ids.iter().find(|s| s.passivation == passivation))
            .and_then(|series| {
                let points: Vec<(f64, f64)> = std::iter::once((0.0, series.start_rss_mib))
                    .chain(series.points.iter().map(|p| (p.ids as f64, p.rss_mib)))
                    .collect();
                slope(&points).map(|mib_per_id| round3(mib_per_id * 1024.0))
            })
    };
    let fit = Fit {
        kib_per_active_agent: slope_of(false),
        kib_per_passivated_agent: ids
            .iter()
            .find(|s| s.passivation && s.allocator == Allocator::Jemalloc)
            .zip(plan.checkpoints.last())
            .map(|(series, &last)| {
                round3((series.rss_after_idle_mib - series.start_rss_mib) * 1024.0 / last as f64)
            }),
    };
    ScaleReport {
        broker: settings.broker.clone(),
        settings,
        plan: plan.clone(),
        ids,
        types,
        runtimes,
        fit,
        notes,
    }
}

/// The least-squares slope of `points`, if there are two distinct x values.
#[must_use]
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

struct Scale<'a> {
    broker: &'a TestBroker,
    settings: Settings,
    plan: &'a ScalePlan,
    env: &'a ScaleEnvironment,
    id: String,
}

/// The running parts of one measurement.
struct Fleet {
    host: WorkerProcess,
    caller: KafkaWorkerAgentRuntime,
    start_ms: f64,
}

/// A number from the host's last `status` line.
fn status(host: &WorkerProcess, field: &str) -> Option<u64> {
    host.state()
        .status
        .and_then(|fields| fields.get(field).and_then(|v| v.parse().ok()))
}

fn allocated_mib(host: &WorkerProcess) -> Option<f64> {
    status(host, "allocated").map(|bytes| round3(bytes as f64 / 1024.0 / 1024.0))
}

fn rss_mib(pid: u32) -> f64 {
    procstat::sample(pid).map_or(0.0, |s| round3(s.rss_kib as f64 / 1024.0))
}

fn cpu(pid: u32) -> Duration {
    procstat::sample(pid).map_or(Duration::ZERO, |s| s.cpu)
}

impl Scale<'_> {
    fn broker_cpu(&self) -> Option<Duration> {
        match self.broker.kind() {
            BrokerKind::Mock => procstat::threads_cpu(std::process::id(), "rdk:mock").ok(),
            BrokerKind::Tansu => procstat::descendant_named("tansu", 3)
                .and_then(|pid| procstat::sample(pid).ok())
                .map(|s| s.cpu),
            _ => None,
        }
    }

    /// Starts a host with `types` types and idle timeout `idle_ms`, and a caller, on a fleet of their own.
    async fn fleet(
        &self,
        name: &str,
        types: u64,
        idle_ms: u64,
        allocator: Allocator,
        per_type_topics: bool,
    ) -> Result<Fleet> {
        let fleet = format!("{}-{name}", self.id);
        let group = format!("{fleet}-group");
        let settings = Settings {
            request_topic_per_type: per_type_topics,
            ..self.settings.clone()
        };
        let mut topics = Settings::fleet_topics(&fleet);
        if per_type_topics {
            // Made here as the shared ones are (the mock cluster creates topics only this way).
            topics.push(format!("{fleet}.requests.{COUNTER_TYPE}"));
            topics.extend((1..types).map(|i| format!("{fleet}.requests.echo{i}")));
        }
        for topic in topics {
            self.broker
                .create_topic(&topic, self.settings.partitions)
                .await
                .map_err(|source| BenchError::CreateTopic {
                    topic: topic.clone(),
                    partitions: self.settings.partitions,
                    source: Box::new(source),
                })?;
        }
        let host = self.spawn_host(
            &settings, &fleet, &group, name, "host", types, idle_ms, allocator,
        )?;
        let caller = settings.runtime(&fleet, &group, &format!("{fleet}-caller"))?;
        let (ready, started) = tokio::join!(host.wait_ready(READY_TIMEOUT), caller.start());
        let (fields, _) = ready?;
        started.map_err(|e| BenchError::runtime("start", e))?;
        let start_ms = fields
            .get("start_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Ok(Fleet {
            host,
            caller,
            start_ms,
        })
    }

    /// Starts a host process of `fleet` named `instance`, logging as `log_name`.
    #[expect(
        clippy::too_many_arguments,
        reason = "every part of the host's command line"
    )]
    fn spawn_host(
        &self,
        settings: &Settings,
        fleet: &str,
        group: &str,
        log_name: &str,
        instance: &str,
        types: u64,
        idle_ms: u64,
        allocator: Allocator,
    ) -> Result<WorkerProcess> {
        let settings_json = serde_json::to_string(settings).map_err(|source| BenchError::Json {
            what: "settings",
            source,
        })?;
        let (exe, mut args) = match allocator {
            Allocator::Glibc => (
                self.env.worker_exe.with_file_name("bench-host-glibc"),
                Vec::new(),
            ),
            // Through env(1), to hand jemalloc its settings (it reads them before `main`): background
            // threads, freed pages returned after 1 s and at once to the system (no lazy MADV_FREE, which
            // the RSS would still count).
            Allocator::Jemalloc => (
                PathBuf::from("/usr/bin/env"),
                vec![
                    format!("_RJEM_MALLOC_CONF={JEMALLOC_CONF}"),
                    self.env
                        .worker_exe
                        .with_file_name("bench-host-jemalloc")
                        .to_string_lossy()
                        .into_owned(),
                ],
            ),
        };
        args.extend([
            settings_json,
            fleet.to_owned(),
            group.to_owned(),
            instance.to_owned(),
            types.to_string(),
            idle_ms.to_string(),
        ]);
        let log = self
            .env
            .log_dir
            .join(format!("{}-{log_name}.log", self.settings.broker));
        WorkerProcess::spawn(&exe, &args, log_name, &log)
    }

    /// Records in `topics` so far (sum of the partitions' high watermarks).
    async fn records_in(&self, topics: Vec<String>) -> Result<i64> {
        let properties = self
            .settings
            .consumer_properties(&format!("{}-watermarks", self.id))?;
        let partitions = self.settings.partitions;
        tokio::task::spawn_blocking(move || {
            let mut config = rdkafka::ClientConfig::new();
            for (key, value) in &properties {
                config.set(key, value);
            }
            let consumer: rdkafka::consumer::BaseConsumer =
                config.create().map_err(|source| BenchError::Raw {
                    operation: "create watermark reader",
                    source: Box::new(source),
                })?;
            let mut total = 0;
            for topic in &topics {
                for partition in 0..partitions {
                    let (_, high) = rdkafka::consumer::Consumer::fetch_watermarks(
                        &consumer,
                        topic,
                        partition,
                        Duration::from_secs(10),
                    )
                    .map_err(|source| BenchError::Raw {
                        operation: "fetch watermarks",
                        source: Box::new(source),
                    })?;
                    total += high;
                }
            }
            Ok(total)
        })
        .await
        .map_err(|error| BenchError::Worker {
            name: "watermarks".to_owned(),
            operation: "join",
            source: std::io::Error::other(error.to_string()),
        })?
    }

    /// Starts host processes of one fleet one after the other and measures the idle fleet after each.
    async fn runtimes_series(
        &self,
    ) -> std::result::Result<Vec<RuntimesPoint>, (Vec<RuntimesPoint>, BenchError)> {
        let fleet = format!("{}-runtimes", self.id);
        let group = format!("{fleet}-group");
        let mut points = Vec::new();
        for topic in Settings::fleet_topics(&fleet) {
            if let Err(source) = self
                .broker
                .create_topic(&topic, self.settings.partitions)
                .await
            {
                let error = BenchError::CreateTopic {
                    topic: topic.clone(),
                    partitions: self.settings.partitions,
                    source: Box::new(source),
                };
                return Err((points, error));
            }
        }
        let counted = vec![format!("{fleet}.registry"), format!("{fleet}.runtimes")];
        let mut hosts: Vec<WorkerProcess> = Vec::new();
        for n in 1..=self.plan.runtimes {
            tracing::info!(runtimes = n, "runtimes point");
            let name = format!("runtimes-{n}");
            let host = match self.spawn_host(
                &self.settings,
                &fleet,
                &group,
                &name,
                &name,
                1,
                0,
                Allocator::Glibc,
            ) {
                Ok(host) => host,
                Err(error) => return Err((points, error)),
            };
            let ready = host.wait_ready(READY_TIMEOUT).await;
            hosts.push(host);
            let start_ms = match ready {
                Ok((fields, _)) => fields
                    .get("start_ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0),
                Err(error) => return Err((points, error)),
            };
            // Let the group settle, then watch the idle fleet.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let window = Duration::from_secs(5);
            let pids: Vec<u32> = hosts.iter().map(WorkerProcess::pid).collect();
            let hosts_cpu = || pids.iter().map(|&pid| cpu(pid)).sum::<Duration>();
            let before = match self.records_in(counted.clone()).await {
                Ok(records) => records,
                Err(error) => return Err((points, error)),
            };
            let (cpu_before, broker_before, began) =
                (hosts_cpu(), self.broker_cpu(), Instant::now());
            tokio::time::sleep(window).await;
            let elapsed = began.elapsed();
            let hosts_cpu_ms_per_s =
                round3(millis(hosts_cpu().saturating_sub(cpu_before)) / elapsed.as_secs_f64());
            let broker_cpu_percent = broker_before
                .zip(self.broker_cpu())
                .map(|(b, a)| round3(millis(a.saturating_sub(b)) / millis(elapsed) * 100.0));
            let after = match self.records_in(counted.clone()).await {
                Ok(records) => records,
                Err(error) => return Err((points, error)),
            };
            points.push(RuntimesPoint {
                runtimes: n,
                start_ms: round3(start_ms),
                registry_records_per_s: round3((after - before) as f64 / elapsed.as_secs_f64()),
                broker_cpu_percent,
                hosts_cpu_ms_per_s,
            });
        }
        for host in hosts {
            let _ = host.finish(STOP_TIMEOUT).await;
        }
        Ok(points)
    }

    /// `count` RPCs to `counter/k<first + n>`, `in_flight` at a time.
    async fn rpcs(
        &self,
        caller: &KafkaWorkerAgentRuntime,
        first: u64,
        count: u64,
        keys: Option<u64>,
    ) -> crate::LoadOutcome {
        let plan = LoadPlan {
            in_flight: self.plan.in_flight,
            max_ops: count,
            max_time: Duration::from_secs(1_800),
            record_latency: true,
            think_max_ms: 0,
        };
        let caller = caller.clone();
        let pad: Arc<str> = Arc::from(self.settings.padding());
        let timeout = self.settings.rpc_timeout();
        run_load(plan, move |n| {
            let caller = caller.clone();
            let pad = Arc::clone(&pad);
            async move {
                let key = first + keys.map_or(n, |keys| n % keys);
                let id = AgentId::new(COUNTER_TYPE, format!("k{key}"))
                    .map_err(|e| crate::suite::chain(&e))?;
                let ping = Ping {
                    seq: n,
                    pad: pad.to_string(),
                };
                let pong: Pong = caller
                    .send_with(ping, &id, SendOptions::new().with_timeout(timeout))
                    .await
                    .map_err(|e| crate::suite::chain(&e))?;
                if pong.seq == n {
                    Ok(())
                } else {
                    Err(format!("answer {} to request {n}", pong.seq))
                }
            }
        })
        .await
    }

    async fn ids_series(&self, idle_ms: u64, allocator: Allocator) -> Result<IdsSeries> {
        let passivation = idle_ms > 0;
        let name = match (passivation, allocator) {
            (false, Allocator::Glibc) => "ids-keeping",
            (false, Allocator::Jemalloc) => "ids-keeping-jemalloc",
            (true, Allocator::Glibc) => "ids-passivating",
            (true, Allocator::Jemalloc) => "ids-passivating-jemalloc",
        };
        tracing::info!(name, "ids series");
        let fleet = self.fleet(name, 1, idle_ms, allocator, false).await?;
        let pid = fleet.host.pid();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let start_rss_mib = rss_mib(pid);
        let start_allocated_mib = allocated_mib(&fleet.host);
        let mut points = Vec::new();
        let mut served = 0;
        let mut errors = 0;
        for &checkpoint in &self.plan.checkpoints {
            let step = checkpoint.saturating_sub(served);
            let outcome = self.rpcs(&fleet.caller, served, step, None).await;
            errors += outcome.errors;
            served = checkpoint;
            // The host's next status line (every 250 ms) tells what it holds now.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let point = IdsPoint {
                ids: checkpoint,
                rss_mib: rss_mib(pid),
                allocated_mib: allocated_mib(&fleet.host),
                active: status(&fleet.host, "active"),
                ops_per_second: round3(outcome.ops_per_second()),
                first_message: LatencySummary::from_samples(outcome.latencies),
            };
            tracing::info!(
                name,
                ids = checkpoint,
                rss_mib = point.rss_mib,
                p50_ms = point.first_message.p50_ms,
                "checkpoint"
            );
            points.push(point);
        }
        // Past the idle timeout and a few sweeps, and past the last RPC's deadline (the host remembers handled
        // requests until then); the same wait for the host that keeps its agents.
        let idle = Duration::from_millis(self.plan.idle_timeout_ms);
        tokio::time::sleep((idle * 2).max(self.settings.rpc_timeout()) + AFTER_IDLE_WAIT).await;
        let rss_after_idle_mib = rss_mib(pid);
        let allocated_after_idle_mib = allocated_mib(&fleet.host);
        let active_after_idle = status(&fleet.host, "active");
        let revisit_count = served.min(1_000);
        let revisit = self.rpcs(&fleet.caller, 0, revisit_count, None).await;
        errors += revisit.errors;
        if let Some(error) = &revisit.first_error {
            tracing::warn!(name, error, "revisit errors");
        }
        let _ = fleet.caller.stop().await;
        let stats = fleet.host.finish(STOP_TIMEOUT).await;
        Ok(IdsSeries {
            passivation,
            allocator,
            idle_timeout_ms: idle_ms,
            start_rss_mib,
            start_allocated_mib,
            points,
            rss_after_idle_mib,
            allocated_after_idle_mib,
            active_after_idle,
            revisit: LatencySummary::from_samples(revisit.latencies),
            active_at_end: stats
                .as_ref()
                .and_then(|s| s.get("active"))
                .and_then(|v| v.parse().ok()),
            errors,
        })
    }

    async fn types_point(&self, types: u64, per_type_topics: bool) -> Result<TypesPoint> {
        let name = format!(
            "types-{types}{}",
            if per_type_topics { "-own-topics" } else { "" }
        );
        tracing::info!(types, per_type_topics, "types point");
        let fleet = self
            .fleet(&name, types, 0, Allocator::Glibc, per_type_topics)
            .await?;
        let pid = fleet.host.pid();
        // Warm: every key active, connections up.
        let keys = 1_000;
        let _ = self.rpcs(&fleet.caller, 0, keys, None).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let window = Duration::from_secs(3);
        let (host_before, broker_before, began) = (cpu(pid), self.broker_cpu(), Instant::now());
        tokio::time::sleep(window).await;
        let idle_elapsed = began.elapsed();
        let idle_host_cpu_ms_per_s =
            round3(millis(cpu(pid).saturating_sub(host_before)) / idle_elapsed.as_secs_f64());
        let percent = |before: Option<Duration>, elapsed: Duration| {
            before
                .zip(self.broker_cpu())
                .map(|(b, a)| round3(millis(a.saturating_sub(b)) / millis(elapsed) * 100.0))
        };
        let idle_broker_cpu_percent = percent(broker_before, idle_elapsed);

        let (host_before, broker_before, began) = (cpu(pid), self.broker_cpu(), Instant::now());
        let outcome = self
            .rpcs(&fleet.caller, 0, self.plan.type_rpcs, Some(keys))
            .await;
        let load_elapsed = began.elapsed();
        let host_cpu = millis(cpu(pid).saturating_sub(host_before));
        let point = TypesPoint {
            types,
            per_type_topics,
            start_ms: round3(fleet.start_ms),
            idle_host_cpu_ms_per_s,
            idle_broker_cpu_percent,
            host_cpu_ms_per_1k_rpcs: round3(host_cpu * 1000.0 / outcome.completed.max(1) as f64),
            load_broker_cpu_percent: percent(broker_before, load_elapsed),
            ops_per_second: round3(outcome.ops_per_second()),
            errors: outcome.errors,
            rpc: LatencySummary::from_samples(outcome.latencies),
        };
        let _ = fleet.caller.stop().await;
        let _ = fleet.host.finish(STOP_TIMEOUT).await;
        Ok(point)
    }
}

/// Writes `report` as `scale.json` into `out`.
///
/// # Errors
///
/// [`BenchError::WriteResults`] or [`BenchError::Json`] when it cannot be written.
pub fn write_json(report: &[ScaleReport], out: &Path) -> Result<PathBuf> {
    let path = out.join("scale.json");
    let text = serde_json::to_string_pretty(report).map_err(|source| BenchError::Json {
        what: "scale report",
        source,
    })?;
    std::fs::write(&path, text).map_err(|source| BenchError::WriteResults {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// How a series is named in tables and charts.
#[must_use]
pub fn series_label(series: &IdsSeries) -> String {
    let allocator = match series.allocator {
        Allocator::Glibc => "glibc",
        Allocator::Jemalloc => "jemalloc",
    };
    if series.passivation {
        format!(
            "passivated after {} s idle, {allocator}",
            series.idle_timeout_ms / 1000
        )
    } else {
        format!("never passivated, {allocator}")
    }
}

/// A Markdown summary of `report`.
#[must_use]
pub fn markdown(report: &ScaleReport) -> String {
    let mut md = format!("### Scale on {}\n\n", report.broker);
    if !report.ids.is_empty() {
        md.push_str("| host | ids | RSS MiB | allocated MiB | active agents | first-message p50 ms | p99 ms | RPC/s |\n|---|---|---|---|---|---|---|---|\n");
    }
    for series in &report.ids {
        let label = series_label(series);
        let mib = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
        let count = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        md.push_str(&format!(
            "| {label} | 0 | {:.1} | {} | 0 | – | – | – |\n",
            series.start_rss_mib,
            mib(series.start_allocated_mib)
        ));
        for p in &series.points {
            md.push_str(&format!(
                "| {label} | {} | {:.1} | {} | {} | {:.2} | {:.2} | {:.0} |\n",
                p.ids,
                p.rss_mib,
                mib(p.allocated_mib),
                count(p.active),
                p.first_message.p50_ms,
                p.first_message.p99_ms,
                p.ops_per_second
            ));
        }
        md.push_str(&format!(
            "| {label}, idle | – | {:.1} | {} | {} | revisit p50 {:.2} | p99 {:.2} | – |\n",
            series.rss_after_idle_mib,
            mib(series.allocated_after_idle_mib),
            count(series.active_after_idle),
            series.revisit.p50_ms,
            series.revisit.p99_ms,
        ));
    }
    if !report.types.is_empty() {
        md.push_str("\n| types | request topics | start ms | idle host CPU ms/s | idle broker CPU % | host CPU ms per 1k RPCs | load broker CPU % | RPC p50 ms | RPC/s |\n|---|---|---|---|---|---|---|---|---|\n");
    }
    for t in &report.types {
        let pct = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.1} | {} | {:.0} | {} | {:.2} | {:.0} |\n",
            t.types,
            if t.per_type_topics {
                "one per type"
            } else {
                "shared"
            },
            t.start_ms,
            t.idle_host_cpu_ms_per_s,
            pct(t.idle_broker_cpu_percent),
            t.host_cpu_ms_per_1k_rpcs,
            pct(t.load_broker_cpu_percent),
            t.rpc.p50_ms,
            t.ops_per_second
        ));
    }
    if !report.runtimes.is_empty() {
        md.push_str("\n| runtimes | start ms (last) | registry records/s | broker CPU % | hosts CPU ms/s |\n|---|---|---|---|---|\n");
    }
    for r in &report.runtimes {
        md.push_str(&format!(
            "| {} | {:.0} | {:.1} | {} | {:.1} |\n",
            r.runtimes,
            r.start_ms,
            r.registry_records_per_s,
            r.broker_cpu_percent
                .map_or_else(|| "–".to_owned(), |v| format!("{v:.1}")),
            r.hosts_cpu_ms_per_s
        ));
    }
    md.push_str(&format!(
        "\nFit: {} KiB per active agent, {} KiB per passivated agent.\n",
        report
            .fit
            .kib_per_active_agent
            .map_or_else(|| "?".to_owned(), |v| format!("{v:.2}")),
        report
            .fit
            .kib_per_passivated_agent
            .map_or_else(|| "?".to_owned(), |v| format!("{v:.2}"))
    ));
    for note in &report.notes {
        md.push_str(&format!("\nNote: {note}\n"));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn the_slope_of_a_line_is_its_gradient() {
        let points = [(0.0, 10.0), (1_000.0, 15.0), (2_000.0, 20.0)];
        let gradient = slope(&points).unwrap_or_default();
        assert!((gradient - 0.005).abs() < 1e-12, "{gradient}");
        assert_eq!(slope(&[(1.0, 2.0), (1.0, 3.0)]), None);
    }
}

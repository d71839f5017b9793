//! The fault harness: a fleet of `chaos-host` processes under load while a fault schedule runs, with the
//! fleet's guarantees checked at the end. See `docs/reliability.md`.
//!
//! `chaos [--duration <secs>] [--bounded] [--seed <n>] [--rpc-timeout <secs>] [--reply-grace <secs>]
//! [--settle <secs>] [--workers <n>] [--pub-interval-ms <ms>] [--host-bin <path>] [--log-dir <path>]`
//!
//! The broker comes from `autogen_kafka_testing::TestBroker::start()` (the mock cluster unless
//! `AUTOGEN_KAFKA_TEST_BROKER` or `KAFKA_BOOTSTRAP_SERVERS` say otherwise). The summary goes to stdout, logs to
//! stderr and the hosts' logs to `--log-dir`. Exit status: 0 when every invariant held, 1 when one was violated,
//! 2 when the harness itself failed.
#![expect(clippy::print_stdout, reason = "the summary is the harness's output")]

#[path = "../chaos_messages.rs"]
mod chaos_messages;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{
    AgentId, AgentRuntime as _, AgentRuntimeExt as _, AnyMessage, CancellationToken,
    PublishOptions, SendOptions, TopicId,
};
use autogen_kafka_integration_tests::{Add, News, Total, create_fleet_topics, worker_for};
use autogen_kafka_testing::rdkafka::consumer::{BaseConsumer, Consumer as _};
use autogen_kafka_testing::rdkafka::message::{Headers as _, Message as _};
use autogen_kafka_testing::rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use autogen_kafka_testing::rdkafka::{Offset, TopicPartitionList};
use autogen_kafka_testing::{BrokerKind, TestBroker, unique_group, unique_topic};
use chaos_messages::{Relay, Relayed};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a host may take from spawn to `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a graceful stop may take before the host is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(40);
/// A publication is owed to a host whose `ready` line came at least this long before it was published (the
/// publisher's view of subscriptions lags by up to the fleet reader's fetch wait, 100 ms).
const SUBSCRIPTION_MARGIN: Duration = Duration::from_secs(2);
/// An RPC may end this long after its deadline (invariant a).
const DEADLINE_SLACK: Duration = Duration::from_secs(1);
/// An RPC not ended this long after its deadline counts as hung.
const HANG_MARGIN: Duration = Duration::from_secs(10);
/// The steady hosts (`h1`…`h3`); `h4` joins and leaves.
const HOSTS: [&str; 3] = ["h1", "h2", "h3"];
/// Counter keys per load worker.
const KEYS_PER_WORKER: usize = 4;
/// Topic sources of the publications.
const SOURCES: u64 = 8;
/// Load without faults at the end of the schedule, so late publications are owed to every host.
const QUIET_END: Duration = Duration::from_secs(10);
/// How long the 4th replica serves before it leaves.
const JOIN_HOLD: Duration = Duration::from_secs(6);
/// Pause between two faults.
const FAULT_GAP: Duration = Duration::from_secs(2);
/// Evidence lines kept per invariant.
const EVIDENCE: usize = 12;

// ---------------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Options {
    duration: Duration,
    bounded: bool,
    seed: u64,
    rpc_timeout: Duration,
    reply_grace: Duration,
    settle: Duration,
    workers: usize,
    pub_interval: Duration,
    host_bin: PathBuf,
    log_dir: PathBuf,
}

const USAGE: &str = "usage: chaos [--duration <secs>] [--bounded] [--seed <n>] [--rpc-timeout <secs>] \
[--reply-grace <secs>] [--settle <secs>] [--workers <n>] [--pub-interval-ms <ms>] [--host-bin <path>] \
[--log-dir <path>]";

fn parse_options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    let mut duration = None;
    let mut options = Options {
        duration: Duration::from_secs(120),
        bounded: false,
        seed: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
        rpc_timeout: Duration::from_secs(5),
        reply_grace: Duration::from_secs(75),
        settle: Duration::from_secs(15),
        workers: 6,
        pub_interval: Duration::from_millis(100),
        host_bin: exe.with_file_name(format!("chaos-host{}", std::env::consts::EXE_SUFFIX)),
        log_dir: PathBuf::from("target/chaos"),
    };
    let number = |flag: &str, value: Option<String>| -> Result<u64, String> {
        value
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?
            .parse()
            .map_err(|e| format!("{flag}: {e}\n{USAGE}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--duration" => duration = Some(Duration::from_secs(number(&arg, args.next())?)),
            "--bounded" => options.bounded = true,
            "--seed" => options.seed = number(&arg, args.next())?,
            "--rpc-timeout" => {
                options.rpc_timeout = Duration::from_secs(number(&arg, args.next())?);
            }
            "--reply-grace" => {
                options.reply_grace = Duration::from_secs(number(&arg, args.next())?);
            }
            "--settle" => options.settle = Duration::from_secs(number(&arg, args.next())?),
            "--workers" => {
                options.workers =
                    usize::try_from(number(&arg, args.next())?).map_err(|e| e.to_string())?;
            }
            "--pub-interval-ms" => {
                options.pub_interval = Duration::from_millis(number(&arg, args.next())?);
            }
            "--host-bin" => {
                options.host_bin = args
                    .next()
                    .ok_or_else(|| format!("--host-bin needs a value\n{USAGE}"))?
                    .into();
            }
            "--log-dir" => {
                options.log_dir = args
                    .next()
                    .ok_or_else(|| format!("--log-dir needs a value\n{USAGE}"))?
                    .into();
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    options.duration = duration.unwrap_or(if options.bounded {
        Duration::from_secs(75)
    } else {
        Duration::from_secs(120)
    });
    if options.workers == 0 {
        return Err("--workers must be at least 1".to_owned());
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------------------------------
// What the hosts report
// ---------------------------------------------------------------------------------------------------------------

/// How a host process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndKind {
    Killed,
    Stopped,
    /// Exited on its own (a crash of the host, not a fault we injected).
    Exited,
}

/// One run of a host process.
#[derive(Debug)]
struct Incarnation {
    slot: String,
    instance: String,
    ready: Option<Instant>,
    ended: Option<(Instant, EndKind)>,
    subscriptions: Vec<String>,
}

/// A publication received by a host: `pub <id> <agent id>`.
#[derive(Debug)]
struct Receipt {
    publication: u64,
    agent_type: String,
    incarnation: usize,
    at: Instant,
}

#[derive(Debug, Default)]
struct Reports {
    incarnations: Vec<Incarnation>,
    receipts: Vec<Receipt>,
    /// `late <call> <agent id> <ms>` lines: a request executed after its deadline.
    late_executions: Vec<String>,
    /// `commit-failed <total>` lines: when an incarnation's consumers had an offset commit refused or failed.
    failed_commits: Vec<(usize, Instant)>,
}

type Shared = Arc<Mutex<Reports>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Reports> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Applies one stdout line of incarnation `index`.
fn apply_line(shared: &Shared, index: usize, line: &str) {
    let now = Instant::now();
    let mut reports = lock(shared);
    let mut words = line.split_whitespace();
    match words.next() {
        Some("ready") => {
            if let Some(incarnation) = reports.incarnations.get_mut(index) {
                incarnation.ready = Some(now);
            }
        }
        Some("sub") => {
            if let Some(incarnation) = reports.incarnations.get_mut(index) {
                incarnation.subscriptions.push(line.to_owned());
            }
        }
        Some("pub") => {
            let publication = words
                .next()
                .and_then(|w| w.strip_prefix('p'))
                .and_then(|n| n.parse().ok());
            let agent_type = words.next().and_then(|id| id.split('/').next());
            if let (Some(publication), Some(agent_type)) = (publication, agent_type) {
                let agent_type = agent_type.to_owned();
                reports.receipts.push(Receipt {
                    publication,
                    agent_type,
                    incarnation: index,
                    at: now,
                });
            }
        }
        Some("commit-failed") => reports.failed_commits.push((index, now)),
        Some("late") => {
            let slot = reports
                .incarnations
                .get(index)
                .map(|i| i.instance.clone())
                .unwrap_or_default();
            reports.late_executions.push(format!("{line} (on {slot})"));
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Host processes
// ---------------------------------------------------------------------------------------------------------------

struct HostProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    incarnation: usize,
}

/// The host processes. Dropping it kills every process still running (also when the driver panics).
struct Fleet {
    processes: BTreeMap<String, HostProcess>,
    shared: Shared,
    host_bin: PathBuf,
    log_dir: PathBuf,
    args: [String; 4],
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for (slot, process) in &mut self.processes {
            if matches!(process.child.try_wait(), Ok(None)) {
                tracing::warn!(slot, "killing a host left running");
                let _ = process.child.kill();
            }
            let _ = process.child.wait();
        }
    }
}

impl Fleet {
    /// [`Fleet::spawn`] for a host that replaces or joins running ones: a start that fails (seen on Tansu: a
    /// request consumer's group did not assign it partitions within the startup timeout) is tried once more, as
    /// an orchestrator would restart the pod. Returns a note for the fault's detail, empty when the first start
    /// worked.
    async fn spawn_restarting(&mut self, slot: &str, instance: String) -> Result<String, BoxError> {
        match self.spawn(slot, instance.clone()).await {
            Ok(()) => Ok(String::new()),
            Err(first) => {
                tracing::warn!(slot, error = %first, "host did not start; starting it once more");
                self.spawn(slot, instance).await?;
                Ok(format!(" (its first start failed: {first})"))
            }
        }
    }

    /// Starts host `slot` with `instance` as its instance id and waits for its `ready` line.
    async fn spawn(&mut self, slot: &str, instance: String) -> Result<(), BoxError> {
        if self.processes.contains_key(slot) {
            return Err(format!("host {slot} is already running").into());
        }
        let index = {
            let mut reports = lock(&self.shared);
            reports.incarnations.push(Incarnation {
                slot: slot.to_owned(),
                instance: instance.clone(),
                ready: None,
                ended: None,
                subscriptions: Vec::new(),
            });
            reports.incarnations.len() - 1
        };
        let log = self
            .log_dir
            .join(format!("{index:02}-{slot}-{instance}.log"));
        let stderr = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(&self.host_bin)
            .args(&self.args)
            .args([slot, instance.as_str()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", self.host_bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let shared = Arc::clone(&self.shared);
        std::thread::Builder::new()
            .name(format!("read-{slot}-{index}"))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    apply_line(&shared, index, &line);
                }
            })?;
        let stdin = child.stdin.take();
        self.processes.insert(
            slot.to_owned(),
            HostProcess {
                child,
                stdin,
                incarnation: index,
            },
        );
        tracing::info!(slot, instance, index, "host spawned");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if lock(&self.shared)
                .incarnations
                .get(index)
                .is_some_and(|i| i.ready.is_some())
            {
                tracing::info!(slot, instance, "host ready");
                return Ok(());
            }
            let exited = self
                .processes
                .get_mut(slot)
                .map(|p| p.child.try_wait())
                .transpose()?
                .flatten();
            if let Some(status) = exited {
                self.finish(slot, EndKind::Exited);
                return Err(format!(
                    "host {slot} ({instance}) exited before ready: {status}; log {}",
                    log.display()
                )
                .into());
            }
            if Instant::now() >= deadline {
                self.kill(slot).await?;
                return Err(format!(
                    "host {slot} ({instance}) not ready within {READY_TIMEOUT:?}; log {}",
                    log.display()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Records the end of `slot`'s process and forgets it.
    fn finish(&mut self, slot: &str, kind: EndKind) {
        if let Some(process) = self.processes.remove(slot) {
            let mut reports = lock(&self.shared);
            if let Some(incarnation) = reports.incarnations.get_mut(process.incarnation) {
                incarnation.ended = Some((Instant::now(), kind));
            }
        }
    }

    /// `kill -9`.
    async fn kill(&mut self, slot: &str) -> Result<(), BoxError> {
        let process = self
            .processes
            .get_mut(slot)
            .ok_or_else(|| format!("no host {slot}"))?;
        process.child.kill()?;
        // The kill is immediate; the reap takes a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while process.child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                return Err(format!("host {slot} did not die after SIGKILL").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.finish(slot, EndKind::Killed);
        tracing::info!(slot, "host killed (SIGKILL)");
        Ok(())
    }

    /// Closes `slot`'s stdin and waits for it to stop; kills it after [`STOP_TIMEOUT`]. Returns how long the stop
    /// took, or `None` when it had to be killed.
    async fn stop(&mut self, slot: &str) -> Result<Option<Duration>, BoxError> {
        let started = Instant::now();
        let process = self
            .processes
            .get_mut(slot)
            .ok_or_else(|| format!("no host {slot}"))?;
        drop(process.stdin.take());
        while process.child.try_wait()?.is_none() {
            if started.elapsed() >= STOP_TIMEOUT {
                tracing::error!(slot, "graceful stop timed out; killing");
                self.kill(slot).await?;
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.finish(slot, EndKind::Stopped);
        tracing::info!(slot, took = ?started.elapsed(), "host stopped");
        Ok(Some(started.elapsed()))
    }

    fn instance_of(&self, slot: &str) -> Option<String> {
        let process = self.processes.get(slot)?;
        lock(&self.shared)
            .incarnations
            .get(process.incarnation)
            .map(|i| i.instance.clone())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FaultKind {
    KillNewId,
    KillSameId,
    GracefulRestart,
    JoinLeave,
    BrokerDown,
    RequestErrors,
    SlowBroker,
}

impl FaultKind {
    const fn name(self) -> &'static str {
        match self {
            Self::KillNewId => "kill -9 + restart (new instance id)",
            Self::KillSameId => "kill -9 + restart (same instance id)",
            Self::GracefulRestart => "graceful stop + restart",
            Self::JoinLeave => "4th replica joins under load, leaves",
            Self::BrokerDown => "broker down 3 s (mock)",
            Self::RequestErrors => "produce/fetch/commit request errors (mock)",
            Self::SlowBroker => "broker round-trip +400 ms for 4 s (mock)",
        }
    }

    const fn crashes(self) -> bool {
        matches!(self, Self::KillNewId | Self::KillSameId)
    }

    /// A broker fault: while it lasts, offset commits may not reach the broker, so records handled then can be
    /// handled again by their partition's next owner (at-least-once).
    const fn blocks_commits(self) -> bool {
        matches!(
            self,
            Self::BrokerDown | Self::RequestErrors | Self::SlowBroker
        )
    }
}

#[derive(Debug, Clone)]
struct Fault {
    kind: FaultKind,
    slot: Option<String>,
    /// The instance killed with `kill -9`.
    killed: Option<String>,
    start: Instant,
    end: Instant,
    detail: String,
}

async fn inject(
    kind: FaultKind,
    fleet: &mut Fleet,
    broker: &TestBroker,
    rng: &mut fastrand::Rng,
    last_victim: &mut Option<String>,
) -> Result<Fault, BoxError> {
    let start = Instant::now();
    let candidates: Vec<&str> = HOSTS
        .iter()
        .copied()
        .filter(|h| last_victim.as_deref() != Some(*h))
        .collect();
    let victim = candidates
        .get(rng.usize(..candidates.len()))
        .copied()
        .unwrap_or("h1");
    let mut slot = None;
    let mut killed = None;
    let detail = match kind {
        FaultKind::KillNewId | FaultKind::KillSameId => {
            let old = fleet
                .instance_of(victim)
                .ok_or_else(|| format!("{victim} not running"))?;
            fleet.kill(victim).await?;
            killed = Some(old.clone());
            tokio::time::sleep(Duration::from_secs(1)).await;
            let new = if kind == FaultKind::KillSameId {
                old.clone()
            } else {
                unique_topic(victim)
            };
            let retried = fleet.spawn_restarting(victim, new.clone()).await?;
            slot = Some(victim.to_owned());
            *last_victim = Some(victim.to_owned());
            format!(
                "{victim}: {old} killed, {new} ready after {:.1?}{retried}",
                start.elapsed()
            )
        }
        FaultKind::GracefulRestart => {
            let old = fleet
                .instance_of(victim)
                .ok_or_else(|| format!("{victim} not running"))?;
            let took = fleet.stop(victim).await?;
            let new = unique_topic(victim);
            let retried = fleet.spawn_restarting(victim, new.clone()).await?;
            slot = Some(victim.to_owned());
            *last_victim = Some(victim.to_owned());
            match took {
                Some(took) => format!(
                    "{victim}: {old} stopped in {took:.1?}, {new} ready after {:.1?}{retried}",
                    start.elapsed()
                ),
                None => format!(
                    "{victim}: {old} did NOT stop within {STOP_TIMEOUT:?} (killed), {new} ready"
                ),
            }
        }
        FaultKind::JoinLeave => {
            let instance = unique_topic("h4");
            let retried = fleet.spawn_restarting("h4", instance.clone()).await?;
            let joined = start.elapsed();
            tokio::time::sleep(JOIN_HOLD).await;
            let took = fleet.stop("h4").await?;
            slot = Some("h4".to_owned());
            format!(
                "h4: {instance} ready after {joined:.1?}{retried}, served {JOIN_HOLD:?}, stop took {took:.1?}"
            )
        }
        FaultKind::BrokerDown => {
            let cluster = broker.mock_cluster().ok_or("not a mock broker")?;
            cluster.broker_down(-1).await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            cluster.broker_up(-1).await?;
            "every broker down for 3 s".to_owned()
        }
        FaultKind::RequestErrors => {
            let cluster = broker.mock_cluster().ok_or("not a mock broker")?;
            let produce = [
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            ];
            let fetch = [
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
            ];
            let commit = [
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            ];
            cluster
                .request_errors(RDKafkaApiKey::Produce, &produce)
                .await?;
            cluster.request_errors(RDKafkaApiKey::Fetch, &fetch).await?;
            cluster
                .request_errors(RDKafkaApiKey::OffsetCommit, &commit)
                .await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            for key in [
                RDKafkaApiKey::Produce,
                RDKafkaApiKey::Fetch,
                RDKafkaApiKey::OffsetCommit,
            ] {
                cluster.clear_request_errors(key).await?;
            }
            format!(
                "{} produce, {} fetch, {} commit errors queued for 3 s",
                produce.len(),
                fetch.len(),
                commit.len()
            )
        }
        FaultKind::SlowBroker => {
            let cluster = broker.mock_cluster().ok_or("not a mock broker")?;
            cluster
                .broker_round_trip_time(-1, Duration::from_millis(400))
                .await?;
            tokio::time::sleep(Duration::from_secs(4)).await;
            cluster.broker_round_trip_time(-1, Duration::ZERO).await?;
            "every response delayed 400 ms for 4 s".to_owned()
        }
    };
    tracing::info!(fault = kind.name(), detail, "fault done");
    Ok(Fault {
        kind,
        slot,
        killed,
        start,
        end: Instant::now(),
        detail,
    })
}

/// How long a fault usually takes, to decide whether another fits before the quiet end.
const fn estimate(kind: FaultKind) -> Duration {
    Duration::from_secs(match kind {
        FaultKind::KillNewId | FaultKind::KillSameId | FaultKind::GracefulRestart => 10,
        FaultKind::JoinLeave => 16,
        FaultKind::BrokerDown | FaultKind::RequestErrors => 4,
        FaultKind::SlowBroker => 5,
    })
}

/// Runs faults until `until` (bounded: each kind exactly once). Returns the faults done.
async fn schedule(
    fleet: &mut Fleet,
    broker: &TestBroker,
    options: &Options,
    until: Instant,
) -> Result<Vec<Fault>, BoxError> {
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let mut kinds = vec![
        FaultKind::KillNewId,
        FaultKind::KillSameId,
        FaultKind::GracefulRestart,
        FaultKind::JoinLeave,
    ];
    if broker.kind() == BrokerKind::Mock {
        kinds.extend([
            FaultKind::BrokerDown,
            FaultKind::RequestErrors,
            FaultKind::SlowBroker,
        ]);
    }
    let mut faults = Vec::new();
    let mut last_victim = None;
    tokio::time::sleep(Duration::from_secs(5)).await;
    'rounds: loop {
        rng.shuffle(&mut kinds);
        for &kind in &kinds {
            if !options.bounded && Instant::now() + estimate(kind) > until {
                break 'rounds;
            }
            tracing::info!(fault = kind.name(), "injecting");
            faults.push(inject(kind, fleet, broker, &mut rng, &mut last_victim).await?);
            tokio::time::sleep(FAULT_GAP).await;
        }
        if options.bounded {
            break;
        }
    }
    Ok(faults)
}

// ---------------------------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Outcome {
    Answered {
        counter_total: u64,
        counter_runtime: String,
        relay: Option<(u64, String)>,
    },
    Failed {
        kind: String,
        text: String,
    },
    Hung,
}

#[derive(Debug, Clone)]
struct Call {
    id: String,
    relay: bool,
    counter: String,
    relay_key: String,
    started: Instant,
    elapsed: Duration,
    outcome: Outcome,
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn failed(error: autogen_kafka::core::CoreError) -> Outcome {
    let error = autogen_kafka::Error::from(error);
    Outcome::Failed {
        kind: format!("{:?}", error.kind()),
        text: error.to_string(),
    }
}

/// One load worker: sequential calls to its own keys (so each agent id's answers are ordered in time).
async fn rpc_worker(
    caller: KafkaWorkerAgentRuntime,
    worker: usize,
    seed: u64,
    timeout: Duration,
    stop: CancellationToken,
) -> Vec<Call> {
    let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(worker as u64 * 7919));
    let mut calls = Vec::new();
    let mut n = 0_u64;
    while !stop.is_cancelled() {
        n += 1;
        let key = rng.usize(..KEYS_PER_WORKER);
        let counter = format!("w{worker}c{key}");
        let relay_key = format!("w{worker}r{key}");
        let relay = rng.u8(..10) < 4;
        let id = format!("w{worker}-{n}");
        let options = SendOptions::new().with_timeout(timeout);
        let started = Instant::now();
        let outcome = if relay {
            let message = Relay {
                call: id.clone(),
                counter_key: counter.clone(),
                deadline_ms: epoch_ms() + u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            };
            match AgentId::new("relay", relay_key.as_str()) {
                Ok(target) => {
                    let call = caller.send_with::<Relay, Relayed>(message, &target, options);
                    match tokio::time::timeout(timeout + HANG_MARGIN, call).await {
                        Ok(Ok(answer)) => Outcome::Answered {
                            counter_total: answer.counter_total,
                            counter_runtime: answer.counter_runtime,
                            relay: Some((answer.relay_total, answer.relay_runtime)),
                        },
                        Ok(Err(error)) => failed(error),
                        Err(_) => Outcome::Hung,
                    }
                }
                Err(error) => failed(error),
            }
        } else {
            match AgentId::new("counter", counter.as_str()) {
                Ok(target) => {
                    let call = caller.send_with::<Add, Total>(Add { by: 1 }, &target, options);
                    match tokio::time::timeout(timeout + HANG_MARGIN, call).await {
                        Ok(Ok(total)) => Outcome::Answered {
                            counter_total: total.total,
                            counter_runtime: total.runtime,
                            relay: None,
                        },
                        Ok(Err(error)) => failed(error),
                        Err(_) => Outcome::Hung,
                    }
                }
                Err(error) => failed(error),
            }
        };
        calls.push(Call {
            id,
            relay,
            counter,
            relay_key,
            started,
            elapsed: started.elapsed(),
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    calls
}

#[derive(Debug, Clone)]
struct Publication {
    id: u64,
    started: Instant,
    error: Option<String>,
}

async fn publisher(
    caller: KafkaWorkerAgentRuntime,
    interval: Duration,
    stop: CancellationToken,
) -> Vec<Publication> {
    let mut publications = Vec::new();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut id = 0_u64;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        id += 1;
        let started = Instant::now();
        let error = match TopicId::new("news", format!("s{}", id % SOURCES)) {
            Ok(topic) => {
                // The message id names the publication in every fanned-out record (`p<id>:<recipient>`).
                let publish = caller.publish_message(
                    AnyMessage::new(News {
                        headline: format!("p{id}"),
                    }),
                    topic,
                    PublishOptions::new().with_message_id(format!("p{id}")),
                );
                match tokio::time::timeout(Duration::from_secs(15), publish).await {
                    Ok(Ok(())) => None,
                    Ok(Err(error)) => Some(error.to_string()),
                    Err(_) => Some("publish did not return within 15 s".to_owned()),
                }
            }
            Err(error) => Some(error.to_string()),
        };
        publications.push(Publication { id, started, error });
    }
    publications
}

// ---------------------------------------------------------------------------------------------------------------
// Broker-side observations
// ---------------------------------------------------------------------------------------------------------------

/// The reply topics (`<fleet>.responses.<instance id>`) on the broker.
async fn reply_topics(broker: &TestBroker, prefix: &str) -> Result<BTreeSet<String>, BoxError> {
    let consumer: BaseConsumer = broker.client_config().create()?;
    let prefix = prefix.to_owned();
    tokio::task::spawn_blocking(move || {
        let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
        Ok(metadata
            .topics()
            .iter()
            .filter_map(|t| t.name().strip_prefix(&prefix).map(ToOwned::to_owned))
            .collect())
    })
    .await?
}

/// Reads `topic` from its beginning to the end it had when called, handing each record to `visit`.
async fn scan_topic<S, F>(
    broker: &TestBroker,
    topic: &str,
    mut state: S,
    mut visit: F,
) -> Result<S, BoxError>
where
    S: Send + 'static,
    F: FnMut(&mut S, &autogen_kafka_testing::rdkafka::message::BorrowedMessage<'_>)
        + Send
        + 'static,
{
    let consumer: BaseConsumer = broker
        .consumer_config(&unique_group("chaos-scan"))
        .create()?;
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
        let mut assignment = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for t in metadata.topics() {
            for p in t.partitions() {
                let (_, high) =
                    consumer.fetch_watermarks(&topic, p.id(), Duration::from_secs(10))?;
                if high > 0 {
                    assignment.add_partition_offset(&topic, p.id(), Offset::Beginning)?;
                    ends.insert(p.id(), high);
                }
            }
        }
        if ends.is_empty() {
            return Ok(state);
        }
        consumer.assign(&assignment)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ends.is_empty() {
            if Instant::now() >= deadline {
                return Err(format!("reading {topic} to its end took more than 60 s").into());
            }
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = message?;
            visit(&mut state, &message);
            if ends
                .get(&message.partition())
                .is_some_and(|&end| message.offset() + 1 >= end)
            {
                ends.remove(&message.partition());
            }
        }
        Ok(state)
    })
    .await?
}

fn header<'a>(
    message: &'a autogen_kafka_testing::rdkafka::message::BorrowedMessage<'_>,
    name: &str,
) -> Option<&'a [u8]> {
    message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
}

/// Counts the dead-letter records by `ak_dlq_kind`.
async fn dead_letters(broker: &TestBroker, topic: &str) -> Result<BTreeMap<String, u64>, BoxError> {
    scan_topic(
        broker,
        topic,
        BTreeMap::new(),
        |kinds: &mut BTreeMap<String, u64>, message| {
            let kind = header(message, "ak_dlq_kind").map_or_else(
                || "?".to_owned(),
                |v| String::from_utf8_lossy(v).into_owned(),
            );
            *kinds.entry(kind).or_insert(0) += 1;
        },
    )
    .await
}

/// The fanned-out publication records on the request topic: how many per (publication, recipient), the
/// recipient being a host slot (`inbox_<slot>`) or `desk`.
type FannedOut = HashMap<(u64, String), usize>;

async fn fanned_out(broker: &TestBroker, topic: &str) -> Result<FannedOut, BoxError> {
    scan_topic(
        broker,
        topic,
        FannedOut::new(),
        |records: &mut FannedOut, message| {
            if header(message, "ak_kind") != Some(b"publish".as_slice()) {
                return;
            }
            let (Some(key), Some(value)) = (message.key(), message.payload()) else {
                return;
            };
            let (key, value) = (String::from_utf8_lossy(key), String::from_utf8_lossy(value));
            // The request id is `p<id>:<recipient>`.
            let Some(at) = value.find(&format!(":{key}\"")) else {
                return;
            };
            let digits: String = value[..at]
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .collect();
            let Ok(id) = digits.chars().rev().collect::<String>().parse::<u64>() else {
                return;
            };
            let agent_type = key.split('/').next().unwrap_or_default();
            let recipient = agent_type
                .strip_prefix("inbox_")
                .unwrap_or(agent_type)
                .to_owned();
            *records.entry((id, recipient)).or_insert(0) += 1;
        },
    )
    .await
}

#[derive(Debug)]
struct ReplyCheck {
    topics: usize,
    allowed: usize,
    extra: Vec<String>,
}

/// Invariant (e) once: reply topics ≤ runtimes live now or ended within the grace (plus ones starting).
async fn check_reply_topics(
    broker: &TestBroker,
    prefix: &str,
    shared: &Shared,
    caller_instance: &str,
    grace: Duration,
) -> Result<ReplyCheck, BoxError> {
    let topics = reply_topics(broker, prefix).await?;
    let now = Instant::now();
    let mut allowed: BTreeSet<String> = BTreeSet::from([caller_instance.to_owned()]);
    for incarnation in &lock(shared).incarnations {
        let counts = match incarnation.ended {
            None => true,
            Some((end, _)) => now.duration_since(end) <= grace,
        };
        if counts {
            allowed.insert(incarnation.instance.clone());
        }
    }
    let extra: Vec<String> = topics
        .iter()
        .filter(|t| !allowed.contains(*t))
        .cloned()
        .collect();
    Ok(ReplyCheck {
        topics: topics.len(),
        allowed: allowed.len(),
        extra,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Verdict {
    rpcs: usize,
    answered: usize,
    /// Typed errors by kind: how many, and the text of the first.
    errors: BTreeMap<String, (usize, String)>,
    late: usize,
    hung: usize,
    publications: usize,
    publish_failed: usize,
    owed: usize,
    lost: usize,
    duplicates_after_crash: usize,
    duplicates_after_broker_fault: usize,
    /// Handled again after the first handler's offset commit failed (its host printed `commit-failed` in between).
    duplicates_after_failed_commit: usize,
    duplicates_without_crash: usize,
    counter_checks: usize,
    regressions_after_kill: usize,
    regressions_without_kill: usize,
    unanswered_but_executed: u64,
    late_executions: usize,
    reply_violations: usize,
    /// Lost deliveries by recipient (host slot or `desk`): how many, first and last publication time.
    lost_by: BTreeMap<String, (usize, usize, Duration, Duration)>,
    evidence: BTreeMap<&'static str, Vec<String>>,
}

impl Verdict {
    fn note(&mut self, invariant: &'static str, line: String) {
        let lines = self.evidence.entry(invariant).or_default();
        if lines.len() < EVIDENCE {
            lines.push(line);
        }
    }

    fn violations(&self) -> usize {
        self.late
            + self.lost
            + self.duplicates_without_crash
            + self.regressions_after_kill
            + self.regressions_without_kill
            + self.late_executions
            + self.reply_violations
    }
}

fn kills_between(faults: &[Fault], from: Instant, to: Instant, slot: Option<&str>) -> Vec<String> {
    faults
        .iter()
        .filter(|f| f.kind.crashes() && f.start <= to && f.end >= from)
        .filter(|f| slot.is_none_or(|s| f.slot.as_deref() == Some(s)))
        .map(|f| f.detail.clone())
        .collect()
}

fn check_rpcs(
    verdict: &mut Verdict,
    calls: &[Call],
    timeout: Duration,
    t0: Instant,
    faults: &[Fault],
) {
    for call in calls {
        verdict.rpcs += 1;
        match &call.outcome {
            Outcome::Answered { .. } => verdict.answered += 1,
            Outcome::Failed { kind, text } => {
                verdict
                    .errors
                    .entry(kind.clone())
                    .or_insert_with(|| (0, text.clone()))
                    .0 += 1;
            }
            Outcome::Hung => verdict.hung += 1,
        }
        if call.elapsed > timeout + DEADLINE_SLACK || matches!(call.outcome, Outcome::Hung) {
            verdict.late += 1;
            let target = if call.relay {
                format!("relay/{}", call.relay_key)
            } else {
                format!("counter/{}", call.counter)
            };
            verdict.note(
                "a: RPC ended after deadline + 1 s",
                format!(
                    "{} to {target} at t={:.1?} took {:.2?}: {:?}; faults overlapping: {:?}",
                    call.id,
                    call.started.duration_since(t0),
                    call.elapsed,
                    call.outcome,
                    faults_overlapping(faults, call.started, call.started + call.elapsed)
                ),
            );
        }
    }
    // (c): totals per agent id, in answer order (each worker calls its ids one at a time).
    let mut series: BTreeMap<String, Vec<(&Call, u64, String)>> = BTreeMap::new();
    for call in calls {
        if let Outcome::Answered {
            counter_total,
            counter_runtime,
            relay,
        } = &call.outcome
        {
            series
                .entry(format!("counter/{}", call.counter))
                .or_default()
                .push((call, *counter_total, counter_runtime.clone()));
            if let Some((relay_total, relay_runtime)) = relay {
                series
                    .entry(format!("relay/{}", call.relay_key))
                    .or_default()
                    .push((call, *relay_total, relay_runtime.clone()));
            }
        }
    }
    for (agent, answers) in &series {
        for pair in answers.windows(2) {
            let [(before, prev, prev_rt), (after, total, rt)] = pair else {
                continue;
            };
            verdict.counter_checks += 1;
            if total > prev {
                verdict.unanswered_but_executed += total - prev - 1;
                continue;
            }
            let from = before.started + before.elapsed;
            let to = after.started + after.elapsed;
            // Only a crash of the instance that held the state can lose it: every other move saves it first.
            let holder = prev_rt.split('/').nth(1).unwrap_or_default();
            let kills: Vec<String> = faults
                .iter()
                .filter(|f| f.killed.as_deref() == Some(holder) && f.start <= to && f.end >= from)
                .map(|f| f.detail.clone())
                .collect();
            if kills.is_empty() {
                verdict.regressions_without_kill += 1;
            } else {
                verdict.regressions_after_kill += 1;
            }
            verdict.note(
                if kills.is_empty() { "c: counter went back, its host was not killed" } else { "c: counter went back after its host was killed" },
                format!(
                    "{agent}: {prev} (from {prev_rt}, {} at t={:.1?}) then {total} (from {rt}, {} at t={:.1?}); kill of the holder: {kills:?}; faults between: {:?}",
                    before.id,
                    from.duration_since(t0),
                    after.id,
                    to.duration_since(t0),
                    faults_overlapping(faults, from, to),
                ),
            );
        }
    }
}

fn faults_overlapping(faults: &[Fault], from: Instant, to: Instant) -> Vec<&'static str> {
    faults
        .iter()
        .filter(|f| f.start <= to && f.end >= from)
        .map(|f| f.kind.name())
        .collect()
}

fn check_publications(
    verdict: &mut Verdict,
    publications: &[Publication],
    reports: &Reports,
    fanned: &FannedOut,
    faults: &[Fault],
    check_at: Instant,
    t0: Instant,
) {
    let mut receipts: HashMap<(u64, String), Vec<&Receipt>> = HashMap::new();
    for receipt in &reports.receipts {
        let recipient = if receipt.agent_type == "desk" {
            "desk".to_owned()
        } else {
            receipt.agent_type.trim_start_matches("inbox_").to_owned()
        };
        receipts
            .entry((receipt.publication, recipient))
            .or_default()
            .push(receipt);
    }
    let slots: BTreeSet<String> = reports
        .incarnations
        .iter()
        .map(|i| i.slot.clone())
        .collect();
    for publication in publications {
        verdict.publications += 1;
        if publication.error.is_some() {
            verdict.publish_failed += 1;
            continue;
        }
        let owed_by = |slot: Option<&str>| {
            reports.incarnations.iter().find(|i| {
                slot.is_none_or(|s| i.slot == s)
                    && i.ready
                        .is_some_and(|r| r + SUBSCRIPTION_MARGIN <= publication.started)
                    && i.ended.is_none_or(|(end, _)| end >= check_at)
            })
        };
        let recipients = slots.iter().map(|s| Some(s.as_str())).chain([None]);
        for slot in recipients {
            let name = slot.unwrap_or("desk");
            let got = receipts
                .get(&(publication.id, name.to_owned()))
                .map_or(&[][..], Vec::as_slice);
            let owed = owed_by(slot);
            if owed.is_some() {
                verdict.owed += 1;
            }
            if let Some(incarnation) = owed
                && got.is_empty()
            {
                verdict.lost += 1;
                let at = publication.started.duration_since(t0);
                let written = fanned
                    .get(&(publication.id, name.to_owned()))
                    .copied()
                    .unwrap_or(0);
                let entry = verdict
                    .lost_by
                    .entry(name.to_owned())
                    .or_insert((0, 0, at, at));
                entry.0 += 1;
                if written == 0 {
                    entry.1 += 1;
                }
                entry.3 = at;
                verdict.note(
                    "b: publication lost",
                    format!(
                        "p{} (published t={:.1?}) never reached {name}{}; {} request record(s) for it on the request topic; subscriptions: {:?}",
                        publication.id,
                        publication.started.duration_since(t0),
                        slot.map_or_else(String::new, |_| format!(" ({}, ready since t={:.1?})", incarnation.instance,
                            incarnation.ready.map(|r| r.duration_since(t0)).unwrap_or_default())),
                        written,
                        incarnation.subscriptions,
                    ),
                );
            }
            if got.len() > 1 {
                let last = got.iter().map(|r| r.at).max().unwrap_or(check_at);
                let kills = kills_between(faults, publication.started, last, slot);
                let by: Vec<String> = got
                    .iter()
                    .map(|r| {
                        let instance = reports
                            .incarnations
                            .get(r.incarnation)
                            .map_or("?", |i| i.instance.as_str());
                        format!("{instance} at t={:.1?}", r.at.duration_since(t0))
                    })
                    .collect();
                let broker_faults = faults.iter().any(|f| {
                    f.kind.blocks_commits() && f.start <= last && f.end >= publication.started
                });
                // The first handler's commit failed before the record was handled again (reported within 1.5 s).
                let first = got.iter().min_by_key(|r| r.at);
                let failed_commit = first.is_some_and(|first| {
                    reports.failed_commits.iter().any(|&(incarnation, at)| {
                        incarnation == first.incarnation
                            && at >= first.at
                            && at <= last + Duration::from_millis(1500)
                    })
                });
                if kills.is_empty() && broker_faults {
                    verdict.duplicates_after_broker_fault += got.len() - 1;
                } else if kills.is_empty() && failed_commit {
                    verdict.duplicates_after_failed_commit += got.len() - 1;
                } else if kills.is_empty() {
                    verdict.duplicates_without_crash += got.len() - 1;
                    verdict.note(
                        "b: duplicate without a crash",
                        format!(
                            "p{} reached {name} {} times: {by:?}; faults overlapping: {:?}",
                            publication.id,
                            got.len(),
                            faults_overlapping(faults, publication.started, last)
                        ),
                    );
                } else {
                    verdict.duplicates_after_crash += got.len() - 1;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------------------------

struct Run {
    load_start: Instant,
    broker_kind: BrokerKind,
    load_secs: f64,
    startup: Duration,
    faults: Vec<Fault>,
    verdict: Verdict,
    dead_letters: BTreeMap<String, u64>,
    late_responses: u64,
    reply_checks: Vec<ReplyCheck>,
    publish_errors: BTreeMap<String, usize>,
    slow_stops: Vec<String>,
    /// The driver's worst timer lateness (how late, when) and how many ticks were over a second late.
    scheduler_lag: ((Duration, Duration), usize),
    hosts: Vec<String>,
}

#[expect(clippy::too_many_lines, reason = "the run reads best top to bottom")]
async fn run(options: &Options) -> Result<Run, BoxError> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&options.log_dir)?;
    let broker = TestBroker::start().await?;
    let kind = broker.kind();
    let fleet_name = unique_topic("chaos");
    let group = unique_group("chaos");
    let config =
        chaos_messages::chaos_config(broker.bootstrap_servers(), kind, &fleet_name, &group);
    create_fleet_topics(&broker, &config, 6).await;
    let reply_prefix = format!("{}.", config.runtime.runtime_responses);
    let dead_letter_topic = config.runtime.dead_letter_topic.clone();
    let config_requests = config.runtime.runtime_requests.clone();
    tracing::info!(%kind, fleet = fleet_name, seed = options.seed, "broker ready; starting hosts");

    let shared: Shared = Arc::default();
    let mut fleet = Fleet {
        processes: BTreeMap::new(),
        shared: Arc::clone(&shared),
        host_bin: options.host_bin.clone(),
        log_dir: options.log_dir.clone(),
        args: [
            broker.bootstrap_servers().to_owned(),
            kind.as_str().to_owned(),
            fleet_name.clone(),
            group.clone(),
        ],
    };
    let caller = worker_for(kind, config, "chaos-caller");
    let caller_instance = caller.instance_id().to_owned();
    // The hosts start one after the other (each waits for its ready line), the caller meanwhile.
    let hosts = async {
        for host in HOSTS {
            fleet.spawn(host, unique_topic(host)).await?;
        }
        Ok::<_, BoxError>(())
    };
    let (hosts, started) = tokio::join!(hosts, caller.start());
    hosts?;
    started?;
    // Every subscription is visible to the caller before the load starts.
    let wait_until = Instant::now() + Duration::from_secs(30);
    while !autogen_kafka::runtime::KafkaWorkerAgentRuntime::is_hosted(&caller, "inbox_h3")
        && Instant::now() < wait_until
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let startup = t0.elapsed();
    tracing::info!(?startup, "fleet ready; load starts");

    let stop_load = CancellationToken::new();
    let load_start = Instant::now();
    let workers: Vec<_> = (0..options.workers)
        .map(|w| {
            tokio::spawn(rpc_worker(
                caller.clone(),
                w,
                options.seed,
                options.rpc_timeout,
                stop_load.clone(),
            ))
        })
        .collect();
    let publisher = tokio::spawn(publisher(
        caller.clone(),
        options.pub_interval,
        stop_load.clone(),
    ));
    // (e) is sampled while the faults run.
    let monitor_stop = CancellationToken::new();
    let monitor = {
        let (prefix, shared, caller_instance, grace, stop) = (
            reply_prefix.clone(),
            Arc::clone(&shared),
            caller_instance.clone(),
            options.reply_grace,
            monitor_stop.clone(),
        );
        let bootstrap = broker.bootstrap_servers().to_owned();
        tokio::spawn(async move {
            let broker = TestBroker::external(bootstrap);
            let mut checks = Vec::new();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                match tokio::time::timeout(
                    Duration::from_secs(20),
                    check_reply_topics(&broker, &prefix, &shared, &caller_instance, grace),
                )
                .await
                {
                    Ok(Ok(check)) => checks.push(check),
                    Ok(Err(error)) => tracing::warn!(error, "reply-topic check failed"),
                    Err(_) => tracing::warn!("reply-topic check timed out"),
                }
            }
            checks
        })
    };

    // The driver's own scheduler: a timer that fires late means the caller's deadlines fire late too.
    let lag = {
        let stop = monitor_stop.clone();
        tokio::spawn(async move {
            let tick = Duration::from_millis(100);
            let mut worst = (Duration::ZERO, Duration::ZERO);
            let mut over_second = 0_usize;
            while !stop.is_cancelled() {
                let before = Instant::now();
                tokio::time::sleep(tick).await;
                let late = before.elapsed().saturating_sub(tick);
                if late > Duration::from_secs(1) {
                    over_second += 1;
                }
                if late > worst.0 {
                    worst = (late, before.duration_since(load_start));
                }
            }
            (worst, over_second)
        })
    };

    let schedule_until = load_start + options.duration.saturating_sub(QUIET_END);
    let faults = schedule(&mut fleet, &broker, options, schedule_until).await?;
    // Quiet load until the duration is up (and at least QUIET_END after the last fault).
    let load_end = (load_start + options.duration).max(Instant::now() + QUIET_END);
    tokio::time::sleep_until(load_end.into()).await;
    stop_load.cancel();
    let mut calls = Vec::new();
    for worker in workers {
        calls.extend(
            tokio::time::timeout(options.rpc_timeout + HANG_MARGIN * 2, worker)
                .await
                .map_err(|_| "a load worker did not end")??,
        );
    }
    let publications = tokio::time::timeout(Duration::from_secs(30), publisher)
        .await
        .map_err(|_| "the publisher did not end")??;
    let load_secs = load_start.elapsed().as_secs_f64();
    tracing::info!(
        calls = calls.len(),
        publications = publications.len(),
        "load stopped; settling"
    );

    // Wait until every owed receipt is in, at most `settle`.
    let settle_end = Instant::now() + options.settle;
    let expected_last = publications
        .iter()
        .filter(|p| p.error.is_none())
        .map(|p| p.id)
        .max()
        .unwrap_or(0);
    while Instant::now() < settle_end {
        let seen_last = lock(&shared)
            .receipts
            .iter()
            .filter(|r| r.publication == expected_last)
            .count();
        let live = fleet.processes.len() + 1;
        if seen_last >= live {
            // The last publication reached every host and the desk; give stragglers a moment.
            tokio::time::sleep(Duration::from_secs(2)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let check_at = Instant::now();
    monitor_stop.cancel();
    let scheduler_lag = tokio::time::timeout(Duration::from_secs(5), lag)
        .await
        .map_err(|_| "lag monitor did not end")??;
    let mut reply_checks = tokio::time::timeout(Duration::from_secs(30), monitor)
        .await
        .map_err(|_| "monitor did not end")??;
    reply_checks.push(
        check_reply_topics(
            &broker,
            &reply_prefix,
            &shared,
            &caller_instance,
            options.reply_grace,
        )
        .await?,
    );
    let dead_letters = tokio::time::timeout(
        Duration::from_secs(60),
        dead_letters(&broker, &dead_letter_topic),
    )
    .await
    .map_err(|_| "dead-letter count timed out")??;
    let requests_topic = config_requests.clone();
    let fanned = tokio::time::timeout(
        Duration::from_secs(90),
        fanned_out(&broker, &requests_topic),
    )
    .await
    .map_err(|_| "request-topic scan timed out")??;
    let late_responses = caller.late_responses();

    // Graceful end: hosts, then the caller.
    let mut slow_stops = Vec::new();
    let slots: Vec<String> = fleet.processes.keys().cloned().collect();
    for slot in slots {
        if fleet.stop(&slot).await?.is_none() {
            slow_stops.push(format!("{slot} at the end"));
        }
    }
    for fault in &faults {
        if fault.detail.contains("did NOT stop") {
            slow_stops.push(fault.detail.clone());
        }
    }
    if tokio::time::timeout(Duration::from_secs(30), caller.stop())
        .await
        .is_err()
    {
        slow_stops.push("the caller's stop took more than 30 s".to_owned());
    }

    let mut verdict = Verdict::default();
    check_rpcs(
        &mut verdict,
        &calls,
        options.rpc_timeout,
        load_start,
        &faults,
    );
    let mut publish_errors = BTreeMap::new();
    for publication in &publications {
        if let Some(error) = &publication.error {
            *publish_errors.entry(error.clone()).or_default() += 1;
        }
    }
    {
        let reports = lock(&shared);
        check_publications(
            &mut verdict,
            &publications,
            &reports,
            &fanned,
            &faults,
            check_at,
            load_start,
        );
        verdict.late_executions = reports.late_executions.len();
        for line in reports.late_executions.iter().take(EVIDENCE) {
            verdict.note("d: request executed after its deadline", line.clone());
        }
    }
    // The mock cluster has no DeleteTopics: runtimes leave their reply topics there by design, so (e) is
    // checked on brokers with the Admin API only.
    let deletes_topics = kind != BrokerKind::Mock;
    for check in &reply_checks {
        if deletes_topics && !check.extra.is_empty() {
            verdict.reply_violations += 1;
        }
    }
    if let Some(check) = reply_checks
        .iter()
        .rev()
        .find(|c| deletes_topics && !c.extra.is_empty())
    {
        verdict.note(
            "e: reply topics of runtimes gone longer than the grace",
            format!(
                "{} reply topics, {} allowed; beyond the grace: {:?}",
                check.topics, check.allowed, check.extra
            ),
        );
    }
    let hosts = {
        let reports = lock(&shared);
        let at = |i: Instant| {
            format!(
                "{:.1}",
                i.saturating_duration_since(load_start).as_secs_f64()
            )
        };
        reports
            .incarnations
            .iter()
            .map(|i| {
                format!(
                    "{} {}: ready t={} ended {} {:?}",
                    i.slot,
                    i.instance,
                    i.ready.map_or_else(|| "never".to_owned(), at),
                    i.ended.map_or_else(
                        || "-".to_owned(),
                        |(end, kind)| format!("t={} ({kind:?})", at(end))
                    ),
                    i.subscriptions,
                )
            })
            .collect()
    };
    if let Err(error) = dump(
        &options.log_dir,
        &calls,
        &publications,
        &lock(&shared),
        load_start,
    ) {
        tracing::warn!(error, "writing the run's records failed");
    }
    drop(fleet);
    if let Err(error) = tokio::time::timeout(Duration::from_secs(30), broker.shutdown())
        .await
        .unwrap_or(Ok(()))
    {
        tracing::warn!(error = &error as &dyn std::error::Error, "broker shutdown");
    }
    Ok(Run {
        load_start,
        broker_kind: kind,
        load_secs,
        startup,
        faults,
        verdict,
        dead_letters,
        late_responses,
        reply_checks,
        publish_errors,
        slow_stops,
        scheduler_lag,
        hosts,
    })
}

/// Writes every call, publication and receipt as CSV into `dir` (the evidence behind the summary).
fn dump(
    dir: &std::path::Path,
    calls: &[Call],
    publications: &[Publication],
    reports: &Reports,
    t0: Instant,
) -> Result<(), BoxError> {
    let at = |i: Instant| i.saturating_duration_since(t0).as_secs_f64();
    let mut text = String::from(
        "call,target,counter,start_s,elapsed_ms,outcome,counter_total,counter_runtime,relay_total,relay_runtime\n",
    );
    for call in calls {
        let target = if call.relay {
            format!("relay/{}", call.relay_key)
        } else {
            format!("counter/{}", call.counter)
        };
        let (outcome, total, runtime, relay_total, relay_runtime) = match &call.outcome {
            Outcome::Answered {
                counter_total,
                counter_runtime,
                relay,
            } => (
                "ok".to_owned(),
                counter_total.to_string(),
                counter_runtime.clone(),
                relay.as_ref().map(|r| r.0.to_string()).unwrap_or_default(),
                relay.as_ref().map(|r| r.1.clone()).unwrap_or_default(),
            ),
            Outcome::Failed { kind, .. } => (
                kind.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
            Outcome::Hung => (
                "hung".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        let _ = writeln!(
            text,
            "{},{target},counter/{},{:.3},{},{outcome},{total},{runtime},{relay_total},{relay_runtime}",
            call.id,
            call.counter,
            at(call.started),
            call.elapsed.as_millis()
        );
    }
    std::fs::write(dir.join("calls.csv"), text)?;
    let mut text = String::from("publication,start_s,error\n");
    for publication in publications {
        let _ = writeln!(
            text,
            "p{},{:.3},{}",
            publication.id,
            at(publication.started),
            publication.error.as_deref().unwrap_or("")
        );
    }
    std::fs::write(dir.join("publications.csv"), text)?;
    let mut text = String::from("publication,agent_type,instance,at_s\n");
    for receipt in &reports.receipts {
        let instance = reports
            .incarnations
            .get(receipt.incarnation)
            .map_or("?", |i| i.instance.as_str());
        let _ = writeln!(
            text,
            "p{},{},{instance},{:.3}",
            receipt.publication,
            receipt.agent_type,
            at(receipt.at)
        );
    }
    std::fs::write(dir.join("receipts.csv"), text)?;
    Ok(())
}

fn summary(options: &Options, run: &Run) -> String {
    let v = &run.verdict;
    let mut out = String::new();
    let mut by_kind: BTreeMap<FaultKind, usize> = BTreeMap::new();
    for fault in &run.faults {
        *by_kind.entry(fault.kind).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "== chaos summary (broker: {}, seed {}, {}, startup {:.1?})",
        run.broker_kind,
        options.seed,
        if options.bounded { "bounded" } else { "full" },
        run.startup
    );
    let _ = writeln!(
        out,
        "load held: {:.1} RPCs/s, {:.1} publications/s over {:.0} s ({} workers, rpc timeout {:?})",
        v.rpcs as f64 / run.load_secs,
        v.publications as f64 / run.load_secs,
        run.load_secs,
        options.workers,
        options.rpc_timeout
    );
    let _ = writeln!(out, "faults injected: {}", run.faults.len());
    for (kind, n) in &by_kind {
        let _ = writeln!(out, "  {n} × {}", kind.name());
    }
    for fault in &run.faults {
        let _ = writeln!(
            out,
            "    - t={:.1?}…{:.1?} {}: {}",
            fault.start.duration_since(run.load_start),
            fault.end.duration_since(run.load_start),
            fault.kind.name(),
            fault.detail
        );
    }
    let errors: Vec<String> = v
        .errors
        .iter()
        .map(|(k, (n, text))| format!("{k} {n} (e.g. \"{text}\")"))
        .collect();
    let _ = writeln!(
        out,
        "RPCs checked: {} ({} answered, typed errors: {}, hung: {})",
        v.rpcs,
        v.answered,
        if errors.is_empty() {
            "none".to_owned()
        } else {
            errors.join(", ")
        },
        v.hung
    );
    let _ = writeln!(
        out,
        "publications checked: {} ({} failed to publish; {} deliveries owed to hosts alive for the whole window)",
        v.publications, v.publish_failed, v.owed
    );
    for (recipient, (n, not_written, first, last)) in &v.lost_by {
        let _ = writeln!(
            out,
            "    lost for {recipient}: {n} ({not_written} never fanned out to it by the publisher), published t={first:.1?}…{last:.1?}"
        );
    }
    for (error, n) in &run.publish_errors {
        let _ = writeln!(out, "    publish error ×{n}: {error}");
    }
    let _ = writeln!(
        out,
        "(a) late = {} (RPCs ended later than rpc timeout + 1 s, or hung)",
        v.late
    );
    let _ = writeln!(
        out,
        "(b) lost = {}; duplicates (after crash) = {}; duplicates (after a broker fault) = {}; duplicates (after a failed commit) = {}; duplicates (no crash) = {}",
        v.lost,
        v.duplicates_after_crash,
        v.duplicates_after_broker_fault,
        v.duplicates_after_failed_commit,
        v.duplicates_without_crash
    );
    let _ = writeln!(
        out,
        "(c) counter regressions = {} ({} after a kill -9 of the host holding the state, {} without one) over {} successive answers; \
adds executed but unanswered = {}",
        v.regressions_after_kill + v.regressions_without_kill,
        v.regressions_after_kill,
        v.regressions_without_kill,
        v.counter_checks,
        v.unanswered_but_executed
    );
    let dead: Vec<String> = run
        .dead_letters
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "(d) executed after deadline = {} (relay requests carry their deadline; direct counter requests do not \
expose it to the handler, so they are checked through the dead-letter topic: {}); late responses dropped by the caller = {}",
        v.late_executions,
        if dead.is_empty() {
            "empty".to_owned()
        } else {
            dead.join(", ")
        },
        run.late_responses
    );
    let max = run.reply_checks.iter().map(|c| c.topics).max().unwrap_or(0);
    let last = run.reply_checks.last();
    let _ = writeln!(
        out,
        "(e) reply-topic checks over the grace ({:?}) = {} of {} (max {} reply topics; at the end {} for {} allowed)",
        options.reply_grace,
        v.reply_violations,
        run.reply_checks.len(),
        max,
        last.map_or(0, |c| c.topics),
        last.map_or(0, |c| c.allowed)
    );
    let ((worst, when), over_second) = run.scheduler_lag;
    let _ = writeln!(
        out,
        "driver timer lateness: worst {worst:.2?} (at t={when:.1?}), {over_second} ticks over 1 s late"
    );
    let _ = writeln!(out, "hosts (t from load start):");
    for host in &run.hosts {
        let _ = writeln!(out, "  {host}");
    }
    if !run.slow_stops.is_empty() {
        let _ = writeln!(
            out,
            "graceful stops that had to be killed: {:?}",
            run.slow_stops
        );
    }
    for (invariant, lines) in &v.evidence {
        let _ = writeln!(out, "-- {invariant}");
        for line in lines {
            let _ = writeln!(out, "   {line}");
        }
    }
    let _ = writeln!(
        out,
        "violations: {} → {}",
        v.violations(),
        if v.violations() == 0 { "PASS" } else { "FAIL" }
    );
    out
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("chaos=info,autogen_kafka_testing=info,warn")
            }),
        )
        .init();
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tokio runtime: {error}");
            return ExitCode::from(2);
        }
    };
    // The whole run, startup included, has a deadline: 3 minutes bounded, the duration plus 4 minutes otherwise.
    let limit = if options.bounded {
        Duration::from_secs(180)
    } else {
        options.duration + Duration::from_secs(240)
    };
    let outcome =
        runtime.block_on(async { tokio::time::timeout(limit, Box::pin(run(&options))).await });
    let code = match outcome {
        Ok(Ok(run)) => {
            let text = summary(&options, &run);
            print!("{text}");
            let _ = std::fs::write(options.log_dir.join("summary.txt"), &text);
            if run.verdict.violations() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Ok(Err(error)) => {
            eprintln!("chaos: the harness failed: {error}");
            ExitCode::from(2)
        }
        Err(_) => {
            eprintln!("chaos: the run did not finish within {limit:?}");
            ExitCode::from(2)
        }
    };
    runtime.shutdown_timeout(Duration::from_secs(5));
    code
}

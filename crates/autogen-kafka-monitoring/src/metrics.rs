//! Prometheus metrics that the runtime records on every message hop.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::core::Collector;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::error::{MonitoringError, Result};

const MESSAGES_TOTAL: &str = "autogen_kafka_messages_total";
const HANDLER_DURATION: &str = "autogen_kafka_handler_duration_seconds";
const RPC_DURATION: &str = "autogen_kafka_rpc_duration_seconds";
const RPCS_TOTAL: &str = "autogen_kafka_rpcs_total";
const RPCS_IN_FLIGHT: &str = "autogen_kafka_rpcs_in_flight";
const UNMATCHED_RESPONSES: &str = "autogen_kafka_rpc_unmatched_responses_total";
const DEAD_LETTERS_TOTAL: &str = "autogen_kafka_dead_letters_total";
const ERRORS_TOTAL: &str = "autogen_kafka_errors_total";
const CONSUMER_LAG: &str = "autogen_kafka_consumer_lag";
const REBALANCES_TOTAL: &str = "autogen_kafka_rebalances_total";
const CONNECTION_STATE: &str = "autogen_kafka_connection_state";
const ACTIVE_AGENTS: &str = "autogen_kafka_active_agents";
const PASSIVATIONS_TOTAL: &str = "autogen_kafka_agents_passivated_total";
const PRODUCE_REQUESTS_TOTAL: &str = "autogen_kafka_produce_requests_total";
const PRODUCED_RECORDS_TOTAL: &str = "autogen_kafka_produced_records_total";

/// Bucket bounds (seconds) for handler and RPC latency: 1 ms to 60 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Which way a record crossed the runtime's Kafka boundary (label `direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Direction {
    /// Read from a topic.
    Consumed,
    /// Written to a topic.
    Produced,
}

impl Direction {
    /// The label value: `consumed` or `produced`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Consumed => "consumed",
            Self::Produced => "produced",
        }
    }
}

/// How an RPC (`send_message` with a reply) ended (label `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RpcOutcome {
    /// The recipient answered with a result.
    Ok,
    /// The recipient answered with an error.
    Error,
    /// No answer came before the deadline.
    Timeout,
    /// The caller gave up (its future was dropped or the runtime shut down).
    Cancelled,
    /// The request could not be delivered (no such agent type, produce failed).
    Undeliverable,
}

impl RpcOutcome {
    /// The label value: `ok`, `error`, `timeout`, `cancelled` or `undeliverable`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Undeliverable => "undeliverable",
        }
    }
}

/// Why a response matched no pending RPC (label `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnmatchedResponse {
    /// The request id was known, but its RPC had already timed out or been cancelled.
    Late,
    /// The request id was never issued by this runtime.
    Unknown,
}

impl UnmatchedResponse {
    /// The label value: `late` or `unknown`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Late => "late",
            Self::Unknown => "unknown",
        }
    }
}

/// A consumer-group rebalance event (label `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RebalanceEvent {
    /// Partitions were assigned to this member.
    Assigned,
    /// Partitions were revoked from this member in an orderly way.
    Revoked,
    /// Partitions were lost (the member was fenced or timed out).
    Lost,
}

impl RebalanceEvent {
    /// The label value: `assigned`, `revoked` or `lost`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Assigned => "assigned",
            Self::Revoked => "revoked",
            Self::Lost => "lost",
        }
    }
}

/// The state of a client's connection to its server (label `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Not connected and not trying.
    Disconnected,
    /// Trying to (re)connect.
    Connecting,
    /// Connected and working.
    Connected,
}

impl ConnectionState {
    /// Every state, in the order the gauge lists them.
    pub const ALL: [Self; 3] = [Self::Disconnected, Self::Connecting, Self::Connected];

    /// The label value: `disconnected`, `connecting` or `connected`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disconnected => "disconnected",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
        }
    }
}

/// A cloneable handle over the runtime's Prometheus metrics.
///
/// The metrics live in their own [`Registry`] (never the process-global one), so two
/// runtimes in one process, or two tests, do not share counts. Cloning is cheap (an
/// `Arc`), and every recording method takes `&self` and never fails.
///
/// Labels are bounded on purpose: topics, agent *types* and fixed kinds only, never a
/// message id, request id or agent key. Parameters typed `&'static str` (components,
/// error and dead-letter kinds, client names) must be fixed names such as `"consumer"` or
/// `"decode"`, not formatted text.
///
/// | metric | type | labels |
/// |---|---|---|
/// | `autogen_kafka_messages_total` | counter | `topic`, `direction` (`consumed`/`produced`) |
/// | `autogen_kafka_handler_duration_seconds` | histogram | `agent_type` |
/// | `autogen_kafka_rpc_duration_seconds` | histogram | `agent_type` (of the recipient), every outcome |
/// | `autogen_kafka_rpcs_total` | counter | `agent_type`, `outcome` (`ok`/`error`/`timeout`/`cancelled`/`undeliverable`) |
/// | `autogen_kafka_rpcs_in_flight` | gauge | — |
/// | `autogen_kafka_rpc_unmatched_responses_total` | counter | `kind` (`late`/`unknown`) |
/// | `autogen_kafka_dead_letters_total` | counter | `topic`, `reason` |
/// | `autogen_kafka_errors_total` | counter | `component`, `kind` |
/// | `autogen_kafka_consumer_lag` | gauge | `topic`, `partition` |
/// | `autogen_kafka_rebalances_total` | counter | `event` (`assigned`/`revoked`/`lost`) |
/// | `autogen_kafka_connection_state` | gauge | `client`, `state`: 1 for the current state, 0 for the others |
/// | `autogen_kafka_active_agents` | gauge | — (agent instances hosted by the runtime now) |
/// | `autogen_kafka_agents_passivated_total` | counter | — (idle instances saved and evicted) |
/// | `autogen_kafka_produce_requests_total` | counter | — (produce requests of the data plane's producer) |
/// | `autogen_kafka_produced_records_total` | counter | — (records it sent in them) |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_monitoring::{Metrics, RpcOutcome};
///
/// # fn main() -> autogen_kafka_monitoring::Result<()> {
/// let metrics = Metrics::new()?;
/// metrics.message_consumed("agent.requests");
/// metrics.observe_handler("assistant", Duration::from_millis(12));
///
/// let rpc = metrics.start_rpc("assistant"); // in flight until finished or dropped
/// rpc.finish(RpcOutcome::Ok);
///
/// let text = metrics.encode_text()?;
/// assert!(text.contains(r#"autogen_kafka_messages_total{direction="consumed",topic="agent.requests"} 1"#));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    messages: IntCounterVec,
    handler_duration: HistogramVec,
    rpc_duration: HistogramVec,
    rpcs: IntCounterVec,
    rpcs_in_flight: IntGauge,
    unmatched_responses: IntCounterVec,
    dead_letters: IntCounterVec,
    errors: IntCounterVec,
    consumer_lag: IntGaugeVec,
    rebalances: IntCounterVec,
    connection_state: IntGaugeVec,
    active_agents: IntGauge,
    passivations: IntCounter,
    produce_requests: IntCounter,
    produced_records: IntCounter,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn register<C>(registry: &Registry, name: &'static str, collector: C) -> Result<C>
where
    C: Collector + Clone + 'static,
{
    registry
        .register(Box::new(collector.clone()))
        .map_err(|source| MonitoringError::RegisterMetric { name, source })?;
    Ok(collector)
}

fn counter_vec(
    registry: &Registry,
    name: &'static str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec> {
    let vec = IntCounterVec::new(Opts::new(name, help), labels)
        .map_err(|source| MonitoringError::RegisterMetric { name, source })?;
    register(registry, name, vec)
}

fn gauge_vec(
    registry: &Registry,
    name: &'static str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec> {
    let vec = IntGaugeVec::new(Opts::new(name, help), labels)
        .map_err(|source| MonitoringError::RegisterMetric { name, source })?;
    register(registry, name, vec)
}

fn latency_histogram(
    registry: &Registry,
    name: &'static str,
    help: &str,
    labels: &[&str],
) -> Result<HistogramVec> {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let vec = HistogramVec::new(opts, labels)
        .map_err(|source| MonitoringError::RegisterMetric { name, source })?;
    register(registry, name, vec)
}

impl Metrics {
    /// Creates the metrics in a new, empty registry of their own.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::RegisterMetric`] if a metric cannot be registered; with a fresh
    /// registry that only happens if this crate defines a metric wrongly.
    pub fn new() -> Result<Self> {
        Self::with_registry(Registry::new())
    }

    /// Creates the metrics in `registry`, for example one made with
    /// [`Registry::new_custom`] to add a prefix or constant labels (such as the service
    /// name), or one that already holds the application's own metrics.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::RegisterMetric`] if `registry` already holds a metric with one of
    /// this crate's names.
    pub fn with_registry(registry: Registry) -> Result<Self> {
        let r = &registry;
        let messages = counter_vec(
            r,
            MESSAGES_TOTAL,
            "Records consumed from or produced to Kafka, per topic.",
            &["topic", "direction"],
        )?;
        let handler_duration = latency_histogram(
            r,
            HANDLER_DURATION,
            "Time an agent's message handler took, per agent type.",
            &["agent_type"],
        )?;
        let rpc_duration = latency_histogram(
            r,
            RPC_DURATION,
            "Time from sending an RPC request to its outcome, per recipient agent type.",
            &["agent_type"],
        )?;
        let rpcs = counter_vec(
            r,
            RPCS_TOTAL,
            "RPCs finished, per recipient agent type and outcome.",
            &["agent_type", "outcome"],
        )?;
        let rpcs_in_flight = IntGauge::new(RPCS_IN_FLIGHT, "RPCs waiting for a response.")
            .map_err(|source| MonitoringError::RegisterMetric {
                name: RPCS_IN_FLIGHT,
                source,
            })?;
        let rpcs_in_flight = register(r, RPCS_IN_FLIGHT, rpcs_in_flight)?;
        let unmatched_responses = counter_vec(
            r,
            UNMATCHED_RESPONSES,
            "Responses that matched no pending RPC (late or unknown request id).",
            &["kind"],
        )?;
        let dead_letters = counter_vec(
            r,
            DEAD_LETTERS_TOTAL,
            "Records sent to the dead-letter topic, per source topic and reason.",
            &["topic", "reason"],
        )?;
        let errors = counter_vec(
            r,
            ERRORS_TOTAL,
            "Errors, per component and kind.",
            &["component", "kind"],
        )?;
        let consumer_lag = gauge_vec(
            r,
            CONSUMER_LAG,
            "Records between the committed offset and the end of the partition.",
            &["topic", "partition"],
        )?;
        let rebalances = counter_vec(
            r,
            REBALANCES_TOTAL,
            "Consumer-group rebalance events seen by this member.",
            &["event"],
        )?;
        let connection_state = gauge_vec(
            r,
            CONNECTION_STATE,
            "Connection state per client: 1 for the current state, 0 for the others.",
            &["client", "state"],
        )?;
        let active_agents = IntGauge::new(ACTIVE_AGENTS, "Agent instances active in this runtime.")
            .map_err(|source| MonitoringError::RegisterMetric {
                name: ACTIVE_AGENTS,
                source,
            })?;
        let active_agents = register(r, ACTIVE_AGENTS, active_agents)?;
        let passivations = IntCounter::new(
            PASSIVATIONS_TOTAL,
            "Idle agent instances whose state was saved before they were evicted.",
        )
        .map_err(|source| MonitoringError::RegisterMetric {
            name: PASSIVATIONS_TOTAL,
            source,
        })?;
        let passivations = register(r, PASSIVATIONS_TOTAL, passivations)?;
        let counter = |name: &'static str, help: &str| {
            IntCounter::new(name, help)
                .map_err(|source| MonitoringError::RegisterMetric { name, source })
                .and_then(|counter| register(r, name, counter))
        };
        let produce_requests = counter(
            PRODUCE_REQUESTS_TOTAL,
            "Produce requests the runtime's data-plane producer sent (librdkafka statistics).",
        )?;
        let produced_records = counter(
            PRODUCED_RECORDS_TOTAL,
            "Records the runtime's data-plane producer sent (librdkafka statistics).",
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                registry,
                messages,
                handler_duration,
                rpc_duration,
                rpcs,
                rpcs_in_flight,
                unmatched_responses,
                dead_letters,
                errors,
                consumer_lag,
                rebalances,
                connection_state,
                active_agents,
                passivations,
                produce_requests,
                produced_records,
            }),
        })
    }

    /// The registry the metrics live in; register the application's own metrics here to
    /// have them served on `/metrics` too.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Counts one record consumed from `topic`.
    pub fn message_consumed(&self, topic: &str) {
        self.messages(topic, Direction::Consumed, 1);
    }

    /// Counts one record produced to `topic`.
    pub fn message_produced(&self, topic: &str) {
        self.messages(topic, Direction::Produced, 1);
    }

    /// Counts `count` records that crossed `topic` in `direction` (for batches).
    pub fn messages(&self, topic: &str, direction: Direction, count: u64) {
        self.inner
            .messages
            .with_label_values(&[topic, direction.as_str()])
            .inc_by(count);
    }

    /// Records how long one handler call of an agent of type `agent_type` took.
    pub fn observe_handler(&self, agent_type: &str, elapsed: Duration) {
        self.inner
            .handler_duration
            .with_label_values(&[agent_type])
            .observe(elapsed.as_secs_f64());
    }

    /// Starts timing an RPC to an agent of type `agent_type` and counts it in flight.
    ///
    /// Call [`RpcTimer::finish`] with the outcome; a timer dropped unfinished records
    /// [`RpcOutcome::Cancelled`] (the caller's future was dropped). Either way the RPC
    /// leaves the in-flight gauge exactly once.
    pub fn start_rpc(&self, agent_type: &str) -> RpcTimer {
        self.inner.rpcs_in_flight.inc();
        RpcTimer {
            metrics: self.clone(),
            agent_type: agent_type.to_owned(),
            started: Instant::now(),
            finished: false,
        }
    }

    /// Records a finished RPC timed by the caller: its latency and its outcome. This does
    /// not touch the in-flight gauge (use [`Metrics::start_rpc`] for that).
    pub fn record_rpc(&self, agent_type: &str, outcome: RpcOutcome, elapsed: Duration) {
        self.inner
            .rpc_duration
            .with_label_values(&[agent_type])
            .observe(elapsed.as_secs_f64());
        self.inner
            .rpcs
            .with_label_values(&[agent_type, outcome.as_str()])
            .inc();
    }

    /// Counts a response that matched no pending RPC.
    pub fn unmatched_response(&self, kind: UnmatchedResponse) {
        self.inner
            .unmatched_responses
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// Counts a record from `topic` sent to the dead-letter topic; `reason` is a fixed
    /// kind such as `"decode"`, `"schema"` or `"handler"`.
    pub fn dead_lettered(&self, topic: &str, reason: &'static str) {
        self.inner
            .dead_letters
            .with_label_values(&[topic, reason])
            .inc();
    }

    /// Counts an error in `component` (such as `"consumer"`, `"producer"`, `"dispatcher"`)
    /// of a fixed `kind` (such as `"decode"`, `"commit"`, `"timeout"`).
    pub fn error(&self, component: &'static str, kind: &'static str) {
        self.inner
            .errors
            .with_label_values(&[component, kind])
            .inc();
    }

    /// Sets the consumer lag of `topic`/`partition` (records not yet consumed).
    pub fn set_consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        let partition = partition.to_string();
        self.inner
            .consumer_lag
            .with_label_values(&[topic, partition.as_str()])
            .set(lag);
    }

    /// Removes the lag series of `topic`/`partition`, for a partition this member no
    /// longer owns; returns whether the series existed.
    pub fn remove_consumer_lag(&self, topic: &str, partition: i32) -> bool {
        let partition = partition.to_string();
        self.inner
            .consumer_lag
            .remove_label_values(&[topic, partition.as_str()])
            .is_ok()
    }

    /// Counts a consumer-group rebalance event.
    pub fn rebalance(&self, event: RebalanceEvent) {
        self.inner
            .rebalances
            .with_label_values(&[event.as_str()])
            .inc();
    }

    /// Sets the connection state of `client` (such as `"consumer"`, `"producer"`,
    /// `"admin"`, `"schema_registry"`): its series for `state` becomes 1, the others 0.
    pub fn set_connection_state(&self, client: &'static str, state: ConnectionState) {
        for candidate in ConnectionState::ALL {
            self.inner
                .connection_state
                .with_label_values(&[client, candidate.as_str()])
                .set(i64::from(candidate == state));
        }
    }

    /// Sets how many agent instances the runtime hosts now.
    pub fn set_active_agents(&self, count: usize) {
        self.inner
            .active_agents
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts `count` agent instances passivated.
    pub fn agents_passivated(&self, count: u64) {
        self.inner.passivations.inc_by(count);
    }

    /// Counts `requests` more produce requests carrying `records` more records.
    pub fn produced(&self, requests: u64, records: u64) {
        self.inner.produce_requests.inc_by(requests);
        self.inner.produced_records.inc_by(records);
    }

    /// Writes every metric in the registry in the Prometheus text exposition format
    /// (version 0.0.4), as served on `/metrics`.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::EncodeMetrics`] if the encoder rejects a metric family (only
    /// possible for malformed metrics registered by the application).
    pub fn encode_text(&self) -> Result<String> {
        let families = self.inner.registry.gather();
        let mut text = String::new();
        TextEncoder::new()
            .encode_utf8(&families, &mut text)
            .map_err(|source| MonitoringError::EncodeMetrics { source })?;
        Ok(text)
    }
}

/// Times one RPC from [`Metrics::start_rpc`] to its outcome, and keeps it counted in
/// `autogen_kafka_rpcs_in_flight` meanwhile.
///
/// Finish it with [`RpcTimer::finish`]; dropping it unfinished records the RPC as
/// [`RpcOutcome::Cancelled`]. The timer is `Send`, so it can sit in the runtime's
/// pending-request table until the response arrives.
#[must_use = "dropping the timer records the RPC as cancelled"]
pub struct RpcTimer {
    metrics: Metrics,
    agent_type: String,
    started: Instant,
    finished: bool,
}

impl fmt::Debug for RpcTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcTimer")
            .field("agent_type", &self.agent_type)
            .field("elapsed", &self.started.elapsed())
            .finish_non_exhaustive()
    }
}

impl RpcTimer {
    /// The recipient agent type the RPC is counted under.
    #[must_use]
    pub fn agent_type(&self) -> &str {
        &self.agent_type
    }

    /// Time since the RPC started.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records the RPC's latency and `outcome`, takes it out of the in-flight gauge and
    /// returns the latency.
    pub fn finish(mut self, outcome: RpcOutcome) -> Duration {
        self.complete(outcome)
    }

    fn complete(&mut self, outcome: RpcOutcome) -> Duration {
        let elapsed = self.started.elapsed();
        if !self.finished {
            self.finished = true;
            self.metrics.inner.rpcs_in_flight.dec();
            self.metrics.record_rpc(&self.agent_type, outcome, elapsed);
        }
        elapsed
    }
}

impl Drop for RpcTimer {
    fn drop(&mut self) {
        self.complete(RpcOutcome::Cancelled);
    }
}

#[cfg(test)]
mod tests;

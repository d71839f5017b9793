//! Copies the request consumers' and the publish router's counters and lags into the runtime's [`Metrics`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use autogen_kafka_monitoring::{Direction, Metrics, RebalanceEvent};
use autogen_kafka_streaming::{GroupConsumer, TopicPartition};

use super::KafkaWorkerAgentRuntime;

/// The longest time between two copies (the lags change at the statistics interval).
const MAX_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// What was copied already from one consumer.
#[derive(Debug, Default)]
struct Copied {
    handled: u64,
    assigned: u64,
    revoked: u64,
    failed_commits: u64,
    dead_letters: BTreeMap<String, u64>,
}

/// The copies made so far, by consumer name, and the lag series currently exported.
#[derive(Debug, Default)]
pub(super) struct ConsumerMetrics {
    copied: HashMap<String, Copied>,
    lag_series: BTreeSet<TopicPartition>,
}

impl ConsumerMetrics {
    /// Adds what each consumer counted since the last call to `metrics` (records handled, dead letters by kind,
    /// assignments, revocations and failed offset commits as `errors_total{component="consumer",kind="commit"}`) and sets the lag gauges: one series per partition this runtime's groups
    /// own, the largest lag when several groups read that partition, removed when no group owns it any more.
    pub(super) fn sync(&mut self, metrics: &Metrics, consumers: &[GroupConsumer]) {
        let mut lags: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for consumer in consumers {
            let topic = consumer.topics().first().map_or("", String::as_str);
            let stats = consumer.stats();
            let copied = self.copied.entry(consumer.name().to_owned()).or_default();
            let handled = stats.handled.load(Ordering::Relaxed);
            if handled > copied.handled {
                metrics.messages(topic, Direction::Consumed, handled - copied.handled);
            }
            copied.handled = copied.handled.max(handled);
            let assigned = stats.assigned.load(Ordering::Relaxed);
            for _ in copied.assigned..assigned {
                metrics.rebalance(RebalanceEvent::Assigned);
            }
            copied.assigned = copied.assigned.max(assigned);
            let revoked = stats.revoked.load(Ordering::Relaxed);
            for _ in copied.revoked..revoked {
                metrics.rebalance(RebalanceEvent::Revoked);
            }
            copied.revoked = copied.revoked.max(revoked);
            let failed_commits = stats.failed_commits.load(Ordering::Relaxed);
            for _ in copied.failed_commits..failed_commits {
                metrics.error("consumer", "commit");
            }
            copied.failed_commits = copied.failed_commits.max(failed_commits);
            for (kind, count) in stats.dead_letters_by_kind() {
                let before = copied.dead_letters.get(&kind).copied().unwrap_or(0);
                for _ in before..count {
                    metrics.dead_lettered(topic, dead_letter_reason(&kind));
                }
                copied.dead_letters.insert(kind, count.max(before));
            }
            for (partition, lag) in stats.lags() {
                let entry = lags.entry(partition).or_insert(lag);
                *entry = (*entry).max(lag);
            }
        }
        for gone in self.lag_series.difference(&lags.keys().cloned().collect()) {
            metrics.remove_consumer_lag(&gone.topic, gone.partition);
        }
        for (partition, lag) in &lags {
            metrics.set_consumer_lag(&partition.topic, partition.partition, *lag);
        }
        self.lag_series = lags.into_keys().collect();
    }
}

/// The `reason` label of a dead letter: the failure kinds the runtime's handlers report, `other` for the rest.
fn dead_letter_reason(kind: &str) -> &'static str {
    match kind {
        "decode" => "decode",
        "encode" => "encode",
        "activate" => "activate",
        "produce" => "produce",
        "panic" => "panic",
        "timeout" => "timeout",
        "undeliverable" => "undeliverable",
        "unhandled_type" => "unhandled_type",
        "stopped" => "stopped",
        "tombstone" => "tombstone",
        "handler" => "handler",
        "expired" => "expired",
        "cancelled" => "cancelled",
        "cycle" => "cycle",
        "state" => "state",
        _ => "other",
    }
}

/// Copies the consumers' counters and lags into the runtime's metrics until the runtime stops, every
/// statistics interval (at most every second).
pub(super) fn spawn(runtime: &KafkaWorkerAgentRuntime) {
    let weak = Arc::downgrade(&runtime.inner);
    let token = runtime.inner.token.child_token();
    let interval = runtime
        .inner
        .config
        .streaming
        .statistics_interval
        .min(MAX_SYNC_INTERVAL);
    let span = tracing::info_span!("consumer.metrics", runtime_id = %runtime.inner.runtime_id);
    runtime.inner.tracker.spawn(tracing::Instrument::instrument(
        async move {
            let mut state = ConsumerMetrics::default();
            let mut save_failures = 0;
            let mut passivations = 0;
            let mut produced = autogen_kafka_streaming::ProduceCounts::default();
            while let Some(inner) = super::lifecycle::tick(&token, interval, &weak).await {
                let consumers = inner.consumers.lock().await;
                state.sync(&inner.metrics, &consumers);
                drop(consumers);
                // Hand-overs whose state write failed for good: `autogen_kafka_errors_total{component="agent_state",
                // kind="save_failed"}` (each is logged with its agent id where it happens).
                let failures = inner.agents.save_failures();
                for _ in save_failures..failures {
                    inner.metrics.error("agent_state", "save_failed");
                }
                save_failures = save_failures.max(failures);
                inner.metrics.set_active_agents(inner.agents.active_count());
                let total = inner.agents.passivations();
                inner
                    .metrics
                    .agents_passivated(total.saturating_sub(passivations));
                passivations = passivations.max(total);
                if let Some(counts) = inner.producer.produce_counts() {
                    inner.metrics.produced(
                        counts.requests.saturating_sub(produced.requests),
                        counts.records.saturating_sub(produced.records),
                    );
                    produced.requests = produced.requests.max(counts.requests);
                    produced.records = produced.records.max(counts.records);
                }
                // Handled requests past their deadline can no longer come back: forget them, idle or not.
                let processors = super::lock(&inner.processors).clone();
                for processor in processors {
                    processor.forget_expired();
                }
            }
        },
        span,
    ));
}

#[cfg(test)]
mod tests {
    use super::dead_letter_reason;

    #[test]
    fn unknown_failure_kinds_are_other() {
        assert_eq!(dead_letter_reason("decode"), "decode");
        assert_eq!(dead_letter_reason("cancelled"), "cancelled");
        assert_eq!(dead_letter_reason("something new"), "other");
    }
}

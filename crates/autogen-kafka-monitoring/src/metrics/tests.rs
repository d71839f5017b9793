//! Metrics are read back through the text exposition format, as Prometheus would.

use std::time::Duration;

use prometheus::{IntCounter, Registry};

use super::*;

/// The value of the sample `name` whose label set is exactly `labels`, if present.
fn sample(metrics: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = metrics.encode_text().expect("encode");
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wanted.sort();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, found) = match series.split_once('{') {
                Some((n, rest)) => {
                    let body = rest.strip_suffix('}')?;
                    let mut found: Vec<(String, String)> = body
                        .split(',')
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').expect("label pair");
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    found.sort();
                    (n, found)
                }
                None => (series, Vec::new()),
            };
            (series_name == name && found == wanted).then(|| value.parse().expect("number"))
        })
}

#[test]
fn message_counters_are_per_topic_and_direction() {
    let metrics = Metrics::new().unwrap();
    metrics.message_consumed("requests");
    metrics.message_consumed("requests");
    metrics.message_produced("responses");
    metrics.messages("requests", Direction::Produced, 5);

    let labels = |topic, direction| [("topic", topic), ("direction", direction)];
    assert_eq!(
        sample(&metrics, MESSAGES_TOTAL, &labels("requests", "consumed")),
        Some(2.0)
    );
    assert_eq!(
        sample(&metrics, MESSAGES_TOTAL, &labels("requests", "produced")),
        Some(5.0)
    );
    assert_eq!(
        sample(&metrics, MESSAGES_TOTAL, &labels("responses", "produced")),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, MESSAGES_TOTAL, &labels("responses", "consumed")),
        None
    );
}

#[test]
fn handler_latency_is_a_histogram_per_agent_type() {
    let metrics = Metrics::new().unwrap();
    metrics.observe_handler("assistant", Duration::from_millis(3));
    metrics.observe_handler("assistant", Duration::from_millis(700));
    metrics.observe_handler("critic", Duration::from_secs(2));

    let count = format!("{HANDLER_DURATION}_count");
    let sum = format!("{HANDLER_DURATION}_sum");
    let bucket = format!("{HANDLER_DURATION}_bucket");
    assert_eq!(
        sample(&metrics, &count, &[("agent_type", "assistant")]),
        Some(2.0)
    );
    assert_eq!(
        sample(&metrics, &count, &[("agent_type", "critic")]),
        Some(1.0)
    );
    let total = sample(&metrics, &sum, &[("agent_type", "assistant")]).unwrap();
    assert!((total - 0.703).abs() < 1e-9, "sum was {total}");
    // 3 ms falls in the 5 ms bucket, 700 ms does not.
    assert_eq!(
        sample(
            &metrics,
            &bucket,
            &[("agent_type", "assistant"), ("le", "0.005")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            &bucket,
            &[("agent_type", "assistant"), ("le", "1")]
        ),
        Some(2.0)
    );
}

#[test]
fn rpc_timer_tracks_in_flight_latency_and_outcome() {
    let metrics = Metrics::new().unwrap();
    let first = metrics.start_rpc("assistant");
    let second = metrics.start_rpc("assistant");
    assert_eq!(first.agent_type(), "assistant");
    assert_eq!(sample(&metrics, RPCS_IN_FLIGHT, &[]), Some(2.0));

    let elapsed = first.finish(RpcOutcome::Ok);
    assert!(elapsed <= second.elapsed());
    assert_eq!(sample(&metrics, RPCS_IN_FLIGHT, &[]), Some(1.0));
    second.finish(RpcOutcome::Timeout);
    assert_eq!(sample(&metrics, RPCS_IN_FLIGHT, &[]), Some(0.0));

    let outcome = |o| [("agent_type", "assistant"), ("outcome", o)];
    assert_eq!(sample(&metrics, RPCS_TOTAL, &outcome("ok")), Some(1.0));
    assert_eq!(sample(&metrics, RPCS_TOTAL, &outcome("timeout")), Some(1.0));
    let count = format!("{RPC_DURATION}_count");
    assert_eq!(
        sample(&metrics, &count, &[("agent_type", "assistant")]),
        Some(2.0)
    );
}

#[test]
fn dropped_rpc_timer_counts_as_cancelled_once() {
    let metrics = Metrics::new().unwrap();
    drop(metrics.start_rpc("critic"));
    assert_eq!(sample(&metrics, RPCS_IN_FLIGHT, &[]), Some(0.0));
    assert_eq!(
        sample(
            &metrics,
            RPCS_TOTAL,
            &[("agent_type", "critic"), ("outcome", "cancelled")]
        ),
        Some(1.0)
    );
    // A finished timer is not counted again when it is dropped.
    metrics
        .start_rpc("critic")
        .finish(RpcOutcome::Undeliverable);
    assert_eq!(
        sample(
            &metrics,
            RPCS_TOTAL,
            &[("agent_type", "critic"), ("outcome", "cancelled")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            RPCS_TOTAL,
            &[("agent_type", "critic"), ("outcome", "undeliverable")]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&metrics, RPCS_IN_FLIGHT, &[]), Some(0.0));
}

#[test]
fn record_rpc_leaves_in_flight_alone() {
    let metrics = Metrics::new().unwrap();
    metrics.record_rpc("critic", RpcOutcome::Error, Duration::from_millis(20));
    assert_eq!(sample(&metrics, RPCS_IN_FLIGHT, &[]), Some(0.0));
    assert_eq!(
        sample(
            &metrics,
            RPCS_TOTAL,
            &[("agent_type", "critic"), ("outcome", "error")]
        ),
        Some(1.0)
    );
}

#[test]
fn unmatched_dead_letter_and_error_counters() {
    let metrics = Metrics::new().unwrap();
    metrics.unmatched_response(UnmatchedResponse::Late);
    metrics.unmatched_response(UnmatchedResponse::Unknown);
    metrics.unmatched_response(UnmatchedResponse::Unknown);
    metrics.dead_lettered("requests", "decode");
    metrics.error("consumer", "commit");
    metrics.error("consumer", "commit");
    metrics.error("producer", "timeout");

    assert_eq!(
        sample(&metrics, UNMATCHED_RESPONSES, &[("kind", "late")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, UNMATCHED_RESPONSES, &[("kind", "unknown")]),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &metrics,
            DEAD_LETTERS_TOTAL,
            &[("topic", "requests"), ("reason", "decode")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            ERRORS_TOTAL,
            &[("component", "consumer"), ("kind", "commit")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &metrics,
            ERRORS_TOTAL,
            &[("component", "producer"), ("kind", "timeout")]
        ),
        Some(1.0)
    );
}

#[test]
fn consumer_lag_is_set_and_removed_per_partition() {
    let metrics = Metrics::new().unwrap();
    metrics.set_consumer_lag("requests", 0, 42);
    metrics.set_consumer_lag("requests", 1, 7);
    metrics.set_consumer_lag("requests", 0, 40);
    let lag = |p| [("topic", "requests"), ("partition", p)];
    assert_eq!(sample(&metrics, CONSUMER_LAG, &lag("0")), Some(40.0));
    assert_eq!(sample(&metrics, CONSUMER_LAG, &lag("1")), Some(7.0));

    assert!(metrics.remove_consumer_lag("requests", 1));
    assert!(!metrics.remove_consumer_lag("requests", 1));
    assert_eq!(sample(&metrics, CONSUMER_LAG, &lag("1")), None);
    assert_eq!(sample(&metrics, CONSUMER_LAG, &lag("0")), Some(40.0));
}

#[test]
fn rebalances_and_connection_state() {
    let metrics = Metrics::new().unwrap();
    metrics.rebalance(RebalanceEvent::Assigned);
    metrics.rebalance(RebalanceEvent::Revoked);
    metrics.rebalance(RebalanceEvent::Assigned);
    assert_eq!(
        sample(&metrics, REBALANCES_TOTAL, &[("event", "assigned")]),
        Some(2.0)
    );
    assert_eq!(
        sample(&metrics, REBALANCES_TOTAL, &[("event", "revoked")]),
        Some(1.0)
    );

    let state = |s| [("client", "producer"), ("state", s)];
    metrics.set_connection_state("producer", ConnectionState::Connecting);
    assert_eq!(
        sample(&metrics, CONNECTION_STATE, &state("connecting")),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, CONNECTION_STATE, &state("connected")),
        Some(0.0)
    );
    metrics.set_connection_state("producer", ConnectionState::Connected);
    assert_eq!(
        sample(&metrics, CONNECTION_STATE, &state("connecting")),
        Some(0.0)
    );
    assert_eq!(
        sample(&metrics, CONNECTION_STATE, &state("connected")),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, CONNECTION_STATE, &state("disconnected")),
        Some(0.0)
    );
}

#[test]
fn clones_share_one_registry_and_instances_do_not() {
    let metrics = Metrics::new().unwrap();
    let clone = metrics.clone();
    clone.message_produced("t");
    assert_eq!(
        sample(
            &metrics,
            MESSAGES_TOTAL,
            &[("topic", "t"), ("direction", "produced")]
        ),
        Some(1.0)
    );
    let other = Metrics::new().unwrap();
    assert_eq!(
        sample(
            &other,
            MESSAGES_TOTAL,
            &[("topic", "t"), ("direction", "produced")]
        ),
        None
    );
}

#[test]
fn application_metrics_in_the_registry_are_exported_too() {
    let registry = Registry::new_custom(None, None).unwrap();
    let custom = IntCounter::new("app_widgets_total", "Widgets.").unwrap();
    registry.register(Box::new(custom.clone())).unwrap();
    let metrics = Metrics::with_registry(registry).unwrap();
    custom.inc();
    assert_eq!(sample(&metrics, "app_widgets_total", &[]), Some(1.0));
    assert!(metrics.registry().gather().len() > 1);
}

#[test]
fn a_registry_holding_our_names_is_rejected() {
    let registry = Registry::new();
    let clash = IntCounter::new(REBALANCES_TOTAL, "Clash.").unwrap();
    registry.register(Box::new(clash)).unwrap();
    let error = Metrics::with_registry(registry).unwrap_err();
    assert!(
        matches!(error, MonitoringError::RegisterMetric { name, .. } if name == REBALANCES_TOTAL),
        "{error:?}"
    );
}

#[test]
fn exposition_has_help_and_type_lines() {
    let metrics = Metrics::new().unwrap();
    metrics.message_consumed("t");
    let text = metrics.encode_text().unwrap();
    assert!(text.contains("# TYPE autogen_kafka_messages_total counter"));
    assert!(text.contains("# HELP autogen_kafka_messages_total "));
    assert!(text.contains("# TYPE autogen_kafka_rpcs_in_flight gauge"));
}

#[test]
fn active_agents_and_passivations_are_exposed() {
    let metrics = Metrics::new().unwrap();
    metrics.set_active_agents(7);
    metrics.agents_passivated(3);
    metrics.agents_passivated(2);
    metrics.set_active_agents(2);
    assert_eq!(sample(&metrics, ACTIVE_AGENTS, &[]), Some(2.0));
    assert_eq!(sample(&metrics, PASSIVATIONS_TOTAL, &[]), Some(5.0));
}

#[test]
fn every_metric_the_deployed_dashboard_queries_exists() {
    // deploy/grafana/dashboards/autogen-kafka.json is what operators see: each series it queries must be one the
    // runtime exports.
    let metrics = Metrics::new().unwrap();
    metrics.message_consumed("t");
    metrics.observe_handler("a", Duration::from_millis(1));
    metrics.record_rpc("a", RpcOutcome::Ok, Duration::from_millis(1));
    metrics.unmatched_response(UnmatchedResponse::Late);
    metrics.dead_lettered("t", "decode");
    metrics.error("c", "k");
    metrics.set_consumer_lag("t", 0, 1);
    metrics.rebalance(RebalanceEvent::Assigned);
    metrics.set_connection_state("producer", ConnectionState::Connected);
    metrics.set_active_agents(1);
    metrics.agents_passivated(1);
    let mut exported: Vec<String> = Vec::new();
    for family in metrics.registry().gather() {
        let name = family.name().to_owned();
        if family.get_field_type() == prometheus::proto::MetricType::HISTOGRAM {
            for suffix in ["_bucket", "_sum", "_count"] {
                exported.push(format!("{name}{suffix}"));
            }
        }
        exported.push(name);
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/dashboards/autogen-kafka.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queried = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(start) = rest.find("autogen_kafka_") {
                let tail = &rest[start..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                queried.push(tail[..end].to_owned());
                rest = &tail[end..];
            }
        }
    }
    assert!(queried.len() >= 10, "{queried:?}");
    for name in &queried {
        assert!(
            exported.contains(name),
            "the dashboard queries {name}, which the runtime does not export"
        );
    }
}

//! Health probes as the runtime and an orchestrator rely on them.

use std::thread;
use std::time::Duration;

use super::*;

#[test]
fn no_components_means_live_and_ready() {
    let health = Health::new();
    assert!(health.liveness().is_healthy());
    let ready = health.readiness();
    assert!(ready.is_healthy());
    assert_eq!(ready.status, HealthStatus::Up);
    assert!(ready.components.is_empty());
}

#[test]
fn a_new_component_is_down_until_it_reports() {
    let health = Health::new();
    let kafka = health.register("kafka", Criticality::Readiness);
    assert_eq!(kafka.status(), HealthStatus::Down);
    let ready = health.readiness();
    assert!(!ready.is_healthy());
    assert_eq!(ready.status, HealthStatus::Down);
    assert_eq!(
        ready.component("kafka").unwrap().reason.as_deref(),
        Some("no report yet")
    );

    kafka.up();
    let ready = health.readiness();
    assert!(ready.is_healthy());
    assert_eq!(ready.status, HealthStatus::Up);
    assert_eq!(ready.component("kafka").unwrap().reason, None);
}

#[test]
fn readiness_needs_every_required_component_up() {
    let health = Health::new();
    let kafka = health.register("kafka", Criticality::Readiness);
    let agents = health.register("agents", Criticality::Liveness);
    kafka.up();
    agents.up();
    assert!(health.readiness().is_healthy());

    kafka.degraded("one broker down");
    let ready = health.readiness();
    assert!(
        !ready.is_healthy(),
        "a degraded required component is not Up"
    );
    assert_eq!(ready.status, HealthStatus::Down);

    kafka.up();
    agents.degraded("slow handlers");
    assert!(!health.readiness().is_healthy());
}

#[test]
fn optional_components_only_degrade_the_summary() {
    let health = Health::new();
    health.register("kafka", Criticality::Readiness).up();
    let registry = health.register("schema_registry", Criticality::Optional);
    registry.down("connection refused");

    for report in [health.readiness(), health.liveness()] {
        assert!(report.is_healthy(), "{report:?}");
        assert_eq!(report.status, HealthStatus::Degraded);
        let entry = report.component("schema_registry").unwrap();
        assert_eq!(entry.status, HealthStatus::Down);
        assert_eq!(entry.reason.as_deref(), Some("connection refused"));
    }
}

#[test]
fn liveness_fails_only_when_a_liveness_component_is_down() {
    let health = Health::new();
    let kafka = health.register("kafka", Criticality::Readiness);
    let agents = health.register("agents", Criticality::Liveness);
    kafka.down("unreachable");
    agents.up();
    assert!(
        health.liveness().is_healthy(),
        "broker trouble is not a reason to restart"
    );
    assert!(!health.readiness().is_healthy());

    agents.degraded("queue nearly full");
    assert!(health.liveness().is_healthy());
    agents.down("dispatch loop exited");
    let live = health.liveness();
    assert!(!live.is_healthy());
    assert_eq!(live.probe, Probe::Liveness);
    assert_eq!(live.status, HealthStatus::Down);
}

#[test]
fn a_silent_heartbeat_component_goes_down() {
    let health = Health::new();
    let agents =
        health.register_heartbeat("agents", Criticality::Liveness, Duration::from_millis(250));
    agents.up();
    assert!(health.liveness().is_healthy());

    thread::sleep(Duration::from_millis(350));
    assert_eq!(agents.status(), HealthStatus::Down);
    let live = health.liveness();
    assert!(!live.is_healthy());
    let entry = live.component("agents").unwrap();
    assert!(
        entry
            .reason
            .as_deref()
            .unwrap()
            .starts_with("no report for"),
        "{entry:?}"
    );

    // Reporting again, even the same status, refreshes the heartbeat.
    agents.up();
    assert!(health.liveness().is_healthy());
}

#[test]
fn since_changes_only_with_the_status() {
    let health = Health::new();
    let kafka = health.register("kafka", Criticality::Readiness);
    kafka.down("unreachable");
    let first = health.readiness().component("kafka").unwrap().since;
    thread::sleep(Duration::from_millis(5));
    kafka.down("still unreachable");
    let report = health.readiness();
    let entry = report.component("kafka").unwrap();
    assert_eq!(entry.since, first);
    assert_eq!(entry.reason.as_deref(), Some("still unreachable"));
    kafka.up();
    assert!(health.readiness().component("kafka").unwrap().since > first);
}

#[test]
fn clones_and_repeat_registrations_share_components() {
    let health = Health::new();
    let clone = health.clone();
    let first = health.register("kafka", Criticality::Readiness);
    let second = clone.register("kafka", Criticality::Optional);
    second.up();
    assert_eq!(first.status(), HealthStatus::Up);
    let report = health.readiness();
    assert_eq!(report.components.len(), 1);
    assert_eq!(report.components[0].criticality, Criticality::Readiness);
    assert_eq!(health.component("kafka").unwrap().name(), "kafka");
    assert!(health.component("zookeeper").is_none());
}

#[test]
fn deregistered_components_leave_the_reports() {
    let health = Health::new();
    let kafka = health.register("kafka", Criticality::Readiness);
    kafka.down("unreachable");
    assert!(!health.readiness().is_healthy());
    assert!(health.deregister("kafka"));
    assert!(!health.deregister("kafka"));
    kafka.down("still unreachable");
    assert!(health.readiness().is_healthy());
}

#[test]
fn reports_are_updated_from_many_threads() {
    let health = Health::new();
    let handles: Vec<_> = (0..4)
        .map(|i| health.register(format!("worker-{i}"), Criticality::Readiness))
        .collect();
    thread::scope(|scope| {
        for handle in &handles {
            scope.spawn(move || {
                for n in 0..1_000 {
                    if n % 2 == 0 {
                        handle.degraded("busy");
                    } else {
                        handle.up();
                    }
                }
            });
        }
    });
    assert!(health.readiness().is_healthy());
}

#[test]
fn report_serialises_as_documented() {
    let health = Health::new();
    health
        .register("kafka", Criticality::Readiness)
        .down("unreachable");
    health.register("agents", Criticality::Liveness).up();
    let json = serde_json::to_value(health.readiness()).unwrap();
    assert_eq!(json["probe"], "readiness");
    assert_eq!(json["status"], "down");
    assert_eq!(json["healthy"], false);
    assert!(json["checked_at"].as_str().unwrap().ends_with('Z'));
    let components = json["components"].as_array().unwrap();
    assert_eq!(components.len(), 2);
    // Sorted by name.
    assert_eq!(components[0]["name"], "agents");
    assert_eq!(components[0]["status"], "up");
    assert_eq!(components[0]["criticality"], "liveness");
    assert!(components[0]["reason"].is_null());
    assert_eq!(components[1]["name"], "kafka");
    assert_eq!(components[1]["reason"], "unreachable");
    let since = components[1]["since"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(since).is_ok(),
        "{since}"
    );
}

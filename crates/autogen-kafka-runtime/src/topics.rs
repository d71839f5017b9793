//! The fleet's shared topics: what each must be, and making or checking them (`autogen-kafka topics`).

use std::time::Duration;

use autogen_kafka_admin::{Cleanup, CreateMode, TopicAdmin, TopicOutcome, TopicSpec};
use autogen_kafka_config::Config;

use crate::error::Result;

/// The shared topics of a fleet of `config` (a runtime's own reply topic aside): requests, responses,
/// publications and dead letters with `delete`, registry, subscriptions, state and the runtime directory compacted,
/// each with `kafka.num_partitions` and `kafka.replication_factor`.
///
/// With `mixed_fleet`, the subscription topic is `delete` with unlimited retention instead: Python runtimes write
/// subscription events without a key, which a broker refuses on a compacted topic (docs/wire-format.md §3).
///
/// # Examples
///
/// ```
/// use autogen_kafka_admin::Cleanup;
///
/// let config = autogen_kafka_config::Config::default();
/// let specs = autogen_kafka_runtime::fleet_topic_specs(&config, true);
/// let subscriptions = specs.iter().find(|s| s.name == "agent_subscriptions").unwrap();
/// assert_eq!(subscriptions.cleanup, Cleanup::Delete);
/// assert_eq!(subscriptions.configs.get("retention.ms").map(String::as_str), Some("-1"));
/// ```
#[must_use]
pub fn fleet_topic_specs(config: &Config, mixed_fleet: bool) -> Vec<TopicSpec> {
    let partitions = config.kafka.num_partitions.max(1);
    let replication = config.kafka.replication_factor.max(1);
    let sized = |spec: TopicSpec| spec.partitions(partitions).replication_factor(replication);
    let topics = &config.runtime;
    let subscriptions = if mixed_fleet {
        TopicSpec::new(&topics.subscription_topic).config("retention.ms", "-1")
    } else {
        TopicSpec::compacted(&topics.subscription_topic)
    };
    vec![
        sized(TopicSpec::new(&topics.runtime_requests)),
        sized(TopicSpec::new(&topics.runtime_responses)),
        sized(TopicSpec::new(&topics.publish_topic)),
        sized(TopicSpec::new(&topics.dead_letter_topic)),
        sized(TopicSpec::compacted(&topics.registry_topic)),
        sized(subscriptions),
        sized(TopicSpec::compacted(&topics.state_topic)),
        sized(TopicSpec::compacted(&topics.runtimes_topic)),
    ]
}

/// The request topic of `agent_type` as it must be: `<runtime_requests>.<agent_type>` with
/// `runtime.request_topic_per_type` (created when a runtime first hosts the type), else the shared one.
#[must_use]
pub(crate) fn request_topic_spec(config: &Config, agent_type: &str) -> TopicSpec {
    TopicSpec::new(config.runtime.request_topic(agent_type))
        .partitions(config.kafka.num_partitions.max(1))
        .replication_factor(config.kafka.replication_factor.max(1))
}

/// With per-type request topics, refuses an agent type that cannot be part of a topic name (agent types may hold
/// any Unicode word character, topic names only ASCII letters, digits, `.`, `_` and `-`, up to 249 bytes).
pub(crate) fn check_request_topic(
    config: &Config,
    agent_type: &str,
) -> std::result::Result<(), autogen_kafka_core::CoreError> {
    let topic = config.runtime.request_topic(agent_type);
    let valid = topic.len() <= 249
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(autogen_kafka_core::CoreError::InvalidAgentId {
            value: agent_type.to_owned(),
            reason: "with runtime.request_topic_per_type the agent type names a topic: ASCII letters, digits, '.', '_' and '-' only, up to 249 bytes with the prefix",
        })
    }
}

/// What [`check_fleet_topics`] found for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicCheck {
    /// The topic.
    pub topic: String,
    /// Its partition count; `None` when it does not exist.
    pub partitions: Option<u32>,
    /// Its cleanup policy, when the broker reported it.
    pub cleanup: Option<Cleanup>,
    /// What does not fit its spec (empty: it fits).
    pub problems: Vec<String>,
}

fn admin(config: &Config, mode: CreateMode) -> Result<TopicAdmin> {
    Ok(
        TopicAdmin::builder(config.kafka.client_properties().into_map())
            .operation_timeout(crate::worker::step_timeout(config).min(Duration::from_secs(30)))
            .create_mode(mode)
            .build()?,
    )
}

/// Creates the fleet's missing topics and verifies the existing ones ([`TopicAdmin::ensure_topics`]).
///
/// # Errors
///
/// [`crate::RuntimeError::Admin`] when a topic cannot be created or has fewer partitions than asked,
/// [`crate::RuntimeError::Config`] for an invalid configuration.
pub async fn ensure_fleet_topics(
    config: &Config,
    mode: CreateMode,
    mixed_fleet: bool,
) -> Result<Vec<TopicOutcome>> {
    config.validate()?;
    let specs = fleet_topic_specs(config, mixed_fleet);
    Ok(admin(config, mode)?.ensure_topics(&specs).await?)
}

/// Checks the fleet's topics against their specs without changing anything: which are missing, which have fewer
/// partitions than `kafka.num_partitions`, and which report another cleanup policy (brokers that do not report it
/// are not judged on it). Missing topics are never auto-created by the check.
///
/// # Errors
///
/// [`crate::RuntimeError::Admin`] when the broker cannot be asked, [`crate::RuntimeError::Config`] for an invalid
/// configuration.
pub async fn check_fleet_topics(
    config: &Config,
    mode: CreateMode,
    mixed_fleet: bool,
) -> Result<Vec<TopicCheck>> {
    config.validate()?;
    let admin = admin(config, mode)?;
    let existing = admin.topic_names().await?;
    let mut checks = Vec::new();
    for spec in fleet_topic_specs(config, mixed_fleet) {
        if !existing.contains(&spec.name) {
            checks.push(TopicCheck {
                topic: spec.name.clone(),
                partitions: None,
                cleanup: None,
                problems: vec!["missing".to_owned()],
            });
            continue;
        }
        let description = admin.describe(&spec.name).await?;
        let cleanup = description.cleanup();
        let mut problems = Vec::new();
        if description.partitions < spec.partitions {
            problems.push(format!(
                "{} partitions, fewer than kafka.num_partitions = {}",
                description.partitions, spec.partitions
            ));
        }
        if let Some(found) = cleanup
            && found != spec.cleanup
        {
            problems.push(format!(
                "cleanup.policy {found}, should be {}",
                spec.cleanup
            ));
        }
        checks.push(TopicCheck {
            topic: spec.name,
            partitions: Some(description.partitions),
            cleanup,
            problems,
        });
    }
    Ok(checks)
}

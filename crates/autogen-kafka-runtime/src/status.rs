//! [`fleet_status`]: what an operator sees of a fleet — its runtimes, registrations, subscriptions and how far each
//! agent type's consumer group is behind.

use std::time::Duration;

use autogen_kafka_config::Config;
use autogen_kafka_streaming::{PartitionLag, group_lag};

use crate::error::{Result, RuntimeError};

/// A Rust runtime of the fleet, from its directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeStatus {
    /// The instance id.
    pub runtime_id: String,
    /// Its reply topic.
    pub reply_topic: String,
    /// When its entry expires unless renewed, milliseconds since the Unix epoch.
    pub expires_ms: i64,
    /// Whether the entry is unexpired now.
    pub live: bool,
    /// The agent types it registered (live or expired).
    pub agent_types: Vec<String>,
}

/// One registration of an agent type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrationStatus {
    /// The agent type.
    pub agent_type: String,
    /// The Rust runtime that registered it; `None` for a Python runtime.
    pub runtime_id: Option<String>,
    /// Its expiry, milliseconds since the Unix epoch; `None`: never (Python runtimes).
    pub expires_ms: Option<i64>,
}

/// One subscription of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionStatus {
    /// The subscription id.
    pub id: String,
    /// What it maps: `type <topic type> -> <agent type>` or `prefix <topic type prefix> -> <agent type>`.
    pub mapping: String,
    /// The Rust runtime that added it; `None` for a Python runtime.
    pub runtime_id: Option<String>,
}

/// How far the consumer group of one agent type is behind on the request topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TypeLag {
    /// The agent type.
    pub agent_type: String,
    /// Its consumer group, `<group_id>.agent.<type>`.
    pub group: String,
    /// Each partition of the request topic.
    pub partitions: Vec<PartitionLag>,
    /// The sum of the partitions' lag: records the type's replicas have not handled yet.
    pub total: i64,
}

/// The state of a fleet, read from its topics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetStatus {
    /// The Rust runtimes with a directory entry, sorted by instance id.
    pub runtimes: Vec<RuntimeStatus>,
    /// Every registration, sorted by agent type.
    pub registrations: Vec<RegistrationStatus>,
    /// Every subscription, sorted by id.
    pub subscriptions: Vec<SubscriptionStatus>,
    /// The consumer-group lag of every registered agent type, sorted by type.
    pub lag: Vec<TypeLag>,
}

/// Reads the fleet's runtimes, registry and subscription topics to their ends, and each registered agent type's
/// consumer-group position on the request topic. For operators: `autogen-kafka fleet status`.
///
/// # Errors
///
/// [`RuntimeError::Config`] for an invalid configuration, [`RuntimeError::Streaming`] when a topic or a group's
/// offsets cannot be read in time.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = autogen_kafka_config::Config::load()?;
/// let status = autogen_kafka_runtime::fleet_status(&config).await?;
/// for runtime in &status.runtimes {
///     println!("{} live={} hosts {:?}", runtime.runtime_id, runtime.live, runtime.agent_types);
/// }
/// # Ok(()) }
/// ```
pub async fn fleet_status(config: &Config) -> Result<FleetStatus> {
    config.validate()?;
    let timeout = crate::worker::step_timeout(config);
    let views = crate::cleanup::read_views(config, "status", timeout).await?;
    let now = autogen_kafka_services::headers::now_ms();
    let runtimes = views
        .directory
        .entries()
        .into_iter()
        .map(|(runtime_id, entry)| RuntimeStatus {
            agent_types: views.registry.types_of(&runtime_id),
            live: entry.expires_ms > now,
            expires_ms: entry.expires_ms,
            reply_topic: entry.reply_topic,
            runtime_id,
        })
        .collect();
    let registrations: Vec<RegistrationStatus> = views
        .registry
        .registrations()
        .into_iter()
        .map(|(agent_type, runtime_id, expires_ms)| RegistrationStatus {
            agent_type,
            runtime_id,
            expires_ms,
        })
        .collect();
    let subscriptions = views
        .subscriptions
        .subscriptions()
        .into_iter()
        .map(|(subscription, runtime_id)| SubscriptionStatus {
            id: subscription.id().to_owned(),
            mapping: mapping(&subscription),
            runtime_id,
        })
        .collect();
    let mut types: Vec<String> = registrations.iter().map(|r| r.agent_type.clone()).collect();
    types.dedup();
    let lag = lags(config, types, timeout.min(Duration::from_secs(10))).await?;
    Ok(FleetStatus {
        runtimes,
        registrations,
        subscriptions,
        lag,
    })
}

/// What a subscription maps, in one line.
fn mapping(subscription: &autogen_kafka_core::Subscription) -> String {
    use autogen_kafka_core::Subscription;
    match subscription {
        Subscription::Type(s) => format!("type {} -> {}", s.topic_type(), s.agent_type()),
        Subscription::TypePrefix(s) => {
            format!("prefix {} -> {}", s.topic_type_prefix(), s.agent_type())
        }
        other => format!("{other:?}"),
    }
}

/// The lag of each type's group on its request topic (blocking client calls, off the async threads).
async fn lags(config: &Config, types: Vec<String>, timeout: Duration) -> Result<Vec<TypeLag>> {
    let properties = config.kafka.client_properties().into_map();
    let runtime = config.runtime.clone();
    let group_id = config.kafka.group_id.clone();
    tokio::task::spawn_blocking(move || {
        types
            .into_iter()
            .map(|agent_type| {
                let group = format!("{group_id}.agent.{agent_type}");
                let topic = runtime.request_topic(&agent_type);
                let partitions = group_lag(&properties, &group, &topic, timeout)?;
                let total = partitions.iter().map(|p| p.lag).sum();
                Ok(TypeLag {
                    agent_type,
                    group,
                    partitions,
                    total,
                })
            })
            .collect::<Result<Vec<_>>>()
    })
    .await
    .unwrap_or_else(|error| {
        if error.is_panic() {
            std::panic::resume_unwind(error.into_panic());
        }
        // Cancelled: the async runtime is shutting down.
        Err(RuntimeError::Streaming(
            autogen_kafka_streaming::StreamingError::Shutdown,
        ))
    })
}

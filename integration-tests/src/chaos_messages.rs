//! The messages of the fault harness's `relay` agents and the fleet's configuration, shared by `chaos-host` and
//! the `chaos` driver.

use autogen_kafka::{Config, Message};
use autogen_kafka_testing::BrokerKind;
use serde::{Deserialize, Serialize};

/// The configuration of every runtime of the harness's fleet: the integration tests' ([`fleet_config`]), with a
/// clean-up grace that outlasts the broker faults the harness injects: behind the mock cluster's round-trip fault a
/// runtime's producer can stall for 20–25 s (responses lost, requests waiting for their timeout) while it is
/// alive, and the fleet must not clean up after it.
///
/// [`fleet_config`]: autogen_kafka_integration_tests::fleet_config
pub(crate) fn chaos_config(bootstrap: &str, kind: BrokerKind, fleet: &str, group: &str) -> Config {
    let mut config = autogen_kafka_integration_tests::fleet_config(bootstrap, kind, fleet, group);
    config.runtime.cleanup_grace = std::time::Duration::from_secs(60);
    // librdkafka's own debug contexts for the hosts' clients (for example `cgrp` to follow group membership).
    if let Ok(debug) = std::env::var("CHAOS_LIBRDKAFKA_DEBUG")
        && !debug.trim().is_empty()
    {
        config
            .kafka
            .librdkafka
            .insert("debug".to_owned(), debug.trim().to_owned());
    }
    // Any librdkafka properties for the hosts' clients, `key=value` pairs separated by commas (experiments).
    if let Ok(properties) = std::env::var("CHAOS_LIBRDKAFKA_PROPERTIES") {
        for pair in properties.split(',').filter(|pair| !pair.trim().is_empty()) {
            if let Some((key, value)) = pair.split_once('=') {
                config
                    .kafka
                    .librdkafka
                    .insert(key.trim().to_owned(), value.trim().to_owned());
            }
        }
    }
    config
}

/// Asks a `relay` agent to add 1 to `counter/<counter_key>` and to its own count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Relay {
    /// The driver's id of the call.
    pub(crate) call: String,
    /// The key of the counter agent to call.
    pub(crate) counter_key: String,
    /// The caller's deadline, in milliseconds since the Unix epoch.
    pub(crate) deadline_ms: u64,
}
impl Message for Relay {
    const TYPE_NAME: &'static str = "ChaosRelay";
}

/// A `relay` agent's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Relayed {
    /// The relay's own count after this call.
    pub(crate) relay_total: u64,
    /// The counter's answer.
    pub(crate) counter_total: u64,
    /// The runtime that hosts the relay.
    pub(crate) relay_runtime: String,
    /// The runtime that hosts the counter.
    pub(crate) counter_runtime: String,
}
impl Message for Relayed {
    const TYPE_NAME: &'static str = "ChaosRelayed";
}

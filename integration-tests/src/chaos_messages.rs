//! The messages of the fault harness's `relay` agents, shared by `chaos-host` and the `chaos` driver.

use autogen_kafka::Message;
use serde::{Deserialize, Serialize};

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

//! Agent state on a compacted topic, keyed by agent id.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use autogen_kafka_core::AgentId;
use autogen_kafka_streaming::{InboundRecord, OutboundRecord};
use serde_json::Value;

use crate::error::{Result, ServicesError};

/// The latest saved state of every agent id, fed by the state topic.
///
/// When a partition of the request topic moves to another replica, the old owner saves the state of the agents
/// it hosted there (one record per agent id, keyed `type/key`, value = the state as JSON); the new owner reads
/// the topic up to its end before activating any of them and loads the state into the fresh instance.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::AgentId;
/// use autogen_kafka_services::StateStore;
///
/// let store = StateStore::new("agent_state");
/// let id = AgentId::new("counter", "a")?;
/// let record = store.record(&id, &serde_json::json!({"count": 3}))?;
/// assert_eq!(record.key.as_deref(), Some(&b"counter/a"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StateStore {
    topic: String,
    states: Mutex<HashMap<String, Value>>,
}

impl StateStore {
    /// An empty store of `topic`.
    #[must_use]
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            states: Mutex::new(HashMap::new()),
        }
    }

    /// The latest state saved for `id`.
    #[must_use]
    pub fn get(&self, id: &AgentId) -> Option<Value> {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id.to_string())
            .cloned()
    }

    /// Records `state` as the latest for `id` (what the state topic will say once the saved record is read back).
    pub fn put(&self, id: &AgentId, state: Value) {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_string(), state);
    }

    /// The record that saves `state` for `id`.
    ///
    /// # Errors
    ///
    /// [`ServicesError::State`] when the state cannot be encoded.
    pub fn record(&self, id: &AgentId, state: &Value) -> Result<OutboundRecord> {
        let value = serde_json::to_vec(state).map_err(|source| ServicesError::State {
            agent_id: id.to_string(),
            operation: "saved",
            source: Box::new(source),
        })?;
        Ok(OutboundRecord::new(self.topic.clone(), value).with_key(id.to_string()))
    }

    /// Applies one record of the state topic (a tombstone deletes the key); bad records are logged and skipped.
    pub fn apply(&self, record: &InboundRecord) {
        let Some(key) = record.key_str() else {
            return;
        };
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        match record.value.as_deref() {
            None => {
                states.remove(key);
            }
            Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
                Ok(state) => {
                    states.insert(key.to_owned(), state);
                }
                Err(error) => {
                    tracing::warn!(error = %error, key, offset = record.offset, "skipping an undecodable state record");
                }
            },
        }
    }
}

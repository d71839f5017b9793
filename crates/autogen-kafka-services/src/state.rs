//! Agent state on a compacted topic, keyed by agent id.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use autogen_kafka_core::AgentId;
use autogen_kafka_streaming::{InboundRecord, OutboundRecord};
use serde_json::Value;

use crate::error::{Result, ServicesError};

/// The latest saved state of every agent id, fed by the state topic.
///
/// One record per agent id, keyed `type/key`, value = the state as JSON, with header `ak_state_applied`
/// (`<partition>:<offset>` of the last request record whose effect it holds). The owner writes it whenever a
/// record changed the agent's state, before the record's answer leaves; a new owner reads the topic up to its end
/// before activating any agent, loads the state into the fresh instance, and skips records the state holds
/// already.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::AgentId;
/// use autogen_kafka_services::StateStore;
///
/// let store = StateStore::new("agent_state");
/// let id = AgentId::new("counter", "a")?;
/// let record = store.record(&id, &serde_json::json!({"count": 3}), Some((0, 41)))?;
/// assert_eq!(record.key.as_deref(), Some(&b"counter/a"[..]));
/// assert_eq!(record.header_str("ak_state_applied"), Some("0:41"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StateStore {
    topic: String,
    states: Mutex<HashMap<Box<str>, Saved>>,
}

/// One agent's saved state, kept as compact JSON text (a parsed value costs several times its text in memory,
/// and a runtime keeps the state of every agent it may activate), and the request record it holds the effect of.
#[derive(Debug, Clone)]
struct Saved {
    state: Box<str>,
    applied: Option<Applied>,
}

/// The request record whose effect a saved state holds last: its partition and offset.
pub type Applied = (i32, i64);

/// The header naming the request record a state record holds the effect of, `<partition>:<offset>`.
const APPLIED: &str = "ak_state_applied";

impl StateStore {
    /// An empty store of `topic`.
    #[must_use]
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            states: Mutex::new(HashMap::new()),
        }
    }

    /// The latest state saved for `id`, as JSON text.
    fn saved_text(&self, id: &AgentId) -> Option<Box<str>> {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id.to_string().as_str())
            .map(|saved| saved.state.clone())
    }

    /// The latest state saved for `id`.
    #[must_use]
    pub fn get(&self, id: &AgentId) -> Option<Value> {
        // Only JSON that parsed goes in.
        serde_json::from_str(&self.saved_text(id)?).ok()
    }

    /// Whether the latest state saved for `id` equals `state` (as JSON values: key order does not
    /// matter); `None` when nothing is saved for it.
    #[must_use]
    pub fn holds(&self, id: &AgentId, state: &Value) -> Option<bool> {
        let text = self.saved_text(id)?;
        Some(serde_json::from_str::<Value>(&text).is_ok_and(|saved| saved == *state))
    }

    /// The request record whose effect the latest state saved for `id` holds.
    #[must_use]
    pub fn applied(&self, id: &AgentId) -> Option<Applied> {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id.to_string().as_str())
            .and_then(|saved| saved.applied)
    }

    /// Records `state` as the latest for `id`, holding the effect of `applied` (what the state topic will say once
    /// the saved record is read back).
    pub fn put(&self, id: &AgentId, state: &Value, applied: Option<Applied>) {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id.to_string().into_boxed_str(),
                Saved {
                    state: state.to_string().into_boxed_str(),
                    applied,
                },
            );
    }

    /// The record that saves `state` for `id`.
    ///
    /// # Errors
    ///
    /// [`ServicesError::State`] when the state cannot be encoded.
    pub fn record(
        &self,
        id: &AgentId,
        state: &Value,
        applied: Option<Applied>,
    ) -> Result<OutboundRecord> {
        let value = serde_json::to_vec(state).map_err(|source| ServicesError::State {
            agent_id: id.to_string(),
            operation: "saved",
            source: Box::new(source),
        })?;
        let record = OutboundRecord::new(self.topic.clone(), value).with_key(id.to_string());
        Ok(match applied {
            Some((partition, offset)) => {
                record.with_header(APPLIED, format!("{partition}:{offset}"))
            }
            None => record,
        })
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
                    let applied = record.header_str(APPLIED).and_then(|v| {
                        let (partition, offset) = v.split_once(':')?;
                        Some((partition.parse().ok()?, offset.parse().ok()?))
                    });
                    states.insert(
                        key.into(),
                        Saved {
                            state: state.to_string().into_boxed_str(),
                            applied,
                        },
                    );
                }
                Err(error) => {
                    tracing::warn!(error = %error, key, offset = record.offset, "skipping an undecodable state record");
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use autogen_kafka_core::AgentId;
    use serde_json::json;

    use super::StateStore;

    #[test]
    fn a_saved_state_comes_back_as_it_was_put_and_is_compared_by_value() {
        let store = StateStore::new("state");
        let id = AgentId::new("counter", "a").unwrap();
        assert_eq!(store.holds(&id, &json!({})), None);
        let state = json!({ "count": 3, "names": ["a", "b"], "ratio": 0.1 });
        store.put(&id, &state, Some((1, 7)));
        assert_eq!(store.get(&id), Some(state.clone()));
        assert_eq!(store.applied(&id), Some((1, 7)));
        assert_eq!(store.holds(&id, &state), Some(true));
        assert_eq!(store.holds(&id, &json!({ "count": 4 })), Some(false));
        let reordered = json!({ "ratio": 0.1, "names": ["a", "b"], "count": 3 });
        assert_eq!(
            store.holds(&id, &reordered),
            Some(true),
            "key order does not matter"
        );
    }
}

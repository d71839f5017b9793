//! Agent state on a compacted topic, keyed by agent id.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use autogen_kafka_core::AgentId;
use autogen_kafka_streaming::{InboundRecord, OutboundRecord};
use serde_json::Value;

use crate::error::{Result, ServicesError};

/// The latest saved state of the agent ids whose request partitions this runtime owns, fed by the state topic.
///
/// One record per agent id, keyed `type/key`, value = the state as JSON, with header `ak_state_applied`
/// (`<partition>:<offset>` of the last request record whose effect it holds). The owner writes it whenever a
/// record changed the agent's state, before the record's answer leaves; a new owner reads the state of its new
/// partitions before activating any agent there, loads the state into the fresh instance, and skips records the
/// state holds already.
///
/// The store keeps only what this runtime may need: the state of agents of a type whose request partition (the
/// one `ak_state_applied` names) that type's consumer owns here ([`StateStore::own`]). Records of other agents
/// are passed over, and a revoke drops its partitions' entries ([`StateStore::disown`]), so its memory follows
/// the runtime's share of the fleet, not the fleet. Of two records of one agent id the one later in the state
/// topic wins, whichever reader delivers it first.
///
/// When the state topic has as many partitions as an agent type's request topic ([`StateStore::set_aligned`]),
/// each state record of its agents is written to the partition of the request record it names, so a new owner
/// reads only the state partitions of the request partitions it got.
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
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    states: HashMap<Box<str>, Saved>,
    /// The request partitions owned here, by agent type.
    owned: HashMap<Box<str>, BTreeSet<i32>>,
    /// Agent types whose request topic has as many partitions as the state topic.
    aligned: HashSet<Box<str>>,
}

impl Table {
    /// Whether a state of `agent_type` holding the effect of a record of `applied`'s partition belongs here.
    fn owns(&self, agent_type: &str, applied: Option<Applied>) -> bool {
        covers(self.owned.get(agent_type), applied)
    }
}

/// Whether the owned request `partitions` of a type cover a state holding the effect of a record of `applied`'s
/// partition (a state that names no record: whether the type owns any partition).
fn covers(partitions: Option<&BTreeSet<i32>>, applied: Option<Applied>) -> bool {
    partitions.is_some_and(|partitions| match applied {
        Some((partition, _)) => partitions.contains(&partition),
        None => !partitions.is_empty(),
    })
}

/// One agent's saved state, kept as compact JSON text (a parsed value costs several times its text in memory),
/// the request record it holds the effect of, and where it is in the state topic.
#[derive(Debug, Clone)]
struct Saved {
    state: Box<str>,
    applied: Option<Applied>,
    /// Partition and offset of the state record (what the broker acknowledged, for a state written here).
    at: Option<(i32, i64)>,
}

/// The request record whose effect a saved state holds last: its partition and offset.
pub type Applied = (i32, i64);

/// The header naming the request record a state record holds the effect of, `<partition>:<offset>`.
const APPLIED: &str = "ak_state_applied";

fn parse_applied(value: &str) -> Option<Applied> {
    let (partition, offset) = value.split_once(':')?;
    Some((partition.parse().ok()?, offset.parse().ok()?))
}

impl StateStore {
    /// An empty store of `topic`, owning no partition.
    #[must_use]
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            table: Mutex::new(Table::default()),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Declares whether the state topic has as many partitions as `agent_type`'s request topic: then the state
    /// records of its agents go to the partition of the request record they name.
    pub fn set_aligned(&self, agent_type: &str, aligned: bool) {
        let mut table = self.table();
        if aligned {
            table.aligned.insert(agent_type.into());
        } else {
            table.aligned.remove(agent_type);
        }
    }

    /// Whether the state of `agent_type`'s request partition `p` is in state partition `p` (see
    /// [`StateStore::set_aligned`]).
    #[must_use]
    pub fn is_aligned(&self, agent_type: &str) -> bool {
        self.table().aligned.contains(agent_type)
    }

    /// From now on keeps the state of `agent_type`'s agents of request partitions `partitions`. Call it before
    /// their state is read.
    pub fn own(&self, agent_type: &str, partitions: impl IntoIterator<Item = i32>) {
        self.table()
            .owned
            .entry(agent_type.into())
            .or_default()
            .extend(partitions);
    }

    /// Drops the state of `agent_type`'s agents of request partitions `partitions` and keeps none of it from now
    /// on (a revoke, once the agents were handed over).
    pub fn disown(&self, agent_type: &str, partitions: impl IntoIterator<Item = i32>) {
        let mut table = self.table();
        if let Some(owned) = table.owned.get_mut(agent_type) {
            for partition in partitions {
                owned.remove(&partition);
            }
            if owned.is_empty() {
                table.owned.remove(agent_type);
            }
        }
        let Table { states, owned, .. } = &mut *table;
        let prefix = format!("{agent_type}/");
        let partitions = owned.get(agent_type);
        states.retain(|key, saved| !key.starts_with(&prefix) || covers(partitions, saved.applied));
    }

    /// How many agents' state the store holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table().states.len()
    }

    /// Whether the store holds no state.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The latest state saved for `id`, as JSON text.
    fn saved_text(&self, id: &AgentId) -> Option<Box<str>> {
        self.table()
            .states
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
        self.table()
            .states
            .get(id.to_string().as_str())
            .and_then(|saved| saved.applied)
    }

    /// Records `state` as the latest for `id`, holding the effect of `applied`, as written at `written`
    /// (partition and offset in the state topic): what the state topic says once the record is read back.
    pub fn put(&self, id: &AgentId, state: &Value, applied: Option<Applied>, written: (i32, i64)) {
        self.table().states.insert(
            id.to_string().into_boxed_str(),
            Saved {
                state: state.to_string().into_boxed_str(),
                applied,
                at: Some(written),
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
                let record = record.with_header(APPLIED, format!("{partition}:{offset}"));
                if self.is_aligned(id.agent_type().as_str()) {
                    record.with_partition(partition)
                } else {
                    record
                }
            }
            None => record,
        })
    }

    /// Applies one record of the state topic (a tombstone deletes the key) when it is of an agent whose
    /// partition is owned here and later than what the store holds; bad records are logged and skipped.
    pub fn apply(&self, record: &InboundRecord) {
        let Some(key) = record.key_str() else {
            return;
        };
        let Some((agent_type, _)) = key.split_once('/') else {
            tracing::warn!(
                key,
                offset = record.offset,
                "skipping a state record whose key is no agent id"
            );
            return;
        };
        let applied = record.header_str(APPLIED).and_then(parse_applied);
        let mut table = self.table();
        let later = table.states.get(key).is_none_or(|saved| {
            saved.at.is_none_or(|(partition, offset)| {
                partition != record.partition || offset < record.offset
            })
        });
        if !later {
            return;
        }
        let Some(bytes) = record.value.as_deref() else {
            table.states.remove(key);
            return;
        };
        if !table.owns(agent_type, applied) {
            // Another runtime's agent, or a state that moved to a partition owned elsewhere.
            table.states.remove(key);
            return;
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(state) => {
                table.states.insert(
                    key.into(),
                    Saved {
                        state: state.to_string().into_boxed_str(),
                        applied,
                        at: Some((record.partition, record.offset)),
                    },
                );
            }
            Err(error) => {
                tracing::warn!(error = %error, key, offset = record.offset, "skipping an undecodable state record");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use autogen_kafka_core::AgentId;
    use serde_json::json;

    use super::StateStore;
    use crate::test_support::read_back;

    /// The state record of `id` holding `count`, after request record `applied`, read back at `at` of the state
    /// topic.
    fn saved(
        store: &StateStore,
        id: &AgentId,
        count: i64,
        applied: (i32, i64),
        at: (i32, i64),
    ) -> autogen_kafka_streaming::InboundRecord {
        let mut record = read_back(
            store
                .record(id, &json!({ "count": count }), Some(applied))
                .unwrap_or_else(|e| panic!("encoding a state failed: {e}")),
        );
        (record.partition, record.offset) = at;
        record
    }

    #[test]
    fn a_saved_state_comes_back_as_it_was_put_and_is_compared_by_value() {
        let store = StateStore::new("state");
        let id = AgentId::new("counter", "a").unwrap();
        assert_eq!(store.holds(&id, &json!({})), None);
        let state = json!({ "count": 3, "names": ["a", "b"], "ratio": 0.1 });
        store.put(&id, &state, Some((1, 7)), (1, 0));
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

    #[test]
    fn only_the_state_of_owned_partitions_is_kept_and_a_revoke_drops_it() {
        let store = StateStore::new("state");
        let mine = AgentId::new("counter", "mine").unwrap();
        let elsewhere = AgentId::new("counter", "elsewhere").unwrap();
        let other_type = AgentId::new("other", "mine").unwrap();
        store.own("counter", [0, 2]);
        store.apply(&saved(&store, &mine, 1, (2, 10), (2, 0)));
        store.apply(&saved(&store, &elsewhere, 1, (1, 10), (1, 0)));
        store.apply(&saved(&store, &other_type, 1, (2, 11), (2, 1)));
        assert_eq!(store.get(&mine), Some(json!({ "count": 1 })));
        assert_eq!(
            store.get(&elsewhere),
            None,
            "partition 1 is owned elsewhere"
        );
        assert_eq!(
            store.get(&other_type),
            None,
            "type `other` owns nothing here"
        );
        assert_eq!(store.len(), 1);

        // The agent's partition moves to another runtime: its state is dropped and no longer kept.
        store.disown("counter", [2]);
        assert_eq!(store.get(&mine), None);
        store.apply(&saved(&store, &mine, 2, (2, 12), (2, 2)));
        assert!(store.is_empty(), "a disowned partition's state is not kept");

        // Owned again: a new read from the start of the topic brings it back.
        store.own("counter", [2]);
        store.apply(&saved(&store, &mine, 1, (2, 10), (2, 0)));
        store.apply(&saved(&store, &mine, 2, (2, 12), (2, 2)));
        assert_eq!(store.get(&mine), Some(json!({ "count": 2 })));
        assert_eq!(store.applied(&mine), Some((2, 12)));
    }

    #[test]
    fn the_later_record_in_the_topic_wins_whichever_reader_delivers_it_first() {
        let store = StateStore::new("state");
        let id = AgentId::new("counter", "a").unwrap();
        store.own("counter", [0]);
        // The live reader delivers offset 5; the loader of a new assignment then reads the topic from its start.
        store.apply(&saved(&store, &id, 3, (0, 30), (0, 5)));
        store.apply(&saved(&store, &id, 1, (0, 10), (0, 1)));
        store.apply(&saved(&store, &id, 3, (0, 30), (0, 5)));
        assert_eq!(store.get(&id), Some(json!({ "count": 3 })));
        assert_eq!(store.applied(&id), Some((0, 30)));

        // A state written here is what the broker acknowledged at offset 9: older records read later do not undo it.
        store.put(&id, &json!({ "count": 4 }), Some((0, 40)), (0, 9));
        store.apply(&saved(&store, &id, 3, (0, 30), (0, 5)));
        assert_eq!(store.get(&id), Some(json!({ "count": 4 })));
        store.apply(&saved(&store, &id, 5, (0, 50), (0, 10)));
        assert_eq!(store.get(&id), Some(json!({ "count": 5 })));
    }

    #[test]
    fn aligned_state_records_go_to_the_partition_of_the_request_they_name() {
        let store = StateStore::new("state");
        let id = AgentId::new("counter", "a").unwrap();
        let state = json!({ "count": 1 });
        assert_eq!(
            store.record(&id, &state, Some((3, 7))).unwrap().partition,
            None
        );
        store.set_aligned("counter", true);
        assert_eq!(
            store.record(&id, &state, Some((3, 7))).unwrap().partition,
            Some(3)
        );
        assert_eq!(store.record(&id, &state, None).unwrap().partition, None);
    }
}

//! The agent manager: which agent ids are active on this replica, and their state when they move.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autogen_kafka_core::{AgentId, AgentRuntime, LocalRuntime};
use autogen_kafka_streaming::{EventProducer, TopicPartition};
use serde_json::Value;

use crate::error::Result;
use crate::state::{Applied, StateStore};

/// Tracks the agent instances this replica activated, by the request partition they came from.
///
/// An agent id is active on exactly one replica: the one that owns the partition its key maps to. On its first
/// message here the manager loads the state the previous owner saved. State reaches the state topic at two
/// moments, each acknowledged by the broker before it counts:
///
/// - **after each record** ([`AgentManager::persist`]): when handling a record changed the agent's state, the
///   state is written, naming the record, before the record's answer leaves. What a caller saw is never lost to a
///   crash, and a new owner skips records whose effect the saved state holds ([`AgentManager::has_applied`]);
/// - **hand-over** ([`AgentManager::release`]): when a partition is revoked, each agent's state is written (with
///   retries) if it changed, before the instance is evicted; a partition whose agents could not be saved is
///   reported, so its offsets are not committed.
#[derive(Debug)]
pub struct AgentManager {
    local: LocalRuntime,
    state: Arc<StateStore>,
    producer: EventProducer,
    active: Mutex<HashMap<AgentId, TopicPartition>>,
    evict_timeout: Duration,
    save_failures: AtomicU64,
}

/// How often a hand-over write is tried before the agent is given up as unsaved.
const SAVE_ATTEMPTS: u32 = 4;

impl AgentManager {
    /// A manager of the agents hosted in `local`.
    #[must_use]
    pub fn new(
        local: LocalRuntime,
        state: Arc<StateStore>,
        producer: EventProducer,
        evict_timeout: Duration,
    ) -> Self {
        Self {
            local,
            state,
            producer,
            active: Mutex::new(HashMap::new()),
            evict_timeout,
            save_failures: AtomicU64::new(0),
        }
    }

    /// The in-process runtime that holds the instances.
    #[must_use]
    pub fn local(&self) -> &LocalRuntime {
        &self.local
    }

    /// Makes sure `id` is active here, loading its saved state first if it was not.
    ///
    /// # Errors
    ///
    /// [`crate::ServicesError::Core`] when the agent cannot be created or rejects its state.
    pub async fn activate(&self, id: &AgentId, partition: TopicPartition) -> Result<()> {
        let known = {
            let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
            active.insert(id.clone(), partition).is_some()
        };
        if !known && let Some(state) = self.state.get(id) {
            tracing::debug!(agent_id = %id, "activating with saved state");
            if let Err(error) = self.local.agent_load_state(id, state).await {
                self.active
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(id);
                return Err(error.into());
            }
        }
        Ok(())
    }

    /// Agent ids active here.
    #[must_use]
    pub fn active(&self) -> Vec<AgentId> {
        self.active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// How many hand-overs gave up writing an agent's state so far.
    #[must_use]
    pub fn save_failures(&self) -> u64 {
        self.save_failures.load(Ordering::Relaxed)
    }

    /// Whether the state saved for `id` holds the effect of the record at `offset` of `partition` already (it
    /// was handled before a crash or a hand-over and must not be applied again).
    #[must_use]
    pub fn has_applied(&self, id: &AgentId, partition: i32, offset: i64) -> bool {
        self.state
            .applied(id)
            .is_some_and(|(p, o)| p == partition && o >= offset)
    }

    /// After `id` handled the record at `applied` (partition, offset): writes its state, naming that record, if
    /// it changed, and waits for the broker's acknowledgement. Nothing is done for an agent not active here or
    /// one that keeps no state ([`autogen_kafka_core::Agent::has_state`]).
    ///
    /// # Errors
    ///
    /// [`crate::ServicesError`] when the agent does not give its state within the shutdown timeout or the write
    /// fails.
    pub async fn persist(&self, id: &AgentId, applied: Applied) -> Result<()> {
        if !self
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(id)
            || self.local.is_stateless(id)
        {
            return Ok(());
        }
        let state = self.current_state(id).await?;
        self.write_if_changed(id, state, Some(applied)).await
    }

    /// The agent's state, asked through its mailbox within the shutdown timeout.
    async fn current_state(&self, id: &AgentId) -> Result<Value> {
        match tokio::time::timeout(self.evict_timeout, self.local.agent_save_state(id)).await {
            Ok(state) => Ok(state?),
            Err(_) => Err(crate::ServicesError::State {
                agent_id: id.to_string(),
                operation: "saved",
                source: "the agent did not answer within the shutdown timeout".into(),
            }),
        }
    }

    /// Writes `state` for `id` unless the state topic has it already (an agent without state saves an empty
    /// object, which is written only over an earlier state). `applied` names the record whose effect it holds;
    /// `None` keeps the one saved before.
    async fn write_if_changed(
        &self,
        id: &AgentId,
        state: Value,
        applied: Option<Applied>,
    ) -> Result<()> {
        let known = self.state.get(id);
        let unchanged = match &known {
            Some(known) => *known == state,
            None => state.as_object().is_some_and(serde_json::Map::is_empty),
        };
        if unchanged {
            return Ok(());
        }
        let applied = applied.or_else(|| self.state.applied(id));
        let record = self.state.record(id, &state, applied)?;
        self.producer.send(record).await?;
        // Write-through: if this process activates the agent again before its state tail has read the record
        // back, it still loads what was just saved.
        self.state.put(id, state, applied);
        Ok(())
    }

    /// Hands over every agent of `agent_type` (every agent when `None`) whose partition is in `partitions`: writes
    /// its state, retrying a failed write, and evicts it once the write is acknowledged. Resolves to the
    /// partitions with an agent whose state could not be saved (logged with the agent id and counted in
    /// [`AgentManager::save_failures`]): their offsets must not be committed.
    ///
    /// Agent types share the request topic, so a partition revoked from one type's consumer group may still be
    /// owned by another type's group in this process: only the revoked type's agents leave.
    pub async fn release(
        &self,
        agent_type: Option<&str>,
        partitions: &[TopicPartition],
    ) -> Vec<TopicPartition> {
        let leaving: Vec<(AgentId, TopicPartition)> = {
            let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
            let ids: Vec<AgentId> = active
                .iter()
                .filter(|(id, p)| {
                    partitions.contains(p)
                        && agent_type.is_none_or(|t| id.agent_type().as_str() == t)
                })
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| active.remove(&id).map(|p| (id, p)))
                .collect()
        };
        // Concurrently: an agent whose handler is stuck holds up only its own hand-over.
        let releases = leaving.iter().map(|(id, partition)| async move {
            match self.hand_over(id).await {
                Ok(()) => None,
                Err(error) => {
                    self.save_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(agent_id = %id, error = &error as &dyn std::error::Error, "state not saved at hand-over: the partition's offsets are held back");
                    Some(partition.clone())
                }
            }
        });
        let mut unsaved: Vec<TopicPartition> = futures::future::join_all(releases)
            .await
            .into_iter()
            .flatten()
            .collect();
        unsaved.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        unsaved.dedup();
        unsaved
    }

    /// Saves and evicts every active agent (shutdown); resolves to the partitions with unsaved agents.
    pub async fn release_all(&self) -> Vec<TopicPartition> {
        let all: Vec<TopicPartition> = {
            let active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
            active.values().cloned().collect()
        };
        self.release(None, &all).await
    }

    /// Writes the agent's state (retrying) while it is still active, then evicts it; a change the agent made
    /// in between is written too.
    async fn hand_over(&self, id: &AgentId) -> Result<()> {
        let state = match self.current_state(id).await {
            Ok(state) => state,
            // The instance is gone already (stopped runtime, evicted elsewhere): nothing to hand over.
            Err(crate::ServicesError::Core(autogen_kafka_core::CoreError::AgentNotFound {
                ..
            })) => {
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        let backoff = autogen_kafka_streaming::Backoff::new(
            Duration::from_millis(50),
            Duration::from_secs(1),
        );
        let mut attempt = 0;
        loop {
            match self.write_if_changed(id, state.clone(), None).await {
                Ok(()) => break,
                Err(error) if attempt + 1 < SAVE_ATTEMPTS && error.is_retriable() => {
                    tracing::warn!(agent_id = %id, attempt, error = &error as &dyn std::error::Error, "state write failed; retrying");
                    tokio::time::sleep(backoff.delay(attempt)).await;
                    attempt += 1;
                }
                Err(error) => {
                    // The partition leaves regardless: the instance goes, and the next owner starts from the last
                    // checkpoint because this partition's offsets are held back.
                    if let Err(evict) = self.local.evict_agent(id, self.evict_timeout).await {
                        tracing::warn!(agent_id = %id, error = &evict as &dyn std::error::Error, "evicting an unsaved agent failed");
                    }
                    return Err(error);
                }
            }
        }
        if let Some(last) = self.local.evict_agent(id, self.evict_timeout).await? {
            self.write_if_changed(id, last, None).await?;
        }
        tracing::debug!(agent_id = %id, "state saved; agent released");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use autogen_kafka_core::{
        AgentId, AgentRuntimeExt as _, Handler, HandlerError, LocalRuntime, Message,
        MessageContext, RoutedAgent, SendOptions,
    };
    use autogen_kafka_streaming::{EventProducer, TopicPartition};
    use serde::{Deserialize, Serialize};

    use super::AgentManager;
    use crate::state::StateStore;

    #[derive(Debug, Default)]
    struct Tally {
        count: u64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct Bump;
    impl Message for Bump {
        const TYPE_NAME: &'static str = "Bump";
    }

    impl Handler<Bump> for Tally {
        type Response = Bump;
        async fn handle(&mut self, _: Bump, _ctx: &MessageContext) -> Result<Bump, HandlerError> {
            self.count += 1;
            Ok(Bump)
        }
    }

    fn save(t: &Tally) -> Result<serde_json::Value, HandlerError> {
        Ok(serde_json::json!({ "count": t.count }))
    }

    fn load(t: &mut Tally, v: serde_json::Value) -> Result<(), HandlerError> {
        t.count = serde_json::from_value::<serde_json::Map<String, serde_json::Value>>(v)?
            .get("count")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or_default();
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hand_over_whose_state_cannot_be_written_reports_its_partition_and_counts_a_failure()
    {
        let local = LocalRuntime::builder().build().unwrap();
        local
            .register("tally", |_| {
                RoutedAgent::new(Tally::default())
                    .with_handler::<Bump>()
                    .with_state_hooks(save, load)
            })
            .await
            .unwrap();
        // Nothing listens there: every write fails after its timeout.
        let properties = BTreeMap::from([
            ("bootstrap.servers".to_owned(), "127.0.0.1:9".to_owned()),
            ("message.timeout.ms".to_owned(), "200".to_owned()),
        ]);
        let producer = EventProducer::new(&properties, Duration::from_millis(200)).unwrap();
        let manager = AgentManager::new(
            local.clone(),
            Arc::new(StateStore::new("state")),
            producer,
            Duration::from_secs(2),
        );
        let id = AgentId::new("tally", "a").unwrap();
        let partition = TopicPartition {
            topic: "requests".to_owned(),
            partition: 0,
        };
        let partitions = std::slice::from_ref(&partition);
        manager.activate(&id, partition.clone()).await.unwrap();
        local
            .send_with::<Bump, Bump>(Bump, &id, SendOptions::new())
            .await
            .unwrap();
        assert!(
            manager.persist(&id, (0, 7)).await.is_err(),
            "a state that cannot be written fails the record"
        );
        assert!(!manager.has_applied(&id, 0, 7));

        let unsaved = manager.release(None, partitions).await;
        assert_eq!(unsaved, partitions);
        assert_eq!(manager.save_failures(), 1);
        assert!(manager.active().is_empty());
        assert!(
            local.active_agents().is_empty(),
            "the instance leaves with its partition"
        );
    }
}

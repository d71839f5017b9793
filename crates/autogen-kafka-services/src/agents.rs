//! The agent manager: which agent ids are active on this replica, and their state when they move.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autogen_kafka_core::{AgentId, AgentRuntime, LocalRuntime};
use autogen_kafka_streaming::{EventProducer, TopicPartition};

use crate::error::Result;
use crate::state::StateStore;

/// Tracks the agent instances this replica activated, by the request partition they came from.
///
/// An agent id is active on exactly one replica: the one that owns the partition its key maps to. On its first
/// message here the manager loads the state the previous owner saved; when the partition is revoked it saves the
/// state of every agent of that partition to the state topic (waiting for the broker's acknowledgement) and
/// evicts the instance.
#[derive(Debug)]
pub struct AgentManager {
    local: LocalRuntime,
    state: Arc<StateStore>,
    producer: EventProducer,
    active: Mutex<HashMap<AgentId, TopicPartition>>,
    evict_timeout: Duration,
}

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

    /// Saves and evicts every agent of `agent_type` (every agent when `None`) whose partition is in `partitions`.
    /// Failures are logged: the partition moves regardless, and the next owner starts from the last state saved.
    ///
    /// Agent types share the request topic, so a partition revoked from one type's consumer group may still be
    /// owned by another type's group in this process: only the revoked type's agents leave.
    pub async fn release(&self, agent_type: Option<&str>, partitions: &[TopicPartition]) {
        let leaving: Vec<AgentId> = {
            let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
            let ids: Vec<AgentId> = active
                .iter()
                .filter(|(id, p)| {
                    partitions.contains(p)
                        && agent_type.is_none_or(|t| id.agent_type().as_str() == t)
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &ids {
                active.remove(id);
            }
            ids
        };
        // Concurrently: an agent whose handler is stuck holds up only its own eviction.
        let releases = leaving.iter().map(|id| async move {
            if let Err(error) = self.save_and_evict(id).await {
                tracing::error!(agent_id = %id, error = &error as &dyn std::error::Error, "saving state on release failed");
            }
        });
        futures::future::join_all(releases).await;
    }

    /// Saves and evicts every active agent (shutdown).
    pub async fn release_all(&self) {
        let all: Vec<TopicPartition> = {
            let active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
            active.values().cloned().collect()
        };
        self.release(None, &all).await;
    }

    async fn save_and_evict(&self, id: &AgentId) -> Result<()> {
        if let Some(state) = self.local.evict_agent(id, self.evict_timeout).await? {
            let record = self.state.record(id, &state)?;
            self.producer.send(record).await?;
            // Write-through: if this process activates the agent again before its state tail has read the record
            // back, it still loads what was just saved.
            self.state.put(id, state);
            tracing::debug!(agent_id = %id, "state saved; agent released");
        }
        Ok(())
    }
}

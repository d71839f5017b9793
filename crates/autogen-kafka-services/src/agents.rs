//! The agent manager: which agent ids are active on this replica, and their state when they move or idle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use autogen_kafka_core::{AgentId, AgentRuntime, LocalRuntime};
use autogen_kafka_streaming::{EventProducer, TopicPartition};
use futures::StreamExt as _;
use serde_json::Value;
use tokio::sync::Notify;

use crate::error::Result;
use crate::state::{Applied, StateStore};

/// Tracks the agent instances this replica activated, by the request partition they came from.
///
/// An agent id is active on exactly one replica: the one that owns the partition its key maps to. On its first
/// message here the manager loads the state the previous owner saved. State reaches the state topic at three
/// moments, each acknowledged by the broker before it counts:
///
/// - **after each record** ([`AgentManager::persist`]): when handling a record changed the agent's state, the
///   state is written, naming the record, before the record's answer leaves. What a caller saw is never lost to a
///   crash, and a new owner skips records whose effect the saved state holds ([`AgentManager::has_applied`]);
/// - **hand-over** ([`AgentManager::release`]): when a partition is revoked, each agent's state is written (with
///   retries) if it changed, before the instance is evicted; a partition whose agents could not be saved is
///   reported, so its offsets are not committed;
/// - **passivation** ([`AgentManager::passivate_idle`]): an instance idle for a while, or the least recently used
///   beyond a limit, has its state written if it changed, then is evicted (its `close` runs); its next message
///   activates it again with that state. A write that fails keeps the instance active.
///
/// A record's [`Activation`] keeps its agent from passivation while the record is handled; a record for an agent
/// being passivated or handed over waits until it has left, then activates it again.
#[derive(Debug)]
pub struct AgentManager {
    local: LocalRuntime,
    state: Arc<StateStore>,
    producer: EventProducer,
    agents: Mutex<Agents>,
    /// Woken whenever agents finish leaving.
    left: Notify,
    evict_timeout: Duration,
    save_failures: AtomicU64,
    passivated: AtomicU64,
}

/// The manager's view of its instances.
#[derive(Debug, Default)]
struct Agents {
    active: HashMap<AgentId, Active>,
    /// Agents whose state is being saved before they are evicted, by partition.
    leaving: HashMap<AgentId, TopicPartition>,
}

/// One active instance.
#[derive(Debug)]
struct Active {
    partition: TopicPartition,
    last_used: Instant,
    /// Records being handled now.
    busy: u32,
}

/// Keeps an agent from passivation while one of its records is handled; see [`AgentManager::activate`].
#[derive(Debug)]
#[must_use = "the agent counts as idle once the activation is dropped"]
pub struct Activation<'a> {
    manager: &'a AgentManager,
    id: AgentId,
}

impl Drop for Activation<'_> {
    fn drop(&mut self) {
        if let Some(active) = self.manager.agents().active.get_mut(&self.id) {
            active.busy = active.busy.saturating_sub(1);
            active.last_used = Instant::now();
        }
    }
}

/// An agent being passivated or handed over. Dropped, the agent stops leaving and records for it may go on: it is
/// then active again if the caller put it back, or unknown (its next record loads its saved state).
struct Leaving<'a> {
    manager: &'a AgentManager,
    id: AgentId,
    partition: TopicPartition,
}

impl<'a> Leaving<'a> {
    /// Moves `id` from the active agents to the leaving ones (under the caller's lock).
    fn start(manager: &'a AgentManager, agents: &mut Agents, id: &AgentId) -> Option<Self> {
        let active = agents.active.remove(id)?;
        agents.leaving.insert(id.clone(), active.partition.clone());
        Some(Self {
            manager,
            id: id.clone(),
            partition: active.partition,
        })
    }
}

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        self.manager.agents().leaving.remove(&self.id);
        self.manager.left.notify_waiters();
    }
}

/// How one passivation ended.
enum Passivation {
    /// Saved and evicted.
    Done,
    /// Not evicted: its state could not be saved.
    Kept(crate::ServicesError),
    /// Saved, but the eviction failed (timed out): the instance may or may not go.
    Unsure(crate::ServicesError),
}

/// How often a hand-over write is tried before the agent is given up as unsaved.
const SAVE_ATTEMPTS: u32 = 4;

/// Passivations run at once in one sweep.
const PASSIVATIONS_AT_ONCE: usize = 64;

impl AgentManager {
    /// A manager of the agents hosted in `local`; `evict_timeout` bounds asking an agent for its state and
    /// evicting it.
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
            agents: Mutex::new(Agents::default()),
            left: Notify::new(),
            evict_timeout,
            save_failures: AtomicU64::new(0),
            passivated: AtomicU64::new(0),
        }
    }

    fn agents(&self) -> MutexGuard<'_, Agents> {
        self.agents.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The saved state of the agents of the partitions owned here.
    #[must_use]
    pub fn state(&self) -> &StateStore {
        &self.state
    }

    /// The in-process runtime that holds the instances.
    #[must_use]
    pub fn local(&self) -> &LocalRuntime {
        &self.local
    }

    /// Makes sure `id` is active here, loading its saved state first if it was not, and keeps it from passivation
    /// until the returned [`Activation`] is dropped. Waits while the agent is being passivated or handed over.
    ///
    /// # Errors
    ///
    /// [`crate::ServicesError::Core`] when the agent cannot be created or rejects its state.
    pub async fn activate(
        &self,
        id: &AgentId,
        partition: TopicPartition,
    ) -> Result<Activation<'_>> {
        let known = loop {
            let left = self.left.notified();
            let mut left = std::pin::pin!(left);
            left.as_mut().enable();
            {
                let mut agents = self.agents();
                if !agents.leaving.contains_key(id) {
                    let now = Instant::now();
                    match agents.active.get_mut(id) {
                        Some(active) => {
                            active.busy += 1;
                            active.last_used = now;
                            active.partition = partition;
                            break true;
                        }
                        None => {
                            agents.active.insert(
                                id.clone(),
                                Active {
                                    partition,
                                    last_used: now,
                                    busy: 1,
                                },
                            );
                            break false;
                        }
                    }
                }
            }
            left.await;
        };
        let activation = Activation {
            manager: self,
            id: id.clone(),
        };
        if !known && let Some(state) = self.state.get(id) {
            tracing::debug!(agent_id = %id, "activating with saved state");
            if let Err(error) = self.local.agent_load_state(id, state).await {
                drop(activation);
                self.agents().active.remove(id);
                return Err(error.into());
            }
        }
        Ok(activation)
    }

    /// Agent ids active here.
    #[must_use]
    pub fn active(&self) -> Vec<AgentId> {
        self.agents().active.keys().cloned().collect()
    }

    /// How many agents are active here.
    #[must_use]
    pub fn active_count(&self) -> usize {
        self.agents().active.len()
    }

    /// How many agents were passivated so far.
    #[must_use]
    pub fn passivations(&self) -> u64 {
        self.passivated.load(Ordering::Relaxed)
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
        if !self.agents().active.contains_key(id) || self.local.is_stateless(id) {
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
        let unchanged = self
            .state
            .holds(id, &state)
            .unwrap_or_else(|| state.as_object().is_some_and(serde_json::Map::is_empty));
        if unchanged {
            return Ok(());
        }
        let applied = applied.or_else(|| self.state.applied(id));
        let record = self.state.record(id, &state, applied)?;
        let written = self.producer.send(record).await?;
        // Write-through: if this process activates the agent again before its state tail has read the record
        // back, it still loads what was just saved.
        self.state
            .put(id, &state, applied, (written.partition, written.offset));
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
        let matches = |id: &AgentId, partition: &TopicPartition| {
            partitions.contains(partition)
                && agent_type.is_none_or(|t| id.agent_type().as_str() == t)
        };
        // Passivations of these agents finish first: one that fails leaves its agent active, to be handed over here.
        let leaving: Vec<Leaving<'_>> = loop {
            let left = self.left.notified();
            let mut left = std::pin::pin!(left);
            left.as_mut().enable();
            {
                let mut agents = self.agents();
                if !agents.leaving.iter().any(|(id, p)| matches(id, p)) {
                    let ids: Vec<AgentId> = agents
                        .active
                        .iter()
                        .filter(|(id, active)| matches(id, &active.partition))
                        .map(|(id, _)| id.clone())
                        .collect();
                    break ids
                        .iter()
                        .filter_map(|id| Leaving::start(self, &mut agents, id))
                        .collect();
                }
            }
            left.await;
        };
        // Concurrently: an agent whose handler is stuck holds up only its own hand-over.
        let releases = leaving.into_iter().map(|leaving| async move {
            match self.hand_over(&leaving.id).await {
                Ok(()) => None,
                Err(error) => {
                    self.save_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(agent_id = %leaving.id, error = &error as &dyn std::error::Error, "state not saved at hand-over: the partition's offsets are held back");
                    Some(leaving.partition.clone())
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
            let agents = self.agents();
            let mut all: Vec<TopicPartition> = agents
                .active
                .values()
                .map(|active| active.partition.clone())
                .chain(agents.leaving.values().cloned())
                .collect();
            all.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            all.dedup();
            all
        };
        self.release(None, &all).await
    }

    /// Passivates the agents nobody is handling a record for that were last used `idle` ago or longer (none when
    /// `None`), and beyond `max_active` active agents the least recently used of the rest. Each one's state is
    /// written if it changed and acknowledged, then the instance is evicted (its `close` runs); a record that
    /// arrives meanwhile waits, then activates the agent again with the saved state. An agent whose state cannot be
    /// written stays active (logged with its id and counted in [`AgentManager::save_failures`]) and is tried
    /// again at the next call. Resolves to how many agents were passivated.
    pub async fn passivate_idle(&self, idle: Option<Duration>, max_active: Option<usize>) -> usize {
        let chosen: Vec<Leaving<'_>> = {
            let mut agents = self.agents();
            let now = Instant::now();
            let mut free: Vec<(Instant, AgentId)> = agents
                .active
                .iter()
                .filter(|(_, active)| active.busy == 0)
                .map(|(id, active)| (active.last_used, id.clone()))
                .collect();
            free.sort_unstable_by_key(|(last_used, _)| *last_used);
            let stale = free
                .iter()
                .take_while(|(last_used, _)| {
                    idle.is_some_and(|idle| now.duration_since(*last_used) >= idle)
                })
                .count();
            let excess = max_active.map_or(0, |max| agents.active.len().saturating_sub(max));
            free.truncate(stale.max(excess));
            free.iter()
                .filter_map(|(_, id)| Leaving::start(self, &mut agents, id))
                .collect()
        };
        if chosen.is_empty() {
            return 0;
        }
        // Dropped half-way (the runtime stops), the agents not yet evicted are forgotten, not lost: the next record
        // of each loads its saved state.
        let mut waiting = chosen.into_iter();
        let mut running = futures::stream::FuturesUnordered::new();
        let mut passivated = 0_usize;
        loop {
            while running.len() < PASSIVATIONS_AT_ONCE
                && let Some(leaving) = waiting.next()
            {
                running.push(self.passivate_leaving(leaving));
            }
            match running.next().await {
                Some(done) => passivated += usize::from(done),
                None => break,
            }
        }
        {
            // Give back what a crowd of agents grew.
            let mut agents = self.agents();
            let active = agents.active.len();
            if agents.active.capacity() > 64 && active < agents.active.capacity() / 4 {
                agents.active.shrink_to(active * 2);
            }
        }
        self.passivated.fetch_add(
            u64::try_from(passivated).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if passivated > 0 {
            tracing::debug!(passivated, "idle agents passivated");
        }
        passivated
    }

    /// Passivates one agent; puts it back among the active ones when that fails. Whether it was passivated.
    async fn passivate_leaving(&self, leaving: Leaving<'_>) -> bool {
        match self.passivate(&leaving.id).await {
            Passivation::Done => true,
            Passivation::Kept(error) => {
                self.save_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(agent_id = %leaving.id, error = &error as &dyn std::error::Error, "state not saved at passivation: the agent stays active");
                self.agents().active.insert(
                    leaving.id.clone(),
                    Active {
                        partition: leaving.partition.clone(),
                        last_used: Instant::now(),
                        busy: 0,
                    },
                );
                false
            }
            Passivation::Unsure(error) => {
                // The eviction may still complete: the agent is forgotten (not active here), so its next record
                // loads the state written just before, into whichever instance it finds.
                self.save_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(agent_id = %leaving.id, error = &error as &dyn std::error::Error, "evicting an idle agent failed after its state was saved: it is reloaded on its next record");
                false
            }
        }
    }

    /// Writes the agent's state if it changed, then evicts it. A failed write leaves it as it was; a change made
    /// between the write and the eviction (a local message) is written after it.
    async fn passivate(&self, id: &AgentId) -> Passivation {
        if !self.local.is_active(id) {
            return Passivation::Done;
        }
        let stateless = self.local.is_stateless(id);
        if !stateless {
            let saved = match self.current_state(id).await {
                Ok(state) => self.write_if_changed(id, state, None).await,
                Err(error) => Err(error),
            };
            if let Err(error) = saved {
                return Passivation::Kept(error);
            }
        }
        match self.local.evict_agent(id, self.evict_timeout).await {
            Ok(Some(last)) if !stateless => {
                if let Err(error) = self.write_if_changed(id, last, None).await {
                    // Evicted already: only the change since the write above is lost. Said, never silent.
                    self.save_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(agent_id = %id, error = &error as &dyn std::error::Error, "the last change of a passivated agent was not saved");
                }
                Passivation::Done
            }
            Ok(_) => Passivation::Done,
            Err(error) => Passivation::Unsure(error.into()),
        }
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
        AgentId, AgentRuntime as _, AgentRuntimeExt as _, Handler, HandlerError, LocalRuntime,
        Message, MessageContext, RoutedAgent, SendOptions,
    };
    use autogen_kafka_streaming::{EventProducer, TopicPartition};
    use autogen_kafka_testing::{TestBroker, unique_topic};
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
        let local = tally_runtime().await;
        // Nothing listens there: every write fails after its timeout.
        let manager =
            unreachable_manager(&local, Duration::from_millis(200), Duration::from_secs(2));
        let id = AgentId::new("tally", "a").unwrap();
        let partition = TopicPartition {
            topic: "requests".to_owned(),
            partition: 0,
        };
        let partitions = std::slice::from_ref(&partition);
        let activation = manager.activate(&id, partition.clone()).await.unwrap();
        local
            .send_with::<Bump, Bump>(Bump, &id, SendOptions::new())
            .await
            .unwrap();
        assert!(
            manager.persist(&id, (0, 7)).await.is_err(),
            "a state that cannot be written fails the record"
        );
        assert!(!manager.has_applied(&id, 0, 7));
        drop(activation);

        let unsaved = manager.release(None, partitions).await;
        assert_eq!(unsaved, partitions);
        assert_eq!(manager.save_failures(), 1);
        assert!(manager.active().is_empty());
        assert!(
            local.active_agents().is_empty(),
            "the instance leaves with its partition"
        );
    }

    /// A local runtime hosting `tally` agents whose state is their count.
    async fn tally_runtime() -> LocalRuntime {
        let local = LocalRuntime::builder().build().unwrap();
        local
            .register("tally", |_| {
                RoutedAgent::new(Tally::default())
                    .with_handler::<Bump>()
                    .with_state_hooks(save, load)
            })
            .await
            .unwrap();
        local
    }

    fn partition() -> TopicPartition {
        TopicPartition {
            topic: "requests".to_owned(),
            partition: 0,
        }
    }

    /// A manager whose producer reaches no broker: every state write fails after `write_timeout`.
    fn unreachable_manager(
        local: &LocalRuntime,
        write_timeout: Duration,
        evict_timeout: Duration,
    ) -> AgentManager {
        let properties = BTreeMap::from([
            ("bootstrap.servers".to_owned(), "127.0.0.1:9".to_owned()),
            (
                "message.timeout.ms".to_owned(),
                write_timeout.as_millis().to_string(),
            ),
        ]);
        let producer = EventProducer::new(&properties, write_timeout).unwrap();
        AgentManager::new(
            local.clone(),
            Arc::new(StateStore::new("state")),
            producer,
            evict_timeout,
        )
    }

    /// A local runtime hosting `agent_type` as [`Closer`]s whose `close` takes `delay`, and their close count.
    async fn closer_runtime(
        agent_type: &str,
        delay: Duration,
    ) -> (LocalRuntime, Arc<std::sync::atomic::AtomicUsize>) {
        let local = LocalRuntime::builder().build().unwrap();
        let closed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&closed);
        local
            .register(agent_type, move |_| Closer {
                closed: Arc::clone(&counter),
                delay,
            })
            .await
            .unwrap();
        (local, closed)
    }

    /// A manager whose state topic is on a running broker.
    async fn manager_on_a_broker(broker: &TestBroker, local: &LocalRuntime) -> AgentManager {
        let topic = unique_topic("state");
        broker.create_topic(&topic, 1).await.unwrap();
        let mut properties: BTreeMap<String, String> = broker.producer_overrides();
        properties.insert(
            "bootstrap.servers".to_owned(),
            broker.bootstrap_servers().to_owned(),
        );
        let producer = EventProducer::new(&properties, Duration::from_secs(10)).unwrap();
        AgentManager::new(
            local.clone(),
            Arc::new(StateStore::new(topic)),
            producer,
            Duration::from_secs(5),
        )
    }

    async fn bump(local: &LocalRuntime, id: &AgentId, times: u32) {
        for _ in 0..times {
            local
                .send_with::<Bump, Bump>(Bump, id, SendOptions::new())
                .await
                .unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_agent_is_passivated_with_its_state_saved_and_comes_back_with_it() {
        let broker = TestBroker::start().await.unwrap();
        let local = tally_runtime().await;
        let manager = manager_on_a_broker(&broker, &local).await;
        let id = AgentId::new("tally", "a").unwrap();

        let activation = manager.activate(&id, partition()).await.unwrap();
        bump(&local, &id, 3).await;
        drop(activation);
        assert_eq!(
            manager
                .passivate_idle(Some(Duration::from_secs(60)), None)
                .await,
            0,
            "used just now"
        );
        assert_eq!(manager.passivate_idle(Some(Duration::ZERO), None).await, 1);
        assert_eq!(manager.passivations(), 1);
        assert!(manager.active().is_empty());
        assert!(!local.is_active(&id), "the instance is gone");
        assert_eq!(
            manager.state.get(&id),
            Some(serde_json::json!({ "count": 3 }))
        );

        let _activation = manager.activate(&id, partition()).await.unwrap();
        bump(&local, &id, 1).await;
        assert_eq!(
            local.agent_save_state(&id).await.unwrap(),
            serde_json::json!({ "count": 4 }),
            "the new instance started from the saved state"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_agent_stays_and_beyond_the_limit_the_least_recently_used_leave() {
        let broker = TestBroker::start().await.unwrap();
        let local = tally_runtime().await;
        let manager = manager_on_a_broker(&broker, &local).await;
        let ids: Vec<AgentId> = ["a", "b", "c"]
            .iter()
            .map(|key| AgentId::new("tally", *key).unwrap())
            .collect();

        let busy = manager.activate(&ids[0], partition()).await.unwrap();
        bump(&local, &ids[0], 1).await;
        assert_eq!(
            manager.passivate_idle(Some(Duration::ZERO), None).await,
            0,
            "a record is being handled"
        );
        drop(busy);
        for id in &ids[1..] {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let _activation = manager.activate(id, partition()).await.unwrap();
            bump(&local, id, 1).await;
        }
        assert_eq!(manager.passivate_idle(None, Some(1)).await, 2);
        assert_eq!(manager.active(), [ids[2].clone()]);
        assert_eq!(local.active_agents(), [ids[2].clone()]);
        assert_eq!(manager.passivate_idle(None, Some(1)).await, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_passivation_that_cannot_save_keeps_the_agent_and_a_record_waits_for_it() {
        let local = tally_runtime().await;
        // Nothing listens there: every write fails after its timeout.
        let manager =
            unreachable_manager(&local, Duration::from_millis(300), Duration::from_secs(2));
        let id = AgentId::new("tally", "a").unwrap();
        drop(manager.activate(&id, partition()).await.unwrap());
        bump(&local, &id, 2).await;

        let passivation = async {
            let passivated = manager.passivate_idle(Some(Duration::ZERO), None).await;
            (passivated, std::time::Instant::now())
        };
        let record = async {
            // Starts while the passivation waits for its write.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let activation = manager.activate(&id, partition()).await;
            (activation.is_ok(), std::time::Instant::now())
        };
        let ((passivated, passivation_ended), (activated, activated_at)) =
            tokio::join!(passivation, record);
        assert_eq!(passivated, 0);
        assert!(activated);
        assert!(
            activated_at >= passivation_ended,
            "the record waited for the passivation"
        );
        assert_eq!(manager.save_failures(), 1);
        assert_eq!(manager.active(), std::slice::from_ref(&id));
        assert_eq!(
            local.agent_save_state(&id).await.unwrap(),
            serde_json::json!({ "count": 2 }),
            "the instance and its state stayed"
        );
    }

    /// Counts its `close` calls, each taking `delay`; keeps no state.
    struct Closer {
        closed: Arc<std::sync::atomic::AtomicUsize>,
        delay: Duration,
    }

    impl autogen_kafka_core::Agent for Closer {
        fn on_message(
            &mut self,
            _message: autogen_kafka_core::AnyMessage,
            _ctx: MessageContext,
        ) -> futures::future::BoxFuture<
            '_,
            Result<Option<autogen_kafka_core::AnyMessage>, HandlerError>,
        > {
            Box::pin(async { Ok(None) })
        }

        fn has_state(&self) -> bool {
            false
        }

        fn close(&mut self) -> futures::future::BoxFuture<'_, Result<(), HandlerError>> {
            self.closed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let delay = self.delay;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok(())
            })
        }
    }

    /// As the processor does for one record: activates the [`Closer`] `id`, creates its instance, then lets it idle.
    async fn handle_a_record(manager: &AgentManager, local: &LocalRuntime, id: &AgentId) {
        let activation = manager.activate(id, partition()).await.unwrap();
        local
            .with_agent(id, |_agent: &mut Closer| ())
            .await
            .unwrap();
        drop(activation);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_passivated_agent_is_closed_and_an_agent_without_state_writes_nothing() {
        let (local, closed) = closer_runtime("closer", Duration::ZERO).await;
        // Nothing listens there: a write would fail, so passivating must not write.
        let manager =
            unreachable_manager(&local, Duration::from_millis(200), Duration::from_secs(2));
        let id = AgentId::new("closer", "a").unwrap();
        handle_a_record(&manager, &local, &id).await;
        assert_eq!(manager.passivate_idle(Some(Duration::ZERO), None).await, 1);
        assert_eq!(closed.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(manager.save_failures(), 0);
        assert!(!local.is_active(&id));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_agent_whose_eviction_times_out_is_forgotten_and_comes_back_on_its_next_record() {
        let (local, closed) = closer_runtime("slow", Duration::from_millis(800)).await;
        let manager = unreachable_manager(
            &local,
            Duration::from_millis(200),
            Duration::from_millis(200),
        );
        let id = AgentId::new("slow", "a").unwrap();
        handle_a_record(&manager, &local, &id).await;
        assert_eq!(manager.passivate_idle(Some(Duration::ZERO), None).await, 0);
        assert_eq!(manager.save_failures(), 1);
        assert!(manager.active().is_empty(), "not taken for active any more");
        // The eviction completes meanwhile; the next record finds (or creates) the agent again.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _activation = manager.activate(&id, partition()).await.unwrap();
        local
            .with_agent(&id, |_agent: &mut Closer| ())
            .await
            .unwrap();
        assert_eq!(manager.active(), std::slice::from_ref(&id));
        assert_eq!(closed.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}

//! The startup and shutdown sequences.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use autogen_kafka_admin::{SchemaDefinition, TopicSpec};
use autogen_kafka_config::Config;
use autogen_kafka_core::CoreError;
use autogen_kafka_events::{EventKind, Format};
use autogen_kafka_services::{
    ActivationHook, AgentRegistry, AgentTypeHandler, EventCodecs, MessageProcessor,
    PendingRequests, ProcessorSettings, StateStore, SubscriptionService,
};
use autogen_kafka_streaming::{
    Backoff, ConsumerSpec, GroupConsumer, InboundRecord, TailHandler, TailReader, TailSpec,
    TailStart,
};

use tracing::Instrument;

use super::{KafkaWorkerAgentRuntime, Tails, lock, step_timeout};
use crate::error::{Result, RuntimeError};

/// Feeds a tail's records to a view (`apply` of a service).
struct Apply<F>(F);

impl<F: Fn(&InboundRecord) + Send + Sync + 'static> TailHandler for Apply<F> {
    fn on_record(&self, record: InboundRecord) {
        (self.0)(&record);
    }
}

pub(super) async fn start(runtime: &KafkaWorkerAgentRuntime) -> Result<()> {
    let inner = &runtime.inner;
    if inner.stopped.load(Ordering::Acquire) {
        return Err(RuntimeError::Lifecycle { state: "stopped" });
    }
    if inner.started.swap(true, Ordering::AcqRel) {
        return Err(RuntimeError::Lifecycle { state: "started" });
    }
    let span = tracing::info_span!("runtime.start", runtime_id = %inner.runtime_id);
    startup(runtime).instrument(span).await
}

async fn startup(runtime: &KafkaWorkerAgentRuntime) -> Result<()> {
    let inner = &runtime.inner;
    let config = &inner.config;
    let begun = Instant::now();
    // 1. Configuration validation happened in `build`. 2. Connection.
    connect(runtime).await?;
    tracing::info!(elapsed = ?begun.elapsed(), "broker reachable");
    // 3. Topics and schemas. The directory entry names the reply topic before the topic exists: a runtime that
    // dies from here on leaves nothing the fleet does not know of, and the survivors clean up after the grace. It
    // is renewed every heartbeat from now on: a start that outlasts the registry expiry (a slow registry, a long
    // group join) must not look like a departure.
    ensure_topics(runtime).await?;
    announce(inner).await?;
    let _announcing = keep_announcing(runtime).drop_guard();
    ensure_reply_topic(runtime).await?;
    let codecs = Arc::new(register_schemas(config, inner.format).await?);
    let _ = inner.codecs.set(Arc::clone(&codecs));
    tracing::info!(elapsed = ?begun.elapsed(), "topics and schemas ready");
    // 4. Services: read the registry, the subscriptions and the state to their ends. The request consumers' group
    // joins (7.) run meanwhile: on brokers that admit members after a delay the join is the longest step, and a
    // consumer reads no record before the fleet view is bootstrapped (its activation hook waits for it).
    let registry = Arc::new(
        AgentRegistry::new(config.runtime.registry_topic.clone(), Arc::clone(&codecs))
            .with_directory(Arc::clone(&inner.directory)),
    );
    let subscriptions = Arc::new(SubscriptionService::new(
        config.runtime.subscription_topic.clone(),
        Arc::clone(&codecs),
    ));
    let pending = Arc::new(PendingRequests::new(Arc::clone(&codecs)));
    let _ = inner.registry.set(Arc::clone(&registry));
    let _ = inner.subscriptions.set(Arc::clone(&subscriptions));
    let _ = inner.pending.set(Arc::clone(&pending));
    let timeout = step_timeout(config);
    let bootstrap = async {
        let tails = start_tails(runtime, &registry, &subscriptions, &inner.state, &pending).await?;
        for tail in [&tails.fleet, &tails.replies] {
            tail.catch_up(timeout).await?;
        }
        *lock(&inner.tails) = Some(Arc::new(tails));
        inner.tails_ready.send_replace(true);
        tracing::info!(elapsed = ?begun.elapsed(), "fleet view bootstrapped");
        Ok::<(), RuntimeError>(())
    };
    let types = inner.distributed_types();
    let joins = async {
        let (started, router) = tokio::join!(
            futures::future::join_all(types.iter().map(|t| start_consumer(runtime, t))),
            start_publish_router(runtime)
        );
        started.into_iter().collect::<Result<Vec<()>>>()?;
        router?;
        tracing::info!(elapsed = ?begun.elapsed(), "request consumers assigned");
        Ok::<(), RuntimeError>(())
    };
    tokio::try_join!(bootstrap, joins)?;
    // 5. Agent registration: written once the consumers own partitions, applied to this runtime's own view when
    // acknowledged.
    futures::future::try_join_all(types.iter().map(|t| register(runtime, t))).await?;
    spawn_heartbeats(runtime);
    spawn_passivation(runtime);
    super::consumer_metrics::spawn(runtime);
    super::replies::spawn_pauser(runtime);
    // 6. Subscriptions added before start: all written, then read back once.
    let early: Vec<_> = std::mem::take(&mut *lock(&inner.early_subscriptions));
    if !early.is_empty() {
        for subscription in early {
            runtime.write_own_subscription(subscription).await?;
        }
        runtime.catch_up_subscriptions().await;
    }
    inner.kafka_health.up();
    tracing::info!(elapsed = ?begun.elapsed(), "runtime ready");
    Ok(())
}

/// Waits until the broker answers a metadata request, retrying with backoff until the startup timeout.
async fn connect(runtime: &KafkaWorkerAgentRuntime) -> Result<()> {
    let config = &runtime.inner.config;
    let begun = Instant::now();
    let deadline = Instant::now() + step_timeout(config);
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let mut attempt = 0;
    loop {
        let probe_timeout = Duration::from_secs(2).min(step_timeout(config));
        match runtime
            .inner
            .control
            .partition_count(&config.runtime.runtime_requests, probe_timeout)
            .await
        {
            Ok(_) => return Ok(()),
            // Refused credentials stay refused: fail now instead of retrying until the deadline.
            Err(error)
                if Instant::now() + backoff.delay(attempt) < deadline
                    && !runtime.inner.control.authentication_refused() =>
            {
                tracing::warn!(
                    attempt,
                    error = &error as &dyn std::error::Error,
                    "broker not reachable yet; retrying"
                );
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt += 1;
            }
            Err(source) => {
                return Err(RuntimeError::Connect {
                    bootstrap: config.kafka.bootstrap_servers.join(","),
                    after: begun.elapsed(),
                    last_client_error: runtime.inner.control.last_client_error(),
                    source: Box::new(source),
                });
            }
        }
    }
}

async fn ensure_topics(runtime: &KafkaWorkerAgentRuntime) -> Result<()> {
    let inner = &runtime.inner;
    let config = &inner.config;
    let specs = crate::fleet_topic_specs(config, false);
    crate::setup::ensure_topics(config, inner.create_mode, &specs, step_timeout(config)).await
}

async fn ensure_reply_topic(runtime: &KafkaWorkerAgentRuntime) -> Result<()> {
    let inner = &runtime.inner;
    let config = &inner.config;
    let reply = TopicSpec::new(inner.reply_topic.clone())
        .partitions(1)
        .replication_factor(config.kafka.replication_factor.max(1));
    crate::setup::ensure_topics(config, inner.create_mode, &[reply], step_timeout(config)).await
}

/// Renews this runtime's directory entry every heartbeat while it starts, until the returned token is cancelled
/// (the heartbeats of a started runtime take over) or the runtime stops.
fn keep_announcing(runtime: &KafkaWorkerAgentRuntime) -> tokio_util::sync::CancellationToken {
    let weak = Arc::downgrade(&runtime.inner);
    let token = runtime.inner.token.child_token();
    let interval = runtime.inner.config.runtime.registry_heartbeat;
    let ticks = token.clone();
    runtime.inner.tracker.spawn(
        async move {
            while let Some(inner) = tick(&ticks, interval, &weak).await {
                let announced = tokio::select! {
                    biased;
                    () = ticks.cancelled() => return,
                    announced = announce(&inner) => announced,
                };
                if let Err(error) = announced {
                    tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "directory entry not renewed while starting"
                    );
                }
            }
        }
        .in_current_span(),
    );
    token
}

/// Tells the state store whether the state topic has as many partitions as `agent_type`'s request topic (then the
/// state of request partition `p` is written to, and read from, state partition `p` alone).
async fn align_state(
    runtime: &KafkaWorkerAgentRuntime,
    agent_type: &str,
    requests_topic: &str,
) -> Result<()> {
    let inner = &runtime.inner;
    let timeout = step_timeout(&inner.config);
    let requests = inner
        .control
        .partition_count(requests_topic, timeout)
        .await?;
    let state = inner
        .control
        .partition_count(&inner.config.runtime.state_topic, timeout)
        .await?;
    inner.state.set_aligned(agent_type, requests == state);
    if requests != state {
        tracing::info!(
            agent_type,
            requests,
            state,
            "the state topic's partitions differ from the request topic's: a new owner reads all of the state topic"
        );
    }
    Ok(())
}

/// Writes this runtime's directory entry (alive until the next expiry, with its reply topic and the agent types it
/// hosts, whose registrations it keeps alive) and applies it to its own view once acknowledged.
async fn announce(inner: &super::Inner) -> Result<()> {
    let record = inner.directory.announcement_record(
        &inner.runtime_id,
        &inner.reply_topic,
        &inner.distributed_types(),
        inner.config.runtime.registry_expiry,
    )?;
    inner.control.send_ref(&record).await?;
    inner.directory.apply_written(&record);
    Ok(())
}

/// Registers the event schemas under `<topic>-value` (startup step 3) and returns codecs that write their ids.
async fn register_schemas(config: &Config, format: Format) -> Result<EventCodecs> {
    let mut codecs = EventCodecs::new(format);
    if format == Format::Json {
        return Ok(codecs);
    }
    let client = crate::setup::registry_client(config)?;
    let topics = &config.runtime;
    let roles = [
        (&topics.runtime_requests, EventKind::Request),
        (&topics.runtime_responses, EventKind::Response),
        (&topics.registry_topic, EventKind::Registration),
        (&topics.subscription_topic, EventKind::Subscription),
        (&topics.publish_topic, EventKind::Publish),
    ];
    for (topic, kind) in roles {
        let text = kind.registered_schema_text().map_err(|source| {
            autogen_kafka_services::ServicesError::Codec {
                topic: topic.clone(),
                source,
            }
        })?;
        let schema = match format {
            Format::Avro => SchemaDefinition::avro(kind.avro_schema().to_owned()),
            _ => SchemaDefinition::json(text),
        };
        let id = client.register(&format!("{topic}-value"), &schema).await?;
        tracing::debug!(topic, %id, "schema registered");
        codecs = codecs.with_schema_id(topic.clone(), id.get());
    }
    // Avro readers fetch the writer schemas of newer schema versions from the registry.
    Ok(codecs.with_schema_lookup(Arc::new(client)))
}

async fn start_tails(
    runtime: &KafkaWorkerAgentRuntime,
    registry: &Arc<AgentRegistry>,
    subscriptions: &Arc<SubscriptionService>,
    state: &Arc<StateStore>,
    pending: &Arc<PendingRequests>,
) -> Result<Tails> {
    let inner = &runtime.inner;
    let config = &inner.config;
    let with_fetch_wait = |wait: Duration| {
        let mut properties = config.kafka.client_properties().into_map();
        properties.insert("fetch.wait.max.ms".to_owned(), wait.as_millis().to_string());
        properties
    };
    let token = &inner.token;
    // The fleet's tables (registry, subscriptions, state, runtimes) change rarely and are not on any request's path: one
    // reader, from the beginning, polling at most every FLEET_FETCH_WAIT (brokers that do not wake a parked
    // fetch are asked less often). The same reader follows the shared response topic from its end: only Python
    // runtimes answer there (a Rust callee answers on the caller's own reply topic), so it is not on a Rust RPC's
    // path either, and every partition polled at the short fetch wait costs broker and client CPU.
    let topics = &config.runtime;
    let (registry_topic, subscription_topic, shared_responses, runtimes_topic) = (
        topics.registry_topic.clone(),
        topics.subscription_topic.clone(),
        topics.runtime_responses.clone(),
        topics.runtimes_topic.clone(),
    );
    let directory = Arc::clone(&inner.directory);
    let cancellations = Arc::clone(&inner.cancellations);
    let (registry, subscriptions, state) = (
        Arc::clone(registry),
        Arc::clone(subscriptions),
        Arc::clone(state),
    );
    let shared_pending = Arc::clone(pending);
    let fleet = TailReader::start(
        TailSpec::new(
            "fleet",
            vec![
                topics.registry_topic.clone(),
                topics.subscription_topic.clone(),
                topics.state_topic.clone(),
                topics.runtime_responses.clone(),
                topics.runtimes_topic.clone(),
            ],
        )
        .properties(with_fetch_wait(fleet_fetch_wait(config)))
        .start(TailStart::Beginning)
        .topic_start(topics.runtime_responses.clone(), TailStart::End)
        // The state of partitions assigned later is read by `load_state`; from here on, the state store keeps
        // what it owns of the state written meanwhile.
        .topic_start(topics.state_topic.clone(), TailStart::End)
        // Answers must not be lost to a broker that serves concurrent producers' batches out of order; the
        // compacted tables have gaps by design.
        .check_gaps(topics.runtime_responses.clone())
        .metadata_timeout(step_timeout(config)),
        Arc::new(Apply(move |r: &InboundRecord| {
            if r.topic == registry_topic {
                registry.apply(r);
            } else if r.topic == subscription_topic {
                subscriptions.apply(r);
            } else if r.topic == shared_responses {
                shared_pending.apply_shared(r);
            } else if r.topic == runtimes_topic {
                if !cancellations.apply(r) {
                    directory.apply(r);
                }
            } else {
                state.apply(r);
            }
        })),
        token,
    )
    .await?;
    // This runtime's own reply topic (one partition), from its end: `start` fixes the end before any request of
    // this runtime is sent.
    let pending = Arc::clone(pending);
    let replies = TailReader::start(
        TailSpec::new("replies", vec![inner.reply_topic.clone()])
            .properties(with_fetch_wait(config.streaming.fetch_wait_max))
            .start(TailStart::End)
            // Several replicas answer into this partition at once (see `TailSpec::check_gaps`).
            .check_gaps(inner.reply_topic.clone())
            .metadata_timeout(step_timeout(config)),
        Arc::new(Apply(move |r: &InboundRecord| pending.apply(r))),
        token,
    )
    .await?;
    Ok(Tails { fleet, replies })
}

/// The longest a fetch of the readers off the request path waits on the broker: the fleet tables, the shared
/// response topic and the publish router. On brokers that do not answer a waiting fetch when data arrives
/// (the mock cluster, Tansu), changes there are seen within about this time; Apache Kafka answers at once.
const FLEET_FETCH_WAIT: Duration = Duration::from_millis(100);

/// The fetch wait of the readers off the request path: [`FLEET_FETCH_WAIT`], or the configured fetch wait when
/// that is longer.
fn fleet_fetch_wait(config: &Config) -> Duration {
    config.streaming.fetch_wait_max.max(FLEET_FETCH_WAIT)
}

/// Starts `agent_type`'s request consumer and registers the type with the fleet (startup steps 7 and 5), for a type
/// registered after start.
pub(super) async fn start_agent_type(
    runtime: &KafkaWorkerAgentRuntime,
    agent_type: &str,
) -> Result<()> {
    start_consumer(runtime, agent_type).await?;
    register(runtime, agent_type).await
}

/// Starts the request consumer of `agent_type` and waits until its group assigned it partitions (startup step 7).
async fn start_consumer(runtime: &KafkaWorkerAgentRuntime, agent_type: &str) -> Result<()> {
    let inner = &runtime.inner;
    let config = &inner.config;
    let Some(codecs) = inner.codecs.get() else {
        return Err(CoreError::RuntimeStopped.into());
    };
    let settings = {
        let mut settings = ProcessorSettings::new(
            inner.runtime_id.clone(),
            config.runtime.runtime_responses.clone(),
        );
        settings.default_timeout = config.runtime.rpc_timeout;
        settings.codec_topic = Some(config.runtime.runtime_requests.clone());
        settings
    };
    let requests_topic = config.runtime.request_topic(agent_type).into_owned();
    if config.runtime.request_topic_per_type {
        crate::topics::check_request_topic(config, agent_type)?;
        crate::setup::ensure_topics(
            config,
            inner.create_mode,
            &[crate::topics::request_topic_spec(config, agent_type)],
            step_timeout(config),
        )
        .await?;
    }
    align_state(runtime, agent_type, &requests_topic).await?;
    let processor = Arc::new(
        MessageProcessor::new(
            agent_type,
            settings,
            Arc::clone(codecs),
            inner.producer.clone(),
            Arc::clone(&inner.agents),
        )
        .with_cancellations(Arc::clone(&inner.cancellations)),
    );
    lock(&inner.processors).push(Arc::clone(&processor));
    let weak = Arc::downgrade(inner);
    let timeout = step_timeout(config);
    // Before the first record of newly assigned partitions: wait for the fleet view's bootstrap (the join may
    // finish first), then read their state from the state topic so state saved by the previous owner is loaded.
    let hook_type = agent_type.to_owned();
    let hook: ActivationHook = Arc::new(move |partitions| {
        let weak = weak.clone();
        let agent_type = hook_type.clone();
        Box::pin(async move {
            let Some(mut ready) = weak.upgrade().map(|inner| inner.tails_ready.subscribe()) else {
                return;
            };
            if tokio::time::timeout(timeout, ready.wait_for(|ready| *ready))
                .await
                .is_err()
            {
                tracing::warn!("fleet view not bootstrapped at assignment");
                return;
            }
            let Some(inner) = weak.upgrade() else {
                return;
            };
            if let Some(tails) = inner.tails()
                && let Err(error) = tails.fleet.catch_up(timeout).await
            {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "fleet view is behind at assignment"
                );
            }
            if let Err(error) = load_state(&inner, &agent_type, &partitions, timeout).await {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    ?partitions,
                    "state of newly assigned partitions not read to its end"
                );
            }
        })
    });
    let group = format!("{}.agent.{agent_type}", config.kafka.group_id);
    let properties = config
        .consumer_properties(&group, autogen_kafka_config::AutoOffsetReset::Earliest)
        .into_map();
    let spec = ConsumerSpec::new(
        format!("requests:{agent_type}"),
        group,
        vec![requests_topic.clone()],
    )
    .properties(properties)
    .max_in_flight_per_partition(config.streaming.max_in_flight_per_partition)
    .budget(inner.in_flight.clone())
    // Many callers write into one request partition at once (see `ConsumerSpec::check_gaps`).
    .check_gaps(requests_topic)
    .commit_interval(config.streaming.commit_interval)
    .drain_timeout(drain_timeout(config))
    .statistics_interval(config.streaming.statistics_interval)
    .dead_letter_topic(config.runtime.dead_letter_topic.clone());
    let consumer = GroupConsumer::start(
        spec,
        Arc::new(AgentTypeHandler::new(processor, Some(hook))),
        Some(inner.control.clone()),
        &inner.token,
    )?;
    consumer.wait_assigned(timeout).await?;
    lock(&inner.assignments).insert(agent_type.to_owned(), consumer.assignment_changes());
    inner.consumers.lock().await.push(consumer);
    Ok(())
}

/// Reads the state saved for newly assigned request `partitions` from the state topic, up to its end: only
/// those state partitions when the topics are aligned, all of them otherwise. The state store keeps what it owns.
async fn load_state(
    inner: &super::Inner,
    agent_type: &str,
    partitions: &[autogen_kafka_streaming::TopicPartition],
    timeout: std::time::Duration,
) -> Result<()> {
    if partitions.is_empty() {
        return Ok(());
    }
    let config = &inner.config;
    let topic = config.runtime.state_topic.clone();
    let mut properties = config.kafka.client_properties().into_map();
    properties.insert(
        "fetch.wait.max.ms".to_owned(),
        config.streaming.fetch_wait_max.as_millis().to_string(),
    );
    let mut spec = TailSpec::new("state-load", vec![topic.clone()])
        .properties(properties)
        .start(TailStart::Beginning)
        .metadata_timeout(timeout);
    if inner.state.is_aligned(agent_type) {
        spec = spec.only_partitions(topic, partitions.iter().map(|tp| tp.partition));
    }
    let began = Instant::now();
    let state = Arc::clone(&inner.state);
    let before = state.len();
    let reader = TailReader::start(
        spec,
        Arc::new(Apply(move |r: &InboundRecord| state.apply(r))),
        &inner.token,
    )
    .await?;
    let caught_up = reader.catch_up(timeout).await;
    reader.shutdown().await;
    caught_up?;
    tracing::debug!(
        ?partitions,
        elapsed = ?began.elapsed(),
        held = inner.state.len(),
        before,
        "state of assigned partitions read"
    );
    Ok(())
}

/// Writes this runtime's registration of `agent_type` and applies it to its own registry view once acknowledged
/// (startup step 5): other runtimes see it when their fleet readers read it.
async fn register(runtime: &KafkaWorkerAgentRuntime, agent_type: &str) -> Result<()> {
    let inner = &runtime.inner;
    let Some(registry) = inner.registry.get() else {
        return Err(CoreError::RuntimeStopped.into());
    };
    let record = registry.registration_record(
        agent_type,
        &inner.runtime_id,
        inner.config.runtime.registry_expiry,
    )?;
    inner.control.send_ref(&record).await?;
    registry.apply_written(&record);
    tracing::info!(agent_type, "agent type registered and consuming");
    Ok(())
}

/// Starts the publish router (a consumer of the publish topic in the fleet-wide group
/// `<group_id>.publish-router`): publications written by Python runtimes reach Rust subscribers through it.
async fn start_publish_router(runtime: &KafkaWorkerAgentRuntime) -> Result<()> {
    let inner = &runtime.inner;
    let config = &inner.config;
    if inner.distributed_types().is_empty() {
        // A runtime without agents (a messaging client) has nothing to route to; it stays out of the group.
        return Ok(());
    }
    let group = format!("{}.publish-router", config.kafka.group_id);
    let mut properties = config
        .consumer_properties(&group, autogen_kafka_config::AutoOffsetReset::Latest)
        .into_map();
    // Only Python runtimes' publications arrive here (Rust publishers write to the subscribers' request
    // partitions directly): off the Rust request path, so it polls like the fleet readers.
    properties.insert(
        "fetch.wait.max.ms".to_owned(),
        fleet_fetch_wait(config).as_millis().to_string(),
    );
    let spec = ConsumerSpec::new(
        "publish-router",
        group,
        vec![config.runtime.publish_topic.clone()],
    )
    .properties(properties)
    .check_gaps(config.runtime.publish_topic.clone())
    .max_in_flight_per_partition(config.streaming.max_in_flight_per_partition)
    .commit_interval(config.streaming.commit_interval)
    .drain_timeout(drain_timeout(config))
    .statistics_interval(config.streaming.statistics_interval)
    .dead_letter_topic(config.runtime.dead_letter_topic.clone());
    let consumer = GroupConsumer::start(
        spec,
        Arc::new(super::router::PublishRouter {
            inner: Arc::downgrade(inner),
        }),
        Some(inner.control.clone()),
        &inner.token,
    )?;
    // The group starts at the end of the topic: ready means publications written from now on are routed.
    consumer.wait_assigned(step_timeout(config)).await?;
    inner.consumers.lock().await.push(consumer);
    Ok(())
}

/// Waits `interval` and returns the runtime's state, or `None` once the runtime stopped or was dropped: the step
/// of every periodic task.
pub(super) async fn tick(
    token: &tokio_util::sync::CancellationToken,
    interval: Duration,
    weak: &std::sync::Weak<super::Inner>,
) -> Option<Arc<super::Inner>> {
    tokio::select! {
        biased;
        () = token.cancelled() => return None,
        () = tokio::time::sleep(interval) => {}
    }
    weak.upgrade()
}

/// Passivates agent instances idle for `runtime.agent_idle_timeout_ms`, and the least recently used beyond
/// `runtime.max_active_agents`, every quarter of the idle timeout (between 100 ms and 10 s; every second when only
/// the limit is set). Nothing runs when neither is set.
fn spawn_passivation(runtime: &KafkaWorkerAgentRuntime) {
    let config = &runtime.inner.config.runtime;
    let idle = (!config.agent_idle_timeout.is_zero()).then_some(config.agent_idle_timeout);
    let max_active = (config.max_active_agents > 0)
        .then(|| usize::try_from(config.max_active_agents).unwrap_or(usize::MAX));
    if idle.is_none() && max_active.is_none() {
        return;
    }
    let interval = idle.map_or(Duration::from_secs(1), |idle| {
        (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(10))
    });
    let weak = Arc::downgrade(&runtime.inner);
    let token = runtime.inner.token.child_token();
    let span = tracing::info_span!("agents.passivation", runtime_id = %runtime.inner.runtime_id);
    runtime.inner.tracker.spawn(tracing::Instrument::instrument(
        async move {
            while let Some(inner) = tick(&token, interval, &weak).await {
                let agents = Arc::clone(&inner.agents);
                // Not holding the runtime while agents save: a stop goes on and cancels the sweep.
                drop(inner);
                tokio::select! {
                    biased;
                    () = token.cancelled() => return,
                    _passivated = agents.passivate_idle(idle, max_active) => {}
                }
            }
        },
        span,
    ));
}

/// Every heartbeat: renews this runtime's directory entry and registrations so they do not expire while it lives,
/// writes again its own subscriptions if they vanished from the fleet view, and cleans up after runtimes that died.
fn spawn_heartbeats(runtime: &KafkaWorkerAgentRuntime) {
    let weak = Arc::downgrade(&runtime.inner);
    let token = runtime.inner.token.child_token();
    let interval = runtime.inner.config.runtime.registry_heartbeat;
    let span = tracing::info_span!("registry.heartbeat", runtime_id = %runtime.inner.runtime_id);
    runtime.inner.tracker.spawn(tracing::Instrument::instrument(
        async move {
            while let Some(inner) = tick(&token, interval, &weak).await {
                if inner.registry.get().is_none() {
                    return;
                }
                probe_broker(&inner).await;
                // One record renews the runtime and every registration of its types.
                if let Err(error) = announce(&inner).await {
                    tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "directory heartbeat not written"
                    );
                }
                reassert_registrations(&inner).await;
                reassert_subscriptions(&inner).await;
                clean_up_departed(&inner).await;
            }
        },
        span,
    ));
}

/// Writes again each of this runtime's subscriptions the fleet view no longer holds (a survivor took this
/// runtime for dead after a long stall and removed them, or a runtime sharing an explicit subscription id
/// removed it).
/// Writes again each registration of this runtime's consuming types that the fleet view no longer holds (a
/// survivor took this runtime for dead after a long stall and removed them): heartbeats renew registrations, they
/// do not write them.
async fn reassert_registrations(inner: &super::Inner) {
    let Some(registry) = inner.registry.get() else {
        return;
    };
    let known = registry.types_of(&inner.runtime_id);
    let consuming: Vec<String> = lock(&inner.assignments).keys().cloned().collect();
    for agent_type in consuming.into_iter().filter(|t| !known.contains(t)) {
        tracing::warn!(
            agent_type,
            "own registration missing from the fleet view; writing it again"
        );
        let written = match registry.registration_record(
            &agent_type,
            &inner.runtime_id,
            inner.config.runtime.registry_expiry,
        ) {
            Ok(record) => match inner.control.send_ref(&record).await {
                Ok(_) => {
                    registry.apply_written(&record);
                    Ok(())
                }
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = written {
            tracing::warn!(agent_type, error, "registration not written again");
        }
    }
}

async fn reassert_subscriptions(inner: &super::Inner) {
    let Some(service) = inner.subscriptions.get() else {
        return;
    };
    let missing: Vec<_> = lock(&inner.own_subscriptions)
        .iter()
        .filter(|s| !service.contains(s.id()))
        .cloned()
        .collect();
    for subscription in missing {
        tracing::warn!(
            subscription_id = subscription.id(),
            "own subscription missing from the fleet view; writing it again"
        );
        let written = match service.added_record(&subscription, &inner.runtime_id) {
            Ok(record) => inner
                .control
                .send(record)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = written {
            tracing::warn!(
                subscription_id = subscription.id(),
                error,
                "subscription not written again"
            );
        }
    }
}

/// Removes what runtimes that died left behind, once their directory entries expired longer than
/// `runtime.cleanup_grace_ms` ago (see [`crate::cleanup`]).
async fn clean_up_departed(inner: &super::Inner) {
    let (Some(registry), Some(subscriptions)) = (inner.registry.get(), inner.subscriptions.get())
    else {
        return;
    };
    let fleet = crate::cleanup::Fleet {
        config: &inner.config,
        create_mode: inner.create_mode,
        producer: &inner.control,
        directory: &inner.directory,
        registry,
        subscriptions,
    };
    fleet
        .clean_up(
            inner.config.runtime.cleanup_grace,
            Some(&inner.runtime_id),
            false,
        )
        .await;
}

/// Asks the broker for metadata; reports the `kafka` component up or down.
async fn probe_broker(inner: &super::Inner) {
    let timeout = inner
        .config
        .runtime
        .registry_heartbeat
        .clamp(Duration::from_millis(200), Duration::from_secs(5));
    match inner
        .control
        .partition_count(&inner.config.runtime.runtime_requests, timeout)
        .await
    {
        Ok(_) => inner.kafka_health.up(),
        Err(error) => {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "broker unreachable: runtime not ready"
            );
            inner
                .kafka_health
                .down(format!("broker unreachable: {error}"));
        }
    }
}

pub(super) async fn stop(runtime: &KafkaWorkerAgentRuntime) -> Result<()> {
    let inner = &runtime.inner;
    if inner.stopped.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    let span = tracing::info_span!("runtime.stop", runtime_id = %inner.runtime_id);
    shutdown(runtime).instrument(span).await
}

async fn shutdown(runtime: &KafkaWorkerAgentRuntime) -> Result<()> {
    let inner = &runtime.inner;
    let config = &inner.config;
    // One deadline for the whole stop: the consumers' drain gets most of it, the clean-up and the flush the rest.
    let timeout = config.service.shutdown_timeout;
    let deadline = Instant::now() + timeout;
    let remaining = || deadline.saturating_duration_since(Instant::now());
    // 1. Stop accepting new messages: every consumer at once drains, releases its agents (saving state) and
    // commits, each within its drain timeout.
    let consumers = std::mem::take(&mut *inner.consumers.lock().await);
    let drained = futures::future::join_all(consumers.into_iter().map(GroupConsumer::shutdown));
    if tokio::time::timeout(remaining(), drained).await.is_err() {
        tracing::warn!("consumers did not drain before the shutdown deadline");
    }
    if tokio::time::timeout(remaining(), inner.agents.release_all())
        .await
        .is_err()
    {
        tracing::warn!("agents not all released before the shutdown deadline");
    }
    // 2. Complete pending requests (they have their own deadlines) for up to half of what is left, then fail the
    // rest.
    if let Some(pending) = inner.pending.get() {
        let waited_until = Instant::now() + remaining() / 2;
        while !pending.is_empty() && Instant::now() < waited_until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        pending.fail_all(|| CoreError::RuntimeStopped);
    }
    // 3. Leave the fleet: subscriptions and registrations withdrawn (the events Python runtimes read, then
    // tombstones so the compacted topics forget them).
    if tokio::time::timeout(remaining(), withdraw(inner))
        .await
        .is_err()
    {
        tracing::warn!(
            "subscriptions and registrations not all withdrawn before the shutdown deadline"
        );
    }
    // 4. Close agent instances.
    // A stuck agent is given a moment even when the deadline has passed; its close then fails with StopTimedOut.
    let closed = inner
        .local
        .stop(remaining().max(Duration::from_millis(100)))
        .await;
    // 5. Stop services (tails, heartbeats); the reply topic is deleted, then the directory entry.
    let tails = lock(&inner.tails).take();
    if let Some(tails) = tails.and_then(|t| Arc::try_unwrap(t).ok()) {
        for tail in [tails.fleet, tails.replies] {
            tail.shutdown().await;
        }
    }
    inner.token.cancel();
    inner.tracker.close();
    if tokio::time::timeout(remaining(), inner.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not stop before the deadline");
    }
    if let Err(error) =
        crate::setup::delete_topic(config, inner.create_mode, &inner.reply_topic, remaining()).await
    {
        tracing::warn!(
            error = &error as &dyn std::error::Error,
            topic = inner.reply_topic,
            "reply topic not deleted; the fleet removes it after runtime.cleanup_grace_ms"
        );
    } else {
        let gone = inner.directory.tombstone(&inner.runtime_id);
        // Within the deadline: behind a record the broker never acknowledged it would wait for the send timeout.
        match tokio::time::timeout(
            remaining().max(Duration::from_millis(100)),
            inner.control.send_ref(&gone),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(
                error = &error as &dyn std::error::Error,
                "directory entry not removed"
            ),
            Err(_) => tracing::warn!(
                "directory entry not removed before the shutdown deadline; the fleet removes it after runtime.cleanup_grace_ms"
            ),
        }
    }
    // 6. Close Kafka connections: flush what is queued (at least a moment, even when the deadline has passed).
    let budget = remaining().max(Duration::from_millis(100));
    let (data, control) = tokio::join!(inner.producer.flush(budget), inner.control.flush(budget));
    for (plane, flushed) in [("data", data), ("control", control)] {
        if let Err(error) = flushed {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                plane,
                "producer flush incomplete"
            );
        }
    }
    // 7. Resource cleanup happens as the last handles drop.
    tracing::info!(elapsed = ?timeout.saturating_sub(remaining()), "runtime stopped");
    closed.map_err(RuntimeError::from)
}

/// Withdraws this runtime's subscriptions and registrations from the fleet (stop step 3).
async fn withdraw(inner: &super::Inner) {
    let (Some(subscriptions), Some(registry)) = (inner.subscriptions.get(), inner.registry.get())
    else {
        return;
    };
    let own: Vec<_> = std::mem::take(&mut *lock(&inner.own_subscriptions));
    let mut records = Vec::new();
    for subscription in &own {
        match subscriptions.removed_record(subscription.id(), &inner.runtime_id) {
            Ok(record) => records.push(record),
            Err(error) => tracing::warn!(
                error = &error as &dyn std::error::Error,
                "subscription removal not encoded"
            ),
        }
    }
    let types = inner.distributed_types();
    for agent_type in &types {
        match registry.unregistration_record(agent_type, &inner.runtime_id) {
            Ok(record) => records.push(record),
            Err(error) => tracing::warn!(
                error = &error as &dyn std::error::Error,
                "unregistration not encoded"
            ),
        }
    }
    // Removal events first, then the tombstones of the same keys (one partition per key keeps the order).
    records.extend(own.iter().map(|s| subscriptions.tombstone(s.id())));
    records.extend(
        types
            .iter()
            .map(|agent_type| registry.tombstone(agent_type, &inner.runtime_id)),
    );
    for record in records {
        if let Err(error) = inner.control.send(record).await {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "fleet withdrawal not written"
            );
        }
    }
}

/// How long a consumer lets running records finish when it stops or gives up partitions: three quarters of
/// `service.shutdown_timeout_ms`, so a stop keeps the rest of its one deadline for leaving the fleet and the flush.
fn drain_timeout(config: &Config) -> Duration {
    config.service.shutdown_timeout.mul_f64(0.75)
}

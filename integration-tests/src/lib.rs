//! Support for the integration tests in `tests/`: runtime configurations tuned for the test broker, and the
//! message and agent types the tests share.
//!
//! Every test starts its own broker through `autogen_kafka_testing::TestBroker::start()` (the in-process mock
//! cluster by default, Tansu with `AUTOGEN_KAFKA_TEST_BROKER=tansu`, or `KAFKA_BOOTSTRAP_SERVERS`), and names its
//! topics and groups uniquely so tests can share an external broker.

use std::time::Duration;

use autogen_kafka::admin::CreateMode;
use autogen_kafka::config::{Config, SerializationFormat};
use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{
    AgentRuntimeExt as _, Handler, HandlerError, Message, MessageContext, RoutedAgent,
};
use autogen_kafka_testing::rdkafka::producer::{FutureProducer, FutureRecord};
use autogen_kafka_testing::{BrokerKind, SchemaRegistryStandIn, TestBroker, unique_group};
use serde::{Deserialize, Serialize};

/// A request carrying text. Its type name matches the Python interop vectors (`Ping`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// The text.
    pub content: String,
}
impl Message for Ping {
    const TYPE_NAME: &'static str = "Ping";
}

/// The answer to a [`Ping`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The text.
    pub content: String,
}
impl Message for Pong {
    const TYPE_NAME: &'static str = "Pong";
}

/// Answers a [`Ping`] with a [`Pong`] naming the agent and the runtime that answered; `"fail"` is a handler
/// error and `"sleep:<ms>"` sleeps first.
#[derive(Debug)]
pub struct Echo {
    /// The answering runtime's name.
    pub runtime: String,
}

impl Handler<Ping> for Echo {
    type Response = Pong;

    async fn handle(&mut self, ping: Ping, ctx: &MessageContext) -> Result<Pong, HandlerError> {
        if ping.content == "fail" {
            return Err("the echo agent refuses to fail quietly".into());
        }
        if let Some(ms) = ping.content.strip_prefix("sleep:") {
            let ms: u64 = ms.parse()?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Ok(Pong {
            content: format!(
                "{} from {} on {}",
                ping.content,
                ctx.agent_id(),
                self.runtime
            ),
        })
    }
}

/// A worker configuration for `broker`: topics prefixed with `fleet` (so tests sharing an external broker do not
/// meet), a fresh group id, plain JSON values, and group and fetch settings tuned for the broker kind.
#[must_use]
pub fn worker_config(broker: &TestBroker, fleet: &str) -> Config {
    fleet_config(
        broker.bootstrap_servers(),
        broker.kind(),
        fleet,
        &unique_group(fleet),
    )
}

/// The configuration of every runtime of one test fleet: `group` is the fleet's group id (replicas of a type
/// share it), `fleet` prefixes the topic names.
///
/// # Panics
///
/// If the configuration is invalid (a bug in the test).
#[must_use]
pub fn fleet_config(bootstrap: &str, kind: BrokerKind, fleet: &str, group: &str) -> Config {
    let (session, heartbeat) = match kind {
        BrokerKind::Tansu => (2000, 300),
        _ => (6000, 500),
    };
    let mut builder = Config::builder()
        .without_env()
        .bootstrap_servers([bootstrap])
        .group_id(group)
        .serialization_format(SerializationFormat::Json)
        .rpc_timeout(Duration::from_secs(20))
        .set("streaming.session_timeout_ms", session)
        .set("streaming.heartbeat_interval_ms", heartbeat)
        .set("streaming.fetch_wait_max_ms", 5)
        .set("streaming.linger_ms", 0)
        .set("streaming.commit_interval_ms", 100)
        .set("streaming.statistics_interval_ms", 200)
        .set("runtime.registry_heartbeat_ms", 500)
        .set("runtime.registry_expiry_ms", 3000)
        .set("runtime.cleanup_grace_ms", 2000)
        .set("runtime.startup_timeout_ms", 60_000)
        .set("service.shutdown_timeout_ms", 10_000);
    for (key, suffix) in [
        ("runtime.runtime_requests", "requests"),
        ("runtime.runtime_responses", "responses"),
        ("runtime.registry_topic", "registry"),
        ("runtime.subscription_topic", "subscriptions"),
        ("runtime.publish_topic", "publishes"),
        ("runtime.dead_letter_topic", "dead_letters"),
        ("runtime.state_topic", "state"),
        ("runtime.runtimes_topic", "runtimes"),
    ] {
        builder = builder.set(key, format!("{fleet}.{suffix}"));
    }
    #[expect(
        clippy::expect_used,
        reason = "test support: a bad config is a bug in the test"
    )]
    builder.build().expect("test configuration is valid")
}

/// A runtime builder for `broker` with topic creation suited to it (the mock cluster has no Admin API).
///
/// # Panics
///
/// If the runtime cannot be built (a bug in the test).
#[must_use]
pub fn worker(broker: &TestBroker, config: Config, name: &str) -> KafkaWorkerAgentRuntime {
    worker_for(broker.kind(), config, name)
}

/// How runtimes make topics on a broker of `kind`: the mock cluster has no Admin API, so its topics are
/// auto-created (and never deleted).
#[must_use]
pub fn topic_creation(kind: BrokerKind) -> CreateMode {
    match kind {
        BrokerKind::Mock => CreateMode::AutoCreate,
        _ => CreateMode::Admin,
    }
}

/// Publishes a [`News`] with headline `h<i>` on topic `news/s<i>` from `runtime`, for each `i` of `range`.
///
/// # Panics
///
/// If a publication fails (the test fails).
pub async fn publish_news(runtime: &KafkaWorkerAgentRuntime, range: std::ops::Range<u32>) {
    for i in range {
        let topic = autogen_kafka::TopicId::new("news", format!("s{i}"))
            .unwrap_or_else(|error| panic!("topic id: {error}"));
        runtime
            .publish(
                News {
                    headline: format!("h{i}"),
                },
                &topic,
            )
            .await
            .unwrap_or_else(|error| panic!("publishing h{i}: {error}"));
    }
}

/// [`worker`] for a broker of `kind` (used by the `fleet-worker` process, which only knows the address).
///
/// # Panics
///
/// If the runtime cannot be built (a bug in the test).
#[must_use]
pub fn worker_for(kind: BrokerKind, config: Config, name: &str) -> KafkaWorkerAgentRuntime {
    #[expect(clippy::expect_used, reason = "test support")]
    KafkaWorkerAgentRuntime::builder(config)
        .instance_id(unique_group(name))
        .topic_creation(topic_creation(kind))
        .build()
        .expect("runtime builds")
}

/// Registers `agent_type` on `runtime`: an [`Echo`] answering [`Ping`]s, naming `label` as its runtime.
///
/// # Panics
///
/// If the registration fails (the test fails).
pub async fn register_echo(runtime: &KafkaWorkerAgentRuntime, agent_type: &str, label: &str) {
    let label = label.to_owned();
    runtime
        .register(agent_type, move |_| {
            RoutedAgent::new(Echo {
                runtime: label.clone(),
            })
            .with_handler::<Ping>()
        })
        .await
        .unwrap_or_else(|error| panic!("registering echo: {error}"));
}

/// A fresh fleet named after `fleet` on `broker` (topics of 3 partitions) with two started runtimes: `caller`,
/// hosting nothing, and `host`, hosting the `echo` type (an [`Echo`] that names `host`). Returns the fleet's
/// configuration and the two runtimes.
///
/// # Panics
///
/// If a runtime cannot be built, registered or started (the test fails).
pub async fn echo_pair(
    broker: &TestBroker,
    fleet: &str,
) -> (Config, KafkaWorkerAgentRuntime, KafkaWorkerAgentRuntime) {
    hosting_pair(broker, fleet, "echo", |_| {
        RoutedAgent::new(Echo {
            runtime: "host".to_owned(),
        })
        .with_handler::<Ping>()
    })
    .await
}

/// A fresh fleet named after `fleet` on `broker` (topics of 3 partitions) with two started runtimes: `caller`,
/// hosting nothing, and `host`, hosting `agent_type` made by `make`. Returns the fleet's configuration and the
/// two runtimes.
///
/// # Panics
///
/// If a runtime cannot be built, registered or started (the test fails).
pub async fn hosting_pair<A, F>(
    broker: &TestBroker,
    fleet: &str,
    agent_type: &str,
    make: F,
) -> (Config, KafkaWorkerAgentRuntime, KafkaWorkerAgentRuntime)
where
    A: autogen_kafka::Agent,
    F: Fn(autogen_kafka::AgentId) -> A + Send + Sync + 'static,
{
    let fleet = autogen_kafka_testing::unique_topic(fleet);
    let config = worker_config(broker, &fleet);
    create_fleet_topics(broker, &config, 3).await;
    let caller = worker(broker, config.clone(), "caller");
    let host = worker(broker, config.clone(), "host");
    host.register(agent_type, make)
        .await
        .unwrap_or_else(|error| panic!("registering {agent_type}: {error}"));
    let (a, b) = tokio::join!(caller.start(), host.start());
    a.unwrap_or_else(|error| panic!("starting the caller: {error}"));
    b.unwrap_or_else(|error| panic!("starting the host: {error}"));
    (config, caller, host)
}

/// Creates the fleet's shared topics on `broker` with `partitions` partitions (the mock cluster's auto-created
/// topics have a fixed partition count, so tests that depend on partitioning create them first).
///
/// # Panics
///
/// If the broker refuses (a bug in the test environment).
pub async fn create_fleet_topics(broker: &TestBroker, config: &Config, partitions: i32) {
    let topics = &config.runtime;
    for topic in [
        &topics.runtime_requests,
        &topics.runtime_responses,
        &topics.registry_topic,
        &topics.subscription_topic,
        &topics.publish_topic,
        &topics.dead_letter_topic,
        &topics.state_topic,
        &topics.runtimes_topic,
    ] {
        #[expect(clippy::expect_used, reason = "test support")]
        broker
            .create_topic(topic, partitions)
            .await
            .expect("topic created");
    }
}

/// A fresh fleet named after `fleet` on a new test broker (topics of 3 partitions) whose values are written in
/// `format`, with schemas registered in a new Schema Registry stand-in: the broker, the stand-in and the fleet's
/// configuration ([`worker_config`] plus the format and the registry's address).
///
/// # Panics
///
/// If the broker or the stand-in cannot start, or the configuration does not validate (the test fails).
pub async fn start_registry_fleet(
    fleet: &str,
    format: SerializationFormat,
) -> (TestBroker, SchemaRegistryStandIn, Config) {
    let broker = TestBroker::start()
        .await
        .unwrap_or_else(|error| panic!("test broker: {error}"));
    let registry = SchemaRegistryStandIn::start()
        .await
        .unwrap_or_else(|error| panic!("schema registry stand-in: {error}"));
    let mut config = worker_config(&broker, &autogen_kafka_testing::unique_topic(fleet));
    config.serialization.format = format;
    config.kafka.schema_registry.url = registry.url().to_owned();
    if let Err(error) = config.validate() {
        panic!("invalid test configuration: {error}");
    }
    create_fleet_topics(&broker, &config, 3).await;
    (broker, registry, config)
}

/// Writes one record with `key` and `value` to `topic` with a plain producer, as a foreign writer (a Python
/// runtime, another version) would.
///
/// # Panics
///
/// If the write fails (a bug in the test environment).
pub async fn produce_raw(broker: &TestBroker, topic: &str, key: &str, value: &[u8]) {
    produce_raw_at(broker, topic, key, value, None).await;
}

/// [`produce_raw`] with the record's timestamp set to `timestamp_ms` (milliseconds since the Unix epoch), as a
/// writer whose record waited in a backlog would leave it.
///
/// # Panics
///
/// If the write fails (a bug in the test environment).
pub async fn produce_raw_at(
    broker: &TestBroker,
    topic: &str,
    key: &str,
    value: &[u8],
    timestamp_ms: Option<i64>,
) {
    let producer: FutureProducer = broker
        .producer_config()
        .create()
        .unwrap_or_else(|e| panic!("producer: {e}"));
    let mut record = FutureRecord::to(topic).key(key).payload(value);
    if let Some(timestamp) = timestamp_ms {
        record = record.timestamp(timestamp);
    }
    producer
        .send(record, Duration::from_secs(5))
        .await
        .unwrap_or_else(|(e, _)| panic!("write to {topic}: {e}"));
}

/// A news item, published to topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct News {
    /// The headline.
    pub headline: String,
}
impl Message for News {
    const TYPE_NAME: &'static str = "News";
}

/// Every delivery seen by [`Reader`] agents: `(agent id, topic, headline)`.
pub type Deliveries = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

/// Records each [`News`] it receives in a shared list.
#[derive(Debug)]
pub struct Reader {
    /// Where deliveries are recorded.
    pub seen: Deliveries,
    /// Where the message id of each delivery ([`MessageContext::message_id`]) is recorded, when set.
    pub message_ids: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
}

impl Handler<News> for Reader {
    type Response = ();

    async fn handle(&mut self, news: News, ctx: &MessageContext) -> Result<(), HandlerError> {
        let topic = ctx.topic_id().map(ToString::to_string).unwrap_or_default();
        self.seen.lock().map_err(|_| "poisoned")?.push((
            ctx.agent_id().to_string(),
            topic,
            news.headline,
        ));
        if let Some(ids) = &self.message_ids {
            ids.lock()
                .map_err(|_| "poisoned")?
                .push(ctx.message_id().to_owned());
        }
        Ok(())
    }
}

/// Walks a path of agent ids: each agent forwards the rest of the path to its first id with
/// [`MessageContext::send`] (so the request carries the call chain) and passes the answer back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// The agent ids still to visit (`type/key`), in order.
    pub path: Vec<String>,
}
impl Message for Hop {
    const TYPE_NAME: &'static str = "Hop";
}

/// The answer of the last agent of a [`Hop`] path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trail {
    /// The call chain the last agent saw ([`MessageContext::call_chain`]).
    pub chain: Vec<String>,
    /// Set when an agent's forward failed with a typed `CoreError::CallCycle`: the waiting chain it named
    /// and the recipient that closed it.
    pub cycle: Option<Vec<String>>,
}
impl Message for Trail {
    const TYPE_NAME: &'static str = "Trail";
}

/// The agent that walks [`Hop`] paths.
#[derive(Debug, Default)]
pub struct Walker;

impl Handler<Hop> for Walker {
    type Response = Trail;

    async fn handle(&mut self, hop: Hop, ctx: &MessageContext) -> Result<Trail, HandlerError> {
        let mut rest = hop.path;
        if rest.is_empty() {
            return Ok(Trail {
                chain: ctx.call_chain().iter().map(ToString::to_string).collect(),
                cycle: None,
            });
        }
        let next: autogen_kafka::AgentId = rest.remove(0).parse()?;
        match ctx.send::<Hop, Trail>(Hop { path: rest }, &next).await {
            Ok(trail) => Ok(trail),
            Err(autogen_kafka::core::CoreError::CallCycle { recipient, chain }) => Ok(Trail {
                chain: Vec::new(),
                cycle: Some(
                    chain
                        .iter()
                        .chain([&recipient])
                        .map(ToString::to_string)
                        .collect(),
                ),
            }),
            Err(error) => Err(error.into()),
        }
    }
}

/// Registers `agent_type` on `runtime` as a [`Walker`].
///
/// # Panics
///
/// If the registration fails (the test fails).
pub async fn register_walker(runtime: &KafkaWorkerAgentRuntime, agent_type: &str) {
    runtime
        .register(agent_type, |_| {
            RoutedAgent::new(Walker).with_handler::<Hop>()
        })
        .await
        .unwrap_or_else(|error| panic!("registering walker: {error}"));
}

/// Registers `agent_type` on `runtime` as a [`Reader`] that records its deliveries in `seen`.
///
/// # Panics
///
/// If the registration fails (the test fails).
pub async fn register_reader(
    runtime: &KafkaWorkerAgentRuntime,
    agent_type: &str,
    seen: &Deliveries,
) {
    let seen = std::sync::Arc::clone(seen);
    runtime
        .register(agent_type, move |_| {
            RoutedAgent::new(Reader {
                seen: std::sync::Arc::clone(&seen),
                message_ids: None,
            })
            .with_handler::<News>()
        })
        .await
        .unwrap_or_else(|error| panic!("registering reader: {error}"));
}

/// A plain consumer in a group of its own (named after `name`), subscribed to `topic`, as an outside reader (an
/// operator, a Python runtime) would read it.
///
/// # Panics
///
/// If the consumer cannot be created or subscribe (a bug in the test environment).
pub fn subscribed_consumer(
    broker: &TestBroker,
    name: &str,
    topic: &str,
) -> autogen_kafka_testing::rdkafka::consumer::StreamConsumer {
    use autogen_kafka_testing::rdkafka::consumer::Consumer as _;
    let consumer: autogen_kafka_testing::rdkafka::consumer::StreamConsumer = broker
        .consumer_config(&unique_group(name))
        .create()
        .unwrap_or_else(|error| panic!("consumer: {error}"));
    consumer
        .subscribe(&[topic])
        .unwrap_or_else(|error| panic!("subscribing to {topic}: {error}"));
    consumer
}

/// Adds to a running total kept as the agent's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// The total so far.
    pub total: u64,
}

/// Asks a [`Counter`] to add `by` and answer the new total with the runtime that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Add {
    /// How much to add.
    pub by: u64,
}
impl Message for Add {
    const TYPE_NAME: &'static str = "Add";
}

/// A [`Counter`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Total {
    /// The new total.
    pub total: u64,
    /// The runtime that answered (its `RUNTIME_NAME`).
    pub runtime: String,
}
impl Message for Total {
    const TYPE_NAME: &'static str = "Total";
}

/// A [`Counter`] hosted by a named runtime.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CounterAgent {
    /// The state.
    pub counter: Counter,
    /// The hosting runtime's name (not part of the saved state's meaning, but saved along).
    #[serde(skip)]
    pub runtime: String,
}

impl Handler<Add> for CounterAgent {
    type Response = Total;

    async fn handle(&mut self, add: Add, _ctx: &MessageContext) -> Result<Total, HandlerError> {
        self.counter.total += add.by;
        Ok(Total {
            total: self.counter.total,
            runtime: self.runtime.clone(),
        })
    }
}

/// A counter agent for `runtime`, whose saved state is its [`Counter`] (the runtime name is not saved, so an
/// agent moved to another runtime answers with the new runtime's name and the old total).
#[must_use]
pub fn counter_agent(runtime: &str) -> autogen_kafka::RoutedAgent<CounterAgent> {
    fn save(agent: &CounterAgent) -> Result<serde_json::Value, HandlerError> {
        Ok(serde_json::to_value(&agent.counter)?)
    }
    fn load(agent: &mut CounterAgent, state: serde_json::Value) -> Result<(), HandlerError> {
        agent.counter = serde_json::from_value(state)?;
        Ok(())
    }
    autogen_kafka::RoutedAgent::new(CounterAgent {
        counter: Counter::default(),
        runtime: runtime.to_owned(),
    })
    .with_handler::<Add>()
    .with_state_hooks(save, load)
}

/// The value of the series of `metric` whose labels include every `name="value"` pair of `labels`, in
/// Prometheus text `exposition`; `None` when there is no such series.
#[must_use]
pub fn metric_value(exposition: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(metric)?;
        if !rest.starts_with('{') && !rest.starts_with(' ') {
            return None;
        }
        let matches = labels
            .iter()
            .all(|(name, value)| rest.contains(&format!("{name}=\"{value}\"")));
        if !matches {
            return None;
        }
        rest.rsplit(' ').next()?.parse().ok()
    })
}

/// Every series of `metric` whose labels include `name="value"` for each of `labels`: (the line, the value).
#[must_use]
pub fn metric_series(
    exposition: &str,
    metric: &str,
    labels: &[(&str, &str)],
) -> Vec<(String, f64)> {
    exposition
        .lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .filter(|line| {
            labels
                .iter()
                .all(|(name, value)| line.contains(&format!("{name}=\"{value}\"")))
        })
        .filter_map(|line| Some((line.to_owned(), line.rsplit(' ').next()?.parse().ok()?)))
        .collect()
}

/// Log output of the whole test process, kept in memory.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Installs the process's global `tracing` subscriber, writing events up to `level` (without colours) here.
    /// Every thread's events are captured, librdkafka's included; nextest runs each test in a process of its own.
    ///
    /// # Panics
    ///
    /// If a global subscriber is installed already (a bug in the test).
    #[must_use]
    pub fn install(level: tracing::Level) -> Self {
        let captured = Self::default();
        let writer = captured.clone();
        tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_max_level(level)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish(),
        )
        .unwrap_or_else(|error| panic!("installing the log capture: {error}"));
        captured
    }

    /// Everything written so far.
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many records `topic` holds (0 when it does not exist), from its watermarks.
///
/// # Panics
///
/// If the metadata or the watermarks cannot be read (the test fails).
pub async fn records_in(broker: &TestBroker, topic: &str) -> i64 {
    use autogen_kafka_testing::rdkafka::consumer::Consumer as _;
    let consumer: autogen_kafka_testing::rdkafka::consumer::BaseConsumer = broker
        .consumer_config(&unique_group("watermarks"))
        .create()
        .unwrap_or_else(|e| panic!("consumer: {e}"));
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(10);
        let metadata = consumer
            .fetch_metadata(Some(&topic), timeout)
            .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
        let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return 0;
        };
        found
            .partitions()
            .iter()
            .map(|p| {
                let (low, high) = consumer
                    .fetch_watermarks(&topic, p.id(), timeout)
                    .unwrap_or_else(|e| panic!("watermarks of {topic}/{}: {e}", p.id()));
                high - low
            })
            .sum()
    })
    .await
    .unwrap_or_else(|e| panic!("watermark task: {e}"))
}

/// Sends `Ping { "hi" }` to `echo/k` from `caller` and checks the answer of an echo registered by
/// [`register_echo`] with `label`.
///
/// # Panics
///
/// If the call fails or the answer differs (the test fails).
pub async fn assert_echo_answers(caller: &KafkaWorkerAgentRuntime, label: &str) {
    use autogen_kafka::AgentRuntimeExt as _;
    let echo = autogen_kafka::AgentId::new("echo", "k").unwrap_or_else(|error| panic!("{error}"));
    let pong: Pong = caller
        .send(
            Ping {
                content: "hi".into(),
            },
            &echo,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(pong.content, format!("hi from echo/k on {label}"));
}

/// Adds 1 to the counter `id` once per total in `totals` from `caller`, and checks each answer: the expected total,
/// from the runtime named `runtime`.
///
/// # Panics
///
/// If a call fails or an answer differs (the test fails).
pub async fn add_and_expect(
    caller: &KafkaWorkerAgentRuntime,
    id: &autogen_kafka::AgentId,
    totals: std::ops::RangeInclusive<u64>,
    runtime: &str,
) {
    use autogen_kafka::AgentRuntimeExt as _;
    for expected in totals {
        let total: Total = caller
            .send(Add { by: 1 }, id)
            .await
            .unwrap_or_else(|error| panic!("adding to {id}: {error}"));
        assert_eq!((total.total, total.runtime.as_str()), (expected, runtime));
    }
}

/// A runtime of `config` named `name` hosting the `counter` type ([`counter_agent`]), its answers naming `name`;
/// not started.
///
/// # Panics
///
/// If the type cannot be registered (a bug in the test).
pub async fn counter_worker(
    broker: &TestBroker,
    config: Config,
    name: &str,
) -> KafkaWorkerAgentRuntime {
    use autogen_kafka::AgentRuntimeExt as _;
    let runtime = worker(broker, config, name);
    let label = name.to_owned();
    runtime
        .register("counter", move |_| counter_agent(&label))
        .await
        .unwrap_or_else(|error| panic!("registering counter: {error}"));
    runtime
}

//! The broker fixture: one entry point that gives a test a Kafka-protocol broker.

mod container;
mod mock;
mod tansu;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

#[cfg(feature = "kafka-container")]
use self::container::KafkaContainer;
pub use self::mock::MockClusterHandle;
use self::tansu::TansuProcess;
use crate::error::{Result, TestingError};

/// Environment variable with the bootstrap servers of an external broker; when set (and not
/// empty), [`TestBroker::start`] uses that broker.
pub const BOOTSTRAP_SERVERS_ENV: &str = "KAFKA_BOOTSTRAP_SERVERS";

/// Environment variable choosing the broker [`TestBroker::start`] launches when
/// [`BOOTSTRAP_SERVERS_ENV`] is not set: `mock` (the default), `tansu` or `kafka` (Apache Kafka
/// in a Docker container; needs the `kafka-container` feature).
pub const TEST_BROKER_ENV: &str = "AUTOGEN_KAFKA_TEST_BROKER";

/// `fetch.wait.max.ms` for every kind: neither the mock nor Tansu wakes a parked fetch when
/// data arrives, so end-to-end latency is about this value (mock) or half of it (Tansu).
const FETCH_WAIT_MAX_MS: &str = "5";

/// How long the admin client waits for `CreateTopics`.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a created topic may take to show up in the metadata.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a dropped broker keeps serving before it is torn down. Clients dropped just after
/// the broker (typically tasks cancelled when the test's runtime shuts down) commit offsets
/// and leave their group on close; without a broker that close stalls for the session timeout
/// or longer, blocking the thread that drops them.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Which broker a [`TestBroker`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BrokerKind {
    /// librdkafka's in-process mock cluster (`rdkafka::mocking::MockCluster`).
    Mock,
    /// A Tansu broker child process with in-memory storage.
    Tansu,
    /// A broker the fixture did not start (`KAFKA_BOOTSTRAP_SERVERS` or
    /// [`TestBroker::external`]).
    External,
    /// Apache Kafka in a Docker container started through Testcontainers
    /// ([`TestBroker::kafka_container`], feature `kafka-container`).
    Kafka,
}

impl BrokerKind {
    /// The lower-case name: `mock`, `tansu`, `external` or `kafka`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Mock => "mock",
            Self::Tansu => "tansu",
            Self::External => "external",
            Self::Kafka => "kafka",
        }
    }
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`TestBroker::start`] decided to run, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selection {
    External(String),
    Mock,
    Tansu,
    Kafka,
}

/// Applies the selection rules to the values of [`BOOTSTRAP_SERVERS_ENV`] and
/// [`TEST_BROKER_ENV`].
fn select(bootstrap_servers: Option<OsString>, choice: Option<OsString>) -> Result<Selection> {
    if let Some(servers) = bootstrap_servers {
        let servers = servers.to_string_lossy().trim().to_owned();
        if !servers.is_empty() {
            return Ok(Selection::External(servers));
        }
    }
    let Some(choice) = choice else {
        return Ok(Selection::Mock);
    };
    let choice = choice.to_string_lossy();
    match choice.trim().to_ascii_lowercase().as_str() {
        "" | "mock" => Ok(Selection::Mock),
        "tansu" => Ok(Selection::Tansu),
        "kafka" => Ok(Selection::Kafka),
        _ => Err(TestingError::SelectBroker {
            value: choice.into_owned(),
        }),
    }
}

/// The private part of a [`TestBroker`]: what has to be kept alive or torn down.
#[derive(Debug)]
enum Backend {
    Mock(MockClusterHandle),
    Tansu(TansuProcess),
    External,
    #[cfg(feature = "kafka-container")]
    Container(Box<KafkaContainer>),
}

/// A Kafka-protocol broker for one test, plus client settings tuned for it.
///
/// [`TestBroker::start`] picks the broker from the environment:
///
/// 1. `KAFKA_BOOTSTRAP_SERVERS` set → that external broker, used as is;
/// 2. else `AUTOGEN_KAFKA_TEST_BROKER=tansu` → a Tansu child process, `=mock` → the mock cluster,
///    `=kafka` → Apache Kafka in a Docker container (feature `kafka-container`);
/// 3. else the in-process librdkafka mock cluster.
///
/// [`TestBroker::mock`], [`TestBroker::tansu`], [`TestBroker::kafka_container`] and
/// [`TestBroker::external`] choose explicitly.
///
/// Behaviour measured for each kind (settings in [`group_overrides`](Self::group_overrides)): the mock cluster holds the first
/// consumer-group join for a fixed 3 s; Tansu answers the first join after about half of
/// `session.timeout.ms` (1 s with the 2 s used here), supports only the classic group protocol,
/// keeps everything in memory (a restart loses all topics and offsets) and auto-creates topics on
/// produce. Neither gives transactional abort isolation.
///
/// Dropping the broker never blocks: the broker keeps serving for two more seconds, then the
/// mock cluster is destroyed on its own thread or the Tansu process is killed. The delay lets
/// clients dropped just after the broker (for example tasks cancelled when the test's runtime
/// shuts down) commit and leave their group; a consumer closed against a vanished broker blocks
/// its thread for the session timeout or longer. [`shutdown`](Self::shutdown) stops the broker
/// at once. A Tansu broker never outlives the test process, even one killed by `SIGKILL`.
/// A Kafka container is the exception to "never blocks": its drop waits about 0.2 s to hand
/// the delayed stop to the Docker engine (see [`kafka_container`](Self::kafka_container)).
/// Still, declare the broker before the clients so they are dropped first.
///
/// # Examples
///
/// ```
/// use autogen_kafka_testing::{BrokerKind, TestBroker, unique_group, unique_topic};
/// use rdkafka::consumer::{Consumer, StreamConsumer};
/// use rdkafka::producer::FutureProducer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let broker = TestBroker::mock().await?;
/// assert_eq!(broker.kind(), BrokerKind::Mock);
///
/// let topic = unique_topic("doc_example");
/// broker.create_topic(&topic, 3).await?;
///
/// let producer: FutureProducer = broker.producer_config().create()?;
/// let consumer: StreamConsumer = broker.consumer_config(&unique_group("doc_example")).create()?;
/// consumer.subscribe(&[&topic])?;
/// # drop((producer, consumer));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TestBroker {
    bootstrap_servers: String,
    backend: Backend,
    /// The TLS proxy in front of the broker ([`TestBroker::tansu_over_tls`]).
    _tls_proxy: Option<crate::tls_proxy::TlsProxy>,
}

impl TestBroker {
    /// Gives a broker chosen by the environment (see the type docs for the rules).
    ///
    /// # Errors
    ///
    /// [`TestingError::SelectBroker`] for an unknown `AUTOGEN_KAFKA_TEST_BROKER` value, and
    /// whatever [`mock`](Self::mock), [`tansu`](Self::tansu) or
    /// [`kafka_container`](Self::kafka_container) return.
    pub async fn start() -> Result<Self> {
        let selection = select(
            std::env::var_os(BOOTSTRAP_SERVERS_ENV),
            std::env::var_os(TEST_BROKER_ENV),
        )?;
        let broker = Self::start_selected(selection).await?;
        tracing::info!(kind = %broker.kind(), bootstrap_servers = %broker.bootstrap_servers, "test broker ready");
        Ok(broker)
    }

    /// Starts the broker [`select`] chose.
    async fn start_selected(selection: Selection) -> Result<Self> {
        match selection {
            Selection::External(servers) => Ok(Self::external(servers)),
            Selection::Mock => Self::mock().await,
            Selection::Tansu => Self::tansu().await,
            Selection::Kafka => Self::kafka_container().await,
        }
    }

    /// Starts an in-process librdkafka mock cluster with one broker.
    ///
    /// # Errors
    ///
    /// [`TestingError::SpawnMockThread`] or [`TestingError::StartMockCluster`] when the
    /// cluster cannot be created.
    pub async fn mock() -> Result<Self> {
        Self::mock_with_brokers(1).await
    }

    /// Starts an in-process librdkafka mock cluster with `broker_count` brokers (ids
    /// `1..=broker_count`), for tests that move partition leaders or take single brokers down.
    ///
    /// # Errors
    ///
    /// [`TestingError::SpawnMockThread`] or [`TestingError::StartMockCluster`] when the
    /// cluster cannot be created (for example `broker_count < 1`).
    pub async fn mock_with_brokers(broker_count: i32) -> Result<Self> {
        let handle = MockClusterHandle::start(broker_count).await?;
        Ok(Self {
            bootstrap_servers: handle.bootstrap_servers().to_owned(),
            backend: Backend::Mock(handle),
            _tls_proxy: None,
        })
    }

    /// Starts a Tansu broker on a free 127.0.0.1 port with `--storage-engine memory://tansu/`
    /// and waits until it accepts connections.
    ///
    /// The binary is `$TANSU_BIN` if set, else `<repo>/.tools/tansu/tansu` as installed by
    /// `scripts/install-tansu.sh`. Its output goes to `<target dir>/tansu-logs/` (see
    /// [`tansu_log`](Self::tansu_log)); `TANSU_LOG` becomes its `RUST_LOG`.
    ///
    /// # Errors
    ///
    /// [`TestingError::TansuBinaryNotFound`] (whose message says to run
    /// `scripts/install-tansu.sh`), [`TestingError::SpawnTansu`],
    /// [`TestingError::TansuExited`] or [`TestingError::TansuNotReady`] when the broker does not
    /// come up, and the port and log-file errors.
    pub async fn tansu() -> Result<Self> {
        let binary = tansu::binary_path(std::env::var_os(tansu::TANSU_BIN_ENV));
        let process = TansuProcess::start(binary).await?;
        Ok(Self {
            bootstrap_servers: process.bootstrap_servers(),
            backend: Backend::Tansu(process),
            _tls_proxy: None,
        })
    }

    /// A Tansu broker that clients reach over TLS only: a TLS-terminating proxy with `pki`'s server certificate
    /// (for `localhost` and `127.0.0.1`) listens at [`bootstrap_servers`](Self::bootstrap_servers), and Tansu
    /// advertises the proxy's address, so every connection a client makes goes through TLS. With
    /// `require_client_certificate`, clients must present a certificate `pki`'s CA signed (mutual TLS).
    ///
    /// Tansu 0.6's own `--cert`/`--key` cannot be used together, and `--cert` alone leaves the listener in
    /// plaintext; hence the proxy.
    ///
    /// # Errors
    ///
    /// As [`tansu`](Self::tansu), and [`TestingError::Pki`] when the TLS set-up fails.
    pub async fn tansu_over_tls(
        pki: &crate::TestPki,
        require_client_certificate: bool,
    ) -> Result<Self> {
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .map_err(|source| TestingError::ReservePort { source })?;
        let proxy_port = listener
            .local_addr()
            .map_err(|source| TestingError::ReservePort { source })?
            .port();
        let binary = tansu::binary_path(std::env::var_os(tansu::TANSU_BIN_ENV));
        let process = TansuProcess::start_advertising(binary, Some(proxy_port)).await?;
        let upstream = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, process.port()));
        let proxy =
            crate::tls_proxy::TlsProxy::start(listener, upstream, pki, require_client_certificate)?;
        Ok(Self {
            bootstrap_servers: format!("127.0.0.1:{proxy_port}"),
            backend: Backend::Tansu(process),
            _tls_proxy: Some(proxy),
        })
    }

    /// A Tansu broker that requires SASL/SCRAM: clients authenticate with SCRAM-SHA-256 or SCRAM-SHA-512 as one
    /// of `users` (`(name, password)`), over plaintext TCP (`security.protocol=SASL_PLAINTEXT`).
    ///
    /// Tansu keeps SCRAM credentials only in SQLite storage, and refuses every request but the SASL ones from an
    /// unauthenticated connection, so the users are created on the same database by the broker started without
    /// `--authentication`, which is then started again with it. The binary is `$TANSU_SASL_BIN` if set, else
    /// `<repo>/.tools/tansu-sasl/bin/tansu` as `scripts/install-tansu-sasl.sh` builds it (Tansu 0.6 from
    /// crates.io with the `libsql` feature). [`client_config`](Self::client_config) and the fixture's own
    /// helpers do not authenticate: set the SASL properties on the clients under test.
    ///
    /// `topics` (`(name, partitions)`) are created before authentication is on, so the clients under test need
    /// not create any: Tansu 0.6's SQLite storage mishandles topics created while clients use it (an idempotent
    /// producer's first batch to a partition newer than the producer panics its storage task).
    ///
    /// # Errors
    ///
    /// [`TestingError::TansuSaslBinaryNotFound`], [`TestingError::TansuUser`] when a user cannot be created, and
    /// the errors of [`tansu`](Self::tansu) and [`create_topic`](Self::create_topic).
    pub async fn tansu_with_scram(users: &[(&str, &str)], topics: &[(&str, i32)]) -> Result<Self> {
        let binary = tansu::sasl_binary_path(std::env::var_os(tansu::TANSU_SASL_BIN_ENV));
        if !binary.is_file() {
            return Err(TestingError::TansuSaslBinaryNotFound { path: binary });
        }
        let dir = tansu::scratch_dir()?;
        let open =
            TansuProcess::start_with(binary.clone(), tansu::Launch::sqlite(dir.clone(), false))
                .await?;
        tansu::create_scram_users(&binary, open.port(), users).await?;
        let open = Self {
            bootstrap_servers: open.bootstrap_servers(),
            backend: Backend::Tansu(open),
            _tls_proxy: None,
        };
        for (topic, partitions) in topics {
            open.create_topic(topic, *partitions).await?;
        }
        open.shutdown().await?;
        let process = TansuProcess::start_with(binary, tansu::Launch::sqlite(dir, true)).await?;
        Ok(Self {
            bootstrap_servers: process.bootstrap_servers(),
            backend: Backend::Tansu(process),
            _tls_proxy: None,
        })
    }

    /// Starts Apache Kafka (the `apache/kafka-native` image, one KRaft node) in a Docker
    /// container through Testcontainers, and waits until it accepts clients at
    /// `127.0.0.1:<mapped port>`. Needs the crate feature `kafka-container` and a running
    /// Docker engine (found like Testcontainers does: `DOCKER_HOST`, then the usual sockets).
    ///
    /// The engine is pinged first, so a machine without one fails within about five seconds.
    /// The broker runs with single-node settings (replication factor 1 for the offsets and
    /// transaction logs, no initial rebalance delay) and the container is labelled
    /// `org.autogen-kafka.testing.pid=<test process id>`. The first start pulls the image.
    ///
    /// [`shutdown`](Self::shutdown) removes the container at once. Drop asks the engine to
    /// stop it with a two-second timeout (the entry shell ignores `SIGTERM`, so Kafka serves
    /// until the engine kills it) and waits only until that request is on its way; the engine
    /// then removes the container (auto-remove), even if the test process exits first. A test
    /// process killed by `SIGKILL` leaves the container running: remove it with
    /// `docker rm -f $(docker ps -q --filter label=org.autogen-kafka.testing.pid)`.
    ///
    /// # Errors
    ///
    /// [`TestingError::KafkaContainerFeatureOff`] when the crate is built without the
    /// `kafka-container` feature; [`TestingError::DockerUnavailable`] when no Docker engine
    /// answers; `TestingError::StartKafkaContainer` when the container does not start or
    /// become ready (image pull, port mapping, readiness).
    pub async fn kafka_container() -> Result<Self> {
        #[cfg(feature = "kafka-container")]
        {
            // Testcontainers' start future is large; keep it off the caller's stack.
            let container = Box::pin(KafkaContainer::start()).await?;
            Ok(Self {
                bootstrap_servers: container.bootstrap_servers(),
                backend: Backend::Container(Box::new(container)),
                _tls_proxy: None,
            })
        }
        #[cfg(not(feature = "kafka-container"))]
        {
            Err(TestingError::KafkaContainerFeatureOff)
        }
    }

    /// Uses a broker that runs elsewhere, at `bootstrap_servers` (`host:port[,host:port...]`).
    /// Nothing is started or stopped.
    #[must_use]
    pub fn external(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            backend: Backend::External,
            _tls_proxy: None,
        }
    }

    /// The `bootstrap.servers` value for clients.
    #[must_use]
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Which kind of broker this is.
    #[must_use]
    pub const fn kind(&self) -> BrokerKind {
        match self.backend {
            Backend::Mock(_) => BrokerKind::Mock,
            Backend::Tansu(_) => BrokerKind::Tansu,
            Backend::External => BrokerKind::External,
            #[cfg(feature = "kafka-container")]
            Backend::Container(_) => BrokerKind::Kafka,
        }
    }

    /// The mock cluster's control handle (topic creation, fault injection), or `None` when this
    /// is not a mock broker.
    #[must_use]
    pub const fn mock_cluster(&self) -> Option<&MockClusterHandle> {
        match &self.backend {
            Backend::Mock(handle) => Some(handle),
            Backend::Tansu(_) | Backend::External => None,
            #[cfg(feature = "kafka-container")]
            Backend::Container(_) => None,
        }
    }

    /// The Tansu broker's log file, or `None` when this is not a Tansu broker.
    #[must_use]
    pub fn tansu_log(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Tansu(process) => Some(process.log()),
            Backend::Mock(_) | Backend::External => None,
            #[cfg(feature = "kafka-container")]
            Backend::Container(_) => None,
        }
    }

    /// Creates `topic` with `partitions` partitions and waits until it is usable. A topic that
    /// already exists is not an error (its partition count is left as it is).
    ///
    /// The mock cluster creates it directly (it has no admin API); Tansu, Kafka container and
    /// external brokers get an admin `CreateTopics` request (replication factor 1 on Tansu and
    /// the container, the broker default on an external cluster) and the call returns once the
    /// topic is in the metadata.
    ///
    /// # Errors
    ///
    /// [`TestingError::CreateTopic`] when the broker rejects the topic,
    /// [`TestingError::CreateAdminClient`], [`TestingError::TopicNotVisible`], or
    /// [`TestingError::MockClusterGone`] after a mock cluster was shut down.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        let replication = match &self.backend {
            Backend::Mock(handle) => return handle.create_topic(topic, partitions).await,
            Backend::Tansu(_) => 1,
            Backend::External => -1,
            #[cfg(feature = "kafka-container")]
            Backend::Container(_) => 1,
        };
        self.create_topic_with_admin(topic, partitions, replication)
            .await
    }

    /// Kills the Tansu broker and starts a fresh one on the same port. Clients reconnect by
    /// themselves, but memory storage loses every topic, record and committed offset: create
    /// topics again afterwards (a producer with stale metadata may even get an ack for a topic
    /// that no longer exists, which then comes back auto-created with default settings).
    ///
    /// # Errors
    ///
    /// [`TestingError::Unsupported`] for the mock cluster and external brokers, and the start
    /// errors of [`tansu`](Self::tansu).
    pub async fn restart(&mut self) -> Result<()> {
        match &mut self.backend {
            Backend::Tansu(process) => process.restart().await,
            #[cfg(feature = "kafka-container")]
            Backend::Container(_) => Err(TestingError::Unsupported {
                operation: "restart",
                needs: "a Tansu",
                kind: self.kind(),
            }),
            Backend::Mock(_) | Backend::External => Err(TestingError::Unsupported {
                operation: "restart",
                needs: "a Tansu",
                kind: self.kind(),
            }),
        }
    }

    /// Stops the broker now and waits until it is gone (drop stops it after a grace period,
    /// without waiting). Close the clients first.
    ///
    /// # Errors
    ///
    /// [`TestingError::TansuProcess`] when the Tansu process cannot be reaped;
    /// `TestingError::StopKafkaContainer` when the Kafka container cannot be removed.
    pub async fn shutdown(self) -> Result<()> {
        match self.backend {
            Backend::Mock(handle) => {
                handle.shutdown().await;
                Ok(())
            }
            Backend::Tansu(mut process) => process.stop(),
            Backend::External => Ok(()),
            #[cfg(feature = "kafka-container")]
            Backend::Container(container) => container.remove().await,
        }
    }

    /// A client config with only `bootstrap.servers` set: the base for any client.
    #[must_use]
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        config
    }

    /// [`client_config`](Self::client_config) plus [`producer_overrides`](Self::producer_overrides).
    #[must_use]
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        for (key, value) in self.producer_overrides() {
            config.set(key, value);
        }
        config
    }

    /// A consumer config for group `group_id`: [`client_config`](Self::client_config),
    /// [`group_overrides`](Self::group_overrides), `auto.offset.reset=earliest` (a consumer that
    /// joins after the producer still sees the records) and `enable.partition.eof=false`.
    #[must_use]
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("group.id", group_id)
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        for (key, value) in self.group_overrides() {
            config.set(key, value);
        }
        config
    }

    /// librdkafka consumer properties that make groups and fetches fast on this kind of broker.
    ///
    /// | property | mock / external / Kafka container | Tansu |
    /// |---|---|---|
    /// | `session.timeout.ms` | 6000 | 2000 |
    /// | `heartbeat.interval.ms` | 500 | 300 |
    /// | `fetch.wait.max.ms` | 5 | 5 |
    /// | `group.protocol` | classic | classic |
    ///
    /// Tansu holds the first `JoinGroup` for about half the session timeout and livelocks below
    /// 1000 ms; it does not support the KIP-848 `consumer` protocol. 6000 ms is the smallest
    /// session a default Apache Kafka broker accepts. Neither the mock nor Tansu answers a
    /// waiting fetch early when data arrives, hence the short fetch wait.
    #[must_use]
    pub fn group_overrides(&self) -> BTreeMap<String, String> {
        let (session_ms, heartbeat_ms) = match self.kind() {
            BrokerKind::Tansu => ("2000", "300"),
            BrokerKind::Mock | BrokerKind::External | BrokerKind::Kafka => ("6000", "500"),
        };
        [
            ("session.timeout.ms", session_ms),
            ("heartbeat.interval.ms", heartbeat_ms),
            ("fetch.wait.max.ms", FETCH_WAIT_MAX_MS),
            ("group.protocol", "classic"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    }

    /// librdkafka producer properties for low latency: `linger.ms=0` (send at once; batching
    /// only adds delay against a local broker).
    #[must_use]
    pub fn producer_overrides(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("linger.ms".to_owned(), "0".to_owned())])
    }

    /// `CreateTopics` through an rdkafka admin client, then wait for the metadata.
    async fn create_topic_with_admin(
        &self,
        topic: &str,
        partitions: i32,
        replication: i32,
    ) -> Result<()> {
        let create_error = |source| TestingError::CreateTopic {
            topic: topic.to_owned(),
            partitions,
            source,
        };
        let admin: AdminClient<DefaultClientContext> =
            self.client_config()
                .create()
                .map_err(|source| TestingError::CreateAdminClient {
                    bootstrap_servers: self.bootstrap_servers.clone(),
                    source,
                })?;
        let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
        let options = AdminOptions::new()
            .request_timeout(Some(ADMIN_TIMEOUT))
            .operation_timeout(Some(ADMIN_TIMEOUT));
        let results = admin
            .create_topics([&new_topic], &options)
            .await
            .map_err(create_error)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(create_error(KafkaError::AdminOp(code))),
            }
        }
        // Metadata lookups block; the admin client's drop joins its polling thread.
        let name = topic.to_owned();
        tokio::task::spawn_blocking(move || wait_for_topic(&admin, &name))
            .await
            .map_err(|source| TestingError::BlockingTask {
                operation: "wait for topic metadata",
                source,
            })?
    }
}

/// Polls the metadata (blocking) until `topic` is listed without error.
fn wait_for_topic(admin: &AdminClient<DefaultClientContext>, topic: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + METADATA_TIMEOUT;
    loop {
        let visible = admin
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(1))
            .is_ok_and(|metadata| {
                metadata
                    .topics()
                    .iter()
                    .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            });
        if visible {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(TestingError::TopicNotVisible {
                topic: topic.to_owned(),
                timeout: METADATA_TIMEOUT,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests;

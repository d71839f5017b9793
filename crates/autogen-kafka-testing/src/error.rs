//! The error type of the testing crate.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use rdkafka::error::KafkaError;

use crate::broker::BrokerKind;

/// Everything that can go wrong while starting, driving or polling a test fixture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestingError {
    /// `AUTOGEN_KAFKA_TEST_BROKER` holds a value other than `mock`, `tansu` or `kafka`.
    #[error(
        "AUTOGEN_KAFKA_TEST_BROKER={value:?} is not a broker kind \
         (expected `mock`, `tansu` or `kafka`)"
    )]
    SelectBroker {
        /// The rejected value.
        value: String,
    },

    /// The in-process librdkafka mock cluster could not be created.
    #[error("could not start the librdkafka mock cluster")]
    StartMockCluster {
        /// Why librdkafka refused.
        #[source]
        source: KafkaError,
    },

    /// The thread that owns the mock cluster could not be spawned.
    #[error("could not spawn the thread that owns the mock cluster")]
    SpawnMockThread {
        /// Why the operating system refused.
        #[source]
        source: std::io::Error,
    },

    /// The mock cluster has already been shut down, so it cannot serve the command.
    #[error("the mock cluster is shut down; cannot {operation}")]
    MockClusterGone {
        /// The command that could not be served.
        operation: &'static str,
    },

    /// A fault-injection or control command on the mock cluster failed.
    #[error("mock cluster command {operation} failed")]
    MockClusterCommand {
        /// The command that failed (for example `broker_down`).
        operation: &'static str,
        /// The error librdkafka reported.
        #[source]
        source: KafkaError,
    },

    /// A test certificate or key could not be made or written.
    #[error("test PKI: {what}: {message}")]
    Pki {
        /// What was being made.
        what: &'static str,
        /// The cause.
        message: String,
    },
    /// A mock-cluster-only operation was called on another kind of broker.
    #[error("{operation} needs {needs} broker, but this one is {kind}")]
    Unsupported {
        /// The operation that was called.
        operation: &'static str,
        /// The kind of broker the operation works on.
        needs: &'static str,
        /// The kind of this broker.
        kind: BrokerKind,
    },

    /// No Tansu binary exists at the expected place.
    #[error(
        "Tansu broker binary not found at {}: run scripts/install-tansu.sh \
         (or set TANSU_BIN to a Tansu binary)",
        path.display()
    )]
    TansuBinaryNotFound {
        /// Where the binary was looked for.
        path: PathBuf,
    },

    /// No Tansu binary with SQLite storage (needed for SCRAM credentials) exists at the expected place.
    #[error(
        "Tansu broker binary with SQLite storage not found at {}: run scripts/install-tansu-sasl.sh \
         (or set TANSU_SASL_BIN to a Tansu binary built with the `libsql` feature)",
        path.display()
    )]
    TansuSaslBinaryNotFound {
        /// Where the binary was looked for.
        path: PathBuf,
    },

    /// A SCRAM user could not be created on a Tansu broker.
    #[error("creating the SCRAM user {user} on Tansu failed: {detail}")]
    TansuUser {
        /// The user.
        user: String,
        /// What went wrong.
        detail: String,
    },

    /// No free local port could be found for the Tansu listener.
    #[error("could not reserve a free 127.0.0.1 port for Tansu")]
    ReservePort {
        /// The socket error.
        #[source]
        source: std::io::Error,
    },

    /// The Tansu log file could not be created.
    #[error("could not create the Tansu log file {}", path.display())]
    CreateLog {
        /// The log file path.
        path: PathBuf,
        /// The file-system error.
        #[source]
        source: std::io::Error,
    },

    /// The Tansu process could not be spawned.
    #[error("could not spawn the Tansu broker {}", binary.display())]
    SpawnTansu {
        /// The binary that was executed.
        binary: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// The Tansu process exited before it accepted connections.
    #[error("Tansu broker on port {port} exited with {status} before accepting connections (log: {})", log.display())]
    TansuExited {
        /// The port it was told to listen on.
        port: u16,
        /// How it exited.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
    },

    /// The Tansu process did not accept connections in time.
    #[error("Tansu broker on port {port} did not accept connections within {timeout:?} (log: {})", log.display())]
    TansuNotReady {
        /// The port it was told to listen on.
        port: u16,
        /// How long the fixture waited.
        timeout: Duration,
        /// Its log file.
        log: PathBuf,
    },

    /// The Tansu process could not be stopped or inspected.
    #[error("could not {operation} the Tansu broker process")]
    TansuProcess {
        /// What was attempted (`kill`, `wait for`, `check`).
        operation: &'static str,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// An Apache Kafka container was asked for (`AUTOGEN_KAFKA_TEST_BROKER=kafka` or
    /// [`TestBroker::kafka_container`](crate::TestBroker::kafka_container)), but this build of
    /// the crate lacks the `kafka-container` feature.
    #[error(
        "the Apache Kafka container broker needs the `kafka-container` feature of \
         autogen-kafka-testing: enable it (for example `cargo test --features \
         autogen-kafka-testing/kafka-container`), or pick another broker with \
         AUTOGEN_KAFKA_TEST_BROKER=mock|tansu or KAFKA_BOOTSTRAP_SERVERS"
    )]
    KafkaContainerFeatureOff,

    /// No usable Docker engine answered, so no Kafka container can be started.
    #[error(
        "no Docker engine is available for the Apache Kafka container: {reason} \
         (start Docker or point DOCKER_HOST at one, or pick another broker with \
         AUTOGEN_KAFKA_TEST_BROKER=mock|tansu)"
    )]
    DockerUnavailable {
        /// What the fixture tried and how it failed, in its own words.
        reason: String,
        /// The Docker client's error, when there is one (a timeout has none).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The Docker engine answered, but the Kafka container did not start or become ready.
    #[cfg(feature = "kafka-container")]
    #[error("could not start the Apache Kafka container from image {image}")]
    StartKafkaContainer {
        /// The image, `name:tag`.
        image: String,
        /// The Testcontainers error.
        #[source]
        source: Box<testcontainers::TestcontainersError>,
    },

    /// The Kafka container could not be removed.
    #[cfg(feature = "kafka-container")]
    #[error("could not remove the Apache Kafka container {container_id}")]
    StopKafkaContainer {
        /// The Docker container id.
        container_id: String,
        /// The Testcontainers error.
        #[source]
        source: Box<testcontainers::TestcontainersError>,
    },

    /// An rdkafka admin client could not be created.
    #[error("could not create an admin client for {bootstrap_servers}")]
    CreateAdminClient {
        /// The bootstrap servers it was pointed at.
        bootstrap_servers: String,
        /// Why rdkafka refused.
        #[source]
        source: KafkaError,
    },

    /// Creating a topic failed (an already existing topic is not a failure).
    #[error("could not create topic {topic} with {partitions} partitions")]
    CreateTopic {
        /// The topic name.
        topic: String,
        /// The requested partition count.
        partitions: i32,
        /// The broker's or librdkafka's error.
        #[source]
        source: KafkaError,
    },

    /// A created topic did not show up in the broker's metadata in time.
    #[error("topic {topic} did not appear in the metadata within {timeout:?}")]
    TopicNotVisible {
        /// The topic name.
        topic: String,
        /// How long the fixture waited.
        timeout: Duration,
    },

    /// A blocking helper task panicked or was cancelled.
    #[error("a blocking fixture task failed while trying to {operation}")]
    BlockingTask {
        /// What the task was doing.
        operation: &'static str,
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },

    /// [`eventually`](crate::eventually) ran out of time before its condition held.
    #[error("condition still false after {timeout:?} ({attempts} checks)")]
    ConditionTimedOut {
        /// The time budget that was exhausted.
        timeout: Duration,
        /// How many times the condition was evaluated.
        attempts: u32,
    },
}

/// The result type of the testing crate.
pub type Result<T, E = TestingError> = std::result::Result<T, E>;

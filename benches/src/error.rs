//! The one error type of the benchmark harness.

use std::path::PathBuf;
use std::time::Duration;

use autogen_kafka_testing::TestingError;
use rdkafka::error::KafkaError;

/// What went wrong while setting up or running a benchmark.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A topic could not be created.
    #[error("creating topic {topic} with {partitions} partitions failed")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// Its partition count.
        partitions: i32,
        /// The fixture's error.
        #[source]
        source: Box<TestingError>,
    },
    /// A runtime operation failed (build, register, start, send, publish, subscribe, stop).
    #[error("runtime {operation} failed")]
    Runtime {
        /// The operation.
        operation: &'static str,
        /// The runtime's error.
        #[source]
        source: Box<autogen_kafka::Error>,
    },
    /// A raw rdkafka client could not be created or used.
    #[error("raw rdkafka {operation} failed")]
    Raw {
        /// What was attempted (`create producer`, `assign`, ...).
        operation: &'static str,
        /// The client's error.
        #[source]
        source: Box<KafkaError>,
    },
    /// A worker process could not be started or talked to.
    #[error("worker process {name}: {operation} failed")]
    Worker {
        /// The worker's name.
        name: String,
        /// What was attempted.
        operation: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for something ended at its deadline.
    #[error("{what} did not happen within {after:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The deadline.
        after: Duration,
    },
    /// A `/proc` file could not be read or parsed.
    #[error("reading {path} failed")]
    ReadProc {
        /// The file.
        path: PathBuf,
        /// The I/O error (`InvalidData` for a file that does not parse).
        #[source]
        source: std::io::Error,
    },
    /// The worker process got arguments it does not understand.
    #[error("bad worker arguments: {detail}")]
    WorkerArguments {
        /// What is wrong.
        detail: String,
    },
    /// The settings could not be encoded or decoded.
    #[error("encoding or decoding {what} failed")]
    Json {
        /// What was encoded.
        what: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The gateway benchmark could not listen on a local address.
    #[error("listening on {address} failed")]
    Listen {
        /// The address.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A result file could not be written.
    #[error("writing {path} failed")]
    WriteResults {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl BenchError {
    /// A [`BenchError::Runtime`] for `operation` from any error the facade converts.
    pub fn runtime(operation: &'static str, source: impl Into<autogen_kafka::Error>) -> Self {
        Self::Runtime {
            operation,
            source: Box::new(source.into()),
        }
    }

    /// A [`BenchError::Raw`] for `operation`.
    #[must_use]
    pub fn raw(operation: &'static str, source: KafkaError) -> Self {
        Self::Raw {
            operation,
            source: Box::new(source),
        }
    }
}

/// The harness's result type.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

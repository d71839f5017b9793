//! The admin layer's error type.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::schema_registry::{RegistryOperation, SchemaId, SchemaVersion};
use crate::topics::TopicOperation;

/// The error returned when a registry URL cannot be parsed (the `url` crate's parse error,
/// as re-used by `reqwest`).
pub type UrlParseError = <reqwest::Url as FromStr>::Err;

/// Result alias for the admin layer.
pub type Result<T, E = AdminError> = std::result::Result<T, E>;

/// Everything that can go wrong in the admin layer.
///
/// Schema Registry failures are split by what the caller can do about them:
/// [`is_retriable`](Self::is_retriable) is `true` only for failures that a later attempt may
/// not hit (server errors, timeouts, an unreachable registry). A "not found" variant is only
/// produced when the registry itself answered with the matching Confluent error code
/// (40401, 40402, 40403), never for a failed request or a failed compatibility check.
///
/// Topic failures follow the same split: an unreachable broker, a timed-out request and
/// transient broker error codes are retriable; an invalid spec, a topic with too few
/// partitions or a refused creation are not.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The registry URL given to the client builder is not a valid URL.
    #[error("invalid schema registry URL `{url}`")]
    InvalidRegistryUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        #[source]
        source: UrlParseError,
    },

    /// The registry URL embeds credentials (`https://user:secret@host`); they would end up in
    /// logs and error messages, so they must be passed through `basic_auth` instead.
    #[error(
        "the schema registry URL must not embed credentials; pass them to `basic_auth` instead"
    )]
    CredentialsInRegistryUrl,

    /// The registry URL uses a scheme other than `http` or `https`.
    #[error("unsupported schema registry URL scheme `{scheme}` (expected http or https)")]
    UnsupportedRegistryScheme {
        /// The scheme found in the URL.
        scheme: String,
    },

    /// The CA certificate file for the registry's TLS connection could not be read.
    #[error("cannot read the schema registry CA file {}", path.display())]
    ReadCaFile {
        /// The file that was configured.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The client certificate or key file for mutual TLS with the registry could not be read.
    #[error("cannot read the schema registry client identity file {}", path.display())]
    ReadIdentityFile {
        /// The file that was configured.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The client certificate and key do not make a usable TLS identity (PEM certificate and private key).
    #[error("the schema registry client certificate {} and its key do not make a TLS identity", path.display())]
    InvalidIdentity {
        /// The certificate file that was configured.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: reqwest::Error,
    },

    /// The CA certificate file does not hold valid PEM certificates.
    #[error("the schema registry CA file {} holds no valid PEM certificate", path.display())]
    InvalidCaFile {
        /// The file that was configured.
        path: PathBuf,
        /// The parse error, when the PEM parser reported one (`None` when the file simply
        /// holds no certificate).
        #[source]
        source: Option<reqwest::Error>,
    },

    /// The HTTP client could not be built (TLS set-up failed).
    #[error("cannot build the schema registry HTTP client")]
    BuildRegistryClient {
        /// The cause reported by the HTTP client.
        #[source]
        source: reqwest::Error,
    },

    /// A request body could not be serialized to JSON.
    #[error("cannot encode the schema registry `{operation}` request")]
    EncodeRequest {
        /// The operation.
        operation: RegistryOperation,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },

    /// The registry rejected the credentials (HTTP 401) or the permissions (HTTP 403).
    #[error("schema registry refused `{operation}` at {url}: HTTP {status} ({message})")]
    RegistryUnauthorized {
        /// The operation that was refused.
        operation: RegistryOperation,
        /// The request URL.
        url: String,
        /// 401 (bad or missing credentials) or 403 (not allowed).
        status: u16,
        /// The registry's message.
        message: String,
    },

    /// The subject has no registered version (Confluent error 40401).
    #[error("`{operation}`: subject `{subject}` not found in the schema registry")]
    SubjectNotFound {
        /// The operation that failed.
        operation: RegistryOperation,
        /// The subject.
        subject: String,
    },

    /// The subject exists but not in the requested version (Confluent error 40402).
    #[error("`{operation}`: version {version} of subject `{subject}` not found")]
    VersionNotFound {
        /// The operation that failed.
        operation: RegistryOperation,
        /// The subject.
        subject: String,
        /// The requested version.
        version: SchemaVersion,
    },

    /// No schema has this id (Confluent error 40403 on `GET /schemas/ids/{id}`).
    #[error("schema id {id} not found in the schema registry")]
    SchemaIdNotFound {
        /// The id that was asked for.
        id: SchemaId,
    },

    /// The registry refused the schema because it is incompatible with the subject's
    /// earlier versions under the configured compatibility level (HTTP 409, or a compatibility
    /// check that answered `is_compatible: false`). Nothing was registered.
    #[error(
        "schema for subject `{subject}` is incompatible with its registered versions: {message}"
    )]
    IncompatibleSchema {
        /// The subject.
        subject: String,
        /// The registry's explanation.
        message: String,
    },

    /// The registry could not parse the schema (HTTP 422, Confluent error 42201).
    #[error("schema for subject `{subject}` is invalid: {message}")]
    InvalidSchema {
        /// The subject.
        subject: String,
        /// The registry's explanation.
        message: String,
    },

    /// The registry answered with a client error this crate has no dedicated variant for
    /// (for example HTTP 400, a 404 without a Confluent error code, or 422 with a code other
    /// than 42201). Not retried.
    #[error(
        "schema registry rejected `{operation}` at {url}: HTTP {status}{}: {message}",
        error_code.map(|code| format!(" (error code {code})")).unwrap_or_default()
    )]
    RegistryRejected {
        /// The operation.
        operation: RegistryOperation,
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The Confluent `error_code`, when the body carried one.
        error_code: Option<i64>,
        /// The registry's message (or the start of the raw body).
        message: String,
    },

    /// The registry kept answering with a server error (5xx) or "too many requests" (429)
    /// until the retry policy gave up.
    #[error(
        "schema registry failed `{operation}` at {url} after {attempts} attempt(s): HTTP {status}{}: {message}",
        error_code.map(|code| format!(" (error code {code})")).unwrap_or_default()
    )]
    RegistryServer {
        /// The operation.
        operation: RegistryOperation,
        /// The request URL.
        url: String,
        /// The last HTTP status.
        status: u16,
        /// The last Confluent `error_code`, when the body carried one.
        error_code: Option<i64>,
        /// The last message (or the start of the raw body).
        message: String,
        /// How many requests were sent.
        attempts: u32,
    },

    /// The registry did not answer within the request timeout. Not retried by the client
    /// (the request may have been processed); callers may retry.
    #[error(
        "schema registry `{operation}` at {url} timed out after {timeout:?} (attempt {attempts})"
    )]
    RegistryTimeout {
        /// The operation.
        operation: RegistryOperation,
        /// The request URL.
        url: String,
        /// The configured request timeout.
        timeout: Duration,
        /// How many requests were sent, the timed-out one included.
        attempts: u32,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },

    /// No connection could be made to the registry (refused, unreachable, DNS or TLS
    /// handshake failure) in any of the attempts the retry policy allowed.
    #[error(
        "schema registry unavailable at {url}: `{operation}` could not connect after {attempts} attempt(s)"
    )]
    RegistryUnavailable {
        /// The operation.
        operation: RegistryOperation,
        /// The request URL.
        url: String,
        /// How many connection attempts were made.
        attempts: u32,
        /// The last connection error.
        #[source]
        source: reqwest::Error,
    },

    /// The request failed after the connection was made (for example the connection was
    /// reset mid-response). Not retried, because the registry may have processed it.
    #[error("schema registry `{operation}` at {url} failed")]
    RegistryRequest {
        /// The operation.
        operation: RegistryOperation,
        /// The request URL.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },

    /// The registry answered with a success status but a body that is not the documented
    /// JSON shape.
    #[error("schema registry `{operation}` at {url} returned an unexpected body (HTTP {status})")]
    RegistryBadResponse {
        /// The operation.
        operation: RegistryOperation,
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Why the body did not decode.
        #[source]
        source: serde_json::Error,
    },

    /// The librdkafka properties given to [`TopicAdmin`](crate::TopicAdmin) have no
    /// (or an empty) `bootstrap.servers`.
    #[error("the Kafka client properties have no `bootstrap.servers`")]
    MissingBootstrapServers,

    /// librdkafka refused to create a client from the given properties (an unknown property or
    /// an invalid value).
    #[error("cannot create a Kafka client for {bootstrap}")]
    CreateClient {
        /// The `bootstrap.servers` value.
        bootstrap: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },

    /// A [`TopicSpec`](crate::TopicSpec) cannot be created as given (checked before any broker
    /// is contacted).
    #[error("invalid spec for topic `{topic}`: {reason}")]
    InvalidTopicSpec {
        /// The topic name as given.
        topic: String,
        /// What is wrong.
        reason: String,
    },

    /// A `cleanup.policy` value is not a comma-separated list of `delete` and `compact`.
    #[error("`{value}` is not a cleanup policy (expected delete, compact or compact,delete)")]
    InvalidCleanupPolicy {
        /// The value as given.
        value: String,
    },

    /// No broker answered a metadata request within the operation timeout: the bootstrap
    /// servers are down or unreachable, or TLS/SASL set-up failed (see `last_error`).
    #[error(
        "no Kafka broker at {bootstrap} answered within {timeout:?}{}",
        last_error.as_ref().map(|reason| format!(" (last client error: {reason})")).unwrap_or_default()
    )]
    BrokerUnreachable {
        /// The `bootstrap.servers` value.
        bootstrap: String,
        /// The operation timeout.
        timeout: Duration,
        /// The last client-level error librdkafka reported (for example `Connection refused`),
        /// when there was one.
        last_error: Option<String>,
        /// librdkafka's error for the metadata request (boxed to keep the error small), or
        /// `None` when the safety deadline around it fired first.
        #[source]
        source: Option<Box<KafkaError>>,
    },

    /// A topic request or wait did not finish within the operation timeout. For `create
    /// topic` the broker may still create the topic; `describe configs`, `create topic` and
    /// `delete topic` also time out on brokers that do not implement them (the librdkafka
    /// mock cluster: use [`CreateMode::AutoCreate`](crate::CreateMode::AutoCreate)).
    #[error("`{operation}` for topic `{topic}` timed out after {timeout:?}")]
    AdminTimeout {
        /// The step that timed out.
        operation: TopicOperation,
        /// The topic.
        topic: String,
        /// The operation timeout.
        timeout: Duration,
    },

    /// The broker answered a metadata request with an error for this topic (for example
    /// `TopicAuthorizationFailed`).
    #[error("metadata for topic `{topic}` reported an error")]
    TopicMetadata {
        /// The topic.
        topic: String,
        /// The broker's error code, as `KafkaError::MetadataFetch`.
        #[source]
        source: KafkaError,
    },

    /// The topic does not exist.
    #[error("topic `{topic}` does not exist")]
    TopicNotFound {
        /// The topic.
        topic: String,
    },

    /// The broker refused to create the topic (for example an invalid config, a policy
    /// violation or missing authorization).
    #[error("cannot create topic `{topic}`")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// librdkafka's or the broker's error (`KafkaError::AdminOp(code)` for a per-topic
        /// error).
        #[source]
        source: KafkaError,
    },

    /// The topic exists with fewer partitions than the spec asks for. Adding partitions
    /// changes which partition a key maps to, so this is left to an operator.
    #[error(
        "topic `{topic}` has {found} partition(s), fewer than the {wanted} required: recreate it with {wanted} \
         partitions, or configure {found} (adding partitions to it would move keys to other partitions)"
    )]
    TopicMismatch {
        /// The topic.
        topic: String,
        /// The partition count the spec asks for.
        wanted: u32,
        /// The partition count the topic has.
        found: u32,
    },

    /// In [`CreateMode::AutoCreate`](crate::CreateMode::AutoCreate) the topic did not appear
    /// after metadata requests that allow auto-creation: the broker most likely has
    /// `auto.create.topics.enable=false`.
    #[error(
        "topic `{topic}` was not auto-created within {timeout:?}; \
         does the broker allow auto-creation (auto.create.topics.enable)?"
    )]
    AutoCreateTopic {
        /// The topic.
        topic: String,
        /// The operation timeout.
        timeout: Duration,
        /// The last metadata request error, if a request failed.
        #[source]
        source: Option<KafkaError>,
    },

    /// The broker refused to delete the topic.
    #[error("cannot delete topic `{topic}`")]
    DeleteTopic {
        /// The topic.
        topic: String,
        /// librdkafka's or the broker's error.
        #[source]
        source: KafkaError,
    },

    /// A blocking librdkafka call, run on a blocking thread, panicked or was cancelled.
    #[error("the blocking task for `{operation}` failed")]
    AdminTask {
        /// The step the task ran.
        operation: TopicOperation,
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl AdminError {
    /// Whether the same call may succeed if made again later.
    ///
    /// `true` for registry server errors, timeouts and an unreachable registry, for an
    /// unreachable broker, a timed-out topic request, and topic requests the broker refused with
    /// a transient error code (not the controller, leader not available, request timed out,
    /// throttled, ...); `false` for anything that needs a change by the caller or the operator
    /// (credentials, schema, configuration, a missing subject, an invalid topic spec, a topic
    /// with too few partitions).
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::RegistryServer { .. }
            | Self::RegistryTimeout { .. }
            | Self::RegistryUnavailable { .. }
            | Self::BrokerUnreachable { .. }
            | Self::AdminTimeout { .. } => true,
            Self::TopicMetadata { source, .. }
            | Self::CreateTopic { source, .. }
            | Self::DeleteTopic { source, .. } => is_transient(source),
            _ => false,
        }
    }
}

/// The librdkafka or broker error code inside `error`, including per-topic admin results.
pub(crate) const fn error_code(error: &KafkaError) -> Option<RDKafkaErrorCode> {
    match error {
        KafkaError::AdminOp(code) | KafkaError::MetadataFetch(code) | KafkaError::Global(code) => {
            Some(*code)
        }
        _ => None,
    }
}

/// Whether a broker or librdkafka error may go away on its own (a later attempt may succeed).
fn is_transient(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as Code;
    let code = error_code(error).or_else(|| error.rdkafka_error_code());
    matches!(
        code,
        Some(
            Code::RequestTimedOut
                | Code::OperationTimedOut
                | Code::BrokerTransportFailure
                | Code::AllBrokersDown
                | Code::Resolve
                | Code::TimedOutQueue
                | Code::NotController
                | Code::LeaderNotAvailable
                | Code::NotLeaderForPartition
                | Code::BrokerNotAvailable
                | Code::ReplicaNotAvailable
                | Code::NetworkException
                | Code::CoordinatorLoadInProgress
                | Code::CoordinatorNotAvailable
                | Code::NotCoordinator
                | Code::NotEnoughReplicas
                | Code::NotEnoughReplicasAfterAppend
                | Code::KafkaStorageError
                | Code::ThrottlingQuotaExceeded
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retriable() {
        let server = AdminError::RegistryServer {
            operation: RegistryOperation::Register,
            url: "http://registry/subjects/a/versions".to_owned(),
            status: 503,
            error_code: None,
            message: "down".to_owned(),
            attempts: 3,
        };
        assert!(server.is_retriable());
        let incompatible = AdminError::IncompatibleSchema {
            subject: "a-value".to_owned(),
            message: "no".to_owned(),
        };
        assert!(!incompatible.is_retriable());
        let unauthorized = AdminError::RegistryUnauthorized {
            operation: RegistryOperation::Subjects,
            url: "http://registry/subjects".to_owned(),
            status: 401,
            message: "Unauthorized".to_owned(),
        };
        assert!(!unauthorized.is_retriable());
    }

    #[test]
    fn server_error_message_names_url_attempts_and_code() {
        let error = AdminError::RegistryServer {
            operation: RegistryOperation::Register,
            url: "http://registry:8081/subjects/a/versions".to_owned(),
            status: 500,
            error_code: Some(50001),
            message: "store failure".to_owned(),
            attempts: 4,
        };
        let text = error.to_string();
        assert!(
            text.contains("http://registry:8081/subjects/a/versions"),
            "{text}"
        );
        assert!(text.contains("4 attempt"), "{text}");
        assert!(text.contains("50001"), "{text}");
    }
}

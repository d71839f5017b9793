//! The Schema Registry HTTP client.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

use super::retry::RetryPolicy;
use super::types::{
    CompatibilityLevel, RegisteredSchema, RegistryOperation, SchemaDefinition, SchemaId,
    SchemaVersion,
};
use super::wire::{
    self, CompatibilityResponse, ConfigRequest, ConfigResponse, ErrorBody, RegisterResponse,
    SchemaRequest, SchemaResponse, SubjectVersionResponse,
};
use crate::error::{AdminError, Result};

/// Confluent error code: the subject has no version.
const SUBJECT_NOT_FOUND: i64 = 40401;
/// Confluent error code: the subject has no such version.
const VERSION_NOT_FOUND: i64 = 40402;
/// Confluent error code: no such schema (by id, or under the subject for a lookup).
const SCHEMA_NOT_FOUND: i64 = 40403;
/// Confluent error code: the schema (or its type) cannot be parsed.
const INVALID_SCHEMA: i64 = 42201;

/// Default time allowed for one HTTP request, connection included.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for the Confluent Schema Registry REST API (v1), as used by the Python
/// autogen-kafka serializers: JSON Schemas registered under `<topic>-value`, fetched by id
/// when a record is read.
///
/// The client is cheap to clone (clones share the connection pool and the cache). Schemas
/// fetched by id and schemas registered or looked up are cached for the life of the client,
/// so the hot path (`schema_by_id` for every consumed record) costs one request per id.
/// Requests that cannot connect, or that the registry answers with 5xx or 429, are retried
/// with the [`RetryPolicy`]; everything else fails at once with a typed [`AdminError`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_admin::{RetryPolicy, SchemaDefinition, SchemaRegistryClient};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let stand_in = autogen_kafka_testing::SchemaRegistryStandIn::builder()
/// #     .with_basic_auth("api-key", "api-secret")
/// #     .start()
/// #     .await?;
/// # let url = stand_in.url();
/// // url: e.g. "https://psrc-xxxxx.region.provider.confluent.cloud"
/// let client = SchemaRegistryClient::builder(url)
///     .basic_auth("api-key", "api-secret")
///     .request_timeout(Duration::from_secs(5))
///     .retry_policy(RetryPolicy::default().max_attempts(3))
///     .build()?;
///
/// let schema = SchemaDefinition::json(r#"{"type":"object"}"#);
/// let id = client.register_or_verify("agent_registry-value", &schema).await?;
/// let fetched = client.schema_by_id(id).await?;
/// assert_eq!(fetched.schema, schema.schema);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SchemaRegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    credentials: Option<Credentials>,
    retry: RetryPolicy,
    request_timeout: Duration,
    cache: Mutex<Cache>,
}

/// Basic-auth credentials; the secret never appears in `Debug` output.
#[derive(Clone)]
struct Credentials {
    user: String,
    secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What the client remembers between calls.
#[derive(Default)]
struct Cache {
    by_id: HashMap<SchemaId, SchemaDefinition>,
    registered: HashMap<String, HashMap<SchemaDefinition, SchemaId>>,
}

impl Cache {
    fn remember(&mut self, subject: &str, schema: &SchemaDefinition, id: SchemaId) {
        self.by_id.entry(id).or_insert_with(|| schema.clone());
        self.registered
            .entry(subject.to_owned())
            .or_default()
            .insert(schema.clone(), id);
    }
}

impl fmt::Debug for SchemaRegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.inner.cache().by_id.len();
        f.debug_struct("SchemaRegistryClient")
            .field("url", &self.inner.base.as_str())
            .field("credentials", &self.inner.credentials)
            .field("request_timeout", &self.inner.request_timeout)
            .field("retry", &self.inner.retry)
            .field("cached_schemas", &cached)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SchemaRegistryClient`].
///
/// # Examples
///
/// ```
/// use autogen_kafka_admin::SchemaRegistryClient;
///
/// let client = SchemaRegistryClient::builder("http://localhost:8081")
///     .basic_auth("key", "secret")
///     .build()
///     .unwrap();
/// assert_eq!(client.url(), "http://localhost:8081/");
/// assert!(!format!("{client:?}").contains("secret\""));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SchemaRegistryClientBuilder {
    url: String,
    credentials: Option<Credentials>,
    request_timeout: Duration,
    connect_timeout: Option<Duration>,
    retry: RetryPolicy,
    ca_file: Option<PathBuf>,
    identity: Option<(PathBuf, PathBuf)>,
}

impl SchemaRegistryClientBuilder {
    /// Sends HTTP basic auth with every request (Confluent Cloud: the API key and secret).
    pub fn basic_auth(mut self, user: impl Into<String>, secret: impl Into<String>) -> Self {
        self.credentials = Some(Credentials {
            user: user.into(),
            secret: secret.into(),
        });
        self
    }

    /// Sets the time allowed for one HTTP request, from connecting to reading the whole
    /// answer (default 10 s). A request that runs out of time is not retried.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the time allowed to open a connection (default: the request timeout). A
    /// connection that cannot be made in time is retried under the retry policy.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets the retry policy (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Trusts the PEM certificates in this file, in addition to the system's trust store,
    /// when the registry URL is `https` (for a registry with a private CA).
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Presents this client certificate and private key (PEM files) to a registry that requires mutual TLS.
    pub fn tls_client_identity(
        mut self,
        certificate: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.identity = Some((certificate.into(), key.into()));
        self
    }

    /// Builds the client. No request is made.
    ///
    /// TLS uses rustls with the `ring` provider; if the process has not installed a default
    /// rustls crypto provider yet, this installs `ring` as the process default.
    ///
    /// # Errors
    ///
    /// [`AdminError::InvalidRegistryUrl`], [`AdminError::UnsupportedRegistryScheme`] or
    /// [`AdminError::CredentialsInRegistryUrl`] for a bad URL; [`AdminError::ReadCaFile`] or
    /// [`AdminError::InvalidCaFile`] for an unusable CA file;
    /// [`AdminError::BuildRegistryClient`] when the TLS set-up fails.
    pub fn build(self) -> Result<SchemaRegistryClient> {
        let base =
            Url::parse(self.url.trim()).map_err(|source| AdminError::InvalidRegistryUrl {
                url: self.url.clone(),
                source,
            })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(AdminError::UnsupportedRegistryScheme {
                scheme: base.scheme().to_owned(),
            });
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(AdminError::CredentialsInRegistryUrl);
        }

        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing the race to another thread installing a provider is fine: any
            // installed provider will do.
            let _already_installed = rustls::crypto::ring::default_provider().install_default();
        }
        let mut http = reqwest::Client::builder()
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout.unwrap_or(self.request_timeout))
            .user_agent(concat!("autogen-kafka-admin/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &self.ca_file {
            for certificate in read_ca_file(path)? {
                http = http.add_root_certificate(certificate);
            }
        }
        if let Some((certificate, key)) = &self.identity {
            http = http.identity(read_identity(certificate, key)?);
        }
        let http = http
            .build()
            .map_err(|source| AdminError::BuildRegistryClient { source })?;

        Ok(SchemaRegistryClient {
            inner: Arc::new(Inner {
                http,
                base,
                credentials: self.credentials,
                retry: self.retry,
                request_timeout: self.request_timeout,
                cache: Mutex::new(Cache::default()),
            }),
        })
    }
}

fn read_identity(certificate: &PathBuf, key: &PathBuf) -> Result<reqwest::Identity> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|source| AdminError::ReadIdentityFile {
            path: path.clone(),
            source,
        })
    };
    let mut pem = read(certificate)?;
    pem.push(b'\n');
    pem.extend(read(key)?);
    reqwest::Identity::from_pem(&pem).map_err(|source| AdminError::InvalidIdentity {
        path: certificate.clone(),
        source,
    })
}

fn read_ca_file(path: &PathBuf) -> Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|source| AdminError::ReadCaFile {
        path: path.clone(),
        source,
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
        AdminError::InvalidCaFile {
            path: path.clone(),
            source: Some(source),
        }
    })?;
    if certificates.is_empty() {
        return Err(AdminError::InvalidCaFile {
            path: path.clone(),
            source: None,
        });
    }
    Ok(certificates)
}

/// A registry answer that was not retried: a success or a client error.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
}

/// What a request was about, to turn a Confluent error code into a typed error.
#[derive(Clone, Copy, Default)]
struct Target<'a> {
    subject: Option<&'a str>,
    version: Option<SchemaVersion>,
    id: Option<SchemaId>,
}

impl SchemaRegistryClient {
    /// Starts building a client for the registry at `url` (for example
    /// `http://localhost:8081`; a path prefix such as `https://host/registry` is kept).
    pub fn builder(url: impl Into<String>) -> SchemaRegistryClientBuilder {
        SchemaRegistryClientBuilder {
            url: url.into(),
            credentials: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: None,
            retry: RetryPolicy::default(),
            ca_file: None,
            identity: None,
        }
    }

    /// The registry's base URL.
    #[must_use]
    pub fn url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// Registers `schema` under `subject` and returns its id
    /// (`POST /subjects/{subject}/versions`).
    ///
    /// Idempotent: the registry answers with the existing id when the same text is already
    /// registered under the subject, and with the same id when it is registered under
    /// another subject. A registration this client already made is answered from its cache.
    ///
    /// # Errors
    ///
    /// [`AdminError::IncompatibleSchema`] when the registry refuses the schema under the
    /// subject's compatibility level (HTTP 409); [`AdminError::InvalidSchema`] when it cannot
    /// parse it (42201); [`AdminError::RegistryUnauthorized`] on 401/403; and the transport
    /// errors listed on [`AdminError`].
    #[tracing::instrument(name = "schema_registry.register", skip_all, fields(subject = %subject))]
    pub async fn register(&self, subject: &str, schema: &SchemaDefinition) -> Result<SchemaId> {
        if let Some(id) = self.cached_registration(subject, schema) {
            debug!(%id, "registration answered from cache");
            return Ok(id);
        }
        let operation = RegistryOperation::Register;
        let url = self.endpoint(&["subjects", subject, "versions"]);
        let body = encode(operation, &SchemaRequest::new(schema))?;
        let reply = self
            .inner
            .send(operation, Method::POST, &url, Some(body))
            .await?;
        if !reply.status.is_success() {
            return Err(rejection(operation, &url, &reply, Target::subject(subject)));
        }
        let RegisterResponse { id } = decode(operation, &url, &reply)?;
        debug!(%id, "schema registered");
        self.inner.cache().remember(subject, schema, id);
        Ok(id)
    }

    /// Finds the version of `subject` whose schema is `schema` (`POST /subjects/{subject}`).
    ///
    /// Returns `Ok(None)` only when the registry says so (error 40401 "subject not found" or
    /// 40403 "schema not found"); any other failure is an error.
    ///
    /// # Errors
    ///
    /// [`AdminError::RegistryUnauthorized`], [`AdminError::InvalidSchema`] and the transport
    /// errors listed on [`AdminError`].
    #[tracing::instrument(name = "schema_registry.lookup", skip_all, fields(subject = %subject))]
    pub async fn lookup(
        &self,
        subject: &str,
        schema: &SchemaDefinition,
    ) -> Result<Option<RegisteredSchema>> {
        let operation = RegistryOperation::Lookup;
        let url = self.endpoint(&["subjects", subject]);
        let body = encode(operation, &SchemaRequest::new(schema))?;
        let reply = self
            .inner
            .send(operation, Method::POST, &url, Some(body))
            .await?;
        if !reply.status.is_success() {
            let error = ErrorBody::parse(&reply.body);
            if reply.status == StatusCode::NOT_FOUND
                && matches!(error.error_code, Some(SUBJECT_NOT_FOUND | SCHEMA_NOT_FOUND))
            {
                debug!(error_code = ?error.error_code, "schema not registered under subject");
                return Ok(None);
            }
            return Err(rejection(operation, &url, &reply, Target::subject(subject)));
        }
        let found: RegisteredSchema =
            decode::<SubjectVersionResponse>(operation, &url, &reply)?.into();
        self.inner
            .cache()
            .remember(subject, &found.schema, found.id);
        Ok(Some(found))
    }

    /// The schema with this id (`GET /schemas/ids/{id}`), the call a reader makes for the id
    /// in each record frame. Answered from the cache after the first fetch, with no request.
    ///
    /// # Errors
    ///
    /// [`AdminError::SchemaIdNotFound`] when the registry has no such id (40403);
    /// [`AdminError::RegistryUnauthorized`] and the transport errors listed on [`AdminError`].
    #[tracing::instrument(name = "schema_registry.schema_by_id", skip_all, fields(id = %id))]
    pub async fn schema_by_id(&self, id: SchemaId) -> Result<SchemaDefinition> {
        if let Some(schema) = self.inner.cache().by_id.get(&id) {
            return Ok(schema.clone());
        }
        let operation = RegistryOperation::SchemaById;
        let id_text = id.to_string();
        let url = self.endpoint(&["schemas", "ids", &id_text]);
        let reply = self.inner.send(operation, Method::GET, &url, None).await?;
        if !reply.status.is_success() {
            return Err(rejection(operation, &url, &reply, Target::id(id)));
        }
        let schema: SchemaDefinition = decode::<SchemaResponse>(operation, &url, &reply)?.into();
        self.inner
            .cache()
            .by_id
            .entry(id)
            .or_insert_with(|| schema.clone());
        Ok(schema)
    }

    /// The newest version of `subject` (`GET /subjects/{subject}/versions/latest`).
    ///
    /// # Errors
    ///
    /// [`AdminError::SubjectNotFound`] when the subject has no version;
    /// [`AdminError::RegistryUnauthorized`] and the transport errors listed on [`AdminError`].
    pub async fn latest(&self, subject: &str) -> Result<RegisteredSchema> {
        self.version(subject, SchemaVersion::Latest).await
    }

    /// One version of `subject` (`GET /subjects/{subject}/versions/{version}`).
    ///
    /// # Errors
    ///
    /// [`AdminError::SubjectNotFound`] or [`AdminError::VersionNotFound`];
    /// [`AdminError::RegistryUnauthorized`] and the transport errors listed on [`AdminError`].
    #[tracing::instrument(name = "schema_registry.version", skip_all, fields(subject = %subject, version = %version))]
    pub async fn version(&self, subject: &str, version: SchemaVersion) -> Result<RegisteredSchema> {
        let operation = RegistryOperation::Version;
        let version_text = version.to_string();
        let url = self.endpoint(&["subjects", subject, "versions", &version_text]);
        let reply = self.inner.send(operation, Method::GET, &url, None).await?;
        if !reply.status.is_success() {
            let target = Target {
                version: Some(version),
                ..Target::subject(subject)
            };
            return Err(rejection(operation, &url, &reply, target));
        }
        let found: RegisteredSchema =
            decode::<SubjectVersionResponse>(operation, &url, &reply)?.into();
        self.inner
            .cache()
            .remember(subject, &found.schema, found.id);
        Ok(found)
    }

    /// The version numbers registered under `subject` (`GET /subjects/{subject}/versions`).
    ///
    /// # Errors
    ///
    /// [`AdminError::SubjectNotFound`]; [`AdminError::RegistryUnauthorized`] and the transport
    /// errors listed on [`AdminError`].
    #[tracing::instrument(name = "schema_registry.versions", skip_all, fields(subject = %subject))]
    pub async fn versions(&self, subject: &str) -> Result<Vec<u32>> {
        let operation = RegistryOperation::Versions;
        let url = self.endpoint(&["subjects", subject, "versions"]);
        let reply = self.inner.send(operation, Method::GET, &url, None).await?;
        if !reply.status.is_success() {
            return Err(rejection(operation, &url, &reply, Target::subject(subject)));
        }
        decode(operation, &url, &reply)
    }

    /// Whether `schema` may be registered under `subject` given its latest version and
    /// compatibility level (`POST /compatibility/subjects/{subject}/versions/latest`).
    ///
    /// A subject with no version accepts any schema, so the registry's 40401/40402 answer is
    /// reported as `true`. Every other failure is an error — a failed check never reads as
    /// "not found" (upstream defect D10).
    ///
    /// # Errors
    ///
    /// [`AdminError::InvalidSchema`]; [`AdminError::RegistryUnauthorized`] and the transport
    /// errors listed on [`AdminError`].
    #[tracing::instrument(name = "schema_registry.check_compatibility", skip_all, fields(subject = %subject))]
    pub async fn check_compatibility(
        &self,
        subject: &str,
        schema: &SchemaDefinition,
    ) -> Result<bool> {
        Ok(self.compatibility(subject, schema).await?.is_compatible)
    }

    /// The startup step: makes sure `schema` is registered under `subject` and returns its id.
    ///
    /// If the registry already has this exact schema under the subject, its id is returned and
    /// nothing is registered. Otherwise the schema is checked against the subject's latest
    /// version and registered only if the registry finds it compatible.
    ///
    /// # Errors
    ///
    /// [`AdminError::IncompatibleSchema`] when the check (or the registration) is refused —
    /// nothing is registered then; any error from [`lookup`](Self::lookup),
    /// [`check_compatibility`](Self::check_compatibility) or [`register`](Self::register)
    /// (a failed check is never taken as permission to register).
    #[tracing::instrument(name = "schema_registry.register_or_verify", skip_all, fields(subject = %subject))]
    pub async fn register_or_verify(
        &self,
        subject: &str,
        schema: &SchemaDefinition,
    ) -> Result<SchemaId> {
        if let Some(id) = self.cached_registration(subject, schema) {
            return Ok(id);
        }
        if let Some(existing) = self.lookup(subject, schema).await? {
            debug!(id = %existing.id, version = existing.version, "schema already registered");
            return Ok(existing.id);
        }
        let check = self.compatibility(subject, schema).await?;
        if !check.is_compatible {
            let message = if check.messages.is_empty() {
                "the registry's compatibility check failed".to_owned()
            } else {
                check.messages.join("; ")
            };
            warn!(%message, "schema incompatible with the registered versions; not registering");
            return Err(AdminError::IncompatibleSchema {
                subject: subject.to_owned(),
                message,
            });
        }
        self.register(subject, schema).await
    }

    /// All subjects (`GET /subjects`).
    ///
    /// # Errors
    ///
    /// [`AdminError::RegistryUnauthorized`] and the transport errors listed on [`AdminError`].
    #[tracing::instrument(name = "schema_registry.subjects", skip_all)]
    pub async fn subjects(&self) -> Result<Vec<String>> {
        let operation = RegistryOperation::Subjects;
        let url = self.endpoint(&["subjects"]);
        let reply = self.inner.send(operation, Method::GET, &url, None).await?;
        if !reply.status.is_success() {
            return Err(rejection(operation, &url, &reply, Target::default()));
        }
        decode(operation, &url, &reply)
    }

    /// The registry's global compatibility level (`GET /config`).
    ///
    /// # Errors
    ///
    /// [`AdminError::RegistryUnauthorized`] and the transport errors listed on [`AdminError`].
    #[tracing::instrument(name = "schema_registry.compatibility_level", skip_all)]
    pub async fn compatibility_level(&self) -> Result<CompatibilityLevel> {
        let operation = RegistryOperation::GetConfig;
        let url = self.endpoint(&["config"]);
        let reply = self.inner.send(operation, Method::GET, &url, None).await?;
        if !reply.status.is_success() {
            return Err(rejection(operation, &url, &reply, Target::default()));
        }
        Ok(decode::<ConfigResponse>(operation, &url, &reply)?.compatibility_level)
    }

    /// Sets the registry's global compatibility level (`PUT /config`) and returns the level
    /// the registry reports back.
    ///
    /// # Errors
    ///
    /// [`AdminError::RegistryUnauthorized`] (a read-only key), [`AdminError::RegistryRejected`]
    /// and the transport errors listed on [`AdminError`].
    #[tracing::instrument(name = "schema_registry.set_compatibility_level", skip_all, fields(level = ?level))]
    pub async fn set_compatibility_level(
        &self,
        level: CompatibilityLevel,
    ) -> Result<CompatibilityLevel> {
        let operation = RegistryOperation::SetConfig;
        let url = self.endpoint(&["config"]);
        let body = encode(
            operation,
            &ConfigRequest {
                compatibility: level,
            },
        )?;
        let reply = self
            .inner
            .send(operation, Method::PUT, &url, Some(body))
            .await?;
        if !reply.status.is_success() {
            return Err(rejection(operation, &url, &reply, Target::default()));
        }
        Ok(decode::<ConfigResponse>(operation, &url, &reply)?.compatibility_level)
    }

    async fn compatibility(
        &self,
        subject: &str,
        schema: &SchemaDefinition,
    ) -> Result<CompatibilityResponse> {
        let operation = RegistryOperation::CheckCompatibility;
        let mut url = self.endpoint(&["compatibility", "subjects", subject, "versions", "latest"]);
        url.set_query(Some("verbose=true"));
        let body = encode(operation, &SchemaRequest::new(schema))?;
        let reply = self
            .inner
            .send(operation, Method::POST, &url, Some(body))
            .await?;
        if !reply.status.is_success() {
            let error = ErrorBody::parse(&reply.body);
            if reply.status == StatusCode::NOT_FOUND
                && matches!(
                    error.error_code,
                    Some(SUBJECT_NOT_FOUND | VERSION_NOT_FOUND)
                )
            {
                debug!("subject has no version yet: any schema is compatible");
                return Ok(CompatibilityResponse {
                    is_compatible: true,
                    messages: Vec::new(),
                });
            }
            return Err(rejection(operation, &url, &reply, Target::subject(subject)));
        }
        let check: CompatibilityResponse = decode(operation, &url, &reply)?;
        debug!(is_compatible = check.is_compatible, "compatibility checked");
        Ok(check)
    }

    fn cached_registration(&self, subject: &str, schema: &SchemaDefinition) -> Option<SchemaId> {
        self.inner
            .cache()
            .registered
            .get(subject)
            .and_then(|schemas| schemas.get(schema))
            .copied()
    }

    /// The base URL with `segments` appended, each percent-encoded as one path segment.
    pub(crate) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        // `build` accepts only http(s) URLs, which always have a path to extend.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

impl Inner {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends one request, retrying connection failures, 5xx and 429 under the retry policy.
    /// Returns the answer for any other status.
    async fn send(
        &self,
        operation: RegistryOperation,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
    ) -> Result<Reply> {
        let max_attempts = self.retry.attempts();
        let mut attempt = 0;
        loop {
            attempt += 1;
            debug!(%operation, %method, %url, attempt, "schema registry request");
            match self.attempt(method.clone(), url, body.as_deref()).await {
                Ok(reply)
                    if reply.status.is_server_error()
                        || reply.status == StatusCode::TOO_MANY_REQUESTS =>
                {
                    let error = ErrorBody::parse(&reply.body);
                    if attempt >= max_attempts {
                        return Err(AdminError::RegistryServer {
                            operation,
                            url: url.to_string(),
                            status: reply.status.as_u16(),
                            error_code: error.error_code,
                            message: error.message_or_default(),
                            attempts: attempt,
                        });
                    }
                    let delay = self.retry.delay_after(attempt);
                    warn!(
                        %operation, %url, attempt, max_attempts,
                        status = reply.status.as_u16(),
                        error_code = ?error.error_code,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "schema registry answered with a retriable status; retrying",
                    );
                    tokio::time::sleep(delay).await;
                }
                Ok(reply) => return Ok(reply),
                Err(source) if source.is_connect() => {
                    if attempt >= max_attempts {
                        return Err(AdminError::RegistryUnavailable {
                            operation,
                            url: url.to_string(),
                            attempts: attempt,
                            source,
                        });
                    }
                    let delay = self.retry.delay_after(attempt);
                    warn!(
                        %operation, %url, attempt, max_attempts,
                        error = %source,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "cannot connect to the schema registry; retrying",
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(source) if source.is_timeout() => {
                    return Err(AdminError::RegistryTimeout {
                        operation,
                        url: url.to_string(),
                        timeout: self.request_timeout,
                        attempts: attempt,
                        source,
                    });
                }
                Err(source) => {
                    return Err(AdminError::RegistryRequest {
                        operation,
                        url: url.to_string(),
                        source,
                    });
                }
            }
        }
    }

    /// One HTTP exchange, body read included.
    async fn attempt(
        &self,
        method: Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self
            .http
            .request(method, url.clone())
            .header(ACCEPT, wire::ACCEPT);
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, wire::CONTENT_TYPE)
                .body(body.to_vec());
        }
        if let Some(credentials) = &self.credentials {
            request = request.basic_auth(&credentials.user, Some(&credentials.secret));
        }
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?.to_vec();
        Ok(Reply { status, body })
    }
}

impl<'a> Target<'a> {
    fn subject(subject: &'a str) -> Self {
        Self {
            subject: Some(subject),
            ..Self::default()
        }
    }

    fn id(id: SchemaId) -> Self {
        Self {
            id: Some(id),
            ..Self::default()
        }
    }
}

fn encode<T: serde::Serialize>(operation: RegistryOperation, body: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|source| AdminError::EncodeRequest { operation, source })
}

fn decode<T: DeserializeOwned>(
    operation: RegistryOperation,
    url: &Url,
    reply: &Reply,
) -> Result<T> {
    serde_json::from_slice(&reply.body).map_err(|source| AdminError::RegistryBadResponse {
        operation,
        url: url.to_string(),
        status: reply.status.as_u16(),
        source,
    })
}

/// Turns a client-error answer into the matching typed error.
fn rejection(
    operation: RegistryOperation,
    url: &Url,
    reply: &Reply,
    target: Target<'_>,
) -> AdminError {
    let error = ErrorBody::parse(&reply.body);
    let status = reply.status;
    match (status, error.error_code, target) {
        (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _, _) => {
            AdminError::RegistryUnauthorized {
                operation,
                url: url.to_string(),
                status: status.as_u16(),
                message: error.message_or_default(),
            }
        }
        (
            StatusCode::NOT_FOUND,
            Some(SUBJECT_NOT_FOUND),
            Target {
                subject: Some(subject),
                ..
            },
        ) => AdminError::SubjectNotFound {
            operation,
            subject: subject.to_owned(),
        },
        (
            StatusCode::NOT_FOUND,
            Some(VERSION_NOT_FOUND),
            Target {
                subject: Some(subject),
                version,
                ..
            },
        ) => AdminError::VersionNotFound {
            operation,
            subject: subject.to_owned(),
            version: version.unwrap_or(SchemaVersion::Latest),
        },
        (StatusCode::NOT_FOUND, Some(SCHEMA_NOT_FOUND), Target { id: Some(id), .. }) => {
            AdminError::SchemaIdNotFound { id }
        }
        (
            StatusCode::CONFLICT,
            _,
            Target {
                subject: Some(subject),
                ..
            },
        ) => AdminError::IncompatibleSchema {
            subject: subject.to_owned(),
            message: error.message_or_default(),
        },
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(INVALID_SCHEMA),
            Target {
                subject: Some(subject),
                ..
            },
        ) => AdminError::InvalidSchema {
            subject: subject.to_owned(),
            message: error.message_or_default(),
        },
        _ => AdminError::RegistryRejected {
            operation,
            url: url.to_string(),
            status: status.as_u16(),
            error_code: error.error_code,
            message: error.message_or_default(),
        },
    }
}

//! An in-memory Confluent Schema Registry stand-in, served over HTTP on `127.0.0.1`.
//!
//! It answers the REST API (v1) calls that the Rust client and the Python
//! `confluent-kafka` serializers make, with the real registry's JSON shapes and error codes:
//! register, lookup, get by id, subjects, versions, compatibility, `/config`, and the
//! `GET /associations/...` call that newer Python clients make first (answered with `[]`).
//! Tests can require basic auth, make compatibility checks fail, inject server errors,
//! count requests and stop the server.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The content type the registry answers with.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// How long [`SchemaRegistryStandIn::shutdown`] waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// An in-memory Schema Registry on a free localhost port.
///
/// Behaves like the Confluent registry where the tests depend on it: the same schema text
/// (with the same type and references) gets the same id under every subject; registering a
/// schema already present under a subject returns its id without a new version; a missing
/// subject, version or id answers 404 with error code 40401, 40402 or 40403; a schema that
/// does not parse answers 422 with 42201.
///
/// Test controls: [`set_compatible`](Self::set_compatible) (make checks fail and
/// registrations of new versions answer 409), basic auth
/// ([`SchemaRegistryStandInBuilder::with_basic_auth`]), [`fail_next`](Self::fail_next),
/// [`fail_next_on`](Self::fail_next_on), [`garble_next`](Self::garble_next) and
/// [`delay_next`](Self::delay_next) (fault injection), [`request_count`](Self::request_count),
/// and [`shutdown`](Self::shutdown) (dropping the stand-in also stops it).
///
/// # Examples
///
/// ```
/// use autogen_kafka_testing::SchemaRegistryStandIn;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let registry = SchemaRegistryStandIn::start().await?;
/// assert!(registry.url().starts_with("http://127.0.0.1:"));
/// assert_eq!(registry.request_count(), 0);
/// registry.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SchemaRegistryStandIn {
    url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// Configures a [`SchemaRegistryStandIn`] before it starts.
///
/// # Examples
///
/// ```
/// use autogen_kafka_testing::SchemaRegistryStandIn;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let registry = SchemaRegistryStandIn::builder()
///     .with_basic_auth("key", "secret")
///     .start()
///     .await?;
/// # drop(registry);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct SchemaRegistryStandInBuilder {
    basic_auth: Option<(String, String)>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl SchemaRegistryStandInBuilder {
    /// Requires HTTP basic auth with this user and password on every request; any other
    /// request is answered 401 with error code 401.
    pub fn with_basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Serves HTTPS with `pki`'s server certificate (the URL becomes `https://localhost:<port>`); with
    /// `require_client_certificate`, a client must present a certificate `pki`'s CA signed, or its TLS handshake
    /// fails.
    ///
    /// # Errors
    ///
    /// [`crate::TestingError::Pki`] when the TLS configuration cannot be built.
    pub fn with_tls(
        mut self,
        pki: &crate::TestPki,
        require_client_certificate: bool,
    ) -> crate::Result<Self> {
        self.tls = Some(pki.server_config(require_client_certificate)?);
        Ok(self)
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// The I/O error when no local port can be bound.
    pub async fn start(self) -> io::Result<SchemaRegistryStandIn> {
        let expected_authorization = self.basic_auth.map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        });
        let shared = Arc::new(Shared {
            registry: Mutex::new(Registry::default()),
            requests: AtomicU64::new(0),
            compatible: AtomicBool::new(true),
            fault: Mutex::new(None),
            expected_authorization,
        });

        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(Arc::clone(&shared));
        // A dropped sender also means "stop".
        let stopped = async move {
            let _stop_or_dropped = stopped.await;
        };
        let url = if self.tls.is_some() {
            format!("https://localhost:{}", address.port())
        } else {
            format!("http://{address}")
        };
        let server = match self.tls {
            None => tokio::spawn(async move {
                let serve = axum::serve(listener, app).with_graceful_shutdown(stopped);
                if let Err(error) = serve.await {
                    tracing::warn!(%error, "schema registry stand-in stopped with an error");
                }
            }),
            Some(config) => tokio::spawn(async move {
                let listener = TlsListener {
                    tcp: listener,
                    acceptor: tokio_rustls::TlsAcceptor::from(config),
                };
                let serve = axum::serve(listener, app).with_graceful_shutdown(stopped);
                if let Err(error) = serve.await {
                    tracing::warn!(%error, "schema registry stand-in stopped with an error");
                }
            }),
        };
        tracing::debug!(%address, "schema registry stand-in listening");

        Ok(SchemaRegistryStandIn {
            url,
            shared,
            stop: Some(stop),
            server: Some(server),
        })
    }
}

/// A TCP listener that completes a TLS handshake before handing a connection to the server; a failed handshake
/// (an untrusted or missing client certificate, a client that does not trust us) is logged and dropped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, address) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::debug!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            match self.acceptor.accept(stream).await {
                Ok(tls) => return (tls, address),
                Err(error) => tracing::debug!(%error, %address, "TLS handshake failed"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl SchemaRegistryStandIn {
    /// Starts a stand-in with no authentication.
    ///
    /// # Errors
    ///
    /// The I/O error when no local port can be bound.
    pub async fn start() -> io::Result<Self> {
        Self::builder().start().await
    }

    /// Configures a stand-in (basic auth) before starting it.
    pub fn builder() -> SchemaRegistryStandInBuilder {
        SchemaRegistryStandInBuilder::default()
    }

    /// The base URL: `http://127.0.0.1:<port>`, or `https://localhost:<port>` with TLS.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many HTTP requests reached the stand-in so far (refused and failed ones included).
    #[must_use]
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Sets what compatibility checks answer (`true` at start).
    ///
    /// When `false`, `POST /compatibility/...` answers `{"is_compatible": false}` for a subject
    /// that has a version, and registering a schema that is not yet under a subject that
    /// already has a version answers 409. A subject with no version accepts its first schema
    /// either way, as in the real registry.
    pub fn set_compatible(&self, compatible: bool) {
        self.shared.compatible.store(compatible, Ordering::SeqCst);
    }

    /// Answers the next `count` requests with HTTP `status` (for example 500 or 503) and a
    /// Confluent error body, before authentication or routing. Replaces any pending fault.
    pub fn fail_next(&self, count: u32, status: u16) {
        self.inject(None, count, status);
    }

    /// Like [`fail_next`](Self::fail_next), but only for requests whose path starts with
    /// `path_prefix` (for example `/compatibility/`); other requests are served normally.
    pub fn fail_next_on(&self, path_prefix: &str, count: u32, status: u16) {
        self.inject(Some(path_prefix.to_owned()), count, status);
    }

    fn inject(&self, path_prefix: Option<String>, count: u32, status: u16) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        *self.shared.fault() = Some(Fault {
            remaining: count,
            kind: FaultKind::Status(status),
            path_prefix,
        });
    }

    /// Answers the next `count` requests with HTTP 200 and a body that is not JSON. Replaces
    /// any pending fault.
    pub fn garble_next(&self, count: u32) {
        *self.shared.fault() = Some(Fault {
            remaining: count,
            kind: FaultKind::Garbage,
            path_prefix: None,
        });
    }

    /// Answers each of the next `count` requests normally, but only after `delay` (a slow registry). Replaces
    /// any pending fault.
    pub fn delay_next(&self, count: u32, delay: Duration) {
        *self.shared.fault() = Some(Fault {
            remaining: count,
            kind: FaultKind::Delay(delay),
            path_prefix: None,
        });
    }

    /// The subjects that have at least one version, sorted.
    #[must_use]
    pub fn subjects(&self) -> Vec<String> {
        self.shared.registry().subjects.keys().cloned().collect()
    }

    /// The version numbers registered under `subject` (empty when there is none).
    #[must_use]
    pub fn versions(&self, subject: &str) -> Vec<u32> {
        self.shared
            .registry()
            .subjects
            .get(subject)
            .map(|ids| version_numbers(ids.len()))
            .unwrap_or_default()
    }

    /// Stops serving and waits (up to 5 s) for open connections to finish. Afterwards the port
    /// refuses connections.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _already_stopped = stop.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }
}

impl Drop for SchemaRegistryStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _already_stopped = stop.send(());
        }
    }
}

/// State shared by the handlers and the test-facing handle.
#[derive(Debug)]
struct Shared {
    registry: Mutex<Registry>,
    requests: AtomicU64,
    compatible: AtomicBool,
    fault: Mutex<Option<Fault>>,
    expected_authorization: Option<String>,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fault(&self) -> MutexGuard<'_, Option<Fault>> {
        self.fault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Consumes one injected fault for a request to `path`, if any is pending.
    fn take_fault(&self, path: &str) -> Option<FaultKind> {
        let mut fault = self.fault();
        let pending = fault.as_mut()?;
        if pending
            .path_prefix
            .as_deref()
            .is_some_and(|prefix| !path.starts_with(prefix))
        {
            return None;
        }
        let kind = pending.kind;
        pending.remaining = pending.remaining.saturating_sub(1);
        if pending.remaining == 0 {
            *fault = None;
        }
        Some(kind)
    }
}

#[derive(Debug, Clone)]
struct Fault {
    remaining: u32,
    kind: FaultKind,
    path_prefix: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum FaultKind {
    Status(StatusCode),
    Garbage,
    Delay(Duration),
}

/// The registry's data: schemas by id (index + 1) and each subject's versions as ids.
#[derive(Debug)]
struct Registry {
    schemas: Vec<StoredSchema>,
    subjects: BTreeMap<String, Vec<u32>>,
    compatibility_level: String,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            schemas: Vec::new(),
            subjects: BTreeMap::new(),
            compatibility_level: "BACKWARD".to_owned(),
        }
    }
}

impl Registry {
    fn schema(&self, id: u32) -> Option<&StoredSchema> {
        let index = usize::try_from(id.checked_sub(1)?).ok()?;
        self.schemas.get(index)
    }

    /// The id of an identical schema, or a new id.
    fn id_for(&mut self, schema: StoredSchema) -> u32 {
        if let Some(index) = self.schemas.iter().position(|known| *known == schema) {
            return id_from_index(index);
        }
        self.schemas.push(schema);
        id_from_index(self.schemas.len() - 1)
    }

    /// The (version, id) of `schema` under `subject`.
    fn find(&self, subject: &str, schema: &StoredSchema) -> Option<(u32, u32)> {
        let ids = self.subjects.get(subject)?;
        ids.iter().enumerate().find_map(|(index, id)| {
            (self.schema(*id) == Some(schema)).then(|| (id_from_index(index), *id))
        })
    }

    /// The subject-version document (`GET /subjects/{s}/versions/{v}`, lookup).
    fn subject_version(&self, subject: &str, version: u32, id: u32) -> Value {
        let mut document = json!({"subject": subject, "version": version, "id": id});
        if let Some(schema) = self.schema(id) {
            schema.write_into(&mut document);
        }
        document
    }
}

/// Version numbers 1..=count.
fn version_numbers(count: usize) -> Vec<u32> {
    (0..count).map(id_from_index).collect()
}

/// 0-based position to 1-based id or version.
fn id_from_index(index: usize) -> u32 {
    u32::try_from(index).map_or(u32::MAX, |index| index.saturating_add(1))
}

/// A schema as the registry keeps it: type, text and references.
#[derive(Debug, Clone, PartialEq)]
struct StoredSchema {
    schema_type: String,
    schema: String,
    references: Vec<Value>,
}

impl StoredSchema {
    /// Adds `schema`, `schemaType` (omitted for Avro) and `references` (omitted when empty).
    fn write_into(&self, document: &mut Value) {
        if let Some(object) = document.as_object_mut() {
            object.insert("schema".to_owned(), Value::String(self.schema.clone()));
            if self.schema_type != "AVRO" {
                object.insert(
                    "schemaType".to_owned(),
                    Value::String(self.schema_type.clone()),
                );
            }
            if !self.references.is_empty() {
                object.insert(
                    "references".to_owned(),
                    Value::Array(self.references.clone()),
                );
            }
        }
    }

    /// Parses a register/lookup/compatibility request body.
    fn from_request(body: &[u8]) -> Result<Self, ApiError> {
        let request: Value = serde_json::from_slice(body).map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                400,
                format!("Invalid JSON body: {error}"),
            )
        })?;
        let Some(schema) = request.get("schema").and_then(Value::as_str) else {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                42201,
                "Empty schema",
            ));
        };
        let schema_type = request
            .get("schemaType")
            .and_then(Value::as_str)
            .unwrap_or("AVRO")
            .to_owned();
        let references = match request.get("references") {
            Some(Value::Array(references)) => references.clone(),
            _ => Vec::new(),
        };
        let valid = match schema_type.as_str() {
            "AVRO" => serde_json::from_str::<Value>(schema).is_ok(),
            "JSON" => matches!(
                serde_json::from_str::<Value>(schema),
                Ok(Value::Object(_) | Value::Bool(_))
            ),
            "PROTOBUF" => !schema.trim().is_empty(),
            other => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    42201,
                    format!("Invalid schema type {other}"),
                ));
            }
        };
        if !valid {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                42201,
                format!("Invalid {schema_type} schema"),
            ));
        }
        Ok(Self {
            schema_type,
            schema: schema.to_owned(),
            references,
        })
    }
}

type AppState = Arc<Shared>;

fn router(shared: AppState) -> Router {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route("/subjects/{subject}/versions/{version}", get(get_version))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/types", get(schema_types))
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(check_compatibility),
        )
        .route("/config", get(get_config).put(put_config))
        .route("/config/{subject}", get(get_config).put(put_config))
        .route("/mode", get(get_mode))
        .route("/associations/{*resource}", get(associations))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), gate))
        .with_state(shared)
}

/// Counts the request, then applies injected faults and the basic-auth requirement.
async fn gate(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    tracing::debug!(method = %request.method(), uri = %request.uri(), "schema registry stand-in request");
    match shared.take_fault(request.uri().path()) {
        Some(FaultKind::Status(status)) => {
            return error_response(status, u32::from(status.as_u16()), "Injected failure");
        }
        Some(FaultKind::Garbage) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, CONTENT_TYPE)],
                "<<not json>>",
            )
                .into_response();
        }
        Some(FaultKind::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    if let Some(expected) = &shared.expected_authorization {
        let given = request.headers().get(header::AUTHORIZATION);
        if given.map(HeaderValue::as_bytes) != Some(expected.as_bytes()) {
            return error_response(StatusCode::UNAUTHORIZED, 401, "Unauthorized");
        }
    }
    next.run(request).await
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

fn error_response(status: StatusCode, error_code: u32, message: impl Into<String>) -> Response {
    ApiError::new(status, error_code, message).into_response()
}

/// A Confluent error answer: an HTTP status and `{"error_code": .., "message": ..}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    error_code: u32,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, error_code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            error_code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            &json!({"error_code": self.error_code, "message": self.message}),
        )
    }
}

fn subject_not_found(subject: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        40401,
        format!("Subject '{subject}' not found."),
    )
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found")
}

async fn list_subjects(State(shared): State<AppState>) -> Response {
    let subjects: Vec<String> = shared.registry().subjects.keys().cloned().collect();
    json_response(StatusCode::OK, &json!(subjects))
}

async fn register(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Response {
    let schema = match StoredSchema::from_request(&body) {
        Ok(schema) => schema,
        Err(error) => return error.into_response(),
    };
    let mut registry = shared.registry();
    if let Some((_, id)) = registry.find(&subject, &schema) {
        return json_response(StatusCode::OK, &json!({"id": id}));
    }
    let has_versions = registry
        .subjects
        .get(&subject)
        .is_some_and(|ids| !ids.is_empty());
    if has_versions && !shared.compatible.load(Ordering::SeqCst) {
        return error_response(
            StatusCode::CONFLICT,
            409,
            format!(
                "Schema being registered is incompatible with an earlier schema for subject \"{subject}\""
            ),
        );
    }
    let id = registry.id_for(schema);
    registry.subjects.entry(subject).or_default().push(id);
    json_response(StatusCode::OK, &json!({"id": id}))
}

async fn lookup(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Response {
    let schema = match StoredSchema::from_request(&body) {
        Ok(schema) => schema,
        Err(error) => return error.into_response(),
    };
    let registry = shared.registry();
    if !registry.subjects.contains_key(&subject) {
        return subject_not_found(&subject);
    }
    match registry.find(&subject, &schema) {
        Some((version, id)) => json_response(
            StatusCode::OK,
            &registry.subject_version(&subject, version, id),
        ),
        None => error_response(StatusCode::NOT_FOUND, 40403, "Schema not found"),
    }
}

async fn list_versions(State(shared): State<AppState>, Path(subject): Path<String>) -> Response {
    match shared.registry().subjects.get(&subject) {
        Some(ids) => json_response(StatusCode::OK, &json!(version_numbers(ids.len()))),
        None => subject_not_found(&subject),
    }
}

/// Resolves `latest`, `-1` or a number to a 1-based version of a subject with `count`
/// versions: an error when the text is not a version, `Ok(None)` when it is absent.
fn resolve_version(text: &str, count: usize) -> Result<Option<u32>, ApiError> {
    let latest = u32::try_from(count).ok().filter(|count| *count > 0);
    match text {
        "latest" | "-1" => Ok(latest),
        number => match number.parse::<u32>() {
            Ok(version) if version > 0 => {
                Ok(latest.filter(|latest| version <= *latest).map(|_| version))
            }
            _ => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                42202,
                format!("The specified version '{text}' is not a valid version id."),
            )),
        },
    }
}

async fn get_version(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    let registry = shared.registry();
    let Some(ids) = registry.subjects.get(&subject) else {
        return subject_not_found(&subject);
    };
    let resolved = match resolve_version(&version, ids.len()) {
        Ok(resolved) => resolved,
        Err(error) => return error.into_response(),
    };
    let found = resolved.and_then(|number| {
        let index = usize::try_from(number.checked_sub(1)?).ok()?;
        ids.get(index).map(|id| (number, *id))
    });
    match found {
        Some((number, id)) => json_response(
            StatusCode::OK,
            &registry.subject_version(&subject, number, id),
        ),
        None => error_response(
            StatusCode::NOT_FOUND,
            40402,
            format!("Version {version} not found."),
        ),
    }
}

async fn schema_by_id(State(shared): State<AppState>, Path(id): Path<String>) -> Response {
    let registry = shared.registry();
    let found = id.parse::<u32>().ok().and_then(|id| registry.schema(id));
    match found {
        Some(schema) => {
            let mut document = json!({});
            schema.write_into(&mut document);
            json_response(StatusCode::OK, &document)
        }
        None => error_response(
            StatusCode::NOT_FOUND,
            40403,
            format!("Schema {id} not found"),
        ),
    }
}

async fn schema_types() -> Response {
    json_response(StatusCode::OK, &json!(["JSON", "PROTOBUF", "AVRO"]))
}

async fn check_compatibility(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(error) = StoredSchema::from_request(&body) {
        return error.into_response();
    }
    let registry = shared.registry();
    let Some(ids) = registry.subjects.get(&subject) else {
        return subject_not_found(&subject);
    };
    match resolve_version(&version, ids.len()) {
        Err(error) => error.into_response(),
        Ok(None) => error_response(
            StatusCode::NOT_FOUND,
            40402,
            format!("Version {version} not found."),
        ),
        Ok(Some(_)) if shared.compatible.load(Ordering::SeqCst) => {
            json_response(StatusCode::OK, &json!({"is_compatible": true}))
        }
        Ok(Some(_)) => json_response(
            StatusCode::OK,
            &json!({
                "is_compatible": false,
                "messages": ["The stand-in is set to report schemas as incompatible"],
            }),
        ),
    }
}

async fn get_config(State(shared): State<AppState>) -> Response {
    let level = shared.registry().compatibility_level.clone();
    json_response(StatusCode::OK, &json!({"compatibilityLevel": level}))
}

async fn put_config(State(shared): State<AppState>, body: Bytes) -> Response {
    const LEVELS: [&str; 7] = [
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
        "NONE",
    ];
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                400,
                format!("Invalid JSON body: {error}"),
            );
        }
    };
    match request.get("compatibility").and_then(Value::as_str) {
        Some(level) if LEVELS.contains(&level) => {
            shared.registry().compatibility_level = level.to_owned();
            json_response(StatusCode::OK, &json!({"compatibility": level}))
        }
        _ => error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            42203,
            "Invalid compatibility level",
        ),
    }
}

async fn get_mode() -> Response {
    json_response(StatusCode::OK, &json!({"mode": "READWRITE"}))
}

/// Newer Python clients ask which subject a topic is associated with before falling back to
/// `<topic>-value`; the answer "none" is an empty list.
async fn associations() -> Response {
    json_response(StatusCode::OK, &json!([]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    const TEST_TIMEOUT: Duration = Duration::from_secs(10);

    /// A minimal HTTP/1.1 exchange (blocking I/O on the blocking pool): returns the status
    /// code and the body.
    async fn call(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let address = base.trim_start_matches("http://").to_owned();
        let body = body.unwrap_or("").to_owned();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
             Content-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let response = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        })
        .await
        .unwrap();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    fn parse(body: &str) -> Value {
        serde_json::from_str(body).unwrap()
    }

    #[tokio::test]
    async fn associations_answer_an_empty_list() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let registry = SchemaRegistryStandIn::start().await.unwrap();
            let (status, body) = call(
                registry.url(),
                "GET",
                "/associations/resources/-/agent_registry?resourceType=topic&associationTypes=value",
                None,
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(parse(&body), json!([]));
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn same_text_gets_the_same_id_across_subjects_and_avro_omits_its_type() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let registry = SchemaRegistryStandIn::start().await.unwrap();
            let avro = r#"{"schema":"\"string\""}"#;
            let (_, first) = call(registry.url(), "POST", "/subjects/a-value/versions", Some(avro)).await;
            let (_, second) = call(registry.url(), "POST", "/subjects/b-value/versions", Some(avro)).await;
            assert_eq!(parse(&first), json!({"id": 1}));
            assert_eq!(parse(&second), json!({"id": 1}));
            assert_eq!(registry.subjects(), vec!["a-value", "b-value"]);

            let (status, body) = call(registry.url(), "GET", "/schemas/ids/1", None).await;
            assert_eq!(status, 200);
            assert_eq!(parse(&body), json!({"schema": "\"string\""}));

            let json_schema = r#"{"schema":"{\"type\":\"object\"}","schemaType":"JSON"}"#;
            let (_, third) = call(registry.url(), "POST", "/subjects/a-value/versions", Some(json_schema)).await;
            assert_eq!(parse(&third), json!({"id": 2}));
            let (_, latest) = call(registry.url(), "GET", "/subjects/a-value/versions/latest", None).await;
            assert_eq!(
                parse(&latest),
                json!({"subject": "a-value", "version": 2, "id": 2, "schema": "{\"type\":\"object\"}", "schemaType": "JSON"})
            );
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn errors_use_confluent_codes() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let registry = SchemaRegistryStandIn::start().await.unwrap();
            let (status, body) =
                call(registry.url(), "GET", "/subjects/missing/versions/1", None).await;
            assert_eq!(
                (status, parse(&body)["error_code"].clone()),
                (404, json!(40401))
            );
            let (status, body) = call(registry.url(), "GET", "/schemas/ids/99", None).await;
            assert_eq!(
                (status, parse(&body)["error_code"].clone()),
                (404, json!(40403))
            );
            let invalid = r#"{"schema":"{not json","schemaType":"JSON"}"#;
            let (status, body) = call(
                registry.url(),
                "POST",
                "/subjects/x/versions",
                Some(invalid),
            )
            .await;
            assert_eq!(
                (status, parse(&body)["error_code"].clone()),
                (422, json!(42201))
            );
            let (status, body) = call(
                registry.url(),
                "POST",
                "/subjects/x/versions",
                Some("{oops"),
            )
            .await;
            assert_eq!(
                (status, parse(&body)["error_code"].clone()),
                (400, json!(400))
            );
            let (status, body) = call(registry.url(), "GET", "/no/such/path", None).await;
            assert_eq!(
                (status, parse(&body)["error_code"].clone()),
                (404, json!(404))
            );
            assert!(registry.subjects().is_empty());
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn incompatible_mode_refuses_new_versions_but_not_first_ones() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let registry = SchemaRegistryStandIn::start().await.unwrap();
            registry.set_compatible(false);
            let v1 = r#"{"schema":"{\"type\":\"object\"}","schemaType":"JSON"}"#;
            let v2 = r#"{"schema":"{\"type\":\"string\"}","schemaType":"JSON"}"#;
            let (status, _) = call(registry.url(), "POST", "/subjects/s/versions", Some(v1)).await;
            assert_eq!(status, 200);
            let (status, _) = call(registry.url(), "POST", "/subjects/s/versions", Some(v2)).await;
            assert_eq!(status, 409);
            let (status, body) = call(
                registry.url(),
                "POST",
                "/compatibility/subjects/s/versions/latest",
                Some(v2),
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(parse(&body)["is_compatible"], json!(false));
            assert_eq!(registry.versions("s"), vec![1]);
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn faults_auth_and_counter() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let registry = SchemaRegistryStandIn::builder()
                .with_basic_auth("user", "pass")
                .start()
                .await
                .unwrap();
            registry.fail_next(1, 503);
            let (status, _) = call(registry.url(), "GET", "/subjects", None).await;
            assert_eq!(status, 503);
            registry.delay_next(1, Duration::from_secs(2));
            let began = std::time::Instant::now();
            let (status, _) = call(registry.url(), "GET", "/subjects", None).await;
            assert_eq!(status, 401, "a delayed request is still served");
            assert!(began.elapsed() >= Duration::from_secs(2));
            let began = std::time::Instant::now();
            let (status, _) = call(registry.url(), "GET", "/subjects", None).await;
            assert_eq!(status, 401);
            assert!(
                began.elapsed() < Duration::from_secs(2),
                "only the next request is delayed"
            );
            let (status, body) = call(registry.url(), "GET", "/subjects", None).await;
            assert_eq!(
                (status, parse(&body)["error_code"].clone()),
                (401, json!(401))
            );
            assert_eq!(registry.request_count(), 4);

            let url = registry.url().to_owned();
            registry.shutdown().await;
            let address = url.trim_start_matches("http://");
            assert!(tokio::net::TcpStream::connect(address).await.is_err());
        })
        .await
        .unwrap();
    }
}

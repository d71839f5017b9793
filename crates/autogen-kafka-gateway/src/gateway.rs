//! The HTTP side: the agent card, the JSON-RPC endpoint, bearer authentication, and the tasks' runs.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use autogen_kafka_core::{AgentId, AgentRuntime, AnyMessage, CoreError, Reply, SendOptions};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{Stream, StreamExt as _};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use autogen_kafka_admin::CreateMode;
use autogen_kafka_config::{Config, GatewaySettings};

use crate::error::GatewayError;
use crate::journal::Journal;
use crate::messages::{A2aReply, A2aRequest};
use crate::tasks::{Cancel, TaskStore, not_found};
use crate::wire::{
    Artifact, Message, PROTOCOL_VERSION, Part, RpcError, Task, TaskState, TaskStatus, now, response,
};

/// The path of the JSON-RPC endpoint.
const JSONRPC_PATH: &str = "/a2a/jsonrpc";
/// The base path of the HTTP+JSON binding.
pub(crate) const REST_PATH: &str = "/a2a/rest";

/// One agent type offered as an A2A skill.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Skill {
    /// The agent type that serves it (also the skill id).
    pub agent_type: String,
    /// A name for people.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Keywords.
    pub tags: Vec<String>,
    /// Example prompts.
    pub examples: Vec<String>,
}

impl Skill {
    /// The skill of `agent_type`.
    #[must_use]
    pub fn new(
        agent_type: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            agent_type: agent_type.into(),
            name: name.into(),
            description: description.into(),
            tags: vec!["autogen-kafka".to_owned()],
            examples: Vec::new(),
        }
    }

    /// The skill `settings` describe (`gateway.skills` of the configuration).
    #[must_use]
    pub fn from_settings(settings: &autogen_kafka_config::SkillSettings) -> Self {
        let agent_type = settings.agent_type.clone();
        let name = settings.name.clone().unwrap_or_else(|| agent_type.clone());
        let description = settings
            .description
            .clone()
            .unwrap_or_else(|| format!("The fleet's agent type {agent_type}"));
        let mut skill = Self::new(agent_type, name, description);
        skill.examples.clone_from(&settings.examples);
        skill
    }

    /// Adds an example prompt.
    #[must_use]
    pub fn example(mut self, example: impl Into<String>) -> Self {
        self.examples.push(example.into());
        self
    }
}

/// The agent types the fleet hosts now (for example `KafkaWorkerAgentRuntime::hosted_types`).
pub type HostedTypes = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// How the gateway runs.
#[derive(Clone)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// The URL clients reach the gateway at (`http://host:port`), written into the agent card.
    pub public_url: String,
    /// The token every JSON-RPC request must carry as `Authorization: Bearer <token>`.
    pub bearer_token: String,
    /// The agent types offered, one skill each.
    pub skills: Vec<Skill>,
    /// The card's name.
    pub name: String,
    /// The card's description.
    pub description: String,
    /// The deadline of each call to an agent. Default 30 s.
    pub rpc_timeout: Duration,
    /// The largest request body accepted. Default 1 MiB.
    pub max_body_bytes: usize,
    /// The most tasks kept (the oldest finished ones go first). Default 10,000.
    pub max_tasks: usize,
    /// When set, every agent type the fleet hosts is offered too, beside [`skills`](Self::skills) (which keep
    /// their names and descriptions); see [`GatewayConfig::hosted_types`].
    pub hosted_types: Option<HostedTypes>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("public_url", &self.public_url)
            .field("bearer_token", &"***")
            .field("skills", &self.skills)
            .field("rpc_timeout", &self.rpc_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_tasks", &self.max_tasks)
            .field("hosted_types", &self.hosted_types.is_some())
            .finish_non_exhaustive()
    }
}

impl GatewayConfig {
    /// A gateway reached at `public_url`, requiring `bearer_token`, offering no skill yet.
    #[must_use]
    pub fn new(public_url: impl Into<String>, bearer_token: impl Into<String>) -> Self {
        Self {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            bearer_token: bearer_token.into(),
            skills: Vec::new(),
            name: "autogen-kafka gateway".to_owned(),
            description: "Agents of an autogen-kafka fleet".to_owned(),
            rpc_timeout: Duration::from_secs(30),
            max_body_bytes: 1 << 20,
            max_tasks: 10_000,
            hosted_types: None,
        }
    }

    /// Offers every agent type `source` names (asked at each card request and message), beside the configured
    /// skills: an A2A client then discovers whatever the fleet hosts. Expose a fleet this way only when every
    /// agent type in it may be called by the gateway's clients.
    #[must_use]
    pub fn hosted_types(
        mut self,
        source: impl Fn() -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        self.hosted_types = Some(Arc::new(source));
        self
    }

    /// The skills offered now: the configured ones, then each hosted agent type not configured.
    fn offered(&self) -> Vec<Skill> {
        let mut skills = self.skills.clone();
        if let Some(source) = &self.hosted_types {
            for agent_type in source() {
                if !skills.iter().any(|s| s.agent_type == agent_type) {
                    let description = format!("The fleet's agent type {agent_type}");
                    skills.push(Skill::new(agent_type.clone(), agent_type, description));
                }
            }
        }
        skills
    }

    /// A gateway configured by the `gateway` section (skills, body limit, task count), reached at `public_url`
    /// and requiring `bearer_token`.
    #[must_use]
    pub fn from_settings(
        settings: &GatewaySettings,
        public_url: impl Into<String>,
        bearer_token: impl Into<String>,
    ) -> Self {
        let mut config = Self::new(public_url, bearer_token)
            .max_body_bytes(settings.max_body_bytes)
            .max_tasks(settings.max_tasks);
        config.skills = settings.skills.iter().map(Skill::from_settings).collect();
        config
    }

    /// Offers `skill`.
    #[must_use]
    pub fn skill(mut self, skill: Skill) -> Self {
        self.skills.push(skill);
        self
    }

    /// Sets the deadline of each call to an agent.
    #[must_use]
    pub const fn rpc_timeout(mut self, timeout: Duration) -> Self {
        self.rpc_timeout = timeout;
        self
    }

    /// Sets the largest request body accepted.
    #[must_use]
    pub const fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets how many tasks are kept.
    #[must_use]
    pub const fn max_tasks(mut self, tasks: usize) -> Self {
        self.max_tasks = tasks;
        self
    }
}

/// How long a stopping gateway waits for its task records to be acknowledged.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The gateway: an axum router over an agent runtime. Cheap to clone.
#[derive(Clone)]
pub struct A2aGateway {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for A2aGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("A2aGateway")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    runtime: Arc<dyn AgentRuntime>,
    config: GatewayConfig,
    tasks: Arc<TaskStore>,
    /// The task topic, when tasks are shared.
    journal: Option<Arc<Journal>>,
}

impl A2aGateway {
    /// A gateway calling agents through `runtime`, keeping its tasks in memory: only this gateway knows them,
    /// until it stops.
    #[must_use]
    pub fn new(runtime: Arc<dyn AgentRuntime>, config: GatewayConfig) -> Self {
        let tasks = Arc::new(TaskStore::new(config.max_tasks));
        Self::assemble(runtime, config, tasks, None)
    }

    /// A gateway calling agents through `runtime` that keeps its tasks on the compacted topic
    /// `fleet.gateway.tasks_topic` (created if missing, when `fleet.service.auto_create_topics` is on, by
    /// `create_mode`): every replica on that topic answers `GetTask`, `ListTasks` and `CancelTask` for the tasks of
    /// all, and a restarted gateway still knows them. Returns once the topic is read to its end.
    ///
    /// # Errors
    ///
    /// [`GatewayError::TaskTopic`] when the topic cannot be created or read (within `runtime.startup_timeout_ms`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use autogen_kafka_admin::CreateMode;
    /// use autogen_kafka_config::Config;
    /// use autogen_kafka_gateway::{A2aGateway, GatewayConfig};
    ///
    /// # async fn demo(runtime: Arc<dyn autogen_kafka_core::AgentRuntime>) -> Result<(), Box<dyn std::error::Error>> {
    /// let fleet = Config::from_file("fleet.toml")?; // its [gateway] section names the skills and the task topic
    /// let config = GatewayConfig::from_settings(&fleet.gateway, "https://agents.example.com", "a-long-random-token");
    /// let gateway = A2aGateway::with_task_topic(runtime, config, &fleet, CreateMode::Admin).await?;
    /// let listener = tokio::net::TcpListener::bind(&fleet.gateway.listen).await?;
    /// gateway.serve(listener, tokio_util::sync::CancellationToken::new()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn with_task_topic(
        runtime: Arc<dyn AgentRuntime>,
        config: GatewayConfig,
        fleet: &Config,
        create_mode: CreateMode,
    ) -> Result<Self, GatewayError> {
        let tasks = Arc::new(TaskStore::new(config.max_tasks));
        let journal = Journal::start(fleet, create_mode, &tasks).await?;
        Ok(Self::assemble(runtime, config, tasks, Some(journal)))
    }

    fn assemble(
        runtime: Arc<dyn AgentRuntime>,
        config: GatewayConfig,
        tasks: Arc<TaskStore>,
        journal: Option<Arc<Journal>>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                runtime,
                config,
                tasks,
                journal,
            }),
        }
    }

    /// This gateway's id in the task topic (new at every start), when it has one.
    #[must_use]
    pub fn gateway_id(&self) -> Option<&str> {
        self.shared.journal.as_deref().map(Journal::gateway)
    }

    /// Stops following the task topic, after waiting (up to 10 s) for this gateway's task records to be
    /// acknowledged. [`serve`](Self::serve) does it when it ends; call it when serving the
    /// [`router`](Self::router) yourself.
    pub async fn close(&self) {
        if let Some(journal) = &self.shared.journal {
            journal.close(CLOSE_TIMEOUT).await;
        }
    }

    /// The agent card served at `/.well-known/agent-card.json` now.
    #[must_use]
    pub fn card(&self) -> Value {
        agent_card(&self.shared.config, &self.shared.config.offered())
    }

    /// The routes: `GET /.well-known/agent-card.json` (public), `POST /a2a/jsonrpc` and the HTTP+JSON binding
    /// under `/a2a/rest` (bearer token).
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/.well-known/agent-card.json", get(card))
            .route(JSONRPC_PATH, post(jsonrpc))
            .nest(REST_PATH, crate::rest::routes())
            .layer(DefaultBodyLimit::max(self.shared.config.max_body_bytes))
            .with_state(Arc::clone(&self.shared))
    }

    /// Serves the routes on `listener` until `token` is cancelled (requests under way finish first), then
    /// [`close`](Self::close)s.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Serve`] when the server fails.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        token: CancellationToken,
    ) -> Result<(), GatewayError> {
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(token.cancelled_owned())
            .await
            .map_err(GatewayError::Serve);
        self.close().await;
        served
    }
}

/// The agent card of `config` offering `skills` (A2A 1.0: both interfaces, bearer authentication, one skill per
/// type).
fn agent_card(config: &GatewayConfig, skills: &[Skill]) -> Value {
    let skills: Vec<Value> = skills
        .iter()
        .map(|skill| {
            json!({
                "id": skill.agent_type,
                "name": skill.name,
                "description": skill.description,
                "tags": skill.tags,
                "examples": skill.examples,
            })
        })
        .collect();
    json!({
        "name": config.name,
        "description": config.description,
        "version": env!("CARGO_PKG_VERSION"),
        "supportedInterfaces": [{
            "url": format!("{}{JSONRPC_PATH}", config.public_url),
            "protocolBinding": "JSONRPC",
            "protocolVersion": PROTOCOL_VERSION,
        }, {
            "url": format!("{}{REST_PATH}", config.public_url),
            "protocolBinding": "HTTP+JSON",
            "protocolVersion": PROTOCOL_VERSION,
        }],
        "capabilities": {"streaming": true, "pushNotifications": false},
        "securitySchemes": {"bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer"}}},
        "securityRequirements": [{"schemes": {"bearer": {"list": []}}}],
        "defaultInputModes": ["text/plain", "application/json"],
        "defaultOutputModes": ["text/plain", "application/json"],
        "skills": skills,
    })
}

async fn card(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(agent_card(&shared.config, &shared.config.offered()))
}

/// Whether `headers` carry `Authorization: Bearer <token>`, compared in constant time for a token of the right
/// length.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (given, token) = (given.as_bytes(), token.as_bytes());
    given.len() == token.len()
        && given
            .iter()
            .zip(token)
            .fold(0_u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

/// Why a request is not admitted.
pub(crate) enum Refusal {
    /// No valid bearer token: HTTP 401.
    Unauthorized,
    /// Another protocol version.
    Version(RpcError),
}

impl Refusal {
    /// HTTP 401 with the scheme to use.
    pub(crate) fn unauthorized() -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "a valid bearer token is required"})),
        )
            .into_response()
    }
}

/// Admits a request with the bearer token that speaks A2A 1.0.
pub(crate) fn admit(shared: &Shared, headers: &HeaderMap) -> Result<(), Refusal> {
    if !authorized(headers, &shared.config.bearer_token) {
        return Err(Refusal::Unauthorized);
    }
    let version = headers.get("a2a-version").and_then(|v| v.to_str().ok());
    if version != Some(PROTOCOL_VERSION) {
        return Err(Refusal::Version(RpcError::new(
            RpcError::VERSION_NOT_SUPPORTED,
            format!(
                "this gateway speaks A2A {PROTOCOL_VERSION}; send the header `A2A-Version: {PROTOCOL_VERSION}` (got {})",
                version.unwrap_or("none, which means 0.3")
            ),
        )));
    }
    Ok(())
}

async fn jsonrpc(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let admitted = admit(&shared, &headers);
    if matches!(admitted, Err(Refusal::Unauthorized)) {
        return Refusal::unauthorized();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            let error = RpcError::new(RpcError::PARSE, format!("the body is not JSON: {error}"));
            return Json(response(&Value::Null, Err(error))).into_response();
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let (Some("2.0"), Some(method)) = (
        request.get("jsonrpc").and_then(Value::as_str),
        request.get("method").and_then(Value::as_str),
    ) else {
        let error = RpcError::new(
            RpcError::INVALID_REQUEST,
            "not a JSON-RPC 2.0 request: `jsonrpc` must be \"2.0\" and `method` a string",
        );
        return Json(response(&id, Err(error))).into_response();
    };
    if let Err(Refusal::Version(error)) = admitted {
        return Json(response(&id, Err(error))).into_response();
    }
    let params = request
        .get("params")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    let span = tracing::info_span!("a2a.request", method, task_id = tracing::field::Empty);
    if method == "SendStreamingMessage" {
        // Errors before the stream starts are a plain JSON-RPC response.
        return match span.in_scope(|| start_task(&shared, params)) {
            Ok((changes, _)) => task_events(Some(id), changes).into_response(),
            Err(error) => Json(response(&id, Err(error))).into_response(),
        };
    }
    let outcome = async {
        match method {
            "SendMessage" => send_message(&shared, params).await,
            "GetTask" => get_task(&shared, params),
            "ListTasks" => list_tasks(&shared, params),
            "CancelTask" => cancel_task(&shared, params).await,
            other => Err(RpcError::new(
                RpcError::METHOD_NOT_FOUND,
                format!("no method {other}: this gateway serves SendMessage, SendStreamingMessage, GetTask, ListTasks and CancelTask"),
            )),
        }
    }
    .instrument(span)
    .await;
    if let Err(error) = &outcome {
        tracing::debug!(method, code = error.code, error = %error.message, "A2A request refused");
    }
    Json(response(&id, outcome)).into_response()
}

pub(crate) fn invalid_params(error: impl std::fmt::Display) -> RpcError {
    RpcError::new(RpcError::INVALID_PARAMS, error.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendParams {
    message: Message,
    #[serde(default)]
    configuration: SendConfiguration,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SendConfiguration {
    #[serde(default)]
    return_immediately: bool,
    #[serde(default)]
    history_length: Option<usize>,
}

/// The skill a message asks for: `skillId` in the request's or the message's metadata, or the only skill.
fn pick_skill<'a>(
    skills: &'a [Skill],
    metadata: [Option<&Map<String, Value>>; 2],
) -> Result<&'a Skill, RpcError> {
    let named = metadata
        .into_iter()
        .flatten()
        .find_map(|m| m.get("skillId").and_then(Value::as_str));
    let ids = || {
        skills
            .iter()
            .map(|s| s.agent_type.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (named, skills) {
        (Some(id), _) => skills
            .iter()
            .find(|s| s.agent_type == id)
            .ok_or_else(|| invalid_params(format!("no skill {id}; skills: {}", ids()))),
        (None, [only]) => Ok(only),
        (None, _) => Err(invalid_params(format!(
            "name a skill in metadata.skillId: one of {}",
            ids()
        ))),
    }
}

/// Starts the task a `SendMessage` or `SendStreamingMessage` asks for: a receiver of its changes, and how the
/// client wants the answer.
pub(crate) fn start_task(
    shared: &Arc<Shared>,
    params: Value,
) -> Result<(watch::Receiver<Task>, SendConfiguration), RpcError> {
    let params: SendParams = serde_json::from_value(params).map_err(invalid_params)?;
    let mut message = params.message;
    if message.task_id.is_some() {
        return Err(RpcError::new(
            RpcError::UNSUPPORTED_OPERATION,
            "a task here ends with the agent's first answer; send a new message without taskId (the same contextId reaches the same agent)",
        ));
    }
    let offered = shared.config.offered();
    let skill = pick_skill(
        &offered,
        [params.metadata.as_ref(), message.metadata.as_ref()],
    )?;
    let mut text = Vec::new();
    let mut data = Vec::new();
    for part in &message.parts {
        match (&part.text, &part.data) {
            (Some(t), _) => text.push(t.as_str()),
            (None, Some(d)) => data.push(d.clone()),
            (None, None) => {
                return Err(RpcError::new(
                    RpcError::CONTENT_TYPE_NOT_SUPPORTED,
                    "only text and data parts are taken, not raw or url parts",
                ));
            }
        }
    }
    if message.parts.is_empty() {
        return Err(invalid_params("a message needs at least one part"));
    }
    let context_id = message
        .context_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let agent = AgentId::new(&skill.agent_type, &context_id)
        .map_err(|error| invalid_params(format!("the contextId cannot name an agent: {error}")))?;
    let task_id = uuid::Uuid::new_v4().to_string();
    tracing::Span::current().record("task_id", task_id.as_str());
    message.context_id = Some(context_id.clone());
    message.task_id = Some(task_id.clone());
    let request = A2aRequest {
        text: text.join("\n"),
        data,
        context_id: context_id.clone(),
        task_id: task_id.clone(),
    };
    let mut metadata = Map::new();
    metadata.insert("skillId".to_owned(), Value::from(skill.agent_type.clone()));
    let task = Task {
        id: task_id.clone(),
        context_id,
        status: TaskStatus {
            state: TaskState::Submitted,
            message: None,
            timestamp: now(),
        },
        artifacts: Vec::new(),
        history: vec![message],
        metadata: Some(metadata),
    };
    let (cancel, changes, dropped) = shared.tasks.insert(task)?;
    if let Some(journal) = &shared.journal {
        journal.dropped(dropped);
    }
    tokio::spawn(
        run(Arc::clone(shared), task_id, agent, request, cancel)
            .instrument(tracing::Span::current()),
    );
    Ok((changes, params.configuration))
}

pub(crate) async fn send_message(shared: &Arc<Shared>, params: Value) -> Result<Value, RpcError> {
    let (mut changes, configuration) = start_task(shared, params)?;
    if !configuration.return_immediately {
        // The run always ends the task: the call has a deadline.
        let _ = changes
            .wait_for(|task| task.status.state.is_terminal())
            .await;
    }
    let task = changes.borrow().clone();
    Ok(json!({ "task": trimmed(task, configuration.history_length, true) }))
}

/// An event of a stream: `result` in a JSON-RPC response with `id`, or alone (HTTP+JSON binding).
fn result_event(id: Option<&Value>, result: Value) -> Event {
    match id {
        Some(id) => Event::default().data(response(id, Ok(result)).to_string()),
        None => Event::default().data(result.to_string()),
    }
}

/// The events of a streamed task: the task as it is, then each status change and each new artifact, until it
/// ends (then the stream ends, which the protocol asks for). With a JSON-RPC request `id`, each event is a
/// JSON-RPC response; without, the bare result (HTTP+JSON binding).
pub(crate) fn task_events(
    id: Option<Value>,
    changes: watch::Receiver<Task>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    struct Progress {
        id: Option<Value>,
        changes: watch::Receiver<Task>,
        state: Option<TaskState>,
        artifacts: usize,
        ended: bool,
    }
    let start = Progress {
        id,
        changes,
        state: None,
        artifacts: 0,
        ended: false,
    };
    let events = futures::stream::unfold(start, |mut progress| async move {
        if progress.ended {
            return None;
        }
        let Some(state) = progress.state else {
            let task = progress.changes.borrow_and_update().clone();
            progress.state = Some(task.status.state);
            progress.artifacts = task.artifacts.len();
            progress.ended = task.status.state.is_terminal();
            let first = result_event(progress.id.as_ref(), json!({ "task": task }));
            return Some((vec![first], progress));
        };
        if progress.changes.changed().await.is_err() {
            // The task was dropped from the store: nothing more will come.
            return None;
        }
        let task = progress.changes.borrow_and_update().clone();
        let mut events = Vec::new();
        for artifact in task.artifacts.iter().skip(progress.artifacts) {
            events.push(result_event(
                progress.id.as_ref(),
                json!({"artifactUpdate": {"taskId": task.id, "contextId": task.context_id, "artifact": artifact, "lastChunk": true}}),
            ));
        }
        progress.artifacts = task.artifacts.len();
        if task.status.state != state {
            events.push(result_event(
                progress.id.as_ref(),
                json!({"statusUpdate": {"taskId": task.id, "contextId": task.context_id, "status": task.status}}),
            ));
            progress.state = Some(task.status.state);
        }
        progress.ended = task.status.state.is_terminal();
        Some((events, progress))
    })
    .flat_map(|events| futures::stream::iter(events.into_iter().map(Ok)));
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// Calls the agent for task `task_id` and records the outcome. With a task topic, the task is written there when
/// the call starts, and its end is acknowledged there before the client hears of it.
async fn run(
    shared: Arc<Shared>,
    task_id: String,
    agent: AgentId,
    request: A2aRequest,
    cancel: CancellationToken,
) {
    let tasks = &shared.tasks;
    let deadline = SystemTime::now() + shared.config.rpc_timeout;
    tasks.update(&task_id, |task| {
        task.status = TaskStatus {
            state: TaskState::Working,
            message: None,
            timestamp: now(),
        };
    });
    let working = match (&shared.journal, tasks.get(&task_id)) {
        (Some(journal), Some(task)) => Some(journal.write_task(&task, deadline).await),
        _ => None,
    };
    let context_id = request.context_id.clone();
    let options = SendOptions::new()
        .with_timeout(shared.config.rpc_timeout)
        .with_cancellation(cancel);
    let outcome = shared
        .runtime
        .send_message(AnyMessage::new(request), agent.clone(), options)
        .await
        .and_then(|reply| A2aReply::from_reply(reply, &agent));
    let (state, text, artifact) = match outcome {
        Ok(reply) => {
            let mut parts = Vec::new();
            if !reply.text.is_empty() {
                parts.push(Part::text(&reply.text));
            }
            if let Some(data) = reply.data {
                parts.push(Part::data(data));
            }
            let artifact = Artifact {
                artifact_id: uuid::Uuid::new_v4().to_string(),
                name: Some("answer".to_owned()),
                parts,
            };
            (TaskState::Completed, reply.text, Some(artifact))
        }
        Err(CoreError::Cancelled) => (
            TaskState::Canceled,
            "cancelled by the client".to_owned(),
            None,
        ),
        Err(CoreError::Timeout { after, .. }) => (
            TaskState::Failed,
            format!("timeout: the agent did not answer within {after:?}"),
            None,
        ),
        Err(error) => (TaskState::Failed, error_text(&error), None),
    };
    tracing::info!(task_id, agent_id = %agent, ?state, "A2A task ended");
    // Built once: the task topic and this gateway's memory hold the same end.
    let message = Message::agent_text(&text, &context_id, &task_id);
    let status = TaskStatus {
        state,
        message: Some(message.clone()),
        timestamp: now(),
    };
    let end = |task: &mut Task| {
        task.history.push(message.clone());
        task.artifacts.extend(artifact.clone());
        task.status = status.clone();
    };
    if let (Some(journal), Some(mut ended)) = (&shared.journal, tasks.get(&task_id)) {
        end(&mut ended);
        let written = async {
            let pending = journal.write_task(&ended, deadline).await?;
            pending.acknowledged().await.map_err(|e| journal.failed(e))
        };
        if let Err(error) = written.await {
            tracing::warn!(
                task_id, error = %error_text(&error),
                "the task's end was not written to the task topic: other gateways will see it fail at its deadline"
            );
        }
        // The start matters only while the task runs; its end, written above, replaces it.
        if let Some(working) = working {
            let acknowledged = match working {
                Ok(pending) => pending
                    .acknowledged()
                    .await
                    .map(|_| ())
                    .map_err(|e| journal.failed(e)),
                Err(error) => Err(error),
            };
            if let Err(error) = acknowledged {
                tracing::debug!(task_id, error = %error_text(&error), "the task's start was not written to the task topic");
            }
        }
    }
    tasks.update(&task_id, end);
}

/// An error and its causes on one line.
fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// `task` with at most `history` messages of its history (the latest), and without artifacts unless asked.
fn trimmed(mut task: Task, history: Option<usize>, artifacts: bool) -> Task {
    if let Some(keep) = history {
        let drop = task.history.len().saturating_sub(keep);
        task.history.drain(..drop);
    }
    if !artifacts {
        task.artifacts.clear();
    }
    task
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskParams {
    id: String,
    #[serde(default)]
    history_length: Option<usize>,
}

pub(crate) fn get_task(shared: &Shared, params: Value) -> Result<Value, RpcError> {
    let params: TaskParams = serde_json::from_value(params).map_err(invalid_params)?;
    task_result(shared, &params)
}

/// The task `params` names as a result, with at most the history asked for.
fn task_result(shared: &Shared, params: &TaskParams) -> Result<Value, RpcError> {
    let task = shared
        .tasks
        .get(&params.id)
        .ok_or_else(|| not_found(&params.id))?;
    serde_json::to_value(trimmed(task, params.history_length, true))
        .map_err(|error| RpcError::new(RpcError::INTERNAL, error.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    #[serde(default)]
    context_id: Option<String>,
    #[serde(default)]
    status: Option<TaskState>,
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    history_length: Option<usize>,
    #[serde(default)]
    include_artifacts: bool,
}

/// The largest page `ListTasks` gives.
const MAX_PAGE: usize = 100;

pub(crate) fn list_tasks(shared: &Shared, params: Value) -> Result<Value, RpcError> {
    let params: ListParams = serde_json::from_value(params).map_err(invalid_params)?;
    let size = params.page_size.unwrap_or(50).clamp(1, MAX_PAGE);
    let offset = match params.page_token.as_deref() {
        None | Some("") => 0,
        Some(token) => token
            .parse()
            .map_err(|_| invalid_params(format!("bad pageToken {token:?}")))?,
    };
    let (page, total) =
        shared
            .tasks
            .list(params.context_id.as_deref(), params.status, offset, size);
    let next = if offset + page.len() < total {
        (offset + page.len()).to_string()
    } else {
        String::new()
    };
    let tasks: Vec<Task> = page
        .into_iter()
        .map(|task| trimmed(task, params.history_length, params.include_artifacts))
        .collect();
    Ok(json!({"tasks": tasks, "nextPageToken": next, "pageSize": size, "totalSize": total}))
}

/// How long `CancelTask` waits for the cancelled call to end before it answers.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

pub(crate) async fn cancel_task(shared: &Shared, params: Value) -> Result<Value, RpcError> {
    let params: TaskParams = serde_json::from_value(params).map_err(invalid_params)?;
    let mut changes = match shared.tasks.cancel(&params.id)? {
        Cancel::Here(changes) => changes,
        Cancel::Elsewhere { gateway, changes } => {
            let journal = shared.journal.as_ref().ok_or_else(|| {
                RpcError::new(
                    RpcError::INTERNAL,
                    "a task of another gateway without a task topic",
                )
            })?;
            tracing::debug!(task_id = %params.id, gateway, "asking the task's gateway to cancel it");
            journal
                .request_cancel(&params.id)
                .await
                .map_err(|error| RpcError::new(RpcError::INTERNAL, error_text(&error)))?;
            changes
        }
    };
    let _ = tokio::time::timeout(
        CANCEL_WAIT,
        changes.wait_for(|task| task.status.state.is_terminal()),
    )
    .await;
    task_result(shared, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_token_must_match_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!authorized(&headers, "secret"));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer secret".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        assert!(authorized(&headers, "secret"));
        assert!(!authorized(&headers, "secreT"));
        assert!(!authorized(&headers, "secret2"));
        headers.insert(
            header::AUTHORIZATION,
            "Basic secret".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        assert!(!authorized(&headers, "secret"));
    }

    #[test]
    fn a_skill_is_named_or_the_only_one() {
        let one = [Skill::new("echo", "Echo", "echoes")];
        assert_eq!(
            pick_skill(&one, [None, None])
                .map(|s| s.agent_type.as_str())
                .ok(),
            Some("echo")
        );
        let two = [
            Skill::new("echo", "Echo", "echoes"),
            Skill::new("calc", "Calc", "adds"),
        ];
        assert!(pick_skill(&two, [None, None]).is_err());
        let mut metadata = Map::new();
        metadata.insert("skillId".into(), "calc".into());
        assert_eq!(
            pick_skill(&two, [None, Some(&metadata)])
                .map(|s| s.agent_type.as_str())
                .ok(),
            Some("calc")
        );
        metadata.insert("skillId".into(), "nope".into());
        let refused = pick_skill(&two, [Some(&metadata), None]).err();
        assert_eq!(refused.map(|e| e.code), Some(RpcError::INVALID_PARAMS));
    }

    #[test]
    fn the_card_declares_json_rpc_1_0_bearer_auth_and_a_skill_per_type() {
        let config = GatewayConfig::new("http://127.0.0.1:9/", "t")
            .skill(Skill::new("echo", "Echo", "echoes").example("hello"));
        let card = agent_card(&config, &config.offered());
        assert_eq!(
            card["supportedInterfaces"][0]["url"],
            "http://127.0.0.1:9/a2a/jsonrpc"
        );
        assert_eq!(card["supportedInterfaces"][0]["protocolVersion"], "1.0");
        assert_eq!(
            card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"],
            "Bearer"
        );
        assert_eq!(card["skills"][0]["id"], "echo");
        assert_eq!(card["skills"][0]["examples"][0], "hello");
        assert!(
            !format!("{config:?}").contains("\"t\""),
            "the token is not shown"
        );
    }

    #[test]
    fn hosted_types_are_offered_beside_the_configured_skills() {
        let config = GatewayConfig::new("http://127.0.0.1:9", "t")
            .skill(Skill::new("echo", "Echo", "echoes"))
            .hosted_types(|| vec!["echo".to_owned(), "planner".to_owned()]);
        let offered = config.offered();
        assert_eq!(
            offered
                .iter()
                .map(|s| (s.agent_type.as_str(), s.name.as_str()))
                .collect::<Vec<_>>(),
            [("echo", "Echo"), ("planner", "planner")],
            "a configured skill keeps its name"
        );
        let card = agent_card(&config, &offered);
        assert_eq!(card["skills"][1]["id"], "planner");
        let mut metadata = Map::new();
        metadata.insert("skillId".into(), "planner".into());
        assert!(pick_skill(&offered, [Some(&metadata), None]).is_ok());
    }
}

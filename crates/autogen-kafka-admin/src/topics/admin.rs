//! [`TopicAdmin`]: create and verify the runtime's topics at startup.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;
use tracing::{debug, info, warn};

use super::context::{self, AdminContext, MetadataClient, MetadataView, TopicState};
use super::spec::{CLEANUP_POLICY, Cleanup, TopicSpec};
use super::types::{CreateMode, TopicDescription, TopicOperation, TopicOutcome};
use crate::error::{AdminError, Result};

/// The librdkafka property holding the bootstrap servers.
const BOOTSTRAP_SERVERS: &str = "bootstrap.servers";

/// The librdkafka property that lets a metadata request create a missing topic.
const ALLOW_AUTO_CREATE: &str = "allow.auto.create.topics";

/// Default operation timeout.
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Extra time the safety deadline around a librdkafka call allows beyond the operation timeout
/// that librdkafka itself enforces.
const SAFETY_MARGIN: Duration = Duration::from_millis(500);

/// Creates and verifies Kafka topics: the runtime's startup step "topic creation/verification",
/// run before any consumer starts.
///
/// Built from librdkafka properties (`bootstrap.servers` and the security settings, the same
/// map the runtime's clients use) with [`TopicAdmin::builder`]. Every broker request and every
/// wait is bounded by the operation timeout (default 30 s). The admin client never lets its own
/// metadata requests auto-create a topic (`allow.auto.create.topics=false`), so looking at a
/// topic does not create it with the broker's defaults.
///
/// [`ensure_topics`](Self::ensure_topics) handles each spec in turn:
///
/// * **missing**: created with `CreateTopics` ([`CreateMode::Admin`]) with the spec's
///   partitions, cleanup policy and configs; the replication factor is capped at the number of
///   brokers (as the Python runtime does) and the cap is logged. Returns
///   [`TopicOutcome::Created`] once the topic is visible in the metadata. In
///   [`CreateMode::AutoCreate`] the broker creates it on a metadata request instead
///   ([`TopicOutcome::AutoCreated`]).
/// * **existing**: fewer partitions than asked is [`AdminError::TopicMismatch`]; more is a
///   warning. In admin mode the cleanup policy is read with `DescribeConfigs`, and a different
///   policy is a warning (the Python runtime may have created the topic as `delete`).
///   Returns [`TopicOutcome::Existed`].
///
/// Cloning is cheap: clones share one librdkafka client.
///
/// # Examples
///
/// ```no_run
/// use std::collections::BTreeMap;
/// use std::time::Duration;
///
/// use autogen_kafka_admin::{CreateMode, TopicAdmin, TopicOutcome, TopicSpec};
///
/// # async fn startup() -> autogen_kafka_admin::Result<()> {
/// let properties: BTreeMap<String, String> = [
///     ("bootstrap.servers", "kafka-1:9092,kafka-2:9092"),
///     ("security.protocol", "SASL_PLAINTEXT"),
///     ("sasl.mechanism", "PLAIN"),
///     ("sasl.username", "worker"),
///     ("sasl.password", "secret"),
/// ]
/// .into_iter()
/// .map(|(key, value)| (key.to_owned(), value.to_owned()))
/// .collect();
/// let admin = TopicAdmin::builder(properties)
///     .operation_timeout(Duration::from_secs(10))
///     .create_mode(CreateMode::Admin)
///     .build()?;
///
/// let outcomes = admin
///     .ensure_topics(&[
///         TopicSpec::new("runtime_requests").replication_factor(3),
///         TopicSpec::compacted("agent_registry").replication_factor(3),
///     ])
///     .await?;
/// let created: Vec<&str> = outcomes
///     .iter()
///     .filter(|outcome| matches!(outcome, TopicOutcome::Created { .. }))
///     .map(TopicOutcome::topic)
///     .collect();
/// tracing::info!(?created, "topics ready");
/// # Ok(())
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> autogen_kafka_admin::Result<()> {
/// #     startup().await
/// # }
/// ```
#[derive(Clone)]
pub struct TopicAdmin {
    inner: Arc<Inner>,
}

/// What clones of a [`TopicAdmin`] share.
struct Inner {
    /// `CreateTopics`, `DescribeConfigs`, `DeleteTopics`. rdkafka never polls an admin
    /// client's main queue, so its log lines and error events are not delivered.
    admin: AdminClient<AdminContext>,
    /// Metadata requests (`allow.auto.create.topics=false`); polled, so its log lines and
    /// errors reach the context.
    metadata: MetadataClient,
    /// The properties plus `allow.auto.create.topics=true`, for [`CreateMode::AutoCreate`].
    auto_create: ClientConfig,
    bootstrap: String,
    timeout: Duration,
    mode: CreateMode,
}

impl fmt::Debug for TopicAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The properties may hold credentials: only the bootstrap servers are shown.
        f.debug_struct("TopicAdmin")
            .field("bootstrap_servers", &self.inner.bootstrap)
            .field("operation_timeout", &self.inner.timeout)
            .field("create_mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

impl Drop for TopicAdmin {
    fn drop(&mut self) {
        // Dropping the librdkafka admin client joins its polling thread, which can take up to
        // 100 ms: when this is the last handle, let a short-lived thread do it.
        if Arc::strong_count(&self.inner) == 1 {
            let last = Arc::clone(&self.inner);
            if let Err(error) = std::thread::Builder::new()
                .name("topic-admin-drop".to_owned())
                .spawn(move || drop(last))
            {
                debug!(%error, "closing the Kafka admin client on the current thread");
            }
        }
    }
}

/// Builds a [`TopicAdmin`].
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::Duration;
///
/// use autogen_kafka_admin::{CreateMode, TopicAdmin};
///
/// let admin = TopicAdmin::builder(BTreeMap::new())
///     .property("bootstrap.servers", "localhost:9092")
///     .property("sasl.password", "secret")
///     .operation_timeout(Duration::from_secs(5))
///     .create_mode(CreateMode::AutoCreate)
///     .build()?;
/// assert_eq!(admin.bootstrap_servers(), "localhost:9092");
/// assert_eq!(admin.create_mode(), CreateMode::AutoCreate);
/// assert!(!format!("{admin:?}").contains("secret"));
/// # Ok::<(), autogen_kafka_admin::AdminError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct TopicAdminBuilder {
    properties: BTreeMap<String, String>,
    timeout: Duration,
    mode: CreateMode,
}

impl fmt::Debug for TopicAdminBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Property values may be credentials: show the keys only.
        f.debug_struct("TopicAdminBuilder")
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .field("operation_timeout", &self.timeout)
            .field("create_mode", &self.mode)
            .finish()
    }
}

impl TopicAdminBuilder {
    /// Sets one librdkafka property (replacing an earlier value).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Sets the time allowed for each broker request and each wait (default 30 s).
    pub const fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how missing topics are created (default [`CreateMode::Admin`]).
    pub const fn create_mode(mut self, mode: CreateMode) -> Self {
        self.mode = mode;
        self
    }

    /// Creates the librdkafka admin client. No broker is contacted.
    ///
    /// `allow.auto.create.topics` is forced to `false` for the admin client (and to `true`
    /// for the client [`CreateMode::AutoCreate`] uses). TLS (`security.protocol` `SSL` or
    /// `SASL_SSL`) needs librdkafka built with OpenSSL (rdkafka's `ssl` feature); without it
    /// this fails with [`AdminError::CreateClient`].
    ///
    /// # Errors
    ///
    /// [`AdminError::MissingBootstrapServers`] when `bootstrap.servers` is missing or empty,
    /// [`AdminError::CreateClient`] when librdkafka rejects a property.
    pub fn build(self) -> Result<TopicAdmin> {
        let bootstrap = self
            .properties
            .get(BOOTSTRAP_SERVERS)
            .map(|servers| servers.trim().to_owned())
            .filter(|servers| !servers.is_empty())
            .ok_or(AdminError::MissingBootstrapServers)?;
        let create_error = |source| AdminError::CreateClient {
            bootstrap: bootstrap.clone(),
            source,
        };
        let mut config = ClientConfig::new();
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config.set_log_level(context::log_level());
        let mut auto_create = config.clone();
        auto_create.set(ALLOW_AUTO_CREATE, "true");
        config.set(ALLOW_AUTO_CREATE, "false");
        let metadata = context::metadata_client(&config).map_err(create_error)?;
        // Nobody reads the admin client's log queue: keep it to errors.
        config.set_log_level(RDKafkaLogLevel::Error);
        let admin = config
            .create_with_context(AdminContext::default())
            .map_err(create_error)?;
        Ok(TopicAdmin {
            inner: Arc::new(Inner {
                admin,
                metadata,
                auto_create,
                bootstrap,
                timeout: self.timeout,
                mode: self.mode,
            }),
        })
    }
}

impl TopicAdmin {
    /// Starts a builder from librdkafka properties: the connection and security settings
    /// (`bootstrap.servers`, `security.protocol`, `sasl.*`, `ssl.*`, ...). Consumer- or
    /// producer-only properties are not needed (librdkafka logs that it ignores them).
    pub fn builder(properties: BTreeMap<String, String>) -> TopicAdminBuilder {
        TopicAdminBuilder {
            properties,
            timeout: DEFAULT_OPERATION_TIMEOUT,
            mode: CreateMode::default(),
        }
    }

    /// The `bootstrap.servers` this admin talks to.
    #[must_use]
    pub fn bootstrap_servers(&self) -> &str {
        &self.inner.bootstrap
    }

    /// The time allowed for each broker request and each wait.
    #[must_use]
    pub fn operation_timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// How missing topics are created.
    #[must_use]
    pub fn create_mode(&self) -> CreateMode {
        self.inner.mode
    }

    /// The number of brokers in the cluster, from one metadata request.
    ///
    /// # Errors
    ///
    /// [`AdminError::BrokerUnreachable`] when no broker answers within the operation timeout.
    pub async fn broker_count(&self) -> Result<usize> {
        Ok(self.metadata(None).await?.brokers)
    }

    /// The names of the cluster's topics (those the broker reports without an error), from one metadata request.
    ///
    /// # Errors
    ///
    /// [`AdminError::BrokerUnreachable`] when no broker answers within the operation timeout.
    pub async fn topic_names(&self) -> Result<Vec<String>> {
        let timeout = self.inner.timeout;
        let answer = self
            .blocking(TopicOperation::Metadata, move |inner| {
                context::topic_names(&inner.metadata, timeout)
            })
            .await?;
        match answer {
            Some(Ok(names)) => Ok(names),
            Some(Err(source)) => Err(self.unreachable(Some(Box::new(source)))),
            None => Err(self.unreachable(None)),
        }
    }

    /// Makes sure every topic in `specs` exists and fits its spec, in order, and says what it
    /// found or did for each (see the type docs for the rules).
    ///
    /// All specs are validated before any broker is contacted. The call stops at the first
    /// failure; topics handled before it stay created.
    ///
    /// # Errors
    ///
    /// * [`AdminError::InvalidTopicSpec`] for a spec that cannot be created;
    /// * [`AdminError::BrokerUnreachable`] when no broker answers a metadata request;
    /// * [`AdminError::TopicMismatch`] when an existing topic has fewer partitions than asked;
    /// * [`AdminError::CreateTopic`] when the broker refuses to create a topic;
    /// * [`AdminError::AdminTimeout`] when `CreateTopics` or the wait for the new topic runs
    ///   out of time (also what happens on a broker without `CreateTopics`, like the mock
    ///   cluster in [`CreateMode::Admin`]);
    /// * [`AdminError::AutoCreateTopic`] when the broker does not auto-create a topic;
    /// * [`AdminError::TopicMetadata`] when the broker reports an error for a topic (for
    ///   example not authorized);
    /// * [`AdminError::CreateClient`] when the auto-create client cannot be created, and
    ///   [`AdminError::AdminTask`] when a blocking librdkafka call panics.
    pub async fn ensure_topics(&self, specs: &[TopicSpec]) -> Result<Vec<TopicOutcome>> {
        for spec in specs {
            spec.validate()?;
        }
        let mut outcomes = Vec::with_capacity(specs.len());
        for spec in specs {
            outcomes.push(self.ensure_topic(spec).await?);
        }
        Ok(outcomes)
    }

    /// Describes one topic: partitions and replication factor from the metadata, and (in
    /// [`CreateMode::Admin`]) its configs from `DescribeConfigs` when the broker answers.
    ///
    /// # Errors
    ///
    /// [`AdminError::TopicNotFound`] when the topic does not exist,
    /// [`AdminError::BrokerUnreachable`], [`AdminError::TopicMetadata`], or
    /// [`AdminError::AdminTimeout`] when a topic that is being created does not become usable.
    #[tracing::instrument(skip_all, fields(topic = %topic))]
    pub async fn describe(&self, topic: &str) -> Result<TopicDescription> {
        let view = self.metadata(Some(topic)).await?;
        let (partitions, replication_factor) = match view.topic {
            TopicState::Ready {
                partitions,
                replication_factor,
            } => (partitions, replication_factor),
            TopicState::Pending => self.await_topic(topic).await?,
            TopicState::Missing => {
                return Err(AdminError::TopicNotFound {
                    topic: topic.to_owned(),
                });
            }
            TopicState::Failed(code) => return Err(metadata_error(topic, code)),
        };
        let configs = match self.inner.mode {
            CreateMode::Admin => self.describe_configs(topic).await,
            CreateMode::AutoCreate => None,
        };
        Ok(TopicDescription {
            name: topic.to_owned(),
            partitions,
            replication_factor,
            configs,
        })
    }

    /// Deletes topics with `DeleteTopics`, one request per topic. A topic that does not exist
    /// is not an error (it is logged at debug level). Not supported by the librdkafka mock
    /// cluster (the request times out).
    ///
    /// # Errors
    ///
    /// [`AdminError::DeleteTopic`] when the broker refuses (for example
    /// `TopicDeletionDisabled`), [`AdminError::AdminTimeout`] when it does not answer in time.
    pub async fn delete_topics(&self, topics: &[impl AsRef<str>]) -> Result<()> {
        for topic in topics {
            self.delete_topic(topic.as_ref()).await?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(topic = %spec.name))]
    async fn ensure_topic(&self, spec: &TopicSpec) -> Result<TopicOutcome> {
        let view = self.metadata(Some(&spec.name)).await?;
        let outcome = match view.topic {
            TopicState::Ready { partitions, .. } => self.verify_existing(spec, partitions).await?,
            TopicState::Pending => {
                let (partitions, _) = self.await_topic(&spec.name).await?;
                self.verify_existing(spec, partitions).await?
            }
            TopicState::Missing => match self.inner.mode {
                CreateMode::Admin => self.create(spec, view.brokers).await?,
                CreateMode::AutoCreate => self.auto_create(spec).await?,
            },
            TopicState::Failed(code) => return Err(metadata_error(&spec.name, code)),
        };
        info!(
            outcome = outcome_name(&outcome),
            partitions = outcome.partitions(),
            "topic ready"
        );
        Ok(outcome)
    }

    /// Checks an existing topic against its spec.
    async fn verify_existing(&self, spec: &TopicSpec, partitions: u32) -> Result<TopicOutcome> {
        if partitions < spec.partitions {
            return Err(AdminError::TopicMismatch {
                topic: spec.name.clone(),
                wanted: spec.partitions,
                found: partitions,
            });
        }
        if partitions > spec.partitions {
            warn!(
                wanted = spec.partitions,
                found = partitions,
                "topic has more partitions than the spec asks for; using it as it is"
            );
        }
        let cleanup = match self.inner.mode {
            CreateMode::Admin => {
                let configs = self.describe_configs(&spec.name).await;
                check_cleanup(spec, configs.as_ref())
            }
            CreateMode::AutoCreate => {
                debug!("cleanup policy not checked in auto-create mode");
                None
            }
        };
        Ok(TopicOutcome::Existed {
            topic: spec.name.clone(),
            partitions,
            cleanup,
        })
    }

    /// Creates a missing topic with `CreateTopics`.
    async fn create(&self, spec: &TopicSpec, brokers: usize) -> Result<TopicOutcome> {
        let requested = spec.replication_factor;
        let replication_factor = capped_replication(requested, brokers);
        if replication_factor < requested {
            warn!(
                requested,
                brokers, replication_factor, "replication factor capped at the number of brokers"
            );
        }
        // `validate` checked that the partition count fits an i32.
        let partitions = i32::try_from(spec.partitions).unwrap_or(i32::MAX);
        let mut new_topic = NewTopic::new(
            &spec.name,
            partitions,
            TopicReplication::Fixed(i32::from(replication_factor)),
        )
        .set(CLEANUP_POLICY, spec.cleanup.as_str());
        for (key, value) in &spec.configs {
            new_topic = new_topic.set(key, value);
        }
        let options = self.write_options();
        let request = self.inner.admin.create_topics([&new_topic], &options);
        let result = match tokio::time::timeout(self.guard(), request).await {
            Err(_elapsed) => return Err(self.timed_out(TopicOperation::CreateTopic, &spec.name)),
            Ok(Err(source)) => Err(source),
            Ok(Ok(results)) => first_result(results),
        };
        match result {
            Ok(()) => {
                let (partitions, _) = self.await_topic(&spec.name).await?;
                Ok(TopicOutcome::Created {
                    topic: spec.name.clone(),
                    partitions,
                    replication_factor,
                    requested_replication_factor: requested,
                })
            }
            Err(KafkaError::AdminOp(RDKafkaErrorCode::TopicAlreadyExists)) => {
                info!("topic was created concurrently by another client");
                let (partitions, _) = self.await_topic(&spec.name).await?;
                self.verify_existing(spec, partitions).await
            }
            Err(error) if is_timeout(&error) => {
                Err(self.timed_out(TopicOperation::CreateTopic, &spec.name))
            }
            Err(source) => Err(AdminError::CreateTopic {
                topic: spec.name.clone(),
                source,
            }),
        }
    }

    /// Has the broker create a missing topic through a metadata request from a client with
    /// `allow.auto.create.topics=true`.
    async fn auto_create(&self, spec: &TopicSpec) -> Result<TopicOutcome> {
        let config = self.inner.auto_create.clone();
        let topic = spec.name.clone();
        let timeout = self.inner.timeout;
        let answer = self
            .blocking(TopicOperation::AutoCreate, move |_| {
                let client = context::metadata_client(&config)?;
                Ok(context::await_ready(&client, &topic, timeout))
            })
            .await?;
        let (view, last_error) = match answer {
            None => (None, None),
            Some(Err(source)) => {
                return Err(AdminError::CreateClient {
                    bootstrap: self.inner.bootstrap.clone(),
                    source,
                });
            }
            Some(Ok(answer)) => answer,
        };
        match view.map(|view| view.topic) {
            Some(TopicState::Ready { partitions, .. }) => {
                warn!(
                    wanted_partitions = spec.partitions,
                    partitions,
                    wanted_replication_factor = spec.replication_factor,
                    wanted_cleanup = %spec.cleanup,
                    "topic auto-created by the broker: partitions, replication factor and \
                     cleanup policy are the broker's defaults, not the spec's"
                );
                Ok(TopicOutcome::AutoCreated {
                    topic: spec.name.clone(),
                    partitions,
                })
            }
            Some(TopicState::Failed(code)) => Err(metadata_error(&spec.name, code)),
            _ => Err(AdminError::AutoCreateTopic {
                topic: spec.name.clone(),
                timeout,
                source: last_error,
            }),
        }
    }

    #[tracing::instrument(skip_all, fields(topic = %topic))]
    async fn delete_topic(&self, topic: &str) -> Result<()> {
        let options = self.write_options();
        let request = self.inner.admin.delete_topics(&[topic], &options);
        let result = match tokio::time::timeout(self.guard(), request).await {
            Err(_elapsed) => return Err(self.timed_out(TopicOperation::DeleteTopic, topic)),
            Ok(Err(source)) => Err(source),
            Ok(Ok(results)) => first_result(results),
        };
        match result {
            Ok(()) => {
                info!("topic deleted");
                Ok(())
            }
            Err(KafkaError::AdminOp(RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                debug!("topic to delete does not exist");
                Ok(())
            }
            Err(error) if is_timeout(&error) => {
                Err(self.timed_out(TopicOperation::DeleteTopic, topic))
            }
            Err(source) => Err(AdminError::DeleteTopic {
                topic: topic.to_owned(),
                source,
            }),
        }
    }

    /// The topic's configs from `DescribeConfigs`, or `None` (logged) when the broker does not
    /// answer in time or answers with an error.
    async fn describe_configs(&self, topic: &str) -> Option<BTreeMap<String, String>> {
        let resource = ResourceSpecifier::Topic(topic);
        let options = AdminOptions::new().request_timeout(Some(self.inner.timeout));
        let request = self.inner.admin.describe_configs([&resource], &options);
        let results = match tokio::time::timeout(self.guard(), request).await {
            Err(_elapsed) => {
                warn!(timeout = ?self.inner.timeout, "DescribeConfigs timed out; topic configs not checked");
                return None;
            }
            Ok(Err(error)) => {
                warn!(%error, "DescribeConfigs failed; topic configs not checked");
                return None;
            }
            Ok(Ok(results)) => results,
        };
        match results.into_iter().next() {
            Some(Ok(resource)) => Some(
                resource
                    .entries
                    .into_iter()
                    .filter_map(|entry| entry.value.map(|value| (entry.name, value)))
                    .collect(),
            ),
            Some(Err(code)) => {
                warn!(error = %code, "DescribeConfigs answered with an error; topic configs not checked");
                None
            }
            None => None,
        }
    }

    /// One metadata request through the admin client (never auto-creates).
    async fn metadata(&self, topic: Option<&str>) -> Result<MetadataView> {
        let name = topic.map(str::to_owned);
        let timeout = self.inner.timeout;
        let answer = self
            .blocking(TopicOperation::Metadata, move |inner| {
                context::fetch(&inner.metadata, name.as_deref(), timeout)
            })
            .await?;
        match answer {
            Some(Ok(view)) => Ok(view),
            Some(Err(source)) => Err(self.unreachable(Some(Box::new(source)))),
            None => Err(self.unreachable(None)),
        }
    }

    /// Waits until a topic that exists (or was just created) is usable, and returns its
    /// partition count and replication factor.
    async fn await_topic(&self, topic: &str) -> Result<(u32, u16)> {
        let name = topic.to_owned();
        let timeout = self.inner.timeout;
        let answer = self
            .blocking(TopicOperation::AwaitTopic, move |inner| {
                context::await_ready(&inner.metadata, &name, timeout)
            })
            .await?;
        match answer.and_then(|(view, _)| view).map(|view| view.topic) {
            Some(TopicState::Ready {
                partitions,
                replication_factor,
            }) => Ok((partitions, replication_factor)),
            Some(TopicState::Failed(code)) => Err(metadata_error(topic, code)),
            _ => Err(self.timed_out(TopicOperation::AwaitTopic, topic)),
        }
    }

    /// Runs a blocking librdkafka call on a blocking thread. `Ok(None)` when the safety
    /// deadline (operation timeout plus a margin) passes first; the thread then finishes on its
    /// own, bounded by the timeout librdkafka enforces.
    async fn blocking<T, F>(&self, operation: TopicOperation, call: F) -> Result<Option<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> T + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || call(&inner));
        match tokio::time::timeout(self.guard(), task).await {
            Err(_elapsed) => Ok(None),
            Ok(Err(source)) => Err(AdminError::AdminTask { operation, source }),
            Ok(Ok(value)) => Ok(Some(value)),
        }
    }

    /// The safety deadline around a call that librdkafka bounds with the operation timeout.
    fn guard(&self) -> Duration {
        self.inner.timeout.saturating_add(SAFETY_MARGIN)
    }

    /// Options for `CreateTopics` and `DeleteTopics`.
    fn write_options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.inner.timeout))
            .operation_timeout(Some(self.inner.timeout))
    }

    fn unreachable(&self, source: Option<Box<KafkaError>>) -> AdminError {
        AdminError::BrokerUnreachable {
            bootstrap: self.inner.bootstrap.clone(),
            timeout: self.inner.timeout,
            last_error: self.inner.metadata.context().last_error(),
            source,
        }
    }

    fn timed_out(&self, operation: TopicOperation, topic: &str) -> AdminError {
        AdminError::AdminTimeout {
            operation,
            topic: topic.to_owned(),
            timeout: self.inner.timeout,
        }
    }
}

/// The replication factor to create a topic with: the requested one, at most the number of
/// brokers (and at least 1).
pub(crate) fn capped_replication(requested: u16, brokers: usize) -> u16 {
    let brokers = u16::try_from(brokers).unwrap_or(u16::MAX).max(1);
    requested.min(brokers)
}

/// Compares the reported cleanup policy with the spec's; a difference is logged, never an
/// error. Returns the reported policy.
pub(crate) fn check_cleanup(
    spec: &TopicSpec,
    configs: Option<&BTreeMap<String, String>>,
) -> Option<Cleanup> {
    let Some(value) = configs.and_then(|configs| configs.get(CLEANUP_POLICY)) else {
        debug!("the broker did not report the cleanup policy; not checked");
        return None;
    };
    match value.parse::<Cleanup>() {
        Ok(found) if found == spec.cleanup => Some(found),
        Ok(found) => {
            warn!(
                topic = %spec.name,
                wanted = %spec.cleanup,
                found = %found,
                "topic exists with a different cleanup policy; using it as it is"
            );
            Some(found)
        }
        Err(_) => {
            warn!(
                topic = %spec.name,
                wanted = %spec.cleanup,
                found = %value,
                "topic has an unrecognised cleanup policy; using it as it is"
            );
            None
        }
    }
}

/// The single per-topic result of a one-topic admin request.
fn first_result(
    results: Vec<std::result::Result<String, (String, RDKafkaErrorCode)>>,
) -> std::result::Result<(), KafkaError> {
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(()),
        Some(Err((_, code))) => Err(KafkaError::AdminOp(code)),
        None => Err(KafkaError::AdminOpCreation(
            "the broker answered without a result for the topic".to_owned(),
        )),
    }
}

/// Whether an admin error means the request ran out of time.
fn is_timeout(error: &KafkaError) -> bool {
    matches!(
        crate::error::error_code(error),
        Some(RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::RequestTimedOut)
    )
}

fn metadata_error(topic: &str, code: RDKafkaErrorCode) -> AdminError {
    AdminError::TopicMetadata {
        topic: topic.to_owned(),
        source: KafkaError::MetadataFetch(code),
    }
}

const fn outcome_name(outcome: &TopicOutcome) -> &'static str {
    match outcome {
        TopicOutcome::Created { .. } => "created",
        TopicOutcome::Existed { .. } => "existed",
        TopicOutcome::AutoCreated { .. } => "auto-created",
    }
}

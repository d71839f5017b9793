//! Cleaning up after runtimes that died without stopping: their reply topics, registrations, subscriptions and
//! directory entries. Every runtime does it on its heartbeat; [`clean_up_fleet`] does it once, for operators.

use std::sync::Arc;
use std::time::Duration;

use autogen_kafka_admin::CreateMode;
use autogen_kafka_config::Config;
use autogen_kafka_events::Format;
use autogen_kafka_services::{AgentRegistry, EventCodecs, RuntimeDirectory, SubscriptionService};
use autogen_kafka_streaming::{
    EventProducer, InboundRecord, TailHandler, TailReader, TailSpec, TailStart,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::{Result, RuntimeError};

/// The views and clients a clean-up needs.
pub(crate) struct Fleet<'a> {
    pub(crate) config: &'a Config,
    pub(crate) create_mode: CreateMode,
    pub(crate) producer: &'a EventProducer,
    pub(crate) directory: &'a RuntimeDirectory,
    pub(crate) registry: &'a AgentRegistry,
    pub(crate) subscriptions: &'a SubscriptionService,
}

/// A runtime whose directory entry expired longer than the grace ago, and what cleaning up after it did.
#[derive(Debug)]
#[non_exhaustive]
pub struct Departed {
    /// The runtime's instance id.
    pub runtime_id: String,
    /// Its reply topic.
    pub reply_topic: String,
    /// `None` when its reply topic was deleted and its keys tombstoned (or, in a dry run, nothing was done);
    /// otherwise why not (tried again by the next clean-up).
    pub failure: Option<String>,
    /// A reply topic no directory entry names (left by a runtime that predates the runtime directory): only
    /// [`clean_up_fleet`] finds these, and deletes the topic; there is nothing to tombstone.
    pub orphan: bool,
}

impl Fleet<'_> {
    /// Cleans up after every runtime (but `except`) whose directory entry expired more than `grace` ago: deletes
    /// its reply topic, then tombstones its registrations, subscriptions and directory entry. Several runtimes may
    /// do it at once; it is idempotent. A runtime whose reply topic could not be deleted keeps its entries, so the
    /// next clean-up tries again.
    pub(crate) async fn clean_up(
        &self,
        grace: Duration,
        except: Option<&str>,
        dry_run: bool,
    ) -> Vec<Departed> {
        let departed: Vec<_> = self
            .directory
            .departed(grace)
            .into_iter()
            .filter(|(id, _)| Some(id.as_str()) != except)
            .collect();
        let mut report = Vec::with_capacity(departed.len());
        for (runtime_id, entry) in departed {
            let span = tracing::info_span!("runtime.cleanup", departed = %runtime_id);
            let failure = if dry_run {
                None
            } else {
                self.clean_up_one(&runtime_id, &entry.reply_topic)
                    .instrument(span)
                    .await
                    .err()
            };
            report.push(Departed {
                runtime_id,
                reply_topic: entry.reply_topic,
                failure,
                orphan: false,
            });
        }
        report
    }

    async fn clean_up_one(&self, runtime_id: &str, reply_topic: &str) -> Result<(), String> {
        let timeout = crate::worker::step_timeout(self.config);
        if let Err(error) =
            crate::setup::delete_topic(self.config, self.create_mode, reply_topic, timeout).await
        {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                topic = reply_topic,
                "reply topic of a departed runtime not deleted"
            );
            return Err(format!(
                "deleting {reply_topic}: {}",
                autogen_kafka_services::error_chain(&error)
            ));
        }
        let mut tombstones: Vec<_> = self
            .registry
            .types_of(runtime_id)
            .iter()
            .map(|agent_type| self.registry.tombstone(agent_type, runtime_id))
            .collect();
        tombstones.extend(
            self.subscriptions
                .added_by(runtime_id)
                .iter()
                .map(|id| self.subscriptions.tombstone(id)),
        );
        let gone = self.directory.tombstone(runtime_id);
        let sends = tombstones.into_iter().map(|r| self.producer.send(r));
        let written = futures::future::join_all(sends)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>();
        // The directory entry goes last: while it stays, the next clean-up finds the runtime again.
        let written = match written {
            Ok(_) => self.producer.send_ref(&gone).await.map(drop),
            Err(error) => Err(error),
        };
        match written {
            Ok(()) => {
                self.directory.apply_written(&gone);
                tracing::info!(reply_topic, "cleaned up after a departed runtime");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "fleet entries of a departed runtime not tombstoned"
                );
                Err(format!(
                    "tombstoning its entries: {}",
                    autogen_kafka_services::error_chain(&error)
                ))
            }
        }
    }
}

/// Feeds the three tables of a one-off clean-up.
/// The fleet's runtimes, registrations and subscriptions, read once from their topics.
pub(crate) struct Views {
    registry_topic: String,
    subscription_topic: String,
    pub(crate) directory: Arc<RuntimeDirectory>,
    pub(crate) registry: Arc<AgentRegistry>,
    pub(crate) subscriptions: Arc<SubscriptionService>,
}

impl TailHandler for Views {
    fn on_record(&self, record: InboundRecord) {
        if record.topic == self.registry_topic {
            self.registry.apply(&record);
        } else if record.topic == self.subscription_topic {
            self.subscriptions.apply(&record);
        } else {
            self.directory.apply(&record);
        }
    }
}

/// Reads the runtimes, registry and subscription topics from their beginning to their current ends.
pub(crate) async fn read_views(
    config: &Config,
    name: &str,
    timeout: Duration,
) -> Result<Arc<Views>> {
    let format = crate::setup::wire_format(config);
    let mut codecs = EventCodecs::new(format);
    if format != Format::Json {
        codecs = codecs.with_schema_lookup(Arc::new(crate::setup::registry_client(config)?));
    }
    let codecs = Arc::new(codecs);
    let topics = &config.runtime;
    let directory = Arc::new(RuntimeDirectory::new(topics.runtimes_topic.clone()));
    let views = Arc::new(Views {
        registry_topic: topics.registry_topic.clone(),
        subscription_topic: topics.subscription_topic.clone(),
        directory: Arc::clone(&directory),
        registry: Arc::new(
            AgentRegistry::new(topics.registry_topic.clone(), Arc::clone(&codecs))
                .with_directory(directory),
        ),
        subscriptions: Arc::new(SubscriptionService::new(
            topics.subscription_topic.clone(),
            Arc::clone(&codecs),
        )),
    });
    let token = CancellationToken::new();
    let reader = TailReader::start(
        TailSpec::new(
            name,
            vec![
                topics.runtimes_topic.clone(),
                topics.registry_topic.clone(),
                topics.subscription_topic.clone(),
            ],
        )
        .properties(config.kafka.client_properties().into_map())
        .start(TailStart::Beginning)
        .metadata_timeout(timeout),
        Arc::clone(&views) as Arc<dyn TailHandler>,
        &token,
    )
    .await?;
    let caught_up = reader.catch_up(timeout).await;
    reader.shutdown().await;
    caught_up?;
    Ok(views)
}

/// Cleans up after the fleet's runtimes that died without stopping, once, as every runtime does on its heartbeat:
/// reads the runtimes, registry and subscription topics to their ends, then for each runtime whose directory entry
/// expired more than `runtime.cleanup_grace_ms` ago deletes its reply topic and tombstones its entries (with
/// `dry_run`, only reports them). With the Admin API it also deletes reply topics no directory entry names
/// ([`Departed::orphan`]). For operators: `autogen-kafka fleet cleanup`.
///
/// # Errors
///
/// [`RuntimeError::Streaming`] when the topics cannot be read, [`RuntimeError::Config`] for an invalid
/// configuration. What fails for one runtime is in its [`Departed::failure`].
///
/// # Examples
///
/// ```no_run
/// use autogen_kafka_admin::CreateMode;
/// use autogen_kafka_config::Config;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::load()?;
/// for departed in autogen_kafka_runtime::clean_up_fleet(&config, CreateMode::Admin, true).await? {
///     println!("{} left {}", departed.runtime_id, departed.reply_topic);
/// }
/// # Ok(()) }
/// ```
pub async fn clean_up_fleet(
    config: &Config,
    mode: CreateMode,
    dry_run: bool,
) -> Result<Vec<Departed>> {
    config.validate()?;
    let topics = &config.runtime;
    let timeout = crate::worker::step_timeout(config);
    // Listed before the directory is read: a runtime writes its entry before it creates its reply topic, so every
    // topic listed here whose runtime is alive has its entry in the view read next.
    let listed = crate::setup::topic_names(config, mode, timeout).await?;
    let views = read_views(config, "cleanup", timeout).await?;
    let producer = EventProducer::new(
        config.producer_properties().as_map(),
        config.kafka.request_timeout,
    )?;
    let fleet = Fleet {
        config,
        create_mode: mode,
        producer: &producer,
        directory: &views.directory,
        registry: &views.registry,
        subscriptions: &views.subscriptions,
    };
    let mut report = fleet
        .clean_up(config.runtime.cleanup_grace, None, dry_run)
        .await;
    let prefix = format!("{}.", topics.runtime_responses);
    for topic in listed.unwrap_or_default() {
        let Some(runtime_id) = topic.strip_prefix(&prefix) else {
            continue;
        };
        if views.directory.knows(runtime_id) || report.iter().any(|d| d.reply_topic == topic) {
            continue;
        }
        let failure = if dry_run {
            None
        } else {
            crate::setup::delete_topic(config, mode, &topic, timeout)
                .await
                .err()
                .map(|error| {
                    format!(
                        "deleting {topic}: {}",
                        autogen_kafka_services::error_chain(&error)
                    )
                })
        };
        if failure.is_none() && !dry_run {
            tracing::info!(topic, "deleted a reply topic no runtime names");
        }
        report.push(Departed {
            runtime_id: runtime_id.to_owned(),
            reply_topic: topic,
            failure,
            orphan: true,
        });
    }
    if let Err(error) = producer.flush(timeout).await {
        return Err(RuntimeError::Streaming(error));
    }
    Ok(report)
}

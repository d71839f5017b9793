//! Tasks on a compacted topic, so every gateway replica knows every task and a restarted gateway still knows them.
//!
//! Records, keyed so the topic keeps one per key:
//! - `task:<id>`: the task as it is now ([`TaskRecord`]), written by the gateway that runs it when the call starts
//!   and when it ends (the end acknowledged before the client hears of it); a tombstone when a gateway drops the
//!   finished task to stay within `max_tasks`.
//! - `cancel:<id>`: a request ([`CancelRecord`]) to the gateway that runs the task to cancel its call; that gateway
//!   writes its tombstone once it acted on it.
//!
//! Every gateway reads the whole topic from the beginning before it serves, then follows it. Records of its own
//! tasks are skipped (its memory is ahead of them).

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autogen_kafka_admin::{Cleanup, CreateMode, TopicAdmin, TopicSpec};
use autogen_kafka_config::Config;
use autogen_kafka_streaming::{
    EventProducer, InboundRecord, OutboundRecord, PendingDelivery, StreamingError, TailReader,
    TailSpec,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::GatewayError;
use crate::tasks::{Foreign, TaskStore};
use crate::wire::Task;

/// The key prefix of a task record.
const TASK_KEY: &str = "task:";
/// The key prefix of a cancel request.
const CANCEL_KEY: &str = "cancel:";

/// The value of a `task:<id>` record.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskRecord {
    /// The gateway that runs the task.
    pub(crate) gateway: String,
    /// When the task's call times out, in milliseconds since the Unix epoch.
    pub(crate) deadline_ms: u64,
    /// The task.
    pub(crate) task: Task,
}

/// The value of a `cancel:<id>` record.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelRecord {
    /// The gateway that asks.
    pub(crate) by: String,
}

/// Milliseconds since the Unix epoch of `at`.
pub(crate) fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The task topic of one gateway: its writer and its reader.
pub(crate) struct Journal {
    topic: String,
    gateway: String,
    producer: EventProducer,
    reader: Mutex<Option<TailReader>>,
    token: CancellationToken,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("topic", &self.topic)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Creates the topic if it is missing (with `config.service.auto_create_topics`), reads it to its end into
    /// `tasks`, and follows it.
    pub(crate) async fn start(
        config: &Config,
        create_mode: CreateMode,
        tasks: &Arc<TaskStore>,
    ) -> Result<Arc<Self>, GatewayError> {
        let settings = &config.gateway;
        let topic = settings.tasks_topic.clone();
        let timeout = config.runtime.startup_timeout;
        let failed = |what: &'static str| {
            let topic = topic.clone();
            move |source: Box<dyn std::error::Error + Send + Sync>| GatewayError::TaskTopic {
                topic,
                what,
                source,
            }
        };
        if config.service.auto_create_topics {
            let spec = TopicSpec::new(topic.clone())
                .partitions(settings.tasks_partitions.max(1))
                .replication_factor(config.kafka.replication_factor.max(1))
                .cleanup(Cleanup::CompactDelete)
                .config(
                    "retention.ms",
                    settings.task_retention.as_millis().to_string(),
                );
            let admin = TopicAdmin::builder(config.kafka.client_properties().into_map())
                .operation_timeout(timeout)
                .create_mode(create_mode)
                .build()
                .map_err(|e| failed("creating")(Box::new(e)))?;
            admin
                .ensure_topics(&[spec])
                .await
                .map_err(|e| failed("creating")(Box::new(e)))?;
        }
        let producer = EventProducer::new(
            config.producer_properties().as_map(),
            config.kafka.request_timeout,
        )
        .map_err(|e| failed("writing")(Box::new(e)))?;
        let gateway = format!("gateway-{}", uuid::Uuid::new_v4().simple());
        let token = CancellationToken::new();
        let journal = Arc::new(Self {
            topic: topic.clone(),
            gateway,
            producer,
            reader: Mutex::new(None),
            token: token.clone(),
        });
        let mut properties = config.kafka.client_properties().into_map();
        properties.insert(
            "fetch.wait.max.ms".to_owned(),
            config.streaming.fetch_wait_max.as_millis().to_string(),
        );
        let spec = TailSpec::new("a2a-tasks", vec![topic.clone()])
            .properties(properties)
            .metadata_timeout(timeout);
        let reader = Reader {
            tasks: Arc::clone(tasks),
            journal: Arc::downgrade(&journal),
            runtime: tokio::runtime::Handle::current(),
        };
        let reader = TailReader::start(spec, Arc::new(reader), &token)
            .await
            .map_err(|e| failed("reading")(Box::new(e)))?;
        reader
            .catch_up(timeout)
            .await
            .map_err(|e| failed("reading")(Box::new(e)))?;
        *journal
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reader);
        tracing::info!(topic = %topic, gateway = %journal.gateway, "A2A tasks read");
        Ok(journal)
    }

    /// This gateway's id in its records (new at every start).
    pub(crate) fn gateway(&self) -> &str {
        &self.gateway
    }

    /// Queues the record of `task`, whose call times out at `deadline`.
    pub(crate) async fn write_task(
        &self,
        task: &Task,
        deadline: SystemTime,
    ) -> Result<PendingDelivery, GatewayError> {
        let record = TaskRecord {
            gateway: self.gateway.clone(),
            deadline_ms: epoch_ms(deadline),
            task: task.clone(),
        };
        let value = serde_json::to_vec(&record).map_err(|e| self.write_failed(Box::new(e)))?;
        let record = OutboundRecord::new(self.topic.clone(), value)
            .with_key(format!("{TASK_KEY}{}", task.id));
        self.producer
            .enqueue(&record)
            .await
            .map_err(|e| self.write_failed(Box::new(e)))
    }

    /// Asks the gateway that runs task `id` to cancel it; returns once the request is acknowledged.
    pub(crate) async fn request_cancel(&self, id: &str) -> Result<(), GatewayError> {
        let value = serde_json::to_vec(&CancelRecord {
            by: self.gateway.clone(),
        })
        .map_err(|e| self.write_failed(Box::new(e)))?;
        let record =
            OutboundRecord::new(self.topic.clone(), value).with_key(format!("{CANCEL_KEY}{id}"));
        self.producer
            .send(record)
            .await
            .map(|_| ())
            .map_err(|e| self.write_failed(Box::new(e)))
    }

    /// Writes tombstones for `keys` in the background (failures are logged: the records then stay until the
    /// topic's retention removes them).
    fn tombstones(self: &Arc<Self>, runtime: &tokio::runtime::Handle, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        let journal = Arc::clone(self);
        runtime.spawn(async move {
            for key in keys {
                let record = OutboundRecord::tombstone(journal.topic.clone(), key.clone());
                if let Err(error) = journal.producer.send(record).await {
                    tracing::warn!(topic = %journal.topic, key, error = %error, "A2A task tombstone not written");
                }
            }
        });
    }

    /// Writes tombstones for the finished tasks this gateway dropped.
    pub(crate) fn dropped(self: &Arc<Self>, ids: Vec<String>) {
        let keys = ids
            .into_iter()
            .map(|id| format!("{TASK_KEY}{id}"))
            .collect();
        self.tombstones(&tokio::runtime::Handle::current(), keys);
    }

    /// The error of a record to the task topic that was not acknowledged.
    pub(crate) fn failed(&self, source: StreamingError) -> GatewayError {
        self.write_failed(Box::new(source))
    }

    fn write_failed(&self, source: Box<dyn std::error::Error + Send + Sync>) -> GatewayError {
        GatewayError::TaskTopic {
            topic: self.topic.clone(),
            what: "writing",
            source,
        }
    }

    /// Stops reading and waits (up to `timeout`) for the records written to be acknowledged.
    pub(crate) async fn close(&self, timeout: Duration) {
        if let Err(error) = self.producer.flush(timeout).await {
            tracing::warn!(topic = %self.topic, error = %error, "A2A task records not all acknowledged at stop");
        }
        self.token.cancel();
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(reader) = reader {
            reader.shutdown().await;
        }
    }
}

/// Applies the task topic's records to the store.
struct Reader {
    tasks: Arc<TaskStore>,
    journal: Weak<Journal>,
    runtime: tokio::runtime::Handle,
}

impl autogen_kafka_streaming::TailHandler for Reader {
    fn on_record(&self, record: InboundRecord) {
        let Some(journal) = self.journal.upgrade() else {
            return;
        };
        let key = record
            .key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
            .unwrap_or_default();
        let skip = |reason: &str| {
            tracing::warn!(
                topic = %record.topic, partition = record.partition, offset = record.offset, key, reason,
                "A2A task record skipped"
            );
        };
        if let Some(id) = key.strip_prefix(TASK_KEY) {
            let Some(value) = record.value.as_deref() else {
                self.tasks.remove(id);
                return;
            };
            match serde_json::from_slice::<TaskRecord>(value) {
                Ok(written) if written.gateway == journal.gateway => {}
                Ok(written) if written.task.id != id => skip("the key names another task"),
                Ok(written) => {
                    let deadline = UNIX_EPOCH + Duration::from_millis(written.deadline_ms);
                    let dropped = self.tasks.apply(Foreign {
                        task: written.task,
                        gateway: written.gateway,
                        deadline,
                    });
                    let keys = dropped
                        .into_iter()
                        .map(|id| format!("{TASK_KEY}{id}"))
                        .collect();
                    journal.tombstones(&self.runtime, keys);
                }
                Err(error) => skip(&format!("not a task record: {error}")),
            }
        } else if let Some(id) = key.strip_prefix(CANCEL_KEY) {
            if record.value.is_some() && self.tasks.cancel_here(id) {
                journal.tombstones(&self.runtime, vec![key.to_owned()]);
            }
        } else {
            skip("the key is neither task:<id> nor cancel:<id>");
        }
    }
}

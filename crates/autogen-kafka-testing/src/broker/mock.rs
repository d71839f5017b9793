//! The in-process librdkafka mock cluster, owned by a dedicated thread.
//!
//! `rdkafka::mocking::MockCluster` is `!Send` (it wraps raw librdkafka pointers), so it cannot
//! live inside an async test. One plain thread creates it, owns it, and serves control commands
//! sent through a bounded channel; each command answers through a oneshot channel. The cluster
//! is destroyed on that thread when [`MockClusterHandle::shutdown`] is called, or
//! [`STOP_GRACE`] after the last [`MockClusterHandle`] is dropped.

use std::fmt;
use std::time::Duration;

use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tokio::sync::{mpsc, oneshot};

use super::STOP_GRACE;
use crate::error::{Result, TestingError};

/// The concrete mock cluster type created by `MockCluster::new`.
type Cluster = MockCluster<'static, DefaultProducerContext>;

/// A control command run on the thread that owns the cluster.
type Action = Box<dyn FnOnce(&Cluster) -> KafkaResult<()> + Send>;

/// Capacity of the command channel: commands are rare and each caller waits for its answer.
const COMMAND_CAPACITY: usize = 16;

/// What the owner thread is asked to do.
enum Request {
    /// Run an action against the cluster and send back its result.
    Run {
        action: Action,
        reply: oneshot::Sender<KafkaResult<()>>,
    },
    /// Destroy the cluster, then confirm.
    Shutdown { done: oneshot::Sender<()> },
}

/// A cloneable handle to the in-process librdkafka mock cluster: topic creation and fault
/// injection.
///
/// Obtained from [`TestBroker::mock_cluster`](crate::TestBroker::mock_cluster). The cluster
/// lives on its own thread until [`shutdown`](Self::shutdown) is called, or until two seconds
/// after every handle (including the one inside the [`TestBroker`](crate::TestBroker)) is
/// dropped. Broker ids start at 1; the fault-injection methods accept `-1` to mean "every
/// broker".
///
/// The mock cluster does not implement the admin API (`CreateTopics` times out): create topics
/// with [`create_topic`](Self::create_topic). Topics that a client touches first are
/// auto-created with 4 partitions. Its consumer groups wait 3 s before the first assignment
/// (a fixed initial rebalance delay in librdkafka).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use autogen_kafka_testing::TestBroker;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> autogen_kafka_testing::Result<()> {
/// let broker = TestBroker::mock().await?;
/// let cluster = broker.mock_cluster().expect("a mock broker has a mock cluster");
/// cluster.create_topic("orders", 3).await?;
/// cluster.broker_down(-1).await?; // every broker refuses connections now
/// cluster.broker_up(-1).await?;
/// cluster.broker_round_trip_time(-1, Duration::from_millis(50)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MockClusterHandle {
    requests: mpsc::Sender<Request>,
    bootstrap_servers: String,
    broker_count: i32,
}

impl fmt::Debug for MockClusterHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockClusterHandle")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("broker_count", &self.broker_count)
            .field("running", &!self.requests.is_closed())
            .finish()
    }
}

impl MockClusterHandle {
    /// Starts a mock cluster with `broker_count` brokers on its own thread.
    pub(crate) async fn start(broker_count: i32) -> Result<Self> {
        let (requests, receiver) = mpsc::channel(COMMAND_CAPACITY);
        let (started, started_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("kafka-mock-cluster".to_owned())
            .spawn(move || serve(broker_count, started, receiver))
            .map_err(|source| TestingError::SpawnMockThread { source })?;
        let bootstrap_servers = started_rx
            .await
            .map_err(|_| TestingError::MockClusterGone { operation: "start" })?
            .map_err(|source| TestingError::StartMockCluster { source })?;
        tracing::debug!(%bootstrap_servers, broker_count, "mock cluster started");
        Ok(Self {
            requests,
            bootstrap_servers,
            broker_count,
        })
    }

    /// The cluster's `bootstrap.servers` list (`127.0.0.1:<port>`, one per broker).
    #[must_use]
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// How many brokers the cluster has (their ids are `1..=broker_count`).
    #[must_use]
    pub fn broker_count(&self) -> i32 {
        self.broker_count
    }

    /// Creates `topic` with `partitions` partitions (replication factor 1). A topic that
    /// already exists is left as it is and is not an error.
    ///
    /// # Errors
    ///
    /// [`TestingError::CreateTopic`] if the topic is rejected (for example a partition count
    /// below 1), [`TestingError::MockClusterGone`] after shutdown.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        let name = topic.to_owned();
        let result = self
            .run("create_topic", move |cluster| {
                if partitions < 1 {
                    // A real broker says so; the mock would create a topic without partitions.
                    return Err(KafkaError::MockCluster(RDKafkaErrorCode::InvalidPartitions));
                }
                match cluster.create_topic(&name, partitions, 1) {
                    Err(KafkaError::MockCluster(RDKafkaErrorCode::TopicAlreadyExists)) => Ok(()),
                    other => other,
                }
            })
            .await;
        match result {
            Err(TestingError::MockClusterCommand { source, .. }) => {
                Err(TestingError::CreateTopic {
                    topic: topic.to_owned(),
                    partitions,
                    source,
                })
            }
            other => other,
        }
    }

    /// Disconnects broker `broker_id` (or every broker for `-1`) and refuses new connections
    /// until [`broker_up`](Self::broker_up). Partition leadership does not move.
    ///
    /// # Errors
    ///
    /// [`TestingError::MockClusterCommand`] for an unknown broker id,
    /// [`TestingError::MockClusterGone`] after shutdown.
    pub async fn broker_down(&self, broker_id: i32) -> Result<()> {
        self.run("broker_down", move |cluster| cluster.broker_down(broker_id))
            .await
    }

    /// Makes broker `broker_id` (or every broker for `-1`) accept connections again.
    ///
    /// # Errors
    ///
    /// [`TestingError::MockClusterCommand`] for an unknown broker id,
    /// [`TestingError::MockClusterGone`] after shutdown.
    pub async fn broker_up(&self, broker_id: i32) -> Result<()> {
        self.run("broker_up", move |cluster| cluster.broker_up(broker_id))
            .await
    }

    /// Delays every response of broker `broker_id` (or every broker for `-1`) by `delay`.
    ///
    /// # Errors
    ///
    /// [`TestingError::MockClusterCommand`] for an unknown broker id,
    /// [`TestingError::MockClusterGone`] after shutdown.
    pub async fn broker_round_trip_time(&self, broker_id: i32, delay: Duration) -> Result<()> {
        self.run("broker_round_trip_time", move |cluster| {
            cluster.broker_round_trip_time(broker_id, delay)
        })
        .await
    }

    /// Makes the next requests of kind `api_key` fail, one per entry of `errors`, in order.
    /// `RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT` disconnects the client instead.
    ///
    /// # Errors
    ///
    /// [`TestingError::MockClusterGone`] after shutdown.
    pub async fn request_errors(
        &self,
        api_key: RDKafkaApiKey,
        errors: &[RDKafkaRespErr],
    ) -> Result<()> {
        let errors = errors.to_vec();
        self.run("request_errors", move |cluster| {
            cluster.request_errors(api_key, &errors);
            Ok(())
        })
        .await
    }

    /// Drops the errors still queued by [`request_errors`](Self::request_errors) for `api_key`.
    ///
    /// # Errors
    ///
    /// [`TestingError::MockClusterGone`] after shutdown.
    pub async fn clear_request_errors(&self, api_key: RDKafkaApiKey) -> Result<()> {
        self.run("clear_request_errors", move |cluster| {
            cluster.clear_request_errors(api_key);
            Ok(())
        })
        .await
    }

    /// Makes metadata requests for `topic` report `error` (use `RD_KAFKA_RESP_ERR_NO_ERROR` to
    /// clear it).
    ///
    /// # Errors
    ///
    /// [`TestingError::MockClusterGone`] after shutdown.
    pub async fn topic_error(&self, topic: &str, error: RDKafkaRespErr) -> Result<()> {
        let name = topic.to_owned();
        self.run("topic_error", move |cluster| {
            cluster.topic_error(&name, error)
        })
        .await
    }

    /// Moves the leader of `topic`/`partition` to `broker_id`, or leaves the partition without
    /// a leader for `None`. Creates the topic if it does not exist.
    ///
    /// # Errors
    ///
    /// [`TestingError::MockClusterCommand`] for an unknown partition or broker,
    /// [`TestingError::MockClusterGone`] after shutdown.
    pub async fn partition_leader(
        &self,
        topic: &str,
        partition: i32,
        broker_id: Option<i32>,
    ) -> Result<()> {
        let name = topic.to_owned();
        self.run("partition_leader", move |cluster| {
            cluster.partition_leader(&name, partition, broker_id)
        })
        .await
    }

    /// Makes broker `broker_id` the coordinator of consumer group `group_id`.
    ///
    /// # Errors
    ///
    /// [`TestingError::MockClusterCommand`] if librdkafka rejects it,
    /// [`TestingError::MockClusterGone`] after shutdown.
    pub async fn group_coordinator(&self, group_id: &str, broker_id: i32) -> Result<()> {
        let group = MockCoordinator::Group(group_id.to_owned());
        self.run("group_coordinator", move |cluster| {
            cluster.coordinator(group, broker_id)
        })
        .await
    }

    /// Destroys the cluster now, even if other handles still exist, and waits until it is gone.
    ///
    /// Close the clients that use the cluster first: once it is gone they report
    /// "all brokers down". Calling it twice is harmless.
    pub async fn shutdown(&self) {
        let (done, done_rx) = oneshot::channel();
        if self.requests.send(Request::Shutdown { done }).await.is_ok() {
            // An error means the owner thread ended anyway, which is all we wait for.
            let _ = done_rx.await;
        }
    }

    /// Runs `action` on the owner thread and waits for its result.
    async fn run<F>(&self, operation: &'static str, action: F) -> Result<()>
    where
        F: FnOnce(&Cluster) -> KafkaResult<()> + Send + 'static,
    {
        let (reply, reply_rx) = oneshot::channel();
        let request = Request::Run {
            action: Box::new(action),
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| TestingError::MockClusterGone { operation })?;
        reply_rx
            .await
            .map_err(|_| TestingError::MockClusterGone { operation })?
            .map_err(|source| TestingError::MockClusterCommand { operation, source })
    }
}

/// Body of the owner thread: create the cluster, report its address, serve commands until
/// shutdown or until every handle is gone, then destroy the cluster.
fn serve(
    broker_count: i32,
    started: oneshot::Sender<KafkaResult<String>>,
    mut requests: mpsc::Receiver<Request>,
) {
    let cluster = match MockCluster::new(broker_count) {
        Ok(cluster) => cluster,
        Err(error) => {
            // If nobody waits for the answer there is nobody to tell.
            let _ = started.send(Err(error));
            return;
        }
    };
    if started.send(Ok(cluster.bootstrap_servers())).is_err() {
        return;
    }
    let mut done = None;
    while let Some(request) = requests.blocking_recv() {
        match request {
            Request::Run { action, reply } => {
                // The caller may have given up waiting; the action ran regardless.
                let _ = reply.send(action(&cluster));
            }
            Request::Shutdown { done: confirm } => {
                done = Some(confirm);
                break;
            }
        }
    }
    if done.is_none() {
        // Every handle was dropped: let clients dropped right after the broker still close.
        std::thread::sleep(STOP_GRACE);
    }
    drop(cluster);
    tracing::debug!("mock cluster destroyed");
    if let Some(confirm) = done {
        let _ = confirm.send(());
    }
}

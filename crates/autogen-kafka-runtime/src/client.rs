//! `MessagingClient`: requests and publications from code that is not an agent.

use autogen_kafka_config::Config;
use autogen_kafka_core::{
    AgentId, AgentRuntime, AgentRuntimeExt, CoreError, Message, PublishOptions, Reply, SendOptions,
    TopicId,
};

use crate::error::Result;
use crate::worker::KafkaWorkerAgentRuntime;

/// A client of an agent fleet: it sends requests and publishes messages but hosts no agents.
///
/// It is a [`KafkaWorkerAgentRuntime`] without agent types, so it has the same guarantees: a request to a type no
/// live runtime hosts fails at once, every request has a deadline and can be cancelled, responses come back on
/// the client's own reply topic.
///
/// # Examples
///
/// ```no_run
/// use autogen_kafka_config::Config;
/// use autogen_kafka_core::{AgentId, TopicId};
/// use autogen_kafka_runtime::MessagingClient;
/// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)] struct Ping { content: String }
/// # impl autogen_kafka_core::Message for Ping { const TYPE_NAME: &'static str = "Ping"; }
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::builder().bootstrap_servers(["127.0.0.1:9092"]).group_id("fleet").build()?;
/// let client = MessagingClient::start(config).await?;
/// let reply: Ping = client.send(Ping { content: "hi".into() }, &AgentId::new("echo", "default")?).await?;
/// client.publish(Ping { content: "news".into() }, &TopicId::new("news", "world")?).await?;
/// client.stop().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MessagingClient {
    runtime: KafkaWorkerAgentRuntime,
}

impl MessagingClient {
    /// Builds and starts a client with `config` (random instance id, topics created through the Admin API).
    ///
    /// # Errors
    ///
    /// As [`KafkaWorkerAgentRuntime::start`].
    pub async fn start(config: Config) -> Result<Self> {
        Self::from_runtime(KafkaWorkerAgentRuntime::builder(config).build()?).await
    }

    /// Starts a client on a runtime built with custom settings (instance id, topic creation mode). The runtime
    /// must host no agents.
    ///
    /// # Errors
    ///
    /// As [`KafkaWorkerAgentRuntime::start`].
    pub async fn from_runtime(runtime: KafkaWorkerAgentRuntime) -> Result<Self> {
        runtime.start().await?;
        Ok(Self { runtime })
    }

    /// Sends `message` to `recipient` and waits for the typed answer under the configured deadline.
    ///
    /// # Errors
    ///
    /// `Undeliverable`, `Timeout`, `Cancelled`, the remote handler's error, or a decoding error of the answer.
    pub async fn send<M: Message, R: Reply>(
        &self,
        message: M,
        recipient: &AgentId,
    ) -> Result<R, CoreError> {
        self.runtime.send(message, recipient).await
    }

    /// [`send`](Self::send) with explicit options (deadline, cancellation token, message id).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_with<M: Message, R: Reply>(
        &self,
        message: M,
        recipient: &AgentId,
        options: SendOptions,
    ) -> Result<R, CoreError> {
        self.runtime.send_with(message, recipient, options).await
    }

    /// Publishes `message` to `topic`; returns once every delivery was acknowledged by the broker.
    ///
    /// # Errors
    ///
    /// `RuntimeStopped`, or a serialization or produce error.
    pub async fn publish<M: Message>(&self, message: M, topic: &TopicId) -> Result<(), CoreError> {
        self.runtime
            .publish_message(
                autogen_kafka_core::AnyMessage::new(message),
                topic.clone(),
                PublishOptions::new(),
            )
            .await
    }

    /// Whether some live runtime of the fleet hosts `agent_type`.
    #[must_use]
    pub fn is_hosted(&self, agent_type: &str) -> bool {
        self.runtime.is_hosted(agent_type)
    }

    /// The runtime underneath (metrics, health, readiness).
    #[must_use]
    pub fn runtime(&self) -> &KafkaWorkerAgentRuntime {
        &self.runtime
    }

    /// Stops the client gracefully (pending requests get up to half the shutdown timeout).
    ///
    /// # Errors
    ///
    /// As [`KafkaWorkerAgentRuntime::stop`].
    pub async fn stop(&self) -> Result<()> {
        self.runtime.stop().await
    }
}

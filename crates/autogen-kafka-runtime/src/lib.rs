//! # autogen-kafka-runtime
//!
//! The distributed runtime: `KafkaWorkerAgentRuntime` implements the core `AgentRuntime`
//! trait over Kafka so agents in many processes talk as if they were local, the
//! `MessagingClient` sends requests and publications from code that is not an agent, and
//! the streaming bridge agent connects agents to external Kafka services.
//!
//! Built by the Kafka runtime issue; this crate grows as it lands.

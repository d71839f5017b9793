//! # autogen-kafka-streaming
//!
//! The pipe of autogen-kafka: it moves records between Kafka and the services with ordering, bounded work and safe
//! offsets, and knows nothing of agents.
//!
//! - [`EventProducer`]: one shared idempotent producer per runtime; every send waits for the acknowledgement under
//!   a deadline.
//! - [`GroupConsumer`]: a consumer-group worker. Records with the same key are handled in order, different keys
//!   concurrently (bounded by `lanes`); a record that fails goes to the dead-letter topic with the reason; only
//!   contiguous handled offsets are committed ([`PartitionOffsets`]), after the handler finished: at-least-once.
//!   On revoke, in-flight records finish, [`RecordHandler::on_revoked`] runs, then offsets are committed.
//! - [`TailReader`]: reads every partition of some topics without a consumer group (compacted "table" topics such
//!   as the registry, and reply topics); [`TailReader::catch_up`] waits until every record acknowledged before the
//!   call was delivered (read your writes).
//! - [`Backoff`]: exponential backoff with jitter for reconnects and restarts.
//!
//! # Examples
//!
//! ```
//! use autogen_kafka_streaming::{OutboundRecord, PartitionOffsets};
//!
//! let record = OutboundRecord::new("agent_publishes", b"{}".to_vec()).with_key("news/world");
//! assert_eq!(record.topic, "agent_publishes");
//!
//! let mut offsets = PartitionOffsets::default();
//! offsets.started(0);
//! offsets.finished(0);
//! assert_eq!(offsets.take_committable(), Some(1));
//! ```

mod backoff;
pub mod client_log;
mod consumer;
mod error;
mod lag;
mod offsets;
mod producer;
mod record;
mod tail;

pub use backoff::Backoff;
pub use consumer::{
    Acknowledgement, ConsumerSpec, ConsumerStats, GroupConsumer, HandleFailure, InFlightBudget,
    RecordHandler, TopicPartition, dead_letter_headers,
};
pub use error::{Result, StreamingError};
pub use lag::{PartitionLag, group_lag};
pub use offsets::PartitionOffsets;
pub use producer::{Delivered, EventProducer, PendingDelivery, ProduceCounts};
pub use record::{InboundRecord, OutboundRecord};
pub use tail::{TailHandler, TailReader, TailSpec, TailStart};

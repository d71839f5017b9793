//! # autogen-kafka-memory
//!
//! Agent memory for autogen-kafka (autogen-core's `Memory` protocol): an in-process list, and a
//! session's memory shared by every instance through a Kafka topic, wire-compatible with the
//! Python `autogen-kafka` `KafkaMemory`.
//!
//! * [`Memory`]: the object-safe seam (`add`, `query`, `clear`, `close`, and
//!   [`context_text`](Memory::context_text) in place of autogen-core's `update_context`).
//! * [`MemoryContent`]: one entry: [`Content`] (text, JSON value or bytes), a
//!   [`MemoryMimeType`] and [`Metadata`]; [`MemoryContent::to_event`] /
//!   [`MemoryContent::from_event`] are its `MemoryEvent` form on the wire.
//! * [`ListMemory`]: a chronological list in this process.
//! * [`KafkaMemory`]: the list of a session (`<memory_topic>_<session_id>`, one partition by
//!   default), rebuilt by every instance from the topic, in the topic's order. Additions and
//!   clears are records on the topic; a new instance replays the history before it starts.
//!
//! # Example
//!
//! ```
//! use autogen_kafka_memory::{Content, ListMemory, Memory, MemoryContent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> autogen_kafka_memory::Result<()> {
//! let memory = ListMemory::new();
//! memory
//!     .add(MemoryContent::text("the user prefers metric units").with_metadata_entry("source", "chat"))
//!     .await?;
//! memory.add(MemoryContent::binary(vec![0_u8, 1, 2])).await?;
//!
//! let entries = memory.query("").await?;
//! assert_eq!(entries[1].content, Content::Bytes(vec![0, 1, 2]));
//!
//! // What a Kafka memory would write for the first entry (the Python original's encoding).
//! let event = entries[0].to_event("instance-1")?;
//! assert_eq!(event.metadata.as_deref(), Some(r#"{"source": "chat"}"#));
//! # Ok(()) }
//! ```
//!
//! A [`KafkaMemory`] is started from the configuration and a session id; see its docs.
#![doc(test(attr(deny(warnings))))]

mod content;
mod error;
#[cfg(test)]
mod golden;
mod kafka;
mod list;
mod memory;

pub use autogen_kafka_events::{MemoryMimeType, Metadata};
pub use content::{Content, MemoryContent};
pub use error::{MemoryError, Result};
pub use kafka::{KafkaMemory, KafkaMemoryBuilder};
pub use list::ListMemory;
pub use memory::{Memory, format_context};

//! # autogen-kafka-memory
//!
//! Kafka-backed agent memory: a memory store whose additions are published as
//! `MemoryEvent`s on a per-session topic and replayed by every instance that joins the
//! session, so agents in many processes share one memory.
//!
//! Built after the Kafka runtime; this crate grows as it lands.

//! Topic administration: create the runtime's topics at startup, or verify the ones that exist.
//!
//! [`TopicAdmin::ensure_topics`] takes one [`TopicSpec`] per topic (partitions, replication
//! factor, [`Cleanup`] policy, configs) and returns a [`TopicOutcome`] for each. It runs before
//! any consumer starts. [`CreateMode`] chooses between the admin API (real brokers, Tansu) and
//! broker auto-creation through metadata requests (librdkafka's mock cluster).

mod admin;
mod context;
mod spec;
mod types;

#[cfg(test)]
mod tests;

pub use admin::{TopicAdmin, TopicAdminBuilder};
pub use spec::{Cleanup, TopicSpec};
pub use types::{CreateMode, TopicDescription, TopicOperation, TopicOutcome};

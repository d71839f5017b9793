//! How far a consumer group is behind on a topic: its committed offsets against the high watermarks.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::error::{Result, StreamingError};
use crate::tail::reader::TailContext;

/// One partition's position of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionLag {
    /// The partition.
    pub partition: i32,
    /// The group's committed offset (the next record it reads); `None` when it committed none.
    pub committed: Option<i64>,
    /// The first offset still in the log.
    pub low: i64,
    /// The offset the next record written gets.
    pub high: i64,
    /// Records not yet handled: `high - committed`, or `high - low` when nothing is committed.
    pub lag: i64,
}

/// The committed position and lag of `group` on every partition of `topic`, read with a client built from
/// `properties` (bootstrap servers, security) that never joins the group.
///
/// Blocking: call it from `spawn_blocking` in async code. `timeout` bounds each broker request.
///
/// # Errors
///
/// [`StreamingError::CreateClient`] when the client cannot be created, [`StreamingError::Metadata`] when the
/// topic's metadata, the watermarks or the committed offsets cannot be read in time.
pub fn group_lag(
    properties: &BTreeMap<String, String>,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<PartitionLag>> {
    let mut config = ClientConfig::new();
    for (key, value) in properties {
        config.set(key, value);
    }
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    let client: BaseConsumer<TailContext> =
        config
            .create_with_context(TailContext)
            .map_err(|source| StreamingError::CreateClient {
                role: format!("lag reader of {group}"),
                source,
            })?;
    let metadata_error = |source| StreamingError::Metadata {
        topic: topic.to_owned(),
        source,
    };
    let metadata = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(metadata_error)?;
    let mut partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| {
            t.partitions()
                .iter()
                .map(rdkafka::metadata::MetadataPartition::id)
        })
        .collect();
    partitions.sort_unstable();
    let mut wanted = TopicPartitionList::new();
    for partition in &partitions {
        wanted.add_partition(topic, *partition);
    }
    let committed = client
        .committed_offsets(wanted, timeout)
        .map_err(metadata_error)?;
    let mut lags = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let (low, high) = client
            .fetch_watermarks(topic, partition, timeout)
            .map_err(metadata_error)?;
        let committed =
            committed
                .find_partition(topic, partition)
                .and_then(|element| match element.offset() {
                    Offset::Offset(offset) => Some(offset),
                    _ => None,
                });
        let lag = high - committed.unwrap_or(low).clamp(low, high);
        lags.push(PartitionLag {
            partition,
            committed,
            low,
            high,
            lag,
        });
    }
    Ok(lags)
}

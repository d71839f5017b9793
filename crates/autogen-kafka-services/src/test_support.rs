//! Helpers shared by the unit tests of this crate.

use autogen_kafka_streaming::{InboundRecord, OutboundRecord};

/// The record a reader would get back for `out` (partition 0, offset 0): how the views' tests feed their own
/// records to `apply`.
pub(crate) fn read_back(out: OutboundRecord) -> InboundRecord {
    InboundRecord {
        topic: out.topic,
        partition: 0,
        offset: 0,
        key: out.key,
        value: out.value,
        headers: out.headers,
        timestamp_ms: None,
    }
}

//! The local view of a session's memory, fed by the topic reader in log order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use autogen_kafka_events::MemoryEvent;
use autogen_kafka_services::EventCodecs;
use autogen_kafka_streaming::{InboundRecord, TailHandler};

use crate::content::MemoryContent;
use crate::list::ListMemory;

/// Every record of the session's topic, applied in offset order on the reader's thread: an event
/// appends its content, a tombstone clears. Records this instance wrote are applied here too (and
/// only here), so every instance holds the same entries in the same order: the topic's.
pub(crate) struct SessionView {
    topic: String,
    codecs: Arc<EventCodecs>,
    entries: ListMemory,
    /// The offset after the last record seen, per partition (to notice a re-created topic).
    next_offsets: Mutex<HashMap<i32, i64>>,
    applied: AtomicU64,
    skipped: AtomicU64,
    clears: AtomicU64,
    /// The key of the session's entries (its id).
    session_key: String,
    /// The partition the last entry keyed with the session id was in (-1: none seen yet).
    session_partition: AtomicI32,
}

impl SessionView {
    pub(crate) fn new(topic: String, codecs: Arc<EventCodecs>, session_key: String) -> Self {
        Self {
            session_key,
            session_partition: AtomicI32::new(-1),
            entries: ListMemory::with_name(topic.clone()),
            topic,
            codecs,
            next_offsets: Mutex::new(HashMap::new()),
            applied: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            clears: AtomicU64::new(0),
        }
    }

    /// The partition the session's entries go to (every writer keys them with the session id), as
    /// last seen; `None` before any was read.
    pub(crate) fn session_partition(&self) -> Option<i32> {
        let partition = self.session_partition.load(Ordering::Relaxed);
        (partition >= 0).then_some(partition)
    }

    pub(crate) fn contents(&self) -> Vec<MemoryContent> {
        self.entries.contents()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    pub(crate) fn clears(&self) -> u64 {
        self.clears.load(Ordering::Relaxed)
    }

    /// Applies one record of the topic. Never fails: a record that does not decode is logged and
    /// skipped, and the next one is read.
    pub(crate) fn apply(&self, record: &InboundRecord) {
        self.notice_recreated_topic(record);
        let Some(value) = record.value.as_deref() else {
            // A tombstone: whoever wrote it (a Rust instance's `clear`), the session's memory is cleared.
            self.clear(record, "clear marker");
            return;
        };
        if record.key_str() == Some(self.session_key.as_str()) {
            self.session_partition
                .store(record.partition, Ordering::Relaxed);
        }
        let event = match self
            .codecs
            .decode_blocking::<MemoryEvent>(&self.topic, value)
        {
            Ok(event) => event,
            Err(error) => return self.skip(record, &error),
        };
        match MemoryContent::from_event(&event) {
            Ok(content) => {
                tracing::debug!(
                    topic = %record.topic, partition = record.partition, offset = record.offset,
                    sender = %event.sender, mime_type = %content.mime_type, "memory entry applied"
                );
                self.entries.push(content);
                self.applied.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self.skip(record, &error),
        }
    }

    fn skip(&self, record: &InboundRecord, error: &(dyn std::error::Error + 'static)) {
        tracing::warn!(
            topic = %record.topic, partition = record.partition, offset = record.offset,
            error, "memory record skipped: it does not decode"
        );
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// A record below the offset already reached means the topic was deleted and created again (the
    /// Python original's `clear`): what was read before is gone, so the view starts over.
    fn notice_recreated_topic(&self, record: &InboundRecord) {
        let went_back = {
            let mut next_offsets = self
                .next_offsets
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let next = next_offsets.insert(record.partition, record.offset.saturating_add(1));
            next.is_some_and(|next| record.offset < next)
        };
        if went_back {
            self.clear(record, "topic re-created");
        }
    }

    fn clear(&self, record: &InboundRecord, why: &'static str) {
        tracing::info!(
            topic = %record.topic, partition = record.partition, offset = record.offset,
            dropped = self.entries.len(), why, "memory cleared"
        );
        self.entries.clear_now();
        self.clears.fetch_add(1, Ordering::Relaxed);
    }
}

impl TailHandler for SessionView {
    fn on_record(&self, record: InboundRecord) {
        self.apply(&record);
    }
}

#[cfg(test)]
mod tests {
    use autogen_kafka_events::{EventCodec, Format, JsonSchemaCodec, SchemaId, SchemaIds};
    use serde_json::json;

    use super::*;
    use crate::content::Content;

    fn record(offset: i64, value: Option<Vec<u8>>) -> InboundRecord {
        InboundRecord {
            topic: "memory_s".into(),
            partition: 0,
            offset,
            key: Some(b"s".to_vec()),
            value,
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    fn framed(content: &MemoryContent, sender: &str) -> Vec<u8> {
        let codec = JsonSchemaCodec::new(SchemaIds::new(SchemaId(9)));
        codec.encode(&content.to_event(sender).unwrap()).unwrap()
    }

    fn view() -> SessionView {
        SessionView::new(
            "memory_s".into(),
            Arc::new(EventCodecs::new(Format::Json)),
            "s".into(),
        )
    }

    #[test]
    fn applies_every_sender_in_log_order_and_skips_garbage() {
        let view = view();
        let plain =
            serde_json::to_vec(&MemoryContent::text("plain json").to_event("b").unwrap()).unwrap();
        let records = [
            record(0, Some(framed(&MemoryContent::text("one"), "a"))),
            record(1, Some(b"garbage".to_vec())),
            record(2, Some(plain)),
            record(
                3,
                Some(br#"{"sender":"x","mime_type":"application/json","content":"{"}"#.to_vec()),
            ),
            record(4, Some(framed(&MemoryContent::json(json!([1])), "me"))),
            record(
                5,
                Some(
                    br#"{"sender":"x","mime_type":"video/mp4","content":"v","metadata":null}"#
                        .to_vec(),
                ),
            ),
        ];
        for record in &records {
            view.on_record(record.clone());
        }
        let contents = view.contents();
        let shown: Vec<String> = contents.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["one", "plain json", "[1]", "v"]);
        assert_eq!(contents[2].content, Content::Json(json!([1])));
        assert_eq!((view.applied(), view.skipped(), view.clears()), (4, 2, 0));
    }

    #[test]
    fn tombstones_and_recreated_topics_clear() {
        let view = view();
        view.apply(&record(0, Some(framed(&MemoryContent::text("a"), "x"))));
        view.apply(&record(1, None));
        assert!(view.contents().is_empty());
        view.apply(&record(2, Some(framed(&MemoryContent::text("b"), "x"))));
        view.apply(&record(3, Some(framed(&MemoryContent::text("c"), "x"))));
        assert_eq!(view.len(), 2);
        // Offset 0 again: the topic was deleted and created anew.
        view.apply(&record(0, Some(framed(&MemoryContent::text("fresh"), "y"))));
        assert_eq!(view.contents(), [MemoryContent::text("fresh")]);
        assert_eq!(view.clears(), 2);
    }
}

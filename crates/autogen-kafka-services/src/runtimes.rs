//! The runtime directory: which Rust runtimes of the fleet are alive, and what each left behind.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use autogen_kafka_streaming::{InboundRecord, OutboundRecord};
use serde::{Deserialize, Serialize};

use crate::error::{Result, ServicesError};
use crate::headers;

/// One runtime's entry, the value of its record (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeEntry {
    /// The runtime's own reply topic.
    pub reply_topic: String,
    /// When the entry expires unless renewed, milliseconds since the Unix epoch.
    pub expires_ms: i64,
    /// The agent types the runtime hosts: its registrations of them live as long as this entry
    /// ([`crate::AgentRegistry::with_directory`]), so a heartbeat is one record whatever the types. Absent in
    /// entries of runtimes that host none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_types: Vec<String>,
}

/// The fleet's Rust runtimes, fed by the runtimes topic (compacted, keyed by instance id).
///
/// Every Rust runtime, with or without agents, writes its entry before it creates its reply topic and again every
/// heartbeat, and a tombstone when it stops gracefully. A runtime is alive while its entry is unexpired. An entry
/// expired for longer than a grace marks a runtime that died: the survivors delete its reply topic and tombstone
/// what it left ([`RuntimeDirectory::departed`]). Python runtimes never appear here.
///
/// Expiry is judged on the view's clock: while the reader of the topic reads nothing (every live runtime,
/// this one included, heartbeats, so a silent topic means a stalled reader), the clock stops
/// [`stale_after`](RuntimeDirectory::stale_after) past the last record read. A runtime whose reader stalls
/// behind a broker fault keeps its last view instead of taking every other runtime for dead (and dropping their
/// subscriptions, or removing their reply topics).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_services::RuntimeDirectory;
///
/// let directory = RuntimeDirectory::new("agent_runtimes");
/// let record = directory.heartbeat_record("rt-1", "runtime_responses.rt-1", Duration::from_secs(30))?;
/// directory.apply_written(&record);
/// assert!(directory.is_live("rt-1"));
/// assert!(directory.departed(Duration::ZERO).is_empty());
/// # Ok::<(), autogen_kafka_services::ServicesError>(())
/// ```
#[derive(Debug)]
pub struct RuntimeDirectory {
    topic: String,
    entries: Mutex<HashMap<String, RuntimeEntry>>,
    /// How long the view stays current without reading a record; `None`: always the wall clock.
    stale_after: Option<Duration>,
    /// When the reader last delivered a record, ms since the epoch (0: never).
    last_read: AtomicI64,
}

impl RuntimeDirectory {
    /// An empty view of `topic`.
    #[must_use]
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            entries: Mutex::new(HashMap::new()),
            stale_after: None,
            last_read: AtomicI64::new(0),
        }
    }

    /// Stops the view's clock `after` the last record read (see the type's documentation); the runtime uses
    /// twice its heartbeat interval.
    #[must_use]
    pub fn stale_after(mut self, after: Duration) -> Self {
        self.stale_after = Some(after);
        self
    }

    /// The view's clock, ms since the epoch: the wall clock, or while the reader has read nothing for longer
    /// than `stale_after`, the time of the last record read plus `stale_after`.
    fn view_now(&self) -> i64 {
        let now = headers::now_ms();
        let last_read = self.last_read.load(Ordering::Relaxed);
        match self.stale_after {
            Some(after) if last_read > 0 => {
                let current_until =
                    last_read.saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
                now.min(current_until)
            }
            _ => now,
        }
    }

    /// The record announcing that `runtime_id`, reading replies on `reply_topic`, lives for the next `ttl`.
    ///
    /// # Errors
    ///
    /// [`ServicesError::Directory`] when the entry cannot be encoded.
    pub fn heartbeat_record(
        &self,
        runtime_id: &str,
        reply_topic: &str,
        ttl: Duration,
    ) -> Result<OutboundRecord> {
        self.announcement_record(runtime_id, reply_topic, &[], ttl)
    }

    /// [`heartbeat_record`](Self::heartbeat_record) of a runtime hosting `agent_types`: it keeps their
    /// registrations alive for the next `ttl` too.
    ///
    /// # Errors
    ///
    /// [`ServicesError::Directory`] when the entry cannot be encoded.
    pub fn announcement_record(
        &self,
        runtime_id: &str,
        reply_topic: &str,
        agent_types: &[String],
        ttl: Duration,
    ) -> Result<OutboundRecord> {
        let entry = RuntimeEntry {
            reply_topic: reply_topic.to_owned(),
            expires_ms: headers::now_ms()
                .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            agent_types: agent_types.to_vec(),
        };
        let value = serde_json::to_vec(&entry).map_err(|source| ServicesError::Directory {
            runtime_id: runtime_id.to_owned(),
            source,
        })?;
        Ok(OutboundRecord::new(self.topic.clone(), value)
            .with_key(runtime_id)
            .with_header(headers::RUNTIME, runtime_id))
    }

    /// The tombstone that removes `runtime_id`'s entry (graceful stop, or clean-up by a survivor).
    #[must_use]
    pub fn tombstone(&self, runtime_id: &str) -> OutboundRecord {
        OutboundRecord::tombstone(self.topic.clone(), runtime_id)
    }

    /// Applies one record of the runtimes topic; undecodable records are logged and skipped.
    pub fn apply(&self, record: &InboundRecord) {
        self.last_read.store(headers::now_ms(), Ordering::Relaxed);
        let Some(runtime_id) = record.key_str() else {
            tracing::warn!(
                offset = record.offset,
                "skipping a runtimes record without a key"
            );
            return;
        };
        if runtime_id.starts_with(crate::cancellations::CANCEL_KEY_PREFIX) {
            // A cancel notice (`RequestCancellations`), not a runtime.
            return;
        }
        self.apply_value(runtime_id, record.value.as_deref());
    }

    /// Applies a record this runtime wrote, once acknowledged (reading it back later changes nothing).
    pub fn apply_written(&self, record: &OutboundRecord) {
        if let Some(runtime_id) = record
            .key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
        {
            self.apply_value(runtime_id, record.value.as_deref());
        }
    }

    fn apply_value(&self, runtime_id: &str, value: Option<&[u8]>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(value) = value else {
            entries.remove(runtime_id);
            return;
        };
        match serde_json::from_slice::<RuntimeEntry>(value) {
            Ok(entry) => {
                // Heartbeats of one runtime only move its expiry forward, whatever order they are read in.
                let newer = entries
                    .get(runtime_id)
                    .is_none_or(|known| known.expires_ms <= entry.expires_ms);
                if newer {
                    entries.insert(runtime_id.to_owned(), entry);
                }
            }
            Err(error) => tracing::warn!(
                runtime_id,
                error = &error as &dyn std::error::Error,
                "skipping an undecodable runtimes record"
            ),
        }
    }

    /// Whether `runtime_id` has an unexpired entry.
    #[must_use]
    pub fn is_live(&self, runtime_id: &str) -> bool {
        let now = self.view_now();
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(runtime_id)
            .is_some_and(|entry| entry.expires_ms > now)
    }

    /// Whether `runtime_id` has an unexpired entry that lists `agent_type` among the types it hosts.
    #[must_use]
    pub fn announces(&self, runtime_id: &str, agent_type: &str) -> bool {
        let now = self.view_now();
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(runtime_id)
            .is_some_and(|entry| {
                entry.expires_ms > now && entry.agent_types.iter().any(|t| t == agent_type)
            })
    }

    /// Until when `runtime_id`'s entry keeps its registration of `agent_type` alive (ms since the epoch, live or
    /// past); `None` when its entry does not list the type.
    #[must_use]
    pub fn announced_until(&self, runtime_id: &str, agent_type: &str) -> Option<i64> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(runtime_id)
            .filter(|entry| entry.agent_types.iter().any(|t| t == agent_type))
            .map(|entry| entry.expires_ms)
    }

    /// Whether `runtime_id` has an entry that expired no longer than `grace` ago: alive, or dead too recently to
    /// be cleaned up (what it subscribed to still gets deliveries, which its replacement or another replica reads).
    #[must_use]
    pub fn is_present(&self, runtime_id: &str, grace: Duration) -> bool {
        let cutoff = self
            .view_now()
            .saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(runtime_id)
            .is_some_and(|entry| entry.expires_ms > cutoff)
    }

    /// Whether the directory has an entry for `runtime_id`, live or expired.
    #[must_use]
    pub fn knows(&self, runtime_id: &str) -> bool {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(runtime_id)
    }

    /// Every entry read, live or expired, sorted by instance id (an operator's view).
    #[must_use]
    pub fn entries(&self) -> Vec<(String, RuntimeEntry)> {
        let mut all: Vec<(String, RuntimeEntry)> = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, entry)| (id.clone(), entry.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The live runtimes' ids, sorted.
    #[must_use]
    pub fn live(&self) -> Vec<String> {
        let now = self.view_now();
        let mut live: Vec<String> = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, entry)| entry.expires_ms > now)
            .map(|(id, _)| id.clone())
            .collect();
        live.sort();
        live
    }

    /// The runtimes whose entries expired more than `grace` ago, with their entries, sorted by id: they died
    /// without stopping, and what they left can be removed.
    #[must_use]
    pub fn departed(&self, grace: Duration) -> Vec<(String, RuntimeEntry)> {
        let cutoff = self
            .view_now()
            .saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
        let mut departed: Vec<(String, RuntimeEntry)> = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, entry)| entry.expires_ms <= cutoff)
            .map(|(id, entry)| (id.clone(), entry.clone()))
            .collect();
        departed.sort_by(|a, b| a.0.cmp(&b.0));
        departed
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use autogen_kafka_streaming::OutboundRecord;

    use super::RuntimeDirectory;
    use crate::test_support::read_back;

    #[test]
    fn entries_live_until_they_expire_and_depart_after_the_grace() {
        let directory = RuntimeDirectory::new("runtimes");
        let live = directory
            .heartbeat_record("a", "responses.a", Duration::from_secs(60))
            .unwrap();
        let expired = directory
            .heartbeat_record("b", "responses.b", Duration::ZERO)
            .unwrap();
        directory.apply(&read_back(live));
        directory.apply(&read_back(expired));
        assert!(directory.is_live("a"));
        assert!(!directory.is_live("b") && directory.knows("b"));
        assert_eq!(directory.live(), ["a"]);
        let departed = directory.departed(Duration::ZERO);
        assert_eq!(departed.len(), 1);
        assert_eq!(departed[0].0, "b");
        assert_eq!(departed[0].1.reply_topic, "responses.b");
        assert!(
            directory.departed(Duration::from_secs(60)).is_empty(),
            "inside the grace"
        );
        assert!(directory.is_present("b", Duration::from_secs(60)));
        assert!(!directory.is_present("b", Duration::ZERO));
        directory.apply(&read_back(directory.tombstone("b")));
        assert!(!directory.knows("b"));
    }

    #[test]
    fn an_older_heartbeat_read_late_does_not_shorten_an_entry() {
        let directory = RuntimeDirectory::new("runtimes");
        let old = directory
            .heartbeat_record("a", "responses.a", Duration::ZERO)
            .unwrap();
        let new = directory
            .heartbeat_record("a", "responses.a", Duration::from_secs(60))
            .unwrap();
        directory.apply_written(&new);
        directory.apply(&read_back(old));
        assert!(directory.is_live("a"));
    }

    #[test]
    fn a_stalled_reader_keeps_its_view_until_it_reads_again() {
        let directory = RuntimeDirectory::new("runtimes").stale_after(Duration::from_millis(200));
        let other = directory
            .heartbeat_record("other", "responses.other", Duration::from_millis(400))
            .unwrap();
        directory.apply(&read_back(other));
        // Nothing read for longer than the entry lives: the view's clock stopped 200 ms after the last read.
        std::thread::sleep(Duration::from_millis(600));
        assert!(directory.is_live("other"));
        assert!(directory.departed(Duration::ZERO).is_empty());
        // The reader delivers again (here a heartbeat of this runtime): the clock catches up and `other` expired.
        let own = directory
            .heartbeat_record("me", "responses.me", Duration::from_secs(60))
            .unwrap();
        directory.apply(&read_back(own));
        assert!(!directory.is_live("other"));
        assert_eq!(directory.departed(Duration::ZERO).len(), 1);
    }

    #[test]
    fn bad_records_are_skipped() {
        let directory = RuntimeDirectory::new("runtimes");
        directory.apply(&read_back(
            OutboundRecord::new("runtimes", b"not json".to_vec()).with_key("x"),
        ));
        directory.apply(&read_back(OutboundRecord::new("runtimes", b"{}".to_vec())));
        assert!(!directory.knows("x"));
        assert!(directory.live().is_empty());
    }
}

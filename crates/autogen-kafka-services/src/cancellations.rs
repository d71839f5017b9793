//! Cancelled RPCs reach their callee: a caller that cancels an RPC writes a cancel notice to the runtimes topic
//! (key `cancel/<request id>`, followed at once by its tombstone, so compaction leaves nothing behind). Every
//! runtime's fleet reader reads it; the runtime handling that request cancels its handler's token, and a runtime
//! that reads the request later skips it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use autogen_kafka_streaming::{InboundRecord, OutboundRecord};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::headers;

/// The key prefix of a cancel notice on the runtimes topic (runtime ids, the topic's other keys, never contain
/// a `/`).
pub const CANCEL_KEY_PREFIX: &str = "cancel/";

/// The value of a cancel notice.
#[derive(Debug, Serialize, Deserialize)]
struct CancelNotice {
    /// The request's deadline (Unix ms): past it the request is never executed anyway.
    deadline_ms: i64,
}

/// The records that tell the fleet request `request_id` (deadline `deadline_ms`) was cancelled: the notice and
/// its tombstone, to write in this order to the runtimes `topic`.
///
/// # Examples
///
/// ```
/// use autogen_kafka_services::cancel_notice;
///
/// let [notice, tombstone] = cancel_notice("agent_runtimes", "req-1", 1_700_000_000_000);
/// assert_eq!(notice.key.as_deref(), Some(&b"cancel/req-1"[..]));
/// assert!(tombstone.value.is_none());
/// ```
#[must_use]
pub fn cancel_notice(topic: &str, request_id: &str, deadline_ms: i64) -> [OutboundRecord; 2] {
    let key = format!("{CANCEL_KEY_PREFIX}{request_id}");
    let value = serde_json::to_vec(&CancelNotice { deadline_ms }).unwrap_or_default();
    [
        OutboundRecord::new(topic, value).with_key(key.clone()),
        OutboundRecord::tombstone(topic, key),
    ]
}

/// The requests this runtime handles that their caller may cancel, and the notices read for requests not handled
/// (yet).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use autogen_kafka_services::RequestCancellations;
///
/// let cancellations = Arc::new(RequestCancellations::new(1000));
/// let running = cancellations.begin("req-1");
/// cancellations.cancel("req-1", i64::MAX);
/// assert!(running.token().is_cancelled());
///
/// // A notice read before the request: the request is cancelled when it begins.
/// cancellations.cancel("req-2", i64::MAX);
/// assert!(cancellations.begin("req-2").token().is_cancelled());
/// ```
#[derive(Debug)]
pub struct RequestCancellations {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    /// Requests being handled: their handlers' tokens.
    running: HashMap<String, CancellationToken>,
    /// Notices for requests not begun, with their deadlines.
    early: HashMap<String, i64>,
}

impl RequestCancellations {
    /// A registry remembering at most `capacity` notices for requests it has not seen begin.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes in a record of the runtimes topic; whether it was a cancel notice (or its tombstone).
    pub fn apply(&self, record: &InboundRecord) -> bool {
        let Some(request_id) = record
            .key_str()
            .and_then(|key| key.strip_prefix(CANCEL_KEY_PREFIX))
        else {
            return false;
        };
        let Some(value) = record.value.as_deref() else {
            return true;
        };
        match serde_json::from_slice::<CancelNotice>(value) {
            Ok(notice) => self.cancel(request_id, notice.deadline_ms),
            Err(error) => tracing::warn!(
                request_id,
                offset = record.offset,
                error = &error as &dyn std::error::Error,
                "skipping an undecodable cancel notice"
            ),
        }
        true
    }

    /// Cancels request `request_id` if it is being handled here; otherwise remembers the notice until
    /// `deadline_ms`, in case the request is read later.
    pub fn cancel(&self, request_id: &str, deadline_ms: i64) {
        let mut inner = self.inner();
        if let Some(token) = inner.running.get(request_id) {
            tracing::info!(request_id, "request cancelled by its caller");
            token.cancel();
            return;
        }
        let now = headers::now_ms();
        if deadline_ms <= now {
            return;
        }
        if inner.early.len() >= self.capacity {
            inner.early.retain(|_, deadline| *deadline > now);
        }
        if inner.early.len() < self.capacity {
            inner.early.insert(request_id.to_owned(), deadline_ms);
        }
    }

    /// Request `request_id` begins here: its handler's token, cancelled already when its notice was read, and
    /// later when one is. Dropping the returned guard ends the request.
    pub fn begin(self: &Arc<Self>, request_id: &str) -> Running {
        let token = CancellationToken::new();
        let mut inner = self.inner();
        if inner.early.remove(request_id).is_some() {
            token.cancel();
        }
        inner.running.insert(request_id.to_owned(), token.clone());
        Running {
            cancellations: Arc::clone(self),
            request_id: request_id.to_owned(),
            token,
        }
    }

    /// Requests being handled that a notice could cancel.
    #[must_use]
    pub fn running(&self) -> usize {
        self.inner().running.len()
    }
}

/// A request being handled; ends when dropped.
#[derive(Debug)]
pub struct Running {
    cancellations: Arc<RequestCancellations>,
    request_id: String,
    token: CancellationToken,
}

impl Running {
    /// The token its handler watches.
    #[must_use]
    pub const fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancellations.inner().running.remove(&self.request_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(record: &OutboundRecord) -> InboundRecord {
        InboundRecord {
            topic: record.topic.clone(),
            partition: 0,
            offset: 0,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    #[test]
    fn a_notice_read_from_the_topic_cancels_the_running_request_and_only_it() {
        let cancellations = Arc::new(RequestCancellations::new(10));
        let (one, two) = (cancellations.begin("r1"), cancellations.begin("r2"));
        let [notice, tombstone] = cancel_notice("runtimes", "r1", headers::now_ms() + 60_000);
        assert!(cancellations.apply(&inbound(&notice)));
        assert!(cancellations.apply(&inbound(&tombstone)));
        assert!(one.token().is_cancelled());
        assert!(!two.token().is_cancelled());
        drop(one);
        assert_eq!(cancellations.running(), 1);
        let directory_entry = OutboundRecord::new("runtimes", b"{}".to_vec()).with_key("runtime-1");
        assert!(
            !cancellations.apply(&inbound(&directory_entry)),
            "other keys are the directory's"
        );
    }

    #[test]
    fn early_notices_are_bounded_and_expired_ones_are_ignored() {
        let cancellations = Arc::new(RequestCancellations::new(2));
        let later = headers::now_ms() + 60_000;
        cancellations.cancel("old", headers::now_ms() - 1);
        assert!(!cancellations.begin("old").token().is_cancelled());
        for id in ["a", "b", "c"] {
            cancellations.cancel(id, later);
        }
        assert!(cancellations.begin("a").token().is_cancelled());
        assert!(cancellations.begin("b").token().is_cancelled());
        assert!(
            !cancellations.begin("c").token().is_cancelled(),
            "beyond the capacity a notice is dropped"
        );
    }
}

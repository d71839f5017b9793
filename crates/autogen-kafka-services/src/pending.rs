//! Response correlation: the caller side of an RPC.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use autogen_kafka_core::{AgentId, AnyMessage, CoreError, SerializedMessage};
use autogen_kafka_events::{JSON_CONTENT_TYPE, ResponseEvent};
use autogen_kafka_streaming::InboundRecord;
use tokio::sync::oneshot;

use crate::codecs::EventCodecs;
use crate::headers;

/// The answer a caller waits for.
pub type RpcResult = Result<Option<AnyMessage>, CoreError>;

/// An error raised by an agent in another process, as its response described it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RemoteError {
    /// The `ak_error_kind` header (`handler`, `panic`, `decode`, ...), or `unknown` for a Python runtime's error.
    pub kind: String,
    /// The error text the remote side sent.
    pub message: String,
}

struct Waiter {
    recipient: AgentId,
    type_name: String,
    reply: oneshot::Sender<RpcResult>,
}

/// Requests this runtime sent and still waits for, by request id.
///
/// The reply reader calls [`apply`](Self::apply) for every record of the runtime's reply topic; the caller waits
/// on the receiver from [`register`](Self::register) under its deadline and calls [`forget`](Self::forget) when
/// it gives up. A response for an unknown request id (late, duplicated or someone else's) is counted and dropped.
pub struct PendingRequests {
    codecs: Arc<EventCodecs>,
    waiters: Mutex<HashMap<String, Waiter>>,
    late: AtomicU64,
}

impl std::fmt::Debug for PendingRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRequests")
            .field("waiting", &self.len())
            .field("late", &self.late_responses())
            .finish()
    }
}

impl PendingRequests {
    /// No request is pending.
    #[must_use]
    pub fn new(codecs: Arc<EventCodecs>) -> Self {
        Self {
            codecs,
            waiters: Mutex::new(HashMap::new()),
            late: AtomicU64::new(0),
        }
    }

    /// Starts waiting for the response to `request_id`, sent to `recipient` with a message of `type_name`.
    pub fn register(
        &self,
        request_id: &str,
        recipient: AgentId,
        type_name: &str,
    ) -> oneshot::Receiver<RpcResult> {
        let (reply, receiver) = oneshot::channel();
        let waiter = Waiter {
            recipient,
            type_name: type_name.to_owned(),
            reply,
        };
        self.lock().insert(request_id.to_owned(), waiter);
        receiver
    }

    /// Stops waiting for `request_id` (deadline passed or cancelled).
    pub fn forget(&self, request_id: &str) {
        self.lock().remove(request_id);
    }

    /// Number of requests waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no request is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Responses that matched no waiting request.
    #[must_use]
    pub fn late_responses(&self) -> u64 {
        self.late.load(Ordering::Relaxed)
    }

    /// Fails every waiting request with `error` (used when the runtime stops).
    pub fn fail_all(&self, error: impl Fn() -> CoreError) {
        let waiters: Vec<Waiter> = self.lock().drain().map(|(_, w)| w).collect();
        for waiter in waiters {
            let _ = waiter.reply.send(Err(error()));
        }
    }

    /// Applies one record of this runtime's own reply topic; a response nobody waits for is counted as late.
    pub fn apply(&self, record: &InboundRecord) {
        self.apply_counting(record, true);
    }

    /// Applies one record of the shared response topic, where Python runtimes answer (they ignore our reply
    /// topic header); responses for other runtimes' requests are expected there and not counted.
    pub fn apply_shared(&self, record: &InboundRecord) {
        self.apply_counting(record, false);
    }

    fn apply_counting(&self, record: &InboundRecord, count_unknown: bool) {
        let Some(value) = record.value.as_deref() else {
            return;
        };
        let response: ResponseEvent = match self.codecs.decode_blocking(&record.topic, value) {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    offset = record.offset,
                    "undecodable response skipped"
                );
                return;
            }
        };
        let Some(request_id) = response.request_id.clone() else {
            if count_unknown {
                self.late.fetch_add(1, Ordering::Relaxed);
            }
            return;
        };
        let Some(waiter) = self.lock().remove(&request_id) else {
            if count_unknown {
                self.late.fetch_add(1, Ordering::Relaxed);
            }
            tracing::debug!(
                request_id,
                "response for no waiting request (late, duplicate or another runtime's)"
            );
            return;
        };
        let outcome = outcome(response, record.header_str(headers::ERROR_KIND), &waiter);
        let _ = waiter.reply.send(outcome);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiter>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Turns a response into what the caller gets. The error is checked first (unlike upstream, D8).
fn outcome(response: ResponseEvent, error_kind: Option<&str>, waiter: &Waiter) -> RpcResult {
    if let Some(message) = response.error.filter(|e| !e.is_empty()) {
        return Err(match error_kind {
            Some("undeliverable") => CoreError::Undeliverable {
                agent_type: waiter.recipient.agent_type().to_string(),
            },
            Some("unhandled_type") => CoreError::UnhandledMessageType {
                agent_id: waiter.recipient.clone(),
                type_name: waiter.type_name.clone(),
            },
            Some("panic") => CoreError::HandlerPanicked {
                agent_id: waiter.recipient.clone(),
                message,
            },
            kind => CoreError::Handler {
                agent_id: waiter.recipient.clone(),
                source: Box::new(RemoteError {
                    kind: kind.unwrap_or("unknown").to_owned(),
                    message,
                }),
            },
        });
    }
    match (response.payload, response.payload_type) {
        (Some(payload), Some(type_name)) => {
            let content_type = response
                .serialization_format
                .unwrap_or_else(|| JSON_CONTENT_TYPE.to_owned());
            Ok(Some(AnyMessage::from_serialized(SerializedMessage::new(
                type_name,
                content_type,
                payload,
            ))))
        }
        _ => Ok(None),
    }
}

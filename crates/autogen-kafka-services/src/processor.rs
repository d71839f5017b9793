//! The message processor: the callee side of an RPC and of a publication delivery.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autogen_kafka_core::{
    AgentId, AgentRuntime, AnyMessage, CoreError, SendOptions, SerializedMessage, TopicId,
};
use autogen_kafka_events::{JSON_CONTENT_TYPE, RequestEvent, ResponseEvent};
use autogen_kafka_streaming::{
    Acknowledgement, EventProducer, HandleFailure, InboundRecord, OutboundRecord, RecordHandler,
    TopicPartition,
};
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::agents::AgentManager;
use crate::cancellations::RequestCancellations;
use crate::codecs::EventCodecs;
use crate::headers;

/// Settings of a [`MessageProcessor`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProcessorSettings {
    /// This runtime instance's id.
    pub runtime_id: String,
    /// The response topic of callers that name none (Python runtimes).
    pub shared_responses_topic: String,
    /// The deadline of requests that carry none (Python callers).
    pub default_timeout: Duration,
    /// How many handled request ids are remembered to recognise redeliveries.
    pub dedupe_capacity: usize,
    /// The topic whose codec decodes requests, when not the record's own: per-type request topics carry the
    /// request schema registered for the shared request topic.
    pub codec_topic: Option<String>,
}

impl ProcessorSettings {
    /// Settings with a 30 s default deadline and 10 000 remembered request ids.
    #[must_use]
    pub fn new(runtime_id: impl Into<String>, shared_responses_topic: impl Into<String>) -> Self {
        Self {
            runtime_id: runtime_id.into(),
            shared_responses_topic: shared_responses_topic.into(),
            default_timeout: Duration::from_secs(30),
            dedupe_capacity: 10_000,
            codec_topic: None,
        }
    }
}

/// How many cancel notices for requests not begun a processor remembers by default.
const DEFAULT_EARLY_CANCELS: usize = 10_000;

/// Counters of a processor.
#[derive(Debug, Default)]
pub struct ProcessorStats {
    /// Requests answered (successfully or with an error response).
    pub answered: AtomicU64,
    /// Publications delivered to an agent.
    pub delivered: AtomicU64,
    /// Requests not executed because their deadline had passed (dead-lettered with kind `expired`).
    pub expired: AtomicU64,
    /// Redelivered requests recognised by id and not handled again.
    pub duplicates: AtomicU64,
    /// Requests whose caller cancelled them before they were handled (dead-lettered with kind `cancelled`).
    pub cancelled: AtomicU64,
}

/// Recently handled request ids and the response sent for each, to answer a redelivery without handling again.
/// An entry is kept until its request's deadline (a redelivery read later is dead-lettered as expired before it
/// gets here), or the default RPC timeout for a publication, and at most `dedupe_capacity` entries.
#[derive(Debug, Default)]
struct Dedupe {
    /// Request ids in the order they were handled, with when to forget each (Unix ms).
    order: VecDeque<(String, i64)>,
    seen: HashMap<String, Option<Arc<OutboundRecord>>>,
}

impl Dedupe {
    /// Forgets the entries from the oldest on whose time passed by `now_ms`.
    fn forget_expired(&mut self, now_ms: i64) {
        while let Some((_, forget_at)) = self.order.front()
            && *forget_at <= now_ms
        {
            if let Some((oldest, _)) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        if self.order.is_empty() && self.seen.capacity() > 64 {
            // Give back what a burst grew.
            self.order.shrink_to_fit();
            self.seen.shrink_to_fit();
        }
    }
}

/// Handles the records of one agent type on the request topic.
///
/// For each record keyed `type/key` of its type: decode the `RequestEvent` (a record that does not decode goes to
/// the dead-letter topic), dead-letter it as `expired` if its deadline passed (the `ak_deadline_ms` header, or the record's
/// timestamp plus the default timeout for a Python caller's request), recognise a redelivery by request id, activate the
/// agent (loading saved state), then either call it (RPC: the answer or an error response goes to the caller's
/// reply topic) or deliver the publication to it. Any failure is answered to the caller *and* dead-lettered with
/// the reason; the consumer goes on with the next record.
#[derive(Debug)]
pub struct MessageProcessor {
    agent_type: String,
    settings: ProcessorSettings,
    codecs: Arc<EventCodecs>,
    producer: EventProducer,
    agents: Arc<AgentManager>,
    dedupe: Mutex<Dedupe>,
    stats: ProcessorStats,
    cancellations: Arc<RequestCancellations>,
}

impl MessageProcessor {
    /// A processor for `agent_type`.
    #[must_use]
    pub fn new(
        agent_type: impl Into<String>,
        settings: ProcessorSettings,
        codecs: Arc<EventCodecs>,
        producer: EventProducer,
        agents: Arc<AgentManager>,
    ) -> Self {
        Self {
            agent_type: agent_type.into(),
            settings,
            codecs,
            producer,
            agents,
            dedupe: Mutex::new(Dedupe::default()),
            stats: ProcessorStats::default(),
            cancellations: Arc::new(RequestCancellations::new(DEFAULT_EARLY_CANCELS)),
        }
    }

    /// Lets `cancellations` (the runtime's, fed by its fleet reader) cancel the requests this processor handles.
    #[must_use]
    pub fn with_cancellations(mut self, cancellations: Arc<RequestCancellations>) -> Self {
        self.cancellations = cancellations;
        self
    }

    /// The processor's counters.
    #[must_use]
    pub fn stats(&self) -> &ProcessorStats {
        &self.stats
    }

    /// The request a record carries.
    async fn decode(&self, record: &InboundRecord) -> Result<RequestEvent, HandleFailure> {
        let Some(value) = record.value.as_deref() else {
            return Err(HandleFailure::new(
                "decode",
                "a request record without a value",
            ));
        };
        let topic = self.settings.codec_topic.as_ref().unwrap_or(&record.topic);
        self.codecs
            .decode_resolving(topic, value)
            .await
            .map_err(|error| HandleFailure::new("decode", error_chain(&error)))
    }

    /// Decodes one record and handles it in a server span that continues the sender's trace; returns the wait
    /// for the answer's acknowledgement.
    async fn decode_and_process(
        self: Arc<Self>,
        record: InboundRecord,
    ) -> Result<Option<Acknowledgement>, HandleFailure> {
        let request = self.decode(&record).await?;
        let is_publish = record.header_str(headers::KIND) == Some(headers::KIND_PUBLISH);
        let span = tracing::info_span!(
            "kafka.handle",
            otel.kind = if is_publish { "consumer" } else { "server" },
            otel.status_code = tracing::field::Empty,
            agent_id = request.recipient.as_deref().unwrap_or_default(),
            message_type = request.payload_type.as_deref().unwrap_or_default(),
            request_id = request.request_id.as_deref().unwrap_or_default(),
            topic = %record.topic,
            partition = record.partition,
            offset = record.offset,
            outcome = tracing::field::Empty,
        );
        if let Some(remote) = headers::remote_trace(&record, &request.metadata) {
            remote.set_parent_of(&span);
        }
        let outcome = self
            .process(record, request, is_publish)
            .instrument(span.clone())
            .await;
        match &outcome {
            Ok(_) => span.record("outcome", "ok"),
            Err(failure) => span
                .record("outcome", failure.kind.as_str())
                .record("otel.status_code", "error"),
        };
        outcome
    }

    /// Handles one decoded record up to writing its answer; returns the wait for the answer's acknowledgement, so
    /// the agent's next record can start meanwhile.
    async fn process(
        self: Arc<Self>,
        record: InboundRecord,
        mut request: RequestEvent,
        is_publish: bool,
    ) -> Result<Option<Acknowledgement>, HandleFailure> {
        let request_id = request.request_id.clone().unwrap_or_default();
        let recipient = request
            .recipient
            .as_deref()
            .and_then(|r| r.parse::<AgentId>().ok());
        if let Some(recipient) = &recipient
            && self
                .agents
                .has_applied(recipient, record.partition, record.offset)
        {
            // Handled before a crash or a hand-over, and its effect saved: not applied twice.
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::info!(request_id, agent_id = %recipient, offset = record.offset, "record already applied to the saved state: skipped");
            return Ok(None);
        }
        let now = headers::now_ms();
        let deadline = self.deadline(&record, is_publish);
        if let Some(deadline) = deadline
            && deadline <= now
        {
            self.stats.expired.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(request_id, "deadline passed before handling: dead-lettered");
            return Err(HandleFailure::new(
                "expired",
                format!(
                    "the request's deadline passed {} ms before it was read; it was not executed",
                    now - deadline
                ),
            ));
        }
        if self.replay_duplicate(&request_id).await {
            return Ok(None);
        }
        // The caller may cancel an RPC while it is handled (or before: then it is not executed).
        let running =
            (!is_publish && !request_id.is_empty()).then(|| self.cancellations.begin(&request_id));
        if running
            .as_ref()
            .is_some_and(|running| running.token().is_cancelled())
        {
            self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                request_id,
                "cancelled by its caller before handling: dead-lettered"
            );
            return Err(HandleFailure::new(
                "cancelled",
                "the caller cancelled the request before it was handled; it was not executed",
            ));
        }
        let cancellation = running.as_ref().map(|running| running.token().clone());
        let reply_to = (!is_publish).then(|| {
            record
                .header_str(headers::REPLY_TO)
                .unwrap_or(&self.settings.shared_responses_topic)
                .to_owned()
        });
        // Activated (saved state loaded) and kept from passivation until its state is saved.
        let activation = match &recipient {
            Some(recipient) => {
                let partition = TopicPartition {
                    topic: record.topic.clone(),
                    partition: record.partition,
                };
                Some(self.agents.activate(recipient, partition).await)
            }
            None => None,
        };
        let mut result = match &activation {
            Some(Err(error)) => Err(HandleFailure::new("activate", error_chain(error))),
            Some(Ok(_)) | None => {
                // The payload moves to the agent; the answer needs the rest of the request.
                let payload = request.payload.take().unwrap_or_default();
                let remaining = deadline.map_or(self.settings.default_timeout, |deadline| {
                    Duration::from_millis(u64::try_from(deadline.saturating_sub(now)).unwrap_or(0))
                });
                self.call_agent(
                    &record,
                    &request,
                    payload,
                    is_publish,
                    remaining,
                    cancellation,
                )
                .await
            }
        };
        // The agent's state, if the record changed it, is saved before the answer leaves: what a caller saw is
        // never lost to a crash.
        if let Some(recipient) = &recipient
            && matches!(activation, Some(Ok(_)))
            && let Err(error) = self
                .agents
                .persist(recipient, (record.partition, record.offset))
                .await
        {
            tracing::error!(agent_id = %recipient, error = &error as &dyn std::error::Error, "state not saved: the record fails");
            result = Err(HandleFailure::new(
                "state",
                format!(
                    "the agent's state could not be saved: {}",
                    error_chain(&error)
                ),
            ));
        }
        drop(activation);
        let response = match (&reply_to, result) {
            (None, Ok(_)) => {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                None
            }
            (None, Err(failure)) => {
                self.remember(&request_id, None, deadline);
                return Err(failure);
            }
            (Some(topic), Ok(answer)) => {
                Some((self.success_record(topic, &request, answer)?, None))
            }
            (Some(topic), Err(failure)) => Some((
                self.error_record(topic, &request_id, &failure)?,
                Some(failure),
            )),
        };
        let Some((response, failure)) = response else {
            self.remember(&request_id, None, deadline);
            return Ok(None);
        };
        let produce_failed = |error: autogen_kafka_streaming::StreamingError| {
            HandleFailure::new(
                "produce",
                format!("sending the response failed: {}", error_chain(&error)),
            )
        };
        let response = Arc::new(response);
        let pending = self
            .producer
            .enqueue_shared(Arc::clone(&response))
            .await
            .map_err(produce_failed)?;
        self.remember(&request_id, Some(response), deadline);
        Ok(Some(Box::pin(async move {
            pending.acknowledged().await.map_err(produce_failed)?;
            self.stats.answered.fetch_add(1, Ordering::Relaxed);
            failure.map_or(Ok(()), Err)
        })))
    }

    /// Calls the agent; returns its answer, or the failure to report.
    async fn call_agent(
        &self,
        record: &InboundRecord,
        request: &RequestEvent,
        payload: Vec<u8>,
        is_publish: bool,
        remaining: Duration,
        cancellation: Option<CancellationToken>,
    ) -> Result<Option<AnyMessage>, HandleFailure> {
        let recipient: AgentId = request
            .recipient
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|error: CoreError| {
                HandleFailure::new("decode", format!("bad recipient: {error}"))
            })?;
        let sender = request
            .agent_id
            .as_deref()
            .filter(|s| *s != autogen_kafka_events::UNKNOWN_ID)
            .and_then(|s| s.parse::<AgentId>().ok());
        let type_name = request
            .payload_type
            .clone()
            .ok_or_else(|| HandleFailure::new("decode", "the request names no payload type"))?;
        let message = AnyMessage::from_serialized(SerializedMessage::new(
            type_name,
            request
                .payload_format
                .clone()
                .unwrap_or_else(|| JSON_CONTENT_TYPE.to_owned()),
            payload,
        ));
        // A publication's handler sees the publication's id (as Python subscribers do); a request's, its request id.
        let message_id = if is_publish {
            request
                .message_id
                .clone()
                .or_else(|| request.request_id.clone())
        } else {
            request.request_id.clone()
        }
        .unwrap_or_default();
        let local = self.agents.local();
        let outcome = if is_publish {
            let topic = request
                .topic_id
                .as_deref()
                .unwrap_or_default()
                .parse::<TopicId>()
                .map_err(|error: CoreError| {
                    HandleFailure::new("decode", format!("bad topic: {error}"))
                })?;
            local
                .deliver_publication(message, recipient, topic, sender, message_id, remaining)
                .await
                .map(|()| None)
        } else {
            let mut options = SendOptions::new()
                .with_message_id(message_id)
                .with_timeout(remaining)
                .with_call_chain(headers::decode_call_chain(
                    record.header_str(headers::CALL_CHAIN),
                ));
            if let Some(sender) = sender {
                options = options.with_sender(sender);
            }
            if let Some(token) = cancellation {
                options = options.with_cancellation(token);
            }
            local.send_message(message, recipient, options).await
        };
        outcome.map_err(|error| HandleFailure::new(error_kind(&error), remote_text(&error)))
    }

    /// When a request must be answered by: the caller's `ak_deadline_ms`, or for an RPC that carries none (a
    /// Python caller) the record's timestamp plus the default RPC timeout, so a request read after its caller
    /// gave up is never executed. Publication deliveries carry no deadline.
    fn deadline(&self, record: &InboundRecord, is_publish: bool) -> Option<i64> {
        if let Some(deadline) = record
            .header_str(headers::DEADLINE_MS)
            .and_then(|d| d.parse::<i64>().ok())
        {
            return Some(deadline);
        }
        if is_publish {
            return None;
        }
        let timeout = i64::try_from(self.settings.default_timeout.as_millis()).unwrap_or(i64::MAX);
        record
            .timestamp_ms
            .filter(|written| *written > 0)
            .map(|written| written.saturating_add(timeout))
    }

    fn success_record(
        &self,
        topic: &str,
        request: &RequestEvent,
        answer: Option<AnyMessage>,
    ) -> Result<OutboundRecord, HandleFailure> {
        let request_id = request.request_id.clone().unwrap_or_default();
        let sender = request.recipient.clone().unwrap_or_default();
        let recipient = request.agent_id.clone().unwrap_or_default();
        let mut response = match answer {
            Some(answer) => {
                let serialized = answer
                    .to_serialized()
                    .map_err(|error| HandleFailure::new("encode", error_chain(&error)))?;
                ResponseEvent::success(
                    request_id.clone(),
                    sender,
                    recipient,
                    serialized.type_name,
                    serialized.bytes,
                )
            }
            None => ResponseEvent::success(request_id.clone(), sender, recipient, "", Vec::new()),
        };
        let trace = headers::inject_current_trace(&mut response.metadata);
        let value = self
            .codecs
            .encode(topic, &response)
            .map_err(|error| HandleFailure::new("encode", error_chain(&error)))?;
        let record = OutboundRecord::new(topic, value)
            .with_key(request_id)
            .with_header(headers::RUNTIME, self.settings.runtime_id.as_bytes());
        Ok(headers::with_trace_headers(record, trace.as_ref()))
    }

    fn error_record(
        &self,
        topic: &str,
        request_id: &str,
        failure: &HandleFailure,
    ) -> Result<OutboundRecord, HandleFailure> {
        let mut response = ResponseEvent::error(request_id, failure.reason.clone());
        let trace = headers::inject_current_trace(&mut response.metadata);
        let value = self
            .codecs
            .encode(topic, &response)
            .map_err(|error| HandleFailure::new("encode", error_chain(&error)))?;
        let record = OutboundRecord::new(topic, value)
            .with_key(request_id)
            .with_header(headers::ERROR_KIND, failure.kind.as_bytes())
            .with_header(headers::RUNTIME, self.settings.runtime_id.as_bytes());
        Ok(headers::with_trace_headers(record, trace.as_ref()))
    }

    /// If `request_id` was handled already, re-sends its response (if any) and returns true.
    async fn replay_duplicate(&self, request_id: &str) -> bool {
        if request_id.is_empty() {
            return false;
        }
        let cached = {
            let dedupe = self.dedupe.lock().unwrap_or_else(PoisonError::into_inner);
            match dedupe.seen.get(request_id) {
                None => return false,
                Some(response) => response.clone(),
            }
        };
        self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            request_id,
            "redelivered request recognised: not handled again"
        );
        if let Some(response) = cached
            && let Err(error) = self.producer.send_ref(&response).await
        {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "re-sending a cached response failed"
            );
        }
        true
    }

    /// Remembers that `request_id` was handled, with its response, until `deadline` (Unix ms; the default RPC
    /// timeout from now when `None`).
    fn remember(
        &self,
        request_id: &str,
        response: Option<Arc<OutboundRecord>>,
        deadline: Option<i64>,
    ) {
        if request_id.is_empty() {
            return;
        }
        let now = headers::now_ms();
        let timeout = i64::try_from(self.settings.default_timeout.as_millis()).unwrap_or(i64::MAX);
        let forget_at = deadline.unwrap_or_else(|| now.saturating_add(timeout));
        let mut dedupe = self.dedupe.lock().unwrap_or_else(PoisonError::into_inner);
        dedupe.forget_expired(now);
        if dedupe
            .seen
            .insert(request_id.to_owned(), response)
            .is_none()
        {
            dedupe.order.push_back((request_id.to_owned(), forget_at));
        }
        while dedupe.order.len() > self.settings.dedupe_capacity {
            if let Some((oldest, _)) = dedupe.order.pop_front() {
                dedupe.seen.remove(&oldest);
            }
        }
    }

    /// Forgets handled requests whose deadline passed (call it now and then: an idle processor gives their
    /// memory back); returns how many are still remembered.
    pub fn forget_expired(&self) -> usize {
        let mut dedupe = self.dedupe.lock().unwrap_or_else(PoisonError::into_inner);
        dedupe.forget_expired(headers::now_ms());
        dedupe.order.len()
    }
}

/// The request-topic consumer of one agent type: routes its records to the processor, skips other types', and
/// saves/releases agents when partitions move.
pub struct AgentTypeHandler {
    processor: Arc<MessageProcessor>,
    prefix: String,
    before_activation: Option<ActivationHook>,
}

/// Runs before the first record of newly assigned partitions, given them (the runtime uses it to read their
/// state from the state topic, so state saved by the previous owner is visible).
pub type ActivationHook = Arc<dyn Fn(Vec<TopicPartition>) -> BoxFuture<'static, ()> + Send + Sync>;

impl std::fmt::Debug for AgentTypeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTypeHandler")
            .field("agent_type", &self.processor.agent_type)
            .field("before_activation", &self.before_activation.is_some())
            .finish()
    }
}

impl AgentTypeHandler {
    /// A handler for the processor's agent type.
    #[must_use]
    pub fn new(
        processor: Arc<MessageProcessor>,
        before_activation: Option<ActivationHook>,
    ) -> Self {
        let prefix = format!("{}/", processor.agent_type);
        Self {
            processor,
            prefix,
            before_activation,
        }
    }
}

impl RecordHandler for AgentTypeHandler {
    fn handle(&self, record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>> {
        let handled = self.handle_then_acknowledge(record);
        Box::pin(async move {
            match handled.await? {
                Some(acknowledgement) => acknowledgement.await,
                None => Ok(()),
            }
        })
    }

    fn handle_then_acknowledge(
        &self,
        record: InboundRecord,
    ) -> BoxFuture<'static, Result<Option<Acknowledgement>, HandleFailure>> {
        if !record
            .key_str()
            .is_some_and(|k| k.starts_with(&self.prefix))
        {
            // Another agent type's record: its own group handles it.
            return Box::pin(async { Ok(None) });
        }
        Box::pin(Arc::clone(&self.processor).decode_and_process(record))
    }

    fn on_revoked(
        &self,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'static, Vec<TopicPartition>> {
        let agents = Arc::clone(&self.processor.agents);
        let agent_type = self.processor.agent_type.clone();
        Box::pin(async move {
            let unsaved = agents.release(Some(&agent_type), &partitions).await;
            // Handed over: the next owner loads their state from the topic.
            agents
                .state()
                .disown(&agent_type, partitions.iter().map(|tp| tp.partition));
            unsaved
        })
    }

    fn on_assigned(&self, partitions: Vec<TopicPartition>) -> BoxFuture<'static, ()> {
        // Owned before anything reads their state, so no reader passes it over.
        self.processor.agents.state().own(
            &self.processor.agent_type,
            partitions.iter().map(|tp| tp.partition),
        );
        match &self.before_activation {
            Some(hook) => hook(partitions),
            None => Box::pin(async {}),
        }
    }
}

/// The `ak_error_kind` of a core error.
#[must_use]
pub fn error_kind(error: &CoreError) -> &'static str {
    match error {
        CoreError::Undeliverable { .. } | CoreError::AgentNotFound { .. } => "undeliverable",
        CoreError::UnhandledMessageType { .. } | CoreError::UnknownMessageType { .. } => {
            "unhandled_type"
        }
        CoreError::Deserialize { .. } | CoreError::UnsupportedContentType { .. } => "decode",
        CoreError::HandlerPanicked { .. } => "panic",
        CoreError::CallCycle { .. } => "cycle",
        CoreError::Timeout { .. } => "timeout",
        CoreError::Cancelled => "cancelled",
        CoreError::RuntimeStopped => "stopped",
        _ => "handler",
    }
}

/// The error text sent to the caller: for a handler error, the handler's own message (the caller adds the agent
/// id itself, and a Python caller raises `Exception(text)` as with upstream's `str(e)`).
fn remote_text(error: &CoreError) -> String {
    match error {
        CoreError::Handler { source, .. } => error_chain(source.as_ref()),
        other => error_chain(other),
    }
}

/// An error and its causes on one line.
#[must_use]
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::Dedupe;

    #[test]
    fn handled_requests_are_forgotten_once_their_deadline_passed() {
        let mut dedupe = Dedupe::default();
        for (id, forget_at) in [("a", 100), ("b", 200), ("c", 300)] {
            dedupe.order.push_back((id.to_owned(), forget_at));
            dedupe.seen.insert(id.to_owned(), None);
        }
        dedupe.forget_expired(99);
        assert_eq!(dedupe.seen.len(), 3);
        dedupe.forget_expired(200);
        assert_eq!(dedupe.order.len(), 1);
        assert!(dedupe.seen.contains_key("c") && !dedupe.seen.contains_key("b"));
        dedupe.forget_expired(i64::MAX);
        assert!(dedupe.order.is_empty() && dedupe.seen.is_empty());
    }
}

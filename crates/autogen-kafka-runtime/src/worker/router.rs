//! The publish router: delivers publications written by Python runtimes to Rust subscribers.

use std::sync::{Arc, Weak};

use autogen_kafka_core::{AgentId, SerializedMessage, TopicId};
use autogen_kafka_events::{JSON_CONTENT_TYPE, PublishEvent};
use autogen_kafka_monitoring::TraceContext;
use autogen_kafka_services::headers;
use autogen_kafka_streaming::{HandleFailure, InboundRecord, RecordHandler};
use futures::future::BoxFuture;
use tracing::Instrument as _;

use super::{Inner, KafkaWorkerAgentRuntime};

/// Reads the publish topic in one consumer group shared by every Rust runtime of the fleet
/// (`<group_id>.publish-router`), so each publication is routed once. Publications written by a Rust runtime
/// (header `ak_fanned_out`) were delivered by their publisher already and are skipped; a Python runtime's
/// CloudEvent is turned into one delivery per Rust subscriber, exactly as a Rust publisher would have done.
pub(super) struct PublishRouter {
    pub(super) inner: Weak<Inner>,
}

impl RecordHandler for PublishRouter {
    fn handle(&self, record: InboundRecord) -> BoxFuture<'static, Result<(), HandleFailure>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            if record.header(headers::FANNED_OUT).is_some() {
                return Ok(());
            }
            let Some(inner) = inner.upgrade() else {
                return Err(HandleFailure::new("stopped", "the runtime is gone"));
            };
            route(KafkaWorkerAgentRuntime { inner }, &record).await
        })
    }
}

async fn route(
    runtime: KafkaWorkerAgentRuntime,
    record: &InboundRecord,
) -> Result<(), HandleFailure> {
    let Some(value) = record.value.as_deref() else {
        return Err(HandleFailure::new(
            "decode",
            "a publication without a value",
        ));
    };
    let codecs = runtime
        .inner
        .codecs
        .get()
        .map(Arc::clone)
        .ok_or_else(|| HandleFailure::new("stopped", "the runtime is not started"))?;
    let event: PublishEvent = codecs
        .decode_resolving(&record.topic, value)
        .await
        .map_err(|error| {
            HandleFailure::new("decode", autogen_kafka_services::error_chain(&error))
        })?;
    let content_type = event
        .data_content_type()
        .unwrap_or(JSON_CONTENT_TYPE)
        .to_owned();
    let topic = TopicId::new(event.topic_type(), event.topic_source())
        .map_err(|error| HandleFailure::new("decode", format!("bad topic: {error}")))?;
    let type_name = event
        .payload_type()
        .ok_or_else(|| HandleFailure::new("decode", "the publication names no payload type"))?
        .to_owned();
    let payload = event.payload().map(|p| p.into_owned()).unwrap_or_default();
    let sender = event
        .sender()
        .and_then(|(agent_type, key)| AgentId::new(agent_type, key).ok());
    let serialized = SerializedMessage::new(type_name, content_type, payload);
    // The deliveries continue the publisher's trace (the CloudEvents tracing extensions), or start one.
    let span = tracing::info_span!(
        "kafka.route",
        otel.kind = "consumer",
        topic = %topic,
        message_type = %serialized.type_name,
        message_id = event.id(),
    );
    if let Some(remote) = event
        .trace_context()
        .and_then(|(parent, state)| TraceContext::parse(parent, state))
    {
        remote.set_parent_of(&span);
    }
    async {
        let records = runtime
            .delivery_records(&topic, sender.as_ref(), event.id(), &serialized)
            .map_err(|error| {
                HandleFailure::new("encode", autogen_kafka_services::error_chain(&error))
            })?;
        let sends = records.into_iter().map(|r| runtime.inner.producer.send(r));
        for result in futures::future::join_all(sends).await {
            result.map_err(|error| {
                HandleFailure::new("produce", autogen_kafka_services::error_chain(&error))
            })?;
        }
        Ok(())
    }
    .instrument(span)
    .await
}

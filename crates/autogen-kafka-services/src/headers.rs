//! Record headers this runtime adds to the Python original's wire format.
//!
//! The Python original writes no headers and ignores the ones it reads, so these extensions travel beside its
//! events without changing them (see `docs/wire-format.md`).

use autogen_kafka_monitoring::TraceContext;

/// On a request: the topic the response must go to. Absent on requests from Python runtimes, which read
/// responses from the shared response topic.
pub const REPLY_TO: &str = "ak_reply_to";
/// On a request: the caller's deadline, milliseconds since the Unix epoch. Expired requests are skipped.
pub const DEADLINE_MS: &str = "ak_deadline_ms";
/// On a record of the request topic: `rpc` (a request that wants a response) or `publish` (a publication
/// delivered to one subscriber, no response).
pub const KIND: &str = "ak_kind";
/// The runtime instance that wrote the record (registrations, subscriptions, requests).
pub const RUNTIME: &str = "ak_runtime";
/// On a registration: when it expires unless renewed, milliseconds since the Unix epoch.
pub const EXPIRES_MS: &str = "ak_expires_ms";
/// On an error response: the error's kind (`handler`, `panic`, `unhandled_type`, `decode`, `undeliverable`,
/// `timeout`, `stopped`, `cycle`), so a Rust caller rebuilds a typed error. Python callers read only the `error` text.
pub const ERROR_KIND: &str = "ak_error_kind";
/// On a publication written by a Rust runtime: it was already delivered to Rust subscribers, so the publish
/// router must not deliver it again.
pub const FANNED_OUT: &str = "ak_fanned_out";

/// On a request sent from inside a handler: the agents waiting for its answer, outermost first, as a JSON array of
/// agent ids (`["a/1","b/2"]`). A request whose recipient is in it fails at once as a call cycle.
pub const CALL_CHAIN: &str = "ak_call_chain";

/// On a request, a publication delivery and an answer: the W3C trace context of the span that wrote it, as in the
/// event's `metadata` (where the Python original reads it), so tools see it without decoding the value.
pub const TRACEPARENT: &str = autogen_kafka_monitoring::TRACEPARENT;
/// The W3C `tracestate` that goes with [`TRACEPARENT`], when there is one.
pub const TRACESTATE: &str = autogen_kafka_monitoring::TRACESTATE;

/// `ak_kind` value of an RPC request.
pub const KIND_RPC: &str = "rpc";
/// `ak_kind` value of a publication delivered to one subscriber.
pub const KIND_PUBLISH: &str = "publish";

/// The `ak_call_chain` value of `chain`; `None` for an empty chain (the header is left out).
#[must_use]
pub fn encode_call_chain(chain: &[autogen_kafka_core::AgentId]) -> Option<String> {
    if chain.is_empty() {
        return None;
    }
    let ids: Vec<String> = chain.iter().map(ToString::to_string).collect();
    serde_json::to_string(&ids).ok()
}

/// The chain an `ak_call_chain` value names. A value that does not parse is logged and read as no chain: the
/// request is handled, only cycle detection is lost for it.
#[must_use]
pub fn decode_call_chain(value: Option<&str>) -> Vec<autogen_kafka_core::AgentId> {
    let Some(value) = value else {
        return Vec::new();
    };
    let parsed = serde_json::from_str::<Vec<String>>(value)
        .map_err(|e| e.to_string())
        .and_then(|ids| {
            ids.iter()
                .map(|id| {
                    id.parse::<autogen_kafka_core::AgentId>()
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()
        });
    parsed.unwrap_or_else(|error| {
        tracing::warn!(error, value, "ignoring an unreadable call chain header");
        Vec::new()
    })
}

/// Writes the current span's trace context into an outgoing event's `metadata` and returns it, for
/// [`with_trace_headers`]; `None` (and `metadata` untouched) when the span has no trace context.
pub fn inject_current_trace(metadata: &mut autogen_kafka_events::Metadata) -> Option<TraceContext> {
    let context = autogen_kafka_monitoring::current_trace_context()?;
    context.inject_into(metadata);
    Some(context)
}

/// `record` with the [`TRACEPARENT`] and [`TRACESTATE`] headers of `context` (none without a context).
#[must_use]
pub fn with_trace_headers(
    mut record: autogen_kafka_streaming::OutboundRecord,
    context: Option<&TraceContext>,
) -> autogen_kafka_streaming::OutboundRecord {
    if let Some(context) = context {
        record = record.with_header(TRACEPARENT, context.traceparent());
        if let Some(state) = context.tracestate() {
            record = record.with_header(TRACESTATE, state);
        }
    }
    record
}

/// The trace context an incoming event continues: the one in its `metadata` (written by Python runtimes and by
/// ours), else the one in the record's headers; `None` when neither is valid, and the handler starts a new trace.
#[must_use]
pub fn remote_trace(
    record: &autogen_kafka_streaming::InboundRecord,
    metadata: &autogen_kafka_events::Metadata,
) -> Option<TraceContext> {
    autogen_kafka_monitoring::extract_trace_context(metadata).or_else(|| {
        TraceContext::parse(
            record.header_str(TRACEPARENT)?,
            record.header_str(TRACESTATE),
        )
    })
}

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use autogen_kafka_core::AgentId;

    use super::*;

    #[test]
    fn a_call_chain_round_trips_and_bad_values_read_as_none() {
        let chain = vec![
            AgentId::new("a", "1").unwrap(),
            AgentId::new("b", "key, with \"quotes\"").unwrap(),
        ];
        let text = encode_call_chain(&chain).unwrap();
        assert_eq!(decode_call_chain(Some(&text)), chain);
        assert_eq!(encode_call_chain(&[]), None);
        assert!(decode_call_chain(None).is_empty());
        assert!(decode_call_chain(Some("not json")).is_empty());
        assert!(decode_call_chain(Some("[\"no slash\"]")).is_empty());
    }

    #[test]
    fn the_remote_trace_is_the_metadatas_else_the_headers_and_is_written_to_both() {
        const PYTHON: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        const HEADER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let record = |headers: Vec<(&str, &str)>| autogen_kafka_streaming::InboundRecord {
            topic: "requests".into(),
            partition: 0,
            offset: 0,
            key: None,
            value: None,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Some(v.as_bytes().to_vec())))
                .collect(),
            timestamp_ms: None,
        };
        let mut metadata = autogen_kafka_events::Metadata::new();
        metadata.insert(TRACEPARENT.into(), PYTHON.into());
        let both = record(vec![(TRACEPARENT, HEADER), (TRACESTATE, "h=1")]);
        assert_eq!(
            remote_trace(&both, &metadata).unwrap().traceparent(),
            PYTHON
        );
        let from_header = remote_trace(&both, &autogen_kafka_events::Metadata::new()).unwrap();
        assert_eq!(from_header.traceparent(), HEADER);
        assert_eq!(from_header.tracestate(), Some("h=1"));
        let bad = record(vec![(TRACEPARENT, "garbage")]);
        assert!(remote_trace(&bad, &autogen_kafka_events::Metadata::new()).is_none());

        let written = with_trace_headers(
            autogen_kafka_streaming::OutboundRecord::new("responses", b"{}".to_vec()),
            Some(&from_header),
        );
        assert_eq!(written.header_str(TRACEPARENT), Some(HEADER));
        assert_eq!(written.header_str(TRACESTATE), Some("h=1"));
        let untraced = with_trace_headers(
            autogen_kafka_streaming::OutboundRecord::new("responses", b"{}".to_vec()),
            None,
        );
        assert!(untraced.headers.is_empty());
        // Outside a span with a trace context nothing is written.
        let mut metadata = autogen_kafka_events::Metadata::new();
        assert!(inject_current_trace(&mut metadata).is_none());
        assert!(metadata.is_empty());
    }
}

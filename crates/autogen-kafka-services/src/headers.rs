//! Record headers this runtime adds to the Python original's wire format.
//!
//! The Python original writes no headers and ignores the ones it reads, so these extensions travel beside its
//! events without changing them (see `docs/wire-format.md`).

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
}

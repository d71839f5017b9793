//! Schema documents: the JSON Schemas upstream registers, and this crate's Avro schemas.
//!
//! The JSON Schema files are upstream's `__schema__()` documents, pretty-printed, as shipped in
//! this crate's `schemas/` folder. Upstream registers two different texts of the same document
//! under one subject (WIRE §7, D10): at startup the text after a Python `json.loads` +
//! `json.dumps` round trip, and through producer auto-registration the raw `__schema__()`
//! string. [`crate::EventKind::registered_schema_text`] gives the startup text, which is what
//! a Rust runtime should register so that it shares the schema version a Python runtime
//! created. The Python reader accepts any registered id.

use crate::{EventsError, Result};

/// JSON Schema of [`crate::RequestEvent`] (subject `runtime_requests-value`).
pub const REQUEST_EVENT_JSON_SCHEMA: &str = include_str!("../schemas/RequestEvent.schema.json");
/// JSON Schema of [`crate::ResponseEvent`] (subject `runtime_responses-value`).
pub const RESPONSE_EVENT_JSON_SCHEMA: &str = include_str!("../schemas/ResponseEvent.schema.json");
/// JSON Schema of [`crate::RegistrationEvent`] (subject `agent_registry-value`).
pub const REGISTRATION_EVENT_JSON_SCHEMA: &str =
    include_str!("../schemas/RegistrationEvent.schema.json");
/// JSON Schema of [`crate::SubscriptionEvent`] (subject `agent_subscriptions-value`).
pub const SUBSCRIPTION_EVENT_JSON_SCHEMA: &str =
    include_str!("../schemas/SubscriptionEvent.schema.json");
/// JSON Schema of [`crate::MemoryEvent`] (subject `memory_<session>-value`).
pub const MEMORY_EVENT_JSON_SCHEMA: &str = include_str!("../schemas/MemoryEvent.schema.json");
/// JSON Schema of the publish CloudEvent (subject `agent_publishes-value`).
pub const CLOUD_EVENT_JSON_SCHEMA: &str = include_str!("../schemas/CloudEvent.schema.json");
/// Base JSON Schema of [`crate::AgentEvent`]; see [`agent_event_schema_text`] for the schema
/// upstream actually registers.
pub const AGENT_EVENT_BASE_JSON_SCHEMA: &str =
    include_str!("../schemas/AgentEvent_base.schema.json");

/// Avro schema of [`crate::RequestEvent`].
pub const REQUEST_EVENT_AVRO_SCHEMA: &str = include_str!("../schemas/avro/RequestEvent.avsc");
/// Avro schema of [`crate::ResponseEvent`].
pub const RESPONSE_EVENT_AVRO_SCHEMA: &str = include_str!("../schemas/avro/ResponseEvent.avsc");
/// Avro schema of [`crate::RegistrationEvent`].
pub const REGISTRATION_EVENT_AVRO_SCHEMA: &str =
    include_str!("../schemas/avro/RegistrationEvent.avsc");
/// Avro schema of [`crate::SubscriptionEvent`].
pub const SUBSCRIPTION_EVENT_AVRO_SCHEMA: &str =
    include_str!("../schemas/avro/SubscriptionEvent.avsc");
/// Avro schema of [`crate::MemoryEvent`].
pub const MEMORY_EVENT_AVRO_SCHEMA: &str = include_str!("../schemas/avro/MemoryEvent.avsc");
/// Avro schema of [`crate::PublishEvent`].
pub const CLOUD_EVENT_AVRO_SCHEMA: &str = include_str!("../schemas/avro/CloudEvent.avsc");
/// Avro schema of [`crate::AgentEvent`].
pub const AGENT_EVENT_AVRO_SCHEMA: &str = include_str!("../schemas/avro/AgentEvent.avsc");

/// Re-writes a JSON text the way Python's `json.dumps` (default arguments) writes the parsed
/// document: key order kept, `", "` and `": "` separators, non-ASCII and control characters
/// escaped as `\uXXXX`.
///
/// Numbers are copied as written.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::schema::python_json_text;
///
/// let text = python_json_text("{\n  \"k\":\"v\",\"n\": [1,2], \"é\": {}\n}")?;
/// assert_eq!(text, r#"{"k": "v", "n": [1, 2], "\u00e9": {}}"#);
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
///
/// # Errors
///
/// [`EventsError::InvalidJson`] if `json` is not a JSON document.
pub fn python_json_text(json: &str) -> Result<String> {
    // Validate first, so the scanner below only ever sees well-formed JSON.
    serde_json::from_str::<serde::de::IgnoredAny>(json).map_err(EventsError::invalid_json)?;
    let mut out = String::with_capacity(json.len() + json.len() / 4);
    let mut chars = json.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '"' => {
                // Find the end of the string literal, honouring escapes.
                let mut end = json.len();
                let mut escaped = false;
                for (i, ch) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if ch == '\\' {
                        escaped = true;
                    } else if ch == '"' {
                        end = i + 1;
                        break;
                    }
                }
                let literal = json.get(start..end).unwrap_or_default();
                let value: String =
                    serde_json::from_str(literal).map_err(EventsError::invalid_json)?;
                push_python_string(&mut out, &value);
            }
            ',' => out.push_str(", "),
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Writes `value` as Python's `json.dumps` would (see [`python_json_text`]).
///
/// Object keys come out in the map's order: insertion order (the workspace enables `serde_json`'s `preserve_order`),
/// as `json.dumps` keeps a dict's order.
///
/// # Errors
///
/// [`EventsError::InvalidJson`] only if `serde_json` cannot write the value.
pub fn python_json_dumps(value: &serde_json::Value) -> Result<String> {
    let compact = serde_json::to_string(value).map_err(EventsError::invalid_json)?;
    python_json_text(&compact)
}

fn push_python_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0_u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// The AgentEvent schema text upstream registers for a message type: the base schema with
/// `properties.message` replaced by the message type's JSON Schema, written as Python's
/// `json.dumps` writes it (see [`python_json_text`]).
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::schema::agent_event_schema_text;
///
/// let text = agent_event_schema_text(r#"{"type": "object", "properties": {"content": {"type": "string"}}}"#)?;
/// assert!(text.contains(r#""message": {"type": "object", "properties": {"content""#));
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
///
/// # Errors
///
/// [`EventsError::InvalidJson`] if `message_schema` is not a JSON document.
pub fn agent_event_schema_text(message_schema: &str) -> Result<String> {
    let message = python_json_text(message_schema)?;
    Ok(format!(
        "{{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"type\": \"object\", \
         \"properties\": {{\"id\": {{\"type\": \"string\"}}, \"message_type\": {{\"type\": \"string\"}}, \
         \"message\": {message}}}, \"required\": [\"id\", \"message_type\", \"message\"]}}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    fn registered() -> serde_json::Value {
        serde_json::from_str(include_str!("../tests/schemas/registered_subjects.json")).unwrap()
    }

    fn startup_text(subject: &str) -> String {
        let all = registered();
        let entries = all[subject].as_array().unwrap();
        entries
            .iter()
            .find(|e| {
                e["registered_by"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("startup"))
            })
            .and_then(|e| e["schema_str"].as_str())
            .unwrap()
            .to_owned()
    }

    #[test]
    fn registered_text_matches_upstream_startup_registration() {
        let cases = [
            (EventKind::Request, "runtime_requests-value"),
            (EventKind::Response, "runtime_responses-value"),
            (EventKind::Registration, "agent_registry-value"),
            (EventKind::Subscription, "agent_subscriptions-value"),
            (EventKind::Publish, "agent_publishes-value"),
            (EventKind::Memory, "memory_session-1-value"),
        ];
        for (kind, subject) in cases {
            assert_eq!(
                kind.registered_schema_text().unwrap(),
                startup_text(subject),
                "{kind}"
            );
        }
    }

    #[test]
    fn agent_schema_matches_upstream_wrapping() {
        // The Pong message schema, pretty-printed, in upstream's key order.
        let pong = "{\n  \"$schema\": \"http://json-schema.org/draft-07/schema#\",\n  \"type\": \"object\",\n  \"properties\": {\"content\": {\"type\": \"string\"}},\n  \"required\": [\"content\"]\n}";
        assert_eq!(
            agent_event_schema_text(pong).unwrap(),
            startup_text("agent_response-value")
        );
    }

    #[test]
    fn python_strings_escape_like_ensure_ascii() {
        let text = python_json_text(r#"["a\/b", "\u0001\u007f", "😀", "tab\there"]"#).unwrap();
        assert_eq!(
            text,
            r#"["a/b", "\u0001\u007f", "\ud83d\ude00", "tab\there"]"#
        );
        assert_eq!(python_json_text("{ }").unwrap(), "{}");
        assert!(matches!(
            python_json_text("{"),
            Err(EventsError::InvalidJson { .. })
        ));
    }

    #[test]
    fn dumps_matches_python_for_memory_metadata() {
        let value = serde_json::json!({"k": "v"});
        assert_eq!(python_json_dumps(&value).unwrap(), r#"{"k": "v"}"#);
    }
}

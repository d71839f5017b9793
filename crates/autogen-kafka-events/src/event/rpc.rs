//! RPC events: [`RequestEvent`] and [`ResponseEvent`] (WIRE §4).

use apache_avro::types::Value as AvroValue;
use serde::{Deserialize, Serialize};

use crate::avro_value::{RecordReader, optional, optional_string, string};
use crate::event::{WireEvent, from_document, from_slice_or_document, metadata_or_empty};
use crate::{EventKind, EventsError, Result};

/// The `metadata` object of RPC events (`{}` or the W3C trace context:
/// `{"traceparent": .., "tracestate": ..}`).
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// The agent id (and topic id) text upstream writes when there is none: `unknown/unknown`.
pub const UNKNOWN_ID: &str = "unknown/unknown";

/// The payload format upstream uses for every message: `application/json`.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A new random id: a UUID v4 with hyphens, as upstream makes message and request ids.
#[must_use]
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An RPC request, sent on the request topic with the recipient's agent id as key.
///
/// Every field is optional on the wire; the reader treats a missing key as null and a missing
/// or null `metadata` as `{}`.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::RequestEvent;
///
/// let request = RequestEvent::new("echo/default", "Ping", br#"{"content": "hello"}"#.to_vec())
///     .with_sender("caller/default")
///     .with_request_id("r-1");
/// assert_eq!(request.record_key(), Some("echo/default"));
/// let json = serde_json::to_string(&request)?;
/// assert!(json.starts_with(r#"{"message_id":"#));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestEvent {
    /// The caller's message id (a UUID v4 when the caller gave none).
    #[serde(default)]
    pub message_id: Option<String>,
    /// Topic id text; upstream always writes `unknown/unknown`.
    #[serde(default)]
    pub topic_id: Option<String>,
    /// The sender's agent id text (`type/key`), `unknown/unknown` without a sender.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Correlation id (UUID v4); the response carries it back.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The target agent id text (`type/key`).
    #[serde(default)]
    pub recipient: Option<String>,
    /// The serialized message (base64 on the wire; empty is written as null).
    #[serde(default, with = "crate::payload::serde_payload")]
    pub payload: Option<Vec<u8>>,
    /// The message's type name (the bare class name, e.g. `Ping`).
    #[serde(default)]
    pub payload_type: Option<String>,
    /// The payload's content type (`application/json`).
    #[serde(default)]
    pub payload_format: Option<String>,
    /// Trace context and other metadata; never null on the wire.
    #[serde(default, deserialize_with = "metadata_or_empty")]
    pub metadata: Metadata,
    /// Always null in requests.
    #[serde(default)]
    pub error: Option<String>,
}

impl RequestEvent {
    /// A request to `recipient` (agent id text `type/key`) carrying `payload` of type
    /// `payload_type`, the way upstream fills it: fresh UUID v4 message and request ids, topic
    /// and sender `unknown/unknown`, format `application/json`, empty metadata.
    #[must_use]
    pub fn new(
        recipient: impl Into<String>,
        payload_type: impl Into<String>,
        payload: Vec<u8>,
    ) -> Self {
        Self {
            message_id: Some(new_id()),
            topic_id: Some(UNKNOWN_ID.to_owned()),
            agent_id: Some(UNKNOWN_ID.to_owned()),
            request_id: Some(new_id()),
            recipient: Some(recipient.into()),
            payload: (!payload.is_empty()).then_some(payload),
            payload_type: Some(payload_type.into()),
            payload_format: Some(JSON_CONTENT_TYPE.to_owned()),
            metadata: Metadata::new(),
            error: None,
        }
    }

    /// Sets the sender's agent id text (`type/key`).
    #[must_use]
    pub fn with_sender(mut self, agent_id: impl Into<String>) -> Self {
        self.agent_id = Some(agent_id.into());
        self
    }

    /// Sets the request (correlation) id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Sets the message id.
    #[must_use]
    pub fn with_message_id(mut self, message_id: impl Into<String>) -> Self {
        self.message_id = Some(message_id.into());
        self
    }

    /// Sets the metadata (e.g. `traceparent` / `tracestate`).
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the payload format (content type).
    #[must_use]
    pub fn with_payload_format(mut self, format: impl Into<String>) -> Self {
        self.payload_format = Some(format.into());
        self
    }

    /// The record key (WIRE §2): the recipient's agent id text.
    #[must_use]
    pub fn record_key(&self) -> Option<&str> {
        self.recipient.as_deref()
    }
}

/// An RPC response, sent on the response topic with the request id as key.
///
/// A success carries the handler's return value; an error carries only `request_id`, `error`
/// and `metadata` (every other field null).
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::ResponseEvent;
///
/// let failed = ResponseEvent::error("r-1", "boom: handler failed");
/// assert!(failed.is_error());
/// assert_eq!(failed.record_key(), Some("r-1"));
///
/// let ok = ResponseEvent::success("r-1", "echo/default", "caller/default", "Pong", b"{}".to_vec());
/// assert!(!ok.is_error());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResponseEvent {
    /// Always null from upstream.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Always null from upstream.
    #[serde(default)]
    pub topic_id: Option<String>,
    /// The agent id text of the agent that answered.
    #[serde(default)]
    pub sender: Option<String>,
    /// The request's correlation id.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The request's `agent_id` (the caller).
    #[serde(default)]
    pub recipient: Option<String>,
    /// The serialized return value (base64 on the wire; empty is written as null).
    #[serde(default, with = "crate::payload::serde_payload")]
    pub payload: Option<Vec<u8>>,
    /// The return value's type name.
    #[serde(default)]
    pub payload_type: Option<String>,
    /// The payload's content type (`application/json`).
    #[serde(default)]
    pub serialization_format: Option<String>,
    /// Trace context and other metadata; never null on the wire.
    #[serde(default, deserialize_with = "metadata_or_empty")]
    pub metadata: Metadata,
    /// The error text; a non-empty value means the request failed.
    #[serde(default)]
    pub error: Option<String>,
}

impl ResponseEvent {
    /// A successful response to request `request_id`, from `sender` to `recipient` (agent id
    /// texts), carrying `payload` of type `payload_type` as `application/json`.
    #[must_use]
    pub fn success(
        request_id: impl Into<String>,
        sender: impl Into<String>,
        recipient: impl Into<String>,
        payload_type: impl Into<String>,
        payload: Vec<u8>,
    ) -> Self {
        Self {
            message_id: None,
            topic_id: None,
            sender: Some(sender.into()),
            request_id: Some(request_id.into()),
            recipient: Some(recipient.into()),
            payload: (!payload.is_empty()).then_some(payload),
            payload_type: Some(payload_type.into()),
            serialization_format: Some(JSON_CONTENT_TYPE.to_owned()),
            metadata: Metadata::new(),
            error: None,
        }
    }

    /// An error response to request `request_id`: only the request id, the error text and
    /// (empty) metadata are set, as upstream does.
    #[must_use]
    pub fn error(request_id: impl Into<String>, error: impl Into<String>) -> Self {
        Self {
            message_id: None,
            topic_id: None,
            sender: None,
            request_id: Some(request_id.into()),
            recipient: None,
            payload: None,
            payload_type: None,
            serialization_format: None,
            metadata: Metadata::new(),
            error: Some(error.into()),
        }
    }

    /// Sets the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Whether this response reports a failure (a non-empty `error`, as upstream checks).
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.error.as_deref().is_some_and(|e| !e.is_empty())
    }

    /// The record key (WIRE §2): the request id.
    #[must_use]
    pub fn record_key(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

fn metadata_text(kind: EventKind, metadata: &Metadata) -> Result<String> {
    serde_json::to_string(metadata).map_err(|source| EventsError::JsonEncode { kind, source })
}

fn metadata_from(kind: EventKind, value: serde_json::Value) -> Result<Metadata> {
    match value {
        serde_json::Value::Object(map) => Ok(map),
        serde_json::Value::Null => Ok(Metadata::new()),
        _ => Err(EventsError::invalid_field(
            kind,
            "metadata",
            "not a JSON object",
        )),
    }
}

impl WireEvent for RequestEvent {
    const KIND: EventKind = EventKind::Request;

    fn from_json_value(document: serde_json::Value) -> Result<Self> {
        from_document(Self::KIND, document, &["payload"])
    }

    fn from_json_slice(bytes: &[u8]) -> Result<Self> {
        from_slice_or_document(bytes)
    }

    fn to_avro(&self) -> Result<AvroValue> {
        Ok(AvroValue::Record(vec![
            (
                "message_id".into(),
                optional_string(self.message_id.as_deref()),
            ),
            ("topic_id".into(), optional_string(self.topic_id.as_deref())),
            ("agent_id".into(), optional_string(self.agent_id.as_deref())),
            (
                "request_id".into(),
                optional_string(self.request_id.as_deref()),
            ),
            (
                "recipient".into(),
                optional_string(self.recipient.as_deref()),
            ),
            (
                "payload".into(),
                optional(non_empty_bytes(self.payload.as_deref())),
            ),
            (
                "payload_type".into(),
                optional_string(self.payload_type.as_deref()),
            ),
            (
                "payload_format".into(),
                optional_string(self.payload_format.as_deref()),
            ),
            (
                "metadata".into(),
                string(&metadata_text(Self::KIND, &self.metadata)?),
            ),
            ("error".into(), optional_string(self.error.as_deref())),
        ]))
    }

    fn from_avro(value: AvroValue) -> Result<Self> {
        let mut r = RecordReader::new(Self::KIND, value)?;
        Ok(Self {
            message_id: r.optional_string("message_id")?,
            topic_id: r.optional_string("topic_id")?,
            agent_id: r.optional_string("agent_id")?,
            request_id: r.optional_string("request_id")?,
            recipient: r.optional_string("recipient")?,
            payload: r.optional_bytes("payload")?.filter(|p| !p.is_empty()),
            payload_type: r.optional_string("payload_type")?,
            payload_format: r.optional_string("payload_format")?,
            metadata: metadata_from(Self::KIND, r.json_text("metadata", "{}")?)?,
            error: r.optional_string("error")?,
        })
    }
}

impl WireEvent for ResponseEvent {
    const KIND: EventKind = EventKind::Response;

    fn from_json_value(document: serde_json::Value) -> Result<Self> {
        from_document(Self::KIND, document, &["payload"])
    }

    fn from_json_slice(bytes: &[u8]) -> Result<Self> {
        from_slice_or_document(bytes)
    }

    fn to_avro(&self) -> Result<AvroValue> {
        Ok(AvroValue::Record(vec![
            (
                "message_id".into(),
                optional_string(self.message_id.as_deref()),
            ),
            ("topic_id".into(), optional_string(self.topic_id.as_deref())),
            ("sender".into(), optional_string(self.sender.as_deref())),
            (
                "request_id".into(),
                optional_string(self.request_id.as_deref()),
            ),
            (
                "recipient".into(),
                optional_string(self.recipient.as_deref()),
            ),
            (
                "payload".into(),
                optional(non_empty_bytes(self.payload.as_deref())),
            ),
            (
                "payload_type".into(),
                optional_string(self.payload_type.as_deref()),
            ),
            (
                "serialization_format".into(),
                optional_string(self.serialization_format.as_deref()),
            ),
            (
                "metadata".into(),
                string(&metadata_text(Self::KIND, &self.metadata)?),
            ),
            ("error".into(), optional_string(self.error.as_deref())),
        ]))
    }

    fn from_avro(value: AvroValue) -> Result<Self> {
        let mut r = RecordReader::new(Self::KIND, value)?;
        Ok(Self {
            message_id: r.optional_string("message_id")?,
            topic_id: r.optional_string("topic_id")?,
            sender: r.optional_string("sender")?,
            request_id: r.optional_string("request_id")?,
            recipient: r.optional_string("recipient")?,
            payload: r.optional_bytes("payload")?.filter(|p| !p.is_empty()),
            payload_type: r.optional_string("payload_type")?,
            serialization_format: r.optional_string("serialization_format")?,
            metadata: metadata_from(Self::KIND, r.json_text("metadata", "{}")?)?,
            error: r.optional_string("error")?,
        })
    }
}

fn non_empty_bytes(bytes: Option<&[u8]>) -> Option<AvroValue> {
    bytes
        .filter(|b| !b.is_empty())
        .map(|b| AvroValue::Bytes(b.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_read_as_null_and_metadata_as_empty() {
        let request = RequestEvent::from_json_value(serde_json::json!({"metadata": null})).unwrap();
        assert_eq!(request.request_id, None);
        assert!(request.metadata.is_empty());
        let response = ResponseEvent::from_json_value(serde_json::json!({})).unwrap();
        assert!(!response.is_error());
        assert_eq!(response.payload, None);
    }

    #[test]
    fn empty_payload_is_written_as_null() {
        let request = RequestEvent::new("a/b", "Ping", Vec::new());
        let doc = serde_json::to_value(&request).unwrap();
        assert_eq!(doc["payload"], serde_json::Value::Null);
        let read = RequestEvent::from_json_value(serde_json::json!({"payload": ""})).unwrap();
        assert_eq!(read.payload, None);
    }

    #[test]
    fn invalid_base64_payload_is_typed() {
        let err = ResponseEvent::from_json_value(serde_json::json!({"payload": "@@"})).unwrap_err();
        assert!(matches!(
            err,
            EventsError::InvalidBase64 {
                field: "payload",
                ..
            }
        ));
    }

    #[test]
    fn new_request_fills_upstream_defaults() {
        let request = RequestEvent::new("echo/default", "Ping", b"x".to_vec());
        assert_eq!(request.topic_id.as_deref(), Some(UNKNOWN_ID));
        assert_eq!(request.agent_id.as_deref(), Some(UNKNOWN_ID));
        assert_eq!(request.payload_format.as_deref(), Some(JSON_CONTENT_TYPE));
        assert_ne!(request.request_id, request.message_id);
        assert_eq!(request.request_id.as_deref().map(str::len), Some(36));
    }

    /// The byte fast path must give exactly what the `Value` path gives, success or error.
    #[test]
    fn slice_path_matches_value_path() {
        fn both<E: WireEvent>(bytes: &[u8]) -> (String, String) {
            let slow = crate::codec::json::parse_document(bytes).and_then(E::from_json_value);
            let fast = E::from_json_slice(bytes);
            (format!("{fast:?}"), format!("{slow:?}"))
        }
        let documents: &[&[u8]] = &[
            br#"{"request_id":"r","payload":"eyJhIjoxfQ==","metadata":{"traceparent":"x"}}"#,
            br#"{"request_id":"r","request_id":"s"}"#,
            br#"{"metadata":null,"payload":"","extra":[1,2,{"x":null}]}"#,
            br#"{"payload":"@@"}"#,
            br#"{"payload":"YQ"}"#,
            br#"{"request_id":5}"#,
            br#"{"metadata":[1]}"#,
            br#"["m","t","a","r","x",null,"Ping","application/json",{},null]"#,
            br#"null"#,
            br#"{"request_id":"r"} trailing"#,
            b"{\"request_id\":\"\xff\"}",
            b"  {\"error\":\"boom\\u00e9\"}\n",
            b"",
        ];
        for bytes in documents {
            let (fast, slow) = both::<RequestEvent>(bytes);
            assert_eq!(fast, slow, "request {}", String::from_utf8_lossy(bytes));
            let (fast, slow) = both::<ResponseEvent>(bytes);
            assert_eq!(fast, slow, "response {}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn empty_error_text_is_not_an_error() {
        let mut response = ResponseEvent::error("r", "");
        assert!(!response.is_error());
        response.error = Some("x".to_owned());
        assert!(response.is_error());
    }
}

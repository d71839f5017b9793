//! [`decode_any`]: decode a record value of unknown format and kind (for the CLI's
//! `events decode` and fuzz targets).

use serde::Serialize;
use serde_json::Value;

use crate::codec::avro::{parse_own_schema, read_datum};
use crate::codec::json::parse_document;
use crate::codec::{DEFAULT_MAX_RECORD_SIZE, check_size};
use crate::topics::TopicNames;
use crate::{
    AgentEvent, EventKind, EventsError, Format, Frame, MemoryEvent, PublishEvent,
    RegistrationEvent, RequestEvent, ResponseEvent, Result, SchemaId, SubscriptionEvent, WireEvent,
    detect_format,
};

/// Options of [`decode_any_with`].
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{DecodeOptions, EventKind, decode_any_with};
///
/// let options = DecodeOptions::new().with_topic("agent_registry");
/// let record = decode_any_with(br#"{"message_type":"register","agent":"echo"}"#, &options)?;
/// assert_eq!(record.event.kind(), EventKind::Registration);
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// The topic the record came from; selects the event kind when it is a known topic.
    pub topic: Option<String>,
    /// The topic names used to map `topic` to a kind.
    pub topics: TopicNames,
    /// Largest input accepted.
    pub max_size: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            topic: None,
            topics: TopicNames::default(),
            max_size: DEFAULT_MAX_RECORD_SIZE,
        }
    }
}

impl DecodeOptions {
    /// Default options: no topic, default topic names, 8 MiB limit.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the record's topic.
    #[must_use]
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Sets the topic names.
    #[must_use]
    pub fn with_topics(mut self, topics: TopicNames) -> Self {
        self.topics = topics;
        self
    }

    /// Sets the size limit.
    #[must_use]
    pub const fn with_max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }
}

/// Any of the wire events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum AnyEvent {
    /// An RPC request.
    Request(RequestEvent),
    /// An RPC response.
    Response(ResponseEvent),
    /// A registration.
    Registration(RegistrationEvent),
    /// A subscription change.
    Subscription(SubscriptionEvent),
    /// A publish CloudEvent.
    Publish(PublishEvent),
    /// A memory entry.
    Memory(MemoryEvent),
    /// A streaming agent event.
    Agent(AgentEvent),
}

impl AnyEvent {
    /// The kind of the event.
    #[must_use]
    pub const fn kind(&self) -> EventKind {
        match self {
            Self::Request(_) => EventKind::Request,
            Self::Response(_) => EventKind::Response,
            Self::Registration(_) => EventKind::Registration,
            Self::Subscription(_) => EventKind::Subscription,
            Self::Publish(_) => EventKind::Publish,
            Self::Memory(_) => EventKind::Memory,
            Self::Agent(_) => EventKind::Agent,
        }
    }
}

macro_rules! any_event_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(
            impl From<$ty> for AnyEvent {
                fn from(event: $ty) -> Self {
                    Self::$variant(event)
                }
            }
        )*
    };
}

any_event_from!(
    Request(RequestEvent),
    Response(ResponseEvent),
    Registration(RegistrationEvent),
    Subscription(SubscriptionEvent),
    Publish(PublishEvent),
    Memory(MemoryEvent),
    Agent(AgentEvent),
);

/// A decoded record value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DecodedRecord {
    /// The detected format.
    pub format: Format,
    /// The schema id of a framed record.
    pub schema_id: Option<SchemaId>,
    /// The event.
    pub event: AnyEvent,
}

/// Decodes a record value with default options (see [`decode_any_with`]).
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{decode_any, EventKind, Format};
///
/// let record = decode_any(b"\0\0\0\0\x01{\"type\":\"StringSubscription\",\"subscription\":\"s-1\",\"operation\":\"removed\"}")?;
/// assert_eq!(record.format, Format::JsonSchema);
/// assert_eq!(record.event.kind(), EventKind::Subscription);
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
///
/// # Errors
///
/// As [`decode_any_with`].
pub fn decode_any(bytes: &[u8]) -> Result<DecodedRecord> {
    decode_any_with(bytes, &DecodeOptions::default())
}

/// Decodes a record value of unknown format and kind. Never panics.
///
/// The format comes from [`detect_format`]. The kind comes from the topic when it is one of
/// `options.topics`, otherwise from the document's shape (JSON: its keys; Avro: the first of
/// our schemas that reads the whole datum, which cannot tell a request from a response, so
/// pass the topic for Avro). Avro records are read with this crate's schema as writer schema:
/// there is no registry here.
///
/// # Errors
///
/// Any decoding variant of [`EventsError`]; [`EventsError::UnrecognizedEvent`] when the
/// kind cannot be told.
pub fn decode_any_with(bytes: &[u8], options: &DecodeOptions) -> Result<DecodedRecord> {
    check_size(bytes, options.max_size)?;
    let format = detect_format(bytes)?;
    let (schema_id, payload) = if format.is_framed() {
        let frame = Frame::parse(bytes)?;
        (Some(frame.schema_id), frame.payload)
    } else {
        (None, bytes)
    };
    let topic_kind = options
        .topic
        .as_deref()
        .and_then(|topic| options.topics.kind_of(topic));
    let event = match format {
        Format::Avro => match topic_kind {
            Some(kind) => decode_avro(kind, payload, schema_id)?,
            None => guess_avro(payload, schema_id)?,
        },
        Format::JsonSchema | Format::Json => {
            let document = parse_document(payload)?;
            let kind = match topic_kind {
                Some(kind) => kind,
                None => kind_from_shape(&document)?,
            };
            from_json(kind, document)?
        }
    };
    Ok(DecodedRecord {
        format,
        schema_id,
        event,
    })
}

/// Tells the kind of a JSON document from its keys.
///
/// # Errors
///
/// [`EventsError::UnrecognizedEvent`] when the document is not an object or its keys fit no
/// event (or fit a request and a response equally).
pub fn kind_from_shape(document: &Value) -> Result<EventKind> {
    let Value::Object(map) = document else {
        return Err(EventsError::UnrecognizedEvent {
            reason: "the document is not a JSON object",
        });
    };
    let has = |key: &str| map.contains_key(key);
    if has("specversion") {
        Ok(EventKind::Publish)
    } else if has("mime_type") {
        Ok(EventKind::Memory)
    } else if has("subscription") && has("operation") {
        Ok(EventKind::Subscription)
    } else if has("agent") && has("message_type") {
        Ok(EventKind::Registration)
    } else if has("message") && has("message_type") {
        Ok(EventKind::Agent)
    } else {
        let request = has("agent_id") || has("payload_format");
        let response = has("sender") || has("serialization_format");
        match (request, response) {
            (true, false) => Ok(EventKind::Request),
            (false, true) => Ok(EventKind::Response),
            (true, true) => Err(EventsError::UnrecognizedEvent {
                reason: "keys of both a request and a response",
            }),
            (false, false) => Err(EventsError::UnrecognizedEvent {
                reason: "keys fit no known event",
            }),
        }
    }
}

fn from_json(kind: EventKind, document: Value) -> Result<AnyEvent> {
    Ok(match kind {
        EventKind::Request => AnyEvent::Request(RequestEvent::from_json_value(document)?),
        EventKind::Response => AnyEvent::Response(ResponseEvent::from_json_value(document)?),
        EventKind::Registration => {
            AnyEvent::Registration(RegistrationEvent::from_json_value(document)?)
        }
        EventKind::Subscription => {
            AnyEvent::Subscription(SubscriptionEvent::from_json_value(document)?)
        }
        EventKind::Publish => AnyEvent::Publish(PublishEvent::from_json_value(document)?),
        EventKind::Memory => AnyEvent::Memory(MemoryEvent::from_json_value(document)?),
        EventKind::Agent => AnyEvent::Agent(AgentEvent::from_json_value(document)?),
    })
}

fn avro_as<E: WireEvent>(payload: &[u8], id: Option<SchemaId>) -> Result<E> {
    let schema = parse_own_schema(E::KIND)?;
    read_datum(&schema, None, payload, id)
}

fn decode_avro(kind: EventKind, payload: &[u8], id: Option<SchemaId>) -> Result<AnyEvent> {
    Ok(match kind {
        EventKind::Request => AnyEvent::Request(avro_as(payload, id)?),
        EventKind::Response => AnyEvent::Response(avro_as(payload, id)?),
        EventKind::Registration => AnyEvent::Registration(avro_as(payload, id)?),
        EventKind::Subscription => AnyEvent::Subscription(avro_as(payload, id)?),
        EventKind::Publish => AnyEvent::Publish(avro_as(payload, id)?),
        EventKind::Memory => AnyEvent::Memory(avro_as(payload, id)?),
        EventKind::Agent => AnyEvent::Agent(avro_as(payload, id)?),
    })
}

/// Tries our schemas from the most to the least constrained layout.
fn guess_avro(payload: &[u8], id: Option<SchemaId>) -> Result<AnyEvent> {
    const ORDER: [EventKind; 7] = [
        EventKind::Publish,
        EventKind::Subscription,
        EventKind::Registration,
        EventKind::Agent,
        EventKind::Memory,
        EventKind::Request,
        EventKind::Response,
    ];
    ORDER
        .iter()
        .find_map(|kind| decode_avro(*kind, payload, id).ok())
        .ok_or(EventsError::UnrecognizedEvent {
            reason: "the Avro datum fits none of the event schemas",
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AvroCodec, EventCodec, SchemaIds};

    #[test]
    fn shapes_are_told_apart() {
        let cases = [
            (
                serde_json::json!({"specversion": "1.0"}),
                EventKind::Publish,
            ),
            (
                serde_json::json!({"mime_type": "x", "sender": "s"}),
                EventKind::Memory,
            ),
            (
                serde_json::json!({"subscription": "s", "operation": "removed"}),
                EventKind::Subscription,
            ),
            (
                serde_json::json!({"agent": "a", "message_type": "register"}),
                EventKind::Registration,
            ),
            (
                serde_json::json!({"message": {}, "message_type": "P", "id": "1"}),
                EventKind::Agent,
            ),
            (serde_json::json!({"agent_id": null}), EventKind::Request),
            (
                serde_json::json!({"sender": null, "request_id": "r"}),
                EventKind::Response,
            ),
        ];
        for (doc, kind) in cases {
            assert_eq!(kind_from_shape(&doc).unwrap(), kind, "{doc}");
        }
        for doc in [
            serde_json::json!({}),
            serde_json::json!([]),
            serde_json::json!({"sender": 1, "agent_id": 2}),
        ] {
            assert!(matches!(
                kind_from_shape(&doc),
                Err(EventsError::UnrecognizedEvent { .. })
            ));
        }
    }

    #[test]
    fn topic_overrides_shape() {
        // An empty object is a valid request (every field optional).
        let options = DecodeOptions::new().with_topic("runtime_requests");
        let record = decode_any_with(b"{}", &options).unwrap();
        assert_eq!(record.event.kind(), EventKind::Request);
        assert_eq!(record.schema_id, None);
        assert!(decode_any(b"{}").is_err());
    }

    #[test]
    fn avro_records_decode_with_or_without_topic() {
        let codec = AvroCodec::new(SchemaIds::new(SchemaId(3)));
        let event = SubscriptionEvent::added_type("s-1", "news", "echo");
        let bytes = codec.encode(&event).unwrap();
        let record = decode_any(&bytes).unwrap();
        assert_eq!(record.format, Format::Avro);
        assert_eq!(record.schema_id, Some(SchemaId(3)));
        assert_eq!(record.event, AnyEvent::Subscription(event));

        let request = RequestEvent::new("a/b", "Ping", b"{}".to_vec());
        let bytes = codec.encode(&request).unwrap();
        let with_topic =
            decode_any_with(&bytes, &DecodeOptions::new().with_topic("runtime_requests")).unwrap();
        assert_eq!(with_topic.event, AnyEvent::Request(request));
        assert!(matches!(
            decode_any(&[0, 0, 0, 0, 1, 0xff, 0xff, 0xff]),
            Err(EventsError::UnrecognizedEvent { .. })
        ));
    }

    #[test]
    fn oversized_input_is_rejected_first() {
        let options = DecodeOptions::new().with_max_size(3);
        assert!(matches!(
            decode_any_with(b"{}  ", &options),
            Err(EventsError::Oversized { len: 4, max: 3 })
        ));
    }
}

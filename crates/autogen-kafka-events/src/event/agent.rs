//! [`AgentEvent`]: the streaming agent bridge's request and response (WIRE §4).

use apache_avro::types::Value as AvroValue;
use serde::{Deserialize, Serialize};

use crate::avro_value::{RecordReader, string};
use crate::event::{WireEvent, from_document};
use crate::{EventKind, EventsError, Result};

/// `{"id", "message_type", "message"}` on the agent request and response topics.
///
/// `message` is the message's JSON form (an object). The external processor copies `id` from
/// the request into its response; upstream ignores the response's `message_type` and key.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::AgentEvent;
///
/// let mut message = serde_json::Map::new();
/// message.insert("content".into(), "hello".into());
/// let event = AgentEvent::new("req-1", "Ping", message);
/// assert_eq!(
///     serde_json::to_string(&event)?,
///     r#"{"id":"req-1","message_type":"Ping","message":{"content":"hello"}}"#
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AgentEvent {
    /// The request id (UUID v4); the response carries the same id.
    pub id: String,
    /// The message's type name.
    pub message_type: String,
    /// The message's JSON form.
    pub message: serde_json::Map<String, serde_json::Value>,
}

impl AgentEvent {
    /// An event with the given fields.
    #[must_use]
    pub fn new(
        id: impl Into<String>,
        message_type: impl Into<String>,
        message: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Self {
            id: id.into(),
            message_type: message_type.into(),
            message,
        }
    }
}

impl WireEvent for AgentEvent {
    const KIND: EventKind = EventKind::Agent;

    fn from_json_value(document: serde_json::Value) -> Result<Self> {
        if let Some(message) = document.get("message")
            && !message.is_object()
            && !message.is_null()
        {
            return Err(EventsError::invalid_field(
                Self::KIND,
                "message",
                "must be a JSON object",
            ));
        }
        from_document(Self::KIND, document, &[])
    }

    fn to_avro(&self) -> Result<AvroValue> {
        let message =
            serde_json::to_string(&self.message).map_err(|source| EventsError::JsonEncode {
                kind: Self::KIND,
                source,
            })?;
        Ok(AvroValue::Record(vec![
            ("id".into(), string(&self.id)),
            ("message_type".into(), string(&self.message_type)),
            ("message".into(), string(&message)),
        ]))
    }

    fn from_avro(value: AvroValue) -> Result<Self> {
        let mut r = RecordReader::new(Self::KIND, value)?;
        let id = r.string("id")?;
        let message_type = r.string("message_type")?;
        let message = match r.json_text("message", "null")? {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => {
                return Err(EventsError::MissingField {
                    kind: Self::KIND,
                    field: "message",
                });
            }
            _ => {
                return Err(EventsError::invalid_field(
                    Self::KIND,
                    "message",
                    "must be a JSON object",
                ));
            }
        };
        Ok(Self::new(id, message_type, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_must_be_an_object() {
        let doc = serde_json::json!({"id": "1", "message_type": "Ping", "message": "text"});
        assert!(matches!(
            AgentEvent::from_json_value(doc),
            Err(EventsError::InvalidField {
                field: "message",
                ..
            })
        ));
        let doc = serde_json::json!({"id": "1", "message_type": "Ping"});
        assert!(matches!(
            AgentEvent::from_json_value(doc),
            Err(EventsError::MissingField {
                field: "message",
                ..
            })
        ));
    }
}

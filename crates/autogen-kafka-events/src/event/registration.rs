//! [`RegistrationEvent`]: an agent type registered or unregistered (WIRE §4).

use apache_avro::types::Value as AvroValue;
use serde::{Deserialize, Serialize};

use crate::avro_value::{RecordReader, string};
use crate::event::{WireEvent, from_document};
use crate::{EventKind, EventsError, Result};

/// Whether an agent type was registered or unregistered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationKind {
    /// `"register"`.
    Register,
    /// `"unregister"`.
    Unregister,
}

impl RegistrationKind {
    /// The wire text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Unregister => "unregister",
        }
    }

    const fn index(self) -> u32 {
        match self {
            Self::Register => 0,
            Self::Unregister => 1,
        }
    }
}

/// `{"message_type": "register"|"unregister", "agent": "<agent type>"}` on the registry topic,
/// keyed by the agent type.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{RegistrationEvent, RegistrationKind};
///
/// let event = RegistrationEvent::register("echo");
/// assert_eq!(event.message_type, RegistrationKind::Register);
/// assert_eq!(serde_json::to_string(&event)?, r#"{"message_type":"register","agent":"echo"}"#);
/// assert_eq!(event.record_key(), "echo");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegistrationEvent {
    /// Register or unregister.
    pub message_type: RegistrationKind,
    /// The agent type.
    pub agent: String,
}

impl RegistrationEvent {
    /// An event of the given kind for `agent_type`.
    #[must_use]
    pub fn new(message_type: RegistrationKind, agent_type: impl Into<String>) -> Self {
        Self {
            message_type,
            agent: agent_type.into(),
        }
    }

    /// `register` for `agent_type`.
    #[must_use]
    pub fn register(agent_type: impl Into<String>) -> Self {
        Self::new(RegistrationKind::Register, agent_type)
    }

    /// `unregister` for `agent_type`.
    #[must_use]
    pub fn unregister(agent_type: impl Into<String>) -> Self {
        Self::new(RegistrationKind::Unregister, agent_type)
    }

    /// The record key (WIRE §2): the agent type.
    #[must_use]
    pub fn record_key(&self) -> &str {
        &self.agent
    }
}

impl WireEvent for RegistrationEvent {
    const KIND: EventKind = EventKind::Registration;

    fn from_json_value(document: serde_json::Value) -> Result<Self> {
        from_document(Self::KIND, document, &[])
    }

    fn to_avro(&self) -> Result<AvroValue> {
        Ok(AvroValue::Record(vec![
            (
                "message_type".into(),
                AvroValue::Enum(
                    self.message_type.index(),
                    self.message_type.as_str().to_owned(),
                ),
            ),
            ("agent".into(), string(&self.agent)),
        ]))
    }

    fn from_avro(value: AvroValue) -> Result<Self> {
        let mut r = RecordReader::new(Self::KIND, value)?;
        let message_type = match r.string("message_type")?.as_str() {
            "register" => RegistrationKind::Register,
            "unregister" => RegistrationKind::Unregister,
            other => {
                return Err(EventsError::invalid_field(
                    Self::KIND,
                    "message_type",
                    format!("unknown value {other:?}"),
                ));
            }
        };
        Ok(Self {
            message_type,
            agent: r.string("agent")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_message_type_is_rejected() {
        let doc = serde_json::json!({"message_type": "renew", "agent": "a"});
        assert!(matches!(
            RegistrationEvent::from_json_value(doc),
            Err(EventsError::InvalidDocument { .. })
        ));
    }
}

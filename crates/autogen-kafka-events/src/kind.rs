//! [`EventKind`]: which of the wire events a record carries.

use std::fmt;

use crate::schema;

/// The kinds of record value autogen-kafka puts on its topics.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::EventKind;
///
/// assert_eq!(EventKind::Request.name(), "RequestEvent");
/// assert_eq!(EventKind::Request.default_topic(), Some("runtime_requests"));
/// assert!(EventKind::Registration.json_schema().contains("\"unregister\""));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventKind {
    /// [`crate::RequestEvent`] on the RPC request topic.
    Request,
    /// [`crate::ResponseEvent`] on the RPC response topic.
    Response,
    /// [`crate::RegistrationEvent`] on the agent registry topic.
    Registration,
    /// [`crate::SubscriptionEvent`] on the subscription topic.
    Subscription,
    /// [`crate::PublishEvent`] (a CloudEvent) on the publish topic.
    Publish,
    /// [`crate::MemoryEvent`] on a memory topic.
    Memory,
    /// [`crate::AgentEvent`] on the streaming agent request or response topic.
    Agent,
}

impl EventKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 7] = [
        Self::Request,
        Self::Response,
        Self::Registration,
        Self::Subscription,
        Self::Publish,
        Self::Memory,
        Self::Agent,
    ];

    /// The upstream class name (`RequestEvent`, `CloudEvent`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Request => "RequestEvent",
            Self::Response => "ResponseEvent",
            Self::Registration => "RegistrationEvent",
            Self::Subscription => "SubscriptionEvent",
            Self::Publish => "CloudEvent",
            Self::Memory => "MemoryEvent",
            Self::Agent => "AgentEvent",
        }
    }

    /// The default topic of this kind, per WIRE §2.
    ///
    /// `None` for kinds without a single default: memory topics are per session (see
    /// [`crate::topics::memory_topic`]) and agent events use two topics
    /// ([`crate::topics::AGENT_REQUEST`], [`crate::topics::AGENT_RESPONSE`]).
    #[must_use]
    pub const fn default_topic(self) -> Option<&'static str> {
        match self {
            Self::Request => Some(crate::topics::RUNTIME_REQUESTS),
            Self::Response => Some(crate::topics::RUNTIME_RESPONSES),
            Self::Registration => Some(crate::topics::AGENT_REGISTRY),
            Self::Subscription => Some(crate::topics::AGENT_SUBSCRIPTIONS),
            Self::Publish => Some(crate::topics::AGENT_PUBLISHES),
            Self::Memory | Self::Agent => None,
        }
    }

    /// The JSON Schema document upstream registers for this kind, byte for byte as shipped in
    /// this crate's `schemas/` folder.
    ///
    /// For [`EventKind::Agent`] this is the *base* schema; upstream registers the base schema
    /// with `properties.message` replaced by the message type's schema (see
    /// [`schema::agent_event_schema_text`]).
    #[must_use]
    pub const fn json_schema(self) -> &'static str {
        match self {
            Self::Request => schema::REQUEST_EVENT_JSON_SCHEMA,
            Self::Response => schema::RESPONSE_EVENT_JSON_SCHEMA,
            Self::Registration => schema::REGISTRATION_EVENT_JSON_SCHEMA,
            Self::Subscription => schema::SUBSCRIPTION_EVENT_JSON_SCHEMA,
            Self::Publish => schema::CLOUD_EVENT_JSON_SCHEMA,
            Self::Memory => schema::MEMORY_EVENT_JSON_SCHEMA,
            Self::Agent => schema::AGENT_EVENT_BASE_JSON_SCHEMA,
        }
    }

    /// The schema text upstream registers under `<topic>-value` at startup: the JSON Schema
    /// after a Python `json.loads` + `json.dumps` round trip (separators `", "` and `": "`, key
    /// order kept).
    ///
    /// # Errors
    ///
    /// [`crate::EventsError::InvalidJson`] if the bundled document does not parse (a
    /// build defect; covered by tests).
    pub fn registered_schema_text(self) -> crate::Result<String> {
        schema::python_json_text(self.json_schema())
    }

    /// The Avro schema (JSON text) this crate uses for this kind with [`crate::AvroCodec`].
    #[must_use]
    pub const fn avro_schema(self) -> &'static str {
        match self {
            Self::Request => schema::REQUEST_EVENT_AVRO_SCHEMA,
            Self::Response => schema::RESPONSE_EVENT_AVRO_SCHEMA,
            Self::Registration => schema::REGISTRATION_EVENT_AVRO_SCHEMA,
            Self::Subscription => schema::SUBSCRIPTION_EVENT_AVRO_SCHEMA,
            Self::Publish => schema::CLOUD_EVENT_AVRO_SCHEMA,
            Self::Memory => schema::MEMORY_EVENT_AVRO_SCHEMA,
            Self::Agent => schema::AGENT_EVENT_AVRO_SCHEMA,
        }
    }

    /// The fields the JSON Schema marks as required (a missing or null one is an error).
    #[must_use]
    pub const fn required_fields(self) -> &'static [&'static str] {
        match self {
            Self::Request | Self::Response => &[],
            Self::Registration => &["message_type", "agent"],
            Self::Subscription => &["type", "operation", "subscription"],
            Self::Publish => &["specversion", "type", "source", "id"],
            Self::Memory => &["sender", "mime_type", "content"],
            Self::Agent => &["id", "message_type", "message"],
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_fields_match_the_json_schemas() {
        for kind in EventKind::ALL {
            let doc: serde_json::Value = serde_json::from_str(kind.json_schema()).unwrap();
            let mut from_schema: Vec<&str> = doc
                .get("required")
                .and_then(serde_json::Value::as_array)
                .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
                .unwrap_or_default();
            let mut ours = kind.required_fields().to_vec();
            from_schema.sort_unstable();
            ours.sort_unstable();
            assert_eq!(ours, from_schema, "{kind}");
        }
    }

    #[test]
    fn every_avro_schema_parses() {
        for kind in EventKind::ALL {
            apache_avro::Schema::parse_str(kind.avro_schema())
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
    }
}

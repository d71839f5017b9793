//! Default topic names (WIRE §2) and the topic → [`EventKind`] mapping.

use crate::EventKind;

/// Default RPC request topic (`runtime.runtime_requests`).
pub const RUNTIME_REQUESTS: &str = "runtime_requests";
/// Default RPC response topic (`runtime.runtime_responses`).
pub const RUNTIME_RESPONSES: &str = "runtime_responses";
/// Default agent registry topic (`runtime.registry_topic`).
pub const AGENT_REGISTRY: &str = "agent_registry";
/// Default subscription topic (`runtime.subscription_topic`).
pub const AGENT_SUBSCRIPTIONS: &str = "agent_subscriptions";
/// Default publish topic (`runtime.publish_topic`).
pub const AGENT_PUBLISHES: &str = "agent_publishes";
/// Default memory topic prefix (`memory.memory_topic`); the topic is `<prefix>_<session id>`.
pub const MEMORY_TOPIC: &str = "memory";
/// Default streaming agent request topic (`agent.request_topic`).
pub const AGENT_REQUEST: &str = "agent_request";
/// Default streaming agent response topic (`agent.response_topic`).
pub const AGENT_RESPONSE: &str = "agent_response";

/// The memory topic of a session: `<memory_topic>_<session_id>`.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::topics;
///
/// assert_eq!(topics::memory_topic(topics::MEMORY_TOPIC, "session-1"), "memory_session-1");
/// ```
#[must_use]
pub fn memory_topic(memory_topic: &str, session_id: &str) -> String {
    format!("{memory_topic}_{session_id}")
}

/// The Schema Registry subject of a topic's values (TopicNameStrategy): `<topic>-value`.
#[must_use]
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// The topic names one runtime uses, to tell a record's [`EventKind`] from its topic.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{topics::TopicNames, EventKind};
///
/// let names = TopicNames::default();
/// assert_eq!(names.kind_of("runtime_requests"), Some(EventKind::Request));
/// assert_eq!(names.kind_of("memory_session-1"), Some(EventKind::Memory));
/// assert_eq!(names.kind_of("something_else"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicNames {
    /// RPC request topic.
    pub requests: String,
    /// RPC response topic.
    pub responses: String,
    /// Agent registry topic.
    pub registry: String,
    /// Subscription topic.
    pub subscriptions: String,
    /// Publish topic.
    pub publishes: String,
    /// Memory topic prefix (topics are `<prefix>_<session id>`).
    pub memory_prefix: String,
    /// Streaming agent request topic.
    pub agent_request: String,
    /// Streaming agent response topic.
    pub agent_response: String,
}

impl Default for TopicNames {
    fn default() -> Self {
        Self {
            requests: RUNTIME_REQUESTS.to_owned(),
            responses: RUNTIME_RESPONSES.to_owned(),
            registry: AGENT_REGISTRY.to_owned(),
            subscriptions: AGENT_SUBSCRIPTIONS.to_owned(),
            publishes: AGENT_PUBLISHES.to_owned(),
            memory_prefix: MEMORY_TOPIC.to_owned(),
            agent_request: AGENT_REQUEST.to_owned(),
            agent_response: AGENT_RESPONSE.to_owned(),
        }
    }
}

impl TopicNames {
    /// The kind of event carried by `topic`, or `None` for a topic this runtime does not use.
    ///
    /// Exact names win over the memory prefix.
    #[must_use]
    pub fn kind_of(&self, topic: &str) -> Option<EventKind> {
        let exact = [
            (&self.requests, EventKind::Request),
            (&self.responses, EventKind::Response),
            (&self.registry, EventKind::Registration),
            (&self.subscriptions, EventKind::Subscription),
            (&self.publishes, EventKind::Publish),
            (&self.agent_request, EventKind::Agent),
            (&self.agent_response, EventKind::Agent),
        ];
        if let Some((_, kind)) = exact.iter().find(|(name, _)| name.as_str() == topic) {
            return Some(*kind);
        }
        topic
            .strip_prefix(self.memory_prefix.as_str())
            .and_then(|rest| rest.strip_prefix('_'))
            .filter(|session| !session.is_empty())
            .map(|_| EventKind::Memory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_prefix_needs_a_session() {
        let names = TopicNames::default();
        assert_eq!(names.kind_of("memory_"), None);
        assert_eq!(names.kind_of("memory"), None);
        assert_eq!(names.kind_of("memoryx_a"), None);
        assert_eq!(names.kind_of("memory_a_b"), Some(EventKind::Memory));
    }

    #[test]
    fn custom_names_are_used() {
        let names = TopicNames {
            requests: "rq".to_owned(),
            ..TopicNames::default()
        };
        assert_eq!(names.kind_of("rq"), Some(EventKind::Request));
        assert_eq!(names.kind_of(RUNTIME_REQUESTS), None);
        assert_eq!(value_subject("rq"), "rq-value");
    }
}

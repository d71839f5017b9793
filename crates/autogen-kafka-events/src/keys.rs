//! Record keys (WIRE §2) and the id texts they are made of.
//!
//! | topic | key |
//! |---|---|
//! | requests | recipient agent id `type/key` ([`crate::RequestEvent::record_key`]) |
//! | responses | request id ([`crate::ResponseEvent::record_key`]) |
//! | registry | agent type ([`crate::RegistrationEvent::record_key`]) |
//! | subscriptions | null ([`crate::SubscriptionEvent::record_key`]) |
//! | publish | `topic_type/topic_source` ([`crate::PublishEvent::record_key`]) |
//! | memory | session id ([`memory_key`]) |
//! | agent request | sender agent id, or `"None"` ([`agent_request_key`]) |
//!
//! Keys are UTF-8 strings. Python producers use murmur2 partitioning on the key bytes.

/// The text upstream uses as the agent request key when there is no sender (Python's
/// `str(None)`).
pub const NO_SENDER_KEY: &str = "None";

/// An agent id as text: `<type>/<key>`.
///
/// # Examples
///
/// ```
/// assert_eq!(autogen_kafka_events::keys::agent_id_text("echo", "default"), "echo/default");
/// ```
#[must_use]
pub fn agent_id_text(agent_type: &str, agent_key: &str) -> String {
    format!("{agent_type}/{agent_key}")
}

/// A topic id as text: `<type>/<source>`.
#[must_use]
pub fn topic_id_text(topic_type: &str, topic_source: &str) -> String {
    format!("{topic_type}/{topic_source}")
}

/// Splits an agent id or topic id text at the first `/`, as autogen-core does.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::keys::split_id;
///
/// assert_eq!(split_id("echo/a/b"), Some(("echo", "a/b")));
/// assert_eq!(split_id("no-slash"), None);
/// ```
#[must_use]
pub fn split_id(text: &str) -> Option<(&str, &str)> {
    text.split_once('/')
}

/// The key of a request record: the recipient's agent id text.
#[must_use]
pub fn request_key(recipient_type: &str, recipient_key: &str) -> String {
    agent_id_text(recipient_type, recipient_key)
}

/// The key of a publish record: the topic id text.
#[must_use]
pub fn publish_key(topic_type: &str, topic_source: &str) -> String {
    topic_id_text(topic_type, topic_source)
}

/// The key of a memory record: the session id.
#[must_use]
pub const fn memory_key(session_id: &str) -> &str {
    session_id
}

/// The key of a streaming agent request record: the sender's agent id text, or `"None"` when
/// there is no sender (upstream writes `str(ctx.sender)`).
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::keys::agent_request_key;
///
/// assert_eq!(agent_request_key(Some("caller/default")), "caller/default");
/// assert_eq!(agent_request_key(None), "None");
/// ```
#[must_use]
pub fn agent_request_key(sender: Option<&str>) -> String {
    sender.unwrap_or(NO_SENDER_KEY).to_owned()
}

//! The messages an A2A call becomes on the fleet.

use autogen_kafka_core::Message;
use serde::{Deserialize, Serialize};

/// What an agent behind the gateway receives for an A2A message: its text parts joined by newlines, its data
/// parts, and the A2A context and task ids.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::Message;
/// use autogen_kafka_gateway::A2aRequest;
///
/// assert_eq!(A2aRequest::TYPE_NAME, "A2aRequest");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct A2aRequest {
    /// The text parts, joined by newlines.
    pub text: String,
    /// The data parts, in order.
    #[serde(default)]
    pub data: Vec<serde_json::Value>,
    /// The A2A context id (also the agent id's key).
    pub context_id: String,
    /// The A2A task id the gateway gave the call.
    pub task_id: String,
}

impl Message for A2aRequest {
    const TYPE_NAME: &'static str = "A2aRequest";
}

/// What an agent answers an [`A2aRequest`] with: text, and optionally a data value; both become parts of the
/// task's artifact.
///
/// # Examples
///
/// ```
/// use autogen_kafka_gateway::A2aReply;
///
/// let reply = A2aReply::text("hello");
/// assert_eq!(reply.text, "hello");
/// assert!(reply.data.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct A2aReply {
    /// The answer's text (a text part unless empty).
    #[serde(default)]
    pub text: String,
    /// A structured answer (a data part).
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

impl A2aReply {
    /// A text answer.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            data: None,
        }
    }
}

impl Message for A2aReply {
    const TYPE_NAME: &'static str = "A2aReply";
}

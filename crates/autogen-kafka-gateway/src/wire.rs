//! The A2A 1.0 objects the gateway reads and writes (JSON, camelCase field names, enum values by their proto
//! names), and the JSON-RPC 2.0 envelope. Only what the gateway uses is modelled; unknown fields are ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The protocol version this gateway speaks (the `A2A-Version` header and the card's interfaces).
pub const PROTOCOL_VERSION: &str = "1.0";

/// A message between a client (`ROLE_USER`) and an agent (`ROLE_AGENT`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The sender's id for the message.
    pub message_id: String,
    /// `ROLE_USER` or `ROLE_AGENT`.
    pub role: String,
    /// The content.
    #[serde(default)]
    pub parts: Vec<Part>,
    /// The conversation it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    /// The task it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Free-form metadata (the gateway reads `skillId` here or in the request's metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl Message {
    /// An agent's message of one text part.
    #[must_use]
    pub fn agent_text(text: &str, context_id: &str, task_id: &str) -> Self {
        Self {
            message_id: uuid::Uuid::new_v4().to_string(),
            role: "ROLE_AGENT".to_owned(),
            parts: vec![Part::text(text)],
            context_id: Some(context_id.to_owned()),
            task_id: Some(task_id.to_owned()),
            metadata: None,
        }
    }
}

/// One part of a message or artifact: exactly one of `text`, `data`, `raw` (base64) or `url`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// Text content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Structured content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Bytes, base64 (not accepted by the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// A link to content (not accepted by the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The content's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

impl Part {
    /// A text part.
    #[must_use]
    pub fn text(text: &str) -> Self {
        Self {
            text: Some(text.to_owned()),
            ..Self::default()
        }
    }

    /// A data part.
    #[must_use]
    pub fn data(data: Value) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }
}

/// The lifecycle of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    /// Accepted, not started.
    #[serde(rename = "TASK_STATE_SUBMITTED")]
    Submitted,
    /// The agent is working on it.
    #[serde(rename = "TASK_STATE_WORKING")]
    Working,
    /// Answered.
    #[serde(rename = "TASK_STATE_COMPLETED")]
    Completed,
    /// The agent failed, or did not answer in time.
    #[serde(rename = "TASK_STATE_FAILED")]
    Failed,
    /// Cancelled by the client.
    #[serde(rename = "TASK_STATE_CANCELED")]
    Canceled,
    /// Refused by the agent.
    #[serde(rename = "TASK_STATE_REJECTED")]
    Rejected,
}

impl TaskState {
    /// Whether the task can change no more.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Canceled | Self::Rejected
        )
    }
}

/// A task's current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// The state.
    pub state: TaskState,
    /// The agent's last word (the answer, or why it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// When the state was entered, RFC 3339 in UTC.
    pub timestamp: String,
}

/// An output of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Its id.
    pub artifact_id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its content.
    pub parts: Vec<Part>,
}

/// A unit of work: one A2A message to one agent and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task id.
    pub id: String,
    /// The conversation.
    pub context_id: String,
    /// Its state.
    pub status: TaskStatus,
    /// Its outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
    /// The messages exchanged, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Message>,
    /// Metadata: `skillId` names the skill (agent type) that served it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// The current time as the protocol writes it: RFC 3339, UTC, with a `Z`.
#[must_use]
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    /// The code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
}

impl RpcError {
    /// The body was not JSON.
    pub const PARSE: i64 = -32700;
    /// Not a JSON-RPC 2.0 request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The params do not fit the method.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The gateway failed.
    pub const INTERNAL: i64 = -32603;
    /// No task with that id.
    pub const TASK_NOT_FOUND: i64 = -32001;
    /// The task ended already.
    pub const TASK_NOT_CANCELABLE: i64 = -32002;
    /// The operation is not supported by this gateway.
    pub const UNSUPPORTED_OPERATION: i64 = -32004;
    /// A part of a kind the gateway does not take.
    pub const CONTENT_TYPE_NOT_SUPPORTED: i64 = -32005;
    /// The client asked for another protocol version.
    pub const VERSION_NOT_SUPPORTED: i64 = -32009;

    /// An error with `code` and `message`.
    #[must_use]
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl RpcError {
    /// The HTTP status, AIP-193 status name and A2A error reason of this error in the HTTP+JSON binding.
    #[must_use]
    pub const fn rest_mapping(&self) -> (u16, &'static str, &'static str) {
        match self.code {
            Self::TASK_NOT_FOUND => (404, "NOT_FOUND", "TASK_NOT_FOUND"),
            Self::METHOD_NOT_FOUND => (404, "NOT_FOUND", "METHOD_NOT_FOUND"),
            Self::TASK_NOT_CANCELABLE => (400, "FAILED_PRECONDITION", "TASK_NOT_CANCELABLE"),
            Self::UNSUPPORTED_OPERATION => (400, "FAILED_PRECONDITION", "UNSUPPORTED_OPERATION"),
            Self::VERSION_NOT_SUPPORTED => (400, "FAILED_PRECONDITION", "VERSION_NOT_SUPPORTED"),
            Self::CONTENT_TYPE_NOT_SUPPORTED => {
                (400, "INVALID_ARGUMENT", "CONTENT_TYPE_NOT_SUPPORTED")
            }
            Self::INVALID_PARAMS => (400, "INVALID_ARGUMENT", "INVALID_PARAMS"),
            Self::PARSE | Self::INVALID_REQUEST => (400, "INVALID_ARGUMENT", "INVALID_REQUEST"),
            _ => (500, "INTERNAL", "INTERNAL_ERROR"),
        }
    }

    /// The error's body in the HTTP+JSON binding (a `google.rpc.Status` with an `ErrorInfo` naming the A2A
    /// reason).
    #[must_use]
    pub fn rest_body(&self) -> Value {
        let (status, name, reason) = self.rest_mapping();
        serde_json::json!({"error": {
            "code": status,
            "status": name,
            "message": self.message,
            "details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "a2a-protocol.org",
            }],
        }})
    }
}

/// A JSON-RPC response: `result` or `error`, with the request's `id`.
#[must_use]
pub fn response(id: &Value, outcome: Result<Value, RpcError>) -> Value {
    match outcome {
        Ok(result) => serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => serde_json::json!({"jsonrpc": "2.0", "id": id, "error": error}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_reads_and_writes_the_protocols_names() {
        let task = Task {
            id: "t1".into(),
            context_id: "c1".into(),
            status: TaskStatus {
                state: TaskState::Completed,
                message: Some(Message::agent_text("hi", "c1", "t1")),
                timestamp: "2026-12-07T18:00:00.000Z".into(),
            },
            artifacts: vec![Artifact {
                artifact_id: "a1".into(),
                name: None,
                parts: vec![Part::text("hi"), Part::data(serde_json::json!({"n": 1}))],
            }],
            history: Vec::new(),
            metadata: None,
        };
        let json = serde_json::to_value(&task).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["contextId"], "c1");
        assert_eq!(json["status"]["state"], "TASK_STATE_COMPLETED");
        assert_eq!(json["status"]["message"]["role"], "ROLE_AGENT");
        assert_eq!(json["artifacts"][0]["artifactId"], "a1");
        assert_eq!(json["artifacts"][0]["parts"][1]["data"]["n"], 1);
        assert!(json.get("history").is_none(), "empty lists are left out");
        let back: Task = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, task);
    }

    #[test]
    fn a_message_as_the_python_sdk_sends_it_reads() {
        let sent = r#"{"messageId":"66e1","role":"ROLE_USER","parts":[{"text":"hi"}],"metadata":{"skillId":"echo"}}"#;
        let message: Message = serde_json::from_str(sent).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(message.parts, vec![Part::text("hi")]);
        assert_eq!(message.context_id, None);
        assert!(now().ends_with('Z'));
    }
}

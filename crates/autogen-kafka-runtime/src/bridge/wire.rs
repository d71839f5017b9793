//! Messages to and from the `message` object of an AgentEvent.

use autogen_kafka_core::{AnyMessage, CoreError, JSON_CONTENT_TYPE, Message, SerializedMessage};
use serde_json::{Map, Value};

/// A JSON object, the form of `AgentEvent.message`.
pub(crate) type JsonObject = Map<String, Value>;

/// The message's type name and its JSON object (upstream writes `json.loads` of the message's JSON).
///
/// A message whose JSON is `null` (a unit struct) travels as `{}`, like an empty Python dataclass.
///
/// # Errors
///
/// [`CoreError::UnsupportedContentType`] for bytes that are not JSON, [`CoreError::Serialize`] when the message
/// is not a JSON object.
pub(crate) fn message_object(message: &AnyMessage) -> Result<(String, JsonObject), CoreError> {
    let serialized = message.to_serialized()?;
    if serialized.content_type != JSON_CONTENT_TYPE {
        return Err(CoreError::UnsupportedContentType {
            type_name: serialized.type_name,
            content_type: serialized.content_type,
        });
    }
    let value: Value =
        serde_json::from_slice(&serialized.bytes).map_err(|source| CoreError::Serialize {
            type_name: serialized.type_name.clone(),
            source: Box::new(source),
        })?;
    match value {
        Value::Object(object) => Ok((serialized.type_name, object)),
        Value::Null => Ok((serialized.type_name, JsonObject::new())),
        other => Err(CoreError::Serialize {
            type_name: serialized.type_name,
            source: format!(
                "the streaming bridge sends messages as JSON objects, this one is a JSON {}",
                json_kind(&other)
            )
            .into(),
        }),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

type DecodeFn = fn(JsonObject) -> Result<AnyMessage, CoreError>;

/// The type the bridge answers with: a type name, and for a Rust type a decoder that checks the answer.
#[derive(Clone, Debug)]
pub(crate) struct ResponseType {
    name: String,
    decode: Option<DecodeFn>,
}

fn decode_typed<R: Message>(object: JsonObject) -> Result<AnyMessage, CoreError> {
    let empty = object.is_empty();
    match serde_json::from_value::<R>(Value::Object(object)) {
        Ok(response) => Ok(AnyMessage::new(response)),
        // `{}` is also how a unit struct travels.
        Err(_) if empty => serde_json::from_value::<R>(Value::Null)
            .map(AnyMessage::new)
            .map_err(|source| CoreError::Deserialize {
                type_name: R::TYPE_NAME.to_owned(),
                source: Box::new(source),
            }),
        Err(source) => Err(CoreError::Deserialize {
            type_name: R::TYPE_NAME.to_owned(),
            source: Box::new(source),
        }),
    }
}

impl ResponseType {
    /// Answers are decoded as `R` (a mismatch fails the request with [`CoreError::Deserialize`]).
    pub(crate) fn typed<R: Message>() -> Self {
        Self {
            name: R::TYPE_NAME.to_owned(),
            decode: Some(decode_typed::<R>),
        }
    }

    /// Answers are passed on as JSON bytes with this type name, decoded only when a handler asks.
    pub(crate) fn named(name: String) -> Self {
        Self { name, decode: None }
    }

    /// The type name of the answers.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The answer as a message of this type (the event's own `message_type` is ignored, as upstream does).
    ///
    /// # Errors
    ///
    /// [`CoreError::Deserialize`] when the object is not a valid message of the typed response type.
    pub(crate) fn to_message(&self, object: JsonObject) -> Result<AnyMessage, CoreError> {
        if let Some(decode) = self.decode {
            return decode(object);
        }
        let bytes =
            serde_json::to_vec(&Value::Object(object)).map_err(|source| CoreError::Serialize {
                type_name: self.name.clone(),
                source: Box::new(source),
            })?;
        Ok(AnyMessage::from_serialized(SerializedMessage::json(
            self.name.clone(),
            bytes,
        )))
    }
}

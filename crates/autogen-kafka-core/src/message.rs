//! Messages: the [`Message`] trait, the type-erased [`AnyMessage`], and the [`SerializerRegistry`]
//! that turns messages into bytes and back.
//!
//! A message's identity across languages is its *type name* ([`Message::TYPE_NAME`]): the bare
//! Python class name (`"Ping"`), exactly as autogen-core writes it. The default encoding is JSON
//! (`application/json`) through serde.

use std::{
    any::Any,
    collections::HashMap,
    fmt,
    marker::PhantomData,
    sync::{Arc, PoisonError, RwLock},
};

use serde::{Serialize, de::DeserializeOwned};

use crate::{
    error::{CoreError, Result},
    id::AgentId,
};

/// The content type of JSON-encoded messages.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A message that agents exchange.
///
/// `TYPE_NAME` must equal the class name the Python side uses for the same message, so that both
/// sides pick the same serializer.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AnyMessage, Message};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Ping {
///     content: String,
/// }
///
/// impl Message for Ping {
///     const TYPE_NAME: &'static str = "Ping";
/// }
///
/// let message = AnyMessage::new(Ping { content: "hi".into() });
/// assert_eq!(message.type_name(), "Ping");
/// ```
pub trait Message: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The language-neutral type name (the Python class name).
    const TYPE_NAME: &'static str;
}

/// What a handler may answer with, and what a typed request may expect: any [`Message`], or `()`
/// for "no response".
///
/// `()` is deliberately not a [`Message`]: "no response" is the absence of a message, not a message
/// of some "unit" type. A handler returning `()` answers `None`; a caller expecting `()` accepts any
/// answer and ignores it.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AgentId, CoreError, Reply};
///
/// let agent = AgentId::new("a", "k")?;
/// assert!(().into_reply().is_none());
/// assert!(<()>::from_reply(None, &agent).is_ok());
/// # Ok::<(), CoreError>(())
/// ```
pub trait Reply: Send + Sized + 'static {
    /// The response to hand back to the caller (`None` for no response).
    fn into_reply(self) -> Option<AnyMessage>;

    /// Reads the response `responder` answered with.
    ///
    /// # Errors
    ///
    /// [`CoreError::NoResponse`] when a message was expected but none came; a serialization error
    /// when the response is not of this type.
    fn from_reply(reply: Option<AnyMessage>, responder: &AgentId) -> Result<Self>;
}

impl<M: Message> Reply for M {
    fn into_reply(self) -> Option<AnyMessage> {
        Some(AnyMessage::new(self))
    }

    fn from_reply(reply: Option<AnyMessage>, responder: &AgentId) -> Result<Self> {
        match reply {
            Some(message) => message.into_message(),
            None => Err(CoreError::NoResponse {
                agent_id: responder.clone(),
            }),
        }
    }
}

impl Reply for () {
    fn into_reply(self) -> Option<AnyMessage> {
        None
    }

    fn from_reply(_reply: Option<AnyMessage>, _responder: &AgentId) -> Result<Self> {
        Ok(())
    }
}

/// A message in serialized form: its type name, the content type of the bytes, and the bytes.
///
/// Its `Debug` output shows the length of the payload, never its content.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::SerializedMessage;
///
/// let s = SerializedMessage::json("Ping", br#"{"content":"hi"}"#.to_vec());
/// assert_eq!(s.content_type, "application/json");
/// assert!(!format!("{s:?}").contains("hi"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SerializedMessage {
    /// The message's type name.
    pub type_name: String,
    /// The content type of `bytes` (for example `application/json`).
    pub content_type: String,
    /// The encoded message.
    pub bytes: Vec<u8>,
}

impl SerializedMessage {
    /// A serialized message with any content type.
    #[must_use]
    pub fn new(
        type_name: impl Into<String>,
        content_type: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            type_name: type_name.into(),
            content_type: content_type.into(),
            bytes: bytes.into(),
        }
    }

    /// A JSON-encoded message.
    #[must_use]
    pub fn json(type_name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(type_name, JSON_CONTENT_TYPE, bytes)
    }
}

impl fmt::Debug for SerializedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerializedMessage")
            .field("type_name", &self.type_name)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

type ValueRef<'a> = &'a (dyn Any + Send + Sync);
type SerializeFn = fn(ValueRef<'_>) -> Result<Vec<u8>>;

/// A type-erased message: either an in-memory value or serialized bytes decoded on demand.
///
/// Cloning is cheap (the value or the bytes are shared). `Debug` shows the type name and the form,
/// never the payload.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AnyMessage, Message};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// struct Ping {
///     content: String,
/// }
/// impl Message for Ping {
///     const TYPE_NAME: &'static str = "Ping";
/// }
///
/// let in_memory = AnyMessage::new(Ping { content: "hi".into() });
/// assert_eq!(in_memory.type_name(), "Ping");
///
/// let wire = in_memory.to_serialized()?;
/// let from_wire = AnyMessage::from_serialized(wire);
/// assert_eq!(from_wire.downcast::<Ping>()?, Ping { content: "hi".into() });
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
#[derive(Clone)]
pub struct AnyMessage {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Value {
        type_name: &'static str,
        value: Arc<dyn Any + Send + Sync>,
        serialize: SerializeFn,
    },
    Serialized(Arc<SerializedMessage>),
}

fn serialize_json<M: Message>(value: ValueRef<'_>) -> Result<Vec<u8>> {
    let message = value
        .downcast_ref::<M>()
        .ok_or_else(|| CoreError::MessageTypeMismatch {
            expected: M::TYPE_NAME,
            actual: String::from("<another Rust type>"),
        })?;
    encode_json(message)
}

fn encode_json<M: Message>(message: &M) -> Result<Vec<u8>> {
    serde_json::to_vec(message).map_err(|source| CoreError::Serialize {
        type_name: M::TYPE_NAME.to_owned(),
        source: Box::new(source),
    })
}

fn decode_json<M: Message>(bytes: &[u8]) -> Result<M> {
    serde_json::from_slice(bytes).map_err(|source| CoreError::Deserialize {
        type_name: M::TYPE_NAME.to_owned(),
        source: Box::new(source),
    })
}

impl AnyMessage {
    /// Wraps an in-memory message.
    #[must_use]
    pub fn new<M: Message>(message: M) -> Self {
        Self {
            repr: Repr::Value {
                type_name: M::TYPE_NAME,
                value: Arc::new(message),
                serialize: serialize_json::<M>,
            },
        }
    }

    /// Wraps a serialized message; it is decoded when a handler asks for its type.
    #[must_use]
    pub fn from_serialized(message: SerializedMessage) -> Self {
        Self {
            repr: Repr::Serialized(Arc::new(message)),
        }
    }

    /// The message's type name.
    #[must_use]
    pub fn type_name(&self) -> &str {
        match &self.repr {
            Repr::Value { type_name, .. } => type_name,
            Repr::Serialized(s) => &s.type_name,
        }
    }

    /// Whether the message's type name is `M`'s.
    #[must_use]
    pub fn is<M: Message>(&self) -> bool {
        self.type_name() == M::TYPE_NAME
    }

    /// The serialized form, when this message holds bytes rather than a value.
    #[must_use]
    pub fn as_serialized(&self) -> Option<&SerializedMessage> {
        match &self.repr {
            Repr::Value { .. } => None,
            Repr::Serialized(s) => Some(s),
        }
    }

    /// A reference to the value, when this message holds an in-memory `M`.
    #[must_use]
    pub fn downcast_ref<M: Message>(&self) -> Option<&M> {
        match &self.repr {
            Repr::Value { value, .. } => value.downcast_ref::<M>(),
            Repr::Serialized(_) => None,
        }
    }

    /// The message as an `M`: a clone of the in-memory value, or the JSON bytes decoded.
    ///
    /// A value of another Rust type with the same type name is converted through JSON, as it would
    /// be on the wire.
    ///
    /// # Errors
    ///
    /// [`CoreError::MessageTypeMismatch`] when the type names differ,
    /// [`CoreError::UnsupportedContentType`] when the bytes are not JSON,
    /// [`CoreError::Deserialize`] when the bytes do not decode as `M`.
    pub fn downcast<M: Message>(&self) -> Result<M> {
        match self.downcast_ref::<M>() {
            Some(message) => Ok(message.clone()),
            None => self.decode_as::<M>(),
        }
    }

    /// Like [`downcast`](Self::downcast), but takes the value without cloning it when this is the
    /// only reference to it.
    ///
    /// # Errors
    ///
    /// As [`downcast`](Self::downcast).
    pub fn into_message<M: Message>(self) -> Result<M> {
        if let Repr::Value {
            type_name,
            value,
            serialize,
        } = self.repr
        {
            return match Arc::downcast::<M>(value) {
                Ok(message) => Ok(Arc::unwrap_or_clone(message)),
                Err(value) => Self {
                    repr: Repr::Value {
                        type_name,
                        value,
                        serialize,
                    },
                }
                .decode_as::<M>(),
            };
        }
        self.decode_as::<M>()
    }

    fn decode_as<M: Message>(&self) -> Result<M> {
        if !self.is::<M>() {
            return Err(CoreError::MessageTypeMismatch {
                expected: M::TYPE_NAME,
                actual: self.type_name().to_owned(),
            });
        }
        let serialized = self.to_serialized()?;
        if serialized.content_type != JSON_CONTENT_TYPE {
            return Err(CoreError::UnsupportedContentType {
                type_name: serialized.type_name,
                content_type: serialized.content_type,
            });
        }
        decode_json(&serialized.bytes)
    }

    /// The message as bytes: JSON through serde for an in-memory value (content type
    /// `application/json`), or the stored bytes unchanged.
    ///
    /// # Errors
    ///
    /// [`CoreError::Serialize`] when serde fails to encode the value.
    pub fn to_serialized(&self) -> Result<SerializedMessage> {
        match &self.repr {
            Repr::Value {
                type_name,
                value,
                serialize,
            } => Ok(SerializedMessage::json(
                *type_name,
                serialize(value.as_ref())?,
            )),
            Repr::Serialized(s) => Ok(SerializedMessage::clone(s)),
        }
    }
}

impl fmt::Debug for AnyMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Value { type_name, .. } => f
                .debug_struct("AnyMessage")
                .field("type_name", type_name)
                .field("form", &"value")
                .finish(),
            Repr::Serialized(s) => f
                .debug_struct("AnyMessage")
                .field("type_name", &s.type_name)
                .field("form", &"serialized")
                .field("content_type", &s.content_type)
                .field("len", &s.bytes.len())
                .finish(),
        }
    }
}

/// Encodes and decodes the messages of one type name. Kept as `Arc<dyn MessageSerializer>` in a
/// [`SerializerRegistry`]; its methods are synchronous.
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{JsonSerializer, Message, MessageSerializer};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Ping {
///     content: String,
/// }
/// impl Message for Ping {
///     const TYPE_NAME: &'static str = "Ping";
/// }
///
/// let serializer = JsonSerializer::<Ping>::new();
/// assert_eq!(serializer.type_name(), "Ping");
/// assert_eq!(serializer.content_type(), "application/json");
/// let message = serializer.deserialize(br#"{"content":"hi"}"#)?;
/// assert_eq!(message.downcast_ref::<Ping>().map(|p| p.content.as_str()), Some("hi"));
/// # Ok::<(), autogen_kafka_core::CoreError>(())
/// ```
pub trait MessageSerializer: Send + Sync + 'static {
    /// The type name this serializer handles.
    fn type_name(&self) -> &str;

    /// The content type of the bytes it writes and reads.
    fn content_type(&self) -> &str;

    /// Encodes a message of this type.
    ///
    /// # Errors
    ///
    /// [`CoreError::MessageTypeMismatch`] for a message of another type, [`CoreError::Serialize`]
    /// when encoding fails.
    fn serialize(&self, message: &AnyMessage) -> Result<Vec<u8>>;

    /// Decodes bytes into an in-memory message.
    ///
    /// # Errors
    ///
    /// [`CoreError::Deserialize`] when the bytes are not a valid message of this type.
    fn deserialize(&self, bytes: &[u8]) -> Result<AnyMessage>;
}

/// The JSON (serde) serializer for a [`Message`] type.
pub struct JsonSerializer<M> {
    marker: PhantomData<fn() -> M>,
}

impl<M: Message> JsonSerializer<M> {
    /// The serializer for `M`.
    #[must_use]
    pub fn new() -> Self {
        Self {
            marker: PhantomData,
        }
    }
}

impl<M: Message> Default for JsonSerializer<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> fmt::Debug for JsonSerializer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonSerializer")
            .field("type", &std::any::type_name::<M>())
            .finish()
    }
}

impl<M: Message> MessageSerializer for JsonSerializer<M> {
    fn type_name(&self) -> &str {
        M::TYPE_NAME
    }

    fn content_type(&self) -> &str {
        JSON_CONTENT_TYPE
    }

    fn serialize(&self, message: &AnyMessage) -> Result<Vec<u8>> {
        if !message.is::<M>() {
            return Err(CoreError::MessageTypeMismatch {
                expected: M::TYPE_NAME,
                actual: message.type_name().to_owned(),
            });
        }
        match (message.downcast_ref::<M>(), message.as_serialized()) {
            (Some(value), _) => encode_json(value),
            (None, Some(s)) if s.content_type == JSON_CONTENT_TYPE => Ok(s.bytes.clone()),
            (None, _) => encode_json(&message.downcast::<M>()?),
        }
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<AnyMessage> {
        decode_json::<M>(bytes).map(AnyMessage::new)
    }
}

/// Type name → serializer. Shared by a runtime and everything that encodes its messages; safe to
/// use from many tasks (registration takes `&self`).
///
/// # Examples
///
/// ```
/// use autogen_kafka_core::{AnyMessage, CoreError, Message, SerializedMessage, SerializerRegistry};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// struct Ping {
///     content: String,
/// }
/// impl Message for Ping {
///     const TYPE_NAME: &'static str = "Ping";
/// }
///
/// let registry = SerializerRegistry::new();
/// registry.register::<Ping>();
/// assert!(registry.contains("Ping"));
///
/// let bytes = registry.serialize(&AnyMessage::new(Ping { content: "hi".into() }))?;
/// let back = registry.deserialize(&bytes)?;
/// assert_eq!(back.downcast_ref::<Ping>(), Some(&Ping { content: "hi".into() }));
///
/// let unknown = SerializedMessage::json("Pong", b"{}".to_vec());
/// assert!(matches!(registry.deserialize(&unknown), Err(CoreError::UnknownMessageType { .. })));
/// # Ok::<(), CoreError>(())
/// ```
#[derive(Default)]
pub struct SerializerRegistry {
    serializers: RwLock<HashMap<String, Arc<dyn MessageSerializer>>>,
}

impl SerializerRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the JSON serializer of `M` under `M::TYPE_NAME` (replacing any previous one).
    pub fn register<M: Message>(&self) {
        self.add_serializer(Arc::new(JsonSerializer::<M>::new()));
    }

    /// Registers a serializer under its type name (replacing any previous one).
    pub fn add_serializer(&self, serializer: Arc<dyn MessageSerializer>) {
        let name = serializer.type_name().to_owned();
        self.serializers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, serializer);
    }

    /// Whether a serializer is registered for the type name.
    #[must_use]
    pub fn contains(&self, type_name: &str) -> bool {
        self.serializers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(type_name)
    }

    /// The serializer registered for the type name.
    #[must_use]
    pub fn get(&self, type_name: &str) -> Option<Arc<dyn MessageSerializer>> {
        self.serializers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(type_name)
            .cloned()
    }

    /// The registered type names, sorted.
    #[must_use]
    pub fn type_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .serializers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    fn require(&self, type_name: &str) -> Result<Arc<dyn MessageSerializer>> {
        self.get(type_name)
            .ok_or_else(|| CoreError::UnknownMessageType {
                type_name: type_name.to_owned(),
            })
    }

    /// Encodes a message with the serializer registered for its type name.
    ///
    /// # Errors
    ///
    /// [`CoreError::UnknownMessageType`] when no serializer is registered for the type name, or the
    /// serializer's error.
    pub fn serialize(&self, message: &AnyMessage) -> Result<SerializedMessage> {
        let serializer = self.require(message.type_name())?;
        let bytes = serializer.serialize(message)?;
        Ok(SerializedMessage::new(
            message.type_name(),
            serializer.content_type(),
            bytes,
        ))
    }

    /// Decodes a serialized message into an in-memory one.
    ///
    /// # Errors
    ///
    /// [`CoreError::UnknownMessageType`] when no serializer is registered for the type name,
    /// [`CoreError::UnsupportedContentType`] when the serializer reads another content type,
    /// [`CoreError::Deserialize`] (with the decoder's error as source) for bad bytes.
    pub fn deserialize(&self, message: &SerializedMessage) -> Result<AnyMessage> {
        let serializer = self.require(&message.type_name)?;
        if serializer.content_type() != message.content_type {
            return Err(CoreError::UnsupportedContentType {
                type_name: message.type_name.clone(),
                content_type: message.content_type.clone(),
            });
        }
        serializer.deserialize(&message.bytes)
    }
}

impl fmt::Debug for SerializerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerializerRegistry")
            .field("type_names", &self.type_names())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Ping {
        content: String,
    }
    impl Message for Ping {
        const TYPE_NAME: &'static str = "Ping";
    }

    /// Another Rust type that claims the same language-neutral name.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct PingMirror {
        content: String,
    }
    impl Message for PingMirror {
        const TYPE_NAME: &'static str = "Ping";
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Pong {
        n: u32,
    }
    impl Message for Pong {
        const TYPE_NAME: &'static str = "Pong";
    }

    fn ping(s: &str) -> Ping {
        Ping { content: s.into() }
    }

    #[test]
    fn value_message_downcasts_and_serializes_to_json() {
        let m = AnyMessage::new(ping("hello"));
        assert_eq!(m.type_name(), "Ping");
        assert!(m.is::<Ping>());
        assert_eq!(m.downcast::<Ping>().unwrap(), ping("hello"));
        let s = m.to_serialized().unwrap();
        assert_eq!(s.type_name, "Ping");
        assert_eq!(s.content_type, JSON_CONTENT_TYPE);
        let json: serde_json::Value = serde_json::from_slice(&s.bytes).unwrap();
        assert_eq!(json, serde_json::json!({"content": "hello"}));
    }

    #[test]
    fn serialized_message_decodes_lazily() {
        let m = AnyMessage::from_serialized(SerializedMessage::json(
            "Ping",
            br#"{"content": "from python"}"#.to_vec(),
        ));
        assert_eq!(m.type_name(), "Ping");
        assert!(m.downcast_ref::<Ping>().is_none());
        assert_eq!(m.downcast::<Ping>().unwrap(), ping("from python"));
        assert_eq!(m.into_message::<Ping>().unwrap(), ping("from python"));
    }

    #[test]
    fn downcast_to_another_type_name_fails() {
        let m = AnyMessage::new(ping("x"));
        match m.downcast::<Pong>().unwrap_err() {
            CoreError::MessageTypeMismatch { expected, actual } => {
                assert_eq!(expected, "Pong");
                assert_eq!(actual, "Ping");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn same_type_name_in_another_rust_type_converts_through_json() {
        let m = AnyMessage::new(ping("twin"));
        assert_eq!(
            m.clone().into_message::<PingMirror>().unwrap(),
            PingMirror {
                content: "twin".into()
            }
        );
        assert_eq!(m.downcast::<PingMirror>().unwrap().content, "twin");
    }

    #[test]
    fn bad_bytes_fail_with_deserialize_and_a_source() {
        let m = AnyMessage::from_serialized(SerializedMessage::json("Ping", b"{oops".to_vec()));
        let err = m.downcast::<Ping>().unwrap_err();
        assert!(matches!(err, CoreError::Deserialize { ref type_name, .. } if type_name == "Ping"));
        assert!(err.source().is_some());
    }

    #[test]
    fn non_json_bytes_are_not_decoded_as_json() {
        let m = AnyMessage::from_serialized(SerializedMessage::new(
            "Ping",
            "application/x-protobuf",
            vec![1, 2, 3],
        ));
        assert!(matches!(
            m.downcast::<Ping>(),
            Err(CoreError::UnsupportedContentType { .. })
        ));
    }

    #[test]
    fn debug_never_shows_the_payload() {
        let secret = "top-secret-payload";
        let value = AnyMessage::new(ping(secret));
        let bytes = AnyMessage::from_serialized(SerializedMessage::json(
            "Ping",
            format!(r#"{{"content":"{secret}"}}"#).into_bytes(),
        ));
        for text in [
            format!("{value:?}"),
            format!("{bytes:?}"),
            format!("{:?}", bytes.as_serialized().unwrap()),
        ] {
            assert!(!text.contains(secret), "{text}");
            assert!(text.contains("Ping"), "{text}");
        }
    }

    #[test]
    fn unit_reply_means_no_response() {
        let agent = AgentId::new("a", "k").unwrap();
        assert!(().into_reply().is_none());
        assert!(matches!(
            Ping::from_reply(None, &agent),
            Err(CoreError::NoResponse { .. })
        ));
        assert_eq!(
            Ping::from_reply(ping("x").into_reply(), &agent).unwrap(),
            ping("x")
        );
    }

    #[test]
    fn registry_round_trips_known_types() {
        let registry = SerializerRegistry::new();
        registry.register::<Ping>();
        registry.register::<Pong>();
        assert!(registry.contains("Ping"));
        assert!(!registry.contains("Other"));
        assert_eq!(registry.type_names(), ["Ping", "Pong"]);

        let s = registry.serialize(&AnyMessage::new(Pong { n: 7 })).unwrap();
        assert_eq!(s.type_name, "Pong");
        let back = registry.deserialize(&s).unwrap();
        assert_eq!(back.downcast_ref::<Pong>(), Some(&Pong { n: 7 }));

        // Already-serialized JSON passes through unchanged.
        let raw = SerializedMessage::json("Ping", br#"{"content":"x"}"#.to_vec());
        let again = registry
            .serialize(&AnyMessage::from_serialized(raw.clone()))
            .unwrap();
        assert_eq!(again, raw);
    }

    #[test]
    fn registry_rejects_unknown_types() {
        let registry = SerializerRegistry::new();
        let err = registry
            .deserialize(&SerializedMessage::json("Nope", b"{}".to_vec()))
            .unwrap_err();
        assert!(
            matches!(err, CoreError::UnknownMessageType { ref type_name } if type_name == "Nope")
        );
        assert!(matches!(
            registry.serialize(&AnyMessage::new(ping("x"))),
            Err(CoreError::UnknownMessageType { .. })
        ));
    }

    #[test]
    fn registry_reports_bad_bytes_with_source() {
        let registry = SerializerRegistry::new();
        registry.register::<Pong>();
        let err = registry
            .deserialize(&SerializedMessage::json(
                "Pong",
                br#"{"n":"not a number"}"#.to_vec(),
            ))
            .unwrap_err();
        assert!(matches!(err, CoreError::Deserialize { ref type_name, .. } if type_name == "Pong"));
        let source = err.source().unwrap();
        assert!(source.downcast_ref::<serde_json::Error>().is_some());
        assert!(matches!(
            registry.deserialize(&SerializedMessage::new("Pong", "text/plain", b"7".to_vec())),
            Err(CoreError::UnsupportedContentType { .. })
        ));
    }
}

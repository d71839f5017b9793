//! [`MemoryEvent`]: content added to a shared memory (WIRE §4).

use std::borrow::Cow;
use std::fmt;

use apache_avro::types::Value as AvroValue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::avro_value::{RecordReader, optional_string, string};
use crate::event::{WireEvent, from_document};
use crate::payload::{decode_base64, encode_base64};
use crate::schema::python_json_dumps;
use crate::{EventKind, EventsError, Metadata, Result};

/// The content type of a memory entry.
///
/// Unknown strings are kept as [`MemoryMimeType::Other`] instead of failing (upstream raises on
/// them, which makes the record a poison record: WIRE D4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemoryMimeType {
    /// `text/plain`: content as-is.
    Text,
    /// `text/markdown`: content as-is.
    Markdown,
    /// `application/json`: content is JSON text.
    Json,
    /// `image/*`: content is base64.
    Image,
    /// `application/octet-stream`: content is base64.
    Binary,
    /// Any other mime string, kept verbatim.
    Other(String),
}

impl MemoryMimeType {
    /// The wire text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Text => "text/plain",
            Self::Markdown => "text/markdown",
            Self::Json => "application/json",
            Self::Image => "image/*",
            Self::Binary => "application/octet-stream",
            Self::Other(other) => other,
        }
    }

    /// Whether the content is base64 text (images and binary).
    #[must_use]
    pub const fn is_base64(&self) -> bool {
        matches!(self, Self::Image | Self::Binary)
    }
}

impl From<&str> for MemoryMimeType {
    fn from(text: &str) -> Self {
        match text {
            "text/plain" => Self::Text,
            "text/markdown" => Self::Markdown,
            "application/json" => Self::Json,
            "image/*" => Self::Image,
            "application/octet-stream" => Self::Binary,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<String> for MemoryMimeType {
    fn from(text: String) -> Self {
        match Self::from(text.as_str()) {
            Self::Other(_) => Self::Other(text),
            known => known,
        }
    }
}

impl fmt::Display for MemoryMimeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MemoryMimeType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MemoryMimeType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// `{"sender", "mime_type", "content", "metadata"}` on a memory topic, keyed by the session id
/// (see [`crate::keys::memory_key`]).
///
/// `metadata` is the JSON *text* of the metadata object; we write `"{}"` when there is none,
/// because upstream's reader stops its stream for good on a null (D4). Our reader accepts a
/// null or missing `metadata` too.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{MemoryEvent, MemoryMimeType};
///
/// let event = MemoryEvent::binary("instance-1", &[0, 1, 0xfe]);
/// assert_eq!(event.mime_type, MemoryMimeType::Binary);
/// assert_eq!(event.content, "AAH+");
/// assert_eq!(event.content_bytes()?.as_ref(), &[0, 1, 0xfe]);
///
/// let mut metadata = serde_json::Map::new();
/// metadata.insert("k".into(), "v".into());
/// let event = MemoryEvent::text("instance-1", "the sky is blue").with_metadata(&metadata)?;
/// assert_eq!(event.metadata.as_deref(), Some(r#"{"k": "v"}"#));
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemoryEvent {
    /// The id of the memory instance that added the content (receivers skip their own).
    pub sender: String,
    /// The content type.
    pub mime_type: MemoryMimeType,
    /// The content: text as-is, JSON as text, images and binary as base64.
    pub content: String,
    /// JSON text of the metadata object, or `None` when empty.
    #[serde(default)]
    pub metadata: Option<String>,
}

impl MemoryEvent {
    /// An event with the given fields and no metadata.
    #[must_use]
    pub fn new(
        sender: impl Into<String>,
        mime_type: MemoryMimeType,
        content: impl Into<String>,
    ) -> Self {
        Self {
            sender: sender.into(),
            mime_type,
            content: content.into(),
            metadata: None,
        }
    }

    /// `text/plain` content.
    #[must_use]
    pub fn text(sender: impl Into<String>, content: impl Into<String>) -> Self {
        Self::new(sender, MemoryMimeType::Text, content)
    }

    /// `text/markdown` content.
    #[must_use]
    pub fn markdown(sender: impl Into<String>, content: impl Into<String>) -> Self {
        Self::new(sender, MemoryMimeType::Markdown, content)
    }

    /// `application/json` content, written as Python's `json.dumps` writes it.
    ///
    /// # Errors
    ///
    /// [`EventsError::InvalidJson`] only if `serde_json` cannot write the value.
    pub fn json(sender: impl Into<String>, content: &serde_json::Value) -> Result<Self> {
        Ok(Self::new(
            sender,
            MemoryMimeType::Json,
            python_json_dumps(content)?,
        ))
    }

    /// `application/octet-stream` content, base64-encoded.
    #[must_use]
    pub fn binary(sender: impl Into<String>, content: &[u8]) -> Self {
        Self::new(sender, MemoryMimeType::Binary, encode_base64(content))
    }

    /// `image/*` content, base64-encoded.
    #[must_use]
    pub fn image(sender: impl Into<String>, content: &[u8]) -> Self {
        Self::new(sender, MemoryMimeType::Image, encode_base64(content))
    }

    /// Sets the metadata, written as Python's `json.dumps` writes it; an empty map gives `"{}"`
    /// (upstream writes null for no metadata, and its readers crash on that null).
    ///
    /// # Errors
    ///
    /// [`EventsError::InvalidJson`] only if `serde_json` cannot write the map.
    pub fn with_metadata(mut self, metadata: &Metadata) -> Result<Self> {
        self.metadata = Some(python_json_dumps(&serde_json::Value::Object(
            metadata.clone(),
        ))?);
        Ok(self)
    }

    /// The content as bytes: base64-decoded for images and binary, the UTF-8 text otherwise.
    ///
    /// (Upstream's reader returns the base64 text's bytes for binary content, so binary does
    /// not survive its round trip: D4. This accessor decodes.)
    ///
    /// # Errors
    ///
    /// [`EventsError::InvalidBase64`] when base64 content does not decode.
    pub fn content_bytes(&self) -> Result<Cow<'_, [u8]>> {
        if self.mime_type.is_base64() {
            decode_base64("content", &self.content).map(Cow::Owned)
        } else {
            Ok(Cow::Borrowed(self.content.as_bytes()))
        }
    }

    /// The metadata object, parsed from its JSON text; `None` when absent.
    ///
    /// # Errors
    ///
    /// [`EventsError::InvalidField`] when the text is not a JSON object.
    pub fn metadata_map(&self) -> Result<Option<Metadata>> {
        let Some(text) = self.metadata.as_deref() else {
            return Ok(None);
        };
        match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
            Ok(serde_json::Value::Null) => Ok(None),
            Ok(_) => Err(EventsError::invalid_field(
                EventKind::Memory,
                "metadata",
                "not a JSON object",
            )),
            Err(e) => Err(EventsError::invalid_field(
                EventKind::Memory,
                "metadata",
                format!("not JSON text: {e}"),
            )),
        }
    }
}

impl WireEvent for MemoryEvent {
    const KIND: EventKind = EventKind::Memory;

    fn from_json_value(document: serde_json::Value) -> Result<Self> {
        from_document(Self::KIND, document, &[])
    }

    fn to_avro(&self) -> Result<AvroValue> {
        Ok(AvroValue::Record(vec![
            ("sender".into(), string(&self.sender)),
            ("mime_type".into(), string(self.mime_type.as_str())),
            ("content".into(), string(&self.content)),
            ("metadata".into(), optional_string(self.metadata.as_deref())),
        ]))
    }

    fn from_avro(value: AvroValue) -> Result<Self> {
        let mut r = RecordReader::new(Self::KIND, value)?;
        Ok(Self {
            sender: r.string("sender")?,
            mime_type: MemoryMimeType::from(r.string("mime_type")?),
            content: r.string("content")?,
            metadata: r.optional_string("metadata")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_mime_type_and_null_metadata_are_accepted() {
        let doc = serde_json::json!({
            "sender": "s", "mime_type": "video/mp4", "content": "c", "metadata": null
        });
        let event = MemoryEvent::from_json_value(doc).unwrap();
        assert_eq!(
            event.mime_type,
            MemoryMimeType::Other("video/mp4".to_owned())
        );
        assert_eq!(event.metadata_map().unwrap(), None);
        let back = serde_json::to_value(&event).unwrap();
        assert_eq!(back["mime_type"], "video/mp4");
    }

    #[test]
    fn missing_content_is_a_missing_field() {
        let doc = serde_json::json!({"sender": "s", "mime_type": "text/plain"});
        assert!(matches!(
            MemoryEvent::from_json_value(doc),
            Err(EventsError::MissingField {
                field: "content",
                ..
            })
        ));
    }

    #[test]
    fn json_content_is_written_like_python() {
        let event =
            MemoryEvent::json("s", &serde_json::json!({"a": 1, "b": [true, null]})).unwrap();
        assert_eq!(event.content, r#"{"a": 1, "b": [true, null]}"#);
        let empty = MemoryEvent::text("s", "x")
            .with_metadata(&Metadata::new())
            .unwrap();
        assert_eq!(empty.metadata.as_deref(), Some("{}"));
    }

    #[test]
    fn metadata_must_be_an_object() {
        let mut event = MemoryEvent::text("s", "x");
        event.metadata = Some("[1]".to_owned());
        assert!(event.metadata_map().is_err());
        event.metadata = Some("{".to_owned());
        assert!(event.metadata_map().is_err());
    }
}

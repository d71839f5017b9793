//! [`MemoryContent`]: one memory entry, and its form on the wire ([`MemoryEvent`]).

use std::fmt;

use autogen_kafka_events::schema::python_json_dumps;
use autogen_kafka_events::{EventsError, MemoryEvent, MemoryMimeType, Metadata};

use crate::error::{MemoryError, Result};

/// The content of a memory entry: text, a JSON value or bytes (autogen-core's `str`, `dict` and
/// `bytes`; an image is bytes with [`MemoryMimeType::Image`]).
///
/// # Examples
///
/// ```
/// use autogen_kafka_memory::Content;
///
/// assert_eq!(Content::from("hello"), Content::Text("hello".to_owned()));
/// assert_eq!(Content::from(vec![1_u8, 2]), Content::Bytes(vec![1, 2]));
/// assert_eq!(Content::from(serde_json::json!({"a": 1})).as_json().map(|v| v["a"].clone()), Some(1.into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Content {
    /// Text.
    Text(String),
    /// A JSON value (autogen-core's `dict` content; any JSON value is accepted).
    Json(serde_json::Value),
    /// Raw bytes (binary data, images).
    Bytes(Vec<u8>),
}

impl Content {
    /// The text, when this is [`Content::Text`].
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Json(_) | Self::Bytes(_) => None,
        }
    }

    /// The JSON value, when this is [`Content::Json`].
    #[must_use]
    pub const fn as_json(&self) -> Option<&serde_json::Value> {
        match self {
            Self::Json(value) => Some(value),
            Self::Text(_) | Self::Bytes(_) => None,
        }
    }

    /// The bytes, when this is [`Content::Bytes`].
    #[must_use]
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bytes(bytes) => Some(bytes),
            Self::Text(_) | Self::Json(_) => None,
        }
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<serde_json::Value> for Content {
    fn from(value: serde_json::Value) -> Self {
        Self::Json(value)
    }
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Bytes(bytes)
    }
}

impl From<&[u8]> for Content {
    fn from(bytes: &[u8]) -> Self {
        Self::Bytes(bytes.to_vec())
    }
}

/// One memory entry: content, its mime type and metadata (autogen-core's `MemoryContent`).
///
/// An empty [`metadata`](Self::metadata) map stands for "no metadata" (the wire writes `"{}"`,
/// which every Python reader accepts; upstream writes `null`, which its own reader cannot read).
///
/// # On the wire
///
/// [`to_event`](Self::to_event) writes a [`MemoryEvent`] exactly as the Python original does, and
/// [`from_event`](Self::from_event) reads one back, fixing upstream's reader defects (D4):
///
/// | mime type | content written | read back as |
/// |---|---|---|
/// | `text/plain`, `text/markdown` | text as-is (JSON as `json.dumps` text, bytes only when UTF-8) | [`Content::Text`] |
/// | `application/json` | a JSON value as `json.dumps` text, or text that parses as JSON, as-is | [`Content::Json`] |
/// | `image/*`, `application/octet-stream` | bytes as base64, or base64 text as-is | [`Content::Bytes`] (base64-decoded) |
/// | anything else | refused ([`MemoryError::UnsupportedMimeType`]): Python readers stop on it | [`Content::Text`], kept as-is |
///
/// Metadata is written as `json.dumps` text (`"{}"` when empty); a `null` or missing metadata
/// reads as an empty map (upstream cannot read its own `null`).
///
/// # Examples
///
/// ```
/// use autogen_kafka_memory::{Content, MemoryContent, MemoryMimeType};
///
/// let fact = MemoryContent::text("the sky is blue").with_metadata_entry("source", "test");
/// let event = fact.to_event("instance-1")?;
/// assert_eq!(event.content, "the sky is blue");
/// assert_eq!(event.metadata.as_deref(), Some(r#"{"source": "test"}"#));
/// assert_eq!(MemoryContent::from_event(&event)?, fact);
///
/// let blob = MemoryContent::binary(vec![0_u8, 1, 0xfe]);
/// let event = blob.to_event("instance-1")?;
/// assert_eq!((event.content.as_str(), event.metadata.as_deref()), ("AAH+", Some("{}")));
/// assert_eq!(MemoryContent::from_event(&event)?.content, Content::Bytes(vec![0, 1, 0xfe]));
/// assert_eq!(blob.mime_type, MemoryMimeType::Binary);
/// # Ok::<(), autogen_kafka_memory::MemoryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryContent {
    /// The content.
    pub content: Content,
    /// Its mime type.
    pub mime_type: MemoryMimeType,
    /// Metadata; empty when there is none.
    pub metadata: Metadata,
}

impl MemoryContent {
    /// Content with a mime type and no metadata.
    #[must_use]
    pub fn new(content: impl Into<Content>, mime_type: MemoryMimeType) -> Self {
        Self {
            content: content.into(),
            mime_type,
            metadata: Metadata::new(),
        }
    }

    /// `text/plain` text.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(Content::Text(text.into()), MemoryMimeType::Text)
    }

    /// `text/markdown` text.
    #[must_use]
    pub fn markdown(text: impl Into<String>) -> Self {
        Self::new(Content::Text(text.into()), MemoryMimeType::Markdown)
    }

    /// An `application/json` value.
    #[must_use]
    pub fn json(value: serde_json::Value) -> Self {
        Self::new(Content::Json(value), MemoryMimeType::Json)
    }

    /// `application/octet-stream` bytes.
    #[must_use]
    pub fn binary(bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(Content::Bytes(bytes.into()), MemoryMimeType::Binary)
    }

    /// `image/*` bytes (the encoded image, for example a PNG file).
    #[must_use]
    pub fn image(bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(Content::Bytes(bytes.into()), MemoryMimeType::Image)
    }

    /// Replaces the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets one metadata entry.
    #[must_use]
    pub fn with_metadata_entry(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The [`MemoryEvent`] that shares this content, sent by `sender` (see the table in the
    /// type docs).
    ///
    /// # Errors
    ///
    /// [`MemoryError::InvalidContent`] when the content does not fit its mime type (bytes that are
    /// not UTF-8 as text, text that is not JSON as `application/json`, text that is not base64 or
    /// a JSON value as binary), [`MemoryError::UnsupportedMimeType`] for a mime type the Python
    /// original cannot read.
    pub fn to_event(&self, sender: &str) -> Result<MemoryEvent> {
        let mime = &self.mime_type;
        let event = match mime {
            MemoryMimeType::Text | MemoryMimeType::Markdown => {
                MemoryEvent::new(sender, mime.clone(), self.text_form()?)
            }
            MemoryMimeType::Json => {
                let text = match &self.content {
                    Content::Json(value) => dumps(mime, value)?,
                    Content::Text(text) => checked_json(mime, text.clone())?,
                    Content::Bytes(bytes) => checked_json(mime, utf8(mime, bytes)?)?,
                };
                MemoryEvent::new(sender, mime.clone(), text)
            }
            MemoryMimeType::Image | MemoryMimeType::Binary => match &self.content {
                Content::Bytes(bytes) => match mime {
                    MemoryMimeType::Image => MemoryEvent::image(sender, bytes),
                    _ => MemoryEvent::binary(sender, bytes),
                },
                Content::Text(text) => {
                    let event = MemoryEvent::new(sender, mime.clone(), text.clone());
                    event
                        .content_bytes()
                        .map_err(|_| MemoryError::invalid_content(mime, "text is not base64"))?;
                    event
                }
                Content::Json(_) => {
                    return Err(MemoryError::invalid_content(
                        mime,
                        "a JSON value is not binary content",
                    ));
                }
            },
            other => {
                return Err(MemoryError::UnsupportedMimeType {
                    mime_type: other.to_string(),
                });
            }
        };
        event
            .with_metadata(&self.metadata)
            .map_err(|source| MemoryError::invalid_content(mime, source.to_string()))
    }

    /// The content carried by `event` (see the table in the type docs).
    ///
    /// # Errors
    ///
    /// [`MemoryError::DecodeContent`] when `application/json` content is not JSON, image or
    /// binary content is not base64, or the metadata is not a JSON object.
    pub fn from_event(event: &MemoryEvent) -> Result<Self> {
        let mime = &event.mime_type;
        let decode_error = |source: EventsError| MemoryError::DecodeContent {
            mime_type: mime.to_string(),
            source: Box::new(source),
        };
        let content = match mime {
            MemoryMimeType::Json => serde_json::from_str(&event.content)
                .map(Content::Json)
                .map_err(|source| {
                    decode_error(EventsError::InvalidJson {
                        line: source.line(),
                        column: source.column(),
                        source,
                    })
                })?,
            MemoryMimeType::Image | MemoryMimeType::Binary => {
                Content::Bytes(event.content_bytes().map_err(decode_error)?.into_owned())
            }
            // Text, markdown, and mime types upstream does not know: kept as text.
            _ => Content::Text(event.content.clone()),
        };
        let metadata = event
            .metadata_map()
            .map_err(decode_error)?
            .unwrap_or_default();
        Ok(Self {
            content,
            mime_type: mime.clone(),
            metadata,
        })
    }

    /// The content as text for `text/*` mime types.
    fn text_form(&self) -> Result<String> {
        match &self.content {
            Content::Text(text) => Ok(text.clone()),
            Content::Json(value) => dumps(&self.mime_type, value),
            Content::Bytes(bytes) => utf8(&self.mime_type, bytes),
        }
    }
}

/// Shows the content the way it goes into a model's context: text as-is, JSON as compact JSON text,
/// bytes as a size.
impl fmt::Display for MemoryContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.content {
            Content::Text(text) => f.write_str(text),
            Content::Json(value) => write!(f, "{value}"),
            Content::Bytes(bytes) => write!(f, "[{} bytes of {}]", bytes.len(), self.mime_type),
        }
    }
}

fn dumps(mime: &MemoryMimeType, value: &serde_json::Value) -> Result<String> {
    python_json_dumps(value)
        .map_err(|source| MemoryError::invalid_content(mime, source.to_string()))
}

fn utf8(mime: &MemoryMimeType, bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| MemoryError::invalid_content(mime, "bytes are not UTF-8 text"))
}

/// `text` unchanged, once it is known to parse as JSON (a Python reader stops on anything else).
fn checked_json(mime: &MemoryMimeType, text: String) -> Result<String> {
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(_) => Ok(text),
        Err(error) => Err(MemoryError::invalid_content(
            mime,
            format!("text is not JSON ({error})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip(content: &MemoryContent) -> MemoryContent {
        MemoryContent::from_event(&content.to_event("me").unwrap()).unwrap()
    }

    #[test]
    fn every_kind_of_content_survives_the_wire() {
        let cases = [
            MemoryContent::text("plain").with_metadata_entry("n", 1),
            MemoryContent::markdown("# Title\n*bold*"),
            MemoryContent::json(json!({"a": 1, "b": [true, null, 2.5, "é"]})),
            MemoryContent::binary(vec![0_u8, 1, 0xfe, 0xff]),
            MemoryContent::image(b"\x89PNG\r\n".to_vec()).with_metadata_entry("w", 2),
        ];
        for content in &cases {
            assert_eq!(&round_trip(content), content, "{content:?}");
        }
    }

    #[test]
    fn writer_matches_python() {
        let event = MemoryContent::json(json!({"b": [true, null], "a": 1}))
            .with_metadata_entry("k", "v")
            .to_event("s")
            .unwrap();
        // `json.dumps` keeps the caller's key order.
        assert_eq!(event.content, r#"{"b": [true, null], "a": 1}"#);
        assert_eq!(event.metadata.as_deref(), Some(r#"{"k": "v"}"#));
        assert_eq!(event.mime_type.as_str(), "application/json");
        // JSON given as text is written as-is, and read back as a value.
        let as_text = MemoryContent::new(r#"{"x":[1]}"#, MemoryMimeType::Json);
        let event = as_text.to_event("s").unwrap();
        assert_eq!(event.content, r#"{"x":[1]}"#);
        assert_eq!(
            MemoryContent::from_event(&event).unwrap().content,
            Content::Json(json!({"x": [1]}))
        );
        // Base64 given as text is written as-is.
        let event = MemoryContent::new("AAH+", MemoryMimeType::Binary)
            .to_event("s")
            .unwrap();
        assert_eq!(event.content, "AAH+");
    }

    #[test]
    fn content_that_python_could_not_read_is_refused() {
        let cases = [
            MemoryContent::new("{not json", MemoryMimeType::Json),
            MemoryContent::new("not base64!", MemoryMimeType::Binary),
            MemoryContent::new(json!({"a": 1}), MemoryMimeType::Image),
            MemoryContent::new(vec![0xff_u8, 0xfe], MemoryMimeType::Text),
        ];
        for content in &cases {
            assert!(
                matches!(
                    content.to_event("s"),
                    Err(MemoryError::InvalidContent { .. })
                ),
                "{content:?}"
            );
        }
        let video = MemoryContent::new("x", MemoryMimeType::from("video/mp4"));
        assert!(matches!(
            video.to_event("s"),
            Err(MemoryError::UnsupportedMimeType { mime_type }) if mime_type == "video/mp4"
        ));
    }

    #[test]
    fn reader_fixes_upstream_defects() {
        // Null metadata, unknown mime type: read fine.
        let event: MemoryEvent = serde_json::from_value(json!({
            "sender": "s", "mime_type": "video/mp4", "content": "c", "metadata": null
        }))
        .unwrap();
        let content = MemoryContent::from_event(&event).unwrap();
        assert_eq!(content.content, Content::Text("c".into()));
        assert_eq!(content.mime_type.as_str(), "video/mp4");
        assert!(content.metadata.is_empty());
        // Binary is base64-decoded (upstream keeps the base64 text's bytes).
        let event = MemoryEvent::new("s", MemoryMimeType::Binary, "AAH+aGVsbG8=");
        assert_eq!(
            MemoryContent::from_event(&event).unwrap().content,
            Content::Bytes(b"\x00\x01\xfehello".to_vec())
        );
    }

    #[test]
    fn undecodable_content_is_a_typed_error() {
        let bad = [
            MemoryEvent::new("s", MemoryMimeType::Json, "{"),
            MemoryEvent::new("s", MemoryMimeType::Image, "%%%"),
            {
                let mut event = MemoryEvent::text("s", "x");
                event.metadata = Some("[1]".into());
                event
            },
        ];
        for event in &bad {
            assert!(
                matches!(
                    MemoryContent::from_event(event),
                    Err(MemoryError::DecodeContent { .. })
                ),
                "{event:?}"
            );
        }
    }

    #[test]
    fn display_is_the_context_form() {
        assert_eq!(MemoryContent::text("hi").to_string(), "hi");
        assert_eq!(
            MemoryContent::json(json!({"a": 1})).to_string(),
            r#"{"a":1}"#
        );
        assert_eq!(
            MemoryContent::image(vec![0_u8; 3]).to_string(),
            "[3 bytes of image/*]"
        );
    }
}

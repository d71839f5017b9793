//! Serializers: the [`EventCodec`] trait, the three formats and format detection.

pub(crate) mod avro;
pub(crate) mod json;

use std::collections::BTreeSet;
use std::fmt;

use crate::{EventsError, Frame, Result, SchemaId, WireEvent};

/// Default limit on the size of a record value a codec accepts: 8 MiB.
///
/// Kafka's default `message.max.bytes` is about 1 MiB and deployments raise it to a few MiB;
/// 8 MiB accepts any record such a broker delivers while bounding the work one record can
/// cause. Change it per codec with `with_max_size`.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 8 * 1024 * 1024;

/// Encodes events of type `E` to record values and decodes them back.
///
/// Implemented by [`crate::JsonSchemaCodec`], [`crate::AvroCodec`],
/// [`crate::PlainJsonCodec`] and [`AnyCodec`] for every [`WireEvent`]; the trait is object safe
/// for a fixed `E` (`Box<dyn EventCodec<RequestEvent>>`). A codec instance serves one topic
/// (one Schema Registry subject).
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{EventCodec, JsonSchemaCodec, RegistrationEvent, SchemaId, SchemaIds};
///
/// let codec = JsonSchemaCodec::new(SchemaIds::new(SchemaId(1)));
/// let bytes = codec.encode(&RegistrationEvent::register("echo"))?;
/// assert_eq!(&bytes[..5], &[0, 0, 0, 0, 1]);
/// let back: RegistrationEvent = codec.decode(&bytes)?;
/// assert_eq!(back.agent, "echo");
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
pub trait EventCodec<E: WireEvent>: Send + Sync {
    /// The format this codec writes.
    fn format(&self) -> Format;

    /// Encodes `event` as a record value.
    ///
    /// # Errors
    ///
    /// [`EventsError::JsonEncode`] or [`EventsError::AvroEncode`] when the event cannot be
    /// written.
    fn encode(&self, event: &E) -> Result<Vec<u8>>;

    /// Decodes a record value.
    ///
    /// # Errors
    ///
    /// Any decoding variant of [`EventsError`]: oversized input, framing, unknown schema id,
    /// UTF-8, JSON, missing or invalid fields, base64, Avro.
    fn decode(&self, bytes: &[u8]) -> Result<E>;
}

/// The record value formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// Confluent framing + JSON (JSON Schema in the registry): upstream's format and the
    /// default.
    #[default]
    JsonSchema,
    /// Confluent framing + Avro binary.
    Avro,
    /// JSON without framing.
    Json,
}

impl Format {
    /// The name used in configuration: `json-schema`, `avro` or `json`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::JsonSchema => "json-schema",
            Self::Avro => "avro",
            Self::Json => "json",
        }
    }

    /// Parses a configuration name (see [`Format::as_str`]; `json_schema` and `jsonschema`
    /// are accepted too).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "json-schema" | "json_schema" | "jsonschema" => Some(Self::JsonSchema),
            "avro" => Some(Self::Avro),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// Whether records of this format carry the Confluent frame.
    #[must_use]
    pub const fn is_framed(self) -> bool {
        matches!(self, Self::JsonSchema | Self::Avro)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tells the format of a record value from its bytes.
///
/// A leading `0` byte means a Confluent frame; its payload is JSON when its first byte is `{`,
/// Avro otherwise. A leading `{` (after whitespace) means plain JSON. This is a heuristic: an
/// Avro datum whose first byte is `0x7b` is taken for JSON (none of this crate's schemas can
/// produce one).
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{detect_format, Format};
///
/// assert_eq!(detect_format(b"\0\0\0\0\x01{}")?, Format::JsonSchema);
/// assert_eq!(detect_format(b"\0\0\0\0\x01\x02")?, Format::Avro);
/// assert_eq!(detect_format(b" {}")?, Format::Json);
/// assert!(detect_format(b"hello").is_err());
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
///
/// # Errors
///
/// [`EventsError::TruncatedFrame`] for a frame shorter than its header,
/// [`EventsError::UnknownFormat`] for anything else that is neither.
pub fn detect_format(bytes: &[u8]) -> Result<Format> {
    match bytes.first() {
        Some(&Frame::MAGIC_BYTE) => {
            let frame = Frame::parse(bytes)?;
            // No whitespace skipping here: a framed JSON document starts with `{` (the Confluent
            // serializers write no leading whitespace), while an Avro datum may start with
            // bytes that are ASCII whitespace (0x20 is the length 16).
            if frame.payload.first() == Some(&b'{') {
                Ok(Format::JsonSchema)
            } else {
                Ok(Format::Avro)
            }
        }
        _ if first_non_whitespace(bytes) == Some(b'{') => Ok(Format::Json),
        first => Err(EventsError::UnknownFormat {
            first_byte: first.copied(),
        }),
    }
}

fn first_non_whitespace(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Fails with [`EventsError::Oversized`] when `bytes` is over `max`.
pub(crate) const fn check_size(bytes: &[u8], max: usize) -> Result<()> {
    if bytes.len() > max {
        Err(EventsError::Oversized {
            len: bytes.len(),
            max,
        })
    } else {
        Ok(())
    }
}

/// The schema ids a framed codec writes and accepts.
///
/// The admin layer registers the schema under `<topic>-value` at startup and hands the id in.
/// By default the reader accepts any id (the Python producer auto-registers its own text, so
/// records from Python may carry a different id: WIRE D10); [`SchemaIds::accept_only`]
/// restricts it.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{SchemaId, SchemaIds};
///
/// let open = SchemaIds::new(SchemaId(3));
/// assert!(open.accepts(SchemaId(99)));
/// let strict = SchemaIds::new(SchemaId(3)).accept_only([SchemaId(1)]);
/// assert!(strict.accepts(SchemaId(3)) && strict.accepts(SchemaId(1)));
/// assert!(!strict.accepts(SchemaId(99)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaIds {
    writer: SchemaId,
    accepted: Option<BTreeSet<SchemaId>>,
}

impl SchemaIds {
    /// Writes `writer`; reads any id.
    #[must_use]
    pub const fn new(writer: SchemaId) -> Self {
        Self {
            writer,
            accepted: None,
        }
    }

    /// Reads only `ids` (and the writer id).
    #[must_use]
    pub fn accept_only(mut self, ids: impl IntoIterator<Item = SchemaId>) -> Self {
        let mut accepted: BTreeSet<SchemaId> = ids.into_iter().collect();
        accepted.insert(self.writer);
        self.accepted = Some(accepted);
        self
    }

    /// The id written into every frame.
    #[must_use]
    pub const fn writer(&self) -> SchemaId {
        self.writer
    }

    /// Whether a frame with `id` is accepted.
    #[must_use]
    pub fn accepts(&self, id: SchemaId) -> bool {
        self.accepted.as_ref().is_none_or(|ids| ids.contains(&id))
    }

    /// Fails with [`EventsError::UnknownSchemaId`] unless `id` is accepted.
    pub(crate) fn check(&self, id: SchemaId) -> Result<()> {
        if self.accepts(id) {
            Ok(())
        } else {
            Err(EventsError::UnknownSchemaId { id })
        }
    }
}

/// One of the three codecs, chosen by [`Format`] at run time.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{AnyCodec, EventCodec, Format, RegistrationEvent, SchemaId, SchemaIds};
///
/// let codec = AnyCodec::for_format(Format::Avro, SchemaIds::new(SchemaId(5)));
/// let bytes = codec.encode(&RegistrationEvent::register("echo"))?;
/// let back: RegistrationEvent = codec.decode(&bytes)?;
/// assert_eq!(back, RegistrationEvent::register("echo"));
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyCodec {
    /// [`Format::JsonSchema`].
    JsonSchema(crate::JsonSchemaCodec),
    /// [`Format::Avro`].
    Avro(crate::AvroCodec),
    /// [`Format::Json`].
    Json(crate::PlainJsonCodec),
}

impl AnyCodec {
    /// The format of the chosen codec.
    #[must_use]
    pub const fn format(&self) -> Format {
        match self {
            Self::JsonSchema(_) => Format::JsonSchema,
            Self::Avro(_) => Format::Avro,
            Self::Json(_) => Format::Json,
        }
    }

    /// The codec for `format`; `ids` is unused for [`Format::Json`].
    #[must_use]
    pub fn for_format(format: Format, ids: SchemaIds) -> Self {
        match format {
            Format::JsonSchema => Self::JsonSchema(crate::JsonSchemaCodec::new(ids)),
            Format::Avro => Self::Avro(crate::AvroCodec::new(ids)),
            Format::Json => Self::Json(crate::PlainJsonCodec::new()),
        }
    }
}

impl<E: WireEvent> EventCodec<E> for AnyCodec {
    fn format(&self) -> Format {
        Self::format(self)
    }

    fn encode(&self, event: &E) -> Result<Vec<u8>> {
        match self {
            Self::JsonSchema(codec) => codec.encode(event),
            Self::Avro(codec) => codec.encode(event),
            Self::Json(codec) => codec.encode(event),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<E> {
        match self {
            Self::JsonSchema(codec) => codec.decode(bytes),
            Self::Avro(codec) => codec.decode(bytes),
            Self::Json(codec) => codec.decode(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for format in [Format::JsonSchema, Format::Avro, Format::Json] {
            assert_eq!(Format::parse(format.as_str()), Some(format));
        }
        assert_eq!(Format::parse("JSON_SCHEMA"), Some(Format::JsonSchema));
        assert_eq!(Format::parse("protobuf"), None);
        assert_eq!(Format::default(), Format::JsonSchema);
    }

    #[test]
    fn detection_of_edge_inputs() {
        assert!(matches!(
            detect_format(b""),
            Err(EventsError::UnknownFormat { first_byte: None })
        ));
        assert!(matches!(
            detect_format(b"\0\0"),
            Err(EventsError::TruncatedFrame { len: 2 })
        ));
        assert_eq!(detect_format(b"\0\0\0\0\x01").unwrap(), Format::Avro);
        assert_eq!(detect_format(b"\0\0\0\0\x01{").unwrap(), Format::JsonSchema);
        // 0x20 is a valid Avro length byte, not whitespace, inside a frame.
        assert_eq!(detect_format(b"\0\0\0\0\x01 {").unwrap(), Format::Avro);
    }

    #[test]
    fn size_check() {
        assert!(check_size(&[0; 4], 4).is_ok());
        assert!(matches!(
            check_size(&[0; 5], 4),
            Err(EventsError::Oversized { len: 5, max: 4 })
        ));
    }
}

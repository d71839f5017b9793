//! JSON codecs: [`JsonSchemaCodec`] (framed, upstream's format) and [`PlainJsonCodec`].

use serde_json::Value;

use crate::codec::{DEFAULT_MAX_RECORD_SIZE, EventCodec, Format, SchemaIds, check_size};
use crate::framing::header;
use crate::{EventsError, Frame, Result, WireEvent};

/// Confluent framing + compact JSON, as upstream's `JSONSerializer` writes it (WIRE §1).
///
/// Writes the writer id of its [`SchemaIds`]; reads any accepted id. The JSON is compact with
/// raw UTF-8 (confluent-kafka 2.16.1); any whitespace is accepted on read.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{EventCodec, JsonSchemaCodec, ResponseEvent, SchemaId, SchemaIds};
///
/// let codec = JsonSchemaCodec::new(SchemaIds::new(SchemaId(1))).with_max_size(1024);
/// let bytes = codec.encode(&ResponseEvent::error("r-1", "boom"))?;
/// let back: ResponseEvent = codec.decode(&bytes)?;
/// assert!(back.is_error());
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct JsonSchemaCodec {
    ids: SchemaIds,
    max_size: usize,
}

impl JsonSchemaCodec {
    /// A codec writing and accepting `ids`, with the default size limit
    /// ([`DEFAULT_MAX_RECORD_SIZE`]).
    #[must_use]
    pub const fn new(ids: SchemaIds) -> Self {
        Self {
            ids,
            max_size: DEFAULT_MAX_RECORD_SIZE,
        }
    }

    /// Sets the largest record value accepted on decode.
    #[must_use]
    pub const fn with_max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// The schema ids.
    #[must_use]
    pub const fn schema_ids(&self) -> &SchemaIds {
        &self.ids
    }

    /// The format this codec writes: [`Format::JsonSchema`].
    #[must_use]
    pub const fn format(&self) -> Format {
        Format::JsonSchema
    }
}

impl<E: WireEvent> EventCodec<E> for JsonSchemaCodec {
    fn format(&self) -> Format {
        Format::JsonSchema
    }

    fn encode(&self, event: &E) -> Result<Vec<u8>> {
        let mut out = header(self.ids.writer(), 256);
        serde_json::to_writer(&mut out, event).map_err(|source| EventsError::JsonEncode {
            kind: E::KIND,
            source,
        })?;
        Ok(out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<E> {
        check_size(bytes, self.max_size)?;
        let frame = Frame::parse(bytes)?;
        self.ids.check(frame.schema_id)?;
        decode_json(frame.payload)
    }
}

/// JSON without framing (for topics that are not tied to a Schema Registry).
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{EventCodec, PlainJsonCodec, RegistrationEvent};
///
/// let codec = PlainJsonCodec::new();
/// let bytes = codec.encode(&RegistrationEvent::unregister("echo"))?;
/// assert_eq!(bytes, br#"{"message_type":"unregister","agent":"echo"}"#);
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PlainJsonCodec {
    max_size: usize,
}

impl PlainJsonCodec {
    /// A codec with the default size limit ([`DEFAULT_MAX_RECORD_SIZE`]).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_size: DEFAULT_MAX_RECORD_SIZE,
        }
    }

    /// Sets the largest record value accepted on decode.
    #[must_use]
    pub const fn with_max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// The format this codec writes: [`Format::Json`].
    #[must_use]
    pub const fn format(&self) -> Format {
        Format::Json
    }
}

impl Default for PlainJsonCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: WireEvent> EventCodec<E> for PlainJsonCodec {
    fn format(&self) -> Format {
        Format::Json
    }

    fn encode(&self, event: &E) -> Result<Vec<u8>> {
        serde_json::to_vec(event).map_err(|source| EventsError::JsonEncode {
            kind: E::KIND,
            source,
        })
    }

    fn decode(&self, bytes: &[u8]) -> Result<E> {
        check_size(bytes, self.max_size)?;
        decode_json(bytes)
    }
}

/// Parses a JSON document (typed UTF-8 and syntax errors).
pub(crate) fn parse_document(bytes: &[u8]) -> Result<Value> {
    let text = std::str::from_utf8(bytes).map_err(|source| EventsError::InvalidUtf8 { source })?;
    serde_json::from_str(text).map_err(EventsError::invalid_json)
}

/// Parses and maps a JSON document to `E`.
pub(crate) fn decode_json<E: WireEvent>(bytes: &[u8]) -> Result<E> {
    E::from_json_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RegistrationEvent, SchemaId};

    fn codec() -> JsonSchemaCodec {
        JsonSchemaCodec::new(SchemaIds::new(SchemaId(1)))
    }

    #[test]
    fn typed_errors_for_bad_payloads() {
        let decode = |bytes: &[u8]| EventCodec::<RegistrationEvent>::decode(&codec(), bytes);
        assert!(matches!(
            decode(b"\0\0\0\0\x01\xff"),
            Err(EventsError::InvalidUtf8 { .. })
        ));
        assert!(matches!(
            decode(b"\0\0\0\0\x01{\n\"agent\" 1}"),
            Err(EventsError::InvalidJson { line: 2, .. })
        ));
        assert!(matches!(
            decode(b"\0\0\0\0\x01{\"agent\":\"a\"}"),
            Err(EventsError::MissingField {
                field: "message_type",
                ..
            })
        ));
        assert!(matches!(
            decode(b"\x01\0\0\0\x01{}"),
            Err(EventsError::WrongMagicByte { found: 1 })
        ));
    }

    #[test]
    fn restricted_ids_and_size_limit() {
        let strict = JsonSchemaCodec::new(SchemaIds::new(SchemaId(1)).accept_only([]));
        let bytes = codec().encode(&RegistrationEvent::register("a")).unwrap();
        assert!(EventCodec::<RegistrationEvent>::decode(&strict, &bytes).is_ok());
        let mut other = bytes.clone();
        other[4] = 2;
        assert!(matches!(
            EventCodec::<RegistrationEvent>::decode(&strict, &other),
            Err(EventsError::UnknownSchemaId { id: SchemaId(2) })
        ));
        let small = codec().with_max_size(8);
        assert!(matches!(
            EventCodec::<RegistrationEvent>::decode(&small, &bytes),
            Err(EventsError::Oversized { max: 8, .. })
        ));
    }

    #[test]
    fn plain_json_reads_pretty_text() {
        let event: RegistrationEvent = PlainJsonCodec::new()
            .decode(b"{ \"message_type\": \"register\",\n  \"agent\": \"a\" }\n")
            .unwrap();
        assert_eq!(event, RegistrationEvent::register("a"));
        assert_eq!(
            EventCodec::<RegistrationEvent>::format(&PlainJsonCodec::default()),
            Format::Json
        );
    }
}

//! The error type of this crate.

use std::error::Error as StdError;

use crate::{EventKind, SchemaId};

/// A boxed error from a pluggable seam (for example a [`crate::SchemaLookup`] implementation).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// `Result` with [`EventsError`] as the default error type.
pub type Result<T, E = EventsError> = std::result::Result<T, E>;

/// Everything that can go wrong while encoding or decoding a record.
///
/// Decoding never panics: any input, however malformed, ends in one of these variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// The input is larger than the configured limit; nothing was parsed.
    #[error("record of {len} bytes exceeds the limit of {max} bytes")]
    Oversized {
        /// Size of the input.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The input is too short to hold the 5-byte Confluent frame header.
    #[error("truncated frame: {len} bytes, at least 5 needed (magic byte + schema id)")]
    TruncatedFrame {
        /// Size of the input.
        len: usize,
    },
    /// The first byte of a framed record is not the Confluent magic byte `0`.
    #[error("wrong magic byte {found:#04x} (expected 0x00)")]
    WrongMagicByte {
        /// The byte that was found.
        found: u8,
    },
    /// The schema id in the frame is not one this reader accepts (or, for Avro, could not be
    /// resolved).
    #[error("unknown schema id {id}")]
    UnknownSchemaId {
        /// The id found in the frame.
        id: SchemaId,
    },
    /// The bytes are neither a framed record nor a JSON document.
    #[error("unrecognised record format (first byte {first_byte:?})")]
    UnknownFormat {
        /// The first byte of the input, if any.
        first_byte: Option<u8>,
    },
    /// The JSON text is not valid UTF-8.
    #[error("record is not valid UTF-8")]
    InvalidUtf8 {
        /// The UTF-8 error (with the offset of the first bad byte).
        #[source]
        source: std::str::Utf8Error,
    },
    /// The JSON text does not parse.
    #[error("invalid JSON at line {line}, column {column}")]
    InvalidJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser error.
        #[source]
        source: serde_json::Error,
    },
    /// A field the event requires is absent (or null where null is not allowed).
    #[error("{kind} is missing the required field `{field}`")]
    MissingField {
        /// The event being decoded.
        kind: EventKind,
        /// The missing field.
        field: &'static str,
    },
    /// A field has a value of the wrong type or an unknown value.
    #[error("{kind} has an invalid `{field}`: {reason}")]
    InvalidField {
        /// The event being decoded.
        kind: EventKind,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The JSON document does not have the shape of the event.
    #[error("invalid {kind} document")]
    InvalidDocument {
        /// The event being decoded.
        kind: EventKind,
        /// The deserializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// A base64 field does not decode (standard alphabet, padded).
    #[error("field `{field}` is not valid base64")]
    InvalidBase64 {
        /// The offending field.
        field: &'static str,
        /// The base64 error.
        #[source]
        source: base64::DecodeError,
    },
    /// The CloudEvent `time` attribute is not an RFC 3339 timestamp.
    #[error("invalid CloudEvent time {value:?}")]
    InvalidTime {
        /// The text that was found.
        value: String,
        /// The parser error.
        #[source]
        source: chrono::ParseError,
    },
    /// The CloudEvent `time` is a valid timestamp outside what the Python original can represent (years 1 to
    /// 9999, no leap second), so it could not be written back in Python's format.
    #[error("CloudEvent time {value:?} is outside years 1-9999 or is a leap second")]
    TimeOutOfRange {
        /// The text that was found.
        value: String,
    },
    /// The CloudEvents SDK refused the event.
    #[error("invalid CloudEvent")]
    CloudEvent {
        /// The SDK's error.
        #[source]
        source: cloudevents::event::EventBuilderError,
    },
    /// The document's shape matches no known event, and no topic was given.
    #[error("cannot tell which event this is: {reason}")]
    UnrecognizedEvent {
        /// Why detection failed.
        reason: &'static str,
    },
    /// A CloudEvents binary-mode header is missing.
    #[error("CloudEvents binary record lacks the header `{name}`")]
    MissingHeader {
        /// The header name.
        name: &'static str,
    },
    /// A CloudEvents binary-mode header value is not UTF-8.
    #[error("CloudEvents header `{name}` is not valid UTF-8")]
    InvalidHeader {
        /// The header name.
        name: String,
        /// The UTF-8 error.
        #[source]
        source: std::str::Utf8Error,
    },
    /// Serializing an event to JSON failed.
    #[error("cannot encode {kind} as JSON")]
    JsonEncode {
        /// The event being encoded.
        kind: EventKind,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// An Avro schema does not parse.
    #[error("invalid Avro schema (schema id {id:?}) for {kind}")]
    AvroSchema {
        /// The event the schema is for.
        kind: EventKind,
        /// The registry id of the schema, when it came from the registry.
        id: Option<SchemaId>,
        /// The Avro error.
        #[source]
        source: apache_avro::Error,
    },
    /// Writing an Avro datum failed.
    #[error("cannot encode {kind} as Avro")]
    AvroEncode {
        /// The event being encoded.
        kind: EventKind,
        /// The Avro error.
        #[source]
        source: apache_avro::Error,
    },
    /// Reading an Avro datum failed.
    #[error("cannot decode {kind} from Avro (writer schema id {id:?})")]
    AvroDecode {
        /// The event being decoded.
        kind: EventKind,
        /// The writer schema id from the frame, when framed.
        id: Option<SchemaId>,
        /// The Avro error.
        #[source]
        source: apache_avro::Error,
    },
    /// The Avro datum ends before the record is complete (the Avro library reads some
    /// truncated data as nulls; this crate detects the short read and refuses it).
    #[error("truncated {kind} Avro datum (writer schema id {id:?})")]
    AvroTruncated {
        /// The event being decoded.
        kind: EventKind,
        /// The writer schema id from the frame, when framed.
        id: Option<SchemaId>,
    },
    /// The Avro datum decoded but left bytes over.
    #[error("{remaining} trailing bytes after the {kind} Avro datum")]
    TrailingBytes {
        /// The event that was decoded.
        kind: EventKind,
        /// How many bytes were left.
        remaining: usize,
    },
    /// The schema lookup seam failed.
    #[error("schema lookup for id {id} failed")]
    SchemaLookup {
        /// The id that was looked up.
        id: SchemaId,
        /// The implementation's error.
        #[source]
        source: BoxError,
    },
}

impl EventsError {
    /// Whether trying the same operation again may succeed.
    ///
    /// Only a failed schema lookup (a registry call) is worth retrying; every other error is a
    /// property of the input bytes or the event.
    #[must_use]
    pub const fn is_retriable(&self) -> bool {
        matches!(self, Self::SchemaLookup { .. })
    }

    pub(crate) fn invalid_json(source: serde_json::Error) -> Self {
        Self::InvalidJson {
            line: source.line(),
            column: source.column(),
            source,
        }
    }

    pub(crate) fn invalid_field(
        kind: EventKind,
        field: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidField {
            kind,
            field,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lookup_failures_are_retriable() {
        let lookup = EventsError::SchemaLookup {
            id: SchemaId(7),
            source: "registry down".into(),
        };
        assert!(lookup.is_retriable());
        assert!(!EventsError::TruncatedFrame { len: 2 }.is_retriable());
    }

    #[test]
    fn invalid_json_keeps_position() {
        let err = serde_json::from_str::<serde_json::Value>("{\n  \"a\": }").unwrap_err();
        let err = EventsError::invalid_json(err);
        assert!(matches!(
            err,
            EventsError::InvalidJson {
                line: 2,
                column: 8,
                ..
            }
        ));
        assert!(err.to_string().contains("line 2"));
    }
}

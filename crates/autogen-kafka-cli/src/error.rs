//! [`CliError`]: why a command failed, printed as one line on stderr.

use std::fmt;
use std::path::PathBuf;

use autogen_kafka::events::{EventKind, EventsError, Format, SchemaId};

/// Why an `events` command failed.
///
/// Every variant prints as one sentence; [`one_line`] joins it with its causes.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The input (a file or stdin) could not be read.
    ReadInput {
        /// `stdin` or the file path.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The input is larger than a record value may be.
    InputTooLarge {
        /// `stdin` or the file path.
        what: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// `--base64` was given but the input is not base64.
    InvalidBase64 {
        /// The decoder's error.
        source: base64::DecodeError,
    },
    /// The `--schema` file could not be read.
    ReadSchema {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The `--schema` file is not an Avro schema.
    InvalidSchema {
        /// The file.
        path: PathBuf,
        /// The Avro parser's error.
        source: Box<autogen_kafka::events::apache_avro::Error>,
    },
    /// A framed Avro record was given without its writer schema.
    AvroNeedsSchema {
        /// The schema id in the frame.
        schema_id: SchemaId,
    },
    /// The first byte is neither the Confluent magic byte nor the start of a JSON document.
    NotARecordValue {
        /// The first byte, if any.
        first_byte: Option<u8>,
    },
    /// The record value does not decode.
    Decode {
        /// The codec's error.
        source: EventsError,
    },
    /// The input of `encode` is not a JSON document.
    InvalidJsonInput {
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A kind name (in the input wrapper) is not one of the event kinds.
    UnknownKind {
        /// The name found.
        found: String,
    },
    /// A format name (in the input wrapper) is not one of the formats.
    UnknownFormat {
        /// The name found.
        found: String,
    },
    /// A schema id (in the input wrapper) is not a `u32`.
    InvalidSchemaId {
        /// The value found.
        found: String,
    },
    /// `encode` could not tell the event kind from the document.
    KindNotDetected {
        /// Why.
        source: EventsError,
    },
    /// A framed format was asked for without `--schema-id`.
    MissingSchemaId {
        /// The format asked for.
        format: Format,
    },
    /// The document is not a valid event of the kind, or it cannot be written.
    Encode {
        /// The kind asked for.
        kind: EventKind,
        /// The codec's error.
        source: EventsError,
    },
    /// Writing to stdout failed.
    WriteOutput {
        /// The I/O error.
        source: std::io::Error,
    },
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadInput { what, .. } => write!(f, "cannot read {what}"),
            Self::InputTooLarge { what, limit } => write!(
                f,
                "{what} is larger than {limit} bytes, the largest record value accepted"
            ),
            Self::InvalidBase64 { .. } => f.write_str("the input is not valid base64"),
            Self::ReadSchema { path, .. } => {
                write!(f, "cannot read the schema file {}", path.display())
            }
            Self::InvalidSchema { path, .. } => {
                write!(
                    f,
                    "the schema file {} is not an Avro schema",
                    path.display()
                )
            }
            Self::AvroNeedsSchema { schema_id } => write!(
                f,
                "the record is framed Avro (schema id {schema_id}); decoding it needs the writer \
                 schema: pass --schema FILE (the registry's /schemas/ids/{schema_id})"
            ),
            Self::NotARecordValue { first_byte: None } => f.write_str("the input is empty"),
            Self::NotARecordValue {
                first_byte: Some(byte),
            } => write!(
                f,
                "not a record value: the first byte {byte:#04x} is neither the Confluent magic \
                 byte 0x00 nor the `{{` of a JSON document"
            ),
            Self::Decode { .. } => f.write_str("cannot decode the record value"),
            Self::InvalidJsonInput { .. } => f.write_str("the input is not a JSON document"),
            Self::UnknownKind { found } => write!(
                f,
                "unknown event kind {found:?} (expected request, response, registration, \
                 subscription, publish, memory or agent)"
            ),
            Self::UnknownFormat { found } => write!(
                f,
                "unknown format {found:?} (expected json-schema, json or avro)"
            ),
            Self::InvalidSchemaId { found } => {
                write!(f, "invalid schema id {found} (expected 0 to 4294967295)")
            }
            Self::KindNotDetected { .. } => {
                f.write_str("cannot tell the event kind from the document; pass --kind")
            }
            Self::MissingSchemaId { format } => write!(
                f,
                "the {format} format needs --schema-id N (the id the Schema Registry gave the \
                 topic's `<topic>-value` subject)"
            ),
            Self::Encode { kind, .. } => write!(f, "cannot encode the document as a {kind}"),
            Self::WriteOutput { .. } => f.write_str("cannot write the output"),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ReadInput { source, .. }
            | Self::ReadSchema { source, .. }
            | Self::WriteOutput { source } => Some(source),
            Self::InvalidBase64 { source } => Some(source),
            Self::Decode { source }
            | Self::KindNotDetected { source }
            | Self::Encode { source, .. } => Some(source),
            Self::InvalidJsonInput { source } => Some(source),
            Self::InvalidSchema { source, .. } => Some(source.as_ref()),
            Self::InputTooLarge { .. }
            | Self::AvroNeedsSchema { .. }
            | Self::NotARecordValue { .. }
            | Self::UnknownKind { .. }
            | Self::UnknownFormat { .. }
            | Self::InvalidSchemaId { .. }
            | Self::MissingSchemaId { .. } => None,
        }
    }
}

/// The error and its causes as one line: `outer: inner: root` (a cause already contained in the
/// text is not repeated; line breaks inside a message become spaces).
pub(crate) fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_joined_on_one_line() {
        let error = CliError::ReadInput {
            what: "file x".to_owned(),
            source: std::io::Error::other("line one\nline two"),
        };
        assert_eq!(one_line(&error), "cannot read file x: line one line two");
    }

    #[test]
    fn unknown_first_byte_is_named_in_hex() {
        let text = CliError::NotARecordValue {
            first_byte: Some(5),
        }
        .to_string();
        assert!(text.contains("0x05"), "{text}");
        assert_eq!(
            CliError::NotARecordValue { first_byte: None }.to_string(),
            "the input is empty"
        );
    }
}

//! `events decode` and `events encode`: record values to JSON and back, offline.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use autogen_kafka::events::topics::TopicNames;
use autogen_kafka::events::{
    AnyCodec, AnyEvent, AvroCodec, DEFAULT_MAX_RECORD_SIZE, EventCodec, EventsError, Format, Frame,
    SchemaId, SchemaIds, WireEvent, decode_any, detect_format, kind_from_shape,
};
use base64::Engine as _;
use serde_json::Value;

use crate::error::CliError;
use crate::kind::{FormatArg, Kind, with_event_type};

/// Arguments of `events decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct DecodeArgs {
    /// The topic the record came from; names the event kind when it is one of the default
    /// topic names (`runtime_requests`, `memory_<session>`, ...).
    #[arg(long, value_name = "T")]
    topic: Option<String>,
    /// The event kind, when neither the topic nor the document tells it.
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// The writer's Avro schema (its JSON text, or the registry's `{"schema": ...}` answer);
    /// needed for framed Avro records only.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// The input is the record value in base64 (standard alphabet) instead of raw bytes.
    #[arg(long)]
    base64: bool,
    /// The file holding one record value; stdin when absent or `-`.
    #[arg(value_name = "FILE|-")]
    input: Option<PathBuf>,
}

/// Arguments of `events encode`.
#[derive(Debug, clap::Args)]
pub(crate) struct EncodeArgs {
    /// The event kind; by default it is taken from the document's keys (or from the `kind` of
    /// an `events decode` output).
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// The record value format (default `json-schema`, or the `format` of an `events decode`
    /// output).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// The schema id written into the frame (needed by `json-schema` and `avro`): the id the
    /// Schema Registry gave the topic's `<topic>-value` subject.
    #[arg(long, value_name = "N")]
    schema_id: Option<u32>,
    /// Write the record value in base64 (standard alphabet, one line) instead of raw bytes.
    #[arg(long)]
    base64: bool,
    /// The file holding the event as JSON (or an `events decode` output); stdin when absent or
    /// `-`.
    #[arg(value_name = "FILE|-")]
    input: Option<PathBuf>,
}

/// A decoded record value.
#[derive(Debug)]
struct Decoded {
    format: Format,
    schema_id: Option<SchemaId>,
    kind: Kind,
    event: AnyEvent,
}

/// Runs `events decode`: reads one record value and writes its JSON description to `out`.
pub(crate) fn decode(args: &DecodeArgs, out: &mut impl Write) -> Result<(), CliError> {
    let bytes = read_input(args.input.as_deref(), DEFAULT_MAX_RECORD_SIZE, args.base64)?;
    let schema = args.schema.as_deref().map(read_schema).transpose()?;
    let decoded = decode_value(&bytes, args.topic.as_deref(), args.kind, schema.as_deref())?;
    let text = render(&decoded)?;
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|source| CliError::WriteOutput { source })
}

/// Runs `events encode`: reads an event as JSON and writes the record value to `out`.
pub(crate) fn encode(args: &EncodeArgs, out: &mut impl Write) -> Result<(), CliError> {
    // A pretty-printed document is larger than the record value it describes.
    let bytes = read_input(args.input.as_deref(), 2 * DEFAULT_MAX_RECORD_SIZE, false)?;
    let document: Value =
        serde_json::from_slice(&bytes).map_err(|source| CliError::InvalidJsonInput { source })?;
    let value = encode_document(document, args.kind, args.format, args.schema_id)?;
    let written = if args.base64 {
        writeln!(
            out,
            "{}",
            base64::engine::general_purpose::STANDARD.encode(&value)
        )
    } else {
        out.write_all(&value)
    };
    written
        .and_then(|()| out.flush())
        .map_err(|source| CliError::WriteOutput { source })
}

/// A record value read from `topic` as JSON: `{"format", "schema_id", "kind", "event"}` as `events decode`
/// prints it, or `{"undecoded": why, "base64": value}` when it does not decode (framed Avro needs its writer
/// schema).
pub(crate) fn describe_value(bytes: &[u8], topic: &str) -> Value {
    let decoded = decode_value(bytes, Some(topic), None, None)
        .and_then(|decoded| render(&decoded))
        .and_then(|text| {
            serde_json::from_str::<Value>(&text)
                .map_err(|source| CliError::InvalidJsonInput { source })
        });
    decoded.unwrap_or_else(|error| {
        serde_json::json!({
            "undecoded": crate::error::one_line(&error),
            "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    })
}

/// Decodes a record value: the format from its bytes, the kind from `kind`, the topic, the
/// Avro schema's record name or the document's keys.
fn decode_value(
    bytes: &[u8],
    topic: Option<&str>,
    kind: Option<Kind>,
    schema: Option<&str>,
) -> Result<Decoded, CliError> {
    let format = detect_format(bytes).map_err(|source| match source {
        EventsError::UnknownFormat { first_byte } => CliError::NotARecordValue { first_byte },
        source => CliError::Decode { source },
    })?;
    let kind = kind.or_else(|| {
        topic
            .and_then(|topic| TopicNames::default().kind_of(topic))
            .and_then(Kind::from_event_kind)
    });
    match format {
        Format::Avro => decode_avro(bytes, kind, schema),
        Format::JsonSchema | Format::Json => decode_json(bytes, format, kind),
        other => Err(CliError::UnknownFormat {
            found: other.to_string(),
        }),
    }
}

fn decode_json(bytes: &[u8], format: Format, kind: Option<Kind>) -> Result<Decoded, CliError> {
    let decode_error = |source| CliError::Decode { source };
    let Some(kind) = kind else {
        let record = decode_any(bytes).map_err(decode_error)?;
        let kind =
            Kind::from_event_kind(record.event.kind()).ok_or_else(|| CliError::UnknownKind {
                found: record.event.kind().to_string(),
            })?;
        return Ok(Decoded {
            format: record.format,
            schema_id: record.schema_id,
            kind,
            event: record.event,
        });
    };
    // Schema id 0 as writer id: the codec reads frames with any id.
    let codec = AnyCodec::for_format(format, SchemaIds::new(SchemaId(0)));
    let event = with_event_type!(kind, decode_as(&codec, bytes)).map_err(decode_error)?;
    let schema_id = if format.is_framed() {
        Some(Frame::parse(bytes).map_err(decode_error)?.schema_id)
    } else {
        None
    };
    Ok(Decoded {
        format,
        schema_id,
        kind,
        event,
    })
}

fn decode_avro(
    bytes: &[u8],
    kind: Option<Kind>,
    schema: Option<&str>,
) -> Result<Decoded, CliError> {
    let decode_error = |source| CliError::Decode { source };
    let schema_id = Frame::parse(bytes).map_err(decode_error)?.schema_id;
    let Some(schema) = schema else {
        return Err(CliError::AvroNeedsSchema { schema_id });
    };
    let named = kind.or_else(|| schema_record_name(schema).and_then(|name| Kind::parse(&name)));
    let candidates = named.map_or_else(|| Kind::AVRO_GUESS_ORDER.to_vec(), |kind| vec![kind]);
    // An Avro codec reads records of its own writer id with its own schema and every other id
    // with the writer schema it was given: so its writer id must differ from the record's.
    let codec = AvroCodec::new(SchemaIds::new(SchemaId(schema_id.0.wrapping_add(1))));
    let first = candidates.first().copied().unwrap_or(Kind::Request);
    codec
        .add_writer_schema(first.event_kind(), schema_id, schema)
        .map_err(decode_error)?;
    let mut last_error = None;
    for kind in candidates {
        match with_event_type!(kind, decode_as(&codec, bytes)) {
            Ok(event) => {
                return Ok(Decoded {
                    format: Format::Avro,
                    schema_id: Some(schema_id),
                    kind,
                    event,
                });
            }
            Err(error) => last_error = Some(error),
        }
    }
    let source = match (named, last_error) {
        (Some(_), Some(error)) => error,
        _ => EventsError::UnrecognizedEvent {
            reason: "the Avro datum fits none of the event schemas; pass --kind or --topic",
        },
    };
    Err(CliError::Decode { source })
}

fn decode_as<E>(codec: &dyn EventCodec<E>, bytes: &[u8]) -> Result<AnyEvent, EventsError>
where
    E: WireEvent,
    AnyEvent: From<E>,
{
    codec.decode(bytes).map(AnyEvent::from)
}

/// The last segment of an Avro schema's `name` (`RequestEvent` of
/// `autogen_kafka.events.RequestEvent`).
fn schema_record_name(schema: &str) -> Option<String> {
    let document: Value = serde_json::from_str(schema).ok()?;
    let name = document.get("name")?.as_str()?;
    Some(name.rsplit('.').next().unwrap_or(name).to_owned())
}

/// Writes the JSON description of a decoded record: an object with `format`, `schema_id`,
/// `kind` and `event`, the event's keys in wire order.
fn render(decoded: &Decoded) -> Result<String, CliError> {
    let kind = decoded.kind.event_kind();
    let event =
        serde_json::to_string_pretty(&decoded.event).map_err(|source| CliError::Encode {
            kind,
            source: EventsError::JsonEncode { kind, source },
        })?;
    let schema_id = decoded
        .schema_id
        .map_or_else(|| "null".to_owned(), |id| id.to_string());
    Ok(format!(
        "{{\n  \"format\": {},\n  \"schema_id\": {schema_id},\n  \"kind\": {},\n  \"event\": {}\n}}",
        Value::from(decoded.format.as_str()),
        Value::from(decoded.kind.name()),
        event.replace('\n', "\n  "),
    ))
}

/// Encodes a JSON document (an event, or an `events decode` output) as a record value; the
/// arguments win over the values found in a decode output.
fn encode_document(
    document: Value,
    kind: Option<Kind>,
    format: Option<FormatArg>,
    schema_id: Option<u32>,
) -> Result<Vec<u8>, CliError> {
    let wrapped = unwrap_decode_output(document)?;
    let kind = match kind.or(wrapped.kind) {
        Some(kind) => kind,
        None => {
            let detected = kind_from_shape(&wrapped.event)
                .map_err(|source| CliError::KindNotDetected { source })?;
            Kind::from_event_kind(detected).ok_or_else(|| CliError::UnknownKind {
                found: detected.to_string(),
            })?
        }
    };
    let format = format
        .map(FormatArg::format)
        .or(wrapped.format)
        .unwrap_or(Format::JsonSchema);
    let writer_id = match schema_id.or(wrapped.schema_id) {
        Some(id) => SchemaId(id),
        None if format.is_framed() => return Err(CliError::MissingSchemaId { format }),
        None => SchemaId(0),
    };
    let codec = AnyCodec::for_format(format, SchemaIds::new(writer_id));
    with_event_type!(kind, encode_as(&codec, wrapped.event)).map_err(|source| CliError::Encode {
        kind: kind.event_kind(),
        source,
    })
}

fn encode_as<E: WireEvent>(
    codec: &dyn EventCodec<E>,
    document: Value,
) -> Result<Vec<u8>, EventsError> {
    codec.encode(&E::from_json_value(document)?)
}

/// The event document and the settings found in an `events decode` output.
#[derive(Debug)]
struct Wrapped {
    kind: Option<Kind>,
    format: Option<Format>,
    schema_id: Option<u32>,
    event: Value,
}

/// Unwraps an `events decode` output (an object with `kind` and `event`, and at most `format`
/// and `schema_id` besides); any other document is the event itself.
fn unwrap_decode_output(document: Value) -> Result<Wrapped, CliError> {
    const KEYS: [&str; 4] = ["format", "schema_id", "kind", "event"];
    let is_wrapper = document.as_object().is_some_and(|map| {
        map.contains_key("kind")
            && map.contains_key("event")
            && map.keys().all(|key| KEYS.contains(&key.as_str()))
    });
    let Value::Object(mut map) = document else {
        return Ok(plain(document));
    };
    if !is_wrapper {
        return Ok(plain(Value::Object(map)));
    }
    let text = |value: &Value| {
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    };
    let kind = match map.remove("kind") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            Kind::parse(&text(&value)).ok_or_else(|| CliError::UnknownKind {
                found: text(&value),
            })?,
        ),
    };
    let format = match map.remove("format") {
        None | Some(Value::Null) => None,
        Some(value) => {
            Some(
                Format::parse(&text(&value)).ok_or_else(|| CliError::UnknownFormat {
                    found: text(&value),
                })?,
            )
        }
    };
    let schema_id = match map.remove("schema_id") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .ok_or_else(|| CliError::InvalidSchemaId {
                    found: value.to_string(),
                })?,
        ),
    };
    Ok(Wrapped {
        kind,
        format,
        schema_id,
        event: map.remove("event").unwrap_or(Value::Null),
    })
}

const fn plain(event: Value) -> Wrapped {
    Wrapped {
        kind: None,
        format: None,
        schema_id: None,
        event,
    }
}

/// Reads a whole input (a file, or stdin for `None`/`-`) of at most `limit` bytes; with
/// `base64`, the input is base64 text (whitespace ignored) of at most `limit` decoded bytes.
fn read_input(path: Option<&Path>, limit: usize, base64: bool) -> Result<Vec<u8>, CliError> {
    let raw_limit = if base64 { limit / 3 * 4 + 4096 } else { limit };
    let (what, bytes) = match path.filter(|p| p.as_os_str() != "-") {
        None => (
            "stdin".to_owned(),
            read_limited(std::io::stdin().lock(), raw_limit),
        ),
        Some(path) => (
            format!("file {}", path.display()),
            std::fs::File::open(path).and_then(|file| read_limited(file, raw_limit)),
        ),
    };
    let bytes = bytes.map_err(|source| CliError::ReadInput {
        what: what.clone(),
        source,
    })?;
    let too_large = || CliError::InputTooLarge {
        what: what.clone(),
        limit,
    };
    let Some(bytes) = bytes else {
        return Err(too_large());
    };
    if !base64 {
        return Ok(bytes);
    }
    let text: Vec<u8> = bytes
        .into_iter()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|source| CliError::InvalidBase64 { source })?;
    if decoded.len() > limit {
        return Err(too_large());
    }
    Ok(decoded)
}

/// Reads everything from `reader`, or `None` when there are more than `limit` bytes.
fn read_limited(reader: impl Read, limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut bytes)?;
    Ok((bytes.len() <= limit).then_some(bytes))
}

/// Reads an Avro schema file: the schema's JSON text, or a Schema Registry answer
/// (`{"schema": "<text>", ...}`) holding it, and checks that it is an Avro schema.
fn read_schema(path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadSchema {
        path: path.to_owned(),
        source,
    })?;
    let inner = serde_json::from_str::<Value>(&text).ok().and_then(|doc| {
        if doc.get("type").is_some() {
            None
        } else {
            doc.get("schema").and_then(Value::as_str).map(str::to_owned)
        }
    });
    let schema = inner.unwrap_or(text);
    autogen_kafka::events::apache_avro::Schema::parse_str(&schema).map_err(|source| {
        CliError::InvalidSchema {
            path: path.to_owned(),
            source: Box::new(source),
        }
    })?;
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_output_is_recognised_and_flags_win() {
        let output = serde_json::json!({
            "format": "json",
            "schema_id": null,
            "kind": "registration",
            "event": {"message_type": "register", "agent": "echo"},
        });
        let bytes = encode_document(output.clone(), None, None, None).unwrap();
        assert_eq!(bytes, br#"{"message_type":"register","agent":"echo"}"#);
        let framed = encode_document(output, None, Some(FormatArg::JsonSchema), Some(7)).unwrap();
        assert_eq!(&framed[..5], &[0, 0, 0, 0, 7]);
    }

    #[test]
    fn an_event_with_extra_keys_is_not_taken_for_a_decode_output() {
        let wrapped =
            unwrap_decode_output(serde_json::json!({"kind": 1, "event": 2, "x": 3})).unwrap();
        assert_eq!(wrapped.kind, None);
        assert!(wrapped.event.get("x").is_some());
        assert!(matches!(
            unwrap_decode_output(serde_json::json!({"kind": "nope", "event": {}})),
            Err(CliError::UnknownKind { .. })
        ));
        assert!(matches!(
            unwrap_decode_output(
                serde_json::json!({"kind": "memory", "event": {}, "schema_id": -1})
            ),
            Err(CliError::InvalidSchemaId { .. })
        ));
    }

    #[test]
    fn framed_formats_need_a_schema_id() {
        let event = serde_json::json!({"message_type": "register", "agent": "echo"});
        assert!(matches!(
            encode_document(event, None, None, None),
            Err(CliError::MissingSchemaId {
                format: Format::JsonSchema
            })
        ));
    }

    #[test]
    fn rendering_nests_the_pretty_event() {
        let decoded = decode_value(
            br#"{"message_type":"register","agent":"echo"}"#,
            None,
            None,
            None,
        )
        .unwrap();
        let text = render(&decoded).unwrap();
        let expected = "{\n  \"format\": \"json\",\n  \"schema_id\": null,\n  \"kind\": \"registration\",\n  \"event\": {\n    \"message_type\": \"register\",\n    \"agent\": \"echo\"\n  }\n}";
        assert_eq!(text, expected);
    }

    #[test]
    fn input_limit_is_enforced() {
        assert_eq!(read_limited(&b"abc"[..], 3).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_limited(&b"abcd"[..], 3).unwrap(), None);
    }

    #[test]
    fn schema_names_and_registry_answers() {
        assert_eq!(
            schema_record_name(r#"{"type":"record","name":"a.b.MemoryEvent","fields":[]}"#)
                .as_deref(),
            Some("MemoryEvent")
        );
        assert_eq!(schema_record_name("\"string\""), None);
    }
}

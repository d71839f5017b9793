//! # autogen-kafka-events
//!
//! The wire events of autogen-kafka and their serializers: plain data and codecs, nothing that
//! consumes, produces or knows a runtime. Every record this crate writes can be read by the
//! Python `autogen-kafka` (v0.2.0), and every record Python writes can be read here; the
//! golden vectors in `tests/vectors/` prove both directions.
//!
//! * Events ([`WireEvent`]): [`RequestEvent`], [`ResponseEvent`], [`RegistrationEvent`],
//!   [`SubscriptionEvent`], [`MemoryEvent`], [`AgentEvent`] and the publish CloudEvent
//!   [`PublishEvent`] (built on the `cloudevents-sdk` crate). Their JSON has upstream's field
//!   names and key order; identifiers are plain strings (`type/key`).
//! * Framing: [`Frame`] (Confluent wire format: magic byte `0`, `u32` big-endian schema id).
//! * Codecs ([`EventCodec`]): [`JsonSchemaCodec`] (framed JSON, upstream's format),
//!   [`AvroCodec`] (framed Avro, writer schemas resolved through [`SchemaLookup`]),
//!   [`PlainJsonCodec`]; [`AnyCodec`] picks one by [`Format`]; [`detect_format`] tells them
//!   apart.
//! * Schemas ([`schema`]): the JSON Schema documents upstream registers (per
//!   [`EventKind::json_schema`]), the text to register ([`EventKind::registered_schema_text`])
//!   and our Avro schemas ([`EventKind::avro_schema`]).
//! * Record keys ([`keys`]) and default topic names ([`topics`]).
//! * CloudEvents binary mode over Kafka headers ([`binary`]).
//! * [`decode_any`]: decode any record value (format and kind detected), for tools and fuzzing.
//!
//! Decoding never panics; every failure is a typed [`EventsError`]. Inputs over
//! [`DEFAULT_MAX_RECORD_SIZE`] (8 MiB, configurable per codec) are refused before parsing.
//!
//! # Example
//!
//! ```
//! use autogen_kafka_events::{
//!     EventCodec, JsonSchemaCodec, RequestEvent, ResponseEvent, SchemaId, SchemaIds, topics,
//! };
//!
//! // The admin layer registered the schema under `runtime_requests-value` and got id 1.
//! let codec = JsonSchemaCodec::new(SchemaIds::new(SchemaId(1)));
//!
//! let request = RequestEvent::new("echo/default", "Ping", br#"{"content": "hello"}"#.to_vec())
//!     .with_sender("caller/default");
//! let value = codec.encode(&request)?;
//! let key = request.record_key(); // "echo/default", on topic `runtime_requests`
//! assert_eq!(key, Some("echo/default"));
//! assert_eq!(topics::RUNTIME_REQUESTS, "runtime_requests");
//!
//! let received: RequestEvent = codec.decode(&value)?;
//! assert_eq!(received, request);
//!
//! let reply = ResponseEvent::error(received.request_id.unwrap_or_default(), "no such agent");
//! assert!(reply.is_error());
//! # Ok::<(), autogen_kafka_events::EventsError>(())
//! ```
//!
//! # Upstream defects (WIRE §7): what we read and what we write
//!
//! * **D3 (poison records)**: decoding returns a typed error for any input; the caller
//!   decides to skip, dead-letter or stop. Nothing panics.
//! * **D4 (memory)**: we *read* a null or missing `metadata` (upstream crashes on it) and any
//!   `mime_type` string ([`MemoryMimeType::Other`]); we *write* `metadata` as upstream does
//!   (JSON text, or null when empty), so Python readers still fail on our empty-metadata
//!   records exactly as on their own. Binary content is base64 on the wire and
//!   [`MemoryEvent::content_bytes`] decodes it (upstream's reader returns the base64 text).
//!   A publish with a non-JSON `datacontenttype` is read like any other; the check is the
//!   runtime's.
//! * **D6**: [`keys::agent_request_key`] writes `"None"` without a sender, as upstream.
//! * **D8**: an error response carries only the error text (that is the wire format); use
//!   [`ResponseEvent::is_error`] *before* looking at the payload (upstream deserializes the
//!   null payload first).
//! * **D10 (two schema texts)**: we read any schema id by default; register
//!   [`EventKind::registered_schema_text`] (upstream's startup text) so that Rust and Python
//!   share one schema version. The AgentEvent base schema's wrong `message` type is not
//!   enforced by our reader (any JSON object is accepted).
//! * **Publish `null` extensions**: we read `null` sender extensions as absent and write
//!   `null` for an absent sender, as upstream does.
//! * Empty payloads are written as JSON `null` (upstream's truthiness check); an empty
//!   CloudEvent payload is written as `""`, as upstream's `cloud_event_to_dict` does.

mod avro_value;
pub mod binary;
mod codec;
mod decode;
mod error;
mod event;
mod framing;
pub mod keys;
mod kind;
pub mod payload;
pub mod schema;
pub mod topics;

pub use codec::avro::{AvroCodec, BoxFuture, InMemorySchemaLookup, SchemaLookup};
pub use codec::json::{JsonSchemaCodec, PlainJsonCodec};
pub use codec::{AnyCodec, DEFAULT_MAX_RECORD_SIZE, EventCodec, Format, SchemaIds, detect_format};
pub use decode::{
    AnyEvent, DecodeOptions, DecodedRecord, decode_any, decode_any_with, kind_from_shape,
};
pub use error::{BoxError, EventsError, Result};
pub use event::WireEvent;
pub use event::agent::AgentEvent;
pub use event::memory::{MemoryEvent, MemoryMimeType};
pub use event::publish::{
    DATA_SCHEMA_EXTENSION, MESSAGE_KIND_EXTENSION, MessageKind, PublishEvent, PublishEventBuilder,
    RPC_REQUEST_SUFFIX, SENDER_KEY_EXTENSION, SENDER_TYPE_EXTENSION, TRACEPARENT_EXTENSION,
    TRACESTATE_EXTENSION, parse_time, python_isoformat,
};
pub use event::registration::{RegistrationEvent, RegistrationKind};
pub use event::rpc::{
    JSON_CONTENT_TYPE, Metadata, RequestEvent, ResponseEvent, UNKNOWN_ID, new_id,
};
pub use event::subscription::{
    SubscriptionEvent, SubscriptionOperation, TypePrefixSubscription, TypeSubscription,
    WireSubscription,
};
pub use framing::{Frame, SchemaId};
pub use kind::EventKind;

#[doc(no_inline)]
pub use apache_avro;
#[doc(no_inline)]
pub use cloudevents;

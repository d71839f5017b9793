//! The wire events and the [`WireEvent`] trait the codecs are generic over.

pub(crate) mod agent;
pub(crate) mod memory;
pub(crate) mod publish;
pub(crate) mod registration;
pub(crate) mod rpc;
pub(crate) mod subscription;

use std::fmt::Debug;

use apache_avro::types::Value as AvroValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{EventKind, EventsError, Result};

/// An event that travels as a Kafka record value.
///
/// Serializing with [`Serialize`] writes the JSON document with upstream's key order;
/// [`WireEvent::from_json_value`] reads one back (leniently: missing optional keys read as
/// null). The Avro methods map the event to and from this crate's Avro schema for the kind
/// ([`EventKind::avro_schema`]).
///
/// Implemented by the seven event types of this crate; the codecs ([`crate::EventCodec`]) work
/// with any implementation.
pub trait WireEvent: Serialize + Clone + Debug + PartialEq + Send + Sync + 'static {
    /// The kind of this event.
    const KIND: EventKind;

    /// Builds the event from a parsed JSON document.
    ///
    /// # Errors
    ///
    /// [`EventsError::MissingField`], [`EventsError::InvalidField`],
    /// [`EventsError::InvalidBase64`] or [`EventsError::InvalidDocument`] when the document
    /// does not describe this event.
    fn from_json_value(document: Value) -> Result<Self>;

    /// Builds the event from the bytes of a JSON document (the codecs' decode path).
    ///
    /// The default parses a [`Value`] and calls [`WireEvent::from_json_value`]. The RPC events
    /// override it to read the bytes straight into the type (no intermediate tree: the request
    /// path's largest decoding cost) and take the [`Value`] path only when that fails, so errors
    /// are the same typed errors as [`WireEvent::from_json_value`] gives.
    ///
    /// # Errors
    ///
    /// [`EventsError::InvalidUtf8`] or [`EventsError::InvalidJson`] when the bytes are not a
    /// JSON document, and the errors of [`WireEvent::from_json_value`].
    fn from_json_slice(bytes: &[u8]) -> Result<Self> {
        Self::from_json_value(crate::codec::json::parse_document(bytes)?)
    }

    /// Maps the event to an Avro value of [`EventKind::avro_schema`].
    ///
    /// # Errors
    ///
    /// [`EventsError::JsonEncode`] if a field kept as JSON text cannot be written.
    fn to_avro(&self) -> Result<AvroValue>;

    /// Builds the event from an Avro value resolved to [`EventKind::avro_schema`].
    ///
    /// # Errors
    ///
    /// [`EventsError::InvalidField`] or [`EventsError::MissingField`] when the value does not
    /// have the schema's shape.
    fn from_avro(value: AvroValue) -> Result<Self>;
}

/// Reads a derived event from a JSON document: required fields first (typed
/// [`EventsError::MissingField`]), then base64 fields (typed [`EventsError::InvalidBase64`]),
/// then serde.
pub(crate) fn from_document<T: DeserializeOwned>(
    kind: EventKind,
    document: Value,
    base64_fields: &[&'static str],
) -> Result<T> {
    if let Value::Object(map) = &document {
        check_required(kind, map)?;
        for field in base64_fields {
            if let Some(Value::String(text)) = map.get(*field) {
                crate::payload::decode_payload(field, Some(text))?;
            }
        }
    }
    serde_json::from_value(document).map_err(|source| EventsError::InvalidDocument { kind, source })
}

/// Reads a derived event straight from JSON bytes; on any failure, reads it through
/// [`from_document`] (via `T::from_json_value`) for the typed error. Only for kinds with no
/// required fields, whose derived `Deserialize` accepts exactly what `from_document` accepts.
pub(crate) fn from_slice_or_document<T: DeserializeOwned + WireEvent>(bytes: &[u8]) -> Result<T> {
    debug_assert!(T::KIND.required_fields().is_empty());
    match serde_json::from_slice(bytes) {
        Ok(event) => Ok(event),
        Err(_) => T::from_json_value(crate::codec::json::parse_document(bytes)?),
    }
}

/// Fails with [`EventsError::MissingField`] for the first required field that is absent or
/// null.
pub(crate) fn check_required(kind: EventKind, map: &serde_json::Map<String, Value>) -> Result<()> {
    match kind
        .required_fields()
        .iter()
        .find(|field| map.get(**field).is_none_or(Value::is_null))
    {
        Some(field) => Err(EventsError::MissingField { kind, field }),
        None => Ok(()),
    }
}

/// Reads a metadata object; JSON null reads as an empty object (upstream writes `{}` for it).
pub(crate) fn metadata_or_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<crate::Metadata, D::Error> {
    use serde::Deserialize as _;
    Ok(Option::<crate::Metadata>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RegistrationEvent;

    #[test]
    fn null_required_field_is_missing() {
        let doc = serde_json::json!({"message_type": "register", "agent": null});
        let err = RegistrationEvent::from_json_value(doc).unwrap_err();
        assert!(matches!(
            err,
            EventsError::MissingField {
                kind: EventKind::Registration,
                field: "agent"
            }
        ));
    }

    #[test]
    fn wrong_type_is_invalid_document() {
        let doc = serde_json::json!({"message_type": "register", "agent": 5});
        let err = RegistrationEvent::from_json_value(doc).unwrap_err();
        assert!(matches!(err, EventsError::InvalidDocument { .. }));
        let err = RegistrationEvent::from_json_value(serde_json::json!([1])).unwrap_err();
        assert!(matches!(err, EventsError::InvalidDocument { .. }));
    }
}

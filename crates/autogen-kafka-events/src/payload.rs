//! Base64 payload helpers (WIRE §3): standard alphabet with padding; an empty payload is
//! written as JSON `null`, as upstream does (it tests the payload's truthiness).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{EventsError, Result};

/// Encodes a payload for a `payload` / `data_base64` field: `None` for an empty payload.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::payload::{decode_payload, encode_payload};
///
/// let text = encode_payload(br#"{"content": "hello"}"#);
/// assert_eq!(text.as_deref(), Some("eyJjb250ZW50IjogImhlbGxvIn0="));
/// assert_eq!(encode_payload(b""), None);
/// assert_eq!(decode_payload("payload", text.as_deref())?, Some(br#"{"content": "hello"}"#.to_vec()));
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
#[must_use]
pub fn encode_payload(payload: &[u8]) -> Option<String> {
    (!payload.is_empty()).then(|| STANDARD.encode(payload))
}

/// Decodes a `payload`-style field. `None` and the empty string read as no payload, like
/// upstream.
///
/// # Errors
///
/// [`EventsError::InvalidBase64`] (naming `field`) when the text is not standard padded base64.
pub fn decode_payload(field: &'static str, text: Option<&str>) -> Result<Option<Vec<u8>>> {
    match text {
        None | Some("") => Ok(None),
        Some(text) => STANDARD
            .decode(text)
            .map(Some)
            .map_err(|source| EventsError::InvalidBase64 { field, source }),
    }
}

/// Plain base64 (standard, padded), for memory content and CloudEvent data.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Plain base64 decoding, naming `field` in the error.
pub(crate) fn decode_base64(field: &'static str, text: &str) -> Result<Vec<u8>> {
    STANDARD
        .decode(text)
        .map_err(|source| EventsError::InvalidBase64 { field, source })
}

/// serde adapter for `Option<Vec<u8>>` payload fields (see [`encode_payload`]).
pub(crate) mod serde_payload {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        payload: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match payload.as_deref().and_then(super::encode_payload) {
            Some(text) => serializer.serialize_str(&text),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        super::decode_payload("payload", text.as_deref()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_base64_is_a_typed_error() {
        let err = decode_payload("payload", Some("not base64!")).unwrap_err();
        assert!(matches!(
            err,
            EventsError::InvalidBase64 {
                field: "payload",
                ..
            }
        ));
        // Unpadded text is rejected: upstream always pads.
        assert!(decode_payload("payload", Some("YQ")).is_err());
        assert_eq!(decode_payload("payload", Some("")).unwrap(), None);
    }
}

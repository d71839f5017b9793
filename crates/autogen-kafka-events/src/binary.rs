//! CloudEvents binary content mode over Kafka headers (CloudEvents Kafka protocol binding).
//!
//! Context attributes travel as `ce_<name>` headers with UTF-8 string values, the
//! `datacontenttype` as the `content-type` header, and the data as the record value.
//! Extension values become strings in this mode. Absent sender extensions produce no header
//! (null has no header form). Upstream itself only uses structured mode (a JSON value, no
//! headers); this binding is for interoperating with other CloudEvents consumers. It is a pure
//! function on [`Header`]s, independent of any Kafka client.

use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader as _, Data};

use crate::event::publish::{DATA_SCHEMA_EXTENSION, python_isoformat};
use crate::{EventsError, PublishEvent, Result, WireEvent as _};

/// Prefix of CloudEvents attribute headers.
pub const HEADER_PREFIX: &str = "ce_";
/// Header carrying the `datacontenttype`.
pub const CONTENT_TYPE_HEADER: &str = "content-type";

/// One Kafka record header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// Header name.
    pub key: String,
    /// Header value (Kafka allows a null value).
    pub value: Option<Vec<u8>>,
}

impl Header {
    /// A header with a string value.
    #[must_use]
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// A record in binary content mode: headers plus value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BinaryRecord {
    /// The `ce_*` and `content-type` headers.
    pub headers: Vec<Header>,
    /// The event data, if any.
    pub value: Option<Vec<u8>>,
}

/// Writes `event` in binary content mode.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{binary, PublishEvent};
///
/// let event = PublishEvent::builder("news", "default")
///     .id("m-1")
///     .payload("Ping", b"{}".to_vec())
///     .sender("caller", "default")
///     .build()?;
/// let record = binary::encode_binary(&event);
/// assert!(record.headers.iter().any(|h| h.key == "ce_agagentsendertype"));
/// assert_eq!(record.value.as_deref(), Some(&b"{}"[..]));
/// let back = binary::decode_binary(&record.headers, record.value.as_deref())?;
/// assert_eq!(back.sender(), Some(("caller", "default")));
/// assert_eq!(back.payload_type(), Some("Ping"));
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
#[must_use]
pub fn encode_binary(event: &PublishEvent) -> BinaryRecord {
    let ce = event.as_cloudevent();
    let mut headers = vec![
        Header::new("ce_specversion", ce.specversion().as_str()),
        Header::new("ce_id", ce.id()),
        Header::new("ce_source", ce.source().as_str()),
        Header::new("ce_type", ce.ty()),
    ];
    if let Some(time) = ce.time() {
        headers.push(Header::new("ce_time", python_isoformat(time)));
    }
    if let Some(subject) = ce.subject() {
        headers.push(Header::new("ce_subject", subject));
    }
    if let Some(schema) = event.payload_type() {
        headers.push(Header::new("ce_dataschema", schema));
    }
    if let Some(content_type) = ce.datacontenttype() {
        headers.push(Header::new(CONTENT_TYPE_HEADER, content_type));
    }
    let mut extensions: Vec<(&str, &ExtensionValue)> = ce
        .iter_extensions()
        .filter(|(name, _)| *name != DATA_SCHEMA_EXTENSION)
        .collect();
    extensions.sort_by_key(|(name, _)| *name);
    for (name, value) in extensions {
        headers.push(Header::new(
            format!("{HEADER_PREFIX}{name}"),
            value.to_string(),
        ));
    }
    BinaryRecord {
        headers,
        value: event.payload().map(std::borrow::Cow::into_owned),
    }
}

/// Reads an event in binary content mode.
///
/// # Errors
///
/// [`EventsError::MissingHeader`] when `ce_specversion`, `ce_id`, `ce_source` or `ce_type`
/// is absent, [`EventsError::InvalidHeader`] for a non-UTF-8 value, and the errors of
/// [`PublishEvent`]'s JSON reader (unsupported version, bad time, empty attributes).
pub fn decode_binary(headers: &[Header], value: Option<&[u8]>) -> Result<PublishEvent> {
    let mut document = serde_json::Map::new();
    for header in headers {
        let Some(raw) = header.value.as_deref() else {
            continue;
        };
        let name = if header.key.eq_ignore_ascii_case(CONTENT_TYPE_HEADER) {
            "datacontenttype"
        } else if let Some(name) = header.key.strip_prefix(HEADER_PREFIX) {
            name
        } else {
            continue;
        };
        if matches!(name, "data" | "data_base64") {
            continue;
        }
        let text = std::str::from_utf8(raw).map_err(|source| EventsError::InvalidHeader {
            name: header.key.clone(),
            source,
        })?;
        document.insert(name.to_owned(), serde_json::Value::String(text.to_owned()));
    }
    for (required, header) in [
        ("specversion", "ce_specversion"),
        ("id", "ce_id"),
        ("source", "ce_source"),
        ("type", "ce_type"),
    ] {
        if !document.contains_key(required) {
            return Err(EventsError::MissingHeader { name: header });
        }
    }
    let mut event = PublishEvent::from_json_value(serde_json::Value::Object(document))?;
    if let Some(value) = value {
        let mut ce = event.into_cloudevent();
        ce.set_data_unchecked(Data::Binary(value.to_vec()));
        event = PublishEvent::from_cloudevent(ce)?;
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_header_is_typed() {
        let headers = vec![
            Header::new("ce_specversion", "1.0"),
            Header::new("ce_id", "1"),
        ];
        assert!(matches!(
            decode_binary(&headers, None),
            Err(EventsError::MissingHeader { name: "ce_source" })
        ));
    }

    #[test]
    fn non_utf8_header_is_typed() {
        let headers = vec![Header::new("ce_id", vec![0xff])];
        assert!(matches!(
            decode_binary(&headers, None),
            Err(EventsError::InvalidHeader { .. })
        ));
    }

    #[test]
    fn round_trip_without_sender_or_data() {
        let event = PublishEvent::builder("t", "s").id("1").build().unwrap();
        let record = encode_binary(&event);
        assert_eq!(record.value, None);
        assert!(
            !record
                .headers
                .iter()
                .any(|h| h.key == "ce_agagentsendertype")
        );
        let mut headers = record.headers;
        headers.push(Header {
            key: "unrelated".to_owned(),
            value: Some(b"x".to_vec()),
        });
        headers.push(Header {
            key: "ce_null".to_owned(),
            value: None,
        });
        assert_eq!(decode_binary(&headers, None).unwrap(), event);
    }
}

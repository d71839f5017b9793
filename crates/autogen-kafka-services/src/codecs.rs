//! One codec per topic: the writer format the fleet agreed on, and a reader that accepts every JSON form.

use std::collections::HashMap;

use autogen_kafka_events::{
    AnyCodec, EventCodec, Format, PlainJsonCodec, SchemaId, SchemaIds, WireEvent,
};

use crate::error::{Result, ServicesError};

/// The codecs of a runtime, by topic.
///
/// Writers use the configured format with the schema id the registry gave for the topic's subject. Readers
/// detect the form of each record: Confluent-framed JSON (any schema id, as the Python original's ids differ
/// from ours), plain JSON, or the configured format, so a record is never refused for its framing alone.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{Format, RegistrationEvent};
/// use autogen_kafka_services::EventCodecs;
///
/// let codecs = EventCodecs::new(Format::Json);
/// let bytes = codecs.encode("agent_registry", &RegistrationEvent::register("echo"))?;
/// let back: RegistrationEvent = codecs.decode("agent_registry", &bytes)?;
/// assert_eq!(back.agent, "echo");
/// # Ok::<(), autogen_kafka_services::ServicesError>(())
/// ```
#[derive(Debug)]
pub struct EventCodecs {
    format: Format,
    writers: HashMap<String, AnyCodec>,
    plain: PlainJsonCodec,
    framed_json: AnyCodec,
}

impl EventCodecs {
    /// Codecs writing `format`. For the registry formats, give each topic its schema id with
    /// [`with_schema_id`](Self::with_schema_id); a topic without one is written as plain JSON.
    #[must_use]
    pub fn new(format: Format) -> Self {
        Self {
            format,
            writers: HashMap::new(),
            plain: PlainJsonCodec::new(),
            framed_json: AnyCodec::for_format(Format::JsonSchema, SchemaIds::new(SchemaId(0))),
        }
    }

    /// Sets the schema id written for `topic`.
    #[must_use]
    pub fn with_schema_id(mut self, topic: impl Into<String>, id: u32) -> Self {
        let codec = AnyCodec::for_format(self.format, SchemaIds::new(SchemaId(id)));
        self.writers.insert(topic.into(), codec);
        self
    }

    /// The configured writer format.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// Encodes `event` for `topic`.
    ///
    /// # Errors
    ///
    /// [`ServicesError::Codec`] when the event cannot be encoded.
    pub fn encode<E: WireEvent>(&self, topic: &str, event: &E) -> Result<Vec<u8>> {
        let encoded = match self.writers.get(topic) {
            Some(codec) => codec.encode(event),
            None => self.plain.encode(event),
        };
        encoded.map_err(|source| ServicesError::Codec {
            topic: topic.to_owned(),
            source,
        })
    }

    /// Decodes a record value of `topic`.
    ///
    /// # Errors
    ///
    /// [`ServicesError::Codec`] when the bytes are not a valid event of type `E` in any accepted form.
    pub fn decode<E: WireEvent>(&self, topic: &str, bytes: &[u8]) -> Result<E> {
        let decoded = match bytes.first() {
            Some(0) if bytes.get(5) == Some(&b'{') => self.framed_json.decode(bytes),
            Some(b'{') => self.plain.decode(bytes),
            _ => match self.writers.get(topic) {
                Some(codec) => codec.decode(bytes),
                None => self.framed_json.decode(bytes),
            },
        };
        decoded.map_err(|source| ServicesError::Codec {
            topic: topic.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::EventCodecs;
    use autogen_kafka_events::{Format, RegistrationEvent, RequestEvent};

    #[test]
    fn framed_writer_and_any_reader() {
        let codecs = EventCodecs::new(Format::JsonSchema).with_schema_id("runtime_requests", 7);
        let request = RequestEvent::new("echo/default", "Ping", br#"{"content":"hi"}"#.to_vec());
        let bytes = codecs.encode("runtime_requests", &request).unwrap();
        assert_eq!(&bytes[..5], &[0, 0, 0, 0, 7]);
        let back: RequestEvent = codecs.decode("runtime_requests", &bytes).unwrap();
        assert_eq!(back, request);
        // A reader of another topic accepts the framed record too (Python's ids differ from ours).
        let back: RequestEvent = EventCodecs::new(Format::Json).decode("x", &bytes).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        let codecs = EventCodecs::new(Format::Json);
        for bad in [&b""[..], b"\x00\x00", b"not json", b"{\"message_type\": 3}"] {
            assert!(
                codecs.decode::<RegistrationEvent>("t", bad).is_err(),
                "{bad:?}"
            );
        }
    }
}

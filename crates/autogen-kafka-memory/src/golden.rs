//! The Python original's golden memory records (`autogen-kafka-events/tests/vectors/memory_add_*`) and
//! the inputs that produced them.

use serde_json::json;

use crate::content::MemoryContent;

/// The instance id (`sender`) of every golden record.
pub(crate) const SENDER: &str = "00000000-0000-4000-8000-000000000023";

/// The session id (and record key) of every golden record.
pub(crate) const SESSION: &str = "session-1";

/// One golden record: its name, the content upstream was given, and the record value it wrote
/// (schema id 1).
pub(crate) struct Vector {
    pub(crate) name: &'static str,
    pub(crate) content: MemoryContent,
    pub(crate) value: Vec<u8>,
}

fn read(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../autogen-kafka-events/tests/vectors/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// What our writer writes for a golden record: the same bytes, except `"metadata":"{}"` where
/// upstream wrote `"metadata":null` (upstream's readers stop on that null).
pub(crate) fn as_we_write(value: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(value) {
        Ok(text) => text
            .replace(r#""metadata":null"#, r#""metadata":"{}""#)
            .into_bytes(),
        Err(_) => value.to_vec(),
    }
}

/// Every `memory_add_*` vector, in a fixed order.
pub(crate) fn vectors() -> Vec<Vector> {
    let cases = [
        (
            "memory_add_text",
            MemoryContent::text("the sky is blue").with_metadata_entry("source", "test"),
        ),
        (
            "memory_add_text_no_metadata",
            MemoryContent::text("no metadata here"),
        ),
        (
            "memory_add_markdown",
            MemoryContent::markdown("# Title\n*bold*").with_metadata_entry("k", 1),
        ),
        (
            "memory_add_json",
            MemoryContent::json(json!({"a": 1, "b": [true, null]})).with_metadata_entry("k", "v"),
        ),
        (
            "memory_add_binary",
            MemoryContent::binary(b"\x00\x01\xfehello".to_vec()).with_metadata_entry("k", "v"),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, content)| Vector {
            name,
            content,
            value: read(name),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use autogen_kafka_events::{EventCodec, JsonSchemaCodec, MemoryEvent, SchemaId, SchemaIds};

    use super::*;

    #[test]
    fn our_writer_produces_the_golden_records_and_reads_them_back() {
        let codec = JsonSchemaCodec::new(SchemaIds::new(SchemaId(1)));
        for vector in vectors() {
            let event = vector.content.to_event(SENDER).unwrap();
            let written = codec.encode(&event).unwrap();
            // Where upstream writes null metadata, we write "{}": its readers crash on the null.
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&as_we_write(&vector.value)),
                "{}",
                vector.name
            );

            // Read back, including `memory_add_text_no_metadata`, which upstream cannot read.
            let read: MemoryEvent = codec.decode(&vector.value).unwrap();
            assert_eq!(read.sender, SENDER);
            assert_eq!(
                MemoryContent::from_event(&read).unwrap(),
                vector.content,
                "{}",
                vector.name
            );
        }
    }
}

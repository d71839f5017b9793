//! Confluent wire format framing (WIRE §1): magic byte `0`, schema id as `u32` big-endian,
//! then the payload.

use std::fmt;

use crate::{EventsError, Result};

/// A schema id assigned by the Schema Registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaId(pub u32);

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u32> for SchemaId {
    fn from(id: u32) -> Self {
        Self(id)
    }
}

/// A framed record value, borrowed from the input.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{Frame, SchemaId};
///
/// let bytes = Frame::new(SchemaId(1), b"{}").encode();
/// assert_eq!(bytes, [0, 0, 0, 0, 1, b'{', b'}']);
/// let frame = Frame::parse(&bytes)?;
/// assert_eq!(frame.schema_id, SchemaId(1));
/// assert_eq!(frame.payload, b"{}");
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The schema id of the writer's schema.
    pub schema_id: SchemaId,
    /// The encoded document (JSON text or an Avro datum).
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The Confluent magic byte.
    pub const MAGIC_BYTE: u8 = 0;
    /// Length of the header: magic byte plus schema id.
    pub const HEADER_LEN: usize = 5;

    /// A frame of `payload` under `schema_id`.
    #[must_use]
    pub const fn new(schema_id: SchemaId, payload: &'a [u8]) -> Self {
        Self { schema_id, payload }
    }

    /// Parses a framed record value.
    ///
    /// # Errors
    ///
    /// [`EventsError::TruncatedFrame`] when shorter than 5 bytes, [`EventsError::WrongMagicByte`]
    /// when the first byte is not `0`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let Some((header, payload)) = bytes.split_first_chunk::<5>() else {
            return Err(EventsError::TruncatedFrame { len: bytes.len() });
        };
        let [magic, id @ ..] = *header;
        if magic != Self::MAGIC_BYTE {
            return Err(EventsError::WrongMagicByte { found: magic });
        }
        Ok(Self {
            schema_id: SchemaId(u32::from_be_bytes(id)),
            payload,
        })
    }

    /// Writes the frame (header then payload).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::HEADER_LEN + self.payload.len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the frame to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(Self::MAGIC_BYTE);
        out.extend_from_slice(&self.schema_id.0.to_be_bytes());
        out.extend_from_slice(self.payload);
    }
}

/// Writes the 5-byte header for `schema_id` into a new buffer with room for `capacity` more
/// bytes.
pub(crate) fn header(schema_id: SchemaId, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(Frame::HEADER_LEN + capacity);
    Frame::new(schema_id, &[]).encode_into(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_wrong_inputs_are_typed_errors() {
        for len in 0..5 {
            let bytes = vec![0_u8; len];
            assert!(matches!(
                Frame::parse(&bytes),
                Err(EventsError::TruncatedFrame { len: l }) if l == len
            ));
        }
        assert!(matches!(
            Frame::parse(&[1, 0, 0, 0, 1]),
            Err(EventsError::WrongMagicByte { found: 1 })
        ));
    }

    #[test]
    fn schema_id_is_big_endian() {
        let frame = Frame::parse(&[0, 0x01, 0x02, 0x03, 0x04, 9]).unwrap();
        assert_eq!(frame.schema_id, SchemaId(0x0102_0304));
        assert_eq!(frame.payload, [9]);
        assert_eq!(frame.encode(), [0, 1, 2, 3, 4, 9]);
        assert_eq!(header(SchemaId(1), 0), [0, 0, 0, 0, 1]);
    }
}

//! Small helpers to build and take apart Avro record values.

use apache_avro::types::Value;

use crate::{EventKind, EventsError, Result};

/// `["null", T]` union value for an optional field.
pub(crate) fn optional(value: Option<Value>) -> Value {
    match value {
        Some(inner) => Value::Union(1, Box::new(inner)),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

/// `["null", "string"]` union value.
pub(crate) fn optional_string(value: Option<&str>) -> Value {
    optional(value.map(|s| Value::String(s.to_owned())))
}

/// A string value.
pub(crate) fn string(value: &str) -> Value {
    Value::String(value.to_owned())
}

/// An Avro record taken apart field by field.
pub(crate) struct RecordReader {
    kind: EventKind,
    fields: Vec<(String, Value)>,
}

impl RecordReader {
    /// Opens `value`, which must be a record.
    pub(crate) fn new(kind: EventKind, value: Value) -> Result<Self> {
        match value {
            Value::Record(fields) => Ok(Self { kind, fields }),
            other => Err(EventsError::invalid_field(
                kind,
                "(record)",
                format!("expected an Avro record, found {}", variant_name(&other)),
            )),
        }
    }

    /// Takes a field's value, unwrapping unions; `None` for an absent field or a null.
    pub(crate) fn take(&mut self, name: &'static str) -> Option<Value> {
        let index = self.fields.iter().position(|(n, _)| n == name)?;
        let (_, value) = self.fields.swap_remove(index);
        match unwrap_union(value) {
            Value::Null => None,
            other => Some(other),
        }
    }

    /// A required string field.
    pub(crate) fn string(&mut self, name: &'static str) -> Result<String> {
        self.optional_string(name)?
            .ok_or(EventsError::MissingField {
                kind: self.kind,
                field: name,
            })
    }

    /// An optional string field.
    pub(crate) fn optional_string(&mut self, name: &'static str) -> Result<Option<String>> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s) | Value::Enum(_, s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(name, "string", &other)),
        }
    }

    /// An optional bytes field.
    pub(crate) fn optional_bytes(&mut self, name: &'static str) -> Result<Option<Vec<u8>>> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bytes(b) | Value::Fixed(_, b)) => Ok(Some(b)),
            Some(other) => Err(self.wrong(name, "bytes", &other)),
        }
    }

    /// A required field holding JSON text, parsed.
    pub(crate) fn json_text(
        &mut self,
        name: &'static str,
        default: &str,
    ) -> Result<serde_json::Value> {
        let kind = self.kind;
        let text = self.optional_string(name)?;
        serde_json::from_str(text.as_deref().unwrap_or(default))
            .map_err(|e| EventsError::invalid_field(kind, name, format!("not JSON text: {e}")))
    }

    pub(crate) fn wrong(&self, name: &'static str, expected: &str, found: &Value) -> EventsError {
        EventsError::invalid_field(
            self.kind,
            name,
            format!("expected {expected}, found {}", variant_name(found)),
        )
    }
}

/// Strips union wrappers.
pub(crate) fn unwrap_union(mut value: Value) -> Value {
    while let Value::Union(_, inner) = value {
        value = *inner;
    }
    value
}

/// A short name of an Avro value's type, for error messages.
pub(crate) const fn variant_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int(_) => "int",
        Value::Long(_) => "long",
        Value::Float(_) => "float",
        Value::Double(_) => "double",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "string",
        Value::Fixed(..) => "fixed",
        Value::Enum(..) => "enum",
        Value::Union(..) => "union",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Record(_) => "record",
        Value::TimestampMicros(_) => "timestamp-micros",
        _ => "other",
    }
}

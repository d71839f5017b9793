//! The `serialization` section: how event values are encoded.

use serde::{Deserialize, Serialize};

use crate::de::string_enum;

string_enum! {
    /// The record value format.
    pub enum SerializationFormat {
        /// Confluent JSON Schema framing (magic byte + schema id + JSON), as the Python original
        /// writes. Needs a Schema Registry. The default.
        #[default]
        JsonSchema = "json_schema" | "jsonschema" | "json-schema",
        /// Confluent Avro framing. Needs a Schema Registry.
        Avro = "avro",
        /// Plain JSON without framing. Not readable by the Python original.
        Json = "json",
    }
}

impl SerializationFormat {
    /// Whether the format registers and looks up schemas in a Schema Registry.
    #[must_use]
    pub const fn needs_schema_registry(self) -> bool {
        matches!(self, Self::JsonSchema | Self::Avro)
    }
}

/// The `serialization` section ([`Config::serialization`](crate::Config::serialization)).
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::{SerializationConfig, SerializationFormat};
///
/// let serialization = SerializationConfig::default();
/// assert_eq!(serialization.format, SerializationFormat::JsonSchema);
/// assert!(serialization.format.needs_schema_registry());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SerializationConfig {
    /// `json_schema` (default), `avro` or `json`.
    pub format: SerializationFormat,
}

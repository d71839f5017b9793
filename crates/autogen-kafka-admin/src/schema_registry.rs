//! Confluent Schema Registry client.
//!
//! Python autogen-kafka frames every record value as `0x00`, a 4-byte schema id and a JSON
//! document, with the schema registered under `<topic>-value` (type JSON). This module
//! registers those schemas at startup ([`SchemaRegistryClient::register_or_verify`]) and
//! resolves the ids found in consumed records ([`SchemaRegistryClient::schema_by_id`],
//! cached), also as the events layer's `SchemaLookup`, so Avro readers fetch the writer schemas of
//! records written under ids they did not register.

mod client;
mod lookup;
mod retry;
mod types;
mod wire;

#[cfg(test)]
mod tests;

pub use client::{SchemaRegistryClient, SchemaRegistryClientBuilder};
pub use retry::RetryPolicy;
pub use types::{
    CompatibilityLevel, RegisteredSchema, RegistryOperation, SchemaDefinition, SchemaId,
    SchemaReference, SchemaType, SchemaVersion,
};

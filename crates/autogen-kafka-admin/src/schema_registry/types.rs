//! Plain data exchanged with the Schema Registry.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A schema id assigned by the registry, the 4 bytes after the magic byte in a Confluent
/// framed record (see `WIRE.md` §1).
///
/// # Examples
///
/// ```
/// use autogen_kafka_admin::SchemaId;
///
/// let id = SchemaId::new(7);
/// assert_eq!(id.get(), 7);
/// assert_eq!(id.to_string(), "7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SchemaId(u32);

impl SchemaId {
    /// Wraps a raw id.
    #[must_use]
    pub const fn new(id: u32) -> Self {
        Self(id)
    }

    /// The raw id, as written big-endian into the record frame.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for SchemaId {
    fn from(id: u32) -> Self {
        Self(id)
    }
}

impl From<SchemaId> for u32 {
    fn from(id: SchemaId) -> Self {
        id.0
    }
}

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The schema language of a registered schema (`schemaType` in the REST API; the registry
/// omits it for Avro).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum SchemaType {
    /// Apache Avro, the registry's default when no type is given.
    #[default]
    Avro,
    /// JSON Schema, the type the Python autogen-kafka serializers register.
    Json,
    /// Protocol Buffers.
    Protobuf,
}

impl SchemaType {
    /// The name the REST API uses (`AVRO`, `JSON`, `PROTOBUF`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Avro => "AVRO",
            Self::Json => "JSON",
            Self::Protobuf => "PROTOBUF",
        }
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference from one schema to another registered schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SchemaReference {
    /// The name the referencing schema uses (a JSON Schema `$ref` URL, an Avro type name or
    /// a proto import path).
    pub name: String,
    /// The subject the referenced schema is registered under.
    pub subject: String,
    /// The version of that subject.
    pub version: u32,
}

impl SchemaReference {
    /// Creates a reference.
    #[must_use]
    pub fn new(name: impl Into<String>, subject: impl Into<String>, version: u32) -> Self {
        Self {
            name: name.into(),
            subject: subject.into(),
            version,
        }
    }
}

/// A schema as registered: its language, its text and its references.
///
/// The registry compares schema text, so two texts that differ only in whitespace are two
/// schemas with two ids (upstream defect D10 registers two versions per subject that way):
/// register exactly the text the producer uses.
///
/// # Examples
///
/// ```
/// use autogen_kafka_admin::{SchemaDefinition, SchemaType};
///
/// let schema = SchemaDefinition::json(r#"{"type":"object"}"#);
/// assert_eq!(schema.schema_type, SchemaType::Json);
/// assert!(schema.references.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SchemaDefinition {
    /// The schema language.
    pub schema_type: SchemaType,
    /// The schema text, sent as is.
    pub schema: String,
    /// Other registered schemas this one refers to.
    pub references: Vec<SchemaReference>,
}

impl SchemaDefinition {
    /// A schema of the given type, without references.
    #[must_use]
    pub fn new(schema_type: SchemaType, schema: impl Into<String>) -> Self {
        Self {
            schema_type,
            schema: schema.into(),
            references: Vec::new(),
        }
    }

    /// A JSON Schema document.
    #[must_use]
    pub fn json(schema: impl Into<String>) -> Self {
        Self::new(SchemaType::Json, schema)
    }

    /// An Avro schema.
    #[must_use]
    pub fn avro(schema: impl Into<String>) -> Self {
        Self::new(SchemaType::Avro, schema)
    }

    /// Replaces the references.
    #[must_use]
    pub fn with_references(mut self, references: Vec<SchemaReference>) -> Self {
        self.references = references;
        self
    }
}

/// One version of a subject, as returned by lookups and version queries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisteredSchema {
    /// The subject (for the Python interop, `<topic>-value`).
    pub subject: String,
    /// The globally unique schema id.
    pub id: SchemaId,
    /// The version within the subject, starting at 1.
    pub version: u32,
    /// The schema itself.
    pub schema: SchemaDefinition,
}

/// Which version of a subject to address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaVersion {
    /// The newest version.
    Latest,
    /// A version number, starting at 1.
    Number(u32),
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest => f.write_str("latest"),
            Self::Number(version) => fmt::Display::fmt(version, f),
        }
    }
}

impl From<u32> for SchemaVersion {
    fn from(version: u32) -> Self {
        Self::Number(version)
    }
}

/// A compatibility level (`GET`/`PUT /config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum CompatibilityLevel {
    /// New schemas can read data written with the latest version (the registry default).
    Backward,
    /// New schemas can read data written with every earlier version.
    BackwardTransitive,
    /// The latest version can read data written with the new schema.
    Forward,
    /// Every earlier version can read data written with the new schema.
    ForwardTransitive,
    /// Backward and forward against the latest version.
    Full,
    /// Backward and forward against every earlier version.
    FullTransitive,
    /// No check.
    None,
}

/// The registry call an error comes from; shown in error messages and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegistryOperation {
    /// `POST /subjects/{subject}/versions`.
    Register,
    /// `POST /subjects/{subject}`.
    Lookup,
    /// `GET /schemas/ids/{id}`.
    SchemaById,
    /// `GET /subjects/{subject}/versions/{version}`.
    Version,
    /// `GET /subjects/{subject}/versions`.
    Versions,
    /// `POST /compatibility/subjects/{subject}/versions/{version}`.
    CheckCompatibility,
    /// `GET /subjects`.
    Subjects,
    /// `GET /config`.
    GetConfig,
    /// `PUT /config`.
    SetConfig,
}

impl RegistryOperation {
    /// A short name for logs and messages.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Lookup => "lookup",
            Self::SchemaById => "schema by id",
            Self::Version => "get version",
            Self::Versions => "list versions",
            Self::CheckCompatibility => "check compatibility",
            Self::Subjects => "list subjects",
            Self::GetConfig => "get config",
            Self::SetConfig => "set config",
        }
    }
}

impl fmt::Display for RegistryOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

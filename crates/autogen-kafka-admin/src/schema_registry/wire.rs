//! JSON bodies of the Confluent Schema Registry REST API (v1).

use serde::{Deserialize, Serialize};

use super::types::{
    CompatibilityLevel, RegisteredSchema, SchemaDefinition, SchemaId, SchemaReference, SchemaType,
};

/// The content type the registry speaks.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// What the client accepts, most preferred first.
pub(crate) const ACCEPT: &str = "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; qs=0.9, application/json; qs=0.5";

/// Body of register, lookup and compatibility requests.
#[derive(Debug, Serialize)]
pub(crate) struct SchemaRequest<'a> {
    schema: &'a str,
    #[serde(rename = "schemaType")]
    schema_type: SchemaType,
    #[serde(skip_serializing_if = "<[SchemaReference]>::is_empty")]
    references: &'a [SchemaReference],
}

impl<'a> SchemaRequest<'a> {
    pub(crate) fn new(definition: &'a SchemaDefinition) -> Self {
        Self {
            schema: &definition.schema,
            schema_type: definition.schema_type,
            references: &definition.references,
        }
    }
}

/// Answer to `POST /subjects/{subject}/versions`.
#[derive(Debug, Deserialize)]
pub(crate) struct RegisterResponse {
    pub(crate) id: SchemaId,
}

/// Answer to `GET /schemas/ids/{id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct SchemaResponse {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: SchemaType,
    #[serde(default)]
    references: Vec<SchemaReference>,
}

impl From<SchemaResponse> for SchemaDefinition {
    fn from(response: SchemaResponse) -> Self {
        Self::new(response.schema_type, response.schema).with_references(response.references)
    }
}

/// Answer to a lookup (`POST /subjects/{subject}`) and to
/// `GET /subjects/{subject}/versions/{version}`.
#[derive(Debug, Deserialize)]
pub(crate) struct SubjectVersionResponse {
    subject: String,
    id: SchemaId,
    version: u32,
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: SchemaType,
    #[serde(default)]
    references: Vec<SchemaReference>,
}

impl From<SubjectVersionResponse> for RegisteredSchema {
    fn from(response: SubjectVersionResponse) -> Self {
        Self {
            subject: response.subject,
            id: response.id,
            version: response.version,
            schema: SchemaDefinition::new(response.schema_type, response.schema)
                .with_references(response.references),
        }
    }
}

/// Answer to `POST /compatibility/subjects/{subject}/versions/{version}`.
#[derive(Debug, Deserialize)]
pub(crate) struct CompatibilityResponse {
    pub(crate) is_compatible: bool,
    #[serde(default)]
    pub(crate) messages: Vec<String>,
}

/// Answer to `GET /config` (`compatibilityLevel`) and `PUT /config` (`compatibility`).
#[derive(Debug, Deserialize)]
pub(crate) struct ConfigResponse {
    #[serde(rename = "compatibilityLevel", alias = "compatibility")]
    pub(crate) compatibility_level: CompatibilityLevel,
}

/// Body of `PUT /config`.
#[derive(Debug, Serialize)]
pub(crate) struct ConfigRequest {
    pub(crate) compatibility: CompatibilityLevel,
}

/// The registry's error body: `{"error_code": 40401, "message": "Subject not found."}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) error_code: Option<i64>,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

impl ErrorBody {
    /// Parses an error body; a body that is not the documented JSON keeps its first
    /// characters as the message.
    pub(crate) fn parse(body: &[u8]) -> Self {
        serde_json::from_slice::<Self>(body).unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                None
            } else {
                Some(text.chars().take(200).collect())
            };
            Self {
                error_code: None,
                message,
            }
        })
    }

    /// The message, or a placeholder when the body had none.
    pub(crate) fn message_or_default(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| "no message".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_has_the_rest_api_field_names() {
        let definition = SchemaDefinition::json(r#"{"type":"object"}"#);
        let body = serde_json::to_value(SchemaRequest::new(&definition)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"schema": "{\"type\":\"object\"}", "schemaType": "JSON"})
        );
    }

    #[test]
    fn missing_schema_type_means_avro() {
        let response: SchemaResponse = serde_json::from_str(r#"{"schema":"\"string\""}"#).unwrap();
        let definition = SchemaDefinition::from(response);
        assert_eq!(definition.schema_type, SchemaType::Avro);
    }

    #[test]
    fn error_body_falls_back_to_raw_text() {
        let parsed = ErrorBody::parse(b"<html>bad gateway</html>");
        assert_eq!(parsed.error_code, None);
        assert_eq!(parsed.message.as_deref(), Some("<html>bad gateway</html>"));
        let parsed = ErrorBody::parse(br#"{"error_code":40401,"message":"Subject not found."}"#);
        assert_eq!(parsed.error_code, Some(40401));
    }

    #[test]
    fn config_accepts_get_and_put_shapes() {
        let get: ConfigResponse =
            serde_json::from_str(r#"{"compatibilityLevel":"FULL_TRANSITIVE"}"#).unwrap();
        assert_eq!(get.compatibility_level, CompatibilityLevel::FullTransitive);
        let put: ConfigResponse = serde_json::from_str(r#"{"compatibility":"NONE"}"#).unwrap();
        assert_eq!(put.compatibility_level, CompatibilityLevel::None);
    }
}

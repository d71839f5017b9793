//! What a bridge needs from the broker and the Schema Registry before it starts: its two topics, and the schema
//! ids its codecs write.

use std::time::Duration;

use autogen_kafka_admin::{CreateMode, SchemaDefinition, TopicSpec};
use autogen_kafka_config::Config;
use autogen_kafka_events::{EventKind, Format, schema, topics};
use autogen_kafka_services::{EventCodecs, ServicesError};

use crate::error::Result;

/// The message schema used when the builder was given none: any JSON object.
pub(crate) const ANY_OBJECT_SCHEMA: &str = r#"{"type": "object"}"#;

/// Creates the request and response topics when they are missing (unless `service.auto_create_topics` is off,
/// in which case they must exist).
pub(crate) async fn ensure_topics(
    config: &Config,
    mode: CreateMode,
    names: [&str; 2],
    timeout: Duration,
) -> Result<()> {
    let specs: Vec<TopicSpec> = names
        .iter()
        .map(|name| {
            TopicSpec::new(*name)
                .partitions(config.kafka.num_partitions.max(1))
                .replication_factor(config.kafka.replication_factor.max(1))
        })
        .collect();
    crate::setup::ensure_topics(config, mode, &specs, timeout).await
}

/// The codecs of a bridge. With a registry format, the AgentEvent schema is registered under `<topic>-value` for
/// both topics, as upstream does: JSON Schema registers the base AgentEvent schema with `message` replaced by the
/// message schema of that side ([`schema::agent_event_schema_text`]); Avro registers the AgentEvent Avro schema.
/// Plain JSON registers nothing.
pub(crate) async fn codecs(
    config: &Config,
    request: (&str, &str),
    response: (&str, &str),
) -> Result<EventCodecs> {
    let format = crate::setup::wire_format(config);
    let mut codecs = EventCodecs::new(format);
    if format == Format::Json {
        return Ok(codecs);
    }
    let client = crate::setup::registry_client(config)?;
    for (topic, message_schema) in [request, response] {
        let definition = match format {
            Format::Avro => SchemaDefinition::avro(EventKind::Agent.avro_schema().to_owned()),
            _ => SchemaDefinition::json(schema::agent_event_schema_text(message_schema).map_err(
                |source| ServicesError::Codec {
                    topic: topic.to_owned(),
                    source,
                },
            )?),
        };
        let id = client
            .register(&topics::value_subject(topic), &definition)
            .await?;
        tracing::debug!(topic, %id, "bridge schema registered");
        codecs = codecs.with_schema_id(topic, id.get());
    }
    // Avro readers fetch the writer schemas of newer schema versions from the registry.
    Ok(codecs.with_schema_lookup(std::sync::Arc::new(client)))
}

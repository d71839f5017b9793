//! Startup helpers shared by the worker runtime and the bridge agent: the wire format, the Schema Registry
//! client and topic creation, all from the configuration.

use std::time::Duration;

use autogen_kafka_admin::{CreateMode, SchemaRegistryClient, TopicAdmin, TopicSpec};
use autogen_kafka_config::{Config, SerializationFormat};
use autogen_kafka_events::Format;

use crate::error::Result;

/// The record value format the configuration asks writers to use.
pub(crate) fn wire_format(config: &Config) -> Format {
    match config.serialization.format {
        SerializationFormat::Json => Format::Json,
        SerializationFormat::Avro => Format::Avro,
        _ => Format::JsonSchema,
    }
}

/// A Schema Registry client for the configured registry (URL, basic auth, timeout, TLS trust and client
/// certificate).
pub(crate) fn registry_client(config: &Config) -> Result<SchemaRegistryClient> {
    let registry = &config.kafka.schema_registry;
    let mut builder = SchemaRegistryClient::builder(registry.url.clone())
        .request_timeout(registry.request_timeout);
    if let (Some(user), Some(secret)) = (&registry.username, &registry.password) {
        builder = builder.basic_auth(user.clone(), secret.expose().to_owned());
    }
    // `probe` means the system's trust store, which the client always uses.
    if let Some(ca) = registry
        .ssl_ca_location
        .as_ref()
        .filter(|ca| ca.as_path() != std::path::Path::new("probe"))
    {
        builder = builder.tls_ca_file(ca.clone());
    }
    if let (Some(certificate), Some(key)) = (
        &registry.ssl_certificate_location,
        &registry.ssl_key_location,
    ) {
        builder = builder.tls_client_identity(certificate.clone(), key.clone());
    }
    Ok(builder.build()?)
}

/// The topic admin client, unless `service.auto_create_topics` is off (the runtime then manages no topic).
fn admin(config: &Config, mode: CreateMode, timeout: Duration) -> Result<Option<TopicAdmin>> {
    if !config.service.auto_create_topics {
        return Ok(None);
    }
    let admin = TopicAdmin::builder(config.kafka.client_properties().into_map())
        .operation_timeout(timeout)
        .create_mode(mode)
        .build()?;
    Ok(Some(admin))
}

/// The admin client where topics are managed through the Admin API; `None` for auto-created topics (brokers
/// without it, such as librdkafka's mock cluster, can neither list nor delete topics).
fn admin_api(config: &Config, mode: CreateMode, timeout: Duration) -> Result<Option<TopicAdmin>> {
    if mode == CreateMode::AutoCreate {
        return Ok(None);
    }
    admin(config, mode, timeout)
}

/// Creates missing topics and verifies existing ones, unless `service.auto_create_topics` is off (then they must
/// exist).
pub(crate) async fn ensure_topics(
    config: &Config,
    mode: CreateMode,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<()> {
    if let Some(admin) = admin(config, mode, timeout)? {
        admin.ensure_topics(specs).await?;
    }
    Ok(())
}

/// The cluster's topic names; `None` where topics are not managed through the Admin API (auto-created topics,
/// the mock cluster), as for [`delete_topic`].
pub(crate) async fn topic_names(
    config: &Config,
    mode: CreateMode,
    timeout: Duration,
) -> Result<Option<Vec<String>>> {
    match admin_api(config, mode, timeout)? {
        Some(admin) => Ok(Some(admin.topic_names().await?)),
        None => Ok(None),
    }
}

/// Deletes `topic` if it exists (a missing topic is not an error). Brokers without the Admin API (`AutoCreate`
/// mode, such as librdkafka's mock cluster) cannot delete topics: nothing is done there.
pub(crate) async fn delete_topic(
    config: &Config,
    mode: CreateMode,
    topic: &str,
    timeout: Duration,
) -> Result<()> {
    if let Some(admin) = admin_api(config, mode, timeout)? {
        admin.delete_topics(&[topic]).await?;
    }
    Ok(())
}

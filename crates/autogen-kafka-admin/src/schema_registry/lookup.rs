//! The registry client as the events layer's [`SchemaLookup`]: how an Avro reader finds the writer schema of a
//! record framed with an id it did not register itself (a newer schema version written by an upgraded runtime).

use autogen_kafka_events::{BoxError, BoxFuture, SchemaLookup};

use super::{SchemaId, SchemaRegistryClient};
use crate::AdminError;

/// `GET /schemas/ids/<id>` through the client's cache and retry policy. "No such id" (40403) is `Ok(None)`;
/// every other failure is an error, so a registry outage is never mistaken for an unknown id.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use autogen_kafka_admin::SchemaRegistryClient;
/// use autogen_kafka_events::{AvroCodec, SchemaId, SchemaIds, SchemaLookup};
///
/// let registry = SchemaRegistryClient::builder("http://localhost:8081").build()?;
/// let lookup: Arc<dyn SchemaLookup> = Arc::new(registry);
/// // Records framed with id 1 decode at once; any other id is fetched once, then cached.
/// let codec = AvroCodec::new(SchemaIds::new(SchemaId(1))).with_lookup(lookup);
/// assert_eq!(codec.schema_ids().writer(), SchemaId(1));
/// # Ok::<(), autogen_kafka_admin::AdminError>(())
/// ```
impl SchemaLookup for SchemaRegistryClient {
    fn schema_text(
        &self,
        id: autogen_kafka_events::SchemaId,
    ) -> BoxFuture<'_, Result<Option<String>, BoxError>> {
        Box::pin(async move {
            match self.schema_by_id(SchemaId::new(id.0)).await {
                Ok(definition) => Ok(Some(definition.schema)),
                Err(AdminError::SchemaIdNotFound { .. }) => Ok(None),
                Err(error) => Err(Box::new(error) as BoxError),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use autogen_kafka_events::{SchemaId as FrameId, SchemaLookup};
    use autogen_kafka_testing::SchemaRegistryStandIn;

    use crate::{SchemaDefinition, SchemaRegistryClient};

    const STRING_SCHEMA: &str = r#""string""#;

    #[tokio::test]
    async fn known_id_gives_the_text_unknown_id_none_and_an_outage_an_error() {
        let stand_in = SchemaRegistryStandIn::start()
            .await
            .unwrap_or_else(|e| panic!("stand-in: {e}"));
        let client = SchemaRegistryClient::builder(stand_in.url())
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        let id = client
            .register("lookup-value", &SchemaDefinition::avro(STRING_SCHEMA))
            .await
            .unwrap_or_else(|e| panic!("register: {e}"));
        // A fresh client (empty cache), seen through the trait object as a codec holds it.
        let reader: Arc<dyn SchemaLookup> = Arc::new(
            SchemaRegistryClient::builder(stand_in.url())
                .retry_policy(crate::RetryPolicy::no_retry())
                .build()
                .unwrap_or_else(|e| panic!("client: {e}")),
        );
        let text = reader.schema_text(FrameId(id.get())).await;
        assert_eq!(text.ok().flatten().as_deref(), Some(STRING_SCHEMA));
        let missing = reader.schema_text(FrameId(id.get() + 1000)).await;
        assert!(matches!(missing, Ok(None)), "{missing:?}");
        stand_in.fail_next(1, 503);
        let down = reader.schema_text(FrameId(id.get() + 2000)).await;
        assert!(
            down.is_err(),
            "an outage must not read as an unknown id: {down:?}"
        );
    }
}

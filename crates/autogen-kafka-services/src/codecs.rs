//! One codec per topic: the writer format the fleet agreed on, and a reader that accepts every JSON form.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use autogen_kafka_events::{
    AnyCodec, AvroCodec, BoxError, EventCodec, EventsError, Format, PlainJsonCodec, SchemaId,
    SchemaIds, SchemaLookup, WireEvent,
};

use crate::error::{Result, ServicesError};

/// How long a writer-schema lookup may take before the record counts as undecodable.
pub const DEFAULT_SCHEMA_LOOKUP_WAIT: Duration = Duration::from_secs(10);
/// How long an id the registry does not know is not asked for again.
const UNKNOWN_ID_TTL: Duration = Duration::from_secs(60);
/// How long an id whose lookup failed (registry down, timeout) is not asked for again.
const FAILED_LOOKUP_TTL: Duration = Duration::from_secs(5);

/// Fetches the Avro writer schemas of ids this runtime did not register (see [`EventCodecs::with_schema_lookup`]).
struct Resolver {
    lookup: Arc<dyn SchemaLookup>,
    /// The runtime that runs lookups for [`EventCodecs::decode_blocking`].
    handle: Option<tokio::runtime::Handle>,
    wait: Duration,
    /// Ids not to ask for again before the instant.
    quiet: Mutex<HashMap<SchemaId, Instant>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("lookup", &self.lookup)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// Whether `id` may be looked up now.
    fn may_ask(&self, id: SchemaId) -> bool {
        let mut quiet = self.quiet.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        quiet.retain(|_, until| *until > now);
        !quiet.contains_key(&id)
    }

    fn quiet_for(&self, id: SchemaId, ttl: Duration) {
        self.quiet
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Instant::now() + ttl);
    }

    /// Adds the fetched writer schema to `codec`, or turns the lookup's outcome into the error to report.
    fn settle(
        &self,
        codec: &AvroCodec,
        kind: autogen_kafka_events::EventKind,
        id: SchemaId,
        outcome: std::result::Result<Option<String>, BoxError>,
    ) -> std::result::Result<(), EventsError> {
        match outcome {
            Ok(Some(text)) => {
                codec.add_writer_schema(kind, id, &text)?;
                tracing::info!(schema_id = %id, %kind, "fetched the Avro writer schema of a new schema id");
                Ok(())
            }
            Ok(None) => {
                self.quiet_for(id, UNKNOWN_ID_TTL);
                Err(EventsError::UnknownSchemaId { id })
            }
            Err(source) => {
                self.quiet_for(id, FAILED_LOOKUP_TTL);
                Err(EventsError::SchemaLookup { id, source })
            }
        }
    }
}

/// The codecs of a runtime, by topic.
///
/// Writers use the configured format with the schema id the registry gave for the topic's subject. Readers
/// detect the form of each record: Confluent-framed JSON (any schema id, as the Python original's ids differ
/// from ours), plain JSON, or the configured format, so a record is never refused for its framing alone.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{Format, RegistrationEvent};
/// use autogen_kafka_services::EventCodecs;
///
/// let codecs = EventCodecs::new(Format::Json);
/// let bytes = codecs.encode("agent_registry", &RegistrationEvent::register("echo"))?;
/// let back: RegistrationEvent = codecs.decode("agent_registry", &bytes)?;
/// assert_eq!(back.agent, "echo");
/// # Ok::<(), autogen_kafka_services::ServicesError>(())
/// ```
#[derive(Debug)]
pub struct EventCodecs {
    format: Format,
    writers: HashMap<String, AnyCodec>,
    plain: PlainJsonCodec,
    framed_json: AnyCodec,
    resolver: Option<Resolver>,
}

impl EventCodecs {
    /// Codecs writing `format`. For the registry formats, give each topic its schema id with
    /// [`with_schema_id`](Self::with_schema_id); a topic without one is written as plain JSON.
    #[must_use]
    pub fn new(format: Format) -> Self {
        Self {
            format,
            writers: HashMap::new(),
            plain: PlainJsonCodec::new(),
            framed_json: AnyCodec::for_format(Format::JsonSchema, SchemaIds::new(SchemaId(0))),
            resolver: None,
        }
    }

    /// Lets Avro readers fetch writer schemas they do not hold: a record framed with an id other than the one
    /// this runtime registered for its topic (a newer schema version written by an upgraded runtime) is decoded
    /// with the writer schema `lookup` returns for that id, resolved against ours by Avro schema resolution.
    /// Each id is fetched once and cached; an id the registry does not know is not asked for again for a
    /// minute, a failed lookup for five seconds. Only [`decode_resolving`](Self::decode_resolving) and
    /// [`decode_blocking`](Self::decode_blocking) look up; [`decode`](Self::decode) never waits.
    ///
    /// Only topics written in Avro look up; with the JSON formats the lookup is never asked.
    ///
    /// Call it inside the tokio runtime that should run the lookups of `decode_blocking`.
    #[must_use]
    pub fn with_schema_lookup(mut self, lookup: Arc<dyn SchemaLookup>) -> Self {
        self.resolver = Some(Resolver {
            lookup,
            handle: tokio::runtime::Handle::try_current().ok(),
            wait: DEFAULT_SCHEMA_LOOKUP_WAIT,
            quiet: Mutex::default(),
        });
        self
    }

    /// Bounds each writer-schema lookup (default [`DEFAULT_SCHEMA_LOOKUP_WAIT`]); no effect without a lookup.
    #[must_use]
    pub fn with_lookup_wait(mut self, wait: Duration) -> Self {
        if let Some(resolver) = &mut self.resolver {
            resolver.wait = wait;
        }
        self
    }

    /// Sets the schema id written for `topic`.
    #[must_use]
    pub fn with_schema_id(mut self, topic: impl Into<String>, id: u32) -> Self {
        let codec = AnyCodec::for_format(self.format, SchemaIds::new(SchemaId(id)));
        self.writers.insert(topic.into(), codec);
        self
    }

    /// The configured writer format.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// Encodes `event` for `topic`.
    ///
    /// # Errors
    ///
    /// [`ServicesError::Codec`] when the event cannot be encoded.
    pub fn encode<E: WireEvent>(&self, topic: &str, event: &E) -> Result<Vec<u8>> {
        let encoded = match self.writers.get(topic) {
            Some(codec) => codec.encode(event),
            None => self.plain.encode(event),
        };
        encoded.map_err(|source| ServicesError::Codec {
            topic: topic.to_owned(),
            source,
        })
    }

    /// Decodes a record value of `topic`.
    ///
    /// # Errors
    ///
    /// [`ServicesError::Codec`] when the bytes are not a valid event of type `E` in any accepted form.
    pub fn decode<E: WireEvent>(&self, topic: &str, bytes: &[u8]) -> Result<E> {
        let decoded = match bytes.first() {
            Some(0) if bytes.get(5) == Some(&b'{') => self.framed_json.decode(bytes),
            Some(b'{') => self.plain.decode(bytes),
            _ => match self.writers.get(topic) {
                Some(codec) => codec.decode(bytes),
                None => self.framed_json.decode(bytes),
            },
        };
        decoded.map_err(|source| ServicesError::Codec {
            topic: topic.to_owned(),
            source,
        })
    }

    /// [`decode`](Self::decode), but a framed Avro record whose writer schema id is not known yet first has its
    /// writer schema fetched (see [`with_schema_lookup`](Self::with_schema_lookup)), within the lookup wait.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode); a failed or timed-out lookup is [`ServicesError::Codec`] with
    /// [`EventsError::SchemaLookup`], an id the registry does not know [`EventsError::UnknownSchemaId`].
    pub async fn decode_resolving<E: WireEvent>(&self, topic: &str, bytes: &[u8]) -> Result<E> {
        let first = self.decode(topic, bytes);
        let Some((codec, resolver, id)) = self.lookup_needed(topic, &first) else {
            return first;
        };
        let outcome =
            match tokio::time::timeout(resolver.wait, resolver.lookup.schema_text(id)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(lookup_timeout(resolver.wait)),
            };
        self.after_lookup::<E>(topic, bytes, codec, resolver, id, outcome)
    }

    /// [`decode_resolving`](Self::decode_resolving) for a thread outside the async runtime (a tail reader's
    /// poll thread): the lookup runs on the runtime [`with_schema_lookup`](Self::with_schema_lookup) was called
    /// in while this thread waits, at most the lookup wait. On a thread of an async runtime it does not block:
    /// it decodes as [`decode`](Self::decode) does.
    ///
    /// # Errors
    ///
    /// As [`decode_resolving`](Self::decode_resolving).
    pub fn decode_blocking<E: WireEvent>(&self, topic: &str, bytes: &[u8]) -> Result<E> {
        let first = self.decode(topic, bytes);
        let Some((codec, resolver, id)) = self.lookup_needed(topic, &first) else {
            return first;
        };
        let Some(handle) = resolver.handle.as_ref() else {
            return first;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            tracing::warn!(topic, schema_id = %id, "decode_blocking on an async runtime thread: no lookup");
            return first;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let lookup = Arc::clone(&resolver.lookup);
        handle.spawn(async move {
            let _ = tx.send(lookup.schema_text(id).await);
        });
        let outcome = match rx.recv_timeout(resolver.wait) {
            Ok(outcome) => outcome,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(lookup_timeout(resolver.wait)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err("the runtime that runs schema lookups has stopped".into())
            }
        };
        self.after_lookup::<E>(topic, bytes, codec, resolver, id, outcome)
    }

    /// The Avro codec, resolver and id to look up when `first` failed only because the writer schema id is new.
    fn lookup_needed<E>(
        &self,
        topic: &str,
        first: &Result<E>,
    ) -> Option<(&AvroCodec, &Resolver, SchemaId)> {
        let Err(ServicesError::Codec {
            source: EventsError::UnknownSchemaId { id },
            ..
        }) = first
        else {
            return None;
        };
        let resolver = self.resolver.as_ref()?;
        let Some(AnyCodec::Avro(codec)) = self.writers.get(topic) else {
            return None;
        };
        (codec.schema_ids().accepts(*id) && resolver.may_ask(*id)).then_some((codec, resolver, *id))
    }

    fn after_lookup<E: WireEvent>(
        &self,
        topic: &str,
        bytes: &[u8],
        codec: &AvroCodec,
        resolver: &Resolver,
        id: SchemaId,
        outcome: std::result::Result<Option<String>, BoxError>,
    ) -> Result<E> {
        match resolver.settle(codec, E::KIND, id, outcome) {
            Ok(()) => self.decode(topic, bytes),
            Err(source) => Err(ServicesError::Codec {
                topic: topic.to_owned(),
                source,
            }),
        }
    }
}

fn lookup_timeout(wait: Duration) -> BoxError {
    format!("the schema registry did not answer within {wait:?}").into()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::EventCodecs;
    use crate::ServicesError;
    use autogen_kafka_events::{
        AvroCodec, BoxError, BoxFuture, EventCodec, EventKind, EventsError, Format,
        InMemorySchemaLookup, RegistrationEvent, RequestEvent, SchemaId, SchemaIds, SchemaLookup,
    };

    const TOPIC: &str = "agent_registry";

    /// A registration framed with `id` in our own Avro schema: what another runtime registered under another id.
    fn avro_record(id: u32) -> Vec<u8> {
        AvroCodec::new(SchemaIds::new(SchemaId(id)))
            .encode(&RegistrationEvent::register("echo"))
            .unwrap()
    }

    /// Our registration schema plus a field `zone` (string, default ""): the next version of the schema.
    fn evolved_schema() -> String {
        let mut schema: serde_json::Value =
            serde_json::from_str(EventKind::Registration.avro_schema()).unwrap();
        schema["fields"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": "zone", "type": "string", "default": ""}));
        schema.to_string()
    }

    /// A registration written with [`evolved_schema`] under `id`: our datum followed by `zone = "eu"`.
    fn evolved_record(id: u32) -> Vec<u8> {
        let mut bytes = avro_record(id);
        bytes.extend_from_slice(&[4, b'e', b'u']);
        bytes
    }

    fn unknown_id(result: &Result<RegistrationEvent, ServicesError>) -> bool {
        matches!(
            result,
            Err(ServicesError::Codec {
                source: EventsError::UnknownSchemaId { .. },
                ..
            })
        )
    }

    #[tokio::test]
    async fn avro_records_of_new_schema_ids_decode_once_their_writer_schema_is_fetched() {
        let own = EventCodecs::new(Format::Avro).with_schema_id(TOPIC, 5);
        assert!(unknown_id(&own.decode(TOPIC, &avro_record(9))));
        assert!(unknown_id(
            &own.decode_resolving(TOPIC, &avro_record(9)).await
        ));

        let lookup = Arc::new(
            InMemorySchemaLookup::new()
                .with(SchemaId(9), EventKind::Registration.avro_schema())
                .with(SchemaId(10), evolved_schema()),
        );
        let codecs = EventCodecs::new(Format::Avro)
            .with_schema_id(TOPIC, 5)
            .with_schema_lookup(lookup.clone());
        // decode never looks up.
        assert!(unknown_id(&codecs.decode(TOPIC, &avro_record(9))));
        assert_eq!(lookup.lookups(), 0);
        let same: RegistrationEvent = codecs
            .decode_resolving(TOPIC, &avro_record(9))
            .await
            .unwrap();
        assert_eq!(same, RegistrationEvent::register("echo"));
        // The newer version: its extra field is skipped by schema resolution.
        let newer: RegistrationEvent = codecs
            .decode_resolving(TOPIC, &evolved_record(10))
            .await
            .unwrap();
        assert_eq!(newer, RegistrationEvent::register("echo"));
        assert_eq!(lookup.lookups(), 2);
        // Cached: no further lookup, and plain decode now succeeds too.
        let again: RegistrationEvent = codecs.decode(TOPIC, &evolved_record(10)).unwrap();
        assert_eq!(again, newer);
        let _: RegistrationEvent = codecs
            .decode_resolving(TOPIC, &avro_record(9))
            .await
            .unwrap();
        assert_eq!(lookup.lookups(), 2);
        // Our own id never needs a lookup.
        let _: RegistrationEvent = codecs
            .decode_resolving(TOPIC, &avro_record(5))
            .await
            .unwrap();
        assert_eq!(lookup.lookups(), 2);
    }

    #[tokio::test]
    async fn an_id_the_registry_does_not_know_is_a_typed_error_and_not_asked_for_again_at_once() {
        let lookup = Arc::new(InMemorySchemaLookup::new());
        let codecs = EventCodecs::new(Format::Avro)
            .with_schema_id(TOPIC, 5)
            .with_schema_lookup(lookup.clone());
        for _ in 0..3 {
            assert!(unknown_id(
                &codecs.decode_resolving(TOPIC, &avro_record(11)).await
            ));
        }
        assert_eq!(lookup.lookups(), 1);
    }

    /// A registry that never answers.
    #[derive(Debug)]
    struct Silent;
    impl SchemaLookup for Silent {
        fn schema_text(&self, _: SchemaId) -> BoxFuture<'_, Result<Option<String>, BoxError>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_lookup_that_never_answers_ends_with_a_typed_error_after_the_wait() {
        let codecs = EventCodecs::new(Format::Avro)
            .with_schema_id(TOPIC, 5)
            .with_schema_lookup(Arc::new(Silent))
            .with_lookup_wait(Duration::from_millis(100));
        let started = Instant::now();
        let result: Result<RegistrationEvent, _> =
            codecs.decode_resolving(TOPIC, &avro_record(9)).await;
        assert!(
            matches!(
                &result,
                Err(ServicesError::Codec {
                    source: EventsError::SchemaLookup {
                        id: SchemaId(9),
                        ..
                    },
                    ..
                })
            ),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        // A failed lookup is retried only after a pause: the next record fails at once.
        let started = Instant::now();
        assert!(unknown_id(
            &codecs.decode_resolving(TOPIC, &avro_record(9)).await
        ));
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn decode_blocking_fetches_on_a_plain_thread_and_never_blocks_a_runtime_thread() {
        let lookup = Arc::new(InMemorySchemaLookup::new().with(SchemaId(10), evolved_schema()));
        let codecs = Arc::new(
            EventCodecs::new(Format::Avro)
                .with_schema_id(TOPIC, 5)
                .with_schema_lookup(lookup.clone()),
        );
        // On a runtime thread: no lookup, the plain error.
        assert!(unknown_id(
            &codecs.decode_blocking(TOPIC, &evolved_record(10))
        ));
        assert_eq!(lookup.lookups(), 0);
        // On a plain thread (as a tail reader's poll thread): the lookup runs on the runtime.
        let on_thread = Arc::clone(&codecs);
        let decoded = std::thread::spawn(move || {
            on_thread.decode_blocking::<RegistrationEvent>(TOPIC, &evolved_record(10))
        })
        .join()
        .unwrap();
        assert_eq!(decoded.unwrap(), RegistrationEvent::register("echo"));
        assert_eq!(lookup.lookups(), 1);
    }

    #[test]
    fn framed_writer_and_any_reader() {
        let codecs = EventCodecs::new(Format::JsonSchema).with_schema_id("runtime_requests", 7);
        let request = RequestEvent::new("echo/default", "Ping", br#"{"content":"hi"}"#.to_vec());
        let bytes = codecs.encode("runtime_requests", &request).unwrap();
        assert_eq!(&bytes[..5], &[0, 0, 0, 0, 7]);
        let back: RequestEvent = codecs.decode("runtime_requests", &bytes).unwrap();
        assert_eq!(back, request);
        // A reader of another topic accepts the framed record too (Python's ids differ from ours).
        let back: RequestEvent = EventCodecs::new(Format::Json).decode("x", &bytes).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        let codecs = EventCodecs::new(Format::Json);
        for bad in [&b""[..], b"\x00\x00", b"not json", b"{\"message_type\": 3}"] {
            assert!(
                codecs.decode::<RegistrationEvent>("t", bad).is_err(),
                "{bad:?}"
            );
        }
    }
}

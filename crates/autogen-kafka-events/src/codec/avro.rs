//! [`AvroCodec`]: Confluent framing + Avro binary, with writer schemas resolved by id through
//! [`SchemaLookup`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use apache_avro::Schema;

use crate::codec::{DEFAULT_MAX_RECORD_SIZE, EventCodec, Format, SchemaIds, check_size};
use crate::error::BoxError;
use crate::framing::header;
use crate::{EventKind, EventsError, Frame, Result, SchemaId, WireEvent};

/// A boxed `Send` future, the return type of [`SchemaLookup`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Resolves a writer schema by its registry id.
///
/// The admin layer implements it with its Schema Registry client (`GET /schemas/ids/<id>`);
/// [`InMemorySchemaLookup`] serves tests. Kept as `Arc<dyn SchemaLookup>`, so the method
/// returns a [`BoxFuture`].
pub trait SchemaLookup: Send + Sync + fmt::Debug + 'static {
    /// The schema text registered under `id`, or `None` if the registry has no such id.
    fn schema_text(&self, id: SchemaId) -> BoxFuture<'_, Result<Option<String>, BoxError>>;
}

/// A [`SchemaLookup`] over a map held in memory, counting its lookups.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{InMemorySchemaLookup, SchemaId};
///
/// let lookup = InMemorySchemaLookup::new().with(SchemaId(7), r#""string""#);
/// assert_eq!(lookup.len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct InMemorySchemaLookup {
    schemas: RwLock<HashMap<SchemaId, String>>,
    lookups: AtomicUsize,
}

impl InMemorySchemaLookup {
    /// An empty lookup.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a schema (builder form).
    #[must_use]
    pub fn with(self, id: SchemaId, text: impl Into<String>) -> Self {
        self.insert(id, text);
        self
    }

    /// Adds or replaces a schema.
    pub fn insert(&self, id: SchemaId, text: impl Into<String>) {
        self.schemas
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, text.into());
    }

    /// How many schemas it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.schemas
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether it holds no schema.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many lookups were made (to prove a codec caches).
    #[must_use]
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::Relaxed)
    }
}

impl SchemaLookup for InMemorySchemaLookup {
    fn schema_text(&self, id: SchemaId) -> BoxFuture<'_, Result<Option<String>, BoxError>> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let text = self
            .schemas
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        Box::pin(std::future::ready(Ok(text)))
    }
}

/// Confluent framing + Avro binary, with this crate's Avro schema per event kind
/// ([`EventKind::avro_schema`]).
///
/// The writer id of [`SchemaIds`] must be the id under which the admin layer registered
/// `E::KIND.avro_schema()`; records with that id decode with no lookup. A record written
/// under another id needs its writer schema: [`AvroCodec::resolve`] fetches it through the
/// [`SchemaLookup`] and caches it (a cache hit makes no lookup), after which the synchronous
/// [`EventCodec::decode`] succeeds; [`AvroCodec::decode_resolving`] does both. The writer
/// schema is then resolved against ours by Avro schema resolution.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::{AvroCodec, EventCodec, MemoryEvent, SchemaId, SchemaIds};
///
/// let codec = AvroCodec::new(SchemaIds::new(SchemaId(4)));
/// let event = MemoryEvent::text("instance-1", "the sky is blue");
/// let bytes = codec.encode(&event)?;
/// assert_eq!(&bytes[..5], &[0, 0, 0, 0, 4]);
/// assert_eq!(EventCodec::<MemoryEvent>::decode(&codec, &bytes)?, event);
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
pub struct AvroCodec {
    ids: SchemaIds,
    max_size: usize,
    lookup: Option<Arc<dyn SchemaLookup>>,
    own: RwLock<HashMap<EventKind, Arc<Schema>>>,
    writers: RwLock<HashMap<SchemaId, Arc<Schema>>>,
}

impl fmt::Debug for AvroCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AvroCodec")
            .field("ids", &self.ids)
            .field("max_size", &self.max_size)
            .field("lookup", &self.lookup)
            .finish_non_exhaustive()
    }
}

impl AvroCodec {
    /// A codec writing and accepting `ids`, without a lookup, with the default size limit.
    #[must_use]
    pub fn new(ids: SchemaIds) -> Self {
        Self {
            ids,
            max_size: DEFAULT_MAX_RECORD_SIZE,
            lookup: None,
            own: RwLock::default(),
            writers: RwLock::default(),
        }
    }

    /// Sets the lookup used to resolve writer schemas of unknown ids.
    #[must_use]
    pub fn with_lookup(mut self, lookup: Arc<dyn SchemaLookup>) -> Self {
        self.lookup = Some(lookup);
        self
    }

    /// Sets the largest record value accepted on decode.
    #[must_use]
    pub const fn with_max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// The schema ids.
    #[must_use]
    pub const fn schema_ids(&self) -> &SchemaIds {
        &self.ids
    }

    /// The format this codec writes: [`Format::Avro`].
    #[must_use]
    pub const fn format(&self) -> Format {
        Format::Avro
    }

    /// Adds a writer schema the caller already holds, so records with `id` decode without a
    /// lookup.
    ///
    /// # Errors
    ///
    /// [`EventsError::AvroSchema`] when `text` is not an Avro schema.
    pub fn add_writer_schema(&self, kind: EventKind, id: SchemaId, text: &str) -> Result<()> {
        let schema = Schema::parse_str(text).map_err(|source| EventsError::AvroSchema {
            kind,
            id: Some(id),
            source,
        })?;
        self.writers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::new(schema));
        Ok(())
    }

    /// Makes sure the writer schema of the framed record `bytes` is known, fetching it through
    /// the lookup on a cache miss. Returns the record's schema id.
    ///
    /// # Errors
    ///
    /// Framing and size errors, [`EventsError::UnknownSchemaId`] when the id is not accepted,
    /// there is no lookup, or the lookup does not know it, [`EventsError::SchemaLookup`] when
    /// the lookup fails, [`EventsError::AvroSchema`] when the text is not an Avro schema.
    pub async fn resolve<E: WireEvent>(&self, bytes: &[u8]) -> Result<SchemaId> {
        check_size(bytes, self.max_size)?;
        let id = Frame::parse(bytes)?.schema_id;
        self.ids.check(id)?;
        if id == self.ids.writer() || self.cached_writer(id).is_some() {
            return Ok(id);
        }
        let Some(lookup) = &self.lookup else {
            return Err(EventsError::UnknownSchemaId { id });
        };
        let text = lookup
            .schema_text(id)
            .await
            .map_err(|source| EventsError::SchemaLookup { id, source })?
            .ok_or(EventsError::UnknownSchemaId { id })?;
        self.add_writer_schema(E::KIND, id, &text)?;
        tracing::debug!(schema_id = %id, kind = %E::KIND, "cached Avro writer schema");
        Ok(id)
    }

    /// [`AvroCodec::resolve`], then [`EventCodec::decode`].
    ///
    /// # Errors
    ///
    /// Those of both.
    pub async fn decode_resolving<E: WireEvent>(&self, bytes: &[u8]) -> Result<E> {
        self.resolve::<E>(bytes).await?;
        EventCodec::<E>::decode(self, bytes)
    }

    fn cached_writer(&self, id: SchemaId) -> Option<Arc<Schema>> {
        self.writers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Our (reader) schema of `kind`, parsed once.
    fn own_schema(&self, kind: EventKind) -> Result<Arc<Schema>> {
        if let Some(schema) = self
            .own
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&kind)
        {
            return Ok(Arc::clone(schema));
        }
        let schema = Arc::new(parse_own_schema(kind)?);
        self.own
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kind, Arc::clone(&schema));
        Ok(schema)
    }
}

/// Parses this crate's Avro schema of `kind`.
pub(crate) fn parse_own_schema(kind: EventKind) -> Result<Schema> {
    Schema::parse_str(kind.avro_schema()).map_err(|source| EventsError::AvroSchema {
        kind,
        id: None,
        source,
    })
}

/// Writes `event` as an Avro datum of `schema`.
pub(crate) fn write_datum<E: WireEvent>(schema: &Schema, event: &E) -> Result<Vec<u8>> {
    let value = event.to_avro()?;
    apache_avro::writer::datum::GenericDatumWriter::builder(schema)
        .build()
        .and_then(|writer| writer.write_value_to_vec(value))
        .map_err(|source| EventsError::AvroEncode {
            kind: E::KIND,
            source,
        })
}

/// Reads one datum written with `writer` (resolved to `reader`) that must fill `payload`.
pub(crate) fn read_datum<E: WireEvent>(
    writer: &Schema,
    reader: Option<&Schema>,
    payload: &[u8],
    id: Option<SchemaId>,
) -> Result<E> {
    let mut input = EofTracking {
        rest: payload,
        hit_eof: false,
    };
    let value = apache_avro::reader::datum::GenericDatumReader::builder(writer)
        .maybe_reader_schema(reader)
        .build()
        .and_then(|datum_reader| datum_reader.read_value(&mut input));
    // Checked before the result: the Avro library turns some short reads into nulls.
    if input.hit_eof {
        return Err(EventsError::AvroTruncated { kind: E::KIND, id });
    }
    let value = value.map_err(|source| EventsError::AvroDecode {
        kind: E::KIND,
        id,
        source,
    })?;
    if !input.rest.is_empty() {
        return Err(EventsError::TrailingBytes {
            kind: E::KIND,
            remaining: input.rest.len(),
        });
    }
    E::from_avro(value)
}

/// A slice reader that records an attempt to read past its end. Avro binary decoding reads
/// exact sizes, so a complete datum never makes one.
struct EofTracking<'a> {
    rest: &'a [u8],
    hit_eof: bool,
}

impl std::io::Read for EofTracking<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !buf.is_empty() && self.rest.is_empty() {
            self.hit_eof = true;
        }
        self.rest.read(buf)
    }
}

impl<E: WireEvent> EventCodec<E> for AvroCodec {
    fn format(&self) -> Format {
        Format::Avro
    }

    fn encode(&self, event: &E) -> Result<Vec<u8>> {
        let schema = self.own_schema(E::KIND)?;
        let datum = write_datum(&schema, event)?;
        let mut out = header(self.ids.writer(), datum.len());
        out.extend_from_slice(&datum);
        Ok(out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<E> {
        check_size(bytes, self.max_size)?;
        let frame = Frame::parse(bytes)?;
        let id = frame.schema_id;
        self.ids.check(id)?;
        let reader = self.own_schema(E::KIND)?;
        if id == self.ids.writer() {
            return read_datum(&reader, None, frame.payload, Some(id));
        }
        let writer = self
            .cached_writer(id)
            .ok_or(EventsError::UnknownSchemaId { id })?;
        read_datum(&writer, Some(&reader), frame.payload, Some(id))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{MemoryEvent, RegistrationEvent};

    /// Version 1 of the memory schema: without `metadata` (so ours adds it with its default).
    const MEMORY_V1: &str = r#"{"type": "record", "name": "MemoryEvent", "namespace": "autogen_kafka.events",
        "fields": [{"name": "sender", "type": "string"}, {"name": "mime_type", "type": "string"},
                   {"name": "content", "type": "string"}]}"#;

    fn v1_record() -> Vec<u8> {
        let v1 = Schema::parse_str(MEMORY_V1).unwrap();
        let value = apache_avro::types::Value::Record(vec![
            ("sender".into(), "s".into()),
            ("mime_type".into(), "text/plain".into()),
            ("content".into(), "hello".into()),
        ]);
        let mut bytes = header(SchemaId(9), 0);
        let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&v1)
            .build()
            .unwrap();
        bytes.extend(writer.write_value_to_vec(value).unwrap());
        bytes
    }

    async fn within<T>(f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), f)
            .await
            .expect("timed out")
    }

    #[tokio::test]
    async fn unknown_writer_is_resolved_once_and_cached() {
        within(async {
            let lookup = Arc::new(InMemorySchemaLookup::new().with(SchemaId(9), MEMORY_V1));
            let codec = AvroCodec::new(SchemaIds::new(SchemaId(1))).with_lookup(lookup.clone());
            let bytes = v1_record();
            assert!(matches!(
                EventCodec::<MemoryEvent>::decode(&codec, &bytes),
                Err(EventsError::UnknownSchemaId { id: SchemaId(9) })
            ));
            let event: MemoryEvent = codec.decode_resolving(&bytes).await.unwrap();
            assert_eq!(event, MemoryEvent::text("s", "hello"));
            let again: MemoryEvent = codec.decode_resolving(&bytes).await.unwrap();
            assert_eq!(again, event);
            assert_eq!(lookup.lookups(), 1);
        })
        .await;
    }

    #[tokio::test]
    async fn lookup_miss_and_failure_are_typed() {
        #[derive(Debug)]
        struct Down;
        impl SchemaLookup for Down {
            fn schema_text(&self, _: SchemaId) -> BoxFuture<'_, Result<Option<String>, BoxError>> {
                Box::pin(async { Err("registry unavailable".into()) })
            }
        }
        within(async {
            let bytes = v1_record();
            let empty = AvroCodec::new(SchemaIds::new(SchemaId(1)))
                .with_lookup(Arc::new(InMemorySchemaLookup::new()));
            assert!(matches!(
                empty.decode_resolving::<MemoryEvent>(&bytes).await,
                Err(EventsError::UnknownSchemaId { id: SchemaId(9) })
            ));
            let down = AvroCodec::new(SchemaIds::new(SchemaId(1))).with_lookup(Arc::new(Down));
            let err = down
                .decode_resolving::<MemoryEvent>(&bytes)
                .await
                .unwrap_err();
            assert!(matches!(
                err,
                EventsError::SchemaLookup {
                    id: SchemaId(9),
                    ..
                }
            ));
            assert!(err.is_retriable());
            let none = AvroCodec::new(SchemaIds::new(SchemaId(1)));
            assert!(none.resolve::<MemoryEvent>(&bytes).await.is_err());
            let bad = AvroCodec::new(SchemaIds::new(SchemaId(1)))
                .with_lookup(Arc::new(InMemorySchemaLookup::new().with(SchemaId(9), "{")));
            assert!(matches!(
                bad.decode_resolving::<MemoryEvent>(&bytes).await,
                Err(EventsError::AvroSchema {
                    id: Some(SchemaId(9)),
                    ..
                })
            ));
        })
        .await;
    }

    #[test]
    fn garbage_datum_and_trailing_bytes_are_typed() {
        let codec = AvroCodec::new(SchemaIds::new(SchemaId(1)));
        let mut bytes = codec.encode(&RegistrationEvent::register("a")).unwrap();
        bytes.push(0);
        assert!(matches!(
            EventCodec::<RegistrationEvent>::decode(&codec, &bytes),
            Err(EventsError::TrailingBytes { remaining: 1, .. })
        ));
        // Enum index 5 does not exist.
        let bad = [0, 0, 0, 0, 1, 10, 2, b'a'];
        assert!(matches!(
            EventCodec::<RegistrationEvent>::decode(&codec, &bad),
            Err(EventsError::AvroDecode { .. })
        ));
        // A string claiming 2 GiB: refused by the library's allocation limit, before reading.
        let huge = [0, 0, 0, 0, 1, 0, 0xfe, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            EventCodec::<RegistrationEvent>::decode(&codec, &huge),
            Err(EventsError::AvroDecode { .. })
        ));
        // A string claiming more bytes than present.
        let long = [0, 0, 0, 0, 1, 0, 0x20, b'a'];
        assert!(matches!(
            EventCodec::<RegistrationEvent>::decode(&codec, &long),
            Err(EventsError::AvroTruncated { .. })
        ));
        // The library alone would read a cut string or union as null.
        let request = crate::RequestEvent::new("a/b", "Ping", Vec::new());
        let bytes = codec.encode(&request).unwrap();
        for cut in 5..bytes.len() {
            assert!(
                matches!(
                    EventCodec::<crate::RequestEvent>::decode(&codec, &bytes[..cut]),
                    Err(EventsError::AvroTruncated { .. })
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn added_writer_schema_is_used_without_lookup() {
        let codec = AvroCodec::new(SchemaIds::new(SchemaId(1)));
        codec
            .add_writer_schema(EventKind::Memory, SchemaId(9), MEMORY_V1)
            .unwrap();
        let event: MemoryEvent = codec.decode(&v1_record()).unwrap();
        assert_eq!(event.metadata, None);
        assert!(format!("{codec:?}").contains("AvroCodec"));
        assert!(
            codec
                .add_writer_schema(EventKind::Memory, SchemaId(10), "nope")
                .is_err()
        );
    }
}

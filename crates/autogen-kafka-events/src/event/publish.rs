//! [`PublishEvent`]: the CloudEvent a publish sends (WIRE §4), built and read with the
//! CloudEvents SDK and written in upstream's exact JSON key order.
//!
//! # What the SDK cannot represent, and how it is handled
//!
//! * `dataschema` is a URL in the SDK, but upstream writes the bare type name (`"Ping"`), which
//!   is not one. The value is kept as an SDK *extension* named `dataschema` (upstream also puts
//!   it among its extensions) and written at the `dataschema` position. An SDK event whose
//!   `dataschema` attribute is set (a real URL) is written with that URL when no extension is
//!   present; reading it back puts the URL text in the extension.
//! * Extension values cannot be null in the SDK, while upstream writes JSON `null` for the
//!   sender extensions when there is no sender. The writer always writes
//!   `agagentsendertype`, `agagentsenderkey` and `agmsgkind`, with `null` for an absent one;
//!   the reader treats a `null` extension as absent.
//! * SDK extension values are strings, booleans or integers; a non-integer number read from
//!   JSON is kept as its text.
//! * The JSON writer (and the Avro mapping) is written by hand; the SDK's own JSON format is
//!   not used, because its key order differs from upstream's.

use std::borrow::Cow;
use std::collections::BTreeMap;

use apache_avro::types::Value as AvroValue;
use chrono::{DateTime, NaiveDateTime, SubsecRound as _, Utc};
use cloudevents::event::{ExtensionValue, SpecVersion};
use cloudevents::{AttributesReader as _, AttributesWriter as _, Data, Event, EventBuilder as _};
use serde::Serialize;
use serde::ser::{SerializeMap as _, Serializer};
use serde_json::Value;

use crate::avro_value::{RecordReader, optional, optional_string, string};
use crate::event::{WireEvent, check_required};
use crate::payload::{decode_base64, encode_base64};
use crate::{EventKind, EventsError, JSON_CONTENT_TYPE, Result};

/// Extension attribute holding the sender agent's type.
pub const SENDER_TYPE_EXTENSION: &str = "agagentsendertype";
/// Extension attribute holding the sender agent's key.
pub const SENDER_KEY_EXTENSION: &str = "agagentsenderkey";
/// Extension attribute holding the [`MessageKind`].
pub const MESSAGE_KIND_EXTENSION: &str = "agmsgkind";
/// Extension holding the payload type name (see the module docs).
pub const DATA_SCHEMA_EXTENSION: &str = "dataschema";
/// Extension holding the W3C `traceparent` (CloudEvents distributed-tracing extension).
pub const TRACEPARENT_EXTENSION: &str = "traceparent";
/// Extension holding the W3C `tracestate` (CloudEvents distributed-tracing extension).
pub const TRACESTATE_EXTENSION: &str = "tracestate";
/// Topic type suffix that marks an RPC request topic.
pub const RPC_REQUEST_SUFFIX: &str = ":rpc_request";

/// Context attribute names, which are never written as extensions.
const CONTEXT_ATTRIBUTES: [&str; 10] = [
    "specversion",
    "type",
    "source",
    "id",
    "time",
    "datacontenttype",
    "dataschema",
    "subject",
    "data",
    "data_base64",
];

/// The `agmsgkind` extension values upstream defines (it only ever sends `publish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// `publish`.
    Publish,
    /// `rpc_request`.
    RpcRequest,
    /// `rpc_response`.
    RpcResponse,
    /// `error`.
    Error,
}

impl MessageKind {
    /// The wire text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::RpcRequest => "rpc_request",
            Self::RpcResponse => "rpc_response",
            Self::Error => "error",
        }
    }

    /// Parses the wire text; `None` for an unknown value.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "publish" => Some(Self::Publish),
            "rpc_request" => Some(Self::RpcRequest),
            "rpc_response" => Some(Self::RpcResponse),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// The CloudEvent a publish sends on the publish topic, keyed by `<topic type>/<topic source>`.
///
/// A thin wrapper over [`cloudevents::Event`] (version 1.0) that knows upstream's attribute
/// conventions: `type` = topic type, `source` = `subject` = topic source, `dataschema` = the
/// payload type name, binary data (written as `data_base64`), and the sender and message kind
/// extensions. Its [`Serialize`] implementation writes upstream's key order.
///
/// # Examples
///
/// ```
/// use autogen_kafka_events::PublishEvent;
///
/// let event = PublishEvent::builder("news", "default")
///     .id("msg-1")
///     .payload("Ping", br#"{"content": "hello"}"#.to_vec())
///     .sender("caller", "default")
///     .build()?;
/// assert_eq!(event.record_key(), "news/default");
/// assert_eq!(event.sender(), Some(("caller", "default")));
/// assert_eq!(event.payload_type(), Some("Ping"));
///
/// let json = serde_json::to_string(&event).map_err(|source| {
///     autogen_kafka_events::EventsError::JsonEncode { kind: autogen_kafka_events::EventKind::Publish, source }
/// })?;
/// assert!(json.starts_with(r#"{"specversion":"1.0","type":"news","source":"default","id":"msg-1","time":"#));
/// # Ok::<(), autogen_kafka_events::EventsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PublishEvent {
    event: Event,
}

/// Builder of a [`PublishEvent`], filled the way upstream's `publish_message` does.
#[derive(Debug, Clone)]
#[must_use]
pub struct PublishEventBuilder {
    topic_type: String,
    topic_source: String,
    id: Option<String>,
    time: Option<DateTime<Utc>>,
    payload: Option<(String, Vec<u8>)>,
    content_type: String,
    sender: Option<(String, String)>,
    kind: MessageKind,
    trace: Option<(String, Option<String>)>,
}

impl PublishEventBuilder {
    /// Sets the event id (the message id); a UUID v4 by default.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the event time; now by default. Truncated to microseconds, like Python's.
    pub fn time(mut self, time: DateTime<Utc>) -> Self {
        self.time = Some(time);
        self
    }

    /// Sets the payload and its type name (`dataschema`).
    pub fn payload(mut self, payload_type: impl Into<String>, payload: Vec<u8>) -> Self {
        self.payload = Some((payload_type.into(), payload));
        self
    }

    /// Sets the sender agent (type and key); without it both sender extensions are null.
    pub fn sender(mut self, agent_type: impl Into<String>, agent_key: impl Into<String>) -> Self {
        self.sender = Some((agent_type.into(), agent_key.into()));
        self
    }

    /// Sets the `datacontenttype`; `application/json` by default.
    pub fn data_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// Sets the `agmsgkind` extension; `publish` by default.
    pub fn message_kind(mut self, kind: MessageKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the W3C trace context as the CloudEvents distributed-tracing extensions `traceparent` and
    /// `tracestate` (the schema allows string extensions; upstream ignores them).
    pub fn trace_context(
        mut self,
        traceparent: impl Into<String>,
        tracestate: Option<impl Into<String>>,
    ) -> Self {
        self.trace = Some((traceparent.into(), tracestate.map(Into::into)));
        self
    }

    /// Builds the event.
    ///
    /// # Errors
    ///
    /// [`EventsError::InvalidField`] for an empty topic type or id, [`EventsError::CloudEvent`]
    /// when the SDK refuses the attributes (an empty source).
    pub fn build(self) -> Result<PublishEvent> {
        let id = self.id.unwrap_or_else(crate::new_id);
        let time = self.time.unwrap_or_else(Utc::now).trunc_subsecs(6);
        let mut extensions = vec![(
            MESSAGE_KIND_EXTENSION.to_owned(),
            ExtensionValue::from(self.kind.as_str()),
        )];
        if let Some((agent_type, agent_key)) = self.sender {
            extensions.push((SENDER_TYPE_EXTENSION.to_owned(), agent_type.into()));
            extensions.push((SENDER_KEY_EXTENSION.to_owned(), agent_key.into()));
        }
        let (data, payload_type) = match self.payload {
            Some((payload_type, payload)) => (Some(Data::Binary(payload)), Some(payload_type)),
            None => (None, None),
        };
        if let Some(payload_type) = payload_type {
            extensions.push((DATA_SCHEMA_EXTENSION.to_owned(), payload_type.into()));
        }
        if let Some((traceparent, tracestate)) = self.trace {
            extensions.push((TRACEPARENT_EXTENSION.to_owned(), traceparent.into()));
            if let Some(tracestate) = tracestate {
                extensions.push((TRACESTATE_EXTENSION.to_owned(), tracestate.into()));
            }
        }
        Parts {
            id,
            ty: self.topic_type,
            subject: Some(self.topic_source.clone()),
            source: self.topic_source,
            time: Some(time),
            datacontenttype: Some(self.content_type),
            data,
            extensions,
        }
        .into_event()
    }
}

/// The attributes of an event, gathered before handing them to the SDK builder.
struct Parts {
    id: String,
    ty: String,
    source: String,
    time: Option<DateTime<Utc>>,
    datacontenttype: Option<String>,
    subject: Option<String>,
    data: Option<Data>,
    extensions: Vec<(String, ExtensionValue)>,
}

impl Parts {
    fn into_event(self) -> Result<PublishEvent> {
        if self.ty.is_empty() {
            return Err(EventsError::invalid_field(
                EventKind::Publish,
                "type",
                "empty",
            ));
        }
        if self.id.is_empty() {
            return Err(EventsError::invalid_field(
                EventKind::Publish,
                "id",
                "empty",
            ));
        }
        let mut builder = cloudevents::EventBuilderV10::new()
            .id(self.id)
            .ty(self.ty)
            .source(self.source);
        if let Some(subject) = self.subject {
            builder = builder.subject(subject);
        }
        if let Some(time) = self.time {
            builder = builder.time(time);
        }
        for (name, value) in self.extensions {
            builder = builder.extension(&name, value);
        }
        let mut event = builder
            .build()
            .map_err(|source| EventsError::CloudEvent { source })?;
        event.set_datacontenttype(self.datacontenttype);
        if let Some(data) = self.data {
            event.set_data_unchecked(data);
        }
        Ok(PublishEvent { event })
    }
}

impl PublishEvent {
    /// A builder for a publish to topic `topic_type`/`topic_source`.
    pub fn builder(
        topic_type: impl Into<String>,
        topic_source: impl Into<String>,
    ) -> PublishEventBuilder {
        PublishEventBuilder {
            topic_type: topic_type.into(),
            topic_source: topic_source.into(),
            id: None,
            time: None,
            payload: None,
            content_type: JSON_CONTENT_TYPE.to_owned(),
            sender: None,
            kind: MessageKind::Publish,
            trace: None,
        }
    }

    /// Wraps an SDK event, converting a CloudEvents 0.3 event to 1.0.
    ///
    /// # Errors
    ///
    /// [`EventsError::InvalidField`] for an empty `type` or `id`, [`EventsError::CloudEvent`]
    /// if the SDK cannot convert the event.
    pub fn from_cloudevent(event: Event) -> Result<Self> {
        let event = if event.specversion() == SpecVersion::V10 {
            event
        } else {
            cloudevents::EventBuilderV10::from(event)
                .build()
                .map_err(|source| EventsError::CloudEvent { source })?
        };
        if event.ty().is_empty() {
            return Err(EventsError::invalid_field(
                EventKind::Publish,
                "type",
                "empty",
            ));
        }
        if event.id().is_empty() {
            return Err(EventsError::invalid_field(
                EventKind::Publish,
                "id",
                "empty",
            ));
        }
        Ok(Self { event })
    }

    /// The SDK event.
    #[must_use]
    pub const fn as_cloudevent(&self) -> &Event {
        &self.event
    }

    /// Unwraps the SDK event.
    #[must_use]
    pub fn into_cloudevent(self) -> Event {
        self.event
    }

    /// The topic type (CloudEvent `type`).
    #[must_use]
    pub fn topic_type(&self) -> &str {
        self.event.ty()
    }

    /// The topic source (CloudEvent `source`).
    #[must_use]
    pub fn topic_source(&self) -> &str {
        self.event.source()
    }

    /// The message id (CloudEvent `id`).
    #[must_use]
    pub fn id(&self) -> &str {
        self.event.id()
    }

    /// The event time.
    #[must_use]
    pub fn time(&self) -> Option<&DateTime<Utc>> {
        self.event.time()
    }

    /// The `datacontenttype`; upstream's receiver accepts only `application/json`.
    #[must_use]
    pub fn data_content_type(&self) -> Option<&str> {
        self.event.datacontenttype()
    }

    /// The payload type name (`dataschema`).
    #[must_use]
    pub fn payload_type(&self) -> Option<&str> {
        match self.event.extension(DATA_SCHEMA_EXTENSION) {
            Some(ExtensionValue::String(name)) => Some(name),
            _ => self.event.dataschema().map(|url| url.as_str()),
        }
    }

    /// The payload bytes (binary data as-is, text as UTF-8, JSON data as its compact text).
    #[must_use]
    pub fn payload(&self) -> Option<Cow<'_, [u8]>> {
        data_bytes(self.event.data())
    }

    /// The sender agent (type, key), when both sender extensions are strings.
    #[must_use]
    pub fn sender(&self) -> Option<(&str, &str)> {
        match (
            self.event.extension(SENDER_TYPE_EXTENSION),
            self.event.extension(SENDER_KEY_EXTENSION),
        ) {
            (Some(ExtensionValue::String(ty)), Some(ExtensionValue::String(key))) => {
                Some((ty, key))
            }
            _ => None,
        }
    }

    /// The `traceparent` and `tracestate` extensions (CloudEvents distributed tracing), when `traceparent` is a
    /// string; they are not validated here.
    #[must_use]
    pub fn trace_context(&self) -> Option<(&str, Option<&str>)> {
        let Some(ExtensionValue::String(traceparent)) = self.event.extension(TRACEPARENT_EXTENSION)
        else {
            return None;
        };
        let tracestate = match self.event.extension(TRACESTATE_EXTENSION) {
            Some(ExtensionValue::String(state)) => Some(state.as_str()),
            _ => None,
        };
        Some((traceparent, tracestate))
    }

    /// The `agmsgkind` extension, when it holds a known value.
    #[must_use]
    pub fn message_kind(&self) -> Option<MessageKind> {
        match self.event.extension(MESSAGE_KIND_EXTENSION) {
            Some(ExtensionValue::String(kind)) => MessageKind::parse(kind),
            _ => None,
        }
    }

    /// Whether this is an RPC request (the topic type ends in `:rpc_request`).
    #[must_use]
    pub fn is_rpc(&self) -> bool {
        self.topic_type().ends_with(RPC_REQUEST_SUFFIX)
    }

    /// The record key (WIRE §2): `<topic type>/<topic source>`.
    #[must_use]
    pub fn record_key(&self) -> String {
        crate::keys::topic_id_text(self.topic_type(), self.topic_source())
    }

    /// Extensions other than the three `ag*` ones and the `dataschema` carrier, by name.
    fn other_extensions(&self) -> BTreeMap<&str, &ExtensionValue> {
        self.event
            .iter_extensions()
            .filter(|(name, _)| {
                !matches!(
                    *name,
                    SENDER_TYPE_EXTENSION | SENDER_KEY_EXTENSION | MESSAGE_KIND_EXTENSION
                ) && !CONTEXT_ATTRIBUTES.contains(name)
            })
            .collect()
    }

    fn string_extension(&self, name: &str) -> Option<String> {
        self.event.extension(name).map(ToString::to_string)
    }
}

impl TryFrom<Event> for PublishEvent {
    type Error = EventsError;

    fn try_from(event: Event) -> Result<Self> {
        Self::from_cloudevent(event)
    }
}

impl From<PublishEvent> for Event {
    fn from(event: PublishEvent) -> Self {
        event.event
    }
}

/// Writes a time as Python's `datetime.isoformat()` does for a UTC time:
/// `2025-01-02T03:04:05.123456+00:00`, without the fraction when the microseconds are 0.
#[must_use]
pub fn python_isoformat(time: &DateTime<Utc>) -> String {
    let micros = time.timestamp_subsec_micros().min(999_999);
    let seconds = time.format("%Y-%m-%dT%H:%M:%S");
    if micros == 0 {
        format!("{seconds}+00:00")
    } else {
        format!("{seconds}.{micros:06}+00:00")
    }
}

/// Parses an RFC 3339 time (any offset, converted to UTC); a time without offset is taken as
/// UTC, as a naive Python `isoformat()` would mean it.
///
/// # Errors
///
/// [`EventsError::InvalidTime`] when the text is neither.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    let time = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|rfc_error| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|naive| naive.and_utc())
                .map_err(|_| EventsError::InvalidTime {
                    value: text.to_owned(),
                    source: rfc_error,
                })
        })?;
    // Python's datetime holds years 1..=9999 and no leap second; anything else could not be written back.
    let in_range = (1..=9999).contains(&chrono::Datelike::year(&time))
        && chrono::Timelike::nanosecond(&time) < 1_000_000_000;
    if !in_range {
        return Err(EventsError::TimeOutOfRange {
            value: text.to_owned(),
        });
    }
    Ok(time)
}

fn data_bytes(data: Option<&Data>) -> Option<Cow<'_, [u8]>> {
    match data? {
        Data::Binary(bytes) => Some(Cow::Borrowed(bytes)),
        Data::String(text) => Some(Cow::Borrowed(text.as_bytes())),
        Data::Json(value) => Some(Cow::Owned(value.to_string().into_bytes())),
    }
}

fn extension_json(value: &ExtensionValue) -> Value {
    match value {
        ExtensionValue::String(s) => Value::String(s.clone()),
        ExtensionValue::Boolean(b) => Value::Bool(*b),
        ExtensionValue::Integer(i) => Value::from(*i),
    }
}

impl Serialize for PublishEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let event = &self.event;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("specversion", event.specversion().as_str())?;
        map.serialize_entry("type", event.ty())?;
        map.serialize_entry("source", event.source())?;
        map.serialize_entry("id", event.id())?;
        if let Some(time) = event.time() {
            map.serialize_entry("time", &python_isoformat(time))?;
        }
        if let Some(content_type) = event.datacontenttype() {
            map.serialize_entry("datacontenttype", content_type)?;
        }
        if let Some(schema) = self.payload_type() {
            map.serialize_entry("dataschema", schema)?;
        }
        if let Some(subject) = event.subject() {
            map.serialize_entry("subject", subject)?;
        }
        match event.data() {
            Some(Data::Binary(bytes)) => {
                map.serialize_entry("data_base64", &encode_base64(bytes))?;
            }
            Some(Data::String(text)) => map.serialize_entry("data", text)?,
            Some(Data::Json(value)) => map.serialize_entry("data", value)?,
            None => {}
        }
        for name in [
            SENDER_TYPE_EXTENSION,
            SENDER_KEY_EXTENSION,
            MESSAGE_KIND_EXTENSION,
        ] {
            map.serialize_entry(name, &event.extension(name).map(extension_json))?;
        }
        for (name, value) in self.other_extensions() {
            map.serialize_entry(name, &extension_json(value))?;
        }
        map.end()
    }
}

fn required_string(map: &serde_json::Map<String, Value>, field: &'static str) -> Result<String> {
    match map.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
        Some(Value::String(_)) => Err(EventsError::invalid_field(
            EventKind::Publish,
            field,
            "empty",
        )),
        None | Some(Value::Null) => Err(EventsError::MissingField {
            kind: EventKind::Publish,
            field,
        }),
        Some(_) => Err(EventsError::invalid_field(
            EventKind::Publish,
            field,
            "not a string",
        )),
    }
}

fn optional_json_string(
    map: &serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(EventsError::invalid_field(
            EventKind::Publish,
            field,
            "not a string",
        )),
    }
}

/// Maps a JSON extension value; `None` for null (absent).
fn extension_from_json(name: &str, value: &Value) -> Result<Option<ExtensionValue>> {
    Ok(match value {
        Value::Null => None,
        Value::String(s) => Some(ExtensionValue::String(s.clone())),
        Value::Bool(b) => Some(ExtensionValue::Boolean(*b)),
        Value::Number(n) => Some(n.as_i64().map_or_else(
            || ExtensionValue::String(n.to_string()),
            ExtensionValue::Integer,
        )),
        Value::Array(_) | Value::Object(_) => {
            return Err(EventsError::invalid_field(
                EventKind::Publish,
                "(extension)",
                format!("extension {name:?} must be a string, number, boolean or null"),
            ));
        }
    })
}

impl WireEvent for PublishEvent {
    const KIND: EventKind = EventKind::Publish;

    fn from_json_value(document: Value) -> Result<Self> {
        let Value::Object(map) = document else {
            return Err(EventsError::invalid_field(
                Self::KIND,
                "(document)",
                "not a JSON object",
            ));
        };
        check_required(Self::KIND, &map)?;
        let specversion = required_string(&map, "specversion")?;
        if specversion != "1.0" {
            return Err(EventsError::invalid_field(
                Self::KIND,
                "specversion",
                format!("unsupported version {specversion:?}"),
            ));
        }
        let time = optional_json_string(&map, "time")?
            .map(|t| parse_time(&t))
            .transpose()?;
        let data = match (map.get("data"), map.get("data_base64")) {
            (Some(d), Some(b)) if !d.is_null() && !b.is_null() => {
                return Err(EventsError::invalid_field(
                    Self::KIND,
                    "data",
                    "data and data_base64 are both present",
                ));
            }
            (_, Some(Value::String(text))) => {
                Some(Data::Binary(decode_base64("data_base64", text)?))
            }
            (_, Some(b)) if !b.is_null() => {
                return Err(EventsError::invalid_field(
                    Self::KIND,
                    "data_base64",
                    "not a string",
                ));
            }
            (Some(d), _) if !d.is_null() => Some(Data::Json(d.clone())),
            _ => None,
        };
        let mut extensions = Vec::new();
        if let Some(schema) = optional_json_string(&map, "dataschema")? {
            extensions.push((
                DATA_SCHEMA_EXTENSION.to_owned(),
                ExtensionValue::String(schema),
            ));
        }
        for (name, value) in &map {
            if CONTEXT_ATTRIBUTES.contains(&name.as_str()) {
                continue;
            }
            if let Some(value) = extension_from_json(name, value)? {
                extensions.push((name.clone(), value));
            }
        }
        Parts {
            id: required_string(&map, "id")?,
            ty: required_string(&map, "type")?,
            source: required_string(&map, "source")?,
            time,
            datacontenttype: optional_json_string(&map, "datacontenttype")?,
            subject: optional_json_string(&map, "subject")?,
            data,
            extensions,
        }
        .into_event()
    }

    fn to_avro(&self) -> Result<AvroValue> {
        let event = &self.event;
        let others: serde_json::Map<String, Value> = self
            .other_extensions()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), extension_json(value)))
            .collect();
        let others = serde_json::to_string(&others).map_err(|source| EventsError::JsonEncode {
            kind: Self::KIND,
            source,
        })?;
        Ok(AvroValue::Record(vec![
            ("specversion".into(), string(event.specversion().as_str())),
            ("type".into(), string(event.ty())),
            ("source".into(), string(event.source())),
            ("id".into(), string(event.id())),
            (
                "time".into(),
                optional(
                    event
                        .time()
                        .map(|t| AvroValue::TimestampMicros(t.timestamp_micros())),
                ),
            ),
            (
                "datacontenttype".into(),
                optional_string(event.datacontenttype()),
            ),
            ("dataschema".into(), optional_string(self.payload_type())),
            ("subject".into(), optional_string(event.subject())),
            (
                "data".into(),
                optional(self.payload().map(|p| AvroValue::Bytes(p.into_owned()))),
            ),
            (
                SENDER_TYPE_EXTENSION.into(),
                optional_string(self.string_extension(SENDER_TYPE_EXTENSION).as_deref()),
            ),
            (
                SENDER_KEY_EXTENSION.into(),
                optional_string(self.string_extension(SENDER_KEY_EXTENSION).as_deref()),
            ),
            (
                MESSAGE_KIND_EXTENSION.into(),
                optional_string(self.string_extension(MESSAGE_KIND_EXTENSION).as_deref()),
            ),
            ("extensions".into(), string(&others)),
        ]))
    }

    fn from_avro(value: AvroValue) -> Result<Self> {
        let mut r = RecordReader::new(Self::KIND, value)?;
        let specversion = r
            .optional_string("specversion")?
            .unwrap_or_else(|| "1.0".to_owned());
        if specversion != "1.0" {
            return Err(EventsError::invalid_field(
                Self::KIND,
                "specversion",
                format!("unsupported version {specversion:?}"),
            ));
        }
        let time = match r.take("time") {
            None => None,
            Some(AvroValue::TimestampMicros(micros) | AvroValue::Long(micros)) => {
                Some(DateTime::from_timestamp_micros(micros).ok_or_else(|| {
                    EventsError::invalid_field(Self::KIND, "time", "out of range")
                })?)
            }
            Some(other) => return Err(r.wrong("time", "timestamp-micros", &other)),
        };
        let mut extensions = Vec::new();
        if let Some(schema) = r.optional_string("dataschema")? {
            extensions.push((
                DATA_SCHEMA_EXTENSION.to_owned(),
                ExtensionValue::String(schema),
            ));
        }
        for name in [
            SENDER_TYPE_EXTENSION,
            SENDER_KEY_EXTENSION,
            MESSAGE_KIND_EXTENSION,
        ] {
            if let Some(value) = r.optional_string(name)? {
                extensions.push((name.to_owned(), ExtensionValue::String(value)));
            }
        }
        match r.json_text("extensions", "{}")? {
            Value::Object(others) => {
                for (name, value) in &others {
                    if CONTEXT_ATTRIBUTES.contains(&name.as_str()) {
                        continue;
                    }
                    if let Some(value) = extension_from_json(name, value)? {
                        extensions.push((name.clone(), value));
                    }
                }
            }
            _ => {
                return Err(EventsError::invalid_field(
                    Self::KIND,
                    "extensions",
                    "not a JSON object",
                ));
            }
        }
        Parts {
            id: r.string("id")?,
            ty: r.string("type")?,
            source: r.string("source")?,
            time,
            datacontenttype: r.optional_string("datacontenttype")?,
            subject: r.optional_string("subject")?,
            data: r.optional_bytes("data")?.map(Data::Binary),
            extensions,
        }
        .into_event()
    }
}

#[cfg(test)]
mod time_range_tests {
    use super::{parse_time, python_isoformat};
    use crate::EventsError;

    #[test]
    fn times_python_cannot_hold_are_refused_and_the_rest_round_trip() {
        for bad in [
            "+10000-01-01T00:00:00",
            "-0001-01-01T00:00:00",
            "0000-01-01T00:00:00",
            "2025-06-30T23:59:60.5+00:00",
        ] {
            assert!(
                matches!(
                    parse_time(bad),
                    Err(EventsError::TimeOutOfRange { .. } | EventsError::InvalidTime { .. })
                ),
                "{bad}"
            );
        }
        for good in [
            "2025-01-02T03:04:05.123456+00:00",
            "0001-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59.999999+00:00",
        ] {
            let time = parse_time(good).unwrap();
            assert_eq!(
                parse_time(&python_isoformat(&time)).unwrap(),
                time,
                "{good}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PublishEvent {
        PublishEvent::builder("news", "default")
            .id("m-1")
            .time(parse_time("2025-01-02T03:04:05.123456+00:00").unwrap())
            .payload("Ping", b"{}".to_vec())
            .build()
            .unwrap()
    }

    #[test]
    fn time_is_written_like_python() {
        let t = parse_time("2025-01-02T03:04:05.123456+00:00").unwrap();
        assert_eq!(python_isoformat(&t), "2025-01-02T03:04:05.123456+00:00");
        let t = parse_time("2025-01-02T03:04:05Z").unwrap();
        assert_eq!(python_isoformat(&t), "2025-01-02T03:04:05+00:00");
        let t = parse_time("2025-01-02T05:04:05.5+02:00").unwrap();
        assert_eq!(python_isoformat(&t), "2025-01-02T03:04:05.500000+00:00");
        let naive = parse_time("2025-01-02T03:04:05.000001").unwrap();
        assert_eq!(python_isoformat(&naive), "2025-01-02T03:04:05.000001+00:00");
        assert!(matches!(
            parse_time("yesterday"),
            Err(EventsError::InvalidTime { .. })
        ));
    }

    #[test]
    fn builder_truncates_to_microseconds() {
        let t = parse_time("2025-01-02T03:04:05.123456789Z").unwrap();
        let event = PublishEvent::builder("a", "b").time(t).build().unwrap();
        assert_eq!(event.time().unwrap().timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn no_sender_writes_null_extensions() {
        let doc = serde_json::to_value(sample()).unwrap();
        assert_eq!(doc[SENDER_TYPE_EXTENSION], Value::Null);
        assert_eq!(doc[SENDER_KEY_EXTENSION], Value::Null);
        assert_eq!(doc[MESSAGE_KIND_EXTENSION], "publish");
        let back = PublishEvent::from_json_value(doc).unwrap();
        assert_eq!(back, sample());
        assert_eq!(back.sender(), None);
    }

    #[test]
    fn reader_rejects_bad_documents() {
        let base = serde_json::to_value(sample()).unwrap();
        let mut both = base.clone();
        both["data"] = serde_json::json!({"x": 1});
        assert!(matches!(
            PublishEvent::from_json_value(both),
            Err(EventsError::InvalidField { field: "data", .. })
        ));
        let mut old = base.clone();
        old["specversion"] = "0.3".into();
        assert!(PublishEvent::from_json_value(old).is_err());
        let mut no_id = base.clone();
        no_id.as_object_mut().unwrap().remove("id");
        assert!(matches!(
            PublishEvent::from_json_value(no_id),
            Err(EventsError::MissingField { field: "id", .. })
        ));
        let mut nested = base;
        nested["ext"] = serde_json::json!([1]);
        assert!(PublishEvent::from_json_value(nested).is_err());
    }

    #[test]
    fn the_trace_context_travels_as_the_cloudevents_tracing_extensions() {
        const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let event = PublishEvent::builder("news", "default")
            .payload("Ping", b"{}".to_vec())
            .trace_context(PARENT, Some("a=1"))
            .build()
            .unwrap();
        assert_eq!(event.trace_context(), Some((PARENT, Some("a=1"))));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json[TRACEPARENT_EXTENSION], PARENT);
        assert_eq!(json[TRACESTATE_EXTENSION], "a=1");
        let plain = PublishEvent::builder("news", "default")
            .trace_context(PARENT, None::<String>)
            .build()
            .unwrap();
        assert_eq!(plain.trace_context(), Some((PARENT, None)));
        let none = PublishEvent::builder("news", "default").build().unwrap();
        assert_eq!(none.trace_context(), None);
    }

    #[test]
    fn json_data_and_other_extensions_are_kept() {
        let mut doc = serde_json::to_value(sample()).unwrap();
        let map = doc.as_object_mut().unwrap();
        map.remove("data_base64");
        map.insert("data".into(), serde_json::json!({"content": "x"}));
        map.insert("zz".into(), serde_json::json!(1.5));
        map.insert("aa".into(), serde_json::json!(true));
        let event = PublishEvent::from_json_value(doc).unwrap();
        assert_eq!(event.payload().unwrap().as_ref(), br#"{"content":"x"}"#);
        let text = serde_json::to_string(&event).unwrap();
        assert!(
            text.ends_with(r#""agmsgkind":"publish","aa":true,"zz":"1.5"}"#),
            "{text}"
        );
    }

    #[test]
    fn sdk_events_convert_both_ways() {
        let event: Event = sample().into();
        assert_eq!(PublishEvent::try_from(event).unwrap(), sample());
        let v03 = cloudevents::EventBuilderV03::new()
            .id("1")
            .ty("t")
            .source("s")
            .build()
            .unwrap();
        let converted = PublishEvent::from_cloudevent(v03).unwrap();
        assert_eq!(converted.as_cloudevent().specversion(), SpecVersion::V10);
        assert!(!converted.is_rpc());
    }

    #[test]
    fn empty_type_or_source_is_rejected() {
        assert!(PublishEvent::builder("", "s").build().is_err());
        assert!(matches!(
            PublishEvent::builder("t", "").build(),
            Err(EventsError::CloudEvent { .. })
        ));
        let rpc = PublishEvent::builder("x:rpc_request", "s").build().unwrap();
        assert!(rpc.is_rpc());
        assert_eq!(rpc.message_kind(), Some(MessageKind::Publish));
    }
}

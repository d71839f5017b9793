//! W3C trace context (`traceparent`/`tracestate`) carried in event metadata.
//!
//! The Python runtime does not use Kafka headers for tracing: it writes the W3C trace
//! context as two string entries, `traceparent` and `tracestate`, of the event's JSON
//! `metadata` object (WIRE.md §1 and §4). These helpers read and write exactly those
//! entries, in any [`TraceCarrier`].
//!
//! Values come from, and go to, the current `tracing` span's OpenTelemetry context through
//! OpenTelemetry's `TraceContextPropagator`. Spans have such a context when the subscriber
//! has the OpenTelemetry layer, which [`init_tracing`](crate::init_tracing) installs (with
//! or without the `otlp` export feature).

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// The metadata key of the W3C `traceparent` value.
pub const TRACEPARENT: &str = "traceparent";

/// The metadata key of the W3C `tracestate` value.
pub const TRACESTATE: &str = "tracestate";

/// A string map that can carry trace-context entries (keys are matched exactly, in lower
/// case, as the Python runtime writes them).
///
/// Implemented for the `Vec<(String, String)>` pair list, `BTreeMap` and `HashMap` of
/// strings, and the `serde_json` object that holds an event's `metadata` (where only
/// string values are read).
pub trait TraceCarrier {
    /// The value stored under `key`, if it is a string.
    fn get(&self, key: &str) -> Option<&str>;

    /// Stores `value` under `key`, replacing any previous value.
    fn set(&mut self, key: &str, value: String);

    /// Removes any value stored under `key`.
    fn remove(&mut self, key: &str);
}

impl TraceCarrier for Vec<(String, String)> {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn set(&mut self, key: &str, value: String) {
        self.retain(|(k, _)| k != key);
        self.push((key.to_owned(), value));
    }

    fn remove(&mut self, key: &str) {
        self.retain(|(k, _)| k != key);
    }
}

impl TraceCarrier for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        Self::get(self, key).map(String::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }

    fn remove(&mut self, key: &str) {
        Self::remove(self, key);
    }
}

impl<S: BuildHasher> TraceCarrier for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        Self::get(self, key).map(String::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }

    fn remove(&mut self, key: &str) {
        Self::remove(self, key);
    }
}

impl TraceCarrier for serde_json::Map<String, serde_json::Value> {
    fn get(&self, key: &str) -> Option<&str> {
        Self::get(self, key).and_then(serde_json::Value::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), serde_json::Value::String(value));
    }

    fn remove(&mut self, key: &str) {
        Self::remove(self, key);
    }
}

/// A validated W3C trace context: a `traceparent` and an optional `tracestate`.
///
/// # Examples
///
/// ```
/// use autogen_kafka_monitoring::{TraceContext, extract_trace_context};
///
/// let metadata = vec![(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// )];
/// let context = extract_trace_context(&metadata).expect("a valid traceparent");
/// assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(context.parent_id(), "00f067aa0ba902b7");
/// assert!(context.is_sampled());
///
/// // Forward it unchanged, e.g. onto a response's metadata.
/// let mut response_metadata = serde_json::Map::new();
/// context.inject_into(&mut response_metadata);
/// assert_eq!(response_metadata["traceparent"], metadata[0].1);
///
/// assert!(TraceContext::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceContext {
    traceparent: String,
    tracestate: Option<String>,
}

impl TraceContext {
    /// Validates a `traceparent` (and takes the optional `tracestate` along); `None` when
    /// the `traceparent` is malformed or names the all-zero trace or parent id.
    ///
    /// OpenTelemetry's propagator decides, and the result is its normalised form (version
    /// `00`, only the `sampled` flag kept, an invalid `tracestate` dropped).
    #[must_use]
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        backend::parse(traceparent, tracestate)
    }

    /// The `traceparent` value: `version-traceid-parentid-flags`.
    #[must_use]
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The `tracestate` value, if any (never empty).
    #[must_use]
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id: 32 lower-case hex digits.
    #[must_use]
    pub fn trace_id(&self) -> &str {
        self.field(1)
    }

    /// The id of the span that sent this context: 16 lower-case hex digits.
    #[must_use]
    pub fn parent_id(&self) -> &str {
        self.field(2)
    }

    /// Whether the sender sampled (recorded) this trace.
    #[must_use]
    pub fn is_sampled(&self) -> bool {
        u8::from_str_radix(self.field(3), 16).is_ok_and(|flags| flags & 1 == 1)
    }

    /// Writes `traceparent` and `tracestate` into `carrier`; a stale `tracestate` is
    /// removed when this context has none.
    pub fn inject_into<C: TraceCarrier + ?Sized>(&self, carrier: &mut C) {
        carrier.set(TRACEPARENT, self.traceparent.clone());
        match &self.tracestate {
            Some(state) => carrier.set(TRACESTATE, state.clone()),
            None => carrier.remove(TRACESTATE),
        }
    }

    /// Makes this (remote) context the OpenTelemetry parent of `span`, so the span joins
    /// the caller's trace; returns whether it did.
    ///
    /// Call it after creating the span and before it is first entered (for example before
    /// `.instrument(span)`). Returns `false` when the OpenTelemetry layer is not installed,
    /// or when the span is disabled or already started.
    pub fn set_parent_of(&self, span: &tracing::Span) -> bool {
        backend::set_parent(self, span)
    }

    /// The `index`-th dash-separated field of the traceparent (validated at construction).
    fn field(&self, index: usize) -> &str {
        self.traceparent.split('-').nth(index).unwrap_or_default()
    }

    /// Builds a context from already-validated parts, dropping an empty tracestate.
    fn from_parts(traceparent: String, tracestate: Option<&str>) -> Self {
        let tracestate = tracestate
            .map(str::trim)
            .filter(|state| !state.is_empty())
            .map(str::to_owned);
        Self {
            traceparent,
            tracestate,
        }
    }
}

/// The current `tracing` span's trace context, if it has a valid one.
///
/// `None` when the OpenTelemetry layer is not installed or the span is disabled.
#[must_use]
pub fn current_trace_context() -> Option<TraceContext> {
    backend::current()
}

/// Writes the current span's `traceparent`/`tracestate` into `carrier` (an outgoing
/// event's metadata) and returns whether it wrote anything.
///
/// Does nothing, and returns `false`, when there is no valid current context; `carrier` is
/// then left as it was, so a context copied into it by hand with
/// [`TraceContext::inject_into`] survives.
///
/// # Examples
///
/// ```
/// let mut metadata: Vec<(String, String)> = Vec::new();
/// let wrote = autogen_kafka_monitoring::inject_trace_context(&mut metadata);
/// // Without a span that has an OpenTelemetry context, nothing is written.
/// assert_eq!(wrote, !metadata.is_empty());
/// ```
pub fn inject_trace_context<C: TraceCarrier + ?Sized>(carrier: &mut C) -> bool {
    current_trace_context().is_some_and(|context| {
        context.inject_into(carrier);
        true
    })
}

/// Reads the trace context that an incoming event's metadata carries; `None` when it
/// has no `traceparent` or an invalid one (see [`TraceContext::parse`]).
///
/// To continue the sender's trace, pass the result to [`TraceContext::set_parent_of`]
/// with the span that handles the event.
pub fn extract_trace_context<C: TraceCarrier + ?Sized>(carrier: &C) -> Option<TraceContext> {
    TraceContext::parse(carrier.get(TRACEPARENT)?, carrier.get(TRACESTATE))
}

/// The implementation on OpenTelemetry's propagator.
mod backend {
    use std::collections::HashMap;

    use opentelemetry::Context;
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::{TRACEPARENT, TRACESTATE, TraceContext};

    /// The propagator's view of a context, written with its own encoder.
    fn encode(context: &Context) -> Option<TraceContext> {
        if !context.span().span_context().is_valid() {
            return None;
        }
        let mut fields = HashMap::new();
        TraceContextPropagator::new().inject_context(context, &mut fields);
        let traceparent = fields.remove(TRACEPARENT)?;
        Some(TraceContext::from_parts(
            traceparent,
            fields.get(TRACESTATE).map(String::as_str),
        ))
    }

    fn decode(traceparent: &str, tracestate: Option<&str>) -> Context {
        let mut fields = HashMap::new();
        fields.insert(TRACEPARENT.to_owned(), traceparent.to_owned());
        if let Some(state) = tracestate {
            fields.insert(TRACESTATE.to_owned(), state.to_owned());
        }
        TraceContextPropagator::new().extract(&fields)
    }

    pub(super) fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<TraceContext> {
        encode(&decode(traceparent, tracestate))
    }

    pub(super) fn current() -> Option<TraceContext> {
        encode(&tracing::Span::current().context())
    }

    pub(super) fn set_parent(context: &TraceContext, span: &tracing::Span) -> bool {
        let parent = decode(&context.traceparent, context.tracestate.as_deref());
        match span.set_parent(parent) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, "could not attach the remote trace context to the span");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;

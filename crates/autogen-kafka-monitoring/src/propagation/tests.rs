//! Trace-context carriers and parsing, and the span round trip.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use super::*;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

#[test]
fn pair_list_carrier_replaces_and_removes() {
    let mut carrier = vec![
        ("other".to_owned(), "kept".to_owned()),
        (TRACEPARENT.to_owned(), "old".to_owned()),
    ];
    carrier.set(TRACEPARENT, "new".to_owned());
    assert_eq!(TraceCarrier::get(&carrier, TRACEPARENT), Some("new"));
    assert_eq!(carrier.iter().filter(|(k, _)| k == TRACEPARENT).count(), 1);
    TraceCarrier::remove(&mut carrier, TRACEPARENT);
    assert_eq!(TraceCarrier::get(&carrier, TRACEPARENT), None);
    assert_eq!(TraceCarrier::get(&carrier, "other"), Some("kept"));
}

#[test]
fn json_metadata_carrier_reads_only_strings() {
    let mut metadata = json!({"traceparent": 42, "tracestate": "a=b"})
        .as_object()
        .cloned()
        .unwrap();
    assert_eq!(TraceCarrier::get(&metadata, TRACEPARENT), None);
    assert_eq!(TraceCarrier::get(&metadata, TRACESTATE), Some("a=b"));
    assert!(extract_trace_context(&metadata).is_none());
    TraceCarrier::set(&mut metadata, TRACEPARENT, PARENT.to_owned());
    assert_eq!(metadata[TRACEPARENT], PARENT);
}

#[test]
fn parses_a_valid_traceparent() {
    let context = TraceContext::parse(PARENT, Some("congo=t61rcWkgMzE")).unwrap();
    assert_eq!(context.traceparent(), PARENT);
    assert_eq!(context.trace_id(), TRACE_ID);
    assert_eq!(context.parent_id(), PARENT_ID);
    assert!(context.is_sampled());
    assert_eq!(context.tracestate(), Some("congo=t61rcWkgMzE"));

    let unsampled = PARENT.replace("-01", "-00");
    assert!(!TraceContext::parse(&unsampled, None).unwrap().is_sampled());
}

#[test]
fn an_empty_tracestate_is_none() {
    assert_eq!(
        TraceContext::parse(PARENT, Some("")).unwrap().tracestate(),
        None
    );
    assert_eq!(
        TraceContext::parse(PARENT, None).unwrap().tracestate(),
        None
    );
}

#[test]
fn rejects_invalid_traceparents() {
    let invalid = [
        "",
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ];
    for traceparent in invalid {
        assert_eq!(
            TraceContext::parse(traceparent, None),
            None,
            "{traceparent:?}"
        );
    }
}

#[test]
fn accepts_a_future_version_with_extra_fields() {
    let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds";
    let context = TraceContext::parse(future, None).unwrap();
    assert_eq!(context.trace_id(), TRACE_ID);
    assert_eq!(context.parent_id(), PARENT_ID);
}

#[test]
fn extract_then_inject_round_trips_python_metadata() {
    // An incoming request's metadata, as the Python runtime writes it.
    let incoming = json!({"traceparent": PARENT, "tracestate": "rojo=00f067aa0ba902b7"})
        .as_object()
        .cloned()
        .unwrap();
    let context = extract_trace_context(&incoming).unwrap();

    let mut outgoing = serde_json::Map::new();
    context.inject_into(&mut outgoing);
    assert_eq!(outgoing, incoming);

    let mut pairs: Vec<(String, String)> = Vec::new();
    context.inject_into(&mut pairs);
    assert_eq!(extract_trace_context(&pairs), Some(context.clone()));
    let mut map = BTreeMap::new();
    context.inject_into(&mut map);
    assert_eq!(extract_trace_context(&map), Some(context.clone()));
    let mut hashed = HashMap::new();
    context.inject_into(&mut hashed);
    assert_eq!(extract_trace_context(&hashed), Some(context));
}

#[test]
fn inject_into_drops_a_stale_tracestate() {
    let mut carrier = vec![(TRACESTATE.to_owned(), "stale=1".to_owned())];
    TraceContext::parse(PARENT, None)
        .unwrap()
        .inject_into(&mut carrier);
    assert_eq!(TraceCarrier::get(&carrier, TRACEPARENT), Some(PARENT));
    assert_eq!(TraceCarrier::get(&carrier, TRACESTATE), None);
}

#[test]
fn metadata_without_traceparent_has_no_context() {
    let metadata: Vec<(String, String)> = vec![(TRACESTATE.to_owned(), "a=b".to_owned())];
    assert_eq!(extract_trace_context(&metadata), None);
    assert_eq!(extract_trace_context(&serde_json::Map::new()), None);
}

/// The helpers read and write real span contexts.
mod opentelemetry_spans {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing::Subscriber;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn subscriber() -> impl Subscriber + Send + Sync {
        let provider = SdkTracerProvider::builder().build();
        let tracer = provider.tracer("propagation-test");
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer))
    }

    #[test]
    fn round_trip_continues_the_senders_trace() {
        tracing::subscriber::with_default(subscriber(), || {
            // The sender writes its span's context into the outgoing metadata.
            let mut metadata = serde_json::Map::new();
            let sender = tracing::info_span!("send");
            let sent = sender.in_scope(|| {
                assert!(inject_trace_context(&mut metadata));
                current_trace_context().unwrap()
            });
            let traceparent = metadata[TRACEPARENT].as_str().unwrap();
            assert_eq!(traceparent, sent.traceparent());
            assert!(traceparent.starts_with("00-"));
            assert_eq!(sent.trace_id().len(), 32);
            assert!(sent.is_sampled());
            assert!(
                !metadata.contains_key(TRACESTATE),
                "an empty tracestate is not written"
            );

            // The receiver continues that trace in its handler span.
            let received = extract_trace_context(&metadata).unwrap();
            assert_eq!(received, sent);
            let handler = tracing::info_span!("handle");
            assert!(received.set_parent_of(&handler));
            let (in_handler, reply_metadata) = handler.in_scope(|| {
                let mut reply = Vec::new();
                assert!(inject_trace_context(&mut reply));
                (current_trace_context().unwrap(), reply)
            });
            assert_eq!(in_handler.trace_id(), sent.trace_id());
            assert_ne!(
                in_handler.parent_id(),
                sent.parent_id(),
                "the handler is a new span"
            );
            assert_eq!(
                extract_trace_context(&reply_metadata).unwrap().trace_id(),
                sent.trace_id()
            );
        });
    }

    #[test]
    fn a_remote_tracestate_flows_to_child_spans() {
        tracing::subscriber::with_default(subscriber(), || {
            let remote = TraceContext::parse(PARENT, Some("rojo=00f067aa0ba902b7")).unwrap();
            let handler = tracing::info_span!("handle");
            assert!(remote.set_parent_of(&handler));
            let child = handler.in_scope(|| current_trace_context().unwrap());
            assert_eq!(child.trace_id(), TRACE_ID);
            assert_ne!(child.parent_id(), PARENT_ID);
            assert_eq!(child.tracestate(), Some("rojo=00f067aa0ba902b7"));
        });
    }

    #[test]
    fn an_entered_span_cannot_be_reparented() {
        tracing::subscriber::with_default(subscriber(), || {
            let remote = TraceContext::parse(PARENT, None).unwrap();
            let handler = tracing::info_span!("handle");
            handler.in_scope(|| {});
            assert!(!remote.set_parent_of(&handler));
        });
    }

    #[test]
    fn without_the_layer_nothing_is_injected() {
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            let _span = tracing::info_span!("send").entered();
            let mut metadata = Vec::new();
            assert!(!inject_trace_context(&mut metadata));
            assert!(metadata.is_empty());
            let remote = TraceContext::parse(PARENT, None).unwrap();
            assert!(!remote.set_parent_of(&tracing::info_span!("handle")));
        });
    }

    #[test]
    fn the_propagator_normalises_what_it_accepts() {
        let context = TraceContext::parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09",
            Some("not a valid tracestate"),
        )
        .unwrap();
        assert!(
            context.traceparent().ends_with("-01"),
            "only the sampled flag is kept"
        );
        assert_eq!(
            context.tracestate(),
            None,
            "an invalid tracestate is dropped"
        );
    }
}

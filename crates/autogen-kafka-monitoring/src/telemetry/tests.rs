//! Telemetry configuration, log output, and (in one test) the process-wide install.

use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt;

use super::*;

/// A `MakeWriter` that collects everything written into one buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn capture(config: &TelemetryConfig, emit: impl FnOnce()) -> String {
    let output = Captured::default();
    let layer = log_layer(config, output.clone(), false).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
    output.text()
}

#[test]
fn defaults_are_documented_ones() {
    let config = TelemetryConfig::default();
    assert_eq!(config.log_filter, "info");
    assert!(!config.json);
    assert_eq!(config.otlp_endpoint, None);
    assert_eq!(config.service_name, "autogen-kafka");
    assert_eq!(TelemetryConfig::new("svc").service_name, "svc");
}

#[test]
fn config_deserialises_with_defaults_and_rejects_unknown_fields() {
    let config: TelemetryConfig =
        serde_json::from_str(r#"{"json": true, "otlp_endpoint": "http://c:4318"}"#).unwrap();
    assert!(config.json);
    assert_eq!(config.otlp_endpoint.as_deref(), Some("http://c:4318"));
    assert_eq!(config.log_filter, "info");
    assert!(serde_json::from_str::<TelemetryConfig>(r#"{"jsn": true}"#).is_err());
}

#[test]
fn text_logs_follow_the_filter() {
    let config = TelemetryConfig::default().with_log_filter("warn,chatty=debug");
    let text = capture(&config, || {
        tracing::info!("quiet info");
        tracing::warn!(topic = "requests", "loud warning");
        tracing::debug!(target: "chatty", "chatty debug");
    });
    assert!(!text.contains("quiet info"), "{text}");
    assert!(text.contains("loud warning"), "{text}");
    assert!(text.contains("topic=\"requests\""), "{text}");
    assert!(text.contains("chatty debug"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes when ansi is off: {text}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let config = TelemetryConfig::default().with_json(true);
    let text = capture(&config, || {
        tracing::info_span!("handle", agent_type = "assistant").in_scope(|| {
            tracing::info!(partition = 3, "handled");
        });
    });
    let line = text.lines().next().expect("one line");
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["level"], "INFO");
    assert_eq!(record["fields"]["message"], "handled");
    assert_eq!(record["fields"]["partition"], 3);
    assert_eq!(record["span"]["agent_type"], "assistant");
}

#[test]
fn an_invalid_filter_is_reported_before_anything_is_installed() {
    let config = TelemetryConfig::default().with_log_filter("info,[unclosed");
    let error = init_tracing(&config).unwrap_err();
    assert!(
        matches!(&error, MonitoringError::ParseLogFilter { filter, .. } if filter == "info,[unclosed"),
        "{error:?}"
    );
}

/// The only test that installs the global subscriber: spans get trace contexts even with
/// logs off and without export, and a second install fails.
#[cfg(not(feature = "otlp"))]
#[test]
fn init_tracing_installs_the_subscriber_once() {
    // Logs off: other tests in this process log too, and stderr is not captured.
    let config = TelemetryConfig::default()
        .with_log_filter("off")
        .with_otlp_endpoint("http://127.0.0.1:4318");
    let guard = init_tracing(&config).unwrap();
    assert!(!guard.exports_traces());
    let context = tracing::info_span!("send").in_scope(crate::current_trace_context);
    assert!(context.is_some_and(|context| context.is_sampled()));
    let error = init_tracing(&TelemetryConfig::default()).unwrap_err();
    assert!(
        matches!(error, MonitoringError::InstallSubscriber { .. }),
        "{error:?}"
    );
    guard.shutdown().unwrap();
}

#[test]
fn without_an_endpoint_spans_are_only_propagated() {
    let (provider, exporting) = spans::tracer_provider(&TelemetryConfig::default()).unwrap();
    assert!(!exporting);
    provider.shutdown().unwrap();
}

#[cfg(feature = "otlp")]
mod otlp_export {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread;
    use std::time::{Duration, Instant};

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(20);

    #[derive(Debug)]
    struct Request {
        request_line: String,
        content_type: String,
        body: Vec<u8>,
    }

    /// A stand-in OTLP/HTTP collector on a loopback port that answers 200 to each request
    /// and hands the requests over, until `DEADLINE` passes.
    fn collector() -> (String, mpsc::Receiver<Request>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            let started = Instant::now();
            while started.elapsed() < DEADLINE {
                let Ok((stream, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut content_type = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (name, value) = line.split_once(':').unwrap();
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap(),
                        "content-type" => value.trim().clone_into(&mut content_type),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let mut stream = reader.into_inner();
                stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                          content-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .unwrap();
                let request = Request {
                    request_line: request_line.trim_end().to_owned(),
                    content_type,
                    body,
                };
                if sender.send(request).is_err() {
                    break;
                }
            }
        });
        (endpoint, receiver)
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    }

    #[test]
    fn traces_url_appends_the_signal_path_once() {
        assert_eq!(otlp::traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(
            otlp::traces_url("http://c:4318/"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            otlp::traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            otlp::traces_url("https://c/otel"),
            "https://c/otel/v1/traces"
        );
    }

    /// The only test that installs the global subscriber: spans reach an OTLP/HTTP
    /// collector as protobuf when the guard shuts down, and a second install fails.
    #[test]
    fn init_tracing_exports_spans_over_otlp_http() {
        let (endpoint, requests) = collector();
        let config = TelemetryConfig::new("telemetry-test-service")
            .with_log_filter("off")
            .with_otlp_endpoint(endpoint);
        let guard = init_tracing(&config).unwrap();
        assert!(guard.exports_traces());
        let error = init_tracing(&TelemetryConfig::default()).unwrap_err();
        assert!(
            matches!(error, MonitoringError::InstallSubscriber { .. }),
            "{error:?}"
        );

        // An INFO span gets a context and is exported, even though logs are off.
        tracing::info_span!("exported_marker_span").in_scope(|| {
            let mut metadata = Vec::new();
            assert!(crate::inject_trace_context(&mut metadata));
        });
        guard.shutdown().unwrap();

        let started = Instant::now();
        let request = loop {
            let remaining = DEADLINE.saturating_sub(started.elapsed());
            let request = requests
                .recv_timeout(remaining)
                .expect("the collector received the span");
            if contains(&request.body, "exported_marker_span") {
                break request;
            }
        };
        assert_eq!(request.request_line, "POST /v1/traces HTTP/1.1");
        assert_eq!(request.content_type, "application/x-protobuf");
        assert!(contains(&request.body, "telemetry-test-service"));
    }

    #[test]
    fn an_https_endpoint_builds_a_tls_client() {
        let config = TelemetryConfig::default().with_otlp_endpoint("https://127.0.0.1:1");
        let (provider, exporting) = spans::tracer_provider(&config).unwrap();
        assert!(exporting);
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        provider.shutdown().unwrap();
    }

    #[test]
    fn an_invalid_endpoint_is_reported() {
        let config = TelemetryConfig::default().with_otlp_endpoint("not a url at all");
        let error = spans::tracer_provider(&config).unwrap_err();
        assert!(
            matches!(&error, MonitoringError::BuildOtlpExporter { endpoint, .. } if endpoint.starts_with("not a url")),
            "{error:?}"
        );
    }
}

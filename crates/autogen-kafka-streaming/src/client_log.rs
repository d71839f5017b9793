//! librdkafka's log lines and error events, told through `tracing` (target `librdkafka`) at levels a user can act
//! on, with repeats folded.
//!
//! A client that cannot reach its broker reports the same failure again on every reconnect, from every client of
//! the process (the runtime has several): left alone, that is hundreds of lines a minute that say one thing. Here a
//! line whose text (digits aside) was written in the last [`FOLD_WINDOW`] is only counted, process-wide; the next
//! one written after the window carries the count in its `repeated` field. Connection-level failures, which
//! librdkafka retries by itself, are warnings; the runtime's own retry warnings and its final typed error are what
//! a user acts on.
//!
//! Every client the workspace creates uses these from its `ClientContext`.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// How long repeats of one line are counted instead of written.
pub const FOLD_WINDOW: Duration = Duration::from_secs(30);

/// Beyond this many distinct lines the table starts afresh (it only bounds memory; the cost is a repeated line).
const MAX_LINES: usize = 512;

/// When a line was last written and how many times it came since.
#[derive(Debug, Clone, Copy)]
struct Fold {
    written: Instant,
    repeated: u64,
}

/// The lines written recently, by their text with digits removed.
#[derive(Debug, Default)]
struct Folds(HashMap<String, Fold>);

impl Folds {
    /// Whether the line `key` is written at `now`, and then how many repeats it folds.
    fn admit(&mut self, key: &str, now: Instant, window: Duration) -> Option<u64> {
        if let Some(fold) = self.0.get_mut(key) {
            if now.saturating_duration_since(fold.written) < window {
                fold.repeated += 1;
                return None;
            }
            let repeated = fold.repeated;
            *fold = Fold {
                written: now,
                repeated: 0,
            };
            return Some(repeated);
        }
        if self.0.len() >= MAX_LINES {
            self.0.clear();
        }
        self.0.insert(
            key.to_owned(),
            Fold {
                written: now,
                repeated: 0,
            },
        );
        Some(0)
    }
}

static FOLDS: LazyLock<Mutex<Folds>> = LazyLock::new(Mutex::default);

/// The folding key of a line: its text without digits (ports, counts and timings change between repeats) and
/// without librdkafka's own trailer on connection failures (`(after 0ms in state CONNECT, 1 identical error(s)
/// suppressed)`).
fn key(kind: &str, text: &str) -> String {
    let text = text.split_once(" (after ").map_or(text, |(head, _)| head);
    let mut key = String::with_capacity(kind.len() + 1 + text.len());
    key.push_str(kind);
    key.push(':');
    key.extend(text.chars().filter(|c| !c.is_ascii_digit()));
    key
}

/// `Some(repeats)` when the line is to be written now.
fn admit(kind: &str, text: &str) -> Option<u64> {
    FOLDS.lock().unwrap_or_else(PoisonError::into_inner).admit(
        &key(kind, text),
        Instant::now(),
        FOLD_WINDOW,
    )
}

/// How loud a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loudness {
    Error,
    Warn,
    Info,
    Debug,
}

/// librdkafka's log levels on `tracing`'s: an `Error` log line is a failure librdkafka retries (a connection
/// refused, a broker gone), so a warning; `Info` lines are chatter, so debug.
const fn loudness_of_log(level: RDKafkaLogLevel) -> Loudness {
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
            Loudness::Error
        }
        RDKafkaLogLevel::Error | RDKafkaLogLevel::Warning => Loudness::Warn,
        RDKafkaLogLevel::Notice => Loudness::Info,
        RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => Loudness::Debug,
    }
}

/// Error events about connections librdkafka re-establishes by itself are warnings; the rest are errors.
fn loudness_of_error(error: &KafkaError) -> Loudness {
    match error.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::NetworkException,
        ) => Loudness::Warn,
        _ => Loudness::Error,
    }
}

fn emit(loudness: Loudness, facility: &str, repeated: u64, text: &str) {
    match loudness {
        Loudness::Error => tracing::error!(target: "librdkafka", facility, repeated, "{text}"),
        Loudness::Warn => tracing::warn!(target: "librdkafka", facility, repeated, "{text}"),
        Loudness::Info => tracing::info!(target: "librdkafka", facility, repeated, "{text}"),
        Loudness::Debug => tracing::debug!(target: "librdkafka", facility, repeated, "{text}"),
    }
}

/// The reason of the last error event a client reported, so that a "broker unreachable" error can say why
/// (connection refused, a TLS certificate not trusted, a SASL handshake refused, ...). librdkafka's "n/m brokers
/// are down" summary never replaces the reason before it.
#[derive(Debug, Default)]
pub struct LastError(std::sync::Mutex<Option<(String, Option<RDKafkaErrorCode>)>>);

impl LastError {
    /// Records an error event (`ClientContext::error`).
    pub fn record(&self, error: &KafkaError, reason: &str) {
        let mut last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let summary = matches!(error, KafkaError::Global(RDKafkaErrorCode::AllBrokersDown));
        if !(summary && last.is_some()) {
            *last = Some((reason.to_owned(), error.rdkafka_error_code()));
        }
    }

    /// The last reason recorded, if any.
    #[must_use]
    pub fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(reason, _)| reason.clone())
    }

    /// Whether the last error recorded is the broker refusing the client's credentials (SASL): retrying with
    /// the same ones cannot succeed.
    #[must_use]
    pub fn is_authentication_failure(&self) -> bool {
        matches!(
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .and_then(|(_, code)| *code),
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed)
        )
    }
}

/// Tells a librdkafka log line (`ClientContext::log`).
pub fn log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    let loudness = loudness_of_log(level);
    if loudness == Loudness::Debug {
        // Never folded: it is only built when debug logging is on, and then every line counts.
        emit(loudness, facility, 0, message);
        return;
    }
    if let Some(repeated) = admit(facility, message) {
        emit(loudness, facility, repeated, message);
    }
}

/// Tells a librdkafka error event (`ClientContext::error`).
pub fn error(error: &KafkaError, reason: &str) {
    let text = format!("{error}: {reason}");
    if let Some(repeated) = admit("error", &text) {
        emit(loudness_of_error(error), "error", repeated, &text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_written_once_per_window_with_the_count_of_its_repeats() {
        let mut folds = Folds::default();
        let start = Instant::now();
        let window = Duration::from_secs(30);
        let line = key("FAIL", "127.0.0.1:9/bootstrap: Connect failed (after 0ms)");
        assert_eq!(folds.admit(&line, start, window), Some(0));
        for ms in 1..=100 {
            let again = key(
                "FAIL",
                &format!("127.0.0.1:9/bootstrap: Connect failed (after {ms}ms)"),
            );
            assert_eq!(again, line, "digits do not make a new line");
            assert_eq!(
                folds.admit(&again, start + Duration::from_millis(ms), window),
                None
            );
        }
        assert_eq!(
            key(
                "FAIL",
                "127.0.0.1:9/bootstrap: Connect failed (after 0ms in state CONNECT, 1 identical error(s) suppressed)"
            ),
            line,
            "librdkafka's trailer does not make a new line"
        );
        assert_eq!(
            folds.admit(&key("FAIL", "another failure"), start, window),
            Some(0),
            "another text is written at once"
        );
        assert_eq!(folds.admit(&line, start + window, window), Some(100));
        assert_eq!(folds.admit(&line, start + window, window), None);
        assert_eq!(folds.admit(&line, start + window * 2, window), Some(1));
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut folds = Folds::default();
        let now = Instant::now();
        for n in 0..(MAX_LINES * 3) {
            // Letters, not digits: each is a distinct line.
            let text: String = n
                .to_string()
                .bytes()
                .map(|digit| char::from(b'a' + (digit - b'0')))
                .collect();
            folds.admit(&text, now, FOLD_WINDOW);
        }
        assert!(folds.0.len() <= MAX_LINES);
    }

    #[test]
    fn the_last_error_keeps_the_reason_over_the_brokers_down_summary() {
        let last = LastError::default();
        assert_eq!(last.get(), None);
        last.record(
            &KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(last.get().as_deref(), Some("1/1 brokers are down"));
        last.record(
            &KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "SSL handshake failed: certificate verify failed",
        );
        last.record(
            &KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(
            last.get().as_deref(),
            Some("SSL handshake failed: certificate verify failed")
        );
    }

    #[test]
    fn connection_failures_are_warnings_and_other_errors_stay_errors() {
        assert_eq!(
            loudness_of_error(&KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)),
            Loudness::Warn
        );
        assert_eq!(
            loudness_of_error(&KafkaError::Global(
                RDKafkaErrorCode::BrokerTransportFailure
            )),
            Loudness::Warn
        );
        assert_eq!(
            loudness_of_error(&KafkaError::Global(RDKafkaErrorCode::Authentication)),
            Loudness::Error
        );
        assert_eq!(loudness_of_log(RDKafkaLogLevel::Error), Loudness::Warn);
        assert_eq!(loudness_of_log(RDKafkaLogLevel::Critical), Loudness::Error);
        assert_eq!(loudness_of_log(RDKafkaLogLevel::Info), Loudness::Debug);
    }
}

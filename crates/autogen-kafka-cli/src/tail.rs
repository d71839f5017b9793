//! `tail`: follows a topic and prints each record decoded (key, headers, event).

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use autogen_kafka::CancellationToken;
use autogen_kafka::streaming::{InboundRecord, TailReader, TailSpec, TailStart};
use serde_json::{Value, json};

use crate::events;
use crate::setup::{self, BrokerArgs};

/// Longest wait for the topic's metadata.
const TOPIC_WAIT: Duration = Duration::from_secs(10);

/// Records read ahead of the printer before the reader waits.
const READ_AHEAD: usize = 1024;

/// Arguments of `tail`.
#[derive(Debug, clap::Args)]
pub(crate) struct TailArgs {
    /// The topic to follow.
    topic: String,
    /// Start at the first record still in the topic (by default: at its end, printing only new records).
    #[arg(long)]
    from_beginning: bool,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop once no record came for this long, in milliseconds (by default: follow until Ctrl-C).
    #[arg(long, value_name = "MS")]
    idle_ms: Option<u64>,
    /// Print each record as one JSON object per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// Follows the topic until `--count`, `--idle-ms` or Ctrl-C.
pub(crate) fn run(args: &TailArgs) -> ExitCode {
    match setup::block_on(tail(args)).and_then(|result| result) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn tail(args: &TailArgs) -> Result<(), String> {
    let config = args.broker.load()?;
    let (records, inbox) = mpsc::sync_channel::<InboundRecord>(READ_AHEAD);
    let start = if args.from_beginning {
        TailStart::Beginning
    } else {
        TailStart::End
    };
    let token = CancellationToken::new();
    let spec = TailSpec::new("cli-tail", vec![args.topic.clone()])
        .properties(config.kafka.client_properties().into_map())
        .start(start)
        // A topic that does not exist fails in seconds, not after the runtime's startup timeout.
        .metadata_timeout(config.runtime.startup_timeout.min(TOPIC_WAIT));
    let reader = TailReader::start(
        spec,
        std::sync::Arc::new(move |record: InboundRecord| {
            // The printer went away: the command is ending.
            let _ = records.send(record);
        }),
        &token,
    )
    .await
    .map_err(|error| crate::error::one_line(&error))?;
    let printer = tokio::task::spawn_blocking({
        let (json, count, idle) = (
            args.json,
            args.count,
            args.idle_ms.map(Duration::from_millis),
        );
        move || print_records(&inbox, json, count, idle)
    });
    let printed = tokio::select! {
        printed = printer => printed.map_err(|error| error.to_string())?,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    token.cancel();
    reader.shutdown().await;
    printed
}

/// Prints records as they come, until `count` records or `idle` without one.
fn print_records(
    inbox: &mpsc::Receiver<InboundRecord>,
    json: bool,
    count: Option<u64>,
    idle: Option<Duration>,
) -> Result<(), String> {
    let mut printed = 0_u64;
    let mut last = Instant::now();
    let mut out = std::io::stdout().lock();
    while count.is_none_or(|count| printed < count) {
        let record = match inbox.recv_timeout(Duration::from_millis(100)) {
            Ok(record) => record,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if idle.is_some_and(|idle| last.elapsed() >= idle) {
                    break;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        last = Instant::now();
        let described = describe(&record);
        let line = if json {
            described.to_string()
        } else {
            human(&described)
        };
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|error| format!("writing to stdout: {error}"))?;
        printed += 1;
    }
    Ok(())
}

/// One record as JSON: where it is, its key and headers (as text when UTF-8), and its value decoded.
pub(crate) fn describe(record: &InboundRecord) -> Value {
    let text = |bytes: &[u8]| {
        std::str::from_utf8(bytes).map_or_else(|_| Value::from(format!("{bytes:?}")), Value::from)
    };
    let headers: serde_json::Map<String, Value> = record
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.as_deref().map_or(Value::Null, text)))
        .collect();
    let value = match record.value.as_deref() {
        None => Value::Null,
        Some(bytes) => events::describe_value(bytes, &record.topic),
    };
    json!({
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "key": record.key.as_deref().map_or(Value::Null, text),
        "headers": headers,
        "value": value,
    })
}

/// The human form: `topic/partition@offset key=... ` then the headers and the value, on one line.
fn human(described: &Value) -> String {
    let headers = described["headers"]
        .as_object()
        .map(|headers| {
            headers
                .iter()
                .map(|(name, value)| format!(" {name}={}", value.as_str().unwrap_or("null")))
                .collect::<String>()
        })
        .unwrap_or_default();
    format!(
        "{}/{}@{} key={}{headers} {}",
        described["topic"].as_str().unwrap_or_default(),
        described["partition"],
        described["offset"],
        described["key"].as_str().unwrap_or("null"),
        described["value"],
    )
}

//! `dlq list|show|replay`: the dead-letter topic, read from its beginning to its current end.

use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autogen_kafka::CancellationToken;
use autogen_kafka::Config;
use autogen_kafka::streaming::dead_letter_headers as dlq;
use autogen_kafka::streaming::{
    EventProducer, InboundRecord, OutboundRecord, TailReader, TailSpec, TailStart,
};
use serde_json::{Value, json};

use crate::error::one_line;
use crate::setup::{self, BrokerArgs};
use crate::tail;

/// Longest wait for the topic's metadata and for reading it to its end.
const READ_WAIT: Duration = Duration::from_secs(30);

/// A replay reports its progress every this many records.
const PROGRESS_EVERY: usize = 100;

/// `dlq` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum DlqCommand {
    /// List the dead letters: where each came from, its kind and the reason.
    List {
        #[command(flatten)]
        filter: Filter,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter, decoded: `PARTITION@OFFSET` of the dead-letter topic, as `list` prints it.
    Show {
        #[arg(value_name = "PARTITION@OFFSET")]
        position: String,
        #[command(flatten)]
        broker: BrokerArgs,
    },
    /// Write dead letters back to the topic and partition they came from, with their key, value and headers
    /// (without the `ak_dlq_*` ones). A dry run that only lists them unless `--execute` is given.
    Replay {
        #[command(flatten)]
        filter: Filter,
        /// Write them; without it nothing is written.
        #[arg(long)]
        execute: bool,
    },
}

/// Which dead letters a command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct Filter {
    /// Only dead letters of this kind (`decode`, `handler`, `expired`, ...).
    #[arg(long, value_name = "K")]
    kind: Option<String>,
    /// Only dead letters read from this topic.
    #[arg(long, value_name = "T")]
    source_topic: Option<String>,
    /// Read at most this many dead letters.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max: usize,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// One record of the dead-letter topic and what its headers say.
#[derive(Debug)]
struct DeadLetter {
    record: InboundRecord,
    kind: String,
    reason: String,
    source_topic: Option<String>,
    source_partition: Option<i32>,
    source_offset: Option<i64>,
}

impl DeadLetter {
    fn new(record: InboundRecord) -> Self {
        let header = |name: &str| record.header_str(name).map(str::to_owned);
        Self {
            kind: header(dlq::KIND).unwrap_or_default(),
            reason: header(dlq::REASON).unwrap_or_default(),
            source_topic: header(dlq::SOURCE_TOPIC),
            source_partition: header(dlq::SOURCE_PARTITION).and_then(|p| p.parse().ok()),
            source_offset: header(dlq::SOURCE_OFFSET).and_then(|o| o.parse().ok()),
            record,
        }
    }

    fn position(&self) -> String {
        format!("{}@{}", self.record.partition, self.record.offset)
    }

    fn source(&self) -> String {
        match (
            &self.source_topic,
            self.source_partition,
            self.source_offset,
        ) {
            (Some(topic), Some(partition), Some(offset)) => format!("{topic}/{partition}@{offset}"),
            (Some(topic), _, _) => topic.clone(),
            _ => "unknown".to_owned(),
        }
    }

    fn summary(&self) -> Value {
        json!({
            "position": self.position(),
            "kind": self.kind,
            "reason": self.reason,
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "key": self.record.key.as_deref().map(String::from_utf8_lossy),
        })
    }

    /// The record to write back: key, value and headers as they were read, at the source partition.
    fn replayed(&self, topic: &str) -> OutboundRecord {
        OutboundRecord {
            topic: topic.to_owned(),
            key: self.record.key.clone(),
            value: self.record.value.clone(),
            headers: self
                .record
                .headers
                .iter()
                .filter(|(name, _)| !name.starts_with("ak_dlq_"))
                .cloned()
                .collect(),
            partition: self.source_partition,
        }
    }
}

impl Filter {
    fn accepts(&self, letter: &DeadLetter) -> bool {
        self.kind.as_ref().is_none_or(|kind| *kind == letter.kind)
            && self
                .source_topic
                .as_ref()
                .is_none_or(|topic| Some(topic) == letter.source_topic.as_ref())
    }
}

/// Runs a `dlq` subcommand.
pub(crate) fn run(command: &DlqCommand) -> ExitCode {
    let result = setup::block_on(async {
        match command {
            DlqCommand::List { filter, json } => list(filter, *json).await,
            DlqCommand::Show { position, broker } => show(position, broker).await,
            DlqCommand::Replay { filter, execute } => replay(filter, *execute).await,
        }
    })
    .and_then(|result| result);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Every record of the dead-letter topic up to its current end (at most `max`), and whether there were more.
async fn read(config: &Config, max: usize) -> Result<(Vec<InboundRecord>, bool), String> {
    let topic = config.runtime.dead_letter_topic.clone();
    let kept = Arc::new(Mutex::new((Vec::new(), false)));
    let sink = Arc::clone(&kept);
    let token = CancellationToken::new();
    let spec = TailSpec::new("cli-dlq", vec![topic])
        .properties(config.kafka.client_properties().into_map())
        .start(TailStart::Beginning)
        .metadata_timeout(READ_WAIT);
    let reader = TailReader::start(
        spec,
        Arc::new(move |record: InboundRecord| {
            let mut kept = sink.lock().unwrap_or_else(PoisonError::into_inner);
            if kept.0.len() < max {
                kept.0.push(record);
            } else {
                kept.1 = true;
            }
        }),
        &token,
    )
    .await
    .map_err(|error| one_line(&error))?;
    let caught_up = reader.catch_up(READ_WAIT).await;
    token.cancel();
    reader.shutdown().await;
    caught_up.map_err(|error| one_line(&error))?;
    let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
    let (records, truncated) = std::mem::take(&mut *kept);
    Ok((records, truncated))
}

/// The dead letters `filter` takes, in topic order (partition, then offset).
async fn select(filter: &Filter) -> Result<(Vec<DeadLetter>, bool), String> {
    let config = filter.broker.load()?;
    let (mut records, truncated) = read(&config, filter.max).await?;
    records.sort_by_key(|record| (record.partition, record.offset));
    let letters = records
        .into_iter()
        .map(DeadLetter::new)
        .filter(|letter| filter.accepts(letter))
        .collect();
    Ok((letters, truncated))
}

fn warn_truncated(truncated: bool, max: usize) {
    if truncated {
        eprintln!(
            "warning: the topic holds more than {max} dead letters; only the first {max} were read (--max)"
        );
    }
}

async fn list(filter: &Filter, as_json: bool) -> Result<(), String> {
    let (letters, truncated) = select(filter).await?;
    for letter in &letters {
        if as_json {
            println!("{}", letter.summary());
        } else {
            println!(
                "{} kind={} source={} key={} reason={}",
                letter.position(),
                letter.kind,
                letter.source(),
                letter
                    .record
                    .key
                    .as_deref()
                    .map_or_else(|| "null".into(), String::from_utf8_lossy),
                letter.reason
            );
        }
    }
    if !as_json {
        println!("{} dead letter(s)", letters.len());
    }
    warn_truncated(truncated, filter.max);
    Ok(())
}

async fn show(position: &str, broker: &BrokerArgs) -> Result<(), String> {
    let (partition, offset) = position
        .split_once('@')
        .and_then(|(p, o)| Some((p.parse::<i32>().ok()?, o.parse::<i64>().ok()?)))
        .ok_or_else(|| format!("{position:?} is not PARTITION@OFFSET"))?;
    let config = broker.load()?;
    let (records, _) = read(&config, usize::MAX).await?;
    let record = records
        .into_iter()
        .find(|r| r.partition == partition && r.offset == offset)
        .ok_or_else(|| {
            format!(
                "no dead letter at {position} of {}",
                config.runtime.dead_letter_topic
            )
        })?;
    let letter = DeadLetter::new(record);
    let mut shown = letter.summary();
    shown["record"] = tail::describe(&letter.record);
    println!(
        "{}",
        serde_json::to_string_pretty(&shown).map_err(|error| error.to_string())?
    );
    Ok(())
}

async fn replay(filter: &Filter, execute: bool) -> Result<(), String> {
    let (letters, truncated) = select(filter).await?;
    warn_truncated(truncated, filter.max);
    let (replayable, unknown): (Vec<&DeadLetter>, Vec<&DeadLetter>) = letters
        .iter()
        .partition(|letter| letter.source_topic.is_some());
    for letter in &unknown {
        eprintln!("skipped {}: it names no source topic", letter.position());
    }
    if !execute {
        for letter in &replayable {
            println!("would replay {} to {}", letter.position(), letter.source());
        }
        println!(
            "dry run: {} dead letter(s) would be replayed, {} skipped; add --execute to write them",
            replayable.len(),
            unknown.len()
        );
        return Ok(());
    }
    let config = filter.broker.load()?;
    let producer = EventProducer::new(
        config.producer_properties().as_map(),
        config.kafka.request_timeout,
    )
    .map_err(|error| one_line(&error))?;
    let total = replayable.len();
    for (done, letter) in replayable.iter().enumerate() {
        let topic = letter.source_topic.as_deref().unwrap_or_default();
        producer
            .send(letter.replayed(topic))
            .await
            .map_err(|error| format!("replaying {}: {}", letter.position(), one_line(&error)))?;
        if (done + 1) % PROGRESS_EVERY == 0 {
            eprintln!("replayed {}/{total}", done + 1);
        }
    }
    producer
        .flush(config.kafka.request_timeout)
        .await
        .map_err(|error| one_line(&error))?;
    println!("replayed {total} dead letter(s), {} skipped", unknown.len());
    Ok(())
}

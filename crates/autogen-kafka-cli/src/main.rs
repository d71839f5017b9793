//! The `autogen-kafka` command-line tool.
//!
//! - `autogen-kafka config check [FILE]`: loads and validates a configuration (file, then
//!   `AUTOGEN_KAFKA_*` environment) and prints it with secrets redacted, or every problem found.
//! - `autogen-kafka events decode [--topic T] [--kind K] [--schema FILE] [FILE|-]`: reads one
//!   record value and prints `{"format", "schema_id", "kind", "event"}` as pretty JSON.
//! - `autogen-kafka events encode [--kind K] [--format F] [--schema-id N] [FILE|-]`: reads an
//!   event as JSON (or a `decode` output) and writes the record value bytes to stdout.
//!
//! - `autogen-kafka fleet status [--json]`: live runtimes with their agent types and expiry, registrations,
//!   subscriptions, and each agent type's consumer-group lag on the request topic.
//! - `autogen-kafka fleet cleanup [FILE] [--dry-run]`: removes what runtimes that died without stopping left
//!   behind (their reply topics, registrations, subscriptions), as every runtime does on its heartbeat, and prints
//!   one line per departed runtime.
//!
//! - `autogen-kafka dev-broker [--brokers N] [--config FILE]`: runs librdkafka's mock cluster as a process and
//!   prints its bootstrap address; Ctrl-C stops it.
//! - `autogen-kafka send TYPE/KEY --message-type T --json '{...}' [--timeout-ms MS]`: one RPC; prints the
//!   answer's type and JSON, or the typed error.
//! - `autogen-kafka gateway [--config FILE] [--skill TYPE[=DESCRIPTION]]... [--listen ADDR] [--public-url URL]`:
//!   serves agent types of the fleet (`gateway.skills` of the configuration, and `--skill`) to A2A clients, with
//!   the tasks on the fleet's task topic (docs/gateway.md); the bearer token comes from `A2A_GATEWAY_TOKEN`
//!   (`gateway.token_env` or `--token-env` name another variable).
//! - `autogen-kafka tail TOPIC [--from-beginning] [--count N] [--idle-ms MS] [--json]`: follows a topic and
//!   prints each record decoded.
//! - `autogen-kafka topics ensure|check [--mixed-fleet] [--json]`: creates or checks the fleet's shared topics
//!   (partitions, cleanup policy; with `--mixed-fleet` the Python-compatible subscription topic).
//! - `autogen-kafka dlq list|show|replay`: the dead letters with their kind, reason and source; one decoded; and
//!   a replay to their source topic and partition (a dry run unless `--execute`).
//!
//! Commands that reach a broker take `--config FILE` and `--auto-create-topics` (for a broker without the Admin
//! API, such as `dev-broker`); `KAFKA_BOOTSTRAP_SERVERS` and `AUTOGEN_KAFKA_*` apply as everywhere.
//! Both `events` commands work offline. A failure exits with status 1 and one line on stderr.
#![expect(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]

mod dev_broker;
mod dlq;
mod error;
mod events;
mod fleet;
mod gateway;
mod kind;
mod send;
mod setup;
mod tail;
mod topics;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::one_line;

/// Command-line tool of autogen-kafka, a distributed agent runtime on Kafka.
#[derive(Debug, Parser)]
#[command(name = "autogen-kafka", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Inspect and build record values, offline (no broker, no Schema Registry).
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Operate on a running fleet.
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// Run librdkafka's mock cluster (an embedded development broker) until Ctrl-C; prints its address.
    DevBroker(dev_broker::DevBrokerArgs),
    /// Send one message to an agent and print its answer.
    Send(send::SendArgs),
    /// Serve agent types of the fleet to A2A clients (A2A 1.0, JSON-RPC) until Ctrl-C; prints the card's URL.
    Gateway(gateway::GatewayArgs),
    /// Follow a topic and print each record decoded.
    Tail(tail::TailArgs),
    /// Inspect and replay the dead-letter topic.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// Create or check the fleet's shared topics.
    Topics {
        #[command(subcommand)]
        command: topics::TopicsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum FleetCommand {
    /// The fleet's runtimes (with their agent types and expiry), registrations, subscriptions, and how far each
    /// agent type's consumer group is behind on the request topic.
    Status {
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        broker: setup::BrokerArgs,
    },
    /// Remove what runtimes dead for longer than `runtime.cleanup_grace_ms` left behind: their reply topics, and
    /// (tombstoned) their registrations, subscriptions and directory entries.
    Cleanup {
        /// A TOML, YAML or JSON file; without it only defaults and the environment are used.
        file: Option<PathBuf>,
        /// Only list the departed runtimes; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Decode one record value (framed JSON, framed Avro or plain JSON) and print it as JSON.
    Decode(events::DecodeArgs),
    /// Encode an event given as JSON and write the record value bytes to stdout.
    Encode(events::EncodeArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load a configuration (file, then environment), validate it and print it with secrets redacted.
    Check {
        /// A TOML, YAML or JSON file; without it only defaults and the environment are used.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no message");
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!("error: internal error (please report it): {message}");
    }));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check { file },
        } => config_check(file.as_deref()),
        Command::Fleet {
            command: FleetCommand::Cleanup { file, dry_run },
        } => fleet::cleanup(file.as_deref(), dry_run),
        Command::Fleet {
            command: FleetCommand::Status { json, broker },
        } => fleet::status(&broker, json),
        Command::DevBroker(args) => dev_broker::run(&args),
        Command::Send(args) => send::run(&args),
        Command::Gateway(args) => gateway::run(&args),
        Command::Tail(args) => tail::run(&args),
        Command::Dlq { command } => dlq::run(&command),
        Command::Topics { command } => topics::run(&command),
        Command::Events { command } => {
            let mut stdout = std::io::stdout().lock();
            let result = match command {
                EventsCommand::Decode(args) => events::decode(&args, &mut stdout),
                EventsCommand::Encode(args) => events::encode(&args, &mut stdout),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {}", one_line(&error));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn config_check(file: Option<&Path>) -> ExitCode {
    match setup::load(file) {
        Ok(config) => {
            println!("configuration is valid:\n{config:#?}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

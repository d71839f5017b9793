//! The `autogen-kafka` command-line tool.
//!
//! - `autogen-kafka config check [FILE]`: loads and validates a configuration (file, then
//!   `AUTOGEN_KAFKA_*` environment) and prints it with secrets redacted, or every problem found.
#![expect(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
        } => config_check(file),
    }
}

fn config_check(file: Option<PathBuf>) -> ExitCode {
    let mut builder = autogen_kafka::Config::builder();
    if let Some(path) = file {
        builder = builder.file(path);
    }
    match builder.build() {
        Ok(config) => {
            println!("configuration is valid:\n{config:#?}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its sources on one line: `outer: inner: root`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

//! `topics ensure|check`: the fleet's shared topics, made or verified as the runtime wants them.

use std::process::ExitCode;

use autogen_kafka::admin::TopicOutcome;
use serde_json::json;

use crate::error::one_line;
use crate::setup::{self, BrokerArgs};

/// `topics` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TopicsCommand {
    /// Create the fleet's missing topics with the configured partitions and policies; verify the others.
    Ensure(TopicsArgs),
    /// Check the fleet's topics without changing anything; exits 1 when one is missing or does not fit.
    Check(TopicsArgs),
}

/// Arguments of `topics ensure|check`.
#[derive(Debug, clap::Args)]
pub(crate) struct TopicsArgs {
    /// The fleet also has Python runtimes: the subscription topic uses `cleanup.policy=delete` with unlimited
    /// retention, because Python runtimes write subscription events without a key.
    #[arg(long)]
    mixed_fleet: bool,
    /// One JSON object per topic and line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// Runs a `topics` subcommand.
pub(crate) fn run(command: &TopicsCommand) -> ExitCode {
    let result = match command {
        TopicsCommand::Ensure(args) => ensure(args),
        TopicsCommand::Check(args) => check(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn ensure(args: &TopicsArgs) -> Result<ExitCode, String> {
    let config = args.broker.load()?;
    let mode = args.broker.create_mode();
    let outcomes = setup::block_on(autogen_kafka::runtime::ensure_fleet_topics(
        &config,
        mode,
        args.mixed_fleet,
    ))?
    .map_err(|error| one_line(&error))?;
    for outcome in &outcomes {
        let what = match outcome {
            TopicOutcome::Created { .. } => "created",
            TopicOutcome::AutoCreated { .. } => "auto-created",
            _ => "existed",
        };
        if args.json {
            println!(
                "{}",
                json!({"topic": outcome.topic(), "partitions": outcome.partitions(), "outcome": what})
            );
        } else {
            println!(
                "{what} {} ({} partitions)",
                outcome.topic(),
                outcome.partitions()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(args: &TopicsArgs) -> Result<ExitCode, String> {
    let config = args.broker.load()?;
    let mode = args.broker.create_mode();
    let checks = setup::block_on(autogen_kafka::runtime::check_fleet_topics(
        &config,
        mode,
        args.mixed_fleet,
    ))?
    .map_err(|error| one_line(&error))?;
    let mut fits = true;
    for check in &checks {
        fits &= check.problems.is_empty();
        if args.json {
            println!(
                "{}",
                json!({
                    "topic": check.topic,
                    "partitions": check.partitions,
                    "cleanup": check.cleanup.map(|c| c.to_string()),
                    "problems": check.problems,
                })
            );
        } else if check.problems.is_empty() {
            let cleanup = check.cleanup.map_or_else(
                || "cleanup.policy not reported".to_owned(),
                |c| format!("cleanup.policy {c}"),
            );
            println!(
                "ok {} ({} partitions, {cleanup})",
                check.topic,
                check.partitions.unwrap_or_default()
            );
        } else {
            println!("PROBLEM {}: {}", check.topic, check.problems.join("; "));
        }
    }
    Ok(if fits {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

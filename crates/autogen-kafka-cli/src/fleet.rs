//! `fleet status` and `fleet cleanup`.

use std::path::Path;
use std::process::ExitCode;

use autogen_kafka::runtime::FleetStatus;
use serde_json::{Value, json};

use crate::error::one_line;
use crate::setup::{self, BrokerArgs};

/// Prints the fleet's runtimes, registrations, subscriptions and per-type lag.
pub(crate) fn status(broker: &BrokerArgs, as_json: bool) -> ExitCode {
    let status = broker.load().and_then(|config| {
        setup::block_on(async { autogen_kafka::runtime::fleet_status(&config).await })?
            .map_err(|error| one_line(&error))
    });
    match status {
        Ok(status) if as_json => {
            println!("{}", status_json(&status));
            ExitCode::SUCCESS
        }
        Ok(status) => {
            print_status(&status);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn status_json(status: &FleetStatus) -> Value {
    json!({
        "runtimes": status.runtimes.iter().map(|r| json!({
            "runtime_id": r.runtime_id,
            "reply_topic": r.reply_topic,
            "expires_ms": r.expires_ms,
            "live": r.live,
            "agent_types": r.agent_types,
        })).collect::<Vec<_>>(),
        "registrations": status.registrations.iter().map(|r| json!({
            "agent_type": r.agent_type,
            "runtime_id": r.runtime_id,
            "expires_ms": r.expires_ms,
        })).collect::<Vec<_>>(),
        "subscriptions": status.subscriptions.iter().map(|s| json!({
            "id": s.id,
            "mapping": s.mapping,
            "runtime_id": s.runtime_id,
        })).collect::<Vec<_>>(),
        "lag": status.lag.iter().map(|l| json!({
            "agent_type": l.agent_type,
            "group": l.group,
            "total": l.total,
            "partitions": l.partitions.iter().map(|p| json!({
                "partition": p.partition,
                "committed": p.committed,
                "low": p.low,
                "high": p.high,
                "lag": p.lag,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn print_status(status: &FleetStatus) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    println!("runtimes ({}):", status.runtimes.len());
    for runtime in &status.runtimes {
        let state = if runtime.live {
            format!("live, expires in {} ms", runtime.expires_ms - now)
        } else {
            format!("expired {} ms ago", now - runtime.expires_ms)
        };
        println!(
            "  {} ({state}) hosts [{}] replies on {}",
            runtime.runtime_id,
            runtime.agent_types.join(", "),
            runtime.reply_topic
        );
    }
    println!("registrations ({}):", status.registrations.len());
    for registration in &status.registrations {
        let by = registration
            .runtime_id
            .as_deref()
            .unwrap_or("a Python runtime");
        let until = registration
            .expires_ms
            .map_or_else(|| "never expires".to_owned(), |e| format!("expires_ms {e}"));
        println!("  {} by {by} ({until})", registration.agent_type);
    }
    println!("subscriptions ({}):", status.subscriptions.len());
    for subscription in &status.subscriptions {
        let by = subscription
            .runtime_id
            .as_deref()
            .unwrap_or("a Python runtime");
        println!(
            "  {} {} (added by {by})",
            subscription.id, subscription.mapping
        );
    }
    println!("lag per agent type:");
    for lag in &status.lag {
        let partitions: Vec<String> = lag
            .partitions
            .iter()
            .map(|p| format!("{}:{}", p.partition, p.lag))
            .collect();
        println!(
            "  {} {} (group {}; by partition {})",
            lag.agent_type,
            lag.total,
            lag.group,
            partitions.join(" ")
        );
    }
}

/// Removes what runtimes that died without stopping left behind; prints one line per departed runtime.
pub(crate) fn cleanup(file: Option<&Path>, dry_run: bool) -> ExitCode {
    let config = match setup::load(file) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mode = autogen_kafka::admin::CreateMode::Admin;
    let departed = match setup::block_on(autogen_kafka::runtime::clean_up_fleet(
        &config, mode, dry_run,
    )) {
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
        Ok(Err(error)) => {
            eprintln!("error: {}", one_line(&error));
            return ExitCode::FAILURE;
        }
        Ok(Ok(departed)) => departed,
    };
    let mut failed = false;
    for runtime in &departed {
        match &runtime.failure {
            None if dry_run && runtime.orphan => {
                println!("orphan {} {}", runtime.runtime_id, runtime.reply_topic);
            }
            None if dry_run => println!("departed {} {}", runtime.runtime_id, runtime.reply_topic),
            None => println!("cleaned {} {}", runtime.runtime_id, runtime.reply_topic),
            Some(why) => {
                failed = true;
                println!(
                    "failed {} {}: {why}",
                    runtime.runtime_id, runtime.reply_topic
                );
            }
        }
    }
    println!("{} departed runtime(s)", departed.len());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

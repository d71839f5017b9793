//! A runtime in its own process, for tests that kill a replica for real (`kill -9`).
//!
//! `fleet-worker <bootstrap> <mock|tansu|external> <fleet> <group> <name>` hosts the `counter` agent type in the
//! given fleet, prints `ready <instance id>` on stdout when started, and stops gracefully when its standard input
//! closes.
#![expect(clippy::print_stdout, reason = "the test reads the ready line")]

use std::io::Read as _;

use autogen_kafka::AgentRuntimeExt as _;
use autogen_kafka_integration_tests::{counter_agent, fleet_config, worker_for};
use autogen_kafka_testing::BrokerKind;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, kind, fleet, group, name] = args.as_slice() else {
        return Err(
            "usage: fleet-worker <bootstrap> <mock|tansu|external> <fleet> <group> <name>".into(),
        );
    };
    let kind = match kind.as_str() {
        "mock" => BrokerKind::Mock,
        "tansu" => BrokerKind::Tansu,
        _ => BrokerKind::External,
    };
    let runtime = worker_for(kind, fleet_config(bootstrap, kind, fleet, group), name);
    let label = name.clone();
    runtime
        .register("counter", move |_| counter_agent(&label))
        .await?;
    runtime.start().await?;
    println!("ready {}", runtime.instance_id());
    // Wait until the parent closes our stdin (or dies).
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    runtime.stop().await?;
    Ok(())
}

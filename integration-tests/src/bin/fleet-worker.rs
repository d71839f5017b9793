//! A runtime in its own process, for tests that kill a replica for real (`kill -9`).
//!
//! `fleet-worker <bootstrap> <mock|tansu|external> <fleet> <group> <name> [<topic type>]` hosts the `counter`
//! agent type in the given fleet (subscribed to `<topic type>` when given), prints `ready <instance id>
//! [<subscription id>]` on stdout when started, and stops gracefully when its standard input closes.
#![expect(clippy::print_stdout, reason = "the test reads the ready line")]

use std::io::Read as _;

use autogen_kafka::{AgentRuntime as _, AgentRuntimeExt as _, TypeSubscription};
use autogen_kafka_integration_tests::{counter_agent, fleet_config, worker_for};
use autogen_kafka_testing::BrokerKind;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (bootstrap, kind, fleet, group, name, topic_type) = match args.as_slice() {
        [_, bootstrap, kind, fleet, group, name] => (bootstrap, kind, fleet, group, name, None),
        [_, bootstrap, kind, fleet, group, name, topic_type] => {
            (bootstrap, kind, fleet, group, name, Some(topic_type))
        }
        _ => {
            return Err(
                "usage: fleet-worker <bootstrap> <mock|tansu|external> <fleet> <group> <name> [<topic type>]"
                    .into(),
            );
        }
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
    match topic_type {
        Some(topic_type) => {
            let subscription = TypeSubscription::new(topic_type.as_str(), "counter")?;
            let id = subscription.id().to_owned();
            runtime.add_subscription(subscription.into()).await?;
            println!("ready {} {id}", runtime.instance_id());
        }
        None => println!("ready {}", runtime.instance_id()),
    }
    // Wait until the parent closes our stdin (or dies).
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    runtime.stop().await?;
    Ok(())
}

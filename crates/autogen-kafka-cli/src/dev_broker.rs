//! `dev-broker`: librdkafka's in-process mock cluster as a process of its own, for development and demos.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;

use crate::setup;

/// Arguments of `dev-broker`.
#[derive(Debug, clap::Args)]
pub(crate) struct DevBrokerArgs {
    /// How many brokers the cluster has.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=16))]
    brokers: i32,
    /// Create this configuration's fleet topics with its `kafka.num_partitions` before printing the address
    /// (other topics are created with 4 partitions when a client first uses them).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Runs the mock cluster until Ctrl-C (SIGINT): prints its bootstrap address as the first line of stdout.
pub(crate) fn run(args: &DevBrokerArgs) -> ExitCode {
    let cluster = match MockCluster::new(args.brokers) {
        Ok(cluster) => cluster,
        Err(error) => return fail(&format!("starting the mock cluster: {error}")),
    };
    if let Some(file) = &args.config {
        let config = match setup::load(Some(file)) {
            Ok(config) => config,
            Err(error) => return fail(&error),
        };
        let partitions = i32::try_from(config.kafka.num_partitions.max(1)).unwrap_or(i32::MAX);
        for topic in fleet_topics(&config) {
            match cluster.create_topic(&topic, partitions, 1) {
                Ok(()) | Err(KafkaError::MockCluster(RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err(error) => return fail(&format!("creating topic {topic}: {error}")),
            }
        }
    }
    println!("{}", cluster.bootstrap_servers());
    // The address is what a script waits for.
    let _ = std::io::stdout().flush();
    eprintln!("mock cluster running; Ctrl-C stops it");
    let stopped = setup::block_on(async { tokio::signal::ctrl_c().await });
    drop(cluster);
    match stopped {
        Ok(Ok(())) => {
            eprintln!("mock cluster stopped");
            ExitCode::SUCCESS
        }
        Ok(Err(error)) => fail(&format!("waiting for Ctrl-C: {error}")),
        Err(error) => fail(&error),
    }
}

/// The topics a fleet of `config` uses.
fn fleet_topics(config: &autogen_kafka::Config) -> Vec<String> {
    let runtime = &config.runtime;
    vec![
        runtime.runtime_requests.clone(),
        runtime.runtime_responses.clone(),
        runtime.registry_topic.clone(),
        runtime.subscription_topic.clone(),
        runtime.publish_topic.clone(),
        runtime.dead_letter_topic.clone(),
        runtime.state_topic.clone(),
        runtime.runtimes_topic.clone(),
        config.agent.request_topic.clone(),
        config.agent.response_topic.clone(),
    ]
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

//! What the commands that talk to a broker share: loading the configuration, the async runtime, and a worker
//! runtime to send from.

use std::future::Future;
use std::path::{Path, PathBuf};

use autogen_kafka::Config;
use autogen_kafka::admin::CreateMode;
use autogen_kafka::config::ConfigError;
use autogen_kafka::runtime::KafkaWorkerAgentRuntime;

use crate::error::one_line;

/// Where the broker is and how its topics are made.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BrokerArgs {
    /// A TOML, YAML or JSON configuration file; without it only the defaults and the environment
    /// (`KAFKA_BOOTSTRAP_SERVERS`, `AUTOGEN_KAFKA_*`) are used.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The broker creates topics on first use and has no Admin API (`autogen-kafka dev-broker`).
    #[arg(long)]
    pub(crate) auto_create_topics: bool,
}

impl BrokerArgs {
    /// The configuration: the file, then the environment.
    pub(crate) fn load(&self) -> Result<Config, String> {
        load(self.config.as_deref())
    }

    /// How topics are made on this broker.
    pub(crate) const fn create_mode(&self) -> CreateMode {
        if self.auto_create_topics {
            CreateMode::AutoCreate
        } else {
            CreateMode::Admin
        }
    }

    /// A worker runtime hosting no agents, to send from; its instance id names the command.
    pub(crate) fn runtime(
        &self,
        config: Config,
        role: &str,
    ) -> Result<KafkaWorkerAgentRuntime, String> {
        let instance = format!("cli-{role}-{}", std::process::id());
        KafkaWorkerAgentRuntime::builder(config)
            .instance_id(instance)
            .topic_creation(self.create_mode())
            .build()
            .map_err(|error| one_line(&error))
    }
}

/// Loads a configuration (the file if given, then the environment) and validates it.
pub(crate) fn load(file: Option<&Path>) -> Result<Config, String> {
    let mut builder = Config::builder();
    if let Some(path) = file {
        builder = builder.file(path);
    }
    builder.build().map_err(|error| config_error_text(&error))
}

/// A configuration error and its causes: one line, except the validation list, which puts each problem on a line
/// of its own.
pub(crate) fn config_error_text(error: &ConfigError) -> String {
    if error.issues().is_empty() {
        one_line(error)
    } else {
        error.to_string()
    }
}

/// Runs `future` to its end on a single-threaded async runtime.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|runtime| runtime.block_on(future))
        .map_err(|error| format!("starting the async runtime: {error}"))
}

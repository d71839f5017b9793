//! The `gateway` section: the A2A gateway (`autogen-kafka gateway`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::de;
use crate::validate::{Issues, MAX_TOPIC_LEN};

/// The `gateway` section ([`Config::gateway`](crate::Config::gateway)): the A2A gateway's address, token, the
/// agent types it offers and where it keeps its tasks.
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::{Config, SkillSettings};
///
/// // In a file: `[[gateway.skills]]` tables with `agent_type = "echo"`, `description = "..."`.
/// let mut echo = SkillSettings::new("echo");
/// echo.description = Some("Answers with the text it got".to_owned());
/// let config = Config::builder()
///     .without_env()
///     .bootstrap_servers(["127.0.0.1:9092"])
///     .group_id("fleet-1")
///     .set("gateway.listen", "0.0.0.0:8080")
///     .set("gateway.skills", [echo])
///     .build()?;
/// assert_eq!(config.gateway.tasks_topic, "a2a_tasks");
/// assert_eq!(config.gateway.skills[0].agent_type, "echo");
/// # Ok::<(), autogen_kafka_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct GatewaySettings {
    /// Where the gateway listens, `host:port`. Default `127.0.0.1:8080`.
    #[serde(deserialize_with = "de::string")]
    pub listen: String,
    /// The URL clients reach the gateway at, written into the agent card; unset: `http://<listen address>`.
    #[serde(deserialize_with = "de::opt_string")]
    pub public_url: Option<String>,
    /// The environment variable holding the bearer token clients must send (at least 16 characters). Default
    /// `A2A_GATEWAY_TOKEN`.
    #[serde(deserialize_with = "de::string")]
    pub token_env: String,
    /// The agent types offered, one A2A skill each: tables with `agent_type`, and optionally `name`,
    /// `description` and `examples`. Default none.
    pub skills: Vec<SkillSettings>,
    /// Also offer every agent type the fleet registry shows hosted (only when every one may be called by the
    /// gateway's clients). Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub expose_hosted_types: bool,
    /// The compacted topic every gateway replica keeps the tasks on. Default `a2a_tasks`.
    #[serde(deserialize_with = "de::string")]
    pub tasks_topic: String,
    /// Partitions of the task topic. Default 3.
    #[serde(deserialize_with = "de::number")]
    pub tasks_partitions: u32,
    /// How long the task topic keeps a task (its `retention.ms`). Written `task_retention_ms`. Default 7 days.
    #[serde(rename = "task_retention_ms", with = "de::duration_ms")]
    pub task_retention: Duration,
    /// The most tasks a gateway keeps; beyond it the oldest finished one is dropped (from the topic too).
    /// Default 10000.
    #[serde(deserialize_with = "de::number")]
    pub max_tasks: usize,
    /// The largest request body accepted, in bytes. Default 1048576.
    #[serde(deserialize_with = "de::number")]
    pub max_body_bytes: usize,
}

/// One agent type offered as an A2A skill (an entry of `gateway.skills`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SkillSettings {
    /// The agent type (also the skill's id).
    #[serde(deserialize_with = "de::string")]
    pub agent_type: String,
    /// A name for people; the agent type when unset.
    #[serde(deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    /// What it does.
    #[serde(deserialize_with = "de::opt_string")]
    pub description: Option<String>,
    /// Example prompts.
    pub examples: Vec<String>,
}

impl SkillSettings {
    /// The skill of `agent_type`.
    #[must_use]
    pub fn new(agent_type: impl Into<String>) -> Self {
        Self {
            agent_type: agent_type.into(),
            ..Self::default()
        }
    }
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            public_url: None,
            token_env: "A2A_GATEWAY_TOKEN".to_owned(),
            skills: Vec::new(),
            expose_hosted_types: false,
            tasks_topic: "a2a_tasks".to_owned(),
            tasks_partitions: 3,
            task_retention: Duration::from_secs(7 * 24 * 3600),
            max_tasks: 10_000,
            max_body_bytes: 1 << 20,
        }
    }
}

impl GatewaySettings {
    pub(crate) fn check(&self, issues: &mut Issues) {
        issues.non_empty("gateway.listen", &self.listen);
        issues.non_empty("gateway.token_env", &self.token_env);
        issues.topic("gateway.tasks_topic", &self.tasks_topic, MAX_TOPIC_LEN);
        issues.at_least_one("gateway.tasks_partitions", self.tasks_partitions.into());
        issues.positive_duration("gateway.task_retention_ms", self.task_retention);
        issues.at_least_one("gateway.max_tasks", self.max_tasks as u64);
        issues.at_least_one("gateway.max_body_bytes", self.max_body_bytes as u64);
        for (i, skill) in self.skills.iter().enumerate() {
            issues.non_empty(
                &format!("gateway.skills[{i}].agent_type"),
                &skill.agent_type,
            );
        }
    }
}

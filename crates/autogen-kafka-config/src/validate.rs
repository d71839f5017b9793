//! Validation helpers: an issue collector and the rules shared by several sections.

use std::path::Path;
use std::time::Duration;

use crate::error::ValidationIssue;
use crate::load::DEFAULT_ENV_PREFIX;

/// Longest topic name Kafka accepts.
pub(crate) const MAX_TOPIC_LEN: usize = 249;

/// Collects every problem found, each with its key path and environment variable.
#[derive(Debug)]
pub(crate) struct Issues {
    env_prefix: String,
    list: Vec<ValidationIssue>,
}

impl Issues {
    /// A collector whose environment variable names use `env_prefix` (e.g. `AUTOGEN_KAFKA_`).
    pub(crate) fn new(env_prefix: &str) -> Self {
        Self {
            env_prefix: env_prefix.to_owned(),
            list: Vec::new(),
        }
    }

    /// Records a problem with `key` (a dotted path such as `kafka.group_id`).
    pub(crate) fn push(&mut self, key: &str, message: impl Into<String>) {
        self.list.push(ValidationIssue {
            key: key.to_owned(),
            env_var: env_var_name(&self.env_prefix, key),
            message: message.into(),
        });
    }

    /// Records a problem when `value` is empty or blank.
    pub(crate) fn non_empty(&mut self, key: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(key, "must not be empty");
        }
    }

    /// Records a problem when `value` is zero.
    pub(crate) fn positive_duration(&mut self, key: &str, value: Duration) {
        if value.is_zero() {
            self.push(key, "must be greater than 0 ms");
        }
    }

    /// Records a problem when `value` is zero.
    pub(crate) fn at_least_one(&mut self, key: &str, value: u64) {
        if value == 0 {
            self.push(key, "must be at least 1");
        }
    }

    /// Records a problem when a file named by `key` is set but does not exist.
    pub(crate) fn existing_file(&mut self, key: &str, path: Option<&Path>) {
        if let Some(path) = path {
            // librdkafka's special value: use the system's CA store.
            if key.ends_with("ssl_ca_location") && path == Path::new("probe") {
                return;
            }
            if !path.is_file() {
                self.push(key, format!("file {} does not exist", path.display()));
            }
        }
    }

    /// Records a problem when `name` is not a legal Kafka topic name.
    pub(crate) fn topic(&mut self, key: &str, name: &str, max_len: usize) {
        if let Some(problem) = topic_problem(name, max_len) {
            self.push(key, format!("invalid topic name `{name}`: {problem}"));
        }
    }

    /// The problems found so far.
    pub(crate) fn into_vec(self) -> Vec<ValidationIssue> {
        self.list
    }
}

/// The environment variable that sets `key` under `prefix`: `AUTOGEN_KAFKA_` + `kafka.group_id`
/// gives `AUTOGEN_KAFKA_KAFKA__GROUP_ID`. librdkafka property names (`kafka.librdkafka.linger.ms`)
/// are written with `_` for `.`.
pub(crate) fn env_var_name(prefix: &str, key: &str) -> String {
    let segments: Vec<String> = match key.strip_prefix("kafka.librdkafka.") {
        Some(property) => vec![
            "KAFKA".to_owned(),
            "LIBRDKAFKA".to_owned(),
            property.replace('.', "_").to_ascii_uppercase(),
        ],
        None => key.split('.').map(str::to_ascii_uppercase).collect(),
    };
    let prefix = if prefix.is_empty() {
        DEFAULT_ENV_PREFIX
    } else {
        prefix
    };
    format!("{prefix}{}", segments.join("__"))
}

/// Kafka's topic rules: 1..=249 characters of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub(crate) fn topic_problem(name: &str, max_len: usize) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if name == "." || name == ".." {
        return Some("`.` and `..` are not allowed".to_owned());
    }
    if name.len() > max_len {
        return Some(format!(
            "{} characters, at most {max_len} allowed",
            name.len()
        ));
    }
    let bad: String = name
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .collect();
    if bad.is_empty() {
        None
    } else {
        Some(format!(
            "characters {bad:?} are not allowed (use letters, digits, `.`, `_`, `-`)"
        ))
    }
}

/// Reports topics used by two roles, and topics that Kafka would consider colliding
/// (`.` and `_` are the same in Kafka's metric names, so it refuses to create both).
pub(crate) fn distinct_topics(issues: &mut Issues, topics: &[(&str, &str)]) {
    for (i, (key, name)) in topics.iter().enumerate() {
        let earlier = topics[..i].iter().find(|(_, other)| other == name);
        if let Some((other_key, _)) = earlier {
            issues.push(key, format!("topic `{name}` is also used by {other_key}"));
            continue;
        }
        let folded = name.replace('.', "_");
        let colliding = topics[..i]
            .iter()
            .find(|(_, other)| other.replace('.', "_") == folded);
        if let Some((other_key, other)) = colliding {
            issues.push(
                key,
                format!(
                    "topic `{name}` collides with `{other}` ({other_key}): Kafka treats `.` and `_` alike"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_rules_follow_kafka() {
        assert_eq!(topic_problem("agent.requests-v1_x", 249), None);
        assert!(topic_problem("", 249).is_some());
        assert!(topic_problem(".", 249).is_some());
        assert!(topic_problem("..", 249).is_some());
        assert!(topic_problem("has space", 249).is_some());
        assert!(topic_problem("slash/name", 249).is_some());
        assert!(topic_problem(&"a".repeat(249), 249).is_none());
        assert!(topic_problem(&"a".repeat(250), 249).is_some());
    }

    #[test]
    fn env_var_names_use_double_underscores() {
        assert_eq!(
            env_var_name("AUTOGEN_KAFKA_", "runtime.rpc_timeout_ms"),
            "AUTOGEN_KAFKA_RUNTIME__RPC_TIMEOUT_MS"
        );
        assert_eq!(
            env_var_name("APP_", "kafka.librdkafka.socket.keepalive.enable"),
            "APP_KAFKA__LIBRDKAFKA__SOCKET_KEEPALIVE_ENABLE"
        );
    }

    #[test]
    fn duplicate_and_colliding_topics_are_reported_once_each() {
        let mut issues = Issues::new("P_");
        distinct_topics(
            &mut issues,
            &[("a", "x.y"), ("b", "z"), ("c", "z"), ("d", "x_y")],
        );
        let issues = issues.into_vec();
        assert_eq!(issues.len(), 2);
        assert_eq!(issues[0].key, "c");
        assert!(issues[0].message.contains("also used by b"));
        assert_eq!(issues[1].key, "d");
        assert!(issues[1].message.contains("collides with `x.y`"));
    }
}

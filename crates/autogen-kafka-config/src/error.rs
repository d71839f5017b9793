//! [`ConfigError`]: everything that can go wrong while loading or validating a config.

use std::fmt;
use std::path::PathBuf;

use crate::load::FileFormat;

/// `Result` with [`ConfigError`] as the default error.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// A boxed parser error (TOML, YAML or JSON), kept as the source of [`ConfigError::ParseFile`].
pub type ParseError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a config could not be loaded, or why a loaded config is unusable.
///
/// Variants are named after the operation that failed. Loading errors say where the bad value
/// came from (file path, environment variable); validation reports every problem at once.
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::{Config, ConfigError};
///
/// let err = Config::default().validate().unwrap_err();
/// let ConfigError::Validate { issues } = &err else { panic!("{err}") };
/// assert!(issues.iter().any(|i| i.key == "kafka.bootstrap_servers"
///     && i.env_var == "AUTOGEN_KAFKA_KAFKA__BOOTSTRAP_SERVERS"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An explicitly requested config file does not exist.
    #[error("config file {} does not exist", path.display())]
    FileNotFound {
        /// The path that was asked for.
        path: PathBuf,
    },

    /// A config file exists but could not be read.
    #[error("cannot read config file {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },

    /// The file's extension is not one of `.toml`, `.yaml`, `.yml`, `.json`.
    #[error(
        "cannot tell the format of config file {}: use a .toml, .yaml, .yml or .json extension",
        path.display()
    )]
    UnsupportedFileFormat {
        /// The file.
        path: PathBuf,
    },

    /// A config file is not valid TOML/YAML/JSON, or its top level is not a table/mapping.
    #[error("cannot parse {format} config file {}{}", path.display(), Location(*line, *column))]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The format chosen from the extension.
        format: FileFormat,
        /// One-based line of the error, when the parser reports it.
        line: Option<usize>,
        /// One-based column of the error, when the parser reports it.
        column: Option<usize>,
        /// The parser's error.
        #[source]
        source: ParseError,
    },

    /// A value in a config file has the wrong type or an unknown key was found.
    #[error("invalid value for `{key}` in config file {}", path.display())]
    InvalidFileValue {
        /// The file the value came from.
        path: PathBuf,
        /// The key path, e.g. `kafka.num_partitions`.
        key: String,
        /// What was wrong.
        #[source]
        source: Box<figment::Error>,
    },

    /// An environment variable holds a value of the wrong type, or names an unknown key.
    #[error("invalid value for `{key}` in environment variable {var}")]
    InvalidEnvValue {
        /// The variable, e.g. `AUTOGEN_KAFKA_KAFKA__NUM_PARTITIONS`.
        var: String,
        /// The key path it sets.
        key: String,
        /// What was wrong.
        #[source]
        source: Box<figment::Error>,
    },

    /// A value set through [`ConfigBuilder`](crate::ConfigBuilder) has the wrong type or key.
    #[error("invalid value for `{key}`")]
    InvalidValue {
        /// The key path.
        key: String,
        /// What was wrong.
        #[source]
        source: Box<figment::Error>,
    },

    /// The config loaded but is not usable; every problem found is listed.
    #[error("invalid configuration ({} problem(s)):{}", issues.len(), IssueList(issues))]
    Validate {
        /// Every problem, in key order of the config sections.
        issues: Vec<ValidationIssue>,
    },
}

impl ConfigError {
    /// The validation problems, or an empty slice for other errors.
    #[must_use]
    pub fn issues(&self) -> &[ValidationIssue] {
        match self {
            Self::Validate { issues } => issues,
            _ => &[],
        }
    }

    /// The key path the error is about, when there is exactly one.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::InvalidFileValue { key, .. }
            | Self::InvalidEnvValue { key, .. }
            | Self::InvalidValue { key, .. } => Some(key),
            Self::Validate { issues } if issues.len() == 1 => Some(&issues[0].key),
            _ => None,
        }
    }
}

/// One problem found by [`Config::validate`](crate::Config::validate).
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::Config;
///
/// let mut config = Config::default();
/// config.kafka.bootstrap_servers = vec!["localhost:9092".into()];
/// config.kafka.group_id = "workers".into();
/// config.kafka.num_partitions = 0;
/// let err = config.validate().unwrap_err();
/// let issue = &err.issues()[0];
/// assert_eq!(issue.key, "kafka.num_partitions");
/// assert_eq!(issue.env_var, "AUTOGEN_KAFKA_KAFKA__NUM_PARTITIONS");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidationIssue {
    /// The key path as written in a config file, e.g. `kafka.bootstrap_servers`.
    pub key: String,
    /// The environment variable that sets this key, e.g. `AUTOGEN_KAFKA_KAFKA__BOOTSTRAP_SERVERS`.
    pub env_var: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (env {})", self.key, self.message, self.env_var)
    }
}

/// Renders `, at line L, column C` when known.
struct Location(Option<usize>, Option<usize>);

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(line), Some(column)) => write!(f, " at line {line}, column {column}"),
            (Some(line), None) => write!(f, " at line {line}"),
            _ => Ok(()),
        }
    }
}

/// Renders issues one per line.
struct IssueList<'a>(&'a [ValidationIssue]);

impl fmt::Display for IssueList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for issue in self.0 {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<ConfigError>();
        assert!(std::mem::size_of::<ConfigError>() <= 128);
    }

    #[test]
    fn validation_display_lists_every_issue() {
        let issue = |key: &str| ValidationIssue {
            key: key.into(),
            env_var: format!("ENV_{key}"),
            message: "bad".into(),
        };
        let err = ConfigError::Validate {
            issues: vec![issue("a.b"), issue("c.d")],
        };
        let text = err.to_string();
        assert!(text.contains("2 problem(s)"), "{text}");
        assert!(text.contains("\n  - a.b: bad (env ENV_a.b)"), "{text}");
        assert!(text.contains("\n  - c.d: bad (env ENV_c.d)"), "{text}");
        assert_eq!(err.key(), None);
    }

    #[test]
    fn parse_error_shows_location_when_known() {
        let err = ConfigError::ParseFile {
            path: "c.yaml".into(),
            format: FileFormat::Yaml,
            line: Some(3),
            column: Some(7),
            source: "boom".into(),
        };
        assert_eq!(
            err.to_string(),
            "cannot parse YAML config file c.yaml at line 3, column 7"
        );
    }
}

//! [`ConfigBuilder`]: choose the sources and set values in code.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::value::Value;
use serde::Serialize;

use crate::config::Config;
use crate::de::duration_ms::to_ms;
use crate::error::{ConfigError, Result};
use crate::kafka::{AutoOffsetReset, SaslMechanism, SecurityProtocol};
use crate::load::{DEFAULT_ENV_PREFIX, Loader};
use crate::secret::Secret;
use crate::serialization::SerializationFormat;

/// Builds a [`Config`] from layered sources, lowest precedence first:
///
/// 1. the defaults ([`Config::default`]);
/// 2. the file given to [`file`](Self::file), if any;
/// 3. `KAFKA_BOOTSTRAP_SERVERS` (sets `kafka.bootstrap_servers`);
/// 4. `AUTOGEN_KAFKA_*` environment variables (prefix set by [`env_prefix`](Self::env_prefix));
/// 5. values set on this builder, which win: what the code asks for is what it gets.
///
/// [`without_env`](Self::without_env) skips 3 and 4. [`build`](Self::build) validates.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_config::{Config, SecurityProtocol, SaslMechanism};
///
/// # fn main() -> Result<(), autogen_kafka_config::ConfigError> {
/// let config = Config::builder()
///     .without_env()
///     .bootstrap_servers(["broker-1:9092", "broker-2:9092"])
///     .group_id("worker-1")
///     .security_protocol(SecurityProtocol::SaslSsl)
///     .sasl_mechanism(SaslMechanism::Plain)
///     .sasl_credentials("api-key", "api-secret")
///     .schema_registry_url("https://registry.example.com")
///     .rpc_timeout(Duration::from_secs(5))
///     .set("streaming.linger_ms", 0)
///     .librdkafka("socket.keepalive.enable", "true")
///     .build()?;
/// assert_eq!(config.runtime.rpc_timeout, Duration::from_secs(5));
/// assert!(!format!("{config:?}").contains("api-secret"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct ConfigBuilder {
    file: Option<PathBuf>,
    env_prefix: Option<String>,
    values: Vec<(Vec<String>, Value)>,
    /// The first `set` whose value could not be converted: reported by `build`.
    deferred: Option<(String, figment::Error)>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may hold secrets: show only which keys are set.
        let keys: Vec<String> = self.values.iter().map(|(path, _)| path.join(".")).collect();
        f.debug_struct("ConfigBuilder")
            .field("file", &self.file)
            .field("env_prefix", &self.env_prefix)
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// A builder reading the environment with the default prefix `AUTOGEN_KAFKA_`, no file.
    pub fn new() -> Self {
        Self {
            file: None,
            env_prefix: Some(DEFAULT_ENV_PREFIX.to_owned()),
            values: Vec::new(),
            deferred: None,
        }
    }

    /// Reads this TOML, YAML or JSON file (by extension). It must exist.
    pub fn file(mut self, path: impl AsRef<Path>) -> Self {
        self.file = Some(path.as_ref().to_owned());
        self
    }

    /// Reads environment variables starting with `prefix` instead of `AUTOGEN_KAFKA_` (a
    /// trailing `_` is added if missing). Validation errors name variables with this prefix.
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into().to_ascii_uppercase();
        if !prefix.ends_with('_') {
            prefix.push('_');
        }
        self.env_prefix = Some(prefix);
        self
    }

    /// Ignores the environment (`AUTOGEN_KAFKA_*` and `KAFKA_BOOTSTRAP_SERVERS`).
    pub fn without_env(mut self) -> Self {
        self.env_prefix = None;
        self
    }

    /// Sets any key by its dotted path as written in a file (`"streaming.linger_ms"`,
    /// `"runtime.publish_topic"`). Use [`librdkafka`](Self::librdkafka) for librdkafka
    /// properties, whose names contain dots. A value that cannot be represented is reported by
    /// [`build`](Self::build).
    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        match Value::serialize(value) {
            Ok(value) => self.push(key.split('.').map(str::to_owned).collect(), value),
            Err(error) => {
                if self.deferred.is_none() {
                    self.deferred = Some((key.to_owned(), error));
                }
            }
        }
        self
    }

    fn push(&mut self, path: Vec<String>, value: Value) {
        self.values.push((path, value));
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.push(key.split('.').map(str::to_owned).collect(), value.into());
        self
    }

    /// `kafka.name`.
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with("kafka.name", name.into())
    }

    /// `kafka.group_id`: the consumer group prefix, unique per runtime instance.
    pub fn group_id(self, group_id: impl Into<String>) -> Self {
        self.with("kafka.group_id", group_id.into())
    }

    /// `kafka.client_id`.
    pub fn client_id(self, client_id: impl Into<String>) -> Self {
        self.with("kafka.client_id", client_id.into())
    }

    /// `kafka.bootstrap_servers` (entries may also be comma-separated lists).
    pub fn bootstrap_servers<I, S>(self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let servers: Vec<Value> = servers.into_iter().map(|s| Value::from(s.into())).collect();
        self.with("kafka.bootstrap_servers", servers)
    }

    /// `kafka.num_partitions`.
    pub fn num_partitions(self, partitions: u32) -> Self {
        self.with("kafka.num_partitions", partitions)
    }

    /// `kafka.replication_factor`.
    pub fn replication_factor(self, factor: u16) -> Self {
        self.with("kafka.replication_factor", factor)
    }

    /// `kafka.auto_offset_reset`.
    pub fn auto_offset_reset(self, reset: AutoOffsetReset) -> Self {
        self.with("kafka.auto_offset_reset", reset.as_str())
    }

    /// `kafka.security.protocol`.
    pub fn security_protocol(self, protocol: SecurityProtocol) -> Self {
        self.with("kafka.security.protocol", protocol.as_str())
    }

    /// `kafka.security.sasl_mechanism`.
    pub fn sasl_mechanism(self, mechanism: SaslMechanism) -> Self {
        self.with("kafka.security.sasl_mechanism", mechanism.as_str())
    }

    /// `kafka.security.sasl_username` and `kafka.security.sasl_password`.
    pub fn sasl_credentials(
        self,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        let password = password.into();
        self.with("kafka.security.sasl_username", username.into())
            .with("kafka.security.sasl_password", password.expose())
    }

    /// `kafka.schema_registry.url`.
    pub fn schema_registry_url(self, url: impl Into<String>) -> Self {
        self.with("kafka.schema_registry.url", url.into())
    }

    /// `kafka.schema_registry.username` and `kafka.schema_registry.password` (API key/secret).
    pub fn schema_registry_credentials(
        self,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        let password = password.into();
        self.with("kafka.schema_registry.username", username.into())
            .with("kafka.schema_registry.password", password.expose())
    }

    /// One `kafka.librdkafka` passthrough property, e.g. `("socket.keepalive.enable", "true")`.
    pub fn librdkafka(mut self, property: impl Into<String>, value: impl Into<String>) -> Self {
        let path = vec!["kafka".to_owned(), "librdkafka".to_owned(), property.into()];
        self.push(path, Value::from(value.into()));
        self
    }

    /// `serialization.format`.
    pub fn serialization_format(self, format: SerializationFormat) -> Self {
        self.with("serialization.format", format.as_str())
    }

    /// `runtime.rpc_timeout_ms`.
    pub fn rpc_timeout(self, timeout: Duration) -> Self {
        self.with("runtime.rpc_timeout_ms", to_ms(timeout))
    }

    /// Loads every source, merges them and validates the result.
    ///
    /// # Errors
    ///
    /// [`ConfigError::FileNotFound`], [`ConfigError::ReadFile`],
    /// [`ConfigError::UnsupportedFileFormat`] or [`ConfigError::ParseFile`] for the file;
    /// [`ConfigError::InvalidFileValue`], [`ConfigError::InvalidEnvValue`] or
    /// [`ConfigError::InvalidValue`] for an unknown key or a value of the wrong type, naming
    /// where it came from; [`ConfigError::Validate`] listing every problem of the result.
    pub fn build(self) -> Result<Config> {
        if let Some((key, error)) = self.deferred {
            return Err(ConfigError::InvalidValue {
                key,
                source: Box::new(error),
            });
        }
        let loader = Loader {
            file: self.file,
            env_prefix: self.env_prefix,
            builder: self.values,
        };
        let config = loader.extract()?;
        config.validate_with_prefix(loader.env_prefix.as_deref().unwrap_or(DEFAULT_ENV_PREFIX))?;
        tracing::debug!(?config, "configuration loaded");
        Ok(config)
    }
}

//! The `kafka` section: brokers, identity, topic defaults, security and the Schema Registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::de::{self, string_enum};
use crate::properties::ClientProperties;
use crate::secret::Secret;
use crate::validate::Issues;

string_enum! {
    /// Where a consumer starts when its group has no committed offset (`auto.offset.reset`).
    pub enum AutoOffsetReset {
        /// Start from the oldest record (`earliest`; `smallest` and `beginning` are accepted).
        Earliest = "earliest" | "smallest" | "beginning",
        /// Start after the newest record (`latest`; `largest` and `end` are accepted). Python's default.
        #[default]
        Latest = "latest" | "largest" | "end",
    }
}

string_enum! {
    /// How clients talk to the brokers (`security.protocol`).
    pub enum SecurityProtocol {
        /// No TLS, no authentication. The default.
        #[default]
        Plaintext = "PLAINTEXT",
        /// TLS, no SASL.
        Ssl = "SSL",
        /// SASL authentication without TLS.
        SaslPlaintext = "SASL_PLAINTEXT",
        /// SASL authentication over TLS (Confluent Cloud).
        SaslSsl = "SASL_SSL",
    }
}

impl SecurityProtocol {
    /// Whether the protocol authenticates with SASL.
    #[must_use]
    pub const fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    /// Whether the protocol encrypts with TLS.
    #[must_use]
    pub const fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// The value librdkafka expects (`sasl_ssl`, ...).
    #[must_use]
    pub const fn librdkafka_value(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }
}

string_enum! {
    /// The SASL mechanism (`sasl.mechanism`).
    pub enum SaslMechanism {
        /// Username and password in clear text (inside TLS with `SASL_SSL`). The default.
        #[default]
        Plain = "PLAIN",
        /// SCRAM with SHA-256.
        ScramSha256 = "SCRAM-SHA-256" | "SCRAM_SHA_256",
        /// SCRAM with SHA-512.
        ScramSha512 = "SCRAM-SHA-512" | "SCRAM_SHA_512",
    }
}

/// The `kafka` section: how to reach the cluster and the defaults for the topics we create.
///
/// Field names are the Python original's. A Python file's flat security keys
/// (`security_protocol`, `security_mechanism`/`sasl_mechanism`, `sasl_plain_username`,
/// `sasl_plain_password`) are accepted by the loader and land in [`KafkaConfig::security`].
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::KafkaConfig;
///
/// let mut kafka = KafkaConfig::default();
/// kafka.bootstrap_servers = vec!["broker-1:9092".into(), "broker-2:9092".into()];
/// kafka.librdkafka.insert("socket.keepalive.enable".into(), "true".into());
/// let props = kafka.client_properties();
/// assert_eq!(props.get("bootstrap.servers"), Some("broker-1:9092,broker-2:9092"));
/// assert_eq!(props.get("socket.keepalive.enable"), Some("true"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct KafkaConfig {
    /// A name for this deployment; services name their streams `<name>_<Service>`.
    /// Default `autogen-kafka`.
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    /// Consumer group prefix. Required. Every Rust runtime of a fleet uses the same one: replicas
    /// of an agent type share its group `<group_id>.agent.<type>`, and broadcast topics are read
    /// without a group. A Python runtime (groups `<group_id>_<Service>`) needs its own, or
    /// Python instances split broadcast topics between them.
    #[serde(deserialize_with = "de::string")]
    pub group_id: String,
    /// Client id prefix (`client.id`). Default `autogen-kafka`.
    #[serde(deserialize_with = "de::string")]
    pub client_id: String,
    /// `host:port` of one or more brokers. Required. Files may give a list or one
    /// comma-separated string.
    #[serde(deserialize_with = "de::list")]
    pub bootstrap_servers: Vec<String>,
    /// Partitions of the topics we create. Default 3.
    #[serde(deserialize_with = "de::number")]
    pub num_partitions: u32,
    /// Replication factor of the topics we create (capped at the broker count). Default 1, as
    /// Python's constructors; note that Python's `from_dict` uses 3 (upstream defect D7).
    #[serde(deserialize_with = "de::number")]
    pub replication_factor: u16,
    /// Create topics with `cleanup.policy=compact` instead of `delete`. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub is_compacted: bool,
    /// Where new consumer groups start. Default `latest`.
    pub auto_offset_reset: AutoOffsetReset,
    /// TLS and SASL settings.
    pub security: SecurityConfig,
    /// Schema Registry connection (also accepted as a top-level `schema_registry` section).
    pub schema_registry: SchemaRegistryConfig,
    /// Deadline of one broker request: producer `request.timeout.ms` and admin operations.
    /// Written `request_timeout_ms`. Default 30 s.
    #[serde(rename = "request_timeout_ms", with = "de::duration_ms")]
    pub request_timeout: Duration,
    /// Client-side deadline of every other broker request (`socket.timeout.ms`). An answer lost
    /// to a half-open connection or a broker outage holds its request this long; the group
    /// coordinator lookup is one such request, so a consumer may stay out of its group as long.
    /// Must exceed `streaming.fetch_wait_max_ms` by at least 1 s. Written `socket_timeout_ms`.
    /// Default 10 s (librdkafka's own is 60 s).
    #[serde(rename = "socket_timeout_ms", with = "de::duration_ms")]
    pub socket_timeout: Duration,
    /// Raw librdkafka properties, applied last so they win over everything derived above.
    #[serde(deserialize_with = "de::text_map")]
    pub librdkafka: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            name: "autogen-kafka".to_owned(),
            group_id: String::new(),
            client_id: "autogen-kafka".to_owned(),
            bootstrap_servers: Vec::new(),
            num_partitions: 3,
            replication_factor: 1,
            is_compacted: false,
            auto_offset_reset: AutoOffsetReset::Latest,
            security: SecurityConfig::default(),
            schema_registry: SchemaRegistryConfig::default(),
            request_timeout: Duration::from_secs(30),
            socket_timeout: Duration::from_secs(10),
            librdkafka: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// The librdkafka properties every client (consumer, producer, admin) needs:
    /// `bootstrap.servers`, `client.id`, `security.protocol`, `sasl.*` (SASL protocols only),
    /// `ssl.*` (TLS protocols only), then the [`librdkafka`](Self::librdkafka) passthrough, which
    /// wins. The result's `Debug`/`Display` redact secrets.
    #[must_use]
    pub fn client_properties(&self) -> ClientProperties {
        let mut props = self.base_properties();
        props.merge(self.librdkafka.clone());
        props
    }

    /// [`client_properties`](Self::client_properties) without the passthrough.
    pub(crate) fn base_properties(&self) -> ClientProperties {
        let mut props = ClientProperties::new();
        props.insert("bootstrap.servers", self.bootstrap_servers.join(","));
        props.insert("client.id", self.client_id.as_str());
        props.insert(
            "socket.timeout.ms",
            de::duration_ms::to_ms(self.socket_timeout).to_string(),
        );
        let security = &self.security;
        props.insert("security.protocol", security.protocol.librdkafka_value());
        if security.protocol.uses_sasl() {
            props.insert("sasl.mechanism", security.sasl_mechanism.as_str());
            if let Some(username) = &security.sasl_username {
                props.insert("sasl.username", username.as_str());
            }
            if let Some(password) = &security.sasl_password {
                props.insert("sasl.password", password.expose());
            }
        }
        if security.protocol.uses_tls() {
            let files = [
                ("ssl.ca.location", &security.ssl_ca_location),
                (
                    "ssl.certificate.location",
                    &security.ssl_certificate_location,
                ),
                ("ssl.key.location", &security.ssl_key_location),
            ];
            for (key, path) in files {
                if let Some(path) = path {
                    props.insert(key, path.to_string_lossy());
                }
            }
            if let Some(password) = &security.ssl_key_password {
                props.insert("ssl.key.password", password.expose());
            }
        }
        props
    }

    /// The topic `cleanup.policy` to create topics with: `compact` or `delete`.
    #[must_use]
    pub fn cleanup_policy(&self) -> &'static str {
        if self.is_compacted {
            "compact"
        } else {
            "delete"
        }
    }

    pub(crate) fn check(&self, issues: &mut Issues) {
        issues.non_empty("kafka.name", &self.name);
        if self.group_id.trim().is_empty() {
            issues.push(
                "kafka.group_id",
                "must be set; every Rust runtime of a fleet uses the same group id (replicas share their agent types' groups), and each Python runtime needs its own",
            );
        }
        issues.non_empty("kafka.client_id", &self.client_id);
        if self.bootstrap_servers.is_empty() {
            issues.push(
                "kafka.bootstrap_servers",
                "must list at least one broker as host:port; KAFKA_BOOTSTRAP_SERVERS also sets it",
            );
        }
        for server in &self.bootstrap_servers {
            if !is_host_port(server) {
                issues.push(
                    "kafka.bootstrap_servers",
                    format!("`{server}` is not host:port"),
                );
            }
        }
        issues.at_least_one("kafka.num_partitions", self.num_partitions.into());
        issues.at_least_one("kafka.replication_factor", self.replication_factor.into());
        issues.positive_duration("kafka.request_timeout_ms", self.request_timeout);
        issues.positive_duration("kafka.socket_timeout_ms", self.socket_timeout);
        if self.librdkafka.keys().any(|k| k.trim().is_empty()) {
            issues.push("kafka.librdkafka", "property names must not be empty");
        }
        self.security.check(issues);
        self.schema_registry.check(issues);
    }
}

/// Whether `server` looks like `host:port` (IPv6 as `[::1]:9092`; an optional `scheme://`).
fn is_host_port(server: &str) -> bool {
    let server = server.split_once("://").map_or(server, |(_, rest)| rest);
    match server.rsplit_once(':') {
        Some((host, port)) => !host.trim().is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

/// TLS and SASL settings of [`KafkaConfig`] (`kafka.security`).
///
/// In a Python-style file the same settings are flat keys of the `kafka` section; the loader
/// moves them here. Aliases accepted inside this section: `security_protocol` for `protocol`,
/// `security_mechanism` for `sasl_mechanism`, `sasl_plain_username`/`sasl_plain_password` for
/// `sasl_username`/`sasl_password`, `ssl_cert_location` for `ssl_certificate_location`.
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::{KafkaConfig, SecurityProtocol, Secret};
///
/// let mut kafka = KafkaConfig::default();
/// kafka.security.protocol = SecurityProtocol::SaslSsl;
/// kafka.security.sasl_username = Some("api-key".into());
/// kafka.security.sasl_password = Some(Secret::new("api-secret"));
/// let props = kafka.client_properties();
/// assert_eq!(props.get("sasl.password"), Some("api-secret"));
/// assert!(!format!("{props:?}").contains("api-secret"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SecurityConfig {
    /// `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    #[serde(alias = "security_protocol")]
    pub protocol: SecurityProtocol,
    /// `PLAIN` (default), `SCRAM-SHA-256` or `SCRAM-SHA-512`; used with SASL protocols.
    #[serde(alias = "security_mechanism")]
    pub sasl_mechanism: SaslMechanism,
    /// SASL username (Confluent Cloud: the API key).
    #[serde(
        alias = "sasl_plain_username",
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub sasl_username: Option<String>,
    /// SASL password (Confluent Cloud: the API secret).
    #[serde(alias = "sasl_plain_password", skip_serializing_if = "Option::is_none")]
    pub sasl_password: Option<Secret>,
    /// CA bundle to verify the brokers (`probe` = the system store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_ca_location: Option<PathBuf>,
    /// Client certificate for mutual TLS. Alias `ssl_cert_location`.
    #[serde(alias = "ssl_cert_location", skip_serializing_if = "Option::is_none")]
    pub ssl_certificate_location: Option<PathBuf>,
    /// Client private key for mutual TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_key_location: Option<PathBuf>,
    /// Passphrase of the private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_key_password: Option<Secret>,
}

impl SecurityConfig {
    fn check(&self, issues: &mut Issues) {
        if self.protocol.uses_sasl() {
            let missing = |s: Option<&str>| s.is_none_or(|s| s.trim().is_empty());
            if missing(self.sasl_username.as_deref()) {
                issues.push(
                    "kafka.security.sasl_username",
                    format!("required by security protocol {}", self.protocol),
                );
            }
            if missing(self.sasl_password.as_ref().map(Secret::expose)) {
                issues.push(
                    "kafka.security.sasl_password",
                    format!("required by security protocol {}", self.protocol),
                );
            }
        }
        check_tls_files(
            issues,
            "kafka.security",
            self.ssl_ca_location.as_deref(),
            self.ssl_certificate_location.as_deref(),
            self.ssl_key_location.as_deref(),
        );
    }
}

/// Files must exist; a certificate needs its key and the other way round.
fn check_tls_files(
    issues: &mut Issues,
    section: &str,
    ca: Option<&Path>,
    certificate: Option<&Path>,
    key: Option<&Path>,
) {
    issues.existing_file(&format!("{section}.ssl_ca_location"), ca);
    issues.existing_file(&format!("{section}.ssl_certificate_location"), certificate);
    issues.existing_file(&format!("{section}.ssl_key_location"), key);
    match (certificate, key) {
        (Some(_), None) => issues.push(
            &format!("{section}.ssl_key_location"),
            "required when ssl_certificate_location is set",
        ),
        (None, Some(_)) => issues.push(
            &format!("{section}.ssl_certificate_location"),
            "required when ssl_key_location is set",
        ),
        _ => {}
    }
}

/// Schema Registry connection (`kafka.schema_registry`, or a top-level `schema_registry`
/// section as in Python files).
///
/// Accepted aliases: `api_key` for `username`, `api_secret` for `password`, `ssl_cert_location`
/// for `ssl_certificate_location`. Credentials are sent as HTTP basic auth
/// ([`basic_auth_user_info`](Self::basic_auth_user_info)).
///
/// # Examples
///
/// ```
/// use autogen_kafka_config::{SchemaRegistryConfig, Secret};
///
/// let mut registry = SchemaRegistryConfig::default();
/// assert_eq!(registry.url, "http://localhost:8081");
/// registry.username = Some("key".into());
/// registry.password = Some(Secret::new("secret"));
/// assert_eq!(registry.basic_auth_user_info().unwrap().expose(), "key:secret");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SchemaRegistryConfig {
    /// Base URL, `http://` or `https://`. Default `http://localhost:8081` (Python's default).
    #[serde(deserialize_with = "de::string")]
    pub url: String,
    /// Basic-auth user (Confluent Cloud: the API key). Alias `api_key`.
    #[serde(
        alias = "api_key",
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub username: Option<String>,
    /// Basic-auth password (Confluent Cloud: the API secret). Alias `api_secret`.
    #[serde(alias = "api_secret", skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// CA bundle to verify the registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_ca_location: Option<PathBuf>,
    /// Client certificate for mutual TLS. Alias `ssl_cert_location`.
    #[serde(alias = "ssl_cert_location", skip_serializing_if = "Option::is_none")]
    pub ssl_certificate_location: Option<PathBuf>,
    /// Client private key for mutual TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_key_location: Option<PathBuf>,
    /// Deadline of one registry HTTP request. Written `request_timeout_ms`. Default 10 s.
    #[serde(rename = "request_timeout_ms", with = "de::duration_ms")]
    pub request_timeout: Duration,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        Self {
            url: "http://localhost:8081".to_owned(),
            username: None,
            password: None,
            ssl_ca_location: None,
            ssl_certificate_location: None,
            ssl_key_location: None,
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl SchemaRegistryConfig {
    /// `username:password` for HTTP basic auth (`basic.auth.user.info`), when both are set.
    #[must_use]
    pub fn basic_auth_user_info(&self) -> Option<Secret> {
        match (&self.username, &self.password) {
            (Some(user), Some(password)) => {
                Some(Secret::new(format!("{user}:{}", password.expose())))
            }
            _ => None,
        }
    }

    fn check(&self, issues: &mut Issues) {
        match (&self.username, &self.password) {
            (Some(_), None) => issues.push(
                "kafka.schema_registry.password",
                "required when a username (api_key) is set",
            ),
            (None, Some(_)) => issues.push(
                "kafka.schema_registry.username",
                "required when a password (api_secret) is set",
            ),
            _ => {}
        }
        issues.positive_duration(
            "kafka.schema_registry.request_timeout_ms",
            self.request_timeout,
        );
        check_tls_files(
            issues,
            "kafka.schema_registry",
            self.ssl_ca_location.as_deref(),
            self.ssl_certificate_location.as_deref(),
            self.ssl_key_location.as_deref(),
        );
    }

    /// Records a problem when the URL is not `http(s)://host...`.
    pub(crate) fn check_url(&self, issues: &mut Issues, why: &str) {
        let rest = self
            .url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"));
        match rest {
            Some(rest) if !rest.trim().is_empty() && !rest.starts_with('/') => {}
            _ => issues.push(
                "kafka.schema_registry.url",
                format!(
                    "`{}` is not an http:// or https:// URL, and {why}",
                    self.url
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_python_original() {
        let kafka = KafkaConfig::default();
        assert_eq!(kafka.name, "autogen-kafka");
        assert_eq!(kafka.num_partitions, 3);
        assert_eq!(kafka.replication_factor, 1);
        assert!(!kafka.is_compacted);
        assert_eq!(kafka.cleanup_policy(), "delete");
        assert_eq!(kafka.auto_offset_reset, AutoOffsetReset::Latest);
        assert_eq!(kafka.security.protocol, SecurityProtocol::Plaintext);
        assert_eq!(kafka.security.sasl_mechanism, SaslMechanism::Plain);
        assert_eq!(kafka.schema_registry.url, "http://localhost:8081");
    }

    #[test]
    fn plaintext_properties_carry_no_security_settings() {
        let mut kafka = KafkaConfig {
            bootstrap_servers: vec!["a:1".into(), "b:2".into()],
            ..KafkaConfig::default()
        };
        kafka.security.sasl_username = Some("ignored".into());
        kafka.security.ssl_ca_location = Some("ca.pem".into());
        let props = kafka.client_properties();
        assert_eq!(props.get("bootstrap.servers"), Some("a:1,b:2"));
        assert_eq!(props.get("client.id"), Some("autogen-kafka"));
        assert_eq!(props.get("security.protocol"), Some("plaintext"));
        assert_eq!(props.get("sasl.username"), None);
        assert_eq!(props.get("ssl.ca.location"), None);
    }

    #[test]
    fn sasl_ssl_properties_and_passthrough_wins() {
        let mut kafka = KafkaConfig {
            bootstrap_servers: vec!["a:1".into()],
            ..KafkaConfig::default()
        };
        kafka.security.protocol = SecurityProtocol::SaslSsl;
        kafka.security.sasl_mechanism = SaslMechanism::ScramSha512;
        kafka.security.sasl_username = Some("user".into());
        kafka.security.sasl_password = Some(Secret::new("pass-word-1"));
        kafka.security.ssl_ca_location = Some("/etc/ca.pem".into());
        kafka.security.ssl_key_password = Some(Secret::new("key-pass-2"));
        kafka
            .librdkafka
            .insert("client.id".into(), "override".into());
        let props = kafka.client_properties();
        assert_eq!(props.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(props.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(props.get("sasl.username"), Some("user"));
        assert_eq!(props.get("sasl.password"), Some("pass-word-1"));
        assert_eq!(props.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert_eq!(props.get("ssl.key.password"), Some("key-pass-2"));
        assert_eq!(props.get("client.id"), Some("override"));
        let logged = format!("{props:?} {props}");
        assert!(!logged.contains("pass-word-1"), "{logged}");
        assert!(!logged.contains("key-pass-2"), "{logged}");
    }

    #[test]
    fn host_port_check() {
        assert!(is_host_port("localhost:9092"));
        assert!(is_host_port("[::1]:9092"));
        assert!(is_host_port("PLAINTEXT://broker:9092"));
        assert!(!is_host_port("localhost"));
        assert!(!is_host_port(":9092"));
        assert!(!is_host_port("host:port"));
    }

    #[test]
    fn enums_parse_case_insensitively_with_aliases() {
        assert_eq!(
            SecurityProtocol::parse("sasl_ssl"),
            Some(SecurityProtocol::SaslSsl)
        );
        assert_eq!(
            SaslMechanism::parse("scram_sha_256"),
            Some(SaslMechanism::ScramSha256)
        );
        assert_eq!(
            AutoOffsetReset::parse("smallest"),
            Some(AutoOffsetReset::Earliest)
        );
        assert_eq!(AutoOffsetReset::parse("none"), None);
        assert_eq!(
            SecurityProtocol::SaslPlaintext.to_string(),
            "SASL_PLAINTEXT"
        );
    }
}

//! Tests of loading: files, environment, precedence and error reporting.
//!
//! Every test that reads the environment or the working directory runs inside a `figment::Jail`
//! (which serializes them, and restores the environment afterwards) with the environment
//! cleared, so a developer's own `KAFKA_BOOTSTRAP_SERVERS` cannot leak in.

use std::time::Duration;

use figment::Jail;

use crate::kafka::{AutoOffsetReset, SaslMechanism, SecurityProtocol};
use crate::serialization::SerializationFormat;
use crate::{Config, ConfigError};

/// Runs `f` in a jail with an empty environment.
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closure's error type"
)]
fn jailed(f: impl FnOnce(&mut Jail)) {
    Jail::expect_with(|jail| {
        jail.clear_env();
        f(jail);
        Ok(())
    });
}

const MINIMAL_YAML: &str = "
kafka:
  bootstrap_servers: file-broker:9092
  group_id: file-group
";

#[test]
fn yaml_toml_and_json_files_load_the_same_config() {
    jailed(|jail| {
        jail.create_file(
            "c.yaml",
            "
kafka:
  bootstrap_servers: [a:9092, b:9092]
  group_id: g
  num_partitions: 6
  librdkafka:
    linger.ms: 5
runtime:
  rpc_timeout_ms: 1500
serialization:
  format: avro
",
        )
        .unwrap();
        jail.create_file(
            "c.toml",
            r#"
[kafka]
bootstrap_servers = ["a:9092", "b:9092"]
group_id = "g"
num_partitions = 6

[kafka.librdkafka]
"linger.ms" = 5

[runtime]
rpc_timeout_ms = 1500

[serialization]
format = "avro"
"#,
        )
        .unwrap();
        jail.create_file(
            "c.json",
            r#"{
  "kafka": {"bootstrap_servers": "a:9092,b:9092", "group_id": "g", "num_partitions": 6,
            "librdkafka": {"linger.ms": "5"}},
  "runtime": {"rpc_timeout_ms": 1500},
  "serialization": {"format": "avro"}
}"#,
        )
        .unwrap();

        let yaml = Config::from_file("c.yaml").unwrap();
        assert_eq!(yaml.kafka.bootstrap_servers, ["a:9092", "b:9092"]);
        assert_eq!(yaml.kafka.num_partitions, 6);
        assert_eq!(yaml.kafka.librdkafka["linger.ms"], "5");
        assert_eq!(yaml.runtime.rpc_timeout, Duration::from_millis(1500));
        assert_eq!(yaml.serialization.format, SerializationFormat::Avro);
        assert_eq!(Config::from_file("c.toml").unwrap(), yaml);
        assert_eq!(Config::from_file("c.json").unwrap(), yaml);
    });
}

#[test]
fn python_style_yaml_file_loads() {
    // The shape of the upstream samples (python/packages/exemple/sample.config.yml).
    jailed(|jail| {
        jail.create_file(
            "sample.config.yml",
            r#"
kafka:
    name: "simple_kafka"
    bootstrap_servers: "pkc-123.confluent.cloud:9092"
    group_id: "simple_group_abc"
    client_id: "simple_client_abc"
    sasl_plain_username: "SASLUSER"
    sasl_plain_password: "SASLPASS"
    security_protocol: "SASL_SSL"
    sasl_mechanism: "PLAIN"
    schema_registry:
        url: "https://psrc-123.confluent.cloud"
        api_key: "SRKEY"
        api_secret: "SRSECRET"
agent:
    request_topic: "simple_request_topic"
    response_topic: "simple_response_topic"
runtime:
    runtime_requests: "runtime_requests"
    runtime_responses: "runtime_responses"
    registry_topic: "agent_registry"
    subscription_topic: "agent_subscription"
    publish_topic: "publish"
"#,
        )
        .unwrap();
        let config = Config::from_file("sample.config.yml").unwrap();
        let kafka = &config.kafka;
        assert_eq!(kafka.name, "simple_kafka");
        assert_eq!(kafka.bootstrap_servers, ["pkc-123.confluent.cloud:9092"]);
        assert_eq!(kafka.group_id, "simple_group_abc");
        assert_eq!(kafka.client_id, "simple_client_abc");
        assert_eq!(kafka.security.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(kafka.security.sasl_mechanism, SaslMechanism::Plain);
        assert_eq!(kafka.security.sasl_username.as_deref(), Some("SASLUSER"));
        assert_eq!(
            kafka.security.sasl_password.as_ref().unwrap().expose(),
            "SASLPASS"
        );
        assert_eq!(
            kafka.schema_registry.url,
            "https://psrc-123.confluent.cloud"
        );
        assert_eq!(kafka.schema_registry.username.as_deref(), Some("SRKEY"));
        assert_eq!(
            kafka.schema_registry.password.as_ref().unwrap().expose(),
            "SRSECRET"
        );
        assert_eq!(config.agent.request_topic, "simple_request_topic");
        assert_eq!(config.runtime.subscription_topic, "agent_subscription");
        assert_eq!(config.runtime.publish_topic, "publish");
        assert_eq!(kafka.replication_factor, 1, "D7: not Python from_dict's 3");
    });
}

#[test]
fn python_top_level_schema_registry_and_aliases_load() {
    jailed(|jail| {
        jail.create_file(
            "py.json",
            r#"{
  "kafka": {"bootstrap_servers": ["k:9092"], "group_id": 42, "client_id": "c",
            "security_protocol": "SASL_PLAINTEXT", "security_mechanism": "SCRAM-SHA-256",
            "sasl_plain_username": "u", "sasl_plain_password": 1234,
            "auto_offset_reset": "earliest", "is_compacted": true},
  "schema_registry": {"url": "http://sr:8081", "username": "user", "password": "pw",
                      "ssl_cert_location": null},
  "runtime": {"request_topic": "reqs", "response_topic": "resps"},
  "memory": {"memory_topic": "mem"}
}"#,
        )
        .unwrap();
        let config = Config::from_file("py.json").unwrap();
        assert_eq!(config.kafka.group_id, "42");
        assert_eq!(
            config.kafka.security.sasl_mechanism,
            SaslMechanism::ScramSha256
        );
        assert_eq!(
            config
                .kafka
                .security
                .sasl_password
                .as_ref()
                .unwrap()
                .expose(),
            "1234"
        );
        assert_eq!(config.kafka.auto_offset_reset, AutoOffsetReset::Earliest);
        assert!(config.kafka.is_compacted);
        assert_eq!(config.kafka.schema_registry.url, "http://sr:8081");
        assert_eq!(
            config.kafka.schema_registry.username.as_deref(),
            Some("user")
        );
        assert_eq!(config.runtime.runtime_requests, "reqs");
        assert_eq!(config.runtime.runtime_responses, "resps");
        assert_eq!(config.memory.topic("s"), "mem_s");
    });
}

#[test]
fn environment_overrides_the_file_with_nested_keys() {
    jailed(|jail| {
        jail.create_file(
            "c.yaml",
            "
kafka:
  bootstrap_servers: file-broker:9092
  group_id: file-group
  client_id: file-client
runtime:
  rpc_timeout_ms: 1000
  publish_topic: file-publish
",
        )
        .unwrap();
        jail.set_env("AUTOGEN_KAFKA_KAFKA__GROUP_ID", "env-group");
        jail.set_env("AUTOGEN_KAFKA_RUNTIME__RPC_TIMEOUT_MS", "2500");
        jail.set_env("AUTOGEN_KAFKA_STREAMING__ENABLE_IDEMPOTENCE", "false");
        jail.set_env("AUTOGEN_KAFKA_STREAMING__ACKS", "1");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__SECURITY__PROTOCOL", "ssl");
        let config = Config::from_file("c.yaml").unwrap();
        assert_eq!(config.kafka.group_id, "env-group");
        assert_eq!(config.runtime.rpc_timeout, Duration::from_millis(2500));
        assert!(!config.streaming.enable_idempotence);
        assert_eq!(config.kafka.security.protocol, SecurityProtocol::Ssl);
        // Keys the environment does not set keep the file's values.
        assert_eq!(config.kafka.client_id, "file-client");
        assert_eq!(config.runtime.publish_topic, "file-publish");
        assert_eq!(config.kafka.bootstrap_servers, ["file-broker:9092"]);
    });
}

#[test]
fn a_layer_using_an_alias_overrides_one_using_the_canonical_key() {
    jailed(|jail| {
        jail.create_file(
            "c.yaml",
            "
kafka:
  bootstrap_servers: b:9092
  group_id: g
  security:
    protocol: SASL_SSL
    sasl_username: file-user
    sasl_password: file-pass
runtime:
  request_topic: file-requests
schema_registry:
  api_key: file-key
  api_secret: file-secret
",
        )
        .unwrap();
        jail.set_env("AUTOGEN_KAFKA_RUNTIME__RUNTIME_REQUESTS", "env-requests");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__SCHEMA_REGISTRY__USERNAME", "env-key");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__SASL_PLAIN_PASSWORD", "env-pass");
        let config = Config::from_file("c.yaml").unwrap();
        assert_eq!(config.runtime.runtime_requests, "env-requests");
        assert_eq!(
            config.kafka.schema_registry.username.as_deref(),
            Some("env-key")
        );
        assert_eq!(
            config
                .kafka
                .schema_registry
                .password
                .as_ref()
                .unwrap()
                .expose(),
            "file-secret"
        );
        assert_eq!(
            config
                .kafka
                .security
                .sasl_password
                .as_ref()
                .unwrap()
                .expose(),
            "env-pass"
        );
        assert_eq!(
            config.kafka.security.sasl_username.as_deref(),
            Some("file-user")
        );
    });
}

#[test]
fn within_one_file_the_canonical_key_wins_over_its_alias() {
    jailed(|jail| {
        jail.create_file(
            "c.yaml",
            "
kafka:
  bootstrap_servers: b:9092
  group_id: g
  schema_registry:
    api_key: alias-key
    username: canonical-key
    password: pw
",
        )
        .unwrap();
        let config = Config::from_file("c.yaml").unwrap();
        assert_eq!(
            config.kafka.schema_registry.username.as_deref(),
            Some("canonical-key")
        );
    });
}

#[test]
fn passivation_and_socket_timeout_come_from_the_environment() {
    jailed(|jail| {
        jail.set_env("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__GROUP_ID", "fleet");
        let defaults = Config::load().unwrap();
        assert_eq!(
            defaults.runtime.agent_idle_timeout,
            Duration::from_secs(900)
        );
        assert_eq!(defaults.runtime.max_active_agents, 0);
        assert_eq!(defaults.kafka.socket_timeout, Duration::from_secs(10));
        jail.set_env("AUTOGEN_KAFKA_RUNTIME__AGENT_IDLE_TIMEOUT_MS", "60000");
        jail.set_env("AUTOGEN_KAFKA_RUNTIME__MAX_ACTIVE_AGENTS", "50000");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__SOCKET_TIMEOUT_MS", "20000");
        let config = Config::load().unwrap();
        assert_eq!(config.runtime.agent_idle_timeout, Duration::from_secs(60));
        assert_eq!(config.runtime.max_active_agents, 50_000);
        assert_eq!(config.kafka.socket_timeout, Duration::from_secs(20));
    });
}

#[test]
fn the_instance_id_comes_from_the_environment_and_must_make_a_valid_reply_topic() {
    jailed(|jail| {
        jail.set_env("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__GROUP_ID", "fleet");
        jail.set_env("AUTOGEN_KAFKA_RUNTIME__INSTANCE_ID", "worker-0");
        let config = Config::load().unwrap();
        assert_eq!(config.runtime.instance_id.as_deref(), Some("worker-0"));
        assert_eq!(config.runtime.cleanup_grace, Duration::from_secs(300));
        jail.set_env("AUTOGEN_KAFKA_RUNTIME__INSTANCE_ID", "pod/0");
        let error = Config::load().unwrap_err().to_string();
        assert!(
            error.contains("runtime.instance_id")
                && error.contains("AUTOGEN_KAFKA_RUNTIME__INSTANCE_ID"),
            "{error}"
        );
    });
}

#[test]
fn numeric_looking_environment_values_stay_text() {
    jailed(|jail| {
        jail.set_env("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__GROUP_ID", "123");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__CLIENT_ID", "1.50");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__NAME", "true");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__SECURITY__PROTOCOL", "SASL_PLAINTEXT");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__SECURITY__SASL_USERNAME", "007");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__SECURITY__SASL_PASSWORD", "0123");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__NUM_PARTITIONS", "6");
        let config = Config::load().unwrap();
        assert_eq!(config.kafka.group_id, "123");
        assert_eq!(config.kafka.client_id, "1.50");
        assert_eq!(config.kafka.name, "true");
        assert_eq!(config.kafka.security.sasl_username.as_deref(), Some("007"));
        assert_eq!(
            config
                .kafka
                .security
                .sasl_password
                .as_ref()
                .unwrap()
                .expose(),
            "0123"
        );
        assert_eq!(config.kafka.num_partitions, 6);
    });
}

#[test]
fn python_single_underscore_variable_names_are_understood() {
    jailed(|jail| {
        jail.set_env("AUTOGEN_KAFKA_KAFKA_BOOTSTRAP_SERVERS", "a:1,b:2");
        jail.set_env("AUTOGEN_KAFKA_KAFKA_GROUP_ID", "py-group");
        jail.set_env("AUTOGEN_KAFKA_SCHEMA_REGISTRY_URL", "http://sr:8081");
        jail.set_env("AUTOGEN_KAFKA_SCHEMA_REGISTRY_API_KEY", "key");
        jail.set_env("AUTOGEN_KAFKA_SCHEMA_REGISTRY_API_SECRET", "secret");
        jail.set_env("AUTOGEN_KAFKA_RUNTIME_PUBLISH_TOPIC", "py-publish");
        jail.set_env("AUTOGEN_KAFKA_AGENT_REQUEST_TOPIC", "py-agent-req");
        jail.set_env("AUTOGEN_KAFKA_MEMORY_MEMORY_TOPIC", "py-memory");
        let config = Config::load().unwrap();
        assert_eq!(config.kafka.bootstrap_servers, ["a:1", "b:2"]);
        assert_eq!(config.kafka.group_id, "py-group");
        assert_eq!(config.kafka.schema_registry.url, "http://sr:8081");
        assert_eq!(
            config.kafka.schema_registry.username.as_deref(),
            Some("key")
        );
        assert_eq!(
            config
                .kafka
                .schema_registry
                .basic_auth_user_info()
                .unwrap()
                .expose(),
            "key:secret"
        );
        assert_eq!(config.runtime.publish_topic, "py-publish");
        assert_eq!(config.agent.request_topic, "py-agent-req");
        assert_eq!(config.memory.memory_topic, "py-memory");
    });
}

#[test]
fn bootstrap_servers_precedence() {
    jailed(|jail| {
        jail.create_file("c.yaml", MINIMAL_YAML).unwrap();
        let servers = || Config::from_file("c.yaml").unwrap().kafka.bootstrap_servers;
        assert_eq!(servers(), ["file-broker:9092"]);

        jail.set_env("KAFKA_BOOTSTRAP_SERVERS", "fixture:9092");
        assert_eq!(servers(), ["fixture:9092"]);

        jail.set_env("AUTOGEN_KAFKA_KAFKA__BOOTSTRAP_SERVERS", "explicit:9092");
        assert_eq!(servers(), ["explicit:9092"]);

        let built = Config::builder()
            .file("c.yaml")
            .bootstrap_servers(["code:9092"])
            .build()
            .unwrap();
        assert_eq!(built.kafka.bootstrap_servers, ["code:9092"]);

        let hermetic = Config::builder()
            .file("c.yaml")
            .without_env()
            .build()
            .unwrap();
        assert_eq!(hermetic.kafka.bootstrap_servers, ["file-broker:9092"]);
    });
}

#[test]
fn blank_kafka_bootstrap_servers_is_ignored() {
    jailed(|jail| {
        jail.create_file("c.yaml", MINIMAL_YAML).unwrap();
        jail.set_env("KAFKA_BOOTSTRAP_SERVERS", " ");
        let config = Config::from_file("c.yaml").unwrap();
        assert_eq!(config.kafka.bootstrap_servers, ["file-broker:9092"]);
    });
}

#[test]
fn librdkafka_passthrough_merges_file_and_environment() {
    jailed(|jail| {
        jail.create_file(
            "c.yaml",
            "
kafka:
  bootstrap_servers: b:9092
  group_id: g
  librdkafka:
    linger.ms: 5
    enable.ssl.certificate.verification: false
",
        )
        .unwrap();
        jail.set_env("AUTOGEN_KAFKA_KAFKA__LIBRDKAFKA__LINGER_MS", "0");
        jail.set_env(
            "AUTOGEN_KAFKA_KAFKA__LIBRDKAFKA__SOCKET_KEEPALIVE_ENABLE",
            "true",
        );
        let config = Config::from_file("c.yaml").unwrap();
        let props = config.producer_properties();
        assert_eq!(props.get("linger.ms"), Some("0"));
        assert_eq!(props.get("socket.keepalive.enable"), Some("true"));
        assert_eq!(
            props.get("enable.ssl.certificate.verification"),
            Some("false")
        );
    });
}

#[test]
fn custom_prefix_is_read_and_named_in_errors() {
    jailed(|jail| {
        jail.set_env("MYAPP_KAFKA__BOOTSTRAP_SERVERS", "b:9092");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__GROUP_ID", "ignored");
        let err = Config::builder().env_prefix("myapp").build().unwrap_err();
        let issues = err.issues();
        assert_eq!(issues.len(), 1, "{err}");
        assert_eq!(issues[0].key, "kafka.group_id");
        assert_eq!(issues[0].env_var, "MYAPP_KAFKA__GROUP_ID");

        jail.set_env("MYAPP_KAFKA__GROUP_ID", "mine");
        let config = Config::builder().env_prefix("MYAPP_").build().unwrap();
        assert_eq!(config.kafka.group_id, "mine");
    });
}

#[test]
fn without_env_ignores_the_environment() {
    jailed(|jail| {
        jail.set_env("KAFKA_BOOTSTRAP_SERVERS", "env:9092");
        jail.set_env("AUTOGEN_KAFKA_KAFKA__GROUP_ID", "env-group");
        jail.set_env("AUTOGEN_KAFKA_NOT_A_KEY", "x");
        let config = Config::builder()
            .without_env()
            .bootstrap_servers(["code:9092"])
            .group_id("code-group")
            .build()
            .unwrap();
        assert_eq!(config.kafka.bootstrap_servers, ["code:9092"]);
        assert_eq!(config.kafka.group_id, "code-group");
    });
}

#[test]
fn builder_values_win_over_file_and_environment() {
    jailed(|jail| {
        jail.create_file(MINIMAL_YAML_PATH, MINIMAL_YAML).unwrap();
        jail.set_env("AUTOGEN_KAFKA_KAFKA__GROUP_ID", "env-group");
        jail.set_env("AUTOGEN_KAFKA_RUNTIME__RPC_TIMEOUT_MS", "9000");
        let config = Config::builder()
            .file(MINIMAL_YAML_PATH)
            .group_id("code-group")
            .rpc_timeout(Duration::from_secs(2))
            .set("streaming.linger_ms", 0)
            .set("schema_registry.api_key", "code-key")
            .schema_registry_credentials("code-user", "code-secret")
            .build()
            .unwrap();
        assert_eq!(config.kafka.group_id, "code-group");
        assert_eq!(config.runtime.rpc_timeout, Duration::from_secs(2));
        assert_eq!(config.streaming.linger, Duration::ZERO);
        assert_eq!(
            config.kafka.schema_registry.username.as_deref(),
            Some("code-user")
        );
        let debug = format!("{:?}", Config::builder().sasl_credentials("u", "hidden-pw"));
        assert!(!debug.contains("hidden-pw"), "{debug}");
        assert!(debug.contains("kafka.security.sasl_password"), "{debug}");
    });
}

const MINIMAL_YAML_PATH: &str = "minimal.yaml";

#[test]
fn empty_file_gives_the_defaults() {
    jailed(|jail| {
        jail.create_file("empty.yaml", "").unwrap();
        jail.create_file("empty.toml", "").unwrap();
        jail.create_file("null.yaml", "~\n").unwrap();
        for file in ["empty.yaml", "empty.toml", "null.yaml"] {
            let config = Config::builder()
                .file(file)
                .without_env()
                .bootstrap_servers(["b:9092"])
                .group_id("g")
                .build()
                .unwrap();
            assert_eq!(config.runtime, crate::WorkerConfig::default(), "{file}");
        }
    });
}

#[test]
fn a_missing_file_is_an_error() {
    jailed(|_| {
        let err = Config::from_file("does-not-exist.yaml").unwrap_err();
        assert!(
            matches!(&err, ConfigError::FileNotFound { path } if path.ends_with("does-not-exist.yaml")),
            "{err:?}"
        );
    });
}

#[test]
fn an_unknown_extension_is_an_error() {
    jailed(|jail| {
        jail.create_file("c.ini", "kafka = 1").unwrap();
        let err = Config::from_file("c.ini").unwrap_err();
        assert!(
            matches!(err, ConfigError::UnsupportedFileFormat { .. }),
            "{err:?}"
        );
    });
}

#[test]
fn parse_errors_give_the_line_and_column() {
    jailed(|jail| {
        jail.create_file(
            "bad.yaml",
            "kafka:\n  group_id: g\n  bootstrap_servers: [a,\n",
        )
        .unwrap();
        jail.create_file(
            "bad.toml",
            "[kafka]\ngroup_id = \"g\"\nnum_partitions = = 3\n",
        )
        .unwrap();
        jail.create_file(
            "bad.json",
            "{\n  \"kafka\": {\n    \"group_id\": g\n  }\n}\n",
        )
        .unwrap();
        jail.create_file("list.json", "[1, 2]").unwrap();
        let cases = [
            ("bad.yaml", "YAML", 4),
            ("bad.toml", "TOML", 3),
            ("bad.json", "JSON", 3),
            ("list.json", "JSON", 1),
        ];
        for (file, format, expected_line) in cases {
            let err = Config::from_file(file).unwrap_err();
            let ConfigError::ParseFile {
                path,
                format: f,
                line,
                ..
            } = &err
            else {
                panic!("{file}: {err:?}");
            };
            assert!(path.ends_with(file));
            assert_eq!(f.to_string(), format);
            assert_eq!(*line, Some(expected_line), "{file}: {err}");
            assert!(err.to_string().contains(&format!("line {expected_line}")));
            assert!(std::error::Error::source(&err).is_some());
        }
        // TOML columns are computed from the parser's byte span.
        let err = Config::from_file("bad.toml").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::ParseFile {
                    column: Some(18),
                    ..
                }
            ),
            "{err:?}"
        );
    });
}

#[test]
fn unknown_keys_in_a_file_are_errors_naming_file_and_key() {
    jailed(|jail| {
        jail.create_file(
            "c.yaml",
            "kafka:\n  bootstrap_servers: b:9092\n  group_id: g\n  bootstrap_server: typo:9092\n",
        )
        .unwrap();
        let err = Config::from_file("c.yaml").unwrap_err();
        let ConfigError::InvalidFileValue { path, key, source } = &err else {
            panic!("{err:?}");
        };
        assert!(path.ends_with("c.yaml"));
        assert_eq!(key, "kafka.bootstrap_server");
        assert!(matches!(
            source.kind,
            figment::error::Kind::UnknownField(..)
        ));

        jail.create_file("top.yaml", "kafak:\n  group_id: g\n")
            .unwrap();
        let err = Config::from_file("top.yaml").unwrap_err();
        assert_eq!(err.key(), Some("kafak"), "{err:?}");
    });
}

#[test]
fn wrong_typed_file_values_name_file_and_key() {
    jailed(|jail| {
        jail.create_file(
            "c.toml",
            "[kafka]\nbootstrap_servers = \"b:9092\"\ngroup_id = \"g\"\nnum_partitions = \"many\"\n",
        )
        .unwrap();
        let err = Config::from_file("c.toml").unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidFileValue { key, .. } if key == "kafka.num_partitions"),
            "{err:?}"
        );
        assert!(err.to_string().contains("c.toml"), "{err}");
    });
}

#[test]
fn bad_environment_values_name_the_variable() {
    jailed(|jail| {
        jail.create_file("c.yaml", MINIMAL_YAML).unwrap();
        jail.set_env("AUTOGEN_KAFKA_KAFKA__NUM_PARTITIONS", "many");
        let err = Config::from_file("c.yaml").unwrap_err();
        let ConfigError::InvalidEnvValue { var, key, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(var, "AUTOGEN_KAFKA_KAFKA__NUM_PARTITIONS");
        assert_eq!(key, "kafka.num_partitions");
        assert!(
            err.to_string()
                .contains("environment variable AUTOGEN_KAFKA_KAFKA__NUM_PARTITIONS"),
            "{err}"
        );
    });
    jailed(|jail| {
        jail.set_env("AUTOGEN_KAFKA_KAFKA__SECURITY__PROTOCOL", "TLS");
        let err = Config::load().unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidEnvValue { var, .. } if var == "AUTOGEN_KAFKA_KAFKA__SECURITY__PROTOCOL"),
            "{err:?}"
        );
    });
}

#[test]
fn unknown_environment_variables_are_errors_naming_them() {
    jailed(|jail| {
        jail.set_env("AUTOGEN_KAFKA_KAFKA__BOOTSTRAP_SERVER", "typo:9092");
        let err = Config::load().unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidEnvValue { var, key, .. }
                if var == "AUTOGEN_KAFKA_KAFKA__BOOTSTRAP_SERVER" && key == "kafka.bootstrap_server"),
            "{err:?}"
        );
    });
}

#[test]
fn loading_validates_and_lists_every_problem() {
    jailed(|jail| {
        jail.create_file(
            "c.yaml",
            "
kafka:
  bootstrap_servers: ''
  num_partitions: 0
runtime:
  publish_topic: bad/topic
",
        )
        .unwrap();
        jail.set_env("AUTOGEN_KAFKA_STREAMING__HEARTBEAT_INTERVAL_MS", "9000");
        let err = Config::from_file("c.yaml").unwrap_err();
        let keys: Vec<&str> = err.issues().iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "kafka.group_id",
                "kafka.bootstrap_servers",
                "kafka.num_partitions",
                "runtime.publish_topic",
                "streaming.heartbeat_interval_ms",
            ],
            "{err}"
        );
    });
}

#[test]
fn invalid_builder_values_are_reported_with_their_key() {
    let err = Config::builder()
        .without_env()
        .set("kafka.num_partitions", "many")
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::InvalidValue { key, .. } if key == "kafka.num_partitions"),
        "{err:?}"
    );

    // A value figment cannot represent (a map with non-string keys) is reported by `build`.
    let odd_map = std::collections::BTreeMap::from([((1, 2), 3)]);
    let err = Config::builder()
        .without_env()
        .set("kafka.librdkafka", odd_map)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::InvalidValue { key, .. } if key == "kafka.librdkafka"),
        "{err:?}"
    );
}

#[test]
fn on_a_builder_the_last_call_wins_whatever_the_spelling() {
    let config = Config::builder()
        .without_env()
        .bootstrap_servers(["b:9092"])
        .group_id("first")
        .group_id("second")
        .schema_registry_credentials("canonical-user", "pw")
        .set("schema_registry.api_key", "alias-user")
        .build()
        .unwrap();
    assert_eq!(config.kafka.group_id, "second");
    assert_eq!(
        config.kafka.schema_registry.username.as_deref(),
        Some("alias-user")
    );
}

#[test]
fn the_deployment_example_is_valid() {
    // deploy/worker.toml is documentation users copy: it must stay loadable and valid.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/worker.toml");
    jailed(|_jail| {
        let config = Config::from_file(&path).unwrap();
        assert_eq!(config.kafka.group_id, "agents-prod");
        assert_eq!(config.kafka.num_partitions, 12);
        assert_eq!(config.runtime.runtime_requests, "runtime_requests");
        assert_eq!(config.serialization.format, SerializationFormat::JsonSchema);
        assert_eq!(config.streaming.fetch_wait_max, Duration::from_millis(100));
    });
}

/// The YAML documents of a file under `deploy/` (Kubernetes manifests hold several, split by `---`).
fn deploy_yaml(relative: &str) -> Vec<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split("\n---\n")
        .filter(|document| !document.trim().is_empty())
        .map(|document| {
            figment::Figment::from(
                <figment::providers::Yaml as figment::providers::Format>::string(document),
            )
            .extract::<serde_json::Value>()
            .unwrap_or_else(|e| panic!("{relative}: {e}"))
        })
        .collect()
}

#[test]
fn every_deploy_manifest_parses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    assert!(files.len() >= 7, "{files:?}");
    for file in files {
        let documents = deploy_yaml(&file);
        assert!(!documents.is_empty(), "{file}");
        for document in documents {
            assert!(document.is_object(), "{file}: {document}");
        }
    }
    let kinds: Vec<String> = [
        "k8s/deployment.yaml",
        "k8s/pdb.yaml",
        "k8s/servicemonitor.yaml",
        "k8s/configmap.yaml",
    ]
    .iter()
    .flat_map(|file| deploy_yaml(file))
    .map(|document| document["kind"].as_str().unwrap_or_default().to_owned())
    .collect();
    for kind in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "ConfigMap",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing: {kinds:?}");
    }
}

#[test]
fn the_kubernetes_configmap_holds_a_valid_worker_configuration() {
    let configmap = deploy_yaml("k8s/configmap.yaml").remove(0);
    let text = configmap["data"]["worker.toml"]
        .as_str()
        .unwrap()
        .to_owned();
    jailed(|jail| {
        jail.create_file("worker.toml", &text).unwrap();
        let config = Config::from_file("worker.toml").unwrap();
        assert_eq!(config.kafka.group_id, "agents-prod");
        assert_eq!(config.kafka.num_partitions, 12);
    });
    // The probes use the monitoring endpoint the worker serves.
    let deployment = deploy_yaml("k8s/deployment.yaml").remove(0);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"],
        "/health/live"
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"],
        "/health/ready"
    );
    assert_eq!(container["ports"][0]["containerPort"], 9464);
}

#[test]
fn the_compose_workers_environment_is_a_valid_configuration() {
    let compose = deploy_yaml("compose.yaml").remove(0);
    for worker in ["worker-1", "worker-2"] {
        let environment = compose["services"][worker]["environment"]
            .as_object()
            .unwrap_or_else(|| panic!("{worker} has no environment"))
            .clone();
        jailed(|jail| {
            for (name, value) in &environment {
                jail.set_env(name, value.as_str().unwrap_or_default());
            }
            let config = Config::load().unwrap();
            assert_eq!(config.kafka.bootstrap_servers, ["kafka:9092"]);
            assert_eq!(config.kafka.group_id, "agents");
            assert_eq!(config.runtime.instance_id.as_deref(), Some(worker));
        });
    }
}

#[test]
fn the_dockerfile_builds_an_example_that_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dockerfile = std::fs::read_to_string(root.join("deploy/Dockerfile")).unwrap();
    let example = dockerfile
        .split("--example ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the Dockerfile builds no example"));
    assert!(
        root.join(format!("examples/{example}.rs")).is_file(),
        "examples/{example}.rs"
    );
    assert!(dockerfile.contains("EXPOSE 9464"), "the monitoring port");
}

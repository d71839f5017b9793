//! Tests of `Config`: defaults, validation and property maps.

use std::time::Duration;

use super::*;
use crate::kafka::{SaslMechanism, SecurityProtocol};
use crate::secret::Secret;
use crate::serialization::SerializationFormat;
use crate::streaming::{Acks, Partitioner};

/// A config that passes validation.
fn valid() -> Config {
    let mut config = Config::default();
    config.kafka.bootstrap_servers = vec!["localhost:9092".into()];
    config.kafka.group_id = "group".into();
    config
}

fn issue_keys(config: &Config) -> Vec<String> {
    match config.validate() {
        Ok(()) => Vec::new(),
        Err(err) => err.issues().iter().map(|i| i.key.clone()).collect(),
    }
}

#[test]
fn defaults_match_the_python_original() {
    let config = Config::default();
    // Topics and partitions (WIRE §2).
    assert_eq!(config.runtime.runtime_requests, "runtime_requests");
    assert_eq!(config.runtime.runtime_responses, "runtime_responses");
    assert_eq!(config.runtime.registry_topic, "agent_registry");
    assert_eq!(config.runtime.subscription_topic, "agent_subscriptions");
    assert_eq!(config.runtime.publish_topic, "agent_publishes");
    assert_eq!(config.agent.request_topic, "agent_request");
    assert_eq!(config.agent.response_topic, "agent_response");
    assert_eq!(config.memory.memory_topic, "memory");
    assert_eq!(config.memory.topic("s1"), "memory_s1");
    assert_eq!(config.kafka.num_partitions, 3);
    assert_eq!(config.memory.num_partitions, 1);
    assert_eq!(config.kafka.replication_factor, 1);
    assert_eq!(config.kafka.auto_offset_reset, AutoOffsetReset::Latest);
    assert_eq!(config.memory.auto_offset_reset, AutoOffsetReset::Earliest);
    assert!(!config.kafka.is_compacted);
    // Identity and security.
    assert_eq!(config.kafka.name, "autogen-kafka");
    assert_eq!(config.kafka.security.protocol, SecurityProtocol::Plaintext);
    assert_eq!(config.kafka.security.sasl_mechanism, SaslMechanism::Plain);
    assert_eq!(config.kafka.schema_registry.url, "http://localhost:8081");
    assert_eq!(config.serialization.format, SerializationFormat::JsonSchema);
    // Our extensions.
    assert_eq!(config.runtime.dead_letter_topic, "autogen_dead_letters");
    assert_eq!(config.runtime.state_topic, "agent_state");
    assert_eq!(config.runtime.rpc_timeout, Duration::from_secs(30));
    assert_eq!(config.streaming.partitioner, Partitioner::Murmur2Random);
    assert!(config.streaming.enable_idempotence);
    assert_eq!(config.streaming.acks, Acks::All);
}

#[test]
fn defaults_lack_only_the_settings_python_requires() {
    let err = Config::default().validate().unwrap_err();
    let issues = err.issues();
    assert_eq!(issues.len(), 2, "{err}");
    assert_eq!(issues[0].key, "kafka.group_id");
    assert_eq!(issues[0].env_var, "AUTOGEN_KAFKA_KAFKA__GROUP_ID");
    assert!(
        issues[0]
            .message
            .contains("every Rust runtime of a fleet uses the same group id"),
        "{}",
        issues[0].message
    );
    assert_eq!(issues[1].key, "kafka.bootstrap_servers");
    assert_eq!(issues[1].env_var, "AUTOGEN_KAFKA_KAFKA__BOOTSTRAP_SERVERS");
    valid().validate().unwrap();
}

#[test]
fn validation_reports_every_problem_with_key_and_variable() {
    let mut config = valid();
    config.kafka.bootstrap_servers = vec!["localhost".into(), "b:9092".into()];
    config.kafka.client_id = " ".into();
    config.kafka.num_partitions = 0;
    config.kafka.replication_factor = 0;
    config.runtime.publish_topic = "bad topic!".into();
    config.runtime.registry_topic = "..".into();
    config.runtime.state_topic = "x".repeat(250);
    config.runtime.rpc_timeout = Duration::ZERO;
    config.agent.response_topic = config.runtime.runtime_requests.clone();
    config.memory.num_partitions = 0;
    config.service.channel_capacity = 0;
    config.streaming.heartbeat_interval = Duration::from_secs(5);

    let err = config.validate().unwrap_err();
    let expected = [
        (
            "kafka.client_id",
            "AUTOGEN_KAFKA_KAFKA__CLIENT_ID",
            "must not be empty",
        ),
        (
            "kafka.bootstrap_servers",
            "AUTOGEN_KAFKA_KAFKA__BOOTSTRAP_SERVERS",
            "`localhost` is not host:port",
        ),
        (
            "kafka.num_partitions",
            "AUTOGEN_KAFKA_KAFKA__NUM_PARTITIONS",
            "at least 1",
        ),
        (
            "kafka.replication_factor",
            "AUTOGEN_KAFKA_KAFKA__REPLICATION_FACTOR",
            "at least 1",
        ),
        (
            "runtime.registry_topic",
            "AUTOGEN_KAFKA_RUNTIME__REGISTRY_TOPIC",
            "`..`",
        ),
        (
            "runtime.publish_topic",
            "AUTOGEN_KAFKA_RUNTIME__PUBLISH_TOPIC",
            "not allowed",
        ),
        (
            "runtime.state_topic",
            "AUTOGEN_KAFKA_RUNTIME__STATE_TOPIC",
            "at most 249",
        ),
        (
            "runtime.rpc_timeout_ms",
            "AUTOGEN_KAFKA_RUNTIME__RPC_TIMEOUT_MS",
            "greater than 0",
        ),
        (
            "memory.num_partitions",
            "AUTOGEN_KAFKA_MEMORY__NUM_PARTITIONS",
            "at least 1",
        ),
        (
            "streaming.heartbeat_interval_ms",
            "AUTOGEN_KAFKA_STREAMING__HEARTBEAT_INTERVAL_MS",
            "below a third",
        ),
        (
            "service.channel_capacity",
            "AUTOGEN_KAFKA_SERVICE__CHANNEL_CAPACITY",
            "at least 1",
        ),
        (
            "agent.response_topic",
            "AUTOGEN_KAFKA_AGENT__RESPONSE_TOPIC",
            "also used by runtime.runtime_requests",
        ),
    ];
    let issues = err.issues();
    for (key, var, text) in expected {
        let found = issues
            .iter()
            .find(|i| i.key == key && i.message.contains(text));
        let issue = found.unwrap_or_else(|| panic!("no issue for {key} ({text}) in {err}"));
        assert_eq!(issue.env_var, var);
        assert!(err.to_string().contains(&issue.to_string()), "{err}");
    }
    assert_eq!(issues.len(), expected.len(), "{err}");
}

#[test]
fn sasl_protocols_need_username_and_password() {
    let mut config = valid();
    config.kafka.security.protocol = SecurityProtocol::SaslSsl;
    assert_eq!(
        issue_keys(&config),
        [
            "kafka.security.sasl_username",
            "kafka.security.sasl_password"
        ]
    );
    let err = config.validate().unwrap_err();
    assert_eq!(
        err.issues()[1].env_var,
        "AUTOGEN_KAFKA_KAFKA__SECURITY__SASL_PASSWORD"
    );
    config.kafka.security.sasl_username = Some("user".into());
    config.kafka.security.sasl_password = Some(Secret::new(""));
    assert_eq!(issue_keys(&config), ["kafka.security.sasl_password"]);
    config.kafka.security.sasl_password = Some(Secret::new("pw"));
    assert_eq!(issue_keys(&config), Vec::<String>::new());
}

#[test]
fn tls_files_must_exist_and_come_in_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "ca").unwrap();
    let mut config = valid();
    config.kafka.security.protocol = SecurityProtocol::Ssl;
    config.kafka.security.ssl_ca_location = Some(ca);
    assert_eq!(issue_keys(&config), Vec::<String>::new());

    config.kafka.security.ssl_certificate_location = Some(dir.path().join("missing.pem"));
    config.kafka.schema_registry.ssl_ca_location = Some(dir.path().join("nope.pem"));
    let err = config.validate().unwrap_err();
    let keys: Vec<&str> = err.issues().iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "kafka.security.ssl_certificate_location",
            "kafka.security.ssl_key_location",
            "kafka.schema_registry.ssl_ca_location",
        ],
        "{err}"
    );
    assert!(err.issues()[0].message.contains("missing.pem"));

    // librdkafka's special CA value is not a file.
    let mut config = valid();
    config.kafka.security.ssl_ca_location = Some("probe".into());
    assert_eq!(issue_keys(&config), Vec::<String>::new());
}

#[test]
fn heartbeat_must_stay_below_a_third_of_the_session_timeout() {
    let mut config = valid();
    config.streaming.session_timeout = Duration::from_millis(10_000);
    config.streaming.heartbeat_interval = Duration::from_millis(3_333);
    assert_eq!(issue_keys(&config), Vec::<String>::new());
    config.streaming.heartbeat_interval = Duration::from_millis(3_334);
    assert_eq!(issue_keys(&config), ["streaming.heartbeat_interval_ms"]);
}

#[test]
fn zero_timeouts_are_rejected_where_zero_makes_no_sense() {
    let mut config = valid();
    config.streaming.linger = Duration::ZERO;
    config.streaming.fetch_wait_max = Duration::ZERO;
    assert_eq!(issue_keys(&config), Vec::<String>::new());

    config.kafka.request_timeout = Duration::ZERO;
    config.kafka.socket_timeout = Duration::ZERO;
    config.kafka.schema_registry.request_timeout = Duration::ZERO;
    config.agent.request_timeout = Duration::ZERO;
    config.service.shutdown_timeout = Duration::ZERO;
    config.runtime.startup_timeout = Duration::ZERO;
    config.streaming.commit_interval = Duration::ZERO;
    let keys = issue_keys(&config);
    for key in [
        "kafka.request_timeout_ms",
        "kafka.socket_timeout_ms",
        "kafka.schema_registry.request_timeout_ms",
        "agent.request_timeout_ms",
        "service.shutdown_timeout_ms",
        "runtime.startup_timeout_ms",
        "streaming.commit_interval_ms",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing in {keys:?}");
    }
}

#[test]
fn the_socket_timeout_must_exceed_the_fetch_wait_by_a_second() {
    let mut config = valid();
    config.streaming.fetch_wait_max = Duration::from_millis(500);
    config.kafka.socket_timeout = Duration::from_millis(1_500);
    assert_eq!(issue_keys(&config), Vec::<String>::new());
    config.kafka.socket_timeout = Duration::from_millis(1_499);
    assert_eq!(issue_keys(&config), ["kafka.socket_timeout_ms"]);
}

#[test]
fn every_client_gets_the_socket_timeout_unless_the_passthrough_sets_one() {
    let mut config = valid();
    for props in [
        config.kafka.client_properties(),
        config.consumer_properties("g", config.kafka.auto_offset_reset),
        config.producer_properties(),
    ] {
        assert_eq!(props.get("socket.timeout.ms"), Some("10000"));
    }
    config
        .kafka
        .librdkafka
        .insert("socket.timeout.ms".into(), "60000".into());
    assert_eq!(
        config.producer_properties().get("socket.timeout.ms"),
        Some("60000")
    );
}

#[test]
fn registry_expiry_must_exceed_the_heartbeat() {
    let mut config = valid();
    config.runtime.registry_expiry = config.runtime.registry_heartbeat;
    assert_eq!(issue_keys(&config), ["runtime.registry_expiry_ms"]);
}

#[test]
fn idempotence_requires_acks_all() {
    let mut config = valid();
    config.streaming.acks = Acks::Leader;
    assert_eq!(issue_keys(&config), ["streaming.acks"]);
    config.streaming.enable_idempotence = false;
    assert_eq!(issue_keys(&config), Vec::<String>::new());
}

#[test]
fn colliding_topic_names_are_rejected() {
    let mut config = valid();
    config.runtime.publish_topic = "agent.publishes".into();
    config.runtime.state_topic = "agent_publishes".into();
    let err = config.validate().unwrap_err();
    assert_eq!(err.issues().len(), 1, "{err}");
    assert_eq!(err.issues()[0].key, "runtime.state_topic");
    assert!(err.issues()[0].message.contains("collides"));
}

#[test]
fn memory_topic_leaves_room_for_the_session_id() {
    let mut config = valid();
    config.memory.memory_topic = "m".repeat(212);
    assert_eq!(issue_keys(&config), Vec::<String>::new());
    config.memory.memory_topic = "m".repeat(213);
    assert_eq!(issue_keys(&config), ["memory.memory_topic"]);
}

#[test]
fn registry_url_is_checked_only_when_the_format_needs_a_registry() {
    let mut config = valid();
    config.kafka.schema_registry.url = "localhost:8081".into();
    let err = config.validate().unwrap_err();
    assert_eq!(err.issues().len(), 1, "{err}");
    assert_eq!(err.issues()[0].key, "kafka.schema_registry.url");
    assert_eq!(
        err.issues()[0].env_var,
        "AUTOGEN_KAFKA_KAFKA__SCHEMA_REGISTRY__URL"
    );
    assert!(err.issues()[0].message.contains("json_schema"));

    config.serialization.format = SerializationFormat::Json;
    assert_eq!(issue_keys(&config), Vec::<String>::new());
    config.serialization.format = SerializationFormat::Avro;
    assert_eq!(issue_keys(&config), ["kafka.schema_registry.url"]);
    config.kafka.schema_registry.url = "https://sr.example.com".into();
    assert_eq!(issue_keys(&config), Vec::<String>::new());
}

#[test]
fn registry_credentials_come_in_pairs() {
    let mut config = valid();
    config.kafka.schema_registry.username = Some("key".into());
    assert_eq!(issue_keys(&config), ["kafka.schema_registry.password"]);
}

#[test]
fn debug_display_and_serialize_never_show_secrets() {
    let mut config = valid();
    config.kafka.security.protocol = SecurityProtocol::SaslSsl;
    config.kafka.security.sasl_username = Some("user".into());
    config.kafka.security.sasl_password = Some(Secret::new("sasl-pw-111"));
    config.kafka.security.ssl_key_password = Some(Secret::new("key-pw-222"));
    config.kafka.schema_registry.username = Some("key".into());
    config.kafka.schema_registry.password = Some(Secret::new("sr-pw-333"));
    config
        .kafka
        .librdkafka
        .insert("sasl.oauthbearer.client.secret".into(), "oauth-444".into());

    let dumps = [
        format!("{config:?}"),
        format!("{config:#?}"),
        serde_json::to_string(&config).unwrap(),
        format!("{:?}", config.kafka.client_properties()),
        format!("{}", config.kafka.client_properties()),
        format!("{:?}", config.producer_properties()),
        format!(
            "{:?}",
            config.consumer_properties("g", AutoOffsetReset::Latest)
        ),
        format!("{:?}", config.kafka.schema_registry.basic_auth_user_info()),
    ];
    for dump in &dumps {
        // The passthrough map is plain data in Config, so only check the typed secrets there.
        for secret in ["sasl-pw-111", "key-pw-222", "sr-pw-333"] {
            assert!(!dump.contains(secret), "{secret} leaked in {dump}");
        }
        assert!(dump.contains("***"), "{dump}");
    }
    for props in [
        config.kafka.client_properties(),
        config.producer_properties(),
    ] {
        assert!(!format!("{props:?}").contains("oauth-444"));
    }
    // The values themselves are still there for the client library.
    let props = config.kafka.client_properties();
    assert_eq!(props.get("sasl.password"), Some("sasl-pw-111"));
    assert_eq!(props.get("ssl.key.password"), Some("key-pw-222"));
}

#[test]
fn consumer_and_producer_maps_layer_passthrough_last() {
    let mut config = valid();
    config.streaming.fetch_wait_max = Duration::from_millis(10);
    config
        .kafka
        .librdkafka
        .insert("session.timeout.ms".into(), "2000".into());
    config
        .kafka
        .librdkafka
        .insert("linger.ms".into(), "1".into());

    let consumer = config.consumer_properties("group_KafkaMemory", config.memory.auto_offset_reset);
    assert_eq!(consumer.get("bootstrap.servers"), Some("localhost:9092"));
    assert_eq!(consumer.get("group.id"), Some("group_KafkaMemory"));
    assert_eq!(consumer.get("auto.offset.reset"), Some("earliest"));
    assert_eq!(consumer.get("fetch.wait.max.ms"), Some("10"));
    assert_eq!(consumer.get("session.timeout.ms"), Some("2000"));
    assert_eq!(consumer.get("enable.idempotence"), None);

    let producer = config.producer_properties();
    assert_eq!(producer.get("partitioner"), Some("murmur2_random"));
    assert_eq!(producer.get("enable.idempotence"), Some("true"));
    assert_eq!(producer.get("acks"), Some("all"));
    assert_eq!(producer.get("request.timeout.ms"), Some("30000"));
    assert_eq!(producer.get("linger.ms"), Some("1"));
    assert_eq!(producer.get("group.id"), None);
}

#[test]
fn serialized_config_reads_back_unchanged() {
    let mut config = valid();
    config.runtime.rpc_timeout = Duration::from_millis(1234);
    config.kafka.security.sasl_username = Some("user".into());
    config
        .kafka
        .librdkafka
        .insert("linger.ms".into(), "7".into());
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["runtime"]["rpc_timeout_ms"], 1234);
    assert_eq!(json["streaming"]["session_timeout_ms"], 10_000);
    let back: Config = serde_json::from_value(json).unwrap();
    assert_eq!(back, config);
}

#[test]
fn sections_reject_unknown_keys() {
    let err =
        serde_json::from_str::<Config>(r#"{"kafka": {"bootstrap_server": "x:1"}}"#).unwrap_err();
    assert!(err.to_string().contains("bootstrap_server"), "{err}");
}

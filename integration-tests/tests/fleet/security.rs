//! Security end to end: a runtime configured (keys only) for a Schema Registry over HTTPS that requires basic
//! auth and a client certificate; wrong credentials fail with a typed error at start; and no secret appears in
//! the logs (at trace level), the configuration's `Debug`, errors or metrics of a whole start/RPC/stop.

use std::time::Duration;

use autogen_kafka::config::{Secret, SerializationFormat};
use autogen_kafka::{AgentId, AgentRuntimeExt as _, Error, ErrorKind};
use autogen_kafka_integration_tests::{
    CapturedLogs, Ping, Pong, create_fleet_topics, register_echo, worker, worker_config,
};
use autogen_kafka_testing::{SchemaRegistryStandIn, TestBroker, TestPki, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);
const PASSWORD: &str = "registry-password-7f3a9c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_uses_an_https_registry_with_credentials_and_a_client_certificate_and_leaks_no_secret()
 {
    let captured = CapturedLogs::install(tracing::Level::TRACE);
    tokio::time::timeout(TEST_TIMEOUT, async {
        let pki = TestPki::new().unwrap();
        let key_pem = std::fs::read_to_string(pki.client_key_file()).unwrap();
        let registry = SchemaRegistryStandIn::builder()
            .with_basic_auth("api-key", PASSWORD)
            .with_tls(&pki, true)
            .unwrap()
            .start()
            .await
            .unwrap();
        let broker = TestBroker::start().await.unwrap();
        let mut config = worker_config(&broker, &unique_topic("secure"));
        config.serialization.format = SerializationFormat::JsonSchema;
        let registry_config = &mut config.kafka.schema_registry;
        registry_config.url = registry.url().to_owned();
        registry_config.username = Some("api-key".to_owned());
        registry_config.password = Some(Secret::new(PASSWORD));
        registry_config.ssl_ca_location = Some(pki.ca_file());
        registry_config.ssl_certificate_location = Some(pki.client_cert_file());
        registry_config.ssl_key_location = Some(pki.client_key_file());
        config.validate().unwrap();
        create_fleet_topics(&broker, &config, 3).await;

        let host = worker(&broker, config.clone(), "host");
        register_echo(&host, "echo", "secure").await;
        host.start().await.unwrap();
        assert!(
            registry
                .subjects()
                .contains(&format!("{}-value", config.runtime.runtime_requests)),
            "the start registered the event schemas over HTTPS"
        );
        let caller = worker(&broker, config.clone(), "caller");
        caller.start().await.unwrap();
        let pong: Pong = caller
            .send(
                Ping {
                    content: "hi".into(),
                },
                &AgentId::new("echo", "k").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(pong.content, "hi from echo/k on secure");
        let metrics = host.metrics().encode_text().unwrap();

        // Wrong credentials: start fails at once with the registry's typed refusal, naming no secret.
        let mut wrong = config.clone();
        wrong.kafka.schema_registry.password = Some(Secret::new("wrong-password-1b2c"));
        let intruder = worker(&broker, wrong, "intruder");
        let started = std::time::Instant::now();
        let error = intruder.start().await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        let error_text = format!("{error} {error:?}");
        assert!(
            matches!(
                &error,
                autogen_kafka::runtime::RuntimeError::Admin(
                    autogen_kafka::admin::AdminError::RegistryUnauthorized { status: 401, .. }
                )
            ),
            "{error:?}"
        );
        assert_eq!(Error::from(error).kind(), ErrorKind::Config);

        caller.stop().await.unwrap();
        host.stop().await.unwrap();

        let logs = captured.text();
        assert!(logs.lines().count() > 20, "trace logs were captured");
        let debug = format!("{config:?}");
        let key_body: String = key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        for (what, text) in [
            ("logs", &logs),
            ("config Debug", &debug),
            ("error", &error_text),
            ("metrics", &metrics),
        ] {
            for secret in [PASSWORD, "wrong-password-1b2c", &key_body[..40]] {
                assert!(!text.contains(secret), "a secret appears in the {what}");
            }
        }
    })
    .await
    .unwrap();
}

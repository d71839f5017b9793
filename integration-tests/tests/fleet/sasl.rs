//! SASL/SCRAM to a broker (feature `ssl`: librdkafka's SCRAM needs OpenSSL): Tansu with SQLite storage and
//! `--authentication`, which offers SCRAM-SHA-256 and SCRAM-SHA-512. Every client of the runtime (producers,
//! group consumers, tail readers, admin) authenticates; wrong credentials fail the start at once with a typed
//! `Connect` error naming the refusal, and the password appears nowhere.

use std::time::{Duration, Instant};

use autogen_kafka::config::{Config, SaslMechanism, Secret, SecurityProtocol};
use autogen_kafka::runtime::{KafkaWorkerAgentRuntime, RuntimeError};
use autogen_kafka_integration_tests::{
    CapturedLogs, assert_echo_answers, register_echo, worker_config,
};
use autogen_kafka_testing::{TestBroker, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);
const USER: &str = "agents";
const PASSWORD: &str = "scram-password-5d8e1f";
const WRONG: &str = "wrong-scram-password-77c2";

/// The fleet configuration over SASL_PLAINTEXT with `mechanism` and `password`, for topics made beforehand.
fn sasl_config(
    fleet: &str,
    broker: &TestBroker,
    mechanism: SaslMechanism,
    password: &str,
) -> Config {
    let mut config = worker_config(broker, fleet);
    let security = &mut config.kafka.security;
    security.protocol = SecurityProtocol::SaslPlaintext;
    security.sasl_mechanism = mechanism;
    security.sasl_username = Some(USER.to_owned());
    security.sasl_password = Some(Secret::new(password));
    // The broker fixture made every topic (see `TestBroker::tansu_with_scram`), and Tansu 0.6's SQLite storage
    // panics on an idempotent producer's first batch to a partition created after the producer started.
    config.service.auto_create_topics = false;
    config.streaming.enable_idempotence = false;
    config.runtime.startup_timeout = Duration::from_secs(20);
    config.validate().unwrap_or_else(|error| panic!("{error}"));
    config
}

/// A runtime of `config` named `instance` (its reply topic is made beforehand, so the name is fixed).
fn runtime(config: &Config, instance: &str) -> KafkaWorkerAgentRuntime {
    KafkaWorkerAgentRuntime::builder(config.clone())
        .instance_id(instance)
        .build()
        .unwrap_or_else(|error| panic!("{error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_scram_credentials_every_client_authenticates_and_wrong_ones_fail_the_start_at_once() {
    let captured = CapturedLogs::install(tracing::Level::TRACE);
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut refusals = String::new();
        for mechanism in [SaslMechanism::ScramSha256, SaslMechanism::ScramSha512] {
            let fleet = unique_topic("sasl");
            // The fleet's topic names, to make them before the broker requires authentication.
            let probe = worker_config(&TestBroker::external("unused:9092"), &fleet);
            let host_id = format!("{fleet}-host");
            let caller_id = format!("{fleet}-caller");
            let replies: Vec<String> = [&host_id, &caller_id]
                .iter()
                .map(|id| format!("{}.{id}", probe.runtime.runtime_responses))
                .collect();
            let mut topics: Vec<(&str, i32)> = probe
                .runtime
                .topics()
                .iter()
                .map(|(_, topic)| (*topic, 3))
                .collect();
            topics.extend(replies.iter().map(|topic| (topic.as_str(), 1)));
            let broker = TestBroker::tansu_with_scram(&[(USER, PASSWORD)], &topics)
                .await
                .unwrap_or_else(|error| panic!("{error}"));

            // Refused credentials are final: the start gives up at the first refusal, not at the startup timeout.
            let refused = runtime(
                &sasl_config(&fleet, &broker, mechanism, WRONG),
                &format!("{fleet}-refused"),
            );
            let started = Instant::now();
            let Err(error) = refused.start().await else {
                panic!("a start with a wrong password succeeded");
            };
            let took = started.elapsed();
            assert!(took < Duration::from_secs(10), "gave up after {took:?}");
            assert!(matches!(error, RuntimeError::Connect { .. }), "{error:?}");
            let text = autogen_kafka_testing::error_chain(&error);
            assert!(
                text.contains("SASL") && text.contains("authentication failed"),
                "the error names the refusal: {text}"
            );
            refusals.push_str(&format!("{text} {error:?}\n"));

            let config = sasl_config(&fleet, &broker, mechanism, PASSWORD);
            let host = runtime(&config, &host_id);
            register_echo(&host, "echo", "sasl").await;
            host.start().await.unwrap_or_else(|error| panic!("{error}"));
            let caller = runtime(&config, &caller_id);
            caller
                .start()
                .await
                .unwrap_or_else(|error| panic!("{error}"));
            assert_echo_answers(&caller, "sasl").await;
            caller
                .stop()
                .await
                .unwrap_or_else(|error| panic!("{error}"));
            host.stop().await.unwrap_or_else(|error| panic!("{error}"));
        }

        let logs = captured.text();
        assert!(logs.lines().count() > 20, "trace logs were captured");
        for (what, text) in [("logs", &logs), ("errors", &refusals)] {
            for secret in [PASSWORD, WRONG] {
                assert!(!text.contains(secret), "a password appears in the {what}");
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("test timed out"));
}

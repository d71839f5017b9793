//! Clients over TLS to a broker (feature `ssl`): Tansu behind a TLS-terminating proxy that advertises itself, so
//! every connection of every client of the runtime (producers, group consumers, tail readers, admin) is TLS. The
//! server is verified against the configured CA and by name; a wrong CA, a certificate for another host, or a
//! missing client certificate where one is required, fails the start within the startup timeout with a `Connect`
//! error.

use std::time::Duration;

use autogen_kafka::config::{Config, SecurityProtocol};
use autogen_kafka::runtime::RuntimeError;
use autogen_kafka_integration_tests::{assert_echo_answers, register_echo, worker, worker_config};
use autogen_kafka_testing::{TestBroker, TestPki, unique_topic};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);

/// The fleet configuration over TLS, trusting `ca`.
fn tls_config(broker: &TestBroker, ca: std::path::PathBuf) -> Config {
    let mut config = worker_config(broker, &unique_topic("tls"));
    config.kafka.security.protocol = SecurityProtocol::Ssl;
    config.kafka.security.ssl_ca_location = Some(ca);
    config.runtime.startup_timeout = Duration::from_secs(10);
    config.validate().unwrap_or_else(|error| panic!("{error}"));
    config
}

/// An RPC between two runtimes of `config`.
async fn rpc_works(broker: &TestBroker, config: &Config) {
    let host = worker(broker, config.clone(), "host");
    register_echo(&host, "echo", "tls").await;
    host.start().await.unwrap_or_else(|error| panic!("{error}"));
    let caller = worker(broker, config.clone(), "caller");
    caller
        .start()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_echo_answers(&caller, "tls").await;
    caller
        .stop()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    host.stop().await.unwrap_or_else(|error| panic!("{error}"));
}

/// Starting a runtime of `config` fails with `Connect` within the startup timeout; returns the error text.
async fn start_fails(broker: &TestBroker, config: Config) -> String {
    let runtime = worker(broker, config, "refused");
    let started = std::time::Instant::now();
    let Err(error) = runtime.start().await else {
        panic!("the start succeeded");
    };
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(error, RuntimeError::Connect { .. }), "{error:?}");
    autogen_kafka_testing::error_chain(&error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_runtime_verifies_the_broker_and_a_wrong_ca_fails_fast_naming_the_cause() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let pki = TestPki::new().unwrap();
        let broker = TestBroker::tansu_over_tls(&pki, false).await.unwrap();
        rpc_works(&broker, &tls_config(&broker, pki.ca_file())).await;

        let text = start_fails(&broker, tls_config(&broker, pki.other_ca_file())).await;
        assert!(
            text.contains("SSL") || text.contains("certificate"),
            "the error names the TLS failure: {text}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_a_runtime_with_its_certificate_and_refuses_one_without() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let pki = TestPki::new().unwrap();
        let broker = TestBroker::tansu_over_tls(&pki, true).await.unwrap();
        let mut config = tls_config(&broker, pki.ca_file());
        config.kafka.security.ssl_certificate_location = Some(pki.client_cert_file());
        config.kafka.security.ssl_key_location = Some(pki.client_key_file());
        config.validate().unwrap();
        rpc_works(&broker, &config).await;

        start_fails(&broker, tls_config(&broker, pki.ca_file())).await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_that_does_not_name_the_address_is_refused() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // Signed by the trusted CA, but for another host: librdkafka checks the name (its default
        // `ssl.endpoint.identification.algorithm=https`).
        let pki = TestPki::with_server_names(&["broker.example"]).unwrap();
        let broker = TestBroker::tansu_over_tls(&pki, false).await.unwrap();
        let text = start_fails(&broker, tls_config(&broker, pki.ca_file())).await;
        assert!(
            text.contains("SSL") || text.contains("certificate"),
            "the error names the TLS failure: {text}"
        );
    })
    .await
    .unwrap();
}

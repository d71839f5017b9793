//! Tests of the client against the Schema Registry stand-in.

use std::future::Future;
use std::time::{Duration, Instant};

use autogen_kafka_testing::SchemaRegistryStandIn;

use super::*;
use crate::AdminError;

/// Upper bound for every test.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A self-signed CA certificate (generated for these tests with `openssl req -x509`).
const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUQlOLWuLZ7FaW+HMIlGy75jsGXo0wCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVYXV0b2dlbi1rYWZrYSB0ZXN0IENBMCAXDTI2MTEyNTE1Mzgz
M1oYDzIxMjYxMTAxMTUzODMzWjAgMR4wHAYDVQQDDBVhdXRvZ2VuLWthZmthIHRl
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATvHQ4x/a0cWOex1zaGZ+zc
fX4/HFovhiJ2R+Wle8fCehVABC8yO7CSJH//D9E3NM1jlg+yZd9d0v5qy+93A0lU
o1MwUTAdBgNVHQ4EFgQUpp3fAyfGTZC3Jp2V/F6UXH25mYcwHwYDVR0jBBgwFoAU
pp3fAyfGTZC3Jp2V/F6UXH25mYcwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEAiq+vAnE/YwmaaKhw3lZGu3RJ5GqL+GtqNNjRIgAcHx0CIEU7WU7l
QIS5/1yrfA4UYKThvKeOe44cCTvHzebMSaPg
-----END CERTIFICATE-----
";

async fn within_timeout<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test timed out");
}

/// A retry policy that keeps the tests fast.
fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(attempts)
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(40))
}

fn client(url: &str) -> SchemaRegistryClient {
    SchemaRegistryClient::builder(url)
        .retry_policy(fast_retries(4))
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn registration_schema() -> SchemaDefinition {
    SchemaDefinition::json(
        r#"{"type": "object", "properties": {"message_type": {"type": "string", "enum": ["register", "unregister"]}, "agent": {"type": "string"}}, "required": ["message_type", "agent"]}"#,
    )
}

fn other_schema() -> SchemaDefinition {
    SchemaDefinition::json(r#"{"type": "object", "properties": {"agent": {"type": "integer"}}}"#)
}

#[tokio::test]
async fn register_then_fetch_by_id_round_trips() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let schema = registration_schema();
        let id = client(registry.url())
            .register("agent_registry-value", &schema)
            .await
            .unwrap();

        let fetched = client(registry.url()).schema_by_id(id).await.unwrap();
        assert_eq!(fetched, schema);
        assert_eq!(fetched.schema_type, SchemaType::Json);

        let latest = client(registry.url())
            .latest("agent_registry-value")
            .await
            .unwrap();
        assert_eq!(latest.id, id);
        assert_eq!(latest.version, 1);
        assert_eq!(latest.schema, schema);
        assert_eq!(
            client(registry.url()).subjects().await.unwrap(),
            vec!["agent_registry-value"]
        );
    })
    .await;
}

#[tokio::test]
async fn same_schema_gets_the_same_id_under_every_subject() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let schema = registration_schema();
        let first = client(registry.url())
            .register("a-value", &schema)
            .await
            .unwrap();
        let again = client(registry.url())
            .register("a-value", &schema)
            .await
            .unwrap();
        let elsewhere = client(registry.url())
            .register("b-value", &schema)
            .await
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(first, elsewhere);
        assert_eq!(
            registry.versions("a-value"),
            vec![1],
            "re-registering must not add a version"
        );

        let different = client(registry.url())
            .register("a-value", &other_schema())
            .await
            .unwrap();
        assert_ne!(different, first);
        assert_eq!(
            client(registry.url()).versions("a-value").await.unwrap(),
            vec![1, 2]
        );
    })
    .await;
}

#[tokio::test]
async fn cached_schema_by_id_makes_no_request() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let id = client(registry.url())
            .register("t-value", &registration_schema())
            .await
            .unwrap();

        let reader = client(registry.url());
        let before = registry.request_count();
        let first = reader.schema_by_id(id).await.unwrap();
        assert_eq!(registry.request_count(), before + 1);
        let second = reader.schema_by_id(id).await.unwrap();
        assert_eq!(second, first);
        assert_eq!(
            registry.request_count(),
            before + 1,
            "a cache hit must not call the registry"
        );

        // A clone shares the cache.
        let _ = reader.clone().schema_by_id(id).await.unwrap();
        assert_eq!(registry.request_count(), before + 1);
    })
    .await;
}

#[tokio::test]
async fn repeated_registration_is_answered_from_the_cache() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let writer = client(registry.url());
        let id = writer
            .register("t-value", &registration_schema())
            .await
            .unwrap();
        let before = registry.request_count();
        assert_eq!(
            writer
                .register("t-value", &registration_schema())
                .await
                .unwrap(),
            id
        );
        assert_eq!(
            writer
                .register_or_verify("t-value", &registration_schema())
                .await
                .unwrap(),
            id
        );
        // The registration also fills the id cache.
        assert_eq!(
            writer.schema_by_id(id).await.unwrap(),
            registration_schema()
        );
        assert_eq!(registry.request_count(), before);
    })
    .await;
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized_and_not_retried() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::builder()
            .with_basic_auth("api-key", "api-secret")
            .start()
            .await
            .unwrap();

        let anonymous = client(registry.url());
        let error = anonymous.subjects().await.unwrap_err();
        assert!(
            matches!(error, AdminError::RegistryUnauthorized { status: 401, .. }),
            "{error:?}"
        );
        assert!(!error.is_retriable());
        assert_eq!(registry.request_count(), 1, "401 must not be retried");

        let wrong = SchemaRegistryClient::builder(registry.url())
            .basic_auth("api-key", "wrong")
            .build()
            .unwrap();
        let error = wrong
            .register("x-value", &registration_schema())
            .await
            .unwrap_err();
        assert!(
            matches!(error, AdminError::RegistryUnauthorized { .. }),
            "{error:?}"
        );

        let authorized = SchemaRegistryClient::builder(registry.url())
            .basic_auth("api-key", "api-secret")
            .build()
            .unwrap();
        authorized
            .register("x-value", &registration_schema())
            .await
            .unwrap();
        assert_eq!(authorized.subjects().await.unwrap(), vec!["x-value"]);
    })
    .await;
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        registry.fail_next(2, 503);
        let id = client(registry.url())
            .register("t-value", &registration_schema())
            .await
            .unwrap();
        assert_eq!(
            registry.request_count(),
            3,
            "two 503 answers, then the registration"
        );
        assert_eq!(registry.versions("t-value"), vec![1]);
        assert_eq!(id, SchemaId::new(1));

        registry.fail_next(1, 429);
        assert_eq!(
            client(registry.url()).subjects().await.unwrap(),
            vec!["t-value"]
        );
    })
    .await;
}

#[tokio::test]
async fn server_errors_give_up_after_the_configured_attempts() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        registry.fail_next(100, 500);
        let client = SchemaRegistryClient::builder(registry.url())
            .retry_policy(fast_retries(3))
            .build()
            .unwrap();
        let error = client.subjects().await.unwrap_err();
        match &error {
            AdminError::RegistryServer {
                status,
                attempts,
                url,
                ..
            } => {
                assert_eq!((*status, *attempts), (500, 3));
                assert!(url.starts_with(registry.url()), "{url}");
            }
            other => panic!("expected RegistryServer, got {other:?}"),
        }
        assert!(error.is_retriable());
        assert_eq!(registry.request_count(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_stopped_registry_is_reported_unavailable_with_its_url() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let url = registry.url().to_owned();
        registry.shutdown().await;

        let client = SchemaRegistryClient::builder(&url)
            .retry_policy(fast_retries(3))
            .build()
            .unwrap();
        let started = Instant::now();
        let error = client.schema_by_id(SchemaId::new(1)).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        match &error {
            AdminError::RegistryUnavailable {
                attempts,
                url: failed,
                ..
            } => {
                assert_eq!(*attempts, 3);
                assert!(failed.starts_with(&url), "{failed}");
            }
            other => panic!("expected RegistryUnavailable, got {other:?}"),
        }
        assert!(error.is_retriable());
        assert!(error.to_string().contains(&url), "{error}");
        assert!(
            std::error::Error::source(&error).is_some(),
            "the cause is kept"
        );
    })
    .await;
}

#[tokio::test]
async fn a_silent_registry_times_out() {
    within_timeout(async {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });

        let client = SchemaRegistryClient::builder(format!("http://{address}"))
            .request_timeout(Duration::from_millis(200))
            .retry_policy(fast_retries(3))
            .build()
            .unwrap();
        let started = Instant::now();
        let error = client.subjects().await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(
            matches!(error, AdminError::RegistryTimeout { attempts: 1, .. }),
            "{error:?}"
        );
        assert!(error.is_retriable());
        silent.abort();
    })
    .await;
}

#[tokio::test]
async fn incompatible_schema_is_refused_and_not_registered() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let startup = client(registry.url());
        let id = startup
            .register_or_verify("t-value", &registration_schema())
            .await
            .unwrap();

        registry.set_compatible(false);
        let upgrade = client(registry.url());
        assert!(!upgrade
            .check_compatibility("t-value", &other_schema())
            .await
            .unwrap());
        let error = upgrade
            .register_or_verify("t-value", &other_schema())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, AdminError::IncompatibleSchema { subject, .. } if subject == "t-value"),
            "{error:?}"
        );
        assert!(!error.is_retriable());

        // A plain registration is refused by the registry itself (HTTP 409).
        let error = upgrade.register("t-value", &other_schema()).await.unwrap_err();
        assert!(matches!(error, AdminError::IncompatibleSchema { .. }), "{error:?}");
        assert_eq!(registry.versions("t-value"), vec![1], "nothing was registered");

        // The schema that is already registered still verifies.
        assert_eq!(
            client(registry.url())
                .register_or_verify("t-value", &registration_schema())
                .await
                .unwrap(),
            id
        );
    })
    .await;
}

#[tokio::test]
async fn a_failed_compatibility_check_is_not_taken_for_not_found() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let client = SchemaRegistryClient::builder(registry.url())
            .retry_policy(fast_retries(2))
            .build()
            .unwrap();
        client
            .register("t-value", &registration_schema())
            .await
            .unwrap();

        // The lookup answers "not registered"; then the compatibility check fails with 500s.
        registry.fail_next_on("/compatibility/", 2, 500);
        let error = client
            .register_or_verify("t-value", &other_schema())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                AdminError::RegistryServer {
                    operation: RegistryOperation::CheckCompatibility,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            registry.versions("t-value"),
            vec![1],
            "a failed check must not register"
        );
    })
    .await;
}

#[tokio::test]
async fn a_new_subject_is_compatible_and_gets_registered() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let client = client(registry.url());
        assert!(
            client
                .check_compatibility("fresh-value", &registration_schema())
                .await
                .unwrap()
        );
        let id = client
            .register_or_verify("fresh-value", &registration_schema())
            .await
            .unwrap();
        let found = client
            .lookup("fresh-value", &registration_schema())
            .await
            .unwrap()
            .expect("registered");
        assert_eq!((found.id, found.version), (id, 1));
    })
    .await;
}

#[tokio::test]
async fn invalid_schema_is_a_typed_error() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let error = client(registry.url())
            .register("t-value", &SchemaDefinition::json("{not json"))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, AdminError::InvalidSchema { subject, .. } if subject == "t-value"),
            "{error:?}"
        );
        assert!(registry.subjects().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_bad_response() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        registry.garble_next(1);
        let error = client(registry.url())
            .schema_by_id(SchemaId::new(1))
            .await
            .unwrap_err();
        assert!(
            matches!(error, AdminError::RegistryBadResponse { status: 200, .. }),
            "{error:?}"
        );
        assert!(!error.is_retriable());
    })
    .await;
}

#[tokio::test]
async fn missing_things_are_typed_not_found_errors() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let client = client(registry.url());
        let error = client.schema_by_id(SchemaId::new(42)).await.unwrap_err();
        assert!(
            matches!(error, AdminError::SchemaIdNotFound { id } if id == SchemaId::new(42)),
            "{error:?}"
        );
        let error = client.latest("nope-value").await.unwrap_err();
        assert!(
            matches!(error, AdminError::SubjectNotFound { .. }),
            "{error:?}"
        );
        let error = client.versions("nope-value").await.unwrap_err();
        assert!(
            matches!(error, AdminError::SubjectNotFound { .. }),
            "{error:?}"
        );
        assert!(
            client
                .lookup("nope-value", &registration_schema())
                .await
                .unwrap()
                .is_none()
        );

        client
            .register("t-value", &registration_schema())
            .await
            .unwrap();
        let error = client
            .version("t-value", SchemaVersion::Number(5))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                AdminError::VersionNotFound {
                    version: SchemaVersion::Number(5),
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            client
                .lookup("t-value", &other_schema())
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn subjects_with_reserved_characters_are_encoded() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let client = client(registry.url());
        let subject = "team/a b?c-value";
        let id = client
            .register(subject, &registration_schema())
            .await
            .unwrap();
        assert_eq!(registry.subjects(), vec![subject]);
        assert_eq!(client.latest(subject).await.unwrap().id, id);
    })
    .await;
}

#[tokio::test]
async fn avro_schemas_and_references_round_trip() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let client = client(registry.url());
        let base = SchemaDefinition::avro(r#"{"type":"record","name":"Base","fields":[]}"#);
        client.register("base-value", &base).await.unwrap();
        let derived = SchemaDefinition::avro(
            r#"{"type":"record","name":"Derived","fields":[{"name":"b","type":"Base"}]}"#,
        )
        .with_references(vec![SchemaReference::new("Base", "base-value", 1)]);
        let id = client.register("derived-value", &derived).await.unwrap();
        let fetched = SchemaRegistryClient::builder(registry.url())
            .build()
            .unwrap()
            .schema_by_id(id)
            .await
            .unwrap();
        assert_eq!(fetched, derived);
    })
    .await;
}

#[tokio::test]
async fn compatibility_level_can_be_read_and_changed() {
    within_timeout(async {
        let registry = SchemaRegistryStandIn::start().await.unwrap();
        let client = client(registry.url());
        assert_eq!(
            client.compatibility_level().await.unwrap(),
            CompatibilityLevel::Backward
        );
        assert_eq!(
            client
                .set_compatibility_level(CompatibilityLevel::FullTransitive)
                .await
                .unwrap(),
            CompatibilityLevel::FullTransitive
        );
        assert_eq!(
            client.compatibility_level().await.unwrap(),
            CompatibilityLevel::FullTransitive
        );
    })
    .await;
}

#[test]
fn builder_rejects_bad_urls() {
    let error = SchemaRegistryClient::builder("not a url")
        .build()
        .unwrap_err();
    assert!(
        matches!(error, AdminError::InvalidRegistryUrl { .. }),
        "{error:?}"
    );
    let error = SchemaRegistryClient::builder("ftp://registry:21")
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, AdminError::UnsupportedRegistryScheme { scheme } if scheme == "ftp"),
        "{error:?}"
    );
    let error = SchemaRegistryClient::builder("https://key:secret@registry")
        .build()
        .unwrap_err();
    assert!(
        matches!(error, AdminError::CredentialsInRegistryUrl),
        "{error:?}"
    );
    assert!(!error.to_string().contains("secret@"));
}

#[test]
fn builder_loads_a_ca_file_and_reports_unusable_ones() {
    let directory = tempfile::tempdir().unwrap();
    let good = directory.path().join("ca.pem");
    std::fs::write(&good, TEST_CA_PEM).unwrap();
    SchemaRegistryClient::builder("https://registry:8081")
        .tls_ca_file(&good)
        .build()
        .unwrap();

    let missing = directory.path().join("missing.pem");
    let error = SchemaRegistryClient::builder("https://registry:8081")
        .tls_ca_file(&missing)
        .build()
        .unwrap_err();
    assert!(matches!(error, AdminError::ReadCaFile { .. }), "{error:?}");

    let empty = directory.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let error = SchemaRegistryClient::builder("https://registry:8081")
        .tls_ca_file(&empty)
        .build()
        .unwrap_err();
    assert!(
        matches!(error, AdminError::InvalidCaFile { .. }),
        "{error:?}"
    );
}

#[test]
fn debug_output_never_shows_the_secret() {
    let builder = SchemaRegistryClient::builder("http://registry:8081")
        .basic_auth("api-key", "top-secret-value");
    assert!(!format!("{builder:?}").contains("top-secret-value"));
    let client = builder.build().unwrap();
    let debug = format!("{client:?}");
    assert!(debug.contains("api-key"), "{debug}");
    assert!(!debug.contains("top-secret-value"), "{debug}");
}

#[test]
fn base_url_path_prefix_is_kept() {
    let client = SchemaRegistryClient::builder("https://host/registry/")
        .build()
        .unwrap();
    assert_eq!(
        client.endpoint(&["subjects", "a b"]).as_str(),
        "https://host/registry/subjects/a%20b"
    );
    let client = SchemaRegistryClient::builder("http://host:8081")
        .build()
        .unwrap();
    assert_eq!(
        client.endpoint(&["schemas", "ids", "7"]).as_str(),
        "http://host:8081/schemas/ids/7"
    );
}

#[tokio::test]
async fn over_https_the_client_verifies_the_registry_and_sends_its_credentials() {
    within_timeout(async {
        let pki = autogen_kafka_testing::TestPki::new().unwrap();
        let registry = SchemaRegistryStandIn::builder()
            .with_basic_auth("api-key", "api-secret")
            .with_tls(&pki, false)
            .unwrap()
            .start()
            .await
            .unwrap();
        assert!(registry.url().starts_with("https://localhost:"));

        // Trusting the test CA, with the right credentials: registered over TLS.
        let trusted = SchemaRegistryClient::builder(registry.url())
            .basic_auth("api-key", "api-secret")
            .tls_ca_file(pki.ca_file())
            .build()
            .unwrap();
        trusted
            .register("x-value", &registration_schema())
            .await
            .unwrap();
        assert_eq!(trusted.subjects().await.unwrap(), vec!["x-value"]);

        // Wrong credentials over TLS: a typed 401, not retried.
        let before = registry.request_count();
        let wrong = SchemaRegistryClient::builder(registry.url())
            .basic_auth("api-key", "wrong")
            .tls_ca_file(pki.ca_file())
            .build()
            .unwrap();
        let error = wrong.subjects().await.unwrap_err();
        assert!(
            matches!(error, AdminError::RegistryUnauthorized { status: 401, .. }),
            "{error:?}"
        );
        assert_eq!(registry.request_count(), before + 1);

        // A client that trusts another CA refuses the server: a clear error naming the certificate problem, after
        // the bounded retries.
        let untrusting = SchemaRegistryClient::builder(registry.url())
            .basic_auth("api-key", "api-secret")
            .tls_ca_file(pki.other_ca_file())
            .retry_policy(RetryPolicy::default().max_attempts(2))
            .build()
            .unwrap();
        let error = untrusting.subjects().await.unwrap_err();
        let text = autogen_kafka_testing::error_chain(&error);
        assert!(
            matches!(error, AdminError::RegistryUnavailable { .. }),
            "{error:?}"
        );
        assert!(text.to_lowercase().contains("certificate"), "{text}");
        assert_eq!(
            registry.request_count(),
            before + 1,
            "no request got through"
        );
    })
    .await;
}

#[tokio::test]
async fn a_registry_that_requires_a_client_certificate_accepts_ours_and_refuses_none() {
    within_timeout(async {
        let pki = autogen_kafka_testing::TestPki::new().unwrap();
        let registry = SchemaRegistryStandIn::builder()
            .with_tls(&pki, true)
            .unwrap()
            .start()
            .await
            .unwrap();
        let with_certificate = SchemaRegistryClient::builder(registry.url())
            .tls_ca_file(pki.ca_file())
            .tls_client_identity(pki.client_cert_file(), pki.client_key_file())
            .build()
            .unwrap();
        assert!(with_certificate.subjects().await.unwrap().is_empty());

        let without = SchemaRegistryClient::builder(registry.url())
            .tls_ca_file(pki.ca_file())
            .retry_policy(RetryPolicy::default().max_attempts(1))
            .build()
            .unwrap();
        let error = without.subjects().await.unwrap_err();
        assert!(
            matches!(
                error,
                AdminError::RegistryUnavailable { .. } | AdminError::RegistryRequest { .. }
            ),
            "{error:?}"
        );

        let missing = SchemaRegistryClient::builder(registry.url())
            .tls_client_identity(pki.dir().join("nope.pem"), pki.client_key_file())
            .build()
            .unwrap_err();
        assert!(
            matches!(missing, AdminError::ReadIdentityFile { .. }),
            "{missing:?}"
        );
        let garbage = pki.dir().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let invalid = SchemaRegistryClient::builder(registry.url())
            .tls_client_identity(&garbage, &garbage)
            .build()
            .unwrap_err();
        assert!(
            matches!(invalid, AdminError::InvalidIdentity { .. }),
            "{invalid:?}"
        );
    })
    .await;
}

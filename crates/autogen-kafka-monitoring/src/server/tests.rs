//! The endpoint answered over a real socket with a hand-written HTTP/1.1 request.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::*;
use crate::{Criticality, HealthStatus};

const TEST_TIMEOUT: Duration = Duration::from_secs(10);

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, future)
        .await
        .expect("test timed out")
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

async fn get(address: SocketAddr, path: &str) -> Reply {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8(raw).expect("utf-8 reply");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .expect("status code")
        .parse()
        .expect("numeric status");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

struct Running {
    address: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<()>>,
}

async fn start(metrics: &Metrics, health: &Health) -> Running {
    let server = MonitoringServer::builder(metrics.clone(), health.clone())
        .address(([127, 0, 0, 1], 0).into())
        .build()
        .await
        .expect("bind");
    let address = server.local_addr();
    assert_ne!(address.port(), 0);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.serve(shutdown.clone()));
    Running {
        address,
        shutdown,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("server task").expect("serve");
    }
}

#[tokio::test]
async fn metrics_endpoint_serves_the_registry() {
    within(async {
        let metrics = Metrics::new().unwrap();
        let server = start(&metrics, &Health::new()).await;
        metrics.message_consumed("requests");

        let reply = get(server.address, "/metrics").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.headers["content-type"], METRICS_CONTENT_TYPE);
        assert!(
            reply.body.contains(
                r#"autogen_kafka_messages_total{direction="consumed",topic="requests"} 1"#
            ),
            "{}",
            reply.body
        );

        // Every scrape sees the current values.
        metrics.message_consumed("requests");
        let reply = get(server.address, "/metrics").await;
        assert!(
            reply.body.contains(
                r#"autogen_kafka_messages_total{direction="consumed",topic="requests"} 2"#
            )
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn readiness_answers_503_then_200_with_the_components() {
    within(async {
        let health = Health::new();
        let kafka = health.register("kafka", Criticality::Readiness);
        health.register("agents", Criticality::Liveness).up();
        kafka.down("all brokers unreachable");
        let server = start(&Metrics::new().unwrap(), &health).await;

        let reply = get(server.address, "/health/ready").await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.headers["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["probe"], "readiness");
        assert_eq!(body["healthy"], false);
        assert_eq!(body["status"], HealthStatus::Down.as_str());
        let kafka_entry = body["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "kafka")
            .expect("kafka listed");
        assert_eq!(kafka_entry["status"], "down");
        assert_eq!(kafka_entry["reason"], "all brokers unreachable");

        kafka.up();
        let reply = get(server.address, "/health/ready").await;
        assert_eq!(reply.status, 200);
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["healthy"], true);
        assert_eq!(body["components"].as_array().unwrap().len(), 2);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn liveness_ignores_readiness_only_components() {
    within(async {
        let health = Health::new();
        health
            .register("kafka", Criticality::Readiness)
            .down("unreachable");
        let agents = health.register("agents", Criticality::Liveness);
        agents.up();
        let server = start(&Metrics::new().unwrap(), &health).await;

        let reply = get(server.address, "/health/live").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["probe"], "liveness");

        agents.down("dispatch loop exited");
        let reply = get(server.address, "/health/live").await;
        assert_eq!(reply.status, 503);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_paths_are_404() {
    within(async {
        let server = start(&Metrics::new().unwrap(), &Health::new()).await;
        assert_eq!(get(server.address, "/").await.status, 404);
        assert_eq!(get(server.address, "/health").await.status, 404);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn cancelling_the_token_stops_the_server() {
    within(async {
        let server = start(&Metrics::new().unwrap(), &Health::new()).await;
        let address = server.address;
        assert_eq!(get(address, "/health/live").await.status, 200);
        server.stop().await;
        assert!(
            TcpStream::connect(address).await.is_err(),
            "the listener is closed after shutdown"
        );
    })
    .await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_does_not_block_shutdown() {
    within(async {
        let server = start(&Metrics::new().unwrap(), &Health::new()).await;
        // A client that keeps its connection open after a response must not block shutdown.
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {}\r\n\r\n", server.address);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buffer = [0_u8; 256];
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn binding_a_used_address_fails_and_is_retriable() {
    within(async {
        let first = MonitoringServer::builder(Metrics::new().unwrap(), Health::new())
            .address(([127, 0, 0, 1], 0).into())
            .build()
            .await
            .unwrap();
        let taken = first.local_addr();
        let error = MonitoringServer::builder(Metrics::new().unwrap(), Health::new())
            .address(taken)
            .build()
            .await
            .unwrap_err();
        assert!(
            matches!(&error, MonitoringError::BindServer { address, .. } if *address == taken),
            "{error:?}"
        );
        assert!(error.is_retriable());
    })
    .await;
}

#[test]
fn default_address_is_loopback() {
    let address = MonitoringServer::DEFAULT_ADDRESS;
    assert!(address.ip().is_loopback());
    assert_eq!(address.port(), 9464);
}

//! The gateway benchmark: what the A2A gateway adds to a call.
//!
//! A callee runtime hosts [`A2A_ECHO_TYPE`]; a caller runtime calls it two ways, in alternating rounds and runs of
//! the same benchmark run: directly (`send_with` of an [`A2aRequest`]), and through an [`A2aGateway`] served by
//! this process on 127.0.0.1 whose runtime is that same caller (JSON-RPC `SendMessage` over keep-alive HTTP/1.1,
//! hyper's pooled client, one connection per call in flight). Both runtimes live in the driver process, as in
//! the in-process latency variant, so the difference between the two paths is the HTTP exchange and the gateway.
//! Call `n` addresses context id `k<n mod KEYS>`, so the load spreads over as many agent ids as the RPC figures'.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use autogen_kafka::core::CancellationToken;
use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{AgentId, AgentRuntimeExt as _, SendOptions};
use autogen_kafka_gateway::{A2aGateway, A2aReply, A2aRequest, GatewayConfig, Skill};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Bench, BrokerCpu, CallFuture, READY_TIMEOUT, STOP_TIMEOUT, alternating_latency, chain,
    ensure_warm, median_run, wait_until,
};
use crate::agents::{A2A_ECHO_TYPE, a2a_echo_agent};
use crate::error::{BenchError, Result};
use crate::load::{KeyChoice, run_load};
use crate::procstat;
use crate::raw::KEYS;
use crate::report::{BrokerReport, GatewayReport, GatewayThroughput, ThroughputRun};
use crate::settings::Settings;
use crate::stats::{LatencySummary, millis, round3};

/// The keys the calls address (both paths alike).
const KEY_CHOICE: KeyChoice = KeyChoice::Uniform { keys: KEYS };

/// How much longer than the gateway's own RPC deadline the HTTP client waits for an answer.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// The pooled HTTP/1.1 client of the gateway calls.
type HttpClient = Client<HttpConnector, Full<Bytes>>;

impl Bench<'_> {
    /// Measures the gateway against the direct RPC and stores the [`GatewayReport`].
    pub(super) async fn gateway(&self, report: &mut BrokerReport) -> Result<()> {
        let s = &self.settings;
        let fleet = format!("{}.gw", self.id);
        self.create_fleet(&fleet).await?;
        let group = format!("{}.gw-group", self.id);
        let listen = "127.0.0.1:0";
        let listen_error = |source| BenchError::Listen {
            address: listen.to_owned(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(listen_error)?;
        let address = listener.local_addr().map_err(listen_error)?;
        let callee = s.runtime(&fleet, &group, &format!("{}-gw-callee", self.id))?;
        let caller = s.runtime(&fleet, &group, &format!("{}-gw-caller", self.id))?;
        let token = format!("bench-{}", self.id);
        let config = GatewayConfig::new(format!("http://{address}"), token.as_str())
            .skill(Skill::new(
                A2A_ECHO_TYPE,
                "Echo",
                "Answers with the text it got",
            ))
            .rpc_timeout(s.rpc_timeout());
        let gateway = A2aGateway::new(Arc::new(caller.clone()), config);
        let stop = CancellationToken::new();
        let mut server = tokio::spawn(gateway.serve(listener, stop.clone()));
        let outcome = self
            .gateway_measure(&callee, &caller, address, &token, report)
            .await;
        stop.cancel();
        match tokio::time::timeout(STOP_TIMEOUT, &mut server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => {
                tracing::warn!(error = %chain(&error), "the gateway's server failed");
            }
            Ok(Err(error)) => tracing::warn!(%error, "the gateway's server task failed"),
            Err(_) => {
                tracing::warn!(after = ?STOP_TIMEOUT, "the gateway's server did not stop: aborted");
                server.abort();
            }
        }
        for runtime in [&caller, &callee] {
            if let Err(error) = runtime.stop().await {
                tracing::warn!(error = %chain(&error), "gateway benchmark runtime did not stop cleanly");
            }
        }
        outcome
    }

    async fn gateway_measure(
        &self,
        callee: &KafkaWorkerAgentRuntime,
        caller: &KafkaWorkerAgentRuntime,
        address: SocketAddr,
        token: &str,
        report: &mut BrokerReport,
    ) -> Result<()> {
        let s = &self.settings;
        let plan = self.plan;
        callee
            .register(A2A_ECHO_TYPE, |_| a2a_echo_agent())
            .await
            .map_err(|e| BenchError::runtime("register", e))?;
        let (a, b) = tokio::join!(callee.start(), caller.start());
        for started in [a, b] {
            started.map_err(|e| BenchError::runtime("start", e))?;
        }
        wait_until("the caller seeing the a2a_echo type", READY_TIMEOUT, || {
            caller.is_hosted(A2A_ECHO_TYPE)
        })
        .await?;
        let pad: Arc<str> = Arc::from(s.padding());
        let direct = direct_call(caller, s, &pad);
        let through = gateway_call(http_client(), address, token, s, &pad);
        ensure_warm("direct A2A", direct.clone(), s.rpc_timeout()).await?;
        ensure_warm("gateway", through.clone(), s.rpc_timeout()).await?;

        // Latency, one call in flight, rounds alternating direct and gateway.
        tracing::info!(samples = plan.gateway_latency_samples, "gateway latency");
        let (mut direct_latency, mut gateway_latency) =
            alternating_latency(plan, plan.gateway_latency_samples, &direct, &through).await;
        let first_error = direct_latency
            .first_error
            .take()
            .or_else(|| gateway_latency.first_error.take());
        report.gateway = Some(GatewayReport::new(
            A2A_ECHO_TYPE,
            KEYS,
            s.payload_bytes,
            (
                LatencySummary::from_samples(direct_latency.latencies),
                direct_latency.errors,
            ),
            (
                LatencySummary::from_samples(gateway_latency.latencies),
                gateway_latency.errors,
            ),
            first_error,
        ));

        // Throughput at each in-flight level. Repeats alternate which side runs first: the mock cluster's cost per
        // record grows with its logs, so a fixed order would favour the side that always runs first.
        for &in_flight in &plan.gateway_in_flight {
            tracing::info!(in_flight, "gateway throughput");
            let mut direct_runs = Vec::new();
            let mut gateway_runs = Vec::new();
            for repeat in 0..plan.throughput_repeats.max(1) {
                if repeat % 2 == 0 {
                    direct_runs.push(self.gateway_run(in_flight, direct.clone()).await);
                    gateway_runs.push(self.gateway_run(in_flight, through.clone()).await);
                } else {
                    gateway_runs.push(self.gateway_run(in_flight, through.clone()).await);
                    direct_runs.push(self.gateway_run(in_flight, direct.clone()).await);
                }
            }
            let level = GatewayThroughput::new(
                in_flight,
                median_run(direct_runs),
                median_run(gateway_runs),
            );
            if let Some(gateway) = report.gateway.as_mut() {
                gateway.throughput.push(level);
            }
        }
        Ok(())
    }

    /// A warm-up, then one measured closed-loop run of `op`, with the driver's CPU (callers, gateway and callee
    /// alike; without the mock cluster's thread) and the broker's.
    async fn gateway_run<F>(&self, in_flight: usize, op: F) -> ThroughputRun
    where
        F: Fn(u64) -> CallFuture + Clone + Send + Sync + 'static,
    {
        let plan = self.plan;
        let _ = run_load(plan.warm_up(in_flight), op.clone()).await;
        let driver_before = self.driver_cpu();
        let broker_before = self.broker_cpu.read();
        let outcome = run_load(plan.measured(in_flight), op).await;
        let driver_after = self.driver_cpu();
        let broker_after = self.broker_cpu.read();
        let elapsed = outcome.elapsed.as_secs_f64();
        let broker_cpu_percent = match (broker_before, broker_after) {
            (Some(b), Some(a)) if elapsed > 0.0 => {
                Some(round3(a.saturating_sub(b).as_secs_f64() * 100.0 / elapsed))
            }
            _ => None,
        };
        let driver_cpu_ms_per_1k = match (driver_before, driver_after) {
            (Some(b), Some(a)) if outcome.completed > 0 => Some(round3(
                millis(a.saturating_sub(b)) * 1000.0 / outcome.completed as f64,
            )),
            _ => None,
        };
        let ops_per_second = round3(outcome.ops_per_second());
        let summary = LatencySummary::from_samples(outcome.latencies);
        tracing::info!(
            in_flight,
            ops_per_second,
            errors = outcome.errors,
            driver_cpu_ms_per_1k,
            "gateway benchmark run measured"
        );
        ThroughputRun {
            ops_per_second,
            completed: outcome.completed,
            errors: outcome.errors,
            first_error: outcome.first_error,
            seconds: round3(outcome.window.as_secs_f64()),
            p50_ms: round3(summary.p50_ms),
            p99_ms: round3(summary.p99_ms),
            callee_cpu_ms_per_1k: None,
            callee_records_per_request: None,
            caller_records_per_request: None,
            caller_cpu_ms_per_1k: driver_cpu_ms_per_1k,
            callee_max_rss_mib: None,
            broker_cpu_percent,
            all_ops_per_second: vec![ops_per_second],
        }
    }

    /// CPU time of the driver process, without the mock cluster's thread when it runs here.
    fn driver_cpu(&self) -> Option<Duration> {
        let process = procstat::sample_self().ok()?.cpu;
        match self.broker_cpu {
            BrokerCpu::MockThread => Some(process.saturating_sub(self.broker_cpu.read()?)),
            BrokerCpu::Process(_) | BrokerCpu::Unknown => Some(process),
        }
    }
}

/// The text of call `n`: its number, then the padding (so a mixed-up answer shows).
fn text_of(n: u64, pad: &str) -> String {
    format!("{n}:{pad}")
}

/// The direct call: `A2aRequest` to `a2a_echo/k<key>` through the caller runtime, checking the echoed text.
fn direct_call(
    caller: &KafkaWorkerAgentRuntime,
    settings: &Settings,
    pad: &Arc<str>,
) -> impl Fn(u64) -> CallFuture + Clone + Send + Sync + 'static {
    let caller = caller.clone();
    let pad = Arc::clone(pad);
    let timeout = settings.rpc_timeout();
    move |n| {
        let caller = caller.clone();
        let text = text_of(n, &pad);
        Box::pin(async move {
            let context_id = format!("k{}", KEY_CHOICE.key(n));
            let id = AgentId::new(A2A_ECHO_TYPE, &context_id).map_err(|e| chain(&e))?;
            let request = A2aRequest {
                text: text.clone(),
                data: Vec::new(),
                context_id,
                task_id: format!("t{n}"),
            };
            let reply: A2aReply = caller
                .send_with(request, &id, SendOptions::new().with_timeout(timeout))
                .await
                .map_err(|e| chain(&e))?;
            if reply.text == text {
                Ok(())
            } else {
                Err(format!("answer {:?} to text {text:?}", reply.text))
            }
        })
    }
}

/// A pooled HTTP/1.1 client (keep-alive, `TCP_NODELAY` as most HTTP clients set it).
fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// The gateway call: a blocking `SendMessage` with context id `k<key>` to the gateway at `address`, checking that
/// the task completed with the text echoed.
fn gateway_call(
    client: HttpClient,
    address: SocketAddr,
    token: &str,
    settings: &Settings,
    pad: &Arc<str>,
) -> impl Fn(u64) -> CallFuture + Clone + Send + Sync + 'static {
    let uri: Arc<str> = Arc::from(format!("http://{address}/a2a/jsonrpc"));
    let bearer: Arc<str> = Arc::from(format!("Bearer {token}"));
    let pad = Arc::clone(pad);
    let timeout = settings.rpc_timeout() + HTTP_GRACE;
    move |n| {
        let client = client.clone();
        let uri = Arc::clone(&uri);
        let bearer = Arc::clone(&bearer);
        let text = text_of(n, &pad);
        Box::pin(async move {
            let body = serde_json::to_vec(&SendMessage::new(n, &text)).map_err(|e| chain(&e))?;
            let request = Request::post(&*uri)
                .header(AUTHORIZATION, &*bearer)
                .header("a2a-version", "1.0")
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| chain(&e))?;
            let exchange = async {
                let response = client.request(request).await.map_err(|e| chain(&e))?;
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| chain(&e))?
                    .to_bytes();
                Ok::<_, String>((status, body))
            };
            let (status, body) = tokio::time::timeout(timeout, exchange)
                .await
                .map_err(|_| format!("no HTTP answer within {timeout:?}"))??;
            if status != StatusCode::OK {
                return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
            }
            completed_echo(&body, &text)
        })
    }
}

/// The JSON-RPC request of gateway call `n` (typed, so the client builds no JSON tree).
#[derive(Serialize)]
struct SendMessage<'a> {
    jsonrpc: &'static str,
    id: u64,
    method: &'static str,
    params: SendParams<'a>,
}

#[derive(Serialize)]
struct SendParams<'a> {
    message: OutgoingMessage<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutgoingMessage<'a> {
    message_id: String,
    role: &'static str,
    context_id: String,
    parts: [TextPart<'a>; 1],
}

#[derive(Serialize, Deserialize)]
struct TextPart<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

impl<'a> SendMessage<'a> {
    /// A blocking `SendMessage` of `text` with context id `k<key of n>`.
    fn new(n: u64, text: &'a str) -> Self {
        Self {
            jsonrpc: "2.0",
            id: n,
            method: "SendMessage",
            params: SendParams {
                message: OutgoingMessage {
                    message_id: format!("m{n}"),
                    role: "ROLE_USER",
                    context_id: format!("k{}", KEY_CHOICE.key(n)),
                    parts: [TextPart {
                        text: Some(Cow::Borrowed(text)),
                    }],
                },
            },
        }
    }
}

/// The parts of a `SendMessage` answer the check reads (the rest is skipped, not built).
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    result: Option<AnswerResult<'a>>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct AnswerResult<'a> {
    #[serde(borrow)]
    task: AnswerTask<'a>,
}

#[derive(Deserialize)]
struct AnswerTask<'a> {
    status: Value,
    #[serde(borrow, default)]
    artifacts: Vec<AnswerArtifact<'a>>,
}

#[derive(Deserialize)]
struct AnswerArtifact<'a> {
    #[serde(borrow, default)]
    parts: Vec<TextPart<'a>>,
}

/// Whether a `SendMessage` answer is a task in `TASK_STATE_COMPLETED` whose artifact's text part is `text`.
fn completed_echo(body: &[u8], text: &str) -> Result<(), String> {
    let answer: Answer<'_> =
        serde_json::from_slice(body).map_err(|e| format!("not a SendMessage answer: {e}"))?;
    let task = match (answer.result, answer.error) {
        (_, Some(error)) => return Err(format!("JSON-RPC error {error}")),
        (Some(result), None) => result.task,
        (None, None) => return Err("an answer without result or error".to_owned()),
    };
    let state = task.status["state"].as_str().unwrap_or("missing");
    if state != "TASK_STATE_COMPLETED" {
        return Err(format!("task state {state}: {}", task.status));
    }
    let echoed = task
        .artifacts
        .first()
        .and_then(|artifact| artifact.parts.first())
        .and_then(|part| part.text.as_deref());
    match echoed {
        Some(echoed) if echoed == text => Ok(()),
        other => Err(format!("answer {other:?} to text {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_call_is_a_send_message_to_its_context_id() {
        let request = serde_json::to_value(SendMessage::new(1030, "1030:x")).unwrap();
        let expected = json!({"jsonrpc": "2.0", "id": 1030, "method": "SendMessage", "params": {"message": {
            "messageId": "m1030", "role": "ROLE_USER", "contextId": "k6", "parts": [{"text": "1030:x"}],
        }}});
        assert_eq!(request, expected);
    }

    #[test]
    fn only_a_completed_task_echoing_the_text_counts() {
        let answer = |state: &str, echoed: &str| {
            json!({"jsonrpc": "2.0", "id": 1, "result": {"task": {
                "id": "t", "contextId": "k1",
                "status": {"state": state},
                "artifacts": [{"artifactId": "a", "parts": [{"text": echoed}]}],
            }}})
            .to_string()
        };
        assert_eq!(
            completed_echo(answer("TASK_STATE_COMPLETED", "1:x").as_bytes(), "1:x"),
            Ok(())
        );
        let failed = completed_echo(answer("TASK_STATE_FAILED", "").as_bytes(), "1:x");
        assert!(failed.unwrap_err().contains("TASK_STATE_FAILED"));
        assert!(completed_echo(answer("TASK_STATE_COMPLETED", "2:x").as_bytes(), "1:x").is_err());
        let error = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "bad"}});
        assert!(
            completed_echo(error.to_string().as_bytes(), "1:x")
                .unwrap_err()
                .contains("-32602")
        );
        assert!(completed_echo(b"<html>", "1:x").is_err());
    }
}

//! The A2A gateway in front of a fleet: the agent card, bearer authentication, protocol errors, and tasks that
//! complete, fail (handler error, deadline) or are cancelled, over HTTP to a gateway serving a runtime of the fleet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use autogen_kafka::{AgentRuntimeExt as _, Handler, HandlerError, MessageContext, RoutedAgent};
use autogen_kafka_gateway::{A2aGateway, A2aReply, A2aRequest, GatewayConfig, Skill};
use autogen_kafka_integration_tests::{worker, worker_config};
use autogen_kafka_testing::{TestBroker, http_request, unique_topic};
use serde_json::{Value, json};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);
const TOKEN: &str = "gateway-token-3f9a";

/// Answers with the text it got and the agent id; `fail` is a handler error, `sleep` waits 10 s (and notes a
/// cancellation).
struct Helper {
    cancelled: Arc<AtomicBool>,
}

impl Handler<A2aRequest> for Helper {
    type Response = A2aReply;

    async fn handle(
        &mut self,
        request: A2aRequest,
        ctx: &MessageContext,
    ) -> Result<A2aReply, HandlerError> {
        match request.text.as_str() {
            "fail" => Err("the helper refuses".into()),
            "sleep" => {
                tokio::select! {
                    () = ctx.cancellation().cancelled() => self.cancelled.store(true, Ordering::SeqCst),
                    () = tokio::time::sleep(Duration::from_secs(10)) => {}
                }
                Ok(A2aReply::text("woke up"))
            }
            text => Ok(A2aReply {
                text: format!("{text} from {}", ctx.agent_id()),
                data: request.data.first().cloned(),
            }),
        }
    }
}

/// One HTTP/1.1 request to the gateway; the status and the JSON body (`Null` when the body is not JSON).
async fn http(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let (status, text) = http_text(address, method, path, headers, body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One HTTP/1.1 request to the gateway; the status and the body as text.
async fn http_text(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    http_request(&address.to_string(), method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A JSON-RPC call with the token and the version header; the response's `result` or `error`.
async fn call(address: std::net::SocketAddr, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": "1", "method": method, "params": params}).to_string();
    let bearer = format!("Bearer {TOKEN}");
    let (status, response) = http(
        address,
        "POST",
        "/a2a/jsonrpc",
        &[("Authorization", &bearer), ("A2A-Version", "1.0")],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["id"], "1");
    response
}

fn message(text: &str, context: &str) -> Value {
    json!({"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": text}], "contextId": context}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_a2a_client_discovers_calls_lists_and_cancels_fleet_agents_through_the_gateway() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap_or_else(|e| panic!("{e}"));
        let config = worker_config(&broker, &unique_topic("gateway"));
        let cancelled = Arc::new(AtomicBool::new(false));
        let host = worker(&broker, config.clone(), "host");
        let seen = Arc::clone(&cancelled);
        host.register("helper", move |_| {
            RoutedAgent::new(Helper {
                cancelled: Arc::clone(&seen),
            })
            .with_handler::<A2aRequest>()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let front = worker(&broker, config, "gateway");
        let (a, b) = tokio::join!(host.start(), front.start());
        a.unwrap_or_else(|e| panic!("{e}"));
        b.unwrap_or_else(|e| panic!("{e}"));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let gateway = A2aGateway::new(
            Arc::new(front.clone()),
            GatewayConfig::new(format!("http://{address}"), TOKEN)
                .skill(Skill::new("helper", "Helper", "Answers with what it got"))
                .rpc_timeout(Duration::from_secs(2)),
        );
        let stop = autogen_kafka::core::CancellationToken::new();
        let served = tokio::spawn(gateway.serve(listener, stop.clone()));

        // Discovery: the card is public.
        let (status, card) = http(address, "GET", "/.well-known/agent-card.json", &[], "").await;
        assert_eq!(status, 200);
        assert_eq!(card["skills"][0]["id"], "helper");
        assert_eq!(
            card["supportedInterfaces"][0]["url"],
            format!("http://{address}/a2a/jsonrpc")
        );

        // Refusals: no token, another protocol version, not JSON, no such method.
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}})
            .to_string();
        let (status, _) = http(
            address,
            "POST",
            "/a2a/jsonrpc",
            &[("A2A-Version", "1.0")],
            &body,
        )
        .await;
        assert_eq!(status, 401);
        let bearer = format!("Bearer {TOKEN}");
        let (_, old) = http(
            address,
            "POST",
            "/a2a/jsonrpc",
            &[("Authorization", &bearer)],
            &body,
        )
        .await;
        assert_eq!(old["error"]["code"], -32009);
        let (_, garbage) = http(
            address,
            "POST",
            "/a2a/jsonrpc",
            &[("Authorization", &bearer), ("A2A-Version", "1.0")],
            "{not json",
        )
        .await;
        assert_eq!(garbage["error"]["code"], -32700);
        assert_eq!(
            call(address, "Dance", json!({})).await["error"]["code"],
            -32601
        );
        assert_eq!(
            call(address, "GetTask", json!({"id": "none"})).await["error"]["code"],
            -32001
        );

        // A message becomes an RPC to helper/<contextId>; the answer is the task's artifact.
        let mut params = message("hello", "conv-1");
        params["message"]["parts"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("parts"))
            .push(json!({"data": {"n": 7}}));
        let sent = call(address, "SendMessage", params).await;
        let task = &sent["result"]["task"];
        assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED", "{sent}");
        assert_eq!(task["contextId"], "conv-1");
        assert_eq!(
            task["artifacts"][0]["parts"][0]["text"],
            "hello from helper/conv-1"
        );
        assert_eq!(task["artifacts"][0]["parts"][1]["data"]["n"], 7);
        assert_eq!(task["status"]["message"]["role"], "ROLE_AGENT");
        assert_eq!(task["history"].as_array().map(Vec::len), Some(2));
        let id = task["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id"))
            .to_owned();
        let got = call(address, "GetTask", json!({"id": id})).await;
        assert_eq!(&got["result"], task);

        // Streamed: the task, then its changes as server-sent events, until it ends.
        let body = json!({"jsonrpc": "2.0", "id": "s1", "method": "SendStreamingMessage", "params": message("stream me", "conv-5")})
            .to_string();
        let (status, stream) = http_text(
            address,
            "POST",
            "/a2a/jsonrpc",
            &[("Authorization", &bearer), ("A2A-Version", "1.0"), ("Accept", "text/event-stream")],
            &body,
        )
        .await;
        assert_eq!(status, 200);
        let events: Vec<Value> = stream
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .map(|data| serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}")))
            .collect();
        assert!(events.iter().all(|e| e["id"] == "s1"), "{events:?}");
        assert!(events[0]["result"]["task"]["id"].is_string(), "the task comes first: {events:?}");
        let artifact = events
            .iter()
            .find_map(|e| e["result"]["artifactUpdate"]["artifact"]["parts"][0]["text"].as_str());
        assert_eq!(artifact, Some("stream me from helper/conv-5"), "{events:?}");
        let last = events.last().unwrap_or_else(|| panic!("no events"));
        assert_eq!(last["result"]["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED", "{events:?}");

        // Handler errors and deadlines fail the task with the reason.
        let failed = call(address, "SendMessage", message("fail", "conv-2")).await;
        let failed = &failed["result"]["task"]["status"];
        assert_eq!(failed["state"], "TASK_STATE_FAILED");
        let reason = failed["message"]["parts"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(reason.contains("the helper refuses"), "{reason}");
        let late = call(address, "SendMessage", message("sleep", "conv-3")).await;
        let late = &late["result"]["task"]["status"];
        assert_eq!(late["state"], "TASK_STATE_FAILED");
        let reason = late["message"]["parts"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(reason.starts_with("timeout"), "{reason}");

        // A task started without waiting is cancelled: the agent's handler sees its cancellation.
        let mut params = message("sleep", "conv-4");
        params["configuration"] = json!({"returnImmediately": true});
        let started = call(address, "SendMessage", params).await;
        let state = started["result"]["task"]["status"]["state"].clone();
        assert!(
            state == "TASK_STATE_SUBMITTED" || state == "TASK_STATE_WORKING",
            "{state}"
        );
        let running = started["result"]["task"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cancel = call(address, "CancelTask", json!({"id": running})).await;
        assert_eq!(
            cancel["result"]["status"]["state"], "TASK_STATE_CANCELED",
            "{cancel}"
        );
        autogen_kafka_testing::eventually(
            Duration::from_secs(5),
            Duration::from_millis(20),
            || async { cancelled.load(Ordering::SeqCst) },
        )
        .await
        .unwrap_or_else(|e| panic!("the handler never saw the cancellation: {e}"));
        let again = call(address, "CancelTask", json!({"id": running})).await;
        assert_eq!(again["error"]["code"], -32002);

        // Listing: newest first, per context, in pages.
        let listed = call(address, "ListTasks", json!({"pageSize": 3})).await;
        assert_eq!(listed["result"]["totalSize"], 5);
        assert_eq!(listed["result"]["tasks"][0]["contextId"], "conv-4");
        assert_eq!(listed["result"]["nextPageToken"], "3");
        let one = call(address, "ListTasks", json!({"contextId": "conv-1"})).await;
        assert_eq!(one["result"]["tasks"][0]["id"], id.as_str());
        assert_eq!(one["result"]["nextPageToken"], "");

        stop.cancel();
        served
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        front.stop().await.unwrap_or_else(|e| panic!("{e}"));
        host.stop().await.unwrap_or_else(|e| panic!("{e}"));
    })
    .await
    .unwrap_or_else(|_| panic!("test timed out"));
}

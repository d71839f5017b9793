//! The A2A gateway in front of a fleet: the agent card, bearer authentication, protocol errors, and tasks that
//! complete, fail (handler error, deadline) or are cancelled, over HTTP to a gateway serving a runtime of the fleet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use autogen_kafka::{AgentRuntimeExt as _, Handler, HandlerError, MessageContext, RoutedAgent};
use autogen_kafka_gateway::{A2aGateway, A2aReply, A2aRequest, GatewayConfig, Skill};
use autogen_kafka_integration_tests::{produce_raw, topic_creation, worker, worker_config};
use autogen_kafka_testing::{TestBroker, http_request, unique_topic};
use serde_json::{Value, json};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);
const TOKEN: &str = "gateway-token-3f9a";

/// Answers with the text it got and the agent id; `fail` is a handler error, `sleep` waits 10 s (and notes that it
/// fell asleep and a cancellation).
struct Helper {
    seen: Arc<Seen>,
}

/// What a [`Helper`] noticed.
#[derive(Default)]
struct Seen {
    asleep: AtomicBool,
    cancelled: AtomicBool,
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
                self.seen.asleep.store(true, Ordering::SeqCst);
                tokio::select! {
                    () = ctx.cancellation().cancelled() => self.seen.cancelled.store(true, Ordering::SeqCst),
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

/// Two started runtimes of the fleet `config` describes: one hosting `helper`, one for gateways to call through;
/// and what the helpers notice.
async fn helper_fleet(
    broker: &TestBroker,
    config: &autogen_kafka::Config,
) -> (
    autogen_kafka::runtime::KafkaWorkerAgentRuntime,
    autogen_kafka::runtime::KafkaWorkerAgentRuntime,
    Arc<Seen>,
) {
    let seen = Arc::new(Seen::default());
    let host = worker(broker, config.clone(), "host");
    let helper_seen = Arc::clone(&seen);
    host.register("helper", move |_| {
        RoutedAgent::new(Helper {
            seen: Arc::clone(&helper_seen),
        })
        .with_handler::<A2aRequest>()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let front = worker(broker, config.clone(), "gateway");
    let (a, b) = tokio::join!(host.start(), front.start());
    a.unwrap_or_else(|e| panic!("{e}"));
    b.unwrap_or_else(|e| panic!("{e}"));
    (host, front, seen)
}

/// Stops a gateway served by `served` (its task topic closed), then the fleet's runtimes, if given.
async fn stop_gateway(
    stop: autogen_kafka::core::CancellationToken,
    served: tokio::task::JoinHandle<Result<(), autogen_kafka_gateway::GatewayError>>,
    runtimes: &[&autogen_kafka::runtime::KafkaWorkerAgentRuntime],
) {
    stop.cancel();
    served
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    for runtime in runtimes {
        runtime.stop().await.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Waits until a helper fell asleep on a `sleep` message.
async fn wait_asleep(seen: &Seen) {
    autogen_kafka_testing::eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || async { seen.asleep.load(Ordering::SeqCst) },
    )
    .await
    .unwrap_or_else(|e| panic!("the handler never started: {e}"));
}

/// The JSON data of each server-sent event of `stream`.
fn sse_events(stream: &str) -> Vec<Value> {
    stream
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_a2a_client_discovers_calls_lists_and_cancels_fleet_agents_through_the_gateway() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap_or_else(|e| panic!("{e}"));
        let config = worker_config(&broker, &unique_topic("gateway"));
        let (host, front, seen) = helper_fleet(&broker, &config).await;

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
        let events = sse_events(&stream);
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
        wait_asleep(&seen).await;
        let cancel = call(address, "CancelTask", json!({"id": running})).await;
        assert_eq!(
            cancel["result"]["status"]["state"], "TASK_STATE_CANCELED",
            "{cancel}"
        );
        autogen_kafka_testing::eventually(
            Duration::from_secs(5),
            Duration::from_millis(20),
            || async { seen.cancelled.load(Ordering::SeqCst) },
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

        // The HTTP+JSON binding: the same operations as resources, errors as HTTP statuses with the A2A reason.
        let rest = [("Authorization", bearer.as_str()), ("A2A-Version", "1.0")];
        let (status, sent) = http(
            address,
            "POST",
            "/a2a/rest/message:send",
            &rest,
            &message("rest call", "conv-rest").to_string(),
        )
        .await;
        assert_eq!(status, 200, "{sent}");
        assert_eq!(sent["task"]["status"]["state"], "TASK_STATE_COMPLETED");
        assert_eq!(
            sent["task"]["artifacts"][0]["parts"][0]["text"],
            "rest call from helper/conv-rest"
        );
        let rest_id = sent["task"]["id"].as_str().unwrap_or_default().to_owned();
        let (status, got) = http(address, "GET", &format!("/a2a/rest/tasks/{rest_id}"), &rest, "").await;
        assert_eq!((status, &got["id"]), (200, &sent["task"]["id"]));
        let (status, listed) =
            http(address, "GET", "/a2a/rest/tasks?contextId=conv-rest&pageSize=5", &rest, "").await;
        assert_eq!((status, &listed["tasks"][0]["id"]), (200, &sent["task"]["id"]));
        let (status, missing) = http(address, "GET", "/a2a/rest/tasks/none", &rest, "").await;
        assert_eq!(status, 404);
        assert_eq!(missing["error"]["details"][0]["reason"], "TASK_NOT_FOUND");
        let (status, ended) =
            http(address, "POST", &format!("/a2a/rest/tasks/{rest_id}:cancel"), &rest, "").await;
        assert_eq!(status, 400);
        assert_eq!(ended["error"]["details"][0]["reason"], "TASK_NOT_CANCELABLE");
        let (status, _) = http(address, "GET", "/a2a/rest/tasks", &[("A2A-Version", "1.0")], "").await;
        assert_eq!(status, 401);
        let (status, streamed) = http_text(
            address,
            "POST",
            "/a2a/rest/message:stream",
            &rest,
            &message("rest stream", "conv-rest").to_string(),
        )
        .await;
        assert_eq!(status, 200);
        let events = sse_events(&streamed);
        assert!(events[0]["task"]["id"].is_string(), "{events:?}");
        let last = events.last().unwrap_or_else(|| panic!("no events"));
        assert_eq!(last["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED", "{events:?}");

        stop_gateway(stop, served, &[&front, &host]).await;
    })
    .await
    .unwrap_or_else(|_| panic!("test timed out"));
}

/// A gateway over `runtime` sharing its tasks on the fleet's task topic, served on a free port: its address, its
/// stop token and its serving task.
async fn shared_gateway(
    runtime: &autogen_kafka::runtime::KafkaWorkerAgentRuntime,
    config: &autogen_kafka::Config,
    broker: &TestBroker,
) -> (
    std::net::SocketAddr,
    autogen_kafka::core::CancellationToken,
    tokio::task::JoinHandle<Result<(), autogen_kafka_gateway::GatewayError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let gateway = A2aGateway::with_task_topic(
        Arc::new(runtime.clone()),
        GatewayConfig::new(format!("http://{address}"), TOKEN).skill(Skill::new(
            "helper",
            "Helper",
            "Answers with what it got",
        )),
        config,
        topic_creation(broker.kind()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let stop = autogen_kafka::core::CancellationToken::new();
    let served = tokio::spawn(gateway.serve(listener, stop.clone()));
    (address, stop, served)
}

/// The state of task `id` at the gateway at `address` (`None` while it does not know the task).
async fn state_at(address: std::net::SocketAddr, id: &str) -> Option<String> {
    let got = call(address, "GetTask", json!({"id": id})).await;
    got["result"]["status"]["state"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_replicas_share_tasks_on_a_topic_and_a_restarted_gateway_still_knows_them() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::start().await.unwrap_or_else(|e| panic!("{e}"));
        let fleet = unique_topic("gateways");
        let mut config = worker_config(&broker, &fleet);
        config.gateway.tasks_topic = format!("{fleet}.a2a_tasks");
        broker
            .create_topic(&config.gateway.tasks_topic, 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (host, front, seen) = helper_fleet(&broker, &config).await;
        let (first, stop_first, first_served) = shared_gateway(&front, &config, &broker).await;
        let (second, stop_second, second_served) = shared_gateway(&front, &config, &broker).await;
        let soon = |address, id: String, state: &'static str| async move {
            autogen_kafka_testing::eventually(
                Duration::from_secs(15),
                Duration::from_millis(50),
                || async { state_at(address, &id).await.as_deref() == Some(state) },
            )
            .await
            .unwrap_or_else(|e| panic!("task {id} never read {state} at {address}: {e}"));
        };

        // A task the first gateway ran: the second answers GetTask and ListTasks for it.
        let sent = call(first, "SendMessage", message("hello", "conv-1")).await;
        let done = sent["result"]["task"].clone();
        assert_eq!(done["status"]["state"], "TASK_STATE_COMPLETED", "{sent}");
        let done_id = done["id"].as_str().unwrap_or_default().to_owned();
        soon(second, done_id.clone(), "TASK_STATE_COMPLETED").await;
        let got = call(second, "GetTask", json!({"id": done_id})).await;
        assert_eq!(got["result"], done, "the second gateway knows the task as the first ran it");
        let listed = call(second, "ListTasks", json!({"contextId": "conv-1"})).await;
        assert_eq!(listed["result"]["tasks"][0]["id"], done_id.as_str());

        // A task running at the first gateway is cancelled through the second: the agent sees the cancellation.
        let mut params = message("sleep", "conv-2");
        params["configuration"] = json!({"returnImmediately": true});
        let started = call(first, "SendMessage", params).await;
        let running = started["result"]["task"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        soon(second, running.clone(), "TASK_STATE_WORKING").await;
        wait_asleep(&seen).await;
        // The second gateway answers once it read the end (within 5 s; on a loaded machine the task as it stood).
        let cancel = call(second, "CancelTask", json!({"id": running})).await;
        let state = cancel["result"]["status"]["state"].clone();
        assert!(
            state == "TASK_STATE_CANCELED" || state == "TASK_STATE_WORKING",
            "{cancel}"
        );
        soon(second, running.clone(), "TASK_STATE_CANCELED").await;
        autogen_kafka_testing::eventually(
            Duration::from_secs(15),
            Duration::from_millis(20),
            || async { seen.cancelled.load(Ordering::SeqCst) },
        )
        .await
        .unwrap_or_else(|e| panic!("the handler never saw the cancellation: {e}"));
        assert_eq!(state_at(first, &running).await.as_deref(), Some("TASK_STATE_CANCELED"));

        // The first gateway stops; a new one started on the topic knows both tasks.
        stop_gateway(stop_first, first_served, &[]).await;
        let (third, stop_third, third_served) = shared_gateway(&front, &config, &broker).await;
        assert_eq!(state_at(third, &done_id).await.as_deref(), Some("TASK_STATE_COMPLETED"));
        assert_eq!(state_at(third, &running).await.as_deref(), Some("TASK_STATE_CANCELED"));
        let listed = call(third, "ListTasks", json!({})).await;
        assert_eq!(listed["result"]["totalSize"], 2, "{listed}");

        // A task whose gateway died while it worked reads failed once well past its deadline.
        let orphan = json!({
            "gateway": "gateway-that-died",
            "deadlineMs": u64::try_from(
                (std::time::SystemTime::now() - Duration::from_secs(60))
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
            ).unwrap_or_default(),
            "task": {"id": "orphan-1", "contextId": "conv-9",
                     "status": {"state": "TASK_STATE_WORKING", "timestamp": "2026-12-07T00:00:00.000Z"}},
        });
        produce_raw(&broker, &config.gateway.tasks_topic, "task:orphan-1", orphan.to_string().as_bytes()).await;
        soon(third, "orphan-1".to_owned(), "TASK_STATE_FAILED").await;
        let orphan = call(third, "CancelTask", json!({"id": "orphan-1"})).await;
        assert_eq!(orphan["error"]["code"], -32002, "{orphan}");

        stop_gateway(stop_second, second_served, &[]).await;
        stop_gateway(stop_third, third_served, &[&front, &host]).await;
    })
    .await
    .unwrap_or_else(|_| panic!("test timed out"));
}

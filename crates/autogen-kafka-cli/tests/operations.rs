//! The broker commands of the `autogen-kafka` binary against librdkafka's mock cluster: `dev-broker` (read back with
//! `tail`), `send` (with an agent hosted by the test), `tail`, `dlq list|show|replay`, `fleet status` and `topics ensure|check`.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{
    AgentRuntimeExt as _, Handler, HandlerError, Message, MessageContext, RoutedAgent,
};
use autogen_kafka_testing::rdkafka::ClientConfig;
use autogen_kafka_testing::rdkafka::producer::{FutureProducer, FutureRecord};
use autogen_kafka_testing::{BrokerKind, TestBroker, unique_group, unique_topic};
use serde::{Deserialize, Serialize};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ping {
    content: String,
}
impl Message for Ping {
    const TYPE_NAME: &'static str = "Ping";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pong {
    content: String,
}
impl Message for Pong {
    const TYPE_NAME: &'static str = "Pong";
}

struct Echo;
impl Handler<Ping> for Echo {
    type Response = Pong;

    async fn handle(&mut self, ping: Ping, ctx: &MessageContext) -> Result<Pong, HandlerError> {
        if ping.content == "fail" {
            return Err("asked to fail".into());
        }
        Ok(Pong {
            content: format!("{} from {}", ping.content, ctx.agent_id()),
        })
    }
}

/// A configuration file for a fleet on `bootstrap` whose topics are prefixed with `fleet`.
fn config_file(bootstrap: &str, fleet: &str) -> std::path::PathBuf {
    config_file_for(bootstrap, fleet, BrokerKind::Mock)
}

/// [`config_file`] with the group timings a broker of `kind` needs (Tansu: a 2 s session).
fn config_file_for(bootstrap: &str, fleet: &str, kind: BrokerKind) -> std::path::PathBuf {
    let mut text = format!(
        "[kafka]\nbootstrap_servers = [\"{bootstrap}\"]\ngroup_id = \"{}\"\n\n[serialization]\nformat = \"json\"\n\n[runtime]\n",
        unique_group(fleet)
    );
    for (key, suffix) in [
        ("runtime_requests", "requests"),
        ("runtime_responses", "responses"),
        ("registry_topic", "registry"),
        ("subscription_topic", "subscriptions"),
        ("publish_topic", "publishes"),
        ("dead_letter_topic", "dead_letters"),
        ("state_topic", "state"),
        ("runtimes_topic", "runtimes"),
    ] {
        text.push_str(&format!("{key} = \"{fleet}.{suffix}\"\n"));
    }
    text.push_str("registry_heartbeat_ms = 500\nregistry_expiry_ms = 3000\n\n[streaming]\nfetch_wait_max_ms = 5\n");
    if kind == BrokerKind::Tansu {
        text.push_str("session_timeout_ms = 2000\nheartbeat_interval_ms = 300\n");
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-operations");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(format!("{fleet}.toml"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// Runs the binary to its end (it talks to a broker, so it may take seconds), without `AUTOGEN_KAFKA_*` variables.
async fn cli(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_autogen-kafka"));
        command
            .args(&args)
            .env("RUST_LOG", "error")
            .env_remove("KAFKA_BOOTSTRAP_SERVERS");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AUTOGEN_KAFKA_") {
                command.env_remove(name);
            }
        }
        command
            .output()
            .unwrap_or_else(|e| panic!("running autogen-kafka: {e}"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_broker_serves_kafka_clients_until_interrupted() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut broker = Command::new(env!("CARGO_BIN_EXE_autogen-kafka"))
            .arg("dev-broker")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(broker.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let address = first.trim().to_owned();
        assert!(address.starts_with("127.0.0.1:"), "{address:?}");

        let topic = unique_topic("dev-broker");
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &address)
            .create()
            .unwrap();
        producer
            .send(
                FutureRecord::to(&topic)
                    .partition(0)
                    .key("k")
                    .payload("hello"),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        drop(producer);
        // The CLI's own tail reads it back from the dev broker.
        let file = config_file(&address, &topic);
        let tailed = cli(vec![
            "tail".to_owned(),
            topic.clone(),
            "--from-beginning".to_owned(),
            "--count".to_owned(),
            "1".to_owned(),
            "--json".to_owned(),
            "--config".to_owned(),
            file.display().to_string(),
        ])
        .await;
        assert!(tailed.status.success(), "{}", text(&tailed.stderr));
        let record: serde_json::Value = serde_json::from_str(&text(&tailed.stdout)).unwrap();
        assert_eq!(record["key"], "k");
        assert_eq!(record["value"]["base64"], "aGVsbG8=", "{record}");

        // Ctrl-C (SIGINT) stops it cleanly.
        let interrupted = Command::new("kill")
            .args(["-INT", &broker.id().to_string()])
            .status()
            .unwrap();
        assert!(interrupted.success());
        let status = tokio::task::spawn_blocking(move || broker.wait().unwrap())
            .await
            .unwrap();
        assert!(status.success(), "{status:?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_prints_the_answer_or_the_typed_error() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::mock().await.unwrap();
        let fleet = unique_topic("cli-send");
        let file = config_file(broker.bootstrap_servers(), &fleet);
        let host = echo_host(&file, BrokerKind::Mock).await;

        let send = |recipient: &str, json: &str| {
            vec![
                "send".to_owned(),
                recipient.to_owned(),
                "--message-type".to_owned(),
                "Ping".to_owned(),
                "--json".to_owned(),
                json.to_owned(),
                "--timeout-ms".to_owned(),
                "20000".to_owned(),
                "--config".to_owned(),
                file.display().to_string(),
                "--auto-create-topics".to_owned(),
            ]
        };
        let answered = cli(send("echo/k1", r#"{"content": "hi"}"#)).await;
        assert!(answered.status.success(), "{}", text(&answered.stderr));
        assert_eq!(
            text(&answered.stdout),
            r#"Pong {"content":"hi from echo/k1"}"#
        );

        let failed = cli(send("echo/k1", r#"{"content": "fail"}"#)).await;
        assert!(!failed.status.success());
        let error = text(&failed.stderr);
        assert!(
            error.starts_with("error: agent:") && error.contains("asked to fail"),
            "{error}"
        );

        let nobody = cli(send("nobody/k", r#"{"content": "hi"}"#)).await;
        assert!(!nobody.status.success());
        let error = text(&nobody.stderr);
        assert!(error.starts_with("error: undeliverable:"), "{error}");

        let bad = cli(send("echo/k1", "{not json")).await;
        assert!(!bad.status.success());
        assert!(text(&bad.stderr).contains("--json is not a JSON document"));
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_each_record_decoded() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::mock().await.unwrap();
        let fleet = unique_topic("cli-tail");
        let file = config_file(broker.bootstrap_servers(), &fleet);
        let topic = format!("{fleet}.requests");
        broker
            .mock_cluster()
            .unwrap()
            .create_topic(&topic, 1)
            .await
            .unwrap();
        let request = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../autogen-kafka-events/tests/vectors/request_send_message.json"
        ))
        .unwrap();
        let producer: FutureProducer = broker.producer_config().create().unwrap();
        for value in [&request[..], b"not an event"] {
            producer
                .send(
                    FutureRecord::to(&topic).key("echo/default").payload(value),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
        let args = |format: &str| {
            let mut args = vec![
                "tail".to_owned(),
                topic.clone(),
                "--from-beginning".to_owned(),
                "--count".to_owned(),
                "2".to_owned(),
                "--config".to_owned(),
                file.display().to_string(),
            ];
            if format == "json" {
                args.push("--json".to_owned());
            }
            args
        };
        let json = cli(args("json")).await;
        assert!(json.status.success(), "{}", text(&json.stderr));
        let lines: Vec<serde_json::Value> = text(&json.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["key"], "echo/default");
        assert_eq!(lines[0]["offset"], 0);
        assert_eq!(lines[0]["value"]["kind"], "request");
        assert_eq!(lines[0]["value"]["event"]["recipient"], "echo/default");
        assert!(
            lines[1]["value"]["undecoded"].is_string(),
            "a record that does not decode is shown, not fatal: {}",
            lines[1]
        );

        let human = cli(args("human")).await;
        assert!(human.status.success());
        let first = text(&human.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            first.starts_with(&format!("{topic}/0@0 key=echo/default ")),
            "{first}"
        );
    })
    .await
    .unwrap();
}

/// Starts a runtime hosting `echo` on the fleet of `file`.
async fn echo_host(file: &std::path::Path, kind: BrokerKind) -> KafkaWorkerAgentRuntime {
    let config = autogen_kafka::Config::builder()
        .without_env()
        .file(file)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let host = KafkaWorkerAgentRuntime::builder(config)
        .topic_creation(if kind == BrokerKind::Mock {
            autogen_kafka::admin::CreateMode::AutoCreate
        } else {
            autogen_kafka::admin::CreateMode::Admin
        })
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    host.register("echo", |_| RoutedAgent::new(Echo).with_handler::<Ping>())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    host.start().await.unwrap_or_else(|e| panic!("{e}"));
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_lists_shows_and_replays_dead_letters() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // The mock cluster, or Tansu with AUTOGEN_KAFKA_TEST_BROKER=tansu (scripts/test.sh runs both).
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("cli-dlq");
        let file = config_file_for(broker.bootstrap_servers(), &fleet, broker.kind());
        let host = echo_host(&file, broker.kind()).await;
        // A record the callee cannot decode is dead-lettered with kind `decode`.
        let producer: FutureProducer = broker.producer_config().create().unwrap();
        producer
            .send(
                FutureRecord::to(&format!("{fleet}.requests"))
                    .key("echo/poison")
                    .payload("not an event"),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        let dlq = |args: &[&str]| {
            let mut all = vec!["dlq".to_owned()];
            all.extend(args.iter().map(|a| (*a).to_owned()));
            all.extend(["--config".to_owned(), file.display().to_string()]);
            cli(all)
        };
        let listed = |count: usize| {
            let dlq = &dlq;
            async move {
                for _ in 0..60 {
                    let out = dlq(&["list", "--json"]).await;
                    assert!(out.status.success(), "{}", text(&out.stderr));
                    let lines: Vec<serde_json::Value> = text(&out.stdout)
                        .lines()
                        .map(|l| serde_json::from_str(l).unwrap())
                        .collect();
                    if lines.len() >= count {
                        return lines;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                panic!("fewer than {count} dead letters");
            }
        };
        let first = listed(1).await;
        assert_eq!(first.len(), 1);
        assert_eq!(first[0]["kind"], "decode");
        assert_eq!(first[0]["key"], "echo/poison");
        assert_eq!(first[0]["source_topic"], format!("{fleet}.requests"));
        let position = first[0]["position"].as_str().unwrap().to_owned();

        let shown = dlq(&["show", &position]).await;
        assert!(shown.status.success(), "{}", text(&shown.stderr));
        let shown: serde_json::Value = serde_json::from_str(&text(&shown.stdout)).unwrap();
        assert_eq!(shown["record"]["key"], "echo/poison");
        assert_eq!(shown["record"]["headers"]["ak_dlq_kind"], "decode");
        assert!(shown["reason"].as_str().is_some_and(|r| !r.is_empty()));

        let filtered = dlq(&["list", "--kind", "handler"]).await;
        assert!(text(&filtered.stdout).ends_with("0 dead letter(s)"));

        // A dry run writes nothing; --execute writes it back, and the callee dead-letters it again.
        let dry = dlq(&["replay"]).await;
        assert!(dry.status.success(), "{}", text(&dry.stderr));
        assert!(text(&dry.stdout).contains("dry run: 1 dead letter(s) would be replayed"));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(listed(1).await.len(), 1, "the dry run replayed nothing");
        let executed = dlq(&["replay", "--execute"]).await;
        assert!(executed.status.success(), "{}", text(&executed.stderr));
        assert!(text(&executed.stdout).contains("replayed 1 dead letter(s)"));
        let again = listed(2).await;
        assert_eq!(again.len(), 2);
        assert_eq!(again[1]["key"], "echo/poison");
        assert_eq!(again[1]["source_partition"], first[0]["source_partition"]);
        assert_ne!(
            again[1]["source_offset"], first[0]["source_offset"],
            "a new record of the source topic"
        );
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_status_shows_runtimes_registrations_subscriptions_and_lag() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // The mock cluster, or Tansu with AUTOGEN_KAFKA_TEST_BROKER=tansu (scripts/test.sh runs both).
        let broker = TestBroker::start().await.unwrap();
        let fleet = unique_topic("cli-status");
        let file = config_file_for(broker.bootstrap_servers(), &fleet, broker.kind());
        let host = echo_host(&file, broker.kind()).await;
        let subscription = autogen_kafka::TypeSubscription::new("news", "echo").unwrap();
        let subscription_id = subscription.id().to_owned();
        autogen_kafka::AgentRuntime::add_subscription(&host, subscription.into())
            .await
            .unwrap();
        let pong: Pong = host
            .send(
                Ping {
                    content: "hi".into(),
                },
                &autogen_kafka::AgentId::new("echo", "k").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(pong.content, "hi from echo/k");
        let status = || {
            cli(vec![
                "fleet".to_owned(),
                "status".to_owned(),
                "--json".to_owned(),
                "--config".to_owned(),
                file.display().to_string(),
            ])
        };
        // The request's offset is committed within the commit interval.
        let mut last = serde_json::Value::Null;
        for _ in 0..40 {
            let out = status().await;
            assert!(out.status.success(), "{}", text(&out.stderr));
            last = serde_json::from_str(&text(&out.stdout)).unwrap();
            let echo_lag = last["lag"]
                .as_array()
                .and_then(|lags| lags.iter().find(|l| l["agent_type"] == "echo"))
                .cloned();
            let committed = echo_lag.as_ref().is_some_and(|lag| {
                lag["total"] == 0
                    && lag["partitions"].as_array().is_some_and(|ps| {
                        ps.iter()
                            .any(|p| p["committed"].as_i64().is_some_and(|c| c > 0))
                    })
            });
            if committed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let runtimes = last["runtimes"].as_array().unwrap();
        let me = runtimes
            .iter()
            .find(|r| r["runtime_id"] == host.instance_id())
            .unwrap_or_else(|| panic!("{last:#}"));
        assert_eq!(me["live"], true);
        assert_eq!(me["agent_types"], serde_json::json!(["echo"]));
        assert!(
            last["registrations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["agent_type"] == "echo" && r["runtime_id"] == host.instance_id()),
            "{last:#}"
        );
        let subscription = last["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == subscription_id.as_str())
            .unwrap_or_else(|| panic!("{last:#}"));
        assert_eq!(subscription["mapping"], "type news -> echo");
        let echo = last["lag"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["agent_type"] == "echo")
            .unwrap_or_else(|| panic!("{last:#}"));
        assert_eq!(echo["total"], 0, "{last:#}");
        assert!(echo["group"].as_str().unwrap().ends_with(".agent.echo"));

        let human = cli(vec![
            "fleet".to_owned(),
            "status".to_owned(),
            "--config".to_owned(),
            file.display().to_string(),
        ])
        .await;
        assert!(human.status.success());
        let human = text(&human.stdout);
        assert!(
            human.contains(&format!("  {} (live", host.instance_id())),
            "{human}"
        );
        assert!(human.contains("lag per agent type:\n  echo 0 "), "{human}");
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_check_finds_what_is_missing_and_ensure_creates_it() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::mock().await.unwrap();
        let fleet = unique_topic("cli-topics");
        let file = config_file(broker.bootstrap_servers(), &fleet);
        let topics = |command: &str, file: &std::path::Path| {
            cli(vec![
                "topics".to_owned(),
                command.to_owned(),
                "--config".to_owned(),
                file.display().to_string(),
                // The mock cluster has no CreateTopics: it creates topics when a client first asks for them.
                "--auto-create-topics".to_owned(),
            ])
        };
        let before = topics("check", &file).await;
        assert!(!before.status.success());
        let report = text(&before.stdout);
        assert!(
            report.contains(&format!("PROBLEM {fleet}.requests: missing")),
            "{report}"
        );
        assert_eq!(report.lines().count(), 8, "{report}");

        let ensured = topics("ensure", &file).await;
        assert!(ensured.status.success(), "{}", text(&ensured.stderr));
        let report = text(&ensured.stdout);
        assert_eq!(report.lines().count(), 8, "{report}");
        assert!(
            report.contains(&format!("auto-created {fleet}.subscriptions")),
            "{report}"
        );

        let after = topics("check", &file).await;
        assert!(after.status.success(), "{}", text(&after.stdout));
        assert!(
            text(&after.stdout)
                .lines()
                .all(|line| line.starts_with("ok "))
        );

        // A configuration that wants more partitions than the topics have.
        let wider = file.with_file_name(format!("{fleet}-wider.toml"));
        let original = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &wider,
            original.replacen("[kafka]\n", "[kafka]\nnum_partitions = 8\n", 1),
        )
        .unwrap();
        let narrow = topics("check", &wider).await;
        assert!(!narrow.status.success());
        assert!(
            text(&narrow.stdout).contains("fewer than kafka.num_partitions = 8"),
            "{}",
            text(&narrow.stdout)
        );
    })
    .await
    .unwrap();
}

/// Answers an A2A call with the text it got and its agent id.
struct A2aHelper;
impl Handler<autogen_kafka_gateway::A2aRequest> for A2aHelper {
    type Response = autogen_kafka_gateway::A2aReply;

    async fn handle(
        &mut self,
        request: autogen_kafka_gateway::A2aRequest,
        ctx: &MessageContext,
    ) -> Result<autogen_kafka_gateway::A2aReply, HandlerError> {
        Ok(autogen_kafka_gateway::A2aReply::text(format!(
            "{} from {}",
            request.text,
            ctx.agent_id()
        )))
    }
}

/// Starts `autogen-kafka gateway ARGS` with `token` in `A2A_GATEWAY_TOKEN`: the process and the address it
/// listens at (from its first line).
async fn start_gateway(args: &[String], token: &str) -> (std::process::Child, String) {
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_autogen-kafka"))
        .args(args)
        .env("A2A_GATEWAY_TOKEN", token)
        .env("RUST_LOG", "error")
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the gateway: {e}"));
    let (Some(stdout), Some(stderr)) = (gateway.stdout.take(), gateway.stderr.take()) else {
        panic!("the gateway's output is piped");
    };
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("reading the gateway's output: {e}"));
        line
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let address = first
        .trim()
        .strip_prefix("A2A gateway at http://")
        .and_then(|rest| rest.strip_suffix("/.well-known/agent-card.json"))
        .unwrap_or_else(|| {
            let mut errors = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut errors);
            panic!("unexpected first line: {first:?}; stderr: {errors}")
        })
        .to_owned();
    (gateway, address)
}

/// One JSON-RPC call with `token` to the gateway at `address`: the parsed response.
async fn a2a_call(address: &str, token: &str, body: &str) -> serde_json::Value {
    let bearer = format!("Bearer {token}");
    let (status, answer) = autogen_kafka_testing::http_request(
        address,
        "POST",
        "/a2a/jsonrpc",
        &[("Authorization", &bearer), ("A2A-Version", "1.0")],
        body,
    )
    .await
    .unwrap_or_else(|e| panic!("calling the gateway: {e}"));
    assert_eq!(status, 200, "{answer}");
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_serves_the_configured_agent_types_to_a2a_clients_and_a_restarted_gateway_knows_its_tasks()
 {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let broker = TestBroker::mock().await.unwrap();
        let fleet = unique_topic("cli-gateway");
        let file = config_file(broker.bootstrap_servers(), &fleet);
        // The skill, the task topic and the exposure of hosted types come from the configuration file.
        let mut written = std::fs::read_to_string(&file).unwrap();
        written.push_str(&format!(
            "\n[gateway]\nlisten = \"127.0.0.1:0\"\nexpose_hosted_types = true\ntasks_topic = \"{fleet}.a2a_tasks\"\n\n[[gateway.skills]]\nagent_type = \"helper\"\ndescription = \"Answers with what it got\"\nexamples = [\"hi\"]\n"
        ));
        std::fs::write(&file, written).unwrap();
        let host = echo_host(&file, BrokerKind::Mock).await;
        host.register("helper", |_| {
            RoutedAgent::new(A2aHelper).with_handler::<autogen_kafka_gateway::A2aRequest>()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));

        let args = [
            "gateway",
            "--config",
            &file.display().to_string(),
            "--auto-create-topics",
        ]
        .map(str::to_owned);
        // Without a token it refuses to start.
        let refused = cli(args.to_vec()).await;
        assert!(!refused.status.success());
        assert!(
            text(&refused.stderr).contains("A2A_GATEWAY_TOKEN"),
            "{}",
            text(&refused.stderr)
        );

        let token = "cli-gateway-token-0123456789";
        let (mut gateway, address) = start_gateway(&args, token).await;
        let (status, card) =
            autogen_kafka_testing::http_request(&address, "GET", "/.well-known/agent-card.json", &[], "")
                .await
                .unwrap();
        assert_eq!(status, 200);
        let card: serde_json::Value = serde_json::from_str(&card).unwrap();
        assert_eq!(card["skills"][0]["id"], "helper");
        assert_eq!(card["skills"][0]["description"], "Answers with what it got");
        // With expose_hosted_types, the fleet's other hosted types are offered too.
        assert_eq!(card["skills"][1]["id"], "echo", "{card}");

        let body = r#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"hi"}],"contextId":"c1"},"metadata":{"skillId":"helper"}}}"#;
        let answer = a2a_call(&address, token, body).await;
        let task = &answer["result"]["task"];
        assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED", "{answer}");
        assert_eq!(task["artifacts"][0]["parts"][0]["text"], "hi from helper/c1");

        // Killed and started again, the gateway still knows the task: it was on the task topic before the
        // client got the answer.
        gateway.kill().unwrap();
        gateway.wait().unwrap();
        let (mut restarted, address) = start_gateway(&args, token).await;
        let get = format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"GetTask","params":{{"id":"{}"}}}}"#,
            task["id"].as_str().unwrap()
        );
        let got = a2a_call(&address, token, &get).await;
        assert_eq!(&got["result"], task, "{got}");

        restarted.kill().unwrap();
        restarted.wait().unwrap();
        host.stop().await.unwrap();
    })
    .await
    .unwrap();
}

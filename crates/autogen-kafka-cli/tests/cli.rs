//! Runs the built `autogen-kafka` binary: `events decode`/`events encode` on the golden vectors
//! recorded from the Python original, on broken input, and `config check`.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest a single run may take before the test fails (the binary works offline).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

struct Run {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        assert!(self.status.success(), "failed: {}", self.stderr);
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.stdout)
            )
        })
    }

    fn bytes(&self) -> &[u8] {
        assert!(self.status.success(), "failed: {}", self.stderr);
        &self.stdout
    }

    /// Asserts the run failed with exit status 1 and exactly one `error: ...` line on stderr
    /// that contains `fragment`, and wrote nothing to stdout.
    fn assert_one_line_failure(&self, what: &str, fragment: &str) {
        assert_eq!(
            self.status.code(),
            Some(1),
            "{what}: exit status {:?}, stderr {:?}",
            self.status,
            self.stderr
        );
        let line = self.stderr.strip_suffix('\n').unwrap_or(&self.stderr);
        assert!(
            !line.is_empty() && !line.contains('\n'),
            "{what}: stderr is not one line: {:?}",
            self.stderr
        );
        assert!(line.starts_with("error: "), "{what}: {line}");
        assert!(!line.contains("panicked"), "{what}: {line}");
        assert!(
            line.contains(fragment),
            "{what}: {line:?} lacks {fragment:?}"
        );
        assert!(self.stdout.is_empty(), "{what}: wrote to stdout");
    }
}

/// Runs the binary with `args` and `stdin`, without any `AUTOGEN_KAFKA_*` variable.
fn run(args: &[&str], stdin: &[u8]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_autogen-kafka"));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AUTOGEN_KAFKA_") {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn: {e}"));
    let input = stdin.to_vec();
    let mut pipe = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(pipe) = pipe.as_mut() {
            // The binary may stop reading early (for example on an oversized input).
            let _ = pipe.write_all(&input);
        }
    });
    let mut out = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(out) = out.as_mut() {
            let _ = out.read_to_end(&mut bytes);
        }
        bytes
    });
    let mut err = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(err) = err.as_mut() {
            let _ = err.read_to_string(&mut text);
        }
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < RUN_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let _ = child.kill();
                panic!("autogen-kafka {args:?} did not finish within {RUN_TIMEOUT:?}");
            }
            Err(e) => panic!("wait: {e}"),
        }
    };
    let _ = writer.join();
    Run {
        status,
        stdout: reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../autogen-kafka-events/tests/vectors")
}

fn avro_schema(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../autogen-kafka-events/schemas/avro")
        .join(format!("{name}.avsc"))
}

/// A scratch file of this test run.
fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-tests");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

struct Vector {
    name: String,
    bin: Vec<u8>,
    bin_path: PathBuf,
    json: Value,
    json_path: PathBuf,
    topic: String,
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(path: &Path) -> Value {
    serde_json::from_slice(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every golden vector (`<name>.bin`, `<name>.json`, `<name>.meta.json`).
fn vectors() -> Vec<Vector> {
    let dir = vectors_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".bin").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 20, "vectors missing in {}", dir.display());
    names
        .into_iter()
        .map(|name| {
            let bin_path = dir.join(format!("{name}.bin"));
            let json_path = dir.join(format!("{name}.json"));
            let meta = parse(&dir.join(format!("{name}.meta.json")));
            Vector {
                bin: read(&bin_path),
                json: parse(&json_path),
                topic: meta["topic"].as_str().unwrap_or_default().to_owned(),
                name,
                bin_path,
                json_path,
            }
        })
        .collect()
}

/// The `--kind` name of the events on a default topic.
fn kind_of_topic(topic: &str) -> &'static str {
    match topic {
        "runtime_requests" => "request",
        "runtime_responses" => "response",
        "agent_registry" => "registration",
        "agent_subscriptions" => "subscription",
        "agent_publishes" => "publish",
        "agent_request" | "agent_response" => "agent",
        t if t.starts_with("memory_") => "memory",
        other => panic!("unexpected topic {other}"),
    }
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| panic!("non-UTF-8 path"))
}

#[test]
fn decode_prints_every_golden_vector_as_its_json() {
    for v in vectors() {
        let kind = kind_of_topic(&v.topic);
        let from_file = run(&["events", "decode", path_arg(&v.bin_path)], b"").json();
        assert_eq!(from_file["event"], v.json, "{}: event", v.name);
        assert_eq!(from_file["format"], "json-schema", "{}", v.name);
        assert_eq!(from_file["schema_id"], 1, "{}", v.name);
        assert_eq!(from_file["kind"], kind, "{}", v.name);
        let keys: Vec<&str> = from_file
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 4, "{}: {keys:?}", v.name);

        let from_stdin = run(&["events", "decode", "--topic", &v.topic, "-"], &v.bin).json();
        assert_eq!(from_stdin, from_file, "{}: stdin with --topic", v.name);
    }
}

#[test]
fn encode_writes_the_golden_bytes_of_every_vector() {
    for v in vectors() {
        let kind = kind_of_topic(&v.topic);
        let args = [
            "events",
            "encode",
            "--kind",
            kind,
            "--format",
            "json-schema",
            "--schema-id",
            "1",
            path_arg(&v.json_path),
        ];
        assert_eq!(run(&args, b"").bytes(), v.bin, "{}: --kind {kind}", v.name);
        // Without --kind the kind comes from the document's keys.
        let json = read(&v.json_path);
        let detected = run(&["events", "encode", "--schema-id", "1"], &json);
        assert_eq!(detected.bytes(), v.bin, "{}: detected kind", v.name);
    }
}

#[test]
fn decode_output_encodes_back_to_the_same_record() {
    for v in vectors() {
        let decoded = run(&["events", "decode"], &v.bin);
        assert!(decoded.status.success(), "{}: {}", v.name, decoded.stderr);
        let encoded = run(&["events", "encode", "-"], &decoded.stdout);
        assert_eq!(encoded.bytes(), v.bin, "{}", v.name);
        // The base64 forms round-trip as well.
        let text = run(&["events", "encode", "--base64"], &decoded.stdout);
        let again = run(&["events", "decode", "--base64"], text.bytes()).json();
        assert_eq!(again["event"], v.json, "{}: base64", v.name);
    }
}

#[test]
fn plain_json_has_no_frame_and_no_schema_id() {
    for v in vectors() {
        let kind = kind_of_topic(&v.topic);
        let json = read(&v.json_path);
        let plain = run(
            &["events", "encode", "--kind", kind, "--format", "json"],
            &json,
        );
        let value = plain.bytes().to_vec();
        assert_eq!(value.first(), Some(&b'{'), "{}", v.name);
        assert_eq!(&value[..], &v.bin[5..], "{}: the frame's payload", v.name);
        let decoded = run(&["events", "decode"], &value).json();
        assert_eq!(decoded["format"], "json", "{}", v.name);
        assert_eq!(decoded["schema_id"], Value::Null, "{}", v.name);
        assert_eq!(decoded["event"], v.json, "{}", v.name);
    }
}

#[test]
fn framed_avro_needs_the_writer_schema() {
    let cases = [
        ("request_send_message", "RequestEvent"),
        ("response_success", "ResponseEvent"),
        ("publish_cloudevent", "CloudEvent"),
        ("memory_add_binary", "MemoryEvent"),
        ("streaming_agent_request", "AgentEvent"),
        ("subscription_added_type_prefix", "SubscriptionEvent"),
        ("registration_unregister", "RegistrationEvent"),
    ];
    let all = vectors();
    for (name, schema) in cases {
        let v = all
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("vector {name}"));
        let json = read(&v.json_path);
        let avro = run(
            &["events", "encode", "--format", "avro", "--schema-id", "42"],
            &json,
        );
        let avro = avro.bytes().to_vec();
        assert_eq!(&avro[..5], &[0, 0, 0, 0, 42], "{name}");

        run(&["events", "decode"], &avro)
            .assert_one_line_failure(name, "framed Avro (schema id 42)");
        let schema_path = avro_schema(schema);
        let decoded = run(
            &["events", "decode", "--schema", path_arg(&schema_path)],
            &avro,
        )
        .json();
        assert_eq!(decoded["format"], "avro", "{name}");
        assert_eq!(decoded["schema_id"], 42, "{name}");
        assert_eq!(decoded["kind"], kind_of_topic(&v.topic), "{name}");
        assert_eq!(decoded["event"], v.json, "{name}");
    }

    // A Schema Registry answer (`GET /schemas/ids/<id>`) is accepted as the schema file.
    let v = all
        .iter()
        .find(|v| v.name == "request_send_message")
        .unwrap_or_else(|| panic!("vector"));
    let text = String::from_utf8(read(&avro_schema("RequestEvent"))).unwrap_or_default();
    let answer = serde_json::json!({ "schema": text }).to_string();
    let answer_path = scratch("registry-answer.json", answer.as_bytes());
    let avro = run(
        &[
            "events",
            "encode",
            "--kind",
            "request",
            "--format",
            "avro",
            "--schema-id",
            "7",
        ],
        &read(&v.json_path),
    );
    let decoded = run(
        &[
            "events",
            "decode",
            "--topic",
            "runtime_requests",
            "--schema",
            path_arg(&answer_path),
        ],
        avro.bytes(),
    )
    .json();
    assert_eq!(decoded["event"], v.json);

    let not_a_schema = scratch("not-a-schema.avsc", b"hello");
    run(
        &["events", "decode", "--schema", path_arg(&not_a_schema)],
        avro.bytes(),
    )
    .assert_one_line_failure("bad schema file", "is not an Avro schema");
    run(
        &["events", "decode", "--schema", "/nonexistent/schema.avsc"],
        avro.bytes(),
    )
    .assert_one_line_failure("missing schema file", "cannot read the schema file");
}

#[test]
fn broken_record_values_fail_with_one_line() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "the input is empty"),
        ("text", b"hello".to_vec(), "first byte 0x68"),
        (
            "wrong magic byte",
            b"\x05\0\0\0\x01{}".to_vec(),
            "first byte 0x05",
        ),
        ("truncated frame", b"\0\0".to_vec(), "truncated frame"),
        ("header only", b"\0\0\0\0\x01".to_vec(), "framed Avro"),
        ("no known event", b"\0\0\0\0\x01{}".to_vec(), "cannot tell"),
        ("invalid UTF-8", b"\0\0\0\0\x01{\xff}".to_vec(), "UTF-8"),
        ("broken JSON", b"{\"agent\": ".to_vec(), "invalid JSON"),
        (
            "wrong field type",
            br#"{"message_type": "register", "agent": 5}"#.to_vec(),
            "RegistrationEvent",
        ),
        (
            "bad base64 payload",
            br#"{"recipient": "a/b", "payload": "!!", "agent_id": null}"#.to_vec(),
            "base64",
        ),
        (
            "oversized",
            vec![b' '; 8 * 1024 * 1024 + 1],
            "larger than 8388608 bytes",
        ),
    ];
    for (what, bytes, fragment) in &cases {
        run(&["events", "decode"], bytes).assert_one_line_failure(what, fragment);
    }
    // Pseudo-random garbage, framed and not.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for round in 0..20 {
        let len = 1 + round * 7;
        let mut bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        if round % 2 == 0 {
            bytes.splice(0..0, [0, 0, 0, 0, 1]);
        }
        let result = run(&["events", "decode"], &bytes);
        result.assert_one_line_failure(&format!("garbage {round}"), "");
    }
    // Every golden vector cut short.
    for v in vectors() {
        for cut in [4, 6, v.bin.len() / 2, v.bin.len() - 1] {
            run(&["events", "decode"], &v.bin[..cut])
                .assert_one_line_failure(&format!("{} cut at {cut}", v.name), "");
        }
    }
    run(&["events", "decode", "--base64"], b"not base64!")
        .assert_one_line_failure("bad base64 input", "base64");
    run(&["events", "decode", "/nonexistent/record.bin"], b"")
        .assert_one_line_failure("missing file", "cannot read file");
}

#[test]
fn bad_encode_input_fails_with_one_line() {
    let registration = br#"{"message_type": "register", "agent": "echo"}"#;
    let cases: Vec<(&str, Vec<&str>, &[u8], &str)> = vec![
        ("not JSON", vec![], b"{\"a\"", "not a JSON document"),
        (
            "unknown shape",
            vec!["--schema-id", "1"],
            b"{\"a\": 1}",
            "pass --kind",
        ),
        (
            "not an object",
            vec!["--schema-id", "1"],
            b"[1, 2]",
            "pass --kind",
        ),
        ("no schema id", vec![], registration, "needs --schema-id"),
        (
            "wrong kind",
            vec!["--kind", "memory", "--schema-id", "1"],
            registration,
            "missing the required field `sender`",
        ),
        (
            "unknown kind in a decode output",
            vec![],
            br#"{"kind": "nope", "event": {}}"#,
            "unknown event kind",
        ),
        (
            "unknown format in a decode output",
            vec![],
            br#"{"kind": "registration", "format": "xml", "event": {}}"#,
            "unknown format",
        ),
    ];
    for (what, flags, input, fragment) in cases {
        let mut args = vec!["events", "encode"];
        args.extend(flags);
        run(&args, input).assert_one_line_failure(what, fragment);
    }
}

#[test]
fn config_check_accepts_a_valid_file() {
    let path = scratch(
        "valid.yaml",
        b"kafka:\n  bootstrap_servers: localhost:9092\n  group_id: my-fleet\n",
    );
    let result = run(&["config", "check", path_arg(&path)], b"");
    assert!(result.status.success(), "{}", result.stderr);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    assert!(stdout.contains("my-fleet"), "{stdout}");
}

#[test]
fn config_check_lists_every_problem_of_an_invalid_file() {
    let path = scratch(
        "invalid.yaml",
        b"kafka:\n  bootstrap_servers: ''\n  num_partitions: 0\nruntime:\n  publish_topic: bad/topic\n",
    );
    let result = run(&["config", "check", path_arg(&path)], b"");
    assert_eq!(result.status.code(), Some(1), "{}", result.stderr);
    assert!(result.stdout.is_empty());
    for key in [
        "kafka.group_id",
        "kafka.bootstrap_servers",
        "kafka.num_partitions",
        "runtime.publish_topic",
    ] {
        assert!(
            result.stderr.contains(key),
            "{key} missing: {}",
            result.stderr
        );
    }
    assert!(result.stderr.contains("4 problem(s)"), "{}", result.stderr);

    let unparsable = scratch("broken.yaml", b"kafka: [\n");
    let result = run(&["config", "check", path_arg(&unparsable)], b"");
    assert_eq!(result.status.code(), Some(1));
    assert!(
        result.stderr.starts_with("error: cannot parse"),
        "{}",
        result.stderr
    );
}

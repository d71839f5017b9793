//! `send`: one RPC from the shell, with a deadline; prints the answer or the typed error.

use std::process::ExitCode;
use std::time::Duration;

use autogen_kafka::core::SerializedMessage;
use autogen_kafka::{AgentId, AgentRuntime as _, AnyMessage, Error, SendOptions};

use crate::error::one_line;
use crate::setup::{self, BrokerArgs};

/// Arguments of `send`.
#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    /// The recipient agent id, `type/key`.
    #[arg(value_name = "TYPE/KEY")]
    recipient: String,
    /// The message's type name, as the recipient's handler knows it (`Ping`).
    #[arg(long, value_name = "T")]
    message_type: String,
    /// The message as a JSON document.
    #[arg(long, value_name = "JSON")]
    json: String,
    /// How long to wait for the answer, in milliseconds; `runtime.rpc_timeout_ms` by default.
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// Sends the message and prints `<type> <JSON>` of the answer (or `(no answer message)`).
pub(crate) fn run(args: &SendArgs) -> ExitCode {
    match setup::block_on(send(args)).and_then(|result| result) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn send(args: &SendArgs) -> Result<String, String> {
    let recipient: AgentId = args
        .recipient
        .parse()
        .map_err(|error: autogen_kafka::core::CoreError| one_line(&error))?;
    let document: serde_json::Value = serde_json::from_str(&args.json)
        .map_err(|error| format!("--json is not a JSON document: {error}"))?;
    let bytes = serde_json::to_vec(&document).map_err(|error| error.to_string())?;
    let message = AnyMessage::from_serialized(SerializedMessage::new(
        args.message_type.clone(),
        autogen_kafka::events::JSON_CONTENT_TYPE,
        bytes,
    ));
    let config = args.broker.load()?;
    let timeout = args
        .timeout_ms
        .map_or(config.runtime.rpc_timeout, Duration::from_millis);
    let runtime = args.broker.runtime(config, "send")?;
    runtime
        .start()
        .await
        .map_err(|error| describe(&Error::from(error)))?;
    let answer = runtime
        .send_message(
            message,
            recipient.clone(),
            SendOptions::new().with_timeout(timeout),
        )
        .await;
    if let Err(error) = runtime.stop().await {
        tracing::warn!(error = %one_line(&error), "stopping the runtime");
    }
    match answer.map_err(|error| describe(&Error::from(error)))? {
        None => Ok(format!("{recipient} answered with no message")),
        Some(answer) => {
            let serialized = answer.to_serialized().map_err(|error| one_line(&error))?;
            let body = std::str::from_utf8(&serialized.bytes)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
                .map_or_else(
                    || {
                        format!(
                            "{} bytes ({})",
                            serialized.bytes.len(),
                            serialized.content_type
                        )
                    },
                    |json| json.to_string(),
                );
            Ok(format!("{} {body}", serialized.type_name))
        }
    }
}

/// An error as one line, prefixed with its kind (`timeout: ...`, `undeliverable: ...`).
fn describe(error: &Error) -> String {
    let kind = format!("{:?}", error.kind()).to_lowercase();
    format!("{kind}: {}", one_line(&error))
}

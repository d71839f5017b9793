//! An A2A gateway on the embedded broker: a runtime hosts the `echo` agent type, another serves it to any A2A
//! client (A2A 1.0, JSON-RPC and HTTP+JSON bindings) with a bearer token.
//!
//! `cargo run --example a2a_gateway -- --listen 127.0.0.1:8080 [--token TOKEN]` needs nothing else running: it
//! starts librdkafka's in-process mock cluster (set `KAFKA_BOOTSTRAP_SERVERS=host:port` for your own Kafka). It
//! prints the card's URL and the token (a fresh one unless given), then serves until Ctrl-C. Try it with curl:
//!
//! ```text
//! curl -s http://127.0.0.1:8080/.well-known/agent-card.json
//! curl -s http://127.0.0.1:8080/a2a/jsonrpc -H "Authorization: Bearer $TOKEN" -H 'A2A-Version: 1.0' \
//!   -d '{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"hi"}]}}}'
//! ```
#![expect(clippy::print_stdout, reason = "an example prints what it does")]

use std::sync::Arc;

use autogen_kafka::{AgentRuntimeExt as _, Handler, HandlerError, MessageContext, RoutedAgent};
use autogen_kafka_examples::{broker, config, runtime};
use autogen_kafka_gateway::{A2aGateway, A2aReply, A2aRequest, GatewayConfig, Skill};

/// Answers with the text it got.
struct Echo;

impl Handler<A2aRequest> for Echo {
    type Response = A2aReply;

    async fn handle(
        &mut self,
        request: A2aRequest,
        _ctx: &MessageContext,
    ) -> Result<A2aReply, HandlerError> {
        Ok(A2aReply::text(request.text))
    }
}

/// The value after `flag` in the command line.
fn argument(flag: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|a| a != flag);
    args.next()?;
    args.next()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    autogen_kafka_examples::init_logging("error");
    let listen = argument("--listen").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let token = argument("--token").unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let broker = broker().await?;
    let config = config(broker.bootstrap_servers(), broker.kind(), "a2a-gateway")?;
    let agents = runtime(config.clone(), broker.kind(), "agents")?;
    agents
        .register("echo", |_id| {
            RoutedAgent::new(Echo).with_handler::<A2aRequest>()
        })
        .await?;
    let front = runtime(config, broker.kind(), "gateway")?;
    let (a, b) = tokio::join!(agents.start(), front.start());
    a?;
    b?;

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let address = listener.local_addr()?;
    let gateway = A2aGateway::new(
        Arc::new(front.clone()),
        GatewayConfig::new(format!("http://{address}"), token.clone())
            .skill(Skill::new("echo", "Echo", "Answers with the text it got").example("hello")),
    );
    println!("A2A gateway at http://{address}/.well-known/agent-card.json");
    println!("bearer token: {token}");
    let stop = autogen_kafka::core::CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    gateway.serve(listener, stop).await?;
    front.stop().await?;
    agents.stop().await?;
    Ok(())
}

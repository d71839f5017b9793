//! `gateway`: serves agent types of the fleet to A2A clients (A2A 1.0, JSON-RPC) until Ctrl-C, with its tasks on
//! the fleet's task topic.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use autogen_kafka::Error;
use autogen_kafka_gateway::{A2aGateway, GatewayConfig, Skill};

use crate::error::one_line;
use crate::setup::{self, BrokerArgs};

/// The shortest bearer token accepted.
const MIN_TOKEN_LEN: usize = 16;

/// Arguments of `gateway`.
#[derive(Debug, clap::Args)]
pub(crate) struct GatewayArgs {
    /// Where to listen, `host:port` (port 0: any free port; the URL printed says which); `gateway.listen` of the
    /// configuration (127.0.0.1:8080) by default.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The URL clients reach the gateway at, written into the agent card; `gateway.public_url`, else
    /// `http://<listen address>`, by default.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// An agent type to offer as a skill, `TYPE` or `TYPE=DESCRIPTION`; repeat it for several. Added to the
    /// configuration's `gateway.skills`.
    #[arg(long = "skill", value_name = "TYPE[=DESCRIPTION]")]
    skills: Vec<String>,
    /// The environment variable that holds the bearer token clients must send (at least 16 characters);
    /// `gateway.token_env` (A2A_GATEWAY_TOKEN) by default.
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// Serves until Ctrl-C; prints the card's URL once listening.
pub(crate) fn run(args: &GatewayArgs) -> ExitCode {
    match setup::block_on(serve(args)).and_then(|result| result) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The skill `TYPE` or `TYPE=DESCRIPTION` names.
fn skill(text: &str) -> Skill {
    match text.split_once('=') {
        Some((agent_type, description)) => Skill::new(agent_type, agent_type, description),
        None => Skill::new(text, text, format!("The fleet's agent type {text}")),
    }
}

async fn serve(args: &GatewayArgs) -> Result<(), String> {
    let config = args.broker.load()?;
    let settings = &config.gateway;
    let token_env = args.token_env.as_deref().unwrap_or(&settings.token_env);
    let token = std::env::var(token_env).unwrap_or_default();
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "set {token_env} to the bearer token clients must send (at least {MIN_TOKEN_LEN} characters)"
        ));
    }
    if args.skills.is_empty() && settings.skills.is_empty() && !settings.expose_hosted_types {
        return Err(
            "offer at least one agent type: --skill TYPE, [[gateway.skills]] or gateway.expose_hosted_types = true in the configuration"
                .to_owned(),
        );
    }
    let listen = args.listen.as_deref().unwrap_or(&settings.listen);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| format!("listening on {listen}: {error}"))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("listening on {listen}: {error}"))?;
    let public_url = args
        .public_url
        .clone()
        .or_else(|| settings.public_url.clone())
        .unwrap_or_else(|| format!("http://{address}"));
    let mut gateway_config = GatewayConfig::from_settings(settings, public_url.clone(), token)
        .rpc_timeout(config.runtime.rpc_timeout);
    for text in &args.skills {
        gateway_config = gateway_config.skill(skill(text));
    }
    let runtime = args.broker.runtime(config.clone(), "gateway")?;
    if settings.expose_hosted_types {
        let registry = runtime.clone();
        gateway_config = gateway_config.hosted_types(move || registry.hosted_types());
    }
    runtime
        .start()
        .await
        .map_err(|error| one_line(&Error::from(error)))?;
    let gateway = match A2aGateway::with_task_topic(
        Arc::new(runtime.clone()),
        gateway_config,
        &config,
        args.broker.create_mode(),
    )
    .await
    {
        Ok(gateway) => gateway,
        Err(error) => {
            let _ = runtime.stop().await;
            return Err(one_line(&error));
        }
    };
    println!("A2A gateway at {public_url}/.well-known/agent-card.json");
    let _ = std::io::stdout().flush();
    let stop = autogen_kafka::core::CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    let served = gateway.serve(listener, stop).await;
    if let Err(error) = runtime.stop().await {
        tracing::warn!(error = %one_line(&error), "stopping the runtime");
    }
    served.map_err(|error| one_line(&error))
}

#[cfg(test)]
mod tests {
    use super::skill;

    #[test]
    fn a_skill_is_a_type_with_an_optional_description() {
        let plain = skill("echo");
        assert_eq!(
            (plain.agent_type.as_str(), plain.name.as_str()),
            ("echo", "echo")
        );
        let described = skill("calc=Adds numbers");
        assert_eq!(described.agent_type, "calc");
        assert_eq!(described.description, "Adds numbers");
    }
}

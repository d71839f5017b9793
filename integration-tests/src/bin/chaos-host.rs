//! One host process of the fault harness (`chaos`): a worker runtime hosting stateful agents, killed and
//! restarted by the driver.
//!
//! `chaos-host <bootstrap> <mock|tansu|external> <fleet> <group> <host> [instance id]` hosts
//!
//! - `counter`: the stateful counter of the integration tests ([`Add`] → [`Total`]);
//! - `relay`: keeps its own count and, for each [`Relay`], adds 1 to a `counter` agent with `ctx.send` (a chain
//!   of two hops), answering both totals ([`Relayed`]);
//! - `desk`: a subscriber type shared by every host (one agent id per topic source, on one replica);
//! - `inbox_<host>`: a subscriber type of this host only, so every host gets every publication.
//!
//! Both subscriber types are subscribed to the topic type `news`. Lines on stdout, read by the driver:
//!
//! | line | when |
//! |---|---|
//! | `ready <instance id>` | the runtime started |
//! | `sub <agent type> ok\|dup\|err <text>` | the subscription was added / an equivalent one existed / failed |
//! | `pub <publication id> <agent id>` | a publication reached a subscriber agent here |
//! | `late <call id> <agent id> <ms>` | a [`Relay`] started executing `ms` after its deadline |
//!
//! The process stops gracefully when its standard input closes. Logs go to stderr (`RUST_LOG`, default `warn`).

use std::io::{Read as _, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autogen_kafka::core::Reply as _;
use autogen_kafka::runtime::KafkaWorkerAgentRuntime;
use autogen_kafka::{
    AgentId, AgentRuntime as _, AgentRuntimeExt as _, AnyMessage, Handler, HandlerError,
    MessageContext, RoutedAgent, SendOptions, TypeSubscription,
};
use autogen_kafka_integration_tests::{Add, News, Total, counter_agent};
use autogen_kafka_testing::BrokerKind;
use serde::{Deserialize, Serialize};

#[path = "../chaos_messages.rs"]
mod chaos_messages;
use chaos_messages::{Relay, Relayed};

/// How long a graceful stop may take before the process exits anyway.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The state of a `relay` agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RelayState {
    total: u64,
}

/// The `relay` agent.
#[derive(Debug, Default)]
struct RelayAgent {
    state: RelayState,
    runtime: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Writes one line to stdout and flushes it (the driver reads it through a pipe).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe means the driver is gone; there is nobody left to tell.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

impl Handler<Relay> for RelayAgent {
    type Response = Relayed;

    async fn handle(
        &mut self,
        relay: Relay,
        ctx: &MessageContext,
    ) -> Result<Relayed, HandlerError> {
        let now = now_ms();
        if now > relay.deadline_ms {
            say(&format!(
                "late {} {} {}",
                relay.call,
                ctx.agent_id(),
                now - relay.deadline_ms
            ));
        }
        self.state.total += 1;
        let counter = AgentId::new("counter", relay.counter_key.as_str())?;
        // The inner call gets what is left of the caller's deadline.
        let left = Duration::from_millis(relay.deadline_ms.saturating_sub(now).max(1));
        let reply = ctx
            .send_with(
                AnyMessage::new(Add { by: 1 }),
                &counter,
                SendOptions::new().with_timeout(left),
            )
            .await?;
        let total = Total::from_reply(reply, &counter)?;
        Ok(Relayed {
            relay_total: self.state.total,
            counter_total: total.total,
            relay_runtime: self.runtime.clone(),
            counter_runtime: total.runtime,
        })
    }
}

fn relay_agent(runtime: &str) -> RoutedAgent<RelayAgent> {
    fn save(agent: &RelayAgent) -> Result<serde_json::Value, HandlerError> {
        Ok(serde_json::to_value(&agent.state)?)
    }
    fn load(agent: &mut RelayAgent, state: serde_json::Value) -> Result<(), HandlerError> {
        agent.state = serde_json::from_value(state)?;
        Ok(())
    }
    RoutedAgent::new(RelayAgent {
        state: RelayState::default(),
        runtime: runtime.to_owned(),
    })
    .with_handler::<Relay>()
    .with_state_hooks(save, load)
}

/// Records every [`News`] it gets: `pub <headline> <agent id>` on stdout.
#[derive(Debug)]
struct Subscriber;

impl Handler<News> for Subscriber {
    type Response = ();

    async fn handle(&mut self, news: News, ctx: &MessageContext) -> Result<(), HandlerError> {
        say(&format!("pub {} {}", news.headline, ctx.agent_id()));
        Ok(())
    }
}

async fn subscribe(runtime: &KafkaWorkerAgentRuntime, agent_type: &str) {
    let outcome = match TypeSubscription::new("news", agent_type) {
        Ok(subscription) => runtime.add_subscription(subscription.into()).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => say(&format!("sub {agent_type} ok")),
        Err(autogen_kafka::core::CoreError::DuplicateSubscription { subscription_id }) => {
            say(&format!("sub {agent_type} dup {subscription_id}"));
        }
        Err(error) => {
            tracing::error!(
                agent_type,
                error = &error as &dyn std::error::Error,
                "subscription failed"
            );
            say(&format!("sub {agent_type} err {error}"));
        }
    }
}

/// Failed offset commits of the runtime's consumers, from its metrics (`errors_total{component="consumer",kind="commit"}`).
fn failed_commits(runtime: &KafkaWorkerAgentRuntime) -> u64 {
    let text = runtime.metrics().encode_text().unwrap_or_default();
    text.lines()
        .filter(|line| {
            line.starts_with("autogen_kafka_errors_total{")
                && line.contains("component=\"consumer\"")
                && line.contains("kind=\"commit\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

/// Prints `commit-failed <total>` whenever a consumer's offset commit failed (the runtime copies its consumers'
/// counters into its metrics every second): the records it covered may reach their next owner again.
fn report_failed_commits(runtime: &KafkaWorkerAgentRuntime) {
    let runtime = runtime.clone();
    tokio::spawn(async move {
        let mut reported = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = failed_commits(&runtime);
            if now > reported {
                reported = now;
                say(&format!("commit-failed {now}"));
            }
        }
    });
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: chaos-host <bootstrap> <mock|tansu|external> <fleet> <group> <host> [instance id]";
    let (bootstrap, kind, fleet, group, host, instance) = match args.as_slice() {
        [_, b, k, f, g, h] => (b, k, f, g, h, None),
        [_, b, k, f, g, h, i] => (b, k, f, g, h, Some(i.clone())),
        _ => return Err(usage.into()),
    };
    let kind = match kind.as_str() {
        "mock" => BrokerKind::Mock,
        "tansu" => BrokerKind::Tansu,
        _ => BrokerKind::External,
    };
    let mode = autogen_kafka_integration_tests::topic_creation(kind);
    let instance = instance.unwrap_or_else(|| autogen_kafka_testing::unique_group(host));
    let runtime = KafkaWorkerAgentRuntime::builder(chaos_messages::chaos_config(
        bootstrap, kind, fleet, group,
    ))
    .instance_id(instance.clone())
    .topic_creation(mode)
    .build()?;
    let label = format!("{host}/{instance}");
    let counter_label = label.clone();
    runtime
        .register("counter", move |_| counter_agent(&counter_label))
        .await?;
    let relay_label = label.clone();
    runtime
        .register("relay", move |_| relay_agent(&relay_label))
        .await?;
    let inbox = format!("inbox_{host}");
    for agent_type in ["desk", inbox.as_str()] {
        runtime
            .register(agent_type, |_| {
                RoutedAgent::new(Subscriber).with_handler::<News>()
            })
            .await?;
    }
    runtime.start().await?;
    subscribe(&runtime, &inbox).await;
    subscribe(&runtime, "desk").await;
    say(&format!("ready {}", runtime.instance_id()));
    report_failed_commits(&runtime);
    // Wait until the driver closes our stdin (or dies).
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    match tokio::time::timeout(STOP_TIMEOUT, runtime.stop()).await {
        Ok(result) => result?,
        Err(_) => tracing::error!(timeout = ?STOP_TIMEOUT, "graceful stop timed out; exiting"),
    }
    say("stopped");
    Ok(())
}

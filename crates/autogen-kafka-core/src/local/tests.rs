//! Behaviour of [`LocalRuntime`] that users rely on: delivery, ordering, isolation, deadlines,
//! cancellation, interventions, state, lifecycle, host runtimes and eviction.

use std::{
    error::Error as _,
    future::{Future, ready},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::future::{BoxFuture, join_all};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::{
    sync::{Barrier, mpsc},
    time::Instant,
};

use crate::{
    Agent, AgentAccess, AgentFactory, AgentId, AgentMetadata, AgentRuntime, AgentRuntimeExt,
    AgentType, AnyMessage, CancellationToken, CoreError, Handler, HandlerError, Intervention,
    InterventionContext, InterventionHandler, LocalRuntime, Message, MessageContext,
    PublishOptions, RoutedAgent, RuntimeHandle, SendOptions, SerializerRegistry, Subscription,
    TopicId, TypePrefixSubscription, TypeSubscription,
};

// ------------------------------------------------------------------ messages

macro_rules! message {
    ($name:ident $(($($field:ty),*))?) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        struct $name $(($($field),*))?;
        impl Message for $name {
            const TYPE_NAME: &'static str = stringify!($name);
        }
    };
}

message!(Ping(u32));
message!(Pong(u32));
message!(Record(u32));
message!(Sleep(u64));
message!(Fail);
message!(Boom);
message!(Relay(u32));

// ------------------------------------------------------------------ probe agent

/// What a probe saw of one message.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    agent: AgentId,
    sender: Option<AgentId>,
    topic: Option<TopicId>,
    is_rpc: bool,
    message_id: String,
    value: u32,
}

#[derive(Debug)]
enum Event {
    Seen(Seen),
    Cancelled(AgentId),
}

#[derive(Default)]
struct Gauge {
    active: AtomicUsize,
    max: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error("the probe was asked to fail")]
struct ProbeError;

#[derive(Default, Serialize, Deserialize)]
struct Probe {
    records: Vec<u32>,
    #[serde(skip)]
    events: Option<mpsc::Sender<Event>>,
    #[serde(skip)]
    gauge: Option<Arc<Gauge>>,
    #[serde(skip)]
    barrier: Option<Arc<Barrier>>,
}

impl Probe {
    async fn report(&self, ctx: &MessageContext, value: u32) {
        if let Some(events) = &self.events {
            let seen = Seen {
                agent: ctx.agent_id().clone(),
                sender: ctx.sender().cloned(),
                topic: ctx.topic_id().cloned(),
                is_rpc: ctx.is_rpc(),
                message_id: ctx.message_id().to_owned(),
                value,
            };
            events.send(Event::Seen(seen)).await.unwrap();
        }
    }
}

impl Handler<Ping> for Probe {
    type Response = Pong;
    async fn handle(&mut self, ping: Ping, ctx: &MessageContext) -> Result<Pong, HandlerError> {
        self.report(ctx, ping.0).await;
        Ok(Pong(ping.0 + 1))
    }
}

impl Handler<Record> for Probe {
    type Response = ();
    async fn handle(&mut self, record: Record, ctx: &MessageContext) -> Result<(), HandlerError> {
        self.records.push(record.0);
        self.report(ctx, record.0).await;
        Ok(())
    }
}

impl Handler<Sleep> for Probe {
    type Response = ();
    async fn handle(&mut self, sleep: Sleep, ctx: &MessageContext) -> Result<(), HandlerError> {
        if let Some(gauge) = &self.gauge {
            let now = gauge.active.fetch_add(1, Ordering::SeqCst) + 1;
            gauge.max.fetch_max(now, Ordering::SeqCst);
        }
        if let Some(barrier) = &self.barrier {
            barrier.wait().await;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(sleep.0)) => {}
            () = ctx.cancellation().cancelled() => {
                if let Some(events) = &self.events {
                    events.send(Event::Cancelled(ctx.agent_id().clone())).await.unwrap();
                }
            }
        }
        if let Some(gauge) = &self.gauge {
            gauge.active.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl Handler<Fail> for Probe {
    type Response = ();
    async fn handle(&mut self, _fail: Fail, _ctx: &MessageContext) -> Result<(), HandlerError> {
        Err(Box::new(ProbeError))
    }
}

impl Handler<Boom> for Probe {
    type Response = ();
    async fn handle(&mut self, _boom: Boom, _ctx: &MessageContext) -> Result<(), HandlerError> {
        panic!("boom goes the handler")
    }
}

/// Forwards a `Relay(n)` as `Ping(n)` to `echo/default` from inside its handler.
impl Handler<Relay> for Probe {
    type Response = Pong;
    async fn handle(&mut self, relay: Relay, ctx: &MessageContext) -> Result<Pong, HandlerError> {
        let echo = AgentId::new("echo", "default")?;
        Ok(ctx.send::<Ping, Pong>(Ping(relay.0), &echo).await?)
    }
}

fn routed(probe: Probe) -> RoutedAgent<Probe> {
    RoutedAgent::new(probe)
        .with_handler::<Ping>()
        .with_handler::<Record>()
        .with_handler::<Sleep>()
        .with_handler::<Fail>()
        .with_handler::<Boom>()
        .with_handler::<Relay>()
        .with_description("a probe")
        .with_serde_state()
}

fn reporting(
    events: &mpsc::Sender<Event>,
) -> impl Fn(AgentId) -> RoutedAgent<Probe> + Send + Sync + 'static {
    let events = events.clone();
    move |_id| {
        routed(Probe {
            events: Some(events.clone()),
            ..Probe::default()
        })
    }
}

fn plain(_id: AgentId) -> RoutedAgent<Probe> {
    routed(Probe::default())
}

fn id(agent_type: &str, key: &str) -> AgentId {
    AgentId::new(agent_type, key).unwrap()
}

fn topic(topic_type: &str, source: &str) -> TopicId {
    TopicId::new(topic_type, source).unwrap()
}

fn events() -> (mpsc::Sender<Event>, mpsc::Receiver<Event>) {
    mpsc::channel(1024)
}

async fn next_seen(rx: &mut mpsc::Receiver<Event>) -> Seen {
    match rx.recv().await.unwrap() {
        Event::Seen(seen) => seen,
        other @ Event::Cancelled(_) => panic!("expected a Seen event, got {other:?}"),
    }
}

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("test timed out")
}

// ------------------------------------------------------------------ requests

#[tokio::test]
async fn rpc_returns_the_response_and_fills_the_context() {
    within(async {
        let runtime = LocalRuntime::new();
        let (tx, mut rx) = events();
        runtime.register("probe", reporting(&tx)).await.unwrap();
        let probe = id("probe", "1");
        let caller = id("caller", "x");

        let options = SendOptions::new()
            .with_sender(caller.clone())
            .with_message_id("msg-1");
        let reply = runtime
            .send_message(AnyMessage::new(Ping(41)), probe.clone(), options)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply.downcast::<Pong>().unwrap(), Pong(42));

        let seen = next_seen(&mut rx).await;
        assert_eq!(
            seen,
            Seen {
                agent: probe.clone(),
                sender: Some(caller),
                topic: None,
                is_rpc: true,
                message_id: "msg-1".into(),
                value: 41,
            }
        );

        // Without options: no sender, and a fresh uuid4 message id.
        let pong: Pong = runtime.send(Ping(1), &probe).await.unwrap();
        assert_eq!(pong, Pong(2));
        let seen = next_seen(&mut rx).await;
        assert_eq!(seen.sender, None);
        assert!(uuid::Uuid::parse_str(&seen.message_id).is_ok());

        // A handler answering `()` gives no response; expecting a message then fails.
        assert!(
            runtime
                .send_message(
                    AnyMessage::new(Record(1)),
                    probe.clone(),
                    SendOptions::new()
                )
                .await
                .unwrap()
                .is_none()
        );
        let err = runtime
            .send::<Record, Pong>(Record(2), &probe)
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::NoResponse { ref agent_id } if *agent_id == probe));
        runtime.stop(Duration::from_secs(1)).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn serialized_requests_are_decoded_by_the_handler() {
    within(async {
        let runtime = LocalRuntime::new();
        runtime.register("probe", plain).await.unwrap();
        let wire = AnyMessage::new(Ping(6)).to_serialized().unwrap();
        let reply = runtime
            .send_message(
                AnyMessage::from_serialized(wire),
                id("probe", "1"),
                SendOptions::new(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply.downcast::<Pong>().unwrap(), Pong(7));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn unknown_agent_type_fails_at_once() {
    within(async {
        let runtime = LocalRuntime::new();
        let before = tokio::time::Instant::now();
        let err = runtime
            .send::<Ping, Pong>(Ping(1), &id("nobody", "1"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, CoreError::Undeliverable { ref agent_type } if agent_type == "nobody")
        );
        assert_eq!(tokio::time::Instant::now(), before, "no time may pass");
    })
    .await;
}

#[tokio::test]
async fn unhandled_type_reaches_the_caller_as_is() {
    within(async {
        let runtime = LocalRuntime::new();
        runtime
            .register("narrow", |_id| {
                RoutedAgent::new(Probe::default()).with_handler::<Ping>()
            })
            .await
            .unwrap();
        let narrow = id("narrow", "1");
        let err = runtime
            .send::<Record, ()>(Record(1), &narrow)
            .await
            .unwrap_err();
        match err {
            CoreError::UnhandledMessageType {
                agent_id,
                type_name,
            } => {
                assert_eq!(agent_id, narrow);
                assert_eq!(type_name, "Record");
            }
            other => panic!("unexpected {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn handler_error_reaches_the_caller_with_its_source() {
    within(async {
        let runtime = LocalRuntime::new();
        runtime.register("probe", plain).await.unwrap();
        let probe = id("probe", "1");
        let err = runtime.send::<Fail, ()>(Fail, &probe).await.unwrap_err();
        assert!(matches!(err, CoreError::Handler { ref agent_id, .. } if *agent_id == probe));
        let source = err.source().expect("the handler's error is kept");
        assert!(source.downcast_ref::<ProbeError>().is_some());
        // The agent is still fine.
        assert_eq!(
            runtime.send::<Ping, Pong>(Ping(1), &probe).await.unwrap(),
            Pong(2)
        );
    })
    .await;
}

#[tokio::test]
async fn nested_requests_carry_the_handler_as_sender() {
    within(async {
        let runtime = LocalRuntime::new();
        let (tx, mut rx) = events();
        runtime.register("echo", reporting(&tx)).await.unwrap();
        runtime.register("relay", plain).await.unwrap();
        let relay = id("relay", "r");
        let pong: Pong = runtime.send(Relay(9), &relay).await.unwrap();
        assert_eq!(pong, Pong(10));
        let seen = next_seen(&mut rx).await;
        assert_eq!(seen.agent, id("echo", "default"));
        assert_eq!(seen.sender, Some(relay));
        assert!(seen.is_rpc);
    })
    .await;
}

/// Records, for each `handle` span, the names of its ancestors (nearest first).
#[derive(Clone, Default)]
struct Ancestry(Arc<std::sync::Mutex<Vec<Vec<String>>>>);

impl<S> tracing_subscriber::Layer<S> for Ancestry
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != "handle" {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let names = span
            .scope()
            .skip(1)
            .map(|ancestor| ancestor.name().to_owned())
            .collect();
        self.0.lock().unwrap().push(names);
    }
}

#[test]
fn a_handlers_span_is_a_child_of_its_senders_span() {
    use tracing::Instrument as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let ancestry = Ancestry::default();
    let subscriber = tracing_subscriber::registry().with(ancestry.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(within(async {
            let runtime = LocalRuntime::new();
            runtime.register("echo", plain).await.unwrap();
            runtime.register("relay", plain).await.unwrap();
            let pong: Pong = runtime
                .send(Relay(1), &id("relay", "r"))
                .instrument(tracing::info_span!("caller"))
                .await
                .unwrap();
            assert_eq!(pong, Pong(2));
        }));
    let seen = ancestry.0.lock().unwrap().clone();
    // relay's handler under the caller's send; echo's under relay's handler and its send.
    assert_eq!(
        seen,
        vec![
            vec!["send".to_owned(), "caller".to_owned()],
            vec![
                "send".to_owned(),
                "handle".to_owned(),
                "send".to_owned(),
                "caller".to_owned()
            ],
        ]
    );
}

// ------------------------------------------------------------------ publish

#[tokio::test]
async fn publish_fans_out_to_matching_subscriptions_except_the_sender() {
    within(async {
        let runtime = LocalRuntime::new();
        let (tx, mut rx) = events();
        runtime.register("exact", reporting(&tx)).await.unwrap();
        runtime.register("prefixed", reporting(&tx)).await.unwrap();
        runtime.register("other", reporting(&tx)).await.unwrap();
        runtime
            .add_subscription(TypeSubscription::new("news", "exact").unwrap().into())
            .await
            .unwrap();
        runtime
            .add_subscription(
                TypePrefixSubscription::new("ne", "prefixed")
                    .unwrap()
                    .into(),
            )
            .await
            .unwrap();
        // A second, different subscription mapping to the same agents: still one delivery each.
        runtime
            .add_subscription(TypePrefixSubscription::new("new", "exact").unwrap().into())
            .await
            .unwrap();
        runtime
            .add_subscription(TypeSubscription::new("weather", "other").unwrap().into())
            .await
            .unwrap();

        let news = topic("news", "room-1");
        let publisher = id("exact", "room-1");
        let options = PublishOptions::new()
            .with_sender(publisher.clone())
            .with_message_id("pub-1");
        runtime
            .publish_message(AnyMessage::new(Record(5)), news.clone(), options)
            .await
            .unwrap();

        // The sender (exact/room-1) is skipped: only prefixed/room-1 receives it.
        let seen = next_seen(&mut rx).await;
        assert_eq!(
            seen,
            Seen {
                agent: id("prefixed", "room-1"),
                sender: Some(publisher),
                topic: Some(news.clone()),
                is_rpc: false,
                message_id: "pub-1".into(),
                value: 5,
            }
        );

        // Without a sender both subscribers get it, once each.
        runtime.publish(Record(6), &news).await.unwrap();
        let mut receivers = vec![
            next_seen(&mut rx).await.agent,
            next_seen(&mut rx).await.agent,
        ];
        receivers.sort();
        assert_eq!(receivers, [id("exact", "room-1"), id("prefixed", "room-1")]);

        // Exactly one delivery per agent: the mailboxes (read after everything queued before)
        // hold no duplicate, and the unsubscribed agent got nothing.
        let records = |agent: AgentId| {
            let runtime = runtime.clone();
            async move {
                runtime
                    .with_agent(&agent, |p: &mut Probe| p.records.clone())
                    .await
                    .unwrap()
            }
        };
        assert_eq!(records(id("exact", "room-1")).await, [6]);
        assert_eq!(records(id("prefixed", "room-1")).await, [5, 6]);
        assert!(records(id("other", "room-1")).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn publishing_from_a_handler_skips_the_handler() {
    /// Republishes every `Ping` it receives directly as a `Record` on topic "chat".
    struct Echoer;
    impl Handler<Ping> for Echoer {
        type Response = ();
        async fn handle(&mut self, ping: Ping, ctx: &MessageContext) -> Result<(), HandlerError> {
            ctx.publish(Record(ping.0), &TopicId::new("chat", "room")?)
                .await?;
            Ok(())
        }
    }
    impl Handler<Record> for Echoer {
        type Response = ();
        async fn handle(&mut self, _r: Record, _ctx: &MessageContext) -> Result<(), HandlerError> {
            panic!("the publisher must not receive its own publish")
        }
    }
    within(async {
        let runtime = LocalRuntime::new();
        let (tx, mut rx) = events();
        runtime
            .register("echoer", |_id| {
                RoutedAgent::new(Echoer)
                    .with_handler::<Ping>()
                    .with_handler::<Record>()
            })
            .await
            .unwrap();
        runtime.register("listener", reporting(&tx)).await.unwrap();
        for agent_type in ["echoer", "listener"] {
            runtime
                .add_subscription(TypeSubscription::new("chat", agent_type).unwrap().into())
                .await
                .unwrap();
        }
        runtime
            .send::<Ping, ()>(Ping(3), &id("echoer", "room"))
            .await
            .unwrap();
        let seen = next_seen(&mut rx).await;
        assert_eq!(seen.agent, id("listener", "room"));
        assert_eq!(seen.sender, Some(id("echoer", "room")));
        // The echoer would have panicked on its own publish; its next request shows it did not.
        runtime
            .send::<Ping, ()>(Ping(4), &id("echoer", "room"))
            .await
            .unwrap();
        assert_eq!(next_seen(&mut rx).await.value, 4);
    })
    .await;
}

#[tokio::test]
async fn publish_never_reports_handler_errors() {
    within(async {
        let runtime = LocalRuntime::new();
        runtime.register("probe", plain).await.unwrap();
        runtime
            .add_subscription(Subscription::default_for("probe").unwrap())
            .await
            .unwrap();
        let default = topic("default", "k");
        runtime.publish(Fail, &default).await.unwrap();
        runtime.publish(Boom, &default).await.unwrap();
        runtime.publish(Record(1), &default).await.unwrap();
        let records = runtime
            .with_agent(&id("probe", "k"), |p: &mut Probe| p.records.clone())
            .await
            .unwrap();
        assert_eq!(records, [1]);
    })
    .await;
}

#[tokio::test]
async fn subscriptions_reject_duplicates_and_can_be_removed() {
    within(async {
        let runtime = LocalRuntime::new();
        runtime.register("probe", plain).await.unwrap();
        let sub: Subscription = TypeSubscription::new("t", "probe").unwrap().into();
        runtime.add_subscription(sub.clone()).await.unwrap();
        let equivalent: Subscription = TypeSubscription::new("t", "probe").unwrap().into();
        assert!(matches!(
            runtime.add_subscription(equivalent).await,
            Err(CoreError::DuplicateSubscription { .. })
        ));
        runtime.remove_subscription(sub.id()).await.unwrap();
        assert!(matches!(
            runtime.remove_subscription(sub.id()).await,
            Err(CoreError::SubscriptionNotFound { .. })
        ));
        runtime.publish(Record(1), &topic("t", "k")).await.unwrap();
        let records = runtime
            .with_agent(&id("probe", "k"), |p: &mut Probe| p.records.clone())
            .await
            .unwrap();
        assert!(records.is_empty(), "removed subscription still delivered");
    })
    .await;
}

// ------------------------------------------------------------------ ordering and concurrency

#[tokio::test]
async fn one_instance_handles_messages_one_at_a_time_in_order() {
    within(async {
        let runtime = LocalRuntime::new();
        let gauge = Arc::new(Gauge::default());
        let shared = Arc::clone(&gauge);
        runtime
            .register("probe", move |_id| {
                routed(Probe {
                    gauge: Some(Arc::clone(&shared)),
                    ..Probe::default()
                })
            })
            .await
            .unwrap();
        runtime
            .add_subscription(Subscription::default_for("probe").unwrap())
            .await
            .unwrap();
        let probe = id("probe", "k");

        // Concurrent requests to one instance never overlap.
        let sends = (0..8).map(|_| runtime.send::<Sleep, ()>(Sleep(5), &probe));
        for result in join_all(sends).await {
            result.unwrap();
        }
        assert_eq!(gauge.max.load(Ordering::SeqCst), 1);

        // Messages are handled in the order they were enqueued.
        for n in 0..50 {
            runtime
                .publish(Record(n), &topic("default", "k"))
                .await
                .unwrap();
        }
        let records = runtime
            .with_agent(&probe, |p: &mut Probe| p.records.clone())
            .await
            .unwrap();
        assert_eq!(records, (0..50).collect::<Vec<_>>());
    })
    .await;
}

#[tokio::test]
async fn different_instances_run_concurrently() {
    within(async {
        let runtime = LocalRuntime::new();
        // Each handler waits until both are inside their handlers: this only finishes if the two
        // instances run at the same time.
        let barrier = Arc::new(Barrier::new(2));
        runtime
            .register("probe", move |_id| {
                routed(Probe {
                    barrier: Some(Arc::clone(&barrier)),
                    ..Probe::default()
                })
            })
            .await
            .unwrap();
        let (a, b) = (id("probe", "a"), id("probe", "b"));
        let (left, right) = tokio::join!(
            runtime.send::<Sleep, ()>(Sleep(1), &a),
            runtime.send::<Sleep, ()>(Sleep(1), &b),
        );
        left.unwrap();
        right.unwrap();
    })
    .await;
}

// ------------------------------------------------------------------ isolation

#[tokio::test]
async fn a_panicking_handler_is_isolated_and_its_agent_is_kept() {
    within(async {
        let runtime = LocalRuntime::new();
        runtime.register("probe", plain).await.unwrap();
        let (victim, bystander) = (id("probe", "victim"), id("probe", "bystander"));
        runtime
            .send::<Record, ()>(Record(1), &victim)
            .await
            .unwrap();

        let err = runtime.send::<Boom, ()>(Boom, &victim).await.unwrap_err();
        match err {
            CoreError::HandlerPanicked { agent_id, message } => {
                assert_eq!(agent_id, victim);
                assert!(message.contains("boom goes the handler"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }

        assert_eq!(
            runtime
                .send::<Ping, Pong>(Ping(1), &bystander)
                .await
                .unwrap(),
            Pong(2)
        );
        assert_eq!(
            runtime.send::<Ping, Pong>(Ping(2), &victim).await.unwrap(),
            Pong(3)
        );
        // The same instance (with its state) answers after the panic.
        let records = runtime
            .with_agent(&victim, |p: &mut Probe| p.records.clone())
            .await
            .unwrap();
        assert_eq!(records, [1]);
    })
    .await;
}

#[tokio::test]
async fn factory_failures_are_reported_and_retried() {
    within(async {
        let runtime = LocalRuntime::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        runtime
            .register_async("fragile", move |id: AgentId, _runtime| {
                let attempt = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    match (id.key(), attempt) {
                        ("panics", _) => panic!("factory panic"),
                        ("flaky", 0) => Err::<RoutedAgent<Probe>, HandlerError>("not yet".into()),
                        _ => Ok(routed(Probe::default())),
                    }
                }
            })
            .await
            .unwrap();

        let flaky = id("fragile", "flaky");
        let err = runtime
            .send::<Ping, Pong>(Ping(1), &flaky)
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::AgentCreation { ref agent_id, .. } if *agent_id == flaky));
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("not yet")
        );
        // The next message retries the factory.
        assert_eq!(
            runtime.send::<Ping, Pong>(Ping(1), &flaky).await.unwrap(),
            Pong(2)
        );

        let err = runtime
            .send::<Ping, Pong>(Ping(1), &id("fragile", "panics"))
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::AgentCreation { .. }));
        assert!(err.source().unwrap().to_string().contains("factory panic"));
    })
    .await;
}

// ------------------------------------------------------------------ deadlines and cancellation

#[tokio::test(start_paused = true)]
async fn deadline_gives_timeout_and_cancels_the_handler_token() {
    within(async {
        let runtime = LocalRuntime::builder()
            .default_rpc_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let (tx, mut rx) = events();
        runtime.register("probe", reporting(&tx)).await.unwrap();
        let probe = id("probe", "slow");

        let options = SendOptions::new().with_timeout(Duration::from_millis(50));
        let err = runtime
            .send_with::<Sleep, ()>(Sleep(60_000), &probe, options)
            .await
            .unwrap_err();
        match err {
            CoreError::Timeout { recipient, after } => {
                assert_eq!(recipient, probe);
                assert_eq!(after, Duration::from_millis(50));
            }
            other => panic!("unexpected {other:?}"),
        }
        match rx.recv().await.unwrap() {
            Event::Cancelled(agent) => assert_eq!(agent, probe),
            other @ Event::Seen(_) => {
                panic!("expected the handler to see cancellation, got {other:?}")
            }
        }

        // Without a per-call timeout the runtime default applies.
        let err = runtime
            .send::<Sleep, ()>(Sleep(60_000), &probe)
            .await
            .unwrap_err();
        assert!(
            matches!(err, CoreError::Timeout { after, .. } if after == Duration::from_millis(200))
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_token_gives_cancelled_and_reaches_the_handler() {
    within(async {
        let runtime = LocalRuntime::new();
        let (tx, mut rx) = events();
        runtime.register("probe", reporting(&tx)).await.unwrap();
        let probe = id("probe", "c");

        let token = CancellationToken::new();
        let canceller = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            canceller.cancel();
        });
        let options = SendOptions::new().with_cancellation(token);
        let err = runtime
            .send_with::<Sleep, ()>(Sleep(60_000), &probe, options)
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::Cancelled), "{err:?}");
        match rx.recv().await.unwrap() {
            Event::Cancelled(agent) => assert_eq!(agent, probe),
            other @ Event::Seen(_) => {
                panic!("expected the handler to see cancellation, got {other:?}")
            }
        }

        // An already cancelled token fails before anything is delivered.
        let cancelled = CancellationToken::new();
        cancelled.cancel();
        let options = SendOptions::new().with_cancellation(cancelled);
        let err = runtime
            .send_with::<Ping, Pong>(Ping(1), &probe, options)
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::Cancelled));
        assert!(rx.try_recv().is_err(), "nothing was handled");
    })
    .await;
}

// ------------------------------------------------------------------ interventions

/// Drops requests to "blocked" agents and publishes of `Record(13)`; multiplies `Ping`s by 100
/// on the way in and adds 1000 to `Pong`s on the way out.
struct Meddler;

impl InterventionHandler for Meddler {
    fn on_send<'a>(
        &'a self,
        message: AnyMessage,
        ctx: &'a InterventionContext,
    ) -> BoxFuture<'a, Intervention> {
        let blocked = ctx
            .recipient
            .as_ref()
            .is_some_and(|r| r.agent_type() == "blocked");
        let decision = if blocked {
            Intervention::Drop
        } else if let Some(Ping(n)) = message.downcast_ref::<Ping>() {
            Intervention::Continue(AnyMessage::new(Ping(n * 100)))
        } else {
            Intervention::Continue(message)
        };
        Box::pin(ready(decision))
    }

    fn on_publish<'a>(
        &'a self,
        message: AnyMessage,
        _ctx: &'a InterventionContext,
    ) -> BoxFuture<'a, Intervention> {
        Box::pin(ready(
            if message.downcast_ref::<Record>() == Some(&Record(13)) {
                Intervention::Drop
            } else {
                Intervention::Continue(message)
            },
        ))
    }

    fn on_response<'a>(
        &'a self,
        message: AnyMessage,
        ctx: &'a InterventionContext,
    ) -> BoxFuture<'a, Intervention> {
        assert!(ctx.sender.is_some(), "a response names its responder");
        Box::pin(ready(match message.downcast_ref::<Pong>() {
            Some(Pong(n)) => Intervention::Continue(AnyMessage::new(Pong(n + 1000))),
            None => Intervention::Continue(message),
        }))
    }
}

/// Drops every response.
struct Muzzle;
impl InterventionHandler for Muzzle {
    fn on_response<'a>(
        &'a self,
        _message: AnyMessage,
        _ctx: &'a InterventionContext,
    ) -> BoxFuture<'a, Intervention> {
        Box::pin(ready(Intervention::Drop))
    }
}

#[tokio::test]
async fn interventions_rewrite_and_drop_messages() {
    within(async {
        let runtime = LocalRuntime::builder()
            .intervention_handler(Meddler)
            .build()
            .unwrap();
        let (tx, mut rx) = events();
        runtime.register("probe", reporting(&tx)).await.unwrap();
        runtime.register("blocked", reporting(&tx)).await.unwrap();
        runtime
            .add_subscription(Subscription::default_for("probe").unwrap())
            .await
            .unwrap();

        // Rewritten on the way in (3 → 300), answered (301), rewritten on the way out (1301).
        let pong: Pong = runtime.send(Ping(3), &id("probe", "1")).await.unwrap();
        assert_eq!(pong, Pong(1301));
        assert_eq!(next_seen(&mut rx).await.value, 300);

        let err = runtime
            .send::<Ping, Pong>(Ping(1), &id("blocked", "1"))
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::MessageDropped { ref type_name } if type_name == "Ping"));

        // A dropped publish is silent and delivers nothing.
        runtime
            .publish(Record(13), &topic("default", "1"))
            .await
            .unwrap();
        runtime
            .publish(Record(7), &topic("default", "1"))
            .await
            .unwrap();
        assert_eq!(next_seen(&mut rx).await.value, 7);
        assert!(rx.try_recv().is_err());

        let muzzled = LocalRuntime::builder()
            .intervention_handler(Muzzle)
            .build()
            .unwrap();
        muzzled.register("probe", plain).await.unwrap();
        let err = muzzled
            .send::<Ping, Pong>(Ping(1), &id("probe", "1"))
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::MessageDropped { ref type_name } if type_name == "Pong"));
    })
    .await;
}

// ------------------------------------------------------------------ state

#[tokio::test]
async fn state_round_trips_into_a_new_runtime() {
    within(async {
        let first = LocalRuntime::new();
        first.register("probe", plain).await.unwrap();
        let (a, b) = (id("probe", "a"), id("probe", "b/with/slash"));
        for n in [1, 2] {
            first.send::<Record, ()>(Record(n), &a).await.unwrap();
        }
        first.send::<Record, ()>(Record(9), &b).await.unwrap();
        let state = first.save_state().await.unwrap();
        assert_eq!(
            state,
            serde_json::json!({
                "probe/a": {"records": [1, 2]},
                "probe/b/with/slash": {"records": [9]},
            })
        );
        assert_eq!(
            first.agent_save_state(&a).await.unwrap(),
            serde_json::json!({"records": [1, 2]})
        );
        first.stop(Duration::from_secs(1)).await.unwrap();

        let second = LocalRuntime::new();
        second.register("probe", plain).await.unwrap();
        let mut with_unknown = state.clone();
        with_unknown["ghost/1"] = serde_json::json!({"records": [0]});
        second.load_state(with_unknown).await.unwrap();
        let read = |agent: AgentId| {
            let second = second.clone();
            async move {
                second
                    .with_agent(&agent, |p: &mut Probe| p.records.clone())
                    .await
                    .unwrap()
            }
        };
        assert_eq!(read(a.clone()).await, [1, 2]);
        assert_eq!(read(b.clone()).await, [9]);
        assert_eq!(second.save_state().await.unwrap(), state);

        second
            .agent_load_state(&a, serde_json::json!({"records": [5]}))
            .await
            .unwrap();
        assert_eq!(read(a.clone()).await, [5]);
        assert!(matches!(
            second.agent_load_state(&a, serde_json::json!(42)).await,
            Err(CoreError::AgentLoadState { .. })
        ));
        assert!(matches!(
            second.load_state(serde_json::json!([1, 2])).await,
            Err(CoreError::InvalidState { .. })
        ));
        assert!(matches!(
            second.load_state(serde_json::json!({"no-slash": {}})).await,
            Err(CoreError::InvalidAgentId { .. })
        ));
    })
    .await;
}

// ------------------------------------------------------------------ typed access and registry

#[tokio::test]
async fn with_agent_gives_typed_access_or_a_type_mismatch() {
    within(async {
        let runtime = LocalRuntime::new();
        runtime.register("probe", plain).await.unwrap();
        let probe = id("probe", "1");
        runtime.send::<Record, ()>(Record(4), &probe).await.unwrap();

        // The wrapped struct, mutably, between messages.
        runtime
            .with_agent(&probe, |p: &mut Probe| p.records.push(5))
            .await
            .unwrap();
        // The wrapper itself is reachable too.
        let handles = runtime
            .with_agent(&probe, |agent: &mut RoutedAgent<Probe>| {
                agent.handles("Ping")
            })
            .await
            .unwrap();
        assert!(handles);
        let records = runtime
            .with_agent(&probe, |p: &mut Probe| p.records.clone())
            .await
            .unwrap();
        assert_eq!(records, [4, 5]);

        let err = runtime
            .with_agent(&probe, |s: &mut String| s.len())
            .await
            .unwrap_err();
        match err {
            CoreError::AgentTypeMismatch { agent_id, expected } => {
                assert_eq!(agent_id, probe);
                assert!(expected.contains("String"), "{expected}");
            }
            other => panic!("unexpected {other:?}"),
        }

        let err = runtime
            .with_agent(&probe, |_p: &mut Probe| panic!("inspector panic"))
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::HandlerPanicked { .. }));
        assert_eq!(
            runtime.send::<Ping, Pong>(Ping(0), &probe).await.unwrap(),
            Pong(1)
        );
    })
    .await;
}

#[tokio::test]
async fn registration_rules_and_lookups() {
    within(async {
        let runtime = LocalRuntime::new();
        let created = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&created);
        let probe_type = runtime
            .register("probe", move |_id| {
                counter.fetch_add(1, Ordering::SeqCst);
                routed(Probe::default())
            })
            .await
            .unwrap();
        assert_eq!(probe_type, "probe");
        assert!(matches!(
            runtime.register("probe", plain).await,
            Err(CoreError::DuplicateAgentType { .. })
        ));
        assert!(matches!(
            runtime.register("bad type", plain).await,
            Err(CoreError::InvalidAgentId { .. })
        ));

        // get: lazy does not create, eager does (once).
        let lazy = runtime.get(&probe_type, "k", true).await.unwrap();
        assert_eq!(lazy, id("probe", "k"));
        assert_eq!(created.load(Ordering::SeqCst), 0);
        runtime.get(&probe_type, "k", false).await.unwrap();
        runtime.get(&probe_type, "k", false).await.unwrap();
        assert_eq!(created.load(Ordering::SeqCst), 1);
        let unknown = AgentType::new("unknown").unwrap();
        assert!(runtime.get(&unknown, "k", true).await.is_ok());
        assert!(matches!(
            runtime.get(&unknown, "k", false).await,
            Err(CoreError::Undeliverable { .. })
        ));

        assert_eq!(
            runtime.agent_metadata(&id("probe", "k")).await.unwrap(),
            AgentMetadata::new(&id("probe", "k"), "a probe")
        );

        // Registered instances.
        let single = id("single", "only");
        let instance: Box<dyn Agent> = Box::new(routed(Probe::default()));
        assert_eq!(
            runtime
                .register_agent_instance(instance, single.clone())
                .await
                .unwrap(),
            single
        );
        assert_eq!(
            runtime.send::<Ping, Pong>(Ping(1), &single).await.unwrap(),
            Pong(2)
        );
        let again: Box<dyn Agent> = Box::new(routed(Probe::default()));
        assert!(matches!(
            runtime.register_agent_instance(again, single.clone()).await,
            Err(CoreError::DuplicateAgentId { .. })
        ));
        let clash: Box<dyn Agent> = Box::new(routed(Probe::default()));
        assert!(matches!(
            runtime
                .register_agent_instance(clash, id("probe", "x"))
                .await,
            Err(CoreError::DuplicateAgentType { .. })
        ));
        assert!(matches!(
            runtime.register("single", plain).await,
            Err(CoreError::DuplicateAgentType { .. })
        ));
        assert!(matches!(
            runtime
                .send::<Ping, Pong>(Ping(1), &id("single", "other"))
                .await,
            Err(CoreError::AgentNotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn builder_rejects_an_empty_mailbox() {
    assert!(matches!(
        LocalRuntime::builder().mailbox_capacity(0).build(),
        Err(CoreError::InvalidConfiguration {
            field: "mailbox_capacity",
            ..
        })
    ));
}

// ------------------------------------------------------------------ lifecycle

/// Counts the messages it handled and reports when it is closed.
struct Closer {
    handled: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Agent for Closer {
    fn on_message(
        &mut self,
        _message: AnyMessage,
        _ctx: MessageContext,
    ) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.handled.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        })
    }

    fn close(&mut self) -> BoxFuture<'_, Result<(), HandlerError>> {
        self.closed.fetch_add(1, Ordering::SeqCst);
        Box::pin(ready(Ok(())))
    }
}

#[tokio::test(start_paused = true)]
async fn stop_drains_mailboxes_closes_agents_and_refuses_new_work() {
    within(async {
        let runtime = LocalRuntime::new();
        let handled = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (h, c) = (Arc::clone(&handled), Arc::clone(&closed));
        runtime
            .register("closer", move |_id| Closer {
                handled: Arc::clone(&h),
                closed: Arc::clone(&c),
            })
            .await
            .unwrap();
        runtime
            .add_subscription(Subscription::default_for("closer").unwrap())
            .await
            .unwrap();
        for key in ["a", "b"] {
            for n in 0..5 {
                runtime
                    .publish(Record(n), &topic("default", key))
                    .await
                    .unwrap();
            }
        }
        runtime.stop(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            handled.load(Ordering::SeqCst),
            10,
            "queued messages are handled"
        );
        assert_eq!(closed.load(Ordering::SeqCst), 2, "every agent is closed");
        assert!(runtime.is_stopped());

        assert!(matches!(
            runtime.send::<Ping, ()>(Ping(1), &id("closer", "a")).await,
            Err(CoreError::RuntimeStopped)
        ));
        assert!(matches!(
            runtime.publish(Record(1), &topic("default", "a")).await,
            Err(CoreError::RuntimeStopped)
        ));
        assert!(matches!(
            runtime.register("late", plain).await,
            Err(CoreError::RuntimeStopped)
        ));
        // Stopping twice is harmless.
        runtime.stop(Duration::from_secs(1)).await.unwrap();
    })
    .await;
}

/// Sleeps through every message, ignoring cancellation.
struct Stubborn;
impl Agent for Stubborn {
    fn on_message(
        &mut self,
        _message: AnyMessage,
        _ctx: MessageContext,
    ) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(None)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn stop_past_its_deadline_aborts_in_flight_work() {
    within(async {
        let runtime = LocalRuntime::builder()
            .default_rpc_timeout(Duration::from_secs(7200))
            .build()
            .unwrap();
        runtime.register("stubborn", |_id| Stubborn).await.unwrap();
        let caller = {
            let runtime = runtime.clone();
            tokio::spawn(async move {
                runtime
                    .send::<Ping, ()>(Ping(1), &id("stubborn", "1"))
                    .await
            })
        };
        // Let the request reach the agent.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let err = runtime.stop(Duration::from_millis(100)).await.unwrap_err();
        assert!(
            matches!(err, CoreError::StopTimedOut { after } if after == Duration::from_millis(100))
        );
        let answer = caller.await.unwrap();
        assert!(
            matches!(answer, Err(CoreError::RuntimeStopped)),
            "{answer:?}"
        );
    })
    .await;
}

// ------------------------------------------------------------------ host runtime

/// A runtime in front of a `LocalRuntime` (as the Kafka worker runtime is): counts the sends and
/// publishes that reach it and hands everything to the local runtime.
struct CountingHost {
    local: LocalRuntime,
    sends: AtomicUsize,
    publishes: AtomicUsize,
}

impl AgentRuntime for CountingHost {
    fn send_message(
        &self,
        message: AnyMessage,
        recipient: AgentId,
        options: SendOptions,
    ) -> BoxFuture<'_, crate::Result<Option<AnyMessage>>> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        self.local.send_message(message, recipient, options)
    }

    fn publish_message(
        &self,
        message: AnyMessage,
        topic: TopicId,
        options: PublishOptions,
    ) -> BoxFuture<'_, crate::Result<()>> {
        self.publishes.fetch_add(1, Ordering::SeqCst);
        self.local.publish_message(message, topic, options)
    }

    fn register_factory(
        &self,
        agent_type: AgentType,
        factory: AgentFactory,
    ) -> BoxFuture<'_, crate::Result<AgentType>> {
        self.local.register_factory(agent_type, factory)
    }

    fn register_agent_instance(
        &self,
        agent: Box<dyn Agent>,
        id: AgentId,
    ) -> BoxFuture<'_, crate::Result<AgentId>> {
        self.local.register_agent_instance(agent, id)
    }

    fn add_subscription(&self, subscription: Subscription) -> BoxFuture<'_, crate::Result<()>> {
        self.local.add_subscription(subscription)
    }

    fn remove_subscription<'a>(&'a self, id: &'a str) -> BoxFuture<'a, crate::Result<()>> {
        self.local.remove_subscription(id)
    }

    fn get<'a>(
        &'a self,
        agent_type: &'a AgentType,
        key: &'a str,
        lazy: bool,
    ) -> BoxFuture<'a, crate::Result<AgentId>> {
        self.local.get(agent_type, key, lazy)
    }

    fn agent_metadata<'a>(
        &'a self,
        id: &'a AgentId,
    ) -> BoxFuture<'a, crate::Result<AgentMetadata>> {
        self.local.agent_metadata(id)
    }

    fn agent_save_state<'a>(&'a self, id: &'a AgentId) -> BoxFuture<'a, crate::Result<Value>> {
        self.local.agent_save_state(id)
    }

    fn agent_load_state<'a>(
        &'a self,
        id: &'a AgentId,
        state: Value,
    ) -> BoxFuture<'a, crate::Result<()>> {
        self.local.agent_load_state(id, state)
    }

    fn save_state(&self) -> BoxFuture<'_, crate::Result<Value>> {
        self.local.save_state()
    }

    fn load_state(&self, state: Value) -> BoxFuture<'_, crate::Result<()>> {
        self.local.load_state(state)
    }

    fn serializers(&self) -> &SerializerRegistry {
        self.local.serializers()
    }

    fn access_agent<'a>(
        &'a self,
        id: &'a AgentId,
        access: AgentAccess,
    ) -> BoxFuture<'a, crate::Result<()>> {
        self.local.access_agent(id, access)
    }
}

/// Reaches other agents through its context (`Relay` → `ctx.send`, `Record` → `ctx.publish` on
/// topic "out") and through the handle its factory was given (`Ping` → a `Ping` to `echo`).
struct Forwarder {
    runtime: RuntimeHandle,
}

impl Handler<Relay> for Forwarder {
    type Response = Pong;
    async fn handle(&mut self, relay: Relay, ctx: &MessageContext) -> Result<Pong, HandlerError> {
        Ok(ctx.send(Ping(relay.0), &AgentId::new("echo", "1")?).await?)
    }
}

impl Handler<Record> for Forwarder {
    type Response = ();
    async fn handle(&mut self, record: Record, ctx: &MessageContext) -> Result<(), HandlerError> {
        Ok(ctx.publish(record, &TopicId::new("out", "1")?).await?)
    }
}

impl Handler<Ping> for Forwarder {
    type Response = Pong;
    async fn handle(&mut self, ping: Ping, _ctx: &MessageContext) -> Result<Pong, HandlerError> {
        Ok(self.runtime.send(ping, &AgentId::new("echo", "1")?).await?)
    }
}

#[tokio::test]
async fn a_host_runtime_carries_the_agents_traffic_until_stop() {
    within(async {
        let local = LocalRuntime::new();
        let host = Arc::new(CountingHost {
            local: local.clone(),
            sends: AtomicUsize::new(0),
            publishes: AtomicUsize::new(0),
        });
        let as_runtime: Arc<dyn AgentRuntime> = host.clone();
        local.set_host_runtime(RuntimeHandle::from_arc(as_runtime));

        let (tx, mut rx) = events();
        local.register("echo", reporting(&tx)).await.unwrap();
        local
            .add_subscription(TypeSubscription::new("out", "echo").unwrap().into())
            .await
            .unwrap();
        local
            .register_async("forwarder", |_id, runtime| async move {
                Ok::<_, HandlerError>(
                    RoutedAgent::new(Forwarder { runtime })
                        .with_handler::<Relay>()
                        .with_handler::<Record>()
                        .with_handler::<Ping>(),
                )
            })
            .await
            .unwrap();
        let forwarder = id("forwarder", "1");

        // `ctx.send` from a handler goes through the host.
        let pong: Pong = local.send(Relay(1), &forwarder).await.unwrap();
        assert_eq!(pong, Pong(2));
        assert_eq!(host.sends.load(Ordering::SeqCst), 1);
        let seen = next_seen(&mut rx).await;
        assert_eq!(seen.agent, id("echo", "1"));
        assert_eq!(seen.sender, Some(forwarder.clone()));

        // So does the handle the factory was given.
        let pong: Pong = local.send(Ping(5), &forwarder).await.unwrap();
        assert_eq!(pong, Pong(6));
        assert_eq!(host.sends.load(Ordering::SeqCst), 2);
        assert_eq!(next_seen(&mut rx).await.value, 5);

        // And `ctx.publish`.
        local
            .send::<Record, ()>(Record(3), &forwarder)
            .await
            .unwrap();
        assert_eq!(host.publishes.load(Ordering::SeqCst), 1);
        let seen = next_seen(&mut rx).await;
        assert_eq!(seen.topic, Some(topic("out", "1")));
        assert_eq!(seen.value, 3);
        assert_eq!(host.sends.load(Ordering::SeqCst), 2);

        // The local runtime (and the agent keeping its factory's handle) hold the host, which
        // holds the local runtime: stop breaks that cycle.
        let weak = Arc::downgrade(&host);
        drop(host);
        assert!(weak.upgrade().is_some(), "the runtime holds its host");
        local.stop(Duration::from_secs(1)).await.unwrap();
        assert!(weak.upgrade().is_none(), "stop releases the host");
    })
    .await;
}

// ------------------------------------------------------------------ eviction

/// A probe factory that counts the instances it creates.
fn counted(
    created: &Arc<AtomicUsize>,
) -> impl Fn(AgentId) -> RoutedAgent<Probe> + Send + Sync + 'static {
    let created = Arc::clone(created);
    move |_id| {
        created.fetch_add(1, Ordering::SeqCst);
        routed(Probe::default())
    }
}

async fn records_of(runtime: &LocalRuntime, agent: &AgentId) -> Vec<u32> {
    runtime
        .with_agent(agent, |p: &mut Probe| p.records.clone())
        .await
        .unwrap()
}

const EVICT_DEADLINE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn eviction_returns_the_state_and_the_next_message_creates_a_fresh_agent() {
    within(async {
        let runtime = LocalRuntime::new();
        let created = Arc::new(AtomicUsize::new(0));
        runtime.register("probe", counted(&created)).await.unwrap();
        let (evicted, kept) = (id("probe", "1"), id("probe", "2"));
        for n in [1, 2] {
            runtime
                .send::<Record, ()>(Record(n), &evicted)
                .await
                .unwrap();
        }
        runtime.send::<Record, ()>(Record(9), &kept).await.unwrap();
        assert_eq!(runtime.active_agents(), [evicted.clone(), kept.clone()]);

        let saved = runtime
            .evict_agent(&evicted, EVICT_DEADLINE)
            .await
            .unwrap()
            .expect("the agent existed");
        assert_eq!(saved, json!({"records": [1, 2]}));
        assert_eq!(runtime.active_agents(), std::slice::from_ref(&kept));
        assert_eq!(created.load(Ordering::SeqCst), 2);

        // The next message creates a fresh instance, with fresh state.
        runtime
            .send::<Record, ()>(Record(3), &evicted)
            .await
            .unwrap();
        assert_eq!(created.load(Ordering::SeqCst), 3);
        assert_eq!(records_of(&runtime, &evicted).await, [3]);
        // The saved state restores it.
        runtime.agent_load_state(&evicted, saved).await.unwrap();
        assert_eq!(records_of(&runtime, &evicted).await, [1, 2]);
        // Other agents are untouched.
        assert_eq!(records_of(&runtime, &kept).await, [9]);
    })
    .await;
}

#[tokio::test]
async fn eviction_closes_the_agent_once() {
    within(async {
        let runtime = LocalRuntime::new();
        let handled = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (h, c) = (Arc::clone(&handled), Arc::clone(&closed));
        runtime
            .register("closer", move |_id| Closer {
                handled: Arc::clone(&h),
                closed: Arc::clone(&c),
            })
            .await
            .unwrap();
        let closer = id("closer", "1");
        runtime.send::<Ping, ()>(Ping(1), &closer).await.unwrap();
        let saved = runtime.evict_agent(&closer, EVICT_DEADLINE).await.unwrap();
        assert_eq!(
            saved,
            Some(json!({})),
            "the default state is an empty object"
        );
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        // Stopping does not close the evicted agent again.
        runtime.stop(Duration::from_secs(1)).await.unwrap();
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        assert_eq!(handled.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn evicting_a_missing_agent_returns_none_and_creates_nothing() {
    within(async {
        let runtime = LocalRuntime::new();
        let created = Arc::new(AtomicUsize::new(0));
        runtime.register("probe", counted(&created)).await.unwrap();
        let ghost = id("probe", "ghost");
        assert_eq!(
            runtime.evict_agent(&ghost, EVICT_DEADLINE).await.unwrap(),
            None
        );
        assert_eq!(
            runtime
                .evict_agent(&id("nobody", "1"), EVICT_DEADLINE)
                .await
                .unwrap(),
            None
        );
        assert_eq!(created.load(Ordering::SeqCst), 0);
        assert!(runtime.active_agents().is_empty());

        // An evicted agent is missing too.
        runtime.send::<Record, ()>(Record(1), &ghost).await.unwrap();
        assert!(
            runtime
                .evict_agent(&ghost, EVICT_DEADLINE)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            runtime.evict_agent(&ghost, EVICT_DEADLINE).await.unwrap(),
            None
        );
        assert_eq!(created.load(Ordering::SeqCst), 1);

        // A registered instance has no factory to come back from.
        let single = id("single", "only");
        let instance: Box<dyn Agent> = Box::new(routed(Probe::default()));
        runtime
            .register_agent_instance(instance, single.clone())
            .await
            .unwrap();
        runtime
            .send::<Record, ()>(Record(4), &single)
            .await
            .unwrap();
        assert_eq!(
            runtime.evict_agent(&single, EVICT_DEADLINE).await.unwrap(),
            Some(json!({"records": [4]}))
        );
        assert!(matches!(
            runtime.send::<Ping, Pong>(Ping(1), &single).await,
            Err(CoreError::AgentNotFound { ref agent_id }) if *agent_id == single
        ));

        runtime.stop(Duration::from_secs(1)).await.unwrap();
        assert!(matches!(
            runtime.evict_agent(&ghost, EVICT_DEADLINE).await,
            Err(CoreError::RuntimeStopped)
        ));
    })
    .await;
}

#[tokio::test]
async fn messages_queued_before_an_eviction_are_handled_before_it() {
    within(async {
        let runtime = LocalRuntime::new();
        runtime.register("probe", plain).await.unwrap();
        runtime
            .add_subscription(Subscription::default_for("probe").unwrap())
            .await
            .unwrap();
        // A publish returns once enqueued: these are all still queued when the eviction is.
        for n in 0..50 {
            runtime
                .publish(Record(n), &topic("default", "k"))
                .await
                .unwrap();
        }
        let saved = runtime
            .evict_agent(&id("probe", "k"), EVICT_DEADLINE)
            .await
            .unwrap();
        assert_eq!(saved, Some(json!({"records": (0..50).collect::<Vec<_>>()})));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn eviction_waits_for_the_message_in_flight() {
    within(async {
        let runtime = LocalRuntime::new();
        let (tx, mut rx) = events();
        runtime.register("probe", reporting(&tx)).await.unwrap();
        let probe = id("probe", "1");
        runtime.send::<Record, ()>(Record(1), &probe).await.unwrap();
        next_seen(&mut rx).await;

        let slow = {
            let runtime = runtime.clone();
            let probe = probe.clone();
            tokio::spawn(async move { runtime.send::<Sleep, ()>(Sleep(500), &probe).await })
        };
        // Let the request reach the agent.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = Instant::now();
        let saved = runtime.evict_agent(&probe, EVICT_DEADLINE).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(490));
        assert_eq!(saved, Some(json!({"records": [1]})));
        // The handler ran to its end, uncancelled.
        slow.await.unwrap().unwrap();
        assert!(rx.try_recv().is_err(), "the handler was not cancelled");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_eviction_past_its_deadline_leaves_the_agent_as_it_was() {
    within(async {
        let runtime = LocalRuntime::new();
        let created = Arc::new(AtomicUsize::new(0));
        runtime.register("probe", counted(&created)).await.unwrap();
        let probe = id("probe", "1");
        runtime.send::<Record, ()>(Record(1), &probe).await.unwrap();
        let slow = {
            let runtime = runtime.clone();
            let probe = probe.clone();
            tokio::spawn(async move { runtime.send::<Sleep, ()>(Sleep(500), &probe).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;

        let deadline = Duration::from_millis(100);
        let err = runtime.evict_agent(&probe, deadline).await.unwrap_err();
        match err {
            CoreError::Timeout { recipient, after } => {
                assert_eq!(recipient, probe);
                assert_eq!(after, deadline);
            }
            other => panic!("unexpected {other:?}"),
        }
        slow.await.unwrap().unwrap();
        // The abandoned eviction never ran: same instance, same state.
        assert_eq!(runtime.active_agents(), std::slice::from_ref(&probe));
        assert_eq!(records_of(&runtime, &probe).await, [1]);
        assert_eq!(created.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn messages_arriving_during_an_eviction_go_to_the_next_instance() {
    within(async {
        let runtime = LocalRuntime::new();
        let created = Arc::new(AtomicUsize::new(0));
        runtime.register("probe", counted(&created)).await.unwrap();
        runtime
            .add_subscription(Subscription::default_for("probe").unwrap())
            .await
            .unwrap();
        let probe = id("probe", "1");
        runtime.send::<Record, ()>(Record(1), &probe).await.unwrap();
        let slow = {
            let runtime = runtime.clone();
            let probe = probe.clone();
            tokio::spawn(async move { runtime.send::<Sleep, ()>(Sleep(500), &probe).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let eviction = {
            let runtime = runtime.clone();
            let probe = probe.clone();
            tokio::spawn(async move { runtime.evict_agent(&probe, EVICT_DEADLINE).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Queued behind the eviction, in the evicted agent's mailbox.
        for n in [7, 8] {
            runtime
                .publish(Record(n), &topic("default", "1"))
                .await
                .unwrap();
        }

        let saved = eviction.await.unwrap().unwrap();
        assert_eq!(saved, Some(json!({"records": [1]})));
        slow.await.unwrap().unwrap();
        // Handed, in order, to a fresh instance before the eviction returned.
        assert_eq!(records_of(&runtime, &probe).await, [7, 8]);
        assert_eq!(created.load(Ordering::SeqCst), 2);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn senders_waiting_on_a_full_mailbox_reach_the_next_instance() {
    within(async {
        let runtime = LocalRuntime::builder().mailbox_capacity(1).build().unwrap();
        let created = Arc::new(AtomicUsize::new(0));
        runtime.register("probe", counted(&created)).await.unwrap();
        let probe = id("probe", "1");
        runtime.send::<Record, ()>(Record(1), &probe).await.unwrap();
        let send = |message| {
            let runtime = runtime.clone();
            let probe = probe.clone();
            tokio::spawn(async move {
                runtime
                    .send_message(message, probe, SendOptions::new())
                    .await
            })
        };
        let slow = send(AnyMessage::new(Sleep(500)));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let eviction = {
            let runtime = runtime.clone();
            let probe = probe.clone();
            tokio::spawn(async move { runtime.evict_agent(&probe, EVICT_DEADLINE).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // The mailbox (capacity 1) holds the eviction: both wait for room in the evicted agent's
        // mailbox, and the second still waits when it closes.
        let first = send(AnyMessage::new(Record(7)));
        let second = send(AnyMessage::new(Record(8)));
        tokio::time::sleep(Duration::from_millis(10)).await;

        let saved = eviction.await.unwrap().unwrap();
        assert_eq!(saved, Some(json!({"records": [1]})));
        slow.await.unwrap().unwrap();
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        let mut records = records_of(&runtime, &probe).await;
        records.sort_unstable();
        assert_eq!(records, [7, 8]);
        assert_eq!(created.load(Ordering::SeqCst), 2);
    })
    .await;
}

/// Cannot save its state; counts how often it is closed.
struct Unsaveable {
    closed: Arc<AtomicUsize>,
}

impl Agent for Unsaveable {
    fn on_message(
        &mut self,
        _message: AnyMessage,
        _ctx: MessageContext,
    ) -> BoxFuture<'_, Result<Option<AnyMessage>, HandlerError>> {
        Box::pin(ready(Ok(None)))
    }

    fn save_state(&mut self) -> BoxFuture<'_, Result<Value, HandlerError>> {
        Box::pin(ready(Err(Box::new(ProbeError) as HandlerError)))
    }

    fn close(&mut self) -> BoxFuture<'_, Result<(), HandlerError>> {
        self.closed.fetch_add(1, Ordering::SeqCst);
        Box::pin(ready(Ok(())))
    }
}

#[tokio::test]
async fn a_failed_save_is_reported_and_the_agent_is_still_evicted() {
    within(async {
        let runtime = LocalRuntime::new();
        let closed = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&closed);
        runtime
            .register("unsaveable", move |_id| Unsaveable {
                closed: Arc::clone(&counter),
            })
            .await
            .unwrap();
        let agent = id("unsaveable", "1");
        runtime.send::<Ping, ()>(Ping(1), &agent).await.unwrap();
        let err = runtime
            .evict_agent(&agent, EVICT_DEADLINE)
            .await
            .unwrap_err();
        assert!(
            matches!(err, CoreError::AgentSaveState { ref agent_id, .. } if *agent_id == agent)
        );
        assert!(
            err.source()
                .is_some_and(|source| source.downcast_ref::<ProbeError>().is_some())
        );
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        assert!(runtime.active_agents().is_empty());
    })
    .await;
}

// ------------------------------------------------------------------ call chains

message!(Hop(Vec<String>));
message!(Trail(Vec<String>));

/// Forwards the rest of `Hop`'s path to its first agent id; the last agent answers with the call chain it saw.
struct Walker;

impl Handler<Hop> for Walker {
    type Response = Trail;
    async fn handle(&mut self, hop: Hop, ctx: &MessageContext) -> Result<Trail, HandlerError> {
        let mut rest = hop.0;
        if rest.is_empty() {
            return Ok(Trail(
                ctx.call_chain().iter().map(ToString::to_string).collect(),
            ));
        }
        let next: AgentId = rest.remove(0).parse()?;
        Ok(ctx.send::<Hop, Trail>(Hop(rest), &next).await?)
    }
}

async fn walkers(types: &[&str]) -> LocalRuntime {
    let runtime = LocalRuntime::new();
    for agent_type in types {
        runtime
            .register(agent_type, |_id| {
                RoutedAgent::new(Walker).with_handler::<Hop>()
            })
            .await
            .unwrap();
    }
    runtime
}

fn path(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

/// The `CoreError::CallCycle` somewhere in `error`'s sources.
fn find_cycle<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a CoreError> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(core @ CoreError::CallCycle { .. }) = error.downcast_ref::<CoreError>() {
            return Some(core);
        }
        current = error.source();
    }
    None
}

#[tokio::test]
async fn a_chain_of_depth_five_across_three_types_completes_and_carries_its_chain() {
    within(async {
        let runtime = walkers(&["a", "b", "c"]).await;
        let trail: Trail = runtime
            .send(
                Hop(path(&["b/1", "c/1", "a/2", "b/2", "c/2"])),
                &id("a", "1"),
            )
            .await
            .unwrap();
        assert_eq!(trail.0, path(&["a/1", "b/1", "c/1", "a/2", "b/2"]));
    })
    .await;
}

#[tokio::test]
async fn a_call_back_to_an_agent_waiting_in_the_chain_fails_at_once() {
    within(async {
        let runtime = walkers(&["a", "b"]).await;
        let started = Instant::now();
        let error = runtime
            .send::<Hop, Trail>(Hop(path(&["b/1", "a/1"])), &id("a", "1"))
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let Some(CoreError::CallCycle { recipient, chain }) = find_cycle(&error) else {
            panic!("expected a call cycle, got {error:?}");
        };
        assert_eq!(recipient, &id("a", "1"));
        assert_eq!(chain, &[id("a", "1"), id("b", "1")]);
        // The agents are free again: a chain that does not come back completes.
        let trail: Trail = runtime
            .send(Hop(path(&["b/1"])), &id("a", "1"))
            .await
            .unwrap();
        assert_eq!(trail.0, path(&["a/1"]));
    })
    .await;
}

#[tokio::test]
async fn a_request_to_itself_is_a_cycle_and_other_ids_of_the_type_are_not() {
    within(async {
        let runtime = walkers(&["a"]).await;
        let error = runtime
            .send::<Hop, Trail>(Hop(path(&["a/1"])), &id("a", "1"))
            .await
            .unwrap_err();
        assert!(find_cycle(&error).is_some(), "{error:?}");
        let trail: Trail = runtime
            .send(Hop(path(&["a/2", "a/3"])), &id("a", "1"))
            .await
            .unwrap();
        assert_eq!(trail.0, path(&["a/1", "a/2"]));
    })
    .await;
}

#[tokio::test]
async fn an_agent_without_state_hooks_is_known_as_stateless_while_it_exists() {
    within(async {
        let runtime = LocalRuntime::new();
        runtime.register("probe", plain).await.unwrap();
        runtime
            .register("bare", |_id| {
                RoutedAgent::new(Probe::default()).with_handler::<Ping>()
            })
            .await
            .unwrap();
        let (stateful, bare) = (id("probe", "1"), id("bare", "1"));
        assert!(
            !runtime.is_stateless(&bare),
            "nothing is known before it exists"
        );
        for target in [&stateful, &bare] {
            runtime
                .send_message(AnyMessage::new(Ping(1)), target.clone(), SendOptions::new())
                .await
                .unwrap();
        }
        assert!(runtime.is_stateless(&bare));
        assert!(
            !runtime.is_stateless(&stateful),
            "with_serde_state keeps state"
        );
        runtime
            .evict_agent(&bare, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(!runtime.is_stateless(&bare), "forgotten with the instance");
    })
    .await;
}

#[test]
fn a_command_is_small_so_an_idle_mailbox_is_too() {
    // A mailbox allocates a block of 32 commands up front; large payloads travel boxed.
    assert!(
        std::mem::size_of::<super::Command>() <= 32,
        "{} bytes",
        std::mem::size_of::<super::Command>()
    );
}

//! The messages and agents the benchmarks drive: an echo for RPC, a relay for agent-to-agent calls, a tally for
//! publications, and an echo of A2A requests for the gateway benchmark.

use std::sync::{Arc, Mutex, PoisonError};

use autogen_kafka::{AgentId, Handler, HandlerError, Message, MessageContext, RoutedAgent};
use autogen_kafka_gateway::{A2aReply, A2aRequest};
use serde::{Deserialize, Serialize};

/// The agent type of the RPC benchmark's callee.
pub const ECHO_TYPE: &str = "echo";

/// The agent type of the agent-to-agent benchmark: it asks `echo/<its own key>` and answers with that answer.
pub const RELAY_TYPE: &str = "relay";

/// The agent type of the scale benchmark: a [`Counter`], whose state is how many pings it answered.
pub const COUNTER_TYPE: &str = "counter";

/// The agent type of the gateway benchmark: an [`A2aEcho`], called directly and through the A2A gateway.
pub const A2A_ECHO_TYPE: &str = "a2a_echo";

/// An RPC request: a sequence number and padding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Which request this is.
    pub seq: u64,
    /// Padding (the application payload).
    pub pad: String,
}
impl Message for Ping {
    const TYPE_NAME: &'static str = "BenchPing";
}

/// The answer to a [`Ping`]: the same sequence number and padding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The request's sequence number.
    pub seq: u64,
    /// The request's padding.
    pub pad: String,
}
impl Message for Pong {
    const TYPE_NAME: &'static str = "BenchPong";
}

/// Answers every [`Ping`] with the matching [`Pong`], doing no other work.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl Handler<Ping> for Echo {
    type Response = Pong;

    async fn handle(&mut self, ping: Ping, _ctx: &MessageContext) -> Result<Pong, HandlerError> {
        Ok(Pong {
            seq: ping.seq,
            pad: ping.pad,
        })
    }
}

/// An [`Echo`] agent, for `register(ECHO_TYPE, ..)`.
#[must_use]
pub fn echo_agent() -> RoutedAgent<Echo> {
    RoutedAgent::new(Echo).with_handler::<Ping>()
}

/// Answers every [`A2aRequest`] with its text ([`A2aReply::text`]), doing no other work: the agent behind the
/// gateway in the gateway benchmark (as in the `a2a_gateway` example).
#[derive(Debug, Default, Clone, Copy)]
pub struct A2aEcho;

impl Handler<A2aRequest> for A2aEcho {
    type Response = A2aReply;

    async fn handle(
        &mut self,
        request: A2aRequest,
        _ctx: &MessageContext,
    ) -> Result<A2aReply, HandlerError> {
        Ok(A2aReply::text(request.text))
    }
}

/// An [`A2aEcho`] agent, for `register(A2A_ECHO_TYPE, ..)`.
#[must_use]
pub fn a2a_echo_agent() -> RoutedAgent<A2aEcho> {
    RoutedAgent::new(A2aEcho).with_handler::<A2aRequest>()
}

/// Answers every [`Ping`] like [`Echo`] and counts them; the count is its saved state.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub struct Counter {
    /// Pings answered.
    pub pings: u64,
}

impl Handler<Ping> for Counter {
    type Response = Pong;

    async fn handle(&mut self, ping: Ping, _ctx: &MessageContext) -> Result<Pong, HandlerError> {
        self.pings += 1;
        Ok(Pong {
            seq: ping.seq,
            pad: ping.pad,
        })
    }
}

/// A [`Counter`] agent with state hooks, for `register(COUNTER_TYPE, ..)`.
#[must_use]
pub fn counter_agent() -> RoutedAgent<Counter> {
    fn save(counter: &Counter) -> Result<serde_json::Value, HandlerError> {
        Ok(serde_json::to_value(counter)?)
    }
    fn load(counter: &mut Counter, state: serde_json::Value) -> Result<(), HandlerError> {
        *counter = serde_json::from_value(state)?;
        Ok(())
    }
    RoutedAgent::new(Counter::default())
        .with_handler::<Ping>()
        .with_state_hooks(save, load)
}

/// Answers every [`Ping`] with what `echo/<its own key>` answers to it, asked through the runtime
/// ([`MessageContext::send`]): when the echo type is distributed, that is a second RPC over Kafka, even when the
/// echo agent lives in the same process.
#[derive(Debug, Default, Clone, Copy)]
pub struct Relay;

impl Handler<Ping> for Relay {
    type Response = Pong;

    async fn handle(&mut self, ping: Ping, ctx: &MessageContext) -> Result<Pong, HandlerError> {
        let echo = AgentId::new(ECHO_TYPE, ctx.agent_id().key())?;
        let pong: Pong = ctx.send(ping, &echo).await?;
        Ok(pong)
    }
}

/// A [`Relay`] agent, for `register(RELAY_TYPE, ..)` next to [`echo_agent`].
#[must_use]
pub fn relay_agent() -> RoutedAgent<Relay> {
    RoutedAgent::new(Relay).with_handler::<Ping>()
}

/// A publication of the publish benchmark: which burst and which message of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// The burst this publication belongs to.
    pub burst: u32,
    /// Its number within the burst, `0..size`.
    pub seq: u32,
    /// Padding (the application payload).
    pub pad: String,
}
impl Message for Tick {
    const TYPE_NAME: &'static str = "BenchTick";
}

/// Delivery counts of one subscriber for the current burst.
#[derive(Debug, Default)]
struct Board {
    burst: u32,
    counts: Vec<u16>,
    /// Deliveries of another burst or out of range.
    strays: u64,
}

/// How often each publication of a burst reached one subscriber. Shared by all the subscriber's agents.
///
/// # Examples
///
/// ```
/// use autogen_kafka_bench::TallyBoard;
///
/// let board = TallyBoard::default();
/// board.reset(1, 3);
/// board.record(1, 0);
/// board.record(1, 2);
/// board.record(1, 2);
/// let count = board.count(3);
/// assert_eq!((count.delivered, count.lost, count.duplicated), (3, 1, 1));
/// ```
#[derive(Debug, Default)]
pub struct TallyBoard {
    board: Mutex<Board>,
}

/// What a [`TallyBoard`] saw of one burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TallyCount {
    /// Deliveries counted, duplicates included.
    pub delivered: u64,
    /// Publications never delivered.
    pub lost: u64,
    /// Deliveries beyond the first of a publication.
    pub duplicated: u64,
    /// Deliveries of another burst.
    pub strays: u64,
}

impl TallyBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts counting burst `burst` of `size` publications.
    pub fn reset(&self, burst: u32, size: u32) {
        let mut board = self.lock();
        board.burst = burst;
        board.counts = vec![0; usize::try_from(size).unwrap_or(0)];
        board.strays = 0;
    }

    /// Counts one delivery.
    pub fn record(&self, burst: u32, seq: u32) {
        let mut board = self.lock();
        let index = usize::try_from(seq).unwrap_or(usize::MAX);
        if board.burst != burst || index >= board.counts.len() {
            board.strays += 1;
            return;
        }
        board.counts[index] = board.counts[index].saturating_add(1);
    }

    /// Deliveries counted so far, duplicates included.
    #[must_use]
    pub fn delivered(&self) -> u64 {
        self.lock().counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// The counts of the current burst, judged against its first `issued` publications (a burst cut short by
    /// its time bound issued fewer than its size).
    #[must_use]
    pub fn count(&self, issued: usize) -> TallyCount {
        let board = self.lock();
        let mut count = TallyCount {
            delivered: 0,
            lost: 0,
            duplicated: 0,
            strays: board.strays,
        };
        for &c in board.counts.iter().take(issued) {
            count.delivered += u64::from(c);
            if c == 0 {
                count.lost += 1;
            } else {
                count.duplicated += u64::from(c - 1);
            }
        }
        count
    }
}

/// Counts every [`Tick`] it receives on a shared [`TallyBoard`].
#[derive(Debug)]
pub struct Tally {
    board: Arc<TallyBoard>,
}

impl Handler<Tick> for Tally {
    type Response = ();

    async fn handle(&mut self, tick: Tick, _ctx: &MessageContext) -> Result<(), HandlerError> {
        self.board.record(tick.burst, tick.seq);
        Ok(())
    }
}

/// A [`Tally`] agent counting on `board`.
#[must_use]
pub fn tally_agent(board: &Arc<TallyBoard>) -> RoutedAgent<Tally> {
    RoutedAgent::new(Tally {
        board: Arc::clone(board),
    })
    .with_handler::<Tick>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_losses_duplicates_and_strays() {
        let board = TallyBoard::default();
        board.reset(7, 4);
        for seq in [0, 1, 1, 3, 9] {
            board.record(7, seq);
        }
        board.record(6, 0);
        let count = board.count(4);
        assert_eq!(count.delivered, 4);
        assert_eq!(count.lost, 1);
        assert_eq!(count.duplicated, 1);
        assert_eq!(count.strays, 2);
        assert_eq!(board.count(1).lost, 0);
        board.reset(8, 2);
        assert_eq!(board.delivered(), 0);
    }
}

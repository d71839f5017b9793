//! A publish burst: publish `size` messages as fast as acknowledgements allow, then wait until every
//! subscriber saw every one, and count what was lost or duplicated.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde::Serialize;

use crate::agents::TallyBoard;
use crate::load::duration_ms;
use crate::stats::round3;

/// How one burst runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BurstPlan {
    /// The burst's id (deliveries of other bursts are strays).
    pub burst: u32,
    /// Publications in the burst.
    pub size: u32,
    /// Publications waiting for their acknowledgement at once.
    pub in_flight: usize,
    /// No publication is started after this much time (the burst is then *truncated*).
    #[serde(with = "duration_ms")]
    pub max_publish_time: Duration,
    /// How long after the last acknowledgement deliveries may still arrive.
    #[serde(with = "duration_ms")]
    pub delivery_timeout: Duration,
    /// How long to keep counting after the last expected delivery, to catch duplicates.
    #[serde(with = "duration_ms")]
    pub settle: Duration,
}

/// What one burst measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurstOutcome {
    /// Publications asked for.
    pub size: u32,
    /// Publications started.
    pub issued: u64,
    /// Publications that failed (not acknowledged).
    pub failed: u64,
    /// The first failure's text.
    pub first_error: Option<String>,
    /// Whether the time bound stopped the burst before `size` publications.
    pub truncated: bool,
    /// From the first publication to the last acknowledgement.
    pub publish_seconds: f64,
    /// From the first publication to the last delivery (or to the delivery timeout).
    pub delivery_seconds: f64,
    /// Whether every subscriber saw every issued publication before the timeout.
    pub complete: bool,
    /// Acknowledged publications per second.
    pub publications_per_second: f64,
    /// Deliveries (all subscribers) per second, over `delivery_seconds`.
    pub deliveries_per_second: f64,
    /// Deliveries counted, all subscribers.
    pub delivered: u64,
    /// Issued publications some subscriber never saw, summed over subscribers.
    pub lost: u64,
    /// Deliveries beyond the first, summed over subscribers.
    pub duplicated: u64,
    /// Deliveries of other bursts.
    pub strays: u64,
}

/// Runs one burst: `publish(seq)` for `seq in 0..size` with `in_flight` at once, counting on `boards`.
pub async fn run_burst<F, Fut, E>(
    plan: BurstPlan,
    boards: &[Arc<TallyBoard>],
    publish: F,
) -> BurstOutcome
where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    for board in boards {
        board.reset(plan.burst, plan.size);
    }
    let started = Instant::now();
    let stop_at = started + plan.max_publish_time;
    let mut issued: u64 = 0;
    let mut failed: u64 = 0;
    let mut first_error = None;
    {
        let issued = &mut issued;
        let mut results = futures::stream::iter(0..plan.size)
            .take_while(|_| std::future::ready(Instant::now() < stop_at))
            .map(|seq| {
                *issued += 1;
                publish(seq)
            })
            .buffer_unordered(plan.in_flight.max(1));
        while let Some(result) = results.next().await {
            if let Err(error) = result {
                failed += 1;
                first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
    let publish_seconds = started.elapsed().as_secs_f64();
    let issued_count = usize::try_from(issued).unwrap_or(usize::MAX);
    let wait_until = Instant::now() + plan.delivery_timeout;
    let complete = loop {
        if boards.iter().all(|b| b.count(issued_count).lost == 0) {
            break true;
        }
        if Instant::now() >= wait_until {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let delivery_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(plan.settle).await;
    let mut outcome = BurstOutcome {
        size: plan.size,
        issued,
        failed,
        first_error,
        truncated: issued < u64::from(plan.size),
        publish_seconds: round3(publish_seconds),
        delivery_seconds: round3(delivery_seconds),
        complete,
        publications_per_second: 0.0,
        deliveries_per_second: 0.0,
        delivered: 0,
        lost: 0,
        duplicated: 0,
        strays: 0,
    };
    for board in boards {
        let count = board.count(issued_count);
        outcome.delivered += count.delivered;
        outcome.lost += count.lost;
        outcome.duplicated += count.duplicated;
        outcome.strays += count.strays;
    }
    if publish_seconds > 0.0 {
        outcome.publications_per_second =
            round3(issued.saturating_sub(failed) as f64 / publish_seconds);
    }
    if delivery_seconds > 0.0 {
        outcome.deliveries_per_second = round3(outcome.delivered as f64 / delivery_seconds);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_counts_what_the_subscribers_saw() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let boards = [
                Arc::new(TallyBoard::default()),
                Arc::new(TallyBoard::default()),
            ];
            let plan = BurstPlan {
                burst: 3,
                size: 100,
                in_flight: 8,
                max_publish_time: Duration::from_secs(5),
                delivery_timeout: Duration::from_millis(200),
                settle: Duration::from_millis(10),
            };
            // Subscriber 0 sees everything, subscriber 1 misses seq 7 and sees seq 8 twice.
            let outcome = run_burst(plan, &boards, |seq| {
                let boards = boards.clone();
                async move {
                    boards[0].record(3, seq);
                    if seq != 7 {
                        boards[1].record(3, seq);
                    }
                    if seq == 8 {
                        boards[1].record(3, seq);
                    }
                    Ok::<(), String>(())
                }
            })
            .await;
            assert_eq!(outcome.issued, 100);
            assert!(!outcome.truncated);
            assert!(!outcome.complete);
            assert_eq!(outcome.lost, 1);
            assert_eq!(outcome.duplicated, 1);
            assert_eq!(outcome.delivered, 200);
        })
        .await
        .unwrap();
    }
}

//! A closed-loop load generator: `in_flight` clients, each issuing its next operation when the last one ended.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// How much load to generate and for how long. Both bounds apply: the run ends at `max_ops` operations or
/// after `max_time`, whichever comes first (operations running at the deadline finish, bounded by their own
/// timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LoadPlan {
    /// Operations running at once.
    pub in_flight: usize,
    /// At most this many operations are started.
    pub max_ops: u64,
    /// No operation is started after this much time.
    #[serde(with = "duration_ms")]
    pub max_time: Duration,
    /// Whether every operation's latency is kept.
    pub record_latency: bool,
    /// Before each operation a client pauses a pseudo-random 0..=`think_max_ms` ms (not measured). Against
    /// brokers that answer fetches on a fixed cycle this spreads requests over the cycle, instead of letting a
    /// closed loop lock onto one phase of it.
    pub think_max_ms: u64,
}

/// What a load run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// Operations that succeeded.
    pub completed: u64,
    /// Operations that failed.
    pub errors: u64,
    /// The first failure's text.
    pub first_error: Option<String>,
    /// From the first start to the last end.
    pub elapsed: Duration,
    /// Operations that succeeded before the time bound.
    pub completed_in_window: u64,
    /// The measurement window: the time bound, or the whole run when it ended sooner.
    pub window: Duration,
    /// Latencies of the successful operations (when the plan records them).
    pub latencies: Vec<Duration>,
}

impl LoadOutcome {
    /// Successful operations per second within the measurement window (operations still running at the time
    /// bound, for example waiting for their timeout, do not stretch it).
    #[must_use]
    pub fn ops_per_second(&self) -> f64 {
        let seconds = self.window.as_secs_f64();
        if seconds > 0.0 {
            self.completed_in_window as f64 / seconds
        } else {
            0.0
        }
    }

    /// Adds another run's results (latencies appended, counts and time summed).
    pub fn absorb(&mut self, other: Self) {
        self.completed += other.completed;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.elapsed += other.elapsed;
        self.completed_in_window += other.completed_in_window;
        self.window += other.window;
        self.latencies.extend(other.latencies);
    }
}

/// Runs `op(n)` for `n = 0, 1, 2, ...` with `plan.in_flight` operations at once, each client on its own task.
pub async fn run_load<F, Fut, E>(plan: LoadPlan, op: F) -> LoadOutcome
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let op = Arc::new(op);
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + plan.max_time;
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..plan.in_flight.max(1) {
        let op = Arc::clone(&op);
        let issued = Arc::clone(&issued);
        clients.spawn(async move {
            let mut outcome = LoadOutcome::default();
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= plan.max_ops || Instant::now() >= deadline {
                    break;
                }
                if plan.think_max_ms > 0 {
                    let pause = mix(n) % (plan.think_max_ms + 1);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                let begun = Instant::now();
                match op(n).await {
                    Ok(()) => {
                        outcome.completed += 1;
                        if Instant::now() <= deadline {
                            outcome.completed_in_window += 1;
                        }
                        if plan.record_latency {
                            outcome.latencies.push(begun.elapsed());
                        }
                    }
                    Err(error) => {
                        outcome.errors += 1;
                        if outcome.first_error.is_none() {
                            outcome.first_error = Some(error.to_string());
                        }
                    }
                }
            }
            outcome
        });
    }
    let mut total = LoadOutcome::default();
    while let Some(joined) = clients.join_next().await {
        match joined {
            Ok(outcome) => total.absorb(outcome),
            Err(error) => {
                total.errors += 1;
                total.first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
    total.elapsed = started.elapsed();
    total.window = total.elapsed.min(plan.max_time);
    total
}

/// Which agent key, out of `0..keys`, operation `n` of a load run addresses.
///
/// # Examples
///
/// ```
/// use autogen_kafka_bench::KeyChoice;
///
/// assert_eq!(KeyChoice::Uniform { keys: 1024 }.key(1030), 6);
/// let skewed = KeyChoice::Skewed { keys: 1024, hot: 10, hot_percent: 80 };
/// let hot = (0..10_000).filter(|&n| skewed.key(n) < 10).count();
/// assert!((7_700..=8_300).contains(&hot), "{hot} of 10000 calls went to the hot keys");
/// assert_eq!(skewed.key(42), skewed.key(42), "the choice is deterministic");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyChoice {
    /// Key `n mod keys`: every key in turn, equally often.
    Uniform {
        /// Distinct keys.
        keys: u64,
    },
    /// `hot_percent` % of the operations address one of the `hot` first keys, the others one of the remaining
    /// keys, each uniformly; the choice is pseudo-random but deterministic in `n` (splitmix64 of `n`).
    Skewed {
        /// Distinct keys.
        keys: u64,
        /// The hot keys, `0..hot`.
        hot: u64,
        /// Share of the operations that address a hot key, in %.
        hot_percent: u64,
    },
}

impl KeyChoice {
    /// The key of operation `n`.
    #[must_use]
    pub const fn key(self, n: u64) -> u64 {
        match self {
            Self::Uniform { keys } => n % if keys == 0 { 1 } else { keys },
            Self::Skewed {
                keys,
                hot,
                hot_percent,
            } => {
                // A stream of its own, apart from the think pauses' `mix(n)`.
                let r = mix(n ^ 0xA5A5_5A5A_C3C3_3C3C);
                let hot = if hot < keys { hot } else { keys };
                let cold = keys - hot;
                let pick = r >> 32;
                if hot > 0 && (r % 100 < hot_percent || cold == 0) {
                    pick % hot
                } else if cold > 0 {
                    hot + pick % cold
                } else {
                    0
                }
            }
        }
    }
}

/// A well-mixed 64-bit value from `n` (splitmix64), for pseudo-random pauses without a random source.
const fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Serialises a `Duration` as whole milliseconds.
pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u128(duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_stops_at_its_operation_count_and_counts_failures() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let plan = LoadPlan {
                in_flight: 4,
                max_ops: 100,
                max_time: Duration::from_secs(5),
                record_latency: true,
                think_max_ms: 0,
            };
            let outcome = run_load(plan, |n| async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if n % 10 == 0 {
                    Err("every tenth fails")
                } else {
                    Ok(())
                }
            })
            .await;
            assert_eq!(outcome.completed, 90);
            assert_eq!(outcome.errors, 10);
            assert_eq!(outcome.latencies.len(), 90);
            assert_eq!(outcome.first_error.as_deref(), Some("every tenth fails"));
            assert!(outcome.ops_per_second() > 0.0);
        })
        .await
        .unwrap();
    }

    #[test]
    fn skewed_keys_put_most_calls_on_the_hot_keys_and_reach_every_key() {
        let skewed = KeyChoice::Skewed {
            keys: 1024,
            hot: 10,
            hot_percent: 80,
        };
        let mut counts = vec![0_u32; 1024];
        for n in 0..200_000 {
            counts[usize::try_from(skewed.key(n)).unwrap()] += 1;
        }
        let hot: u32 = counts[..10].iter().sum();
        assert!((158_000..=162_000).contains(&hot), "{hot}");
        assert!(
            counts[..10].iter().all(|&c| (14_000..=18_000).contains(&c)),
            "{counts:?}"
        );
        assert!(counts[10..].iter().all(|&c| c > 10 && c < 80), "{counts:?}");
        let all_hot = KeyChoice::Skewed {
            keys: 4,
            hot: 9,
            hot_percent: 0,
        };
        assert!((0..100).all(|n| all_hot.key(n) < 4));
        let none_hot = KeyChoice::Skewed {
            keys: 4,
            hot: 0,
            hot_percent: 100,
        };
        assert!((0..100).all(|n| none_hot.key(n) < 4));
        assert_eq!(KeyChoice::Uniform { keys: 0 }.key(7), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_stops_at_its_time_bound() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let plan = LoadPlan {
                in_flight: 2,
                max_ops: u64::MAX,
                max_time: Duration::from_millis(200),
                record_latency: false,
                think_max_ms: 2,
            };
            let outcome = run_load(plan, |_| async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok::<(), String>(())
            })
            .await;
            assert!(outcome.elapsed < Duration::from_secs(2));
            assert!(outcome.completed > 0);
            assert!(outcome.completed_in_window <= outcome.completed);
            assert!(outcome.window <= Duration::from_millis(200));
            assert!(outcome.latencies.is_empty());
        })
        .await
        .unwrap();
    }
}

//! Polling instead of sleeping: wait until a condition holds, or fail after a deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep_until, timeout_at};

use crate::error::{Result, TestingError};

/// Evaluates `condition` every `poll_interval` until it returns `true`, for at most `timeout`.
///
/// Use it instead of `sleep` whenever a test waits for something asynchronous (a consumer
/// assignment, a record arriving, a counter reaching a value): it returns as soon as the
/// condition holds and fails with a clear error otherwise. The time budget also bounds a single
/// evaluation: a condition that hangs is abandoned at the deadline. The condition is checked
/// once more right at the deadline, so a slow poll interval never loses the last chance.
///
/// # Errors
///
/// [`TestingError::ConditionTimedOut`] (with the timeout and the number of checks) when the
/// condition has not returned `true` within `timeout`.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// use autogen_kafka_testing::eventually;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> autogen_kafka_testing::Result<()> {
/// let calls = AtomicU32::new(0);
/// eventually(Duration::from_secs(5), Duration::from_millis(10), || async {
///     calls.fetch_add(1, Ordering::SeqCst) >= 3
/// })
/// .await?;
/// assert_eq!(calls.load(Ordering::SeqCst), 4);
/// # Ok(())
/// # }
/// ```
pub async fn eventually<F, Fut>(
    timeout: Duration,
    poll_interval: Duration,
    mut condition: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    let mut attempts: u32 = 0;
    loop {
        attempts = attempts.saturating_add(1);
        // `timeout_at` polls the condition before looking at the clock, so a condition that is
        // immediately ready still counts when evaluated exactly at the deadline.
        match timeout_at(deadline, condition()).await {
            Ok(true) => return Ok(()),
            Ok(false) if Instant::now() < deadline => {
                sleep_until((Instant::now() + poll_interval).min(deadline)).await;
            }
            Ok(false) | Err(_) => break,
        }
    }
    Err(TestingError::ConditionTimedOut { timeout, attempts })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const TEST_TIMEOUT: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn returns_once_the_condition_holds() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let calls = AtomicU32::new(0);
            let started = Instant::now();
            eventually(Duration::from_secs(5), Duration::from_millis(5), || async {
                calls.fetch_add(1, Ordering::SeqCst) + 1 >= 5
            })
            .await
            .expect("condition becomes true on the fifth check");
            assert_eq!(calls.load(Ordering::SeqCst), 5);
            assert!(started.elapsed() < Duration::from_secs(2));
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test]
    async fn succeeds_without_waiting_when_already_true() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let started = Instant::now();
            eventually(Duration::from_secs(5), Duration::from_secs(1), || async {
                true
            })
            .await
            .expect("condition is true at once");
            assert!(started.elapsed() < Duration::from_millis(500));
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test]
    async fn fails_with_a_message_after_the_timeout() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let started = Instant::now();
            let error = eventually(
                Duration::from_millis(200),
                Duration::from_millis(20),
                || async { false },
            )
            .await
            .expect_err("condition never holds");
            let elapsed = started.elapsed();
            assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
            assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
            let TestingError::ConditionTimedOut { timeout, attempts } = &error else {
                panic!("unexpected error {error:?}");
            };
            assert_eq!(*timeout, Duration::from_millis(200));
            assert!(*attempts >= 5, "{attempts}");
            assert!(
                error
                    .to_string()
                    .contains("condition still false after 200ms"),
                "{error}"
            );
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test]
    async fn abandons_a_hanging_condition_at_the_deadline() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let started = Instant::now();
            let result = eventually(
                Duration::from_millis(100),
                Duration::from_millis(10),
                std::future::pending::<bool>,
            )
            .await;
            assert!(matches!(
                result,
                Err(TestingError::ConditionTimedOut { attempts: 1, .. })
            ));
            assert!(started.elapsed() < Duration::from_secs(2));
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test]
    async fn checks_once_more_at_the_deadline() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            // The poll interval is longer than the budget: the second check happens at the
            // deadline, when the condition has become true.
            let started = Instant::now();
            eventually(
                Duration::from_millis(100),
                Duration::from_secs(60),
                || async { started.elapsed() >= Duration::from_millis(100) },
            )
            .await
            .expect("the check at the deadline sees the condition hold");
        })
        .await
        .expect("test timed out");
    }
}

//! Retry policy: exponential backoff with jitter.

use std::time::Duration;

use autogen_kafka_streaming::Backoff;

/// How the client retries a request that failed to connect, or that the registry answered
/// with a server error (5xx) or "too many requests" (429).
///
/// Other failures (4xx answers, timeouts, a connection reset mid-request) are never retried.
/// The delay before attempt `n + 1` is `initial_backoff * 2^(n - 1)`, capped at
/// `max_backoff`, then reduced by a random amount of up to half ("equal jitter") so that
/// workers restarted together do not retry in lockstep.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_admin::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .initial_backoff(Duration::from_millis(50))
///     .max_backoff(Duration::from_secs(2));
/// assert_eq!(policy.attempts(), 5);
/// assert!(RetryPolicy::no_retry().attempts() == 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Four attempts (one request plus three retries, as the Confluent clients do), starting
    /// at 200 ms and capped at 5 s.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// A policy that sends each request once.
    #[must_use]
    pub fn no_retry() -> Self {
        Self::default().max_attempts(1)
    }

    /// Sets the total number of attempts, the first one included (0 is treated as 1).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the delay before the first retry.
    #[must_use]
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// Sets the longest delay between two attempts.
    #[must_use]
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// The total number of attempts.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay to wait after failed attempt number `attempt` (1-based), jitter included: the streaming
    /// layer's [`Backoff`], which every other retry loop of the stack uses too.
    pub(crate) fn delay_after(&self, attempt: u32) -> Duration {
        self.backoff().delay(attempt.saturating_sub(1))
    }

    /// The delay before jitter: `initial * 2^(attempt - 1)`, capped at `max_backoff`.
    #[cfg(test)]
    fn ceiling_after(&self, attempt: u32) -> Duration {
        self.backoff().ceiling(attempt.saturating_sub(1))
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(self.initial_backoff, self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(500));
        assert_eq!(policy.ceiling_after(1), Duration::from_millis(100));
        assert_eq!(policy.ceiling_after(2), Duration::from_millis(200));
        assert_eq!(policy.ceiling_after(3), Duration::from_millis(400));
        assert_eq!(policy.ceiling_after(4), Duration::from_millis(500));
        assert_eq!(policy.ceiling_after(60), Duration::from_millis(500));
    }

    #[test]
    fn jitter_stays_between_half_and_full_delay() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_secs(1));
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..200 {
            let delay = policy.delay_after(2);
            assert!(delay >= Duration::from_millis(100), "{delay:?}");
            assert!(delay <= Duration::from_millis(200), "{delay:?}");
            distinct.insert(delay);
        }
        assert!(distinct.len() > 1, "jitter must vary the delay");
    }

    #[test]
    fn zero_attempts_means_one() {
        assert_eq!(RetryPolicy::default().max_attempts(0).attempts(), 1);
    }
}

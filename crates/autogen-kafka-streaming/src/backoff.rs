//! Exponential backoff with jitter, for reconnects and task restarts.

use std::time::Duration;

/// An exponential backoff policy with full jitter.
///
/// The `n`-th delay (from 0) is a random duration between half and all of `min(initial * factor^n, max)`, so
/// many clients that fail together do not retry together.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_streaming::Backoff;
///
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
/// let first = backoff.delay(0);
/// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
/// assert!(backoff.delay(30) <= Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
}

impl Default for Backoff {
    /// 100 ms doubling up to 10 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(10))
    }
}

impl Backoff {
    /// A policy that starts at `initial`, doubles and never exceeds `max`.
    #[must_use]
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            factor: 2.0,
        }
    }

    /// Uses another growth factor (at least 1).
    #[must_use]
    pub fn with_factor(mut self, factor: f64) -> Self {
        self.factor = factor.max(1.0);
        self
    }

    /// The delay before retry number `attempt` (0 = the first retry): a random duration between half and all of
    /// [`ceiling`](Self::ceiling).
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        self.ceiling(attempt).mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    /// The longest delay before retry number `attempt`, before jitter: `min(initial * factor^attempt, max)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use autogen_kafka_streaming::Backoff;
    ///
    /// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
    /// assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
    /// assert_eq!(backoff.ceiling(2), Duration::from_millis(400));
    /// assert_eq!(backoff.ceiling(60), Duration::from_millis(500));
    /// ```
    #[must_use]
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.min(64)).unwrap_or(64);
        let ceiling = self.initial.as_secs_f64() * self.factor.powi(exponent);
        Duration::from_secs_f64(ceiling.min(self.max.as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(1000));
        for attempt in 0..100 {
            let d = b.delay(attempt);
            let ceiling = (10.0 * 2f64.powi(i32::try_from(attempt.min(64)).unwrap())).min(1000.0);
            assert!(
                d.as_secs_f64() * 1000.0 <= ceiling + 1e-6,
                "attempt {attempt}: {d:?}"
            );
            assert!(
                d.as_secs_f64() * 1000.0 >= ceiling / 2.0 - 1e-6,
                "attempt {attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn max_below_initial_is_raised() {
        let b = Backoff::new(Duration::from_millis(500), Duration::from_millis(10));
        assert!(b.delay(3) <= Duration::from_millis(500));
    }
}

//! Latency percentiles and ratios.

use std::time::Duration;

use serde::Serialize;

/// Percentiles of a set of latency samples, in milliseconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use autogen_kafka_bench::LatencySummary;
///
/// let samples: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
/// let summary = LatencySummary::from_samples(samples);
/// assert_eq!(summary.samples, 1000);
/// assert_eq!(summary.p50_ms, 500.0);
/// assert_eq!(summary.p99_ms, 990.0);
/// assert_eq!(summary.p999_ms, 999.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// How many samples.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl LatencySummary {
    /// Summarises `samples` (nearest-rank percentiles). All fields are 0 when there are none.
    #[must_use]
    pub fn from_samples(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        let mean_ms = if samples.is_empty() {
            0.0
        } else {
            millis(total) / samples.len() as f64
        };
        Self {
            samples: samples.len(),
            p50_ms: percentile(&samples, 50.0),
            p90_ms: percentile(&samples, 90.0),
            p99_ms: percentile(&samples, 99.0),
            p999_ms: percentile(&samples, 99.9),
            max_ms: samples.last().copied().map_or(0.0, millis),
            mean_ms,
        }
    }
}

/// Milliseconds as a float.
#[must_use]
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The nearest-rank `pct` percentile of sorted `samples`, in milliseconds (0 when empty).
#[must_use]
pub fn percentile(sorted: &[Duration], pct: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let n = sorted.len() as f64;
    // The small epsilon keeps 99.9 % of 1000 at rank 999 despite floating-point rounding.
    let rank = (pct * n / 100.0 - 1e-9).ceil().max(1.0);
    // `rank` is in 1..=n, so the index fits.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "rank is a small positive whole number"
    )]
    let index = (rank as usize).min(sorted.len()) - 1;
    millis(sorted[index])
}

/// `value / baseline`, or `None` when the baseline is not positive.
#[must_use]
pub fn ratio(value: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0 && value.is_finite()).then(|| value / baseline)
}

/// Rounds to 3 decimals (for readable JSON).
#[must_use]
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = [5, 1, 4, 2, 3].map(Duration::from_millis).to_vec();
        let summary = LatencySummary::from_samples(samples);
        assert_eq!(summary.p50_ms, 3.0);
        assert_eq!(summary.p99_ms, 5.0);
        assert_eq!(summary.max_ms, 5.0);
        assert_eq!(summary.mean_ms, 3.0);
        let empty = LatencySummary::from_samples(Vec::new());
        assert_eq!(empty.samples, 0);
        assert_eq!(empty.p999_ms, 0.0);
    }

    #[test]
    fn a_ratio_needs_a_positive_baseline() {
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        assert_eq!(ratio(3.0, 0.0), None);
        assert_eq!(round3(1.234_56), 1.235);
    }
}

//! A bound on records in flight shared by several consumers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many records several [`GroupConsumer`](crate::GroupConsumer)s may have in flight together (read and not
/// done yet: running, queued behind their key, or waiting for an acknowledgement). A runtime gives one budget
/// of `service.max_in_flight` to all its consumers. A consumer that finds the budget spent pauses its partitions
/// and resumes them once a quarter of it is free again; it never blocks its poll thread.
///
/// # Examples
///
/// ```
/// use autogen_kafka_streaming::{ConsumerSpec, InFlightBudget};
///
/// let budget = InFlightBudget::new(1024);
/// let requests = ConsumerSpec::new("requests:a", "fleet.agent.a", vec!["runtime_requests".into()])
///     .budget(budget.clone());
/// assert_eq!(budget.in_flight(), 0);
/// assert_eq!(budget.limit(), 1024);
/// # drop(requests);
/// ```
#[derive(Debug, Clone)]
pub struct InFlightBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limit: usize,
    used: AtomicUsize,
}

impl InFlightBudget {
    /// A budget of `limit` records (at least 1).
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                limit: limit.max(1),
                used: AtomicUsize::new(0),
            }),
        }
    }

    /// The bound.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Records in flight now, across every consumer sharing the budget.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    pub(crate) fn take(&self) {
        self.inner.used.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn give_back(&self) {
        // Never below zero, whatever the order of reports.
        let _ = self
            .inner
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(1))
            });
    }

    /// Spent: consumers pause.
    pub(crate) fn is_spent(&self) -> bool {
        self.in_flight() >= self.inner.limit
    }

    /// Enough room again for paused consumers to resume.
    pub(crate) fn has_room(&self) -> bool {
        self.in_flight() < resume_below(self.inner.limit)
    }
}

/// Where a bound of `limit` lets paused reading go on: three quarters of it (at least 1), so a partition is not
/// paused and resumed for every record.
pub(crate) const fn resume_below(limit: usize) -> usize {
    let below = limit - limit / 4;
    if below == 0 { 1 } else { below }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spent_at_the_limit_and_room_again_below_three_quarters() {
        let budget = InFlightBudget::new(8);
        for _ in 0..8 {
            assert!(!budget.is_spent());
            budget.take();
        }
        assert!(budget.is_spent());
        budget.give_back();
        budget.give_back();
        assert!(!budget.is_spent());
        assert!(!budget.has_room(), "6 of 8 is not below 6");
        budget.give_back();
        assert!(budget.has_room());
        for _ in 0..10 {
            budget.give_back();
        }
        assert_eq!(budget.in_flight(), 0);
    }

    #[test]
    fn a_bound_of_one_resumes_when_nothing_runs() {
        assert_eq!(resume_below(1), 1);
        assert_eq!(resume_below(2), 2);
        assert_eq!(resume_below(128), 96);
    }
}

//! Offset tracking that commits only contiguous handled offsets.
//!
//! Records of one partition are handed out in offset order but may finish out of order (different keys run
//! concurrently). Committing the highest finished offset would skip records still in flight, and a crash would
//! lose them. [`PartitionOffsets`] remembers every offset handed out and reports as committable only the offset
//! below which *every* record has finished: the at-least-once rule.

use std::collections::BTreeSet;

/// The in-flight and finished offsets of one partition.
///
/// # Examples
///
/// ```
/// use autogen_kafka_streaming::PartitionOffsets;
///
/// let mut offsets = PartitionOffsets::default();
/// offsets.started(10);
/// offsets.started(11);
/// offsets.finished(11);
/// // 10 is still in flight: the commit may not pass it (a restart re-reads 10 and 11).
/// assert_eq!(offsets.take_committable(), Some(10));
/// offsets.finished(10);
/// // Kafka commits the offset of the *next* record to read.
/// assert_eq!(offsets.take_committable(), Some(12));
/// ```
#[derive(Debug, Default, Clone)]
pub struct PartitionOffsets {
    /// Offsets handed out and not finished yet.
    in_flight: BTreeSet<i64>,
    /// Offsets given up on (never handled, e.g. cut short by a shutdown): they hold the commit back for good.
    abandoned: BTreeSet<i64>,
    /// One past the highest offset handed out so far.
    next_expected: Option<i64>,
    /// The offset last reported by [`Self::take_committable`].
    committed: Option<i64>,
}

impl PartitionOffsets {
    /// Records that the record at `offset` was handed to a handler.
    pub fn started(&mut self, offset: i64) {
        self.in_flight.insert(offset);
        let next = offset.saturating_add(1);
        if self.next_expected.is_none_or(|n| next > n) {
            self.next_expected = Some(next);
        }
    }

    /// Records that the record at `offset` is done (handled, or dead-lettered).
    ///
    /// Unknown offsets are ignored, so a late report after a rebalance is harmless.
    pub fn finished(&mut self, offset: i64) {
        self.in_flight.remove(&offset);
    }

    /// Records that the record at `offset` will not be handled by this worker (it was cut short). The commit
    /// never moves past it, so the next owner of the partition reads it again.
    pub fn abandoned(&mut self, offset: i64) {
        if self.in_flight.remove(&offset) {
            self.abandoned.insert(offset);
        }
    }

    /// One past the highest offset handed out: where reading the partition goes on.
    #[must_use]
    pub fn next_offset(&self) -> Option<i64> {
        self.next_expected
    }

    /// Number of records handed out that are still running (abandoned ones are not counted).
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn lowest_open(&self) -> Option<i64> {
        match (self.in_flight.first(), self.abandoned.first()) {
            (Some(&a), Some(&b)) => Some(a.min(b)),
            (Some(&a), None) | (None, Some(&a)) => Some(a),
            (None, None) => None,
        }
    }

    /// The offset to commit now (the next offset to read), if it moved since the last call.
    ///
    /// It is the lowest in-flight offset when one is in flight, else one past the highest offset handed out.
    pub fn take_committable(&mut self) -> Option<i64> {
        let candidate = match self.lowest_open() {
            Some(lowest) => lowest,
            None => self.next_expected?,
        };
        if self.committed.is_some_and(|c| c >= candidate) {
            return None;
        }
        self.committed = Some(candidate);
        Some(candidate)
    }

    /// Forgets what [`Self::take_committable`] reported last (its commit failed), so the next call reports the
    /// offset again.
    pub fn report_again(&mut self) {
        self.committed = None;
    }

    /// The offset to commit, without marking it as reported.
    #[must_use]
    pub fn committable(&self) -> Option<i64> {
        self.lowest_open().or(self.next_expected)
    }
}

#[cfg(test)]
mod tests {
    use super::PartitionOffsets;
    use proptest::prelude::*;

    #[test]
    fn nothing_started_commits_nothing() {
        let mut o = PartitionOffsets::default();
        assert_eq!(o.take_committable(), None);
    }

    #[test]
    fn in_order_completion_commits_each_step_once() {
        let mut o = PartitionOffsets::default();
        o.started(0);
        o.finished(0);
        assert_eq!(o.take_committable(), Some(1));
        assert_eq!(
            o.take_committable(),
            None,
            "no change, nothing new to commit"
        );
        o.started(1);
        o.started(2);
        o.finished(1);
        assert_eq!(
            o.take_committable(),
            Some(2),
            "2 is in flight: commit up to it"
        );
        o.finished(2);
        assert_eq!(o.take_committable(), Some(3));
    }

    #[test]
    fn a_slow_record_holds_back_the_commit() {
        let mut o = PartitionOffsets::default();
        for off in 100..110 {
            o.started(off);
        }
        for off in 101..110 {
            o.finished(off);
        }
        assert_eq!(o.take_committable(), Some(100));
        assert_eq!(o.in_flight(), 1);
        o.finished(100);
        assert_eq!(o.take_committable(), Some(110));
    }

    #[test]
    fn abandoned_record_blocks_the_commit_for_good() {
        let mut o = PartitionOffsets::default();
        o.started(1);
        o.started(2);
        o.abandoned(1);
        o.finished(2);
        assert_eq!(o.in_flight(), 0, "nothing runs any more");
        assert_eq!(
            o.take_committable(),
            Some(1),
            "the next owner must read offset 1 again"
        );
        o.started(3);
        o.finished(3);
        assert_eq!(o.committable(), Some(1));
    }

    #[test]
    fn unknown_finish_is_ignored() {
        let mut o = PartitionOffsets::default();
        o.started(5);
        o.finished(7);
        assert_eq!(o.committable(), Some(5));
    }

    proptest! {
        /// Whatever the completion order, the committed offset never passes an unfinished record.
        #[test]
        fn never_commits_past_unfinished(order in Just((0i64..40).collect::<Vec<_>>()).prop_shuffle(), cut in 0usize..40) {
            let mut o = PartitionOffsets::default();
            for off in 0..40 { o.started(off); }
            let (done, pending) = order.split_at(cut);
            for &off in done { o.finished(off); }
            let committable = o.committable().unwrap();
            for &off in pending {
                prop_assert!(committable <= off, "committable {committable} passes pending {off}");
            }
            if pending.is_empty() { prop_assert_eq!(committable, 40); }
        }
    }
}

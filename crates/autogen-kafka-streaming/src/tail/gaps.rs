//! Re-reading offsets a broker skipped.
//!
//! On a topic without compaction or transactions, the offsets of one partition are contiguous, and a Kafka broker
//! never serves a record before every record below it is readable (the high watermark). Some Kafka-compatible
//! brokers break that: Tansu 0.6 with memory storage can serve a batch appended by one producer before the batch
//! a concurrent producer appended just below it, so a reader at the lower offset receives the higher batch,
//! moves past it, and never sees the lower one (docs/performance.md, finding 8). For the topics a
//! [`TailSpec`](super::TailSpec) marks with [`check_gaps`](super::TailSpec::check_gaps), the reader notices the
//! jump, seeks back to the first missing offset and delivers what it then finds there, each record once; a gap
//! still missing after a few re-reads is given up with a warning (it may be a transaction marker after all). The
//! group consumer uses the same bookkeeping for its topics ([`ConsumerSpec::check_gaps`](crate::ConsumerSpec)),
//! and commits no offset past a gap that is still being re-read.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::consumer::TopicPartition;

/// How many times one gap is re-read before it is given up.
pub(crate) const MAX_ATTEMPTS: u32 = 5;
/// The pause before re-read number `n` is `n` times this.
const PAUSE: Duration = Duration::from_millis(5);
/// Gaps wider than this are not tracked (a reader moved by a seek or retention, not a broker skipping a batch).
const MAX_GAP: i64 = 10_000;

/// What to do with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Deliver it.
    Deliver,
    /// Already delivered: a re-read passed over it again.
    Skip,
}

#[derive(Debug, Default)]
struct Partition {
    /// One past the highest offset delivered.
    next: i64,
    /// Offsets below `next` that were skipped and not delivered yet.
    missing: BTreeSet<i64>,
    /// Re-reads of the current gaps so far.
    attempts: u32,
    /// When to seek back to the first missing offset.
    seek_at: Option<Instant>,
}

/// The gap bookkeeping of one tail reader.
#[derive(Debug, Default)]
pub(crate) struct Gaps {
    topics: BTreeSet<String>,
    partitions: HashMap<TopicPartition, Partition>,
}

impl Gaps {
    /// Checks the partitions of `topics`; records of other topics are always delivered.
    pub(crate) fn new(topics: BTreeSet<String>) -> Self {
        Self {
            topics,
            partitions: HashMap::new(),
        }
    }

    /// Whether any topic is checked.
    pub(crate) fn is_active(&self) -> bool {
        !self.topics.is_empty()
    }

    /// Judges a record at `offset` of `tp`, read at `now`.
    pub(crate) fn on_record(&mut self, tp: &TopicPartition, offset: i64, now: Instant) -> Verdict {
        if !self.topics.contains(&tp.topic) {
            return Verdict::Deliver;
        }
        let Some(state) = self.partitions.get_mut(tp) else {
            self.partitions.insert(
                tp.clone(),
                Partition {
                    next: offset.saturating_add(1),
                    ..Partition::default()
                },
            );
            return Verdict::Deliver;
        };
        if offset >= state.next {
            let gap = offset - state.next;
            if gap > 0 && gap <= MAX_GAP {
                if state.missing.is_empty() {
                    state.attempts = 0;
                }
                state.missing.extend(state.next..offset);
                state.seek_at.get_or_insert(now + PAUSE);
                tracing::debug!(topic = %tp.topic, partition = tp.partition, from = state.next, to = offset, "offsets skipped by the broker; re-reading them");
            }
            state.next = offset.saturating_add(1);
            return Verdict::Deliver;
        }
        // Below `next`: a re-read. Offsets still missing below this one were passed over again.
        let passed: Vec<i64> = state.missing.range(..offset).copied().collect();
        if !passed.is_empty() && state.seek_at.is_none() {
            if state.attempts < MAX_ATTEMPTS {
                state.seek_at = Some(now + PAUSE * (state.attempts + 1));
            } else {
                tracing::warn!(topic = %tp.topic, partition = tp.partition, offsets = ?passed, attempts = state.attempts, "offsets never became readable; given up");
                for gone in passed {
                    state.missing.remove(&gone);
                }
            }
        }
        if state.missing.remove(&offset) {
            tracing::debug!(topic = %tp.topic, partition = tp.partition, offset, "skipped offset found on re-read");
            Verdict::Deliver
        } else {
            Verdict::Skip
        }
    }

    /// The lowest offset of `tp` skipped and not delivered yet: a group consumer commits no further.
    pub(crate) fn first_missing(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions
            .get(tp)
            .and_then(|state| state.missing.first().copied())
    }

    /// Forgets `tp` (revoked, or assigned anew: its next record starts the count again).
    pub(crate) fn forget(&mut self, tp: &TopicPartition) {
        self.partitions.remove(tp);
    }

    /// The seeks due at `now`: each partition with gaps whose pause is over, to its first missing offset.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(TopicPartition, i64)> {
        let mut seeks = Vec::new();
        for (tp, state) in &mut self.partitions {
            if state.seek_at.is_some_and(|at| at <= now)
                && let Some(first) = state.missing.first()
            {
                seeks.push((tp.clone(), *first));
                state.seek_at = None;
                state.attempts += 1;
            } else if state.missing.is_empty() {
                state.seek_at = None;
            }
        }
        seeks
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Gaps, MAX_ATTEMPTS, Verdict};
    use crate::consumer::TopicPartition;

    fn tp(topic: &str) -> TopicPartition {
        TopicPartition {
            topic: topic.to_owned(),
            partition: 0,
        }
    }

    fn gaps() -> Gaps {
        Gaps::new(["replies".to_owned()].into())
    }

    #[test]
    fn contiguous_offsets_are_delivered_and_nothing_is_re_read() {
        let mut gaps = gaps();
        let now = Instant::now();
        for offset in 10..20 {
            assert_eq!(
                gaps.on_record(&tp("replies"), offset, now),
                Verdict::Deliver
            );
        }
        assert!(gaps.due(now + Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn a_skipped_offset_is_re_read_and_delivered_once() {
        let mut gaps = gaps();
        let now = Instant::now();
        let replies = tp("replies");
        for offset in [0, 1, 2, 4, 5] {
            assert_eq!(gaps.on_record(&replies, offset, now), Verdict::Deliver);
        }
        // Not before the pause.
        assert!(gaps.due(now).is_empty());
        let later = now + Duration::from_millis(50);
        assert_eq!(gaps.due(later), vec![(replies.clone(), 3)]);
        // The re-read: 3 is new, 4 and 5 were delivered already.
        assert_eq!(gaps.on_record(&replies, 3, later), Verdict::Deliver);
        assert_eq!(gaps.on_record(&replies, 4, later), Verdict::Skip);
        assert_eq!(gaps.on_record(&replies, 5, later), Verdict::Skip);
        assert_eq!(gaps.on_record(&replies, 6, later), Verdict::Deliver);
        assert!(gaps.due(later + Duration::from_secs(1)).is_empty());
        // Another re-read of 3 (a duplicate fetch) is not delivered again.
        assert_eq!(gaps.on_record(&replies, 3, later), Verdict::Skip);
    }

    #[test]
    fn a_gap_that_never_fills_is_given_up_after_the_attempts() {
        let mut gaps = gaps();
        let mut now = Instant::now();
        let replies = tp("replies");
        assert_eq!(gaps.on_record(&replies, 0, now), Verdict::Deliver);
        assert_eq!(gaps.on_record(&replies, 2, now), Verdict::Deliver);
        for _ in 0..MAX_ATTEMPTS {
            now += Duration::from_secs(1);
            assert_eq!(gaps.due(now), vec![(replies.clone(), 1)]);
            // The broker serves 2 again: 1 is still missing.
            assert_eq!(gaps.on_record(&replies, 2, now), Verdict::Skip);
        }
        now += Duration::from_secs(1);
        assert!(
            gaps.due(now).is_empty(),
            "given up after {MAX_ATTEMPTS} re-reads"
        );
        // Later records flow as before.
        assert_eq!(gaps.on_record(&replies, 3, now), Verdict::Deliver);
    }

    #[test]
    fn unchecked_topics_and_wide_jumps_are_left_alone() {
        let mut gaps = gaps();
        let now = Instant::now();
        let tables = tp("registry");
        assert_eq!(gaps.on_record(&tables, 0, now), Verdict::Deliver);
        assert_eq!(gaps.on_record(&tables, 7, now), Verdict::Deliver);
        assert_eq!(gaps.on_record(&tables, 3, now), Verdict::Deliver);
        let replies = tp("replies");
        assert_eq!(gaps.on_record(&replies, 0, now), Verdict::Deliver);
        assert_eq!(gaps.on_record(&replies, 1_000_000, now), Verdict::Deliver);
        assert!(gaps.due(now + Duration::from_secs(1)).is_empty());
    }
}

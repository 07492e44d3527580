//! When a Kafka partition's open batch is cut: by record count, bytes, or event-time span, which
//! depend only on the record sequence (a retry from the same offset cuts the same batches), and at
//! the latest after a wall-clock time, so quiet topics still land. Pure: times are passed in.

use std::time::Duration;

/// The limits of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollPolicy {
    /// Cut after this many records.
    pub max_records: u64,
    /// Cut once the batch's payloads reach this many bytes.
    pub max_bytes: u64,
    /// Cut before a record whose event time is this far from the batch's first (either way).
    pub max_event_span_ms: i64,
    /// Cut a batch that has been open this long by the wall clock.
    pub max_open: Duration,
}

impl Default for RollPolicy {
    fn default() -> Self {
        RollPolicy {
            max_records: 500_000,
            max_bytes: 256 * 1024 * 1024,
            max_event_span_ms: 3_600_000,
            max_open: Duration::from_secs(60),
        }
    }
}

/// What is in the open batch, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchStats {
    /// Records in the batch.
    pub records: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Event time of the first record.
    pub first_event_ms: i64,
    /// Wall-clock time the batch opened at, in milliseconds of the caller's clock.
    pub opened_at_ms: u64,
}

impl RollPolicy {
    /// Whether the batch must be cut before adding a record with `event_ms` (its event time
    /// would stretch the batch past the span).
    pub fn cut_before(&self, batch: &BatchStats, event_ms: i64) -> bool {
        batch.records > 0 && event_ms.abs_diff(batch.first_event_ms) > self.max_event_span_ms as u64
    }

    /// Whether the batch is full after its last record.
    pub fn full(&self, batch: &BatchStats) -> bool {
        batch.records >= self.max_records || batch.bytes >= self.max_bytes
    }

    /// Whether the batch has been open too long at wall time `now_ms`.
    pub fn expired(&self, batch: &BatchStats, now_ms: u64) -> bool {
        batch.records > 0
            && now_ms.saturating_sub(batch.opened_at_ms) >= self.max_open.as_millis() as u64
    }
}

impl BatchStats {
    /// The stats after adding a record of `bytes` payload bytes at `event_ms`, opened (if it is
    /// the first) at `now_ms`.
    pub fn add(&mut self, bytes: u64, event_ms: i64, now_ms: u64) {
        if self.records == 0 {
            self.first_event_ms = event_ms;
            self.opened_at_ms = now_ms;
        }
        self.records += 1;
        self.bytes += bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RollPolicy {
        RollPolicy {
            max_records: 3,
            max_bytes: 100,
            max_event_span_ms: 1_000,
            max_open: Duration::from_secs(5),
        }
    }

    /// Batch sizes the policy cuts a sequence of `(bytes, event_ms)` into, ignoring the clock.
    fn cuts(records: &[(u64, i64)]) -> Vec<usize> {
        let p = policy();
        let mut out = Vec::new();
        let mut b = BatchStats::default();
        for &(bytes, t) in records {
            if p.cut_before(&b, t) {
                out.push(b.records as usize);
                b = BatchStats::default();
            }
            b.add(bytes, t, 0);
            if p.full(&b) {
                out.push(b.records as usize);
                b = BatchStats::default();
            }
        }
        if b.records > 0 {
            out.push(b.records as usize);
        }
        out
    }

    #[test]
    fn batches_cut_by_count_bytes_and_event_span() {
        assert_eq!(cuts(&[(1, 0); 7]), [3, 3, 1]);
        assert_eq!(cuts(&[(60, 0), (60, 0), (1, 0)]), [2, 1]);
        assert_eq!(cuts(&[(1, 0), (1, 1_000), (1, 1_001), (1, 5)]), [2, 2]);
        // Out of order in the other direction too.
        assert_eq!(cuts(&[(1, 5_000), (1, 3_999)]), [1, 1]);
    }

    #[test]
    fn a_restart_at_any_cut_cuts_the_rest_the_same_way() {
        let records: Vec<(u64, i64)> = (0..50i64)
            .map(|i| ((i % 7 * 9) as u64, i * 123 % 2_000))
            .collect();
        let all = cuts(&records);
        let mut start = 0;
        for (i, n) in all.iter().enumerate() {
            assert_eq!(
                cuts(&records[start..]),
                all[i..],
                "restart at record {start}"
            );
            start += n;
        }
    }

    #[test]
    fn a_batch_expires_by_the_wall_clock_only_when_it_has_records() {
        let p = policy();
        let mut b = BatchStats::default();
        assert!(!p.expired(&b, 1_000_000));
        b.add(1, 0, 10_000);
        assert!(!p.expired(&b, 14_999));
        assert!(p.expired(&b, 15_000));
    }
}

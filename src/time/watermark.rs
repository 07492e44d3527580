//! Watermarks: how far event time has progressed. Each input partition tracks the highest event time
//! it has seen; a partition quiet for `idle_ms` of wall-clock time stops holding the others back and,
//! when every partition is quiet, event time advances with the wall clock, so a quiet channel's windows
//! still close (a known pain of Kafka Streams and Quix Streams).

/// A partition's watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watermark {
    /// Event time has reached this many epoch milliseconds.
    EventTime(i64),
    /// No record for longer than the idle timeout.
    Idle,
}

#[derive(Debug, Clone, Copy)]
struct PartitionClock {
    max_event_ms: i64,
    last_seen_wall_ms: i64,
}

/// Tracks per-partition event time and derives the task's watermark (the minimum over active partitions).
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    /// A task has one or a few partitions: a list beats a map for the per-record updates.
    partitions: Vec<(i32, PartitionClock)>,
    idle_ms: i64,
    emitted: i64,
}

impl WatermarkTracker {
    /// A tracker that treats a partition as idle after `idle_ms` of wall time without records.
    pub fn new(idle_ms: i64) -> Self {
        WatermarkTracker {
            partitions: Vec::new(),
            idle_ms,
            emitted: i64::MIN,
        }
    }

    /// Starts tracking `partition` (on assignment) as of wall time `now_ms`.
    pub fn assign(&mut self, partition: i32, now_ms: i64) {
        self.clock(partition, now_ms);
    }

    /// The clock of `partition`, a new one (seen at `now_ms`, no event yet) if it is not tracked.
    fn clock(&mut self, partition: i32, now_ms: i64) -> &mut PartitionClock {
        let at = match self.partitions.iter().position(|(p, _)| *p == partition) {
            Some(at) => at,
            None => {
                self.partitions.push((
                    partition,
                    PartitionClock {
                        max_event_ms: i64::MIN,
                        last_seen_wall_ms: now_ms,
                    },
                ));
                self.partitions.len() - 1
            }
        };
        &mut self.partitions[at].1
    }

    /// Stops tracking `partition` (on revocation).
    pub fn revoke(&mut self, partition: i32) {
        self.partitions.retain(|(p, _)| *p != partition);
    }

    /// Records an event of `partition` at event time `event_ms`, seen at wall time `now_ms`.
    pub fn observe(&mut self, partition: i32, event_ms: i64, now_ms: i64) {
        let p = self.clock(partition, now_ms);
        p.max_event_ms = p.max_event_ms.max(event_ms);
        p.last_seen_wall_ms = now_ms;
    }

    /// Records of `partition` are waiting to be read at wall time `now_ms` (the consumer lags): the
    /// partition is not quiet, however long ago its last record came, so it stays active and its
    /// event time does not advance with the wall clock. A restarted task sees its first record only
    /// after the restore and the first fetch, and a busy consumer may serve other partitions first.
    pub fn hold(&mut self, partition: i32, now_ms: i64) {
        self.clock(partition, now_ms).last_seen_wall_ms = now_ms;
    }

    /// The watermark of one partition at wall time `now_ms`.
    pub fn partition(&self, partition: i32, now_ms: i64) -> Option<Watermark> {
        self.partitions
            .iter()
            .find(|(p, _)| *p == partition)
            .map(|(_, p)| {
                if now_ms - p.last_seen_wall_ms >= self.idle_ms {
                    Watermark::Idle
                } else {
                    Watermark::EventTime(p.max_event_ms)
                }
            })
    }

    /// The task's watermark at wall time `now_ms`: the minimum over active partitions; when all are
    /// idle, the highest event time seen plus the wall time elapsed since it was seen, minus the idle
    /// timeout. Never moves backwards.
    pub fn current(&mut self, now_ms: i64) -> i64 {
        let mut active_min: Option<i64> = None;
        let mut idle_max: Option<i64> = None;
        for (_, p) in &self.partitions {
            if now_ms - p.last_seen_wall_ms >= self.idle_ms {
                if p.max_event_ms != i64::MIN {
                    let advanced = p
                        .max_event_ms
                        .saturating_add(now_ms - p.last_seen_wall_ms - self.idle_ms);
                    idle_max = Some(idle_max.map_or(advanced, |m: i64| m.max(advanced)));
                }
            } else {
                active_min =
                    Some(active_min.map_or(p.max_event_ms, |m: i64| m.min(p.max_event_ms)));
            }
        }
        let candidate = match (active_min, idle_max) {
            (Some(active), _) => active,
            (None, Some(idle)) => idle,
            (None, None) => i64::MIN,
        };
        self.emitted = self.emitted.max(candidate);
        self.emitted
    }

    /// Moves every partition to event time `i64::MAX` semantics: used at end of input (offline runs)
    /// to close every window.
    pub fn finish(&mut self) -> i64 {
        self.emitted = i64::MAX;
        self.emitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_over_active_partitions() {
        let mut w = WatermarkTracker::new(10_000);
        w.assign(0, 0);
        w.assign(1, 0);
        w.observe(0, 5_000, 0);
        w.observe(1, 3_000, 0);
        assert_eq!(w.current(0), 3_000);
        w.observe(1, 9_000, 1);
        assert_eq!(w.current(1), 5_000);
    }

    #[test]
    fn idle_partition_stops_holding_back_and_all_idle_advances_with_wall_clock() {
        let mut w = WatermarkTracker::new(1_000);
        w.assign(0, 0);
        w.assign(1, 0);
        w.observe(0, 5_000, 0);
        w.observe(1, 8_000, 500);
        // Partition 0 idle at wall 1_200; partition 1 still active.
        assert_eq!(w.partition(0, 1_200), Some(Watermark::Idle));
        assert_eq!(w.current(1_200), 8_000);
        // Both idle: event time advances with the wall clock past the idle timeout.
        assert_eq!(w.current(4_500), 8_000 + (4_500 - 500 - 1_000));
        // Never backwards, even when a late partition reports an old time.
        w.observe(0, 6_000, 4_600);
        assert_eq!(w.current(4_600), 11_000);
    }

    #[test]
    fn a_partition_with_records_waiting_is_not_idle() {
        let mut w = WatermarkTracker::new(1_000);
        w.assign(0, 0);
        w.observe(0, 5_000, 0);
        // Quiet for 3 s of wall time, but the consumer says records wait: event time holds.
        w.hold(0, 3_000);
        assert_eq!(w.partition(0, 3_000), Some(Watermark::EventTime(5_000)));
        assert_eq!(w.current(3_000), 5_000);
        // Idle again only a whole idle timeout after the last hold, and advancing from there.
        assert_eq!(w.current(3_900), 5_000);
        assert_eq!(w.current(4_500), 5_000 + 500);
    }
}

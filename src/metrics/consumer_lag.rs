//! Consumer lag from librdkafka's statistics (emitted every `statistics.interval.ms`): per assigned
//! partition, the high watermark minus the position the application has reached.

use rdkafka::statistics::{Partition, Statistics};

use super::Metrics;

/// The lag of one partition: high watermark minus the application's position (the last record
/// handed to it, plus one), else minus the committed offset; `None` when neither is known yet.
pub fn partition_lag(p: &Partition) -> Option<i64> {
    if p.hi_offset < 0 {
        return None;
    }
    let position = if p.app_offset >= 0 {
        p.app_offset
    } else if p.committed_offset >= 0 {
        p.committed_offset
    } else {
        return None;
    };
    Some((p.hi_offset - position).max(0))
}

/// Whether records of a partition are waiting to be read: fetched but not yet handed to the
/// application, or not fetched yet (the high watermark, or the last stable offset when lower, is
/// past the next offset to fetch); `None` until the consumer knows its position and the high
/// watermark. The fetch position skips transaction markers, so a caught-up reader of transactional
/// input reads as not waiting.
pub fn records_waiting(p: &Partition) -> Option<bool> {
    if p.hi_offset < 0 || p.next_offset < 0 {
        return None;
    }
    let end = if p.ls_offset >= 0 {
        p.hi_offset.min(p.ls_offset)
    } else {
        p.hi_offset
    };
    Some(p.fetchq_cnt > 0 || end > p.next_offset)
}

/// Sets `chatpulse_consumer_lag_records` for every partition of `topic` this consumer is assigned.
pub fn record(metrics: &Metrics, stats: &Statistics, topic: &str) {
    let Some(t) = stats.topics.get(topic) else {
        return;
    };
    for (id, p) in &t.partitions {
        // librdkafka lists the internal partition -1 (unassigned messages) too.
        if *id < 0 || !p.desired {
            continue;
        }
        if let Some(lag) = partition_lag(p) {
            metrics
                .consumer_lag
                .with_label_values(&[topic, &id.to_string()])
                .set(lag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_high_watermark_minus_position() {
        let p = Partition {
            hi_offset: 100,
            app_offset: 60,
            committed_offset: 50,
            ..Partition::default()
        };
        assert_eq!(partition_lag(&p), Some(40));
        let p = Partition {
            hi_offset: 100,
            app_offset: -1001,
            committed_offset: 50,
            ..Partition::default()
        };
        assert_eq!(partition_lag(&p), Some(50));
        let p = Partition {
            hi_offset: -1,
            ..Partition::default()
        };
        assert_eq!(partition_lag(&p), None);
    }

    #[test]
    fn records_wait_while_fetched_or_not_yet_fetched() {
        let p = |hi_offset, ls_offset, next_offset, fetchq_cnt| Partition {
            hi_offset,
            ls_offset,
            next_offset,
            fetchq_cnt,
            ..Partition::default()
        };
        assert_eq!(records_waiting(&p(100, 100, 100, 0)), Some(false));
        assert_eq!(records_waiting(&p(100, 100, 100, 3)), Some(true));
        assert_eq!(records_waiting(&p(100, 100, 60, 0)), Some(true));
        assert_eq!(records_waiting(&p(100, -1, 60, 0)), Some(true));
        // An open transaction past the last stable offset cannot be read yet.
        assert_eq!(records_waiting(&p(100, 60, 60, 0)), Some(false));
        // Before the first fetch (a restarted consumer): not known.
        assert_eq!(records_waiting(&p(100, 100, -1001, 0)), None);
        assert_eq!(records_waiting(&p(-1, -1, 0, 0)), None);
    }
}

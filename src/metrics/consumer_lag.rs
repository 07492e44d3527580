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
}

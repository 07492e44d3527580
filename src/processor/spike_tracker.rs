//! Spike detection inside a task: chat events go into 5-second buckets per channel (event-time
//! tumbling windows with grace); each closed bucket feeds that channel's [`SpikeDetector`]. Used by
//! the `spikes`, `sub_trend` and `ad_slots` processors, which all need to know when chat explodes.

use std::collections::BTreeSet;

use super::state::{KeyedTable, StateTables, Table, TableName, WindowTable};
use crate::analysis::Contribution;
use crate::detect::spike::{
    Bucket, BucketAggregate, BucketStats, SpikeConfig, SpikeDetector, SpikeEvent,
};
use crate::window::tumbling::TumblingWindows;
use crate::window::{Admission, WindowOperator, WindowResult};

/// Buckets and detectors of every channel of one task.
pub struct SpikeTracker {
    config: SpikeConfig,
    grace_ms: i64,
    buckets: WindowTable<BucketAggregate, TumblingWindows<BucketAggregate>>,
    detectors: KeyedTable<String, SpikeDetector>,
    /// Channels whose detector is in a spike: the only ones that need empty buckets when quiet.
    /// `None` until the first advance, which reads it from the (fresh or restored) detectors.
    spiking: Option<BTreeSet<String>>,
    closed: Vec<WindowResult<BucketStats>>,
    watermark_ms: i64,
    /// The last bucket start up to which every spiking channel has been given its empty buckets:
    /// until the watermark passes the next bucket, or a bucket closes, an advance has nothing to do.
    quiet_through_ms: i64,
}

impl SpikeTracker {
    /// A tracker with `config`, accepting records up to `grace_ms` after their bucket ended; its
    /// spikes name their top terms and cause.
    pub fn new(config: SpikeConfig, grace_ms: i64) -> Self {
        Self::with_aggregate(config, grace_ms, BucketAggregate::default())
    }

    /// A tracker for users that read only when spikes start and end: the same onsets and ends as
    /// [`SpikeTracker::new`] at a fraction of the cost, since its buckets count no terms (so its
    /// spikes have no top terms and no hype-emote cause).
    pub fn timing_only(config: SpikeConfig, grace_ms: i64) -> Self {
        let aggregate = BucketAggregate {
            terms: false,
            ..BucketAggregate::default()
        };
        Self::with_aggregate(config, grace_ms, aggregate)
    }

    fn with_aggregate(config: SpikeConfig, grace_ms: i64, aggregate: BucketAggregate) -> Self {
        SpikeTracker {
            buckets: WindowTable::new(
                TableName::SPIKE_BUCKETS,
                Box::new(TumblingWindows::new(aggregate, config.bucket_ms, grace_ms)),
            ),
            config,
            grace_ms,
            detectors: KeyedTable::new(TableName::SPIKE_DETECTORS),
            spiking: None,
            closed: Vec::new(),
            watermark_ms: i64::MIN,
            quiet_through_ms: i64::MIN,
        }
    }

    /// How long after a bucket's end its records are still accepted.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// Adds what one event contributes to `channel`'s bucket at `ts_ms`.
    pub fn add(&mut self, channel: &str, ts_ms: i64, input: &Contribution) -> Admission {
        self.buckets.add(channel, ts_ms, input)
    }

    /// Moves event time to `watermark_ms`: closed buckets go to their detectors, in time order per
    /// channel. A channel in a spike that went quiet gets empty buckets, so its spike can end. At the
    /// end of input (`i64::MAX`) every spike in progress ends.
    pub fn advance(&mut self, watermark_ms: i64) -> Vec<SpikeEvent> {
        let mut events = Vec::new();
        if watermark_ms <= self.watermark_ms {
            return events;
        }
        self.watermark_ms = watermark_ms;
        let detectors = &mut self.detectors;
        let mut spiking = self.spiking.take().unwrap_or_else(|| {
            detectors
                .iter()
                .filter(|(_, d)| d.in_spike())
                .map(|(channel, _)| channel.clone())
                .collect()
        });
        self.buckets.advance(watermark_ms, &mut self.closed);
        let bucket = self.config.bucket_ms;
        // The last bucket that has certainly closed: start + size + grace <= watermark.
        let start = watermark_ms
            .saturating_sub(self.grace_ms)
            .saturating_sub(bucket)
            .div_euclid(bucket)
            * bucket;
        // Most advances move the watermark inside one bucket: no bucket closed, and the spiking
        // channels already have their empty buckets through `start` (callgrind: 45 % of
        // analytics.toml's instructions were these advances, in four trackers).
        if self.closed.is_empty() && start == self.quiet_through_ms && watermark_ms != i64::MAX {
            self.spiking = Some(spiking);
            return events;
        }
        for r in self.closed.drain(..) {
            let config = &self.config;
            let detector =
                detectors.get_or_insert_with(&r.key, || SpikeDetector::new(&r.key, config.clone()));
            events.extend(detector.on_bucket(&Bucket {
                start_ms: r.window.start_ms,
                stats: r.value,
            }));
            if detector.in_spike() {
                spiking.insert(r.key);
            }
        }
        let mut still_spiking = BTreeSet::new();
        for channel in spiking {
            if !detectors.get(&channel).is_some_and(SpikeDetector::in_spike) {
                continue;
            }
            let detector = detectors
                .get_mut(&channel)
                .expect("a spiking channel has a detector");
            if watermark_ms == i64::MAX {
                events.extend(detector.finish());
            } else if start > detector.last_bucket_ms().unwrap_or(i64::MIN) {
                events.extend(detector.on_bucket(&Bucket {
                    start_ms: start,
                    stats: BucketStats::default(),
                }));
            }
            if detector.in_spike() {
                still_spiking.insert(channel);
            }
        }
        self.spiking = Some(still_spiking);
        self.quiet_through_ms = start;
        events
    }

    /// The watermark the tracker has reached.
    pub fn watermark_ms(&self) -> i64 {
        self.watermark_ms
    }

    /// True while `channel` is in a spike.
    pub fn in_spike(&self, channel: &str) -> bool {
        self.detectors.get(channel).is_some_and(|d| d.in_spike())
    }

    /// The baseline chat rate of `channel`, messages per minute.
    pub fn baseline_rate_per_min(&self, channel: &str) -> Option<f64> {
        self.detectors
            .get(channel)
            .map(|d| d.baseline_rate_per_min())
    }

    /// The spike state of `channel` for interactive queries: whether a spike is under way, the
    /// baseline rate and the last bucket seen.
    pub fn query(&self, channel: &str) -> Option<serde_json::Value> {
        let d = self.detectors.get(channel)?;
        Some(serde_json::json!({
            "channel": channel,
            "in_spike": d.in_spike(),
            "baseline_rate_per_min": (d.baseline_rate_per_min() * 100.0).round() / 100.0,
            "last_bucket": d.last_bucket_ms(),
        }))
    }

    /// Open buckets held in memory.
    pub fn open_entries(&self) -> usize {
        self.buckets.open_windows() + self.detectors.len()
    }

    /// Restores the watermark without emitting.
    pub fn set_watermark(&mut self, watermark_ms: i64) {
        self.watermark_ms = watermark_ms;
        self.buckets.set_watermark(watermark_ms);
    }
}

impl StateTables for SpikeTracker {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        visit(&mut self.buckets);
        visit(&mut self.detectors);
    }
}

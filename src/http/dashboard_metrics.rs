//! The dashboard's Prometheus metrics: result records shown and not shown per feed, the pages
//! open on the event stream and the pushes sent. [`DashboardMetrics::register`] puts them in the
//! registry that `/metrics` serves.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::dashboard::Feed;

/// The dashboard's metrics; clones share the same values.
#[derive(Debug, Clone)]
pub struct DashboardMetrics {
    records: IntCounterVec,
    unshown: IntCounterVec,
    clients: IntGauge,
    pushes: IntCounter,
}

impl DashboardMetrics {
    /// New metrics registered in `registry`.
    pub fn register(registry: &Registry) -> Result<DashboardMetrics, prometheus::Error> {
        let by_feed = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["feed"]).expect("valid metric")
        };
        let m = DashboardMetrics {
            records: by_feed(
                "chatpulse_dashboard_records_total",
                "Result records applied to the dashboard's board.",
            ),
            unshown: by_feed(
                "chatpulse_dashboard_unshown_total",
                "Result records the dashboard could not show (undecodable, or lacking a field; the first 20 of a run are logged).",
            ),
            clients: IntGauge::new(
                "chatpulse_dashboard_clients",
                "Pages open on the dashboard's event stream (/events).",
            )?,
            pushes: IntCounter::new(
                "chatpulse_dashboard_pushes_total",
                "Updates pushed to pages over the event stream.",
            )?,
        };
        let all: [Box<dyn Collector>; 4] = [
            Box::new(m.records.clone()),
            Box::new(m.unshown.clone()),
            Box::new(m.clients.clone()),
            Box::new(m.pushes.clone()),
        ];
        for c in all {
            registry.register(c)?;
        }
        Ok(m)
    }

    /// `n` records of `feed` applied.
    pub fn applied(&self, feed: Feed, n: u64) {
        self.records.with_label_values(&[feed.name()]).inc_by(n);
    }

    /// One record of `feed` not shown.
    pub fn unshown(&self, feed: Feed) {
        self.unshown.with_label_values(&[feed.name()]).inc();
    }

    /// A page opened (`+1`) or closed (`-1`) its event stream.
    pub fn client(&self, delta: i64) {
        self.clients.add(delta);
    }

    /// One push sent.
    pub fn pushed(&self) {
        self.pushes.inc();
    }
}

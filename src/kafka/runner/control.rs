//! Control of a running topology: [`RunControl`] (stop, live counters, readiness, interactive
//! queries of the tasks' state) for the signal handler, the HTTP server and tests, and the store gauges.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::Engine;
use crate::metrics::Metrics;
use crate::topology::query::{key_partition, QueryAnswer};

/// Shared between a run and its observers (signal handler, HTTP server, tests): a stop flag, live
/// counters, readiness, the process's [`Metrics`] and read-only queries of the tasks' state.
#[derive(Debug, Default)]
pub struct RunControl {
    stop: AtomicBool,
    /// Partitions currently assigned and restored.
    pub assigned: AtomicI64,
    /// Input records processed.
    pub processed: AtomicU64,
    /// Changelog records read while restoring.
    pub restored_records: AtomicU64,
    /// Commits completed.
    pub commits: AtomicU64,
    /// Partitions being restored from their changelogs now.
    pub restoring: AtomicI64,
    pub(super) owned: Mutex<BTreeSet<i32>>,
    /// Per assigned input partition, whether records are waiting to be read (from librdkafka's
    /// statistics); absent until known.
    pub(super) waiting: Mutex<BTreeMap<i32, bool>>,
    producer_ready: AtomicBool,
    producer_error: Mutex<Option<String>>,
    pub(super) layout: Mutex<Option<Layout>>,
    pub(super) engine: Mutex<Weak<Mutex<Option<Engine>>>>,
    pub(super) metrics: Arc<Metrics>,
}

/// What queries need to know of the running topology.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub(super) input_partitions: i32,
    pub(super) stores: Vec<String>,
}

impl RunControl {
    /// A new control with its own [`Metrics`], shared.
    pub fn new() -> Arc<RunControl> {
        Arc::new(RunControl::default())
    }

    /// A new control recording into `metrics` (the process's one registry), shared.
    pub fn with_metrics(metrics: Arc<Metrics>) -> Arc<RunControl> {
        Arc::new(RunControl {
            metrics,
            ..RunControl::default()
        })
    }

    /// The metrics the run records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Asks the run to stop: it stops consuming, commits, and returns.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The input partitions this instance owns (assigned and restored), in order.
    pub fn owned_partitions(&self) -> Vec<i32> {
        self.owned.lock().expect("owned").iter().copied().collect()
    }

    /// `Ok` when the instance serves: partitions assigned and restored, and the producer works;
    /// otherwise why not (`/readyz`).
    pub fn readiness(&self) -> Result<(), String> {
        if self.is_stopping() {
            return Err("stopping: finishing the final commit".into());
        }
        let restoring = self.restoring.load(Ordering::SeqCst);
        if restoring > 0 {
            return Err(format!(
                "restoring {restoring} partition(s) from their changelogs"
            ));
        }
        if !self.producer_ready.load(Ordering::SeqCst) {
            return Err(
                match &*self.producer_error.lock().expect("producer error") {
                    Some(e) => format!("the producer is failing: {e}"),
                    None => "the producer is not ready yet".into(),
                },
            );
        }
        if self.assigned.load(Ordering::SeqCst) <= 0 {
            return Err("no partitions assigned yet: waiting for the consumer group".into());
        }
        Ok(())
    }

    /// Whether records of input `partition` are waiting to be read; `unknown` when the statistics
    /// have not said yet.
    pub(super) fn records_waiting(&self, partition: i32, unknown: bool) -> bool {
        self.waiting
            .lock()
            .expect("waiting")
            .get(&partition)
            .copied()
            .unwrap_or(unknown)
    }

    /// Forgets what the statistics said of `partition` (assigned anew, or revoked).
    pub(super) fn forget_lag(&self, partition: i32) {
        self.waiting.lock().expect("waiting").remove(&partition);
    }

    /// Records whether the producer works (`None`: it delivered everything of the last commit).
    pub(super) fn set_producer_error(&self, error: Option<String>) {
        self.producer_ready.store(error.is_none(), Ordering::SeqCst);
        *self.producer_error.lock().expect("producer error") = error;
    }

    /// A read-only interactive query of `store` for `key` (a channel), answered from the task that
    /// owns the key's partition (by Kafka's murmur2 partitioner over the input partitions).
    pub fn query(&self, store: &str, key: &str) -> QueryAnswer {
        let unavailable = |reason: &str| QueryAnswer::Unavailable {
            reason: reason.to_owned(),
        };
        let Some(layout) = self.layout.lock().expect("layout").clone() else {
            return unavailable("the topology is not running yet");
        };
        if !layout.stores.iter().any(|s| s == store) {
            return QueryAnswer::UnknownStore {
                stores: layout.stores,
            };
        }
        if let Err(reason) = self.readiness() {
            return QueryAnswer::Unavailable { reason };
        }
        let partition = key_partition(key.as_bytes(), layout.input_partitions);
        let Some(shared) = self.engine.lock().expect("engine handle").upgrade() else {
            return unavailable("the run has ended");
        };
        // The poll loop holds the engine while it processes and commits: wait a little.
        let deadline = Instant::now() + Duration::from_secs(2);
        let guard = loop {
            match shared.try_lock() {
                Ok(guard) => break guard,
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => {
                    return unavailable("the engine is busy (committing or rebalancing): retry")
                }
            }
        };
        let Some(engine) = guard.as_ref() else {
            return unavailable("stopping: finishing the final commit");
        };
        // The key's own partition first; then any other owned task, in case the input was not
        // partitioned by key with murmur2.
        let found = engine
            .tasks
            .get(&partition)
            .and_then(|t| t.query(store, key).map(|v| (partition, v)))
            .or_else(|| {
                engine
                    .tasks
                    .iter()
                    .find_map(|(p, t)| t.query(store, key).map(|v| (*p, v)))
            });
        match found {
            Some((partition, value)) => QueryAnswer::Found { partition, value },
            None if engine.tasks.contains_key(&partition) => QueryAnswer::Empty { partition },
            None => QueryAnswer::NotOwned {
                partition,
                owned: engine.tasks.keys().copied().collect(),
                owner: None,
            },
        }
    }
}

impl Engine {
    /// Refreshes the state store gauges from RocksDB's properties, at most every 5 seconds.
    pub(super) fn record_store_stats(&mut self) {
        if self
            .last_store_stats
            .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        self.last_store_stats = Some(Instant::now());
        match self.backend.stats() {
            Ok(stats) => {
                for s in stats {
                    let bytes = i64::try_from(s.bytes).unwrap_or(i64::MAX);
                    let keys = i64::try_from(s.keys).unwrap_or(i64::MAX);
                    self.metrics
                        .store_bytes
                        .with_label_values(&[&s.store])
                        .set(bytes);
                    self.metrics
                        .store_keys
                        .with_label_values(&[&s.store])
                        .set(keys);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read state store statistics"),
        }
    }
}

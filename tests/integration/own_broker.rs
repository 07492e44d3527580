//! Helpers for tests that need a broker of their own (a fresh tansu, or one behind the Kafka fault
//! proxy): starting a run on it, and checking results against a brute-force count of the input.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chatpulse::kafka::restore::DEFAULT_STALL_TIMEOUT;
use chatpulse::kafka::runner::{run, RunControl, RunOptions, RunStats};
use chatpulse::kafka::{KafkaError, KafkaSettings};
use chatpulse::store::rocks::{RocksBackend, RocksOptions};
use chatpulse::topology::Topology;
use rdkafka::Message;
use serde_json::Value;

use crate::engine_support::{add_minute, Minutes};
use crate::harness::unique;
use crate::minutes::brute_force_minutes;
use crate::support::kafka_fault_proxy::{Faults, KafkaFaultProxy};
use crate::support::tansu_broker::TansuBroker;

/// A tansu of the test's own, reached directly or through the fault proxy.
pub struct OwnBroker {
    /// The proxy clients go through, when there is one.
    pub proxy: Option<KafkaFaultProxy>,
    /// The broker.
    pub tansu: TansuBroker,
}

impl OwnBroker {
    /// A fresh tansu, reached directly.
    pub fn direct() -> OwnBroker {
        OwnBroker {
            proxy: None,
            tansu: TansuBroker::start(),
        }
    }

    /// A fresh tansu that advertises the fault proxy in front of it.
    pub fn behind_proxy() -> OwnBroker {
        let addr = TansuBroker::reserve();
        let proxy = KafkaFaultProxy::start(addr);
        let advertised = format!("127.0.0.1:{}", proxy.port()).parse().unwrap();
        OwnBroker {
            tansu: TansuBroker::start_at(addr, advertised),
            proxy: Some(proxy),
        }
    }

    /// Settings for clients of this broker.
    pub fn settings(&self) -> KafkaSettings {
        KafkaSettings::new(self.tansu.bootstrap())
    }

    /// The proxy's faults (panics without a proxy).
    pub fn faults(&self) -> &Faults {
        &self
            .proxy
            .as_ref()
            .expect("a broker behind the proxy")
            .faults
    }
}

/// A run of `topology` on `settings`' broker in a thread, RocksDB state in `state`; the thread
/// returns the run's result.
pub fn start_run(
    settings: KafkaSettings,
    topology: Topology,
    state: &std::path::Path,
) -> (Arc<RunControl>, JoinHandle<Result<RunStats, KafkaError>>) {
    crate::harness::init_logs();
    let stores = topology.stores();
    let refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let backend = RocksBackend::open(state, &refs, &RocksOptions::default()).unwrap();
    let options = RunOptions {
        kafka: settings,
        instance_id: unique("instance"),
        shutdown_timeout: Duration::from_secs(30),
        replication_factor: 1,
        schema_registry: None,
        restore_stall_timeout: DEFAULT_STALL_TIMEOUT,
    };
    let control = RunControl::new();
    let shared = control.clone();
    let handle = std::thread::spawn(move || run(topology, options, Box::new(backend), shared));
    (control, handle)
}

/// Waits (at most `timeout`) until `done` holds; false if it never did.
pub fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// Waits (at most `timeout`) until `handle`'s thread ended, and returns its result.
pub fn join_within<T>(handle: JoinHandle<T>, timeout: Duration) -> T {
    assert!(
        wait_for(timeout, || handle.is_finished()),
        "the run did not end within {timeout:?}"
    );
    handle.join().expect("the run thread panicked")
}

/// The per-minute results in `topic` once `expected.len()` of them arrived (60 s at most).
pub fn results_on(settings: &KafkaSettings, topic: &str, expected: &Minutes) -> Minutes {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Minutes::new();
    let consumer = crate::harness::reader_on(settings, topic);
    while got.len() < expected.len() && Instant::now() < deadline {
        if let Some(Ok(msg)) = consumer.poll(Duration::from_millis(200)) {
            let v: Value = serde_json::from_slice(msg.payload().unwrap()).unwrap();
            add_minute(&mut got, &v);
        }
    }
    got
}

/// Asserts that `got` holds every minute of the brute-force count of `lines` with its value (and
/// nothing else but empty minutes), and equals the offline run.
pub fn assert_complete(got: &Minutes, lines: &[String], offline: &Minutes) {
    let brute = brute_force_minutes(lines);
    assert!(brute.len() > 20, "the input spans many channel-minutes");
    let missing: Vec<_> = brute
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .map(|(k, v)| (k, v, got.get(k)))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} brute-force minutes are missing or differ, first (key, expected, got): {missing:?}",
        brute.iter().filter(|(k, v)| got.get(*k) != Some(*v)).count(),
        brute.len()
    );
    for (k, v) in got {
        assert!(
            brute.contains_key(k) || v.0 == 0,
            "{k:?} = {v:?} is not in the input"
        );
    }
    assert_eq!(got, offline, "the run and the offline run differ");
}

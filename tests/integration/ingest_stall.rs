//! `ingest` against a test IRC server that stops reading: once a flood of PINGs has filled the
//! kernel buffers with the client's PONGs, its write blocks. The client must give the connection up
//! within its write timeout and connect again, and stopping must end a blocked write at once.

use std::cell::Cell;
use std::time::{Duration, Instant};

use chatpulse::ingest::{IngestMetrics, ProducerStats};
use chatpulse::twitch::irc::{run_client, IrcConfig, IrcError};
use tokio::sync::watch;

use crate::harness::{init_logs, unique};
use crate::ingest::{test_config, test_sink};
use crate::support::irc_server::IrcServer;

/// PINGs per flood and the length of each one's argument: 32 MiB of PONGs, far more than the
/// socket buffers of both ends hold, so the client's write must block.
const FLOOD: (usize, usize) = (32 * 1024, 1024);

/// Waits until the client has stopped reading the flood: PINGs are left unwritten and none was
/// written for 500 ms. Bounded by `timeout`.
async fn wait_until_blocked(server: &IrcServer, timeout: Duration) {
    let last = Cell::new((u64::MAX, Instant::now()));
    server
        .wait_until("the client to stop reading", timeout, |s| {
            let left = s.unwritten_pings();
            let (before, since) = last.get();
            if left != before {
                last.set((left, Instant::now()));
                return false;
            }
            left > 0 && since.elapsed() >= Duration::from_millis(500)
        })
        .await;
}

type Started = (
    tokio::task::JoinHandle<Result<(), IrcError>>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<ProducerStats>,
);

/// A client of `nymn` on `server` with `config`, once the server answered its JOIN.
async fn start_joined(server: &IrcServer, config: IrcConfig) -> Started {
    let (sink, sink_task) = test_sink(&unique("ingest-stall"), 1, IngestMetrics::new()).await;
    let (channels_tx, channels_rx) = watch::channel(["nymn".to_string()].into());
    let (stop_tx, stop_rx) = watch::channel(false);
    let client = tokio::spawn(async move {
        // The channel list's owner lives as long as the client.
        let _channels = channels_tx;
        run_client(config, channels_rx, sink, stop_rx).await
    });
    server
        .wait_until("nymn joined", Duration::from_secs(10), |s| {
            s.joins("nymn") == 1
        })
        .await;
    (client, stop_tx, sink_task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_reading_is_dropped_within_the_write_timeout_and_rejoined() {
    init_logs();
    let server = IrcServer::start().await;
    let mut config = test_config(&server);
    config.write_timeout = Duration::from_secs(1);
    let (client, stop_tx, sink_task) = start_joined(&server, config).await;
    let t = Duration::from_secs(10);

    server.stall_reads();
    server.flood_pings(FLOOD.0, FLOOD.1);
    let stalled_at = Instant::now();
    server
        .wait_until(
            "a new connection that joins nymn again",
            Duration::from_secs(15),
            |s| s.accepted() == 2 && s.joins("nymn") == 2,
        )
        .await;
    let took = stalled_at.elapsed();
    assert!(took < Duration::from_secs(15), "re-joined after {took:?}");

    stop_tx.send(true).unwrap();
    tokio::time::timeout(t, client)
        .await
        .expect("the client stops")
        .unwrap()
        .unwrap();
    sink_task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_a_write_blocked_by_a_server_that_stopped_reading() {
    init_logs();
    let server = IrcServer::start().await;
    // The default write timeout (10 s) outlasts the wait for the blocked write.
    let (client, stop_tx, sink_task) = start_joined(&server, test_config(&server)).await;

    server.stall_reads();
    server.flood_pings(FLOOD.0, FLOOD.1);
    wait_until_blocked(&server, Duration::from_secs(15)).await;
    assert_eq!(server.accepted(), 1, "still the stalled connection");

    let stopped_at = Instant::now();
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(3), client)
        .await
        .expect("stopping ends the blocked write within 3 s")
        .unwrap()
        .unwrap();
    assert!(stopped_at.elapsed() < Duration::from_secs(3));
    sink_task.await.unwrap();
}

//! Session windows on tansu: the shipped `topologies/chatter-sessions.toml` run by `chatpulse run`
//! over real chat on four partitions (keyed by channel) writes exactly the sessions of a
//! brute-force sessionizer of the same lines (each chatter's times sorted, cut at gaps of more than
//! 5 minutes), each once, final.

use std::collections::BTreeSet;
use std::time::Duration;

use chatpulse::topology::Topology;
use rdkafka::Message;
use serde_json::Value;

use crate::engine::{read_topic, start};
use crate::engine_support::{end_markers, produce, real_lines};
use crate::harness::{create_topic, repo_file, unique};
use crate::sessions::{message_times_of, sessionize};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatter_sessions_on_tansu_equal_a_brute_force_sessionizer() {
    let input = unique("sessions-in");
    create_topic(&input, 4).await;
    // About 17 minutes of real chat of many channels: chatters come back after silences of more
    // than the 5-minute gap.
    let lines = real_lines(20_000);
    let markers = end_markers(&lines, 4);
    let expected = sessionize(&message_times_of(&lines), 5 * 60_000);
    let chatters: BTreeSet<(&str, &str)> = expected
        .iter()
        .map(|(c, u, ..)| (c.as_str(), u.as_str()))
        .collect();
    assert!(
        expected.len() > chatters.len() + 100,
        "{} sessions of {} chatters",
        expected.len(),
        chatters.len()
    );

    let mut topology = Topology::load(&repo_file("topologies/chatter-sessions.toml")).unwrap();
    topology.application_id = unique("sessions-app");
    topology.sources[0].topic = input.clone();
    topology.sinks[0].topic = unique("sessions-out");
    topology.idle_timeout_ms = 3_600_000;
    topology.commit_interval_ms = 300;
    let output = topology.sinks[0].topic.clone();

    produce(&input, &lines, &markers).await;
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start(topology, state.path());
    let got = read_topic(&output, expected.len(), Duration::from_secs(180));
    control.stop();
    let stats = handle.join().unwrap();

    let mut sessions = BTreeSet::new();
    for m in &got {
        let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        assert_eq!(v["final"], true, "{v}");
        assert_eq!(
            std::str::from_utf8(m.key().unwrap()).unwrap(),
            v["channel"].as_str().unwrap(),
            "keyed by channel"
        );
        let session = (
            v["channel"].as_str().unwrap().to_owned(),
            v["user"].as_str().unwrap().to_owned(),
            v["start"].as_i64().unwrap(),
            v["end"].as_i64().unwrap(),
            v["messages"].as_u64().unwrap(),
        );
        assert!(sessions.insert(session), "a session reported twice: {v}");
    }
    assert_eq!(
        stats.processed as usize,
        lines.len() + markers.len(),
        "{stats:?}"
    );
    assert_eq!((stats.dead_letters, stats.late), (0, 0), "{stats:?}");
    assert_eq!(sessions.len(), expected.len(), "{stats:?}");
    assert_eq!(sessions, expected);
    eprintln!(
        "{} lines, {} chatters, {} sessions; {stats:?}",
        lines.len(),
        chatters.len(),
        sessions.len()
    );
}

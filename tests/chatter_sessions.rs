//! Session windows on real chat: the shipped `topologies/chatter-sessions.toml` (per channel and
//! chatter, a 5-minute gap) gives exactly the sessions of a brute-force sessionizer computed from
//! each data set's `normalized.jsonl.gz` (sort a chatter's message times, cut where two neighbours
//! are more than 5 minutes apart), in time order, shuffled within the grace (late messages that
//! bridge two sessions merge them), after a crash and restore, and offline (`run_offline`). The only
//! lines not real are the ones reordered (same lines, another order) and one late copy, said where
//! they are built.

mod common;
use common::data_dir;
use common::sessions::{sessionize, time_and_key, Session};

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::OnceLock;

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::time::clock::{Clock, SystemClock};
use chatpulse::topology::driver::TestDriver;
use chatpulse::topology::Topology;
use serde_json::Value;

const MINUTE: i64 = 60_000;
const GAP: i64 = 5 * MINUTE;

/// One data set: its raw file (relative to the data folder), format and logger UTC offset.
struct Set {
    rel: &'static str,
    format: Format,
    offset_h: i32,
}

const BULLDOG: Set = Set {
    rel: "dev_irc_untagged_admiralbulldog_2019/chat_admiralbulldog_4_30.log",
    format: Format::IrcLogged,
    offset_h: -7,
};
const NYMN: Set = Set {
    rel: "dev_irc_tagged_nymn_chatterino/recentmessages-nymn.irc.txt",
    format: Format::Irc,
    offset_h: 0,
};
const MULTICHANNEL: Set = Set {
    rel: "dev_csv_multichannel_2025/chat_logs78.csv.gz",
    format: Format::Csv,
    offset_h: 0,
};

fn topology_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies/chatter-sessions.toml")
}

fn topology() -> Topology {
    Topology::load(&topology_path()).unwrap()
}

/// The shipped topology with `from` replaced by `to` in its text.
fn edited(from: &str, to: &str) -> Topology {
    let text = std::fs::read_to_string(topology_path()).unwrap();
    assert!(text.contains(from), "chatter-sessions.toml has no {from}");
    Topology::parse(&text.replace(from, to)).unwrap()
}

/// The canonical lines of a set's raw file (a `.gz` is read through gzip).
fn lines(set: &Set) -> Vec<String> {
    let path = data_dir().join(set.rel);
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader: Box<dyn Read> = if set.rel.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let options = ImportOptions {
        channel: None,
        utc_offset_s: set.offset_h * 3600,
    };
    import(set.format, options, BufReader::new(reader))
        .filter_map(Result::ok)
        .map(|r| r.line)
        .collect()
}

fn bulldog() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| lines(&BULLDOG))
}

/// Message times per (channel, user), read from the set's `normalized.jsonl.gz` (the records of
/// its raw file) without the chat model.
fn message_times(set: &Set) -> BTreeMap<(String, String), Vec<i64>> {
    let (folder, file) = set.rel.split_once('/').unwrap();
    let file = file.trim_end_matches(".gz");
    let path = data_dir().join(folder).join("normalized.jsonl.gz");
    let reader = BufReader::new(flate2::read::GzDecoder::new(File::open(path).unwrap()));
    let mut times: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for line in reader.lines() {
        let r: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if r["kind"] != "msg" || !r["src"].as_str().unwrap().starts_with(&format!("{file}:")) {
            continue;
        }
        let key = (
            r["channel"].as_str().unwrap().to_owned(),
            r["user"].as_str().unwrap().to_owned(),
        );
        times
            .entry(key)
            .or_default()
            .push(r["ts_ms"].as_i64().unwrap());
    }
    times
}

/// The sessions of a sink's records, each checked for its fields; a session reported twice
/// (identically) counts once, as a consumer that upserts by (channel, user, start) keeps it.
fn sessions(records: &[Value]) -> BTreeSet<Session> {
    records
        .iter()
        .map(|r| {
            let (start, end) = (r["start"].as_i64().unwrap(), r["end"].as_i64().unwrap());
            assert_eq!(r["final"], true, "{r}");
            assert_eq!(
                r["duration_s"].as_i64().unwrap(),
                (end - start) / 1000,
                "{r}"
            );
            assert!(start <= end, "{r}");
            (
                r["channel"].as_str().unwrap().to_owned(),
                r["user"].as_str().unwrap().to_owned(),
                start,
                end,
                r["messages"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Runs `lines` through `topology` in the test driver, committing every 1,000 lines.
fn run(topology: Topology, lines: &[String]) -> TestDriver {
    let mut d = TestDriver::new(topology, SystemClock.now_ms());
    for (i, l) in lines.iter().enumerate() {
        d.pipe_line(l);
        if i % 1_000 == 999 {
            d.commit();
        }
    }
    d.commit();
    d.finish();
    d
}

/// A small deterministic generator (xorshift), so the shuffles need no crate.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The same lines in the order they would arrive if each were delayed by up to `max_delay_ms`
/// (derived: real lines, another order).
fn delayed(lines: &[String], max_delay_ms: u64, seed: u64) -> Vec<String> {
    let mut state = seed;
    let mut arrival: Vec<(i64, usize)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let ts = time_and_key(l).map_or(i64::MIN, |(t, _)| t);
            (ts + (next(&mut state) % max_delay_ms) as i64, i)
        })
        .collect();
    arrival.sort_unstable();
    arrival.into_iter().map(|(_, i)| lines[i].clone()).collect()
}

/// Messages that arrive after an earlier-sent one (out of order), and bridges: messages that, when
/// they arrive, fall within `gap` of already-arrived messages of their chatter on both sides whose
/// own distance is more than `gap` — they join two sessions into one. Counted by brute force.
fn disorder(lines: &[String], gap: i64) -> (usize, usize) {
    let (mut out_of_order, mut bridges, mut max_seen) = (0, 0, i64::MIN);
    let mut arrived: BTreeMap<(String, String), BTreeSet<i64>> = BTreeMap::new();
    for (t, key) in lines.iter().filter_map(|l| time_and_key(l)) {
        out_of_order += usize::from(t < max_seen);
        max_seen = max_seen.max(t);
        let times = arrived.entry(key).or_default();
        let before = times.range(..=t).next_back().copied();
        let after = times.range(t..).next().copied();
        if let (Some(b), Some(a)) = (before, after) {
            bridges += usize::from(t - b <= gap && a - t <= gap && a - b > gap);
        }
        times.insert(t);
    }
    (out_of_order, bridges)
}

#[test]
fn chatter_sessions_equal_a_brute_force_sessionizer_on_real_chat() {
    for set in [BULLDOG, NYMN, MULTICHANNEL] {
        let times = message_times(&set);
        let expected = sessionize(&times, GAP);
        let d = run(topology(), &lines(&set));
        let records = d.output("sessions");
        let got = sessions(&records);
        assert_eq!(
            records.len(),
            got.len(),
            "{}: one record per session",
            set.rel
        );
        assert_eq!(got.len(), expected.len(), "{}", set.rel);
        assert_eq!(got, expected, "{}", set.rel);
        assert!(
            d.late().is_empty() && d.dead_letters().is_empty(),
            "{}",
            set.rel
        );
        // The gap matters: some chatters come back after a silence of more than 5 minutes.
        let returning = expected.len() - times.len();
        assert!(returning > 0 || set.rel == NYMN.rel, "{}", set.rel);
        eprintln!(
            "{}: {} messages, {} chatters, {} sessions",
            set.rel,
            times.values().map(Vec::len).sum::<usize>(),
            times.len(),
            expected.len()
        );
    }
}

#[test]
fn messages_shuffled_within_the_grace_give_the_same_sessions_merging_the_ones_they_bridge() {
    let expected = sessionize(&message_times(&BULLDOG), GAP);
    // The shipped grace (5 s): jitter of a few seconds.
    let jittered = delayed(bulldog(), 5_000, 0x9e37_79b9_7f4a_7c15);
    let (out_of_order, _) = disorder(&jittered, GAP);
    assert!(out_of_order > 1_000, "{out_of_order}");
    let d = run(topology(), &jittered);
    assert!(d.late().is_empty());
    assert_eq!(sessions(&d.output("sessions")), expected);

    // A grace of 4 minutes and delays of up to 4 minutes: messages arrive after others sent minutes
    // later, and some join two sessions already open into one.
    let grace = "grace = \"5s\"";
    let shuffled = delayed(bulldog(), 4 * MINUTE as u64, 0x2545_f491_4f6c_dd1d);
    let (out_of_order, bridges) = disorder(&shuffled, GAP);
    assert!(out_of_order > 10_000, "{out_of_order}");
    assert!(bridges > 10, "{bridges} bridging messages");
    let d = run(edited(grace, "grace = \"4m\""), &shuffled);
    assert!(d.late().is_empty(), "{} late", d.late().len());
    let records = d.output("sessions");
    assert_eq!(records.len(), expected.len(), "one record per session");
    assert_eq!(sessions(&records), expected);
    eprintln!("{out_of_order} out of order, {bridges} bridging");
}

#[test]
fn a_crash_and_restore_mid_stream_gives_the_same_sessions() {
    let lines = bulldog();
    let expected = sessionize(&message_times(&BULLDOG), GAP);
    let mut d = TestDriver::new(topology(), SystemClock.now_ms());
    let crash_at = lines.len() * 3 / 5 + 17;
    for (i, l) in lines.iter().enumerate().take(crash_at) {
        d.pipe_line(l);
        if i % 1_000 == 999 {
            d.commit();
        }
    }
    let open = d
        .query("chatter-sessions", "admiralbulldog")
        .expect("open sessions mid-stream");
    assert!(open["open_sessions"].as_u64().unwrap() > 0, "{open}");
    assert_eq!(
        open["open_sessions"].as_u64().unwrap() as usize,
        open["sessions"].as_array().unwrap().len()
    );
    d.crash_and_restore().unwrap();
    // Input resumes after the last commit: the lines since are read again.
    for (i, l) in lines.iter().enumerate().skip((crash_at / 1_000) * 1_000) {
        d.pipe_line(l);
        if i % 1_000 == 999 {
            d.commit();
        }
    }
    d.finish();
    d.commit();
    assert_eq!(
        d.committed_entries(),
        0,
        "every session closed and was deleted"
    );
    d.finish();
    assert!(
        d.committed_entries() == 0,
        "every session closed and was deleted"
    );
    assert_eq!(sessions(&d.output("sessions")), expected);
}

#[test]
fn a_message_behind_the_grace_goes_to_the_late_topic() {
    let lines = bulldog();
    // Derived: a real message of the log sent again with a time 10 minutes before the last one.
    let last = time_and_key(lines.last().unwrap()).unwrap().0;
    let late = lines
        .iter()
        .rev()
        .find(|l| time_and_key(l).is_some())
        .unwrap()
        .replace(
            &format!("tmi-sent-ts={last}"),
            &format!("tmi-sent-ts={}", last - 10 * MINUTE),
        );
    let mut with_late = lines.to_vec();
    with_late.push(late.clone());
    let d = run(topology(), &with_late);
    assert_eq!(d.late().len(), 1);
    assert_eq!(d.late()[0].late.processor, "chatter-sessions");
    assert_eq!(d.late()[0].value, late.as_bytes());
    assert_eq!(
        sessions(&d.output("sessions")),
        sessionize(&message_times(&BULLDOG), GAP)
    );
}

#[test]
fn session_windows_are_declared_on_session_kinds_only_with_messages_that_say_what_to_change() {
    let t = topology();
    assert_eq!(
        t.processors[0].window,
        Some(chatpulse::window::WindowSpec::Session {
            gap_ms: GAP,
            grace_ms: 5_000
        })
    );
    let window = "window = { kind = \"session\", gap = \"5m\", grace = \"5s\" }";
    let problem = |topology: &str| Topology::parse(topology).unwrap_err().problems;
    let text = std::fs::read_to_string(topology_path()).unwrap();
    assert_eq!(
        problem(&text.replace("kind = \"chatter_sessions\"", "kind = \"chat_count\"").replace("options = { min_messages = 1 }", "")),
        ["processor \"chatter-sessions\" of kind chat_count does not support session windows: use a tumbling, hopping or sliding window (session windows are for the kinds chatter_sessions, stream_sessions)"]
    );
    let needs = "processor \"chatter-sessions\" of kind chatter_sessions needs a session window: write window = { kind = \"session\", gap = \"5m\", grace = \"5s\" }";
    assert_eq!(
        problem(&text.replace(window, "window = { kind = \"tumbling\", size = \"1m\" }")),
        [needs]
    );
    assert_eq!(problem(&text.replace(window, "")), [needs]);
    assert_eq!(
        problem(&text.replace("gap = \"5m\", ", "")),
        ["processor \"chatter-sessions\": window gap is required (for example \"60s\")"]
    );
    assert_eq!(
        problem(&text.replace("gap = \"5m\"", "gap = \"0s\"")),
        ["processor \"chatter-sessions\": session gap must be positive"]
    );
    let engagement = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies/engagement-basic.toml"),
    )
    .unwrap();
    assert_eq!(
        problem(&engagement.replace("size = \"1m\"", "size = \"1m\", gap = \"5m\"")),
        ["processor \"per-minute\": gap applies to session windows only: remove it, or make the window kind = \"session\""]
    );
}

/// The topology run by the offline runner (`chatpulse process`) over a real log: the same sessions
/// as the brute force, the late copy on the late topic.
#[cfg(feature = "runtime")]
#[test]
fn run_offline_gives_the_brute_force_sessions() {
    use std::sync::Arc;

    use chatpulse::store::memory::MemoryBackend;
    use chatpulse::topology::offline::run_offline;
    use chatpulse::topology::route::MemoryDestination;

    for set in [BULLDOG, MULTICHANNEL] {
        let topology = Arc::new(topology());
        let stores = topology.stores();
        let stores: Vec<&str> = stores.iter().map(String::as_str).collect();
        let mut backend = MemoryBackend::new(&stores).unwrap();
        let mut to = MemoryDestination::default();
        let input = lines(&set);
        let report = run_offline(topology, &input, &mut backend, &mut to, 1_000).unwrap();
        let records: Vec<Value> = to
            .outputs
            .iter()
            .map(|(topic, key, value, _)| {
                assert_eq!(topic, "twitch.chat.sessions");
                assert_eq!(value["channel"], key.as_str());
                value.clone()
            })
            .collect();
        let expected = sessionize(&message_times(&set), GAP);
        assert_eq!(records.len(), expected.len(), "{}", set.rel);
        assert_eq!(sessions(&records), expected, "{}", set.rel);
        assert_eq!(report.windows_closed, expected.len() as u64);
        assert_eq!(report.late, 0);
    }
}

/// Every session record is a datum of `avro/chatter_session.avsc` (an Avro sink of the topology
/// validates) and reads back equal.
#[cfg(feature = "runtime")]
#[test]
fn every_session_record_encodes_with_the_avro_schema_and_reads_back_equal() {
    use chatpulse::avro::{decode_datum, encode_datum, AvroSchema};

    let avro = edited(
        "format = \"json\"",
        "format = \"avro\"\nschema = \"chatter_session\"",
    );
    let schema = AvroSchema::builtin("chatter_session").unwrap();
    let records = run(avro, bulldog()).output("sessions");
    assert!(!records.is_empty());
    for r in &records {
        let datum = encode_datum(r, &schema).unwrap_or_else(|e| panic!("{r}: {e}"));
        assert_eq!(&decode_datum(&schema.schema, &datum, None).unwrap(), r);
    }
}

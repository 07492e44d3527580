//! The engine in memory, through the test driver: a real log's per-minute counts equal a brute-force
//! count; a crash after any commit followed by a restore and a replay from the committed offset gives
//! the same results; a quiet partition's windows close by wall clock after the idle timeout; poison
//! records become dead letters and processing continues.

mod common;
use common::data_dir;

use std::collections::{BTreeMap, BTreeSet};

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::{ChatEvent, EventKind};
use chatpulse::topology::driver::TestDriver;
use chatpulse::topology::Topology;
use serde_json::Value;

fn topology(idle: &str) -> Topology {
    Topology::parse(&format!(
        r#"
application_id = "driver-test"
[[source]]
name = "chat"
topic = "twitch.chat.raw"
[[processor]]
name = "per-minute"
kind = "chat_count"
source = "chat"
sink = "minutes"
window = {{ kind = "tumbling", size = "1m", grace = "5s" }}
[[sink]]
name = "minutes"
topic = "out"
[settings]
idle_timeout = "{idle}"
"#
    ))
    .unwrap()
}

/// The admiralbulldog log (3.2 h, one channel, logger time UTC-7) as tagged lines.
fn admiralbulldog() -> Vec<String> {
    let path = data_dir().join("dev_irc_untagged_admiralbulldog_2019/chat_admiralbulldog_4_30.log");
    let reader = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let opts = ImportOptions {
        channel: None,
        utc_offset_s: -7 * 3600,
    };
    import(Format::IrcLogged, opts, reader)
        .filter_map(Result::ok)
        .map(|l| l.line)
        .collect()
}

type Minutes = BTreeMap<(String, i64), (u64, u64)>;

fn brute_force(lines: &[String]) -> Minutes {
    let mut m: BTreeMap<(String, i64), (u64, BTreeSet<String>)> = BTreeMap::new();
    for line in lines {
        let e = ChatEvent::parse(line).unwrap();
        if let EventKind::Message(msg) = &e.kind {
            let start = e.ts_ms.unwrap().div_euclid(60_000) * 60_000;
            let slot = m.entry((e.channel.to_owned(), start)).or_default();
            slot.0 += 1;
            slot.1.insert(msg.user.login.to_owned());
        }
    }
    m.into_iter()
        .map(|(k, (n, users))| (k, (n, users.len() as u64)))
        .collect()
}

/// A result's (channel, window start) and (messages, unique chatters).
fn keyed(v: &Value) -> ((String, i64), (u64, u64)) {
    (
        (
            v["channel"].as_str().unwrap().to_owned(),
            v["window_start"].as_i64().unwrap(),
        ),
        (
            v["messages"].as_u64().unwrap(),
            v["unique_chatters"].as_u64().unwrap(),
        ),
    )
}

fn minutes(values: &[Value]) -> Minutes {
    let mut m = Minutes::new();
    for v in values {
        assert_eq!(v["final"], Value::Bool(true));
        let (key, val) = keyed(v);
        assert_eq!(
            v["window_end"].as_i64().unwrap() - key.1,
            60_000,
            "window bounds are in every result"
        );
        if let Some(prev) = m.insert(key.clone(), val) {
            assert_eq!(prev, val, "{key:?} emitted twice with different values");
        }
    }
    m
}

#[test]
fn per_minute_counts_of_a_real_log_equal_a_brute_force_count() {
    let lines = admiralbulldog();
    let mut d = TestDriver::new(topology("1h"), 0);
    for line in &lines {
        d.pipe_line(line);
    }
    d.finish();
    assert!(d.late().is_empty(), "the log is in time order");
    let dead: Vec<_> = d
        .dead_letters()
        .iter()
        .map(|x| {
            (
                x.reason.clone(),
                String::from_utf8_lossy(&x.value).into_owned(),
            )
        })
        .collect();
    assert!(dead.is_empty(), "every imported line parses: {dead:?}");
    let expected = brute_force(&lines);
    assert_eq!(
        expected.len(),
        196,
        "the log's active minutes (PROVENANCE: 196)"
    );
    assert_eq!(minutes(&d.output("minutes")), expected);
    assert_eq!(d.windows_closed(), 196);
}

#[test]
fn crash_after_a_commit_and_replay_gives_the_same_results() {
    let lines = admiralbulldog();
    let expected = brute_force(&lines);
    for (commit_at, crash_at) in [(5_000usize, 7_500usize), (12_345, 12_346), (20_000, 28_000)] {
        let mut d = TestDriver::new(topology("1h"), 0);
        let mut i = 0;
        let mut crashed = false;
        while i < lines.len() {
            d.pipe_line(&lines[i]);
            i += 1;
            if i == commit_at {
                d.commit();
            }
            if i == crash_at && !crashed {
                // Everything after the commit is lost in memory; input resumes at the committed offset.
                d.crash_and_restore().unwrap();
                crashed = true;
                i = commit_at;
            }
        }
        d.finish();
        // Windows closed between the commit and the crash are emitted twice, with equal values.
        assert_eq!(
            minutes(&d.output("minutes")),
            expected,
            "commit at {commit_at}, crash at {crash_at}"
        );
        assert!(d.committed_entries() > 0);
    }
}

#[test]
fn a_restored_task_does_not_idle_past_the_records_still_to_read() {
    let lines = admiralbulldog();
    let expected = brute_force(&lines);
    let run = |waiting: bool| {
        let mut d = TestDriver::new(topology("30s"), 1_000_000);
        for line in &lines[..5_000] {
            d.pipe_line(line);
        }
        d.commit();
        for line in &lines[5_000..7_500] {
            d.pipe_line(line);
        }
        // Killed; the restart restores the commit, then two minutes pass before its backlog flows
        // (restore, group join, other partitions served first).
        d.crash_and_restore().unwrap();
        if waiting {
            d.advance_wall_clock_with_records_waiting(120_000);
        } else {
            d.advance_wall_clock(120_000);
        }
        for line in &lines[5_000..] {
            d.pipe_line(line);
        }
        d.finish();
        d.output("minutes")
    };
    assert_eq!(minutes(&run(true)), expected);
    // Without the consumer's word that records wait, the two minutes look idle: event time runs
    // ahead of the backlog and closes the open minute again with part of its messages, a later and
    // smaller final (the runner's behaviour before it passed the lag on).
    let mut first = Minutes::new();
    let restated = run(false).iter().any(|v| {
        let (key, value) = keyed(v);
        first
            .insert(key, value)
            .is_some_and(|earlier| earlier != value)
    });
    assert!(
        restated,
        "idling over the backlog re-states a minute with another value"
    );
}

#[test]
fn a_quiet_partition_closes_its_windows_by_wall_clock() {
    let mut d = TestDriver::new(topology("30s"), 1_000_000);
    let t0 = 1_704_557_984_000i64;
    for (i, user) in ["a", "b", "a"].iter().enumerate() {
        d.pipe_line(&format!(
            "@tmi-sent-ts={} :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #quiet :hi",
            t0 + i as i64
        ));
    }
    assert!(d.output("minutes").is_empty(), "the minute is still open");
    d.advance_wall_clock(29_000);
    assert!(d.output("minutes").is_empty(), "not idle yet");
    // Idle after 30 s; event time then advances with the wall clock, so the minute (end + 5 s grace)
    // closes at most 65 s of wall time later.
    d.advance_wall_clock(1_000 + 65_000);
    let out = d.output("minutes");
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (
            out[0]["messages"].as_u64(),
            out[0]["unique_chatters"].as_u64()
        ),
        (Some(3), Some(2))
    );
}

#[test]
fn poison_records_become_dead_letters_and_processing_continues() {
    let mut d = TestDriver::new(topology("1h"), 0);
    let t0 = 1_704_557_984_000i64;
    d.pipe_line(&format!(
        "@tmi-sent-ts={t0} :a!a@a.tmi.twitch.tv PRIVMSG #c :one"
    ));
    d.pipe(b"\xff\xfe not utf-8", None);
    d.pipe_line("@tmi-sent-ts=yesterday :a!a@a.tmi.twitch.tv PRIVMSG #c :bad time");
    d.pipe_line(":a!a@a.tmi.twitch.tv PRIVMSG #c :no time at all");
    d.pipe_line(&format!(
        "@tmi-sent-ts={} :b!b@b.tmi.twitch.tv PRIVMSG #c :two",
        t0 + 10
    ));
    d.finish();
    let reasons: Vec<&str> = d
        .dead_letters()
        .iter()
        .map(|dl| dl.reason.as_str())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("UTF-8"), "{reasons:?}");
    assert!(reasons[1].contains("timestamp"), "{reasons:?}");
    assert!(reasons[2].contains("no event time"), "{reasons:?}");
    assert_eq!(
        d.dead_letters()[0].value,
        b"\xff\xfe not utf-8",
        "the DLQ keeps the value unchanged"
    );
    assert_eq!(d.dead_letters()[1].offset, 2);
    let out = d.output("minutes");
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0]["messages"].as_u64(),
        Some(2),
        "records after the poison ones were counted"
    );
}

#[test]
fn late_records_are_reported_not_dropped_silently() {
    let mut d = TestDriver::new(topology("1h"), 0);
    let t0 = 1_704_557_940_000i64; // a minute boundary
    d.pipe_line(&format!(
        "@tmi-sent-ts={t0} :a!a@a.tmi.twitch.tv PRIVMSG #c :x"
    ));
    d.pipe_line(&format!(
        "@tmi-sent-ts={} :a!a@a.tmi.twitch.tv PRIVMSG #c :x",
        t0 + 70_000
    ));
    // 70 s later the first minute (end + 5 s grace = t0 + 65 s) is closed: this record is late.
    d.pipe_line(&format!(
        "@tmi-sent-ts={} :b!b@b.tmi.twitch.tv PRIVMSG #c :late",
        t0 + 1_000
    ));
    assert_eq!(d.late().len(), 1);
    assert_eq!(d.late()[0].late.ts_ms, t0 + 1_000);
    d.finish();
    let out = d.output("minutes");
    assert_eq!(
        out[0]["messages"].as_u64(),
        Some(1),
        "the late record is not in the closed window"
    );
}

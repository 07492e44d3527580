//! The engine in memory, through the test driver: a real log's per-minute counts equal a brute-force
//! count, after a crash and replay too; quiet partitions close their windows by wall clock, and a
//! backlog after an idle gap corrects them; poison records and times from the future become dead
//! letters.

mod common;
use common::minutes::{brute_force_minutes, latest_minutes, Minutes};
use common::{data_dir, set_tag};

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::time::clock::{Clock, SystemClock};
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
    let mut d = TestDriver::new(topology("1h"), wall_clock());
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
    let expected = brute_force_minutes(&lines);
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
    let expected = brute_force_minutes(&lines);
    for (commit_at, crash_at) in [(5_000usize, 7_500usize), (12_345, 12_346), (20_000, 28_000)] {
        let mut d = TestDriver::new(topology("1h"), wall_clock());
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
    let expected = brute_force_minutes(&lines);
    let run = |waiting: bool| {
        let mut d = TestDriver::new(topology("30s"), wall_clock());
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
    let mut d = TestDriver::new(topology("30s"), wall_clock());
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
    let mut d = TestDriver::new(topology("1h"), wall_clock());
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
    let mut d = TestDriver::new(topology("1h"), wall_clock());
    let t0 = 1_704_557_940_000i64; // a minute boundary
    d.pipe_line(&format!(
        "@tmi-sent-ts={t0} :a!a@a.tmi.twitch.tv PRIVMSG #c :x"
    ));
    d.pipe_line(&format!(
        "@tmi-sent-ts={} :a!a@a.tmi.twitch.tv PRIVMSG #c :x",
        t0 + 670_000
    ));
    // 670 s later the first minute is past its end, grace (5 s) and allowed lateness (10 minutes):
    // this record is late.
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

/// The wall clock the driver starts at: now, so the logs (all in the past) are within
/// `max_future_skew`.
fn wall_clock() -> i64 {
    SystemClock.now_ms()
}

/// Issue 13, point 2: one real-looking line stamped in the year 2100 inside a long real log goes to
/// the dead-letter topic, and event time ignores it: every minute equals a brute-force count of the
/// log without that line. Before the fix the watermark jumped to 2100 and the later minutes were lost.
#[test]
fn a_line_stamped_in_the_year_2100_is_a_dead_letter_and_moves_no_window() {
    let lines = admiralbulldog();
    let at = lines.len() / 3;
    let poisoned = set_tag(&lines[at], "tmi-sent-ts", "4102444800000");
    let mut input = lines.clone();
    input.insert(at, poisoned.clone());
    let now = wall_clock();
    let mut d = TestDriver::new(topology("1h"), now);
    for line in &input {
        d.pipe_line(line);
    }
    assert!(
        d.watermark_ms() < now,
        "event time stays in the log's past: {}",
        d.watermark_ms()
    );
    d.finish();
    assert!(d.late().is_empty(), "{} late records", d.late().len());
    let dead = d.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].value, poisoned.as_bytes(), "the DLQ keeps the line");
    assert_eq!(dead[0].offset, at as i64);
    assert!(
        dead[0].reason.contains("2100-01-01") && dead[0].reason.contains("max_future_skew"),
        "{}",
        dead[0].reason
    );
    assert_eq!(minutes(&d.output("minutes")), brute_force_minutes(&lines));
}

/// Issue 13, point 3, in memory: the input stops for 2 minutes of wall time (an outage between ingest
/// and the broker) and then delivers its backlog. The idle timeout (30 s) closes the open minutes on
/// time; the backlog lands within the allowed lateness, so each such minute gets a corrected final,
/// and the state kept for it survives a crash. The latest revision of every minute equals a
/// brute-force count; a record older than the allowed lateness goes to the late topic instead.
#[test]
fn a_backlog_after_a_two_minute_outage_corrects_the_closed_minutes() {
    let lines = admiralbulldog();
    let cut = lines.len() / 2;
    let mut d = TestDriver::new(topology("30s"), wall_clock());
    for line in &lines[..cut] {
        d.pipe_line(line);
    }
    let closed_before = d.output("minutes").len();
    // Two minutes without input: the partition turns idle and event time follows the wall clock.
    for _ in 0..120 {
        d.advance_wall_clock(1_000);
    }
    let closed = d.output("minutes");
    assert!(
        closed.len() > closed_before,
        "the idle timeout closed the minute at the cut"
    );
    d.commit();
    d.crash_and_restore().unwrap();
    // The backlog, with its original times, in commits of 1,000 records.
    for chunk in lines[cut..].chunks(1_000) {
        for line in chunk {
            d.pipe_line(line);
        }
        d.commit();
    }
    // A record an hour older than the watermark is past the allowed lateness (10 minutes).
    let ancient = set_tag(
        &lines[cut],
        "tmi-sent-ts",
        &(d.watermark_ms() - 3_600_000).to_string(),
    );
    d.pipe_line(&ancient);
    d.finish();
    let results = d.output("minutes");
    assert!(
        results.iter().any(|v| v["revision"].as_u64() > Some(0)),
        "some minute was corrected"
    );
    assert_eq!(latest_minutes(&results), brute_force_minutes(&lines));
    assert_eq!(d.late().len(), 1, "only the ancient record is late");
    assert_eq!(d.late()[0].value, ancient.as_bytes());
    assert!(d.dead_letters().is_empty());
}

//! Leaderboards and rising channels (issue 15, outputs 3 and 4) through the shipped
//! `topologies/leaderboards.toml` in memory: generated stream sessions (36 channels, 26 days, three
//! week boundaries, ties, unknown followers and chat, updates, rows out of order within the grace and
//! three late ones) give exactly the records of a brute force over the same rows, across a crash and
//! restore; a query mid-stream shows the open day as the brute force over the rows so far.

mod common;
use common::boards::{
    boards_by_key, close, compare_boards, compare_rising, counted, generated, leaderboards, rising,
    rising_by_key, DAY, HOUR,
};

use std::collections::BTreeSet;
use std::path::PathBuf;

use chatpulse::time::clock::{Clock, SystemClock};
use chatpulse::topology::driver::TestDriver;
use chatpulse::topology::spec::ValueFormat;
use chatpulse::topology::Topology;
use serde_json::Value;

/// The shipped file, reading the sessions as JSON (it reads Avro, as `stream_sessions` writes them).
fn topology() -> Topology {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies/leaderboards.toml");
    let mut t = Topology::load(&path).unwrap();
    assert_eq!(t.sources[0].format, ValueFormat::Avro);
    t.sources[0].format = ValueFormat::Json;
    t
}

#[test]
fn leaderboards_and_rising_equal_a_brute_force_across_a_crash() {
    let rows = generated();
    // The data is what the test claims.
    let channels: BTreeSet<&str> = rows
        .iter()
        .map(|r| r["channel"].as_str().unwrap())
        .collect();
    assert!(channels.len() >= 30, "{} channels", channels.len());
    let periods = counted(&rows);
    let weeks = periods.keys().filter(|(k, _)| k == "week").count();
    assert!(weeks >= 4, "{weeks} weeks");
    let out_of_order = rows
        .windows(2)
        .filter(|w| w[1]["end"].as_i64() < w[0]["end"].as_i64())
        .count();
    assert!(out_of_order > 20, "{out_of_order} rows out of order");
    let unknown = |field: &str| rows.iter().filter(|r| r[field].is_null()).count();
    assert!(unknown("followers_gained") > 50 && unknown("messages") > 50);
    assert!(rows.iter().any(|r| r["duration_s"] == 0.0));
    assert!(rows.iter().any(|r| r["final"] == false));
    let expected = leaderboards(&rows, 25);
    let ties = expected
        .values()
        .flat_map(|b| {
            b["entries"]
                .as_array()
                .unwrap()
                .windows(2)
                .map(|w| w[0]["value"] == w[1]["value"])
                .collect::<Vec<_>>()
        })
        .filter(|t| *t)
        .count();
    assert!(ties > 50, "{ties} ties");
    let expected_rising = rising(&rows, 10, 50.0, 10.0);
    assert!(
        expected_rising.len() > 40,
        "{} rising lists",
        expected_rising.len()
    );

    // The rows through the engine: commit a third in, pipe another third, crash before the next
    // commit, and resume from the committed offset (the rows after it are piped again, and what
    // they produced is produced again: at least once).
    let mut d = TestDriver::new(topology(), SystemClock.now_ms());
    let third = rows.len() / 3;
    for (i, r) in rows[..2 * third].iter().enumerate() {
        d.pipe(r.to_string().as_bytes(), None);
        if i + 1 == third {
            d.commit();
        }
    }
    let _ = d.query("leaderboards", "hours_watched");
    d.crash_and_restore().unwrap();
    for r in &rows[third..] {
        d.pipe(r.to_string().as_bytes(), None);
    }
    d.finish();
    assert!(d.dead_letters().is_empty(), "{:?}", d.dead_letters());
    // Three late sessions, each reported by both processors (once more when replayed).
    let late: BTreeSet<(String, i64, i64)> = d
        .late()
        .iter()
        .map(|l| (l.late.processor.clone(), l.late.offset, l.late.ts_ms))
        .collect();
    assert_eq!(late.len(), 6, "{late:?}");

    let got = boards_by_key(&d.output("boards"));
    compare_boards(&got, &expected);
    assert_eq!(got.len(), 6 * periods.len());
    compare_rising(
        &rising_by_key(&d.output("rising-channels")),
        &expected_rising,
    );
}

#[test]
fn a_query_mid_stream_shows_the_open_day_as_the_brute_force_of_the_rows_so_far() {
    let rows = generated();
    // Up to noon of day 10: the day before has closed, the day is open.
    let noon = common::boards::FIRST_DAY + 10 * DAY + 12 * HOUR;
    let n = rows
        .iter()
        .position(|r| r["end"].as_i64().unwrap() > noon)
        .unwrap();
    let mut d = TestDriver::new(topology(), SystemClock.now_ms());
    for r in &rows[..n] {
        d.pipe(r.to_string().as_bytes(), None);
    }
    let so_far = leaderboards(&rows[..n], 25);
    for board in common::boards::BOARDS {
        let q = d.query("leaderboards", board).unwrap();
        let day = &q["periods"][0];
        assert_eq!(day["period"], "day");
        let start = day["period_start"].as_i64().unwrap();
        assert_eq!(start, common::boards::FIRST_DAY + 10 * DAY);
        let mut want = so_far[&(board.to_owned(), "day".to_owned(), start)].clone();
        want["final"] = Value::Bool(false);
        assert!(close(day, &want), "{board}\n got {day}\nwant {want}");
        assert_eq!(q["periods"][1]["period"], "week");
    }
    assert_eq!(d.query("leaderboards", "nope"), None);
}

//! Leaderboards and rising channels (issue 15, outputs 3 and 4) through the shipped
//! `topologies/leaderboards.toml` in memory: generated stream sessions (36 channels, 26 days, four
//! week boundaries, ties, unknown followers and chat, updates, rows out of order within the grace and
//! three late ones) give exactly the records of a brute force over the same rows, across a crash and
//! restore; a query mid-stream shows the open day as the brute force over the rows so far.

mod common;
use common::boards::{counted, generated, leaderboards, rising, DAY, HOUR};

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chatpulse::time::clock::{Clock, SystemClock};
use chatpulse::topology::driver::TestDriver;
use chatpulse::topology::Topology;
use serde_json::Value;

fn topology() -> Topology {
    Topology::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies/leaderboards.toml"))
        .unwrap()
}

/// Equal as JSON, numbers within a relative 1e-9 (sums of floats).
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

/// The board records by `(board, period, start)`; a record sent twice (replayed after the crash)
/// must be the same both times.
pub fn boards_by_key(records: &[Value]) -> BTreeMap<(String, String, i64), Value> {
    let mut out = BTreeMap::new();
    for r in records {
        let key = (
            r["board"].as_str().unwrap().to_owned(),
            r["period"].as_str().unwrap().to_owned(),
            r["period_start"].as_i64().unwrap(),
        );
        if let Some(before) = out.insert(key.clone(), r.clone()) {
            assert_eq!(&before, r, "{key:?} sent twice, differently");
        }
    }
    out
}

/// The rising records by `(metric, period, start)`, each `(rank, channel, value, baseline)`.
fn rising_by_key(
    records: &[Value],
) -> BTreeMap<(String, String, i64), Vec<(u64, String, f64, f64)>> {
    let mut out: BTreeMap<_, BTreeSet<(u64, String, u64, u64)>> = BTreeMap::new();
    for r in records {
        let key = (
            r["metric"].as_str().unwrap().to_owned(),
            r["period"].as_str().unwrap().to_owned(),
            r["period_start"].as_i64().unwrap(),
        );
        let (value, baseline) = (
            r["value"].as_f64().unwrap(),
            r["baseline"].as_f64().unwrap(),
        );
        let growth = r["growth"].as_f64().unwrap();
        assert!((growth - (value / baseline - 1.0)).abs() < 1e-12, "{r}");
        let channel = r["channel"].as_str().unwrap();
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("{channel} ")) && reason.contains("× its previous"),
            "{reason}"
        );
        out.entry(key).or_default().insert((
            r["rank"].as_u64().unwrap(),
            channel.to_owned(),
            value.to_bits(),
            baseline.to_bits(),
        ));
    }
    out.into_iter()
        .map(|(k, v)| {
            let list = v
                .into_iter()
                .map(|(rank, c, v, b)| (rank, c, f64::from_bits(v), f64::from_bits(b)))
                .collect();
            (k, list)
        })
        .collect()
}

fn compare_boards(
    got: &BTreeMap<(String, String, i64), Value>,
    expected: &BTreeMap<(String, String, i64), Value>,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same boards and periods"
    );
    for (key, want) in expected {
        assert!(
            close(&got[key], want),
            "{key:?}\n got {}\nwant {want}",
            got[key]
        );
    }
}

fn compare_rising(
    got: &BTreeMap<(String, String, i64), Vec<(u64, String, f64, f64)>>,
    expected: &BTreeMap<(String, String, i64), Vec<(String, f64, f64)>>,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (key, want) in expected {
        let have = &got[key];
        assert_eq!(have.len(), want.len(), "{key:?}: {have:?} vs {want:?}");
        for (i, ((rank, c, v, b), (wc, wv, wb))) in have.iter().zip(want).enumerate() {
            assert_eq!(
                (*rank, c),
                (i as u64 + 1, wc),
                "{key:?}: {have:?} vs {want:?}"
            );
            assert!(
                (v - wv).abs() <= 1e-9 * wv.abs().max(1.0)
                    && (b - wb).abs() <= 1e-9 * wb.abs().max(1.0),
                "{key:?}: {have:?} vs {want:?}"
            );
        }
    }
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

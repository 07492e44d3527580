//! `chatpulse process --topology topologies/leaderboards.toml --input sessions=FILE.jsonl` as a user
//! runs it: generated stream sessions (see `tests/common/boards.rs`) as JSON lines give
//! `twitch.leaderboards.jsonl` and `twitch.rising.jsonl` equal to the brute force over the same rows,
//! the late sessions in the late file, and every record fits the Avro schema its sink registers.

use chatpulse::avro::encode::encode_datum;
use chatpulse::avro::schemas::AvroSchema;
use serde_json::Value;

use crate::boards::{
    boards_by_key, compare_boards, compare_rising, generated, leaderboards, rising, rising_by_key,
};
use crate::cli::chatpulse;
use crate::harness::repo_file;

fn read(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn process_writes_leaderboards_and_rising_channels_equal_to_a_brute_force() {
    let rows = generated();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sessions.jsonl");
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let out = dir.path().join("out");
    let output = chatpulse()
        .args(["process", "--topology"])
        .arg(repo_file("topologies/leaderboards.toml"))
        .arg("--input")
        .arg(format!("sessions={}", input.display()))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("processed {} records", rows.len())),
        "{stderr}"
    );

    let boards = read(&out.join("twitch.leaderboards.jsonl"));
    let got = boards_by_key(&boards);
    assert_eq!(got.len(), boards.len(), "each board and period once");
    compare_boards(&got, &leaderboards(&rows, 25));
    let risers = read(&out.join("twitch.rising.jsonl"));
    compare_rising(&rising_by_key(&risers), &rising(&rows, 10, 50.0, 10.0));
    // The three late sessions, each refused by both processors.
    let late = read(&out.join("chatpulse-leaderboards-late.jsonl"));
    assert_eq!(late.len(), 6, "{late:?}");
    assert!(!out.join("chatpulse-leaderboards-dlq.jsonl").exists());

    for (name, records) in [("leaderboard", &boards), ("rising", &risers)] {
        let schema = AvroSchema::builtin(name).unwrap();
        for r in records.iter() {
            encode_datum(r, &schema).unwrap_or_else(|e| panic!("{e}: {r}"));
        }
    }
}

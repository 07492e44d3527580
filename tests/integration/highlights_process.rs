//! `chatpulse process` of the shipped `topologies/highlights.toml` on real chat (the four labelled
//! sets' `normalized.jsonl.gz`, oldest first), then `chatpulse highlights score` of its output
//! against `data/labels/highlights.csv` with the naive rule beside it: the acceptance command of
//! issue 19, with volume and spacing checked by a brute force over the written file.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cli::chatpulse;
use crate::harness::{data_dir, repo_file};

const SETS: [&str; 4] = [
    "dev_overrustle_nightblue3_2017",
    "dev_irc_untagged_overwatch_2019",
    "dev_irc_untagged_admiralbulldog_2019",
    "dev_vodjson_northernlion_2021",
];

#[test]
fn process_writes_bounded_spaced_highlights_and_the_scorer_reads_them() {
    let out = tempfile::tempdir().unwrap();
    let inputs: Vec<_> = SETS
        .iter()
        .map(|s| data_dir().join(s).join("normalized.jsonl.gz"))
        .collect();
    let status = chatpulse()
        .args(["process", "--topology"])
        .arg(repo_file("topologies/highlights.toml"))
        .arg("--input")
        .args(&inputs)
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let file = out.path().join("twitch.highlights.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!records.is_empty());
    for r in &records {
        assert!(
            r["channel"].is_string() && r["moment"].is_i64() && r["score"].is_f64(),
            "{r}"
        );
    }
    // Brute force: per channel and hour at most 20 hour records, every pair 120 s apart.
    let hour: Vec<(&str, i64)> = records
        .iter()
        .filter(|r| r["phase"] == "hour")
        .map(|r| {
            (
                r["channel"].as_str().unwrap(),
                r["moment"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut per_hour: BTreeMap<(&str, i64), usize> = BTreeMap::new();
    for &(c, m) in &hour {
        *per_hour.entry((c, m.div_euclid(3_600_000))).or_default() += 1;
    }
    assert!(per_hour.values().all(|&n| n <= 20), "{per_hour:?}");
    for (i, a) in hour.iter().enumerate() {
        for b in &hour[i + 1..] {
            assert!(a.0 != b.0 || (a.1 - b.1).abs() >= 120_000, "{a:?} {b:?}");
        }
    }
    let scored = chatpulse()
        .args(["highlights", "score", "--labels"])
        .arg(repo_file("data/labels/highlights.csv"))
        .arg("--predictions")
        .arg(&file)
        .arg("--naive")
        .args(&inputs)
        .output()
        .unwrap();
    assert!(scored.status.success());
    let stdout = String::from_utf8(scored.stdout).unwrap();
    println!("{stdout}");
    assert!(
        stdout.contains("predicted  P@1 0.500  P@5 0.233  P@10 0.133  recall 0.681"),
        "{stdout}"
    );
    assert!(
        stdout.contains("naive      P@1 0.500  P@5 0.200  P@10 0.117  recall 0.639"),
        "{stdout}"
    );
}

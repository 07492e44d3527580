//! The command line as a user runs it: `chatpulse parse` on the bundled log, `topology check` on a
//! good and a broken file, and `chatpulse process` over a real log, whose JSON-lines output must
//! equal a brute-force count of the same log.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::{ChatEvent, EventKind};
use serde_json::Value;

use crate::harness::{data_dir, repo_file};
use crate::minutes::brute_force_minutes;

/// The `chatpulse` binary, logging warnings only.
pub(crate) fn chatpulse() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chatpulse"));
    c.env("CHATPULSE_LOG", "warn");
    c
}

#[test]
fn parse_prints_one_event_per_line_and_a_summary() {
    let out = chatpulse()
        .args(["parse"])
        .arg(repo_file("data/sample/nymn-2024-01-06.irc.txt"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 800);
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["channel"], "nymn");
    }
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("message: 798") && stderr.contains("timeout: 2"),
        "{stderr}"
    );
    assert!(stderr.contains("errors: 0"), "{stderr}");
}

#[test]
fn topology_check_accepts_the_shipped_file_and_lists_every_problem_of_a_broken_one() {
    let ok = chatpulse()
        .args(["topology", "check"])
        .arg(repo_file("topologies/engagement-basic.toml"))
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout)
        .contains("changelog chatpulse-engagement-basic-engagement-minute-changelog"));

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    let text = std::fs::read_to_string(repo_file("topologies/engagement-basic.toml"))
        .unwrap()
        .replace("source = \"chat\"", "source = \"missing\"")
        .replace("size = \"1m\"", "size = \"a minute\"");
    std::fs::write(&broken, text).unwrap();
    let bad = chatpulse()
        .args(["topology", "check"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
    assert!(
        stderr.contains("\"missing\"") && stderr.contains("\"a minute\""),
        "{stderr}"
    );
}

#[test]
fn topology_kinds_lists_every_kind_with_its_options_and_defaults() {
    let out = chatpulse().args(["topology", "kinds"]).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for kind in chatpulse::processor::registry::names() {
        assert!(
            stdout.contains(&format!("\n{kind}: ")) || stdout.starts_with(&format!("{kind}: ")),
            "{kind}: {stdout}"
        );
    }
    let columns = |l: &str| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    assert!(
        stdout
            .lines()
            .any(|l| columns(l) == "spike.k_on number 2.0"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| columns(l) == "dedup_ids count 100000"),
        "{stdout}"
    );

    let one = chatpulse()
        .args(["topology", "kinds", "spikes"])
        .output()
        .unwrap();
    let one = String::from_utf8(one.stdout).unwrap();
    assert!(
        one.starts_with("spikes: ") && one.contains("grace") && !one.contains("dedup_ids"),
        "{one}"
    );
    let unknown = chatpulse()
        .args(["topology", "kinds", "nope"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("use one of chat_count, chat_events"),
        "{stderr}"
    );
}

#[test]
fn process_writes_per_minute_results_equal_to_a_brute_force_count() {
    let log = data_dir().join("dev_vodjson_northernlion_2021/1087079172.json");
    let out_dir = tempfile::tempdir().unwrap();
    let status = chatpulse()
        .args(["process", "--topology"])
        .arg(repo_file("topologies/engagement-basic.toml"))
        .arg("--input")
        .arg(&log)
        .arg("--out")
        .arg(out_dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(out_dir.path().join("twitch.engagement.basic.minute.jsonl"))
        .unwrap();
    let mut got: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        got.insert(
            v["window_start"].as_i64().unwrap(),
            (
                v["messages"].as_u64().unwrap(),
                v["unique_chatters"].as_u64().unwrap(),
            ),
        );
    }
    let reader = std::io::BufReader::new(std::fs::File::open(&log).unwrap());
    let mut expected: BTreeMap<i64, (u64, BTreeSet<String>)> = BTreeMap::new();
    for line in import(Format::VodJson, ImportOptions::default(), reader).filter_map(Result::ok) {
        let e = ChatEvent::parse(&line.line).unwrap();
        if let EventKind::Message(m) = &e.kind {
            let slot = expected
                .entry(e.ts_ms.unwrap().div_euclid(60_000) * 60_000)
                .or_default();
            slot.0 += 1;
            slot.1.insert(m.user.login.to_owned());
        }
    }
    let expected: BTreeMap<i64, (u64, u64)> = expected
        .into_iter()
        .map(|(k, (n, u))| (k, (n, u.len() as u64)))
        .collect();
    assert_eq!(
        expected.values().map(|v| v.0).sum::<u64>(),
        3_069,
        "the VOD's 3,069 messages"
    );
    assert_eq!(got, expected);
}

#[test]
fn process_feeds_each_named_input_to_its_source_and_joins_viewers() {
    // `--input chat=<VOD replay> --input streams=<rows>`: the chat (real, northernlion) through its
    // importer, the rows as JSON lines. The rows are DERIVED: one snapshot per minute from minute
    // 20 of the replay, viewers = 5_000 + minute.
    let log = data_dir().join("dev_vodjson_northernlion_2021/1087079172.json");
    let dir = tempfile::tempdir().unwrap();
    let first = 1_626_314_364_000i64; // 2021-07-15T01:59:24Z, the replay's first comment
    let rows: Vec<(i64, i64)> = (20..60)
        .map(|m| ((first / 60_000 + m) * 60_000 + 1_000, 5_000 + m))
        .collect();
    let rows_file = dir.path().join("streams.jsonl");
    let text: String = rows
        .iter()
        .map(|(ts, v)| format!("{{\"channel\":\"northernlion\",\"viewers\":{v},\"ts\":{ts}}}\n"))
        .collect();
    std::fs::write(&rows_file, text).unwrap();
    // `process` of the replay and `streams`, into `out`: its stderr.
    let process = |streams: &std::path::Path, out: &std::path::Path| {
        let output = chatpulse()
            .args(["process", "--topology"])
            .arg(repo_file("topologies/audience.toml"))
            .arg("--input")
            .arg(format!("chat={}", log.display()))
            .arg("--input")
            .arg(format!("streams={}", streams.display()))
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        stderr
    };
    let out_dir = dir.path().join("out");
    process(&rows_file, &out_dir);
    let text = std::fs::read_to_string(out_dir.join("twitch.audience.minute.jsonl")).unwrap();
    let minutes: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(minutes.len() > 40, "{} minutes", minutes.len());
    for m in &minutes {
        let end = m["window_end"].as_i64().unwrap();
        let expected = rows.iter().rfind(|(ts, _)| *ts < end).map(|(_, v)| *v);
        assert_eq!(m["viewers"].as_i64(), expected, "{m}");
    }
    assert!(minutes.iter().any(|m| m["viewers"].is_null()));
    assert!(minutes.iter().any(|m| m["viewers"].is_i64()));

    // The same rows as a recorded snapshot CSV (ISO-8601 times, columns in another order, empty
    // optional columns, and one bad row that is skipped) give the same minutes.
    let csv_file = dir.path().join("streams.csv");
    let mut csv = String::from("channel,viewers,ts,followers,game,title,started_at,language\n");
    csv.push_str("northernlion,not-a-number,1626314364000,,,,,\n");
    for (ts, v) in &rows {
        let iso = chatpulse::time::civil::format_timestamp_ms(*ts);
        csv.push_str(&format!("northernlion,{v},{iso},,,,,\n"));
    }
    std::fs::write(&csv_file, csv).unwrap();
    let csv_out = dir.path().join("out-csv");
    let stderr = process(&csv_file, &csv_out);
    assert!(
        stderr.contains("(1 unreadable log records skipped)"),
        "{stderr}"
    );
    let again = std::fs::read_to_string(csv_out.join("twitch.audience.minute.jsonl")).unwrap();
    assert_eq!(again, text);
}

#[test]
fn process_sends_unreadable_irc_lines_to_the_dead_letter_file_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("chat.irc");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(
        b"@tmi-sent-ts=1700000000000 :a!a@a.tmi.twitch.tv PRIVMSG #c :hello\r\n\r\n",
    );
    bytes.extend_from_slice(
        b"@tmi-sent-ts=1700000001000 :b!b@b.tmi.twitch.tv PRIVMSG #c :bad \xff\n",
    );
    bytes.extend_from_slice(b"@tags-without-a-command\n");
    bytes.extend_from_slice(b"@tmi-sent-ts=1700000002000 :c!c@c.tmi.twitch.tv PRIVMSG #c :bye");
    std::fs::write(&log, &bytes).unwrap();
    let out_dir = dir.path().join("out");
    let status = chatpulse()
        .args(["process", "--format", "irc", "--topology"])
        .arg(repo_file("topologies/engagement-basic.toml"))
        .arg("--input")
        .arg(&log)
        .arg("--out")
        .arg(&out_dir)
        .status()
        .unwrap();
    assert!(status.success());
    let read = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(out_dir.join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let dead = read("chatpulse-engagement-basic-dlq.jsonl");
    let reasons: Vec<&str> = dead.iter().map(|d| d["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0], "value is not UTF-8 text");
    assert!(
        reasons[1].starts_with("unparseable IRC line"),
        "{}",
        reasons[1]
    );
    assert_eq!(dead[0]["offset"], 1);
    let minutes = read("twitch.engagement.basic.minute.jsonl");
    assert_eq!(minutes.len(), 1);
    assert_eq!(minutes[0]["messages"], 2, "both readable messages count");
}

/// Issue 13, point 2, as a user meets it: `chatpulse process` over a long real log with one line
/// stamped in the year 2100. The line is in the dead-letter file with its reason, nothing is late,
/// and every minute equals a brute-force count of the log without it.
#[test]
fn process_sends_a_line_from_the_year_2100_to_the_dead_letters_and_keeps_every_minute() {
    let path = data_dir().join("dev_irc_untagged_admiralbulldog_2019/chat_admiralbulldog_4_30.log");
    let opts = ImportOptions {
        channel: None,
        utc_offset_s: -7 * 3600,
    };
    let lines: Vec<String> = import(
        Format::IrcLogged,
        opts,
        std::io::BufReader::new(std::fs::File::open(path).unwrap()),
    )
    .filter_map(Result::ok)
    .map(|l| l.line)
    .collect();
    let at = lines.len() / 2;
    let (tags, rest) = lines[at].split_once(' ').unwrap();
    let tags: Vec<String> = tags
        .split(';')
        .map(|t| match t.split_once('=') {
            Some((k, _)) if k.trim_start_matches('@') == "tmi-sent-ts" => {
                format!("{k}=4102444800000")
            }
            _ => t.to_owned(),
        })
        .collect();
    let poisoned = format!("{} {rest}", tags.join(";"));
    assert_ne!(poisoned, lines[at]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("poisoned.irc");
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i == at {
            text.push_str(&poisoned);
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&log, text).unwrap();
    let out_dir = dir.path().join("out");
    let out = chatpulse()
        .args(["process", "--topology"])
        .arg(repo_file("topologies/engagement-basic.toml"))
        .arg("--input")
        .arg(&log)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(" 0 late, 1 dead letters"), "{stderr}");
    let dead =
        std::fs::read_to_string(out_dir.join("chatpulse-engagement-basic-dlq.jsonl")).unwrap();
    let dead: Vec<Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["value"], poisoned.as_str());
    let reason = dead[0]["reason"].as_str().unwrap();
    assert!(reason.contains("max_future_skew"), "{reason}");
    let results =
        std::fs::read_to_string(out_dir.join("twitch.engagement.basic.minute.jsonl")).unwrap();
    let mut got = BTreeMap::new();
    for line in results.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let key = (
            v["channel"].as_str().unwrap().to_owned(),
            v["window_start"].as_i64().unwrap(),
        );
        let value = (
            v["messages"].as_u64().unwrap(),
            v["unique_chatters"].as_u64().unwrap(),
        );
        assert!(got.insert(key, value).is_none(), "one result per minute");
    }
    let expected = brute_force_minutes(&lines);
    assert_eq!(expected.len(), 196, "the log's active minutes");
    assert_eq!(got, expected);
}

//! A gold topic archived: `subscriptions.toml` runs on tansu over the bundled real chat (49 minutes
//! of #northernlion with 21 subscription notices, 8 of #nymn), its `twitch.subscriptions.trend` is
//! Avro through the in-repo Schema Registry (HTTP), and `chatpulse archive --schema sub_trend`
//! writes it to Parquet. README's DuckDB query over the files (`tests/support/sub_trend_query.py`)
//! gives the subscriptions per channel and UTC day of a brute-force count of the input's notices,
//! and the files carry the schema's field docs.

use std::collections::BTreeMap;
use std::process::Command;

use chatpulse::chat::ChatEvent;
use serde_json::Value;

use crate::analytics_avro::{outputs_of, shipped_on};
use crate::archive::{
    end_offsets, python, read_all, spawn_archive, terminate, wait_for_commits, PARTITIONS,
};
use crate::dashboard::sample_lines;
use crate::engine::{read_topic, start_with_registry};
use crate::engine_support::{end_markers, offline_outputs, produce};
use crate::harness::{create_topic, repo_file, unique};
use crate::scale_out::{Instance, KeptDir};
use crate::support::schema_registry::SchemaRegistryServer;

/// `(channel, UTC day)` to subscriptions (subs, resubs and gifted subs): counted from the notices.
fn brute_force(lines: &[String]) -> BTreeMap<(String, String), i64> {
    let mut m = BTreeMap::new();
    for l in lines {
        let Ok(e) = ChatEvent::parse(l) else { continue };
        if matches!(e.kind_name(), "sub" | "resub" | "subgift") {
            let days = e.ts_ms.unwrap().div_euclid(86_400_000);
            let (y, mo, d) = chatpulse::time::civil::civil_from_days(days);
            *m.entry((e.channel.to_owned(), format!("{y:04}-{mo:02}-{d:02}")))
                .or_insert(0) += 1;
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_sub_trend_read_by_duckdb_equals_a_brute_force_count() {
    let registry = SchemaRegistryServer::start();
    let lines = sample_lines();
    let markers = end_markers(&lines, PARTITIONS);
    let input = unique("gold-chat");
    create_topic(&input, PARTITIONS).await;
    produce(&input, &lines, &markers).await;
    let topology = shipped_on("subscriptions", "gold-subs", &input);
    let trend = topology
        .sinks
        .iter()
        .find(|s| s.schema.as_deref() == Some("sub_trend"))
        .unwrap()
        .topic
        .clone();
    let n = outputs_of(&offline_outputs(&topology, &lines, &markers), &trend).len();
    let state = tempfile::tempdir().unwrap();
    let (control, handle) = start_with_registry(topology, state.path(), Some(registry.url()));
    assert_eq!(
        read_topic(&trend, n, std::time::Duration::from_secs(180)).len(),
        n
    );
    control.stop();
    handle.join().unwrap();
    let written = read_all(&trend, n);

    let kept = KeptDir(std::env::temp_dir().join(unique("gold-archive")));
    std::fs::create_dir_all(&kept.0).unwrap();
    let root = kept.0.join("archive").display().to_string();
    let log = kept.0.join("archive.log");
    let group = unique("gold-archive");
    let url = registry.url();
    let archive = Instance(spawn_archive(
        &root,
        &trend,
        &group,
        &log,
        &[
            "--schema",
            "sub_trend",
            "--schema-registry",
            &url,
            "--max-open",
            "500ms",
        ],
    ));
    wait_for_commits(&group, &trend, &end_offsets(&written), "gold", &log).await;
    terminate(archive);

    let out = Command::new(python())
        .arg(repo_file("tests/support/sub_trend_query.py"))
        .args([&root, &trend])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (docs, rows) = rows.split_last().unwrap();
    let got: BTreeMap<(String, String), i64> = rows
        .iter()
        .filter(|r| r["subs"].as_i64() > Some(0))
        .map(|r| {
            (
                (
                    r["channel"].as_str().unwrap().to_owned(),
                    r["day"].as_str().unwrap().to_owned(),
                ),
                r["subs"].as_i64().unwrap(),
            )
        })
        .collect();
    let want = brute_force(&lines);
    assert!(want.values().sum::<i64>() >= 21, "{want:?}");
    assert_eq!(got, want, "DuckDB over the archive against the notices");
    assert_eq!(
        docs["docs"]["total"], "subs + resubs + gifted_subs.",
        "the schema's doc is the column's"
    );
    kept.remove();
}

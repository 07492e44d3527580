//! `chatpulse summary` posting to the in-repo webhook receiver as Slack and Discord: one message per
//! UTC day, retried through a 500, each with the day's idempotency key and the documented shapes
//! (Slack: a header and one mrkdwn section per channel, at most 50 blocks; Discord: one embed,
//! at most 25 fields, 6,000 characters), and the day's CSV and JSON files written.

use serde_json::json;

use crate::cli::chatpulse;
use crate::support::webhook_receiver::{Reply, WebhookReceiver};

/// Saturday 2024-01-06 00:00 UTC.
const D: i64 = 1_704_499_200_000;
const H: i64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_posts_each_day_to_slack_and_discord_and_writes_csv_and_json() {
    let rx = WebhookReceiver::start().await;
    rx.script("/slack", [Reply::Status(500)]);
    let dir = tempfile::tempdir().unwrap();
    let mut sessions = String::new();
    for (i, channel) in ["nymn", "forsen", "xqc"].iter().enumerate() {
        for day in 0..2 {
            let start = D + day * 24 * H + (i as i64 + 1) * H;
            sessions.push_str(&format!(
                "{}\n",
                json!({"channel": channel, "start": start,
                "end": start + H, "duration_s": 3600.0, "avg_viewers": 100.0 * (i + 1) as f64,
                "peak_viewers": 150 * (i + 1), "hours_watched": 100.0 * (i + 1) as f64,
                "followers_gained": 10, "messages": 500, "final": true})
            ));
        }
    }
    let file = dir.path().join("sessions.jsonl");
    std::fs::write(&file, sessions).unwrap();
    let out = dir.path().join("out");
    let status = chatpulse()
        .arg("summary")
        .arg("--sessions")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .args([
            "--slack-url",
            &rx.url("/slack"),
            "--discord-url",
            &rx.url("/discord"),
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    for day in ["2024-01-06", "2024-01-07"] {
        let csv = std::fs::read_to_string(out.join(format!("{day}.csv"))).unwrap();
        assert_eq!(csv.lines().count(), 4, "{csv}");
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("{day}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(json.as_array().unwrap().len(), 3);
    }
    let slack = rx.at("/slack");
    assert_eq!(slack.len(), 3, "the first retried after its 500");
    assert_eq!(
        slack[0].header("Idempotency-Key"),
        slack[1].header("Idempotency-Key")
    );
    let taken: Vec<_> = slack.iter().filter(|r| r.taken()).collect();
    assert_eq!(
        taken[0].header("Idempotency-Key"),
        Some("chatpulse-summary-2024-01-06")
    );
    let body = taken[0].json();
    let blocks = body["blocks"].as_array().unwrap();
    assert!(body["text"].as_str().unwrap().contains("3 channels"));
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(blocks.len() <= 50);
    assert_eq!(blocks.len(), 4);
    // Busiest first: xqc watched most.
    assert!(blocks[1]["text"]["text"]
        .as_str()
        .unwrap()
        .starts_with("*xqc*"));
    for b in &blocks[1..] {
        assert_eq!(b["type"], "section");
        assert_eq!(b["text"]["type"], "mrkdwn");
        assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 3_000);
    }
    let discord = rx.at("/discord");
    assert_eq!(discord.len(), 2);
    let e = &discord[1].json()["embeds"][0];
    assert!(e["title"].as_str().unwrap().contains("2024-01-07"));
    let fields = e["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 3);
    assert!(fields.len() <= 25);
    assert_eq!(fields[0]["name"], "xqc");
    assert!(
        fields[0]["value"]
            .as_str()
            .unwrap()
            .contains("300 hours watched"),
        "{}",
        fields[0]
    );
    let total: usize = fields
        .iter()
        .map(|f| f["name"].as_str().unwrap().len() + f["value"].as_str().unwrap().len())
        .sum();
    assert!(total <= 6_000);
}

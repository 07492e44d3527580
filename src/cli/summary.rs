//! `chatpulse summary`: the daily summary export. Reads result records as JSON lines (what
//! `process` writes, or what `tail` prints, whose `value` it takes), sums them per channel and UTC
//! day, writes `<day>.csv` and `<day>.json` per day into a directory, and posts each day as one
//! Slack or Discord message.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::notify::post_json;
use super::webhook_args::ChatWebhooks;
use crate::notify::retry::Backoff;
use crate::summary::day::DailySummaries;
use crate::summary::{export, message};
use crate::time::civil::parse_timestamp_ms;

/// Arguments of `chatpulse summary`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stream sessions (`twitch.streams.sessions`), JSON lines (repeatable).
    #[arg(long)]
    sessions: Vec<PathBuf>,
    /// Chat spikes (`twitch.spikes`), JSON lines (repeatable).
    #[arg(long)]
    spikes: Vec<PathBuf>,
    /// Ad-slot recommendations (`twitch.ad_slots` or `twitch.audience.ad_slots`), JSON lines.
    #[arg(long)]
    ad_slots: Vec<PathBuf>,
    /// Subscriptions (`twitch.subscriptions`), JSON lines (repeatable).
    #[arg(long)]
    subscriptions: Vec<PathBuf>,
    /// Only this UTC day (`YYYY-MM-DD`); every day in the input by default.
    #[arg(long)]
    day: Option<String>,
    /// The directory for `<day>.csv` and `<day>.json` (created if needed).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    hooks: ChatWebhooks,
}

/// Feeds every record of `files` to `add`; a `tail` line gives its `value`.
fn read(files: &[PathBuf], mut add: impl FnMut(&Value) -> Result<(), String>) -> Result<usize> {
    let mut n = 0;
    for file in files {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {}", file.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not JSON", file.display(), i + 1))?;
            let record = match (v.get("value"), v.get("offset")) {
                (Some(value), Some(_)) => value,
                _ => &v,
            };
            add(record).map_err(|e| anyhow::anyhow!("{}:{}: {e}", file.display(), i + 1))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Runs `chatpulse summary`.
pub fn run(args: Args) -> Result<ExitCode> {
    let only_day = match &args.day {
        Some(d) => match parse_timestamp_ms(&format!("{d}T00:00:00Z"), 0) {
            Some(ms) => Some(ms.div_euclid(86_400_000)),
            None => bail!("--day {d:?} is not a day: write it as YYYY-MM-DD"),
        },
        None => None,
    };
    let mut days = DailySummaries::default();
    let mut records = read(&args.sessions, |v| days.session(v))?;
    records += read(&args.spikes, |v| days.spike(v))?;
    records += read(&args.ad_slots, |v| days.ad_slot(v))?;
    records += read(&args.subscriptions, |v| days.subscription(v))?;
    let summaries = days.summaries(only_day);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut by_day: std::collections::BTreeMap<&str, Vec<_>> = Default::default();
    for s in &summaries {
        by_day.entry(s.day.as_str()).or_default().push(s.clone());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let backoff = Backoff::default();
    for (day, rows) in &by_day {
        for (ext, text) in [
            ("csv", export::to_csv(rows)),
            ("json", export::to_json(rows)),
        ] {
            let path = args.out.join(format!("{day}.{ext}"));
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let posts = [
            (&args.hooks.slack_url, "slack", message::slack(day, rows)),
            (
                &args.hooks.discord_url,
                "discord",
                message::discord(day, rows),
            ),
        ];
        for (url, name, body) in posts {
            let Some(url) = url else { continue };
            let key = format!("chatpulse-summary-{day}");
            let body = serde_json::to_vec(&body).expect("JSON");
            runtime
                .block_on(post_json(&client, url, body, &key, &backoff))
                .map_err(|e| anyhow::anyhow!("posting the summary of {day} to {name}: {e}"))?;
        }
    }
    eprintln!(
        "{records} records, {} channel-days in {} day(s) written to {}",
        summaries.len(),
        by_day.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

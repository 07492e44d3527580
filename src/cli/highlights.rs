//! `chatpulse highlights score`: scores highlight predictions (JSON lines, such as
//! `twitch.highlights.jsonl` of `process`) against a labelled set (`channel,start,end` CSV), and
//! optionally the naive top-count rule over chat logs beside them. The scoring is the library's.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::Value;

use super::input::{self, ImportArgs};
use crate::chat::import::import;
use crate::chat::{ChatEvent, EventKind};
use crate::detect::highlight_eval::{
    naive_predictions, oracle_precision, parse_labels, prediction_of, score, Prediction, Scores,
};
use crate::time::duration::DurationMs;

/// Arguments of `chatpulse highlights`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Precision at K and recall of predictions against labels (hit: a - 10 s <= start <= b,
    /// predictions ranked by score and kept 120 s apart per channel).
    Score(ScoreArgs),
}

/// Arguments of `chatpulse highlights score`.
#[derive(Debug, clap::Args)]
struct ScoreArgs {
    /// The labelled moments: CSV `channel,start,end` in epoch ms (`data/labels/highlights.csv`).
    #[arg(long)]
    labels: PathBuf,
    /// Predictions as JSON lines with `channel`, a start field and `score` (repeatable).
    #[arg(long)]
    predictions: Vec<PathBuf>,
    /// The field holding a prediction's start.
    #[arg(long, default_value = "moment")]
    field: String,
    /// Only records of this `phase` (`session` or `hour`); `session` by default when records have a
    /// phase, else every record.
    #[arg(long)]
    phase: Option<String>,
    /// The K of precision at K, comma separated; recall is at the largest.
    #[arg(long, value_delimiter = ',', default_value = "1,5,10")]
    k: Vec<usize>,
    /// Chat logs to score the naive rule on as well (top 5 s message counts shifted back by --lag).
    #[arg(long, num_args = 1..)]
    naive: Vec<String>,
    /// The naive rule's fixed lag.
    #[arg(long, default_value = "15s")]
    lag: DurationMs,
    #[command(flatten)]
    import: ImportArgs,
}

/// Runs `chatpulse highlights`.
pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Score(a) => score_command(a),
    }
}

fn read_predictions(a: &ScoreArgs) -> Result<Vec<Prediction>> {
    let mut records = Vec::new();
    for file in &a.predictions {
        let reader = input::open_reader(&file.to_string_lossy())?;
        for (i, line) in reader.lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {}", file.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not JSON", file.display(), i + 1))?;
            records.push(v);
        }
    }
    let phased = records
        .iter()
        .any(|r| r.get("phase").is_some() || r.pointer("/value/phase").is_some());
    let phase = a
        .phase
        .clone()
        .or_else(|| phased.then(|| "session".to_owned()));
    Ok(records
        .iter()
        .filter_map(|r| prediction_of(r, &a.field, phase.as_deref()))
        .collect())
}

fn print(name: &str, s: &Scores) {
    let p: Vec<String> = s
        .precision
        .iter()
        .map(|(k, p)| format!("P@{k} {p:.3}"))
        .collect();
    println!("{name:10} {}  recall {:.3}", p.join("  "), s.recall);
}

fn score_command(a: ScoreArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.labels)
        .with_context(|| format!("cannot read {}", a.labels.display()))?;
    let labels = parse_labels(&text).with_context(|| a.labels.display().to_string())?;
    let ks: Vec<usize> = a.k.iter().copied().filter(|&k| k > 0).collect();
    let predictions = read_predictions(&a)?;
    let ours = score(&labels, &predictions, &ks);
    println!(
        "{} labels over {} channels; {} predictions",
        ours.labels,
        ours.channels,
        predictions.len()
    );
    print("predicted", &ours);
    if !a.naive.is_empty() {
        let options = a.import.options()?;
        let mut messages = Vec::new();
        for path in &a.naive {
            let input = input::open(path, a.import.format)?;
            for r in import(input.format, options.clone(), input.reader).flatten() {
                if let Ok(e) = ChatEvent::parse(&r.line) {
                    if let (EventKind::Message(_), Some(ts)) = (&e.kind, e.ts_ms) {
                        messages.push((e.channel.to_owned(), ts));
                    }
                }
            }
        }
        let naive = score(
            &labels,
            &naive_predictions(&messages, 5_000, a.lag.ms()),
            &ks,
        );
        print("naive", &naive);
    }
    let best: Vec<String> = ks
        .iter()
        .map(|&k| format!("P@{k} {:.3}", oracle_precision(&labels, k)))
        .collect();
    println!("{:10} {}", "best", best.join("  "));
    Ok(ExitCode::SUCCESS)
}

//! Parsing throughput on real chat: IRC framing, typed events, and the `tmi` crate on the same lines.
//!
//! Inputs:
//! - `nymn`: the 800 tagged lines of `data/sample/nymn-2024-01-06.irc.txt` (real Twitch IRC, every tag).
//! - `csv13`: the first 50,000 lines the CSV importer makes of
//!   `twitch-chat/dev_csv_multichannel_2025/chat_logs13.csv.gz` (folder `../shared/data/twitch-chat`
//!   next to the repo, or `$CHATPULSE_DATA_DIR`); skipped with a note when missing.
//!
//! Run: `CARGO_TARGET_DIR=/tmp/pure-target cargo bench --no-default-features --bench parse`.
//! Every benchmark reports lines per second (`Throughput::Elements`).

use std::hint::black_box;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Duration;

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::irc::IrcMessage;
use chatpulse::chat::ChatEvent;
use criterion::{Criterion, Throughput};

const CSV_LINES: usize = 50_000;

fn nymn_lines() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/sample/nymn-2024-01-06.irc.txt"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn csv_lines() -> Option<Vec<String>> {
    let dir = std::env::var_os("CHATPULSE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/data/twitch-chat"
            ))
        });
    let path = dir.join("dev_csv_multichannel_2025/chat_logs13.csv.gz");
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("note: skipping the csv13 group: {}: {e}", path.display());
            return None;
        }
    };
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    let lines: Vec<String> = import(Format::Csv, ImportOptions::default(), reader)
        .filter_map(Result::ok)
        .map(|l| l.line)
        .take(CSV_LINES)
        .collect();
    Some(lines)
}

fn bench_input(c: &mut Criterion, name: &str, lines: &[String]) {
    let ours = lines.iter().filter(|l| ChatEvent::parse(l).is_ok()).count();
    let theirs = lines
        .iter()
        .filter(|l| tmi::IrcMessageRef::parse(l).is_some_and(|m| tmi::Message::try_from(m).is_ok()))
        .count();
    let bytes: usize = lines.iter().map(String::len).sum();
    eprintln!(
        "input {name}: {} lines, {:.0} bytes/line; typed Ok: chatpulse {ours}, tmi {theirs}",
        lines.len(),
        bytes as f64 / lines.len().max(1) as f64
    );

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("chatpulse/irc_frame", |b| {
        b.iter(|| {
            for line in lines {
                let _ = black_box(IrcMessage::parse(black_box(line)));
            }
        })
    });
    group.bench_function("chatpulse/typed_event", |b| {
        b.iter(|| {
            for line in lines {
                let _ = black_box(ChatEvent::parse(black_box(line)));
            }
        })
    });
    group.bench_function("tmi/irc_frame", |b| {
        b.iter(|| {
            for line in lines {
                let _ = black_box(tmi::IrcMessageRef::parse(black_box(line)));
            }
        })
    });
    group.bench_function("tmi/typed", |b| {
        b.iter(|| {
            for line in lines {
                if let Some(msg) = tmi::IrcMessageRef::parse(black_box(line)) {
                    let _ = black_box(tmi::Message::try_from(msg));
                }
            }
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_input(&mut c, "nymn", &nymn_lines());
    if let Some(lines) = csv_lines() {
        bench_input(&mut c, "csv13", &lines);
    }
    c.final_summary();
}

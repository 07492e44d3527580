//! `chatpulse parse`: turns chat logs of any supported format into one JSON event per line on stdout,
//! with a summary (events per kind, gifted subs counted once, duplicates, errors) on stderr.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use crate::chat::import::{import, Format, ImportOptions};
use crate::chat::summary::ParseSummary;
use crate::chat::ChatEvent;
use crate::time::civil::parse_offset_s;
use anyhow::{Context, Result};

use super::input;

/// Arguments of `chatpulse parse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input format; detected from the file name and first line when omitted.
    #[arg(long, value_parser = |s: &str| s.parse::<Format>())]
    format: Option<Format>,

    /// Channel for formats that do not name it (OverRustle logs).
    #[arg(long)]
    channel: Option<String>,

    /// UTC offset of timestamps without a zone, such as logger local time (`-07:00`).
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    utc_offset: String,

    /// Print only the summary, not the events.
    #[arg(long, short)]
    quiet: bool,

    /// How many errors to print in full before only counting them.
    #[arg(long, default_value_t = 20)]
    max_errors_shown: usize,

    /// Files to read (gzip is detected); `-` reads standard input.
    #[arg(required = true)]
    files: Vec<String>,
}

/// Runs `chatpulse parse`. Exits 0 even when records had errors: they are reported, not fatal.
pub fn run(args: Args) -> Result<ExitCode> {
    let utc_offset_s = parse_offset_s(&args.utc_offset).with_context(|| {
        format!(
            "--utc-offset {:?} is not an offset like -07:00 or +0530",
            args.utc_offset
        )
    })?;
    let options = ImportOptions {
        channel: args.channel.clone(),
        utc_offset_s,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut summary = ParseSummary::new();
    let mut shown = 0usize;
    for path in &args.files {
        let input = input::open(path, args.format)?;
        tracing::info!(file = %input.name, format = %input.format, "parsing");
        for record in import(input.format, options.clone(), input.reader) {
            let (position, error) = match record {
                Err(e) => (e.position, e.error),
                Ok(line) => match ChatEvent::parse(&line.line) {
                    Ok(event) => {
                        summary.event(&event);
                        if !args.quiet {
                            serde_json::to_writer(&mut out, &event)?;
                            out.write_all(b"\n")?;
                        }
                        continue;
                    }
                    Err(e) => (line.position, e),
                },
            };
            summary.error(&error);
            if shown < args.max_errors_shown {
                shown += 1;
                eprintln!("{}:{position}: {error}", input.name);
            }
        }
    }
    out.flush().context("cannot write to stdout")?;
    eprintln!("{summary}");
    Ok(ExitCode::SUCCESS)
}

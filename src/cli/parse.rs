//! `chatpulse parse`: turns chat logs of any supported format into one JSON event per line on stdout,
//! with a summary (events per kind, gifted subs counted once, duplicates, errors) on stderr.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use crate::chat::import::import;
use crate::chat::summary::ParseSummary;
use crate::chat::ChatEvent;
use anyhow::{Context, Result};

use super::input;

/// Arguments of `chatpulse parse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    import: input::ImportArgs,

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
    let options = args.import.options()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut summary = ParseSummary::new();
    let mut shown = 0usize;
    for path in &args.files {
        let input = input::open(path, args.import.format)?;
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

//! `chatpulse process`: runs a topology offline over recorded logs (any importable format) with the
//! same processors and RocksDB state as `run`, writing each sink topic as a JSON-lines file in `--out`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::input;
use crate::chat::import::{import, irc_lines, Format};
use crate::store::rocks::{RocksBackend, RocksOptions};
use crate::topology::offline::{run_offline, RecordSink};
use crate::topology::task::{DeadLetter, LateRecord};
use crate::topology::Topology;

/// Arguments of `chatpulse process`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topology file.
    #[arg(long)]
    topology: PathBuf,
    /// Log files to process, in order (gzip detected; `-` is stdin).
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<String>,
    /// Directory for the results: one `<topic>.jsonl` per sink topic, plus the dead-letter topic.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    import: input::ImportArgs,
    /// RocksDB state directory; a temporary one when omitted.
    #[arg(long, env = "CHATPULSE_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Commit state every this many records.
    #[arg(long, default_value_t = 100_000)]
    commit_every: u64,
}

/// One input file in memory: a raw IRC log, or the IRC lines its importer made.
enum Loaded {
    Raw(Vec<u8>),
    Imported(Vec<String>),
}

/// Writes each topic to `<dir>/<topic>.jsonl`.
pub struct JsonLinesDir {
    dir: PathBuf,
    files: HashMap<String, BufWriter<File>>,
}

impl JsonLinesDir {
    /// Creates `dir` if needed.
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(JsonLinesDir {
            dir: dir.to_owned(),
            files: HashMap::new(),
        })
    }

    fn file(&mut self, topic: &str) -> std::io::Result<&mut BufWriter<File>> {
        if !self.files.contains_key(topic) {
            let f = File::create(self.dir.join(format!("{topic}.jsonl")))?;
            self.files.insert(topic.to_owned(), BufWriter::new(f));
        }
        Ok(self.files.get_mut(topic).expect("just inserted"))
    }

    fn line(&mut self, topic: &str, value: &Value) -> std::io::Result<()> {
        let f = self.file(topic)?;
        serde_json::to_writer(&mut *f, value)?;
        f.write_all(b"\n")
    }

    /// Flushes every file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.files.values_mut().try_for_each(Write::flush)
    }
}

impl RecordSink for JsonLinesDir {
    fn output(
        &mut self,
        topic: &str,
        _key: &str,
        value: &Value,
        _ts_ms: i64,
    ) -> std::io::Result<()> {
        self.line(topic, value)
    }
    fn dead_letter(&mut self, topic: &str, d: &DeadLetter) -> std::io::Result<()> {
        let v = json!({
            "reason": d.reason, "source_topic": d.source_topic, "partition": d.partition,
            "offset": d.offset, "value": String::from_utf8_lossy(&d.value),
        });
        self.line(topic, &v)
    }
    fn late(&mut self, topic: &str, l: &LateRecord) -> std::io::Result<()> {
        let v = json!({
            "processor": l.late.processor, "ts_ms": l.late.ts_ms, "watermark_ms": l.late.watermark_ms,
            "value": String::from_utf8_lossy(&l.value),
        });
        self.line(topic, &v)
    }
}

/// Runs `chatpulse process`.
pub fn run(args: Args) -> Result<ExitCode> {
    let topology = Arc::new(Topology::load(&args.topology)?);
    let options = args.import.options()?;
    let temp;
    let state_dir = match &args.state_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary state dir")?;
            temp.path().to_owned()
        }
    };
    let stores = topology.stores();
    let store_refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let mut backend = RocksBackend::open(&state_dir, &store_refs, &RocksOptions::default())?;
    let mut sink = JsonLinesDir::new(&args.out)?;
    let mut import_errors = 0u64;
    // Raw IRC logs are read whole and their lines borrowed from the buffer (no copy per line; a line
    // that is not UTF-8 goes to the dead-letter file); other formats are converted to IRC lines by
    // their importer, which skips unreadable records.
    let mut inputs: Vec<Loaded> = Vec::new();
    for path in &args.input {
        let mut input = input::open(path, args.import.format)?;
        tracing::info!(file = %input.name, format = %input.format, "reading");
        if input.format == Format::Irc {
            let mut log = Vec::new();
            input
                .reader
                .read_to_end(&mut log)
                .with_context(|| format!("cannot read {path}"))?;
            inputs.push(Loaded::Raw(log));
            continue;
        }
        let mut lines = Vec::new();
        for record in import(input.format, options.clone(), input.reader) {
            match record {
                Ok(line) => lines.push(line.line),
                Err(e) => {
                    import_errors += 1;
                    tracing::debug!(file = %input.name, error = %e, "record skipped");
                }
            }
        }
        inputs.push(Loaded::Imported(lines));
    }
    let mut lines: Vec<&[u8]> = Vec::new();
    for loaded in &inputs {
        match loaded {
            Loaded::Raw(log) => lines.extend(irc_lines(log)),
            Loaded::Imported(imported) => lines.extend(imported.iter().map(String::as_bytes)),
        }
    }
    tracing::info!(records = lines.len(), import_errors, "processing");
    let report = run_offline(
        topology.clone(),
        lines,
        &mut backend,
        &mut sink,
        args.commit_every,
    )?;
    sink.flush().context("cannot write results")?;
    eprintln!(
        "processed {} records ({} unreadable log records skipped): {} windows closed, {} late, {} dead letters",
        report.records, import_errors, report.windows_closed, report.late, report.dead_letters
    );
    for (topic, n) in &report.outputs {
        eprintln!(
            "  {n} results -> {}",
            args.out.join(format!("{topic}.jsonl")).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

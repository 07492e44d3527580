//! `chatpulse process`: runs a topology offline over recorded logs (any importable format) with the
//! same processors and RocksDB state as `run`, writing each sink topic as a JSON-lines file in `--out`.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::archive_input::ArchiveInputArgs;
use super::input::{self, LogFormat};
use crate::archive::backfill::Backfill;
use crate::chat::import::line_reader::LineReader;
use crate::chat::import::{import, Format};
use crate::processor::Output;
use crate::store::rocks::{RocksBackend, RocksOptions};
use crate::table::snapshot_log::read_snapshots;
use crate::topology::offline::{run_offline_from, run_offline_sources, RecordSource};
use crate::topology::route::Destination;
use crate::topology::spec::ValueFormat;
use crate::topology::task::{DeadLetter, LateRecord};
use crate::topology::Topology;

/// Arguments of `chatpulse process`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topology file.
    #[arg(long)]
    topology: PathBuf,
    /// Log files to process, in order (gzip detected; `-` is stdin). `SOURCE=FILE` feeds the named
    /// `[[source]]` (`--input chat=chat.log --input streams=snapshots.jsonl`); a bare file feeds
    /// the first source (with `--format snapshots`, the first source that is not chat). Several
    /// sources are merged by event time. A file for a source that is not chat holds the topic's
    /// JSON values, one per line, or a recorded snapshot log (CSV
    /// `ts,channel,viewers,followers,game,title,started_at,language`).
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<String>,
    /// Directory for the results: one `<topic>.jsonl` per sink topic, plus the dead-letter and late
    /// topics.
    #[arg(long)]
    out: PathBuf,
    /// Input format: a chat log format for the chat sources (irc, irc-logged, overrustle, vod-json,
    /// csv, jsonl; detected from the file name and first line when omitted), or `snapshots`: every
    /// file not named for a chat source is a recorded snapshot log (CSV
    /// `ts,channel,viewers,followers,game,title,started_at,language`, or JSON lines with those
    /// keys; a row means the channel was live at `ts`), read as `monitor`'s values; or `archive`:
    /// each chat source's input is an `archive --root` (a directory or `s3://bucket/prefix`) whose
    /// raw chat is read in event-time order (a backfill: see --from, --to and --archive-topic).
    #[arg(long)]
    format: Option<LogFormat>,
    #[command(flatten)]
    chat: input::ChatLogArgs,
    #[command(flatten)]
    archive: ArchiveInputArgs,
    /// RocksDB state directory; a temporary one when omitted.
    #[arg(long, env = "CHATPULSE_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Commit state every this many records.
    #[arg(long, default_value_t = 100_000)]
    commit_every: u64,
}

/// The input files in order, as one stream of records.
#[derive(Default)]
struct Inputs {
    sources: Vec<Box<dyn RecordSource>>,
    at: usize,
}

impl RecordSource for Inputs {
    fn advance(&mut self) -> std::io::Result<bool> {
        while let Some(source) = self.sources.get_mut(self.at) {
            if source.advance()? {
                return Ok(true);
            }
            self.at += 1;
        }
        Ok(false)
    }

    fn record(&self) -> &[u8] {
        self.sources.get(self.at).map_or(&[], |s| s.record())
    }
}

impl<R: Read> RecordSource for LineReader<R> {
    fn advance(&mut self) -> std::io::Result<bool> {
        LineReader::advance(self)
    }

    fn record(&self) -> &[u8] {
        self.line()
    }
}

/// Records converted from a log in another format: the IRC lines an importer makes of a chat log,
/// or a snapshot CSV's rows as JSON values. Unreadable records are counted in `skipped` and left
/// out.
struct Converted {
    name: String,
    records: Box<dyn Iterator<Item = Result<String, String>>>,
    current: String,
    skipped: Rc<Cell<u64>>,
}

impl RecordSource for Converted {
    fn advance(&mut self) -> std::io::Result<bool> {
        for record in self.records.by_ref() {
            match record {
                Ok(value) => {
                    self.current = value;
                    return Ok(true);
                }
                Err(e) => {
                    self.skipped.set(self.skipped.get() + 1);
                    tracing::debug!(file = %self.name, error = %e, "record skipped");
                }
            }
        }
        Ok(false)
    }

    fn record(&self) -> &[u8] {
        self.current.as_bytes()
    }
}

/// The lines of the raw-chat archive, as their payloads were received.
struct Archived {
    lines: Backfill,
    current: Vec<u8>,
}

impl RecordSource for Archived {
    fn advance(&mut self) -> std::io::Result<bool> {
        match self.lines.next() {
            Some(Ok(line)) => {
                self.current = line.payload;
                Ok(true)
            }
            Some(Err(e)) => Err(std::io::Error::other(e)),
            None => Ok(false),
        }
    }

    fn record(&self) -> &[u8] {
        &self.current
    }
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

impl Destination for JsonLinesDir {
    type Error = std::io::Error;

    fn output(&mut self, topic: &str, output: Output) -> std::io::Result<()> {
        self.line(topic, &output.value)
    }
    fn dead_letter(&mut self, topic: &str, d: DeadLetter) -> std::io::Result<()> {
        let v = json!({
            "reason": d.reason, "source_topic": d.source_topic, "partition": d.partition,
            "offset": d.offset, "value": String::from_utf8_lossy(&d.value),
        });
        self.line(topic, &v)
    }
    fn late(&mut self, topic: &str, l: LateRecord) -> std::io::Result<()> {
        let v = json!({
            "processor": l.late.processor, "ts_ms": l.late.ts_ms, "watermark_ms": l.late.watermark_ms,
            "offset": l.late.offset, "value": String::from_utf8_lossy(&l.value),
        });
        self.line(topic, &v)
    }
}

/// The source an `--input` feeds and its file: `SOURCE=FILE` when SOURCE names a `[[source]]`,
/// else the first source, or with `--format snapshots` the first source that is not chat.
fn named_input<'a>(topology: &Topology, arg: &'a str, snapshots: bool) -> Result<(usize, &'a str)> {
    let named = arg.split_once('=').and_then(|(name, path)| {
        let at = topology.sources.iter().position(|s| s.name == name)?;
        Some((at, path))
    });
    if let Some(named) = named {
        return Ok(named);
    }
    if !snapshots {
        return Ok((0, arg));
    }
    let at = topology
        .sources
        .iter()
        .position(|s| s.format != ValueFormat::Irc)
        .context(
            "--format snapshots: the topology has no source for snapshots (every [[source]] reads chat); add one with format = \"json\" reading twitch.streams, as topologies/audience.toml does",
        )?;
    Ok((at, arg))
}

/// A recorded snapshot log's rows as `monitor`'s JSON values.
fn snapshot_rows(input: input::Input, skipped: &Rc<Cell<u64>>) -> Box<dyn RecordSource> {
    let rows =
        read_snapshots(input.reader).map(|r| r.map(|v| v.to_string()).map_err(|e| e.to_string()));
    Box::new(Converted {
        name: input.name,
        records: Box::new(rows),
        current: String::new(),
        skipped: skipped.clone(),
    })
}

/// Runs `chatpulse process`.
pub fn run(args: Args) -> Result<ExitCode> {
    let topology = Arc::new(Topology::load(&args.topology)?);
    let options = args.chat.options()?;
    let snapshots = args.format == Some(LogFormat::Snapshots);
    let chat_format = match args.format {
        Some(LogFormat::Chat(f)) => Some(f),
        _ => None,
    };
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
    let mut results = JsonLinesDir::new(&args.out)?;
    // Raw IRC logs are read through one buffer and their lines lent to the task (no copy per line;
    // a line that is not UTF-8 goes to the dead-letter file); other formats are converted to IRC
    // lines by their importer, which skips unreadable records.
    let skipped = Rc::new(Cell::new(0u64));
    let mut inputs: Vec<Inputs> = (0..topology.sources.len())
        .map(|_| Inputs::default())
        .collect();
    for arg in &args.input {
        let (source, path) = named_input(&topology, arg, snapshots)?;
        let spec = &topology.sources[source];
        let record_source: Box<dyn RecordSource> = if args.format == Some(LogFormat::Archive)
            && spec.format == ValueFormat::Irc
        {
            tracing::info!(root = %path, source = %spec.name, topic = %args.archive.archive_topic, "queued (archive)");
            Box::new(Archived {
                lines: args.archive.open(path)?,
                current: Vec::new(),
            })
        } else if snapshots && spec.format != ValueFormat::Irc {
            let input = input::open(path, Some(Format::Irc))?;
            tracing::info!(file = %input.name, source = %spec.name, "queued (snapshot log)");
            snapshot_rows(input, &skipped)
        } else if spec.format != ValueFormat::Irc {
            let mut input = input::open(path, Some(Format::Irc))?;
            let json = input
                .reader
                .fill_buf()?
                .iter()
                .find(|c| !c.is_ascii_whitespace())
                .is_none_or(|c| *c == b'{');
            if json {
                // JSON values, one per line, as the topic holds them.
                tracing::info!(file = %input.name, source = %spec.name, "queued (JSON lines)");
                Box::new(LineReader::new(input.reader))
            } else {
                // A recorded snapshot log (CSV): each row as monitor's JSON value.
                tracing::info!(file = %input.name, source = %spec.name, "queued (snapshot CSV)");
                snapshot_rows(input, &skipped)
            }
        } else {
            let input = input::open(path, chat_format)?;
            tracing::info!(file = %input.name, format = %input.format, source = %spec.name, "queued");
            if input.format == Format::Irc {
                Box::new(LineReader::new(input.reader))
            } else {
                let lines = import(input.format, options.clone(), input.reader)
                    .map(|r| r.map(|l| l.line).map_err(|e| e.to_string()));
                Box::new(Converted {
                    name: input.name,
                    records: Box::new(lines),
                    current: String::new(),
                    skipped: skipped.clone(),
                })
            }
        };
        inputs[source].sources.push(record_source);
    }
    let fed = inputs.iter().filter(|i| !i.sources.is_empty()).count();
    tracing::info!(files = args.input.len(), sources = fed, "processing");
    let report = if fed == 1 && !inputs[0].sources.is_empty() {
        // One source (the usual case): one input is read directly, without the chain's extra call
        // per record.
        let first = &mut inputs[0];
        let source: &mut dyn RecordSource = match first.sources.as_mut_slice() {
            [only] => only.as_mut(),
            _ => first,
        };
        run_offline_from(
            topology.clone(),
            source,
            &mut backend,
            &mut results,
            args.commit_every,
        )?
    } else {
        let fed: Vec<(usize, &mut dyn RecordSource)> = inputs
            .iter_mut()
            .enumerate()
            .filter(|(_, i)| !i.sources.is_empty())
            .map(|(s, i)| (s, i as &mut dyn RecordSource))
            .collect();
        run_offline_sources(
            topology.clone(),
            fed,
            &mut backend,
            &mut results,
            args.commit_every,
        )?
    };
    let import_errors = skipped.get();
    results.flush().context("cannot write results")?;
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

//! Opening inputs for commands that read logs: files (gzip detected by its magic bytes) or `-` for
//! standard input, with the format named or detected.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::str::FromStr;

use crate::chat::import::{Format, ImportOptions};
use crate::time::civil::parse_offset_s;
use anyhow::{bail, Context, Result};

/// What a command that reads recorded logs reads: a chat log format, recorded stream snapshots
/// (`snapshots`: the CSV or JSON lines of `crate::table::snapshot_log`), or the raw-chat archive
/// (`archive`: an `archive --root`, a directory or `s3://bucket/prefix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Chat(Format),
    Snapshots,
    Archive,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "snapshots" => return Ok(LogFormat::Snapshots),
            "archive" => return Ok(LogFormat::Archive),
            _ => {}
        }
        s.parse::<Format>()
            .map(LogFormat::Chat)
            .map_err(|e| format!("{e}, snapshots or archive"))
    }
}

/// How to read logs: the flags every command that imports logs shares.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// Input format; detected from the file name and first line when omitted.
    #[arg(long, value_parser = |s: &str| s.parse::<Format>())]
    pub format: Option<Format>,
    #[command(flatten)]
    pub log: ChatLogArgs,
}

/// What chat logs may not say themselves: the flags of [`ImportArgs`] other than the format.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatLogArgs {
    /// Channel for formats that do not name it (OverRustle logs).
    #[arg(long)]
    pub channel: Option<String>,
    /// UTC offset of timestamps without a zone, such as logger local time (`-07:00`).
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    pub utc_offset: String,
}

impl ImportArgs {
    /// The importer options these flags describe.
    pub fn options(&self) -> Result<ImportOptions> {
        self.log.options()
    }
}

impl ChatLogArgs {
    /// The importer options these flags describe.
    pub fn options(&self) -> Result<ImportOptions> {
        let utc_offset_s = parse_offset_s(&self.utc_offset).with_context(|| {
            format!(
                "--utc-offset {:?} is not an offset like -07:00 or +0530",
                self.utc_offset
            )
        })?;
        Ok(ImportOptions {
            channel: self.channel.clone(),
            utc_offset_s,
        })
    }
}

/// An opened input and the format to read it with.
pub struct Input {
    pub name: String,
    pub format: Format,
    pub reader: Box<dyn BufRead>,
}

/// Opens `path` (`-` is stdin); `format` None detects it from the name and first line.
pub fn open(path: &str, format: Option<Format>) -> Result<Input> {
    let mut reader = open_reader(path)?;
    let format = match format {
        Some(f) => f,
        None => {
            let head = reader.fill_buf()?;
            let head = String::from_utf8_lossy(&head[..head.len().min(4096)]);
            let first = head.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let name = Path::new(path)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(path);
            match Format::detect(name, first) {
                Some(f) => f,
                None => bail!("cannot tell the format of {path}: pass --format (irc, irc-logged, overrustle, vod-json, csv, jsonl)"),
            }
        }
    };
    Ok(Input {
        name: path.to_owned(),
        format,
        reader,
    })
}

/// Opens `path` (`-` is stdin) for reading, decompressing gzip (told by its magic bytes).
pub fn open_reader(path: &str) -> Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            File::open(path)
                .with_context(|| format!("cannot open {path}: check the path and permissions"))?,
        )
    };
    let mut reader = BufReader::with_capacity(1 << 16, raw);
    let gz = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn BufRead> = if gz {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    };
    Ok(reader)
}

//! Importers: recorded chat logs in their many shapes turned into canonical tagged IRC lines that keep
//! the original time. Parse the lines with [`crate::chat::ChatEvent::parse`]; replay them to Kafka as they
//! are. One file per format; [`Format`] names them and [`import`] runs one over a reader.

mod csv;
mod irc_logged;
mod jsonl;
pub mod line_reader;
mod overrustle;
pub mod tagged;
mod vod_json;

use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

use crate::chat::error::{ParseError, ParseErrorKind};

/// A log format chatpulse can import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Raw IRC lines, with or without IRCv3 tags, as Twitch sends them.
    Irc,
    /// Raw IRC lines prefixed by a logger's local time (`2019-04-30_08:56:59 ;;; :nick!...`).
    IrcLogged,
    /// OverRustle logs: `[2017-10-25 09:18:56 UTC] user: message`.
    OverRustle,
    /// Twitch VOD chat JSON (`comments[]` with `content_offset_seconds`).
    VodJson,
    /// CSV with a header naming timestamp, channel, user and message columns.
    Csv,
    /// JSON lines with `ts_ms` or `ts`, `channel`, `user`, `text` and optional `kind`.
    Jsonl,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 6] = [
        Format::Irc,
        Format::IrcLogged,
        Format::OverRustle,
        Format::VodJson,
        Format::Csv,
        Format::Jsonl,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Irc => "irc",
            Format::IrcLogged => "irc-logged",
            Format::OverRustle => "overrustle",
            Format::VodJson => "vod-json",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }

    /// Guesses the format from a file name (without `.gz`) and its first non-empty line.
    pub fn detect(file_name: &str, first_line: &str) -> Option<Format> {
        let name = file_name
            .strip_suffix(".gz")
            .unwrap_or(file_name)
            .to_ascii_lowercase();
        if name.ends_with(".csv") {
            return Some(Format::Csv);
        }
        if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
            return Some(Format::Jsonl);
        }
        let line = first_line.trim_start_matches('\u{feff}').trim_start();
        if name.ends_with(".json") {
            return Some(
                if line.starts_with('{') && line.contains("\"ts") && !line.contains("\"comments\"")
                {
                    Format::Jsonl
                } else {
                    Format::VodJson
                },
            );
        }
        if line.starts_with('@') || line.starts_with(':') || line.starts_with("PING") {
            return Some(Format::Irc);
        }
        if line.starts_with('[') {
            return Some(Format::OverRustle);
        }
        if crate::time::civil::parse_timestamp_ms(line.get(..19).unwrap_or(""), 0).is_some() {
            return Some(Format::IrcLogged);
        }
        if line.starts_with('{') {
            return Some(Format::Jsonl);
        }
        None
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format {s:?}: use one of {}", names.join(", "))
            })
    }
}

/// Settings an importer needs where the log does not say.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The channel of formats that do not name it (OverRustle); also fills a missing channel column.
    pub channel: Option<String>,
    /// The UTC offset, in seconds, of timestamps that carry no zone (logger local time).
    pub utc_offset_s: i32,
}

impl ImportOptions {
    fn channel(&self) -> &str {
        self.channel.as_deref().unwrap_or("unknown")
    }
}

/// One imported record as a tagged IRC line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedLine {
    /// The canonical IRC line.
    pub line: String,
    /// Where it came from: the line number, or the record number for JSON documents (1-based).
    pub position: u64,
}

/// A record that could not be imported, and where it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {position}: {error}")]
pub struct ImportError {
    /// The line or record number (1-based).
    pub position: u64,
    /// What was wrong.
    pub error: ParseError,
}

/// The records of one import, in order; a broken record is an `Err` and the import goes on.
pub type Records<'r> = Box<dyn Iterator<Item = Result<ImportedLine, ImportError>> + 'r>;

/// Imports everything `reader` holds in `format`.
pub fn import<'r, R: BufRead + 'r>(
    format: Format,
    options: ImportOptions,
    reader: R,
) -> Records<'r> {
    match format {
        Format::Irc => Box::new(lines(reader).filter_map(|(position, line)| match line {
            Err(error) => Some(Err(ImportError { position, error })),
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => Some(Ok(ImportedLine { line, position })),
        })),
        Format::IrcLogged => Box::new(irc_logged::IrcLogged::new(options).records(lines(reader))),
        Format::OverRustle => Box::new(overrustle::records(options, lines(reader))),
        Format::Jsonl => Box::new(jsonl::records(options, lines(reader))),
        Format::Csv => csv::records(options, reader),
        Format::VodJson => vod_json::records(reader),
    }
}

/// The lines of a reader, numbered from 1, without line endings; bytes that are not UTF-8 are errors.
fn lines<'r, R: BufRead + 'r>(
    mut reader: R,
) -> impl Iterator<Item = (u64, Result<String, ParseError>)> + 'r {
    let mut position = 0u64;
    let mut buf = Vec::new();
    std::iter::from_fn(move || {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                position += 1;
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                // A copy of exactly the line: `buf` keeps its capacity for the next line, so a
                // line costs one allocation instead of a growing buffer's several.
                let line = String::from_utf8(buf.clone()).map_err(|_| {
                    ParseError::with_detail(ParseErrorKind::NotUtf8, format!("line {position}"))
                });
                Some((position, line))
            }
            Err(e) => {
                position += 1;
                Some((
                    position,
                    Err(ParseError::with_detail(
                        ParseErrorKind::MalformedRecord,
                        e.to_string(),
                    )),
                ))
            }
        }
    })
}

fn malformed(position: u64, detail: impl AsRef<str>) -> ImportError {
    ImportError {
        position,
        error: ParseError::with_detail(ParseErrorKind::MalformedRecord, detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(
            Format::detect("a.log", "@badge-info= :a!a@a PRIVMSG #c :x"),
            Some(Format::Irc)
        );
        assert_eq!(
            Format::detect("a.log", "2019-04-30_08:56:59 ;;; :a!a@a PRIVMSG #c :x"),
            Some(Format::IrcLogged)
        );
        assert_eq!(
            Format::detect("a.txt", "[2017-10-25 01:44:47 UTC] a: b"),
            Some(Format::OverRustle)
        );
        assert_eq!(
            Format::detect("1.json", "{\"video\": {}, \"comments\": []}"),
            Some(Format::VodJson)
        );
        assert_eq!(
            Format::detect("x.csv.gz", "Timestamp,Channel,User,Message"),
            Some(Format::Csv)
        );
        assert_eq!(Format::detect("x.jsonl.gz", "{}"), Some(Format::Jsonl));
        assert_eq!(Format::detect("x.bin", "\u{1}\u{2}"), None);
        assert_eq!("vod-json".parse::<Format>(), Ok(Format::VodJson));
        assert!("nope".parse::<Format>().unwrap_err().contains("irc-logged"));
    }

    #[test]
    fn non_utf8_lines_are_errors_and_the_import_goes_on() {
        let data: &[u8] = b"@a=1 PING :x\n\xff\xfe\n:a!a@a PRIVMSG #c :ok\n";
        let out: Vec<_> = import(Format::Irc, ImportOptions::default(), data).collect();
        assert_eq!(out.len(), 3);
        assert!(out[0].is_ok() && out[2].is_ok());
        assert_eq!(
            out[1].as_ref().unwrap_err().error.kind(),
            ParseErrorKind::NotUtf8
        );
    }
}

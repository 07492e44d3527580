//! CSV chat exports with a header row: a timestamp, channel, user and message column, found by name
//! (`Timestamp,Channel,User,Message` and common variants). Quoted fields may hold commas and newlines.

use std::io::BufRead;

use super::tagged::LineBuilder;
use super::{malformed, ImportError, ImportOptions, ImportedLine, Records};
use crate::time::civil::parse_timestamp_ms;

struct Columns {
    ts: usize,
    channel: Option<usize>,
    user: usize,
    text: usize,
}

fn find(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
}

pub(super) fn records<'r, R: BufRead + 'r>(options: ImportOptions, reader: R) -> Records<'r> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let columns = match rdr.headers() {
        Ok(h) => {
            let cols = (|| {
                Some(Columns {
                    ts: find(h, &["timestamp", "ts", "time", "date"])?,
                    channel: find(h, &["channel", "room"]),
                    user: find(h, &["user", "username", "login", "author", "nick"])?,
                    text: find(h, &["message", "text", "msg", "body"])?,
                })
            })();
            match cols {
                Some(c) => c,
                None => {
                    let err = malformed(
                        1,
                        format!("header {h:?} lacks timestamp, user or message columns"),
                    );
                    return Box::new(std::iter::once(Err(err)));
                }
            }
        }
        Err(e) => return Box::new(std::iter::once(Err(malformed(1, e.to_string())))),
    };
    let mut record = csv::StringRecord::new();
    let mut failed = false;
    Box::new(std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let result = rdr.read_record(&mut record);
        let position = record.position().map_or(0, |p| p.line());
        match result {
            Ok(false) => None,
            Err(e) => {
                let line = e.position().map_or(position, |p| p.line());
                // An I/O error would repeat forever: stop after reporting it.
                failed = matches!(e.kind(), csv::ErrorKind::Io(_));
                Some(Err(malformed(line, e.to_string())))
            }
            Ok(true) => Some(convert(&options, &columns, &record, position)),
        }
    }))
}

fn convert(
    options: &ImportOptions,
    c: &Columns,
    record: &csv::StringRecord,
    position: u64,
) -> Result<ImportedLine, ImportError> {
    let field = |i: usize| record.get(i).unwrap_or("");
    let ts = parse_timestamp_ms(field(c.ts), options.utc_offset_s)
        .ok_or_else(|| malformed(position, format!("bad timestamp {:?}", field(c.ts))))?;
    let channel = c
        .channel
        .map(field)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| options.channel())
        .trim_start_matches('#')
        .to_lowercase();
    let user = field(c.user).trim();
    if user.is_empty() || user.contains(' ') {
        return Err(malformed(position, format!("bad user {user:?}")));
    }
    let login = user.to_lowercase();
    let mut b = LineBuilder::new();
    b.tag_num("tmi-sent-ts", ts);
    if login != user {
        b.tag("display-name", user);
    }
    Ok(ImportedLine {
        line: b.privmsg(&login, &channel, field(c.text)),
        position,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{import, Format, ImportOptions};
    use crate::chat::{ChatEvent, EventKind};

    #[test]
    fn quoted_fields_and_bad_rows() {
        let csv = "Timestamp,Channel,User,Message\n\
                   2025-03-13T09:57:37.902648,kamet0,Hydro,\"a, b\nc\"\n\
                   not-a-time,x,y,z\n\
                   2025-03-13T09:57:38,kamet0,u2,plain\n";
        let out: Vec<_> = import(Format::Csv, ImportOptions::default(), csv.as_bytes()).collect();
        assert_eq!(out.len(), 3);
        let first = out[0].as_ref().unwrap();
        let e = ChatEvent::parse(&first.line).unwrap();
        let EventKind::Message(m) = &e.kind else {
            panic!()
        };
        assert_eq!(
            (e.channel, m.user.login, m.text),
            ("kamet0", "hydro", "a, b c")
        );
        assert_eq!(e.ts_ms, Some(1_741_859_857_902));
        assert!(out[1].is_err());
        assert!(out[2].is_ok());
    }
}

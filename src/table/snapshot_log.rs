//! Recorded stream snapshots, for backfills and tests: a CSV with the header
//! `ts,channel,viewers,followers,game,title,started_at,language` (columns found by name, in any
//! order) or JSON lines with those keys, read as `twitch.streams` values of `monitor`'s shape. A row
//! means the channel was live at `ts`; every column but `ts`, `channel` and `viewers` may be empty.

use std::io::BufRead;

use serde_json::{Map, Value};

use super::row::time_of_text;

/// Why a snapshot record cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snapshot record {record}: {reason}")]
pub struct SnapshotLogError {
    /// The record's number, from 1 (the CSV header is record 0).
    pub record: u64,
    /// What is wrong, and what to write instead.
    pub reason: String,
}

/// The columns of a snapshot record, by name.
const COLUMNS: [&str; 8] = [
    "ts",
    "channel",
    "viewers",
    "followers",
    "game",
    "title",
    "started_at",
    "language",
];

/// Reads a snapshot log, CSV or JSON lines (told apart by the first byte: `{` is JSON).
pub fn read_snapshots<R: BufRead + 'static>(
    mut reader: R,
) -> Box<dyn Iterator<Item = Result<Value, SnapshotLogError>>> {
    let json = reader
        .fill_buf()
        .map(|b| b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{'))
        .unwrap_or(false);
    if json {
        let lines = reader
            .lines()
            .enumerate()
            .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()));
        return Box::new(lines.map(|(i, line)| {
            let record = i as u64 + 1;
            let line = line.map_err(|e| fail(record, format!("unreadable: {e}")))?;
            let v: Map<String, Value> = serde_json::from_str(&line)
                .map_err(|e| fail(record, format!("not a JSON object: {e}")))?;
            let field = |name: &str| match v.get(name) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            let fields: Vec<String> = COLUMNS.iter().map(|c| field(c)).collect();
            snapshot(record, &fields)
        }));
    }
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let headers = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Box::new(std::iter::once(Err(fail(0, format!("no header: {e}"))))),
    };
    let at: Vec<Option<usize>> = COLUMNS
        .iter()
        .map(|c| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(c))
        })
        .collect();
    if at[..3].iter().any(Option::is_none) {
        let reason = format!(
            "the header {:?} lacks ts, channel or viewers: write ts,channel,viewers,followers,game,title,started_at,language",
            headers.iter().collect::<Vec<_>>().join(",")
        );
        return Box::new(std::iter::once(Err(fail(0, reason))));
    }
    Box::new(csv.into_records().enumerate().map(move |(i, rec)| {
        let record = i as u64 + 1;
        let rec = rec.map_err(|e| fail(record, format!("unreadable CSV: {e}")))?;
        let fields: Vec<String> = at
            .iter()
            .map(|a| a.and_then(|a| rec.get(a)).unwrap_or("").trim().to_owned())
            .collect();
        snapshot(record, &fields)
    }))
}

fn fail(record: u64, reason: String) -> SnapshotLogError {
    SnapshotLogError { record, reason }
}

/// A snapshot value from its fields in [`COLUMNS`] order.
fn snapshot(record: u64, f: &[String]) -> Result<Value, SnapshotLogError> {
    let time = |name: &str, text: &str| -> Result<Option<i64>, SnapshotLogError> {
        if text.is_empty() {
            return Ok(None);
        }
        time_of_text(text)
            .map(Some)
            .ok_or_else(|| {
                fail(
                    record,
                    format!("{name} {text:?} is neither epoch milliseconds nor ISO-8601 (2024-01-06T16:19:44Z)"),
                )
            })
    };
    let count = |name: &str, text: &str| -> Result<Option<i64>, SnapshotLogError> {
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| fail(record, format!("{name} {text:?} is not a whole number")))
    };
    let text = |s: &str| (!s.is_empty()).then(|| Value::from(s));
    let ts = time("ts", &f[0])?.ok_or_else(|| fail(record, "ts is empty".into()))?;
    if f[1].is_empty() {
        return Err(fail(record, "channel is empty".into()));
    }
    let viewers =
        count("viewers", &f[2])?.ok_or_else(|| fail(record, "viewers is empty".into()))?;
    let mut m = Map::new();
    m.insert(
        "channel".into(),
        f[1].trim_start_matches('#').to_lowercase().into(),
    );
    m.insert("user_id".into(), Value::Null);
    m.insert("live".into(), true.into());
    m.insert("viewers".into(), viewers.into());
    m.insert("game".into(), text(&f[4]).unwrap_or(Value::Null));
    m.insert("title".into(), text(&f[5]).unwrap_or(Value::Null));
    m.insert(
        "started_at".into(),
        time("started_at", &f[6])?.map_or(Value::Null, Value::from),
    );
    m.insert("language".into(), text(&f[7]).unwrap_or(Value::Null));
    m.insert(
        "followers".into(),
        count("followers", &f[3])?.map_or(Value::Null, Value::from),
    );
    m.insert("ts".into(), ts.into());
    m.insert("event".into(), Value::Null);
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &'static str) -> Vec<Result<Value, SnapshotLogError>> {
        read_snapshots(std::io::Cursor::new(text.as_bytes())).collect()
    }

    #[test]
    fn csv_and_json_lines_give_the_same_snapshots() {
        let csv = read(
            "ts,channel,viewers,followers,game,title,started_at,language\n\
             2024-01-06T16:19:44Z,NymN,4120,,Just Chatting,\"hi, chat\",1704555000000,en\n\
             1704558044000,nymn,4200,1000,,,,\n",
        );
        let json = read(
            "{\"ts\":\"2024-01-06T16:19:44Z\",\"channel\":\"NymN\",\"viewers\":4120,\"game\":\"Just Chatting\",\"title\":\"hi, chat\",\"started_at\":1704555000000,\"language\":\"en\"}\n\
             \n\
             {\"ts\":1704558044000,\"channel\":\"nymn\",\"viewers\":4200,\"followers\":1000}\n",
        );
        assert_eq!(csv, json);
        let first = csv[0].as_ref().unwrap();
        assert_eq!(first["ts"], 1_704_557_984_000i64);
        assert_eq!(first["channel"], "nymn");
        assert_eq!(first["title"], "hi, chat");
        assert!(first["followers"].is_null() && first["live"] == true);
        assert_eq!(csv[1].as_ref().unwrap()["followers"], 1000);
    }

    #[test]
    fn bad_records_say_what_to_write_and_the_rest_are_read() {
        let rows = read("channel,ts,viewers\nnymn,yesterday,1\n,1,1\nnymn,1,-4\nnymn,2,5\n");
        assert!(rows[0].as_ref().unwrap_err().reason.contains("ISO-8601"));
        assert_eq!(rows[1].as_ref().unwrap_err().reason, "channel is empty");
        assert!(rows[2]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("whole number"));
        assert_eq!(rows[3].as_ref().unwrap()["viewers"], 5);
        let bad = read("time,channel\n1,a\n");
        assert!(bad[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("lacks ts, channel or viewers"));
    }
}

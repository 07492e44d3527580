//! Offline inputs of several sources merged by event time, as a broker's consumers would see them
//! if every producer wrote in time order: the next record is always the one with the earliest event
//! time among the sources' next records. On a tie a table's row goes first, so a record joins the
//! version that starts at its own time; then the earlier source.

use super::spec::{SourceSpec, TimestampSource, ValueFormat};

/// Where an offline run reads its records, one at a time: each is lent until the next, so a reader
/// can hand out lines from its own buffer without copying them.
pub trait RecordSource {
    /// Moves to the next record; false at the end of the input.
    fn advance(&mut self) -> std::io::Result<bool>;
    /// The current record's value.
    fn record(&self) -> &[u8];
}

/// The values of an iterator as a [`RecordSource`] (recorded lines in memory, for tests and tools).
pub struct Values<I, V> {
    values: I,
    current: Option<V>,
}

impl<I: Iterator<Item = V>, V> Values<I, V> {
    /// The values `values` yields, in order.
    pub fn new(values: impl IntoIterator<IntoIter = I>) -> Self {
        Values {
            values: values.into_iter(),
            current: None,
        }
    }
}

impl<I: Iterator<Item = V>, V: AsRef<[u8]>> RecordSource for Values<I, V> {
    fn advance(&mut self) -> std::io::Result<bool> {
        self.current = self.values.next();
        Ok(self.current.is_some())
    }

    fn record(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], AsRef::as_ref)
    }
}

/// One source's records and the event time of the one it is on.
struct Head<'a> {
    source: usize,
    records: &'a mut dyn RecordSource,
    /// The current record's event time hint; `None` once the input is exhausted.
    ts: Option<i64>,
    /// The current record was handed out: move on before the next pick.
    taken: bool,
}

/// Several sources' records in event-time order.
pub struct Interleaved<'a> {
    heads: Vec<Head<'a>>,
    specs: Vec<SourceSpec>,
    current: Option<usize>,
}

/// What [`Interleaved::advance`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A record of this source (read it with [`Interleaved::record`]).
    Record(usize),
    /// This source has no more records.
    Finished(usize),
    /// Every source is exhausted.
    End,
}

impl<'a> Interleaved<'a> {
    /// Merges `inputs`: `(source index, its records)` with the topology's `sources`.
    pub fn new(sources: &[SourceSpec], inputs: Vec<(usize, &'a mut dyn RecordSource)>) -> Self {
        Interleaved {
            heads: inputs
                .into_iter()
                .map(|(source, records)| Head {
                    source,
                    records,
                    ts: None,
                    taken: true,
                })
                .collect(),
            specs: sources.to_vec(),
            current: None,
        }
    }

    /// Moves to the next record in event-time order.
    pub fn advance(&mut self) -> std::io::Result<Next> {
        for i in 0..self.heads.len() {
            let head = &mut self.heads[i];
            if head.taken {
                head.taken = false;
                if head.records.advance()? {
                    head.ts = Some(
                        event_time_hint(&self.specs[head.source], head.records.record())
                            .unwrap_or(i64::MIN),
                    );
                } else {
                    let source = head.source;
                    self.heads.remove(i);
                    return Ok(Next::Finished(source));
                }
            }
        }
        let Some(at) = (0..self.heads.len()).min_by_key(|i| {
            let h = &self.heads[*i];
            (h.ts, self.specs[h.source].table.is_none(), h.source)
        }) else {
            return Ok(Next::End);
        };
        self.heads[at].taken = true;
        self.current = Some(at);
        Ok(Next::Record(self.heads[at].source))
    }

    /// The current record's value.
    pub fn record(&self) -> &[u8] {
        self.current
            .and_then(|at| self.heads.get(at))
            .map_or(&[], |h| h.records.record())
    }
}

/// A record's event time as its source reads it, cheaply: the `tmi-sent-ts` tag of an IRC line, or
/// the time field of a JSON value; `None` when it has none (the task decides what to do with it).
pub fn event_time_hint(source: &SourceSpec, value: &[u8]) -> Option<i64> {
    match (source.format, source.timestamp) {
        (ValueFormat::Irc, TimestampSource::TmiSentTs) => tmi_sent_ts(value),
        (ValueFormat::Json, TimestampSource::Field) => {
            crate::table::json_time::json_field_time(value, source.time_field())
        }
        _ => None,
    }
}

/// The `tmi-sent-ts` tag of an IRC line, without parsing the rest: the first tag of that name,
/// read as `i64` (`None` when it is missing or not a number). Called once per chat line when
/// several inputs are merged, so it scans with `memchr` and reads the digits itself.
fn tmi_sent_ts(line: &[u8]) -> Option<i64> {
    const TAG: &[u8] = b"tmi-sent-ts=";
    let tags = line.strip_prefix(b"@")?;
    let tags = &tags[..memchr::memchr(b' ', tags)?];
    let value = match tags.strip_prefix(TAG) {
        Some(v) => v,
        None => &tags[memchr::memmem::find(tags, b";tmi-sent-ts=")? + 1 + TAG.len()..],
    };
    parse_i64(&value[..memchr::memchr(b';', value).unwrap_or(value.len())])
}

/// `text` as `str::parse::<i64>` reads it (an optional sign, then decimal digits, no overflow).
fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?;
        v = if negative {
            v.checked_sub(i64::from(d))?
        } else {
            v.checked_add(i64::from(d))?
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Vec<SourceSpec> {
        let t = crate::topology::Topology::parse(
            r#"
application_id = "t"
[[source]]
name = "chat"
topic = "c"
[[source]]
name = "streams"
topic = "s"
format = "json"
timestamp = "field"
table = {}
[[processor]]
name = "p"
kind = "chat_count"
source = "chat"
sink = "o"
window = { kind = "tumbling", size = "1m" }
[[sink]]
name = "o"
topic = "o"
"#,
        )
        .unwrap();
        t.sources
    }

    /// The reading before it scanned with `memchr`: the reference.
    fn tmi_sent_ts_by_split(line: &[u8]) -> Option<i64> {
        let tags = line.strip_prefix(b"@")?;
        let end = tags.iter().position(|b| *b == b' ')?;
        tags[..end]
            .split(|b| *b == b';')
            .find_map(|t| t.strip_prefix(b"tmi-sent-ts="))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
    }

    #[test]
    fn tmi_sent_ts_reads_what_a_split_of_the_tags_reads() {
        let real = include_str!("../../tests/fixtures/irc_event_fixtures.irc.txt");
        let mut lines: Vec<String> = real.lines().map(str::to_owned).collect();
        assert!(lines.len() > 100, "{}", lines.len());
        for tags in [
            "tmi-sent-ts=1",
            "a=1;tmi-sent-ts=2;b=3",
            "xtmi-sent-ts=5;tmi-sent-ts=6",
            "a=xtmi-sent-ts=5",
            "tmi-sent-ts=",
            "tmi-sent-ts=+7",
            "tmi-sent-ts=-8",
            "tmi-sent-ts=-",
            "tmi-sent-ts=1x",
            "tmi-sent-ts=1;tmi-sent-ts=2",
            "tmi-sent-ts=x;tmi-sent-ts=2",
            "tmi-sent-ts=9223372036854775807",
            "tmi-sent-ts=9223372036854775808",
            "tmi-sent-ts=-9223372036854775808",
            "tmi-sent-ts=-9223372036854775809",
            "a=1",
            "tmi-sent-ts=١٢",
        ] {
            lines.push(format!("@{tags} :a!a@a PRIVMSG #x :hi tmi-sent-ts=3"));
            lines.push(format!("@{tags}"));
        }
        lines.push(":a!a@a PRIVMSG #x :tmi-sent-ts=3".into());
        let mut found = 0;
        for line in &lines {
            let expected = tmi_sent_ts_by_split(line.as_bytes());
            assert_eq!(tmi_sent_ts(line.as_bytes()), expected, "{line}");
            found += usize::from(expected.is_some());
        }
        assert!(found > 100, "{found}");
    }

    #[test]
    fn a_row_s_time_hint_reads_its_time_as_the_table_does() {
        let specs = sources();
        for value in [
            r#"{"ts":1704557984095}"#,
            r#"{"ts":"1704557984095"}"#,
            r#"{"ts":"2024-01-06T16:19:44.095Z"}"#,
        ] {
            assert_eq!(
                event_time_hint(&specs[1], value.as_bytes()),
                Some(1_704_557_984_095),
                "{value}"
            );
        }
    }

    #[test]
    fn records_come_in_event_time_order_and_each_source_says_when_it_ends() {
        let chat = |ts: i64| format!("@tmi-sent-ts={ts} :a!a@a PRIVMSG #x :hi");
        let snap = |ts: i64| format!(r#"{{"channel":"x","viewers":1,"ts":{ts}}}"#);
        let mut a = Values::new([chat(10), chat(30), chat(50)]);
        let mut b = Values::new([snap(0), snap(30), snap(40)]);
        let specs = sources();
        let mut merged = Interleaved::new(&specs, vec![(0, &mut a), (1, &mut b)]);
        let mut seen = Vec::new();
        loop {
            match merged.advance().unwrap() {
                Next::Record(s) => seen.push((s, event_time_hint(&specs[s], merged.record()))),
                Next::Finished(s) => seen.push((s + 100, None)),
                Next::End => break,
            }
        }
        let expected = [
            (1, Some(0)),
            (0, Some(10)),
            (1, Some(30)),
            (0, Some(30)),
            (1, Some(40)),
            (101, None),
            (0, Some(50)),
            (100, None),
        ];
        assert_eq!(seen, expected);
    }
}

//! `leaderboards`: per UTC day and ISO week, each board of [`Board`] (hours watched, average and
//! peak viewers, followers gained, chat messages, engagement) ranked over the stream sessions that
//! began in the period; one final record per board and period when the period closes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::kind::{BuildContext, KindConfig, Reads, WindowRule};
use super::open_periods::OpenPeriods;
use super::options::options;
use super::state::{KeyedTable, StateTables, Table, TableName};
use super::{Emitter, Input, Output, Processor, RowInput};
use crate::audience::boards::board::{Board, PeriodTotals};
use crate::audience::boards::period::{Period, PeriodKind};
use crate::audience::boards::standings::{entries, Entry, Ranking};
use crate::time::duration::DurationMs;

options! {
    /// The options of `leaderboards`.
    pub struct LeaderboardsConfig {
        /// A day or week closes this long after its end. Sessions arrive when they end, and belong
        /// to the period they started in: one ending later than this after its period is late.
        pub grace: DurationMs = DurationMs::mins(60),
        /// Channels per board record.
        pub top: u64 = 25,
    }
}

impl KindConfig for LeaderboardsConfig {
    const NAME: &'static str = "leaderboards";
    const SUMMARY: &'static str =
        "stream-session rows ranked per UTC day and ISO week: hours watched, viewers, followers, chat";
    const WINDOW: WindowRule = WindowRule::Forbidden;
    const READS: Reads = Reads::Rows;

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.top == 0 {
            p.push("options.top = 0: rank at least 1 channel (25 is usual)".to_owned());
        }
        p
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        Box::new(Leaderboards::new(
            ctx.name,
            ctx.sink,
            self.grace.ms(),
            self.top as usize,
        ))
    }
}

/// One board of one period, as a record of the sink (key = board name).
#[derive(Debug, Serialize)]
struct BoardRecord<'a> {
    board: &'a str,
    period: &'a str,
    period_start: i64,
    period_end: i64,
    entries: Vec<Entry>,
    /// True once the period has closed; false for a query's standings of an open period.
    #[serde(rename = "final")]
    is_final: bool,
}

/// A board's last closed period: its start and full ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Previous {
    period_start: i64,
    ranking: Ranking,
}

/// The key of a board of a period kind in [`TableName::BOARD_PREVIOUS`]: `day hours_watched`.
fn previous_key(kind: PeriodKind, board: Board) -> String {
    format!("{} {}", kind.as_str(), board.as_str())
}

/// The `leaderboards` processor of one task.
#[derive(Debug)]
pub struct Leaderboards {
    name: String,
    sink: usize,
    top: usize,
    open: OpenPeriods,
    previous: KeyedTable<String, Previous>,
}

impl Leaderboards {
    /// A processor named `name` writing to sink `sink`: periods close `grace_ms` after their end,
    /// boards list `top` channels.
    pub fn new(name: &str, sink: usize, grace_ms: i64, top: usize) -> Self {
        Leaderboards {
            name: name.to_owned(),
            sink,
            top,
            open: OpenPeriods::new(grace_ms),
            previous: KeyedTable::new(TableName::BOARD_PREVIOUS),
        }
    }

    /// The ranking of the period before `period` on `board`, when it is the last one closed.
    fn before(&self, period: Period, board: Board) -> Option<&Ranking> {
        self.previous
            .get(&previous_key(period.kind, board))
            .filter(|p| p.period_start == period.previous().start_ms)
            .map(|p| &p.ranking)
    }

    fn record(&self, board: Board, period: Period, ranking: &Ranking, is_final: bool) -> Value {
        let record = BoardRecord {
            board: board.as_str(),
            period: period.kind.as_str(),
            period_start: period.start_ms,
            period_end: period.end_ms(),
            entries: entries(ranking, self.before(period, board), self.top),
            is_final,
        };
        serde_json::to_value(&record).expect("board records serialize")
    }

    fn close(&mut self, period: Period, channels: &[(String, PeriodTotals)], out: &mut Emitter) {
        out.windows_closed += 1;
        for board in Board::ALL {
            let ranking = Ranking::of(
                channels
                    .iter()
                    .filter_map(|(c, t)| Some((c.clone(), t.value(board)?))),
            );
            out.outputs.push(Output {
                sink: self.sink,
                key: board.as_str().to_owned(),
                value: self.record(board, period, &ranking, true),
                ts_ms: period.end_ms(),
            });
            self.previous.insert(
                previous_key(period.kind, board),
                Previous {
                    period_start: period.start_ms,
                    ranking,
                },
            );
        }
    }
}

impl Processor for Leaderboards {
    fn process(&mut self, _input: &Input<'_>, _out: &mut Emitter) {}

    fn process_row(&mut self, input: &RowInput<'_>, out: &mut Emitter) {
        self.open.admit(&self.name, input, out);
    }

    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Emitter) {
        for (period, channels) in self.open.advance(watermark_ms) {
            self.close(period, &channels, out);
        }
    }

    fn set_watermark(&mut self, watermark_ms: i64) {
        self.open.set_watermark(watermark_ms);
    }

    fn open_entries(&self) -> usize {
        self.open.len()
    }

    /// Board `key`'s standings in the newest open day and week so far (`final` false), compared
    /// with the last closed ones.
    fn query(&self, key: &str) -> Option<Value> {
        let board = Board::parse(key)?;
        let periods: Vec<Value> = PeriodKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let (period, channels) = self.open.newest(kind)?;
                let ranking = Ranking::of(
                    channels
                        .iter()
                        .filter_map(|(c, t)| Some((c.to_string(), t.value(board)?))),
                );
                Some(self.record(board, period, &ranking, false))
            })
            .collect();
        (!periods.is_empty()).then(|| json!({"board": key, "periods": periods}))
    }

    fn reads_terms(&self) -> bool {
        false
    }

    fn reads_joined(&self) -> bool {
        false
    }
}

impl StateTables for Leaderboards {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        self.open.tables(visit);
        visit(&mut self.previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::state;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    /// Monday 2024-01-01 00:00 UTC.
    const MONDAY: i64 = 1_704_067_200_000;

    /// A final session of `hours` from `start` at `avg` viewers.
    fn session(start: i64, hours: i64, avg: f64, followers: Option<i64>) -> Value {
        json!({"channel": "ignored", "start": start, "end": start + hours * HOUR,
               "duration_s": (hours * 3600) as f64, "avg_viewers": avg, "peak_viewers": avg as i64 + 10,
               "hours_watched": avg * hours as f64, "followers_gained": followers,
               "messages": null, "chatters_per_100_viewers": null, "final": true})
    }

    fn feed(p: &mut Leaderboards, rows: &[(&str, Value)], out: &mut Emitter) {
        for (offset, (channel, row)) in rows.iter().enumerate() {
            let ts_ms = row["end"].as_i64().unwrap();
            let input = RowInput {
                partition: 0,
                offset: offset as i64,
                ts_ms,
                key: channel,
                row,
            };
            p.process_row(&input, out);
            p.on_watermark(ts_ms, out);
        }
    }

    fn board<'a>(out: &'a Emitter, board: &str, period: &str, start: i64) -> &'a Value {
        out.outputs
            .iter()
            .map(|o| &o.value)
            .find(|v| v["board"] == board && v["period"] == period && v["period_start"] == start)
            .unwrap_or_else(|| panic!("no {board} {period} {start}"))
    }

    #[test]
    fn a_closed_day_ranks_every_board_against_the_day_before() {
        let mut p = Leaderboards::new("boards", 0, HOUR, 2);
        let mut out = Emitter::default();
        let rows = [
            ("nymn", session(MONDAY + HOUR, 2, 100.0, Some(5))),
            ("forsen", session(MONDAY + 2 * HOUR, 1, 300.0, None)),
            ("nymn", session(MONDAY + DAY + HOUR, 1, 500.0, Some(1))),
            ("forsen", session(MONDAY + DAY + HOUR, 1, 200.0, None)),
            ("xqc", session(MONDAY + DAY + 2 * HOUR, 1, 200.0, None)),
            // Tuesday closes at Wednesday 01:00.
            ("nymn", session(MONDAY + 2 * DAY + 2 * HOUR, 1, 1.0, None)),
        ];
        feed(&mut p, &rows, &mut out);
        // Monday and Tuesday: six boards each.
        assert_eq!(out.outputs.len(), 12);
        assert!(out.outputs.iter().all(|o| o.value["final"] == true));
        let monday = board(&out, "hours_watched", "day", MONDAY);
        assert_eq!(monday["period_end"], MONDAY + DAY);
        assert_eq!(
            monday["entries"],
            json!([
                {"rank": 1, "channel": "forsen", "value": 300.0, "previous_rank": null,
                 "previous_value": null, "change": null},
                {"rank": 2, "channel": "nymn", "value": 200.0, "previous_rank": null,
                 "previous_value": null, "change": null},
            ])
        );
        let tuesday = board(&out, "avg_viewers", "day", MONDAY + DAY);
        // forsen and xqc tie at 200: by name. Top 2 only.
        assert_eq!(
            tuesday["entries"],
            json!([
                {"rank": 1, "channel": "nymn", "value": 500.0, "previous_rank": 2,
                 "previous_value": 100.0, "change": 400.0},
                {"rank": 2, "channel": "forsen", "value": 200.0, "previous_rank": 1,
                 "previous_value": 300.0, "change": -100.0},
            ])
        );
        // Only nymn knew its followers; nobody had chat.
        let followers = board(&out, "followers_gained", "day", MONDAY);
        assert_eq!(followers["entries"].as_array().unwrap().len(), 1);
        assert_eq!(
            board(&out, "chat_messages", "day", MONDAY)["entries"],
            json!([])
        );
        assert_eq!(out.outputs[0].key, "hours_watched");
        assert_eq!(out.outputs[0].ts_ms, MONDAY + DAY);
        assert_eq!(out.windows_closed, 2);
    }

    #[test]
    fn late_sessions_are_reported_and_queries_show_the_open_periods() {
        let mut p = Leaderboards::new("boards", 0, HOUR, 25);
        let mut out = Emitter::default();
        let rows = [
            ("nymn", session(MONDAY + 2 * DAY, 1, 100.0, None)),
            // Monday closed at Tuesday 01:00: late for its day, still in its week.
            ("forsen", session(MONDAY + HOUR, 1, 50.0, None)),
        ];
        feed(&mut p, &rows, &mut out);
        assert_eq!(out.late.len(), 1);
        assert_eq!(
            (out.late[0].offset, out.late[0].processor.as_str()),
            (1, "boards")
        );
        assert!(out.outputs.is_empty(), "Monday had no session on time");
        let q = p.query("hours_watched").unwrap();
        assert_eq!(q["periods"][0]["period"], "day");
        assert_eq!(q["periods"][0]["period_start"], MONDAY + 2 * DAY);
        assert_eq!(q["periods"][0]["final"], false);
        let week = &q["periods"][1]["entries"];
        assert_eq!(week[0]["channel"], "nymn");
        assert_eq!(week[1]["channel"], "forsen");
        assert_eq!(p.query("nope"), None);
        assert_eq!(p.open_entries(), 3);
    }

    #[test]
    fn a_restored_processor_emits_what_the_original_would() {
        let rows = [
            ("nymn", session(MONDAY + HOUR, 2, 100.0, Some(5))),
            ("forsen", session(MONDAY + 2 * HOUR, 1, 300.0, None)),
            ("nymn", session(MONDAY + DAY + HOUR, 1, 500.0, Some(1))),
        ];
        let mut p = Leaderboards::new("boards", 0, HOUR, 25);
        let mut out = Emitter::default();
        feed(&mut p, &rows, &mut out);
        assert_eq!(out.outputs.len(), 6, "Monday closed");
        let writes = state::take_writes(&mut p);
        let mut restored = Leaderboards::new("boards", 0, HOUR, 25);
        for (k, v) in &writes {
            if let Some(v) = v {
                state::restore(&mut restored, k, v).unwrap();
            }
        }
        restored.set_watermark(MONDAY + DAY + 2 * HOUR);
        assert_eq!(restored.query("avg_viewers"), p.query("avg_viewers"));
        let (mut a, mut b) = (Emitter::default(), Emitter::default());
        p.on_watermark(i64::MAX, &mut a);
        restored.on_watermark(i64::MAX, &mut b);
        assert_eq!(a.outputs, b.outputs);
        // Tuesday's boards and the week's, Tuesday compared with Monday.
        assert_eq!(a.outputs.len(), 12);
        assert_eq!(
            board(&a, "avg_viewers", "day", MONDAY + DAY)["entries"][0]["previous_rank"],
            2
        );
    }

    #[test]
    fn the_state_layout_is_pinned() {
        let mut p = Leaderboards::new("boards", 0, HOUR, 25);
        let mut out = Emitter::default();
        feed(
            &mut p,
            &[("nymn", session(MONDAY, 1, 10.0, None))],
            &mut out,
        );
        let writes = state::take_writes(&mut p);
        let keys: Vec<String> = writes
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(
            keys,
            [
                format!("\x01pday {MONDAY} nymn"),
                format!("\x01pweek {MONDAY} nymn")
            ]
        );
        assert_eq!(
            writes[0].1.as_deref(),
            Some(&br#"{"sessions":1,"hours_watched":10.0,"viewers_weighted":36000.0,"weight":3600.0,"peak_viewers":20,"followers_gained":null,"messages":null,"engagement_weighted":0.0,"engagement_weight":0.0}"#[..])
        );
        p.on_watermark(MONDAY + DAY + HOUR, &mut out);
        let writes = state::take_writes(&mut p);
        assert_eq!(
            writes[0],
            (format!("\x01pday {MONDAY} nymn").into_bytes(), None)
        );
        let previous = writes
            .iter()
            .find(|(k, _)| k.as_slice() == b"\x01vday hours_watched")
            .unwrap();
        assert_eq!(
            previous.1.as_deref(),
            Some(&br#"{"period_start":1704067200000,"ranking":{"order":[["nymn",10.0]]}}"#[..])
        );
        assert_eq!(writes.len(), 7, "the day deleted, six boards' rankings");
    }
}

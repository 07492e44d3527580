//! The open days and weeks of the board kinds (`leaderboards`, `rising`): each channel's totals per
//! period still taking sessions, in a keyed table, and the periods a watermark closes (at the
//! period's end + grace), oldest first, each with every channel's totals.

use std::collections::BTreeSet;

use super::state::{KeyedTable, StateTables, Table, TableKey, TableName};
use super::{Emitter, Invalid, Late, RowInput};
use crate::audience::boards::board::PeriodTotals;
use crate::audience::boards::period::{Period, PeriodKind};
use crate::audience::boards::session_row::SessionRow;

/// A channel in a period: written `day|week start channel`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeriodKey {
    /// The period.
    pub period: Period,
    /// The channel.
    pub channel: String,
}

impl TableKey for PeriodKey {
    fn encode(&self, out: &mut Vec<u8>) {
        let text = format!(
            "{} {} {}",
            self.period.kind.as_str(),
            self.period.start_ms,
            self.channel
        );
        out.extend_from_slice(text.as_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "key is not UTF-8".to_owned())?;
        let mut parts = text.splitn(3, ' ');
        let (kind, start, channel) = (parts.next(), parts.next(), parts.next());
        let kind = kind.and_then(PeriodKind::parse);
        let start = start.and_then(|s| s.parse().ok());
        match (kind, start, channel) {
            (Some(kind), Some(start_ms), Some(channel)) => Ok(PeriodKey {
                period: Period { kind, start_ms },
                channel: channel.to_owned(),
            }),
            _ => Err(format!("{text:?} is not `day|week start channel`")),
        }
    }
}

/// What became of a session row.
#[derive(Debug, Clone, PartialEq)]
pub enum Admitted {
    /// Counted in its day and week.
    Counted,
    /// Not a final record (an update of an open session): not counted.
    Update,
    /// Its day (and maybe its week) had closed: counted where still open, and reported late.
    Late,
    /// Not a stream-session record: why.
    Unreadable(String),
}

/// A period that closed, with its channels' totals by channel name.
pub type Closed = (Period, Vec<(String, PeriodTotals)>);

/// The open periods of one processor.
#[derive(Debug)]
pub struct OpenPeriods {
    grace_ms: i64,
    watermark_ms: i64,
    totals: KeyedTable<PeriodKey, PeriodTotals>,
    /// No open period closes before this watermark (a lower bound; `i64::MIN` when unknown, as
    /// after a restore), so a watermark below it skips the scan of every entry.
    next_close_ms: i64,
}

impl OpenPeriods {
    /// Periods closing `grace_ms` after their end.
    pub fn new(grace_ms: i64) -> Self {
        OpenPeriods {
            grace_ms,
            watermark_ms: i64::MIN,
            totals: KeyedTable::new(TableName::PERIOD_TOTALS),
            // Unknown until the first scan: entries may be restored before any record.
            next_close_ms: i64::MIN,
        }
    }

    /// The watermark at which `period` closes.
    fn close_ms(&self, period: Period) -> i64 {
        period.end_ms().saturating_add(self.grace_ms)
    }

    /// True when `period` no longer takes sessions at the current watermark.
    fn closed(&self, period: Period) -> bool {
        self.watermark_ms >= self.close_ms(period)
    }

    /// Counts the session of `input` in the day and week its start falls in.
    pub fn add(&mut self, input: &RowInput<'_>) -> Admitted {
        let session = match SessionRow::read(input.row) {
            Ok(s) => s,
            Err(e) => return Admitted::Unreadable(e),
        };
        if !session.is_final {
            return Admitted::Update;
        }
        let mut admitted = Admitted::Counted;
        for kind in PeriodKind::ALL {
            let period = Period::of(kind, session.start);
            if self.closed(period) {
                admitted = Admitted::Late;
                continue;
            }
            self.next_close_ms = self.next_close_ms.min(self.close_ms(period));
            let key = PeriodKey {
                period,
                channel: input.key.to_owned(),
            };
            self.totals
                .get_or_insert_with(&key, PeriodTotals::default)
                .add(&session);
        }
        admitted
    }

    /// The late report of `input`, for [`Admitted::Late`].
    pub fn late(&self, processor: &str, input: &RowInput<'_>) -> Late {
        Late {
            processor: processor.to_owned(),
            partition: input.partition,
            offset: input.offset,
            ts_ms: input.ts_ms,
            watermark_ms: self.watermark_ms,
        }
    }

    /// [`OpenPeriods::add`] for processor `processor`, reporting a late row and refusing an
    /// unreadable one through `out`.
    pub fn admit(&mut self, processor: &str, input: &RowInput<'_>, out: &mut Emitter) {
        match self.add(input) {
            Admitted::Counted | Admitted::Update => {}
            Admitted::Late => out.late.push(self.late(processor, input)),
            Admitted::Unreadable(reason) => out.invalid.push(Invalid {
                processor: processor.to_owned(),
                reason: format!("not a stream session: {reason}"),
            }),
        }
    }

    /// Event time reached `watermark_ms`: each period that closes, oldest first (days before
    /// weeks), with its channels' totals by channel name; they are forgotten.
    pub fn advance(&mut self, watermark_ms: i64) -> Vec<Closed> {
        let mut closed = Vec::new();
        self.watermark_ms = self.watermark_ms.max(watermark_ms);
        if self.watermark_ms < self.next_close_ms {
            return closed;
        }
        let open: BTreeSet<Period> = self.totals.iter().map(|(k, _)| k.period).collect();
        let (periods, rest): (Vec<Period>, Vec<Period>) =
            open.into_iter().partition(|p| self.closed(*p));
        self.next_close_ms = rest
            .iter()
            .map(|p| self.close_ms(*p))
            .min()
            .unwrap_or(i64::MAX);
        for period in periods {
            let mut keys: Vec<PeriodKey> = self
                .totals
                .iter()
                .filter(|(k, _)| k.period == period)
                .map(|(k, _)| k.clone())
                .collect();
            keys.sort();
            let channels = keys
                .into_iter()
                .filter_map(|k| {
                    let totals = self.totals.remove(&k)?;
                    Some((k.channel, totals))
                })
                .collect();
            closed.push((period, channels));
        }
        closed
    }

    /// Restores the watermark without closing anything (after the table was restored: the next
    /// advance scans it).
    pub fn set_watermark(&mut self, watermark_ms: i64) {
        self.watermark_ms = watermark_ms;
        self.next_close_ms = i64::MIN;
    }

    /// The newest open period of `kind` and its channels' totals (by channel name), if any.
    pub fn newest(&self, kind: PeriodKind) -> Option<(Period, Vec<(&str, &PeriodTotals)>)> {
        let period = self
            .totals
            .iter()
            .map(|(k, _)| k.period)
            .filter(|p| p.kind == kind)
            .max()?;
        let mut channels: Vec<(&str, &PeriodTotals)> = self
            .totals
            .iter()
            .filter(|(k, _)| k.period == period)
            .map(|(k, t)| (k.channel.as_str(), t))
            .collect();
        channels.sort_by(|a, b| a.0.cmp(b.0));
        Some((period, channels))
    }

    /// Channel-periods held.
    pub fn len(&self) -> usize {
        self.totals.len()
    }

    /// True when no period is open.
    pub fn is_empty(&self) -> bool {
        self.totals.is_empty()
    }
}

impl StateTables for OpenPeriods {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        visit(&mut self.totals);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::processor::state;

    const DAY: i64 = 86_400_000;
    /// Monday 2024-01-01 00:00 UTC.
    const MONDAY: i64 = 1_704_067_200_000;

    fn row(start: i64, is_final: bool) -> Value {
        json!({"start": start, "end": start + 3_600_000, "duration_s": 3600.0,
               "avg_viewers": 100.0, "peak_viewers": 120, "hours_watched": 100.0, "final": is_final})
    }

    fn input<'a>(key: &'a str, row: &'a Value) -> RowInput<'a> {
        RowInput {
            partition: 0,
            offset: 7,
            ts_ms: row["end"].as_i64().unwrap_or(0),
            key,
            row,
        }
    }

    #[test]
    fn admit_reports_late_rows_and_refuses_unreadable_ones_with_the_reason() {
        let mut open = OpenPeriods::new(3_600_000);
        let mut out = Emitter::default();
        let a = row(MONDAY + 1_000, true);
        open.admit("boards", &input("nymn", &a), &mut out);
        open.admit("boards", &input("x", &json!({"start": "soon"})), &mut out);
        assert_eq!(out.invalid.len(), 1);
        assert_eq!(out.invalid[0].processor, "boards");
        assert!(
            out.invalid[0].reason.starts_with("not a stream session: "),
            "{:?}",
            out.invalid
        );
        open.advance(MONDAY + 9 * DAY);
        open.admit("boards", &input("nymn", &a), &mut out);
        assert_eq!(out.late.len(), 1);
        assert_eq!(
            (out.late[0].processor.as_str(), out.late[0].offset),
            ("boards", 7)
        );
        assert!(out.outputs.is_empty());
    }

    #[test]
    fn sessions_count_in_their_day_and_week_and_close_oldest_first() {
        let mut open = OpenPeriods::new(3_600_000);
        let (a, b, u) = (
            row(MONDAY + 1_000, true),
            row(MONDAY + DAY, true),
            row(MONDAY, false),
        );
        assert_eq!(open.add(&input("nymn", &a)), Admitted::Counted);
        assert_eq!(open.add(&input("forsen", &b)), Admitted::Counted);
        assert_eq!(open.add(&input("nymn", &u)), Admitted::Update);
        assert!(matches!(
            open.add(&input("x", &json!({}))),
            Admitted::Unreadable(_)
        ));
        assert_eq!(open.len(), 4, "two days, one week with two channels");
        let (week, channels) = open.newest(PeriodKind::Week).unwrap();
        assert_eq!(week.start_ms, MONDAY);
        assert_eq!(
            channels.iter().map(|c| c.0).collect::<Vec<_>>(),
            ["forsen", "nymn"]
        );

        // Monday closes at Tuesday 01:00, not before.
        assert!(open.advance(MONDAY + DAY + 3_599_999).is_empty());
        let closed = open.advance(MONDAY + DAY + 3_600_000);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].0, Period::of(PeriodKind::Day, MONDAY));
        assert_eq!(closed[0].1[0].0, "nymn");
        // A session of Monday now is late for its day but still counts in its week.
        let late = row(MONDAY + 5_000, true);
        assert_eq!(open.add(&input("nymn", &late)), Admitted::Late);
        assert_eq!(
            open.late("boards", &input("nymn", &late)).watermark_ms,
            MONDAY + DAY + 3_600_000
        );
        let closed = open.advance(i64::MAX);
        let got: Vec<(PeriodKind, i64, usize)> = closed
            .iter()
            .map(|(p, c)| (p.kind, p.start_ms, c.len()))
            .collect();
        assert_eq!(
            got,
            [
                (PeriodKind::Day, MONDAY + DAY, 1),
                (PeriodKind::Week, MONDAY, 2)
            ]
        );
        assert_eq!(
            closed[1].1[1].1.sessions, 2,
            "nymn's week has both sessions"
        );
        assert!(open.is_empty());
    }

    #[test]
    fn keys_round_trip_and_a_restore_resumes() {
        let key = PeriodKey {
            period: Period::of(PeriodKind::Week, MONDAY),
            channel: "nymn".into(),
        };
        let mut bytes = Vec::new();
        key.encode(&mut bytes);
        assert_eq!(bytes, format!("week {MONDAY} nymn").as_bytes());
        assert_eq!(PeriodKey::decode(&bytes), Ok(key));
        assert!(PeriodKey::decode(b"month 1 nymn").is_err());
        assert!(PeriodKey::decode(b"day x nymn").is_err());

        let mut open = OpenPeriods::new(0);
        open.add(&input("nymn", &row(MONDAY, true)));
        let writes = state::take_writes(&mut open);
        assert_eq!(writes.len(), 2);
        let mut restored = OpenPeriods::new(0);
        for (k, v) in &writes {
            state::restore(&mut restored, k, v.as_deref().unwrap()).unwrap();
        }
        assert_eq!(
            restored.newest(PeriodKind::Day),
            open.newest(PeriodKind::Day)
        );
        assert_eq!(restored.advance(i64::MAX).len(), 2);
        // Closing deletes the entries.
        let deletes = state::take_writes(&mut restored);
        assert!(deletes.iter().all(|(_, v)| v.is_none()) && deletes.len() == 2);
    }
}

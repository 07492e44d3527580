//! Calendar periods of the boards: the UTC day and the ISO week (Monday 00:00 UTC to the next
//! Monday). A stream session belongs to the period its `start` falls in, whole: a session spanning
//! midnight is not split, so a day's figures are those of the sessions that began that day.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::civil::civil_from_days;

const DAY_MS: i64 = 86_400_000;

/// The length of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    /// A UTC day.
    Day,
    /// An ISO week: Monday 00:00 UTC to the next Monday 00:00 UTC.
    Week,
}

impl PeriodKind {
    /// Both kinds, days first.
    pub const ALL: [PeriodKind; 2] = [PeriodKind::Day, PeriodKind::Week];

    /// `"day"` or `"week"`, as records name it.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Day => "day",
            PeriodKind::Week => "week",
        }
    }

    /// Reads [`PeriodKind::as_str`] back.
    pub fn parse(text: &str) -> Option<PeriodKind> {
        PeriodKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Its length in milliseconds.
    pub fn length_ms(self) -> i64 {
        match self {
            PeriodKind::Day => DAY_MS,
            PeriodKind::Week => 7 * DAY_MS,
        }
    }

    /// The plural noun for reasons ("days", "weeks").
    pub fn plural(self) -> &'static str {
        match self {
            PeriodKind::Day => "days",
            PeriodKind::Week => "weeks",
        }
    }
}

/// One day or week, by its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    /// Day or week.
    pub kind: PeriodKind,
    /// Its first instant, epoch ms UTC (a midnight; a Monday's for a week).
    pub start_ms: i64,
}

impl Period {
    /// The period of `kind` that instant `ts_ms` falls in.
    pub fn of(kind: PeriodKind, ts_ms: i64) -> Period {
        let day = ts_ms.div_euclid(DAY_MS);
        let first_day = match kind {
            PeriodKind::Day => day,
            // 1970-01-01 was a Thursday: day 0 is 3 days after a Monday.
            PeriodKind::Week => day - (day + 3).rem_euclid(7),
        };
        Period {
            kind,
            start_ms: first_day * DAY_MS,
        }
    }

    /// Its end (exclusive), epoch ms: the next period's start.
    pub fn end_ms(self) -> i64 {
        self.start_ms + self.kind.length_ms()
    }

    /// The period just before it.
    pub fn previous(self) -> Period {
        Period {
            kind: self.kind,
            start_ms: self.start_ms - self.kind.length_ms(),
        }
    }

    /// Its first day as `YYYY-MM-DD`.
    pub fn date(self) -> String {
        let (y, m, d) = civil_from_days(self.start_ms.div_euclid(DAY_MS));
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// For reasons: `on 2024-01-06` for a day, `in the week of 2024-01-01` for a week.
impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Day => write!(f, "on {}", self.date()),
            PeriodKind::Week => write!(f, "in the week of {}", self.date()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::civil::parse_timestamp_ms;

    fn at(text: &str) -> i64 {
        parse_timestamp_ms(text, 0).unwrap()
    }

    #[test]
    fn days_start_at_utc_midnight_and_weeks_on_monday() {
        // 2024-01-06 was a Saturday; its ISO week began on Monday 2024-01-01.
        let t = at("2024-01-06T23:59:59Z");
        let day = Period::of(PeriodKind::Day, t);
        assert_eq!(day.start_ms, at("2024-01-06T00:00:00Z"));
        assert_eq!(day.end_ms(), at("2024-01-07T00:00:00Z"));
        let week = Period::of(PeriodKind::Week, t);
        assert_eq!(week.start_ms, at("2024-01-01T00:00:00Z"));
        assert_eq!(week.end_ms(), at("2024-01-08T00:00:00Z"));
        // Sunday 23:59 is still the week of Monday 2024-01-01; Monday 00:00 begins the next.
        let sunday = at("2024-01-07T23:59:59.999Z");
        assert_eq!(Period::of(PeriodKind::Week, sunday), week);
        let monday = at("2024-01-08T00:00:00Z");
        assert_eq!(Period::of(PeriodKind::Week, monday).start_ms, monday);
        assert_eq!(Period::of(PeriodKind::Week, monday).previous(), week);
        // Before 1970 too (floor, not truncation): 1969-12-29 was a Monday.
        assert_eq!(
            Period::of(PeriodKind::Week, -1).start_ms,
            at("1969-12-29T00:00:00Z")
        );
        assert_eq!(Period::of(PeriodKind::Day, -1).start_ms, -DAY_MS);
    }

    #[test]
    fn periods_read_as_text_and_order_by_kind_then_start() {
        let day = Period::of(PeriodKind::Day, at("2024-01-06T12:00:00Z"));
        assert_eq!(day.to_string(), "on 2024-01-06");
        assert_eq!(day.date(), "2024-01-06");
        let week = Period::of(PeriodKind::Week, at("2024-01-06T12:00:00Z"));
        assert_eq!(week.to_string(), "in the week of 2024-01-01");
        assert!(day.previous() < day);
        assert!(day < week);
        assert_eq!(PeriodKind::parse("week"), Some(PeriodKind::Week));
        assert_eq!(PeriodKind::parse("month"), None);
    }
}

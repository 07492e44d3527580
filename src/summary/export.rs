//! A day's summaries as files: CSV (one row per channel and day; lists in one cell, `; `
//! separated), which Google Sheets imports as is (File → Import, or `IMPORTDATA` of a served file),
//! and JSON (an array of the records, lists as arrays).

use super::day::DaySummary;
use crate::time::civil::format_timestamp_ms;

/// The CSV columns, in order.
pub const COLUMNS: [&str; 15] = [
    "channel",
    "day",
    "sessions",
    "stream_minutes",
    "peak_viewers",
    "avg_viewers",
    "hours_watched",
    "followers_gained",
    "messages",
    "spikes",
    "top_spikes",
    "ad_slots",
    "best_ad_slots",
    "subs",
    "gifts",
];

/// `HH:MM` (UTC) of epoch ms.
fn hhmm(ms: i64) -> String {
    format_timestamp_ms(ms)[11..16].to_owned()
}

/// A day's top spikes in one cell: `16:03 6.0x raid; 18:10 3.2x`.
pub fn spikes_cell(s: &DaySummary) -> String {
    s.top_spikes
        .iter()
        .map(|p| match &p.cause {
            Some(c) => format!("{} {:.1}x {c}", hhmm(p.onset), p.lift),
            None => format!("{} {:.1}x", hhmm(p.onset), p.lift),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A day's best ad slots in one cell: `17:20 90s 0.93`.
pub fn slots_cell(s: &DaySummary) -> String {
    s.best_ad_slots
        .iter()
        .map(|a| format!("{} {}s {:.2}", hhmm(a.start), a.duration_s, a.score))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The summaries as CSV with a header row.
pub fn to_csv(summaries: &[DaySummary]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS).expect("CSV in memory");
    let opt = |x: Option<String>| x.unwrap_or_default();
    for s in summaries {
        w.write_record([
            s.channel.clone(),
            s.day.clone(),
            s.sessions.to_string(),
            s.stream_minutes.to_string(),
            opt(s.peak_viewers.map(|v| v.to_string())),
            opt(s.avg_viewers.map(|v| v.to_string())),
            s.hours_watched.to_string(),
            opt(s.followers_gained.map(|v| v.to_string())),
            opt(s.messages.map(|v| v.to_string())),
            s.spikes.to_string(),
            spikes_cell(s),
            s.ad_slots.to_string(),
            slots_cell(s),
            s.subs.to_string(),
            s.gifts.to_string(),
        ])
        .expect("CSV in memory");
    }
    String::from_utf8(w.into_inner().expect("CSV in memory")).expect("UTF-8")
}

/// The summaries as a JSON array.
pub fn to_json(summaries: &[DaySummary]) -> String {
    serde_json::to_string_pretty(summaries).expect("summaries serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_one_csv_row_and_one_json_record() {
        let all = crate::summary::day::tests::example().summaries(None);
        let csv = to_csv(&all);
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
        assert_eq!(
            lines.next().unwrap(),
            "nymn,2024-01-06,3,210,410,114.3,400,6,,4,02:00 5.0x raid; 05:00 5.0x; 04:00 3.0x,1,02:00 90s 0.70,1,10"

        );
        let json: serde_json::Value = serde_json::from_str(&to_json(&all)).unwrap();
        assert_eq!(json[0]["top_spikes"][0]["cause"], "raid");
    }
}

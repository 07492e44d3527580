//! Stream sessions for the board tests, generated (seeded, deterministic), and the leaderboards and
//! rising channels they should give, by brute force: plain loops over the rows in arrival order,
//! written without the library (group by the UTC day or ISO week of `start`, sum, sort, rank).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;
/// Grace of `topologies/leaderboards.toml`.
pub const GRACE: i64 = HOUR;
/// Wednesday 2024-01-03 00:00 UTC: the generated sessions begin mid-week.
pub const FIRST_DAY: i64 = 1_704_240_000_000;
/// Monday 2024-01-01 00:00 UTC, a week start.
const A_MONDAY: i64 = 1_704_067_200_000;

/// splitmix64: a small seeded generator, so the data is the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A whole number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// A stream-session record with every field of `twitch.streams.sessions`.
#[allow(clippy::too_many_arguments)]
pub fn session(
    channel: &str,
    start: i64,
    end: i64,
    avg_viewers: f64,
    peak_viewers: i64,
    followers_gained: Option<i64>,
    chat: Option<(i64, i64)>,
    is_final: bool,
) -> Value {
    let duration_s = (end - start) as f64 / 1000.0;
    let (messages, chatters) = chat.unzip();
    json!({
        "channel": channel, "start": start, "end": end, "started_at": start,
        "duration_s": duration_s, "observed_s": duration_s,
        "snapshots": 1 + (end - start) / 60_000, "avg_viewers": avg_viewers,
        "peak_viewers": peak_viewers, "peak_at": start,
        "hours_watched": avg_viewers * duration_s / 3600.0,
        "followers_start": followers_gained.map(|_| 1_000),
        "followers_end": followers_gained.map(|g| 1_000 + g),
        "followers_gained": followers_gained,
        "games": [{"game": "Just Chatting", "minutes": duration_s / 60.0}],
        "titles": [{"at": start, "title": "hi"}], "title_changes": 0,
        "messages": messages, "chatters": chatters,
        "chatters_per_100_viewers": chatters.map(|c| 100.0 * c as f64 / avg_viewers.max(1.0)),
        "spikes": chat.map(|_| 0), "subs": chat.map(|_| 1), "gifts": chat.map(|_| 0),
        "final": is_final, "ended_by": "stream_end",
    })
}

/// Sessions of 36 channels over 26 days (three week boundaries) in arrival order (by end), each
/// ending at most 30 minutes after its day, so none is late; neighbours ending within 20 minutes
/// of each other are swapped (out of order within the grace). Viewer levels range from 3 to 20,000
/// and drift day to day; followers are unknown for a fifth of the sessions and chat for a quarter;
/// peaks are coarse (ties); `twin_a` and `twin_b` stream identical sessions (ties on every board);
/// some sessions last 0 s or span midnight. Updates (`final = false`) are mixed in. Then three late
/// sessions: one of the first day (late for its day and week), one of a Monday sent two days into
/// its week (late for the day only), and one of the last day's week start, also only day-late.
pub fn generated() -> Vec<Value> {
    let mut rng = Rng::new(15);
    let channels: Vec<String> = (0..34)
        .map(|i| format!("ch{i:02}"))
        .chain(["twin_a".to_owned(), "twin_b".to_owned()])
        .collect();
    let mut level: Vec<f64> = (0..channels.len())
        .map(|_| 5.0 * 1.2f64.powi(rng.below(38) as i32))
        .collect();
    let mut rows: Vec<Value> = Vec::new();
    for day in 0..26 {
        let day_start = FIRST_DAY + day * DAY;
        let mut twin: Option<Vec<Value>> = None;
        for (c, name) in channels.iter().enumerate() {
            if name == "twin_b" {
                for r in twin.take().unwrap_or_default() {
                    let mut r = r;
                    r["channel"] = json!("twin_b");
                    rows.push(r);
                }
                continue;
            }
            level[c] *= 0.7 + 0.6 * (rng.below(1000) as f64 / 1000.0);
            level[c] = level[c].clamp(3.0, 20_000.0);
            if !rng.chance(0.7) {
                continue;
            }
            let mut made = Vec::new();
            for _ in 0..1 + rng.below(2) {
                let start = day_start + rng.below(24 * 60) as i64 * 60_000;
                let max_end = day_start + DAY + 30 * 60_000;
                let length = if rng.chance(0.05) {
                    0
                } else {
                    (15 + rng.below(6 * 60) as i64) * 60_000
                };
                let end = (start + length).min(max_end);
                let avg =
                    (level[c] * (0.5 + rng.below(1000) as f64 / 1000.0) * 10.0).round() / 10.0;
                let peak = ((avg * 1.3) as i64 / 50) * 50;
                let followers = rng.chance(0.8).then(|| rng.below(200) as i64 - 20);
                let chat = rng
                    .chance(0.75)
                    .then(|| (rng.below(5_000) as i64, rng.below(500) as i64));
                made.push(session(name, start, end, avg, peak, followers, chat, true));
                if rng.chance(0.2) {
                    // An update sent before the final: another figure, not to be counted.
                    made.push(session(
                        name,
                        start,
                        (start + end) / 2,
                        avg * 3.0,
                        peak * 3,
                        Some(9_999),
                        chat,
                        false,
                    ));
                }
            }
            if name == "twin_a" {
                twin = Some(made.clone());
            }
            rows.extend(made);
        }
    }
    rows.sort_by_key(|r| {
        (
            r["end"].as_i64().unwrap(),
            r["channel"].as_str().unwrap().to_owned(),
        )
    });
    let mut i = 0;
    while i + 1 < rows.len() {
        let (a, b) = (
            rows[i]["end"].as_i64().unwrap(),
            rows[i + 1]["end"].as_i64().unwrap(),
        );
        if b - a < 20 * 60_000 && rng.chance(0.3) {
            rows.swap(i, i + 1);
            i += 2;
        } else {
            i += 1;
        }
    }
    // Late: a session of the first day, sent last.
    let first = session(
        "ch01",
        FIRST_DAY + HOUR,
        FIRST_DAY + 2 * HOUR,
        777.0,
        800,
        Some(5),
        None,
        true,
    );
    // A Monday's session sent after Wednesday began, and one of the last Monday sent at the end.
    let monday = A_MONDAY + 14 * DAY;
    let last_monday = A_MONDAY + 21 * DAY;
    let at = rows
        .iter()
        .position(|r| r["end"].as_i64().unwrap() > monday + 2 * DAY + 2 * HOUR)
        .unwrap();
    rows.insert(
        at,
        session(
            "ch02",
            monday + HOUR,
            monday + 3 * HOUR,
            9_000.0,
            9_000,
            Some(500),
            Some((10, 5)),
            true,
        ),
    );
    rows.push(session(
        "ch03",
        last_monday + HOUR,
        last_monday + 2 * HOUR,
        8_000.0,
        8_000,
        None,
        None,
        true,
    ));
    rows.push(first);
    rows
}

/// The UTC day or ISO week of `ts`: `("day"|"week", start)`.
pub fn period_of(kind: &str, ts: i64) -> (String, i64) {
    let day = ts.div_euclid(DAY);
    match kind {
        "day" => ("day".into(), day * DAY),
        _ => {
            // Weeks start on Mondays: count whole weeks from a known Monday.
            let weeks = (ts - A_MONDAY).div_euclid(7 * DAY);
            ("week".into(), A_MONDAY + weeks * 7 * DAY)
        }
    }
}

fn length(kind: &str) -> i64 {
    if kind == "day" {
        DAY
    } else {
        7 * DAY
    }
}

/// Per `(kind, period start)`, per channel: the final sessions that count there, in arrival order.
/// A session counts unless, when it arrived, an earlier row (of any kind) had ended at or after its
/// period's end + grace.
pub fn counted(rows: &[Value]) -> BTreeMap<(String, i64), BTreeMap<String, Vec<&Value>>> {
    let mut out: BTreeMap<(String, i64), BTreeMap<String, Vec<&Value>>> = BTreeMap::new();
    let mut watermark = i64::MIN;
    for r in rows {
        if r["final"] == true {
            for kind in ["day", "week"] {
                let p = period_of(kind, r["start"].as_i64().unwrap());
                if watermark < p.1 + length(kind) + GRACE {
                    let channel = r["channel"].as_str().unwrap().to_owned();
                    out.entry(p)
                        .or_default()
                        .entry(channel)
                        .or_default()
                        .push(r);
                }
            }
        }
        watermark = watermark.max(r["end"].as_i64().unwrap());
    }
    out
}

pub const BOARDS: [&str; 6] = [
    "hours_watched",
    "avg_viewers",
    "peak_viewers",
    "followers_gained",
    "chat_messages",
    "engagement",
];

/// A channel's figure for `board` over its `sessions` of a period, `None` when none knew it.
pub fn figure(board: &str, sessions: &[&Value]) -> Option<f64> {
    let f = |s: &Value, k: &str| s[k].as_f64();
    let weight = |s: &Value| {
        let d = f(s, "duration_s").unwrap();
        if d > 0.0 {
            d
        } else {
            1.0
        }
    };
    let known: Vec<&&Value> = match board {
        "followers_gained" => sessions
            .iter()
            .filter(|s| !s["followers_gained"].is_null())
            .collect(),
        "chat_messages" => sessions
            .iter()
            .filter(|s| !s["messages"].is_null())
            .collect(),
        "engagement" => sessions
            .iter()
            .filter(|s| !s["chatters_per_100_viewers"].is_null())
            .collect(),
        _ => sessions.iter().collect(),
    };
    if known.is_empty() {
        return None;
    }
    let mut sum = 0.0;
    let mut weights = 0.0;
    let mut peak = i64::MIN;
    for s in &known {
        match board {
            "hours_watched" => sum += f(s, "hours_watched").unwrap(),
            "avg_viewers" => {
                sum += weight(s) * f(s, "avg_viewers").unwrap();
                weights += weight(s);
            }
            "engagement" => {
                sum += weight(s) * f(s, "chatters_per_100_viewers").unwrap();
                weights += weight(s);
            }
            "peak_viewers" => peak = peak.max(s["peak_viewers"].as_i64().unwrap()),
            "followers_gained" => sum += f(s, "followers_gained").unwrap(),
            _ => sum += f(s, "messages").unwrap(),
        }
    }
    Some(match board {
        "avg_viewers" | "engagement" => sum / weights,
        "peak_viewers" => peak as f64,
        _ => sum,
    })
}

/// `(channel, value)` best first, ties by channel name.
fn ranked(mut values: Vec<(String, f64)>) -> Vec<(String, f64)> {
    values.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
    values
}

/// The board records the sessions give, keyed by `(board, kind, period start)`: the top `top`
/// entries with the previous calendar period's rank and value.
pub fn leaderboards(rows: &[Value], top: usize) -> BTreeMap<(String, String, i64), Value> {
    let periods = counted(rows);
    let mut rankings: BTreeMap<(String, String, i64), Vec<(String, f64)>> = BTreeMap::new();
    for ((kind, start), channels) in &periods {
        for board in BOARDS {
            let values = channels
                .iter()
                .filter_map(|(c, s)| Some((c.clone(), figure(board, s)?)))
                .collect();
            rankings.insert((board.to_owned(), kind.clone(), *start), ranked(values));
        }
    }
    let mut out = BTreeMap::new();
    for ((board, kind, start), ranking) in &rankings {
        let before = rankings.get(&(board.clone(), kind.clone(), start - length(kind)));
        let entries: Vec<Value> = ranking
            .iter()
            .take(top)
            .enumerate()
            .map(|(i, (channel, value))| {
                let was = before.and_then(|b| {
                    let at = b.iter().position(|(c, _)| c == channel)?;
                    Some((at as u64 + 1, b[at].1))
                });
                json!({
                    "rank": i + 1, "channel": channel, "value": value,
                    "previous_rank": was.map(|w| w.0), "previous_value": was.map(|w| w.1),
                    "change": was.map(|w| value - w.1),
                })
            })
            .collect();
        out.insert(
            (board.clone(), kind.clone(), *start),
            json!({"board": board, "period": kind, "period_start": start,
                   "period_end": start + length(kind), "entries": entries, "final": true}),
        );
    }
    out
}

/// The rising records the sessions give, keyed by `(metric, kind, period start)`, each list in
/// rank order: growth against the mean of the channel's last 4 periods (of the kind) with a value,
/// above `min_viewers` / `min_followers`, top `top`.
/// A board or rising list: `(board or metric, "day"|"week", period start)`.
pub type ListKey = (String, String, i64);
/// Rising lists as the brute force gives them: `(channel, value, baseline)` in rank order.
pub type Expected = BTreeMap<ListKey, Vec<(String, f64, f64)>>;
/// Rising lists as records give them: `(rank, channel, value, baseline)`.
pub type Got = BTreeMap<ListKey, Vec<(u64, String, f64, f64)>>;

pub fn rising(rows: &[Value], top: usize, min_viewers: f64, min_followers: f64) -> Expected {
    let periods = counted(rows);
    let mut out = BTreeMap::new();
    for metric in ["avg_viewers", "followers_gained"] {
        let min = if metric == "avg_viewers" {
            min_viewers
        } else {
            min_followers
        };
        for kind in ["day", "week"] {
            let mut seen: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for ((k, start), channels) in &periods {
                if k != kind {
                    continue;
                }
                let mut list = Vec::new();
                for (channel, sessions) in channels {
                    let Some(value) = figure(metric, sessions) else {
                        continue;
                    };
                    let past = seen.entry(channel.clone()).or_default();
                    let last = &past[past.len().saturating_sub(4)..];
                    if !last.is_empty() {
                        let baseline = last.iter().sum::<f64>() / last.len() as f64;
                        if baseline >= min && value / baseline - 1.0 > 0.0 {
                            list.push((channel.clone(), value, baseline));
                        }
                    }
                    past.push(value);
                }
                list.sort_by(|a, b| {
                    let (ga, gb) = (a.1 / a.2 - 1.0, b.1 / b.2 - 1.0);
                    gb.partial_cmp(&ga).unwrap().then(a.0.cmp(&b.0))
                });
                list.truncate(top);
                if !list.is_empty() {
                    out.insert((metric.to_owned(), kind.to_owned(), *start), list);
                }
            }
        }
    }
    out
}

/// Equal as JSON, numbers within a relative 1e-9 (sums of floats).
pub fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

/// The board records by `(board, period, start)`; a record sent twice (replayed after the crash)
/// must be the same both times.
pub fn boards_by_key(records: &[Value]) -> BTreeMap<(String, String, i64), Value> {
    let mut out = BTreeMap::new();
    for r in records {
        let key = (
            r["board"].as_str().unwrap().to_owned(),
            r["period"].as_str().unwrap().to_owned(),
            r["period_start"].as_i64().unwrap(),
        );
        if let Some(before) = out.insert(key.clone(), r.clone()) {
            assert_eq!(&before, r, "{key:?} sent twice, differently");
        }
    }
    out
}

/// The rising records by `(metric, period, start)`, each `(rank, channel, value, baseline)`.
pub fn rising_by_key(records: &[Value]) -> Got {
    let mut out: BTreeMap<_, BTreeSet<(u64, String, u64, u64)>> = BTreeMap::new();
    for r in records {
        let key = (
            r["metric"].as_str().unwrap().to_owned(),
            r["period"].as_str().unwrap().to_owned(),
            r["period_start"].as_i64().unwrap(),
        );
        let (value, baseline) = (
            r["value"].as_f64().unwrap(),
            r["baseline"].as_f64().unwrap(),
        );
        let growth = r["growth"].as_f64().unwrap();
        assert!((growth - (value / baseline - 1.0)).abs() < 1e-12, "{r}");
        let channel = r["channel"].as_str().unwrap();
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("{channel} ")) && reason.contains("× its previous"),
            "{reason}"
        );
        out.entry(key).or_default().insert((
            r["rank"].as_u64().unwrap(),
            channel.to_owned(),
            value.to_bits(),
            baseline.to_bits(),
        ));
    }
    out.into_iter()
        .map(|(k, v)| {
            let list = v
                .into_iter()
                .map(|(rank, c, v, b)| (rank, c, f64::from_bits(v), f64::from_bits(b)))
                .collect();
            (k, list)
        })
        .collect()
}

pub fn compare_boards(
    got: &BTreeMap<(String, String, i64), Value>,
    expected: &BTreeMap<(String, String, i64), Value>,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same boards and periods"
    );
    for (key, want) in expected {
        assert!(
            close(&got[key], want),
            "{key:?}\n got {}\nwant {want}",
            got[key]
        );
    }
}

pub fn compare_rising(got: &Got, expected: &Expected) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (key, want) in expected {
        let have = &got[key];
        assert_eq!(have.len(), want.len(), "{key:?}: {have:?} vs {want:?}");
        for (i, ((rank, c, v, b), (wc, wv, wb))) in have.iter().zip(want).enumerate() {
            assert_eq!(
                (*rank, c),
                (i as u64 + 1, wc),
                "{key:?}: {have:?} vs {want:?}"
            );
            assert!(
                (v - wv).abs() <= 1e-9 * wv.abs().max(1.0)
                    && (b - wb).abs() <= 1e-9 * wb.abs().max(1.0),
                "{key:?}: {have:?} vs {want:?}"
            );
        }
    }
}

//! A stream session summed up as stream trackers define it: viewers are a step function (snapshot
//! *i* holds from *t_i* to *t_{i+1}*), so hours watched are `Σ viewers_i × (t_{i+1} − t_i)`, the
//! average is that over the observed span and the peak is the largest snapshot. The accumulator
//! keeps the session's snapshots in time order, so snapshots may arrive out of order and sessions
//! merge exactly. [`ChatTally`] is what chat over the same span adds.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::snapshot::Snapshot;
use crate::window::Aggregate;

const HOUR_MS: f64 = 3_600_000.0;

/// One snapshot as a session keeps it: game and title as indices into the session's strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Poll time, epoch ms.
    pub ts: i64,
    /// Viewers.
    pub viewers: i64,
    /// Followers, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followers: Option<i64>,
    /// The game, as an index into [`SessionAcc::strings`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game: Option<u32>,
    /// The title, as an index into [`SessionAcc::strings`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<u32>,
}

/// Chat said during a session, tallied by the processor over the session's span.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatTally {
    /// Chat messages.
    pub messages: u64,
    /// Who sent them (logins).
    pub chatters: BTreeSet<String>,
    /// Subscriptions and resubscriptions (a gift counts as a gift, not a sub).
    pub subs: u64,
    /// Gifted subscriptions.
    pub gifts: u64,
    /// Chat spikes that began during the session.
    pub spikes: u64,
}

/// The running state of one session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionAcc {
    /// When the stream started, as Helix reports it (the earliest seen), if known.
    pub started_at: Option<i64>,
    /// Its snapshots, in time order, one per poll time.
    pub points: Vec<Point>,
    /// The games and titles the points refer to.
    pub strings: Vec<String>,
}

impl SessionAcc {
    fn intern(&mut self, s: Option<&str>) -> Option<u32> {
        let s = s?;
        Some(match self.strings.iter().position(|t| t == s) {
            Some(i) => i as u32,
            None => {
                self.strings.push(s.to_owned());
                (self.strings.len() - 1) as u32
            }
        })
    }

    fn string(&self, i: Option<u32>) -> Option<&str> {
        i.and_then(|i| self.strings.get(i as usize))
            .map(String::as_str)
    }

    /// Puts one snapshot in time order; a second snapshot at the same time replaces the first (a
    /// record read twice changes nothing).
    fn put(
        &mut self,
        ts: i64,
        viewers: i64,
        followers: Option<i64>,
        game: Option<&str>,
        title: Option<&str>,
    ) {
        let point = Point {
            ts,
            viewers,
            followers,
            game: self.intern(game),
            title: self.intern(title),
        };
        match self.points.binary_search_by_key(&ts, |p| p.ts) {
            Ok(i) => self.points[i] = point,
            Err(i) => self.points.insert(i, point),
        }
    }

    /// The session's start as reported: `started_at` when known, else its first snapshot.
    pub fn start_ms(&self) -> Option<i64> {
        let first = self.points.first()?.ts;
        Some(self.started_at.map_or(first, |s| s.min(first)))
    }

    /// Its last snapshot.
    pub fn end_ms(&self) -> Option<i64> {
        self.points.last().map(|p| p.ts)
    }
}

/// The figures of one session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSummary {
    /// Start, epoch ms: `started_at` when known, else the first snapshot.
    pub start: i64,
    /// End, epoch ms: the last snapshot.
    pub end: i64,
    /// `started_at` as Helix reported it, when known.
    pub started_at: Option<i64>,
    /// `end − start` in seconds.
    pub duration_s: f64,
    /// Last snapshot − first snapshot in seconds: the span viewers were observed over.
    pub observed_s: f64,
    /// Snapshots.
    pub snapshots: u64,
    /// Hours watched over the observed span divided by it; a one-snapshot session's viewers.
    pub avg_viewers: f64,
    /// The largest viewer count.
    pub peak_viewers: i64,
    /// When it was first reached.
    pub peak_at: i64,
    /// `Σ viewers_i × (t_{i+1} − t_i)` in hours.
    pub hours_watched: f64,
    /// The first known follower total.
    pub followers_start: Option<i64>,
    /// The last known follower total.
    pub followers_end: Option<i64>,
    /// `followers_end − followers_start`.
    pub followers_gained: Option<i64>,
    /// Each game in the order first played, with its minutes (game *i* holds from *t_i* to *t_{i+1}*).
    pub games: Vec<GameMinutes>,
    /// The title at the start and each change, with when it was first seen.
    pub titles: Vec<TitleAt>,
    /// `titles` − 1 (0 without titles).
    pub title_changes: u64,
}

/// A game and the minutes it was played.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GameMinutes {
    /// The category.
    pub game: String,
    /// Minutes.
    pub minutes: f64,
}

/// A title and when it was first seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TitleAt {
    /// Epoch ms.
    pub at: i64,
    /// The title.
    pub title: String,
}

/// Sums up a session's snapshots by the definitions of this module's doc. `None` for no snapshot.
pub fn summarize(acc: &SessionAcc) -> Option<SessionSummary> {
    let points = &acc.points;
    let (first, last) = (points.first()?, points.last()?);
    let start = acc.start_ms()?;
    let mut viewer_ms = 0f64;
    let mut games: Vec<GameMinutes> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let held = points.get(i + 1).map_or(0, |next| next.ts - p.ts) as f64;
        viewer_ms += p.viewers as f64 * held;
        if let Some(game) = acc.string(p.game) {
            match games.iter_mut().find(|g| g.game == game) {
                Some(g) => g.minutes += held / 60_000.0,
                None => games.push(GameMinutes {
                    game: game.to_owned(),
                    minutes: held / 60_000.0,
                }),
            }
        }
    }
    let observed_ms = last.ts - first.ts;
    let peak = points.iter().fold(
        first,
        |best, p| if p.viewers > best.viewers { p } else { best },
    );
    let followers: Vec<i64> = points.iter().filter_map(|p| p.followers).collect();
    let mut titles: Vec<TitleAt> = Vec::new();
    for p in points {
        if let Some(title) = acc.string(p.title) {
            if titles.last().is_none_or(|t| t.title != title) {
                titles.push(TitleAt {
                    at: p.ts,
                    title: title.to_owned(),
                });
            }
        }
    }
    Some(SessionSummary {
        start,
        end: last.ts,
        started_at: acc.started_at,
        duration_s: (last.ts - start) as f64 / 1000.0,
        observed_s: observed_ms as f64 / 1000.0,
        snapshots: points.len() as u64,
        avg_viewers: if observed_ms == 0 {
            first.viewers as f64
        } else {
            viewer_ms / observed_ms as f64
        },
        peak_viewers: peak.viewers,
        peak_at: peak.ts,
        hours_watched: viewer_ms / HOUR_MS,
        followers_start: followers.first().copied(),
        followers_end: followers.last().copied(),
        followers_gained: followers.first().zip(followers.last()).map(|(a, b)| b - a),
        title_changes: titles.len().saturating_sub(1) as u64,
        games,
        titles,
    })
}

/// The aggregate of a stream session window: snapshots in, [`SessionAcc`] kept, the accumulator
/// out (the processor sums it up with [`summarize`] and its chat).
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamSessionAggregate;

impl Aggregate for StreamSessionAggregate {
    type Input = Snapshot;
    type Acc = SessionAcc;
    type Output = SessionAcc;

    fn init(&self) -> SessionAcc {
        SessionAcc::default()
    }

    fn add(&self, acc: &mut SessionAcc, s: &Snapshot) {
        if let Some(at) = s.started_at {
            acc.started_at = Some(acc.started_at.map_or(at, |a| a.min(at)));
        }
        acc.put(
            s.ts_ms,
            s.viewers,
            s.followers,
            s.game.as_deref(),
            s.title.as_deref(),
        );
    }

    fn merge(&self, into: &mut SessionAcc, other: &SessionAcc) {
        if let Some(at) = other.started_at {
            into.started_at = Some(into.started_at.map_or(at, |a| a.min(at)));
        }
        for p in &other.points {
            let (game, title) = (other.string(p.game), other.string(p.title));
            into.put(p.ts, p.viewers, p.followers, game, title);
        }
    }

    fn finish(&self, acc: &SessionAcc) -> SessionAcc {
        acc.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(ts: i64, viewers: i64, followers: Option<i64>, game: &str, title: &str) -> Snapshot {
        Snapshot {
            channel: "nymn".into(),
            live: true,
            viewers,
            followers,
            game: (!game.is_empty()).then(|| game.to_owned()),
            title: (!title.is_empty()).then(|| title.to_owned()),
            started_at: None,
            ts_ms: ts,
            stream_end: false,
        }
    }

    fn acc_of(snaps: &[Snapshot]) -> SessionAcc {
        let mut acc = StreamSessionAggregate.init();
        for s in snaps {
            StreamSessionAggregate.add(&mut acc, s);
        }
        acc
    }

    #[test]
    fn figures_follow_the_step_function_definitions() {
        // 100 viewers for 10 min, 300 for 20 min, then a last poll at 50.
        let m = 60_000;
        let acc = acc_of(&[
            snap(0, 100, Some(1_000), "Just Chatting", "hi"),
            snap(10 * m, 300, None, "Elden Ring", "hi"),
            snap(30 * m, 50, Some(1_040), "Elden Ring", "boss time"),
        ]);
        let s = summarize(&acc).unwrap();
        assert_eq!((s.start, s.end, s.snapshots), (0, 30 * m, 3));
        assert_eq!(s.duration_s, 1_800.0);
        // (100 × 10 + 300 × 20) viewer-minutes = 7,000 / 60 hours.
        assert!((s.hours_watched - 7_000.0 / 60.0).abs() < 1e-9);
        assert!((s.avg_viewers - 7_000.0 / 30.0).abs() < 1e-9);
        assert_eq!((s.peak_viewers, s.peak_at), (300, 10 * m));
        assert_eq!(
            (s.followers_start, s.followers_end, s.followers_gained),
            (Some(1_000), Some(1_040), Some(40))
        );
        let games: Vec<_> = s
            .games
            .iter()
            .map(|g| (g.game.as_str(), g.minutes))
            .collect();
        assert_eq!(games, [("Just Chatting", 10.0), ("Elden Ring", 20.0)]);
        let titles: Vec<_> = s.titles.iter().map(|t| (t.at, t.title.as_str())).collect();
        assert_eq!(titles, [(0, "hi"), (30 * m, "boss time")]);
        assert_eq!(s.title_changes, 1);
    }

    #[test]
    fn one_snapshot_has_no_duration_and_its_own_viewers() {
        let s = summarize(&acc_of(&[snap(5, 42, None, "", "")])).unwrap();
        assert_eq!(
            (s.duration_s, s.avg_viewers, s.hours_watched),
            (0.0, 42.0, 0.0)
        );
        assert_eq!((s.followers_gained, s.title_changes), (None, 0));
        assert!(s.games.is_empty() && s.titles.is_empty());
    }

    #[test]
    fn started_at_moves_the_start_but_not_the_observed_average() {
        let mut a = snap(600_000, 10, None, "", "");
        a.started_at = Some(0);
        let b = snap(1_200_000, 10, None, "", "");
        let s = summarize(&acc_of(&[a, b])).unwrap();
        assert_eq!(
            (s.start, s.started_at, s.duration_s, s.observed_s),
            (0, Some(0), 1_200.0, 600.0)
        );
        assert_eq!(s.avg_viewers, 10.0);
    }

    #[test]
    fn out_of_order_and_merged_snapshots_give_the_in_order_figures() {
        let snaps: Vec<Snapshot> = (0..40)
            .map(|i| {
                snap(
                    i * 60_000,
                    100 + (i * 37) % 90,
                    Some(i * 3),
                    if i < 20 { "A" } else { "B" },
                    "t",
                )
            })
            .collect();
        let in_order = summarize(&acc_of(&snaps)).unwrap();
        let mut shuffled = snaps.clone();
        shuffled.reverse();
        assert_eq!(summarize(&acc_of(&shuffled)).unwrap(), in_order);
        // Two halves merged, and a snapshot read twice.
        let mut left = acc_of(&snaps[..25]);
        let right = acc_of(&snaps[20..]);
        StreamSessionAggregate.merge(&mut left, &right);
        assert_eq!(summarize(&left).unwrap(), in_order);
    }
}

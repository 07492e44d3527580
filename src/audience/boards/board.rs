//! The boards: which figure of a channel over a period each ranks ([`Board`]), and the totals of
//! a channel's sessions in a period they are read from ([`PeriodTotals`]). Averages are weighted
//! by session duration ([`SessionRow::weight`]); unknown figures are left out, not read as 0.

use serde::{Deserialize, Serialize};

use super::session_row::SessionRow;

/// A leaderboard: one figure per channel and period, ranked highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Board {
    /// Hours watched, summed over the sessions.
    HoursWatched,
    /// Average viewers: the sessions' averages weighted by duration.
    AvgViewers,
    /// Peak viewers: the largest of the sessions' peaks.
    PeakViewers,
    /// Followers gained, summed over the sessions where known.
    FollowersGained,
    /// Chat messages, summed over the sessions where known.
    ChatMessages,
    /// Chatters per 100 viewers, weighted like average viewers over the sessions where known.
    Engagement,
}

impl Board {
    /// Every board, in the order records are emitted.
    pub const ALL: [Board; 6] = [
        Board::HoursWatched,
        Board::AvgViewers,
        Board::PeakViewers,
        Board::FollowersGained,
        Board::ChatMessages,
        Board::Engagement,
    ];

    /// Its name in records and queries.
    pub fn as_str(self) -> &'static str {
        match self {
            Board::HoursWatched => "hours_watched",
            Board::AvgViewers => "avg_viewers",
            Board::PeakViewers => "peak_viewers",
            Board::FollowersGained => "followers_gained",
            Board::ChatMessages => "chat_messages",
            Board::Engagement => "engagement",
        }
    }

    /// The board named `name`.
    pub fn parse(name: &str) -> Option<Board> {
        Board::ALL.into_iter().find(|b| b.as_str() == name)
    }
}

/// A channel's sessions in one period, summed up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeriodTotals {
    /// Sessions counted.
    pub sessions: u64,
    /// Σ hours watched.
    pub hours_watched: f64,
    /// Σ weight × average viewers.
    pub viewers_weighted: f64,
    /// Σ weight.
    pub weight: f64,
    /// The largest peak.
    pub peak_viewers: i64,
    /// Σ followers gained over the sessions where known; `None` when none was.
    pub followers_gained: Option<i64>,
    /// Σ chat messages over the sessions where known.
    pub messages: Option<i64>,
    /// Σ weight × chatters per 100 viewers over the sessions where known.
    pub engagement_weighted: f64,
    /// Σ weight over those sessions; 0 when none was known.
    pub engagement_weight: f64,
}

fn add_known(sum: &mut Option<i64>, value: Option<i64>) {
    if let Some(v) = value {
        *sum = Some(sum.unwrap_or(0) + v);
    }
}

impl PeriodTotals {
    /// Counts one session.
    pub fn add(&mut self, s: &SessionRow) {
        let w = s.weight();
        self.peak_viewers = if self.sessions == 0 {
            s.peak_viewers
        } else {
            self.peak_viewers.max(s.peak_viewers)
        };
        self.sessions += 1;
        self.hours_watched += s.hours_watched;
        self.viewers_weighted += w * s.avg_viewers;
        self.weight += w;
        add_known(&mut self.followers_gained, s.followers_gained);
        add_known(&mut self.messages, s.messages);
        if let Some(e) = s.chatters_per_100_viewers {
            self.engagement_weighted += w * e;
            self.engagement_weight += w;
        }
    }

    /// The figure `board` ranks, or `None` when no session of the period knew it (the channel is
    /// then absent from that board).
    pub fn value(&self, board: Board) -> Option<f64> {
        if self.sessions == 0 {
            return None;
        }
        match board {
            Board::HoursWatched => Some(self.hours_watched),
            Board::AvgViewers => Some(self.viewers_weighted / self.weight),
            Board::PeakViewers => Some(self.peak_viewers as f64),
            Board::FollowersGained => self.followers_gained.map(|v| v as f64),
            Board::ChatMessages => self.messages.map(|v| v as f64),
            Board::Engagement => (self.engagement_weight > 0.0)
                .then(|| self.engagement_weighted / self.engagement_weight),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(duration_s: f64, avg: f64, peak: i64, followers: Option<i64>) -> SessionRow {
        SessionRow {
            start: 0,
            end: (duration_s * 1000.0) as i64,
            duration_s,
            avg_viewers: avg,
            peak_viewers: peak,
            hours_watched: avg * duration_s / 3600.0,
            followers_gained: followers,
            messages: None,
            chatters_per_100_viewers: followers.map(|_| 5.0),
            is_final: true,
        }
    }

    #[test]
    fn averages_weigh_by_duration_and_unknown_figures_stay_unknown() {
        let mut t = PeriodTotals::default();
        assert_eq!(t.value(Board::HoursWatched), None);
        t.add(&session(3600.0, 100.0, 150, None));
        assert_eq!(t.value(Board::FollowersGained), None);
        assert_eq!(t.value(Board::Engagement), None);
        // Three hours at 200 against one at 100: (100 + 3 × 200) / 4 = 175.
        t.add(&session(3.0 * 3600.0, 200.0, 120, Some(-4)));
        // A single snapshot weighs 1 s.
        t.add(&session(0.0, 9_000.0, 9_000, Some(10)));
        let w = 4.0 * 3600.0 + 1.0;
        let avg = (100.0 * 3600.0 + 200.0 * 3.0 * 3600.0 + 9_000.0) / w;
        assert!((t.value(Board::AvgViewers).unwrap() - avg).abs() < 1e-9);
        assert!((t.value(Board::HoursWatched).unwrap() - 700.0).abs() < 1e-9);
        assert_eq!(t.value(Board::PeakViewers), Some(9_000.0));
        assert_eq!(t.value(Board::FollowersGained), Some(6.0));
        assert_eq!(t.value(Board::ChatMessages), None);
        assert_eq!(t.value(Board::Engagement), Some(5.0));
        assert_eq!(t.sessions, 3);
    }

    #[test]
    fn boards_read_their_names_back() {
        for b in Board::ALL {
            assert_eq!(Board::parse(b.as_str()), Some(b));
        }
        assert_eq!(Board::parse("nope"), None);
    }
}

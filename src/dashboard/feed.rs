//! The result topics the dashboard reads, each a feed with its own view: which topic it is by
//! default, and its name in the page's JSON.

use std::fmt;

/// A result topic the dashboard shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feed {
    /// Per channel and minute: messages, chatters, viewers, emotes, sentiment (`engagement`).
    Minutes,
    /// Chat spikes, onset and end records (`spikes`).
    Spikes,
    /// Subscriptions per window (`sub_trend`; the 5-minute windows are shown).
    SubTrend,
    /// Recommended ad breaks (`ad_slots`).
    AdSlots,
    /// Per channel and hour, with `hour_of_week`: the heatmap (`audience_hour`).
    Hours,
    /// Finished stream sessions (`stream_sessions`).
    Sessions,
    /// Daily and weekly leaderboards.
    Leaderboards,
    /// Rising channels.
    Rising,
    /// Alerts.
    Alerts,
}

impl Feed {
    /// Every feed.
    pub const ALL: [Feed; 9] = [
        Feed::Minutes,
        Feed::Spikes,
        Feed::SubTrend,
        Feed::AdSlots,
        Feed::Hours,
        Feed::Sessions,
        Feed::Leaderboards,
        Feed::Rising,
        Feed::Alerts,
    ];

    /// The feed's name in the views and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Feed::Minutes => "minutes",
            Feed::Spikes => "spikes",
            Feed::SubTrend => "subs",
            Feed::AdSlots => "ad_slots",
            Feed::Hours => "hours",
            Feed::Sessions => "sessions",
            Feed::Leaderboards => "leaderboards",
            Feed::Rising => "rising",
            Feed::Alerts => "alerts",
        }
    }

    /// The topic the shipped topologies write it to.
    pub fn default_topic(self) -> &'static str {
        match self {
            Feed::Minutes => "twitch.engagement.minute",
            Feed::Spikes => "twitch.spikes",
            Feed::SubTrend => "twitch.subscriptions.trend",
            Feed::AdSlots => "twitch.ad_slots",
            Feed::Hours => "twitch.audience.hour",
            Feed::Sessions => "twitch.streams.sessions",
            Feed::Leaderboards => "twitch.leaderboards",
            Feed::Rising => "twitch.rising",
            Feed::Alerts => "twitch.alerts",
        }
    }

    /// The feed named `name` ([`Feed::name`]).
    pub fn named(name: &str) -> Option<Feed> {
        Feed::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_topics_are_distinct_and_round_trip() {
        for feed in Feed::ALL {
            assert_eq!(Feed::named(feed.name()), Some(feed));
        }
        let mut topics: Vec<&str> = Feed::ALL.iter().map(|f| f.default_topic()).collect();
        topics.sort();
        topics.dedup();
        assert_eq!(topics.len(), Feed::ALL.len());
    }
}

//! The names of all state tables, assigned here once: each name fixes the key prefix the table's
//! entries carry in its processor's store, so two tables never share a tag. The prefixes are the
//! on-disk and changelog layout; changing one makes existing state unreadable.

/// The first byte of every tagged table's keys. Window keys start with a channel name, never with
/// this control byte, so the untagged [`TableName::WINDOWS`] table sits beside the tagged ones.
const TAGGED: u8 = 1;

/// A state table's name and the key prefix its entries are stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableName {
    name: &'static str,
    prefix: &'static [u8],
}

impl TableName {
    /// The windows of a windowed processor (`chat_count`, `engagement`, `sub_trend`): keys are the
    /// bare [`window_key`](super::window::window_key), no prefix.
    pub const WINDOWS: TableName = TableName {
        name: "windows",
        prefix: &[],
    };
    /// A task's gift counter (`GiftCounter`), one entry: key `\x01g`.
    pub const GIFTS: TableName = TableName {
        name: "gifts",
        prefix: &[TAGGED, b'g'],
    };
    /// The spike tracker's 5-second buckets: `\x01b` + window key.
    pub const SPIKE_BUCKETS: TableName = TableName {
        name: "spike_buckets",
        prefix: &[TAGGED, b'b'],
    };
    /// The spike tracker's detector per channel: `\x01d` + channel.
    pub const SPIKE_DETECTORS: TableName = TableName {
        name: "spike_detectors",
        prefix: &[TAGGED, b'd'],
    };
    /// `sub_trend`'s usual subs per window and remembered chat spikes, one entry: `\x01u`.
    pub const SUB_TREND_MEMORY: TableName = TableName {
        name: "sub_trend_memory",
        prefix: &[TAGGED, b'u'],
    };
    /// `ad_slots`' audience minutes: `\x01m` + window key.
    pub const AD_SLOT_MINUTES: TableName = TableName {
        name: "ad_slot_minutes",
        prefix: &[TAGGED, b'm'],
    };
    /// `ad_slots`' recommender per channel: `\x01a` + channel.
    pub const AD_SLOT_CHANNELS: TableName = TableName {
        name: "ad_slot_channels",
        prefix: &[TAGGED, b'a'],
    };

    /// Session windows (`chatter_sessions`): `\x01s` + window key of the session's key and start.
    pub const SESSIONS: TableName = TableName {
        name: "sessions",
        prefix: &[TAGGED, b's'],
    };
    /// The open days and weeks of `leaderboards` and `rising`: `\x01p` + `day|week start channel`.
    pub const PERIOD_TOTALS: TableName = TableName {
        name: "period_totals",
        prefix: &[TAGGED, b'p'],
    };
    /// `leaderboards`' last closed period per board: `\x01v` + `day|week board`.
    pub const BOARD_PREVIOUS: TableName = TableName {
        name: "board_previous",
        prefix: &[TAGGED, b'v'],
    };
    /// `rising`'s history per channel: `\x01r` + `day|week channel`.
    pub const RISING_HISTORY: TableName = TableName {
        name: "rising_history",
        prefix: &[TAGGED, b'r'],
    };

    /// `stream_sessions`' sessions that closed and wait for their chat: `\x01w` + session id.
    pub const SESSIONS_FINISHING: TableName = TableName {
        name: "sessions_finishing",
        prefix: &[TAGGED, b'w'],
    };
    /// `stream_sessions`' chat per channel and minute: `\x01c` + channel, 0, minute.
    pub const SESSION_CHAT: TableName = TableName {
        name: "session_chat",
        prefix: &[TAGGED, b'c'],
    };
    /// `stream_sessions`' snapshots of open sessions: `\x01n` + session key, 0, poll time.
    pub const SESSION_POINTS: TableName = TableName {
        name: "session_points",
        prefix: &[TAGGED, b'n'],
    };
    /// Whether `stream_sessions` has read a chat line, one entry: `\x01h`.
    pub const SESSION_CHAT_SEEN: TableName = TableName {
        name: "session_chat_seen",
        prefix: &[TAGGED, b'h'],
    };

    /// First-seen chatters (`engagement` with `first_seen_chatters`, `audience_hour`): `\x01f` +
    /// window key of the channel and the hour bucket's start.
    pub const FIRST_SEEN: TableName = TableName {
        name: "first_seen",
        prefix: &[TAGGED, b'f'],
    };

    /// An alert rule's gate and memory per channel (`alert`): `\x01l` + channel.
    pub const ALERT_CHANNELS: TableName = TableName {
        name: "alert_channels",
        prefix: &[TAGGED, b'l'],
    };

    /// `highlights`' detector per channel: `\x01k` + channel.
    pub const HIGHLIGHT_CHANNELS: TableName = TableName {
        name: "highlight_channels",
        prefix: &[TAGGED, b'k'],
    };

    /// Every table name.
    pub const ALL: &'static [TableName] = &[
        TableName::WINDOWS,
        TableName::GIFTS,
        TableName::SPIKE_BUCKETS,
        TableName::SPIKE_DETECTORS,
        TableName::SUB_TREND_MEMORY,
        TableName::AD_SLOT_MINUTES,
        TableName::AD_SLOT_CHANNELS,
        TableName::SESSIONS,
        TableName::SESSIONS_FINISHING,
        TableName::SESSION_CHAT,
        TableName::SESSION_CHAT_SEEN,
        TableName::SESSION_POINTS,
        TableName::PERIOD_TOTALS,
        TableName::BOARD_PREVIOUS,
        TableName::RISING_HISTORY,
        TableName::FIRST_SEEN,
        TableName::ALERT_CHANNELS,
        TableName::HIGHLIGHT_CHANNELS,
    ];

    /// The name, for messages.
    pub fn as_str(self) -> &'static str {
        self.name
    }

    /// The key prefix of the table's entries.
    pub fn prefix(self) -> &'static [u8] {
        self.prefix
    }

    /// The rest of `key` after this table's prefix, or `None` when `key` is not this table's.
    pub fn strip(self, key: &[u8]) -> Option<&[u8]> {
        if self.prefix.is_empty() {
            (key.first() != Some(&TAGGED)).then_some(key)
        } else {
            key.strip_prefix(self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_belongs_to_at_most_one_table() {
        for (i, a) in TableName::ALL.iter().enumerate() {
            for b in &TableName::ALL[i + 1..] {
                assert_ne!(a.as_str(), b.as_str());
                assert!(a.strip(b.prefix()).is_none() || b.strip(a.prefix()).is_none());
                let key = [b.prefix(), b"nymn"].concat();
                assert!(
                    a.strip(&key).is_none() || b.strip(&key).is_none(),
                    "{a:?} and {b:?} both claim {key:?}"
                );
            }
        }
        assert_eq!(TableName::WINDOWS.strip(b"nymn"), Some(&b"nymn"[..]));
        assert_eq!(TableName::GIFTS.strip(b"\x01g"), Some(&b""[..]));
        assert_eq!(TableName::GIFTS.strip(b"nymn"), None);
    }
}

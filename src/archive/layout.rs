//! Where archived files go: Hive-style directories by event time (and, optionally, channel) and
//! names from topic, Kafka partition and first offset, so that a retry of the same batch writes
//! the same names. Pure: paths are strings relative to the store's root.

use crate::time::civil::{civil_from_days, days_from_civil};

/// The directory of a file: its topic, event hour and, when partitioning by channel, channel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileKey {
    /// The hour's start, in epoch milliseconds.
    pub hour_start_ms: i64,
    /// The channel, when the layout has `channel=` directories (`None` also for rows without one).
    pub channel: Option<String>,
}

const HOUR_MS: i64 = 3_600_000;

/// Hive's name for a partition whose value is null.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// How to lay files out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The topic, the first directory level.
    pub topic: String,
    /// Whether to add a `channel=<c>/` level under the hour.
    pub by_channel: bool,
}

impl Layout {
    /// The key of a row with `event_time_ms` and `channel`.
    pub fn key(&self, event_time_ms: i64, channel: Option<&str>) -> FileKey {
        FileKey {
            hour_start_ms: event_time_ms - event_time_ms.rem_euclid(HOUR_MS),
            channel: if self.by_channel {
                Some(channel.unwrap_or(NULL_PARTITION).to_owned())
            } else {
                None
            },
        }
    }

    /// The directory of `key`: `<topic>/dt=YYYY-MM-DD/hour=HH[/channel=<c>]`.
    pub fn directory(&self, key: &FileKey) -> String {
        let days = key.hour_start_ms.div_euclid(86_400_000);
        let hour = key.hour_start_ms.rem_euclid(86_400_000) / HOUR_MS;
        let (y, m, d) = civil_from_days(days);
        let mut dir = format!(
            "{}/dt={y:04}-{m:02}-{d:02}/hour={hour:02}",
            escape(&self.topic)
        );
        if let Some(c) = &key.channel {
            dir.push_str("/channel=");
            if c == NULL_PARTITION {
                dir.push_str(c);
            } else {
                dir.push_str(&escape(c));
            }
        }
        dir
    }

    /// The path of the file of `key` whose first record is at `first_offset` of `partition`:
    /// `<directory>/<topic>+<partition>+<first_offset>.parquet`.
    pub fn file(&self, key: &FileKey, partition: i32, first_offset: i64) -> String {
        format!(
            "{}/{}+{partition}+{first_offset}.parquet",
            self.directory(key),
            escape(&self.topic)
        )
    }
}

/// `s` with every byte outside `[A-Za-z0-9._-]` percent-encoded (Hive's escaping of path values),
/// so a value can never add a directory level or leave the root.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() || out == "." || out == ".." {
        return out.replace('.', "%2E") + if out.is_empty() { "%00" } else { "" };
    }
    out
}

/// The start of the hour a file's path names (`.../dt=YYYY-MM-DD/hour=HH/...`): the inverse of
/// [`Layout::directory`], for readers that prune by directory.
pub fn hour_of_path(path: &str) -> Option<i64> {
    let mut date = None;
    let mut hour = None;
    for part in path.split('/') {
        if let Some(d) = part.strip_prefix("dt=") {
            let mut it = d.split('-');
            let y: i64 = it.next()?.parse().ok()?;
            let m: u32 = it.next()?.parse().ok()?;
            let d: u32 = it.next()?.parse().ok()?;
            date = Some(days_from_civil(y, m, d));
        } else if let Some(h) = part.strip_prefix("hour=") {
            hour = Some(h.parse::<i64>().ok().filter(|h| (0..24).contains(h))?);
        }
    }
    Some(date? * 86_400_000 + hour? * HOUR_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(by_channel: bool) -> Layout {
        Layout {
            topic: "twitch.chat.raw".into(),
            by_channel,
        }
    }

    #[test]
    fn files_go_under_their_event_hour() {
        // 2024-01-06T16:19:44.095Z
        let l = layout(false);
        let key = l.key(1_704_557_984_095, Some("nymn"));
        assert_eq!(key.hour_start_ms, 1_704_556_800_000);
        assert_eq!(
            l.file(&key, 2, 1234),
            "twitch.chat.raw/dt=2024-01-06/hour=16/twitch.chat.raw+2+1234.parquet"
        );
    }

    #[test]
    fn channel_directories_are_optional_escaped_and_named_for_nulls() {
        let l = layout(true);
        let key = l.key(0, Some("nymn"));
        assert_eq!(
            l.directory(&key),
            "twitch.chat.raw/dt=1970-01-01/hour=00/channel=nymn"
        );
        assert_eq!(
            l.directory(&l.key(-1, None)),
            "twitch.chat.raw/dt=1969-12-31/hour=23/channel=__HIVE_DEFAULT_PARTITION__"
        );
        assert_eq!(
            l.directory(&l.key(0, Some("../x y"))),
            "twitch.chat.raw/dt=1970-01-01/hour=00/channel=..%2Fx%20y"
        );
    }

    #[test]
    fn escaping_never_yields_a_relative_directory() {
        assert_eq!(escape(".."), "%2E%2E");
        assert_eq!(escape("."), "%2E");
        assert_eq!(escape(""), "%00");
        assert_eq!(escape("a+b"), "a%2Bb");
    }

    #[test]
    fn hours_come_from_the_hive_directories() {
        let t = days_from_civil(2025, 4, 28) * 86_400_000 + 13 * HOUR_MS;
        assert_eq!(
            hour_of_path("twitch.chat.raw/dt=2025-04-28/hour=13/twitch.chat.raw+0+00000000000000000042.parquet"),
            Some(t)
        );
        assert_eq!(
            hour_of_path("t/dt=2025-04-28/hour=13/channel=nymn/f.parquet"),
            Some(t)
        );
        assert_eq!(hour_of_path("t/dt=2025-04-28/f.parquet"), None);
        assert_eq!(hour_of_path("t/dt=2025-04-28/hour=24/f.parquet"), None);
        // The inverse of `directory`, with and without channel directories.
        for by_channel in [false, true] {
            let l = layout(by_channel);
            let key = l.key(t + 1_234_567, Some("nymn"));
            let file = l.file(&key, 3, 42);
            assert_eq!(hour_of_path(&file), Some(t), "{file}");
        }
    }
}

//! [`FirstSeen`]: which chatters of a window were never seen before in their channel within a memory
//! horizon (whole UTC days), as 64-bit login hashes with the day last seen. Pure: its changes leave
//! as hour buckets ([`Bucket`]), so a commit writes only the buckets that changed.
//!
//! **Definition.** A chatter of window `W` (channel `c`) is *first-seen* when `c`'s FirstSeen holds no
//! message of theirs on UTC days `day(W) - horizon ..= day(W)` before `W`, i.e. their last day seen is
//! older than `day(W) - horizon`. A chatter counts once per streak: a correction of `W` (late records)
//! counts again the ones `W` itself introduced, never one a later window already counted.
//!
//! **Hash collisions.** Logins are kept as [`chatter_hash`](crate::analysis::chatter_hash) (FNV-1a,
//! 64 bits). Two logins of one channel sharing a hash make the second look seen: with `n` distinct
//! chatters in a channel's horizon the chance of any collision is at most `n² / 2⁶⁵` (about 3·10⁻⁸
//! for a million chatters), and each collision undercounts by one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// Milliseconds per UTC day.
const DAY_MS: i64 = 86_400_000;
/// Milliseconds per hour (the bucket width).
const HOUR_MS: i64 = 3_600_000;

/// The UTC day number of `ms` (days since 1970-01-01).
fn day(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// What FirstSeen knows of one chatter of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// Start of the window that began the chatter's current streak; `i64::MIN` when that window is
    /// unknown (restored from a bucket that only says the chatter was seen).
    first_ms: i64,
    /// Start of the hour bucket holding the chatter's last day seen (the first window of that day).
    /// The bucket of its streak's first window names it too, so a restore knows that window.
    bucket_ms: i64,
}

/// One persisted bucket: the chatters whose last day seen was set by windows starting in one hour.
/// Those whose streak began there carry that window's start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Hashes seen again (their streak began earlier), ascending.
    #[serde(default)]
    pub seen: Vec<u64>,
    /// `(window start, hash)` of the chatters first seen here, ascending.
    #[serde(default)]
    pub new: Vec<(i64, u64)>,
}

/// One channel's chatters and buckets.
#[derive(Debug, Default)]
struct Channel {
    chatters: HashMap<u64, Seen>,
    /// Each chatter sits in the bucket of its last day seen and in that of its streak's first
    /// window ([`Seen::buckets`]); older copies on disk are harmless.
    buckets: BTreeMap<i64, HashSet<u64>>,
}

/// The hour start of `ms`.
fn hour(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

impl Seen {
    /// The buckets holding the chatter: its last day's and its streak's first (one or two).
    fn buckets(&self) -> impl Iterator<Item = i64> {
        let first = (self.first_ms != i64::MIN)
            .then(|| hour(self.first_ms))
            .filter(|h| *h != self.bucket_ms);
        std::iter::once(self.bucket_ms).chain(first)
    }
}

impl Channel {
    /// Sets `hash` from `previous` to `next`, moving it between bucket sets.
    fn set(&mut self, hash: u64, previous: Option<Seen>, next: Seen) {
        if let Some(old) = previous {
            for b in old.buckets() {
                if let Some(set) = self.buckets.get_mut(&b) {
                    set.remove(&hash);
                }
            }
        }
        for b in next.buckets() {
            self.buckets.entry(b).or_default().insert(hash);
        }
        self.chatters.insert(hash, next);
    }
}

/// The first-seen memory of one task: per channel, every chatter's hash with its last day seen,
/// for `horizon_days` days.
#[derive(Debug)]
pub struct FirstSeen {
    horizon_days: i64,
    channels: HashMap<String, Channel>,
    /// Buckets changed since the last [`FirstSeen::take_dirty`]: `(channel, hour start)`.
    dirty: BTreeSet<(String, i64)>,
    /// The day [`FirstSeen::expire`] last ran for.
    expired_day: i64,
}

impl FirstSeen {
    /// An empty memory of `horizon_days` (at least 1) days.
    pub fn new(horizon_days: i64) -> Self {
        FirstSeen {
            horizon_days: horizon_days.max(1),
            channels: HashMap::new(),
            dirty: BTreeSet::new(),
            expired_day: i64::MIN,
        }
    }

    /// Whether `hash` is first-seen in the window of `channel` starting at `start_ms` (see the
    /// module doc). Read-only: true for a chatter that window itself introduced.
    pub fn is_new(&self, channel: &str, hash: u64, start_ms: i64) -> bool {
        match self
            .channels
            .get(channel)
            .and_then(|c| c.chatters.get(&hash))
        {
            None => true,
            Some(s) => s.first_ms == start_ms || self.expired(s, start_ms),
        }
    }

    /// How many of `hashes` are first-seen in the window of `channel` starting at `start_ms`.
    pub fn count_new(
        &self,
        channel: &str,
        hashes: impl IntoIterator<Item = u64>,
        start_ms: i64,
    ) -> u64 {
        hashes
            .into_iter()
            .filter(|h| self.is_new(channel, *h, start_ms))
            .count() as u64
    }

    /// True when `s`'s last day seen is older than the horizon of a window starting at `start_ms`.
    fn expired(&self, s: &Seen, start_ms: i64) -> bool {
        day(s.bucket_ms) < day(start_ms) - self.horizon_days
    }

    /// Records that `hashes` chatted in the window of `channel` starting at `start_ms` (call it once
    /// the window is final, windows of a channel in order; again for a correction). Only a chatter
    /// whose last day seen moves on changes a bucket, so a chatter costs a write once per day.
    pub fn record(&mut self, channel: &str, hashes: impl IntoIterator<Item = u64>, start_ms: i64) {
        self.expire(start_ms);
        let bucket_ms = start_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let horizon = self.horizon_days;
        let ch = match self.channels.get_mut(channel) {
            Some(c) => c,
            None => self.channels.entry(channel.to_owned()).or_default(),
        };
        let mut changed = false;
        for hash in hashes {
            let previous = ch.chatters.get(&hash).copied();
            let next = match previous {
                None => Seen {
                    first_ms: start_ms,
                    bucket_ms,
                },
                Some(s) if day(s.bucket_ms) < day(start_ms) - horizon => Seen {
                    first_ms: start_ms,
                    bucket_ms,
                },
                Some(s) if day(s.bucket_ms) < day(start_ms) => Seen { bucket_ms, ..s },
                Some(_) => continue,
            };
            ch.set(hash, previous, next);
            changed = true;
        }
        if changed {
            self.dirty.insert((channel.to_owned(), bucket_ms));
        }
    }

    /// Forgets the chatters and buckets no window from the day before `now_ms`'s on can need
    /// (their day is older than that day's horizon). Cheap when the day has not changed.
    /// [`FirstSeen::record`] calls it with each window's start: the memory follows the windows'
    /// event time, not the watermark (which jumps to the end of time when an offline run ends).
    pub fn expire(&mut self, now_ms: i64) {
        let today = day(now_ms);
        if today <= self.expired_day {
            return;
        }
        self.expired_day = today;
        // One day of slack: a window closing just after midnight still sees yesterday's horizon.
        let oldest_day = today - 1 - self.horizon_days;
        for (name, ch) in &mut self.channels {
            while let Some((&hour, _)) = ch.buckets.first_key_value() {
                if day(hour) >= oldest_day {
                    break;
                }
                let (_, hashes) = ch.buckets.pop_first().expect("checked");
                for h in hashes {
                    if ch.chatters.get(&h).is_some_and(|s| s.bucket_ms == hour) {
                        ch.chatters.remove(&h);
                    }
                }
                self.dirty.insert((name.clone(), hour));
            }
        }
        self.channels.retain(|_, c| !c.chatters.is_empty());
    }

    /// The buckets changed since the last call, in key order: `(channel, hour start, contents)`,
    /// `None` for a bucket that expired (delete it).
    pub fn take_dirty(&mut self) -> Vec<(String, i64, Option<Bucket>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|(channel, hour)| {
                let bucket = self.channels.get(&channel).and_then(|ch| {
                    let hashes = ch.buckets.get(&hour)?;
                    let mut b = Bucket::default();
                    for h in hashes {
                        let s = ch.chatters[h];
                        if s.first_ms != i64::MIN && self::hour(s.first_ms) == hour {
                            b.new.push((s.first_ms, *h));
                        } else {
                            b.seen.push(*h);
                        }
                    }
                    b.seen.sort_unstable();
                    b.new.sort_unstable();
                    Some(b)
                });
                (channel, hour, bucket)
            })
            .collect()
    }

    /// Restores one persisted bucket (in any order among the others): each chatter keeps its
    /// newest day, and its streak's first window when a bucket names it. Restored state is clean.
    pub fn restore(&mut self, channel: &str, hour_ms: i64, bucket: &Bucket) {
        let ch = self.channels.entry(channel.to_owned()).or_default();
        let entries = bucket
            .seen
            .iter()
            .map(|h| (*h, i64::MIN))
            .chain(bucket.new.iter().map(|(ms, h)| (*h, *ms)));
        for (hash, first_ms) in entries {
            let previous = ch.chatters.get(&hash).copied();
            let next = match previous {
                None => Seen {
                    first_ms,
                    bucket_ms: hour_ms,
                },
                Some(s) => Seen {
                    first_ms: s.first_ms.max(first_ms),
                    bucket_ms: s.bucket_ms.max(hour_ms),
                },
            };
            ch.set(hash, previous, next);
        }
    }

    /// Chatters held over all channels.
    pub fn len(&self) -> usize {
        self.channels.values().map(|c| c.chatters.len()).sum()
    }

    /// True when it holds no chatter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = DAY_MS;
    const M: i64 = 60_000;

    /// First-seen of `(window start, chatter)` visits by brute force: new when no earlier visit of
    /// the chatter lies on days `day(W) - horizon ..= day(W)`.
    fn brute(visits: &[(i64, u64)], horizon: i64) -> Vec<u64> {
        let mut windows: BTreeMap<i64, BTreeSet<u64>> = BTreeMap::new();
        for (w, h) in visits {
            windows.entry(*w).or_default().insert(*h);
        }
        windows
            .iter()
            .map(|(w, hs)| {
                hs.iter()
                    .filter(|h| {
                        !visits.iter().any(|(v, x)| {
                            x == *h && v < w && v.div_euclid(D) >= w.div_euclid(D) - horizon
                        })
                    })
                    .count() as u64
            })
            .collect()
    }

    /// Runs `visits` window by window through a FirstSeen, expiring as the windows go.
    fn run(fs: &mut FirstSeen, visits: &[(i64, u64)]) -> Vec<u64> {
        let mut windows: BTreeMap<i64, BTreeSet<u64>> = BTreeMap::new();
        for (w, h) in visits {
            windows.entry(*w).or_default().insert(*h);
        }
        windows
            .iter()
            .map(|(w, hs)| {
                fs.expire(*w + M);
                fs.record("c", hs.iter().copied(), *w);
                fs.count_new("c", hs.iter().copied(), *w)
            })
            .collect()
    }

    /// Visits over 12 days: chatter 1 daily, 2 every 4 days, 3 on days 0 and 9, 4 twice on day 0.
    fn visits() -> Vec<(i64, u64)> {
        let base = 19_700 * D + 10 * 3_600_000;
        let mut v = Vec::new();
        for d in 0..12 {
            v.push((base + d * D, 1));
            if d % 4 == 0 {
                v.push((base + d * D + 5 * M, 2));
            }
        }
        v.extend([(base, 3), (base + 9 * D, 3), (base, 4), (base + 2 * M, 4)]);
        v.sort();
        v
    }

    #[test]
    fn chatters_are_new_again_only_past_the_horizon() {
        for horizon in [1, 3, 4, 8, 30] {
            let v = visits();
            let got = run(&mut FirstSeen::new(horizon), &v);
            assert_eq!(got, brute(&v, horizon), "horizon {horizon}");
        }
        // Horizon 3: 2 (every 4 days) is new at each visit, 3 comes back on day 9 as new.
        let v = visits();
        assert_eq!(run(&mut FirstSeen::new(3), &v)[..3], [3, 0, 1]);
    }

    #[test]
    fn expiry_forgets_chatters_past_the_horizon_and_deletes_their_buckets() {
        let mut fs = FirstSeen::new(2);
        fs.record("c", [1, 2], 0);
        fs.record("c", [2], D);
        let w = fs.take_dirty();
        assert_eq!(w.len(), 2);
        assert_eq!(
            w[0],
            (
                "c".to_owned(),
                0,
                Some(Bucket {
                    seen: vec![],
                    new: vec![(0, 1), (0, 2)]
                })
            ),
            "the buckets of their first window name both"
        );
        assert_eq!(
            w[1].2,
            Some(Bucket {
                seen: vec![2],
                new: vec![]
            }),
            "2's last day seen"
        );
        fs.expire(3 * D); // oldest day kept: 3 - 1 - 2 = 0
        assert_eq!(fs.len(), 2);
        fs.expire(4 * D);
        assert_eq!(fs.len(), 1, "1 (last seen day 0) is forgotten");
        assert_eq!(fs.take_dirty(), [("c".to_owned(), 0, None)]);
        fs.expire(5 * D);
        assert!(fs.is_empty());
        assert_eq!(fs.take_dirty(), [("c".to_owned(), D, None)]);
    }

    #[test]
    fn a_correction_counts_again_only_what_its_window_introduced() {
        let mut fs = FirstSeen::new(30);
        fs.record("c", [1, 2], 0);
        assert_eq!(fs.count_new("c", [1, 2], 0), 2);
        fs.record("c", [2, 3], M);
        assert_eq!(fs.count_new("c", [2, 3], M), 1);
        // A late record of 3 in minute 0: 3 was already counted by minute 1.
        fs.record("c", [1, 2, 3], 0);
        assert_eq!(fs.count_new("c", [1, 2, 3], 0), 2);
        assert!(fs.is_new("other", 1, 0), "channels are apart");
        assert!(fs.take_dirty().iter().all(|(_, h, _)| *h == 0));
    }

    #[test]
    fn a_restore_from_the_buckets_answers_as_before_and_is_clean() {
        let v = visits();
        let mut fs = FirstSeen::new(4);
        let mut disk: BTreeMap<(String, i64), Bucket> = BTreeMap::new();
        let half = v.len() / 2;
        run(&mut fs, &v[..half]);
        for (c, h, b) in fs.take_dirty() {
            match b {
                Some(b) => disk.insert((c, h), b),
                None => disk.remove(&(c, h)),
            };
        }
        // Restored in reverse key order: the order of entries must not matter.
        let mut restored = FirstSeen::new(4);
        for ((c, h), b) in disk.iter().rev() {
            restored.restore(c, *h, b);
        }
        assert!(restored.take_dirty().is_empty());
        assert_eq!(restored.len(), fs.len());
        for (w, h) in &v {
            assert_eq!(
                restored.is_new("c", *h, *w),
                fs.is_new("c", *h, *w),
                "{w} {h}"
            );
        }
        let (mut a, mut b) = (fs, restored);
        assert_eq!(run(&mut a, &v[half..]), run(&mut b, &v[half..]));
        // A bucket written twice (a stale copy of a chatter that moved on) restores its newest day.
        let mut fs = FirstSeen::new(30);
        let old = Bucket {
            seen: vec![],
            new: vec![(5 * M, 9)],
        };
        let newer = Bucket {
            seen: vec![9],
            new: vec![],
        };
        fs.restore("c", 2 * D, &newer);
        fs.restore("c", 0, &old);
        assert!(!fs.is_new("c", 9, 2 * D + M));
        assert!(fs.is_new("c", 9, 5 * M), "its streak began at 5 min");
        fs.record("c", [9], 2 * D + 2 * M);
        assert!(fs.take_dirty().is_empty(), "day 2 is already its day");
    }
}

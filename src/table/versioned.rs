//! [`VersionedTable`]: every key's values by event time, so that a lookup "as of" time `t` returns the
//! newest value whose time is at or before `t` (KIP-914's versioned key-value store, Quix's
//! `join_asof`). Versions older than the history retention are dropped, but the newest of them stays
//! as the base that later times still see.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

/// One key's versions, oldest first: `(valid_from_ms, value)`.
type Versions = Vec<(i64, Arc<Value>)>;

/// Versions of table values per key.
#[derive(Debug, Default)]
pub struct VersionedTable {
    keys: HashMap<String, Versions>,
    retention_ms: i64,
    /// Versions held over all keys.
    versions: usize,
}

impl VersionedTable {
    /// An empty table that keeps `retention_ms` of history behind the time given to
    /// [`VersionedTable::expire`].
    pub fn new(retention_ms: i64) -> Self {
        VersionedTable {
            keys: HashMap::new(),
            retention_ms: retention_ms.max(0),
            versions: 0,
        }
    }

    /// An empty table as tasks share it.
    pub fn shared(retention_ms: i64) -> super::SharedTable {
        std::sync::Arc::new(std::sync::RwLock::new(VersionedTable::new(retention_ms)))
    }

    /// Puts `value` as `key`'s value from `ts_ms` on. A second put at the same time replaces the
    /// first (the later record wins, as in a compacted topic); an older time slots in between, so an
    /// out-of-order update changes only lookups at or after its own time.
    pub fn put(&mut self, key: &str, ts_ms: i64, value: Value) {
        let versions = match self.keys.get_mut(key) {
            Some(v) => v,
            None => self.keys.entry(key.to_owned()).or_default(),
        };
        let value = Arc::new(value);
        match versions.binary_search_by_key(&ts_ms, |(t, _)| *t) {
            Ok(at) => versions[at].1 = value,
            Err(at) => {
                versions.insert(at, (ts_ms, value));
                self.versions += 1;
            }
        }
    }

    /// `key`'s value as of `ts_ms`: the newest version at or before it, with its time; `None` when the
    /// key has no version that old.
    pub fn as_of(&self, key: &str, ts_ms: i64) -> Option<(i64, &Arc<Value>)> {
        let versions = self.keys.get(key)?;
        let at = versions.partition_point(|(t, _)| *t <= ts_ms);
        at.checked_sub(1).map(|i| (versions[i].0, &versions[i].1))
    }

    /// `key`'s newest value.
    pub fn latest(&self, key: &str) -> Option<&Arc<Value>> {
        self.keys.get(key)?.last().map(|(_, v)| v)
    }

    /// Drops the versions no lookup at or after `now_ms - retention` needs: all but the newest
    /// version at or before that time, per key.
    pub fn expire(&mut self, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(self.retention_ms);
        let mut dropped = 0;
        for versions in self.keys.values_mut() {
            let base = versions.partition_point(|(t, _)| *t <= cutoff);
            if base > 1 {
                versions.drain(..base - 1);
                dropped += base - 1;
            }
        }
        self.versions -= dropped;
    }

    /// Versions held over all keys.
    pub fn versions(&self) -> usize {
        self.versions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The newest put at or before `t` by a scan over every put, the later put winning a tie.
    fn brute_as_of(puts: &[(&str, i64, i64)], key: &str, t: i64) -> Option<i64> {
        let mut best: Option<(i64, usize, i64)> = None;
        for (i, (k, ts, v)) in puts.iter().enumerate() {
            if *k == key && *ts <= t && best.is_none_or(|(bt, bi, _)| (*ts, i) > (bt, bi)) {
                best = Some((*ts, i, *v));
            }
        }
        best.map(|(_, _, v)| v)
    }

    #[test]
    fn lookups_equal_a_scan_over_every_put_whatever_their_order() {
        // Out of order on purpose: 30 s arrives after 60 s, and 60 s is put twice.
        let puts = [
            ("a", 0, 100),
            ("a", 60_000, 160),
            ("b", 10_000, 7),
            ("a", 30_000, 130),
            ("a", 60_000, 161),
            ("b", 5_000, 5),
        ];
        let mut table = VersionedTable::new(i64::MAX);
        for (k, ts, v) in puts {
            table.put(k, ts, Value::from(v));
        }
        for key in ["a", "b", "c"] {
            for t in (-10_000..100_000).step_by(2_500) {
                let got = table.as_of(key, t).map(|(_, v)| v.as_i64().unwrap());
                assert_eq!(got, brute_as_of(&puts, key, t), "{key} as of {t}");
            }
        }
        assert_eq!(table.versions(), 5);
        assert_eq!(table.latest("a").unwrap().as_i64(), Some(161));
    }

    #[test]
    fn expiry_keeps_the_base_version_that_later_lookups_see() {
        let mut table = VersionedTable::new(60_000);
        for (ts, v) in [(0, 1), (30_000, 2), (90_000, 3), (150_000, 4)] {
            table.put("a", ts, Value::from(v));
        }
        table.expire(160_000); // cutoff 100_000: 90_000 is the base, older ones go
        assert_eq!(table.versions(), 2);
        assert_eq!(table.as_of("a", 100_000).unwrap().1.as_i64(), Some(3));
        assert_eq!(table.as_of("a", 150_000).unwrap().1.as_i64(), Some(4));
        assert!(table.as_of("a", 10_000).is_none(), "older than retention");
        table.expire(i64::MIN);
        assert_eq!(table.versions(), 2, "expiry never moves back");
    }
}

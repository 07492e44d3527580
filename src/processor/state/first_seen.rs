//! [`FirstSeenTable`]: a [`FirstSeen`] memory as a state table. Each hour bucket of a channel is one
//! entry under the table's prefix and [`window_key`](super::window::window_key) of the channel and
//! hour; the value is the bucket as JSON. A commit writes only the buckets that changed.

use std::ops::{Deref, DerefMut};

use super::name::TableName;
use super::table::{StateWrite, Table};
use super::window::{parse_window_key, push_window_key};
use crate::audience::first_seen::{Bucket, FirstSeen};

/// The first-seen chatters of one processor, kept as a state table. Derefs to the memory.
#[derive(Debug)]
pub struct FirstSeenTable {
    name: TableName,
    seen: FirstSeen,
}

impl FirstSeenTable {
    /// The table named `name` over `seen`.
    pub fn new(name: TableName, seen: FirstSeen) -> Self {
        FirstSeenTable { name, seen }
    }
}

impl Deref for FirstSeenTable {
    type Target = FirstSeen;

    fn deref(&self) -> &FirstSeen {
        &self.seen
    }
}

impl DerefMut for FirstSeenTable {
    fn deref_mut(&mut self) -> &mut FirstSeen {
        &mut self.seen
    }
}

impl Table for FirstSeenTable {
    fn name(&self) -> TableName {
        self.name
    }

    fn take_writes(&mut self, out: &mut Vec<StateWrite>) {
        let prefix = self.name.prefix();
        for (channel, hour, bucket) in self.seen.take_dirty() {
            let mut k = Vec::with_capacity(prefix.len() + channel.len() + 9);
            k.extend_from_slice(prefix);
            push_window_key(&mut k, &channel, hour);
            let value = bucket.map(|b| serde_json::to_vec(&b).expect("buckets serialize"));
            out.push((k, value));
        }
    }

    fn restore(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let (channel, hour) =
            parse_window_key(key).ok_or_else(|| "bad first-seen key".to_owned())?;
        let bucket: Bucket = serde_json::from_slice(value)
            .map_err(|e| format!("first-seen bucket of {channel}: {e}"))?;
        self.seen.restore(&channel, hour, &bucket);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::state::window::window_key;

    #[test]
    fn buckets_are_written_under_the_prefix_and_restore() {
        let mut t = FirstSeenTable::new(TableName::FIRST_SEEN, FirstSeen::new(30));
        t.record("nymn", [7, 3], 3_600_000 + 60_000);
        let mut w = Vec::new();
        t.take_writes(&mut w);
        let key = [
            TableName::FIRST_SEEN.prefix(),
            &window_key("nymn", 3_600_000),
        ]
        .concat();
        assert_eq!(
            w,
            [(
                key.clone(),
                Some(br#"{"seen":[],"new":[[3660000,3],[3660000,7]]}"#.to_vec())
            )]
        );
        let mut restored = FirstSeenTable::new(TableName::FIRST_SEEN, FirstSeen::new(30));
        let rest = TableName::FIRST_SEEN.strip(&key).unwrap();
        restored.restore(rest, w[0].1.as_deref().unwrap()).unwrap();
        assert_eq!(restored.len(), 2);
        assert!(!restored.is_new("nymn", 7, 7_200_000));
        assert!(restored.is_new("nymn", 7, 3_660_000), "its own window");
        assert!(restored.restore(b"short", b"{}").is_err());
        assert!(restored.restore(rest, b"[").is_err());
    }
}

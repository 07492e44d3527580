//! [`KeyedTable`]: a map of typed values with dirty tracking (Arroyo's `GlobalKeyedTable`), for state
//! kept per channel such as spike detectors and ad-break recommenders. Values are JSON; keys are
//! written as bytes by [`TableKey`] (a channel is its UTF-8 name).

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::word_hash::WordMap;

use super::name::TableName;
use super::table::{StateWrite, Table};

/// A key of a [`KeyedTable`] and how it is written after the table's prefix.
pub trait TableKey: Clone + Eq + Hash + Ord {
    /// Appends the key's bytes.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads a key back from what [`TableKey::encode`] wrote.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

/// A channel (or any name): its UTF-8 bytes.
impl TableKey for String {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        String::from_utf8(bytes.to_vec()).map_err(|_| "key is not UTF-8".to_owned())
    }
}

/// Values by key; every change marks its key, so a commit writes only what changed.
#[derive(Debug)]
pub struct KeyedTable<K, V> {
    name: TableName,
    /// Hashed with [`WordMap`]'s hasher: the keys are channels and chatters, looked up on every
    /// record, and SipHash's rounds cost more than the lookup.
    values: WordMap<K, V>,
    dirty: BTreeSet<K>,
}

impl<K: TableKey, V> KeyedTable<K, V> {
    /// An empty table named `name`.
    pub fn new(name: TableName) -> Self {
        KeyedTable {
            name,
            values: WordMap::default(),
            dirty: BTreeSet::new(),
        }
    }

    fn mark<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized + ToOwned<Owned = K>,
    {
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_owned());
        }
    }

    /// The value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.values.get(key)
    }

    /// The value of `key` to change: the key is written at the next commit.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Ord + ?Sized + ToOwned<Owned = K>,
    {
        if self.values.contains_key(key) {
            self.mark(key);
        }
        self.values.get_mut(key)
    }

    /// The value of `key` to change, made by `default` when there is none: the key is written at
    /// the next commit.
    pub fn get_or_insert_with<Q>(&mut self, key: &Q, default: impl FnOnce() -> V) -> &mut V
    where
        K: Borrow<Q>,
        Q: Hash + Ord + ?Sized + ToOwned<Owned = K>,
    {
        self.mark(key);
        if !self.values.contains_key(key) {
            self.values.insert(key.to_owned(), default());
        }
        self.values.get_mut(key).expect("inserted above")
    }

    /// Sets the value of `key`.
    pub fn insert(&mut self, key: K, value: V) {
        self.mark(&key);
        self.values.insert(key, value);
    }

    /// Removes `key`: the next commit deletes its entry.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Ord + ?Sized + ToOwned<Owned = K>,
    {
        let value = self.values.remove(key)?;
        self.mark(key);
        Some(value)
    }

    /// Every key and value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.values.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when it holds no key.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl<K, V> Table for KeyedTable<K, V>
where
    K: TableKey,
    V: Serialize + DeserializeOwned,
{
    fn name(&self) -> TableName {
        self.name
    }

    fn take_writes(&mut self, out: &mut Vec<StateWrite>) {
        for key in std::mem::take(&mut self.dirty) {
            let mut k = self.name.prefix().to_vec();
            key.encode(&mut k);
            let value = self
                .values
                .get(&key)
                .map(|v| serde_json::to_vec(v).expect("table values serialize"));
            out.push((k, value));
        }
    }

    fn restore(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let key = K::decode(key)?;
        let value =
            serde_json::from_slice(value).map_err(|e| format!("value is not valid: {e}"))?;
        self.values.insert(key, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> KeyedTable<String, u32> {
        KeyedTable::new(TableName::SPIKE_DETECTORS)
    }

    fn writes(t: &mut KeyedTable<String, u32>) -> Vec<StateWrite> {
        let mut out = Vec::new();
        t.take_writes(&mut out);
        out
    }

    #[test]
    fn changes_are_written_once_in_key_order_and_reads_mark_nothing() {
        let mut t = table();
        t.insert("b".into(), 2);
        *t.get_or_insert_with("a", || 0) += 1;
        assert_eq!(
            writes(&mut t),
            vec![
                (b"\x01da".to_vec(), Some(b"1".to_vec())),
                (b"\x01db".to_vec(), Some(b"2".to_vec())),
            ]
        );
        assert!(writes(&mut t).is_empty());
        assert_eq!(t.get("a"), Some(&1));
        assert!(t.get_mut("missing").is_none());
        assert!(writes(&mut t).is_empty(), "reads and misses mark nothing");
        *t.get_mut("b").unwrap() = 5;
        assert_eq!(
            writes(&mut t),
            vec![(b"\x01db".to_vec(), Some(b"5".to_vec()))]
        );
    }

    #[test]
    fn a_removed_key_is_deleted_and_a_restored_one_is_clean() {
        let mut t = table();
        t.restore(b"nymn", b"4").unwrap();
        assert_eq!(t.get("nymn"), Some(&4));
        assert_eq!(t.len(), 1);
        assert!(writes(&mut t).is_empty());
        assert_eq!(t.remove("nymn"), Some(4));
        assert_eq!(t.remove("nymn"), None);
        assert_eq!(writes(&mut t), vec![(b"\x01dnymn".to_vec(), None)]);
        assert!(t.is_empty());
        assert!(t.restore(b"\xff", b"1").is_err());
        assert!(t.restore(b"x", b"{").is_err());
    }
}

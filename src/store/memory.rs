//! [`MemoryBackend`]: the state backend in `BTreeMap`s, for unit tests and the in-memory test
//! driver. It behaves like [`super::RocksBackend`] (same validation, same atomicity) without a disk.

use std::collections::BTreeMap;

use super::{
    check_partition, check_user_key, unknown_store, validate_store_names, Checkpoint, Result,
    StateBackend, StoreStats, StoreWrite,
};

/// One store: partition -> key -> value.
type Store = BTreeMap<i32, BTreeMap<Vec<u8>, Vec<u8>>>;

/// A [`StateBackend`] held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    stores: BTreeMap<String, Store>,
    checkpoints: BTreeMap<i32, Checkpoint>,
}

impl MemoryBackend {
    /// An empty backend with the declared `stores`.
    pub fn new(stores: &[&str]) -> Result<Self> {
        validate_store_names(stores)?;
        Ok(MemoryBackend {
            stores: stores
                .iter()
                .map(|s| ((*s).to_owned(), Store::new()))
                .collect(),
            checkpoints: BTreeMap::new(),
        })
    }

    fn store(&self, store: &str) -> Result<&Store> {
        self.stores
            .get(store)
            .ok_or_else(|| unknown_store(store, self.stores.keys().map(String::as_str)))
    }
}

impl StateBackend for MemoryBackend {
    fn apply(
        &mut self,
        partition: i32,
        writes: &[StoreWrite],
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        check_partition(partition)?;
        // Validate everything first so that a refused apply changes nothing.
        for w in writes {
            self.store(&w.store)?;
            check_user_key(&w.store, &w.key)?;
        }
        for w in writes {
            let part = self
                .stores
                .get_mut(&w.store)
                .expect("validated above")
                .entry(partition)
                .or_default();
            match &w.value {
                Some(v) => {
                    part.insert(w.key.clone(), v.clone());
                }
                None => {
                    part.remove(&w.key);
                }
            }
        }
        self.checkpoints.insert(partition, checkpoint.clone());
        Ok(())
    }

    fn scan(&self, store: &str, partition: i32) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        check_partition(partition)?;
        Ok(self
            .store(store)?
            .get(&partition)
            .map(|part| part.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>> {
        check_partition(partition)?;
        Ok(self.checkpoints.get(&partition).cloned())
    }

    fn drop_partition(&mut self, partition: i32) -> Result<()> {
        check_partition(partition)?;
        for store in self.stores.values_mut() {
            store.remove(&partition);
        }
        self.checkpoints.remove(&partition);
        Ok(())
    }

    fn stats(&self) -> Result<Vec<StoreStats>> {
        Ok(self
            .stores
            .iter()
            .map(|(name, store)| {
                let entries = store.values().flat_map(|part| part.iter());
                let (bytes, keys) = entries.fold((0u64, 0u64), |(bytes, keys), (k, v)| {
                    (bytes + (k.len() + v.len()) as u64, keys + 1)
                });
                StoreStats {
                    store: name.clone(),
                    bytes,
                    keys,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn cp(generation: u64) -> Checkpoint {
        Checkpoint {
            generation,
            more_offsets: Vec::new(),
            input_offset: generation as i64 * 10,
            watermark_ms: 1_000 * generation as i64,
            changelog_offsets: BTreeMap::from([("app-counts-changelog".to_owned(), 7)]),
        }
    }

    fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn apply_then_scan_in_key_order_with_checkpoint() {
        let mut b = MemoryBackend::new(&["counts"]).unwrap();
        assert_eq!(b.checkpoint(0).unwrap(), None);
        let writes = [
            StoreWrite::put("counts", "nymn", "2"),
            StoreWrite::put("counts", "forsen", "1"),
            StoreWrite::put("counts", "nymn", "3"),
        ];
        b.apply(0, &writes, &cp(1)).unwrap();
        assert_eq!(
            b.scan("counts", 0).unwrap(),
            vec![kv("forsen", "1"), kv("nymn", "3")]
        );
        assert_eq!(b.checkpoint(0).unwrap(), Some(cp(1)));
    }

    #[test]
    fn delete_removes_and_deleting_absent_key_is_fine() {
        let mut b = MemoryBackend::new(&["counts"]).unwrap();
        b.apply(0, &[StoreWrite::put("counts", "a", "1")], &cp(1))
            .unwrap();
        b.apply(
            0,
            &[
                StoreWrite::delete("counts", "a"),
                StoreWrite::delete("counts", "zz"),
            ],
            &cp(2),
        )
        .unwrap();
        assert!(b.scan("counts", 0).unwrap().is_empty());
        assert_eq!(b.checkpoint(0).unwrap(), Some(cp(2)));
    }

    #[test]
    fn partitions_and_stores_are_isolated() {
        let mut b = MemoryBackend::new(&["counts", "spikes"]).unwrap();
        b.apply(
            0,
            &[
                StoreWrite::put("counts", "a", "0"),
                StoreWrite::put("spikes", "a", "s0"),
            ],
            &cp(1),
        )
        .unwrap();
        b.apply(1, &[StoreWrite::put("counts", "a", "1")], &cp(5))
            .unwrap();
        assert_eq!(b.scan("counts", 0).unwrap(), vec![kv("a", "0")]);
        assert_eq!(b.scan("counts", 1).unwrap(), vec![kv("a", "1")]);
        assert_eq!(b.scan("spikes", 0).unwrap(), vec![kv("a", "s0")]);
        assert!(b.scan("spikes", 1).unwrap().is_empty());

        b.drop_partition(1).unwrap();
        assert!(b.scan("counts", 1).unwrap().is_empty());
        assert_eq!(b.checkpoint(1).unwrap(), None);
        assert_eq!(b.scan("counts", 0).unwrap(), vec![kv("a", "0")]);
        assert_eq!(b.checkpoint(0).unwrap(), Some(cp(1)));
    }

    #[test]
    fn refused_apply_changes_nothing() {
        let mut b = MemoryBackend::new(&["counts"]).unwrap();
        b.apply(0, &[StoreWrite::put("counts", "a", "1")], &cp(1))
            .unwrap();

        let unknown = [
            StoreWrite::put("counts", "a", "2"),
            StoreWrite::put("nope", "a", "1"),
        ];
        let err = b.apply(0, &unknown, &cp(2)).unwrap_err();
        assert!(
            matches!(err, StoreError::UnknownStore { ref store, .. } if store == "nope"),
            "{err}"
        );
        assert!(err.to_string().contains("declared: counts"), "{err}");

        let reserved = [
            StoreWrite::put("counts", "a", "2"),
            StoreWrite::put("counts", vec![0xFF, 1], "x"),
        ];
        let err = b.apply(0, &reserved, &cp(2)).unwrap_err();
        assert!(matches!(err, StoreError::ReservedKey { .. }), "{err}");

        assert_eq!(b.scan("counts", 0).unwrap(), vec![kv("a", "1")]);
        assert_eq!(b.checkpoint(0).unwrap(), Some(cp(1)));
    }

    #[test]
    fn negative_partition_and_bad_store_names_are_refused() {
        let mut b = MemoryBackend::new(&["counts"]).unwrap();
        assert!(matches!(
            b.apply(-1, &[], &cp(1)),
            Err(StoreError::NegativePartition(-1))
        ));
        assert!(matches!(
            b.scan("counts", -1),
            Err(StoreError::NegativePartition(-1))
        ));
        assert!(matches!(
            b.scan("other", 0),
            Err(StoreError::UnknownStore { .. })
        ));
        for bad in [
            &["a", "a"][..],
            &["__checkpoint"],
            &[""],
            &["default"],
            &["has space"],
        ] {
            assert!(
                matches!(
                    MemoryBackend::new(bad),
                    Err(StoreError::InvalidStoreName { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stats_count_keys_and_bytes_over_partitions() {
        let mut b = MemoryBackend::new(&["counts", "spikes"]).unwrap();
        b.apply(0, &[StoreWrite::put("counts", "ab", "123")], &cp(1))
            .unwrap();
        b.apply(3, &[StoreWrite::put("counts", "c", "4")], &cp(1))
            .unwrap();
        assert_eq!(
            b.stats().unwrap(),
            vec![
                StoreStats {
                    store: "counts".into(),
                    bytes: 7,
                    keys: 2
                },
                StoreStats {
                    store: "spikes".into(),
                    bytes: 0,
                    keys: 0
                },
            ]
        );
    }
}

//! Changelog records, pure: how a store's writes and one flush [`Marker`] per commit are encoded for
//! the `<application_id>-<store>-changelog` topic, and the [`Restorer`] that rebuilds a store from
//! them up to the last complete flush. The engine does the producing and consuming.
//!
//! A flush of one partition writes, to each store's changelog partition (same number as the input
//! partition), the store's data records and then one marker record. Data records use the user key;
//! the marker uses [`MARKER_KEY`], which starts with [`RESERVED_KEY_BYTE`], a byte user keys never
//! start with (they are UTF-8 channel names followed by big-endian numbers). Records after the last
//! marker belong to a flush that did not finish and are ignored on restore.
//!
//! Changelog topics are compacted, so only the newest marker survives compaction. Create them with
//! a `min.compaction.lag.ms` longer than a restart takes, so that compaction cannot drop the value
//! a key had at the last marker while an unfinished flush after it still holds the key's only newer
//! record.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::{check_user_key, Checkpoint, Result, StoreError, StoreWrite, RESERVED_KEY_BYTE};

/// The key of every flush marker: 0xFF 0x00 then `__marker`.
pub const MARKER_KEY: &[u8] = b"\xFF\x00__marker";

/// How many complete flushes a [`Restorer`] keeps apart by default, so that
/// [`Restorer::apply_up_to_generation`] can go back that far; older ones are merged.
pub const DEFAULT_KEPT_FLUSHES: usize = 8;

/// The changelog topic of `store`: `<application_id>-<store>-changelog`.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

/// The record that ends one flush in a changelog: where the flushed state stands.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Marker {
    /// The flush generation (the [`Checkpoint::generation`] applied with it).
    pub generation: u64,
    /// The next input offset to process after this state.
    pub input_offset: i64,
    /// The next offsets of the sources after the first ([`Checkpoint::more_offsets`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_offsets: Vec<i64>,
    /// The watermark when the state was flushed.
    pub watermark_ms: i64,
}

impl From<&Checkpoint> for Marker {
    fn from(c: &Checkpoint) -> Self {
        Marker {
            generation: c.generation,
            input_offset: c.input_offset,
            more_offsets: c.more_offsets.clone(),
            watermark_ms: c.watermark_ms,
        }
    }
}

impl Marker {
    /// The marker's record value (JSON).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a Marker always serializes")
    }

    /// The marker a changelog record holds: `None` unless its key is [`MARKER_KEY`] and its value
    /// decodes.
    pub fn from_record(key: &[u8], value: Option<&[u8]>) -> Option<Marker> {
        if key != MARKER_KEY {
            return None;
        }
        serde_json::from_slice(value?).ok()
    }
}

/// One changelog record to produce: `value` `None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogRecord {
    /// The record key.
    pub key: Vec<u8>,
    /// The record value, `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

impl ChangelogRecord {
    /// The data record of one write to `store`; refuses keys starting with [`RESERVED_KEY_BYTE`].
    pub fn data(store: &str, key: &[u8], value: Option<&[u8]>) -> Result<Self> {
        check_user_key(store, key)?;
        Ok(ChangelogRecord {
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
        })
    }

    /// The marker record that ends a flush.
    pub fn marker(marker: &Marker) -> Self {
        ChangelogRecord {
            key: MARKER_KEY.to_vec(),
            value: Some(marker.encode()),
        }
    }

    /// Every record one flush produces to `store`'s changelog: its writes among `writes`, in order,
    /// then the marker.
    pub fn flush(store: &str, writes: &[StoreWrite], marker: &Marker) -> Result<Vec<Self>> {
        let mut out = Vec::new();
        for w in writes.iter().filter(|w| w.store == store) {
            out.push(Self::data(store, &w.key, w.value.as_deref())?);
        }
        out.push(Self::marker(marker));
        Ok(out)
    }
}

/// Latest value (or tombstone) per key.
type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// One complete flush: the writes since the previous marker, and its marker.
#[derive(Debug)]
struct Flush {
    marker: Marker,
    offset: i64,
    writes: Writes,
    records: usize,
}

/// What to apply to rebuild one store of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The marker the state is restored to; `None` when the changelog holds no complete flush.
    pub marker: Option<Marker>,
    /// That marker's offset in the changelog.
    pub marker_offset: Option<i64>,
    /// The writes to apply, one per key in key order: the key's last value, or a delete when its
    /// last record was a tombstone.
    pub writes: Vec<StoreWrite>,
    /// Data records fed after the chosen marker, which were ignored (later markers are not counted).
    pub ignored_records: usize,
    /// The keys of those ignored records, in key order. A later marker would adopt them (a restore
    /// reads everything up to a marker as that flush), so the next flush must re-state each.
    pub ignored_keys: Vec<Vec<u8>>,
}

/// Rebuilds one store of one partition from its changelog: feed it every record in offset order
/// with [`Restorer::push`], then take the writes up to the last complete flush
/// ([`Restorer::apply_up_to_last_marker`]) or up to one generation that every store of the
/// partition holds ([`Restorer::apply_up_to_generation`]).
#[derive(Debug)]
pub struct Restorer {
    store: String,
    kept: usize,
    /// Flushes merged because more than `kept` followed them; `base_marker` is the newest of them.
    base: Writes,
    base_marker: Option<(Marker, i64)>,
    /// The newest complete flushes, oldest first.
    flushes: VecDeque<Flush>,
    /// Records after the last marker.
    pending: Writes,
    pending_records: usize,
    last_offset: Option<i64>,
}

impl Restorer {
    /// A restorer for `store` that can go back [`DEFAULT_KEPT_FLUSHES`] flushes.
    pub fn new(store: impl Into<String>) -> Self {
        Self::with_kept_flushes(store, DEFAULT_KEPT_FLUSHES)
    }

    /// A restorer for `store` that keeps the last `kept` complete flushes apart (at least 1), so
    /// [`Restorer::apply_up_to_generation`] reaches back `kept` flushes before the last one.
    pub fn with_kept_flushes(store: impl Into<String>, kept: usize) -> Self {
        Restorer {
            store: store.into(),
            kept: kept.max(1),
            base: Writes::new(),
            base_marker: None,
            flushes: VecDeque::new(),
            pending: Writes::new(),
            pending_records: 0,
            last_offset: None,
        }
    }

    /// Feeds the changelog record at `offset`. Offsets must increase (gaps are fine: compaction
    /// leaves them).
    pub fn push(&mut self, offset: i64, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        if let Some(previous) = self.last_offset {
            if offset <= previous {
                return Err(StoreError::OffsetOrder {
                    store: self.store.clone(),
                    offset,
                    previous,
                });
            }
        }
        if key.first() == Some(&RESERVED_KEY_BYTE) {
            let marker = self.decode_marker(offset, key, value)?;
            self.last_offset = Some(offset);
            self.complete_flush(marker, offset);
            return Ok(());
        }
        self.last_offset = Some(offset);
        self.pending.insert(key.to_vec(), value.map(<[u8]>::to_vec));
        self.pending_records += 1;
        Ok(())
    }

    fn decode_marker(&self, offset: i64, key: &[u8], value: Option<&[u8]>) -> Result<Marker> {
        let bad = |reason: String| StoreError::BadMarker {
            store: self.store.clone(),
            offset,
            reason,
        };
        if key != MARKER_KEY {
            return Err(bad(format!(
                "unknown reserved key {:?}",
                String::from_utf8_lossy(key)
            )));
        }
        let value = value.ok_or_else(|| bad("the marker is a tombstone".to_owned()))?;
        serde_json::from_slice(value).map_err(|e| bad(e.to_string()))
    }

    fn complete_flush(&mut self, marker: Marker, offset: i64) {
        let writes = std::mem::take(&mut self.pending);
        let records = std::mem::take(&mut self.pending_records);
        self.flushes.push_back(Flush {
            marker,
            offset,
            writes,
            records,
        });
        while self.flushes.len() > self.kept {
            let oldest = self.flushes.pop_front().expect("more than one flush");
            self.base.extend(oldest.writes);
            self.base_marker = Some((oldest.marker, oldest.offset));
        }
    }

    /// The marker of the last complete flush fed, if any.
    pub fn last_marker(&self) -> Option<&Marker> {
        self.flushes
            .back()
            .map(|f| &f.marker)
            .or(self.base_marker.as_ref().map(|(m, _)| m))
    }

    /// The markers of the flushes this restorer can restore to, oldest first.
    pub fn markers(&self) -> Vec<Marker> {
        let base = self.base_marker.iter().map(|(m, _)| m.clone());
        base.chain(self.flushes.iter().map(|f| f.marker.clone()))
            .collect()
    }

    /// The writes up to the last complete flush ending with `marker` (equal in generation, input
    /// offset and watermark: after a crash a generation can repeat with another input offset),
    /// so that several stores are restored to the very same flush. Fails when no kept flush has it.
    pub fn apply_up_to_marker(self, marker: &Marker) -> Result<Restored> {
        match self.flushes.iter().rposition(|f| f.marker == *marker) {
            Some(i) => Ok(self.restore(i + 1)),
            None if self.base_marker.as_ref().is_some_and(|(m, _)| m == marker) => {
                Ok(self.restore(0))
            }
            None => Err(StoreError::GenerationUnavailable {
                store: self.store.clone(),
                generation: marker.generation,
                last: self.last_marker().map(|m| m.generation),
                oldest: self.generations().first().copied(),
            }),
        }
    }

    /// The generations this restorer can restore to, oldest first.
    pub fn generations(&self) -> Vec<u64> {
        let base = self.base_marker.iter().map(|(m, _)| m.generation);
        base.chain(self.flushes.iter().map(|f| f.marker.generation))
            .collect()
    }

    /// The writes up to the last complete flush; records after its marker are ignored. With no
    /// marker at all, nothing is restored and every record is ignored.
    pub fn apply_up_to_last_marker(self) -> Restored {
        let upto = self.flushes.len();
        self.restore(upto)
    }

    /// The writes up to the last complete flush of generation `generation`, so that several stores
    /// can be restored to the same flush. Fails when no kept flush has that generation.
    pub fn apply_up_to_generation(self, generation: u64) -> Result<Restored> {
        match self
            .flushes
            .iter()
            .rposition(|f| f.marker.generation == generation)
        {
            Some(i) => Ok(self.restore(i + 1)),
            None if self
                .base_marker
                .as_ref()
                .is_some_and(|(m, _)| m.generation == generation) =>
            {
                Ok(self.restore(0))
            }
            None => Err(StoreError::GenerationUnavailable {
                store: self.store.clone(),
                generation,
                last: self.last_marker().map(|m| m.generation),
                oldest: self.generations().first().copied(),
            }),
        }
    }

    /// Merges the base and the first `upto` kept flushes.
    fn restore(mut self, upto: usize) -> Restored {
        let (marker, marker_offset) = match upto {
            0 => (
                self.base_marker.as_ref().map(|(m, _)| m.clone()),
                self.base_marker.as_ref().map(|(_, o)| *o),
            ),
            n => (
                Some(self.flushes[n - 1].marker.clone()),
                Some(self.flushes[n - 1].offset),
            ),
        };
        let later = self.flushes.split_off(upto);
        let ignored_records = self.pending_records + later.iter().map(|f| f.records).sum::<usize>();
        let mut ignored_keys: BTreeSet<Vec<u8>> =
            std::mem::take(&mut self.pending).into_keys().collect();
        for flush in later {
            ignored_keys.extend(flush.writes.into_keys());
        }
        let mut state = std::mem::take(&mut self.base);
        for flush in self.flushes {
            state.extend(flush.writes);
        }
        let store = self.store;
        Restored {
            marker,
            marker_offset,
            writes: state
                .into_iter()
                .map(|(key, value)| StoreWrite {
                    store: store.clone(),
                    key,
                    value,
                })
                .collect(),
            ignored_records,
            ignored_keys: ignored_keys.into_iter().collect(),
        }
    }

    /// The keys of every record fed, in key order: what a restore that applies none of them
    /// (nothing newer than the local state) must have the next flush re-state.
    pub fn fed_keys(&self) -> Vec<Vec<u8>> {
        let mut keys: BTreeSet<&Vec<u8>> = self.base.keys().collect();
        for flush in &self.flushes {
            keys.extend(flush.writes.keys());
        }
        keys.extend(self.pending.keys());
        keys.into_iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(generation: u64) -> Marker {
        Marker {
            generation,
            input_offset: 100 * generation as i64,
            more_offsets: Vec::new(),
            watermark_ms: 1_000 * generation as i64,
        }
    }

    /// Feeds `records` at offsets 0, 1, 2...; a record with key `"#g"` is the marker of generation g.
    fn feed(restorer: &mut Restorer, records: &[(&str, Option<&str>)]) {
        for (offset, (key, value)) in records.iter().enumerate() {
            let offset = offset as i64;
            if let Some(g) = key.strip_prefix('#') {
                let m = ChangelogRecord::marker(&marker(g.parse().unwrap()));
                restorer.push(offset, &m.key, m.value.as_deref()).unwrap();
            } else {
                restorer
                    .push(offset, key.as_bytes(), value.map(str::as_bytes))
                    .unwrap();
            }
        }
    }

    fn restorer(records: &[(&str, Option<&str>)]) -> Restorer {
        let mut r = Restorer::new("counts");
        feed(&mut r, records);
        r
    }

    fn pairs(restored: &Restored) -> Vec<(&str, Option<&str>)> {
        restored
            .writes
            .iter()
            .map(|w| {
                (
                    std::str::from_utf8(&w.key).unwrap(),
                    w.value.as_deref().map(|v| std::str::from_utf8(v).unwrap()),
                )
            })
            .collect()
    }

    #[test]
    fn topic_name() {
        assert_eq!(
            changelog_topic("chatpulse", "counts"),
            "chatpulse-counts-changelog"
        );
    }

    #[test]
    fn marker_key_is_reserved_and_user_keys_cannot_collide() {
        assert_eq!(MARKER_KEY[0], RESERVED_KEY_BYTE);
        assert_eq!(&MARKER_KEY[..2], &[0xFF, 0x00]);
        assert!(matches!(
            ChangelogRecord::data("counts", MARKER_KEY, Some(b"x")),
            Err(StoreError::ReservedKey { .. })
        ));
        // Channel names are UTF-8, which never has the byte 0xFF; numbers follow the name.
        let mut key = "nymn".as_bytes().to_vec();
        key.extend_from_slice(&(-1i64).to_be_bytes());
        assert!(ChangelogRecord::data("counts", &key, None).is_ok());
        assert!(ChangelogRecord::data("counts", b"", Some(b"v")).is_ok());
    }

    #[test]
    fn marker_round_trips_and_comes_from_checkpoint() {
        let checkpoint = Checkpoint {
            generation: 7,
            more_offsets: Vec::new(),
            input_offset: 700,
            watermark_ms: 7_000,
            changelog_offsets: BTreeMap::from([("t".to_owned(), 3)]),
        };
        let m = Marker::from(&checkpoint);
        assert_eq!(m, marker(7));
        let rec = ChangelogRecord::marker(&m);
        assert_eq!(rec.key, MARKER_KEY);
        let mut r = Restorer::new("counts");
        r.push(5, &rec.key, rec.value.as_deref()).unwrap();
        assert_eq!(r.last_marker(), Some(&m));
        assert_eq!(Marker::from_record(&rec.key, rec.value.as_deref()), Some(m));
        assert_eq!(Marker::from_record(b"a", rec.value.as_deref()), None);
        assert_eq!(Marker::from_record(&rec.key, None), None);
    }

    #[test]
    fn flush_encodes_the_stores_writes_then_the_marker() {
        let writes = [
            StoreWrite::put("counts", "a", "1"),
            StoreWrite::put("spikes", "a", "x"),
            StoreWrite::delete("counts", "b"),
        ];
        let recs = ChangelogRecord::flush("counts", &writes, &marker(3)).unwrap();
        assert_eq!(
            recs,
            vec![
                ChangelogRecord {
                    key: b"a".to_vec(),
                    value: Some(b"1".to_vec())
                },
                ChangelogRecord {
                    key: b"b".to_vec(),
                    value: None
                },
                ChangelogRecord::marker(&marker(3)),
            ]
        );
        let bad = [StoreWrite::put("counts", vec![0xFF], "1")];
        assert!(ChangelogRecord::flush("counts", &bad, &marker(3)).is_err());
    }

    #[test]
    fn flush_records_restore_to_the_same_writes() {
        let writes = [
            StoreWrite::put("counts", "b", "2"),
            StoreWrite::put("counts", "a", "1"),
        ];
        let mut r = Restorer::new("counts");
        for (offset, rec) in ChangelogRecord::flush("counts", &writes, &marker(1))
            .unwrap()
            .iter()
            .enumerate()
        {
            r.push(offset as i64, &rec.key, rec.value.as_deref())
                .unwrap();
        }
        let restored = r.apply_up_to_last_marker();
        assert_eq!(pairs(&restored), vec![("a", Some("1")), ("b", Some("2"))]);
        assert_eq!(restored.marker, Some(marker(1)));
        assert_eq!(restored.marker_offset, Some(2));
    }

    #[test]
    fn last_write_wins_across_and_within_flushes() {
        let r = restorer(&[
            ("a", Some("1")),
            ("a", Some("2")),
            ("b", Some("1")),
            ("#1", None),
            ("a", Some("3")),
            ("#2", None),
        ]);
        let restored = r.apply_up_to_last_marker();
        assert_eq!(pairs(&restored), vec![("a", Some("3")), ("b", Some("1"))]);
        assert_eq!(restored.marker, Some(marker(2)));
        assert_eq!(restored.marker_offset, Some(5));
        assert_eq!(restored.ignored_records, 0);
    }

    #[test]
    fn tombstones_delete() {
        let r = restorer(&[
            ("a", Some("1")),
            ("b", Some("1")),
            ("#1", None),
            ("a", None),
            ("#2", None),
        ]);
        let restored = r.apply_up_to_last_marker();
        assert_eq!(pairs(&restored), vec![("a", None), ("b", Some("1"))]);
        // A tombstone then a new value is the new value.
        let r = restorer(&[("a", None), ("a", Some("9")), ("#1", None)]);
        assert_eq!(pairs(&r.apply_up_to_last_marker()), vec![("a", Some("9"))]);
    }

    #[test]
    fn partial_flush_at_the_end_is_ignored() {
        let r = restorer(&[
            ("a", Some("1")),
            ("#1", None),
            ("a", Some("2")),
            ("b", Some("2")),
            ("c", None),
        ]);
        let restored = r.apply_up_to_last_marker();
        assert_eq!(pairs(&restored), vec![("a", Some("1"))]);
        assert_eq!(restored.marker, Some(marker(1)));
        assert_eq!(restored.marker_offset, Some(1));
        assert_eq!(restored.ignored_records, 3);
    }

    #[test]
    fn no_marker_restores_nothing() {
        let r = restorer(&[("a", Some("1")), ("b", Some("2"))]);
        assert_eq!(r.last_marker(), None);
        let restored = r.apply_up_to_last_marker();
        assert_eq!(
            restored,
            Restored {
                marker: None,
                marker_offset: None,
                writes: vec![],
                ignored_records: 2,
                ignored_keys: vec![b"a".to_vec(), b"b".to_vec()],
            }
        );
        let empty = Restorer::new("counts").apply_up_to_last_marker();
        assert_eq!(
            empty,
            Restored {
                marker: None,
                marker_offset: None,
                writes: vec![],
                ignored_records: 0,
                ignored_keys: vec![],
            }
        );
    }

    #[test]
    fn generation_restriction_stops_at_that_flush() {
        let records = [
            ("a", Some("1")),
            ("#1", None),
            ("a", Some("2")),
            ("b", Some("2")),
            ("#2", None),
            ("a", None),
            ("#3", None),
            ("c", Some("x")),
        ];
        let restored = restorer(&records).apply_up_to_generation(2).unwrap();
        assert_eq!(pairs(&restored), vec![("a", Some("2")), ("b", Some("2"))]);
        assert_eq!(restored.marker, Some(marker(2)));
        assert_eq!(restored.marker_offset, Some(4));
        assert_eq!(restored.ignored_records, 2);
        assert_eq!(restored.ignored_keys, vec![b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(
            restorer(&records).fed_keys(),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );

        let restored = restorer(&records).apply_up_to_generation(1).unwrap();
        assert_eq!(pairs(&restored), vec![("a", Some("1"))]);
        assert_eq!(restored.ignored_records, 4);

        let restored = restorer(&records).apply_up_to_generation(3).unwrap();
        assert_eq!(restored, restorer(&records).apply_up_to_last_marker());
    }

    #[test]
    fn two_stores_restore_to_the_same_generation() {
        // Flush 2 reached the changelog of "counts" but stopped before the marker of "spikes".
        let counts = restorer(&[
            ("a", Some("1")),
            ("#1", None),
            ("a", Some("2")),
            ("#2", None),
        ]);
        let mut spikes = Restorer::new("spikes");
        feed(
            &mut spikes,
            &[("s", Some("1")), ("#1", None), ("s", Some("2"))],
        );
        let common = counts
            .last_marker()
            .unwrap()
            .generation
            .min(spikes.last_marker().unwrap().generation);
        assert_eq!(common, 1);
        assert_eq!(
            pairs(&counts.apply_up_to_generation(common).unwrap()),
            vec![("a", Some("1"))]
        );
        assert_eq!(
            pairs(&spikes.apply_up_to_generation(common).unwrap()),
            vec![("s", Some("1"))]
        );
    }

    #[test]
    fn a_repeated_generation_restores_to_the_flush_with_the_same_marker() {
        // Flush 2 was written twice: before a crash (input offset 200), and after it (250).
        let mut counts = Restorer::new("counts");
        let mut offset = 0;
        let mut push = |r: &mut Restorer, key: &[u8], value: Option<&[u8]>| {
            r.push(offset, key, value).unwrap();
            offset += 1;
        };
        let again = Marker {
            input_offset: 250,
            ..marker(2)
        };
        for (key, value, m) in [
            ("a", "1", marker(1)),
            ("a", "2", marker(2)),
            ("a", "3", again.clone()),
        ] {
            push(&mut counts, key.as_bytes(), Some(value.as_bytes()));
            let rec = ChangelogRecord::marker(&m);
            push(&mut counts, &rec.key, rec.value.as_deref());
        }
        assert_eq!(counts.markers(), vec![marker(1), marker(2), again]);
        let restored = counts.apply_up_to_marker(&marker(2)).unwrap();
        assert_eq!(pairs(&restored), vec![("a", Some("2"))]);
        assert_eq!(restored.marker, Some(marker(2)));
        assert_eq!(restored.ignored_keys, vec![b"a".to_vec()]);
        let unknown = Marker {
            input_offset: 1,
            ..marker(2)
        };
        assert!(Restorer::new("counts")
            .apply_up_to_marker(&unknown)
            .is_err());
    }

    #[test]
    fn missing_generation_is_an_error() {
        let records = [
            ("a", Some("1")),
            ("#4", None),
            ("a", Some("2")),
            ("#5", None),
        ];
        for g in [3, 6] {
            let err = restorer(&records).apply_up_to_generation(g).unwrap_err();
            assert!(
                matches!(err, StoreError::GenerationUnavailable { generation, last: Some(5), oldest: Some(4), .. } if generation == g),
                "{err}"
            );
        }
        assert!(matches!(
            Restorer::new("counts").apply_up_to_generation(0),
            Err(StoreError::GenerationUnavailable {
                last: None,
                oldest: None,
                ..
            })
        ));
    }

    #[test]
    fn old_flushes_merge_beyond_the_kept_ones() {
        let records = [
            ("a", Some("1")),
            ("#1", None),
            ("b", Some("2")),
            ("#2", None),
            ("a", Some("3")),
            ("#3", None),
            ("c", Some("4")),
            ("#4", None),
            ("d", Some("p")),
        ];
        let make = || {
            let mut r = Restorer::with_kept_flushes("counts", 2);
            feed(&mut r, &records);
            r
        };
        // Kept: flushes 3 and 4; flushes 1 and 2 merged into the base, which ends at marker 2.
        assert_eq!(make().generations(), vec![2, 3, 4]);
        assert!(make().apply_up_to_generation(1).is_err());
        let at2 = make().apply_up_to_generation(2).unwrap();
        assert_eq!(pairs(&at2), vec![("a", Some("1")), ("b", Some("2"))]);
        assert_eq!(
            (at2.marker, at2.marker_offset, at2.ignored_records),
            (Some(marker(2)), Some(3), 3)
        );
        let at3 = make().apply_up_to_generation(3).unwrap();
        assert_eq!(pairs(&at3), vec![("a", Some("3")), ("b", Some("2"))]);
        let last = make().apply_up_to_last_marker();
        assert_eq!(
            pairs(&last),
            vec![("a", Some("3")), ("b", Some("2")), ("c", Some("4"))]
        );
        assert_eq!((last.marker, last.ignored_records), (Some(marker(4)), 1));
    }

    #[test]
    fn bad_input_is_refused() {
        let mut r = Restorer::new("counts");
        r.push(3, b"a", Some(b"1")).unwrap();
        assert!(matches!(
            r.push(3, b"b", None),
            Err(StoreError::OffsetOrder {
                offset: 3,
                previous: 3,
                ..
            })
        ));
        assert!(matches!(
            r.push(2, b"b", None),
            Err(StoreError::OffsetOrder { .. })
        ));
        let bad_marker = |key: &[u8], value: Option<&[u8]>| {
            let mut r = Restorer::new("counts");
            matches!(
                r.push(0, key, value),
                Err(StoreError::BadMarker { offset: 0, .. })
            )
        };
        assert!(bad_marker(MARKER_KEY, None));
        assert!(bad_marker(MARKER_KEY, Some(b"not json")));
        assert!(bad_marker(b"\xFF\x01other", Some(&marker(1).encode())));
    }
}

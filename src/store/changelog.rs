//! Changelog records, pure: how a store's writes and one flush [`Marker`] per commit are encoded for
//! the `<application_id>-<store>-changelog` topic, and the [`Restorer`] that rebuilds a store from
//! them up to the last complete flush. The engine does the producing and consuming.
//!
//! A flush of one partition writes, to each store's changelog partition (same number as the input
//! partition), the store's data records and then one marker record. Data records use the user key;
//! the marker uses [`MARKER_KEY`], which starts with [`RESERVED_KEY_BYTE`], a byte user keys never
//! start with (they are UTF-8 channel names followed by big-endian numbers). Records after the last
//! marker belong to a flush that did not finish and are ignored on restore. A new owner that
//! restored a partition writes a [`VoidMark`] ([`VOID_KEY`]) before its first flush when the
//! changelog holds records after the flush it restored to, so that they never merge into its own
//! flushes.
//!
//! Changelog topics are compacted, so only the newest marker survives compaction. Create them with
//! a `min.compaction.lag.ms` longer than a restart takes, so that compaction cannot drop the value
//! a key had at the last marker while an unfinished flush after it still holds the key's only newer
//! record.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{check_user_key, Checkpoint, Result, StoreError, StoreWrite, RESERVED_KEY_BYTE};

/// The key of every flush marker: 0xFF 0x00 then `__marker`.
pub const MARKER_KEY: &[u8] = b"\xFF\x00__marker";

/// The key of every [`VoidMark`]: 0xFF 0x00 then `__void`.
pub const VOID_KEY: &[u8] = b"\xFF\x00__void";

/// How many complete flushes a [`Restorer`] keeps apart by default, so that
/// [`Restorer::apply_up_to_generation`] can go back that far; older ones are merged.
pub const DEFAULT_KEPT_FLUSHES: usize = 8;

/// The changelog topic of `store`: `<application_id>-<store>-changelog`.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

/// The record that ends one flush in a changelog: where the flushed state stands.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Marker {
    /// The flush generation (the [`Checkpoint::generation`] applied with it).
    pub generation: u64,
    /// The next input offset to process after this state.
    pub input_offset: i64,
    /// The watermark when the state was flushed.
    pub watermark_ms: i64,
}

impl From<&Checkpoint> for Marker {
    fn from(c: &Checkpoint) -> Self {
        Marker {
            generation: c.generation,
            input_offset: c.input_offset,
            watermark_ms: c.watermark_ms,
        }
    }
}

impl Marker {
    /// The marker's record value (JSON).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a Marker always serializes")
    }
}

/// The record a new owner of a partition writes to a store's changelog after restoring it and
/// before its first flush, when the changelog holds records after the flush it restored to: every
/// record after `after_offset` (that flush's marker; -1 for none) and before this mark is void.
///
/// Those records belong to a flush that did not complete in every store: the data of a flush killed
/// before its marker, or a flush whose marker reached this store but not another one. Without the
/// mark, the next owner's first flush would take them in (its marker completes them), and a dead
/// flush's marker may carry the same generation as the owner's own next flush.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct VoidMark {
    /// The offset, in this store's changelog partition, of the last record the restored state
    /// holds (the marker restored to), or -1.
    pub after_offset: i64,
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

    /// The void mark a new owner writes after restoring (see [`VoidMark`]).
    pub fn void(mark: &VoidMark) -> Self {
        ChangelogRecord {
            key: VOID_KEY.to_vec(),
            value: Some(serde_json::to_vec(mark).expect("a VoidMark always serializes")),
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
        if key == VOID_KEY {
            let mark: VoidMark = self.decode_control(offset, value)?;
            self.last_offset = Some(offset);
            self.void_after(mark.after_offset);
            return Ok(());
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
        if key != MARKER_KEY {
            return Err(StoreError::BadMarker {
                store: self.store.clone(),
                offset,
                reason: format!("unknown reserved key {:?}", String::from_utf8_lossy(key)),
            });
        }
        self.decode_control(offset, value)
    }

    /// The JSON value of a control record (marker or void mark).
    fn decode_control<T: serde::de::DeserializeOwned>(
        &self,
        offset: i64,
        value: Option<&[u8]>,
    ) -> Result<T> {
        let bad = |reason: String| StoreError::BadMarker {
            store: self.store.clone(),
            offset,
            reason,
        };
        let value = value.ok_or_else(|| bad("the control record is a tombstone".to_owned()))?;
        serde_json::from_slice(value).map_err(|e| bad(e.to_string()))
    }

    /// A [`VoidMark`]: forgets the records after the record at `after` (pending data and later
    /// flushes). Flushes already merged into the base stay (a mark is written right after a
    /// restore, so it voids far fewer flushes than are kept apart).
    fn void_after(&mut self, after: i64) {
        self.pending.clear();
        self.pending_records = 0;
        while self.flushes.back().is_some_and(|f| f.offset > after) {
            self.flushes.pop_back();
        }
    }

    /// Whether records after the record at `after` are fed that a new owner restoring up to it
    /// must void ([`VoidMark`]): data after the last marker, or complete flushes after it. A tail
    /// that ends with a void mark holds none.
    pub fn unfinished_after(&self, after: i64) -> bool {
        self.pending_records > 0
            || self.flushes.back().is_some_and(|f| f.offset > after)
            || self.base_marker.is_some_and(|(_, o)| o > after)
    }

    /// The offset of the last record fed, if any.
    pub fn last_offset(&self) -> Option<i64> {
        self.last_offset
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
                self.base_marker.map(|(m, _)| m),
                self.base_marker.map(|(_, o)| o),
            ),
            n => (
                Some(self.flushes[n - 1].marker),
                Some(self.flushes[n - 1].offset),
            ),
        };
        let later = self.flushes.split_off(upto);
        let ignored_records = self.pending_records + later.iter().map(|f| f.records).sum::<usize>();
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(generation: u64) -> Marker {
        Marker {
            generation,
            input_offset: 100 * generation as i64,
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
                ignored_records: 2
            }
        );
        let empty = Restorer::new("counts").apply_up_to_last_marker();
        assert_eq!(
            empty,
            Restored {
                marker: None,
                marker_offset: None,
                writes: vec![],
                ignored_records: 0
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

    /// Feeds `records` after `restorer`'s last offset; a record `"!n"` is a void mark after offset n.
    fn feed_more(restorer: &mut Restorer, records: &[(&str, Option<&str>)]) {
        let start = restorer.last_offset().map_or(0, |o| o + 1);
        for (i, (key, value)) in records.iter().enumerate() {
            let offset = start + i as i64;
            let rec = if let Some(after) = key.strip_prefix('!') {
                ChangelogRecord::void(&VoidMark {
                    after_offset: after.parse().unwrap(),
                })
            } else if let Some(g) = key.strip_prefix('#') {
                ChangelogRecord::marker(&marker(g.parse().unwrap()))
            } else {
                ChangelogRecord {
                    key: key.as_bytes().to_vec(),
                    value: value.map(|v| v.as_bytes().to_vec()),
                }
            };
            restorer
                .push(offset, &rec.key, rec.value.as_deref())
                .unwrap();
        }
    }

    #[test]
    fn a_void_mark_keeps_a_dead_flush_out_of_the_next_one() {
        // Offsets: a=1 @0, #1 @1; a killed flush: a=dead @2, b=dead @3 (no marker); the next owner
        // restored to the marker at 1 and voided after it @4; its own flush 2: c=2 @5, #2 @6.
        let dead = [
            ("a", Some("1")),
            ("#1", None),
            ("a", Some("dead")),
            ("b", None),
        ];
        let own = [("c", Some("2")), ("#2", None)];
        let mut r = Restorer::new("counts");
        feed_more(&mut r, &dead);
        feed_more(&mut r, &[("!1", None)]);
        feed_more(&mut r, &own);
        let restored = r.apply_up_to_generation(2).unwrap();
        assert_eq!(pairs(&restored), vec![("a", Some("1")), ("c", Some("2"))]);
        assert_eq!(restored.marker_offset, Some(6));

        // Without the mark, the dead flush's records join flush 2.
        let mut r = Restorer::new("counts");
        feed_more(&mut r, &dead);
        feed_more(&mut r, &own);
        assert_eq!(
            pairs(&r.apply_up_to_generation(2).unwrap()),
            vec![("a", Some("dead")), ("b", None), ("c", Some("2"))]
        );
    }

    #[test]
    fn a_void_mark_drops_a_flush_complete_here_but_not_in_another_store() {
        // Flush 2 completed in this store only; the next owner restored flush 1 everywhere, voided
        // what followed, and flushed its own generation 2 again.
        let mut r = Restorer::new("counts");
        feed_more(
            &mut r,
            &[
                ("a", Some("1")),
                ("#1", None),
                ("a", Some("dead")),
                ("#2", None),
                ("!1", None),
                ("b", Some("2")),
                ("#2", None),
            ],
        );
        assert_eq!(r.generations(), vec![1, 2]);
        assert!(!r.unfinished_after(6));
        let restored = r.apply_up_to_generation(2).unwrap();
        assert_eq!(pairs(&restored), vec![("a", Some("1")), ("b", Some("2"))]);
        assert_eq!(restored.marker_offset, Some(6));

        // Restored from the local state (its marker before this tail): the mark voids all of it.
        let mut r = Restorer::new("counts");
        feed_more(
            &mut r,
            &[("x", Some("orphan")), ("!-1", None), ("#3", None)],
        );
        assert_eq!(r.last_offset(), Some(2));
        assert!(r.unfinished_after(-1), "flush 3 follows the mark");
        assert_eq!(pairs(&r.apply_up_to_last_marker()), vec![]);
        let mut r = Restorer::new("counts");
        feed_more(&mut r, &[("x", Some("orphan")), ("!-1", None)]);
        assert!(!r.unfinished_after(-1), "nothing left to void after a mark");
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

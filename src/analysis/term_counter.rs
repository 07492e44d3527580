//! A bounded counter of terms (emotes, words, gifters) per window: exact while a window has few
//! distinct terms, forgetting the least-used ones beyond its capacity. Each term keeps a small
//! sample of the distinct chatters who used it, for the emote-shape rule.

use std::borrow::Borrow;
use std::collections::BinaryHeap;
use std::hash::Hash;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::short_str::ShortStr;
use super::term::{ShortMap, TermKind, DEFAULT_MAX_TERMS, EMOTE_MIN_CHATTERS};

/// One tracked term of a [`TermCounter`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermStat {
    /// Uses counted while the term was tracked.
    pub uses: u64,
    /// Up to [`EMOTE_MIN_CHATTERS`] distinct chatters (hashes, ascending) who used it.
    pub chatters: ChatterSample,
    /// How it was recognised.
    pub kind: TermKind,
}

/// Up to [`EMOTE_MIN_CHATTERS`] distinct chatter hashes in ascending order, held inline (a new term
/// allocates nothing). It serializes as the list of its hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatterSample {
    len: u8,
    hashes: [u64; EMOTE_MIN_CHATTERS],
}

impl ChatterSample {
    /// A sample of one chatter.
    pub fn of(chatter: u64) -> ChatterSample {
        let mut sample = ChatterSample::default();
        sample.add(chatter);
        sample
    }

    /// Adds `chatter` unless it is in the sample or the sample is full.
    pub fn add(&mut self, chatter: u64) {
        let len = usize::from(self.len);
        if let Err(at) = self.hashes[..len].binary_search(&chatter) {
            if len < EMOTE_MIN_CHATTERS {
                self.hashes.copy_within(at..len, at + 1);
                self.hashes[at] = chatter;
                self.len += 1;
            }
        }
    }

    /// The hashes, ascending.
    pub fn as_slice(&self) -> &[u64] {
        &self.hashes[..usize::from(self.len)]
    }

    /// Number of distinct chatters held.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when it holds no chatter.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Serialize for ChatterSample {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
}

impl<'de> Deserialize<'de> for ChatterSample {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hashes = Vec::<u64>::deserialize(deserializer)?;
        let mut sample = ChatterSample::default();
        for h in hashes {
            sample.add(h);
        }
        Ok(sample)
    }
}

/// Counts of at most `max_terms` distinct terms, so a window's memory stays bounded. When a new
/// term arrives at capacity, the least-used term (ties: the last in name order) is forgotten. The
/// counts are exact while a window has no more than `max_terms` distinct terms; beyond that, frequent
/// terms stay tracked and only rare ones are dropped.
///
/// Terms sit in a hash map (one hash and one comparison per lookup); the state serializes them as a
/// map in name order, as a sorted map would.
///
/// The least-used terms are indexed ([`LeastUsed`]), so forgetting one at capacity does not scan
/// every term.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TermCounter {
    max_terms: usize,
    #[serde(with = "sorted_map")]
    terms: ShortMap<TermStat>,
    #[serde(skip)]
    least: LeastUsed,
}

impl PartialEq for TermCounter {
    fn eq(&self, other: &TermCounter) -> bool {
        self.max_terms == other.max_terms && self.terms == other.terms
    }
}

impl Eq for TermCounter {}

/// The terms of a [`TermCounter`] with the fewest uses. When `valid`, every term has at least
/// `uses` uses and exactly `live` terms have `uses`. `heap` holds every one of those, plus stale
/// names of terms that have grown since (uses only grow, so a stale name is recognised by its
/// current count when it reaches the top and skipped): growing costs nothing, and the eviction
/// victim, the last name of the least used, is the heap's top. It is built at the first eviction
/// and kept from then on, so a counter below capacity pays nothing.
#[derive(Debug, Clone, Default)]
struct LeastUsed {
    valid: bool,
    uses: u64,
    live: usize,
    heap: BinaryHeap<ShortStr>,
}

impl LeastUsed {
    /// Recomputes the index from every term.
    fn rebuild(&mut self, terms: &ShortMap<TermStat>) {
        self.heap.clear();
        self.uses = terms.values().map(|s| s.uses).min().unwrap_or(0);
        let least = self.uses;
        self.heap.extend(
            terms
                .iter()
                .filter(|(_, s)| s.uses == least)
                .map(|(t, _)| t.clone()),
        );
        self.live = self.heap.len();
        self.valid = true;
    }

    /// A term went from `before` uses to more.
    fn grew(&mut self, before: u64) {
        if self.valid && before == self.uses {
            self.live -= 1;
        }
    }

    /// A new term with `uses` uses, given the number of terms the counter may hold.
    fn added(&mut self, term: &ShortStr, uses: u64, max_terms: usize) {
        if !self.valid {
            return;
        }
        if uses < self.uses || (uses > self.uses && self.live == 0) {
            if uses > self.uses {
                // The minimum of the other terms is unknown: rebuild when it is needed.
                self.valid = false;
                return;
            }
            self.uses = uses;
            self.live = 0;
            self.heap.clear();
        }
        if uses == self.uses {
            self.live += 1;
            self.heap.push(term.clone());
            // Stale names are bounded: past twice the capacity, start over at the next eviction.
            if self.heap.len() > 2 * max_terms + 8 {
                self.valid = false;
            }
        }
    }

    /// The name to forget: the last in name order of the least-used terms.
    fn victim(&mut self, terms: &ShortMap<TermStat>) -> Option<ShortStr> {
        if !self.valid || self.live == 0 {
            self.rebuild(terms);
        }
        while let Some(name) = self.heap.pop() {
            if terms.get(&name).is_some_and(|s| s.uses == self.uses) {
                self.live -= 1;
                return Some(name);
            }
        }
        None
    }
}

impl Default for TermCounter {
    fn default() -> Self {
        TermCounter::new(DEFAULT_MAX_TERMS)
    }
}

impl TermCounter {
    /// A counter tracking at most `max_terms` terms (at least 1).
    pub fn new(max_terms: usize) -> Self {
        TermCounter {
            max_terms: max_terms.max(1),
            terms: ShortMap::default(),
            least: LeastUsed::default(),
        }
    }

    /// Makes room for as many terms as `other` tracks (at most this counter's capacity).
    pub fn reserve_like(&mut self, other: &TermCounter) {
        self.terms.reserve(other.len().min(self.max_terms));
    }

    /// Counts `uses` of `term` by the chatter with hash `chatter`.
    pub fn add(&mut self, term: &str, kind: TermKind, chatter: u64, uses: u64) {
        self.add_key(term, ShortStr::new, kind, chatter, uses);
    }

    /// [`TermCounter::add`] for a term already held as a [`ShortStr`] (looked up by its bytes,
    /// without reading it back as a `str`).
    pub fn add_short(&mut self, term: &ShortStr, kind: TermKind, chatter: u64, uses: u64) {
        self.add_key(term, ShortStr::clone, kind, chatter, uses);
    }

    fn add_key<Q>(
        &mut self,
        term: &Q,
        own: impl FnOnce(&Q) -> ShortStr,
        kind: TermKind,
        chatter: u64,
        uses: u64,
    ) where
        Q: ?Sized + Hash + Eq,
        ShortStr: Borrow<Q>,
    {
        if let Some(stat) = self.terms.get_mut(term) {
            if uses > 0 {
                self.least.grew(stat.uses);
            }
            stat.uses += uses;
            stat.kind = stat.kind.min(kind);
            stat.chatters.add(chatter);
            return;
        }
        if self.terms.len() >= self.max_terms {
            self.evict_one();
        }
        let term = own(term);
        self.least.added(&term, uses, self.max_terms);
        self.terms.insert(
            term,
            TermStat {
                uses,
                chatters: ChatterSample::of(chatter),
                kind,
            },
        );
    }

    /// Adds everything `other` counted.
    pub fn merge(&mut self, other: &TermCounter) {
        for (term, s) in &other.terms {
            let stat = self.terms.entry(term.clone()).or_insert_with(|| TermStat {
                uses: 0,
                chatters: ChatterSample::default(),
                kind: s.kind,
            });
            stat.uses += s.uses;
            stat.kind = stat.kind.min(s.kind);
            for c in s.chatters.as_slice() {
                stat.chatters.add(*c);
            }
        }
        self.least.valid = false;
        while self.terms.len() > self.max_terms {
            self.evict_one();
        }
    }

    /// Forgets the least-used term; of several, the last in name order.
    fn evict_one(&mut self) {
        if let Some(victim) = self.least.victim(&self.terms) {
            self.terms.remove(&victim);
        }
    }

    /// The tracked terms, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TermStat)> {
        self.terms.iter().map(|(t, s)| (t.as_str(), s))
    }

    /// Number of tracked terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The tracked terms' counts, in no particular order.
    pub fn stats(&self) -> impl Iterator<Item = &TermStat> {
        self.terms.values()
    }

    /// The `n` most used terms that pass `keep`, most used first (ties in name order). `keep` gets
    /// the term as a [`ShortStr`] (it reads as a `str`), so a filter on the counts alone never
    /// decodes a name.
    pub fn top(&self, n: usize, keep: impl Fn(&ShortStr, &TermStat) -> bool) -> Vec<(String, u64)> {
        if n == 0 {
            return Vec::new();
        }
        let mut v: Vec<(&ShortStr, &TermStat)> =
            self.terms.iter().filter(|(t, s)| keep(t, s)).collect();
        let order = |a: &(&ShortStr, &TermStat), b: &(&ShortStr, &TermStat)| {
            b.1.uses.cmp(&a.1.uses).then_with(|| a.0.cmp(b.0))
        };
        // Names are distinct, so the order is total: the first `n` after a partial selection are
        // the first `n` of a full sort.
        if v.len() > n {
            v.select_nth_unstable_by(n - 1, order);
            v.truncate(n);
        }
        v.sort_by(order);
        v.into_iter()
            .take(n)
            .map(|(t, s)| (t.as_str().to_owned(), s.uses))
            .collect()
    }
}

/// Serializes a hash map keyed by strings as a map in key order, so state bytes do not depend on
/// hashing, and reads it back from any map.
pub(crate) mod sorted_map {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::analysis::short_str::ShortStr;
    use crate::analysis::ShortMap;

    pub fn serialize<V: Serialize, S: Serializer>(
        map: &ShortMap<V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&ShortStr, &V)> = map.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        serializer.collect_map(entries)
    }

    pub fn deserialize<'de, V: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<ShortMap<V>, D::Error> {
        ShortMap::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chatter_sample_keeps_the_first_distinct_chatters_in_order_and_reads_as_a_list() {
        let mut s = ChatterSample::of(50);
        for c in [10, 50, 30, 20, 5] {
            s.add(c);
        }
        assert_eq!(s.as_slice(), &[10, 30, 50]);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "[10,30,50]");
        assert_eq!(serde_json::from_str::<ChatterSample>(&json).unwrap(), s);
        assert_eq!(
            serde_json::from_str::<ChatterSample>("[]").unwrap().len(),
            0
        );
    }

    /// A 64-bit linear congruential generator (Knuth's MMIX constants): reproducible test input.
    fn next_random(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *state
    }

    #[test]
    fn term_counter_evicts_as_a_full_scan_would() {
        // Reference: a sorted map, evicting the least-used term (ties: last in name order) by a
        // scan over every term, as the counter did before it indexed its least-used terms.
        let mut reference: std::collections::BTreeMap<String, u64> = Default::default();
        let mut counter = TermCounter::new(16);
        let mut state: u64 = 7;
        for step in 0..20_000u64 {
            let x = next_random(&mut state);
            // Skewed terms: a few frequent, many rare; uses of 1 mostly, sometimes more.
            let term = format!("t{}", (x >> 33) % if x % 3 == 0 { 8 } else { 64 });
            let uses = 1 + (x >> 20) % 3 / 2;
            counter.add(&term, TermKind::Word, step, uses);
            match reference.get_mut(&term) {
                Some(u) => *u += uses,
                None => {
                    if reference.len() >= 16 {
                        let victim = reference
                            .iter()
                            .min_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                            .map(|(t, _)| t.clone())
                            .unwrap();
                        reference.remove(&victim);
                    }
                    reference.insert(term, uses);
                }
            }
            if step % 997 == 0 {
                // A restored counter (no index yet) must go on the same way.
                let json = serde_json::to_string(&counter).unwrap();
                counter = serde_json::from_str(&json).unwrap();
            }
            let got: std::collections::BTreeMap<String, u64> = counter
                .iter()
                .map(|(t, s)| (t.to_owned(), s.uses))
                .collect();
            assert_eq!(got, reference, "step {step}");
        }
    }

    #[test]
    fn top_equals_the_head_of_a_full_sort() {
        let mut c = TermCounter::new(1_000);
        let mut state: u64 = 11;
        for step in 0..3_000u64 {
            let x = next_random(&mut state);
            c.add(
                &format!("e{}", (x >> 35) % 300),
                TermKind::Shaped,
                step,
                1 + (x >> 60),
            );
        }
        let mut all: Vec<(String, u64)> = c.iter().map(|(t, s)| (t.to_owned(), s.uses)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for n in [0, 1, 5, 299, 300, 1_000] {
            let want: Vec<(String, u64)> = all.iter().take(n).cloned().collect();
            assert_eq!(c.top(n, |_, _| true), want, "n = {n}");
        }
        let odd: Vec<(String, u64)> = all
            .iter()
            .filter(|(_, u)| u % 2 == 1)
            .take(5)
            .cloned()
            .collect();
        assert_eq!(c.top(5, |_, s| s.uses % 2 == 1), odd);
    }

    #[test]
    fn term_counter_stays_bounded_and_keeps_frequent_terms() {
        let mut c = TermCounter::new(4);
        for _ in 0..10 {
            c.add("Pog", TermKind::Known, 1, 1);
        }
        for i in 0..100 {
            c.add(&format!("rare{i}"), TermKind::Word, i, 1);
            assert!(c.len() <= 4);
        }
        assert_eq!(c.top(1, |_, _| true), vec![("Pog".to_owned(), 10)]);
        let mut other = TermCounter::new(4);
        for i in 0..6 {
            other.add(&format!("x{i}"), TermKind::Word, 9, 2);
        }
        c.merge(&other);
        assert_eq!(c.len(), 4);
        assert_eq!(c.top(1, |_, _| true)[0].0, "Pog");
    }
}

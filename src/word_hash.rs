//! A fast hasher for the in-memory maps of the hot path (chatter logins, emotes, lexicon tokens,
//! window keys): eight bytes per multiply instead of FNV's one byte or SipHash's rounds. The keys
//! are chat text, not secrets, and nothing persists these hashes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiplier of the mixing step (2^64 divided by the golden ratio, odd).
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// A word-at-a-time multiplicative hasher with a final avalanche, so both the high bits (the hash
/// map's tag) and the low bits (its bucket) depend on every input byte.
#[derive(Debug, Clone, Copy, Default)]
pub struct WordHasher(u64);

/// A `HashMap` hashed with [`WordHasher`].
pub type WordMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

impl WordHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(K);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        let h = (self.0 ^ (self.0 >> 31)).wrapping_mul(K);
        h ^ (h >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let n = rest.len();
        if n == 0 {
            return;
        }
        // The last 1-7 bytes in one word with the length in its top byte (which these bytes
        // never reach): 4-7 bytes as two overlapping 4-byte reads, the overlap shifted out (the
        // bytes as a zero-padded little-endian word); 1-3 bytes as first, middle and last.
        let low = match n {
            1..=3 => {
                u64::from(rest[0]) | u64::from(rest[n / 2]) << 8 | u64::from(rest[n - 1]) << 16
            }
            _ => {
                let mut lo = [0u8; 4];
                let mut hi = [0u8; 4];
                lo.copy_from_slice(&rest[..4]);
                hi.copy_from_slice(&rest[n - 4..]);
                let tail = u64::from(u32::from_le_bytes(hi)) >> (8 * (8 - n));
                u64::from(u32::from_le_bytes(lo)) | tail << 32
            }
        };
        let word = low | (n as u64) << 56;
        self.mix(word);
    }

    fn write_u8(&mut self, b: u8) {
        self.mix(u64::from(b));
    }

    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }

    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hash};

    fn hash(s: &str) -> u64 {
        BuildHasherDefault::<WordHasher>::default().hash_one(s)
    }

    #[test]
    fn distinct_short_keys_hash_apart_in_high_and_low_bits() {
        // Every string of up to 2 letters, plus lengths around the 4- and 8-byte boundaries.
        let mut keys: Vec<String> = Vec::new();
        for a in 'a'..='z' {
            keys.push(a.to_string());
            for b in 'a'..='z' {
                keys.push(format!("{a}{b}"));
            }
        }
        for len in 1..=20 {
            keys.push("x".repeat(len));
            keys.push(format!("{}y", "x".repeat(len)));
        }
        keys.sort();
        keys.dedup();
        let full: HashSet<u64> = keys.iter().map(|k| hash(k)).collect();
        assert_eq!(full.len(), keys.len(), "full hashes collide");
        // hashbrown buckets by the low bits and tags by the top 7: both must spread.
        let low: HashSet<u64> = keys.iter().map(|k| hash(k) & 0x3ff).collect();
        let high: HashSet<u64> = keys.iter().map(|k| hash(k) >> 57).collect();
        assert!(
            low.len() > 500,
            "low bits spread over {} buckets",
            low.len()
        );
        assert_eq!(high.len(), 128, "tags use {} of 128 values", high.len());
    }

    #[test]
    fn a_map_finds_what_it_holds() {
        let mut map: WordMap<String, usize> = WordMap::default();
        for i in 0..10_000 {
            map.insert(format!("chatter{i}"), i);
        }
        for i in 0..10_000 {
            assert_eq!(map.get(format!("chatter{i}").as_str()), Some(&i));
        }
        assert_eq!(map.get("chatter10000"), None);
        let mut h = WordHasher::default();
        "kamet0".hash(&mut h);
        assert_eq!(h.finish(), hash("kamet0"));
    }
}

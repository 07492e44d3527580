//! A read-only table of short terms (up to [`KEY_MAX`] bytes) for the lexicon: a term is packed
//! into two machine words by fixed-size loads, so looking a token up hashes and compares a few
//! integers instead of bytes, and an ASCII token is lower-cased inside those words.

/// Longest term a [`WordKey`] holds.
pub const KEY_MAX: usize = 16;

/// Bytes with only the lowest bit set, one per byte of a word.
const ONES: u64 = 0x0101_0101_0101_0101;

/// A term of at most [`KEY_MAX`] bytes packed into integers: two equal keys hold equal bytes.
/// Terms of 1 to 3 bytes keep their first, middle and last byte; 4 to 7 bytes their first and
/// last four; 8 to 16 bytes their first and last eight (the reads overlap, and the length tells
/// how).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordKey {
    head: u64,
    tail: u64,
    len: u64,
}

impl WordKey {
    /// The key of `term`; `None` when it is longer than [`KEY_MAX`] bytes.
    pub fn of(term: &[u8]) -> Option<WordKey> {
        let n = term.len();
        let (head, tail) = match n {
            0 => (0, 0),
            1..=3 => (
                u64::from(term[0]) | u64::from(term[n / 2]) << 8 | u64::from(term[n - 1]) << 16,
                0,
            ),
            4..=7 => (
                u64::from(u32_at(term, 0)) | u64::from(u32_at(term, n - 4)) << 32,
                0,
            ),
            8..=KEY_MAX => (u64_at(term, 0), u64_at(term, n - 8)),
            _ => return None,
        };
        Some(WordKey {
            head,
            tail,
            len: n as u64,
        })
    }

    /// The key of the term with its ASCII capitals in small letters (other bytes unchanged).
    pub fn to_ascii_lowercase(self) -> WordKey {
        WordKey {
            head: lower_word(self.head),
            tail: lower_word(self.tail),
            len: self.len,
        }
    }

    fn hash(self) -> u64 {
        (self.head ^ self.tail.rotate_left(29) ^ self.len).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// `w` with each byte from `A` to `Z` in small letters, eight bytes at once: a byte is a capital
/// when its low seven bits reach `A` but not past `Z` and its high bit is clear.
fn lower_word(w: u64) -> u64 {
    let low = w & (0x7f * ONES);
    let from_a = low + (0x80 - u64::from(b'A')) * ONES;
    let past_z = low + (0x7f - u64::from(b'Z')) * ONES;
    let upper = from_a & !past_z & !w & (0x80 * ONES);
    w | upper >> 2
}

/// Terms of at most [`KEY_MAX`] bytes and their values, in an open-addressing table at most a
/// quarter full, so a miss (the common case) usually stops at the first empty slot.
#[derive(Debug, Clone, Default)]
pub struct WordTable<V> {
    /// Index + 1 into `keys` and `values`; 0 is an empty slot.
    slots: Vec<u32>,
    shift: u32,
    keys: Vec<WordKey>,
    values: Vec<V>,
}

impl<V> WordTable<V> {
    /// A table of `entries`, whose terms must be distinct; terms longer than [`KEY_MAX`] are
    /// left out.
    pub fn new<'t>(entries: impl IntoIterator<Item = (&'t [u8], V)>) -> WordTable<V> {
        let (keys, values): (Vec<WordKey>, Vec<V>) = entries
            .into_iter()
            .filter_map(|(term, v)| WordKey::of(term).map(|k| (k, v)))
            .unzip();
        let bits = (keys.len() * 4)
            .next_power_of_two()
            .max(16)
            .trailing_zeros();
        let mut table = WordTable {
            slots: vec![0; 1 << bits],
            shift: 64 - bits,
            keys,
            values,
        };
        for i in 0..table.keys.len() {
            let mut at = table.home(table.keys[i]);
            while table.slots[at] != 0 {
                at = (at + 1) & (table.slots.len() - 1);
            }
            table.slots[at] = u32::try_from(i + 1).expect("a lexicon has fewer than 2^32 terms");
        }
        table
    }

    fn home(&self, key: WordKey) -> usize {
        (key.hash() >> self.shift) as usize
    }

    /// The value of the term `key` holds.
    pub fn get(&self, key: WordKey) -> Option<&V> {
        if self.keys.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = self.home(key);
        loop {
            let i = self.slots[at] as usize;
            if i == 0 {
                return None;
            }
            if self.keys[i - 1] == key {
                return Some(&self.values[i - 1]);
            }
            at = (at + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_equal_exactly_when_terms_are() {
        let mut terms: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=KEY_MAX {
            for fill in [b'a', b'Z', 0xc3] {
                let base = vec![fill; len];
                terms.push(base.clone());
                // One byte changed at each position: every byte must reach the key.
                for at in 0..len {
                    let mut t = base.clone();
                    t[at] = b'q';
                    terms.push(t);
                }
            }
        }
        terms.sort();
        terms.dedup();
        for a in &terms {
            for b in &terms {
                assert_eq!(WordKey::of(a) == WordKey::of(b), a == b, "{a:?} {b:?}");
            }
        }
        assert_eq!(WordKey::of(&[b'x'; KEY_MAX + 1]), None);
    }

    #[test]
    fn lower_case_keys_are_the_keys_of_lower_case_terms() {
        let mut texts: Vec<String> = (0u8..128).map(|b| format!("{0}x{0}", b as char)).collect();
        texts.extend(
            [
                "A",
                "Zz",
                "@[`{",
                "PogChamp",
                "KEKW",
                "OMEGALUL",
                "ABCDEFGHIJKLMNOP",
                "MiXeD123!",
                "caféÉ",
                "\u{212a}",
                "ÄÖÜ",
            ]
            .map(String::from),
        );
        for t in texts {
            let Some(key) = WordKey::of(t.as_bytes()) else {
                continue;
            };
            assert_eq!(
                Some(key.to_ascii_lowercase()),
                WordKey::of(t.to_ascii_lowercase().as_bytes()),
                "{t:?}"
            );
        }
    }

    #[test]
    fn finds_every_term_and_nothing_else() {
        let terms: Vec<String> = (0..2000).map(|i| format!("w{i}")).collect();
        let table = WordTable::new(terms.iter().enumerate().map(|(i, t)| (t.as_bytes(), i)));
        for (i, t) in terms.iter().enumerate() {
            assert_eq!(table.get(WordKey::of(t.as_bytes()).unwrap()), Some(&i));
        }
        for miss in ["w2000", "x1", "", "w", "W1"] {
            assert_eq!(table.get(WordKey::of(miss.as_bytes()).unwrap()), None);
        }
        let empty: WordTable<u8> = WordTable::default();
        assert_eq!(empty.get(WordKey::of(b"a").unwrap()), None);
    }
}

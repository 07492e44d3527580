//! A string kept inline when short: logins and emote names of a message, and the keys of per-window
//! chatter and term maps, are copied without a heap allocation. It reads, hashes, compares and
//! serializes exactly as the `str` it holds, so state written with it is plain strings.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest string held inline; Twitch logins have at most 25 bytes.
pub const INLINE_CAPACITY: usize = 30;

/// A string stored inline up to [`INLINE_CAPACITY`] bytes, on the heap beyond.
#[derive(Clone)]
pub struct ShortStr(Repr);

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        bytes: [u8; INLINE_CAPACITY],
    },
    Heap(Box<str>),
}

impl ShortStr {
    /// A copy of `s`: inline when it fits.
    pub fn new(s: &str) -> ShortStr {
        if s.len() <= INLINE_CAPACITY {
            let mut bytes = [0u8; INLINE_CAPACITY];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            ShortStr(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            ShortStr(Repr::Heap(s.into()))
        }
    }

    /// The string's bytes (no UTF-8 check: comparisons and hashing use these).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("the inline bytes are a copy of a str"),
            Repr::Heap(s) => s,
        }
    }
}

impl Deref for ShortStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ShortStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ShortStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for ShortStr {
    fn from(s: &str) -> ShortStr {
        ShortStr::new(s)
    }
}

impl From<String> for ShortStr {
    fn from(s: String) -> ShortStr {
        ShortStr::new(&s)
    }
}

impl From<ShortStr> for String {
    fn from(s: ShortStr) -> String {
        s.as_str().to_owned()
    }
}

impl PartialEq for ShortStr {
    fn eq(&self, other: &ShortStr) -> bool {
        match (&self.0, &other.0) {
            // The bytes past `len` are zero in both, so whole arrays compare (without a call).
            (Repr::Inline { len: a, bytes: x }, Repr::Inline { len: b, bytes: y }) => {
                a == b && x == y
            }
            _ => self.as_bytes() == other.as_bytes(),
        }
    }
}

impl Eq for ShortStr {}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialOrd for ShortStr {
    fn partial_cmp(&self, other: &ShortStr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ShortStr {
    fn cmp(&self, other: &ShortStr) -> Ordering {
        // UTF-8 byte order is `str` order. Two inline strings compare as their zero-padded arrays,
        // eight bytes at a time, then by length: a string ordered before another by the padding
        // alone is a prefix of it followed by NUL bytes, so the shorter one is first either way.
        match (&self.0, &other.0) {
            (Repr::Inline { len: a, bytes: x }, Repr::Inline { len: b, bytes: y }) => {
                padded_words(x).cmp(&padded_words(y)).then(a.cmp(b))
            }
            _ => self.as_bytes().cmp(other.as_bytes()),
        }
    }
}

/// The inline bytes as big-endian words (the last one zero-extended), which order as the bytes do.
fn padded_words(bytes: &[u8; INLINE_CAPACITY]) -> [u64; 4] {
    let word = |at: usize| {
        let mut w = [0u8; 8];
        let end = (at + 8).min(INLINE_CAPACITY);
        w[..end - at].copy_from_slice(&bytes[at..end]);
        u64::from_be_bytes(w)
    };
    [word(0), word(8), word(16), word(24)]
}

impl Hash for ShortStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Exactly as `str` hashes (its bytes, then 0xff), so maps keyed by ShortStr can be looked
        // up with a `&str`; the unit test checks it.
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl Serialize for ShortStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ShortStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ShortStr, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(ShortStr::new(&s))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn compares_and_orders_exactly_as_str_does() {
        let long = "x".repeat(INLINE_CAPACITY + 1);
        let at_capacity = "y".repeat(INLINE_CAPACITY);
        let words = [
            "",
            "\0",
            "a",
            "a\0",
            "a\0\0",
            "a\0b",
            "ab",
            "abcdefgh",
            "abcdefgh\0",
            "abcdefghi",
            "abcdefgg~",
            "Kappa",
            "KEKW",
            "kekw",
            "PogChamp",
            "Pog",
            "Ünïcödé",
            "ÿ",
            "\u{10ffff}",
            &at_capacity,
            &long,
            "x",
            "xx",
        ];
        for a in words {
            for b in words {
                let (x, y) = (ShortStr::new(a), ShortStr::new(b));
                assert_eq!(x.cmp(&y), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(x == y, a == b, "{a:?} == {b:?}");
            }
        }
    }

    #[test]
    fn reads_hashes_orders_and_serializes_as_its_str() {
        let long = "x".repeat(INLINE_CAPACITY + 1);
        for s in [
            "",
            "a",
            "kamet0",
            "Ünïcödé",
            &"y".repeat(INLINE_CAPACITY),
            &long,
        ] {
            let v = ShortStr::new(s);
            assert_eq!(v.as_str(), s);
            assert_eq!(v, s);
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                serde_json::to_string(s).unwrap()
            );
            let back: ShortStr = serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap();
            assert_eq!(back, v);
            let map: HashMap<ShortStr, u8> = HashMap::from([(v.clone(), 1)]);
            assert_eq!(map.get(s), Some(&1));
        }
        assert!(ShortStr::new("ab") < ShortStr::new("b"));
        for s in ["", "kamet0", "Ünïcödé", &long] {
            let hash = |h: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
                let mut state = std::collections::hash_map::DefaultHasher::new();
                h(&mut state);
                state.finish()
            };
            assert_eq!(
                hash(&|st| ShortStr::new(s).hash(st)),
                hash(&|st| s.hash(st))
            );
            let mut fnv = crate::word_hash::WordHasher::default();
            ShortStr::new(s).hash(&mut fnv);
            let mut plain = crate::word_hash::WordHasher::default();
            s.hash(&mut plain);
            assert_eq!(fnv.finish(), plain.finish());
        }
        assert!(ShortStr::new(&long) > ShortStr::new("x"));
        assert!(matches!(ShortStr::new(&long).0, Repr::Heap(_)));
        assert!(matches!(ShortStr::new("kamet0").0, Repr::Inline { .. }));
    }
}

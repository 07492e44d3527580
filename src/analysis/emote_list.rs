//! The emotes of one message, kept inline: a message rarely has more than a few distinct emotes, so
//! reading one allocates nothing. It serializes and compares as the list it holds.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::term::{EmoteUse, TermKind};

/// Distinct emotes held without a heap allocation; more spill to a `Vec`.
pub const INLINE_EMOTES: usize = 4;

/// A list of [`EmoteUse`]s: the first [`INLINE_EMOTES`] inline, the rest on the heap.
#[derive(Debug, Clone, Default)]
pub struct EmoteList {
    inline: [Option<EmoteUse>; INLINE_EMOTES],
    spill: Vec<EmoteUse>,
}

impl EmoteList {
    /// An empty list (no allocation).
    pub fn new() -> EmoteList {
        EmoteList::default()
    }

    /// Appends `e`.
    pub fn push(&mut self, e: EmoteUse) {
        match self.inline.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) if self.spill.is_empty() => *slot = Some(e),
            _ => self.spill.push(e),
        }
    }

    /// One more use of `name`: a listed emote counts it (and keeps the kind of higher precedence,
    /// see [`TermKind`]), another is appended with one use.
    pub fn count(&mut self, name: &str, kind: TermKind) {
        let found = |e: &EmoteUse| e.name.as_bytes() == name.as_bytes();
        if self.spill.is_empty() {
            for slot in &mut self.inline {
                match slot {
                    Some(e) if found(e) => return e.count(kind),
                    Some(_) => {}
                    None => {
                        *slot = Some(EmoteUse::first(name, kind));
                        return;
                    }
                }
            }
        } else if let Some(e) = self.iter_mut().find(|e| found(e)) {
            return e.count(kind);
        }
        self.spill.push(EmoteUse::first(name, kind));
    }

    /// The emotes in the order they were pushed.
    pub fn iter(&self) -> impl Iterator<Item = &EmoteUse> {
        self.inline
            .iter()
            .map_while(Option::as_ref)
            .chain(&self.spill)
    }

    /// The emotes in order, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut EmoteUse> {
        self.inline
            .iter_mut()
            .map_while(Option::as_mut)
            .chain(&mut self.spill)
    }

    /// Number of emotes.
    pub fn len(&self) -> usize {
        self.inline.iter().take_while(|e| e.is_some()).count() + self.spill.len()
    }

    /// True without emotes.
    pub fn is_empty(&self) -> bool {
        self.inline[0].is_none()
    }
}

impl From<Vec<EmoteUse>> for EmoteList {
    fn from(v: Vec<EmoteUse>) -> EmoteList {
        let mut list = EmoteList::new();
        for e in v {
            list.push(e);
        }
        list
    }
}

impl PartialEq for EmoteList {
    fn eq(&self, other: &EmoteList) -> bool {
        self.iter().eq(other.iter())
    }
}

impl PartialEq<Vec<EmoteUse>> for EmoteList {
    fn eq(&self, other: &Vec<EmoteUse>) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for EmoteList {}

impl Serialize for EmoteList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for EmoteList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EmoteList, D::Error> {
        Vec::<EmoteUse>::deserialize(deserializer).map(EmoteList::from)
    }
}

impl EmoteUse {
    fn first(name: &str, kind: TermKind) -> EmoteUse {
        EmoteUse {
            name: name.into(),
            kind,
            uses: 1,
        }
    }

    fn count(&mut self, kind: TermKind) {
        self.uses += 1;
        self.kind = self.kind.min(kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emote(i: u32) -> EmoteUse {
        EmoteUse {
            name: format!("Emote{i}").as_str().into(),
            kind: TermKind::Known,
            uses: i,
        }
    }

    #[test]
    fn keeps_order_beyond_the_inline_slots_and_serializes_as_a_list() {
        for n in [0, 1, INLINE_EMOTES, INLINE_EMOTES + 3] {
            let v: Vec<EmoteUse> = (0..n as u32).map(emote).collect();
            let mut list = EmoteList::new();
            for e in v.clone() {
                list.push(e);
            }
            assert_eq!(list, v);
            assert_eq!(list.len(), n);
            assert_eq!(list.is_empty(), n == 0);
            assert_eq!(
                serde_json::to_string(&list).unwrap(),
                serde_json::to_string(&v).unwrap()
            );
            let back: EmoteList =
                serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
            assert_eq!(back, list);
            for e in list.iter_mut() {
                e.uses += 1;
            }
            assert!(list.iter().zip(&v).all(|(a, b)| a.uses == b.uses + 1));
        }
    }
}

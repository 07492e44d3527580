//! Detecting duplicate deliveries: Twitch (and a reconnecting reader) can deliver the same line twice;
//! its `id` tag is unique per message. [`DuplicateFilter`] remembers the most recent ids, bounded.

use std::collections::{HashSet, VecDeque};

/// Remembers the last `capacity` message ids.
#[derive(Debug)]
pub struct DuplicateFilter {
    seen: HashSet<Box<str>>,
    order: VecDeque<Box<str>>,
    capacity: usize,
}

impl DuplicateFilter {
    /// A filter remembering at most `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        DuplicateFilter {
            seen: HashSet::with_capacity(capacity.min(1 << 16)),
            order: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity: capacity.max(1),
        }
    }

    /// True the first time `id` is offered, false for a duplicate still remembered.
    pub fn first_seen(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        let id: Box<str> = id.into();
        self.seen.insert(id.clone());
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_duplicates_within_capacity_and_forgets_beyond_it() {
        let mut f = DuplicateFilter::new(2);
        assert!(f.first_seen("a"));
        assert!(!f.first_seen("a"));
        assert!(f.first_seen("b"));
        assert!(f.first_seen("c"));
        assert_eq!(f.len(), 2);
        assert!(f.first_seen("a"), "a was evicted, so it reads as new");
        assert!(!f.first_seen("c"));
    }
}

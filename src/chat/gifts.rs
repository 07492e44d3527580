//! Counting gifted subs once. Twitch announces a gift bomb as one `submysterygift` (count N) and then
//! sends N `subgift` lines that share its `msg-param-community-gift-id`; adding both would count every
//! gift twice. [`GiftCounter`] credits the bomb with N and its follow-up lines with nothing.

use std::collections::{HashMap, VecDeque};

use crate::chat::event::{ChatEvent, EventKind, NoticeKind};

/// What one event adds to the gift tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GiftTally {
    /// Gifted subs this event adds, counted once.
    pub gifts: u32,
    /// 1 when the event is a gift bomb announcement.
    pub bombs: u32,
}

/// Remembers open gift bombs (bounded) to count each gifted sub exactly once. Serializes, so a
/// processor can keep it in its state store across restarts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GiftCounter {
    /// community gift id -> follow-up lines still expected (negative: lines seen before the bomb).
    open: HashMap<String, i64>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Default for GiftCounter {
    fn default() -> Self {
        GiftCounter::new(10_000)
    }
}

impl GiftCounter {
    /// A counter remembering at most `capacity` gift bombs.
    pub fn new(capacity: usize) -> Self {
        GiftCounter {
            open: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// What `event` adds to the tally. Shared Chat copies add nothing: the source channel counts them.
    pub fn count(&mut self, event: &ChatEvent<'_>) -> GiftTally {
        let EventKind::UserNotice(notice) = &event.kind else {
            return GiftTally::default();
        };
        if event.is_shared_copy() {
            return GiftTally::default();
        }
        match &notice.notice {
            NoticeKind::SubMysteryGift(bomb) => {
                let count = i64::from(bomb.count);
                let Some(id) = bomb.community_gift_id else {
                    return GiftTally {
                        gifts: bomb.count,
                        bombs: 1,
                    };
                };
                // Lines that arrived before the announcement were already counted one by one.
                let seen_before = (-self.open.get(id).copied().unwrap_or(0)).max(0);
                self.remember(id, count - seen_before);
                GiftTally {
                    gifts: (count - seen_before).max(0) as u32,
                    bombs: 1,
                }
            }
            NoticeKind::SubGift(gift) => {
                let Some(id) = gift.community_gift_id else {
                    return GiftTally { gifts: 1, bombs: 0 };
                };
                match self.open.get_mut(id) {
                    Some(left) if *left > 0 => {
                        *left -= 1;
                        if *left == 0 {
                            self.open.remove(id);
                        }
                        GiftTally::default()
                    }
                    Some(left) => {
                        *left -= 1;
                        GiftTally { gifts: 1, bombs: 0 }
                    }
                    None => {
                        self.remember(id, -1);
                        GiftTally { gifts: 1, bombs: 0 }
                    }
                }
            }
            _ => GiftTally::default(),
        }
    }

    fn remember(&mut self, id: &str, left: i64) {
        if left == 0 {
            self.open.remove(id);
            return;
        }
        if self.open.insert(id.to_owned(), left).is_none() {
            self.order.push_back(id.to_owned());
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.open.remove(&old);
                }
            }
        }
    }
}

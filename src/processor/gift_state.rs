//! A task's [`GiftCounter`] as processor state: gifted subs are counted once even when a gift bomb's
//! follow-up lines straddle a commit or a restart, because the counter is persisted when it changes.

use super::state::{StateTables, Table, TableName, ValueTable};
use crate::chat::event::{EventKind, NoticeKind};
use crate::chat::gifts::{GiftCounter, GiftTally};
use crate::chat::ChatEvent;

/// A persisted gift counter.
#[derive(Debug)]
pub struct GiftState {
    counter: ValueTable<GiftCounter>,
}

impl Default for GiftState {
    fn default() -> Self {
        GiftState {
            counter: ValueTable::new(TableName::GIFTS, GiftCounter::default()),
        }
    }
}

impl GiftState {
    /// What `event` adds to the gift tally.
    pub fn count(&mut self, event: &ChatEvent<'_>) -> GiftTally {
        if let EventKind::UserNotice(n) = &event.kind {
            if matches!(
                n.notice,
                NoticeKind::SubGift(_) | NoticeKind::SubMysteryGift(_)
            ) {
                return self.counter.get_mut().count(event);
            }
        }
        // Only gift notices change the counter or add to the tally.
        GiftTally::default()
    }
}

impl StateTables for GiftState {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        visit(&mut self.counter);
    }
}

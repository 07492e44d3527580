//! A task's [`GiftCounter`] as processor state: gifted subs are counted once even when a gift bomb's
//! follow-up lines straddle a commit or a restart, because the counter is persisted when it changes.

use super::state::KIND_STATE_TAG;
use super::StateWrite;
use crate::chat::event::{EventKind, NoticeKind};
use crate::chat::gifts::{GiftCounter, GiftTally};
use crate::chat::ChatEvent;

/// The state key of the counter.
const KEY: &[u8] = &[KIND_STATE_TAG, b'g'];

/// A persisted gift counter.
#[derive(Debug, Default)]
pub struct GiftState {
    counter: GiftCounter,
    dirty: bool,
}

impl GiftState {
    /// What `event` adds to the gift tally.
    pub fn count(&mut self, event: &ChatEvent<'_>) -> GiftTally {
        if let EventKind::UserNotice(n) = &event.kind {
            if matches!(
                n.notice,
                NoticeKind::SubGift(_) | NoticeKind::SubMysteryGift(_)
            ) {
                self.dirty = true;
            }
        }
        self.counter.count(event)
    }

    /// The counter's state entry when it changed since the last flush.
    pub fn flush(&mut self) -> Option<StateWrite> {
        std::mem::take(&mut self.dirty).then(|| {
            let value = serde_json::to_vec(&self.counter).expect("a GiftCounter serializes");
            (KEY.to_vec(), Some(value))
        })
    }

    /// Restores the counter when `key` is its entry; `Ok(false)` when the key is not the counter's.
    pub fn restore(&mut self, key: &[u8], value: &[u8]) -> Result<bool, String> {
        if key != KEY {
            return Ok(false);
        }
        self.counter = serde_json::from_slice(value).map_err(|e| format!("gift counter: {e}"))?;
        Ok(true)
    }
}

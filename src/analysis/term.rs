//! The vocabulary of message analysis: how a term was recognised ([`TermKind`]), one emote's uses in
//! a message ([`EmoteUse`]), the inline-string map terms are counted in, and the thresholds that
//! decide when a term counts.

use serde::{Deserialize, Serialize};

use super::short_str::ShortStr;
use crate::word_hash::WordMap;

/// A map keyed by short strings stored inline, hashed with [`WordHasher`](crate::word_hash::WordHasher).
pub type ShortMap<V> = WordMap<ShortStr, V>;

/// An emote-shaped token becomes an emote of the window once this many distinct chatters used it.
pub const EMOTE_MIN_CHATTERS: usize = 3;
/// Distinct emotes (or terms) tracked per window by default; see [`TermCounter`].
pub const DEFAULT_MAX_TERMS: usize = 256;
/// How a term was recognised. The order is the precedence when one name comes from two sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TermKind {
    /// A Twitch emote from the `emotes` tag.
    Twitch,
    /// A known emote of the lexicon (BTTV, FFZ, 7TV or a Twitch emote in an untagged log).
    Known,
    /// An emote-shaped token; an emote once enough chatters use it.
    Shaped,
    /// A plain word (lower case).
    Word,
}

impl TermKind {
    /// True for the kinds that count as emote uses without a chatter threshold.
    pub fn is_certain_emote(self) -> bool {
        matches!(self, TermKind::Twitch | TermKind::Known)
    }
}

/// One emote (or emote candidate) in a message and how often it appears there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmoteUse {
    /// The emote's text.
    pub name: ShortStr,
    /// How it was recognised (never [`TermKind::Word`]).
    pub kind: TermKind,
    /// Uses in this message.
    pub uses: u32,
}

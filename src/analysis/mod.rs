//! What one chat record says, read once and shared by every processor: its [`Contribution`] (a
//! message's emotes, sentiment and terms, or a sub, gift, raid or moderation event), the lexicon it is
//! scored with, and the bounded [`TermCounter`] that windows and spike detectors count terms in. Pure.
//!
//! [`tokens`] splits a message and [`word_table`] looks its tokens up in the [`sentiment`] lexicon;
//! [`short_str`] and [`emote_list`] keep short strings and lists off the heap; [`term`] holds the
//! shared vocabulary; [`chatter_hash`] is the stable hash distinct-chatter sets persist.

pub mod chatter_hash;
pub mod contribution;
pub mod emote_list;
pub mod sentiment;
pub mod short_str;
pub mod term;
pub mod term_counter;
pub mod tokens;
pub mod word_table;

pub use chatter_hash::chatter_hash;
pub use contribution::{is_emote_shaped, Contribution, MessageActivity};
pub use sentiment::Lexicon;
pub use term::{EmoteUse, ShortMap, TermKind, DEFAULT_MAX_TERMS, EMOTE_MIN_CHATTERS};
pub use term_counter::{ChatterSample, TermCounter, TermStat};

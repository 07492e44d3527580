//! Analytics over chat, pure (no I/O, no clock): engagement per window ([`engagement`]), chat
//! sentiment from the shipped lexicon ([`sentiment`]), subscriptions and their trend ([`subs`]) and
//! ad-slot recommendations ([`ad_slot`]);
//! [`short_str`] and [`emote_list`] keep their short strings and lists off the heap; [`tokens`] splits a
//! message and [`word_table`] looks its tokens up in the lexicon; [`term_counter`] counts terms per window.

pub mod ad_slot;
pub mod emote_list;
pub mod engagement;
pub mod sentiment;
pub mod short_str;
pub mod subs;
pub mod term_counter;
pub mod tokens;
pub mod word_table;

pub use ad_slot::{AdSlot, AdSlotConfig, AdSlotRecommender, AudienceMinute};
pub use engagement::{Engagement, EngagementInput, EngagementMetrics};
pub use sentiment::Lexicon;
pub use subs::{SubKind, SubTrend, SubscriptionEvent};

//! Analytics over chat, pure (no I/O, no clock): engagement per window ([`engagement`]),
//! subscriptions and their trend ([`subs`]) and ad-slot recommendations ([`ad_slot`]), all built on
//! what each record contributes ([`crate::analysis`]) and, for subs and ad slots, on chat spikes
//! ([`crate::detect`]).

pub mod ad_slot;
pub mod engagement;
pub mod subs;

pub use ad_slot::{AdSlot, AdSlotConfig, AdSlotRecommender, AudienceMinute};
pub use engagement::{Engagement, EngagementMetrics};
pub use subs::{SubKind, SubTrend, SubscriptionEvent};

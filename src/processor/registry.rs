//! The processor kinds chatpulse has, one line each. A kind is one file of `processor/` holding its
//! config ([`KindConfig`](super::kind::KindConfig)), its `build()` and its processor; listing it here
//! is all validation and `chatpulse topology kinds` need.

use super::kind::Kind;
use super::{ad_slots, chat_count, chat_events, engagement, spikes, sub_trend, subscriptions};

/// Every kind, in the order error messages and `chatpulse topology kinds` list them.
pub static KINDS: &[Kind] = &[
    Kind::of::<chat_count::ChatCountConfig>(),
    Kind::of::<chat_events::ChatEventsConfig>(),
    Kind::of::<engagement::EngagementConfig>(),
    Kind::of::<spikes::SpikesConfig>(),
    Kind::of::<subscriptions::SubscriptionsConfig>(),
    Kind::of::<sub_trend::SubTrendConfig>(),
    Kind::of::<ad_slots::AdSlotsConfig>(),
];

/// The kind named `name`.
pub fn find(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The names of every kind.
pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

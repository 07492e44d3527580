//! What a reader of the result topics needs of the board it fills, so that the Kafka reader knows
//! nothing of the HTTP side that shows it (`crate::http::dashboard::LiveBoard` implements it).

use serde_json::Value;

use super::{Feed, Unshown};

/// The board as a reader fills it.
pub trait BoardWriter: Send + Sync {
    /// Applies records, in order; returns those the board did not show.
    fn apply(&self, records: Vec<(Feed, Value)>) -> Vec<Unshown>;
    /// Counts a record of `feed` that could not be read (the reader logs it).
    fn undecodable(&self, feed: Feed);
    /// Records whether `feed`'s topic exists.
    fn set_topic_exists(&self, feed: Feed, exists: bool);
    /// From now on ready (`Ok`) or not, and why.
    fn set_ready(&self, ready: Result<(), String>);
}

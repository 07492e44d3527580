//! The generic aggregate interface of windows: `init`, `add`, `merge`, `finish` (as in Arroyo and
//! Flink). `merge` lets hopping windows combine panes and sliding windows combine buckets.

/// An aggregation over the records of a window.
pub trait Aggregate {
    /// What one record contributes (borrowed from the record).
    type Input: ?Sized;
    /// The running state; persisted in the store, so it must serialize.
    type Acc: Clone + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned;
    /// The result of a window.
    type Output: Clone + PartialEq + std::fmt::Debug;

    /// An empty accumulator.
    fn init(&self) -> Self::Acc;
    /// An empty accumulator for the window after one whose accumulator was `previous` (same key):
    /// an aggregate with maps may size them for as much as last time, so a busy key's window does
    /// not grow them step by step. The result must equal [`Aggregate::init`]'s.
    fn init_after(&self, _previous: &Self::Acc) -> Self::Acc {
        self.init()
    }
    /// Adds one record.
    fn add(&self, acc: &mut Self::Acc, input: &Self::Input);
    /// Adds everything `other` holds into `into`.
    fn merge(&self, into: &mut Self::Acc, other: &Self::Acc);
    /// The window's result.
    fn finish(&self, acc: &Self::Acc) -> Self::Output;
}

/// An aggregate that counts records: the messages of a chatter's session, and the windows and state
/// tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountRecords;

impl Aggregate for CountRecords {
    type Input = ();
    type Acc = u64;
    type Output = u64;
    fn init(&self) -> u64 {
        0
    }
    fn add(&self, acc: &mut u64, _: &()) {
        *acc += 1;
    }
    fn merge(&self, into: &mut u64, other: &u64) {
        *into += other;
    }
    fn finish(&self, acc: &u64) -> u64 {
        *acc
    }
}

/// For tests of the window operators: collects the record values of a window, sorted.
#[cfg(test)]
pub(crate) struct Collect;

#[cfg(test)]
impl Aggregate for Collect {
    type Input = i64;
    type Acc = Vec<i64>;
    type Output = Vec<i64>;

    fn init(&self) -> Vec<i64> {
        Vec::new()
    }
    fn add(&self, acc: &mut Vec<i64>, input: &i64) {
        acc.push(*input);
    }
    fn merge(&self, into: &mut Vec<i64>, other: &Vec<i64>) {
        into.extend_from_slice(other);
    }
    fn finish(&self, acc: &Vec<i64>) -> Vec<i64> {
        let mut v = acc.clone();
        v.sort_unstable();
        v
    }
}

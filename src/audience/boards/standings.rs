//! Ranking a board: channels by value, highest first, ties broken by channel name (A before B), so
//! every rank is distinct and the order reproducible. Each entry is compared with the channel's
//! place in the board's previous period, kept as that period's full [`Ranking`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Every channel of one board and period, best first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// `(channel, value)`, rank `i + 1` at index `i`.
    pub order: Vec<(String, f64)>,
}

impl Ranking {
    /// Ranks `values` (one per channel).
    pub fn of(values: impl IntoIterator<Item = (String, f64)>) -> Ranking {
        let mut order: Vec<(String, f64)> = values.into_iter().collect();
        order.sort_by(|(a, x), (b, y)| y.total_cmp(x).then_with(|| a.cmp(b)));
        Ranking { order }
    }

    /// The channels' ranks (1 first) and values, by channel.
    pub fn places(&self) -> HashMap<&str, (u64, f64)> {
        self.order
            .iter()
            .enumerate()
            .map(|(i, (c, v))| (c.as_str(), (i as u64 + 1, *v)))
            .collect()
    }
}

/// One row of a board as records carry it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// 1 for the highest value.
    pub rank: u64,
    /// The channel.
    pub channel: String,
    /// Its figure in the period.
    pub value: f64,
    /// Its rank in the previous period's board, among all its channels (so it may exceed the top
    /// N); `None` when it was not on it.
    pub previous_rank: Option<u64>,
    /// Its figure then.
    pub previous_value: Option<f64>,
    /// `value − previous_value`.
    pub change: Option<f64>,
}

/// The first `top` entries of `current`, each compared with `previous` (the board of the period
/// just before, `None` when nothing is known of it).
pub fn entries(current: &Ranking, previous: Option<&Ranking>, top: usize) -> Vec<Entry> {
    let before = previous.map(Ranking::places).unwrap_or_default();
    current
        .order
        .iter()
        .take(top)
        .enumerate()
        .map(|(i, (channel, value))| {
            let was = before.get(channel.as_str());
            Entry {
                rank: i as u64 + 1,
                channel: channel.clone(),
                value: *value,
                previous_rank: was.map(|w| w.0),
                previous_value: was.map(|w| w.1),
                change: was.map(|w| value - w.1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranking(values: &[(&str, f64)]) -> Ranking {
        Ranking::of(values.iter().map(|(c, v)| (c.to_string(), *v)))
    }

    #[test]
    fn higher_values_rank_first_and_ties_go_by_name() {
        let r = ranking(&[("b", 5.0), ("c", 7.0), ("a", 5.0), ("d", 1.0)]);
        let names: Vec<&str> = r.order.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(names, ["c", "a", "b", "d"]);
        assert_eq!(r.places()["b"], (3, 5.0));
    }

    #[test]
    fn entries_are_the_top_compared_with_the_previous_period() {
        let now = ranking(&[("a", 10.0), ("b", 8.0), ("c", 6.0)]);
        let before = ranking(&[("b", 9.0), ("x", 8.0), ("y", 7.0), ("a", 4.0)]);
        let e = entries(&now, Some(&before), 2);
        assert_eq!(e.len(), 2);
        assert_eq!(
            (
                e[0].rank,
                e[0].channel.as_str(),
                e[0].previous_rank,
                e[0].previous_value,
                e[0].change
            ),
            (1, "a", Some(4), Some(4.0), Some(6.0))
        );
        assert_eq!((e[1].previous_rank, e[1].change), (Some(1), Some(-1.0)));
        let e = entries(&now, None, 25);
        assert_eq!(e.len(), 3);
        assert!(e
            .iter()
            .all(|e| e.previous_rank.is_none() && e.change.is_none()));
    }
}

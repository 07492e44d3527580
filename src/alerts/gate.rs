//! The gate between a rule and the alerts topic, per channel and rule: one event is one alert
//! (a trigger with the id of the last alert, or from a window that ended no later than it, is a
//! duplicate: a replayed or repeated upstream record), and after an alert the rule stays quiet
//! for its cooldown of event time.

use serde::{Deserialize, Serialize};

/// What the gate did with a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Fire,
    /// The same event as the last alert, or an older one.
    Duplicate,
    /// Within the cooldown after the last alert.
    Cooldown,
}

/// The last alert of one channel and rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    /// The last alert's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_id: Option<String>,
    /// The last alert's window end, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_end: Option<i64>,
}

impl Gate {
    /// Judges the trigger `id` whose window ended at `window_end`, with `cooldown_ms`; a fired one
    /// becomes the last alert.
    pub fn admit(&mut self, id: &str, window_end: i64, cooldown_ms: i64) -> Verdict {
        if let Some(last) = self.last_end {
            if self.last_id.as_deref() == Some(id) || window_end <= last {
                return Verdict::Duplicate;
            }
            if window_end < last.saturating_add(cooldown_ms) {
                return Verdict::Cooldown;
            }
        }
        self.last_id = Some(id.to_owned());
        self.last_end = Some(window_end);
        Verdict::Fire
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_triggers_within_the_cooldown_are_held_back() {
        let mut g = Gate::default();
        assert_eq!(g.admit("a", 1_000, 600), Verdict::Fire);
        assert_eq!(g.admit("a", 1_000, 600), Verdict::Duplicate);
        assert_eq!(g.admit("old", 900, 600), Verdict::Duplicate);
        assert_eq!(g.admit("b", 1_599, 600), Verdict::Cooldown);
        assert_eq!(g.admit("c", 1_600, 600), Verdict::Fire);
        // A cooldown of 0 still drops a repeat of the same event.
        let mut g = Gate::default();
        assert_eq!(g.admit("a", 5, 0), Verdict::Fire);
        assert_eq!(g.admit("a", 5, 0), Verdict::Duplicate);
        assert_eq!(g.admit("b", 6, 0), Verdict::Fire);
    }

    #[test]
    fn the_gate_serializes_compactly() {
        assert_eq!(serde_json::to_string(&Gate::default()).unwrap(), "{}");
        let mut g = Gate::default();
        g.admit("ab", 7, 0);
        let text = serde_json::to_string(&g).unwrap();
        assert_eq!(text, r#"{"last_id":"ab","last_end":7}"#);
        assert_eq!(serde_json::from_str::<Gate>(&text).unwrap(), g);
    }
}

//! The `twitch.alerts` record (`avro/alert.avsc`): one per alert, with the rule that fired, the
//! channel, the triggering window and figures, the cause when known, a sentence, and the stable
//! [`alert_id`](super::id::alert_id) of rule, channel and window. A rule finds one without its
//! rule and id; the processor names it ([`Alert::of_rule`]) before the gate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::id::alert_id;

/// One alert, as `twitch.alerts` carries it (key = channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic from `rule`, `channel`, `window_start` and `window_end`.
    pub alert_id: String,
    /// The rule (the processor's name in the topology).
    pub rule: String,
    /// What fired ([`super::kind::AlertKind::as_str`]).
    pub kind: String,
    /// The channel.
    pub channel: String,
    /// The triggering window's start, epoch ms.
    pub window_start: i64,
    /// Its end, epoch ms: when the condition was met.
    pub window_end: i64,
    /// The figure that triggered it.
    pub value: f64,
    /// What it was compared with.
    pub reference: Option<f64>,
    /// The threshold it reached.
    pub threshold: Option<f64>,
    /// Further figures.
    pub figures: BTreeMap<String, f64>,
    /// The cause, when known.
    pub cause: Option<String>,
    /// The cause in words.
    pub cause_detail: Option<String>,
    /// The alert as a sentence.
    pub sentence: String,
}

impl Alert {
    /// This alert as rule `rule` sends it: named, with its id.
    pub fn of_rule(mut self, rule: &str) -> Alert {
        self.alert_id = alert_id(rule, &self.channel, self.window_start, self.window_end);
        self.rule = rule.to_owned();
        self
    }

    /// Adds figure `name`.
    pub fn figure(mut self, name: &str, value: f64) -> Self {
        self.figures.insert(name.to_owned(), value);
        self
    }

    /// Adds figure `name` when it is known.
    pub fn maybe(self, name: &str, value: Option<f64>) -> Self {
        match value {
            Some(v) => self.figure(name, v),
            None => self,
        }
    }

    /// The record value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an alert serializes")
    }
}

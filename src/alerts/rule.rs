//! What every alert rule is: it reads one row of its source (with the channel's memory of earlier
//! rows) and finds at most one [`Alert`] (not yet named: the processor adds the rule and id); a row it cannot read is an error naming what is wrong.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::alert::Alert;

/// One input row of a rule.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The channel (the record key, else the row's `channel`).
    pub channel: &'a str,
    /// Event time, epoch ms, by the source's `timestamp` rule.
    pub ts_ms: i64,
    /// The decoded value.
    pub value: &'a Value,
}

/// An alert rule.
pub trait Rule: fmt::Debug + Send + Sync {
    /// What the rule remembers per channel between rows (kept in state).
    type Memory: Serialize + DeserializeOwned + Default + fmt::Debug + Clone + Send;

    /// Reads `row` with the channel's `memory`: a trigger, nothing, or why the row is unreadable.
    fn read(&self, row: &Row<'_>, memory: &mut Self::Memory) -> Result<Option<Alert>, String>;
}

/// Whether a window result is a first final (`final = true`, `revision = 0` or absent): updates
/// and corrected finals repeat a window a rule has already read.
pub fn first_final(row: &Value) -> bool {
    let is_final = row.get("final").and_then(Value::as_bool).unwrap_or(true);
    let revision = row.get("revision").and_then(Value::as_i64).unwrap_or(0);
    is_final && revision == 0
}

/// Field `name` of `row` as a number: `Ok(None)` when null, an error when absent or not a number.
pub fn number(row: &Value, name: &str, what: &str) -> Result<Option<f64>, String> {
    match row.get(name) {
        Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{name} {v} is not a number: not {what}")),
        None => Err(format!("field {name} is missing: not {what}")),
    }
}

/// Field `name` of `row` as text, when present and not null.
pub fn text<'a>(row: &'a Value, name: &str) -> Option<&'a str> {
    row.get(name).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_are_read_field_by_field() {
        assert!(first_final(&json!({"final": true, "revision": 0})));
        assert!(first_final(&json!({})));
        assert!(!first_final(&json!({"final": false, "revision": 0})));
        assert!(!first_final(&json!({"final": true, "revision": 1})));
        let row = json!({"a": 3, "b": null, "c": "x"});
        assert_eq!(number(&row, "a", "a row"), Ok(Some(3.0)));
        assert_eq!(number(&row, "b", "a row"), Ok(None));
        assert_eq!(
            number(&row, "c", "a row"),
            Err("c \"x\" is not a number: not a row".to_owned())
        );
        assert_eq!(
            number(&row, "d", "a row"),
            Err("field d is missing: not a row".to_owned())
        );
        assert_eq!(text(&row, "c"), Some("x"));
    }
}

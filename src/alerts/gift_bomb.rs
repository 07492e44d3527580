//! A gift bomb of at least N subs: a `submysterygift` record of `twitch.subscriptions` (one per
//! bomb; its gifted subs follow as `subgift` records, which this rule skips).

use super::alert::Alert;
use super::kind::AlertKind;
use super::rule::{number, text, Row, Rule};
use super::words::count;

/// The gift-bomb rule.
#[derive(Debug, Clone, PartialEq)]
pub struct GiftBomb {
    /// Gifted subs a bomb must have.
    pub min_gifts: i64,
}

const WHAT: &str = "a subscription record (twitch.subscriptions)";

impl Rule for GiftBomb {
    type Memory = ();

    fn read(&self, row: &Row<'_>, _: &mut ()) -> Result<Option<Alert>, String> {
        let value = row.value;
        let kind =
            text(value, "kind").ok_or_else(|| format!("field kind is missing: not {WHAT}"))?;
        let gifts = number(value, "gift_count", WHAT)?.unwrap_or(0.0) as i64;
        if kind != "submysterygift" || gifts < self.min_gifts {
            return Ok(None);
        }
        let anonymous = value.get("anonymous").and_then(serde_json::Value::as_bool) == Some(true);
        let gifter = text(value, "gifter").filter(|_| !anonymous);
        let tier = text(value, "tier")
            .map(|t| format!(" {t}"))
            .unwrap_or_default();
        let sentence = format!(
            "{} gifted {}{tier} subs to {}'s community.",
            gifter.unwrap_or("An anonymous gifter"),
            count(gifts),
            row.channel
        );
        Ok(Some(Alert {
            alert_id: String::new(),
            rule: String::new(),
            kind: AlertKind::GiftBomb.as_str().to_owned(),
            channel: row.channel.to_owned(),
            window_start: row.ts_ms,
            window_end: row.ts_ms,
            value: gifts as f64,
            reference: None,
            threshold: Some(self.min_gifts as f64),
            figures: Default::default(),
            cause: None,
            cause_detail: None,
            sentence,
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bombs_of_the_size_alert_and_their_gift_lines_do_not() {
        let rule = GiftBomb { min_gifts: 20 };
        let read = |v: serde_json::Value| {
            rule.read(
                &Row {
                    channel: "nymn",
                    ts_ms: 5,
                    value: &v,
                },
                &mut (),
            )
        };
        let bomb = json!({"kind": "submysterygift", "gift_count": 50, "gifter": "ann",
                          "anonymous": false, "tier": "tier1"});
        let a = read(bomb).unwrap().unwrap();
        assert_eq!((a.value, a.window_start, a.window_end), (50.0, 5, 5));
        assert_eq!(a.sentence, "ann gifted 50 tier1 subs to nymn's community.");
        let anon =
            json!({"kind": "submysterygift", "gift_count": 20, "gifter": null, "anonymous": true});
        assert_eq!(
            read(anon).unwrap().unwrap().sentence,
            "An anonymous gifter gifted 20 subs to nymn's community."
        );
        assert!(read(json!({"kind": "submysterygift", "gift_count": 19}))
            .unwrap()
            .is_none());
        assert!(read(json!({"kind": "subgift", "gift_count": 1}))
            .unwrap()
            .is_none());
        assert!(read(json!({"gift_count": 1})).is_err());
    }
}

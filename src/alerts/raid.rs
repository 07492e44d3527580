//! A raid of at least N viewers: a `raid` event of `twitch.chat.events` (the silver layer), in the
//! raided channel; Shared Chat copies are skipped (their source channel alerts).

use super::alert::Alert;
use super::kind::AlertKind;
use super::rule::{number, text, Row, Rule};
use super::words::count;

/// The raid rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Raid {
    /// Viewers a raid must bring.
    pub min_viewers: i64,
}

const WHAT: &str = "a chat event (twitch.chat.events)";

impl Rule for Raid {
    type Memory = ();

    fn read(&self, row: &Row<'_>, _: &mut ()) -> Result<Option<Alert>, String> {
        let value = row.value;
        let kind =
            text(value, "kind").ok_or_else(|| format!("field kind is missing: not {WHAT}"))?;
        let shared = value
            .get("shared_copy")
            .and_then(serde_json::Value::as_bool)
            == Some(true);
        if kind != "raid" || shared {
            return Ok(None);
        }
        let viewers = number(value, "raid_viewers", WHAT)?.unwrap_or(0.0) as i64;
        if viewers < self.min_viewers {
            return Ok(None);
        }
        let raider = text(value, "display_name")
            .or_else(|| text(value, "user_login"))
            .unwrap_or("Someone");
        Ok(Some(Alert {
            alert_id: String::new(),
            rule: String::new(),
            kind: AlertKind::Raid.as_str().to_owned(),
            channel: row.channel.to_owned(),
            window_start: row.ts_ms,
            window_end: row.ts_ms,
            value: viewers as f64,
            reference: None,
            threshold: Some(self.min_viewers as f64),
            figures: Default::default(),
            cause: None,
            cause_detail: None,
            sentence: format!(
                "{raider} raided {} with {} viewers.",
                row.channel,
                count(viewers)
            ),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn raids_of_the_size_alert_in_their_own_channel_only() {
        let rule = Raid { min_viewers: 50 };
        let read = |v: serde_json::Value| {
            rule.read(
                &Row {
                    channel: "nymn",
                    ts_ms: 9,
                    value: &v,
                },
                &mut (),
            )
        };
        let raid = json!({"kind": "raid", "raid_viewers": 1_234, "display_name": "Forsen",
                          "user_login": "forsen", "shared_copy": false});
        let a = read(raid.clone()).unwrap().unwrap();
        assert_eq!(a.sentence, "Forsen raided nymn with 1,234 viewers.");
        assert_eq!((a.value, a.window_end), (1_234.0, 9));
        let mut copy = raid;
        copy["shared_copy"] = true.into();
        assert!(read(copy).unwrap().is_none());
        assert!(read(json!({"kind": "raid", "raid_viewers": 49}))
            .unwrap()
            .is_none());
        assert!(read(json!({"kind": "message", "raid_viewers": null}))
            .unwrap()
            .is_none());
    }
}

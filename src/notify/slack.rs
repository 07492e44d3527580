//! The Slack message of an alert, for an incoming webhook: Block Kit (`blocks`: a header, a section
//! with the sentence and up to 10 figure fields, a context line with the rule and `alert_id`), with
//! `text` as the notification fallback. Lengths are cut to Block Kit's documented limits.

use serde_json::{json, Value};

use crate::alerts::alert::Alert;

/// Block Kit limits (api.slack.com/reference/block-kit/blocks): header text 150 characters,
/// section text 3,000, at most 10 fields of 2,000 each, context elements 10.
pub const HEADER_MAX: usize = 150;
/// Section text limit.
pub const SECTION_MAX: usize = 3_000;
/// Fields per section.
pub const FIELDS_MAX: usize = 10;
/// One field's limit.
pub const FIELD_MAX: usize = 2_000;

/// `text` cut to `max` characters (an ellipsis marks a cut).
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// A headline of an alert: its kind in words and the channel.
pub fn title(alert: &Alert) -> String {
    let what = match alert.kind.as_str() {
        "viewers_drop" => "Viewers dropping",
        "viewers_rise" => "Viewers rising",
        "follower_surge" => "Follower surge",
        "chat_spike" => "Chat spike",
        "gift_bomb" => "Gift bomb",
        "raid" => "Raid",
        "stream_start" => "Stream started",
        "stream_end" => "Stream ended",
        other => other,
    };
    format!("{what} in {}", alert.channel)
}

/// The figures an alert shows as fields: value, reference, threshold, cause, then its named
/// figures, as `(name, value)`.
pub fn fields(alert: &Alert) -> Vec<(String, String)> {
    let n = |x: f64| {
        if x.fract() == 0.0 && x.abs() < 1e15 {
            format!("{}", x as i64)
        } else {
            format!("{x:.2}")
        }
    };
    let mut out = vec![("value".to_owned(), n(alert.value))];
    if let Some(r) = alert.reference {
        out.push(("reference".to_owned(), n(r)));
    }
    if let Some(t) = alert.threshold {
        out.push(("threshold".to_owned(), n(t)));
    }
    if let Some(c) = &alert.cause {
        out.push(("cause".to_owned(), c.clone()));
    }
    out.extend(alert.figures.iter().map(|(k, v)| (k.clone(), n(*v))));
    out
}

/// The incoming-webhook payload.
pub fn message(alert: &Alert) -> Value {
    let fields: Vec<Value> = fields(alert)
        .into_iter()
        .take(FIELDS_MAX)
        .map(|(k, v)| json!({"type": "mrkdwn", "text": cut(&format!("*{k}*\n{v}"), FIELD_MAX)}))
        .collect();
    json!({
        "text": cut(&alert.sentence, SECTION_MAX),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": cut(&title(alert), HEADER_MAX), "emoji": true}},
            {"type": "section", "text": {"type": "mrkdwn", "text": cut(&alert.sentence, SECTION_MAX)}, "fields": fields},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": cut(&format!("rule `{}` · alert `{}`", alert.rule, alert.alert_id), FIELD_MAX)}
            ]},
        ],
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    pub(crate) fn alert() -> Alert {
        Alert {
            alert_id: "0123456789abcdef0123456789abcdef".into(),
            rule: "viewers-drop".into(),
            kind: "viewers_drop".into(),
            channel: "nymn".into(),
            window_start: 1_704_556_800_000,
            window_end: 1_704_557_340_000,
            value: 3_016.0,
            reference: Some(5_200.0),
            threshold: Some(3_640.0),
            figures: BTreeMap::from([
                ("change_pct".to_owned(), -42.0),
                ("span_s".to_owned(), 540.0),
            ]),
            cause: None,
            cause_detail: None,
            sentence: "nymn's viewers fell 42% in 9 min.".into(),
        }
    }

    #[test]
    fn the_message_is_block_kit_with_a_fallback_text() {
        let m = message(&alert());
        assert_eq!(m["text"], "nymn's viewers fell 42% in 9 min.");
        let blocks = m["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(blocks[0]["text"]["text"], "Viewers dropping in nymn");
        assert_eq!(blocks[1]["type"], "section");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        let f = blocks[1]["fields"].as_array().unwrap();
        assert_eq!(f[0], json!({"type": "mrkdwn", "text": "*value*\n3016"}));
        assert_eq!(f.len(), 5);
        assert_eq!(
            blocks[2]["elements"][0]["text"],
            "rule `viewers-drop` · alert `0123456789abcdef0123456789abcdef`"
        );
    }

    #[test]
    fn long_texts_and_many_figures_are_cut_to_the_limits() {
        let mut a = alert();
        a.channel = "x".repeat(300);
        a.sentence = "y".repeat(5_000);
        for i in 0..20 {
            a.figures.insert(format!("f{i:02}"), i as f64);
        }
        let m = message(&a);
        let header = m["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), HEADER_MAX);
        assert!(header.ends_with('…'));
        assert_eq!(
            m["blocks"][1]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            SECTION_MAX
        );
        assert_eq!(
            m["blocks"][1]["fields"].as_array().unwrap().len(),
            FIELDS_MAX
        );
        assert_eq!(cut("abc", 3), "abc");
    }
}

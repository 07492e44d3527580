//! The Discord message of an alert, for a webhook: one embed (title, the sentence as description,
//! a colour by kind, the window's end as timestamp, up to 25 inline figure fields, a footer with
//! the rule and `alert_id`), mentions disabled. Lengths are cut to Discord's documented embed
//! limits.

use serde_json::{json, Value};

use super::slack::{cut, fields, title};
use crate::alerts::alert::Alert;
use crate::time::civil::format_timestamp_ms;

/// Embed limits (discord.com/developers/docs/resources/message#embed-object-embed-limits): title
/// 256 characters, description 4,096, 25 fields of name 256 and value 1,024, footer 2,048, and
/// 6,000 in all.
pub const TITLE_MAX: usize = 256;
/// Description limit.
pub const DESCRIPTION_MAX: usize = 4_096;
/// Fields per embed.
pub const FIELDS_MAX: usize = 25;
/// Field name limit.
pub const FIELD_NAME_MAX: usize = 256;
/// Field value limit.
pub const FIELD_VALUE_MAX: usize = 1_024;
/// Footer limit.
pub const FOOTER_MAX: usize = 2_048;

/// The embed colour of an alert kind (falls red, rises and starts green, events purple).
fn colour(kind: &str) -> u32 {
    match kind {
        "viewers_drop" | "stream_end" => 0xE0_4040,
        "viewers_rise" | "follower_surge" | "stream_start" => 0x2E_B872,
        _ => 0x91_46FF,
    }
}

/// Embed characters in all.
pub const TOTAL_MAX: usize = 6_000;
/// The footer is kept short (rule and id), well below its limit.
const FOOTER_KEPT: usize = 256;

/// The webhook payload.
pub fn message(alert: &Alert) -> Value {
    let title = cut(&title(alert), TITLE_MAX);
    let footer = cut(
        &format!("rule {} · alert {}", alert.rule, alert.alert_id),
        FOOTER_KEPT.min(FOOTER_MAX),
    );
    let mut used = title.chars().count() + footer.chars().count();
    let mut kept = Vec::new();
    for (k, v) in fields(alert).into_iter().take(FIELDS_MAX) {
        let (k, v) = (cut(&k, FIELD_NAME_MAX), cut(&v, FIELD_VALUE_MAX));
        let n = k.chars().count() + v.chars().count();
        // Keep room for a sentence of at least 1,000 characters.
        if used + n + 1_000 > TOTAL_MAX {
            break;
        }
        used += n;
        kept.push(json!({"name": k, "value": v, "inline": true}));
    }
    let description = cut(&alert.sentence, DESCRIPTION_MAX.min(TOTAL_MAX - used));
    json!({
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": title,
            "description": description,
            "color": colour(&alert.kind),
            "timestamp": format_timestamp_ms(alert.window_end),
            "fields": kept,
            "footer": {"text": footer},
        }],
    })
}

/// The characters of an embed that count towards Discord's 6,000: title, description, field names
/// and values, footer.
pub fn embed_chars(embed: &Value) -> usize {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    len(&embed["title"])
        + len(&embed["description"])
        + len(&embed["footer"]["text"])
        + embed["fields"].as_array().map_or(0, |f| {
            f.iter().map(|f| len(&f["name"]) + len(&f["value"])).sum()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::slack::tests::alert;

    #[test]
    fn the_message_is_one_embed_with_its_fields() {
        let m = message(&alert());
        assert_eq!(m["allowed_mentions"]["parse"], json!([]));
        let e = &m["embeds"][0];
        assert_eq!(e["title"], "Viewers dropping in nymn");
        assert_eq!(e["description"], "nymn's viewers fell 42% in 9 min.");
        assert_eq!(e["color"], 0xE04040);
        assert_eq!(e["timestamp"], "2024-01-06T16:09:00.000Z");
        assert_eq!(
            e["fields"][0],
            json!({"name": "value", "value": "3016", "inline": true})
        );
        assert_eq!(
            e["footer"]["text"],
            "rule viewers-drop · alert 0123456789abcdef0123456789abcdef"
        );
        assert!(embed_chars(e) < 6_000);
    }

    #[test]
    fn a_long_alert_stays_within_the_limits() {
        let mut a = alert();
        a.sentence = "y".repeat(5_000);
        a.rule = "r".repeat(3_000);
        for i in 0..40 {
            a.figures.insert(format!("f{i:02}"), i as f64);
        }
        let m = message(&a);
        let e = &m["embeds"][0];
        assert_eq!(
            e["description"].as_str().unwrap().chars().count(),
            DESCRIPTION_MAX
        );
        assert_eq!(e["fields"].as_array().unwrap().len(), FIELDS_MAX);
        assert_eq!(e["footer"]["text"].as_str().unwrap().chars().count(), 256);
        assert!(embed_chars(e) <= TOTAL_MAX, "{}", embed_chars(e));
        a.figures.clear();
        for i in 0..25 {
            a.figures.insert(format!("{i:0>250}"), 1.5);
        }
        let m = message(&a);
        assert!(embed_chars(&m["embeds"][0]) <= TOTAL_MAX);
        assert!(
            m["embeds"][0]["description"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                >= 1_000
        );
    }
}

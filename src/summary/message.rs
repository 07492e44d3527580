//! A day's summaries as one chat message: Slack Block Kit (a header, one section per channel,
//! busiest first, at most 48 so the message keeps Block Kit's 50 blocks) or a Discord embed (one
//! field per channel, at most 25).

use serde_json::{json, Value};

use super::day::DaySummary;
use super::export::{slots_cell, spikes_cell};
use crate::alerts::words::{count, figure};
use crate::notify::slack::cut;

/// Channels a Slack message lists.
pub const SLACK_CHANNELS: usize = 48;
/// Channels a Discord embed lists.
pub const DISCORD_CHANNELS: usize = 25;

/// One channel's day in a few lines.
pub fn lines(s: &DaySummary) -> String {
    let mut out = format!(
        "{} stream(s), {} min, {} hours watched",
        s.sessions,
        figure(s.stream_minutes),
        figure(s.hours_watched)
    );
    if let (Some(avg), Some(peak)) = (s.avg_viewers, s.peak_viewers) {
        out.push_str(&format!(
            ", {} avg / {} peak viewers",
            figure(avg),
            count(peak)
        ));
    }
    if let Some(f) = s.followers_gained {
        out.push_str(&format!(", {} followers", count(f)));
    }
    out.push_str(&format!(
        "\n{} subs, {} gifts, {} spikes",
        s.subs, s.gifts, s.spikes
    ));
    if !s.top_spikes.is_empty() {
        out.push_str(&format!(" (top: {})", spikes_cell(s)));
    }
    if !s.best_ad_slots.is_empty() {
        out.push_str(&format!("\nbest ad slots: {}", slots_cell(s)));
    }
    out
}

/// Busiest first (hours watched, then messages, then name).
fn busiest(summaries: &[DaySummary]) -> Vec<&DaySummary> {
    let mut v: Vec<&DaySummary> = summaries.iter().collect();
    v.sort_by(|a, b| {
        b.hours_watched
            .total_cmp(&a.hours_watched)
            .then(b.messages.cmp(&a.messages))
            .then(a.channel.cmp(&b.channel))
    });
    v
}

/// The Slack incoming-webhook payload for `day`.
pub fn slack(day: &str, summaries: &[DaySummary]) -> Value {
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("chatpulse daily summary, {day} (UTC)")}}),
    ];
    for s in busiest(summaries).into_iter().take(SLACK_CHANNELS) {
        let text = cut(&format!("*{}*\n{}", s.channel, lines(s)), 3_000);
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    if summaries.len() > SLACK_CHANNELS {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": format!("and {} more channels in the CSV", summaries.len() - SLACK_CHANNELS)}]}));
    }
    json!({"text": format!("chatpulse daily summary, {day}: {} channels", summaries.len()), "blocks": blocks})
}

/// The Discord webhook payload for `day`.
pub fn discord(day: &str, summaries: &[DaySummary]) -> Value {
    // Embeds hold 6,000 characters in all: channels stop before that.
    let mut used = 100;
    let mut fields: Vec<Value> = Vec::new();
    for s in busiest(summaries).into_iter().take(DISCORD_CHANNELS) {
        let (name, value) = (cut(&s.channel, 256), cut(&lines(s), 1_024));
        used += name.chars().count() + value.chars().count();
        if used > 6_000 {
            break;
        }
        fields.push(json!({"name": name, "value": value, "inline": false}));
    }
    json!({
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": format!("chatpulse daily summary, {day} (UTC)"),
            "description": format!("{} channels, busiest first", summaries.len()),
            "fields": fields,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::day::{DaySlot, DaySpike};

    fn day(channel: &str, hours: f64) -> DaySummary {
        DaySummary {
            channel: channel.to_owned(),
            day: "2024-01-06".into(),
            sessions: 1,
            stream_minutes: 35.0,
            peak_viewers: Some(3_000),
            avg_viewers: Some(2_333.3),
            hours_watched: hours,
            followers_gained: Some(100),
            messages: Some(4_000),
            spikes: 2,
            top_spikes: vec![DaySpike {
                onset: 1_704_556_980_000,
                lift: 6.0,
                cause: Some("raid".into()),
                cause_detail: None,
            }],
            ad_slots: 1,
            best_ad_slots: vec![DaySlot {
                start: 1_704_557_400_000,
                duration_s: 90.0,
                score: 0.93,
            }],
            subs: 5,
            gifts: 20,
        }
    }

    #[test]
    fn a_day_reads_as_lines_and_fits_both_messages() {
        assert_eq!(
            lines(&day("nymn", 1_166.67)),
            "1 stream(s), 35 min, 1,167 hours watched, 2,333 avg / 3,000 peak viewers, 100 followers\n5 subs, 20 gifts, 2 spikes (top: 16:03 6.0x raid)\nbest ad slots: 16:10 90s 0.93"
        );
        let many: Vec<DaySummary> = (0..100)
            .map(|i| day(&format!("c{i:03}"), i as f64))
            .collect();
        let s = slack("2024-01-06", &many);
        let blocks = s["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 50);
        assert_eq!(
            blocks[1]["text"]["text"].as_str().unwrap().lines().next(),
            Some("*c099*")
        );
        let d = discord("2024-01-06", &many);
        let e = &d["embeds"][0];
        assert!(e["fields"].as_array().unwrap().len() <= 25);
        assert!(crate::notify::discord::embed_chars(e) <= 6_000);
    }
}

//! A stream ended, with its session's summary: a final record of `twitch.streams.sessions`
//! (duration, average and peak viewers, hours watched, followers gained and, with chat, messages,
//! chatters, spikes, subs and gifts).

use super::alert::Alert;
use super::kind::AlertKind;
use super::rule::{number, Row, Rule};
use super::words::{clock, count, figure, span};

/// The stream-end rule.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEnd {
    /// Sessions shorter than this (ms) are not reported.
    pub min_duration_ms: i64,
}

const WHAT: &str = "a stream session (twitch.streams.sessions)";

impl Rule for StreamEnd {
    type Memory = ();

    fn read(&self, row: &Row<'_>, _: &mut ()) -> Result<Option<Alert>, String> {
        let v = row.value;
        let required = |name: &str| -> Result<f64, String> {
            number(v, name, WHAT)?.ok_or_else(|| format!("{name} is null: not {WHAT}"))
        };
        let start = required("start")? as i64;
        let end = required("end")? as i64;
        let duration_s = required("duration_s")?;
        let avg = required("avg_viewers")?;
        let peak = required("peak_viewers")?;
        let hours = required("hours_watched")?;
        let is_final = v
            .get("final")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true);
        if !is_final || duration_s * 1000.0 < self.min_duration_ms as f64 {
            return Ok(None);
        }
        let optional = |name: &str| number(v, name, WHAT).ok().flatten();
        let followers = optional("followers_gained");
        let messages = optional("messages");
        let chatters = optional("chatters");
        let mut sentence = format!(
            "{}'s stream ended at {} after {}: {} average and {} peak viewers, {} hours watched",
            row.channel,
            clock(end),
            span((duration_s * 1000.0) as i64),
            figure(avg),
            figure(peak),
            figure(hours),
        );
        if let Some(f) = followers {
            sentence.push_str(&format!(", {} followers gained", count(f as i64)));
        }
        if let (Some(m), Some(c)) = (messages, chatters) {
            sentence.push_str(&format!(
                ", {} chat messages from {} chatters",
                figure(m),
                figure(c)
            ));
        }
        sentence.push('.');
        let mut t = Alert {
            alert_id: String::new(),
            rule: String::new(),
            kind: AlertKind::StreamEnd.as_str().to_owned(),
            channel: row.channel.to_owned(),
            window_start: start,
            window_end: end,
            value: avg,
            reference: None,
            threshold: None,
            figures: Default::default(),
            cause: None,
            cause_detail: None,
            sentence,
        }
        .figure("duration_s", duration_s)
        .figure("avg_viewers", avg)
        .figure("peak_viewers", peak)
        .figure("hours_watched", hours);
        for name in [
            "followers_gained",
            "messages",
            "chatters",
            "spikes",
            "subs",
            "gifts",
        ] {
            t = t.maybe(name, optional(name));
        }
        Ok(Some(t))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_final_session_reads_as_its_summary() {
        let rule = StreamEnd { min_duration_ms: 0 };
        // The README's worked example: 15:55 to 16:30 on 2024-01-06.
        let session = json!({"channel": "nymn", "start": 1_704_556_500_000_i64, "end": 1_704_558_600_000_i64,
            "duration_s": 2100.0, "avg_viewers": 2333.33, "peak_viewers": 3000, "hours_watched": 1166.67,
            "followers_gained": 100, "messages": 4_000, "chatters": 900, "spikes": 2, "subs": null,
            "gifts": null, "final": true});
        let read = |v: &serde_json::Value| {
            rule.read(
                &Row {
                    channel: "nymn",
                    ts_ms: 0,
                    value: v,
                },
                &mut (),
            )
        };
        let a = read(&session).unwrap().unwrap();
        assert_eq!(
            a.sentence,
            "nymn's stream ended at 16:30 UTC after 35 min: 2,333 average and 3,000 peak viewers, 1,167 hours watched, 100 followers gained, 4,000 chat messages from 900 chatters."
        );
        assert_eq!(a.figures["spikes"], 2.0);
        assert!(!a.figures.contains_key("subs"));
        let mut update = session.clone();
        update["final"] = false.into();
        assert!(read(&update).unwrap().is_none());
        let long = StreamEnd {
            min_duration_ms: 3_600_000,
        };
        assert!(long
            .read(
                &Row {
                    channel: "nymn",
                    ts_ms: 0,
                    value: &session
                },
                &mut ()
            )
            .unwrap()
            .is_none());
        assert!(read(&json!({"start": 1})).is_err());
    }
}

//! A chat spike (`twitch.spikes`), with its cause: by default the alert is sent with the spike's
//! end record, which names the cause (a raid, a gift bomb, a sub burst or a hype emote) and the
//! size; `at_onset` sends it with the onset record instead, sooner but before any cause is known.

use serde::{Deserialize, Serialize};

use super::alert::Alert;
use super::kind::AlertKind;
use super::rule::{number, text, Row, Rule};
use super::words::{clock, figure, span};

/// The chat-spike rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatSpike {
    /// Alert on the onset record (no cause yet) rather than the end record.
    pub at_onset: bool,
    /// Only spikes whose lift (rate over the usual) reaches this.
    pub min_lift: f64,
}

/// The onset of the latest spike read, so its repeats are not read again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpikeMemory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_onset: Option<i64>,
}

const WHAT: &str = "a chat spike record (twitch.spikes)";

impl Rule for ChatSpike {
    type Memory = SpikeMemory;

    fn read(&self, row: &Row<'_>, memory: &mut SpikeMemory) -> Result<Option<Alert>, String> {
        let value = row.value;
        let phase =
            text(value, "phase").ok_or_else(|| format!("field phase is missing: not {WHAT}"))?;
        let at = |name: &str| -> Result<i64, String> {
            number(value, name, WHAT)?
                .map(|x| x as i64)
                .ok_or_else(|| format!("{name} is null: not {WHAT}"))
        };
        let onset = at("onset")?;
        let wanted = if self.at_onset { "onset" } else { "end" };
        if phase != wanted || memory.last_onset.is_some_and(|last| onset <= last) {
            return Ok(None);
        }
        let rate = number(value, "rate_per_min", WHAT)?.unwrap_or(0.0);
        let baseline = number(value, "baseline_rate_per_min", WHAT)?.unwrap_or(0.0);
        let lift = number(value, "lift", WHAT)?.unwrap_or(0.0);
        let moment = at("estimated_moment")?;
        memory.last_onset = Some(onset);
        if lift < self.min_lift {
            return Ok(None);
        }
        let end = if self.at_onset {
            at("detected_at")?
        } else {
            at("end")?
        };
        let cause = text(value, "cause").map(str::to_owned);
        let cause_detail = text(value, "cause_detail").map(str::to_owned);
        let mut sentence = if self.at_onset {
            format!(
                "Chat in {} is spiking since {} (on stream about {}): {} messages a minute, {lift:.1}× the usual {}.",
                row.channel, clock(onset), clock(moment), figure(rate), figure(baseline)
            )
        } else {
            format!(
                "Chat in {} spiked at {} (on stream about {}) for {}: {} messages a minute at its peak, {lift:.1}× the usual {}.",
                row.channel, clock(onset), clock(moment), span(end - onset), figure(rate), figure(baseline)
            )
        };
        if let Some(d) = &cause_detail {
            sentence.push_str(&format!(" Likely cause: {d}."));
        }
        let messages = number(value, "messages", WHAT).ok().flatten();
        let chatters = number(value, "unique_chatters", WHAT).ok().flatten();
        Ok(Some(
            Alert {
                alert_id: String::new(),
                rule: String::new(),
                kind: AlertKind::ChatSpike.as_str().to_owned(),
                channel: row.channel.to_owned(),
                window_start: onset,
                window_end: end,
                value: rate,
                reference: Some(baseline),
                threshold: (self.min_lift > 0.0).then_some(self.min_lift * baseline),
                figures: Default::default(),
                cause,
                cause_detail,
                sentence,
            }
            .figure("lift", lift)
            .maybe("messages", messages)
            .maybe("unique_chatters", chatters),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// 2024-01-06T16:03:00Z
    const T: i64 = 1_704_556_980_000;

    fn onset() -> Value {
        json!({"channel": "nymn", "phase": "onset", "window_start": T, "window_end": T + 20_000,
               "onset": T, "detected_at": T + 20_000, "estimated_moment": T - 7_000, "peak": null,
               "end": null, "rate_per_min": 900.0, "baseline_rate_per_min": 150.0, "lift": 6.0,
               "messages": null, "unique_chatters": null, "top_terms": [], "cause": null,
               "cause_detail": null, "description": "..."})
    }

    fn end() -> Value {
        let mut v = onset();
        let m = v.as_object_mut().unwrap();
        m.insert("phase".into(), "end".into());
        m.insert("end".into(), (T + 185_000).into());
        m.insert("window_end".into(), (T + 185_000).into());
        m.insert("rate_per_min".into(), 1_240.0.into());
        m.insert("messages".into(), 2_000.into());
        m.insert("unique_chatters".into(), 800.into());
        m.insert("cause".into(), "raid".into());
        m.insert(
            "cause_detail".into(),
            "a raid that brought 1,500 viewers".into(),
        );
        v
    }

    fn read(rule: &ChatSpike, memory: &mut SpikeMemory, v: &Value) -> Option<Alert> {
        rule.read(
            &Row {
                channel: "nymn",
                ts_ms: 0,
                value: v,
            },
            memory,
        )
        .unwrap()
    }

    #[test]
    fn the_end_record_gives_the_alert_with_its_cause() {
        let rule = ChatSpike {
            at_onset: false,
            min_lift: 0.0,
        };
        let mut m = SpikeMemory::default();
        assert!(read(&rule, &mut m, &onset()).is_none());
        let a = read(&rule, &mut m, &end()).unwrap();
        assert_eq!((a.window_start, a.window_end), (T, T + 185_000));
        assert_eq!(a.cause.as_deref(), Some("raid"));
        assert_eq!(
            a.sentence,
            "Chat in nymn spiked at 16:03 UTC (on stream about 16:02 UTC) for 3 min: 1,240 messages a minute at its peak, 6.0× the usual 150. Likely cause: a raid that brought 1,500 viewers."
        );
        assert_eq!(a.figures["messages"], 2_000.0);
        // A repeat of the end record is read once.
        assert!(read(&rule, &mut m, &end()).is_none());
    }

    #[test]
    fn at_onset_the_alert_comes_with_the_onset_and_small_lifts_are_skipped() {
        let rule = ChatSpike {
            at_onset: true,
            min_lift: 0.0,
        };
        let mut m = SpikeMemory::default();
        let a = read(&rule, &mut m, &onset()).unwrap();
        assert_eq!(
            (a.window_start, a.window_end, a.cause),
            (T, T + 20_000, None)
        );
        assert!(
            a.sentence
                .starts_with("Chat in nymn is spiking since 16:03 UTC"),
            "{}",
            a.sentence
        );
        assert!(read(&rule, &mut m, &end()).is_none());
        let strict = ChatSpike {
            at_onset: false,
            min_lift: 8.0,
        };
        assert!(read(&strict, &mut SpikeMemory::default(), &end()).is_none());
        let e = rule.read(
            &Row {
                channel: "nymn",
                ts_ms: 0,
                value: &json!({"x": 1}),
            },
            &mut m,
        );
        assert_eq!(
            e.unwrap_err(),
            format!("field phase is missing: not {WHAT}")
        );
    }
}

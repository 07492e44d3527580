//! Followers gained in an hour at least a multiple of the channel's usual: each hour of
//! `twitch.audience.hour` with a known `followers_gained` is compared with the mean gain of the
//! channel's previous hours with a known gain (its last `usual_hours` of them, not calendar hours).

use serde::{Deserialize, Serialize};

use super::alert::Alert;
use super::kind::AlertKind;
use super::rule::{first_final, number, Row, Rule};
use super::words::{clock, count};

/// The follower-surge rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowerSurge {
    /// The hour's gain must be at least this multiple of the usual.
    pub factor: f64,
    /// And at least this many followers.
    pub min_gained: i64,
    /// The usual is the mean of this many of the channel's latest hours with a known gain.
    pub usual_hours: usize,
    /// No alert until this many such hours are known.
    pub min_history: usize,
}

/// A channel's latest hours with a known gain, oldest first: `[hour start, followers gained]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FollowerMemory {
    hours: Vec<(i64, i64)>,
    /// The start of the latest hour read (known gain or not), so a repeat is not read twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<i64>,
}

const WHAT: &str = "an audience hour (twitch.audience.hour)";

impl Rule for FollowerSurge {
    type Memory = FollowerMemory;

    fn read(&self, row: &Row<'_>, memory: &mut FollowerMemory) -> Result<Option<Alert>, String> {
        let value = row.value;
        let gained = number(value, "followers_gained", WHAT)?;
        let start = number(value, "window_start", WHAT)?
            .ok_or_else(|| format!("window_start is null: not {WHAT}"))? as i64;
        let end = number(value, "window_end", WHAT)?
            .ok_or_else(|| format!("window_end is null: not {WHAT}"))? as i64;
        if !first_final(value) || memory.last.is_some_and(|last| start <= last) {
            return Ok(None);
        }
        memory.last = Some(start);
        let Some(gained) = gained.map(|g| g as i64) else {
            return Ok(None);
        };
        let known = memory.hours.len();
        let usual = memory.hours.iter().map(|&(_, g)| g as f64).sum::<f64>() / known.max(1) as f64;
        let threshold = (self.factor * usual).max(self.min_gained as f64);
        let found = (known >= self.min_history && gained as f64 >= threshold).then(|| {
            let times = if usual > 0.0 {
                format!(
                    "{:.1}× its usual {:.0} per hour",
                    gained as f64 / usual,
                    usual
                )
            } else {
                "while it usually gains none".to_owned()
            };
            Alert {
                alert_id: String::new(),
                rule: String::new(),
                kind: AlertKind::FollowerSurge.as_str().to_owned(),
                channel: row.channel.to_owned(),
                window_start: start,
                window_end: end,
                value: gained as f64,
                reference: Some((usual * 100.0).round() / 100.0),
                threshold: Some(threshold),
                figures: Default::default(),
                cause: None,
                cause_detail: None,
                sentence: format!(
                    "{} gained {} followers between {} and {}, {times}.",
                    row.channel,
                    count(gained),
                    clock(start),
                    clock(end),
                ),
            }
            .figure("usual_hours", known as f64)
        });
        memory.hours.push((start, gained));
        if memory.hours.len() > self.usual_hours {
            memory.hours.remove(0);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const HOUR: i64 = 3_600_000;

    fn rule() -> FollowerSurge {
        FollowerSurge {
            factor: 3.0,
            min_gained: 20,
            usual_hours: 24,
            min_history: 3,
        }
    }

    fn run(rule: &FollowerSurge, gains: &[Option<i64>]) -> Vec<Alert> {
        let mut memory = FollowerMemory::default();
        let mut out = Vec::new();
        for (i, g) in gains.iter().enumerate() {
            let start = i as i64 * HOUR;
            let value = json!({"window_start": start, "window_end": start + HOUR,
                               "followers_gained": g, "final": true, "revision": 0});
            let row = Row {
                channel: "nymn",
                ts_ms: start + HOUR,
                value: &value,
            };
            out.extend(rule.read(&row, &mut memory).unwrap());
            // A repeat of the hour is read once.
            assert!(rule.read(&row, &mut memory).unwrap().is_none());
        }
        out
    }

    /// By brute force: for each hour with a known gain, the mean of the known gains of up to
    /// `usual_hours` hours before it.
    fn brute(rule: &FollowerSurge, gains: &[Option<i64>]) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        for (i, g) in gains.iter().enumerate() {
            let Some(g) = *g else { continue };
            let before: Vec<i64> = gains[..i].iter().filter_map(|g| *g).collect();
            let last: Vec<i64> = before
                .iter()
                .rev()
                .take(rule.usual_hours)
                .copied()
                .collect();
            if last.len() < rule.min_history {
                continue;
            }
            let usual = last.iter().sum::<i64>() as f64 / last.len() as f64;
            if g as f64 >= rule.factor * usual && g >= rule.min_gained {
                out.push((i as i64 * HOUR, g));
            }
        }
        out
    }

    #[test]
    fn surges_equal_the_brute_force_over_generated_hours() {
        let mut x = 7u64;
        for round in 0..30 {
            let gains: Vec<Option<i64>> = (0..200)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let r = (x >> 33) % 100;
                    match r {
                        0..=9 => None,
                        10..=14 => Some(((x >> 40) % 400) as i64),
                        15..=17 => Some(-(((x >> 40) % 5) as i64)),
                        _ => Some(((x >> 40) % 30) as i64),
                    }
                })
                .collect();
            let rule = FollowerSurge {
                usual_hours: 1 + round % 24,
                ..rule()
            };
            let got: Vec<(i64, i64)> = run(&rule, &gains)
                .iter()
                .map(|t| (t.window_start, t.value as i64))
                .collect();
            assert_eq!(got, brute(&rule, &gains), "round {round}");
        }
    }

    #[test]
    fn a_surge_reads_as_a_sentence() {
        let got = run(&rule(), &[Some(10), Some(30), None, Some(20), Some(181)]);
        assert_eq!(got.len(), 1);
        let a = &got[0];
        assert_eq!(
            (a.window_start, a.value, a.reference),
            (4 * HOUR, 181.0, Some(20.0))
        );
        assert_eq!(a.threshold, Some(60.0));
        assert_eq!(
            a.sentence,
            "nymn gained 181 followers between 04:00 UTC and 05:00 UTC, 9.1× its usual 20 per hour."
        );
        // Too little history: nothing.
        assert!(run(&rule(), &[Some(1), Some(1), Some(500)]).is_empty());
    }
}

//! Replay pacing: when each line is due, given its original time, the first line's time and a speed
//! (`1x` real time, `10x` ten times faster) or none (as fast as possible). Pure: time is passed in.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How fast a replay runs relative to the original times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Original gaps divided by this factor (1.0 is real time).
    Factor(f64),
    /// No waiting at all.
    AsFastAsPossible,
}

impl FromStr for Speed {
    type Err = String;

    /// Parses `10x`, `0.5x` or `10`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = s.trim().trim_end_matches(['x', 'X']);
        match number.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "speed {s:?} is not a positive factor like 1x, 10x or 0.5x"
            )),
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Factor(x) => write!(f, "{x}x"),
            Speed::AsFastAsPossible => f.write_str("as fast as possible"),
        }
    }
}

/// Tells how long to wait before each line.
#[derive(Debug, Clone)]
pub struct Pacer {
    speed: Speed,
    first_event_ms: Option<i64>,
}

impl Pacer {
    /// A pacer at `speed`; the first timed line sets the origin.
    pub fn new(speed: Speed) -> Pacer {
        Pacer {
            speed,
            first_event_ms: None,
        }
    }

    /// How long to wait before sending a line of original time `event_ms` (None: untimed) when
    /// `elapsed` has passed since the replay started. Lines earlier than the origin are not delayed.
    pub fn wait(&mut self, event_ms: Option<i64>, elapsed: Duration) -> Duration {
        let Speed::Factor(factor) = self.speed else {
            return Duration::ZERO;
        };
        let Some(event_ms) = event_ms else {
            return Duration::ZERO;
        };
        let first = *self.first_event_ms.get_or_insert(event_ms);
        let offset_ms = (event_ms - first).max(0) as f64 / factor;
        Duration::from_secs_f64(offset_ms / 1000.0).saturating_sub(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse_with_or_without_x() {
        assert_eq!("10x".parse::<Speed>().unwrap(), Speed::Factor(10.0));
        assert_eq!("0.5".parse::<Speed>().unwrap(), Speed::Factor(0.5));
        assert!("0x".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }

    #[test]
    fn waits_follow_original_gaps_divided_by_the_speed() {
        let mut p = Pacer::new(Speed::Factor(10.0));
        assert_eq!(p.wait(Some(1_000_000), Duration::ZERO), Duration::ZERO);
        // 20 s later in event time is 2 s later at 10x; 500 ms have already passed.
        assert_eq!(
            p.wait(Some(1_020_000), Duration::from_millis(500)),
            Duration::from_millis(1500)
        );
        // Behind schedule: no wait. Untimed or earlier lines: no wait.
        assert_eq!(
            p.wait(Some(1_020_000), Duration::from_secs(9)),
            Duration::ZERO
        );
        assert_eq!(p.wait(None, Duration::ZERO), Duration::ZERO);
        assert_eq!(p.wait(Some(0), Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn as_fast_as_possible_never_waits() {
        let mut p = Pacer::new(Speed::AsFastAsPossible);
        p.wait(Some(0), Duration::ZERO);
        assert_eq!(p.wait(Some(3_600_000), Duration::ZERO), Duration::ZERO);
    }
}

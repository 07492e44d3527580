//! Durations as topology files write them (`250ms`, `5s`, `1m`, `2h`, `1d`): parsing, printing, and
//! [`DurationMs`], the serde type of a duration option. Pure text handling, no clock.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Parses a duration such as `250ms`, `5s`, `1m`, `2h`, `1d` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().ok()?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Milliseconds in the largest unit that divides them exactly: `5s`, `10m`, `250ms`, `6h`.
pub fn format_duration_ms(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    match UNITS.iter().find(|(f, _)| ms != 0 && ms % f == 0) {
        Some((f, unit)) => format!("{}{unit}", ms / f),
        None => format!("{ms}ms"),
    }
}

/// A duration option: written as text (`"5s"`), held in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationMs(pub i64);

impl DurationMs {
    /// `s` seconds.
    pub const fn secs(s: i64) -> DurationMs {
        DurationMs(s * 1_000)
    }

    /// `m` minutes.
    pub const fn mins(m: i64) -> DurationMs {
        DurationMs(m * 60_000)
    }

    /// The milliseconds.
    pub const fn ms(self) -> i64 {
        self.0
    }

    /// The whole seconds, when the duration is a whole number of seconds that fits a `u32`.
    pub fn whole_secs(self) -> Option<u32> {
        (self.0 % 1_000 == 0)
            .then(|| u32::try_from(self.0 / 1_000).ok())
            .flatten()
    }
}

impl fmt::Display for DurationMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration_ms(self.0))
    }
}

impl std::str::FromStr for DurationMs {
    type Err = String;

    /// Reads `"5s"`, `"10m"` (as a command-line flag).
    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration_ms(s)
            .map(DurationMs)
            .ok_or_else(|| format!("{s:?} is not a duration: use a number and ms, s, m, h or d"))
    }
}

impl Serialize for DurationMs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DurationMs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DurationMs, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration_ms(&text).map(DurationMs).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration: use a number and ms, s, m, h or d"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("5s"), Some(5_000));
        assert_eq!(parse_duration_ms("1m"), Some(60_000));
        assert_eq!(parse_duration_ms(" 2h "), Some(7_200_000));
        assert_eq!(parse_duration_ms("5"), None);
        assert_eq!(parse_duration_ms("s"), None);
        assert_eq!(parse_duration_ms("3 weeks"), None);
    }

    #[test]
    fn durations_print_in_their_largest_exact_unit_and_read_back() {
        for (ms, text) in [
            (5_000, "5s"),
            (600_000, "10m"),
            (250, "250ms"),
            (21_600_000, "6h"),
            (90_000, "90s"),
            (0, "0ms"),
        ] {
            assert_eq!(format_duration_ms(ms), text);
            assert_eq!(parse_duration_ms(text), Some(ms));
        }
        assert_eq!(DurationMs::secs(180).whole_secs(), Some(180));
        assert_eq!(DurationMs(1_500).whole_secs(), None);
    }
}

//! How alert sentences write numbers and times: thousands separators, percentages, UTC clock
//! times and spans in words.

use crate::time::civil::format_timestamp_ms;

/// A count with thousands separators: `5,200` (negative counts keep their sign).
pub fn count(n: i64) -> String {
    let digits = crate::detect::spike::thousands(n.unsigned_abs());
    if n < 0 {
        format!("-{digits}")
    } else {
        digits
    }
}

/// A figure rounded to a whole number, with thousands separators.
pub fn figure(x: f64) -> String {
    count(x.round() as i64)
}

/// A percentage without sign, rounded: `42%`.
pub fn percent(x: f64) -> String {
    format!("{:.0}%", x.abs())
}

/// `HH:MM UTC` of an epoch-millisecond time.
pub fn clock(ms: i64) -> String {
    format!("{} UTC", &format_timestamp_ms(ms)[11..16])
}

/// A span in words: `45 s`, `9 min`, `3 h 12 min`.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        _ if s % 3600 / 60 == 0 => format!("{} h", s / 3600),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times_read_as_words() {
        assert_eq!(count(5_200), "5,200");
        assert_eq!(count(-1_234_567), "-1,234,567");
        assert_eq!(figure(2_333.6), "2,334");
        assert_eq!(percent(-41.6), "42%");
        // 2024-01-06T16:10:00Z
        assert_eq!(clock(1_704_557_400_000), "16:10 UTC");
        assert_eq!(span(45_000), "45 s");
        assert_eq!(span(9 * 60_000 + 30_000), "9 min");
        assert_eq!(span(3 * 3_600_000), "3 h");
        assert_eq!(span(3 * 3_600_000 + 12 * 60_000), "3 h 12 min");
    }
}

//! Helix rate limits: the `Ratelimit-Limit`, `Ratelimit-Remaining` and `Ratelimit-Reset` (Unix
//! seconds) headers of every answer, and how long to wait before the next call, after a 429 too.
//! Pure: headers and time are passed in.

use std::time::Duration;

/// The bucket state Helix reported last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Points per minute.
    pub limit: u32,
    /// Points left.
    pub remaining: u32,
    /// When the bucket is full again, Unix seconds.
    pub reset_s: i64,
}

impl RateLimit {
    /// Reads the three headers (`get` looks one up by name); None if any is missing or invalid.
    pub fn from_headers<'h>(get: impl Fn(&str) -> Option<&'h str>) -> Option<RateLimit> {
        Some(RateLimit {
            limit: get("ratelimit-limit")?.trim().parse().ok()?,
            remaining: get("ratelimit-remaining")?.trim().parse().ok()?,
            reset_s: get("ratelimit-reset")?.trim().parse().ok()?,
        })
    }

    /// How long to wait before the next call at `now_ms`: until the reset when no point is left
    /// (or after a 429), else not at all. A 429 without headers waits a second.
    pub fn wait(limit: Option<RateLimit>, too_many: bool, now_ms: i64) -> Duration {
        match limit {
            Some(l) if too_many || l.remaining == 0 => {
                Duration::from_millis((l.reset_s * 1000 - now_ms).max(0) as u64)
                    .max(Duration::from_millis(if too_many { 100 } else { 0 }))
            }
            None if too_many => Duration::from_secs(1),
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(remaining: &'static str) -> impl Fn(&str) -> Option<&'static str> {
        move |name| match name {
            "ratelimit-limit" => Some("800"),
            "ratelimit-remaining" => Some(remaining),
            "ratelimit-reset" => Some("1000"),
            _ => None,
        }
    }

    #[test]
    fn waits_until_the_reset_only_when_empty_or_refused() {
        let full = RateLimit::from_headers(headers("799")).unwrap();
        assert_eq!(full.limit, 800);
        assert_eq!(RateLimit::wait(Some(full), false, 999_000), Duration::ZERO);
        assert_eq!(
            RateLimit::wait(Some(full), true, 999_000),
            Duration::from_secs(1)
        );
        let empty = RateLimit::from_headers(headers("0")).unwrap();
        assert_eq!(
            RateLimit::wait(Some(empty), false, 999_500),
            Duration::from_millis(500)
        );
        assert_eq!(RateLimit::wait(None, true, 0), Duration::from_secs(1));
        assert!(RateLimit::from_headers(|_| None).is_none());
    }

    fn refused(reset: &'static str) -> RateLimit {
        RateLimit::from_headers(move |name| match name {
            "ratelimit-limit" => Some("800"),
            "ratelimit-remaining" => Some("0"),
            "ratelimit-reset" => Some(reset),
            _ => None,
        })
        .expect("the headers parse")
    }

    #[test]
    fn a_huge_or_far_future_reset_waits_at_most_the_maximum() {
        let max = Duration::from_secs(60);
        let now = 1_700_000_000_000;
        for reset in ["9223372036854775807", "-9223372036854775808", "32503680000"] {
            let limit = refused(reset);
            for too_many in [false, true] {
                let wait = RateLimit::wait(Some(limit), too_many, now);
                assert!(wait <= max, "reset {reset}: waits {wait:?}");
            }
        }
        // A reset in the past never waits (beyond the pause after a 429), even from a huge clock.
        let past = refused("1000");
        assert_eq!(RateLimit::wait(Some(past), false, i64::MAX), Duration::ZERO);
        assert_eq!(
            RateLimit::wait(Some(past), true, i64::MIN),
            max,
            "a clock before 1970 is far from any reset: still bounded"
        );
    }
}

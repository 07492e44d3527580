//! Helix rate limits: the `Ratelimit-Limit`, `Ratelimit-Remaining` and `Ratelimit-Reset` (Unix
//! seconds) headers of every answer, and how long to wait before the next call, after a 429 too.
//! The headers are untrusted: the arithmetic saturates and every wait is capped. Pure: headers and
//! time are passed in.

use std::time::Duration;

/// The longest wait a rate limit imposes unless the caller chooses another cap: Helix refills its
/// bucket within a minute, so a reset further away (or one that overflows) is a wrong clock or a
/// wrong header, and is waited out for a minute at most before the call is tried again.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

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
    /// (or after a 429), else not at all, and never longer than `max`. A 429 waits at least 100 ms,
    /// a second without headers.
    pub fn wait(limit: Option<RateLimit>, too_many: bool, now_ms: i64, max: Duration) -> Duration {
        let wait = match limit {
            Some(l) if too_many || l.remaining == 0 => {
                let ms = l.reset_s.saturating_mul(1000).saturating_sub(now_ms);
                let floor = Duration::from_millis(if too_many { 100 } else { 0 });
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).max(floor)
            }
            None if too_many => Duration::from_secs(1),
            _ => Duration::ZERO,
        };
        wait.min(max)
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
        assert_eq!(
            RateLimit::wait(Some(full), false, 999_000, MAX_WAIT),
            Duration::ZERO
        );
        assert_eq!(
            RateLimit::wait(Some(full), true, 999_000, MAX_WAIT),
            Duration::from_secs(1)
        );
        let empty = RateLimit::from_headers(headers("0")).unwrap();
        assert_eq!(
            RateLimit::wait(Some(empty), false, 999_500, MAX_WAIT),
            Duration::from_millis(500)
        );
        assert_eq!(
            RateLimit::wait(None, true, 0, MAX_WAIT),
            Duration::from_secs(1)
        );
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
        let max = MAX_WAIT;
        let now = 1_700_000_000_000;
        for reset in ["9223372036854775807", "-9223372036854775808", "32503680000"] {
            let limit = refused(reset);
            for too_many in [false, true] {
                let wait = RateLimit::wait(Some(limit), too_many, now, max);
                assert!(wait <= max, "reset {reset}: waits {wait:?}");
            }
        }
        // A reset in the past never waits (beyond the pause after a 429), even from a huge clock.
        let past = refused("1000");
        assert_eq!(
            RateLimit::wait(Some(past), false, i64::MAX, max),
            Duration::ZERO
        );
        assert_eq!(
            RateLimit::wait(Some(past), true, i64::MIN, max),
            max,
            "a clock before 1970 is far from any reset: still bounded"
        );
        // The cap is the caller's: a smaller one wins over the reset and over the 429 pause.
        let short = Duration::from_millis(50);
        let far = refused("32503680000");
        assert_eq!(RateLimit::wait(Some(far), true, now, short), short);
    }
}

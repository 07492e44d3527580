//! The app access token of the client-credentials flow: when to renew it (expired, about to expire,
//! or refused with 401) and when to validate it (hourly, as Twitch requires). The lifetime Twitch
//! sends is untrusted: it saturates instead of overflowing. Pure: time is passed in.

use std::fmt;

/// Twitch asks apps to validate their tokens every hour.
pub const VALIDATE_EVERY_MS: i64 = 3_600_000;

/// An app access token and its lifetime. Its `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AppToken {
    /// The bearer token.
    pub access_token: String,
    /// When it expires, Unix milliseconds.
    pub expires_at_ms: i64,
    /// When it was issued or last validated, Unix milliseconds.
    pub validated_at_ms: i64,
}

impl fmt::Debug for AppToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppToken(<redacted>, expires at {})", self.expires_at_ms)
    }
}

impl AppToken {
    /// A token issued at `now_ms` that lives `expires_in_s` seconds (a negative lifetime has
    /// expired; a huge one ends at the end of time, and the hourly validation still checks it).
    pub fn issued(access_token: String, expires_in_s: i64, now_ms: i64) -> AppToken {
        AppToken {
            access_token,
            expires_at_ms: now_ms.saturating_add(expires_in_s.max(0).saturating_mul(1000)),
            validated_at_ms: now_ms,
        }
    }

    /// Whether to get a new token before the next call: it has expired, or will within a tenth of
    /// its lifetime (at most a minute), so a poll never starts with a token about to die.
    pub fn needs_renewal(&self, now_ms: i64) -> bool {
        let lifetime = self
            .expires_at_ms
            .saturating_sub(self.validated_at_ms)
            .max(0);
        let margin = (lifetime / 10).min(60_000);
        now_ms >= self.expires_at_ms.saturating_sub(margin)
    }

    /// Whether the hourly validation is due.
    pub fn needs_validation(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.validated_at_ms) >= VALIDATE_EVERY_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_shortly_before_expiry_and_validation_hourly() {
        let t = AppToken::issued("x".into(), 5_000_000, 0);
        assert!(!t.needs_renewal(0));
        assert!(!t.needs_renewal(5_000_000_000 - 60_001));
        assert!(t.needs_renewal(5_000_000_000 - 60_000));
        assert!(!t.needs_validation(3_599_999));
        assert!(t.needs_validation(3_600_000));
        let short = AppToken::issued("s3cret-token".into(), 2, 0);
        assert!(!short.needs_renewal(1_799));
        assert!(short.needs_renewal(1_800));
        assert!(!format!("{short:?}").contains("s3cret"));
    }

    #[test]
    fn a_huge_or_negative_lifetime_saturates() {
        let now = 1_700_000_000_000;
        let forever = AppToken::issued("x".into(), i64::MAX, now);
        assert_eq!(forever.expires_at_ms, i64::MAX);
        assert!(!forever.needs_renewal(now));
        assert!(
            forever.needs_validation(now + VALIDATE_EVERY_MS),
            "still validated hourly"
        );
        let dead = AppToken::issued("x".into(), i64::MIN, now);
        assert_eq!(dead.expires_at_ms, now);
        assert!(dead.needs_renewal(now), "a negative lifetime has expired");
        assert!(!AppToken::issued("x".into(), 60, i64::MAX).needs_renewal(i64::MIN));
    }
}

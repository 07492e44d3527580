//! What an answer of a destination means and when to try again: 2xx is delivered; 429 is retried
//! after its `Retry-After` (seconds, capped); 5xx, 408 and transport errors (refused, reset, timed
//! out) are retried with exponential backoff and jitter; any other 4xx is permanent. Attempts are
//! counted against a budget, whose end is permanent too.

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status, with the `Retry-After` header when there was one.
    Status(u16, Option<String>),
    /// No answer: the connection failed or the request timed out (the error in words).
    Transport(String),
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Delivered: the destination took it.
    Delivered,
    /// Try again after this long (ms); `paced` when the destination said so (429 `Retry-After`),
    /// so later requests to it wait too.
    Retry {
        /// How long to wait.
        after_ms: i64,
        /// Whether the destination set it.
        paced: bool,
        /// Why, for logs and the dead-letter reason.
        reason: String,
    },
    /// Give up: dead-letter with this reason.
    Permanent(String),
}

/// The retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry's base delay, ms.
    pub base_ms: i64,
    /// The largest delay, ms (backoff and `Retry-After` alike).
    pub cap_ms: i64,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: 500,
            cap_ms: 60_000,
            max_attempts: 8,
        }
    }
}

/// `Retry-After` in ms: a number of seconds (fractions allowed, as Discord sends them); an
/// HTTP-date or anything else is not understood (`None`: the backoff applies).
pub fn retry_after_ms(value: &str) -> Option<i64> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).ceil().min(i64::MAX as f64) as i64)
}

impl Backoff {
    /// The delay before attempt `attempt + 1` after `attempt` failed ones (1-based), with `jitter`
    /// in `[0, 1)`: "equal jitter", half the exponential delay plus a random half, so retries of
    /// many alerts spread out but none comes back at once.
    pub fn delay_ms(&self, attempt: u32, jitter: f64) -> i64 {
        let exp = self
            .base_ms
            .saturating_mul(1i64 << attempt.saturating_sub(1).min(40))
            .min(self.cap_ms);
        exp / 2 + ((exp - exp / 2) as f64 * jitter.clamp(0.0, 1.0)) as i64
    }

    /// What to do after attempt number `attempt` (1-based) got `answer`.
    pub fn next(&self, attempt: u32, answer: &Answer, jitter: f64) -> Next {
        let (retry, reason) = match answer {
            Answer::Status(s, _) if (200..300).contains(s) => return Next::Delivered,
            Answer::Status(429, after) => {
                let reason = "429 Too Many Requests".to_owned();
                if let Some(ms) = after.as_deref().and_then(retry_after_ms) {
                    if attempt >= self.max_attempts {
                        return self.spent(attempt, &reason);
                    }
                    return Next::Retry {
                        after_ms: ms.min(self.cap_ms),
                        paced: true,
                        reason,
                    };
                }
                (true, reason)
            }
            Answer::Status(s, _) if *s >= 500 || *s == 408 => (true, format!("HTTP {s}")),
            Answer::Status(s, _) => (
                false,
                format!("HTTP {s}: the destination refused the request"),
            ),
            Answer::Transport(e) => (true, format!("no answer: {e}")),
        };
        if !retry {
            return Next::Permanent(reason);
        }
        if attempt >= self.max_attempts {
            return self.spent(attempt, &reason);
        }
        Next::Retry {
            after_ms: self.delay_ms(attempt, jitter),
            paced: false,
            reason,
        }
    }

    fn spent(&self, attempt: u32, reason: &str) -> Next {
        Next::Permanent(format!(
            "retry budget spent: {attempt} attempts, the last: {reason}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> Answer {
        Answer::Status(s, None)
    }

    #[test]
    fn answers_are_delivered_retried_or_permanent() {
        let b = Backoff::default();
        assert_eq!(b.next(1, &status(200), 0.0), Next::Delivered);
        assert_eq!(b.next(1, &status(204), 0.0), Next::Delivered);
        assert!(matches!(
            b.next(1, &status(500), 0.0),
            Next::Retry {
                after_ms: 250,
                paced: false,
                ..
            }
        ));
        assert!(matches!(b.next(1, &status(408), 0.0), Next::Retry { .. }));
        assert!(matches!(
            b.next(1, &Answer::Transport("timed out".into()), 0.0),
            Next::Retry { .. }
        ));
        assert_eq!(
            b.next(1, &status(404), 0.0),
            Next::Permanent("HTTP 404: the destination refused the request".into())
        );
        assert_eq!(
            b.next(1, &Answer::Status(429, Some("2".into())), 0.5),
            Next::Retry {
                after_ms: 2_000,
                paced: true,
                reason: "429 Too Many Requests".into()
            }
        );
        // Discord's fractional seconds; an absurd value is capped; a date falls back to backoff.
        assert!(matches!(
            b.next(1, &Answer::Status(429, Some("0.25".into())), 0.0),
            Next::Retry {
                after_ms: 250,
                paced: true,
                ..
            }
        ));
        assert!(matches!(
            b.next(1, &Answer::Status(429, Some("99999999".into())), 0.0),
            Next::Retry {
                after_ms: 60_000,
                ..
            }
        ));
        assert!(matches!(
            b.next(
                1,
                &Answer::Status(429, Some("Wed, 21 Oct 2015 07:28:00 GMT".into())),
                0.0
            ),
            Next::Retry { paced: false, .. }
        ));
        assert_eq!(
            b.next(8, &status(503), 0.0),
            Next::Permanent("retry budget spent: 8 attempts, the last: HTTP 503".into())
        );
        assert!(matches!(
            b.next(8, &Answer::Status(429, Some("1".into())), 0.0),
            Next::Permanent(_)
        ));
    }

    #[test]
    fn delays_double_with_jitter_up_to_the_cap() {
        let b = Backoff {
            base_ms: 100,
            cap_ms: 1_000,
            max_attempts: 10,
        };
        let lows: Vec<i64> = (1..=6).map(|a| b.delay_ms(a, 0.0)).collect();
        let highs: Vec<i64> = (1..=6).map(|a| b.delay_ms(a, 0.999_999)).collect();
        assert_eq!(lows, [50, 100, 200, 400, 500, 500]);
        assert_eq!(highs, [99, 199, 399, 799, 999, 999]);
        assert_eq!(b.delay_ms(60, 0.5), 750, "no overflow for late attempts");
    }
}

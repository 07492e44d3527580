//! Join pacing within Twitch's limits: "20 join attempts per 10 seconds per user" for ordinary
//! accounts, 2,000 for verified bots (dev.twitch.tv/docs/irc, Rate limits). A sliding window over the
//! last attempts, shared by every connection of one user, says when the next JOIN may go.

use std::collections::VecDeque;
use std::time::Duration;

/// Twitch's join window.
pub const JOIN_WINDOW: Duration = Duration::from_secs(10);
/// Join attempts per window for an ordinary account (and anonymous `justinfan` logins).
pub const JOINS_PER_WINDOW: usize = 20;

/// A sliding-window limiter. Time is milliseconds on any monotonic clock, passed in.
#[derive(Debug, Clone)]
pub struct JoinPacer {
    limit: usize,
    window_ms: u64,
    sent: VecDeque<u64>,
}

impl JoinPacer {
    /// At most `limit` attempts in any `window`.
    pub fn new(limit: usize, window: Duration) -> JoinPacer {
        JoinPacer {
            limit: limit.max(1),
            window_ms: window.as_millis() as u64,
            sent: VecDeque::new(),
        }
    }

    /// Twitch's limit for ordinary accounts.
    pub fn twitch_default() -> JoinPacer {
        JoinPacer::new(JOINS_PER_WINDOW, JOIN_WINDOW)
    }

    /// Takes one attempt at `now_ms` if the window allows it; otherwise says how long to wait.
    pub fn try_acquire(&mut self, now_ms: u64) -> Result<(), Duration> {
        while self
            .sent
            .front()
            .is_some_and(|&t| t + self.window_ms <= now_ms)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.limit {
            self.sent.push_back(now_ms);
            Ok(())
        } else {
            let oldest = self.sent[0];
            Err(Duration::from_millis(oldest + self.window_ms - now_ms))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_limit_in_any_window() {
        let mut p = JoinPacer::twitch_default();
        let mut granted = Vec::new();
        let mut now = 0u64;
        while granted.len() < 100 {
            match p.try_acquire(now) {
                Ok(()) => granted.push(now),
                Err(wait) => {
                    assert!(wait > Duration::ZERO);
                    now += wait.as_millis() as u64;
                }
            }
        }
        for (i, &t) in granted.iter().enumerate() {
            let in_window = granted[i..].iter().filter(|&&u| u < t + 10_000).count();
            assert!(in_window <= 20, "{in_window} joins within 10 s of {t}");
        }
        // 100 joins need at least 4 full windows after the first burst.
        assert!(*granted.last().unwrap() >= 40_000);
    }

    #[test]
    fn the_wait_is_until_the_oldest_attempt_leaves_the_window() {
        let mut p = JoinPacer::new(2, Duration::from_secs(10));
        assert!(p.try_acquire(0).is_ok());
        assert!(p.try_acquire(3_000).is_ok());
        assert_eq!(p.try_acquire(4_000), Err(Duration::from_secs(6)));
        assert!(p.try_acquire(10_000).is_ok());
    }
}

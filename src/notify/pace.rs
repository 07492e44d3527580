//! A destination's pace: at most one request per `interval` (its rate limit), and none before a
//! time it asked for (a 429's `Retry-After`). Time is passed in, in ms.

/// When a destination may next be sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pace {
    interval_ms: i64,
    next_ms: i64,
}

impl Pace {
    /// At most one request per `interval_ms`.
    pub fn new(interval_ms: i64) -> Pace {
        Pace {
            interval_ms: interval_ms.max(0),
            next_ms: i64::MIN,
        }
    }

    /// How long to wait at `now_ms` before the next request (0: go).
    pub fn wait_ms(&self, now_ms: i64) -> i64 {
        self.next_ms.saturating_sub(now_ms).max(0)
    }

    /// A request starts at `now_ms`.
    pub fn sent(&mut self, now_ms: i64) {
        self.next_ms = self.next_ms.max(now_ms.saturating_add(self.interval_ms));
    }

    /// The destination asked for nothing before `until_ms`.
    pub fn hold_until(&mut self, until_ms: i64) {
        self.next_ms = self.next_ms.max(until_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_spaced_and_a_hold_is_kept() {
        let mut p = Pace::new(1_000);
        assert_eq!(p.wait_ms(0), 0);
        p.sent(0);
        assert_eq!(p.wait_ms(400), 600);
        assert_eq!(p.wait_ms(1_000), 0);
        p.sent(1_000);
        p.hold_until(5_000);
        assert_eq!(p.wait_ms(2_000), 3_000);
        p.sent(5_000);
        assert_eq!(p.wait_ms(5_500), 500);
        // A hold earlier than the interval changes nothing.
        p.hold_until(5_100);
        assert_eq!(p.wait_ms(5_500), 500);
    }
}

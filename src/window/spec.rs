//! Window specifications as topologies declare them: kind and sizes, grace, and when to emit.
//! `TimeWindows.ofSizeAndGrace().advanceBy()`, `SlidingWindows.ofTimeDifferenceAndGrace` and
//! `SessionWindows.ofInactivityGapAndGrace` in Kafka Streams terms.

use serde::{Deserialize, Serialize};

/// The shape of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WindowSpec {
    /// Fixed, non-overlapping windows `[k*size, (k+1)*size)`.
    Tumbling {
        /// Window length.
        size_ms: i64,
        /// How long after `end` records are still accepted.
        grace_ms: i64,
        /// How long after `end + grace` a closed window is kept: late records still count, and a
        /// corrected final with the next revision is emitted (Flink's `allowedLateness`).
        #[serde(default)]
        allowed_lateness_ms: i64,
    },
    /// Overlapping windows of `size` starting every `advance` (`size` a multiple of `advance`).
    Hopping {
        /// Window length.
        size_ms: i64,
        /// Distance between window starts.
        advance_ms: i64,
        /// How long after `end` records are still accepted.
        grace_ms: i64,
    },
    /// Record-driven windows: one per distinct record time `t`, covering `[t - difference, t]`.
    Sliding {
        /// The window length.
        difference_ms: i64,
        /// How long after `end` records are still accepted.
        grace_ms: i64,
    },
    /// Gap-based windows per key (`window::session`): records at most `gap` apart form one
    /// session `[first, last]`. Only kinds whose window rule is `Session` take them.
    Session {
        /// Inactivity that ends a session.
        gap_ms: i64,
        /// How long after `last + gap` records are still accepted (and may still merge sessions).
        grace_ms: i64,
    },
}

impl WindowSpec {
    /// The grace period.
    pub fn grace_ms(&self) -> i64 {
        match *self {
            WindowSpec::Tumbling { grace_ms, .. }
            | WindowSpec::Hopping { grace_ms, .. }
            | WindowSpec::Sliding { grace_ms, .. }
            | WindowSpec::Session { grace_ms, .. } => grace_ms,
        }
    }

    /// Checks sizes; returns every problem found.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.grace_ms() < 0 {
            errors.push("grace must not be negative".to_owned());
        }
        if matches!(self, WindowSpec::Tumbling { allowed_lateness_ms, .. } if *allowed_lateness_ms < 0)
        {
            errors.push("allowed_lateness must not be negative".to_owned());
        }
        match *self {
            WindowSpec::Tumbling { size_ms, .. } if size_ms <= 0 => {
                errors.push("size must be positive".to_owned())
            }
            WindowSpec::Hopping {
                size_ms,
                advance_ms,
                ..
            } => {
                if size_ms <= 0 || advance_ms <= 0 {
                    errors.push("size and advance must be positive".to_owned());
                } else if advance_ms > size_ms || size_ms % advance_ms != 0 {
                    errors.push(format!(
                        "hopping size ({size_ms} ms) must be a multiple of advance ({advance_ms} ms)"
                    ));
                }
            }
            WindowSpec::Sliding { difference_ms, .. } if difference_ms <= 0 => {
                errors.push("difference must be positive".to_owned())
            }
            WindowSpec::Session { gap_ms, .. } if gap_ms <= 0 => {
                errors.push("session gap must be positive".to_owned())
            }
            _ => {}
        }
        errors
    }
}

/// When window results are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmitMode {
    /// Once, when the window closes (`Suppressed.untilWindowCloses`).
    #[default]
    Final,
    /// At every commit for windows that changed, and once more, final, on close.
    Update,
}

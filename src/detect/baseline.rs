//! A channel's normal chat rate: an exponentially weighted mean and variance with a warm-up and
//! winsorised updates, so that one burst cannot drag it up. It also holds the Poisson tail test that
//! judges bursts on quiet channels, where a variance estimate is too noisy.

use serde::{Deserialize, Serialize};

/// EWMA mean and variance of one quantity (the message count of a sliding window).
///
/// Sample `n` weighs `max(1/n, alpha)`: the first samples are averaged equally, then `alpha` gives a
/// half-life of `half_life` samples. The baseline is warm (fit to judge) after `warmup` samples. Once
/// warm, a sample is clipped to
/// `mean + clip_sigmas * sd` before it is learned, with `sd` floored at the Poisson spread
/// `sqrt(mean)` and at 1. A spike the detector missed therefore moves the baseline only a little.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    alpha: f64,
    warmup: u64,
    clip_sigmas: f64,
    n: u64,
    mean: f64,
    var: f64,
}

impl Baseline {
    /// A baseline with a half-life of `half_life` samples, warm after `warmup` samples, clipping
    /// learned samples at `clip_sigmas` standard deviations above the mean.
    pub fn new(half_life: f64, warmup: u64, clip_sigmas: f64) -> Self {
        Baseline {
            alpha: 1.0 - 0.5f64.powf(1.0 / half_life.max(1.0)),
            warmup: warmup.max(1),
            clip_sigmas,
            n: 0,
            mean: 0.0,
            var: 0.0,
        }
    }

    /// Learns one sample.
    pub fn learn(&mut self, x: f64) {
        let x = if self.is_warm() {
            x.min(self.mean + self.clip_sigmas * self.spread())
        } else {
            x
        };
        self.n += 1;
        let a = (1.0 / self.n as f64).max(self.alpha);
        let d = x - self.mean;
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
    }

    /// True once `warmup` samples were learned.
    pub fn is_warm(&self) -> bool {
        self.n >= self.warmup
    }

    /// Samples learned since the start or the last reset.
    pub fn samples(&self) -> u64 {
        self.n
    }

    /// The mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The variance.
    pub fn variance(&self) -> f64 {
        self.var
    }

    /// The standard deviation, floored at the Poisson spread `sqrt(mean)` and at 1: counts are never
    /// less variable than a Poisson process.
    pub fn spread(&self) -> f64 {
        self.var.max(self.mean).max(1.0).sqrt()
    }

    /// How many spreads `x` lies above the mean.
    pub fn z(&self, x: f64) -> f64 {
        (x - self.mean) / self.spread()
    }

    /// Forgets everything and warms up again (after a gap, or a level shift the detector gave up on).
    pub fn reset(&mut self) {
        self.n = 0;
        self.mean = 0.0;
        self.var = 0.0;
    }
}

/// `ln(n!)`: exact sums below 256, Stirling's series above (error below 1e-10).
pub fn ln_factorial(n: u64) -> f64 {
    if n < 256 {
        (2..=n).map(|k| (k as f64).ln()).sum()
    } else {
        let x = n as f64;
        x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
            - 1.0 / (360.0 * x.powi(3))
    }
}

/// `P(X >= k)` for `X ~ Poisson(lambda)`: how surprising `k` events are when `lambda` are expected.
pub fn poisson_tail(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    if (k as f64) <= lambda {
        // The lower side is the short sum: 1 - P(X <= k - 1).
        let mut term = (-lambda).exp();
        let mut cdf = term;
        for i in 1..k {
            term *= lambda / i as f64;
            cdf += term;
        }
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    // Sum the upper tail from k; the terms fall at least geometrically.
    let mut term = (-lambda + k as f64 * lambda.ln() - ln_factorial(k)).exp();
    let mut sum = 0.0;
    let mut i = k;
    while term > 0.0 && term > sum * 1e-17 {
        sum += term;
        i += 1;
        term *= lambda / i as f64;
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_is_a_plain_mean_then_it_forgets_with_the_half_life() {
        let mut b = Baseline::new(10.0, 4, 100.0);
        for x in [2.0, 4.0, 6.0, 8.0] {
            b.learn(x);
        }
        assert!(b.is_warm());
        assert!((b.mean() - 5.0).abs() < 1e-9, "{}", b.mean());
        assert!(
            (b.variance() - 5.0).abs() < 1e-9,
            "population variance {}",
            b.variance()
        );
        // After one half-life at a new level the mean is halfway there.
        let mut b = Baseline::new(10.0, 1, 100.0);
        for _ in 0..100 {
            b.learn(0.0);
        }
        for _ in 0..10 {
            b.learn(100.0);
        }
        assert!((b.mean() - 50.0).abs() < 0.5, "{}", b.mean());
    }

    #[test]
    fn a_burst_is_clipped_once_warm() {
        let mut b = Baseline::new(20.0, 10, 4.0);
        for _ in 0..10 {
            b.learn(100.0);
        }
        assert_eq!(b.spread(), 10.0, "Poisson floor sqrt(100)");
        b.learn(10_000.0);
        // Learned as 100 + 4 * 10 = 140, not 10,000.
        assert!(b.mean() < 105.0, "{}", b.mean());
        b.reset();
        assert!(!b.is_warm() && b.samples() == 0);
    }

    #[test]
    fn poisson_tail_matches_known_values() {
        // P(X >= 1 | 1) = 1 - e^-1.
        assert!((poisson_tail(1, 1.0) - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        // P(X >= 10 | 2) = 4.6498e-5 (R: ppois(9, 2, lower.tail = FALSE)).
        assert!(
            (poisson_tail(10, 2.0) - 4.6498e-5).abs() < 1e-8,
            "{}",
            poisson_tail(10, 2.0)
        );
        // P(X >= 3 | 5) = 0.875348.
        assert!(
            (poisson_tail(3, 5.0) - 0.875_348).abs() < 1e-6,
            "{}",
            poisson_tail(3, 5.0)
        );
        assert_eq!(poisson_tail(0, 3.0), 1.0);
        assert!(poisson_tail(400, 30.0) < 1e-100);
        for k in 0..60 {
            assert!(poisson_tail(k + 1, 12.0) <= poisson_tail(k, 12.0));
        }
    }

    #[test]
    fn ln_factorial_is_continuous_at_the_switch() {
        let exact: f64 = (2..=300u64).map(|k| (k as f64).ln()).sum();
        assert!((ln_factorial(300) - exact).abs() < 1e-8);
        assert!((ln_factorial(5) - 120f64.ln()).abs() < 1e-12);
    }
}

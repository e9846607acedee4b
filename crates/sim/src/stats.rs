//! Confidence intervals and percentiles.

use serde::Serialize;

/// The normal quantile of a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A proportion with its confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rate {
    /// Successes (here: tasks with the outcome).
    pub count: u64,
    /// Trials (here: tasks).
    pub trials: u64,
    /// `count / trials`.
    pub value: f64,
    /// Lower bound of the Wilson score interval.
    pub ci_low: f64,
    /// Upper bound of the Wilson score interval.
    pub ci_high: f64,
}

impl Rate {
    /// `count` out of `trials` with the 95 % Wilson interval.
    pub fn new(count: u64, trials: u64) -> Self {
        let (ci_low, ci_high) = wilson(count, trials, Z95);
        Self {
            count,
            trials,
            value: if trials == 0 {
                0.0
            } else {
                count as f64 / trials as f64
            },
            ci_low,
            ci_high,
        }
    }

    /// Whether `p` lies in the interval of quantile `z` (e.g. [`Z95`]).
    pub fn covers(&self, p: f64, z: f64) -> bool {
        let (lo, hi) = wilson(self.count, self.trials, z);
        lo <= p && p <= hi
    }
}

/// The Wilson score interval of `k` successes in `n` trials for the normal quantile `z`;
/// `(0, 1)` when `n = 0`.
pub fn wilson(k: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = n as f64;
    let p = k as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let lo = if k == 0 {
        0.0
    } else {
        (center - half).max(0.0)
    };
    let hi = if k as f64 >= n {
        1.0
    } else {
        (center + half).min(1.0)
    };
    (lo, hi)
}

/// Streaming mean and variance (Welford).
#[derive(Clone, Copy, Debug, Default)]
pub struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    /// Adds one observation.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The sample mean (0 when empty).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Half-width of the normal confidence interval of the mean for quantile `z`.
    pub fn half_width(&self, z: f64) -> f64 {
        if self.n < 2 {
            return f64::INFINITY;
        }
        let var = self.m2 / (self.n - 1) as f64;
        z * (var / self.n as f64).sqrt()
    }
}

/// The smallest value `v` with at least a fraction `q` of the observations `≤ v`
/// (nearest-rank percentile) of a histogram whose bucket `i` counts observations equal to `i`.
pub fn percentile(histogram: &[u64], q: f64) -> u32 {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (i, c) in histogram.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return i as u32;
        }
    }
    (histogram.len() - 1) as u32
}

/// The same as [`percentile`] for a probability mass function (bucket `i` = P(value = i)).
pub fn pmf_percentile(pmf: &[f64], q: f64) -> u32 {
    let total: f64 = pmf.iter().sum();
    let mut seen = 0.0;
    for (i, p) in pmf.iter().enumerate() {
        seen += p;
        // a relative tolerance keeps rounding in the sums from moving a percentile
        if seen >= q * total * (1.0 - 1e-12) && *p > 0.0 {
            return i as u32;
        }
    }
    pmf.iter().rposition(|p| *p > 0.0).unwrap_or(0) as u32
}

/// The value of rank `q` (nearest rank) of sorted `values`; 0 when empty.
pub fn quantile_sorted(values: &[u64], q: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        // 0 of 100: upper bound 3.70 %; 50 of 100: 40.4 % .. 59.6 %.
        let (lo, hi) = wilson(0, 100, Z95);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.0370).abs() < 1e-4, "{hi}");
        let (lo, hi) = wilson(50, 100, Z95);
        assert!(
            (lo - 0.4038).abs() < 1e-4 && (hi - 0.5962).abs() < 1e-4,
            "{lo} {hi}"
        );
        let r = Rate::new(50, 100);
        assert!(r.covers(0.45, Z95) && !r.covers(0.35, Z95));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        // values: 1, 1, 2, 3, 3, 3, 3, 3, 3, 9
        let mut h = vec![0u64; 10];
        h[1] = 2;
        h[2] = 1;
        h[3] = 6;
        h[9] = 1;
        assert_eq!(percentile(&h, 0.1), 1);
        assert_eq!(percentile(&h, 0.3), 2);
        assert_eq!(percentile(&h, 0.5), 3);
        assert_eq!(percentile(&h, 0.9), 3);
        assert_eq!(percentile(&h, 0.99), 9);
        assert_eq!(percentile(&h, 1.0), 9);
        let pmf: Vec<f64> = h.iter().map(|c| *c as f64 / 10.0).collect();
        for q in [0.1, 0.3, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(pmf_percentile(&pmf, q), percentile(&h, q), "q = {q}");
        }
        assert_eq!(quantile_sorted(&[1, 1, 2, 3, 3, 3, 3, 3, 3, 9], 0.3), 2);
    }

    #[test]
    fn moments_give_mean_and_interval() {
        let mut m = Moments::default();
        for x in [1.0, 2.0, 3.0, 4.0] {
            m.push(x);
        }
        assert_eq!(m.mean(), 2.5);
        // sd = 1.291, se = 0.6455
        assert!((m.half_width(1.0) - 0.645_497).abs() < 1e-5);
    }
}

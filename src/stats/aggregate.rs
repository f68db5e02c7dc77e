//! Aggregates across replicates (seeds, or trace windows): mean, min, max and a 95 % confidence
//! interval of the mean (Student's t with n - 1 degrees of freedom, its exact quantile,
//! [`crate::stats::student_t_quantile`]), written like `1.80 ± 0.10×`.
//!
//! Replicates that cannot differ carry no interval: with one value, or with values that are all
//! equal (a deterministic policy replaying the same trace file for every seed), the interval is
//! absent and printed as `± — (n=3)`: the data say nothing about the spread, and a "± 0.00" would
//! claim it is nil.

use serde::{Deserialize, Serialize};

/// Summary of a few values (one per replicate).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    pub n: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Half-width of the 95 % confidence interval of the mean; `None` for one value or
    /// identical values.
    pub ci95: Option<f64>,
}

/// Two-sided 97.5 % quantile of Student's t for `df` >= 1 degrees of freedom (NaN for 0).
pub fn t975(df: usize) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    crate::stats::student_t_quantile(0.975, df as f64)
}

impl Agg {
    /// Aggregate `v`; `None` when it is empty.
    pub fn of(v: &[f64]) -> Option<Agg> {
        let n = v.len();
        if n == 0 {
            return None;
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let ci95 = (n >= 2 && min != max).then(|| {
            let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
            t975(n - 1) * (var / n as f64).sqrt()
        });
        Some(Agg {
            n,
            mean,
            min,
            max,
            ci95,
        })
    }

    /// `mean ± ci95` with `digits` decimals and a suffix, e.g. `1.80 ± 0.10×`; without an
    /// interval, `1.80× ± — (n=3)`.
    pub fn fmt(&self, digits: usize, suffix: &str) -> String {
        match self.ci95 {
            Some(c) => format!("{:.*} ± {:.*}{suffix}", digits, self.mean, digits, c),
            None => format!("{:.*}{suffix} ± — (n={})", digits, self.mean, self.n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_spread_and_interval() {
        let a = Agg::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((a.n, a.mean, a.min, a.max), (3, 2.0, 1.0, 3.0));
        // s = 1, n = 3: t(0.975, 2) = 4.3026527... x 1 / sqrt(3).
        assert!((a.ci95.unwrap() - 4.302_652_729_749_464 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(a.fmt(2, "×"), "2.00 ± 2.48×");
        // One value, or identical values: no interval.
        let one = Agg::of(&[5.0]).unwrap();
        assert_eq!((one.mean, one.ci95), (5.0, None));
        assert_eq!(one.fmt(1, ""), "5.0 ± — (n=1)");
        let same = Agg::of(&[7.0, 7.0, 7.0]).unwrap();
        assert_eq!(same.ci95, None);
        assert_eq!(same.fmt(2, "×"), "7.00× ± — (n=3)");
        assert!(Agg::of(&[]).is_none());
        // Above 30 degrees of freedom the quantile keeps shrinking towards 1.96.
        assert!(t975(40) > 2.0210 && t975(40) < 2.0212);
    }
}

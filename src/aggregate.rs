//! Aggregates across seeds: mean, min, max and a 95 % confidence interval of the mean
//! (Student's t with n - 1 degrees of freedom), and ratios written like `1.8 ± 0.1×`.

use serde::{Deserialize, Serialize};

/// Summary of a few values (one per seed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    pub n: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Half-width of the 95 % confidence interval of the mean (0 for one value).
    pub ci95: f64,
}

/// Two-sided 97.5 % quantile of Student's t for `df` degrees of freedom.
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        d if d <= 30 => T[d - 1],
        _ => 1.96,
    }
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
        let ci95 = if n < 2 {
            0.0
        } else {
            let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
            t975(n - 1) * (var / n as f64).sqrt()
        };
        Some(Agg {
            n,
            mean,
            min,
            max,
            ci95,
        })
    }

    /// `mean ± ci95` with `digits` decimals and a suffix, e.g. `1.80 ± 0.10×`.
    pub fn fmt(&self, digits: usize, suffix: &str) -> String {
        format!(
            "{:.*} ± {:.*}{suffix}",
            digits, self.mean, digits, self.ci95
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_spread_and_interval() {
        let a = Agg::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((a.n, a.mean, a.min, a.max), (3, 2.0, 1.0, 3.0));
        // s = 1, n = 3: 4.303 x 1 / sqrt(3).
        assert!((a.ci95 - 4.303 / 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(a.fmt(2, "×"), "2.00 ± 2.48×");
        let one = Agg::of(&[5.0]).unwrap();
        assert_eq!((one.mean, one.ci95), (5.0, 0.0));
        assert!(Agg::of(&[]).is_none());
        assert_eq!(t975(40), 1.96);
    }
}

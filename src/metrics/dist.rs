//! Distributions of nanosecond values (latency, queueing delay, estimate error), reported in
//! milliseconds, every figure exact: the mean, the maximum, and the percentiles as nearest-rank
//! order statistics over every value ([`crate::stats`]: the smallest value with at least p % of
//! the values at or below it).

use crate::stats::percentiles;
use serde::{Deserialize, Serialize};

/// Distribution figures in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dist {
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// The percentiles a [`Dist`] reports, in increasing order.
pub const PERCENTILES: [f64; 6] = [50.0, 90.0, 95.0, 99.0, 99.9, 100.0];

impl Dist {
    /// The distribution of `v` (ns), reordering `v`; zeros when `v` is empty.
    pub fn exact(v: &mut [u64]) -> Dist {
        if v.is_empty() {
            return Dist::zero();
        }
        let sum: u128 = v.iter().map(|&x| x as u128).sum();
        let p = percentiles(v, &PERCENTILES);
        let ms = |k: usize| p[k].unwrap_or(0) as f64 / 1e6;
        Dist {
            mean_ms: sum as f64 / v.len() as f64 / 1e6,
            p50_ms: ms(0),
            p90_ms: ms(1),
            p95_ms: ms(2),
            p99_ms: ms(3),
            p999_ms: ms(4),
            max_ms: ms(5),
        }
    }

    /// Every figure 0 (no values).
    pub fn zero() -> Dist {
        Dist {
            mean_ms: 0.0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: 0.0,
            p999_ms: 0.0,
            max_ms: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_figures_by_hand() {
        // 1..=1000 ms in ns, shuffled: p50 is the 500th value, p99.9 the 999th.
        let mut v: Vec<u64> = (1..=1000u64)
            .map(|k| (k * 7919 % 1000 + 1) * 1_000_000)
            .collect();
        let d = Dist::exact(&mut v);
        assert_eq!(d.mean_ms, 500.5);
        assert_eq!(
            (d.p50_ms, d.p90_ms, d.p95_ms, d.p99_ms, d.p999_ms, d.max_ms),
            (500.0, 900.0, 950.0, 990.0, 999.0, 1000.0)
        );
        assert_eq!(Dist::exact(&mut []), Dist::zero());
    }
}

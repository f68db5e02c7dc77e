//! Order statistics, in one place: every figure in the product that names a percentile of a
//! set of values (a latency percentile, a batch-size percentile) is its *nearest-rank* value:
//! the smallest value with at least p % of the values at or below it, i.e. the value of rank
//! ceil(p / 100 x n) (clamped to 1..=n) in sorted order. `p / 100 x n` is computed in binary
//! floating point, where 99.9 / 100 x 1000 is 999.0000000000001: a product within a relative
//! 1e-9 of an integer is taken as that integer, so the rank is the one the decimal percentile
//! names (999 of 1000 for p99.9, not 1000).
//!
//! The statistics the product shares live here: order statistics and Student's t (this file),
//! the distribution summary of a replay ([`dist`]) and the aggregates across seeds
//! ([`aggregate`]).

pub mod aggregate;
pub mod dist;

/// The 1-based nearest rank of the `p`-th percentile among `n` values (`n` >= 1,
/// 0 < p <= 100).
#[inline]
pub fn nearest_rank(n: usize, p: f64) -> usize {
    let x = p / 100.0 * n as f64;
    let r = x.round();
    let rank = if (x - r).abs() <= 1e-9 * r.max(1.0) {
        r
    } else {
        x.ceil()
    };
    (rank as usize).clamp(1, n.max(1))
}

/// The `p`-th percentile (nearest rank) of `v`, reordering `v` (linear time); `None` when `v`
/// is empty.
pub fn percentile<T: Ord + Copy>(v: &mut [T], p: f64) -> Option<T> {
    if v.is_empty() {
        return None;
    }
    let rank = nearest_rank(v.len(), p);
    Some(*v.select_nth_unstable(rank - 1).1)
}

/// The `ps`-th percentiles (nearest rank; `ps` in increasing order) of `v`, reordering `v`:
/// successive selections, each in the part of `v` above the previous rank, so the whole costs
/// about two passes over `v` for the usual tail percentiles. Empty `v`: `None` for each.
pub fn percentiles<T: Ord + Copy>(v: &mut [T], ps: &[f64]) -> Vec<Option<T>> {
    debug_assert!(ps.windows(2).all(|w| w[0] <= w[1]), "percentiles in order");
    let n = v.len();
    let mut lo = 0;
    ps.iter()
        .map(|&p| {
            if n == 0 {
                return None;
            }
            let r = nearest_rank(n, p) - 1;
            if r < lo {
                // A repeated or smaller rank: already in place below `lo`.
                return Some(v[r]);
            }
            v[lo..].select_nth_unstable(r - lo);
            lo = r;
            Some(v[r])
        })
        .collect()
}

/// The `p`-quantile (0.5 <= p < 1) of Student's t with `df` >= 1 degrees of freedom, by
/// bisection on its CDF (`statrs`, the regularized incomplete beta function) to machine
/// precision: exact for every `df`, not a table. Not `statrs`'s own `inverse_cdf`: its inverse
/// incomplete beta is about 1e-12 off for small `df` and 1e-4 at a million.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let t = StudentsT::new(0.0, 1.0, df).expect("df >= 1 degrees of freedom");
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while t.cdf(hi) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if t.cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_by_hand() {
        // 1..=10: p50 is the 5th value, p90 the 9th, p91 rounds up to the 10th, p1 the 1st.
        let mut v: Vec<u32> = (1..=10).rev().collect();
        assert_eq!(percentile(&mut v, 50.0), Some(5));
        assert_eq!(percentile(&mut v, 90.0), Some(9));
        assert_eq!(percentile(&mut v, 91.0), Some(10));
        assert_eq!(percentile(&mut v, 1.0), Some(1));
        assert_eq!(percentile(&mut v, 100.0), Some(10));
        assert_eq!(percentile::<u32>(&mut [], 50.0), None);
        assert_eq!(nearest_rank(3, 0.0), 1);
        // Decimal percentiles name their rank exactly, whatever binary rounding does.
        assert_eq!(nearest_rank(1000, 99.9), 999);
        assert_eq!(nearest_rank(1000, 99.0), 990);
        assert_eq!(nearest_rank(100_000, 99.99), 99_990);
        assert_eq!(nearest_rank(1001, 99.9), 1000);
        assert_eq!(nearest_rank(7, 50.0), 4);
        let mut w: Vec<u32> = (1..=1000).rev().collect();
        assert_eq!(
            percentiles(&mut w, &[50.0, 90.0, 99.0, 99.0, 99.9, 100.0]),
            [500, 900, 990, 990, 999, 1000].map(Some)
        );
        assert_eq!(percentiles::<u32>(&mut [], &[50.0]), [None]);
    }

    #[test]
    fn student_t_quantiles_match_published_values() {
        // Two-sided 95 % critical values, as printed in standard tables (and by
        // scipy.stats.t.ppf(0.975, df)); df = 1 is tan(0.475 pi).
        let tan = (0.475 * std::f64::consts::PI).tan();
        for (df, want, tol) in [
            (1.0, tan, 1e-9),
            (2.0, 4.302_652_729_749_464, 1e-9),
            (3.0, 3.182_446_305_284_263, 1e-9),
            (10.0, 2.228_138_851_986_274, 1e-9),
            (30.0, 2.042_272_456_301_238, 1e-9),
            (31.0, 2.039_513_446_396_408, 1e-9),
            (100.0, 1.983_971_518_523_552, 1e-9),
        ] {
            let got = student_t_quantile(0.975, df);
            assert!((got - want).abs() < tol, "df {df}: {got} vs {want}");
        }
        // Large df: the Cornish-Fisher expansion around the normal quantile z.
        let z = 1.959_963_984_540_054f64;
        for nu in [1e4, 1e6] {
            let cf = z
                + (z.powi(3) + z) / (4.0 * nu)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * nu * nu);
            let got = student_t_quantile(0.975, nu);
            assert!((got - cf).abs() < 1e-9, "df {nu}: {got} vs {cf}");
        }
    }
}

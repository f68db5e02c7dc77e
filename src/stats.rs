//! Order statistics, in one place: every figure in the product that names a percentile of a
//! set of values (a latency percentile, a batch-size percentile) is its *nearest-rank* value:
//! the smallest value with at least p % of the values at or below it, i.e. the value of rank
//! ceil(p / 100 x n) (clamped to 1..=n) in sorted order. `p / 100 x n` is computed in binary
//! floating point, where 99.9 / 100 x 1000 is 999.0000000000001: a product within a relative
//! 1e-9 of an integer is taken as that integer, so the rank is the one the decimal percentile
//! names (999 of 1000 for p99.9, not 1000).

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

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (k, g) in G.iter().enumerate().skip(1) {
        a += g / (x + k as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction (modified
/// Lentz), for 0 <= x <= 1 and a, b > 0.
pub fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    // The fraction converges fast for x < (a + 1) / (a + b + 2); otherwise use the symmetry.
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(1.0 - x, b, a);
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp() / a;
    const TINY: f64 = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut f = d;
    for m in 1..=300 {
        let m = m as f64;
        for k in 0..2 {
            let num = if k == 0 {
                m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m))
            } else {
                -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))
            };
            d = 1.0 + num * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + num / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            f *= c * d;
        }
        if (c * d - 1.0).abs() < 1e-16 {
            break;
        }
    }
    front * f
}

/// The CDF of Student's t with `df` degrees of freedom at `t`.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The `p`-quantile (0.5 <= p < 1) of Student's t with `df` >= 1 degrees of freedom, by
/// bisection on the CDF to machine precision: exact for every `df`, not a table.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while student_t_cdf(hi, df) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if student_t_cdf(mid, df) < p {
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
        // The CDF itself: t = 0 is the median; df = 1 is the Cauchy law, 1/2 + atan(t)/pi.
        assert!((student_t_cdf(0.0, 5.0) - 0.5).abs() < 1e-15);
        let c = 0.5 + 1.5f64.atan() / std::f64::consts::PI;
        assert!((student_t_cdf(1.5, 1.0) - c).abs() < 1e-12);
    }
}

//! Order statistics, in one place: every figure in the product that names a percentile of a
//! set of values (a latency percentile, a batch-size percentile) is its *nearest-rank* value:
//! the smallest value with at least p % of the values at or below it, i.e. the value of rank
//! ceil(p / 100 x n) (clamped to 1..=n) in sorted order.

/// The 1-based nearest rank of the `p`-th percentile among `n` values (`n` >= 1,
/// 0 < p <= 100).
#[inline]
pub fn nearest_rank(n: usize, p: f64) -> usize {
    ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n.max(1))
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
    }
}

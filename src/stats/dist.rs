//! Distributions of nanosecond values (latency, queueing delay, estimate error), reported in
//! milliseconds, every figure exact: the mean, the maximum, and the percentiles as nearest-rank
//! order statistics over every value ([`crate::stats::nearest_rank`]: the smallest value with at
//! least p % of the values at or below it), as [`crate::metrics::exact`] computes them.

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

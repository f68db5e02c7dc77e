//! Distributions of nanosecond values (latency, queueing delay, estimate error), reported in
//! milliseconds: exact mean and maximum, percentiles from an HdrHistogram with 3 significant
//! digits (each within 0.1 % of the exact order statistic).

use hdrhistogram::Histogram;
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

/// Accumulates a distribution of nanosecond values.
pub struct DistBuilder {
    h: Histogram<u64>,
    sum: u128,
    max: u64,
    n: u64,
}

impl Default for DistBuilder {
    fn default() -> Self {
        DistBuilder {
            h: Histogram::new(3).expect("3 significant digits"),
            sum: 0,
            max: 0,
            n: 0,
        }
    }
}

impl DistBuilder {
    #[inline]
    pub fn record(&mut self, v: u64) {
        // `record` grows the (auto-resizing) histogram; `saturating_record` would clamp to its
        // initial range instead.
        if self.h.record(v).is_err() {
            self.h.saturating_record(v);
        }
        self.sum += v as u128;
        self.max = self.max.max(v);
        self.n += 1;
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    pub fn finish(&self) -> Dist {
        let ms = |v: u64| v as f64 / 1e6;
        let q = |p: f64| {
            if self.n == 0 {
                0.0
            } else {
                ms(self.h.value_at_quantile(p).min(self.max))
            }
        };
        Dist {
            mean_ms: if self.n == 0 {
                0.0
            } else {
                self.sum as f64 / self.n as f64 / 1e6
            },
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: ms(self.max),
        }
    }
}

//! `mig-replay trace inspect`: query count, models, duration, mean rate, burstiness (coefficient
//! of variation of inter-arrival times; 1 for Poisson) and the batch histogram.

use super::Trace;
use serde::Serialize;

/// Statistics of a trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceStats {
    pub queries: usize,
    /// (model, queries), most frequent first.
    pub models: Vec<(String, usize)>,
    /// First to last arrival, seconds.
    pub duration_s: f64,
    /// (queries - 1) / duration.
    pub mean_rate_qps: f64,
    /// Standard deviation / mean of inter-arrival times.
    pub interarrival_cv: f64,
    pub batch_mean: f64,
    pub batch_max: u32,
    /// (bin label, queries): each batch value when there are at most 12, else power-of-two bins.
    pub batch_histogram: Vec<(String, usize)>,
}

/// Compute the statistics of a (sorted) trace.
pub fn stats(t: &Trace) -> TraceStats {
    let n = t.len();
    let mut models: Vec<(String, usize)> = t.models.iter().map(|m| (m.clone(), 0)).collect();
    for &m in &t.model {
        models[m as usize].1 += 1;
    }
    models.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let span = if n > 1 {
        (t.arrival_ns[n - 1] - t.arrival_ns[0]) as f64 / 1e9
    } else {
        0.0
    };
    let gaps: Vec<f64> = t
        .arrival_ns
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64)
        .collect();
    let cv = if gaps.len() > 1 {
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (gaps.len() - 1) as f64;
        if mean > 0.0 { var.sqrt() / mean } else { 0.0 }
    } else {
        0.0
    };
    let mut values: Vec<u32> = t.batch.clone();
    values.sort_unstable();
    // (batch, queries) for each distinct batch, in one pass over the sorted values.
    let counts: Vec<(u32, usize)> = values
        .chunk_by(|a, b| a == b)
        .map(|c| (c[0], c.len()))
        .collect();
    let batch_histogram = if counts.len() <= 12 {
        counts.iter().map(|&(b, c)| (b.to_string(), c)).collect()
    } else {
        let mut bins: Vec<(String, usize)> = Vec::new();
        // u64: the last bin of a batch near u32::MAX ends past it.
        let (mut lo, mut hi) = (1u64, 1u64);
        while lo <= counts.last().map_or(1, |c| c.0 as u64) {
            let c = counts
                .iter()
                .filter(|x| x.0 as u64 >= lo && x.0 as u64 <= hi)
                .map(|x| x.1)
                .sum();
            let label = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            };
            bins.push((label, c));
            lo = hi + 1;
            hi *= 2;
        }
        bins
    };
    TraceStats {
        queries: n,
        models,
        duration_s: span,
        mean_rate_qps: if span > 0.0 {
            (n - 1) as f64 / span
        } else {
            0.0
        },
        interarrival_cv: cv,
        batch_mean: if n > 0 {
            t.batch.iter().map(|&b| b as f64).sum::<f64>() / n as f64
        } else {
            0.0
        },
        batch_max: t.max_batch(),
        batch_histogram,
    }
}

impl TraceStats {
    /// Human-readable text.
    pub fn text(&self) -> String {
        let mut s = format!("queries           {}\n", self.queries);
        s += &format!(
            "models            {}\n",
            self.models
                .iter()
                .map(|(m, c)| format!("{m} ({c})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        s += &format!(
            "duration          {:.3} s (first to last arrival)\n",
            self.duration_s
        );
        s += &format!("mean rate         {:.3} queries/s\n", self.mean_rate_qps);
        s += &format!(
            "inter-arrival CV  {:.3} (1 = Poisson, > 1 burstier)\n",
            self.interarrival_cv
        );
        s += &format!(
            "batch             mean {:.3}, max {}\n",
            self.batch_mean, self.batch_max
        );
        s += "batch histogram  ";
        for (b, c) in &self.batch_histogram {
            s += &format!(" {b}:{c}");
        }
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzz harness: with a batch of u32::MAX the power-of-two bins overflowed.
    #[test]
    fn histogram_bins_reach_the_largest_batch() {
        // 13 distinct batches: binned by powers of two.
        let mut rows: Vec<(u64, &str, u32)> = (1..=12).map(|b| (b as u64, "m", b)).collect();
        rows.push((13, "m", u32::MAX));
        let s = stats(&Trace::from_rows(rows));
        let h = &s.batch_histogram;
        assert_eq!(h[0], ("1".to_string(), 1));
        assert_eq!(h[1], ("2".to_string(), 1));
        assert_eq!(h[2], ("3-4".to_string(), 2));
        assert_eq!(h[4], ("9-16".to_string(), 4));
        // 2^31 + 1 ..= 2^32 holds u32::MAX; bins end there.
        assert_eq!(h.last().unwrap(), &("2147483649-4294967296".to_string(), 1));
        assert_eq!(h.iter().map(|x| x.1).sum::<usize>(), 13);
    }
}

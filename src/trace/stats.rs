//! `mig-replay trace inspect`: query count, models, duration, mean rate, burstiness (coefficient
//! of variation of inter-arrival times; 1 for Poisson) and the batch histogram; for an LLM
//! trace, the token counts per model ([`TokenStats`]).

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
    /// An LLM trace's token counts, per model in the order of `models` (absent for a batch
    /// trace, so that its JSON is as before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<TokenStats>>,
}

/// Summary of one set of token counts: mean and nearest-rank percentiles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub max: u32,
}

impl Spread {
    /// Of non-empty `v` (reordered: sorted).
    fn of(v: &mut [u32]) -> Spread {
        v.sort_unstable();
        let n = v.len();
        let at = |p: f64| v[crate::stats::nearest_rank(n, p) - 1];
        Spread {
            mean: v.iter().map(|&x| x as f64).sum::<f64>() / n as f64,
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            max: v[n - 1],
        }
    }
}

/// One model's requests in an LLM trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenStats {
    pub model: String,
    pub requests: usize,
    pub prompt: Spread,
    pub output: Spread,
    /// Prompt plus output tokens over all its requests.
    pub total_tokens: u64,
}

/// The token statistics of an LLM trace, per model (in the order of `models`, most requests
/// first).
pub fn token_stats(t: &Trace, models: &[(String, usize)]) -> Option<Vec<TokenStats>> {
    let tk = t.tokens.as_ref()?;
    let mut out = Vec::new();
    for (name, n) in models {
        if *n == 0 {
            continue;
        }
        let m = t
            .models
            .iter()
            .position(|x| x == name)
            .expect("a model of the trace") as u32;
        let rows = || {
            t.model
                .iter()
                .enumerate()
                .filter(|&(_, &x)| x == m)
                .map(|(q, _)| q)
        };
        let mut p: Vec<u32> = rows().map(|q| tk.prompt[q]).collect();
        let mut o: Vec<u32> = rows().map(|q| tk.output[q]).collect();
        let total = p.iter().chain(&o).map(|&x| x as u64).sum();
        out.push(TokenStats {
            model: name.clone(),
            requests: p.len(),
            prompt: Spread::of(&mut p),
            output: Spread::of(&mut o),
            total_tokens: total,
        });
    }
    Some(out)
}

/// Compute the statistics of a (sorted) trace.
/// A trace's arrivals folded modulo a period into equal bins: the rate shape `trace shape`
/// writes and `trace gen --rate-shape` reads.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedShape {
    pub fold_s: f64,
    /// Arrivals per bin.
    pub counts: Vec<u64>,
    /// How many times each bin is covered by the trace's span (from its first to its last
    /// arrival, whole folds counted from time 0): a bin's rate is its count over its coverage.
    pub coverage: Vec<f64>,
}

impl FoldedShape {
    /// Each bin's rate relative to the mean over the bins (mean 1).
    pub fn multipliers(&self) -> Vec<f64> {
        let rates: Vec<f64> = self
            .counts
            .iter()
            .zip(&self.coverage)
            .map(|(&c, &cov)| if cov > 0.0 { c as f64 / cov } else { 0.0 })
            .collect();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        rates
            .iter()
            .map(|r| if mean > 0.0 { r / mean } else { 0.0 })
            .collect()
    }
    pub fn max(&self) -> f64 {
        self.multipliers().into_iter().fold(0.0, f64::max)
    }
    pub fn min(&self) -> f64 {
        self.multipliers().into_iter().fold(f64::INFINITY, f64::min)
    }
    /// Check that the CSV [`FoldedShape::csv`] writes is a rate shape `trace gen
    /// --rate-shape` accepts (steps of at least the trace's time resolution, not every
    /// multiplier 0 once rounded to 6 decimals).
    pub fn check_replayable(&self) -> crate::error::Result<()> {
        let points: Vec<(f64, f64)> = self
            .csv()
            .lines()
            .skip(1)
            .map(|l| {
                let mut f = l.split(',').map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
                (f.next().unwrap_or(f64::NAN), f.next().unwrap_or(f64::NAN))
            })
            .collect();
        super::vary::Variation {
            shape: Some(super::vary::Shape {
                points,
                period_s: None,
            }),
            ..Default::default()
        }
        .check()
    }

    /// `start_s,multiplier,arrivals`, one row per bin.
    pub fn csv(&self) -> String {
        let w = self.fold_s / self.counts.len() as f64;
        let mut s = String::from("start_s,multiplier,arrivals\n");
        for (k, (m, c)) in self.multipliers().iter().zip(&self.counts).enumerate() {
            s.push_str(&format!("{},{m:.6},{c}\n", k as f64 * w));
        }
        s
    }
}

/// Fold the arrivals of `t` modulo `fold_s` seconds into `bins` equal bins. A bin's rate is
/// its arrivals over the time the trace's span spends in it, so a trace that starts or ends
/// mid-fold does not bias its first or last bins.
pub fn fold_shape(t: &Trace, fold_s: f64, bins: u32) -> crate::error::Result<FoldedShape> {
    use crate::error::Error;
    if !(fold_s.is_finite() && fold_s > 0.0 && (1..=100_000).contains(&bins)) {
        return Err(Error::Usage(format!(
            "--fold-s must be > 0 and --bins in 1..=100000 (got {fold_s}, {bins})"
        )));
    }
    if t.len() < 2 {
        return Err(Error::file(
            &t.path,
            "a rate shape needs at least 2 arrivals",
        ));
    }
    if t.arrival_ns[0] == *t.arrival_ns.last().unwrap() {
        return Err(Error::file(
            &t.path,
            format!(
                "all {} arrivals share one time ({} s): a rate shape needs arrivals spread over time",
                t.len(),
                crate::error::num(t.arrival_ns[0] as f64 / 1e9)
            ),
        ));
    }
    let fold_ns = fold_s * 1e9;
    let w = fold_ns / bins as f64;
    let bin_of = |ns: f64| (((ns % fold_ns) / w) as usize).min(bins as usize - 1);
    let mut counts = vec![0u64; bins as usize];
    for &a in &t.arrival_ns {
        counts[bin_of(a as f64)] += 1;
    }
    // Coverage of [first, last] per bin, in bin widths.
    let (lo, hi) = (t.arrival_ns[0] as f64, *t.arrival_ns.last().unwrap() as f64);
    let mut coverage = vec![0.0f64; bins as usize];
    // Add the part [a, b) of one fold (times relative to the fold's start).
    let mut within = |a: f64, b: f64| {
        for (k, c) in coverage.iter_mut().enumerate() {
            let (x, y) = (k as f64 * w, (k as f64 + 1.0) * w);
            *c += (b.min(y) - a.max(x)).max(0.0) / w;
        }
    };
    let (f0, f1) = ((lo / fold_ns).floor(), (hi / fold_ns).floor());
    if f0 == f1 {
        within(lo - f0 * fold_ns, hi - f0 * fold_ns);
    } else {
        within(lo - f0 * fold_ns, fold_ns);
        within(0.0, hi - f1 * fold_ns);
        let full = f1 - f0 - 1.0;
        if full > 0.0 {
            for c in coverage.iter_mut() {
                *c += full;
            }
        }
    }
    Ok(FoldedShape {
        fold_s,
        counts,
        coverage,
    })
}

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
        tokens: token_stats(t, &models),
        models,
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
        for m in self.tokens.iter().flatten() {
            s += &format!(
                "tokens of {}: {} requests, {} tokens in all\n",
                m.model, m.requests, m.total_tokens
            );
            for (what, d) in [("prompt", &m.prompt), ("output", &m.output)] {
                s += &format!(
                    "  {what:<6}  mean {:.1}, p50 {}, p90 {}, p99 {}, max {}\n",
                    d.mean, d.p50, d.p90, d.p99, d.max
                );
            }
        }
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

#[cfg(test)]
mod fold_tests {
    use super::*;

    #[test]
    fn folded_rates_count_only_the_time_the_span_covers() {
        // Fold 10 s in two 5 s bins; arrivals at 0, 1, 2, 3 s (bin 0) and 6 s (bin 1). The span
        // [0, 6] covers bin 0 for 5 s and bin 1 for 1 s: rates 4/5 and 1/1 per s, i.e. 0.8 and
        // 1.0, mean 0.9: multipliers 8/9 and 10/9.
        let t = Trace::from_rows(
            [0u64, 1, 2, 3, 6]
                .iter()
                .map(|&s| (s * 1_000_000_000, "m", 1u32)),
        );
        let f = fold_shape(&t, 10.0, 2).unwrap();
        assert_eq!(f.counts, vec![4, 1]);
        assert_eq!(f.coverage, vec![1.0, 0.2]);
        let m = f.multipliers();
        assert!((m[0] - 8.0 / 9.0).abs() < 1e-12 && (m[1] - 10.0 / 9.0).abs() < 1e-12);
        // Two whole folds and a bit: [0, 23] with fold 10 covers bin 0 three times (0-5,
        // 10-15, 20-23 is 0.6) and bin 1 twice.
        let t = Trace::from_rows([0u64, 23].iter().map(|&s| (s * 1_000_000_000, "m", 1u32)));
        assert_eq!(fold_shape(&t, 10.0, 2).unwrap().coverage, vec![2.6, 2.0]);
        assert!(fold_shape(&t, 0.0, 2).is_err() && fold_shape(&t, 10.0, 0).is_err());
    }
}

//! Synthetic traces: Poisson, gamma (bursty, given CV) or two-state MMPP arrivals; log-normal
//! or explicit-histogram batch sizes; one or several models with weights.
//!
//! Determinism: each purpose has its own seeded PCG stream (arrivals, model choice, batch size,
//! MMPP state switching), so the same seed gives the same trace, and changing e.g. the batch
//! distribution does not change the arrival times.
//!
//! Log-normal batches are `round(exp(N(mu, sigma)))` clamped to `[1, max_batch]`. Rather than
//! sampling the continuous law and rounding, we compute that discrete law exactly (its pmf, from
//! the normal CDF) and sample from it; [`BatchSpec::pmf`] and [`BatchSpec::mean`] give the law
//! the generator realizes, which tests compare the empirical mean against.

use super::Trace;
use crate::error::{Error, Result};
use rand::SeedableRng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand_distr::{Exp, Gamma};
use rand_pcg::Pcg64;

/// The arrival process.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// Exponential inter-arrivals (CV 1).
    Poisson,
    /// Gamma inter-arrivals with this coefficient of variation (CV > 1 is burstier than Poisson).
    Gamma { cv: f64 },
    /// Two-state Markov-modulated Poisson process: a high state with `ratio` times the rate of the
    /// low state, exponential dwell times with mean `dwell_s` in each state. The long-run mean
    /// rate equals the requested rate.
    Mmpp { ratio: f64, dwell_s: f64 },
}

/// The batch-size law.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchSpec {
    /// `round(exp(N(mu, sigma)))`, clamped to `[1, max]`.
    LogNormal { mu: f64, sigma: f64, max: u32 },
    /// Explicit `(batch, weight)` pairs; weights need not sum to 1.
    Histogram(Vec<(u32, f64)>),
}

fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

impl BatchSpec {
    /// The exact discrete law: `(batch, probability)` with positive probabilities.
    pub fn pmf(&self) -> Result<Vec<(u32, f64)>> {
        match self {
            BatchSpec::LogNormal { mu, sigma, max } => {
                let ok = (1..=MAX_BATCH).contains(max)
                    && mu.is_finite()
                    && sigma.is_finite()
                    && *sigma >= 0.0;
                if !ok {
                    return Err(Error::Usage(format!(
                        "log-normal batches need a finite --batch-mu, --batch-sigma >= 0 and --max-batch in 1..={MAX_BATCH} (got {mu}, {sigma}, {max})"
                    )));
                }
                if *sigma == 0.0 {
                    let b = (mu.exp().round() as u32).clamp(1, *max);
                    return Ok(vec![(b, 1.0)]);
                }
                let cdf = |b: f64| phi((b.ln() - mu) / sigma);
                let v: Vec<(u32, f64)> = (1..=*max)
                    .map(|b| {
                        let lo = if b == 1 { 0.0 } else { cdf(b as f64 - 0.5) };
                        let hi = if b == *max { 1.0 } else { cdf(b as f64 + 0.5) };
                        (b, (hi - lo).max(0.0))
                    })
                    .filter(|(_, p)| *p > 0.0)
                    .collect();
                let s: f64 = v.iter().map(|x| x.1).sum();
                Ok(v.into_iter().map(|(b, p)| (b, p / s)).collect())
            }
            BatchSpec::Histogram(h) => {
                if h.is_empty()
                    || h.iter()
                        .any(|&(b, w)| b < 1 || !(w.is_finite() && w >= 0.0))
                {
                    return Err(Error::Usage(
                        "a batch histogram needs batch >= 1 and weights >= 0".into(),
                    ));
                }
                let s: f64 = h.iter().map(|x| x.1).sum();
                if s <= 0.0 {
                    return Err(Error::Usage("batch histogram weights sum to 0".into()));
                }
                let mut v: Vec<(u32, f64)> = h
                    .iter()
                    .filter(|x| x.1 > 0.0)
                    .map(|&(b, w)| (b, w / s))
                    .collect();
                v.sort_by_key(|x| x.0);
                Ok(v)
            }
        }
    }

    /// Mean batch of the law.
    pub fn mean(&self) -> Result<f64> {
        Ok(self.pmf()?.iter().map(|&(b, p)| b as f64 * p).sum())
    }

    /// Parse `1:0.5,2:0.3,8:0.2`.
    pub fn parse_histogram(s: &str) -> Result<BatchSpec> {
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (b, w) = part.split_once(':').ok_or_else(|| {
                Error::Usage(format!(
                    "batch histogram entry '{part}': expected BATCH:WEIGHT"
                ))
            })?;
            let b: u32 = b
                .trim()
                .parse()
                .map_err(|_| Error::Usage(format!("bad batch '{b}' in '{part}'")))?;
            let w: f64 = w
                .trim()
                .parse()
                .map_err(|_| Error::Usage(format!("bad weight '{w}' in '{part}'")))?;
            v.push((b, w));
        }
        let h = BatchSpec::Histogram(v);
        h.pmf()?;
        Ok(h)
    }
}

/// Everything `trace gen` takes.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Mean arrival rate (queries/s).
    pub rate: f64,
    /// Stop after this many queries.
    pub queries: Option<u64>,
    /// Stop at this trace time (s).
    pub duration_s: Option<f64>,
    /// `(model, weight)`.
    pub models: Vec<(String, f64)>,
    pub arrivals: Arrivals,
    pub batch: BatchSpec,
    pub seed: u64,
}

/// Parse `resnet50` or `resnet50:3` (a weight).
pub fn parse_model_weight(s: &str) -> Result<(String, f64)> {
    match s.rsplit_once(':') {
        Some((m, w)) => {
            let w: f64 = w
                .parse()
                .map_err(|_| Error::Usage(format!("bad model weight in '{s}'")))?;
            if !(w.is_finite() && w > 0.0) || m.is_empty() {
                return Err(Error::Usage(format!(
                    "'{s}': expected MODEL or MODEL:WEIGHT with WEIGHT > 0"
                )));
            }
            Ok((m.to_string(), w))
        }
        None if !s.is_empty() => Ok((s.to_string(), 1.0)),
        None => Err(Error::Usage("empty model name".into())),
    }
}

/// A PCG stream for one purpose, derived from the user seed.
pub fn stream(seed: u64, purpose: u64) -> Pcg64 {
    // splitmix64 of (seed, purpose) so that nearby seeds give unrelated streams.
    let mut z = seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Pcg64::seed_from_u64(z ^ (z >> 31))
}

const ARRIVALS: u64 = 1;
const MODELS: u64 = 2;
const BATCHES: u64 = 3;
const MMPP_STATE: u64 = 4;

/// Generate a trace (arrival times on whole microseconds, as the Parquet schema stores them).
/// The largest batch a generated trace may hold.
pub const MAX_BATCH: u32 = 65_536;
/// The most queries a trace may hold (the engine indexes queries with 32 bits).
pub const MAX_QUERIES: u64 = u32::MAX as u64 - 1;

pub fn generate(cfg: &GenConfig) -> Result<Trace> {
    if !(cfg.rate.is_finite() && cfg.rate > 0.0) {
        return Err(Error::Usage(format!(
            "--rate must be > 0 queries/s, got {}",
            cfg.rate
        )));
    }
    if cfg.queries.is_none() && cfg.duration_s.is_none() {
        return Err(Error::Usage("give --queries or --duration".into()));
    }
    // What the trace will hold: bounded by the engine's query index and by memory.
    let expected = match (cfg.queries, cfg.duration_s) {
        (Some(q), _) => q as f64,
        (None, Some(d)) => cfg.rate * d,
        (None, None) => 0.0,
    };
    if expected > MAX_QUERIES as f64 {
        return Err(Error::Usage(format!(
            "the trace would hold about {expected:.3e} queries; at most {MAX_QUERIES} (lower --queries, --duration or --rate)"
        )));
    }
    crate::io::check_memory((expected * 24.0) as u64, "the generated trace")?;
    if let Some(d) = cfg.duration_s
        && !(d.is_finite() && d > 0.0)
    {
        return Err(Error::Usage(format!("--duration must be > 0 s, got {d}")));
    }
    if cfg.models.is_empty() {
        return Err(Error::Usage("give at least one --model".into()));
    }
    let pmf = cfg.batch.pmf()?;
    let batch_values: Vec<u32> = pmf.iter().map(|x| x.0).collect();
    let batch_idx =
        WeightedIndex::new(pmf.iter().map(|x| x.1)).map_err(|e| Error::Usage(e.to_string()))?;
    let model_idx = WeightedIndex::new(cfg.models.iter().map(|x| x.1))
        .map_err(|e| Error::Usage(e.to_string()))?;
    let (mut r_arr, mut r_mod, mut r_bat, mut r_state) = (
        stream(cfg.seed, ARRIVALS),
        stream(cfg.seed, MODELS),
        stream(cfg.seed, BATCHES),
        stream(cfg.seed, MMPP_STATE),
    );

    // Inter-arrival sampler in seconds.
    enum Gap {
        Exp(Exp<f64>),
        Gamma(Gamma<f64>),
        Mmpp {
            lo: Exp<f64>,
            hi: Exp<f64>,
            switch: Exp<f64>,
            high: bool,
            next_switch: f64,
        },
    }
    let mut gap = match cfg.arrivals {
        Arrivals::Poisson => Gap::Exp(Exp::new(cfg.rate).expect("rate > 0")),
        Arrivals::Gamma { cv } => {
            if !(cv.is_finite() && cv > 0.0) {
                return Err(Error::Usage(format!("--cv must be > 0, got {cv}")));
            }
            let shape = 1.0 / (cv * cv);
            Gap::Gamma(
                Gamma::new(shape, 1.0 / (cfg.rate * shape))
                    .map_err(|e| Error::Usage(e.to_string()))?,
            )
        }
        Arrivals::Mmpp { ratio, dwell_s } => {
            if !(ratio.is_finite() && ratio >= 1.0 && dwell_s.is_finite() && dwell_s > 0.0) {
                return Err(Error::Usage(format!(
                    "MMPP needs --burst-ratio >= 1 and --burst-dwell > 0 s (got {ratio}, {dwell_s})"
                )));
            }
            let lo = 2.0 * cfg.rate / (1.0 + ratio);
            let switch = Exp::new(1.0 / dwell_s).expect("dwell > 0");
            let first = switch.sample(&mut r_state);
            Gap::Mmpp {
                lo: Exp::new(lo).expect(">0"),
                hi: Exp::new(lo * ratio).expect(">0"),
                switch,
                high: false,
                next_switch: first,
            }
        }
    };

    let cap = cfg.queries.unwrap_or(u64::MAX);
    let horizon = cfg.duration_s.unwrap_or(f64::INFINITY);
    let mut t = 0.0f64;
    let names: Vec<&str> = cfg.models.iter().map(|m| m.0.as_str()).collect();
    let mut rows: Vec<(u64, &str, u32)> =
        Vec::with_capacity(cfg.queries.unwrap_or(0).min(1 << 26) as usize);
    while (rows.len() as u64) < cap {
        t += match &mut gap {
            Gap::Exp(e) => e.sample(&mut r_arr),
            Gap::Gamma(g) => g.sample(&mut r_arr),
            Gap::Mmpp {
                lo,
                hi,
                switch,
                high,
                next_switch,
            } => {
                // Memoryless: draw in the current state; past a switch, restart from the switch.
                let mut now = t;
                loop {
                    let d = if *high {
                        hi.sample(&mut r_arr)
                    } else {
                        lo.sample(&mut r_arr)
                    };
                    if now + d <= *next_switch {
                        break now + d - t;
                    }
                    now = *next_switch;
                    *high = !*high;
                    *next_switch = now + switch.sample(&mut r_state);
                }
            }
        };
        if t >= horizon {
            break;
        }
        if t * 1e9 > crate::trace::MAX_TIME_NS as f64 {
            return Err(Error::Usage(format!(
                "the trace runs past {:.3e} s (2^62 ns) of simulated time at query {}; raise --rate",
                crate::trace::MAX_TIME_NS as f64 / 1e9,
                rows.len()
            )));
        }
        let us = (t * 1e6).round() as u64;
        let m = names[model_idx.sample(&mut r_mod)];
        let b = batch_values[batch_idx.sample(&mut r_bat)];
        rows.push((us * 1000, m, b));
    }
    Ok(Trace::from_rows(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_pmf_sums_to_one_and_clamps() {
        let b = BatchSpec::LogNormal {
            mu: 2.0,
            sigma: 1.0,
            max: 64,
        };
        let p = b.pmf().unwrap();
        assert!((p.iter().map(|x| x.1).sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p.iter().all(|x| (1..=64).contains(&x.0)));
        // Clamping puts the upper tail mass on 64.
        assert!(p.last().unwrap().1 > 0.01);
    }

    #[test]
    fn same_seed_same_trace_other_seed_other_trace() {
        let cfg = GenConfig {
            rate: 100.0,
            queries: Some(1000),
            duration_s: None,
            models: vec![("a".into(), 1.0), ("b".into(), 2.0)],
            arrivals: Arrivals::Poisson,
            batch: BatchSpec::LogNormal {
                mu: 1.0,
                sigma: 0.5,
                max: 32,
            },
            seed: 7,
        };
        let a = generate(&cfg).unwrap();
        let b = generate(&cfg).unwrap();
        assert_eq!(a.arrival_ns, b.arrival_ns);
        assert_eq!(a.batch, b.batch);
        let c = generate(&GenConfig {
            seed: 8,
            ..cfg.clone()
        })
        .unwrap();
        assert_ne!(a.arrival_ns, c.arrival_ns);
        // Changing the batch law leaves the arrivals alone (separate streams).
        let d = generate(&GenConfig {
            batch: BatchSpec::Histogram(vec![(4, 1.0)]),
            ..cfg
        })
        .unwrap();
        assert_eq!(a.arrival_ns, d.arrival_ns);
    }
}

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
//!
//! **LLM traces** ([`generate_llm`], `trace gen --llm`): every row is one request of batch 1
//! (no batch is drawn) whose prompt and output lengths are drawn from its model's
//! [`TokenLaw`]s, on two more streams of their own (prompts, outputs), so the arrivals and the
//! models of a seed are those of the same batch trace, and a batch trace's draws are untouched.

use super::Trace;
pub use super::law::{BatchSpec, MAX_BATCH, TokenLaw, TokenLaws, parse_model_weight};
use super::vary::{Clock, Variation};
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
const PROMPTS: u64 = 5;
const OUTPUTS: u64 = 6;

/// The prompt and output length laws of a generated LLM trace.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmLaws {
    pub prompt: TokenLaws,
    pub output: TokenLaws,
}

impl LlmLaws {
    /// The default laws of `trace gen --llm`: log-normal fits of the Azure LLM inference 2023
    /// conversation trace (mean and standard deviation of ln ContextTokens: 6.63, 0.99; of ln
    /// GeneratedTokens: 5.02, 0.86; over its 19,366 requests), clamped at 16,384 and 4,096.
    pub fn azure_conv() -> LlmLaws {
        LlmLaws {
            prompt: TokenLaws {
                default: TokenLaw::LogNormal {
                    mu: 6.63,
                    sigma: 0.99,
                    max: 16_384,
                },
                per_model: Vec::new(),
            },
            output: TokenLaws {
                default: TokenLaw::LogNormal {
                    mu: 5.02,
                    sigma: 0.86,
                    max: 4_096,
                },
                per_model: Vec::new(),
            },
        }
    }
}

/// Draws token counts from one [`TokenLaw`].
enum TokenDraw {
    LogNormal {
        mu: f64,
        sigma: f64,
        max: u32,
    },
    Hist {
        values: Vec<u32>,
        idx: WeightedIndex<f64>,
    },
}

impl TokenDraw {
    fn new(law: &TokenLaw) -> Result<TokenDraw> {
        law.check()?;
        Ok(match law {
            &TokenLaw::LogNormal { mu, sigma, max } => TokenDraw::LogNormal { mu, sigma, max },
            TokenLaw::Histogram(h) => TokenDraw::Hist {
                values: h.iter().map(|x| x.0).collect(),
                idx: WeightedIndex::new(h.iter().map(|x| x.1))
                    .map_err(|e| Error::Usage(e.to_string()))?,
            },
        })
    }

    #[inline]
    fn draw(&self, r: &mut Pcg64) -> u32 {
        match self {
            &TokenDraw::LogNormal { mu, sigma, max } => {
                let z: f64 = rand_distr::StandardNormal.sample(r);
                // exp may overflow to +inf, which the clamp maps to max.
                (mu + sigma * z).exp().round().clamp(1.0, max as f64) as u32
            }
            TokenDraw::Hist { values, idx } => values[idx.sample(r)],
        }
    }
}

/// The model and batch draws of one segment.
struct Mix {
    /// Index into the interned names of each of the segment's models.
    model_of: Vec<u32>,
    model_idx: WeightedIndex<f64>,
    batch_values: Vec<u32>,
    batch_idx: WeightedIndex<f64>,
}

/// The most queries a trace may hold (the engine indexes queries with 32 bits).
pub const MAX_QUERIES: u64 = u32::MAX as u64 - 1;

/// Generate a trace (arrival times on whole microseconds, as the Parquet schema stores them).
pub fn generate(cfg: &GenConfig) -> Result<Trace> {
    generate_varying(cfg, &Variation::default())
}

/// Generate a trace whose rate and mix vary over time ([`super::vary`]); with a stationary
/// `var` this is [`generate`], draw for draw.
pub fn generate_varying(cfg: &GenConfig, var: &Variation) -> Result<Trace> {
    let mut rows: Vec<(u64, u32, u32)> =
        Vec::with_capacity(cfg.queries.unwrap_or(0).min(1 << 26) as usize);
    let names = generate_rows(cfg, var, true, |a, m, b| {
        rows.push((a, m, b));
        Ok(())
    })?;
    Ok(Trace::from_rows(
        rows.iter()
            .map(|&(a, m, b)| (a, names[m as usize].as_str(), b)),
    ))
}

/// Generate the rows of a trace one by one into `emit(arrival_ns, model, batch)` (in arrival
/// order; `model` indexes the returned names: the `--model`s, then each segment's), draw for
/// draw the rows of [`generate_varying`]. `in_memory`: refuse a trace that would not fit
/// memory (the caller holds the rows).
pub fn generate_rows(
    cfg: &GenConfig,
    var: &Variation,
    in_memory: bool,
    mut emit: impl FnMut(u64, u32, u32) -> Result<()>,
) -> Result<Vec<String>> {
    generate_rows_with(cfg, var, None, in_memory, |a, m, b, _| emit(a, m, b))
}

/// Generate the rows of an LLM trace into `emit(arrival_ns, model, (prompt, output))`, each of
/// batch 1 (as [`generate_rows`], with the token laws `llm`).
pub fn generate_llm_rows(
    cfg: &GenConfig,
    var: &Variation,
    llm: &LlmLaws,
    in_memory: bool,
    mut emit: impl FnMut(u64, u32, (u32, u32)) -> Result<()>,
) -> Result<Vec<String>> {
    generate_rows_with(cfg, var, Some(llm), in_memory, |a, m, _, tk| {
        emit(a, m, tk.expect("an LLM row"))
    })
}

/// Generate an LLM trace in memory: [`generate_varying`]'s arrivals and models, batch 1, and
/// prompt and output lengths drawn from `llm`.
pub fn generate_llm(cfg: &GenConfig, var: &Variation, llm: &LlmLaws) -> Result<Trace> {
    let mut rows: Vec<(u64, u32, (u32, u32))> =
        Vec::with_capacity(cfg.queries.unwrap_or(0).min(1 << 26) as usize);
    let names = generate_llm_rows(cfg, var, llm, true, |a, m, tk| {
        rows.push((a, m, tk));
        Ok(())
    })?;
    Ok(Trace::from_llm_rows(rows.iter().map(|&(a, m, (p, o))| {
        (a, names[m as usize].as_str(), p, o)
    })))
}

fn generate_rows_with(
    cfg: &GenConfig,
    var: &Variation,
    llm: Option<&LlmLaws>,
    in_memory: bool,
    mut emit: impl FnMut(u64, u32, u32, Option<(u32, u32)>) -> Result<()>,
) -> Result<Vec<String>> {
    var.check()?;
    let stationary = var.is_stationary();
    if !(cfg.rate.is_finite() && cfg.rate > 0.0) {
        return Err(Error::Usage(format!(
            "--rate must be > 0 queries/s, got {}",
            crate::error::num(cfg.rate)
        )));
    }
    if cfg.queries == Some(0) {
        return Err(Error::Usage(
            "--queries must be at least 1 (a trace without rows cannot be replayed)".into(),
        ));
    }
    if cfg.queries.is_none() && cfg.duration_s.is_none() {
        return Err(Error::Usage("give --queries or --duration".into()));
    }
    // What the trace will hold: bounded by the engine's query index and by memory.
    let expected = match (cfg.queries, cfg.duration_s) {
        (Some(q), _) => q as f64,
        (None, Some(d)) if stationary => cfg.rate * d,
        (None, Some(d)) if d.is_finite() && d > 0.0 => Clock::cumulative(var, cfg.rate, d),
        (None, Some(_)) => 0.0,
        (None, None) => 0.0,
    };
    if expected > MAX_QUERIES as f64 {
        return Err(Error::Usage(format!(
            "the trace would hold about {expected:.3e} queries; at most {MAX_QUERIES} (lower --queries, --duration or --rate)"
        )));
    }
    if in_memory {
        let per_row = if llm.is_some() { 32.0 } else { 24.0 };
        crate::io::check_memory((expected * per_row) as u64, "the generated trace")?;
    }
    if let Some(d) = cfg.duration_s
        && !(d.is_finite() && d > 0.0)
    {
        return Err(Error::Usage(format!(
            "--duration must be > 0 s, got {}",
            crate::error::num(d)
        )));
    }
    if cfg.models.is_empty() {
        return Err(Error::Usage("give at least one --model".into()));
    }
    // The mix of each segment (one without segments): model names are interned in order of
    // first mention (the `--model`s, then each segment's).
    let names = model_names(cfg, var);
    // Per model (indexed as `names`): its prompt and output samplers.
    let mut token_draws: Vec<(TokenDraw, TokenDraw)> = Vec::new();
    if let Some(l) = llm {
        for (flag, laws) in [("--prompt-law", &l.prompt), ("--output-law", &l.output)] {
            if let Some((m, _)) = laws.per_model.iter().find(|(m, _)| !names.contains(m)) {
                return Err(Error::Usage(format!(
                    "{flag} names the model '{m}', which the trace does not have (its models: {})",
                    names.join(", ")
                )));
            }
        }
        if var.segments.iter().any(|s| s.batch.is_some()) {
            return Err(Error::Usage(
                "an LLM trace's requests are of batch 1: its segments cannot set a batch law"
                    .into(),
            ));
        }
        for m in &names {
            token_draws.push((
                TokenDraw::new(l.prompt.of(m))?,
                TokenDraw::new(l.output.of(m))?,
            ));
        }
    }
    let mut mixes = Vec::new();
    let default_seg = [super::vary::Segment {
        start_s: 0.0,
        rate: None,
        models: None,
        batch: None,
    }];
    let segs: &[super::vary::Segment] = if var.segments.is_empty() {
        &default_seg
    } else {
        &var.segments
    };
    for s in segs {
        let models = s.models.as_ref().unwrap_or(&cfg.models);
        let pmf = s.batch.as_ref().unwrap_or(&cfg.batch).pmf()?;
        let model_of: Vec<u32> = models
            .iter()
            .map(|(m, _)| names.iter().position(|n| n == m).expect("interned") as u32)
            .collect();
        mixes.push(Mix {
            model_of,
            model_idx: WeightedIndex::new(models.iter().map(|x| x.1))
                .map_err(|e| Error::Usage(e.to_string()))?,
            batch_values: pmf.iter().map(|x| x.0).collect(),
            batch_idx: WeightedIndex::new(pmf.iter().map(|x| x.1))
                .map_err(|e| Error::Usage(e.to_string()))?,
        });
    }
    // Stationary: arrivals at the rate itself; varying: at unit rate in operational time,
    // mapped to real time by the clock.
    let op_rate = if stationary { cfg.rate } else { 1.0 };
    let mut clock = Clock::new(var, cfg.rate);
    let (mut r_arr, mut r_mod, mut r_bat, mut r_state) = (
        stream(cfg.seed, ARRIVALS),
        stream(cfg.seed, MODELS),
        stream(cfg.seed, BATCHES),
        stream(cfg.seed, MMPP_STATE),
    );
    let (mut r_prompt, mut r_output) = (stream(cfg.seed, PROMPTS), stream(cfg.seed, OUTPUTS));

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
        Arrivals::Poisson => Gap::Exp(Exp::new(op_rate).expect("rate > 0")),
        Arrivals::Gamma { cv } => {
            if !(cv.is_finite() && cv > 0.0) {
                return Err(Error::Usage(format!(
                    "--cv must be > 0, got {}",
                    crate::error::num(cv)
                )));
            }
            let shape = 1.0 / (cv * cv);
            Gap::Gamma(
                Gamma::new(shape, 1.0 / (op_rate * shape))
                    .map_err(|e| Error::Usage(e.to_string()))?,
            )
        }
        Arrivals::Mmpp { ratio, dwell_s } => {
            if !(ratio.is_finite() && ratio >= 1.0 && dwell_s.is_finite() && dwell_s > 0.0) {
                return Err(Error::Usage(format!(
                    "MMPP needs --burst-ratio >= 1 and --burst-dwell > 0 s (got {ratio}, {dwell_s})"
                )));
            }
            let lo = 2.0 * op_rate / (1.0 + ratio);
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
    let mut made = 0u64;
    while made < cap {
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
        let real = if stationary { t } else { clock.time_of(t) };
        if real >= horizon {
            break;
        }
        if real * 1e9 > crate::trace::MAX_TIME_NS as f64 {
            return Err(Error::Usage(format!(
                "the trace runs past {:.3e} s (2^62 ns) of simulated time at query {}; raise --rate",
                crate::trace::MAX_TIME_NS as f64 / 1e9,
                made
            )));
        }
        let us = (real * 1e6).round() as u64;
        let mix = &mixes[if stationary { 0 } else { var.segment_at(real) }];
        let m = mix.model_of[mix.model_idx.sample(&mut r_mod)];
        if llm.is_some() {
            let (p, o) = &token_draws[m as usize];
            let tk = (p.draw(&mut r_prompt), o.draw(&mut r_output));
            emit(us * 1000, m, 1, Some(tk))?;
        } else {
            let b = mix.batch_values[mix.batch_idx.sample(&mut r_bat)];
            emit(us * 1000, m, b, None)?;
        }
        made += 1;
    }
    if made < cap && cfg.duration_s.is_none() {
        // The intensity fell to 0 for good (a rate shape ending in 0, without a period).
        return Err(Error::Usage(format!(
            "only {made} of the {cap} queries asked for arrive: the rate shape's last multiplier is 0 and it does not repeat, so arrivals stop; end the shape with a multiplier > 0, give --shape-period, or give --duration instead"
        )));
    }
    if made == 0 {
        return Err(Error::Usage(format!(
            "no query arrives within --duration {} s (about {expected:.3e} expected); raise --rate, the multipliers or --duration",
            crate::error::num(horizon)
        )));
    }
    Ok(names)
}

/// The model names of a generated trace, in the order its rows index them: the `--model`s,
/// then each segment's new ones.
pub fn model_names(cfg: &GenConfig, var: &Variation) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let segment_models = var.segments.iter().flat_map(|s| s.models.iter().flatten());
    for m in cfg.models.iter().chain(segment_models).map(|m| &m.0) {
        if !names.contains(m) {
            names.push(m.clone());
        }
    }
    names
}

/// Generate a trace straight into a Parquet file at `path`, a million rows at a time, never
/// holding it whole (`trace gen --stream`): the same rows as [`generate_varying`], the same
/// schema; the model dictionary lists every model named, in the order named. Returns the rows
/// written.
pub fn generate_to_file(cfg: &GenConfig, var: &Variation, path: &std::path::Path) -> Result<u64> {
    generate_to_file_with(cfg, var, None, path)
}

/// [`generate_to_file`], of an LLM trace when `llm` is given (the rows of [`generate_llm`]).
pub fn generate_to_file_with(
    cfg: &GenConfig,
    var: &Variation,
    llm: Option<&LlmLaws>,
    path: &std::path::Path,
) -> Result<u64> {
    const CHUNK: usize = 1 << 20;
    let mut w: Option<crate::trace::TraceWriter> = None;
    let mut chunk = Trace::default();
    let mut rows = 0u64;
    chunk.models = model_names(cfg, var);
    if llm.is_some() {
        chunk.tokens = Some(crate::trace::Tokens::default());
    }
    let mut flush = |chunk: &mut Trace| -> Result<()> {
        if w.is_none() {
            w = Some(crate::trace::TraceWriter::create(path, false)?);
        }
        w.as_mut().expect("created").write(chunk)?;
        chunk.arrival_ns.clear();
        chunk.model.clear();
        chunk.batch.clear();
        if let Some(tk) = &mut chunk.tokens {
            tk.prompt.clear();
            tk.output.clear();
        }
        Ok(())
    };
    generate_rows_with(cfg, var, llm, false, |a, m, b, tk| {
        chunk.arrival_ns.push(a);
        chunk.model.push(m);
        chunk.batch.push(b);
        if let (Some(t), Some((p, o))) = (&mut chunk.tokens, tk) {
            t.prompt.push(p);
            t.output.push(o);
        }
        rows += 1;
        if chunk.len() == CHUNK {
            flush(&mut chunk)?;
        }
        Ok(())
    })?;
    if !chunk.is_empty() || rows == 0 {
        flush(&mut chunk)?;
    }
    w.expect("written").finish()?;
    Ok(rows)
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

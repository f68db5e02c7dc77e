//! Latency-bounded throughput: the largest load a policy sustains while a latency percentile
//! stays within the SLA, the paper's main metric.
//!
//! The load is varied with the trace's rate scale k (every inter-arrival time divided by k).
//! A scale is *feasible* when, for every model, the exact `percentile`-th latency of its
//! queries (nearest rank, [`crate::stats`]) is at most that model's SLA ([`crate::sla`]; every
//! model needs one). With `pooled`, the percentile is taken over every query together and
//! compared with the one SLA all models must then share (the criterion of single-model
//! traces, and the tool's before per-model SLAs). The search brackets by doubling (or halving)
//! from k = 1, then bisects until the bracket is within `tolerance` (relative) and reports the
//! largest feasible k found. It assumes the percentile grows with the load, as it does for
//! work-conserving schedulers on a fixed layout; a partitioner that reads the trace sees it at
//! the scale being tried. A policy still feasible at the cap (k = 2^30) is reported at the cap,
//! flagged as a lower bound.

use crate::drive::replay::replay;
use crate::error::{Error, Result};
use crate::scenario::Scenario;
use crate::stats::percentile;
use crate::trace::Trace;
use serde::Serialize;

/// The largest rate scale a search tries (2^30): a policy still meeting the SLA there gets this
/// as a lower bound.
pub const MAX_SCALE: f64 = 1_073_741_824.0;

/// What to search for.
#[derive(Debug, Clone, Copy)]
pub struct PeakConfig {
    /// Latency percentile in (0, 100].
    pub percentile: f64,
    /// Relative width of the final bracket (0.01 = 1 %).
    pub tolerance: f64,
    /// One percentile over every query against one shared SLA, instead of every model's own.
    pub pooled: bool,
}

/// The narrowest bracket `peak` bisects to: below it the bracket's ends are within a few units
/// of the last place of an f64 and the bisection could not narrow it further.
pub const MIN_TOLERANCE: f64 = 1e-9;

impl PeakConfig {
    /// Check the search's settings against `trace` before any replay: a percentile in
    /// (0, 100], a tolerance in [[`MIN_TOLERANCE`], 1), and a trace of at least two queries.
    pub fn check(&self, trace: &Trace) -> Result<()> {
        if !(self.percentile > 0.0 && self.percentile <= 100.0) {
            return Err(Error::Usage(format!(
                "--percentile must be in (0, 100], got {}",
                crate::error::num(self.percentile)
            )));
        }
        if !(self.tolerance >= MIN_TOLERANCE && self.tolerance < 1.0) {
            return Err(Error::Usage(format!(
                "--tolerance must be a fraction in [{MIN_TOLERANCE:e}, 1) (0.01 = 1 %), got {}",
                crate::error::num(self.tolerance)
            )));
        }
        if trace.len() < 2 {
            return Err(Error::file(
                &trace.path,
                "a peak search needs a trace with at least two queries",
            ));
        }
        Ok(())
    }
}

/// The peak of one policy.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct PeakResult {
    pub policy: String,
    /// Largest feasible rate scale found; 0 when even a tiny load misses the SLA.
    pub rate_scale: f64,
    /// Mean offered arrival rate at that scale: (queries - 1) / arrival span.
    pub rate_qps: f64,
    pub percentile: f64,
    /// The binding model's SLA (the model closest to its SLA at the peak; `pooled`: the shared
    /// one).
    pub sla_ms: f64,
    /// The model whose percentile binds (`*` when pooled).
    #[serde(default)]
    pub binding_model: String,
    /// The binding model's percentile latency at the peak (pooled: over every query).
    pub latency_ms_at_peak: f64,
    pub utilization_at_peak: f64,
    pub throughput_qps_at_peak: f64,
    /// Replays run.
    pub tries: u32,
    /// The layout per GPU at the peak.
    pub layout: Vec<String>,
    /// The policy met the SLA at the largest scale tried ([`MAX_SCALE`]): the peak is at least
    /// this, not this.
    #[serde(default)]
    pub lower_bound: bool,
}

struct Try {
    feasible: bool,
    /// (model, its percentile ms, its SLA ms) of the binding model.
    binding: (String, f64, f64),
    utilization: f64,
    throughput_qps: f64,
    rate_qps: f64,
    layout: Vec<String>,
}

/// The SLA criterion of a replay, shared by `peak` and `plan`: every model's exact
/// `percentile`-th latency (nearest rank) at most its own SLA, or with `pooled` one percentile
/// over every query against the one SLA all models share.
#[derive(Debug, Clone)]
pub struct Criterion {
    pub percentile: f64,
    pub pooled: bool,
    /// Every trace model's SLA, ns (trace-model order).
    pub sla_ns: Vec<u64>,
}

/// How one replay fares against a [`Criterion`].
#[derive(Debug, Clone)]
pub struct Judgement {
    pub feasible: bool,
    /// The binding model: the largest percentile / SLA (ties: the first model); `*` when
    /// pooled over several models.
    pub binding_model: String,
    /// The binding percentile and its SLA, ns.
    pub binding_ns: u64,
    pub binding_sla_ns: u64,
    /// Every model's percentile, ns (`None`: no query of that model).
    pub per_model_ns: Vec<Option<u64>>,
}

impl Criterion {
    /// The criterion over the SLAs of `scenario` ([`Scenario::slas`]); every model needs one,
    /// and `pooled` needs one shared by all.
    pub fn new(scenario: &Scenario, percentile: f64, pooled: bool) -> Result<Criterion> {
        let trace = scenario.trace();
        let mut sla_ns = Vec::with_capacity(trace.models.len());
        for (m, s) in trace.models.iter().zip(scenario.slas()) {
            let s = s.as_ref().ok_or_else(|| {
                Error::Usage(format!(
                    "judging a load needs every model's SLA, and model '{m}' has none: give --sla-ms or --param sla.{m}=MS"
                ))
            })?;
            sla_ns.push(s.ns());
        }
        if pooled && sla_ns.windows(2).any(|w| w[0] != w[1]) {
            return Err(Error::Usage(
                "--pooled compares one percentile over every query with one SLA, but the models' SLAs differ; drop --pooled to judge each model by its own".into(),
            ));
        }
        Ok(Criterion {
            percentile,
            pooled,
            sla_ns,
        })
    }

    /// Judge the replay of `trace` whose queries finished at `finish_ns`; `lat` is scratch.
    pub fn judge(&self, trace: &Trace, finish_ns: &[u64], lat: &mut Vec<u64>) -> Judgement {
        let nm = trace.models.len();
        let lat_of = |q: usize| finish_ns[q] - trace.arrival_ns[q];
        // Every model's percentile over its own queries (one model: over every query).
        let per_model_ns: Vec<Option<u64>> = (0..nm)
            .map(|m| {
                lat.clear();
                lat.extend(
                    (0..trace.len())
                        .filter(|&q| nm == 1 || trace.model[q] as usize == m)
                        .map(lat_of),
                );
                percentile(lat, self.percentile)
            })
            .collect();
        let (binding_model, binding_ns, binding_sla_ns) = if self.pooled && nm > 1 {
            lat.clear();
            lat.extend((0..trace.len()).map(lat_of));
            let p = percentile(lat, self.percentile).unwrap_or(0);
            ("*".to_string(), p, self.sla_ns[0])
        } else {
            // The largest percentile / SLA (ties: the first model), compared exactly as
            // p * sla' against p' * sla.
            let mut worst: Option<(usize, u64)> = None;
            for (m, p) in per_model_ns.iter().enumerate() {
                let Some(p) = *p else {
                    continue;
                };
                let worse = worst.is_none_or(|(w, wp)| {
                    (p as u128) * (self.sla_ns[w] as u128) > (wp as u128) * (self.sla_ns[m] as u128)
                });
                if worse {
                    worst = Some((m, p));
                }
            }
            let (m, p) = worst.expect("the trace has queries");
            (trace.models[m].clone(), p, self.sla_ns[m])
        };
        Judgement {
            feasible: binding_ns <= binding_sla_ns,
            binding_model,
            binding_ns,
            binding_sla_ns,
            per_model_ns,
        }
    }
}

/// Find the peak of the policy of `scenario` (a fresh one per try) at the scenario's trace
/// scaled by each rate scale tried.
pub fn find_peak(scenario: &Scenario, cfg: &PeakConfig) -> Result<PeakResult> {
    let trace = scenario.trace();
    let name = scenario.policy().label();
    cfg.check(trace)?;
    // Every model needs an SLA to be judged; the pooled criterion needs one shared by all.
    let criterion = Criterion::new(scenario, cfg.percentile, cfg.pooled)?;
    let tries = std::cell::Cell::new(0u32);
    let mut lat = Vec::with_capacity(trace.len());
    let mut run = |k: f64| -> Result<Try> {
        tries.set(tries.get() + 1);
        let s = scenario.scaled(k)?;
        let t = s.trace();
        let r = replay(&s)?;
        crate::drive::replay::require_invariants(
            &r.invariants,
            &format!("for '{name}' at rate scale {k}"),
        )?;
        let j = criterion.judge(t, &r.records.finish_ns, &mut lat);
        Ok(Try {
            feasible: j.feasible,
            binding: (
                j.binding_model,
                j.binding_ns as f64 / 1e6,
                j.binding_sla_ns as f64 / 1e6,
            ),
            utilization: r.metrics.headline.utilization,
            throughput_qps: r.metrics.headline.throughput_qps,
            rate_qps: t.offered_rate(),
            layout: r.server.layout_names(),
        })
    };
    let result = |scale: f64, best: Try, lower_bound: bool| PeakResult {
        policy: name.to_string(),
        rate_scale: scale,
        rate_qps: if scale > 0.0 { best.rate_qps } else { 0.0 },
        percentile: cfg.percentile,
        sla_ms: best.binding.2,
        binding_model: best.binding.0,
        latency_ms_at_peak: best.binding.1,
        utilization_at_peak: if scale > 0.0 { best.utilization } else { 0.0 },
        throughput_qps_at_peak: if scale > 0.0 {
            best.throughput_qps
        } else {
            0.0
        },
        tries: tries.get(),
        layout: best.layout,
        lower_bound,
    };
    let found = search_scale(cfg.tolerance, |k| {
        let t = run(k)?;
        Ok((t.feasible, t))
    })?;
    Ok(result(found.scale, found.best, found.lower_bound))
}

/// What [`search_scale`] found.
#[derive(Debug, Clone)]
pub struct ScaleSearch<T> {
    /// The largest scale found to meet the criterion (within the tolerance); 0 when even
    /// scale 1e-6 does not.
    pub scale: f64,
    /// The figures of the try at `scale` (scale 0: of the last try, the smallest scale).
    pub best: T,
    /// The criterion held at every scale tried, up to [`MAX_SCALE`]: `scale` is a lower bound.
    pub lower_bound: bool,
    /// Tries made.
    pub tries: u32,
}

/// The search of every peak, over any criterion: `meets(k)` replays at rate scale k and says
/// whether the replay meets the criterion, with its figures. It tries k = 1, then doubles
/// (while it meets, up to [`MAX_SCALE`]) or halves (while it does not, down to 1e-6) to
/// bracket the peak, then bisects the bracket until its relative width is at most `tolerance`
/// (or its ends are adjacent floats). It assumes that meeting the criterion at k implies
/// meeting it at every smaller k.
pub fn search_scale<T>(
    tolerance: f64,
    mut meets: impl FnMut(f64) -> Result<(bool, T)>,
) -> Result<ScaleSearch<T>> {
    let tries = std::cell::Cell::new(0u32);
    let mut run = |k: f64| {
        tries.set(tries.get() + 1);
        meets(k)
    };
    let done = |scale: f64, best: T, lower_bound: bool, tries: u32| {
        Ok(ScaleSearch {
            scale,
            best,
            lower_bound,
            tries,
        })
    };
    // Bracket [lo, hi] with lo feasible and hi not.
    let (first_ok, first) = run(1.0)?;
    let (mut lo, mut hi, mut best);
    if first_ok {
        lo = 1.0;
        best = first;
        hi = 2.0;
        loop {
            if hi > MAX_SCALE {
                // Feasible at every scale tried: the cap is a lower bound.
                return done(lo, best, true, tries.get());
            }
            let (ok, t) = run(hi)?;
            if !ok {
                break;
            }
            lo = hi;
            best = t;
            hi *= 2.0;
        }
    } else {
        hi = 1.0;
        lo = 0.5;
        loop {
            let (ok, t) = run(lo)?;
            if ok {
                best = t;
                break;
            }
            hi = lo;
            lo /= 2.0;
            if lo < 1e-6 {
                // Not even an almost idle server meets the SLA.
                return done(0.0, t, false, tries.get());
            }
        }
    }
    while (hi - lo) / lo > tolerance {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            // The ends are adjacent floats (a tolerance below MIN_TOLERANCE): no narrower.
            break;
        }
        let (ok, t) = run(mid)?;
        if ok {
            lo = mid;
            best = t;
        } else {
            hi = mid;
        }
    }
    done(lo, best, false, tries.get())
}

//! Latency-bounded throughput: the largest load a policy sustains while a latency percentile
//! stays within the SLA, the paper's main metric.
//!
//! The load is varied with the trace's rate scale k (every inter-arrival time divided by k).
//! A scale is *feasible* when the exact `percentile`-th latency (nearest rank over every query)
//! is at most the SLA. The search brackets by doubling (or halving) from k = 1, then bisects
//! until the bracket is within `tolerance` (relative) and reports the largest feasible k found.
//! It assumes the percentile grows with the load, as it does for work-conserving schedulers on
//! a fixed layout; a partitioner that reads the trace sees it at the scale being tried.

use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::policy::Policy;
use crate::profile::Profiles;
use crate::replay::replay;
use crate::service::ServiceModel;
use crate::stats::percentile;
use crate::trace::Trace;
use serde::Serialize;

/// What to search for.
#[derive(Debug, Clone, Copy)]
pub struct PeakConfig {
    /// Latency percentile in (0, 100].
    pub percentile: f64,
    pub sla_ms: f64,
    /// Relative width of the final bracket (0.01 = 1 %).
    pub tolerance: f64,
}

impl PeakConfig {
    /// Check the search's settings against `trace` before any replay: a percentile in
    /// (0, 100], a positive SLA, a tolerance in (0, 1), and a trace of at least two queries.
    pub fn check(&self, trace: &Trace) -> Result<()> {
        if !(self.percentile > 0.0 && self.percentile <= 100.0) {
            return Err(Error::Usage(format!(
                "--percentile must be in (0, 100], got {}",
                self.percentile
            )));
        }
        if !(self.sla_ms.is_finite() && self.sla_ms > 0.0) {
            return Err(Error::Usage(format!(
                "--sla-ms must be a positive number, got {}",
                self.sla_ms
            )));
        }
        if !(self.tolerance > 0.0 && self.tolerance < 1.0) {
            return Err(Error::Usage(format!(
                "--tolerance must be a fraction in (0, 1) (0.01 = 1 %), got {}",
                self.tolerance
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
    pub sla_ms: f64,
    /// The percentile's latency at the peak.
    pub latency_ms_at_peak: f64,
    pub utilization_at_peak: f64,
    pub throughput_qps_at_peak: f64,
    /// Replays run.
    pub tries: u32,
    /// The layout per GPU at the peak.
    pub layout: Vec<String>,
}

struct Try {
    feasible: bool,
    latency_ms: f64,
    utilization: f64,
    throughput_qps: f64,
    rate_qps: f64,
    layout: Vec<String>,
}

/// Find the peak of the policy that `make_policy` builds (a fresh one per try), under the
/// service model `service`.
#[allow(clippy::too_many_arguments)]
pub fn find_peak(
    trace: &Trace,
    profiles: &Profiles,
    gpu: &GpuSpec,
    gpus: usize,
    name: &str,
    make_policy: &dyn Fn() -> Result<Policy>,
    service: &ServiceModel,
    cfg: &PeakConfig,
) -> Result<PeakResult> {
    cfg.check(trace)?;
    let tries = std::cell::Cell::new(0u32);
    let mut lat = Vec::with_capacity(trace.len());
    let mut run = |k: f64| -> Result<Try> {
        tries.set(tries.get() + 1);
        let mut t = trace.clone();
        t.scale_rate(k)?;
        let mut policy = make_policy()?;
        let r = replay(
            &t,
            profiles,
            gpu,
            gpus,
            &mut policy,
            service,
            Some(cfg.sla_ms),
        )?;
        if !r.invariants.all_ok() {
            return Err(Error::Other(format!(
                "simulator invariants violated for '{name}' at rate scale {k}"
            )));
        }
        lat.clear();
        lat.extend(
            r.records
                .finish_ns
                .iter()
                .zip(&t.arrival_ns)
                .map(|(f, a)| f - a),
        );
        let p = percentile(&mut lat, cfg.percentile).unwrap_or(0) as f64 / 1e6;
        Ok(Try {
            feasible: p <= cfg.sla_ms,
            latency_ms: p,
            utilization: r.metrics.headline.utilization,
            throughput_qps: r.metrics.headline.throughput_qps,
            rate_qps: t.offered_rate(),
            layout: r.server.layout_names(),
        })
    };
    // Bracket [lo, hi] with lo feasible and hi not.
    let first = run(1.0)?;
    let (mut lo, mut hi, mut best);
    if first.feasible {
        lo = 1.0;
        best = first;
        hi = 2.0;
        loop {
            let t = run(hi)?;
            if !t.feasible {
                break;
            }
            lo = hi;
            best = t;
            hi *= 2.0;
            if hi > 1e9 {
                return Err(Error::Usage(format!(
                    "'{name}' meets the SLA at every rate scale up to 1e9: the SLA does not bind"
                )));
            }
        }
    } else {
        hi = 1.0;
        lo = 0.5;
        loop {
            let t = run(lo)?;
            if t.feasible {
                best = t;
                break;
            }
            hi = lo;
            lo /= 2.0;
            if lo < 1e-6 {
                // Not even an almost idle server meets the SLA.
                return Ok(PeakResult {
                    policy: name.to_string(),
                    rate_scale: 0.0,
                    rate_qps: 0.0,
                    percentile: cfg.percentile,
                    sla_ms: cfg.sla_ms,
                    latency_ms_at_peak: t.latency_ms,
                    utilization_at_peak: 0.0,
                    throughput_qps_at_peak: 0.0,
                    tries: tries.get(),
                    layout: t.layout,
                });
            }
        }
    }
    while (hi - lo) / lo > cfg.tolerance {
        let mid = 0.5 * (lo + hi);
        let t = run(mid)?;
        if t.feasible {
            lo = mid;
            best = t;
        } else {
            hi = mid;
        }
    }
    Ok(PeakResult {
        policy: name.to_string(),
        rate_scale: lo,
        rate_qps: best.rate_qps,
        percentile: cfg.percentile,
        sla_ms: cfg.sla_ms,
        latency_ms_at_peak: best.latency_ms,
        utilization_at_peak: best.utilization,
        throughput_qps_at_peak: best.throughput_qps,
        tries: tries.get(),
        layout: best.layout,
    })
}

//! Metrics of a replay: latency (finish - arrival) and queueing delay (start - arrival)
//! distributions, SLA violations, throughput and GPC-weighted utilization ([`compute`]), and
//! the figures derived from the per-query records for plots ([`derived`]: the latency CDF, the
//! busy and batch-by-slice heat maps).
//!
//! Percentiles come from an HdrHistogram with 3 significant digits (each reported percentile is
//! within 0.1% of the exact order statistic); the mean and the maximum are exact ([`dist`]).
//! The replay window runs from the first arrival to the last completion; `duration_s`,
//! `throughput_qps`, the utilization and the per-instance busy fractions all use that window.
//!
//! **One definition per figure.** [`Metrics`] serializes itself into a run's `summary.json`,
//! and its [`Headline`], the figures every run has, flattens into a sweep's `results.parquet`
//! row: a new per-run figure is one field of [`Headline`] plus its computation in [`compute`].

pub mod derived;
pub mod dist;

pub use dist::{Dist, DistBuilder};

use crate::engine::Records;
use crate::server::Server;
use crate::trace::Trace;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;

/// The figures of one run that `summary.json` and every `results.parquet` row carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Headline {
    pub queries: u64,
    pub duration_s: f64,
    pub throughput_qps: f64,
    /// Latency: `mean_ms`, `p50_ms` ... `max_ms`.
    #[serde(flatten)]
    pub latency: Dist,
    pub queue_mean_ms: f64,
    pub queue_p99_ms: f64,
    /// Fraction of queries whose latency exceeds the SLA (when one is given).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sla_violation_rate: Option<f64>,
    /// GPC-weighted busy time over all physical GPCs of the server.
    pub utilization: f64,
    /// Queries whose service time was extrapolated beyond the profiled batches.
    pub extrapolated: u64,
}

/// Per-model figures.
#[derive(Debug, Clone, Serialize)]
pub struct ModelStats {
    pub queries: u64,
    #[serde(flatten)]
    pub latency: Dist,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_violation_rate: Option<f64>,
}

/// One instance's figures.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceStats {
    pub gpu: u32,
    pub slice: String,
    pub start: u8,
    pub queries: u64,
    pub busy_fraction: f64,
}

/// Everything the metrics step computes, as `summary.json` records it.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    #[serde(flatten)]
    pub headline: Headline,
    /// The whole queueing-delay distribution: `queue_p50_ms`, `queue_p90_ms`, `queue_p95_ms`,
    /// `queue_p999_ms` and `queue_max_ms` (its mean and p99 are headline figures).
    #[serde(flatten, serialize_with = "queue_tail")]
    pub queue: Dist,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_ms: Option<f64>,
    pub instances: Vec<InstanceStats>,
    pub per_model: BTreeMap<String, ModelStats>,
    /// When the run is not exact (noise or batching): how far the estimates were off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimates: Option<EstimateStats>,
    /// With batching: how queries merged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batches: Option<BatchStats>,
}

/// The queueing figures that are not headline figures, named `queue_*`.
fn queue_tail<S: Serializer>(d: &Dist, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(5))?;
    m.serialize_entry("queue_p50_ms", &d.p50_ms)?;
    m.serialize_entry("queue_p90_ms", &d.p90_ms)?;
    m.serialize_entry("queue_p95_ms", &d.p95_ms)?;
    m.serialize_entry("queue_p999_ms", &d.p999_ms)?;
    m.serialize_entry("queue_max_ms", &d.max_ms)?;
    m.end()
}

/// The error of the completion estimates the scheduler could make (see [`crate::engine`]):
/// |true completion - estimated completion| over all queries.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EstimateStats {
    pub abs_error_mean_ms: f64,
    pub abs_error_p50_ms: f64,
    pub abs_error_p99_ms: f64,
    pub abs_error_max_ms: f64,
    /// Fraction of queries that finished later than estimated.
    pub late_fraction: f64,
    /// Batches whose noise used the `profile:cv=X` fallback (no std in the profile).
    pub noise_fallback_batches: u64,
}

/// Dynamic-batching figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BatchStats {
    pub batches: u64,
    /// Mean queries per batch.
    pub mean_queries: f64,
    /// Mean summed batch size per batch.
    pub mean_size: f64,
    pub max_size: u32,
}

/// Compute the metrics of a finished replay.
pub fn compute(trace: &Trace, server: &Server, rec: &Records, sla_ms: Option<f64>) -> Metrics {
    let n = trace.len();
    let t0 = trace.arrival_ns.first().copied().unwrap_or(0);
    let t1 = rec.finish_ns.iter().copied().max().unwrap_or(t0);
    let window = (t1 - t0).max(1);
    let sla_ns = sla_ms.map(|s| (s * 1e6).round() as u64);
    let mut lat = DistBuilder::default();
    let mut queue = DistBuilder::default();
    // With one model, its distribution is the overall one: not recorded twice.
    let single = trace.models.len() == 1;
    let mut per_model: Vec<DistBuilder> = trace
        .models
        .iter()
        .take(if single { 0 } else { trace.models.len() })
        .map(|_| DistBuilder::default())
        .collect();
    let mut model_viol = vec![0u64; trace.models.len()];
    let mut viol = 0u64;
    let mut inst_q = vec![0u64; server.instances.len()];
    for q in 0..n {
        let a = trace.arrival_ns[q];
        let l = rec.finish_ns[q] - a;
        lat.record(l);
        queue.record(rec.start_ns[q] - a);
        let m = trace.model[q] as usize;
        if !single {
            per_model[m].record(l);
        }
        if let Some(s) = sla_ns
            && l > s
        {
            viol += 1;
            model_viol[m] += 1;
        }
        inst_q[rec.instance[q] as usize] += 1;
    }
    let busy_gpc: u128 = server
        .instances
        .iter()
        .zip(&rec.busy_ns)
        .map(|(i, &b)| b as u128 * i.gpcs as u128)
        .sum();
    let instances = server
        .instances
        .iter()
        .enumerate()
        .map(|(k, i)| InstanceStats {
            gpu: i.gpu,
            slice: server.gpu.profiles[i.slice].name.to_string(),
            start: i.start,
            queries: inst_q[k],
            busy_fraction: rec.busy_ns[k] as f64 / window as f64,
        })
        .collect();
    let per_model = trace
        .models
        .iter()
        .enumerate()
        .filter(|(m, _)| single || per_model[*m].count() > 0)
        .map(|(m, name)| {
            let d = if single { &lat } else { &per_model[m] };
            let c = d.count();
            (
                name.clone(),
                ModelStats {
                    queries: c,
                    latency: d.finish(),
                    sla_violation_rate: sla_ns.map(|_| model_viol[m] as f64 / c as f64),
                },
            )
        })
        .collect();
    let queue = queue.finish();
    Metrics {
        headline: Headline {
            queries: n as u64,
            duration_s: window as f64 / 1e9,
            throughput_qps: n as f64 / (window as f64 / 1e9),
            latency: lat.finish(),
            queue_mean_ms: queue.mean_ms,
            queue_p99_ms: queue.p99_ms,
            sla_violation_rate: sla_ns.map(|_| if n == 0 { 0.0 } else { viol as f64 / n as f64 }),
            utilization: busy_gpc as f64 / (server.total_gpcs() as u128 * window as u128) as f64,
            extrapolated: rec.extrapolated,
        },
        queue,
        sla_ms,
        instances,
        per_model,
        estimates: (!rec.est_done_ns.is_empty()).then(|| {
            let mut err = DistBuilder::default();
            let mut late = 0u64;
            for (&f, &e) in rec.finish_ns.iter().zip(&rec.est_done_ns) {
                err.record(f.abs_diff(e));
                late += (f > e) as u64;
            }
            let d = err.finish();
            EstimateStats {
                abs_error_mean_ms: d.mean_ms,
                abs_error_p50_ms: d.p50_ms,
                abs_error_p99_ms: d.p99_ms,
                abs_error_max_ms: d.max_ms,
                late_fraction: late as f64 / n.max(1) as f64,
                noise_fallback_batches: rec.noise_fallback,
            }
        }),
        batches: (!rec.batch_id.is_empty()).then(|| {
            let nb = rec.batch_size.len().max(1) as f64;
            BatchStats {
                batches: rec.batch_size.len() as u64,
                mean_queries: n as f64 / nb,
                mean_size: rec.batch_size.iter().map(|&b| b as f64).sum::<f64>() / nb,
                max_size: rec.batch_size.iter().copied().max().unwrap_or(0),
            }
        }),
    }
}

//! Metrics of a replay: latency (finish - arrival) and queueing delay (start - arrival)
//! distributions, SLA violations, throughput and GPC-weighted utilization, with the end-of-run
//! invariant checks ([`compute`]; both counted chunk by chunk by one [`Accumulator`], whole
//! records or a streamed replay's row groups), and
//! the figures derived from the per-query records for plots ([`derived`]: the latency CDF, the
//! busy and batch-by-slice heat maps).
//!
//! Every figure is exact: percentiles are nearest-rank order statistics over every query
//! ([`exact`], [`crate::stats::nearest_rank`]); the mean and the maximum are exact. Every query is judged
//! against its own model's SLA ([`crate::sla`]): the violation rate and attainment count the
//! queries of models that have an SLA; goodput (queries/s that met their SLA over the window)
//! is reported when every model has one.
//! The replay window runs from the first arrival to the last completion; `duration_s`,
//! `throughput_qps`, the utilization and the per-instance busy fractions all use that window.
//!
//! **One definition per figure.** [`Metrics`] serializes itself into a run's `summary.json`,
//! and its [`Headline`], the figures every run has, flattens into a sweep's `results.parquet`
//! row: a new per-run figure is one field of [`Headline`] plus its count in [`Accumulator`].

mod accumulate;
pub mod derived;
pub mod exact;
pub mod llm;
pub mod timeline;

pub use crate::stats::dist::Dist;
pub use accumulate::{Accumulator, Chunk};

use crate::engine::{Invariants, Records};
use crate::error::Result;
use crate::server::Server;
use crate::service::BatchRule;
use crate::sla::ModelSla;
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
    /// Fraction of the judged queries (those of models with an SLA) whose latency exceeds
    /// their own model's SLA; absent when no model has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sla_violation_rate: Option<f64>,
    /// Fraction of the judged queries that met their model's SLA (1 - the violation rate).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sla_attainment: Option<f64>,
    /// Queries that met their model's SLA per second of the replay window; absent unless every
    /// model has an SLA.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goodput_qps: Option<f64>,
    /// GPC-weighted busy time over all physical GPCs of the server.
    pub utilization: f64,
    /// Queries whose service time was extrapolated beyond the profiled batches.
    pub extrapolated: u64,
}

/// Per-model figures, judged against the model's own SLA.
#[derive(Debug, Clone, Serialize)]
pub struct ModelStats {
    pub queries: u64,
    #[serde(flatten)]
    pub latency: Dist,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_violation_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput_qps: Option<f64>,
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
    /// The SLA of every model that has one, with its source: the one every query is judged by.
    pub sla: Vec<ModelSla>,
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

/// What the metrics are computed from, however the records were read: counts, the exact
/// distributions and the replay window's ends, as the [`Accumulator`] gathers them; [`assemble`]
/// turns them into [`Metrics`].
#[derive(Debug, Clone)]
struct Parts {
    queries: u64,
    /// The first arrival and the last completion, ns.
    t0: u64,
    t1: u64,
    /// Queries per model, and those within their model's SLA.
    count: Vec<u64>,
    good: Vec<u64>,
    /// Queries per instance.
    inst_q: Vec<u64>,
    latency: Dist,
    /// Per model (empty with a single model, whose figures are `latency`).
    per_model: Vec<Dist>,
    queue: Dist,
    /// When the run is not exact: the estimate-error distribution and the queries that
    /// finished later than estimated.
    estimates: Option<(Dist, u64)>,
    /// With batching: batches, their summed sizes (added in batch-id order) and the largest.
    batches: Option<(u64, f64, u32)>,
}

/// The metrics and the invariants of a finished in-memory replay: its records are one chunk
/// of the [`Accumulator`]. `slas` holds the SLA of every trace model (trace-model order; `None`
/// where a model has none), `rules` the batching rule of every model (empty: no batching).
pub fn compute(
    trace: &Trace,
    server: &Server,
    rec: &Records,
    slas: &[Option<ModelSla>],
    rules: &[BatchRule],
) -> Result<(Metrics, Invariants)> {
    let chunk = Chunk::of_replay(trace, rec);
    let mut acc = Accumulator::new(
        trace.models.len(),
        slas,
        server,
        rules,
        !rec.est_done_ns.is_empty(),
        None,
    )?;
    acc.add(&chunk)?;
    acc.finish(
        trace.len() as u64,
        &trace.models,
        server,
        rec,
        slas,
        &[chunk],
    )
}

/// The SLA of every model in ns (`None`: no SLA).
fn sla_ns(slas: &[Option<ModelSla>], models: usize) -> Vec<Option<u64>> {
    (0..models)
        .map(|m| slas.get(m).and_then(|s| s.as_ref()).map(ModelSla::ns))
        .collect()
}

/// The metrics from their parts; `rec` gives the busy time of every instance and the counters
/// (extrapolated queries, noise fallbacks), not its per-query records.
fn assemble(
    p: Parts,
    models: &[String],
    server: &Server,
    rec: &Records,
    slas: &[Option<ModelSla>],
) -> Metrics {
    let nm = models.len();
    let n = p.queries;
    let window = (p.t1 - p.t0).max(1);
    let window_s = window as f64 / 1e9;
    let sla_ns = sla_ns(slas, nm);
    let (count, good) = (&p.count, &p.good);
    let judged: u64 = (0..nm)
        .filter(|&m| sla_ns[m].is_some())
        .map(|m| count[m])
        .sum();
    let met: u64 = good.iter().sum();
    let all_judged = sla_ns.iter().all(Option::is_some);
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
            queries: p.inst_q[k],
            busy_fraction: rec.busy_ns[k] as f64 / window as f64,
        })
        .collect();
    let per_model = models
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let c = count[m];
            (
                name.clone(),
                ModelStats {
                    queries: c,
                    latency: if nm == 1 {
                        p.latency.clone()
                    } else {
                        p.per_model[m].clone()
                    },
                    sla_ms: slas.get(m).and_then(|s| s.as_ref()).map(|s| s.sla_ms),
                    sla_violation_rate: sla_ns[m].map(|_| (c - good[m]) as f64 / c.max(1) as f64),
                    goodput_qps: sla_ns[m].map(|_| good[m] as f64 / window_s),
                },
            )
        })
        .collect();
    let violation = (judged > 0).then(|| (judged - met) as f64 / judged as f64);
    Metrics {
        headline: Headline {
            queries: n,
            duration_s: window_s,
            throughput_qps: n as f64 / window_s,
            latency: p.latency,
            queue_mean_ms: p.queue.mean_ms,
            queue_p99_ms: p.queue.p99_ms,
            sla_violation_rate: violation,
            sla_attainment: violation.map(|v| 1.0 - v),
            goodput_qps: all_judged.then(|| met as f64 / window_s),
            utilization: busy_gpc as f64 / (server.total_gpcs() as u128 * window as u128) as f64,
            extrapolated: rec.extrapolated,
        },
        queue: p.queue,
        sla: slas.iter().flatten().cloned().collect(),
        instances,
        per_model,
        estimates: p.estimates.map(|(d, late)| EstimateStats {
            abs_error_mean_ms: d.mean_ms,
            abs_error_p50_ms: d.p50_ms,
            abs_error_p99_ms: d.p99_ms,
            abs_error_max_ms: d.max_ms,
            late_fraction: late as f64 / n.max(1) as f64,
            noise_fallback_batches: rec.noise_fallback,
        }),
        batches: p.batches.map(|(count, sum, max)| {
            let nb = count.max(1) as f64;
            BatchStats {
                batches: count,
                mean_queries: n as f64 / nb,
                mean_size: sum / nb,
                max_size: max,
            }
        }),
    }
}

//! Outputs. For one run: `summary.json` (machine-readable figures) and `queries.parquet` (one
//! row per query, exact), both written atomically, plus the short terminal summary. For a
//! sweep ([`bench`]): `results.parquet`, `peaks.parquet`, `summary.json` with the verdict,
//! the plots and the self-contained `index.html` ([`html`]).

pub mod bench;
pub mod html;
pub mod queries;

pub use queries::{QUERIES_ROW_GROUP, QueriesWriter, write_queries, write_queries_in_groups};

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::metrics::{BatchStats, Dist, EstimateStats, InstanceStats, ModelStats};
use crate::replay::Replay;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Queueing-delay figures, named with a `queue_` prefix in `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct QueueDist {
    pub queue_mean_ms: f64,
    pub queue_p50_ms: f64,
    pub queue_p90_ms: f64,
    pub queue_p95_ms: f64,
    pub queue_p99_ms: f64,
    pub queue_p999_ms: f64,
    pub queue_max_ms: f64,
}

impl From<&Dist> for QueueDist {
    fn from(d: &Dist) -> Self {
        QueueDist {
            queue_mean_ms: d.mean_ms,
            queue_p50_ms: d.p50_ms,
            queue_p90_ms: d.p90_ms,
            queue_p95_ms: d.p95_ms,
            queue_p99_ms: d.p99_ms,
            queue_p999_ms: d.p999_ms,
            queue_max_ms: d.max_ms,
        }
    }
}

/// An input file and its sha256.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    pub path: String,
    pub sha256: String,
}

/// The service model of a run that is not exact.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceSummary {
    pub noise: String,
    pub seed: u64,
    /// With batching: max_batch and max_delay_us per model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batching: Option<BTreeMap<String, BatchRuleSummary>>,
}

/// One model's batcher.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRuleSummary {
    pub max_batch: u32,
    pub max_delay_us: f64,
}

impl ServiceSummary {
    fn of(r: &Replay, models: &[String]) -> Option<ServiceSummary> {
        (!r.service.is_exact()).then(|| ServiceSummary {
            noise: r.service.noise.to_string(),
            seed: r.service.seed,
            batching: (!r.batch_rules.is_empty()).then(|| {
                models
                    .iter()
                    .zip(&r.batch_rules)
                    .map(|(m, b)| {
                        (
                            m.clone(),
                            BatchRuleSummary {
                                max_batch: b.max_batch,
                                max_delay_us: b.max_delay_ns as f64 / 1e3,
                            },
                        )
                    })
                    .collect()
            }),
        })
    }
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub policy: String,
    pub partitioner: String,
    pub scheduler: String,
    pub params: BTreeMap<String, String>,
    pub gpu: String,
    pub gpus: usize,
    pub layout: Vec<String>,
    pub queries: u64,
    pub duration_s: f64,
    pub throughput_qps: f64,
    #[serde(flatten)]
    pub latency: Dist,
    #[serde(flatten)]
    pub queue: QueueDist,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_violation_rate: Option<f64>,
    pub utilization: f64,
    pub instances: Vec<InstanceStats>,
    pub per_model: BTreeMap<String, ModelStats>,
    pub extrapolated: u64,
    pub rate_scale: f64,
    pub invariants: crate::engine::Invariants,
    /// The service model, when not exact (noise or batching).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSummary>,
    /// When not exact: the error of the completion estimates the scheduler could make.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimates: Option<EstimateStats>,
    /// With batching: how queries merged into batches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batches: Option<BatchStats>,
    /// What the partitioner reported (PARIS: knees, batch -> slice map, shares, deviation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<serde_json::Value>,
    /// What the scheduler decided before the replay (ELSA: the SLA per model and its source).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_details: Option<serde_json::Value>,
    pub inputs: BTreeMap<String, InputFile>,
    pub mig_replay_version: String,
}

impl Summary {
    /// Assemble the summary of a replay.
    pub fn new(
        r: &Replay,
        models: &[String],
        inputs: BTreeMap<String, InputFile>,
        rate_scale: f64,
    ) -> Summary {
        let m = &r.metrics;
        Summary {
            service: ServiceSummary::of(r, models),
            estimates: m.estimates.clone(),
            batches: m.batches.clone(),
            policy: r.policy.clone(),
            partitioner: r.partitioner.clone(),
            scheduler: r.scheduler.clone(),
            params: r.params.clone(),
            partition: r.partition.clone(),
            scheduler_details: r.scheduler_details.clone(),
            gpu: r.server.gpu.name.to_string(),
            gpus: r.server.gpus(),
            layout: r.server.layout_names(),
            queries: m.queries,
            duration_s: m.duration_s,
            throughput_qps: m.throughput_qps,
            latency: m.latency.clone(),
            queue: (&m.queue).into(),
            sla_ms: m.sla_ms,
            sla_violation_rate: m.sla_violation_rate,
            utilization: m.utilization,
            instances: m.instances.clone(),
            per_model: m.per_model.clone(),
            extrapolated: m.extrapolated,
            rate_scale,
            invariants: r.invariants.clone(),
            inputs,
            mig_replay_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Write as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut s = serde_json::to_string_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        s.push('\n');
        write_atomic(path, s.as_bytes())
    }

    /// The short human summary for the terminal.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let distinct: std::collections::BTreeSet<_> = self.layout.iter().collect();
        let layout = if distinct.len() == 1 {
            format!("{} x {}", self.gpus, self.layout[0])
        } else {
            self.layout.join(" | ")
        };
        s += &format!(
            "policy {} ({}+{}) on {} x {}: {}\n",
            self.policy, self.partitioner, self.scheduler, self.gpus, self.gpu, layout
        );
        if let Some(slas) = self
            .scheduler_details
            .as_ref()
            .and_then(|d| d.get("sla"))
            .and_then(|v| v.as_array())
        {
            for x in slas {
                s += &format!(
                    "scheduler SLA {}: {:.3} ms ({})\n",
                    x["model"].as_str().unwrap_or("?"),
                    x["sla_ms"].as_f64().unwrap_or(0.0),
                    x["source"].as_str().unwrap_or("?")
                );
            }
        }
        s += &format!(
            "{} queries in {:.3} s simulated: {:.1} queries/s, utilization {:.1}%\n",
            self.queries,
            self.duration_s,
            self.throughput_qps,
            100.0 * self.utilization
        );
        let l = &self.latency;
        s += &format!(
            "latency ms: mean {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n",
            l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        );
        let q = &self.queue;
        s += &format!(
            "queueing ms: mean {:.3}  p50 {:.3}  p99 {:.3}  max {:.3}\n",
            q.queue_mean_ms, q.queue_p50_ms, q.queue_p99_ms, q.queue_max_ms
        );
        if let (Some(sla), Some(v)) = (self.sla_ms, self.sla_violation_rate) {
            s += &format!("SLA {sla} ms: {:.3}% of queries violate it\n", 100.0 * v);
        }
        if self.extrapolated > 0 {
            s += &format!(
                "note: {} queries had batch sizes outside the profiled range (latency extrapolated)\n",
                self.extrapolated
            );
        }
        if let Some(sv) = &self.service {
            s += &format!("service noise {} (seed {})", sv.noise, sv.seed);
            if let Some(b) = &sv.batching {
                let rules: Vec<String> = b
                    .iter()
                    .map(|(m, r)| {
                        format!(
                            "{m} max_batch {} max_delay {} us",
                            r.max_batch, r.max_delay_us
                        )
                    })
                    .collect();
                s += &format!("; batching {}", rules.join(", "));
            }
            s += "\n";
        }
        if let Some(b) = &self.batches {
            s += &format!(
                "batches: {} ({:.2} queries, summed batch {:.1} on average, largest {})\n",
                b.batches, b.mean_queries, b.mean_size, b.max_size
            );
        }
        if let Some(e) = &self.estimates {
            s += &format!(
                "scheduler estimates: |true - estimated completion| p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {:.1}% finished later than estimated\n",
                e.abs_error_p50_ms,
                e.abs_error_p99_ms,
                e.abs_error_max_ms,
                100.0 * e.late_fraction
            );
        }
        let inv = &self.invariants;
        s += &format!(
            "invariants: conservation {}, causality {}, no overlap {}{}\n",
            ok(inv.conservation),
            ok(inv.causality),
            ok(inv.no_overlap),
            inv.batches
                .map(|b| format!(", batches {}", ok(b)))
                .unwrap_or_default()
        );
        s
    }
}

fn ok(b: bool) -> &'static str {
    if b { "ok" } else { "VIOLATED" }
}

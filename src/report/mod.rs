//! Outputs. For one run: `summary.json` (machine-readable figures) and `queries.parquet` (one
//! row per query, exact), both written atomically, plus the short terminal summary. For a
//! sweep ([`bench`]): `results.parquet`, `peaks.parquet`, `summary.json` with the verdict,
//! the plots and the self-contained `index.html` ([`html`]).

pub mod bench;
pub mod html;

use crate::error::{Error, Result};
use crate::io::{ColumnEncoding, Compress, ParquetSink, write_atomic};
use crate::metrics::{BatchStats, Dist, EstimateStats, InstanceStats, ModelStats};
use crate::replay::Replay;
use crate::trace::Trace;
use arrow_array::RecordBatch;
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, StringArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

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

/// Rows per row group of `queries.parquet`: the writer holds one row group in memory at a time.
pub const QUERIES_ROW_GROUP: usize = 1 << 20;

/// Write `queries.parquet`: `id`, `model`, `batch`, `arrival_us`, `start_us`, `finish_us`
/// (float64 microseconds, exact to the nanosecond below 2^53 ns), `gpu`, `instance` (global
/// instance index, as in `summary.json`), `slice`; with dynamic batching that can merge
/// (some max_batch > 1), also `batch_id` (batches numbered in start order) and `batch_size` (the
/// batch's summed size).
///
/// Streamed in row groups of [`QUERIES_ROW_GROUP`] rows with the columns of each row group
/// encoded in parallel. Encodings are chosen per column: dictionary for `model` and `slice`
/// (a handful of distinct strings), DELTA_BINARY_PACKED for the integer columns (sorted ids
/// and small instance numbers pack to a few bits), PLAIN for the float times (a dictionary
/// would be tried and abandoned); LZ4 for all but the float times, which it barely shrinks.
pub fn write_queries(path: &Path, trace: &Trace, r: &Replay) -> Result<()> {
    write_queries_in_groups(path, trace, r, QUERIES_ROW_GROUP)
}

/// [`write_queries`] with `rows_per_group` rows per row group.
pub fn write_queries_in_groups(
    path: &Path,
    trace: &Trace,
    r: &Replay,
    rows_per_group: usize,
) -> Result<()> {
    let rows_per_group = rows_per_group.max(1);
    let dict = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    // With batching that can merge (some max_batch > 1): the batch of each query.
    let batched = r.batch_rules.iter().any(|b| b.max_batch > 1);
    let mut fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("model", dict(), false),
        Field::new("batch", DataType::Int32, false),
        Field::new("arrival_us", DataType::Float64, false),
        Field::new("start_us", DataType::Float64, false),
        Field::new("finish_us", DataType::Float64, false),
        Field::new("gpu", DataType::Int32, false),
        Field::new("instance", DataType::UInt32, false),
        Field::new("slice", dict(), false),
    ];
    use ColumnEncoding::*;
    use Compress::*;
    let mut enc = vec![
        Delta, Dictionary, Delta, Plain, Plain, Plain, Delta, Delta, Dictionary,
    ];
    let mut comp = vec![Lz4, Lz4, Lz4, None, None, None, Lz4, Lz4, Lz4];
    if batched {
        fields.push(Field::new("batch_id", DataType::UInt32, false));
        fields.push(Field::new("batch_size", DataType::UInt32, false));
        enc.extend([Delta, Delta]);
        comp.extend([Lz4, Lz4]);
    }
    let schema = Arc::new(Schema::new(fields));
    let mut sink = ParquetSink::create(path, schema.clone(), &enc, &comp)?;
    let server = &r.server;
    let rec = &r.records;
    let models: ArrayRef = Arc::new(StringArray::from_iter_values(trace.models.iter()));
    let slices: ArrayRef = Arc::new(StringArray::from_iter_values(
        server.gpu.profiles.iter().map(|p| p.name),
    ));
    let us = |v: &[u64]| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            v.iter().map(|&x| x as f64 / 1e3),
        ))
    };
    let n = trace.len();
    let mut lo = 0;
    while lo < n {
        let hi = (lo + rows_per_group).min(n);
        let inst = &rec.instance[lo..hi];
        let model = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from_iter_values(trace.model[lo..hi].iter().map(|&m| m as i32)),
            models.clone(),
        )
        .map_err(|e| Error::Other(e.to_string()))?;
        let slice = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from_iter_values(
                inst.iter()
                    .map(|&i| server.instances[i as usize].slice as i32),
            ),
            slices.clone(),
        )
        .map_err(|e| Error::Other(e.to_string()))?;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                (lo..hi).map(|q| trace.id_of(q)),
            )),
            Arc::new(model),
            Arc::new(Int32Array::from_iter_values(
                trace.batch[lo..hi].iter().map(|&b| b as i32),
            )),
            us(&trace.arrival_ns[lo..hi]),
            us(&rec.start_ns[lo..hi]),
            us(&rec.finish_ns[lo..hi]),
            Arc::new(Int32Array::from_iter_values(
                inst.iter()
                    .map(|&i| server.instances[i as usize].gpu as i32),
            )),
            Arc::new(UInt32Array::from_iter_values(inst.iter().copied())),
            Arc::new(slice),
        ];
        if batched {
            let ids = &rec.batch_id[lo..hi];
            cols.push(Arc::new(UInt32Array::from_iter_values(ids.iter().copied())));
            cols.push(Arc::new(UInt32Array::from_iter_values(
                ids.iter().map(|&b| rec.batch_size[b as usize]),
            )));
        }
        let batch =
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::Other(e.to_string()))?;
        sink.write(&batch)?;
        lo = hi;
    }
    sink.finish()
}

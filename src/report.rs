//! Outputs of a run: `summary.json` (machine-readable figures) and `queries.parquet` (one row per
//! query, exact), both written atomically, plus the short terminal summary.

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::metrics::{Dist, InstanceStats, ModelStats};
use crate::replay::Replay;
use crate::trace::Trace;
use arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, StringArray, UInt32Array,
};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
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

/// `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub policy: String,
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
    pub inputs: BTreeMap<String, InputFile>,
    pub mig_replay_version: String,
}

impl Summary {
    /// Assemble the summary of a replay.
    pub fn new(r: &Replay, inputs: BTreeMap<String, InputFile>, rate_scale: f64) -> Summary {
        let m = &r.metrics;
        Summary {
            policy: r.policy.clone(),
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
            "policy {} on {} x {}: {}\n",
            self.policy, self.gpus, self.gpu, layout
        );
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
        let inv = &self.invariants;
        s += &format!(
            "invariants: conservation {}, causality {}, no overlap {}\n",
            ok(inv.conservation),
            ok(inv.causality),
            ok(inv.no_overlap)
        );
        s
    }
}

fn ok(b: bool) -> &'static str {
    if b { "ok" } else { "VIOLATED" }
}

/// Write `queries.parquet`: `id`, `model`, `batch`, `arrival_us`, `start_us`, `finish_us`
/// (float64 microseconds, exact to the nanosecond below 2^53 ns), `gpu`, `instance` (global
/// instance index, as in `summary.json`), `slice`.
pub fn write_queries(path: &Path, trace: &Trace, r: &Replay) -> Result<()> {
    let n = trace.len();
    let us = |v: &[u64]| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            v.iter().map(|&x| x as f64 / 1e3),
        ))
    };
    let inst = &r.records.instance;
    let server = &r.server;
    let model = DictionaryArray::<Int32Type>::try_new(
        Int32Array::from_iter_values(trace.model.iter().map(|&m| m as i32)),
        Arc::new(StringArray::from_iter_values(trace.models.iter())),
    )
    .map_err(|e| Error::Other(e.to_string()))?;
    let slice = DictionaryArray::<Int32Type>::try_new(
        Int32Array::from_iter_values(
            inst.iter()
                .map(|&i| server.instances[i as usize].slice as i32),
        ),
        Arc::new(StringArray::from_iter_values(
            server.gpu.profiles.iter().map(|p| p.name),
        )),
    )
    .map_err(|e| Error::Other(e.to_string()))?;
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(trace.id.clone()))),
        ("model", Arc::new(model)),
        (
            "batch",
            Arc::new(Int32Array::from_iter_values(
                trace.batch.iter().map(|&b| b as i32),
            )),
        ),
        ("arrival_us", us(&trace.arrival_ns)),
        ("start_us", us(&r.records.start_ns)),
        ("finish_us", us(&r.records.finish_ns)),
        (
            "gpu",
            Arc::new(Int32Array::from_iter_values(
                inst.iter()
                    .map(|&i| server.instances[i as usize].gpu as i32),
            )),
        ),
        ("instance", Arc::new(UInt32Array::from(inst.clone()))),
        ("slice", Arc::new(slice)),
    ];
    debug_assert!(cols.iter().all(|c| c.1.len() == n));
    let batch = RecordBatch::try_from_iter(cols).map_err(|e| Error::Other(e.to_string()))?;
    write_parquet(path, &batch)
}

/// Write one record batch as a Parquet file (snappy), atomically.
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("mig-replay {}", env!("CARGO_PKG_VERSION")))
        .build();
    crate::io::write_atomic_with(path, |f| {
        let mut w =
            ArrowWriter::try_new(f, batch.schema(), Some(props)).map_err(std::io::Error::other)?;
        w.write(batch).map_err(std::io::Error::other)?;
        w.close().map_err(std::io::Error::other)?;
        Ok(())
    })
}

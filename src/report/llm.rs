//! What an LLM replay writes: `summary.json` (the run, its replicas and its figures) and
//! `queries.parquet`, one row per request: `id`, `model`, `arrival_ns`, `first_token_ns` and
//! `finish_ns` (null for a refused request), `prompt_tokens`, `output_tokens`, `preemptions`,
//! `instance` (the replica; null when refused).

use super::InputFile;
use crate::drive::llm::{LlmReplay, ReplicaPlan};
use crate::engine::llm::REFUSED;
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::llm::params::LlmParams;
use crate::llm::replica::NONE;
use crate::metrics::llm::LlmMetrics;
use crate::trace::Trace;
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// An LLM run's `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct LlmSummary {
    /// `llm`: what kind of run this is.
    pub kind: &'static str,
    pub policy: String,
    pub gpu: String,
    pub gpus: usize,
    pub params: LlmParams,
    pub replicas: Vec<ReplicaPlan>,
    pub rate_scale: f64,
    pub metrics: LlmMetrics,
    pub inputs: BTreeMap<String, InputFile>,
    pub mig_replay_version: String,
}

impl LlmSummary {
    /// Write as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut s = serde_json::to_string_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        s.push('\n');
        write_atomic(path, s.as_bytes())
    }

    /// The short human summary for the terminal: per model, TTFT, TPOT and E2E (mean, p50,
    /// p90, p99, ms), tokens/s and, with an SLO, attainment and goodput.
    pub fn text(&self) -> String {
        let m = &self.metrics;
        let mut s = format!(
            "policy {} on {} x {}: {} replicas; {} requests ({} refused) over {:.3} s, {} steps, {:.1} output tokens/s\n",
            self.policy,
            self.gpus,
            self.gpu,
            self.replicas.len(),
            m.requests,
            m.refused,
            m.duration_s,
            m.steps,
            m.output_tokens_per_s
        );
        for (name, x) in &m.models {
            s += &format!(
                "  {name}: {} requests, {} preemptions\n",
                x.requests, x.preemptions
            );
            for (what, d) in [
                ("TTFT", &x.ttft),
                ("TPOT", &x.tpot),
                ("ITL", &x.itl),
                ("E2E", &x.e2e),
            ] {
                s += &format!(
                    "    {what:<4} ms  mean {:>10.2}  p50 {:>10.2}  p90 {:>10.2}  p99 {:>10.2}\n",
                    d.mean_ms, d.p50_ms, d.p90_ms, d.p99_ms
                );
            }
            if let (Some(a), Some(g)) = (x.slo_attainment, x.goodput_rps) {
                s += &format!(
                    "    SLO met by {:.2} % of requests; goodput {g:.3} requests/s\n",
                    a * 100.0
                );
            }
        }
        if let Some(g) = m.goodput_rps {
            s += &format!("  goodput (every model's SLO): {g:.3} requests/s\n");
        }
        s
    }
}

/// Write `queries.parquet` of an LLM replay of `trace`.
pub fn write_queries(path: &Path, trace: &Trace, r: &LlmReplay) -> Result<()> {
    let q = &r.outcome.requests;
    let n = trace.len();
    let ids: Vec<i64> = (0..n).map(|i| trace.id_of(i)).collect();
    let opt =
        |v: &[u64]| -> Int64Array { v.iter().map(|&t| (t != NONE).then_some(t as i64)).collect() };
    let model = DictionaryArray::<Int32Type>::try_new(
        Int32Array::from(trace.model.iter().map(|&m| m as i32).collect::<Vec<_>>()),
        Arc::new(StringArray::from(trace.models.clone())),
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    let i32s = |v: &[u32]| Int32Array::from(v.iter().map(|&x| x as i32).collect::<Vec<_>>());
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(ids))),
        ("model", Arc::new(model)),
        (
            "arrival_ns",
            Arc::new(Int64Array::from(
                trace
                    .arrival_ns
                    .iter()
                    .map(|&t| t as i64)
                    .collect::<Vec<_>>(),
            )),
        ),
        ("first_token_ns", Arc::new(opt(&q.first))),
        ("finish_ns", Arc::new(opt(&q.finish))),
        ("prompt_tokens", Arc::new(i32s(&q.p))),
        ("output_tokens", Arc::new(i32s(&q.o))),
        ("preemptions", Arc::new(i32s(&q.preemptions))),
        (
            "instance",
            Arc::new(
                r.outcome
                    .instance
                    .iter()
                    .map(|&i| (i != REFUSED).then_some(i as i32))
                    .collect::<Int32Array>(),
            ),
        ),
    ];
    let batch = RecordBatch::try_from_iter(cols).map_err(|e| Error::Internal(e.to_string()))?;
    crate::io::write_parquet(path, &batch)
}

/// A CDF at 200 quantiles (finer in the tail), as the DNN report draws latency: (value,
/// cumulative fraction), each value the quantile's nearest-rank order statistic of `v`.
pub fn cdf(v: &mut [f64]) -> Vec<(f64, f64)> {
    if v.is_empty() {
        return Vec::new();
    }
    v.sort_unstable_by(f64::total_cmp);
    let mut qs: Vec<f64> = (1..=190).map(|i| i as f64 / 200.0).collect();
    qs.extend((0..10).map(|i| 0.95 + 0.05 * (1.0 - 0.5f64.powi(i + 1))));
    qs.push(1.0);
    qs.iter()
        .map(|&q| (v[crate::stats::nearest_rank(v.len(), q * 100.0) - 1], q))
        .collect()
}

/// Draw the CDFs of TTFT and of TPOT, one line per named series of (TTFT ms, TPOT ms) values,
/// to `dir/{prefix}ttft-cdf` and `dir/{prefix}tpot-cdf` (SVG and PNG).
pub fn write_cdfs(
    dir: &Path,
    prefix: &str,
    title: &str,
    series: Vec<(String, Vec<f64>, Vec<f64>)>,
) -> Result<()> {
    use crate::plot::{LineChart, Series};
    let mut ttft = Vec::new();
    let mut tpot = Vec::new();
    for (k, (name, mut a, mut b)) in series.into_iter().enumerate() {
        ttft.push(Series {
            name: name.clone(),
            color: k,
            points: cdf(&mut a),
        });
        tpot.push(Series {
            name,
            color: k,
            points: cdf(&mut b),
        });
    }
    for (what, s, name) in [("TTFT", ttft, "ttft-cdf"), ("TPOT", tpot, "tpot-cdf")] {
        crate::plot::save(
            &LineChart {
                title: format!("{title}: {what} CDF"),
                x_label: format!("{what} (ms, log scale)"),
                y_label: "share of requests".into(),
                series: s,
                hline: None,
                log_x: true,
                log_y: false,
                x_percent: false,
                y_percent: false,
            },
            dir,
            &format!("{prefix}{name}"),
        )?;
    }
    Ok(())
}

/// The TTFT and TPOT (ms) of the served requests of model `m` in a replay of `trace`.
pub fn ttft_tpot_ms(trace: &Trace, r: &LlmReplay, m: u32) -> (Vec<f64>, Vec<f64>) {
    let q = &r.outcome.requests;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..trace.len() {
        if trace.model[i] != m || r.outcome.instance[i] == REFUSED {
            continue;
        }
        a.push((q.first[i] - trace.arrival_ns[i]) as f64 / 1e6);
        if let Some(t) = crate::metrics::llm::tpot_ns(q.first[i], q.finish[i], q.o[i]) {
            b.push(t / 1e6);
        }
    }
    (a, b)
}

//! The latency SLA of each model, as the SLA-aware policies (`elsa`, `paris`) see it.
//!
//! Order of precedence, per model: the parameter `sla.<model>` (ms), then `--sla-ms` (one SLA
//! for every model), then, for policies that need an SLA for every model (ELSA), the default
//! rule: `sla_multiple` x the model's isolated latency on the GPU's largest slice at the
//! `sla_batch_percentile`-th percentile of that model's batch sizes in the trace. The rule is
//! our choice (the paper's SLA values are not available to us); every run prints and records
//! the SLA it used and where it came from.

use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::profile::Profiles;
use crate::trace::Trace;
use serde::Serialize;
use std::collections::BTreeMap;

/// The default rule's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlaRule {
    pub multiple: f64,
    pub batch_percentile: f64,
}

/// One model's SLA and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSla {
    pub model: String,
    pub sla_ms: f64,
    /// `param sla.<model>`, `--sla-ms`, or the default rule spelled out.
    pub source: String,
}

/// The `p`-th percentile (nearest rank, 0 < p <= 100) of model `m`'s batch sizes.
pub fn batch_percentile(trace: &Trace, m: u32, p: f64) -> Option<u32> {
    let mut b: Vec<u32> = trace
        .model
        .iter()
        .zip(&trace.batch)
        .filter(|(x, _)| **x == m)
        .map(|(_, &b)| b)
        .collect();
    crate::stats::percentile(&mut b, p)
}

/// The SLA of every trace model, in trace-model order; `None` for a model with no SLA when
/// `rule` is `None`.
pub fn resolve(
    trace: &Trace,
    profiles: &Profiles,
    gpu: &GpuSpec,
    global_ms: Option<f64>,
    per_model: &BTreeMap<String, f64>,
    rule: Option<SlaRule>,
) -> Result<Vec<Option<ModelSla>>> {
    for m in per_model.keys() {
        if !trace.models.iter().any(|x| x == m) {
            return Err(Error::Usage(format!(
                "parameter 'sla.{m}': the trace has no model '{m}' (its models: {})",
                trace.models.join(", ")
            )));
        }
    }
    let full = gpu.profiles[gpu.full_slice()].name;
    trace
        .models
        .iter()
        .enumerate()
        .map(|(k, m)| {
            if let Some(&ms) = per_model.get(m) {
                return Ok(Some(ModelSla {
                    model: m.clone(),
                    sla_ms: ms,
                    source: format!("param sla.{m}"),
                }));
            }
            if let Some(ms) = global_ms {
                return Ok(Some(ModelSla {
                    model: m.clone(),
                    sla_ms: ms,
                    source: "--sla-ms".into(),
                }));
            }
            let Some(rule) = rule else {
                return Ok(None);
            };
            let b = batch_percentile(trace, k as u32, rule.batch_percentile).unwrap_or(1);
            let series = profiles.get(gpu.name, m, full).ok_or_else(|| {
                Error::file(
                    &profiles.path,
                    format!(
                        "the default SLA rule needs model '{m}' profiled on {full} of {}; give --sla-ms or --param sla.{m}=MS",
                        gpu.name
                    ),
                )
            })?;
            let lat = series.latency_ms(b).0;
            let ms = rule.multiple * lat;
            Ok(Some(ModelSla {
                model: m.clone(),
                sla_ms: ms,
                source: format!(
                    "default rule: {} x latency on {full} at the p{} batch ({b}) = {} x {:.3} ms",
                    rule.multiple, rule.batch_percentile, rule.multiple, lat
                ),
            }))
        })
        .collect()
}

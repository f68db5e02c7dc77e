//! The latency SLA of each model: an input of the run, resolved once, recorded with its source,
//! and the one every part of the run uses: the policies (ELSA enforces it, PARIS sizes slices
//! by it), the metrics (every query is judged against its own model's SLA), `peak` (a load is
//! sustained when every model's percentile meets its SLA) and the report.
//!
//! Order of precedence, per model: `sla.<model>` (ms, a run parameter any policy takes), then
//! `--sla-ms` (one SLA for every model), then, when the policy's scheduler needs an SLA for
//! every model (ELSA), the default rule: `sla_multiple` x the model's isolated latency on the
//! GPU's largest slice at the `sla_batch_percentile`-th percentile of that model's batch sizes
//! in the trace (2 x at p99 by default). The rule is our choice (the paper's SLA values are not
//! available to us); every run prints and records the SLA it used and where it came from. A
//! model with none of them has no SLA: its queries are not judged.

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

impl Default for SlaRule {
    fn default() -> Self {
        SlaRule {
            multiple: 2.0,
            batch_percentile: 99.0,
        }
    }
}

/// One model's SLA and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSla {
    pub model: String,
    pub sla_ms: f64,
    /// `param sla.<model>`, `--sla-ms`, or the default rule spelled out.
    pub source: String,
    /// Whether the default rule set it (PARIS sizes slices only by SLAs the run was given).
    #[serde(skip)]
    pub by_rule: bool,
}

impl ModelSla {
    /// The SLA in whole nanoseconds.
    pub fn ns(&self) -> u64 {
        (self.sla_ms * 1e6).round() as u64
    }
}

/// The SLAs a run was given: `--sla-ms` for every model, `sla.<model>` for one, and the
/// default rule's parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlaSpec {
    pub global_ms: Option<f64>,
    pub per_model: BTreeMap<String, f64>,
    pub rule: SlaRule,
}

/// The SLA keys, for `policy list`.
pub const KEYS_HELP: &[(&str, &str)] = &[
    (
        "sla.<model>",
        "SLA of one model in ms, for every policy and every figure (overrides --sla-ms for that model)",
    ),
    (
        "sla_multiple",
        "default SLA rule, for schedulers whose entry needs an SLA, where none is given: this multiple (default 2) ...",
    ),
    (
        "sla_batch_percentile",
        "... of the model's latency on the largest slice at this percentile (default 99) of its batch sizes",
    ),
];

fn positive(key: &str, v: &str) -> Result<f64> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x > 0.0)
        .ok_or_else(|| Error::Usage(format!("parameter '{key}': '{v}' is not a number > 0")))
}

impl SlaSpec {
    /// One SLA for every model (`--sla-ms`).
    pub fn global(ms: f64) -> SlaSpec {
        SlaSpec {
            global_ms: Some(ms),
            ..SlaSpec::default()
        }
    }

    /// With one SLA for every model, when given (`--sla-ms`, a sweep workload's `sla_ms`;
    /// checked with the other inputs of a run, [`crate::scenario`]).
    pub fn with_global(mut self, ms: Option<f64>) -> SlaSpec {
        self.global_ms = ms;
        self
    }

    /// Whether `key` is one of the SLA keys.
    pub fn is_key(key: &str) -> bool {
        (key.starts_with("sla.") && key.len() > 4)
            || key == "sla_multiple"
            || key == "sla_batch_percentile"
    }

    /// Parse the SLA keys among `pairs` (others are ignored).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<SlaSpec> {
        let mut s = SlaSpec::default();
        for (k, v) in pairs {
            if k == "sla_multiple" {
                s.rule.multiple = positive(k, v)?;
            } else if k == "sla_batch_percentile" {
                let p = positive(k, v)?;
                if p > 100.0 {
                    return Err(Error::Usage(format!(
                        "parameter '{k}': {p} is out of range; expected a percentile in (0, 100]"
                    )));
                }
                s.rule.batch_percentile = p;
            } else if let Some(m) = k.strip_prefix("sla.")
                && !m.is_empty()
            {
                s.per_model.insert(m.to_string(), positive(k, v)?);
            }
        }
        Ok(s)
    }

    /// Whether any SLA is given (the rule aside).
    pub fn is_empty(&self) -> bool {
        self.global_ms.is_none() && self.per_model.is_empty()
    }

    /// The SLA of every trace model, in trace-model order: given, else the default rule when
    /// `apply_rule`, else `None`.
    pub fn resolve(
        &self,
        trace: &Trace,
        profiles: &Profiles,
        gpu: &GpuSpec,
        apply_rule: bool,
    ) -> Result<Vec<Option<ModelSla>>> {
        for m in self.per_model.keys() {
            if !trace.models.iter().any(|x| x == m) {
                return Err(Error::Usage(format!(
                    "parameter 'sla.{m}': the trace has no model '{m}' (its models: {})",
                    trace.models.join(", ")
                )));
            }
        }
        let full = gpu.profiles[gpu.full_slice()].name;
        // The batch mix, counted once and only if the rule needs it.
        let mix = std::cell::OnceCell::new();
        trace
            .models
            .iter()
            .enumerate()
            .map(|(k, m)| {
                if let Some(&ms) = self.per_model.get(m) {
                    return Ok(Some(ModelSla {
                        model: m.clone(),
                        sla_ms: ms,
                        source: format!("param sla.{m}"),
                        by_rule: false,
                    }));
                }
                if let Some(ms) = self.global_ms {
                    return Ok(Some(ModelSla {
                        model: m.clone(),
                        sla_ms: ms,
                        source: "--sla-ms".into(),
                        by_rule: false,
                    }));
                }
                if !apply_rule {
                    return Ok(None);
                }
                let rule = self.rule;
                let b = mix
                    .get_or_init(|| trace.mix())
                    .batch_percentile(k as u32, rule.batch_percentile)
                    .unwrap_or(1);
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
                Ok(Some(ModelSla {
                    model: m.clone(),
                    sla_ms: rule.multiple * lat,
                    source: format!(
                        "default rule: {} x latency on {full} at the p{} batch ({b}) = {} x {:.3} ms",
                        rule.multiple, rule.batch_percentile, rule.multiple, lat
                    ),
                    by_rule: true,
                }))
            })
            .collect()
    }
}

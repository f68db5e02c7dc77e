//! One LLM replay: an LLM trace (prompt and output tokens per request), LLM profiles, a GPU
//! kind and count, a policy (`whole+ROUTER`), `llm.*` parameters and SLOs → the replicas
//! (one per `tp` whole GPUs, each serving one model), the replay ([`crate::engine::llm`]) and
//! its figures ([`crate::metrics::llm`]).

use crate::engine::llm::{LlmOutcome, LlmSetup, ReplicaSpec};
use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::llm::params::LlmParams;
use crate::llm::profile::{LlmProfile, LlmProfiles};
use crate::llm::replica::Limits;
use crate::metrics::llm::{LlmMetrics, Slo, compute};
use crate::policy::router::LlmPolicy;
use crate::trace::Trace;
use serde::Serialize;
use std::collections::BTreeMap;

/// What an LLM replay needs.
pub struct LlmScenario<'a> {
    pub trace: &'a Trace,
    pub profiles: &'a LlmProfiles,
    /// The GPU kind as named on the command line (a catalog kind or a profile's own name).
    pub gpu: String,
    pub gpus: usize,
    pub policy: LlmPolicy,
    pub params: LlmParams,
    pub slos: BTreeMap<String, Slo>,
}

/// One replica as built: its model, its GPUs, its settings.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReplicaPlan {
    pub model: String,
    pub gpus: u32,
    pub max_num_seqs: u32,
    pub max_num_batched_tokens: u32,
    pub block_size: u32,
    pub kv_blocks: u32,
    /// Where the block count came from: `measured` (the profile or `llm.kv_blocks`) or
    /// `memory` (the memory rule).
    pub kv_from: &'static str,
}

/// A finished LLM replay.
pub struct LlmReplay {
    pub outcome: LlmOutcome,
    pub metrics: LlmMetrics,
    pub replicas: Vec<ReplicaPlan>,
}

/// Bytes of one GPU of the kind `gpu` for `p`: the profile's own figure, else the catalog's.
fn gpu_memory_bytes(gpu: &str, p: &LlmProfile) -> Result<f64> {
    if let Some(g) = p.gpu_memory_gib {
        return Ok(g * (1u64 << 30) as f64);
    }
    match GpuSpec::find(gpu) {
        Some(s) => Ok(f64::from(s.memory_gb) * (1u64 << 30) as f64),
        None => Err(Error::Usage(format!(
            "--gpu {gpu}: not a kind of the catalog, and the profile of {} gives no gpu_memory_gib",
            p.model
        ))),
    }
}

/// The engine settings of a replica of `p` under `params`.
pub fn limits(gpu: &str, p: &LlmProfile, params: &LlmParams) -> Result<(Limits, &'static str)> {
    let block_size = params.block_size.unwrap_or(p.block_size);
    let (kv_blocks, from) = match params
        .kv_blocks
        .or((p.kv_blocks > 0).then_some(p.kv_blocks))
    {
        Some(n) => (u64::from(n), "measured"),
        None => {
            let mem = f64::from(p.tp) * gpu_memory_bytes(gpu, p)? * params.gpu_memory_utilization;
            let left = mem - p.weights_bytes as f64 - p.activation_bytes as f64;
            let per_block = block_size as f64 * p.kv_bytes_per_token as f64;
            let n = (left / per_block).floor();
            if n < 1.0 {
                return Err(Error::Usage(format!(
                    "model {} does not fit {} x {gpu} at gpu_memory_utilization {}: {:.2} GiB of memory for {:.2} GiB of weights and {:.2} GiB of activations leave no KV block of {} tokens ({} bytes per token)",
                    p.model,
                    p.tp,
                    params.gpu_memory_utilization,
                    mem / (1u64 << 30) as f64,
                    p.weights_bytes as f64 / (1u64 << 30) as f64,
                    p.activation_bytes as f64 / (1u64 << 30) as f64,
                    block_size,
                    p.kv_bytes_per_token
                )));
            }
            (n.min(f64::from(u32::MAX)) as u64, "memory")
        }
    };
    Ok((
        Limits {
            max_num_batched_tokens: params
                .max_num_batched_tokens
                .unwrap_or(p.max_num_batched_tokens),
            max_num_seqs: params.max_num_seqs.unwrap_or(p.max_num_seqs),
            block_size,
            kv_blocks: kv_blocks as u32,
        },
        from,
    ))
}

/// Replicas per model: those named by `llm.replicas.MODEL`, and the GPUs left shared equally
/// by the models not named (a model's replica takes `tp` GPUs).
fn replica_counts(s: &LlmScenario, profs: &[&LlmProfile]) -> Result<Vec<u32>> {
    let models = &s.trace.models;
    for m in s.params.replicas.keys() {
        if !models.contains(m) {
            return Err(Error::Usage(format!(
                "--param llm.replicas.{m}: the trace has no model '{m}' (it has {})",
                models.join(", ")
            )));
        }
    }
    let named: u64 = models
        .iter()
        .zip(profs)
        .filter_map(|(m, p)| {
            s.params
                .replicas
                .get(m)
                .map(|&k| u64::from(k) * u64::from(p.tp))
        })
        .sum();
    if named > s.gpus as u64 {
        return Err(Error::Usage(format!(
            "llm.replicas.* ask for {named} GPUs; the server has --gpus {}",
            s.gpus
        )));
    }
    let rest: Vec<usize> = (0..models.len())
        .filter(|&i| !s.params.replicas.contains_key(&models[i]))
        .collect();
    let left = s.gpus as u64 - named;
    let mut counts = vec![0u32; models.len()];
    for (i, m) in models.iter().enumerate() {
        counts[i] = match s.params.replicas.get(m) {
            Some(&k) => k,
            None => ((left / rest.len() as u64) / u64::from(profs[i].tp)) as u32,
        };
        if counts[i] == 0 {
            return Err(Error::Usage(format!(
                "model {m} gets no replica ({} GPUs, {} per replica): give more --gpus or --param llm.replicas.{m}=K",
                s.gpus, profs[i].tp
            )));
        }
    }
    Ok(counts)
}

/// Check `s`, build its replicas, replay, and compute the figures.
pub fn replay(s: &LlmScenario) -> Result<LlmReplay> {
    let t = s.trace;
    let tokens = t.tokens.as_ref().ok_or_else(|| {
        Error::Usage(format!(
            "{}: not an LLM trace (no prompt_tokens/output_tokens columns); LLM profiles replay LLM traces",
            t.path.display()
        ))
    })?;
    for m in s.slos.keys() {
        if !t.models.contains(m) {
            return Err(Error::Usage(format!(
                "--slo {m}: the trace has no model '{m}' (it has {})",
                t.models.join(", ")
            )));
        }
    }
    let slice = crate::llm::profile::WHOLE;
    let profs: Vec<&LlmProfile> = t
        .models
        .iter()
        .map(|m| {
            s.profiles.find(&s.gpu, slice, m).ok_or_else(|| {
                Error::Usage(format!(
                    "{}: no LLM profile for model {m} on {} ({slice}); it has: {}",
                    s.profiles.path.display(),
                    s.gpu,
                    s.profiles
                        .profiles
                        .iter()
                        .map(|p| format!("{}/{}/{}", p.gpu, p.slice, p.model))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        })
        .collect::<Result<_>>()?;
    let counts = replica_counts(s, &profs)?;
    let mut specs = Vec::new();
    let mut plans = Vec::new();
    for (m, (p, &k)) in profs.iter().zip(&counts).enumerate() {
        let (lim, from) = limits(&s.gpu, p, &s.params)?;
        for _ in 0..k {
            specs.push(ReplicaSpec {
                model: m as u32,
                limits: lim,
                step: &p.step,
            });
            plans.push(ReplicaPlan {
                model: p.model.clone(),
                gpus: p.tp,
                max_num_seqs: lim.max_num_seqs,
                max_num_batched_tokens: lim.max_num_batched_tokens,
                block_size: lim.block_size,
                kv_blocks: lim.kv_blocks,
                kv_from: from,
            });
        }
    }
    let replica_model: Vec<u32> = specs.iter().map(|r| r.model).collect();
    let setup = LlmSetup {
        arrival_ns: &t.arrival_ns,
        model: &t.model,
        prompt: &tokens.prompt,
        output: &tokens.output,
        replicas: specs,
        oracle: s.policy.router.oracle,
    };
    let mut router = (s.policy.router.build)();
    let outcome = crate::engine::llm::replay(&setup, router.as_mut())?;
    let metrics = compute(
        &t.arrival_ns,
        &t.model,
        &t.models,
        &replica_model,
        &outcome,
        &s.slos,
    );
    if !metrics.invariants.hold() {
        return Err(Error::Internal(format!(
            "an LLM replay broke an invariant: {:?}",
            metrics.invariants
        )));
    }
    Ok(LlmReplay {
        outcome,
        metrics,
        replicas: plans,
    })
}

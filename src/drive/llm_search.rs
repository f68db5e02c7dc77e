//! `peak` and `plan` for an LLM trace, judged by goodput: the largest rate scale, and the
//! fewest GPUs, at which an LLM replay ([`crate::drive::llm`]) meets the SLO criterion.
//!
//! **The criterion** (DistServe's, Zhong et al., OSDI 2024: goodput is the largest request
//! rate at which a share of the requests meets every latency bound): a replay *meets* it when,
//! for every model of the trace, at least a share `attainment` (default 0.9) of that model's
//! requests meet every bound of the model's SLO (TTFT and TPOT, [`crate::metrics::llm::Slo`];
//! every model needs one). A refused request (no replica can ever hold it) counts as one
//! that does not. The share is the metrics' `slo_attainment` (met / requests, an f64)
//! compared with `>=`. The binding model is the one of lowest attainment (ties: the first in
//! trace order).
//!
//! **Peak** searches the rate scale k (every inter-arrival time divided by k, as
//! `run --rate-scale`) with the search every peak uses ([`crate::drive::peak::search_scale`]:
//! bracketing by doubling or halving from k = 1, then bisection to a relative tolerance). It
//! assumes the attainment falls as the load rises, as it does for a queue of requests on a
//! fixed set of replicas.
//!
//! **Plan** searches the GPU count with the search every plan uses
//! ([`crate::drive::capacity::search_counts`]). No LLM router is declared monotone in the count
//! (continuous batching and round-robin over more replicas give no sample-path argument such
//! as the FCFS queue's), so `auto` bisects to a sufficient count and then tries every count
//! below it in increasing order. The GPUs are shared by the trace's models as `run` shares them
//! (equally among the models, each replica taking `tp` GPUs), so a count below
//! models x largest `tp` gives some model no replica: such counts are insufficient without a
//! replay, and `llm.replicas.*` (a fixed replica count) is refused.

use crate::drive::capacity::{Search, search_counts, search_exact};
use crate::drive::llm::{LlmReplay, LlmScenario, ReplicaPlan, replay};
use crate::drive::peak::{MIN_TOLERANCE, search_scale};
use crate::error::{Error, Result};
use crate::llm::profile::WHOLE;
use crate::metrics::llm::{LlmMetrics, Slo};
use crate::scenario::MAX_GPUS;
use crate::stats::dist::Dist;
use serde::Serialize;
use std::collections::BTreeMap;

/// The default share of every model's requests that must meet its SLO.
pub const DEFAULT_ATTAINMENT: f64 = 0.9;

/// The goodput criterion: every model's SLO attainment at least `attainment`.
#[derive(Debug, Clone, Copy)]
pub struct GoodputCriterion {
    /// In (0, 1].
    pub attainment: f64,
}

impl GoodputCriterion {
    /// Check the share and that every model of `s`'s trace has an SLO.
    pub fn new(s: &LlmScenario, attainment: f64) -> Result<GoodputCriterion> {
        if !(attainment > 0.0 && attainment <= 1.0) {
            return Err(Error::Usage(format!(
                "--attainment must be a share in (0, 1] (0.9 = 90 % of every model's requests meet its SLO), got {}",
                crate::error::num(attainment)
            )));
        }
        if let Some(m) = s.trace.models.iter().find(|m| !s.slos.contains_key(*m)) {
            return Err(Error::Usage(format!(
                "judging an LLM replay needs every model's SLO, and model '{m}' has none: give --slo {m}:ttft_ms=MS,tpot_ms=MS"
            )));
        }
        Ok(GoodputCriterion { attainment })
    }

    /// Judge a replay's figures (`models`: the trace's models, in order).
    pub fn judge(&self, models: &[String], metrics: &LlmMetrics) -> Judgement {
        let mut binding: Option<(&String, f64)> = None;
        for m in models {
            let a = metrics.models[m].slo_attainment.unwrap_or(0.0);
            if binding.is_none_or(|(_, b)| a < b) {
                binding = Some((m, a));
            }
        }
        let (m, a) = binding.expect("a trace has a model");
        Judgement {
            meets: a >= self.attainment,
            binding_model: m.clone(),
            binding_attainment: a,
        }
    }
}

/// How one replay fares against a [`GoodputCriterion`].
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub meets: bool,
    /// The model of lowest attainment (ties: the first) and its attainment.
    pub binding_model: String,
    pub binding_attainment: f64,
}

/// One model's figures at a search's answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelAtAnswer {
    pub model: String,
    pub slo: Slo,
    pub requests: u64,
    pub refused: u64,
    /// Share of its requests that met every bound of its SLO.
    pub attainment: f64,
    /// Those requests per second of the replay window.
    pub goodput_rps: f64,
    pub ttft: Dist,
    pub tpot: Dist,
    pub preemptions: u64,
}

fn models_at(models: &[String], m: &LlmMetrics) -> Vec<ModelAtAnswer> {
    models
        .iter()
        .map(|name| {
            let x = &m.models[name];
            ModelAtAnswer {
                model: name.clone(),
                slo: x.slo.unwrap_or_default(),
                requests: x.requests,
                refused: x.refused,
                attainment: x.slo_attainment.unwrap_or(0.0),
                goodput_rps: x.goodput_rps.unwrap_or(0.0),
                ttft: x.ttft.clone(),
                tpot: x.tpot.clone(),
                preemptions: x.preemptions,
            }
        })
        .collect()
}

/// One replay's figures, as the searches keep them.
struct Tried {
    judgement: Judgement,
    rate_rps: f64,
    goodput_rps: f64,
    output_tokens_per_s: f64,
    models: Vec<ModelAtAnswer>,
    replicas: Vec<ReplicaPlan>,
}

fn tried(s: &LlmScenario, c: &GoodputCriterion, r: &LlmReplay) -> Tried {
    let models = &s.trace.models;
    Tried {
        judgement: c.judge(models, &r.metrics),
        rate_rps: s.trace.offered_rate(),
        goodput_rps: r.metrics.goodput_rps.unwrap_or(0.0),
        output_tokens_per_s: r.metrics.output_tokens_per_s,
        models: models_at(models, &r.metrics),
        replicas: r.replicas.clone(),
    }
}

/// `s` over another trace and GPU count.
fn with<'c>(s: &LlmScenario<'c>, trace: &'c crate::trace::Trace, gpus: usize) -> LlmScenario<'c> {
    LlmScenario {
        trace,
        profiles: s.profiles,
        gpu: s.gpu.clone(),
        gpus,
        policy: s.policy,
        params: s.params.clone(),
        slos: s.slos.clone(),
    }
}

/// The peak of one LLM policy.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LlmPeakResult {
    /// `llm`: the kind of peak.
    pub kind: &'static str,
    pub policy: String,
    pub gpu: String,
    pub gpus: usize,
    /// The share of every model's requests that must meet its SLO.
    pub attainment: f64,
    /// The largest rate scale found to meet the criterion (0: not even scale 1e-6 does).
    pub rate_scale: f64,
    /// The offered request rate there: (requests - 1) / arrival span, requests/s.
    pub rate_rps: f64,
    /// Requests of every model meeting every bound of their SLO per second of the replay
    /// window, there.
    pub goodput_rps: f64,
    pub output_tokens_per_s: f64,
    /// The model of lowest attainment there, and its attainment.
    pub binding_model: String,
    pub binding_attainment: f64,
    pub models: Vec<ModelAtAnswer>,
    pub replicas: Vec<ReplicaPlan>,
    /// Replays run.
    pub tries: u32,
    /// The criterion held at every scale tried, up to [`crate::drive::peak::MAX_SCALE`].
    pub lower_bound: bool,
}

/// The largest rate scale at which the replay of `s` (its trace scaled) meets the goodput
/// criterion with share `attainment`, to relative `tolerance`.
pub fn find_llm_peak(s: &LlmScenario, attainment: f64, tolerance: f64) -> Result<LlmPeakResult> {
    let c = GoodputCriterion::new(s, attainment)?;
    check_tolerance(tolerance)?;
    if s.trace.len() < 2 {
        return Err(Error::file(
            &s.trace.path,
            "a peak search needs a trace with at least two requests",
        ));
    }
    let found = search_scale(tolerance, |k| {
        let mut t = s.trace.clone();
        t.scale_rate(k)?;
        let sk = with(s, &t, s.gpus);
        let r = replay(&sk)?;
        let x = tried(&sk, &c, &r);
        Ok((x.judgement.meets, x))
    })?;
    let zero = found.scale == 0.0;
    let b = found.best;
    Ok(LlmPeakResult {
        kind: "llm",
        policy: s.policy.name(),
        gpu: s.gpu.clone(),
        gpus: s.gpus,
        attainment,
        rate_scale: found.scale,
        rate_rps: if zero { 0.0 } else { b.rate_rps },
        goodput_rps: if zero { 0.0 } else { b.goodput_rps },
        output_tokens_per_s: if zero { 0.0 } else { b.output_tokens_per_s },
        binding_model: b.judgement.binding_model,
        binding_attainment: b.judgement.binding_attainment,
        models: b.models,
        replicas: b.replicas,
        tries: found.tries,
        lower_bound: found.lower_bound,
    })
}

fn check_tolerance(tolerance: f64) -> Result<()> {
    if !(MIN_TOLERANCE..1.0).contains(&tolerance) {
        return Err(Error::Usage(format!(
            "--tolerance must be a fraction in [{MIN_TOLERANCE:e}, 1) (0.01 = 1 %), got {}",
            crate::error::num(tolerance)
        )));
    }
    Ok(())
}

/// One GPU count replayed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LlmProbe {
    pub gpus: usize,
    pub meets: bool,
    /// The binding model's attainment there.
    pub attainment: f64,
}

/// The plan of one LLM policy on one GPU kind.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LlmPlanResult {
    /// `llm`: the kind of plan.
    pub kind: &'static str,
    pub policy: String,
    pub gpu: String,
    /// The fewest GPUs whose replay meets the criterion; `None` when no count up to
    /// `max_gpus` does.
    pub gpus: Option<usize>,
    pub max_gpus: usize,
    pub search: Search,
    /// Whether the answer is proven the fewest (see [`search_exact`]; no LLM policy is
    /// monotone by design).
    pub exact: bool,
    /// The fewest GPUs that give every model a replica (counts below are not replayed).
    pub min_gpus: usize,
    pub attainment: f64,
    /// The trace's offered rate, requests/s, and its requests.
    pub rate_rps: f64,
    pub requests: usize,
    /// At the answer (at `max_gpus` when there is none): goodput, the binding model, every
    /// model's figures, the replicas.
    pub goodput_rps: f64,
    pub binding_model: String,
    pub binding_attainment: f64,
    pub models: Vec<ModelAtAnswer>,
    pub replicas: Vec<ReplicaPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_per_gpu_hour: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_hour: Option<f64>,
    /// Cost per million requests offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_million_requests: Option<f64>,
    /// Every count replayed, in increasing order.
    pub probes: Vec<LlmProbe>,
    /// Counts replayed above the answer that do not meet the criterion.
    pub not_monotone: Vec<usize>,
}

/// The fewest GPUs (at most `max_gpus`) on which the replay of `s` (its trace as given; its
/// own GPU count is not read) meets the goodput criterion with share `attainment`, searched by
/// `search`; `price` per GPU-hour adds the costs.
pub fn plan_llm(
    s: &LlmScenario,
    attainment: f64,
    max_gpus: usize,
    search: Search,
    price: Option<f64>,
) -> Result<LlmPlanResult> {
    let c = GoodputCriterion::new(s, attainment)?;
    if max_gpus == 0 || max_gpus > MAX_GPUS {
        return Err(Error::Usage(format!(
            "--max-gpus must be between 1 and {MAX_GPUS}, got {max_gpus}"
        )));
    }
    if let Some(m) = s.params.replicas.keys().next() {
        return Err(Error::Usage(format!(
            "--param llm.replicas.{m}: plan chooses the GPU count and shares it among the models as run does; a set replica count is for run and peak"
        )));
    }
    if s.trace.is_empty() {
        return Err(Error::file(&s.trace.path, "trace has no requests"));
    }
    let most_tp = s
        .trace
        .models
        .iter()
        .filter_map(|m| s.profiles.find(&s.gpu, WHOLE, m).map(|p| p.tp as usize))
        .max()
        .unwrap_or(1);
    let min_gpus = s.trace.models.len() * most_tp;
    if min_gpus > max_gpus {
        return Err(Error::Usage(format!(
            "--max-gpus {max_gpus}: the trace's {} models need at least {min_gpus} GPUs of {} (a replica each, {most_tp} GPUs per replica)",
            s.trace.models.len(),
            s.gpu
        )));
    }
    let mut seen: BTreeMap<usize, Tried> = BTreeMap::new();
    let mut probe = |n: usize| -> Result<bool> {
        if n < min_gpus {
            return Ok(false);
        }
        if let Some(t) = seen.get(&n) {
            return Ok(t.judgement.meets);
        }
        let sn = with(s, s.trace, n);
        let r = replay(&sn)?;
        let t = tried(&sn, &c, &r);
        let meets = t.judgement.meets;
        seen.insert(n, t);
        Ok(meets)
    };
    let answer = search_counts(search, false, max_gpus, &mut probe)?;
    // The figures at the bound when no count meets (every search has replayed it then, or
    // it is below the fewest GPUs, which the check above refuses).
    probe(answer.unwrap_or(max_gpus))?;
    let not_monotone: Vec<usize> = match answer {
        Some(a) => seen
            .iter()
            .filter(|(n, t)| **n > a && !t.judgement.meets)
            .map(|(n, _)| *n)
            .collect(),
        None => Vec::new(),
    };
    let probes = seen
        .iter()
        .map(|(n, t)| LlmProbe {
            gpus: *n,
            meets: t.judgement.meets,
            attainment: t.judgement.binding_attainment,
        })
        .collect();
    let at = seen
        .remove(&answer.unwrap_or(max_gpus))
        .expect("the answer or the bound was replayed");
    let rate_rps = s.trace.offered_rate();
    let cost_per_hour = match (price, answer) {
        (Some(p), Some(n)) => Some(p * n as f64),
        _ => None,
    };
    Ok(LlmPlanResult {
        kind: "llm",
        policy: s.policy.name(),
        gpu: s.gpu.clone(),
        gpus: answer,
        max_gpus,
        search,
        exact: search_exact(search, false, answer),
        min_gpus,
        attainment,
        rate_rps,
        requests: s.trace.len(),
        goodput_rps: at.goodput_rps,
        binding_model: at.judgement.binding_model,
        binding_attainment: at.judgement.binding_attainment,
        models: at.models,
        replicas: at.replicas,
        price_per_gpu_hour: price,
        cost_per_hour,
        cost_per_million_requests: cost_per_hour
            .filter(|_| rate_rps > 0.0)
            .map(|c| c / (rate_rps * 3600.0) * 1e6),
        probes,
        not_monotone,
    })
}

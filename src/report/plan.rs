//! The capacity-plan part of a sweep's verdict (`plan` table): per workload and policy, the
//! fewest GPUs meeting every model's SLA in every seed, and one plain-language sentence per
//! workload computed from those rows (which policy needs the fewest, how many fewer than the
//! baseline, where its binding percentile sits).

use crate::drive::sweep::SweepResult;
use serde::{Deserialize, Serialize};

/// One policy on one workload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanVerdictRow {
    pub workload: String,
    pub policy: String,
    /// The workload's mean offered rate (first seed), queries/s.
    pub rate_qps: f64,
    /// GPUs needed: the most any seed needs (`None` when some seed is not met up to
    /// `max_gpus`).
    pub gpus: Option<usize>,
    pub gpus_per_seed: Vec<Option<usize>>,
    pub max_gpus: usize,
    /// Every seed's answer is proven the fewest (see [`crate::drive::capacity::PlanResult::exact`]).
    pub exact: bool,
    /// The baseline's count minus this one (both met).
    pub fewer_than_baseline: Option<i64>,
    /// At the answer of the seed that needs the most: the binding model, its percentile and SLA.
    pub binding_model: String,
    pub latency_ms: Option<f64>,
    pub sla_ms: f64,
    pub utilization: f64,
    pub attainment: Option<f64>,
    /// Its layouts there.
    pub layout: String,
    /// Why no count can meet the SLA, when a seed's service-time floor proves it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unreachable: Option<String>,
}

/// The rows (workload, then policy order) and one sentence per workload.
pub fn plan_verdict(res: &SweepResult) -> (Vec<PlanVerdictRow>, Vec<String>) {
    let cfg = &res.config;
    if res.plans.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let baseline = cfg.baseline();
    let mut rows = Vec::new();
    let mut sentences = Vec::new();
    for w in &cfg.workloads {
        let mut here: Vec<PlanVerdictRow> = Vec::new();
        for p in &cfg.policies {
            let label = p.label();
            let per: Vec<&crate::drive::capacity::PlanResult> = cfg
                .seeds
                .iter()
                .filter_map(|&s| {
                    res.plans
                        .iter()
                        .find(|r| r.workload == w.name && r.plan.policy == label && r.seed == s)
                        .map(|r| &r.plan)
                })
                .collect();
            let Some(first) = per.first() else {
                continue;
            };
            let gpus_per_seed: Vec<Option<usize>> = per.iter().map(|r| r.gpus).collect();
            let gpus = gpus_per_seed
                .iter()
                .copied()
                .collect::<Option<Vec<usize>>>()
                .and_then(|v| v.into_iter().max());
            // The seed that needs the most (unmet counts as more than any count).
            let worst = per
                .iter()
                .max_by_key(|r| r.gpus.map_or(usize::MAX, |g| g))
                .expect("at least one seed");
            let binding = worst
                .models
                .iter()
                .find(|m| m.model == worst.binding_model)
                .or(worst.models.first());
            here.push(PlanVerdictRow {
                workload: w.name.clone(),
                policy: label,
                rate_qps: first.rate_qps,
                gpus,
                gpus_per_seed,
                max_gpus: first.max_gpus,
                exact: per.iter().all(|r| r.exact),
                fewer_than_baseline: None,
                binding_model: worst.binding_model.clone(),
                latency_ms: binding.and_then(|m| m.latency_ms),
                sla_ms: binding.map_or(w.sla_ms, |m| m.sla_ms),
                utilization: worst.utilization,
                attainment: worst.attainment,
                layout: worst.layout.clone(),
                unreachable: per.iter().find_map(|r| r.unreachable.clone()),
            });
        }
        let base = here
            .iter()
            .find(|r| r.policy == baseline)
            .and_then(|r| r.gpus);
        for r in &mut here {
            r.fewer_than_baseline = match (base, r.gpus) {
                (Some(b), Some(g)) => Some(b as i64 - g as i64),
                _ => None,
            };
        }
        if let Some(s) = sentence(&w.name, &here, &baseline, cfg.percentile, cfg.seeds.len()) {
            sentences.push(s);
        }
        rows.extend(here);
    }
    (rows, sentences)
}

/// The sentence of one workload: the policy needing the fewest GPUs (ties: the one whose
/// binding percentile is furthest below its SLA, then matrix order) against the baseline.
fn sentence(
    workload: &str,
    rows: &[PlanVerdictRow],
    baseline: &str,
    percentile: f64,
    seeds: usize,
) -> Option<String> {
    let first = rows.first()?;
    let head = format!(
        "For {workload} at {:.0} q/s with p{percentile} of every model within its SLA",
        first.rate_qps
    );
    let every = if seeds > 1 {
        format!(" (enough in every one of the {seeds} seeds)")
    } else {
        String::new()
    };
    let ratio = |r: &PlanVerdictRow| r.latency_ms.unwrap_or(f64::INFINITY) / r.sla_ms;
    let best = rows
        .iter()
        .filter(|r| r.gpus.is_some())
        .min_by(|a, b| a.gpus.cmp(&b.gpus).then(ratio(a).total_cmp(&ratio(b))));
    let Some(best) = best else {
        if let Some(why) = rows.iter().find_map(|r| r.unreachable.as_ref()) {
            return Some(format!("{head}: {why}."));
        }
        return Some(format!(
            "{head}: no policy meets the SLA on up to {} GPUs.",
            first.max_gpus
        ));
    };
    let n = best.gpus.expect("met");
    let sits = match best.latency_ms {
        Some(l) => format!(
            "; its p{percentile} sits at {l:.1} ms ({} {}, SLA {:.2} ms)",
            best.binding_model,
            if l <= best.sla_ms { "within" } else { "over" },
            best.sla_ms
        ),
        None => String::new(),
    };
    let base = rows.iter().find(|r| r.policy == baseline);
    let versus = match base {
        _ if best.policy == baseline => "; no policy needs fewer".to_string(),
        Some(b) => match b.gpus {
            Some(bg) if bg > n => format!(", {} fewer than {baseline} ({bg})", bg - n),
            Some(bg) => format!(", as many as {baseline} ({bg})"),
            None => format!(", where {baseline} meets it on none up to {}", b.max_gpus),
        },
        None => String::new(),
    };
    Some(format!(
        "{head}: {} needs {n} GPU{}{versus}{every}{sits}.",
        best.policy,
        if n == 1 { "" } else { "s" }
    ))
}

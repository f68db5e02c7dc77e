//! The verdict of a sweep, its `summary.json`: the setup, the input hashes, per workload and
//! policy the latency-bounded throughput and its ratio to the baseline across seeds, the
//! percentile and utilization at the reference load, and whether the runs can be trusted.

use crate::drive::sweep::{RunRow, SweepResult};
use crate::stats::aggregate::Agg;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One line of the verdict: a policy on a workload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VerdictRow {
    pub workload: String,
    pub policy: String,
    pub sla_ms: f64,
    /// Latency-bounded throughput (queries/s) across seeds; a seed with no sustainable load
    /// counts as 0.
    pub peak_qps: Agg,
    /// Per-seed ratio of the peak to the baseline policy's, over the seeds where the baseline's
    /// peak is above 0 (a failed peak of this policy counts as 0).
    pub peak_ratio: Option<Agg>,
    /// Seeds whose peak search found no sustainable load (peak 0).
    #[serde(default)]
    pub failed_peaks: usize,
    /// Seeds left out of the ratio because the baseline's peak is 0.
    #[serde(default)]
    pub baseline_failed: usize,
    /// Seeds whose peak is only a lower bound (the SLA held at the largest scale tried).
    #[serde(default)]
    pub lower_bounds: usize,
    /// The verdict percentile (ms) at the reference load, across seeds.
    pub latency_ms_at_reference: Option<Agg>,
    pub utilization_at_reference: Option<Agg>,
    /// The fraction of queries that met their model's SLA at the reference load, across seeds.
    #[serde(default)]
    pub attainment_at_reference: Option<Agg>,
}

/// Whether the runs can be trusted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Validity {
    pub runs: usize,
    pub runs_with_invariants_ok: usize,
    pub peak_searches: usize,
    pub min_queries_per_run: u64,
    /// Percentiles with at least 10 queries above them in every run.
    pub percentiles_supported: Vec<f64>,
    pub extrapolated_queries: u64,
}

/// One workload of the setup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkloadInfo {
    pub name: String,
    pub source: String,
    pub sla_ms: f64,
    /// Per-model SLAs overriding `sla_ms`.
    #[serde(default)]
    pub sla: BTreeMap<String, f64>,
    /// The reference load: `N q/s`, or `F of the best peak`.
    #[serde(default)]
    pub reference: String,
    /// What the seeds replicate (`same`, `windows`, `generated`).
    #[serde(default)]
    pub replicates: String,
}

/// One input file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Input {
    pub role: String,
    pub path: String,
    pub sha256: String,
}

/// `summary.json` of a sweep.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchSummary {
    pub name: String,
    pub gpu: String,
    pub gpus: usize,
    pub seeds: Vec<u64>,
    pub percentile: f64,
    pub reference_load: f64,
    pub loads: Vec<f64>,
    pub rate_scales: Vec<f64>,
    pub baseline: String,
    pub workloads: Vec<WorkloadInfo>,
    pub policies: Vec<String>,
    pub inputs: Vec<Input>,
    /// Profile rows by source.
    pub provenance: BTreeMap<String, usize>,
    pub verdict: Vec<VerdictRow>,
    /// With a `plan` table: GPUs needed per workload and policy, and one sentence per workload
    /// ([`super::plan`]).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub plan: Vec<super::plan::PlanVerdictRow>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub plan_verdict: Vec<String>,
    pub validity: Validity,
    pub mig_replay_version: String,
}

/// Build the summary of a sweep. The baseline of the ratios is the sweep file's `baseline`
/// ([`crate::drive::sweep::config::SweepConfig::baseline`]).
pub fn summarize(res: &SweepResult) -> BenchSummary {
    let cfg = &res.config;
    let (plan, plan_verdict) = super::plan::plan_verdict(res);
    let labels: Vec<String> = cfg.policies.iter().map(|p| p.label()).collect();
    let baseline = cfg.baseline();
    let mut verdict = Vec::new();
    for w in &cfg.workloads {
        let peak_of = |policy: &str, seed: u64| {
            res.peaks
                .iter()
                .find(|p| p.workload == w.name && p.peak.policy == policy && p.seed == seed)
                .map(|p| &p.peak)
        };
        for label in &labels {
            // Every seed's peak, a failed one (no sustainable load) as 0.
            let peaks: Vec<&crate::drive::peak::PeakResult> = cfg
                .seeds
                .iter()
                .filter_map(|&s| peak_of(label, s))
                .collect();
            let qps: Vec<f64> = peaks.iter().map(|p| p.rate_qps).collect();
            let mut baseline_failed = 0;
            let ratios: Vec<f64> = cfg
                .seeds
                .iter()
                .filter_map(|&s| {
                    let b = peak_of(&baseline, s)?.rate_qps;
                    if b <= 0.0 {
                        baseline_failed += 1;
                        return None;
                    }
                    Some(peak_of(label, s).map_or(0.0, |p| p.rate_qps) / b)
                })
                .collect();
            let at_ref: Vec<&RunRow> = res
                .runs
                .iter()
                .filter(|r| r.workload == w.name && &r.policy == label && r.reference)
                .collect();
            let attain: Vec<f64> = at_ref
                .iter()
                .filter_map(|r| r.figures.sla_attainment)
                .collect();
            // A row's `percentile_ms` is its latency at the sweep's percentile, whichever it is.
            let lat: Vec<f64> = at_ref.iter().map(|r| r.percentile_ms).collect();
            let util: Vec<f64> = at_ref.iter().map(|r| r.figures.utilization).collect();
            let Some(peak_qps) = Agg::of(&qps) else {
                continue;
            };
            verdict.push(VerdictRow {
                workload: w.name.clone(),
                policy: label.clone(),
                sla_ms: w.sla_ms,
                peak_qps,
                peak_ratio: Agg::of(&ratios),
                failed_peaks: peaks.iter().filter(|p| p.rate_scale <= 0.0).count(),
                baseline_failed,
                lower_bounds: peaks.iter().filter(|p| p.lower_bound).count(),
                latency_ms_at_reference: Agg::of(&lat),
                utilization_at_reference: Agg::of(&util),
                attainment_at_reference: Agg::of(&attain),
            });
        }
    }
    let min_q = res
        .runs
        .iter()
        .map(|r| r.figures.queries)
        .min()
        .unwrap_or(0);
    let validity = Validity {
        runs: res.runs.len(),
        runs_with_invariants_ok: res.runs.iter().filter(|r| r.invariants_ok).count(),
        peak_searches: res.peaks.len(),
        min_queries_per_run: min_q,
        percentiles_supported: [50.0, 90.0, 95.0, 99.0, 99.9, 99.99]
            .into_iter()
            .filter(|p| min_q as f64 * (1.0 - p / 100.0) >= 10.0)
            .collect(),
        extrapolated_queries: res.runs.iter().map(|r| r.figures.extrapolated).sum(),
    };
    let names = ["measured", "interpolated", "modeled", "unspecified"];
    BenchSummary {
        name: cfg.name.clone(),
        gpu: cfg.gpu.clone(),
        gpus: cfg.gpus,
        seeds: cfg.seeds.clone(),
        percentile: cfg.percentile,
        reference_load: cfg.reference_load,
        loads: cfg.loads.clone(),
        rate_scales: cfg.rate_scales.clone(),
        baseline,
        workloads: cfg
            .workloads
            .iter()
            .map(|w| WorkloadInfo {
                name: w.name.clone(),
                source: match (&w.trace, &w.generate) {
                    (Some(t), _) => match w.rate {
                        Some(r) => format!("{} rescaled to {r} q/s", t.display()),
                        None => t.display().to_string(),
                    },
                    (_, Some(g)) => g.describe(),
                    _ => String::new(),
                },
                sla_ms: w.sla_ms,
                sla: w.sla.clone(),
                reference: match w.reference_qps {
                    Some(q) => format!("{q} q/s"),
                    None => format!("{} of the best peak", cfg.reference_load),
                },
                replicates: match (&w.generate, w.replicates.as_deref()) {
                    (Some(_), _) => "generated".into(),
                    (_, Some("windows")) => format!("windows ({} of the trace)", cfg.seeds.len()),
                    _ => "same".into(),
                },
            })
            .collect(),
        policies: labels,
        inputs: res
            .inputs
            .iter()
            .map(|(role, path, sha256)| Input {
                role: role.clone(),
                path: path.clone(),
                sha256: sha256.clone(),
            })
            .collect(),
        provenance: names
            .iter()
            .zip(res.provenance)
            .map(|(n, c)| (n.to_string(), c))
            .collect(),
        verdict,
        plan,
        plan_verdict,
        validity,
        mig_replay_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The verdict as a terminal table, with what its marks and intervals mean.
pub fn verdict_text(s: &BenchSummary) -> String {
    let reference = if s
        .workloads
        .iter()
        .all(|w| w.reference.ends_with("best peak"))
    {
        format!("{:.0}%", 100.0 * s.reference_load)
    } else {
        "reference".to_string()
    };
    let mut out = plan_text(s);
    out += &format!(
        "{:<22} {:<30} {:>24} {:>18} {:>22} {:>10}\n",
        "workload",
        "policy",
        "peak q/s",
        format!("vs {}", s.baseline),
        format!("p{} ms at {reference}", s.percentile),
        "met SLA"
    );
    let (mut failed, mut lower, mut base_failed) = (false, false, false);
    for v in &s.verdict {
        let mut peak = v.peak_qps.fmt(1, "");
        if v.lower_bounds > 0 {
            peak = format!(">={peak}");
            lower = true;
        }
        if v.failed_peaks > 0 {
            peak = format!("{peak} †{}", v.failed_peaks);
            failed = true;
        }
        let mut ratio = v.peak_ratio.map_or("-".into(), |r| r.fmt(2, "×"));
        if v.baseline_failed > 0 {
            ratio = format!("{ratio} ‡{}", v.baseline_failed);
            base_failed = true;
        }
        out += &format!(
            "{:<22} {:<30} {:>24} {:>18} {:>22} {:>10}\n",
            v.workload,
            v.policy,
            peak,
            ratio,
            v.latency_ms_at_reference
                .map_or("-".into(), |r| r.fmt(2, "")),
            v.attainment_at_reference
                .map_or("-".into(), |a| format!("{:.2}%", 100.0 * a.mean))
        );
    }
    out += &format!(
        "(mean ± the 95 % interval of the mean over the {} (Student t); ± — when they cannot differ (one replicate, or identical ones); \"vs {}\" is each seed's peak over {}'s, then averaged; \"met SLA\": queries within their model's SLA at the reference load)\n",
        match s.seeds.len() {
            1 => "1 seed".to_string(),
            n => format!("{n} seeds"),
        },
        s.baseline,
        s.baseline
    );
    if failed {
        out += "(†k: k seeds found no sustainable load; their peak counts as 0 in the mean and the ratio)\n";
    }
    if base_failed {
        out += &format!(
            "(‡k: k seeds where {} found no sustainable load, left out of the ratio)\n",
            s.baseline
        );
    }
    if lower {
        out += "(>=: the SLA held at every rate scale tried; the peak is a lower bound)\n";
    }
    out
}

/// The capacity plan as terminal text: the sentences, then GPUs needed per workload and
/// policy; empty without a plan.
fn plan_text(s: &BenchSummary) -> String {
    if s.plan.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for v in &s.plan_verdict {
        out += v;
        out.push('\n');
    }
    out += &format!(
        "{:<22} {:<30} {:>7} {:>14} {:>22} {:>10}\n",
        "workload",
        "policy",
        "GPUs",
        format!("vs {}", s.baseline),
        format!("p{} ms / SLA", s.percentile),
        "met SLA"
    );
    for r in &s.plan {
        out += &format!(
            "{:<22} {:<30} {:>7} {:>14} {:>22} {:>10}\n",
            r.workload,
            r.policy,
            r.gpus.map_or(format!(">{}", r.max_gpus), |g| g.to_string())
                + if r.exact { "" } else { "*" },
            r.fewer_than_baseline.map_or("-".into(), fewer_text),
            r.latency_ms
                .map_or("-".into(), |l| format!("{l:.2} / {:.2}", r.sla_ms)),
            r.attainment
                .map_or("-".into(), |a| format!("{:.2}%", 100.0 * a))
        );
    }
    out += "(GPUs: the fewest of the sweep's kind meeting every model's SLA at the workload's own rate, in every seed; figures at that count for the seed needing the most; *: by bisection for a policy not monotone by design, a smaller count might also do)\n\n";
    out
}

/// How many GPUs fewer than the baseline a plan needs, in words: `2 fewer`, `same`, `1 more`.
pub fn fewer_text(d: i64) -> String {
    match d {
        0 => "same".into(),
        d if d > 0 => format!("{d} fewer"),
        d => format!("{} more", -d),
    }
}

//! The verdict of a sweep, its `summary.json`: the setup, the input hashes, per workload and
//! policy the latency-bounded throughput and its ratio to the baseline across seeds, the
//! percentile and utilization at the reference load, and whether the runs can be trusted.

use crate::aggregate::Agg;
use crate::sweep::{RunRow, SweepResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One line of the verdict: a policy on a workload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VerdictRow {
    pub workload: String,
    pub policy: String,
    pub sla_ms: f64,
    /// Latency-bounded throughput (queries/s) across seeds.
    pub peak_qps: Agg,
    /// Per-seed ratio of the peak to the baseline policy's (absent when the baseline's is 0).
    pub peak_ratio: Option<Agg>,
    /// The verdict percentile (ms) at the reference load, across seeds.
    pub latency_ms_at_reference: Option<Agg>,
    pub utilization_at_reference: Option<Agg>,
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
    pub validity: Validity,
    pub mig_replay_version: String,
}

/// The figure of a run row that the verdict percentile names.
pub fn percentile_of(r: &RunRow, p: f64) -> f64 {
    let l = &r.figures.latency;
    [
        (50.0, l.p50_ms),
        (90.0, l.p90_ms),
        (95.0, l.p95_ms),
        (99.9, l.p999_ms),
        (100.0, l.max_ms),
    ]
    .into_iter()
    .find(|x| x.0 == p)
    .map_or(l.p99_ms, |x| x.1)
}

/// Build the summary of a sweep. The baseline of the ratios is the sweep file's `baseline`
/// ([`crate::sweep::config::SweepConfig::baseline`]).
pub fn summarize(res: &SweepResult) -> BenchSummary {
    let cfg = &res.config;
    let labels: Vec<String> = cfg.policies.iter().map(|p| p.label()).collect();
    let baseline = cfg.baseline();
    let mut verdict = Vec::new();
    for w in &cfg.workloads {
        let peak_of = |policy: &str, seed: u64| {
            res.peaks
                .iter()
                .find(|p| p.workload == w.name && p.peak.policy == policy && p.seed == seed)
                .map(|p| p.peak.rate_qps)
        };
        for label in &labels {
            let qps: Vec<f64> = cfg
                .seeds
                .iter()
                .filter_map(|&s| peak_of(label, s))
                .collect();
            let ratios: Vec<f64> = cfg
                .seeds
                .iter()
                .filter_map(|&s| {
                    let b = peak_of(&baseline, s)?;
                    (b > 0.0).then(|| peak_of(label, s).unwrap_or(0.0) / b)
                })
                .collect();
            let at_ref: Vec<&RunRow> = res
                .runs
                .iter()
                .filter(|r| {
                    r.workload == w.name
                        && &r.policy == label
                        && r.load_fraction
                            .is_some_and(|f| (f - cfg.reference_load).abs() < 1e-12)
                })
                .collect();
            let lat: Vec<f64> = at_ref
                .iter()
                .map(|r| percentile_of(r, cfg.percentile))
                .collect();
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
                latency_ms_at_reference: Agg::of(&lat),
                utilization_at_reference: Agg::of(&util),
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
                    (_, Some(g)) => format!(
                        "generated: Poisson {} q/s, {} queries, {}, log-normal batches mu {} sigma {} max {}, seeded per seed",
                        g.rate,
                        g.queries,
                        g.models.join(" + "),
                        g.batch_mu,
                        g.batch_sigma,
                        g.max_batch
                    ),
                    _ => String::new(),
                },
                sla_ms: w.sla_ms,
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
        validity,
        mig_replay_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The verdict as a terminal table.
pub fn verdict_text(s: &BenchSummary) -> String {
    let mut out = format!(
        "{:<22} {:<30} {:>22} {:>16} {:>22}\n",
        "workload",
        "policy",
        "peak q/s",
        format!("vs {}", s.baseline),
        format!("p{} ms at {:.0}%", s.percentile, 100.0 * s.reference_load)
    );
    for v in &s.verdict {
        out += &format!(
            "{:<22} {:<30} {:>22} {:>16} {:>22}\n",
            v.workload,
            v.policy,
            v.peak_qps.fmt(1, ""),
            v.peak_ratio.map_or("-".into(), |r| r.fmt(2, "×")),
            v.latency_ms_at_reference
                .map_or("-".into(), |r| r.fmt(2, ""))
        );
    }
    out += &format!(
        "(mean ± the 95 % interval of the mean over {} (Student t); \"vs {}\" is each seed's peak over {}'s, then averaged)\n",
        match s.seeds.len() {
            1 => "1 seed, so no interval".to_string(),
            n => format!("{n} seeds"),
        },
        s.baseline,
        s.baseline
    );
    out
}

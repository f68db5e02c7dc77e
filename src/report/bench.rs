//! The report of a sweep: `results.parquet` (one row per run), `peaks.parquet` (one row per
//! policy x workload x seed), `summary.json` (setup, input hashes, verdict, validity), the plots
//! (PNG + SVG) and `index.html`.

use crate::aggregate::Agg;
use crate::error::{Error, Result};
use crate::plot::{self, BatchHeat, BusyHeat, LineChart, PeakBars, Series};
use crate::sweep::{RunRow, SweepResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

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
    [
        (50.0, r.p50_ms),
        (90.0, r.p90_ms),
        (95.0, r.p95_ms),
        (99.9, r.p999_ms),
        (100.0, r.max_ms),
    ]
    .into_iter()
    .find(|x| x.0 == p)
    .map_or(r.p99_ms, |x| x.1)
}

/// Build the summary of a sweep. The baseline of the ratios is the policy labelled `fcfs`
/// (else the first policy).
pub fn summarize(res: &SweepResult) -> BenchSummary {
    let cfg = &res.config;
    let labels: Vec<String> = cfg.policies.iter().map(|p| p.label()).collect();
    let baseline = labels
        .iter()
        .find(|l| l.as_str() == "fcfs")
        .unwrap_or(&labels[0])
        .clone();
    let mut verdict = Vec::new();
    for w in &cfg.workloads {
        let peak_of = |policy: &str, seed: u64| {
            res.peaks
                .iter()
                .find(|p| p.workload == w.name && p.policy == policy && p.seed == seed)
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
            let util: Vec<f64> = at_ref.iter().map(|r| r.utilization).collect();
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
    let min_q = res.runs.iter().map(|r| r.queries).min().unwrap_or(0);
    let validity = Validity {
        runs: res.runs.len(),
        runs_with_invariants_ok: res.runs.iter().filter(|r| r.invariants_ok).count(),
        peak_searches: res.peaks.len(),
        min_queries_per_run: min_q,
        percentiles_supported: [50.0, 90.0, 95.0, 99.0, 99.9, 99.99]
            .into_iter()
            .filter(|p| min_q as f64 * (1.0 - p / 100.0) >= 10.0)
            .collect(),
        extrapolated_queries: res.runs.iter().map(|r| r.extrapolated).sum(),
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

/// Serialize rows to one Arrow record batch (schema inferred from the JSON form) and write it
/// as Parquet.
pub fn write_rows<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).map_err(|e| Error::Other(e.to_string())))
        .collect::<Result<_>>()?;
    let bad = |e: arrow_schema::ArrowError| Error::Other(format!("{}: {e}", path.display()));
    let schema =
        arrow_json::reader::infer_json_schema_from_iterator(values.iter().map(Ok)).map_err(bad)?;
    let mut dec = arrow_json::ReaderBuilder::new(Arc::new(schema))
        .build_decoder()
        .map_err(bad)?;
    dec.serialize(&values).map_err(bad)?;
    let batch = dec
        .flush()
        .map_err(bad)?
        .ok_or_else(|| Error::Other(format!("{}: no rows", path.display())))?;
    crate::io::write_parquet(path, &batch)
}

/// The SVG of every plot, keyed for the template.
#[derive(Debug, Default, Serialize)]
pub struct Plots {
    pub peaks: String,
    /// Per workload: (name, latency vs load, utilization vs load, CDF).
    pub workloads: Vec<WorkloadPlots>,
    pub heatmaps: Vec<HeatPlots>,
}

#[derive(Debug, Default, Serialize)]
pub struct WorkloadPlots {
    pub name: String,
    pub latency: String,
    pub p50: String,
    pub utilization: String,
    pub cdf: String,
}

#[derive(Debug, Default, Serialize)]
pub struct HeatPlots {
    pub workload: String,
    pub policy: String,
    pub busy: String,
    pub batch: String,
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Mean of `f` over seeds, per (policy, load fraction), for one workload.
fn by_load(res: &SweepResult, workload: &str, f: impl Fn(&RunRow) -> f64) -> Vec<Series> {
    let cfg = &res.config;
    cfg.policies
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let label = p.label();
            let mut acc: BTreeMap<i64, (f64, Vec<f64>)> = BTreeMap::new();
            for r in res
                .runs
                .iter()
                .filter(|r| r.workload == workload && r.policy == label)
            {
                if let Some(fr) = r.load_fraction {
                    let e = acc.entry((fr * 1e6).round() as i64).or_insert((fr, vec![]));
                    e.1.push(f(r));
                }
            }
            Series {
                name: label,
                color: k,
                points: acc
                    .values()
                    .map(|(fr, v)| (100.0 * fr, v.iter().sum::<f64>() / v.len() as f64))
                    .collect(),
            }
        })
        .collect()
}

/// Draw every plot into `dir/plots/`.
pub fn plots(res: &SweepResult, summary: &BenchSummary, dir: &Path) -> Result<Plots> {
    let pdir = dir.join("plots");
    let cfg = &res.config;
    let mut out = Plots::default();
    let color_of = |label: &str| {
        cfg.policies
            .iter()
            .position(|p| p.label() == label)
            .unwrap_or(0)
    };
    out.peaks = plot::save(
        &PeakBars {
            title: format!(
                "Latency-bounded throughput (p{} <= SLA), {} x {}; bar = mean, whisker = min..max over {} seeds",
                cfg.percentile,
                cfg.gpus,
                cfg.gpu,
                cfg.seeds.len()
            ),
            x_label: "queries/s".into(),
            panels: cfg
                .workloads
                .iter()
                .map(|w| {
                    (
                        format!("{} (SLA {} ms)", w.name, w.sla_ms),
                        summary
                            .verdict
                            .iter()
                            .filter(|v| v.workload == w.name)
                            .map(|v| plot::bars::Bar {
                                policy: v.policy.clone(),
                                color: color_of(&v.policy),
                                mean: v.peak_qps.mean,
                                min: v.peak_qps.min,
                                max: v.peak_qps.max,
                            })
                            .collect(),
                    )
                })
                .collect(),
        },
        &pdir,
        "peaks",
    )?;
    let pct = cfg.percentile;
    for w in &cfg.workloads {
        let s = slug(&w.name);
        let x_label = "offered load (% of the best policy's peak)".to_string();
        let latency = plot::save(
            &LineChart {
                title: format!("{}: p{pct} latency vs offered load", w.name),
                x_label: x_label.clone(),
                y_label: format!("p{pct} latency (ms, log scale)"),
                series: by_load(res, &w.name, |r| percentile_of(r, pct)),
                hline: Some((w.sla_ms, format!("SLA {} ms", w.sla_ms))),
                log_x: false,
                log_y: true,
            },
            &pdir,
            &format!("latency-{s}"),
        )?;
        let p50 = plot::save(
            &LineChart {
                title: format!("{}: p50 latency vs offered load", w.name),
                x_label: x_label.clone(),
                y_label: "p50 latency (ms, log scale)".into(),
                series: by_load(res, &w.name, |r| r.p50_ms),
                hline: Some((w.sla_ms, format!("SLA {} ms", w.sla_ms))),
                log_x: false,
                log_y: true,
            },
            &pdir,
            &format!("p50-{s}"),
        )?;
        let utilization = plot::save(
            &LineChart {
                title: format!("{}: GPC utilization vs offered load", w.name),
                x_label,
                y_label: "utilization (% of the server's GPC-time)".into(),
                series: by_load(res, &w.name, |r| 100.0 * r.utilization),
                hline: None,
                log_x: false,
                log_y: false,
            },
            &pdir,
            &format!("utilization-{s}"),
        )?;
        let cdf = plot::save(
            &LineChart {
                title: format!(
                    "{}: latency CDF at {:.0}% of the best peak (seed {})",
                    w.name,
                    100.0 * cfg.reference_load,
                    cfg.seeds[0]
                ),
                x_label: "latency (ms, log scale)".into(),
                y_label: "fraction of queries".into(),
                series: res
                    .cdfs
                    .iter()
                    .filter(|c| c.workload == w.name)
                    .map(|c| Series {
                        name: c.policy.clone(),
                        color: color_of(&c.policy),
                        points: c.points.clone(),
                    })
                    .collect(),
                hline: None,
                log_x: true,
                log_y: false,
            },
            &pdir,
            &format!("cdf-{s}"),
        )?;
        out.workloads.push(WorkloadPlots {
            name: w.name.clone(),
            latency,
            p50,
            utilization,
            cdf,
        });
    }
    for h in &res.heatmaps {
        let s = format!("{}-{}", slug(&h.workload), slug(&h.policy));
        let busy = plot::save(
            &BusyHeat {
                title: format!(
                    "{} / {}: busy fraction per instance over time ({:.0}% of the best peak)",
                    h.workload,
                    h.policy,
                    100.0 * cfg.reference_load
                ),
                instances: h.instances.clone(),
                bin_s: h.bin_s,
                busy: h.busy.clone(),
            },
            &pdir,
            &format!("busy-{s}"),
        )?;
        let batch = plot::save(
            &BatchHeat {
                title: format!(
                    "{} / {}: which slice served which batch sizes (cell: queries; shade: share of the column)",
                    h.workload, h.policy
                ),
                buckets: h.buckets.clone(),
                slices: h.slices.clone(),
                count: h.count.clone(),
            },
            &pdir,
            &format!("batch-{s}"),
        )?;
        out.heatmaps.push(HeatPlots {
            workload: h.workload.clone(),
            policy: h.policy.clone(),
            busy,
            batch,
        });
    }
    Ok(out)
}

/// Write the whole report folder.
pub fn write(res: &SweepResult, dir: &Path) -> Result<BenchSummary> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_rows(&dir.join("results.parquet"), &res.runs)?;
    write_rows(&dir.join("peaks.parquet"), &res.peaks)?;
    let summary = summarize(res);
    let mut s = serde_json::to_string_pretty(&summary).map_err(|e| Error::Other(e.to_string()))?;
    s.push('\n');
    crate::io::write_atomic(&dir.join("summary.json"), s.as_bytes())?;
    // Wall times vary from run to run: kept out of summary.json (which is byte-identical for the
    // same inputs) in timing.json, and shown in the page.
    let mut t = serde_json::to_string_pretty(&serde_json::json!({ "stages_s": res.stages }))
        .map_err(|e| Error::Other(e.to_string()))?;
    t.push('\n');
    crate::io::write_atomic(&dir.join("timing.json"), t.as_bytes())?;
    let plots = plots(res, &summary, dir)?;
    let html = super::html::index(&summary, &plots, &res.stages)?;
    crate::io::write_atomic(&dir.join("index.html"), html.as_bytes())?;
    Ok(summary)
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
    out
}

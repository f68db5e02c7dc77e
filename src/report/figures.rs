//! The plots of a sweep report (PNG + SVG under `plots/`), drawn from its results and verdict.

use super::verdict::{BenchSummary, percentile_of};
use crate::error::Result;
use crate::plot::{self, BatchHeat, BusyHeat, LineChart, PeakBars, Series};
use crate::sweep::{RunRow, SweepResult};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

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

/// A workload's reference load in words: `600 q/s`, or `60% of the best peak`.
fn reference_of(cfg: &crate::sweep::config::SweepConfig, workload: &str) -> String {
    match cfg
        .workloads
        .iter()
        .find(|w| w.name == workload)
        .and_then(|w| w.reference_qps)
    {
        Some(q) => format!("{q} q/s"),
        None => format!("{:.0}% of the best peak", 100.0 * cfg.reference_load),
    }
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
                series: by_load(res, &w.name, |r| r.figures.latency.p50_ms),
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
                series: by_load(res, &w.name, |r| 100.0 * r.figures.utilization),
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
                    "{}: latency CDF at the reference load, {} (seed {})",
                    w.name,
                    reference_of(cfg, &w.name),
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
                    "{} / {}: busy fraction per instance over time (reference load, {})",
                    h.workload,
                    h.policy,
                    reference_of(cfg, &h.workload)
                ),
                instances: h.map.instances.clone(),
                bin_s: h.map.bin_s,
                busy: h.map.busy.clone(),
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
                buckets: h.map.buckets.clone(),
                slices: h.map.slices.clone(),
                count: h.map.count.clone(),
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

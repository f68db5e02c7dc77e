//! The plots of a sweep report (PNG + SVG under `plots/`), drawn from its results and verdict.

use super::verdict::BenchSummary;
use crate::drive::sweep::{RunRow, SweepResult};
use crate::error::Result;
use crate::plot::{self, BatchHeat, BusyHeat, LineChart, PeakBars, Series};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The SVG of every plot, keyed for the template.
#[derive(Debug, Default, Serialize)]
pub struct Plots {
    pub peaks: String,
    /// With a capacity plan: GPUs needed per policy, one panel per workload.
    pub gpus_needed: String,
    /// Per workload: (name, latency vs load, utilization vs load, CDF).
    pub workloads: Vec<WorkloadPlots>,
    pub heatmaps: Vec<HeatPlots>,
    /// Peak against one numeric parameter, for each family of policies that differ in it alone.
    pub sweeps: Vec<ParamPlot>,
}

/// A parameter sweep: its title and plot.
#[derive(Debug, Default, Serialize)]
pub struct ParamPlot {
    pub title: String,
    pub svg: String,
}

/// A family of policies that differ in one numeric parameter alone: (the parameter, a title,
/// (value, policy label) in increasing value).
pub type ParamFamily = (String, String, Vec<(f64, String)>);

/// Families of policies that differ in one numeric parameter alone (same name, same other
/// parameters), with at least three values.
pub fn param_families(res: &SweepResult) -> Vec<ParamFamily> {
    let mut fams: BTreeMap<(String, String, String), Vec<(f64, String)>> = BTreeMap::new();
    for p in &res.config.policies {
        let flat = p.flat_params();
        for (k, v) in &flat {
            let Ok(x) = v.parse::<f64>() else {
                continue;
            };
            let rest: Vec<String> = flat
                .iter()
                .filter(|(k2, _)| k2 != k)
                .map(|(k2, v2)| format!("{k2}={v2}"))
                .collect();
            fams.entry((k.clone(), p.name.clone(), rest.join(",")))
                .or_default()
                .push((x, p.label()));
        }
    }
    fams.into_iter()
        .filter(|(_, v)| {
            let mut xs: Vec<f64> = v.iter().map(|x| x.0).collect();
            xs.dedup();
            v.len() >= 3 && xs.len() == v.len()
        })
        .map(|((k, name, rest), mut v)| {
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            let title = if rest.is_empty() {
                format!("{name}: peak vs {k}")
            } else {
                format!("{name} [{rest}]: peak vs {k}")
            };
            (k, title, v)
        })
        .collect()
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
    /// A reconfigurable policy's timeline (empty for a static one).
    pub timeline: String,
}

/// A workload's reference load in words: `600 q/s`, or `60% of the best peak`.
fn reference_of(cfg: &crate::drive::sweep::config::SweepConfig, workload: &str) -> String {
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

use crate::drive::sweep::config::slug;

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
    if !summary.plan.is_empty() {
        out.gpus_needed = plot::save(
            &plot::GpusNeeded {
                title: format!(
                    "GPUs needed ({}): fewest meeting every model's p{} SLA at the workload's rate, in every seed",
                    cfg.gpu, cfg.percentile
                ),
                panels: cfg
                    .workloads
                    .iter()
                    .map(|w| {
                        let rows: Vec<_> = summary
                            .plan
                            .iter()
                            .filter(|r| r.workload == w.name)
                            .collect();
                        (
                            format!(
                                "{} at {:.0} q/s",
                                w.name,
                                rows.first().map_or(0.0, |r| r.rate_qps)
                            ),
                            rows.iter()
                                .map(|r| plot::NeededBar {
                                    policy: r.policy.clone(),
                                    color: color_of(&r.policy),
                                    gpus: r.gpus,
                                    max_gpus: r.max_gpus,
                                    unreachable: r.unreachable.is_some(),
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            },
            &pdir,
            "gpus-needed",
        )?;
    }
    let pct = cfg.percentile;
    for w in &cfg.workloads {
        let s = slug(&w.name);
        let x_label = "offered load (% of the best policy's peak)".to_string();
        let latency = plot::save(
            &LineChart {
                title: format!("{}: p{pct} latency vs offered load", w.name),
                x_label: x_label.clone(),
                y_label: format!("p{pct} latency (ms, log scale)"),
                // The rows' latency at the sweep's percentile, `pct`.
                series: by_load(res, &w.name, |r| r.percentile_ms),
                hline: Some((w.sla_ms, format!("SLA {} ms", w.sla_ms))),
                log_x: false,
                log_y: true,
                x_percent: true,
                y_percent: false,
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
                x_percent: true,
                y_percent: false,
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
                x_percent: true,
                y_percent: true,
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
                ..Default::default()
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
        let timeline = match &h.timeline {
            Some(d) => plot::save(
                &plot::Timeline {
                    title: h.timeline_title.clone().unwrap_or_default(),
                    data: d.clone(),
                },
                &pdir,
                &format!("timeline-{s}"),
            )?,
            None => String::new(),
        };
        out.heatmaps.push(HeatPlots {
            workload: h.workload.clone(),
            policy: h.policy.clone(),
            busy,
            batch,
            timeline,
        });
    }
    // Parameter sweeps: the mean peak over seeds against the parameter, and the goodput at
    // the reference load when the runs have it; one line per workload, as a multiple of the
    // baseline's so that workloads share the axis.
    let peak = |w: &str, label: &str| {
        summary
            .verdict
            .iter()
            .find(|v| v.workload == w && v.policy == label)
            .map(|v| v.peak_qps.mean)
    };
    let goodput = |w: &str, label: &str| -> Option<f64> {
        let v: Vec<f64> = res
            .runs
            .iter()
            .filter(|r| r.workload == w && r.policy == label && r.reference)
            .filter_map(|r| r.figures.goodput_qps)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    // Per workload, `value` of each member over the baseline's (none where the baseline's is 0).
    let relative = |members: &[(f64, String)], value: &dyn Fn(&str, &str) -> Option<f64>| {
        cfg.workloads
            .iter()
            .enumerate()
            .map(|(c, w)| {
                let base = value(&w.name, &summary.baseline).unwrap_or(0.0);
                Series {
                    name: w.name.clone(),
                    color: c,
                    points: members
                        .iter()
                        .filter_map(|(x, label)| {
                            let v = value(&w.name, label)?;
                            (base > 0.0).then(|| (*x, v / base))
                        })
                        .collect(),
                }
            })
            .collect::<Vec<Series>>()
    };
    let mut save = |title: String, param: &str, y: &str, series: Vec<Series>, name: String| {
        let svg = plot::save(
            &LineChart {
                title: title.clone(),
                x_label: param.to_string(),
                y_label: format!("{y} / {}'s", summary.baseline),
                series,
                hline: Some((1.0, summary.baseline.clone())),
                log_x: false,
                log_y: false,
                ..Default::default()
            },
            &pdir,
            &name,
        )?;
        out.sweeps.push(ParamPlot { title, svg });
        Ok::<(), crate::error::Error>(())
    };
    for (k, (param, title, members)) in param_families(res).into_iter().enumerate() {
        let stem = format!("sweep-{k}-{}", slug(&param));
        let series = relative(&members, &peak);
        save(
            title.clone(),
            &param,
            "peak (mean over seeds)",
            series,
            stem.clone(),
        )?;
        let series: Vec<Series> = relative(&members, &goodput)
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect();
        if !series.is_empty() {
            save(
                title.replace(": peak vs ", ": goodput vs "),
                &param,
                "goodput at the reference load",
                series,
                format!("{stem}-goodput"),
            )?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::sweep::config::SweepConfig;

    #[test]
    fn families_differ_in_one_numeric_parameter_alone() {
        let text = r#"
name = "t"
gpu = "A100-80GB"
gpus = 1
profiles = "p.parquet"
loads = [0.5]
[[workload]]
name = "w"
trace = "t.parquet"
sla_ms = 10
[[policy]]
name = "part+sched"
label = "m0"
params = { service_noise = "profile", margin_std = 0 }
[[policy]]
name = "part+sched"
label = "m2"
params = { service_noise = "profile", margin_std = 2 }
[[policy]]
name = "part+sched"
label = "m1"
params = { service_noise = "profile", margin_std = 1 }
[[policy]]
name = "part+sched"
label = "other noise"
params = { service_noise = "none", margin_std = 1 }
[[policy]]
name = "other+sched"
"#;
        let config = SweepConfig::parse(text, Path::new("t.toml")).unwrap();
        let res = SweepResult {
            config,
            inputs: vec![],
            runs: vec![],
            peaks: vec![],
            cdfs: vec![],
            heatmaps: vec![],
            plans: vec![],
            stages: vec![],
            provenance: [0; 4],
        };
        let f = param_families(&res);
        // One family: the three profile-noise policies, ordered by margin_std; the fourth
        // differs in service_noise too.
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, "margin_std");
        assert_eq!(
            f[0].2,
            [
                (0.0, "m0".to_string()),
                (1.0, "m1".into()),
                (2.0, "m2".into())
            ]
        );
        assert_eq!(
            f[0].1,
            "part+sched [service_noise=profile]: peak vs margin_std"
        );
    }
}

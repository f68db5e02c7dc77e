//! `index.html`: one self-contained file (inline SVG plots, inline CSS, no script, no external
//! font or link), rendered from `templates/index.html` with minijinja.

use super::figures::Plots;
use super::verdict::BenchSummary;
use crate::error::{Error, Result};
use minijinja::{Environment, context};

const INDEX: &str = include_str!("templates/index.html");

/// Render the report page.
pub fn index(summary: &BenchSummary, plots: &Plots, stages: &[(String, f64)]) -> Result<String> {
    let mut env = Environment::new();
    env.add_template("index.html", INDEX)
        .map_err(|e| Error::Other(format!("report template: {e}")))?;
    let t = env
        .get_template("index.html")
        .map_err(|e| Error::Other(format!("report template: {e}")))?;
    let provenance_total: usize = summary.provenance.values().sum();
    let rows: Vec<minijinja::Value> = summary
        .verdict
        .iter()
        .map(|v| {
            context! {
                workload => v.workload,
                policy => v.policy,
                sla_ms => v.sla_ms,
                peak => format!(
                    "{}{}{}",
                    if v.lower_bounds > 0 { ">=" } else { "" },
                    v.peak_qps.fmt(1, ""),
                    if v.failed_peaks > 0 { format!(" †{}", v.failed_peaks) } else { String::new() }
                ),
                peak_range => format!("{:.1} .. {:.1}", v.peak_qps.min, v.peak_qps.max),
                ratio => v.peak_ratio.map(|r| r.fmt(2, "×")).unwrap_or_else(|| "-".into())
                    + &if v.baseline_failed > 0 { format!(" ‡{}", v.baseline_failed) } else { String::new() },
                attainment => v.attainment_at_reference.map(|a| format!("{:.2}%", 100.0 * a.mean)).unwrap_or_else(|| "-".into()),
                latency => v.latency_ms_at_reference.map(|r| r.fmt(2, "")).unwrap_or_else(|| "-".into()),
                within_sla => v.latency_ms_at_reference.is_some_and(|r| r.mean <= v.sla_ms),
                utilization => v.utilization_at_reference.map(|r| format!("{:.1}%", 100.0 * r.mean)).unwrap_or_else(|| "-".into()),
            }
        })
        .collect();
    let show = |g: Option<usize>, max: usize| g.map_or(format!("> {max}"), |g| g.to_string());
    let plan_rows: Vec<minijinja::Value> = summary
        .plan
        .iter()
        .map(|r| {
            context! {
                workload => r.workload,
                policy => r.policy,
                gpus => show(r.gpus, r.max_gpus) + if r.exact { "" } else { "*" },
                per_seed => r.gpus_per_seed.iter().map(|g| show(*g, r.max_gpus)).collect::<Vec<_>>().join(", "),
                versus => r.fewer_than_baseline.map_or("-".into(), super::verdict::fewer_text),
                latency => r.latency_ms.map_or("-".into(), |l| format!("{l:.2} / {:.2} ({})", r.sla_ms, r.binding_model)),
                utilization => format!("{:.1}%", 100.0 * r.utilization),
                attainment => r.attainment.map_or("-".into(), |a| format!("{:.2}%", 100.0 * a)),
                layout => r.layout,
            }
        })
        .collect();
    let provenance: Vec<minijinja::Value> = summary
        .provenance
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(k, c)| {
            context! {
                source => k,
                rows => c,
                share => format!("{:.1}%", 100.0 * *c as f64 / provenance_total.max(1) as f64),
            }
        })
        .collect();
    t.render(context! {
        s => summary,
        rows => rows,
        plan_rows => plan_rows,
        provenance => provenance,
        plots => plots,
        stages => stages,
        pct => format!("{}", summary.percentile),
        reference_pct => format!("{:.0}", 100.0 * summary.reference_load),
    })
    .map_err(|e| Error::Other(format!("report template: {e}")))
}

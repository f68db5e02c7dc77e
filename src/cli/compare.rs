//! `mig-replay compare BASELINE NEW`: the regression gate.

use crate::error::{Error, Result};
use crate::plot::{self, PeakBars, bars::Bar};
use crate::report::compare::{self, Change, Comparison};
use crate::report::verdict::BenchSummary;
use clap::Args;
use minijinja::{Environment, context};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline report folder (or its summary.json).
    pub baseline: PathBuf,
    /// The new report folder (or its summary.json).
    pub new: PathBuf,
    /// The largest tolerated worsening of a tracked figure, e.g. 5% or 0.05.
    #[arg(long, default_value = "5%")]
    pub max_regression: String,
    /// Where to write compare.html (default: beside the new summary.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

const PAGE: &str = include_str!("../report/templates/compare.html");

fn page(
    old: &BenchSummary,
    new: &BenchSummary,
    cmp: &Comparison,
    thr: f64,
    dir: &std::path::Path,
) -> Result<String> {
    let changes: &[Change] = &cmp.changes;
    // Side by side: per workload, each policy's baseline and new peak.
    let panels = old
        .workloads
        .iter()
        .map(|w| {
            let mut bars = Vec::new();
            for (k, p) in old.policies.iter().enumerate() {
                for (tag, s, color) in [("baseline", old, 7), ("new", new, k)] {
                    if let Some(v) = s
                        .verdict
                        .iter()
                        .find(|v| v.workload == w.name && &v.policy == p)
                    {
                        bars.push(Bar {
                            policy: format!("{p} ({tag})"),
                            color,
                            mean: v.peak_qps.mean,
                            min: v.peak_qps.min,
                            max: v.peak_qps.max,
                        });
                    }
                }
            }
            (w.name.clone(), bars)
        })
        .collect();
    let svg = plot::save(
        &PeakBars {
            title: "Latency-bounded throughput: baseline (grey) and new".into(),
            x_label: "queries/s".into(),
            panels,
        },
        dir,
        "compare-peaks",
    )?;
    let mut env = Environment::new();
    env.add_template("compare.html", PAGE)
        .map_err(|e| Error::Other(format!("compare template: {e}")))?;
    let rows: Vec<minijinja::Value> = changes
        .iter()
        .map(|c| {
            context! {
                workload => c.workload, policy => c.policy, figure => c.figure,
                old => compare::figure_text(c.old), new => compare::figure_text(c.new),
                change => format!("{:+.2}%", 100.0 * c.change), regression => c.regression,
            }
        })
        .collect();
    env.get_template("compare.html")
        .and_then(|t| {
            t.render(context! {
                old => old, new => new, rows => rows, svg => svg,
                threshold => format!("{:.1}%", 100.0 * thr),
                only_new => cmp.only_new,
                regressions => changes.iter().filter(|c| c.regression).count(),
            })
        })
        .map_err(|e| Error::Other(format!("compare template: {e}")))
}

pub fn compare(a: CompareArgs) -> Result<i32> {
    let thr = compare::threshold(&a.max_regression)?;
    let (old, _) = compare::load(&a.baseline)?;
    let (new, new_file) = compare::load(&a.new)?;
    let cmp = compare::compare(&old, &new, thr)?;
    print!("{}", compare::text(&cmp, thr));
    let changes = &cmp.changes;
    let out = a.out.clone().unwrap_or_else(|| {
        new_file
            .parent()
            .map(|p| p.join("compare.html"))
            .unwrap_or_else(|| PathBuf::from("compare.html"))
    });
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    let html = page(&old, &new, &cmp, thr, &dir.join("plots"))?;
    crate::io::write_atomic(&out, html.as_bytes())?;
    println!("wrote {}", out.display());
    Ok(if changes.iter().any(|c| c.regression) {
        1
    } else {
        0
    })
}

//! The regression gate: compare two sweep reports (their `summary.json`) figure by figure.
//! Tracked per (workload, policy): the latency-bounded throughput (mean across seeds; lower is
//! worse), the verdict percentile at the reference load (mean; higher is worse) and, when the
//! baseline has capacity plans, the GPUs needed (more is worse; a plan no longer met counts as
//! infinitely many). A figure that got worse by more than the threshold is a regression; a
//! figure the baseline tracks and the new report lacks (a plan row, a null percentile) makes
//! the reports mismatched (exit 2).

use crate::error::{Error, Result};
use crate::report::verdict::BenchSummary;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One tracked figure, old and new.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    pub workload: String,
    pub policy: String,
    pub figure: String,
    pub old: f64,
    pub new: f64,
    /// (new - old) / old; 0 when both are 0.
    pub change: f64,
    pub regression: bool,
}

/// Load a report's summary: a report folder or its `summary.json`.
pub fn load(path: &Path) -> Result<(BenchSummary, PathBuf)> {
    let file = if path.is_dir() {
        path.join("summary.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    let s: BenchSummary = serde_json::from_str(&text).map_err(|e| {
        Error::file(
            &file,
            format!("not a sweep report summary ({e}); expected the summary.json of `sweep` or `bench-all`"),
        )
    })?;
    Ok((s, file))
}

fn rel(old: f64, new: f64) -> f64 {
    if old == 0.0 {
        if new == 0.0 {
            0.0
        } else {
            f64::INFINITY * new.signum()
        }
    } else {
        (new - old) / old.abs()
    }
}

/// Parse a regression threshold: a percentage (`5%`, `0.5%`) or a fraction below 1 (`0.05`).
/// A bare number of 1 or more is refused: `5` would read as 500 %.
pub fn threshold(s: &str) -> Result<f64> {
    let t = s.trim();
    let bad = |why: String| {
        Error::Usage(format!(
            "--max-regression '{s}': {why}; expected a percentage like 5% or a fraction like 0.05"
        ))
    };
    match t.strip_suffix('%') {
        Some(p) => match p.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && (0.0..=100.0).contains(&x) => Ok(x / 100.0),
            _ => Err(bad("not a percentage between 0% and 100%".into())),
        },
        None => match t.parse::<f64>() {
            Ok(x) if x.is_finite() && (0.0..1.0).contains(&x) => Ok(x),
            Ok(x) if x.is_finite() && x >= 1.0 => Err(bad(format!(
                "a bare {x} would mean {}%; write {x}% for a percentage",
                100.0 * x
            ))),
            Ok(x) if x < 0.0 => Err(bad(format!(
                "{} is negative; a tolerated worsening is 0 or more",
                crate::error::num(x)
            ))),
            Ok(x) => Err(bad(format!("{x} is not a finite number"))),
            Err(_) => Err(bad("not a number".into())),
        },
    }
}

/// What differs between the setups of two reports (server, percentile, seeds, loads, and per
/// workload its source, SLAs, reference load and replicates), each named.
pub fn setup_differences(old: &BenchSummary, new: &BenchSummary) -> Vec<String> {
    let mut d = Vec::new();
    let mut check = |what: &str, a: String, b: String| {
        if a != b {
            d.push(format!("{what}: baseline {a}, new {b}"));
        }
    };
    check(
        "server",
        format!("{} x {}", old.gpus, old.gpu),
        format!("{} x {}", new.gpus, new.gpu),
    );
    check(
        "percentile",
        format!("p{}", old.percentile),
        format!("p{}", new.percentile),
    );
    check(
        "seeds",
        format!("{:?}", old.seeds),
        format!("{:?}", new.seeds),
    );
    check(
        "loads",
        format!("{:?}", old.loads),
        format!("{:?}", new.loads),
    );
    check(
        "rate scales",
        format!("{:?}", old.rate_scales),
        format!("{:?}", new.rate_scales),
    );
    check(
        "reference load",
        format!("{}", old.reference_load),
        format!("{}", new.reference_load),
    );
    check(
        "workloads",
        format!(
            "{:?}",
            old.workloads.iter().map(|w| &w.name).collect::<Vec<_>>()
        ),
        format!(
            "{:?}",
            new.workloads.iter().map(|w| &w.name).collect::<Vec<_>>()
        ),
    );
    for o in &old.workloads {
        let Some(n) = new.workloads.iter().find(|n| n.name == o.name) else {
            continue;
        };
        let w = &o.name;
        check(
            &format!("workload {w} source"),
            o.source.clone(),
            n.source.clone(),
        );
        check(
            &format!("workload {w} SLA"),
            format!("{} ms {:?}", o.sla_ms, o.sla),
            format!("{} ms {:?}", n.sla_ms, n.sla),
        );
        check(
            &format!("workload {w} reference load"),
            o.reference.clone(),
            n.reference.clone(),
        );
        check(
            &format!("workload {w} replicates"),
            o.replicates.clone(),
            n.replicates.clone(),
        );
    }
    d
}

/// The outcome of a comparison: the tracked figures, and the (workload, policy) rows of the new
/// report that the baseline does not have (not compared).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub changes: Vec<Change>,
    pub only_new: Vec<String>,
}

/// Compare `new` against `old`; `max_regression` is a fraction (0.05 = 5 %). A row of the
/// baseline missing from the new report is an error (exit 2); a row only in the new report is
/// listed as not compared.
pub fn compare(old: &BenchSummary, new: &BenchSummary, max_regression: f64) -> Result<Comparison> {
    let diffs = setup_differences(old, new);
    if !diffs.is_empty() {
        return Err(Error::Usage(format!(
            "mismatched reports: the new report was run with another setup, so its figures do not compare: {}",
            diffs.join("; ")
        )));
    }
    let missing: Vec<String> = old
        .verdict
        .iter()
        .filter(|o| {
            !new.verdict
                .iter()
                .any(|n| n.workload == o.workload && n.policy == o.policy)
        })
        .map(|o| format!("{}/{}", o.workload, o.policy))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "mismatched reports: the new report lacks {} of the baseline's rows (workload/policy): {}",
            missing.len(),
            missing.join(", ")
        )));
    }
    let only_new: Vec<String> = new
        .verdict
        .iter()
        .filter(|n| {
            !old.verdict
                .iter()
                .any(|o| n.workload == o.workload && n.policy == o.policy)
        })
        .map(|n| format!("{}/{}", n.workload, n.policy))
        .collect();
    let mut out = Vec::new();
    for o in &old.verdict {
        let n = new
            .verdict
            .iter()
            .find(|n| n.workload == o.workload && n.policy == o.policy)
            .expect("checked above");
        let c = rel(o.peak_qps.mean, n.peak_qps.mean);
        out.push(Change {
            workload: o.workload.clone(),
            policy: o.policy.clone(),
            figure: "peak_qps".into(),
            old: o.peak_qps.mean,
            new: n.peak_qps.mean,
            change: c,
            regression: c < -max_regression,
        });
        if o.latency_ms_at_reference.is_some() && n.latency_ms_at_reference.is_none() {
            return Err(Error::Usage(format!(
                "mismatched reports: the new report has no p{} latency at the reference load for {}/{}, which the baseline tracks",
                old.percentile, o.workload, o.policy
            )));
        }
        if let (Some(a), Some(b)) = (o.latency_ms_at_reference, n.latency_ms_at_reference) {
            let c = rel(a.mean, b.mean);
            out.push(Change {
                workload: o.workload.clone(),
                policy: o.policy.clone(),
                figure: format!("p{}_ms_at_reference", old.percentile),
                old: a.mean,
                new: b.mean,
                change: c,
                regression: c > max_regression,
            });
        }
    }
    // GPUs needed: every row the baseline planned must be planned in the new report.
    let unplanned: Vec<String> = old
        .plan
        .iter()
        .filter(|o| {
            !new.plan
                .iter()
                .any(|n| n.workload == o.workload && n.policy == o.policy)
        })
        .map(|o| format!("{}/{}", o.workload, o.policy))
        .collect();
    if !unplanned.is_empty() {
        return Err(Error::Usage(format!(
            "mismatched reports: the new report lacks {} of the baseline's capacity plan rows (workload/policy): {}",
            unplanned.len(),
            unplanned.join(", ")
        )));
    }
    for o in &old.plan {
        let Some(n) = new
            .plan
            .iter()
            .find(|n| n.workload == o.workload && n.policy == o.policy)
        else {
            continue;
        };
        let count = |g: Option<usize>| g.map_or(f64::INFINITY, |g| g as f64);
        let (a, b) = (count(o.gpus), count(n.gpus));
        let c = if a == b { 0.0 } else { rel(a, b) };
        out.push(Change {
            workload: o.workload.clone(),
            policy: o.policy.clone(),
            figure: "gpus_needed".into(),
            old: a,
            new: b,
            // Not met before, met now: -100 %.
            change: if c.is_nan() { -1.0 } else { c },
            regression: b > a && c > max_regression,
        });
    }
    Ok(Comparison {
        changes: out,
        only_new,
    })
}

/// A tracked figure as text: three decimals; an infinite count of GPUs needed is `not met`.
pub fn figure_text(v: f64) -> String {
    if v.is_infinite() {
        "not met".into()
    } else {
        format!("{v:.3}")
    }
}

/// The comparison as a terminal table.
pub fn text(c: &Comparison, max_regression: f64) -> String {
    let changes = &c.changes;
    let mut s = format!(
        "{:<22} {:<30} {:<22} {:>12} {:>12} {:>9}\n",
        "workload", "policy", "figure", "baseline", "new", "change"
    );
    for c in changes {
        s += &format!(
            "{:<22} {:<30} {:<22} {:>12} {:>12} {:>8.2}%{}\n",
            c.workload,
            c.policy,
            c.figure,
            figure_text(c.old),
            figure_text(c.new),
            100.0 * c.change,
            if c.regression { "  REGRESSION" } else { "" }
        );
    }
    let n = changes.iter().filter(|c| c.regression).count();
    if !c.only_new.is_empty() {
        s += &format!(
            "not compared (only in the new report, no baseline): {}\n",
            c.only_new.join(", ")
        );
    }
    s += &format!(
        "{} figures compared; {n} worse by more than {:.1}%\n",
        changes.len(),
        100.0 * max_regression
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert_eq!(threshold("5%").unwrap(), 0.05);
        assert_eq!(threshold("0.05").unwrap(), 0.05);
        assert_eq!(threshold(" 12.5 % ").unwrap(), 0.125);
        assert_eq!(threshold("0").unwrap(), 0.0);
        let e = threshold("5").unwrap_err().to_string();
        assert!(
            e.contains("would mean 500%") && e.contains("write 5%"),
            "{e}"
        );
        for bad in ["1", "-0.1", "x", "150%", "NaN", "inf%"] {
            assert!(threshold(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn more_gpus_needed_is_a_regression() {
        use crate::report::plan::PlanVerdictRow;
        let row = |gpus: Option<usize>| PlanVerdictRow {
            workload: "w".into(),
            policy: "p".into(),
            rate_qps: 100.0,
            gpus,
            gpus_per_seed: vec![gpus],
            max_gpus: 64,
            exact: true,
            fewer_than_baseline: None,
            binding_model: "m".into(),
            latency_ms: Some(1.0),
            sla_ms: 2.0,
            utilization: 0.5,
            attainment: Some(1.0),
            layout: String::new(),
            unreachable: None,
        };
        let base: BenchSummary =
            serde_json::from_str(include_str!("../../experiments/baselines/ci/summary.json"))
                .unwrap();
        let with = |g: Option<usize>| {
            let mut s = base.clone();
            s.plan = vec![row(g)];
            s
        };
        let gpus = |a, b| {
            compare(&with(a), &with(b), 0.05)
                .unwrap()
                .changes
                .into_iter()
                .find(|c| c.figure == "gpus_needed")
                .unwrap()
        };
        // 6 -> 7 GPUs: 16.7 % more, a regression; 6 -> 5 an improvement; unchanged: 0.
        let c = gpus(Some(6), Some(7));
        assert!(c.regression && (c.change - 1.0 / 6.0).abs() < 1e-12);
        assert!(!gpus(Some(6), Some(5)).regression);
        assert_eq!(gpus(Some(6), Some(6)).change, 0.0);
        // Met before, not met now: a regression; not met in both: no change.
        assert!(gpus(Some(6), None).regression);
        let c = gpus(None, None);
        assert!(!c.regression && c.change == 0.0);
        assert!(!gpus(None, Some(9)).regression);
    }

    #[test]
    fn a_figure_the_baseline_tracks_cannot_vanish() {
        let base: BenchSummary =
            serde_json::from_str(include_str!("../../experiments/baselines/ci/summary.json"))
                .unwrap();
        assert!(compare(&base, &base, 0.05).is_ok());
        // A null percentile at the reference load in the new report: mismatched, exit 2.
        let mut new = base.clone();
        let v = new
            .verdict
            .iter_mut()
            .find(|v| v.latency_ms_at_reference.is_some())
            .expect("the CI baseline tracks a percentile");
        v.latency_ms_at_reference = None;
        let (w, p) = (v.workload.clone(), v.policy.clone());
        let e = compare(&base, &new, 0.05).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains(&format!("{w}/{p}")), "{e}");
        // The baseline planned a row, the new report planned none: mismatched, exit 2.
        let row = base
            .plan
            .first()
            .expect("the CI baseline has capacity plans");
        let mut new = base.clone();
        new.plan.clear();
        let e = compare(&base, &new, 0.05).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .contains(&format!("{}/{}", row.workload, row.policy)),
            "{e}"
        );
        // A negative threshold says so, not "not a number".
        let e = threshold("-5").unwrap_err().to_string();
        assert!(e.contains("-5 is negative"), "{e}");
    }

    #[test]
    fn relative_change() {
        assert_eq!(rel(100.0, 90.0), -0.1);
        assert_eq!(rel(0.0, 0.0), 0.0);
        assert_eq!(rel(0.0, 5.0), f64::INFINITY);
    }
}

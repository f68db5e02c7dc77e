//! `mig-replay analyze` (cargo feature `analyze`): polars over a synthetic many-file results
//! set equals a hand-computed aggregate.
#![cfg(feature = "analyze")]

mod common;

use mig_replay::stats::aggregate::Agg;
use std::collections::BTreeMap;

#[test]
fn analyze_many_files_equals_the_hand_computed_aggregate() {
    let dir = tempfile::tempdir().unwrap();
    // 6 files (as from 6 shards or sweeps), 12 rows each: 2 policies x 2 workloads x 3 seeds,
    // gpus 8 in even files and 4 in odd ones.
    let mut expect: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for f in 0..6 {
        let (mut pol, mut wl, mut seed, mut gpus, mut p99) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (pi, p) in ["fcfs", "paris+elsa"].iter().enumerate() {
            for (wi, w) in ["bert", "resnet"].iter().enumerate() {
                for s in 1..=3 {
                    let v = 10.0
                        + f as f64 * 1.5
                        + pi as f64 * 7.0
                        + wi as f64 * 0.25
                        + s as f64 * s as f64 * 0.1;
                    let g = if f % 2 == 0 { 8 } else { 4 };
                    pol.push(*p);
                    wl.push(*w);
                    seed.push(s);
                    gpus.push(g);
                    p99.push(v);
                    if g >= 8 && s != 2 {
                        expect
                            .entry((p.to_string(), w.to_string()))
                            .or_default()
                            .push(v);
                    }
                }
            }
        }
        let sub = dir.path().join(format!("sweep{f}"));
        std::fs::create_dir_all(&sub).unwrap();
        common::write_batch(
            &sub.join("results.parquet"),
            vec![
                ("policy", common::strs(&pol)),
                ("workload", common::strs(&wl)),
                ("seed", common::i64s(&seed)),
                ("gpus", common::i64s(&gpus)),
                ("p99_ms", common::f64s(&p99)),
            ],
        );
    }
    let glob = format!("{}/*/results.parquet", dir.path().display());
    let out = dir.path().join("agg.csv");
    let o = common::run(&[
        "analyze",
        &glob,
        "--by",
        "policy,workload",
        "--metric",
        "p99_ms",
        "--filter",
        "gpus >= 8 and seed != 2",
        "--out",
        common::path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "policy,workload,runs,p99_ms_mean,p99_ms_min,p99_ms_max,p99_ms_ci95"
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), expect.len());
    for (row, ((p, w), v)) in rows.iter().zip(&expect) {
        let a = Agg::of(v).unwrap();
        assert_eq!((&row[0], &row[1]), (p, w));
        assert_eq!(row[2].parse::<usize>().unwrap(), v.len());
        assert_eq!(
            row[6].is_empty(),
            a.ci95.is_none(),
            "{p} {w}: no interval, no value"
        );
        for (k, want) in [
            (3, a.mean),
            (4, a.min),
            (5, a.max),
            (6, a.ci95.unwrap_or(0.0)),
        ] {
            if row[k].is_empty() {
                continue;
            }
            let got: f64 = row[k].parse().unwrap();
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{p} {w} col {k}: {got} vs {want}"
            );
        }
    }
    // Printed as a table too; an unknown column is exit 2 naming it.
    let o = common::run(&["analyze", &glob, "--by", "policy", "--metric", "p99_ms"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("paris+elsa"), "{}", o.stdout);
    let o = common::run(&["analyze", &glob, "--by", "policyy", "--metric", "p99_ms"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("no column 'policyy'"), "{}", o.stderr);
}

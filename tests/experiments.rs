//! `experiments/reconfig.toml`, the reconfigurable-server experiment: the shipped file parses
//! and plans as written (its matrix counted by hand, every label saying the parameters it
//! sets), and a tiny version of it (the same policies the report draws a timeline for, on a
//! 60-s trace whose batch mix shifts) runs end to end through `sweep`.

mod common;

use common::{path_str, run};
use mig_replay::drive::sweep::config::SweepConfig;
use mig_replay::policy::Registry;
use std::path::Path;

const FILE: &str = "experiments/reconfig.toml";

#[test]
fn the_shipped_reconfig_experiment_parses_as_written() {
    let text = std::fs::read_to_string(FILE).unwrap();
    let cfg = SweepConfig::parse(&text, Path::new(FILE)).unwrap();
    // By hand from the file: 3 workloads; 1 static policy, then periodic 30 s and 120 s,
    // threshold and oracle, each at 6 costs: 1 + 4 x 6 = 25 policies.
    assert_eq!(cfg.workloads.len(), 3);
    let names: Vec<&str> = cfg.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["mix-shift", "day-shape", "paper-resnet50"]);
    // Five seeds, each drawing every workload anew (replicates of the traffic, not of one draw).
    assert_eq!(cfg.seeds, [1, 2, 3, 4, 5]);
    assert!(cfg.workloads.iter().all(|w| w.generate.is_some()));
    assert_eq!(cfg.policies.len(), 25);
    // Every label says what its parameters set: "paris+elsa <repartitioner> [<period>] cost
    // <c> s", or "paris+elsa static" with none.
    for p in &cfg.policies {
        let label = p.label.clone().unwrap();
        let words: Vec<&str> = label.split(' ').collect();
        assert_eq!(words[0], "paris+elsa", "{label}");
        assert_eq!(p.name, "paris+elsa", "{label}");
        if words[1] == "static" {
            assert!(p.params.is_empty(), "{label}");
            continue;
        }
        let rep = p.params["repartition"].as_table().unwrap();
        assert_eq!(rep["name"].as_str(), Some(words[1]), "{label}");
        let cost = p.params["reconfig"].as_table().unwrap()["cost_s"].clone();
        let cost = cost
            .as_float()
            .or(cost.as_integer().map(|c| c as f64))
            .unwrap();
        let n = words.len();
        assert_eq!((words[n - 3], words[n - 1]), ("cost", "s"), "{label}");
        assert_eq!(words[n - 2].parse::<f64>().unwrap(), cost, "{label}");
        if words[1] == "periodic" {
            let period = rep["period_s"].as_integer().unwrap();
            assert_eq!(words[2].parse::<i64>().unwrap(), period, "{label}");
        }
    }
    // The baseline and every heat-map label name a policy of the file.
    let labels: Vec<String> = cfg
        .policies
        .iter()
        .map(|p| p.label.clone().unwrap())
        .collect();
    assert!(labels.contains(cfg.baseline.as_ref().unwrap()));
    for h in cfg.heat_maps.as_ref().unwrap() {
        assert!(labels.contains(h), "{h}");
    }
    // It plans: every policy and parameter is known to the registry.
    mig_replay::drive::sweep::prepare(&cfg, &Registry::builtin()).unwrap();
}

#[test]
fn a_tiny_reconfig_experiment_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    // 60 s at 300 q/s of resnet50: small batches, larger ones from 20 s, small again from 40 s.
    let seg = dir.path().join("seg.toml");
    let mut s = String::new();
    for (start, mu) in [(0, 0.5), (20, 2.5), (40, 0.5)] {
        s.push_str(&format!(
            "[[segment]]\nstart_s = {start}\nbatch_mu = {mu}\nbatch_sigma = 0.5\nmax_batch = 32\n"
        ));
    }
    std::fs::write(&seg, s).unwrap();
    let trace = dir.path().join("shift.parquet");
    let o = run(&[
        "trace",
        "gen",
        "--rate",
        "300",
        "--duration",
        "60",
        "--model",
        "resnet50",
        "--segments",
        path_str(&seg),
        "--out",
        path_str(&trace),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // The shipped file, cut down: its four heat-map policies (static, periodic 30 s, threshold
    // and oracle, 6 s per reconfiguration) on that trace alone.
    let mut t: toml::Table = std::fs::read_to_string(FILE).unwrap().parse().unwrap();
    let keep: Vec<toml::Value> = t["heat_maps"].as_array().unwrap().clone();
    let policies: Vec<toml::Value> = t["policy"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| keep.contains(&p["label"]))
        .cloned()
        .collect();
    assert_eq!(policies.len(), 4);
    t.insert("policy".into(), toml::Value::Array(policies));
    let mut w = toml::Table::new();
    w.insert("name".into(), "shift".into());
    w.insert("trace".into(), path_str(&trace).into());
    w.insert("sla_ms".into(), 100.into());
    w.insert("reference_qps".into(), 150.into());
    t.insert(
        "workload".into(),
        toml::Value::Array(vec![toml::Value::Table(w)]),
    );
    t.insert("tolerance".into(), 0.05.into());
    t.insert("seeds".into(), toml::Value::Array(vec![1.into()]));
    let cfg = dir.path().join("tiny.toml");
    std::fs::write(&cfg, toml::to_string(&t).unwrap()).unwrap();
    let out = dir.path().join("report");
    let o = run(&["sweep", "--config", path_str(&cfg), "--out", path_str(&out)]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    // 1 workload x 1 seed x 4 policies x 3 loads (0.5 and 0.8 of the best peak, and the
    // absolute reference of 150 q/s), every invariant held.
    assert_eq!(s["validity"]["runs"], 12, "{}", s["validity"]);
    assert_eq!(s["validity"]["runs_with_invariants_ok"], 12);
    let verdict = s["verdict"].as_array().unwrap();
    assert_eq!(verdict.len(), 4);
    for (v, label) in verdict.iter().zip(&keep) {
        // The oracle reads ahead: a sweep marks its label (foresight) in every output.
        let label = label.as_str().unwrap();
        let want = if label.contains("oracle") {
            format!("{label} (foresight)")
        } else {
            label.to_string()
        };
        assert_eq!(v["policy"].as_str().unwrap(), want, "{v}");
        assert!(v["peak_qps"]["mean"].as_f64().unwrap() > 0.0, "{v}");
    }
    assert!(out.join("index.html").exists());
}

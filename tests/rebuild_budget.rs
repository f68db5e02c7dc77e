//! The reconfiguration budget: a replay refuses, with exit 2 and advice, a repartitioner's plan
//! whose rolling application would rebuild more than 10^9 instances (each step rebuilds the
//! whole server: minutes of replay), before doing any of it; the same plan applied all at once
//! is within the budget and runs.

mod common;

use common::{path_str, run};

#[test]
fn a_plan_past_the_rebuild_budget_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    // resnet50 at 100 q/s: batch 1 for 30 s, then batch 128 until 90 s.
    let seg = dir.path().join("seg.toml");
    std::fs::write(
        &seg,
        "[[segment]]\nstart_s = 0\nbatch_hist = \"1:1\"\n[[segment]]\nstart_s = 30\nbatch_hist = \"128:1\"\n",
    )
    .unwrap();
    let trace = dir.path().join("t.parquet");
    let o = run(&[
        "trace",
        "gen",
        "--rate",
        "100",
        "--duration",
        "90",
        "--model",
        "resnet50",
        "--segments",
        path_str(&seg),
        "--out",
        path_str(&trace),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let go = |max_concurrent: &str, out: &str| {
        run(&[
            "run",
            "--trace",
            path_str(&trace),
            "--profiles",
            "profiles/a100-80gb.parquet",
            "--gpu",
            "A100-80GB",
            "--gpus",
            "10000",
            "--policy",
            "paris+elsa",
            "--repartition",
            "periodic",
            "--param",
            "repartition.period_s=30",
            "--param",
            &format!("reconfig.max_concurrent={max_concurrent}"),
            "--out",
            path_str(&dir.path().join(out)),
            "--quiet",
        ])
    };
    // All at once (10,000 GPUs per step): the plan runs. Its log shows what the budget is
    // computed from: the first window (batch 1) planned 7 x 1g on every GPU (70,000
    // instances), the check at 60 s (window [30, 60), batch 128) 1 x 7g on every GPU.
    let o = go("10000", "at-once");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("at-once/summary.json")).unwrap())
            .unwrap();
    let r = &s["reconfiguration"];
    assert_eq!(r["plans_applied"], 1, "{}", r["checks"]);
    assert_eq!(r["reconfigurations"], 10000);
    let events = r["events"].as_array().unwrap();
    assert_eq!(events.len(), 10000);
    for e in events {
        assert_eq!(e["instances_destroyed"], 7, "{e}");
        assert_eq!(e["instances_created"], 1, "{e}");
        assert_eq!(e["decided_s"], 60.0, "{e}");
    }
    // One GPU at a time (the default): 10,000 steps, each a begin and a region coming up, so
    // 2 x 10,000 rebuilds of the 70,000-instance server: 1.4 x 10^9 > 10^9, refused before
    // any of it runs, exit 2, with the figures and the advice.
    let o = go("1", "rolling");
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    for want in [
        "reconfigure 10000 GPUs 1 at a time on a server of 70000 instances",
        "about 1400000000 instance rebuilds in all, more than 1000000000",
        "raise reconfig.max_concurrent",
    ] {
        assert!(o.stderr.contains(want), "{want}: {}", o.stderr);
    }
    assert!(!dir.path().join("rolling/summary.json").exists());
}

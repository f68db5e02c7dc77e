//! Sharded sweeps: the same config run unsharded and as shards then merged gives the same
//! report; an incomplete shard set is exit 2 naming what is missing.

mod common;

use std::path::Path;

const CONFIG: &str = r#"
name = "shard-test"
gpu = "A100-80GB"
gpus = 2
profiles = "profiles/a100-80gb.parquet"
seeds = [1, 2]
percentile = 99
tolerance = 0.05
loads = [0.5, 1.0]
reference_load = 0.6

# Capacity plans are computed by merge, on one machine: the same as unsharded.
[plan]
max_gpus = 8

[[workload]]
name = "small"
generate = { rate = 150, queries = 3000, models = ["resnet50"], batch_mu = 1.5, batch_sigma = 1.0, max_batch = 64 }
sla_ms = 53.61

[[workload]]
name = "mixed"
generate = { rate = 80, queries = 1500, models = ["resnet50:2", "bert-base:1"], batch_mu = 1.5, batch_sigma = 1.0, max_batch = 64 }
sla_ms = 120

[[policy]]
name = "fcfs"

[[policy]]
name = "paris+fifo"

[[policy]]
name = "paris+elsa"
"#;

fn sweep(args: &[&str]) -> common::Out {
    let mut a = vec!["sweep"];
    a.extend_from_slice(args);
    common::run(&a)
}

fn same(a: &Path, b: &Path, f: &str) {
    assert_eq!(
        std::fs::read(a.join(f)).unwrap(),
        std::fs::read(b.join(f)).unwrap(),
        "{f} differs"
    );
}

#[test]
fn sharded_and_merged_equals_unsharded() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let c = common::path_str(&cfg);
    let whole = dir.path().join("whole");
    let o = sweep(&["--config", c, "--out", common::path_str(&whole)]);
    assert_eq!(o.code, 0, "{}", o.stderr);

    let sh = dir.path().join("sharded");
    let s = common::path_str(&sh);
    // The loads phase needs every peaks shard.
    sweep(&[
        "--config", c, "--phase", "peaks", "--shard", "0/4", "--out", s,
    ]);
    let o = sweep(&[
        "--config", c, "--phase", "loads", "--shard", "0/3", "--out", s,
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("phase peaks is incomplete") && o.stderr.contains("peaks-1-of-4.json"),
        "{}",
        o.stderr
    );
    for k in 1..4 {
        let o = sweep(&[
            "--config",
            c,
            "--phase",
            "peaks",
            "--shard",
            &format!("{k}/4"),
            "--out",
            s,
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    // The phases may use different shard counts.
    for k in 0..3 {
        let o = sweep(&[
            "--config",
            c,
            "--phase",
            "loads",
            "--shard",
            &format!("{k}/3"),
            "--out",
            s,
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    let merged = dir.path().join("merged");
    let o = common::run(&["merge", s, "--out", common::path_str(&merged)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for f in [
        "results.parquet",
        "peaks.parquet",
        "summary.json",
        "plans.json",
    ] {
        same(&whole, &merged, f);
    }
    let summary = std::fs::read_to_string(merged.join("summary.json")).unwrap();
    assert!(
        summary.contains("\"plan_verdict\""),
        "the merged report has the plans"
    );

    // A missing shard: exit 2 naming the runs and the file.
    std::fs::remove_file(sh.join("shards/loads-1-of-3.json")).unwrap();
    let o = common::run(&["merge", s]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("phase loads is incomplete")
            && o.stderr.contains("run ")
            && o.stderr.contains("loads-1-of-3.json"),
        "{}",
        o.stderr
    );
    // Found by the fuzz harness: a shard file claiming 2^31 - 1 shards made the message list
    // every absent file (gigabytes). Now the first 8 and the count, at once.
    let f0 = sh.join("shards/loads-0-of-3.json");
    let text = std::fs::read_to_string(&f0).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["shards"] = serde_json::json!(2147483647u64);
    std::fs::write(&f0, serde_json::to_string(&v).unwrap()).unwrap();
    let o = common::run(&["merge", s]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("phase loads is incomplete") && o.stderr.contains("(2147483648 in all)"),
        "{}",
        o.stderr
    );
    // A shard number past its count: exit 2 naming the file.
    v["shards"] = serde_json::json!(3);
    v["shard"] = serde_json::json!(5);
    std::fs::write(&f0, serde_json::to_string(&v).unwrap()).unwrap();
    let o = common::run(&["merge", s]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("loads-0-of-3.json") && o.stderr.contains("says it is shard 5 of 3"),
        "{}",
        o.stderr
    );
    // A shard of another config: exit 2 naming the file.
    std::fs::write(&cfg, CONFIG.replace("tolerance = 0.05", "tolerance = 0.04")).unwrap();
    let o = sweep(&[
        "--config", c, "--phase", "loads", "--shard", "1/3", "--out", s,
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("made from another config"),
        "{}",
        o.stderr
    );
    // A bad shard spec is a usage error.
    let o = sweep(&[
        "--config", c, "--phase", "peaks", "--shard", "4/4", "--out", s,
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
}

//! A policy half registered from outside the crate gets the treatment a built-in one gets:
//! the example plugin binary (`examples/custom_scheduler/`: the whole command line through
//! `cli::main_with`, plus the `jsq` scheduler) runs a sweep of `experiments/ci.toml` with
//! `paris+jsq` added, and `jsq` appears in the verdict, `results.parquet`, every plot, its own
//! heat maps, the HTML page and the regression gate; the sharded route (`--phase`/`--shard`,
//! `merge`) gives the same report; the built-in binary refuses the name.

mod common;

// The plugin's own unit test (a decision on a constructed `ServerView`) runs here too.
#[allow(dead_code)]
#[path = "../examples/custom_scheduler/jsq.rs"]
mod jsq;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};

fn plugin_binary() -> PathBuf {
    common::example_binary("custom_scheduler")
}

fn run(bin: &Path, args: &[&str]) -> common::Out {
    common::run_in(bin, args, None)
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn a_plugin_scheduler_gets_the_report_plots_and_gate_of_a_built_in() {
    let bin = plugin_binary();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ci-jsq.toml");
    let text = std::fs::read_to_string("experiments/ci.toml").unwrap();
    std::fs::write(&cfg, format!("{text}\n[[policy]]\nname = \"paris+jsq\"\n")).unwrap();
    let c = common::path_str(&cfg);

    // The built-in binary does not know the scheduler.
    let o = common::run(&["sweep", "--config", c, "--out", "/nonexistent"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("unknown scheduler 'jsq'"), "{}", o.stderr);

    // The plugin binary runs the sweep.
    let a = dir.path().join("a");
    let o = run(
        &bin,
        &["sweep", "--config", c, "--out", common::path_str(&a)],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("paris+jsq"), "{}", o.stdout);
    let s = summary(&a);
    assert_eq!(s["policies"].as_array().unwrap().len(), 6);
    // 2 workloads x 3 seeds x 6 policies x 6 loads (0.2, 0.5, 0.6, 0.8, 1.0 and the absolute
    // reference rate).
    assert_eq!(s["validity"]["runs"], 216);
    assert_eq!(s["validity"]["runs_with_invariants_ok"], 216);
    for w in ["resnet50", "azure-conv"] {
        let v = s["verdict"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["workload"] == w && v["policy"] == "paris+jsq")
            .unwrap_or_else(|| panic!("no verdict row for paris+jsq on {w}"));
        assert!(v["peak_qps"]["mean"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v["peak_ratio"]["mean"].as_f64().is_some(), "{v}");
        assert!(
            v["latency_ms_at_reference"]["mean"].as_f64().is_some(),
            "{v}"
        );
    }
    // Its rows in results.parquet and peaks.parquet.
    for (file, want) in [("results.parquet", 36), ("peaks.parquet", 6)] {
        let f = std::fs::File::open(a.join(file)).unwrap();
        let n: usize = ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| {
                let b = b.unwrap();
                let p = b
                    .column_by_name("policy")
                    .unwrap()
                    .as_string::<i32>()
                    .clone();
                (0..p.len()).filter(|&i| p.value(i) == "paris+jsq").count()
            })
            .sum();
        assert_eq!(n, want, "{file}");
    }
    // Every plot names it; it gets its own heat maps (its registry entry asks for them).
    let plots = a.join("plots");
    let svg = |n: &str| std::fs::read_to_string(plots.join(n)).unwrap();
    for p in [
        "peaks.svg",
        "latency-resnet50.svg",
        "p50-azure-conv.svg",
        "utilization-resnet50.svg",
        "cdf-azure-conv.svg",
    ] {
        assert!(svg(p).contains("paris+jsq"), "{p} lacks paris+jsq");
    }
    for w in ["resnet50", "azure-conv"] {
        for kind in ["busy", "batch"] {
            let f = format!("{kind}-{w}-paris-jsq");
            assert!(plots.join(format!("{f}.png")).exists(), "{f}.png");
            assert!(svg(&format!("{f}.svg")).contains("paris+jsq"), "{f}.svg");
        }
    }
    let html = std::fs::read_to_string(a.join("index.html")).unwrap();
    assert!(html.contains("paris+jsq"));

    // The gate: an unchanged report passes, a planted 10 % loss of jsq's throughput fails.
    let o = run(
        &bin,
        &["compare", common::path_str(&a), common::path_str(&a)],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let mut worse = s.clone();
    for v in worse["verdict"].as_array_mut().unwrap() {
        if v["policy"] == "paris+jsq" {
            let m = v["peak_qps"]["mean"].as_f64().unwrap();
            v["peak_qps"]["mean"] = serde_json::json!(m * 0.9);
        }
    }
    let wf = dir.path().join("worse.json");
    std::fs::write(&wf, serde_json::to_string(&worse).unwrap()).unwrap();
    let o = run(
        &bin,
        &["compare", common::path_str(&a), common::path_str(&wf)],
    );
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .lines()
            .any(|l| l.contains("REGRESSION") && l.contains("paris+jsq")),
        "{}",
        o.stdout
    );

    // Sharded (2 peak shards, 3 load shards) and merged by the plugin binary: the same report.
    let sh = dir.path().join("sharded");
    let shd = common::path_str(&sh);
    for (phase, n) in [("peaks", 2), ("loads", 3)] {
        for k in 0..n {
            let spec = format!("{k}/{n}");
            let o = run(
                &bin,
                &[
                    "sweep", "--config", c, "--phase", phase, "--shard", &spec, "--out", shd,
                ],
            );
            assert_eq!(o.code, 0, "{phase} {spec}: {}", o.stderr);
        }
    }
    let o = run(&bin, &["merge", shd]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    for f in ["results.parquet", "peaks.parquet", "summary.json"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(sh.join(f)).unwrap(),
            "{f} differs between the sharded and the unsharded sweep"
        );
    }
    assert!(
        sh.join("plots")
            .join("busy-resnet50-paris-jsq.svg")
            .exists()
    );
}

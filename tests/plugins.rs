//! A policy half registered from outside the crate gets the treatment a built-in one gets:
//! the example plugin binary (`examples/custom_scheduler/`: the whole command line through
//! `cli::main_with`, plus the `jsq` scheduler) runs a sweep of `experiments/ci.toml` with
//! `paris+jsq` added, and `jsq` appears in the verdict, `results.parquet`, every plot, its own
//! heat maps, the HTML page and the regression gate; the sharded route (`--phase`/`--shard`,
//! `merge`) gives the same report; the built-in binary refuses the name.

mod common;

// The plugins' own unit tests (decisions on a constructed `ServerView`) run here too.
#[allow(dead_code)]
#[path = "../examples/best_fit.rs"]
mod best_fit;
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

    // The built-in binary does not know the scheduler: it says so before the sweep's header,
    // naming the file and the policy, and points at the plugin's own binary.
    let o = common::run(&["sweep", "--config", c, "--out", "/nonexistent"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("unknown scheduler 'jsq'"), "{}", o.stderr);
    assert!(o.stderr.contains("policy 'paris+jsq'"), "{}", o.stderr);
    assert!(o.stderr.contains(c), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("known only to the binary that registers it (docs/PLUGINS.md)"),
        "{}",
        o.stderr
    );
    assert!(
        !o.stdout.contains("sweep '"),
        "header printed: {}",
        o.stdout
    );

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

/// The guide's worked example (`examples/best_fit.rs`, an SLA-aware scheduler): listed, run
/// with no SLA given (its entry's `needs_sla` has the default rule give every model one, which
/// its details record), refused by the stock binary with the hint; `partition` with it names
/// the scheduler it does not run.
#[test]
fn the_guides_sla_aware_plugin_runs_from_the_command_line() {
    let bin = common::example_binary("best_fit");
    let o = run(&bin, &["policy", "list"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("best-fit "), "{}", o.stdout);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let server = [
        "--trace",
        "traces/quickstart.parquet",
        "--profiles",
        "profiles/a100-80gb.parquet",
        "--gpu",
        "A100-80GB",
        "--gpus",
        "2",
    ];
    let mut args = vec!["run", "--policy", "paris+best-fit", "--out"];
    args.push(common::path_str(&out));
    args.extend(server);
    let o = run(&bin, &args);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let s = summary(&out);
    let slas = s["scheduler_details"]["sla"].as_array().unwrap();
    // quickstart has three models, none given an SLA: each from the default rule.
    assert_eq!(slas.len(), 3, "{s}");
    for m in slas {
        assert!(
            m["source"].as_str().unwrap().starts_with("default rule"),
            "{m}"
        );
    }
    assert_eq!(s["invariants"]["conservation"], true, "{}", s["invariants"]);

    let o = common::run(&args);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("unknown scheduler 'best-fit'"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("docs/PLUGINS.md"), "{}", o.stderr);

    let mut args = vec!["partition", "--policy", "paris+best-fit"];
    args.extend(server);
    let o = run(&bin, &args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("paris on 2 x A100-80GB\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr
            .contains("partitioner 'paris' of policy 'paris+best-fit' alone; its scheduler 'best-fit' is not run"),
        "{}",
        o.stderr
    );
    // The stock binary checks the scheduler half rather than dropping it.
    let o = common::run(&args);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("unknown scheduler 'best-fit'"),
        "{}",
        o.stderr
    );
}

fn guide() -> String {
    std::fs::read_to_string("docs/PLUGINS.md").unwrap()
}

/// The fenced block of the guide that opens with `fence` (its first line), without the fences.
fn guide_block(guide: &str, fence: &str) -> String {
    let start = guide
        .find(&format!("\n{fence}\n"))
        .unwrap_or_else(|| panic!("docs/PLUGINS.md has no block opening with {fence}"))
        + fence.len()
        + 2;
    let len = guide[start..].find("\n```\n").expect("the block closes") + 1;
    guide[start..start + len].to_string()
}

/// The guide's worked example is `examples/best_fit.rs` verbatim (which the test above builds,
/// runs and unit-tests; the doc test compiles the guide's copy too).
#[test]
fn the_guides_worked_example_is_the_example_file() {
    let block = guide_block(&guide(), "```rust,no_run");
    let file = std::fs::read_to_string("examples/best_fit.rs").unwrap();
    assert!(
        block == file,
        "docs/PLUGINS.md section 1 differs from examples/best_fit.rs: copy the file into the guide"
    );
}

/// The guide's table of built-in halves is each half's `help`, as `policy list` prints it:
/// every built-in, none missing, none reworded.
#[test]
fn the_guide_says_what_every_built_in_half_decides() {
    let g = guide();
    let r = mig_replay::policy::Registry::builtin();
    let mut rows: Vec<(&str, &str, &str)> = Vec::new();
    rows.extend(
        r.partitioners()
            .iter()
            .map(|e| ("partitioner", e.name, e.help)),
    );
    rows.extend(r.schedulers().iter().map(|e| ("scheduler", e.name, e.help)));
    rows.extend(
        r.repartitioners()
            .iter()
            .map(|e| ("repartitioner", e.name, e.help)),
    );
    assert_eq!(
        rows.len(),
        12,
        "5 partitioners, 3 schedulers, 4 repartitioners"
    );
    for (kind, name, help) in rows {
        let row = format!("| {kind} | `{name}` | {help} |\n");
        assert!(g.contains(&row), "docs/PLUGINS.md lacks the row {row}");
    }
    let table_rows = g
        .lines()
        .filter(|l| {
            ["| partitioner |", "| scheduler |", "| repartitioner |"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .count();
    assert_eq!(
        table_rows, 12,
        "a built-in that no longer exists is still listed"
    );
}

/// Every public method and field of `ServerView` (read from its source, not from a list kept
/// here) is named in the guide's section 3, whose reference is the rustdoc of the same code.
#[test]
fn the_guide_names_every_method_of_the_view() {
    let g = guide();
    let s3 = &g[g.find("## 3.").unwrap()..g.find("## 4.").unwrap()];
    let src = std::fs::read_to_string("src/server/view.rs").unwrap();
    let body = &src[src.find("impl<'a> ServerView<'a>").unwrap()..];
    let mut names: Vec<&str> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub fn "))
        .map(|l| l.split(['(', '<']).next().unwrap())
        .filter(|n| *n != "new")
        .collect();
    let def = &src[src.find("pub struct ServerView").unwrap()..];
    let def = &def[..def.find("\n}").unwrap()];
    names.extend(
        def.lines()
            .skip(1)
            .filter_map(|l| l.trim().strip_prefix("pub "))
            .map(|l| l.split(':').next().unwrap()),
    );
    assert!(names.len() >= 20, "parsed {names:?}");
    for n in names {
        assert!(
            s3.contains(&format!("`{n}("))
                || s3.contains(&format!("`{n}`"))
                || s3.contains(&format!("`{n}[")),
            "docs/PLUGINS.md section 3 does not name ServerView::{n}"
        );
    }
    assert!(g.contains("target/doc/mig_replay/server/view/struct.ServerView.html"));
}

/// The profiles the guide asks a plugin crate to copy are mig-replay's own (comments aside).
#[test]
fn the_guides_profiles_are_the_projects() {
    // The block after its first line, `[profile.dev]`.
    let block = guide_block(&guide(), "```toml\n[profile.dev]");
    let toml = std::fs::read_to_string("Cargo.toml").unwrap();
    let ours = &toml[toml.find("\n[profile.dev]\n").unwrap()..];
    let strip = |t: &str| -> Vec<String> {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    assert_eq!(strip(&format!("[profile.dev]\n{block}")), strip(ours));
}
